/**
 * Gradients of every trainable adapter tensor against float64 central differences of the
 * independent numpy reference (test/reference/grad_ref.py), on cpu, on wasm (where the engine
 * replaces tfjs's matMul gradient with its own) and on native (its kernels under tfjs's gradients).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../engine/backend';
import { adapterTensorSpecs } from '../../engine/model/adapter-layout';
import { loadAdapter } from '../../engine/model/adapter-weights';
import { loadModel } from '../../engine/model/load';
import { adapterTrainable } from '../../engine/train/finetune';
import { installTrainingKernels } from '../../engine/train/kernels';
import { makeBatch, maskedCrossEntropy } from '../../engine/train/loss';
import { cpuBackends } from '../helpers/native';
import { gradReference, makeCheckpoint, tempDir } from '../helpers/reference';

const SEQS = [
  { ids: [1, 17, 42, 5, 9, 23, 64, 8], targetMask: [0, 0, 0, 1, 1, 1, 1, 1] },
  { ids: [1, 33, 12, 50, 2, 7], targetMask: [0, 1, 1, 1, 1, 1] },
];

const CASES: [string, 'lora' | 'difflora', string[]][] = [
  ['PEFT LoRA on q,k,v,o,gate,up,down', 'lora', ['--targets', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj']],
  [
    'DiffLoRA both terms, learned lambda, group norm, v/o/MLP adapters',
    'difflora',
    ['--learn-lambda', '--groupnorm', '--lora-v', '--lora-o', '--lora-mlp'],
  ],
  [
    'DiffLoRA negative term adapter-only (B2 kaiming case)',
    'difflora',
    ['--negative-term-only', '--negative-term-lora-only', '--lambda', '0.3'],
  ],
  ['DiffLoRA full-dim negative term, ReLU', 'difflora', ['--full-dim', '--relu', '--lambda', '0.2']],
];

describe('adapter gradients vs finite differences of the reference', () => {
  const dir = tempDir('grads');
  let base = '';
  before(async () => {
    base = makeCheckpoint('base', path.join(dir, 'base'), [
      '--seed',
      '3',
      '--layers',
      '2',
      '--hidden',
      '32',
      '--heads',
      '4',
      '--kv-heads',
      '2',
      '--inter',
      '48',
      '--vocab',
      '67',
      '--rope-llama3',
    ]);
  });

  for (const backend of cpuBackends()) {
    CASES.forEach(([name, kind, args], i) => {
      test(`${backend}: ${name}`, async () => {
        await initBackend(backend, () => {});
        await installTrainingKernels();
        const adapterDir = path.join(dir, `adapter${i}`);
        if (!fs.existsSync(adapterDir)) makeCheckpoint(kind, adapterDir, ['--base', base, '--seed', String(20 + i), ...args]);
        const m = loadModel(base, { name: backend, detail: '' });
        const adapter = loadAdapter(adapterDir, m.config);
        const specs = adapterTensorSpecs(adapter.config, m.config);
        const t = adapterTrainable(m, adapter);
        const batch = makeBatch(
          SEQS.filter((s) => s.ids.length === 8),
          0,
        );
        const { value, grads } = tf.variableGrads(
          () => maskedCrossEntropy(m.model.forward(batch.ids, adapter), batch, batch.targetCount),
          t.params.map((p) => p.variable),
        );
        const ref = gradReference(
          base,
          adapterDir,
          [SEQS[0].ids],
          [SEQS[0].targetMask],
          specs.map((s) => s.name),
        );
        assert.ok(Math.abs((await value.data())[0] - ref.loss) < 1e-4, `loss ${(await value.data())[0]} vs ${ref.loss}`);
        specs.forEach((spec, k) => {
          const g = grads[t.params[k].variable.name].dataSync();
          const r = ref.grads[spec.name];
          const scale = Math.max(...r.values.map(Math.abs), 1e-6);
          r.indices.forEach((flat, j) => {
            // Our matrices are held transposed ([in, out]); the reference indexes the stored [out, in].
            const idx = spec.shape.length === 2 ? (flat % spec.shape[1]) * spec.shape[0] + Math.floor(flat / spec.shape[1]) : flat;
            const err = Math.abs(g[idx] - r.values[j]);
            assert.ok(err <= 2e-4 * scale + 1e-6, `${spec.name}[${flat}]: ${g[idx]} vs ${r.values[j]} (scale ${scale})`);
          });
        });
      });
    });
  }
});
