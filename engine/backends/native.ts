/**
 * The `native` backend: tfjs-backend-cpu's MathBackendCPU with its kernels, the hot float32 ones
 * replaced by the addon's (native-kernels.ts). Tensors are MathBackendCPU's, so every cpu kernel runs
 * unchanged on them, and gradients (registered per kernel name) work as on cpu.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './native-addon';
import { fusedKernels, KernelArgs, nativeKernels } from './native-kernels';

export const THREADS_ENV = 'DIFFLORA_THREADS';

/** Registers the 'native' backend and its kernels (once per process). */
export function registerNativeBackend(addon: NativeAddon): void {
  if (tf.findBackendFactory('native')) return;
  tf.registerBackend('native', () => {
    const b = new MathBackendCPU();
    // Silence the cpu backend's "install tfjs-node" banner: this backend is the fast one.
    (b as unknown as { firstUse: boolean }).firstUse = false;
    return b;
  });
  const native = nativeKernels(addon);
  for (const k of tf.getKernelsForBackend('cpu')) {
    const fast = native[k.kernelName];
    const cpu = k.kernelFunc;
    const kernelFunc: tf.KernelFunc = fast ? (args) => fast(args as unknown as KernelArgs) ?? cpu(args) : cpu;
    tf.registerKernel({ ...k, backendName: 'native', kernelFunc });
  }
  // The engine's fused ops (engine/model/fused.ts): their kernels exist on this backend only.
  for (const [kernelName, f] of Object.entries(fusedKernels(addon))) {
    tf.registerKernel({ kernelName, backendName: 'native', kernelFunc: (args) => f(args as unknown as KernelArgs) });
  }
}

let requestedThreads: number | undefined;

/** The --threads flag: takes precedence over DIFFLORA_THREADS and the default. */
export function setRequestedThreads(n: number | undefined): void {
  requestedThreads = n;
}

/**
 * OpenBLAS threads and why: --threads, else DIFFLORA_THREADS, else 1 on machines with at most 2 cores
 * (a second BLAS thread spins against the JS thread; measured: 1 thread wins at small shapes), else
 * min(cores, 8).
 */
export function chooseThreads(): { threads: number; why: string } {
  if (requestedThreads !== undefined) return { threads: requestedThreads, why: '--threads' };
  const env = process.env[THREADS_ENV];
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${THREADS_ENV}=${env}: expected an integer >= 1`);
    return { threads: n, why: THREADS_ENV };
  }
  const cores = os.availableParallelism();
  return { threads: cores <= 2 ? 1 : Math.min(cores, 8), why: `default for ${cores} cores` };
}
