/**
 * Finds and loads the native backend's N-API addon (engine/native). Where it is looked for:
 * - DIFFLORA_NATIVE_PATH, if set: that file only;
 * - next to the running bundle: dist/engine/difflora_native.<platform>-<arch>.node (the .vsix, copied by webpack);
 * - engine/native/build/Release/difflora_native.node above the running file (tsc output, a checkout).
 */
import * as fs from 'fs';
import * as path from 'path';
import { errMessage, hereDir } from './runtime';

/** What engine/native/src/addon.cc exports. Inputs are Float32Arrays; outputs are preallocated. */
export interface NativeAddon {
  matMul(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    batchA: number,
    batchB: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
  ): void;
  unary(op: string, x: Float32Array, out: Float32Array, alpha: number): void;
  binary(op: string, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], out: Float32Array, outShape: number[]): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  reduce(op: string, x: Float32Array, out: Float32Array, outer: number, r: number, inner: number): void;
  transpose(x: Float32Array, shape: number[], perm: number[], out: Float32Array): void;
  slice(x: Float32Array, shape: number[], begin: number[], size: number[], out: Float32Array): void;
  gather(x: Float32Array, indices: Int32Array, out: Float32Array, outer: number, dim: number, slice: number): void;
  concat(parts: Float32Array[], widths: number[], out: Float32Array, rows: number): void;
  /**
   * softmax(scale * q kT + mask) per batch: q [m, k], kT [k, n], mask [maskRows, n] repeating down the
   * batch * m output rows (row t takes mask row t % maskRows; maskRows divides batch * m).
   */
  attentionProbabilities(
    q: Float32Array,
    kT: Float32Array,
    mask: Float32Array,
    out: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    maskRows: number,
    scale: number,
  ): void;
  /** scale * p (dy - rowsum(dy p)) over rows of [rows, cols]. */
  attentionProbabilitiesGrad(p: Float32Array, dy: Float32Array, out: Float32Array, rows: number, cols: number, scale: number): void;
  /** x / sqrt(mean(x^2) + eps) * w over rows of [rows, cols]. */
  rmsNorm(x: Float32Array, w: Float32Array, out: Float32Array, rows: number, cols: number, eps: number): void;
  rmsNormGradX(x: Float32Array, w: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number, eps: number): void;
  rmsNormGradW(x: Float32Array, dy: Float32Array, dw: Float32Array, rows: number, cols: number, eps: number): void;
  /** base + scale * xa bT: base [n, cols], xa [n, r], bT [r, cols]. */
  addLowRank(
    base: Float32Array,
    xa: Float32Array,
    bT: Float32Array,
    out: Float32Array,
    n: number,
    r: number,
    cols: number,
    scale: number,
  ): void;
  /** relu?(a1 - a2 * lambda) over n elements. */
  differentialAttention(a1: Float32Array, a2: Float32Array, out: Float32Array, n: number, lambda: number, relu: boolean): void;
  /** Its gradients for dy given the output y: dA1, dA2 written, d(lambda) returned. */
  differentialAttentionGrad(
    a2: Float32Array,
    y: Float32Array,
    dy: Float32Array,
    da1: Float32Array,
    da2: Float32Array,
    n: number,
    lambda: number,
    relu: boolean,
  ): number;
  /** gate * sigmoid(gate) * up over n elements, and its gradients. */
  swiglu(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  /** out = x * (u >= rate ? 1 / (1 - rate) : 0), u uniform from (seed, element index) alone; seed an integer >= 0. */
  dropout(x: Float32Array, out: Float32Array, n: number, rate: number, seed: number): void;
  swigluGrad(gate: Float32Array, up: Float32Array, dy: Float32Array, dgate: Float32Array, dup: Float32Array, n: number): void;
  /** x cos + rotate_half(x) sin for x [outer, t, inner, d], tables [t, d]; transposed: the gradient w.r.t. x. */
  rope(
    x: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    out: Float32Array,
    outer: number,
    t: number,
    inner: number,
    d: number,
    transposed: boolean,
  ): void;
  /** -sum_r w[r] log softmax(logits[r])[labels[r]] over rows of [rows, cols]. */
  crossEntropy(logits: Float32Array, labels: Int32Array, weights: Float32Array, rows: number, cols: number): number;
  crossEntropyGrad(
    logits: Float32Array,
    labels: Int32Array,
    weights: Float32Array,
    dy: number,
    dx: Float32Array,
    rows: number,
    cols: number,
  ): void;
  /** AdamW's update of one parameter into new buffers; constants [b1, 1 - b1, b2, 1 - b2, bc1, bc2, eps, lr, decay]. */
  adamw(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    wOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    constants: Float32Array,
  ): void;
  /**
   * Reads a tensor's `dtype` bytes at `offset` of the open file `fd` as float32 into out ([rows, cols], or
   * [cols, rows] when `transpose`); returns the bytes read (fewer: the file ended). Throws on a read error.
   */
  readTensor(fd: number, offset: number, dtype: string, out: Float32Array, rows: number, cols: number, transpose: boolean): number;
  /** A fixed BLAS thread count for every GEMM. */
  setThreads(n: number): void;
  /** BLAS threads chosen per GEMM: maxThreads when its m*n*k >= minWork, else 1. */
  autoThreads(maxThreads: number, minWork: number): void;
  /** glibc: serve large blocks from the heap and keep freed ones, so fresh outputs do not page-fault. */
  keepFreedMemory(): void;
  /** Linux: transparent huge pages for a fresh (not yet written) array's whole 2 MB pages; else nothing. */
  adviseHugePages(data: Float32Array): void;
  /** The BLAS threads the last GEMM ran with (-1 before the first one). */
  threads(): number;
  blasInfo(): string;
  unaryOps: string[];
  binaryOps: string[];
  reduceOps: string[];
}

