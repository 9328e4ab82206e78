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
  addLowRank: 'DiffloraAddLowRank',
  differentialAttention: 'DiffloraDifferentialAttention',
  differentialAttentionGrad: 'DiffloraDifferentialAttentionGrad',
  swiglu: 'DiffloraSwiglu',
  swigluGrad: 'DiffloraSwigluGrad',
  dropout: 'DiffloraDropout',
  rope: 'DiffloraRope',
  ropeGradX: 'DiffloraRopeGradX',
  crossEntropy: 'DiffloraCrossEntropy',
  crossEntropyGrad: 'DiffloraCrossEntropyGrad',
  adamw: 'DiffloraAdamW',
} as const;
const K = FUSED_KERNELS;

function fusedOn(kernel: string, ...xs: tf.Tensor[]): boolean {
  return xs.every((x) => x.dtype === 'float32') && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

function run<T extends tf.Tensor | tf.Tensor[]>(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): T {
  return tf.engine().runKernel(kernel, inputs, attrs) as T;
}

const sameShape = (a: tf.Tensor, b: tf.Tensor): boolean => tf.util.arraysEqual(a.shape, b.shape);

/**
 * softmax(scale * q kT + mask) over the last axis: q [..., M, d], kT [..., d, N] (the same batch
 * dimensions), and a mask of -1e9 where a query must not look (exactly 0 there after the softmax; a row
 * masked everywhere stays finite, never NaN): either broadcast to [..., M, N], or [P, N] with P dividing
 * M, its rows repeating down the M rows (the causal mask of T queries for the M = rep * T rows of a
 * GQA group's stacked query heads).
 */
export function attentionProbabilities(q: tf.Tensor, kT: tf.Tensor, scale: number, mask: tf.Tensor): tf.Tensor {
  if (fusedOn(K.attentionProbabilities, q, kT, mask) && fusableAttention(q.shape, kT.shape, mask.shape)) {
    return run(K.attentionProbabilities, { q, kT, mask }, { scale });
  }
  const scores = tf.matMul(tf.mul(q, scale), kT);
  const M = scores.shape[scores.rank - 2],
    P = mask.shape[mask.rank - 2];
  if (mask.rank !== 2 || P === M) return tf.softmax(tf.add(scores, mask));
  const stacked = tf.reshape(scores, [...scores.shape.slice(0, -2), M / P, P, -1]);
  return tf.softmax(tf.reshape(tf.add(stacked, mask), scores.shape));
}

/**
 * The shapes the kernel takes: equal batch dimensions, and a mask of the output's shape, of [1.., M, N],
 * or of [P, N] with P dividing M: its rows repeat down every batch's output rows.
 */
function fusableAttention(q: number[], kT: number[], mask: number[]): boolean {
  const r = q.length;
  if (r < 2 || kT.length !== r || q[r - 1] !== kT[r - 2] || !tf.util.arraysEqual(q.slice(0, -2), kT.slice(0, -2))) return false;
  const out = [...q.slice(0, -1), kT[r - 1]];
  if (tf.util.arraysEqual(mask, out)) return true;
  const [P, N] = mask.slice(-2);
  const M = out[r - 2];
  return mask.length >= 2 && mask.length <= r && N === out[r - 1] && P > 0 && M % P === 0 && mask.slice(0, -2).every((d) => d === 1);
}

/** x / sqrt(mean(x^2) + eps) * w over the last axis of x; w has that axis' length. */
export function rmsNorm<R extends tf.Rank>(x: tf.Tensor<R>, w: tf.Tensor1D, eps: number): tf.Tensor<R> {
  if (fusedOn(K.rmsNorm, x, w) && x.rank >= 1 && w.rank === 1 && w.shape[0] === x.shape[x.rank - 1]) {
    return run(K.rmsNorm, { x, w }, { eps });
  }
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

/** base + scale * xa bT: a LoRA delta (xa = x A^T, bT = B^T) added to the base projection. */
export function addLowRank(base: tf.Tensor2D, xa: tf.Tensor2D, bT: tf.Tensor2D, scale: number): tf.Tensor2D {
  if (
    fusedOn(K.addLowRank, base, xa, bT) &&
    base.rank === 2 &&
    xa.rank === 2 &&
    bT.rank === 2 &&
    xa.shape[0] === base.shape[0] &&
    bT.shape[0] === xa.shape[1] &&
    bT.shape[1] === base.shape[1]
  ) {
    return run(K.addLowRank, { base, xa, bT }, { scale });
  }
  return tf.add(base, tf.mul(tf.matMul(xa, bT), scale));
}

/**
 * The differential attention map relu?(A1 - lambda A2) of DiffLoRA: A1 and A2 of one shape (the two
 * softmax maps), lambda a scalar.
 */
export function differentialAttention(a1: tf.Tensor, a2: tf.Tensor, lambda: tf.Scalar, relu: boolean): tf.Tensor {
  if (fusedOn(K.differentialAttention, a1, a2, lambda) && sameShape(a1, a2) && lambda.rank === 0) {
    return run(K.differentialAttention, { a1, a2, lambda }, { relu });
  }
  const d = tf.sub(a1, tf.mul(a2, lambda));
  return relu ? tf.relu(d) : d;
}

/** SwiGLU's product silu(gate) * up = gate * sigmoid(gate) * up, element-wise. */
export function swiglu<R extends tf.Rank>(gate: tf.Tensor<R>, up: tf.Tensor<R>): tf.Tensor<R> {
  if (fusedOn(K.swiglu, gate, up) && sameShape(gate, up)) return run(K.swiglu, { gate, up }, {});
  return tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);
}

/**
 * Inverted dropout: x / (1 - rate) where kept, 0 where dropped (each element with probability rate),
 * the mask a function of `seed` (an integer >= 0) alone. The native kernel draws it from a
 * counter-based stream (and its gradient redraws it); elsewhere tf.dropout's seeded generator, whose
 * JavaScript loop took ~1.9 ms per [1024, 192] input: 13% of a DiffLoRA training step.
 */
export function dropout<R extends tf.Rank>(x: tf.Tensor<R>, rate: number, seed: number): tf.Tensor<R> {
  tf.util.assert(rate >= 0 && rate < 1, () => `dropout rate ${rate} is outside [0, 1)`);
  tf.util.assert(Number.isSafeInteger(seed) && seed >= 0, () => `dropout seed ${seed} is not an integer >= 0`);
  if (fusedOn(K.dropout, x)) return run(K.dropout, { x }, { rate, seed });
  return tf.dropout(x, rate, undefined, seed) as tf.Tensor<R>;
}

/**
 * RoPE: x cos + rotate_half(x) sin with rotate_half(x) = [-x2, x1] over the last axis, for x
 * [B, T, heads, d] and tables [T, 1, d]. `rotate` is rotate_half as the [d, d] matrix the composite
 * multiplies by (one untransposed 2-D matMul: XNNPACK's fast path on wasm).
 */
export function rope(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D, rotate: tf.Tensor2D): tf.Tensor4D {
  const [, T, , d] = x.shape;
  if (fusedOn(K.rope, x, cos, sin) && d % 2 === 0 && tf.util.arraysEqual(cos.shape, [T, 1, d]) && sameShape(cos, sin)) {
    return run(K.rope, { x, cos, sin }, {});
  }
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, d]), rotate), x.shape);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/** rotate_half(x) = [-x2, x1] over the last axis (for RoPE's table gradients). */
function rotateHalf(x: tf.Tensor): tf.Tensor {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(x2), x1], -1);
}

