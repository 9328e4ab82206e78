/** Fine-tuning an adapter on a frozen base: the Trainable the training loop drives. */
import * as tf from '@tensorflow/tfjs-core';
import { Adapter, makeTrainable } from '../model/adapter-weights';
import { lambdaOf } from '../model/llama';
import { LoadedModel } from '../model/load';
import { Batch, maskedCrossEntropy, meanTargetLoss } from './loss';
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

/** Mean held-out loss of the model with the adapter (no dropout). */
export function evaluateLoss(m: LoadedModel, adapter: Adapter | undefined, batches: Batch[]): Promise<number> {
  return meanTargetLoss((ids) => m.model.forward(ids, adapter), batches);
}