export const NATIVE_PATH_ENV = 'DIFFLORA_NATIVE_PATH';

/** The file name of the prebuilt binary shipped next to the bundle (see webpack.config.js). */
export function shippedBinaryName(platform = process.platform, arch = process.arch): string {
  return `difflora_native.${platform}-${arch}.node`;
}

function candidates(): string[] {
  const given = process.env[NATIVE_PATH_ENV];
  if (given) return [path.resolve(given)];
  const here = hereDir();
  const out = [path.join(here, shippedBinaryName())];
  for (let up = here, i = 0; i < 5; i++, up = path.dirname(up))
    out.push(path.join(up, 'engine', 'native', 'build', 'Release', 'difflora_native.node'));
  return [...new Set(out)];
}

let loaded: { addon: NativeAddon; file: string } | { error: string } | null = null;

/** The addon and its file, or throws an Error whose message is one line saying why not. Cached. */
export function loadNativeAddon(): { addon: NativeAddon; file: string } {
  loaded ??= tryLoad();
  if ('error' in loaded) throw new Error(loaded.error);
  return loaded;
}

function tryLoad(): { addon: NativeAddon; file: string } | { error: string } {
  const tried = candidates();
  const file = tried.find((f) => fs.existsSync(f));
  if (!file) {
    return {
      error: `no addon binary for ${process.platform}-${process.arch} (looked for ${tried.join(', ')}); build it with npm run build:native`,
    };
  }
  const mod = { exports: {} as Partial<NativeAddon> };
  // OpenBLAS (linked in, started at load) reads this once: an idle worker thread spins with sched_yield
  // for 2^28 cycles (~0.1 s) by default after each threaded GEMM, taking the second core from the JS
  // and GC threads; 2^16 (~25 us) still catches back-to-back GEMMs. Training step of the default
  // model, DiffLoRA-32: 307 -> 258-290 ms, CPU/wall 1.52 -> 1.26. A value set by the user wins.
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '16';
  try {
    // dlopen rather than require: no module cache, and webpack never sees it.
    process.dlopen(mod, file);
  } catch (e) {
    return { error: `cannot load ${file}: ${errMessage(e)}` };
  }
  const missing = (
    [
      'matMul',
      'binary',
      'unary',
      'softmax',
      'reduce',
      'transpose',
      'slice',
      'gather',
      'concat',
      'attentionProbabilities',
      'attentionProbabilitiesGrad',
      'rmsNorm',
      'rmsNormGradX',
      'rmsNormGradW',
      'addLowRank',
      'differentialAttention',
      'differentialAttentionGrad',
      'swiglu',
      'swigluGrad',
      'dropout',
      'rope',
      'crossEntropy',
      'crossEntropyGrad',
      'adamw',
      'readTensor',
      'setThreads',
      'autoThreads',
      'keepFreedMemory',
      'adviseHugePages',
    ] as const
  ).filter((k) => typeof mod.exports[k] !== 'function');
  if (missing.length)
    return { error: `${file} is not this engine's addon (no ${missing.join(', ')}): rebuild it with npm run build:native` };
  // A plain copy: the addon's own properties are read-only, and tests wrap its functions to count calls.
  return { addon: { ...mod.exports } as NativeAddon, file };
}
