/** Fine-tuning an adapter on a frozen base: the Trainable the training loop drives. */
import * as tf from '@tensorflow/tfjs-core';
import { Adapter, makeTrainable } from '../model/adapter-weights';
import { lambdaOf } from '../model/llama';
import { LoadedModel } from '../model/load';
import { Batch, maskedCrossEntropy } from './loss';
import { Trainable } from './trainer';

export function adapterTrainable(m: LoadedModel, adapter: Adapter): Trainable {
  const params = makeTrainable(adapter, m.config);
  const diffLayers = adapter.layers.filter((l) => l?.diff).map((l) => l!.diff!);
  return {
    params,
    loss: (batch, normaliser, pass) =>
      tf.tidy(() => maskedCrossEntropy(m.model.forward(batch.ids, adapter, { training: pass }), batch, normaliser)),
    lambdas: diffLayers.length
      ? async () => {
          const t = tf.tidy(() => tf.stack(diffLayers.map((d) => lambdaOf(d))));
          const values = Array.from(await t.data());
          t.dispose();
          return values;
        }
      : undefined,
  };
}

/** Mean loss over target tokens of `data` (no dropout), in micro-batches. */
export async function evaluateLoss(m: LoadedModel, adapter: Adapter | undefined, batches: Batch[]): Promise<number> {
  let sum = 0, count = 0;
  for (const b of batches) {
    const l = tf.tidy(() => maskedCrossEntropy(m.model.forward(b.ids, adapter), b, 1));
    sum += (await l.data())[0];
    count += b.targetCount;
    l.dispose();
  }
  return sum / Math.max(1, count);
}
