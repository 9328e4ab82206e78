/**
 * The native backend's tensor store: tfjs-backend-cpu's MathBackendCPU (so every cpu kernel runs on its
 * tensors unchanged), whose kernels' outputs come from a BufferPool and go back to it when disposed.
 */
import type { BackendValues, DataId, DataType } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { BufferPool } from './buffer-pool';
import type { NativeAddon } from './native-addon';

/** Outputs of at least this size get huge pages (see adviseHugePages in allocator.cc). */
const HUGE_PAGE_MIN_BYTES = 4 * 2 ** 20;

export class NativeBackend extends MathBackendCPU {
  readonly pool: BufferPool;

  constructor(addon: Pick<NativeAddon, 'adviseHugePages'>) {
    super();
    this.pool = new BufferPool({
      allocate: (length) => {
        const b = new Float32Array(length);
        if (b.byteLength >= HUGE_PAGE_MIN_BYTES) addon.adviseHugePages(b);
        return b;
      },
    });
    // Silence the cpu backend's "install tfjs-node" banner: this backend is the fast one.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    this.pool.written(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.pool.escape(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  /** Also serves read() and bufferSync(): what a reader gets may be kept, so it is never reused. */
  override readSync(dataId: DataId): BackendValues {
    const v = super.readSync(dataId);
    this.pool.escape(v);
    return v;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const v = this.data.get(dataId)?.values;
    const done = super.disposeData(dataId, force);
    if (v && !this.data.has(dataId)) this.pool.give(v);
    return done;
  }
}
