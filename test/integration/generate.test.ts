/** Decoding through the CLI: with and without the KV cache identical, greedy equal to the reference (native and wasm). */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli, runCliOk } from '../helpers/cli';
import { cpuBackends } from '../helpers/native';
import { makeCheckpoint, reference, ROOT, tempDir } from '../helpers/reference';

const PROMPT = [1, 17, 42, 5, 99, 23];
const N = 12;

interface GenOut {
  ids: number[];
  stopReason: string;
  completion: string | null;
}

describe('generation', () => {
  const dir = tempDir('generate');
  let base = '';
  const adapters: Record<string, string> = {};
  before(() => {
    base = makeCheckpoint('base', path.join(dir, 'base'), [
      '--seed',
      '4',
      '--layers',
      '2',
      '--heads',
      '8',
      '--kv-heads',
      '2',
      '--rope-llama3',
    ]);
    adapters.lora = makeCheckpoint('lora', path.join(dir, 'lora'), ['--base', base, '--seed', '5']);
    adapters.difflora = makeCheckpoint('difflora', path.join(dir, 'difflora'), [
      '--base',
      base,
      '--seed',
      '6',
      '--learn-lambda',
      '--groupnorm',
      '--lora-o',
    ]);
    adapters['difflora negative-only'] = makeCheckpoint('difflora', path.join(dir, 'dneg'), [
      '--base',
      base,
      '--seed',
      '7',
      '--negative-term-only',
    ]);
  });

  function gen(adapter: string | undefined, extra: string[]): GenOut {
    const out = path.join(dir, `gen-${Math.random().toString(36).slice(2)}.json`);
    const args = ['generate', '--model', base, '--ids', PROMPT.join(','), '--max-new-tokens', String(N), '--quiet', '--out', out, ...extra];
    if (adapter) args.push('--adapter', adapter);
    runCliOk(args);
    return JSON.parse(fs.readFileSync(out, 'utf8'));
  }

  for (const backend of cpuBackends().filter((b) => b !== 'cpu')) {
    for (const kind of ['base', 'lora', 'difflora', 'difflora negative-only']) {
      test(`${backend}: ${kind}: greedy with cache = without cache = reference`, () => {
        const adapter = kind === 'base' ? undefined : adapters[kind];
        const cached = gen(adapter, ['--backend', backend]);
        const uncached = gen(adapter, ['--no-cache', '--backend', backend]);
        assert.deepEqual(cached.ids, uncached.ids);
        const ref = reference(base, adapter, PROMPT, N).generated as number[];
        // The engine stops at EOS (id 2 in these checkpoints); the reference does not.
        assert.deepEqual(cached.ids, ref.slice(0, cached.ids.length));
        if (cached.stopReason === 'eos') assert.equal(ref[cached.ids.length], 2);
        else assert.equal(cached.ids.length, N);
      });
    }
  }

  test('sampling: same seed, same tokens, with and without cache; another seed differs', () => {
    const args = ['--temperature', '1.5', '--top-p', '0.95', '--seed', '7'];
    const a = gen(adapters.difflora, args);
    const b = gen(adapters.difflora, [...args, '--no-cache']);
    assert.deepEqual(a.ids, b.ids);
    const seeds = [8, 9, 10].map((s) => gen(adapters.difflora, ['--temperature', '1.5', '--seed', String(s)]).ids.join(','));
    assert.ok(
      seeds.some((s) => s !== a.ids.join(',')),
      'other seeds give other samples',
    );
  });

  test('stop strings cut the text completion at their first occurrence (real Llama-3 tokenizer)', () => {
    // A tiny random model with Llama-3's vocabulary, so text goes through the real tokenizer.
    const model = makeCheckpoint('base', path.join(dir, 'llama3vocab'), [
      '--seed',
      '8',
      '--layers',
      '1',
      '--hidden',
      '32',
      '--heads',
      '4',
      '--kv-heads',
      '2',
      '--inter',
      '48',
      '--vocab',
      '128256',
      '--tie',
    ]);
    const tokDir = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tokDir, f), path.join(model, f));
    const run = (extra: string[]) => {
      const out = path.join(dir, `stop-${extra.length}.json`);
      runCliOk(['generate', '--model', model, '--prompt', 'def add(a, b):', '--max-new-tokens', '24', '--quiet', '--out', out, ...extra]);
      return JSON.parse(fs.readFileSync(out, 'utf8')) as GenOut;
    };
    const full = run([]);
    assert.equal(full.stopReason, 'length');
    const text = full.completion as string;
    assert.ok(text.length > 12, `a long enough completion: ${JSON.stringify(text)}`);
    const stop = text.slice(8, 11);
    const cut = run(['--stop', stop, '--stop', 'never-appears-here']);
    assert.equal(cut.stopReason, 'stop');
    assert.equal(cut.completion, text.slice(0, text.indexOf(stop)));
  });

  test("generation stops at the model's context; a prompt that fills it is refused, naming it", () => {
    const context = (JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as { max_position_embeddings: number })
      .max_position_embeddings;
    const long = gen(undefined, ['--max-new-tokens', String(context + 50)]);
    assert.equal(long.ids.length, context - PROMPT.length);
    assert.equal(long.stopReason, 'context');
    const full = Array.from({ length: context }, (_, i) => (i * 7) % 50).join(',');
    const r = runCli(['generate', '--model', base, '--ids', full, '--quiet', '--out', path.join(dir, 'full.json')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`prompt: ${context} tokens fill the model's context of ${context} positions`));
  });

  test('top-p close to 0 is greedy', () => {
    const greedy = gen(undefined, []);
    const nucleus = gen(undefined, ['--temperature', '1', '--top-p', '0.000001', '--seed', '3']);
    assert.deepEqual(nucleus.ids, greedy.ids);
  });
});