/**
 * -sum over rows n of weights[n] log softmax(logits[n])[labels[n]], for logits [..., V] of N rows,
 * int32 labels [N] and weights [N] (a label outside [0, V) selects nothing).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const V = logits.shape[logits.rank - 1];
  if (
    fusedOn(K.crossEntropy, logits, weights) &&
    labels.dtype === 'int32' &&
    labels.size * V === logits.size &&
    weights.size === labels.size
  ) {
    return run(K.crossEntropy, { logits, labels, weights }, {});
  }
  // The gradient is written out, (softmax - onehot) * weight: tfjs's own logSumExp gradient runs
  // through max's Equal kernel, which alone took a quarter of a training step on wasm; and one-hot
  // labels avoid gather, which has no gradient on wasm.
  const oneHot = tf.oneHot(labels, V);
  const w = tf.reshape(weights, [-1, 1]);
  const ce = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const flat = tf.reshape(inputs[0] as tf.Tensor, [-1, V]) as tf.Tensor2D;
    const save = inputs[1] as tf.GradSaveFunc;
    const logProbs = tf.logSoftmax(flat);
    save([logProbs, oneHot, w]); // kept for the backward pass, which runs after the caller's tidy
    const value = tf.neg(tf.sum(tf.mul(tf.mul(logProbs, oneHot), w))) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, [lp, oh, ww]: tf.Tensor[]) => tf.reshape(tf.mul(tf.mul(tf.sub(tf.exp(lp), oh), ww), dy), logits.shape),
    };
  });
  return ce(logits) as tf.Scalar;
}

/** One AdamW step's constants: bias corrections bc = 1 - beta^step; decay = 1 - lr * weightDecay, or none. */
export interface AdamWStep {
  beta1: number;
  beta2: number;
  eps: number;
  lr: number;
  bc1: number;
  bc2: number;
  decay?: number;
}

