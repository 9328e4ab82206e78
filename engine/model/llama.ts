/**
 * The Llama forward pass with optional LoRA / DiffLoRA adapters, a KV cache and attention capture.
 * Shapes: N = B*T rows for all projections (2-D matMuls), [B, heads, T, d] inside attention.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PackedLayerMaps } from '../../protocol/attention';
import { InputError } from '../errors';
import { Adapter, DiffAttention, LayerAdapter, LoraPair } from './adapter-weights';
import { LlamaConfig } from './config';
import { addLowRank, attentionProbabilities, differentialAttention, dropout, embeddingLookup, mm, rmsNorm, rope, swiglu } from './ops';
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
    for (const l of this.layers)
      if (l) {
        l.k1.dispose();
        l.k2?.dispose();
        l.v.dispose();
      }
    this.layers = [];
    this.length = 0;
  }
}

/** Maps of one layer for the requested heads of batch row 0, each [heads.length, tq, tk] row-major. */
export type LayerMaps = PackedLayerMaps;

export interface CaptureRequest {
  /** Layers to capture; undefined = all. */
  layers?: number[];
  /** Heads to capture; undefined = all. */
  heads?: number[];
  /** May return a promise: the next layer waits for it (a server lets its message go out first). */
  onMaps: (maps: LayerMaps) => void | Promise<void>;
}

export interface ForwardOptions {
  cache?: KVCache;
  /** Return logits for the last position only ([B, vocab]) instead of [B, T, vocab]. */
  lastOnly?: boolean;
  training?: TrainingPass;
}

/** What changes in a training pass: adapter dropout (seeded, so a step can be replayed) and embeddings. */
export interface TrainingPass {
  dropoutRate: number;
  /** Seed of this pass; each dropout site draws from seed + its index in the pass. */
  seed: number;
  /** The embedding table is trained: a differentiable lookup, and a tied head follows the table. */
  trainEmbeddings?: boolean;
}

type Dropout = (x: tf.Tensor2D) => tf.Tensor2D;

const MASKED = -1e9; // not -Infinity: a fully masked row must not turn into NaN

export class LlamaModel {
  private readonly invFreq: Float64Array;
  private readonly rotate: tf.Tensor2D;

  constructor(
    readonly config: LlamaConfig,
    readonly weights: BaseWeights,
  ) {
    this.invFreq = inverseFrequencies(config.headDim, config.ropeTheta, config.ropeScaling);
    this.rotate = rotateHalfMatrix(config.headDim);
  }

