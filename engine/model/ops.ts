/** Small tensor helpers shared by the forward pass, with backend-aware fast paths. */
import * as tf from '@tensorflow/tfjs-core';

export function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

export { addLowRank, attentionProbabilities, differentialAttention, dropout, rmsNorm, rope, swiglu } from './fused';

/**
 * Rows of `table` for `ids`, differentiable on every backend: wasm has no UnsortedSegmentSum, so
 * gather has no gradient there, and this one scatter-adds the incoming gradient rows on the host.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: number[]): tf.Tensor2D {
  const idx = tf.tensor1d(ids, 'int32');
  if (tf.getBackend() !== 'wasm') return tf.gather(table, idx);
  const [V, D] = table.shape;
  const lookup = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.gather(inputs[0] as tf.Tensor2D, idx),
    gradFunc: (dy: tf.Tensor) => {
      const d = dy.dataSync();
      const g = new Float32Array(V * D);
      for (let i = 0; i < ids.length; i++) {
        const src = i * D,
          dst = ids[i] * D;
        for (let j = 0; j < D; j++) g[dst + j] += d[src + j];
      }
      return tf.tensor2d(g, [V, D]);
    },
  }));
  return lookup(table) as tf.Tensor2D;
}
