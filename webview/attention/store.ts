/**
 * The panel's data: the maps of every model (kept by reference, never copied), a pooled thumbnail per
 * head and map kind (for the overview), per-head value ranges and metrics, and model differences.
 * Heavy work beyond the one pass made when a layer arrives runs in small slices (Jobs) so the page
 * stays responsive while layers stream in.
 */
import { MAP_KINDS, checkLayerMaps, type HeadMaps, type LayerMaps, type MapKind, type ModelAttention } from '../../protocol/attention';

/** Thumbnail resolution of one head in the overview (per axis, at most). */
export const POOL = 32;

/**
 * A slice scheduler for background work: runs queued functions for up to `budgetMs` at a time, then
 * yields. Slices are posted at background priority where the browser has one (scheduler.postTask), so
 * incoming layers and rendering go first.
 */
export class Jobs {
  private queue: (() => void)[] = [];
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  constructor(
    private readonly budgetMs = 12,
    private readonly onSlice?: () => void,
  ) {}
  push(fn: () => void): void {
    this.queue.push(fn);
    this.schedule();
  }
  get pending(): number {
    return this.queue.length;
  }
  idle(): Promise<void> {
    if (!this.queue.length && !this.scheduled) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
  clear(): void {
    this.queue = [];
  }
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const sched = (globalThis as { scheduler?: { postTask?: (f: () => void, o: { priority: string }) => Promise<unknown> } }).scheduler;
    if (sched?.postTask) void sched.postTask(() => this.run(), { priority: 'background' });
    else setTimeout(() => this.run(), 0);
  }
  private run(): void {
    this.scheduled = false;
    const t0 = performance.now();
    while (this.queue.length && performance.now() - t0 < this.budgetMs) {
      const fn = this.queue.shift()!;
      try {
        fn();
      } catch (e) {
        console.error(e);
      }
    }
    this.onSlice?.();
    if (this.queue.length) this.schedule();
    else {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }
}

export interface Bins {
  pq: number;
  pk: number;
  rowBin: Int32Array;
  colStart: Int32Array;
}

export function makeBins(tq: number, tk: number): Bins {
  const pq = Math.min(POOL, tq),
    pk = Math.min(POOL, tk);
  const rowBin = new Int32Array(tq);
  for (let q = 0; q < tq; q++) rowBin[q] = Math.floor((q * pq) / tq);
  const colStart = new Int32Array(pk + 1);
  for (let b = 0; b <= pk; b++) colStart[b] = Math.ceil((b * tk) / pk);
  return { pq, pk, rowBin, colStart };
}

export interface PoolResult {
  min: number;
  max: number;
  bos: number;
}

/**
 * One pass over a tq x tk map: the signed value of largest magnitude in each thumbnail bin (so a thin
 * diagonal or a single strong key stays visible), the map's min and max, and the mean attention on
 * key 0 (the BOS token) over query rows. With rowStep > 1 only every rowStep-th row is read (a quick
 * first look at a large map: bins, min, max and the BOS mean are then those of the rows seen; even one
 * value per row would cost a cache miss per row).
 */
export function poolMap(src: Float32Array, tq: number, tk: number, bins: Bins, out: Float32Array, rowStep = 1): PoolResult {
  const { pk, rowBin, colStart } = bins;
  out.fill(0);
  let gmin = Infinity,
    gmax = -Infinity,
    bos = 0,
    rows = 0;
  const stride = tk * rowStep;
  for (let q = 0, base = 0; q < tq; q += rowStep, base += stride) {
    bos += src[base];
    rows++;
    const pr = rowBin[q] * pk;
    for (let b = 0; b < pk; b++) {
      let lo = Infinity,
        hi = -Infinity;
      const end = base + colStart[b + 1];
      for (let i = base + colStart[b]; i < end; i++) {
        const v = src[i];
        if (v > hi) hi = v;
        if (v < lo) lo = v;
      }
      if (hi > gmax) gmax = hi;
      if (lo < gmin) gmin = lo;
      const cand = hi >= -lo ? hi : lo;
      const o = out[pr + b];
      if ((cand < 0 ? -cand : cand) > (o < 0 ? -o : o)) out[pr + b] = cand;
    }
  }
  return { min: gmin, max: gmax, bos: bos / rows };
}

/**
 * The q-quantile of |v| over the non-zero entries of `a` (every `stride`-th entry), skipping column 0
 * of rows `rowLength` long (the BOS key: an attention sink would otherwise set the range of every
 * head), 0 when nothing is left. Rounds the rank up, so small inputs give their maximum.
 */
export function absQuantile(a: Float32Array, q: number, stride = 1, rowLength = 0): number {
  const tmp = new Float32Array(Math.ceil(a.length / stride));
  let m = 0;
  for (let i = 0; i < a.length; i += stride) {
    if (rowLength && i % rowLength === 0) continue;
    const v = a[i];
    if (v !== 0 && v === v) tmp[m++] = v < 0 ? -v : v;
  }
  if (!m) return 0;
  const sorted = tmp.subarray(0, m).sort();
  return sorted[Math.min(m - 1, Math.ceil(q * (m - 1)))];
}

/** A sampling stride giving at most ~`target` samples of an n-cell map, coprime with the row length. */
export function sampleStride(n: number, rowLength: number, target = 65536): number {
  let s = Math.max(1, Math.ceil(n / target));
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  while (s > 1 && gcd(s, rowLength) !== 1) s++;
  return s;
}

/** Robust colour range of a map for display: the 99.5th percentile of |v| over non-zero, non-BOS cells. */
export function robustRange(a: Float32Array, rowLength: number): number {
  return absQuantile(a, 0.995, sampleStride(a.length, rowLength), rowLength);
}

/** The overview's per-head normaliser: the 95th percentile of |pooled| over non-zero bins, BOS bins aside. */
export function pooledRange(pooled: Float32Array, pk: number): number {
  return absQuantile(pooled, 0.95, 1, pk);
}

/** Maps at least this large get a quick strided first pass at ingest and an exact pass in the background. */
export const COARSE_MIN_CELLS = 128 * 128;

export function coarseRowStep(bins: Bins, tq: number, tk: number): number {
  // Two rows per thumbnail row: a 512-token map reads 1/8 of its rows in the first pass.
  return tq * tk >= COARSE_MIN_CELLS ? Math.max(1, Math.floor(tq / bins.pq / 2)) : 1;
}

/**
 * Mean row entropy in bits. Rows are normalised by the sum of |values| (exact Shannon entropy for a
 * softmax row; a spread measure for the negative and differential maps, which do not sum to 1).
 */
export function meanRowEntropy(src: Float32Array, tq: number, tk: number): number {
  let total = 0;
  const LOG2E = Math.LOG2E;
  for (let q = 0, base = 0; q < tq; q++, base += tk) {
    let s = 0,
      e = 0;
    for (let i = base, end = base + tk; i < end; i++) {
      let v = src[i];
      if (v < 0) v = -v;
      if (v > 0) {
        s += v;
        e += v * Math.log(v);
      }
    }
    if (s > 0) total += Math.log(s) - e / s;
  }
  return (total / tq) * LOG2E;
}

export interface KindStats {
  pooled: (Float32Array | undefined)[];
  /** 1 once the pooled thumbnail, min and max come from every row. */
  exact: Uint8Array;
  /** pooledRange(): the per-head normaliser of the overview. */
  robust: Float32Array;
  min: Float32Array;
  max: Float32Array;
  bos: Float32Array;
  entropy: Float32Array;
}

function kindStats(n: number): KindStats {
  return {
    pooled: new Array(n),
    exact: new Uint8Array(n),
    robust: new Float32Array(n).fill(NaN),
    min: new Float32Array(n).fill(NaN),
    max: new Float32Array(n).fill(NaN),
    bos: new Float32Array(n).fill(NaN),
    entropy: new Float32Array(n).fill(NaN),
  };
}

export class ModelStore {
  readonly bins: Bins;
  readonly heads: (HeadMaps | undefined)[];
  readonly lambda: Float64Array;
  readonly layerLoaded: Uint8Array;
  readonly stats: Record<MapKind, KindStats>;
  readonly kinds = new Set<MapKind>();
  loadedHeads = 0;
  ingestMs = 0;
  constructor(readonly meta: ModelAttention) {
    const n = meta.numLayers * meta.numHeads;
    if (meta.tokens.length !== meta.tk && meta.tokens.length !== meta.tq)
      throw new Error(`${meta.label}: ${meta.tokens.length} tokens for a ${meta.tq} x ${meta.tk} map`);
    this.bins = makeBins(meta.tq, meta.tk);
    this.heads = new Array(n);
    this.lambda = new Float64Array(meta.numLayers).fill(NaN);
    this.layerLoaded = new Uint8Array(meta.numLayers);
    this.stats = { positive: kindStats(n), negative: kindStats(n), differential: kindStats(n) };
  }
  get numLayers(): number {
    return this.meta.numLayers;
  }
  get numHeads(): number {
    return this.meta.numHeads;
  }
  index(layer: number, head: number): number {
    return layer * this.meta.numHeads + head;
  }
  map(layer: number, head: number, kind: MapKind): Float32Array | undefined {
    return this.heads[this.index(layer, head)]?.[kind];
  }
  /** Whether the model has (or, for DiffLoRA before any layer arrives, will have) maps of this kind. */
  has(kind: MapKind): boolean {
    return kind === 'positive' || this.kinds.has(kind) || (this.meta.kind === 'difflora' && this.loadedHeads === 0);
  }
  get layersLoaded(): number {
    let c = 0;
    for (const v of this.layerLoaded) c += v;
    return c;
  }

