/**
 * The `native` backend: tfjs-backend-cpu's MathBackendCPU with its kernels, the hot float32 ones
 * replaced by the addon's (native-kernels.ts). Tensors are MathBackendCPU's, so every cpu kernel runs
 * unchanged on them, and gradients (registered per kernel name) work as on cpu.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native-addon';
import { NativeBackend } from './native-backend';
import { fusedKernels, KernelArgs, nativeKernels } from './native-kernels';

export const THREADS_ENV = 'DIFFLORA_THREADS';

/** Registers the 'native' backend and its kernels (once per process). */
export function registerNativeBackend(addon: NativeAddon): void {
  if (tf.findBackendFactory('native')) return;
  tf.registerBackend('native', () => new NativeBackend());
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
 * GEMMs of at least this m*n*k get every BLAS thread by default, smaller ones one: a second thread
 * spins against the JS thread and loses on small shapes (the prototype of issue 9, 2 cores: 1 thread
 * wins for the small model, 2 for the 1B shape). Every GEMM of the small model up to T=512 stays below
 * (its largest, the head: 512 x 2048 x 256 = 2.7e8); the 1B shape's bulk is above (at T=128 the q, o
 * and MLP products, 5.4e8 to 2.1e9; at T=512 all its linear layers).
 */
export const MIN_WORK_FOR_THREADS = 3e8;

/** `threads` for every GEMM, or, when `minWork` is set, `threads` from that m*n*k up and 1 below. */
export interface ThreadChoice {
  threads: number;
  minWork?: number;
  why: string;
}

/**
 * OpenBLAS threads and why: --threads, else DIFFLORA_THREADS, else by GEMM size: min(cores, 8) for
 * large GEMMs, 1 for small ones.
 */
export function chooseThreads(cores = os.availableParallelism()): ThreadChoice {
  if (requestedThreads !== undefined) return { threads: requestedThreads, why: '--threads' };
  const env = process.env[THREADS_ENV];
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${THREADS_ENV}=${env}: expected an integer >= 1`);
    return { threads: n, why: THREADS_ENV };
  }
  const threads = Math.min(cores, 8);
  if (threads === 1) return { threads, why: 'default for 1 core' };
  return {
    threads,
    minWork: MIN_WORK_FOR_THREADS,
    why: `default for ${cores} cores: ${threads} for GEMMs of m*n*k >= ${MIN_WORK_FOR_THREADS.toExponential().replace('+', '')}, else 1`,
  };
}

export function applyThreads(addon: NativeAddon, choice: ThreadChoice): void {
  if (choice.minWork === undefined) addon.setThreads(choice.threads);
  else addon.autoThreads(choice.threads, choice.minWork);
}

/** For the backend line: "2 BLAS threads (--threads)", "1-2 BLAS threads (default ...)". */
export function describeThreads(choice: ThreadChoice): string {
  const n = choice.minWork === undefined ? `${choice.threads}` : `1-${choice.threads}`;
  return `${n} BLAS thread${n === '1' ? '' : 's'} (${choice.why})`;
}
