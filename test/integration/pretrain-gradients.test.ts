/**
 * Pretraining trains every weight, the tied embedding included (through the engine's own lookup
 * gradient on wasm): gradients against float64 finite differences of the reference. And an untrained
 * LoRA (B = 0) leaves the logits exactly unchanged.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../engine/backend';
import { LlamaModel } from '../../engine/model/llama';
import { loadModel } from '../../engine/model/load';
import { BaseWeights } from '../../engine/model/weights';
import { createAdapter } from '../../engine/train/adapter-init';
import { installTrainingKernels } from '../../engine/train/kernels';
import { makeBatch, maskedCrossEntropy } from '../../engine/train/loss';
import { methodConfig } from '../../engine/train/presets';
import { cpuBackends } from '../helpers/native';
import { gradReference, makeCheckpoint, tempDir } from '../helpers/reference';

const IDS = [1, 17, 42, 5, 9, 23, 64, 8, 30];
const MASK = [0, 1, 1, 1, 1, 1, 1, 1, 1];

describe('pretraining gradients and untrained adapters', () => {
  const dir = tempDir('pretrain-grads');
  let base = '';
  before(() => {
    base = makeCheckpoint('base', path.join(dir, 'base'), [
      '--seed',
      '6',
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
      '--tie',
    ]);
  });

  for (const backend of cpuBackends()) {
    test(`${backend}: every weight kind, the tied embedding included, against finite differences`, async () => {
      await initBackend(backend, () => {});
      await installTrainingKernels();
      const m = loadModel(base, { name: backend, detail: '' });
      const w = m.model.weights;
      const l0 = w.layers[0],
        l1 = w.layers[1];
      const named: [string, tf.Tensor, boolean][] = [
        ['model.embed_tokens.weight', w.embed, false],
        ['model.layers.0.self_attn.q_proj.weight', l0.q, true],
        ['model.layers.0.self_attn.k_proj.weight', l0.k, true],
        ['model.layers.1.self_attn.o_proj.weight', l1.o, true],
        ['model.layers.1.mlp.down_proj.weight', l1.down, true],
        ['model.layers.0.input_layernorm.weight', l0.inputNorm, false],
        ['model.norm.weight', w.norm, false],
      ];
      const vars = named.map(([, t]) => tf.variable(t));
      const weights: BaseWeights = {
        embed: vars[0] as tf.Variable<tf.Rank.R2>,
        norm: vars[6] as tf.Variable<tf.Rank.R1>,
        lmHeadT: undefined,
        layers: [
          {
            ...l0,
            q: vars[1] as tf.Variable<tf.Rank.R2>,
            k: vars[2] as tf.Variable<tf.Rank.R2>,
            inputNorm: vars[5] as tf.Variable<tf.Rank.R1>,
          },
          { ...l1, o: vars[3] as tf.Variable<tf.Rank.R2>, down: vars[4] as tf.Variable<tf.Rank.R2> },
        ],
      };
      const model = new LlamaModel(m.config, weights);
      const batch = makeBatch([{ ids: IDS, targetMask: MASK }], 0);
      const { grads } = tf.variableGrads(
        () =>
          maskedCrossEntropy(
            model.forward(batch.ids, undefined, { training: { dropoutRate: 0, seed: 0, trainEmbeddings: true } }),
            batch,
            batch.targetCount,
          ),
        vars,
      );
      const ref = gradReference(
        base,
        undefined,
        [IDS],
        [MASK],
        named.map(([n]) => n),
      );
      named.forEach(([name, , transposed], k) => {
        const g = grads[vars[k].name].dataSync();
        const r = ref.grads[name];
        const scale = Math.max(...r.values.map(Math.abs), 1e-6);
        r.indices.forEach((flat, j) => {
          const idx = transposed ? (flat % r.shape[1]) * r.shape[0] + Math.floor(flat / r.shape[1]) : flat;
          assert.ok(Math.abs(g[idx] - r.values[j]) <= 2e-4 * scale + 1e-6, `${name}[${flat}]: ${g[idx]} vs ${r.values[j]}`);
        });
      });
    });
  }

  test('an untrained LoRA (B = 0) leaves the logits exactly unchanged', async () => {
    await initBackend('wasm', () => {});
    const m = loadModel(base, { name: 'wasm', detail: '' });
    const cfg = methodConfig('lora', { targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 4 });
    const adapter = createAdapter(cfg, m.config, m.configJson, base, 7);
    const a = m.model.forward([IDS], undefined).dataSync();
    const b = m.model.forward([IDS], adapter).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
  });
});
