/**
 * Gradient kernels for training on wasm, installed after the backend and tfjs's own gradients:
 * - matMul: tfjs's stock gradient uses transpose flags, which on wasm fall off XNNPACK's fast path
 *   (2-D untransposed only) onto a naive loop; ours transposes explicitly, then multiplies plainly.
 *   On native the stock gradient is the fast one: sgemm takes the transpose flags for free, and an
 *   explicit transpose would copy the operand.
 * (The embedding's gradient on wasm is model/ops.ts embeddingLookup.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '../backend';

let installed = false;

export async function installTrainingKernels(): Promise<void> {
  await ensureGradients();
  if (installed) return;
  const stock = tf.getGradient('BatchMatMul');
  if (!stock) throw new Error('tfjs gradients are not registered');
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (a.rank !== 2 || b.rank !== 2 || tf.getBackend() === 'native') return stock.gradFunc(dy, saved, attrs);
      const t = (x: tf.Tensor) => tf.transpose(x);
      const opA = transposeA ? t(a) : a,
        opB = transposeB ? t(b) : b;
      return {
        // C = op(A) op(B): d op(A) = dC op(B)^T, d op(B) = op(A)^T dC.
        a: () => {
          const g = tf.matMul(dy as tf.Tensor2D, t(opB) as tf.Tensor2D);
          return transposeA ? t(g) : g;
        },
        b: () => {
          const g = tf.matMul(t(opA) as tf.Tensor2D, dy as tf.Tensor2D);
          return transposeB ? t(g) : g;
        },
      };
    },
  });
  installed = true;
}