  /** Frees the weights (a long-lived engine loads one model after another). */
  dispose(): void {
    const w = this.weights;
    tf.dispose([
      w.embed,
      w.norm,
      this.rotate,
      ...(w.lmHeadT ? [w.lmHeadT] : []),
      ...w.layers.flatMap((l) => Object.values(l) as tf.Tensor[]),
    ]);
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

  /** Logits for token ids [B][T]; appends to `opts.cache` when given. Synchronous, so it can run under tf.grad. */
  forward(ids: number[][], adapter: Adapter | undefined, opts: ForwardOptions = {}): tf.Tensor {
    const run = this.begin(ids, adapter, opts.cache, opts.training);
    try {
      return tf.tidy(() => {
        let x = run.x;
        // One scope per layer: a layer's intermediates go as soon as the next layer's input exists
        // (under one scope a 1B model held all 16 layers' at once).
        for (let l = 0; l < this.config.numLayers; l++) {
          const input = x;
          x = tf.tidy(() => this.layer(input, l, run, adapter).x);
        }
        return this.head(x, run, opts.lastOnly);
      });
    } finally {
      this.end(run);
    }
  }

  /**
   * The forward pass layer by layer, handing each captured layer's maps to `capture.onMaps` as soon as
   * they are read back (asynchronously: webgpu cannot read synchronously in Node). Only one layer's
   * maps are alive at a time.
   */
  async forwardCapture(
    ids: number[][],
    adapter: Adapter | undefined,
    capture: CaptureRequest,
    opts: ForwardOptions = {},
  ): Promise<tf.Tensor> {
    return (await this.captureLayers(ids, adapter, capture, opts, this.config.numLayers, true)) as tf.Tensor;
  }

  /**
   * The maps alone: layer l's depend only on layers 0..l, so the pass stops after the last layer
   * captured, without the later layers or the logits (for layer 0 of a 16-layer model, a 16th of the work).
   */
  async captureMaps(ids: number[][], adapter: Adapter | undefined, capture: CaptureRequest): Promise<void> {
    const last = capture.layers ? Math.max(-1, ...capture.layers) : this.config.numLayers - 1;
    await this.captureLayers(ids, adapter, capture, {}, last + 1, false);
  }

  /** Layers 0 .. upTo-1 with capture, then, with `head`, the logits. */
  private async captureLayers(
    ids: number[][],
    adapter: Adapter | undefined,
    capture: CaptureRequest,
    opts: ForwardOptions,
    upTo: number,
    head: boolean,
  ): Promise<tf.Tensor | undefined> {
    const run = this.begin(ids, adapter, opts.cache);
    let x = run.x;
    try {
      for (let l = 0; l < upTo; l++) {
        const wanted = !capture.layers || capture.layers.includes(l);
        const prev = x;
        const out = tf.tidy(() => {
          const r = this.layer(prev, l, run, adapter, wanted ? (capture.heads ?? [...Array(this.config.numHeads).keys()]) : undefined);
          return { x: r.x, ...r.maps };
        });
        if (prev !== run.x) prev.dispose();
        const { x: next, ...maps } = out;
        x = next;
        if (maps.positive) await this.emit(l, maps as MapTensors, capture);
      }
      if (!head) return undefined;
      const last = x;
      return tf.tidy(() => this.head(last, run, opts.lastOnly));
    } finally {
      if (x !== run.x) x.dispose();
      this.end(run);
    }
  }

  private async emit(layer: number, t: MapTensors, capture: CaptureRequest): Promise<void> {
    try {
      const [positive, negative, differential, lambda] = await Promise.all([
        t.positive.data() as Promise<Float32Array>,
        t.negative?.data() as Promise<Float32Array> | undefined,
        t.differential?.data() as Promise<Float32Array> | undefined,
        t.lambda?.data() as Promise<Float32Array> | undefined,
      ]);
      const [, tq, tk] = t.positive.shape;
      await capture.onMaps({
        layer,
        heads: capture.heads ?? [...Array(this.config.numHeads).keys()],
        tq,
        tk,
        lambda: lambda?.[0],
        positive,
        negative,
        differential,
      });
    } finally {
      for (const m of [t.positive, t.negative, t.differential, t.lambda]) m?.dispose();
    }
  }

  private begin(ids: number[][], adapter: Adapter | undefined, cache: KVCache | undefined, training?: TrainingPass): RunContext {
    this.checkIds(ids);
    if (adapter && adapter.layers.length !== this.config.numLayers) {
      throw new InputError(adapter.dir, `adapter has ${adapter.layers.length} layers, the model ${this.config.numLayers}`);
    }
    const B = ids.length,
      T = ids[0].length;
    const offset = cache?.length ?? 0;
    const { cos, sin } = ropeTables(this.invFreq, offset, T);
    const mask = causalMask(T, offset);
    const x = tf.tidy(() => embeddingLookup(this.weights.embed, ids.flat()));
    return { B, T, cos, sin, mask, cache, x, drop: dropoutFor(training) };
  }

  private end(run: RunContext): void {
    for (const t of [run.cos, run.sin, run.mask, run.x]) t.dispose();
    if (run.cache) run.cache.length += run.T;
  }

  private head(x: tf.Tensor2D, run: RunContext, lastOnly?: boolean): tf.Tensor {
    const { B, T } = run;
    if (lastOnly) x = tf.reshape(tf.slice(tf.reshape(x, [B, T, -1]), [0, T - 1, 0], [B, 1, -1]), [B, -1]);
    const h = rmsNorm(x, this.weights.norm, this.config.rmsNormEps);
    const logits = this.weights.lmHeadT ? mm(h, this.weights.lmHeadT) : tf.matMul(h, this.weights.embed, false, true);
    return lastOnly ? logits : tf.reshape(logits, [B, T, -1]);
  }

  private layer(
    x: tf.Tensor2D,
    l: number,
    run: RunContext,
    adapter: Adapter | undefined,
    captureHeads?: number[],
  ): { x: tf.Tensor2D; maps?: MapTensors } {
    const w = this.weights.layers[l];
    const a = adapter?.layers[l];
    const eps = this.config.rmsNormEps;
    const h = rmsNorm(x, w.inputNorm, eps);
    const attn = this.attention(h, w, a, l, run, captureHeads);
    x = tf.add(x, attn.out);
    const h2 = rmsNorm(x, w.postNorm, eps);
    const drop = run.drop;
    const gate = linear(h2, w.gate, a?.lora.gate_proj, drop);
    const up = linear(h2, w.up, a?.lora.up_proj, drop);
    return { x: tf.add(x, linear(swiglu(gate, up), w.down, a?.lora.down_proj, drop)), maps: attn.maps };
  }

  private attention(h: tf.Tensor2D, w: LayerWeights, a: LayerAdapter | undefined, l: number, run: RunContext, captureHeads?: number[]) {
    const c = this.config;
    const H = c.numHeads,
      G = c.numKvHeads,
      d = c.headDim;
    const diff = a?.diff;
    const drop = run.drop;
    const baseQ = mm(h, w.q);
    const baseK = mm(h, w.k);
    const q1 = addDelta(baseQ, h, a?.lora.q_proj ?? diff?.q1, drop);
    const k1 = addDelta(baseK, h, a?.lora.k_proj ?? diff?.k1, drop);
    const v = linear(h, w.v, a?.lora.v_proj, drop);

    let K1 = this.heads(k1, G, run);
    let V = tf.transpose(tf.reshape(v, [run.B, run.T, G, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    let K2: tf.Tensor4D | undefined;
    if (diff) K2 = this.heads(negativeProjection(h, baseK, diff.k2, diff.k2Full, diff.negativeUsesBase, drop), G, run);
    if (run.cache) ({ K1, K2, V } = appendToCache(run.cache, l, K1, K2, V));

    const A1 = this.probabilities(this.heads(q1, H, run), K1, run);
    let A = A1;
    let A2: tf.Tensor[] | undefined;
    let lambda: tf.Scalar | undefined;
    if (diff && K2) {
      const Q2 = this.heads(negativeProjection(h, baseQ, diff.q2, diff.q2Full, diff.negativeUsesBase, drop), H, run);
      const lam = lambdaOf(diff);
      const a2 = this.probabilities(Q2, K2, run);
      A = A1.map((p, i) => differentialAttention(p, a2[i], lam, diff.relu));
      A2 = a2;
      lambda = lam;
    }

    let O = this.weighted(A, V, run); // [B, H, T, d]
    if (diff?.subln) O = tf.mul(rmsNorm(O, diff.subln, 1e-5), 1 - diff.lambdaInit);
    const O2 = tf.reshape(tf.transpose(O, [0, 2, 1, 3]), [run.B * run.T, H * d]) as tf.Tensor2D;
    const out = addDelta(mm(O2, w.o), a?.oAdapterReadsLayerInput ? h : O2, a?.lora.o_proj, drop);
    if (!captureHeads) return { out };
    const pick = (parts: tf.Tensor[]) => this.pickHeads(parts, captureHeads, run);
    return {
      out,
      maps: {
        positive: pick(A1),
        negative: A2 && lambda && tf.mul(pick(A2), lambda),
        differential: diff ? pick(A) : undefined,
        lambda,
      } as MapTensors,
    };
  }

  /** Batch row 0, the given heads: [heads, tq, tk]. Parts are b-major, so row 0 is the first G parts. */
  private pickHeads(parts: tf.Tensor[], heads: number[], run: RunContext): tf.Tensor3D {
    const H = this.config.numHeads,
      G = this.config.numKvHeads;
    const row0 = parts.length === 1 ? tf.slice(parts[0], 0, run.B === 1 ? parts[0].shape[0] : G) : tf.concat(parts.slice(0, G));
    const tk = row0.shape[row0.rank - 1];
    const maps = tf.reshape(row0, [H, -1, tk]) as tf.Tensor3D;
    return heads.length === H && heads.every((h, i) => h === i) ? maps : tf.gather(maps, tf.tensor1d(heads, 'int32'));
  }

  /**
   * softmax(Q K^T / sqrt(d) + mask) for Q [B, H, T, d] and K [B, G, Tk, d], as parts: GQA without
   * repeating K, the rep = H/G query heads of a group stacked along rows, ([rep*T, d] x [d, Tk] per
   * batch row and group). The score tensors are the large ones, so they are never sliced or stacked:
   * only the small Q, K, V, O tensors are split into parts (see splitParts).
   */
  private probabilities(Q: tf.Tensor4D, K: tf.Tensor4D, run: RunContext): tf.Tensor[] {
    const [B, H, T, d] = Q.shape;
    const [, G, Tk] = K.shape;
    const q = splitParts(tf.reshape(Q, [B * G, (H / G) * T, d]) as tf.Tensor3D);
    const kT = splitParts(tf.reshape(tf.transpose(K, [0, 1, 3, 2]), [B * G, d, Tk]) as tf.Tensor3D);
    return q.map((qi, i) => attentionProbabilities(qi, kT[i], 1 / Math.sqrt(d), run.mask));
  }

  /** A V for A as parts and V [B, G, Tk, d] -> [B, H, T, d]. */
  private weighted(A: tf.Tensor[], V: tf.Tensor4D, run: RunContext): tf.Tensor4D {
    const [B, G, Tk, d] = V.shape;
    const v = splitParts(tf.reshape(V, [B * G, Tk, d]) as tf.Tensor3D);
    const out = A.map((ai, i) => tf.matMul(ai, v[i]));
    const joined = out.length === 1 ? out[0] : tf.stack(out);
    return tf.reshape(joined, [B, this.config.numHeads, run.T, d]);
  }

  /** [N, n*d] -> RoPE -> [B, n, T, d]. */
  private heads(x: tf.Tensor2D, n: number, run: RunContext): tf.Tensor4D {
    const d = this.config.headDim;
    const x4 = tf.reshape(x, [run.B, run.T, n, d]) as tf.Tensor4D;
    return tf.transpose(rope(x4, run.cos, run.sin, this.rotate), [0, 2, 1, 3]) as tf.Tensor4D;
  }
}

/**
 * On wasm, a batch of matrices becomes separate 2-D tensors: XNNPACK's fast matMul takes only 2-D
 * operands (batched runs a naive loop, about 10x slower). Elsewhere one batched tensor is one part.
 */
function splitParts(x: tf.Tensor3D): tf.Tensor[] {
  if (tf.getBackend() !== 'wasm') return [x];
  return x.shape[0] === 1 ? [tf.reshape(x, x.shape.slice(1))] : tf.unstack(x);
}

interface MapTensors {
  positive: tf.Tensor3D;
  negative?: tf.Tensor3D;
  differential?: tf.Tensor3D;
  lambda?: tf.Scalar;
}

interface RunContext {
  B: number;
  T: number;
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
  mask: tf.Tensor2D;
  cache?: KVCache;
  /** The embedded input. */
  x: tf.Tensor2D;
  drop: Dropout;
}

function dropoutFor(training: TrainingPass | undefined): Dropout {
  if (!training || training.dropoutRate <= 0) return (x) => x;
  let site = 0;
  return (x) => dropout(x, training.dropoutRate, training.seed + site++);
}

/** s * dropout(x) A^T B^T (dropout only in training passes). */
function loraDelta(x: tf.Tensor2D, p: LoraPair, drop: Dropout): tf.Tensor2D {
  return tf.mul(mm(mm(drop(x), p.aT), p.bT), p.scale);
}

/** base + s * dropout(x) A^T B^T. */
function addDelta(base: tf.Tensor2D, x: tf.Tensor2D, p: LoraPair | undefined, drop: Dropout): tf.Tensor2D {
  return p ? addLowRank(base, mm(drop(x), p.aT), p.bT, p.scale) : base;
}

function linear(x: tf.Tensor2D, wT: tf.Tensor2D, p: LoraPair | undefined, drop: Dropout): tf.Tensor2D {
  return addDelta(mm(x, wT), x, p, drop);
}

function negativeProjection(
  h: tf.Tensor2D,
  base: tf.Tensor2D,
  p: LoraPair | undefined,
  full: tf.Tensor2D | undefined,
  usesBase: boolean,
  drop: Dropout,
): tf.Tensor2D {
  if (full) return mm(h, full);
  if (!p) throw new Error('negative term needs a LoRA pair or a full-dim matrix');
  return usesBase ? addDelta(base, h, p, drop) : loraDelta(h, p, drop);
}

export function lambdaOf(diff: DiffAttention): tf.Scalar {
  const l = diff.lambda;
  if (l.kind === 'fixed') return tf.scalar(l.value);
  return tf.add(tf.sub(tf.exp(tf.sum(tf.mul(l.q1, l.k1))), tf.exp(tf.sum(tf.mul(l.q2, l.k2)))), diff.lambdaInit);
}

/** Additive mask [T, offset + T]: query i sees keys 0 .. offset + i (the same for every head and GQA group). */
function causalMask(T: number, offset: number): tf.Tensor2D {
  const tk = offset + T;
  const m = new Float32Array(T * tk);
  for (let i = 0; i < T; i++) m.fill(MASKED, i * tk + offset + i + 1, (i + 1) * tk);
  return tf.tensor2d(m, [T, tk]);
}

function appendToCache(cache: KVCache, layer: number, K1: tf.Tensor4D, K2: tf.Tensor4D | undefined, V: tf.Tensor4D) {
  const old = cache.layers[layer];
  const cat = (prev: tf.Tensor4D | undefined, cur: tf.Tensor4D) => tf.keep(prev ? tf.concat([prev, cur], 2) : cur);
  const next: LayerCache = { k1: cat(old?.k1, K1), k2: K2 && cat(old?.k2, K2), v: cat(old?.v, V) };
  if (old) {
    old.k1.dispose();
    old.k2?.dispose();
    old.v.dispose();
  }
  cache.layers[layer] = next;
  return { K1: next.k1, K2: next.k2, V: next.v };
}
