/**
 * The webgpu backend (Dawn; on a machine without a GPU, SwiftShader's Vulkan on the CPU) against the
 * numpy reference through the CLI: the base model and a DiffLoRA adapter. Skipped, with the reason
 * printed, where no Vulkan driver exists.
 */
import { before, describe, test } from 'node:test';
import * as fs from 'fs';
import * as path from 'path';
import { runCliOk } from '../helpers/cli';
import { assertMatchesReference } from '../helpers/compare';
import { makeCheckpoint, reference, tempDir } from '../helpers/reference';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const IDS = [1, 17, 42, 5, 99, 23, 64, 8, 77, 31, 2, 50];
const env: NodeJS.ProcessEnv = process.env.VK_ICD_FILENAMES ? {} : { VK_ICD_FILENAMES: SWIFTSHADER_ICD };
const skip =
  !process.env.VK_ICD_FILENAMES && !fs.existsSync(SWIFTSHADER_ICD)
    ? `no Vulkan driver: ${SWIFTSHADER_ICD} missing (apt-get install chromium)`
    : false;
if (skip) console.log(`webgpu numerics skipped: ${skip}`);

describe('webgpu backend vs numpy reference', { skip }, () => {
  const dir = tempDir('webgpu');
  let base = '';
  before(() => {
    // Sizes above 128 elements per op, so webgpu runs its own kernels rather than handing off to cpu.
    base = makeCheckpoint('base', path.join(dir, 'base'), [
      '--seed',
      '1',
      '--layers',
      '2',
      '--hidden',
      '64',
      '--heads',
      '8',
      '--kv-heads',
      '2',
      '--head-dim',
      '16',
      '--rope-llama3',
      '--tie',
    ]);
  });

  const run = (adapter?: string) => {
    const out = path.join(dir, `out-${adapter ? path.basename(adapter) : 'base'}.json`);
    const args = ['attention', '--model', base, '--ids', IDS.join(','), '--logits', '--backend', 'webgpu', '--quiet', '--out', out];
    if (adapter) args.push('--adapter', adapter);
    runCliOk(args, env);
    return JSON.parse(fs.readFileSync(out, 'utf8'));
  };

  test('base model', () => assertMatchesReference(run(), reference(base, undefined, IDS)));

  test('DiffLoRA: both terms, learned lambda, group norm', () => {
    const adapter = makeCheckpoint('difflora', path.join(dir, 'difflora'), [
      '--base',
      base,
      '--seed',
      '2',
      '--learn-lambda',
      '--groupnorm',
    ]);
    assertMatchesReference(run(adapter), reference(base, adapter, IDS));
  });

  test('DiffLoRA-64 style: negative term only', () => {
    const adapter = makeCheckpoint('difflora', path.join(dir, 'dneg'), ['--base', base, '--seed', '3', '--negative-term-only']);
    assertMatchesReference(run(adapter), reference(base, adapter, IDS));
  });
});
