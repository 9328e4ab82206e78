/** Small tensor helpers shared by the forward pass, with backend-aware fast paths. */
import * as tf from '@tensorflow/tfjs-core';

export function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

/**
 * [n, M, K] x [n, K, N] -> [n, M, N]. On wasm, XNNPACK's fast matMul takes only 2-D untransposed
 * operands (batched falls to a naive loop, 10-30x slower), so the batch is split into 2-D products.
 */
export function batchedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b);
  if (a.shape[0] === 1) return tf.expandDims(mm(tf.squeeze(a, [0]), tf.squeeze(b, [0])), 0) as tf.Tensor3D;
  const as = tf.unstack(a) as tf.Tensor2D[];
  const bs = tf.unstack(b) as tf.Tensor2D[];
  return tf.stack(as.map((x, i) => mm(x, bs[i]))) as tf.Tensor3D;
}

export function rmsNorm<R extends tf.Rank>(x: tf.Tensor<R>, w: tf.Tensor1D, eps: number): tf.Tensor<R> {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}
