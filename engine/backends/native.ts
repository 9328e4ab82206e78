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
  tf.registerBackend('native', () => new NativeBackend(addon));
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

/** What the engine is doing: the thread default depends on it (MIN_WORK_FOR_THREADS). */
export type Workload = 'inference' | 'training';

/**
 * By default, GEMMs of at least this m*n*k get every BLAS thread, smaller ones one. Measured on 2
 * cores (issue 9; OpenBLAS workers sleeping after 2^16 cycles, see native-addon.ts):
 * - inference, 1e7: two threads from the small model's T=128 products up (128 x 256 x 704 = 2.3e7):
 *   its forward at T=128 17-20 -> 14-16 ms, at T=512 68-71 -> 47-54 ms (against 3e8);
 * - training, 3e8: a step allocates heavily and V8's GC threads take the second core; a second BLAS
 *   thread waits for them: DiffLoRA-32 step 244-254 ms at 3e8, 266-311 ms at 3e7 or 1e7.
 * The 1B shape's products are above both but for its k/v projections at T=128 (1.3e8).
 */
export const MIN_WORK_FOR_THREADS: Record<Workload, number> = { inference: 1e7, training: 3e8 };

/** `threads` for every GEMM, or, when `minWork` is set, `threads` from that m*n*k up and 1 below. */
export interface ThreadChoice {
  threads: number;
  minWork?: Record<Workload, number>;
  why: string;
}

const exp = (x: number): string => x.toExponential().replace('+', '');

/**
 * BLAS threads and why: --threads, else DIFFLORA_THREADS, else by GEMM size: min(cores, 8) for
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
  const w = MIN_WORK_FOR_THREADS;
  return {
    threads,
    minWork: w,
    why: `default for ${cores} cores: ${threads} for GEMMs of m*n*k >= ${exp(w.inference)} (${exp(w.training)} in training), else 1`,
  };
}

let active: { addon: NativeAddon; choice: ThreadChoice } | undefined;

export function applyThreads(addon: NativeAddon, choice: ThreadChoice, workload: Workload = 'inference'): void {
  active = { addon, choice };
  if (choice.minWork === undefined) addon.setThreads(choice.threads);
  else addon.autoThreads(choice.threads, choice.minWork[workload]);
}

/** Switches the default threads to `workload`'s (nothing to do for a fixed count or without native). */
export function setWorkload(workload: Workload): void {
  if (active) applyThreads(active.addon, active.choice, workload);
}

/** For the backend line: "2 BLAS threads (--threads)", "1-2 BLAS threads (default ...)". */
export function describeThreads(choice: ThreadChoice): string {
  const n = choice.minWork === undefined ? `${choice.threads}` : `1-${choice.threads}`;
  return `${n} BLAS thread${n === '1' ? '' : 's'} (${choice.why})`;
}
