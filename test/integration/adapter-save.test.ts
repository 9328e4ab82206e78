/** Adapters saved by the engine load back bit-identically, with the exact names and shapes of their format. */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../../engine/backend';
import { readSafetensorsHeader, readTensorFloat32 } from '../../engine/formats/safetensors';
import { adapterFiles, loadAdapter, saveAdapter } from '../../engine/model/adapter-weights';
import { readModelConfig } from '../../engine/model/load';
import { makeCheckpoint, maxAbsDiff, reference, tempDir } from '../helpers/reference';

const CASES: [string, 'lora' | 'difflora', string[]][] = [
  ['PEFT LoRA on all linear layers', 'lora', ['--targets', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj']],
  [
    'DiffLoRA both terms, learned lambda, group norm, v/o/MLP',
    'difflora',
    ['--learn-lambda', '--groupnorm', '--lora-v', '--lora-o', '--lora-mlp'],
  ],
  ['DiffLoRA full-dim negative term, layers 1', 'difflora', ['--full-dim', '--layers-to-transform', '1', '--negative-term-only']],
];

describe('adapter save / load', () => {
  const dir = tempDir('save');
  let base = '';
  before(async () => {
    await initBackend('cpu', () => {});
    base = makeCheckpoint('base', path.join(dir, 'base'), ['--seed', '1', '--layers', '2', '--heads', '4', '--kv-heads', '2']);
  });

  CASES.forEach(([name, kind, args], i) => {
    test(`${name}: same tensor names, shapes and bits after a load/save cycle`, () => {
      const src = makeCheckpoint(kind, path.join(dir, `src${i}`), ['--base', base, '--seed', String(i + 2), ...args]);
      const cfg = readModelConfig(base);
      const out = path.join(dir, `saved${i}`);
      saveAdapter(loadAdapter(src, cfg), cfg, out);
      const file = adapterFiles(kind).weights;
      const a = readSafetensorsHeader(path.join(src, file)).tensors;
      const b = readSafetensorsHeader(path.join(out, file)).tensors;
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [n, ea] of a) {
        const eb = b.get(n);
        assert.ok(eb);
        assert.deepEqual(eb.shape, ea.shape, n);
        assert.deepEqual(Buffer.from(readTensorFloat32(eb).buffer), Buffer.from(readTensorFloat32(ea).buffer), `${n} bits`);
      }
      // Loading the saved folder again gives the same tensors once more.
      const again = path.join(dir, `again${i}`);
      saveAdapter(loadAdapter(out, cfg), cfg, again);
      assert.deepEqual(fs.readFileSync(path.join(again, file)), fs.readFileSync(path.join(out, file)));
    });
  });

  test('a saved PEFT adapter has the key names and shapes PEFT expects, and the reference reads it', () => {
    const src = makeCheckpoint('lora', path.join(dir, 'peft'), [
      '--base',
      base,
      '--seed',
      '9',
      '--targets',
      'q_proj,v_proj,down_proj',
      '--r',
      '3',
    ]);
    const cfg = readModelConfig(base);
    const out = path.join(dir, 'peft-saved');
    saveAdapter(loadAdapter(src, cfg), cfg, out);
    const h = readSafetensorsHeader(path.join(out, 'adapter_model.safetensors')).tensors;
    const expected: Record<string, number[]> = {};
    for (let l = 0; l < 2; l++) {
      const p = `base_model.model.model.layers.${l}.`;
      expected[`${p}self_attn.q_proj.lora_A.weight`] = [3, 64];
      expected[`${p}self_attn.q_proj.lora_B.weight`] = [64, 3];
      expected[`${p}self_attn.v_proj.lora_A.weight`] = [3, 64];
      expected[`${p}self_attn.v_proj.lora_B.weight`] = [32, 3];
      expected[`${p}mlp.down_proj.lora_A.weight`] = [3, 96];
      expected[`${p}mlp.down_proj.lora_B.weight`] = [64, 3];
    }
    assert.deepEqual(Object.fromEntries([...h].map(([n, e]) => [n, e.shape])), expected);
    const conf = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    assert.equal(conf.peft_type, 'LORA');
    assert.equal(conf.r, 3);
    const ids = [1, 4, 9, 16, 25];
    assert.ok(maxAbsDiff(reference(base, out, ids).logits as number[][], reference(base, src, ids).logits as number[][]) === 0);
  });

  test('PEFT files that keep the adapter name (".default") load too', () => {
    const src = makeCheckpoint('lora', path.join(dir, 'peft-default'), ['--base', base, '--seed', '11', '--targets', 'q_proj']);
    const st = path.join(src, 'adapter_model.safetensors');
    const raw = fs.readFileSync(st);
    const n = Number(raw.readBigUInt64LE(0));
    const header = raw
      .subarray(8, 8 + n)
      .toString('utf8')
      .replace(/\.lora_([AB])\.weight/g, '.lora_$1.default.weight');
    const padded = header + ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(padded)));
    fs.writeFileSync(st, Buffer.concat([len, Buffer.from(padded), raw.subarray(8 + n)]));
    const a = loadAdapter(src, readModelConfig(base));
    assert.equal(a.parameterCount, 2 * (4 * 64 + 64 * 4 * 1));
  });
});
