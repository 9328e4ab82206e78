/**
 * Output buffers of the native backend's kernels, reused once their tensor is disposed.
 *
 * A fresh Float32Array per kernel output costs twice: V8 zero-fills it, and counts it as external
 * memory, so that every ~64 MB of outputs starts a major GC. A training step of the default model
 * allocates several hundred MB of them: concurrent marking took a fifth of the step's CPU time (perf).
 *
 * A buffer is reused only when nothing outside the backend can still hold it: it was made by take(),
 * then written as exactly one tensor's values, never handed out (readSync, read, bufferSync), and no
 * view of it became another tensor's values (tfjs's cpu slice returns subarrays). Anything else
 * "escapes" and is left to the garbage collector as before.
 */
export interface BufferPoolOptions {
  /** The most the pool keeps for reuse (memory that is otherwise garbage until the next GC). */
  maxFreeBytes?: number;
  /**
   * Larger buffers are never pooled (a 1B model's logits: one per job; its attention probabilities at
   * T=512, 34 MB, are).
   */
  maxBufferBytes?: number;
  /** Free buffers are dropped after this long without use. */
  idleMs?: number;
  /** Makes a fresh buffer (the native backend asks for huge pages on large ones). */
  allocate?: (length: number) => Float32Array;
}

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  /** Made by take(), not escaped; by buffer, to recognise views. */
  private readonly owned = new WeakMap<ArrayBufferLike, Float32Array>();
  /** Taken but not yet written as a tensor's values. */
  private readonly fresh = new WeakSet<Float32Array>();
  private readonly pooled = new WeakSet<Float32Array>();
  private freeBytes = 0;
  private lastUse = 0;
  private idleCheck?: ReturnType<typeof setInterval>;
  stats = { taken: 0, reused: 0 };

  readonly maxFreeBytes: number;
  readonly maxBufferBytes: number;
  readonly idleMs: number;
  private readonly allocate: (length: number) => Float32Array;

  constructor(o: BufferPoolOptions = {}) {
    this.maxFreeBytes = o.maxFreeBytes ?? 256 * 2 ** 20;
    this.maxBufferBytes = o.maxBufferBytes ?? 64 * 2 ** 20;
    this.idleMs = o.idleMs ?? 5000;
    this.allocate = o.allocate ?? ((length) => new Float32Array(length));
  }

  /** A buffer of `length` floats with undefined contents: the kernel must write every element. */
  take(length: number): Float32Array {
    this.stats.taken++;
    this.lastUse = performance.now();
    if (length * 4 > this.maxBufferBytes || length === 0) return this.allocate(length);
    const list = this.free.get(length);
    let b = list?.pop();
    if (b) {
      this.pooled.delete(b);
      this.freeBytes -= b.byteLength;
      this.stats.reused++;
    } else {
      b = this.allocate(length);
      this.owned.set(b.buffer, b);
    }
    this.fresh.add(b);
    return b;
  }

  /** `values` become a tensor's data: a taken buffer the first time; anything else of ours escapes. */
  written(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const parent = this.owned.get(values.buffer);
    if (!parent) return;
    if (values === parent && this.fresh.delete(parent)) return;
    this.escape(values);
  }

  /** `values` (or a view of them) may be kept by a reader: never reuse them. */
  escape(values: unknown): void {
    if (ArrayBuffer.isView(values)) this.owned.delete(values.buffer);
  }

  /** The tensor holding `values` is gone: reuse them if they are ours and there is room. */
  give(values: unknown): void {
    if (!(values instanceof Float32Array) || this.owned.get(values.buffer) !== values) return;
    if (this.fresh.has(values) || this.pooled.has(values)) return;
    if (this.freeBytes + values.byteLength > this.maxFreeBytes) return;
    const list = this.free.get(values.length) ?? [];
    list.push(values);
    this.pooled.add(values);
    this.free.set(values.length, list);
    this.freeBytes += values.byteLength;
    this.lastUse = performance.now();
    // An engine waiting for its next request should not sit on its free buffers: dropped after
    // `idleMs` without a take or give (the timer does not keep the process alive).
    this.idleCheck ??= setInterval(() => {
      if (performance.now() - this.lastUse >= this.idleMs) this.clear();
    }, this.idleMs).unref();
  }

  /** Drops every free buffer (the garbage collector takes them). */
  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
    clearInterval(this.idleCheck);
    this.idleCheck = undefined;
  }

  get freeMegabytes(): number {
    return this.freeBytes / 2 ** 20;
  }
}