  /**
   * Ingests a layer: one pooling pass per head and kind (strided for large maps: see refine()).
   * Returns the indexes of the heads it filled.
   */
  addLayer(l: LayerMaps): number[] {
    const err = checkLayerMaps(this.meta, l);
    if (err) throw new Error(`${this.meta.label}: ${err}`);
    const t0 = performance.now();
    const { tq, tk } = this.meta;
    const step = coarseRowStep(this.bins, tq, tk);
    const filled: number[] = [];
    if (l.lambda !== undefined) this.lambda[l.layer] = l.lambda;
    for (const h of l.heads) {
      const i = this.index(l.layer, h.head);
      if (!this.heads[i]) this.loadedHeads++;
      this.heads[i] = h;
      for (const k of MAP_KINDS) {
        const a = h[k];
        if (!a) continue;
        this.kinds.add(k);
        const s = this.stats[k];
        const out = s.pooled[i] ?? new Float32Array(this.bins.pq * this.bins.pk);
        const r = poolMap(a, tq, tk, this.bins, out, step);
        s.pooled[i] = out;
        s.robust[i] = pooledRange(out, this.bins.pk);
        s.exact[i] = step === 1 ? 1 : 0;
        s.min[i] = r.min;
        s.max[i] = r.max;
        s.bos[i] = r.bos;
        s.entropy[i] = NaN;
      }
      filled.push(i);
    }
    this.layerLoaded[l.layer] = 1;
    if (!this.meta.layers.includes(l)) {
      const at = this.meta.layers.findIndex((x) => x.layer === l.layer);
      if (at >= 0) this.meta.layers[at] = l;
      else this.meta.layers.push(l);
    }
    this.ingestMs += performance.now() - t0;
    return filled;
  }