/**
 * AdamW's update of one parameter w with gradient g and moments m, v (PyTorch's order):
 * m' = beta1 m + (1 - beta1) g; v' = beta2 v + (1 - beta2) g^2;
 * w' = decay w - lr (m' / bc1) / (sqrt(v' / bc2) + eps).
 */
export function adamwUpdate(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  s: AdamWStep,
): { w: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (fusedOn(K.adamw, w, g, m, v) && sameShape(w, g) && sameShape(w, m) && sameShape(w, v)) {
    const [w2, m2, v2] = run<tf.Tensor[]>(K.adamw, { w, g, m, v }, { ...s, decay: s.decay ?? 1 });
    return { w: w2, m: m2, v: v2 };
  }
  const m2 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
  const v2 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
  const decayed = s.decay === undefined ? w : tf.mul(w, s.decay);
  const update = tf.div(tf.div(m2, s.bc1), tf.add(tf.sqrt(tf.div(v2, s.bc2)), s.eps));
  return { w: tf.sub(decayed, tf.mul(update, s.lr)), m: m2, v: v2 };
}

/** The sum of t over the dimensions broadcast to reach it from `shape`, reshaped to `shape`. */
function unbroadcast(t: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = t.rank - shape.length;
  const axes = t.shape.map((_, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && t.shape[i] !== 1));
  return tf.reshape(axes.length ? tf.sum(t, axes) : t, shape);
}

/** The gradient of a mask whose rows repeat down the output rows: each entry's, summed over its repeats. */
function sumOverRepeats(t: tf.Tensor, shape: number[]): tf.Tensor {
  const size = tf.util.sizeFromShape(shape);
  return size === 0 ? tf.zeros(shape) : tf.reshape(tf.sum(tf.reshape(t, [-1, size]), 0), shape);
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
        mask: () => sumOverRepeats(run(K.attentionProbabilitiesGrad, { p, dy: dp }, { scale: 1 }), mask.shape),
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
  tf.registerGradient({
    kernelName: K.addLowRank,
    inputsToSave: ['xa', 'bT'],
    gradFunc: (dy, saved, attrs) => {
      const [xa, bT] = saved;
      const d = dy as tf.Tensor2D,
        scale = Number(attrs.scale);
      // The scale goes on the small [n, r] and [r, cols] products, never on the [n, cols] one.
      return {
        base: () => d,
        xa: () => tf.mul(tf.matMul(d, bT, false, true), scale),
        bT: () => tf.mul(tf.matMul(xa, d, true, false), scale),
      };
    },
  });
  tf.registerGradient({
    kernelName: K.differentialAttention,
    inputsToSave: ['a2', 'lambda'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [a2, lambda, y] = saved;
      const [da1, da2, dLambda] = run<tf.Tensor[]>(
        K.differentialAttentionGrad,
        { a2, y, dy: dy as tf.Tensor, lambda },
        { relu: attrs.relu },
      );
      return { a1: () => da1, a2: () => da2, lambda: () => dLambda };
    },
  });
  tf.registerGradient({
    kernelName: K.swiglu,
    inputsToSave: ['gate', 'up'],
    gradFunc: (dy, saved) => {
      const [gate, up] = saved;
      const [dGate, dUp] = run<tf.Tensor[]>(K.swigluGrad, { gate, up, dy: dy as tf.Tensor }, {});
      return { gate: () => dGate, up: () => dUp };
    },
  });
  tf.registerGradient({
    kernelName: K.dropout,
    // The same mask times dy: the kernel again with the same seed.
    gradFunc: (dy, _saved, attrs) => ({ x: () => run(K.dropout, { x: dy as tf.Tensor }, attrs as unknown as tf.NamedAttrMap) }),
  });
  tf.registerGradient({
    kernelName: K.rope,
    inputsToSave: ['x', 'cos', 'sin'],
    gradFunc: (dy, saved) => {
      const [x, cos, sin] = saved;
      const d = dy as tf.Tensor;
      return {
        x: () => run(K.ropeGradX, { dy: d, cos, sin }, {}),
        cos: () => unbroadcast(tf.mul(d, x), cos.shape),
        sin: () => unbroadcast(tf.mul(d, rotateHalf(x)), sin.shape),
      };
    },
  });
  tf.registerGradient({
    kernelName: K.crossEntropy,
    inputsToSave: ['logits', 'labels', 'weights'],
    gradFunc: (dy, saved) => {
      const [logits, labels, weights] = saved;
      return { logits: () => run(K.crossEntropyGrad, { logits, labels, weights, dy: dy as tf.Tensor }, {}) };
    },
  });
}

registerFusedGradients();
