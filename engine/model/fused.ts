/**
 * Engine-level fused operations, each named after its formula. Where the current backend registers
 * the op's kernel (the native backend: engine/backends/native-kernels.ts) the op is one kernel call,
 * with a registered gradient; everywhere else (wasm, cpu, webgpu) it is the composite of tfjs ops the
 * forward pass has always used, so nothing changes there.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kernel names: implemented by a backend, called only through the ops below. */
export const FUSED_KERNELS = {
  attentionProbabilities: 'DiffloraAttentionProbabilities',
  attentionProbabilitiesGrad: 'DiffloraAttentionProbabilitiesGrad',
  rmsNorm: 'DiffloraRmsNorm',
  rmsNormGradX: 'DiffloraRmsNormGradX',
  rmsNormGradW: 'DiffloraRmsNormGradW',
} as const;
const K = FUSED_KERNELS;

function fusedOn(kernel: string, ...xs: tf.Tensor[]): boolean {
  return xs.every((x) => x.dtype === 'float32') && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

function run<T extends tf.Tensor>(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): T {
  return tf.engine().runKernel(kernel, inputs, attrs) as T;
}

/**
 * softmax(scale * q kT + mask) over the last axis: q [..., M, d], kT [..., d, N] (the same batch
 * dimensions), mask broadcast to [..., M, N] (e.g. a causal mask of -1e9 above the diagonal, which
 * gives exactly 0 there: a row masked everywhere stays finite, never NaN).
 */
export function attentionProbabilities(q: tf.Tensor, kT: tf.Tensor, scale: number, mask: tf.Tensor): tf.Tensor {
  if (fusedOn(K.attentionProbabilities, q, kT, mask) && fusableAttention(q.shape, kT.shape, mask.shape)) {
    return run(K.attentionProbabilities, { q, kT, mask }, { scale });
  }
  return tf.softmax(tf.add(tf.matMul(tf.mul(q, scale), kT), mask));
}

/** The shapes the kernel takes: equal batch dimensions, a mask of [M, N] or of the output's shape. */
function fusableAttention(q: number[], kT: number[], mask: number[]): boolean {
  const r = q.length;
  if (r < 2 || kT.length !== r || q[r - 1] !== kT[r - 2] || !tf.util.arraysEqual(q.slice(0, -2), kT.slice(0, -2))) return false;
  const out = [...q.slice(0, -1), kT[r - 1]];
  return tf.util.arraysEqual(mask, out) || (mask.length >= 2 && mask.length <= r && tf.util.arraysEqual(mask.slice(-2), out.slice(-2)) && mask.slice(0, -2).every((d) => d === 1));
}

/** x / sqrt(mean(x^2) + eps) * w over the last axis of x; w has that axis' length. */
export function rmsNorm<R extends tf.Rank>(x: tf.Tensor<R>, w: tf.Tensor1D, eps: number): tf.Tensor<R> {
  if (fusedOn(K.rmsNorm, x, w) && x.rank >= 1 && w.rank === 1 && w.shape[0] === x.shape[x.rank - 1]) {
    return run(K.rmsNorm, { x, w }, { eps });
  }
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

/** The sum of t over the dimensions broadcast to reach it from `shape`, reshaped to `shape`. */
function unbroadcast(t: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = t.rank - shape.length;
  const axes = t.shape.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && t.shape[i] !== 1));
  return tf.reshape(axes.length ? tf.sum(t, axes) : t, shape);
}

let registered = false;

/** Registers the fused kernels' gradients (once; tfjs keeps them by kernel name for every backend). */
export function registerFusedGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: K.attentionProbabilities,
    inputsToSave: ['q', 'kT', 'mask'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [q, kT, mask, p] = saved;
      const scale = Number(attrs.scale);
      const dp = dy as tf.Tensor;
      // d(scale * q kT): computed once for both inputs (as tfjs's own softmax gradient computes dy * y).
      const ds = run<tf.Tensor>(K.attentionProbabilitiesGrad, { p, dy: dp }, { scale });
      return {
        q: () => tf.matMul(ds, kT, false, true),
        kT: () => tf.matMul(q, ds, true, false),
        mask: () => unbroadcast(run(K.attentionProbabilitiesGrad, { p, dy: dp }, { scale: 1 }), mask.shape),
      };
    },
  });
  tf.registerGradient({
    kernelName: K.rmsNorm,
    inputsToSave: ['x', 'w'],
    gradFunc: (dy, saved, attrs) => {
      const [x, w] = saved;
      const eps = Number(attrs.eps);
      return {
        x: () => run(K.rmsNormGradX, { x, w, dy: dy as tf.Tensor }, { eps }),
        w: () => run(K.rmsNormGradW, { x, dy: dy as tf.Tensor }, { eps }),
      };
    },
  });
}

registerFusedGradients();
