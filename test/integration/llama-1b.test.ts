/**
 * The paper's setting on a CPU: a Llama-3.2-1B-shaped bf16 checkpoint (random weights, cached) with a
 * DiffLoRA-32 adapter on all 16 layers in the authors' format. `difflora attention` at 512 tokens with
 * the default backend completes, and the maps of its first two layers (three heads) equal the
 * independent numpy reference (float64, reading the weights as it needs them).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCliOk } from '../helpers/cli';
import { assertMatchesReference } from '../helpers/compare';
import { llama1b } from '../helpers/llama-1b';
import { AttentionJson, makeCheckpoint, pythonWithNumpy, reference, tempDir } from '../helpers/reference';
import { Rng } from '../../engine/util/rng';

describe('Llama-3.2-1B shape with a DiffLoRA-32 adapter', { timeout: 1_500_000 }, () => {
  it('attention at 512 tokens on the default backend matches the reference', () => {
    const t0 = Date.now();
    const model = llama1b(pythonWithNumpy());
    const dir = tempDir('1b');
    const adapter = makeCheckpoint('difflora', path.join(dir, 'difflora-32'), [
      '--base',
      model,
      '--seed',
      '3',
      '--r',
      '32',
      '--alpha',
      '64',
      '--lambda',
      '0.1',
    ]);
    const rng = new Rng(7);
    const ids = Array.from({ length: 512 }, () => Math.floor(rng.next() * 128256));
    const t1 = Date.now();
    const out = path.join(dir, 'maps.json');
    const r = runCliOk([
      'attention',
      '--model',
      model,
      '--adapter',
      adapter,
      '--ids',
      ids.join(','),
      '--layers',
      '0,1',
      '--heads',
      '0,13,31',
      '--out',
      out,
    ]);
    const t2 = Date.now();
    const backend = /backend: (\w+)/.exec(r.stderr)?.[1];
    if (process.env.CI) assert.equal(backend, 'native', `CI builds the native backend, the default here: ${r.stderr.slice(-400)}`);
    const ours = JSON.parse(fs.readFileSync(out, 'utf8')) as AttentionJson;
    assert.deepEqual(
      ours.layers.map((l) => l.heads.map((h) => h.head)),
      [
        [0, 13, 31],
        [0, 13, 31],
      ],
    );
    const ref = reference(model, adapter, ids, 0, { firstLayers: 2, heads: [0, 13, 31] });
    assertMatchesReference({ ...ours, logits: undefined }, ref);
    console.log(
      `1B: checkpoint ready ${((t1 - t0) / 1000).toFixed(0)} s; difflora attention (load + 512 tokens, ${backend}) ${((t2 - t1) / 1000).toFixed(0)} s; numpy reference ${((Date.now() - t2) / 1000).toFixed(0)} s`,
    );
  });
});
