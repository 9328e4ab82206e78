/**
 * The Llama forward pass with optional LoRA / DiffLoRA adapters, a KV cache and attention capture.
 * Shapes: N = B*T rows for all projections (2-D matMuls), [B, heads, T, d] inside attention.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors';
import { Adapter, DiffAttention, LayerAdapter, LoraPair } from './adapter-weights';
import { LlamaConfig } from './config';
import { inverseFrequencies, ropeTables, rotateHalfMatrix } from './rope';
import { BaseWeights, LayerWeights } from './weights';

/** One layer's cached keys and values after RoPE, before GQA repetition: [B, G, T, d]. */
export interface LayerCache {
  k1: tf.Tensor4D;
  k2?: tf.Tensor4D;
  v: tf.Tensor4D;
}

export class KVCache {
  layers: (LayerCache | undefined)[] = [];
  length = 0;

  dispose(): void {
    for (const l of this.layers) if (l) { l.k1.dispose(); l.k2?.dispose(); l.v.dispose(); }
    this.layers = [];
    this.length = 0;
  }
}

/** Maps of one layer for the requested heads of batch row 0, each [heads.length, tq, tk] row-major. */
export interface LayerMaps {
  layer: number;
  heads: number[];
  tq: number;
  tk: number;
  lambda?: number;
  positive: Float32Array;
  negative?: Float32Array;
  differential?: Float32Array;
}

export interface CaptureRequest {
  /** Layers to capture; undefined = all. */
  layers?: number[];
  /** Heads to capture; undefined = all. */
  heads?: number[];
  onMaps: (maps: LayerMaps) => void;
}

export interface ForwardOptions {
  cache?: KVCache;
  capture?: CaptureRequest;
  /** Return logits for the last position only ([B, vocab]) instead of [B, T, vocab]. */
  lastOnly?: boolean;
}

const MASKED = -1e9; // not -Infinity: a fully masked row must not turn into NaN

export class LlamaModel {
  private readonly invFreq: Float64Array;
  private readonly rotate: tf.Tensor2D;

  constructor(readonly config: LlamaConfig, readonly weights: BaseWeights) {
    this.invFreq = inverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
    this.rotate = rotateHalfMatrix(config.headDim);
  }