  /** Background work for one head: exact thumbnails where the first pass was strided, and entropy. */
  refine(i: number): void {
    const h = this.heads[i];
    if (!h) return;
    const { tq, tk } = this.meta;
    for (const k of MAP_KINDS) {
      const a = h[k];
      if (!a) continue;
      const s = this.stats[k];
      if (!s.exact[i]) {
        const r = poolMap(a, tq, tk, this.bins, s.pooled[i]!, 1);
        s.robust[i] = pooledRange(s.pooled[i]!, this.bins.pk);
        s.min[i] = r.min;
        s.max[i] = r.max;
        s.bos[i] = r.bos;
        s.exact[i] = 1;
      }
      if (k !== 'negative' && !(s.entropy[i] === s.entropy[i])) s.entropy[i] = meanRowEntropy(a, tq, tk);
    }
  }

  /** Whether refine(i) has work left. */
  needsRefine(i: number): boolean {
    const h = this.heads[i];
    if (!h) return false;
    for (const k of MAP_KINDS) {
      if (!h[k]) continue;
      const s = this.stats[k];
      if (!s.exact[i] || (k !== 'negative' && !(s.entropy[i] === s.entropy[i]))) return true;
    }
    return false;
  }

  /** Range over every loaded head of a kind: [min, max]. */
  range(kind: MapKind): [number, number] {
    const s = this.stats[kind];
    let lo = Infinity,
      hi = -Infinity;
    for (let i = 0; i < s.min.length; i++) {
      if (s.min[i] < lo) lo = s.min[i];
      if (s.max[i] > hi) hi = s.max[i];
    }
    return lo <= hi ? [lo, hi] : [0, 1];
  }
}

export interface Operand {
  model: number;
  kind: MapKind;
}
export function operandKey(a: Operand, b: Operand): string {
  return `${a.model}:${a.kind}-${b.model}:${b.kind}`;
}

/** A - B, head by head, for two models over the same tokens. Pooled lazily through Jobs. */
export class DifferenceStore {
  readonly stats: KindStats;
  readonly bins: Bins;
  readonly tq: number;
  readonly tk: number;
  private readonly queued: Uint8Array;
  private scratch: Float32Array;
  private cacheIndex = -1;
  constructor(
    readonly a: ModelStore,
    readonly ak: MapKind,
    readonly b: ModelStore,
    readonly bk: MapKind,
  ) {
    if (a.meta.tq !== b.meta.tq || a.meta.tk !== b.meta.tk || a.numLayers !== b.numLayers || a.numHeads !== b.numHeads) {
      throw new Error(
        `cannot subtract ${b.meta.label} (${b.meta.tq}x${b.meta.tk}, ${b.numLayers}x${b.numHeads}) from ${a.meta.label} (${a.meta.tq}x${a.meta.tk}, ${a.numLayers}x${a.numHeads})`,
      );
    }
    const n = a.numLayers * a.numHeads;
    this.tq = a.meta.tq;
    this.tk = a.meta.tk;
    this.bins = a.bins;
    this.stats = kindStats(n);
    this.queued = new Uint8Array(n);
    this.scratch = new Float32Array(this.tq * this.tk);
  }
  /** Full-resolution difference of one head (a reused buffer: copy it to keep it), or undefined. */
  map(index: number): Float32Array | undefined {
    const x = this.a.heads[index]?.[this.ak],
      y = this.b.heads[index]?.[this.bk];
    if (!x || !y) return undefined;
    if (this.cacheIndex !== index) {
      const d = this.scratch;
      for (let i = 0; i < d.length; i++) d[i] = x[i] - y[i];
      this.cacheIndex = index;
    }
    return this.scratch;
  }
  invalidate(index: number): void {
    this.queued[index] = 0;
    if (this.cacheIndex === index) this.cacheIndex = -1;
  }
  /** Queues the heads that both models now have; `done(i)` is called as each one is pooled. */
  schedule(jobs: Jobs, done: (index: number) => void): void {
    for (let i = 0; i < this.queued.length; i++) {
      if (this.queued[i] || !this.a.heads[i]?.[this.ak] || !this.b.heads[i]?.[this.bk]) continue;
      this.queued[i] = 1;
      jobs.push(() => {
        const d = this.map(i);
        if (!d) return;
        const out = this.stats.pooled[i] ?? new Float32Array(this.bins.pq * this.bins.pk);
        const r = poolMap(d, this.tq, this.tk, this.bins, out);
        this.stats.pooled[i] = out;
        this.stats.robust[i] = pooledRange(out, this.bins.pk);
        this.stats.exact[i] = 1;
        this.stats.min[i] = r.min;
        this.stats.max[i] = r.max;
        this.stats.bos[i] = r.bos;
        done(i);
      });
    }
  }
  range(): [number, number] {
    const s = this.stats;
    let lo = Infinity,
      hi = -Infinity;
    for (let i = 0; i < s.min.length; i++) {
      if (s.min[i] < lo) lo = s.min[i];
      if (s.max[i] > hi) hi = s.max[i];
    }
    return lo <= hi ? [lo, hi] : [-1, 1];
  }
}
