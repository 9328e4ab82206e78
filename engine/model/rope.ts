/** Rotary position embeddings in HF's non-interleaved ("rotate_half") form, with llama3 frequency scaling. */
import * as tf from '@tensorflow/tfjs-core';
import { RopeLlama3Scaling } from './config';

/** theta^(-2i/d), then the llama3 rescaling of long wavelengths (Llama 3.1/3.2). */
export function inverseFrequencies(headDim: number, theta: number, scaling?: RopeLlama3Scaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(theta, -(2 * i) / headDim);
  if (!scaling) return inv;
  const { factor, lowFreqFactor: l, highFreqFactor: h, originalMaxPositions: n } = scaling;
  const lowFreqWavelen = n / l,
    highFreqWavelen = n / h;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen < highFreqWavelen) continue;
    if (wavelen > lowFreqWavelen) {
      inv[i] /= factor;
      continue;
    }
    const smooth = (n / wavelen - l) / (h - l);
    inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
  }
  return inv;
}

/** cos and sin tables for positions [offset, offset + length), shaped [length, 1, headDim] to broadcast over heads. */
export function ropeTables(inv: Float64Array, offset: number, length: number): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const half = inv.length,
    d = 2 * half;
  const cos = new Float32Array(length * d),
    sin = new Float32Array(length * d);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const a = (offset + t) * inv[i];
      const c = Math.cos(a),
        s = Math.sin(a);
      cos[t * d + i] = cos[t * d + i + half] = c;
      sin[t * d + i] = sin[t * d + i + half] = s;
    }
  }
  return { cos: tf.tensor3d(cos, [length, 1, d]), sin: tf.tensor3d(sin, [length, 1, d]) };
}

/**
 * The [d, d] matrix R with x R = rotate_half(x) = [-x2, x1]: one untransposed 2-D matMul, which is
 * XNNPACK's fast path on wasm, where slicing halves would copy the whole tensor twice.
 */
export function rotateHalfMatrix(headDim: number): tf.Tensor2D {
  const half = headDim / 2;
  const r = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    r[(i + half) * headDim + i] = -1; // out[i] = -x[i + half]
    r[i * headDim + i + half] = 1; // out[i + half] = x[i]
  }
  return tf.tensor2d(r, [headDim, headDim]);
}