  checkIds(ids: number[][]): void {
    if (ids.length === 0 || ids[0].length === 0) throw new InputError('input', 'empty input: no tokens to run');
    for (const row of ids) {
      if (row.length !== ids[0].length) throw new InputError('input', 'rows of a batch must have the same length');
      for (let i = 0; i < row.length; i++) {
        const id = row[i];
        if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) {
          throw new InputError('input', `token id ${id} at position ${i} is outside the vocabulary [0, ${this.config.vocabSize})`);
        }
      }
    }
  }

  /** Logits for token ids [B][T]; appends to `opts.cache` when given. */
  forward(ids: number[][], adapter: Adapter | undefined, opts: ForwardOptions = {}): tf.Tensor {
    this.checkIds(ids);
    const B = ids.length, T = ids[0].length;
    const cache = opts.cache;
    const offset = cache?.length ?? 0;
    if (adapter && adapter.layers.length !== this.config.numLayers) {
      throw new InputError(adapter.dir, `adapter has ${adapter.layers.length} layers, the model ${this.config.numLayers}`);
    }
    const logits = tf.tidy(() => {
      const { cos, sin } = ropeTables(this.invFreq, offset, T);
      const mask = causalMask(T, offset);
      let x = tf.gather(this.weights.embed, tf.tensor1d(ids.flat(), 'int32')) as tf.Tensor2D;
      for (let l = 0; l < this.config.numLayers; l++) {
        const ctx: LayerContext = { B, T, offset, cos, sin, mask, layer: l, cache, capture: opts.capture };
        x = this.layer(x, this.weights.layers[l], adapter?.layers[l], ctx);
      }
      x = rmsNorm(x, this.weights.norm, this.config.rmsNormEps);
      if (opts.lastOnly) {
        const last = tf.slice(tf.reshape(x, [B, T, -1]), [0, T - 1, 0], [B, 1, -1]);
        return tf.matMul(tf.reshape(last, [B, -1]), this.weights.lmHeadT);
      }
      return tf.reshape(tf.matMul(x, this.weights.lmHeadT), [B, T, -1]);
    });
    if (cache) cache.length += T;
    return logits;
  }

  private layer(x: tf.Tensor2D, w: LayerWeights, a: LayerAdapter | undefined, ctx: LayerContext): tf.Tensor2D {
    const eps = this.config.rmsNormEps;
    const h = rmsNorm(x, w.inputNorm, eps);
    x = tf.add(x, this.attention(h, w, a, ctx));
    const h2 = rmsNorm(x, w.postNorm, eps);
    const gate = linear(h2, w.gate, a?.lora.gate_proj);
    const up = linear(h2, w.up, a?.lora.up_proj);
    const prod = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    return tf.add(x, linear(prod, w.down, a?.lora.down_proj));
  }

  private attention(h: tf.Tensor2D, w: LayerWeights, a: LayerAdapter | undefined, ctx: LayerContext): tf.Tensor2D {
    const c = this.config;
    const H = c.numHeads, G = c.numKvHeads, d = c.headDim;
    const diff = a?.diff;
    const baseQ = mm(h, w.q);
    const baseK = mm(h, w.k);
    const q1 = addDelta(baseQ, h, a?.lora.q_proj ?? diff?.q1);
    const k1 = addDelta(baseK, h, a?.lora.k_proj ?? diff?.k1);
    const v = linear(h, w.v, a?.lora.v_proj);

    const Q1 = this.heads(q1, H, ctx);
    let K1 = this.heads(k1, G, ctx);
    let V = tf.transpose(tf.reshape(v, [ctx.B, ctx.T, G, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    let Q2: tf.Tensor4D | undefined, K2: tf.Tensor4D | undefined;
    if (diff) {
      Q2 = this.heads(negativeProjection(h, baseQ, diff.q2, diff.q2Full, diff.negativeUsesBase), H, ctx);
      K2 = this.heads(negativeProjection(h, baseK, diff.k2, diff.k2Full, diff.negativeUsesBase), G, ctx);
    }
    if (ctx.cache) ({ K1, K2, V } = appendToCache(ctx.cache, ctx.layer, K1, K2, V));

    const scale = 1 / Math.sqrt(d);
    const A1 = tf.softmax(tf.add(tf.mul(tf.matMul(Q1, repeatKv(K1, H / G), false, true), scale), ctx.mask)) as tf.Tensor4D;
    let A = A1;
    let negative: tf.Tensor4D | undefined;
    let lambda: tf.Scalar | undefined;
    if (diff && Q2 && K2) {
      const A2 = tf.softmax(tf.add(tf.mul(tf.matMul(Q2, repeatKv(K2, H / G), false, true), scale), ctx.mask));
      lambda = lambdaOf(diff);
      negative = tf.mul(A2, lambda) as tf.Tensor4D;
      A = tf.sub(A1, negative);
      if (diff.relu) A = tf.relu(A);
    }
    this.capture(ctx, A1, negative, diff ? A : undefined, lambda);

    let O = tf.matMul(A, repeatKv(V, H / G)) as tf.Tensor4D; // [B, H, T, d]
    if (diff?.subln) O = tf.mul(rmsNorm(O, diff.subln, 1e-5), 1 - diff.lambdaInit);
    const O2 = tf.reshape(tf.transpose(O, [0, 2, 1, 3]), [ctx.B * ctx.T, H * d]) as tf.Tensor2D;
    const oLora = a?.lora.o_proj;
    const out = mm(O2, w.o);
    return addDelta(out, a?.oAdapterReadsLayerInput ? h : O2, oLora);
  }

  /** [N, n*d] -> RoPE -> [B, n, T, d]. */
  private heads(x: tf.Tensor2D, n: number, ctx: LayerContext): tf.Tensor4D {
    const d = this.config.headDim;
    const x4 = tf.reshape(x, [ctx.B, ctx.T, n, d]);
    const rotated = tf.reshape(tf.matMul(tf.reshape(x4, [-1, d]), this.rotate), x4.shape);
    const roped = tf.add(tf.mul(x4, ctx.cos), tf.mul(rotated, ctx.sin));
    return tf.transpose(roped, [0, 2, 1, 3]) as tf.Tensor4D;
  }

  private capture(ctx: LayerContext, A1: tf.Tensor4D, negative?: tf.Tensor4D, differential?: tf.Tensor4D, lambda?: tf.Scalar): void {
    const req = ctx.capture;
    if (!req || (req.layers && !req.layers.includes(ctx.layer))) return;
    const H = this.config.numHeads;
    const heads = req.heads ?? [...Array(H).keys()];
    const [, , tq, tk] = A1.shape;
    const pick = (m: tf.Tensor4D) => {
      const row0 = tf.reshape(tf.slice(m, [0, 0, 0, 0], [1, H, tq, tk]), [H, tq, tk]);
      return (heads.length === H ? row0 : tf.gather(row0, tf.tensor1d(heads, 'int32'))).dataSync() as Float32Array;
    };
    req.onMaps({
      layer: ctx.layer, heads, tq, tk,
      lambda: lambda?.dataSync()[0],
      positive: pick(A1),
      negative: negative && pick(negative),
      differential: differential && pick(differential),
    });
  }
}

interface LayerContext {
  B: number;
  T: number;
  offset: number;
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
  mask: tf.Tensor2D;
  layer: number;
  cache?: KVCache;
  capture?: CaptureRequest;
}

function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

export function rmsNorm<R extends tf.Rank>(x: tf.Tensor<R>, w: tf.Tensor1D, eps: number): tf.Tensor<R> {
  const ms = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

export function loraDelta(x: tf.Tensor2D, p: LoraPair): tf.Tensor2D {
  return tf.mul(mm(mm(x, p.aT), p.bT), p.scale);
}

function addDelta(base: tf.Tensor2D, x: tf.Tensor2D, p: LoraPair | undefined): tf.Tensor2D {
  return p ? tf.add(base, loraDelta(x, p)) : base;
}

function linear(x: tf.Tensor2D, wT: tf.Tensor2D, p: LoraPair | undefined): tf.Tensor2D {
  return addDelta(mm(x, wT), x, p);
}

function negativeProjection(h: tf.Tensor2D, base: tf.Tensor2D, p: LoraPair | undefined, full: tf.Tensor2D | undefined, usesBase: boolean): tf.Tensor2D {
  if (full) return mm(h, full);
  if (!p) throw new Error('negative term needs a LoRA pair or a full-dim matrix');
  return usesBase ? addDelta(base, h, p) : loraDelta(h, p);
}

export function lambdaOf(diff: DiffAttention): tf.Scalar {
  const l = diff.lambda;
  if (l.kind === 'fixed') return tf.scalar(l.value);
  return tf.add(tf.sub(tf.exp(tf.sum(tf.mul(l.q1, l.k1))), tf.exp(tf.sum(tf.mul(l.q2, l.k2)))), diff.lambdaInit);
}

function repeatKv(x: tf.Tensor4D, rep: number): tf.Tensor4D {
  if (rep === 1) return x;
  const [B, G, T, d] = x.shape;
  return tf.reshape(tf.tile(tf.reshape(x, [B, G, 1, T, d]), [1, 1, rep, 1, 1]), [B, G * rep, T, d]);
}

/** Additive mask [T, offset + T]: query i sees keys 0 .. offset + i. */
function causalMask(T: number, offset: number): tf.Tensor2D {
  const tk = offset + T;
  const m = new Float32Array(T * tk);
  for (let i = 0; i < T; i++) for (let j = offset + i + 1; j < tk; j++) m[i * tk + j] = MASKED;
  return tf.tensor2d(m, [T, tk]);
}

function appendToCache(cache: KVCache, layer: number, K1: tf.Tensor4D, K2: tf.Tensor4D | undefined, V: tf.Tensor4D) {
  const old = cache.layers[layer];
  const cat = (prev: tf.Tensor4D | undefined, cur: tf.Tensor4D) => tf.keep(prev ? tf.concat([prev, cur], 2) : cur);
  const next: LayerCache = { k1: cat(old?.k1, K1), k2: K2 && cat(old?.k2, K2), v: cat(old?.v, V) };
  if (old) { old.k1.dispose(); old.k2?.dispose(); old.v.dispose(); }
  cache.layers[layer] = next;
  return { K1: next.k1, K2: next.k2, V: next.v };
}
