/**
 * Backend selection for the engine (one module per backend in ./backends/): native (tfjs cpu kernels
 * with the hot ones in an N-API addon over OpenBLAS), wasm (the fallback on CPUs), cpu (reference), webgpu (Dawn through the `webgpu` npm
 * package) and tensorflow (tfjs-node / tfjs-node-gpu when installed).
 *
 * Works both from tsc output (out/engine/backend.js) and from a webpack bundle (dist/*.js), through
 * backends/runtime.ts:
 * - optional packages (`@tensorflow/tfjs-node*`) are loaded with Node's own `require`, never bundled,
 *   and the wasm files and the native addon are looked up next to the real file that runs.
 * - `webgpu` is ESM-only: it is loaded with a real dynamic `import()` built by `new Function`, which
 *   neither tsc (module=commonjs turns `import()` into `require()`) nor webpack rewrites. webpack never
 *   sees the specifier, but mark `webgpu` external anyway (it ships a native `dawn.node`).
 * - `@tensorflow/tfjs-backend-webgpu` registers its backend at module evaluation only if `navigator.gpu`
 *   exists, so it is required lazily, after `navigator.gpu` is installed (webpack bundles it and
 *   evaluates it at that `require`).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { availableMemory } from './backends/memory';
import { loadNativeAddon } from './backends/native-addon';
import { BackendInfo, BackendName, fmtBytes } from './backends/common';
import { initCpu } from './backends/cpu';
import { initNative } from './backends/native-init';
import { errMessage } from './backends/runtime';
import { loadTensorflow, initTensorflow } from './backends/tensorflow';
import { hasWebAssembly, initWasm, wasmFilesFound } from './backends/wasm';
import { initWebgpu, probeWebgpu } from './backends/webgpu';

export { BackendUnavailableError, type BackendInfo, type BackendName } from './backends/common';
export { ensureGradients } from './backends/gradients';
export { WASM_HEAP_LIMIT_BYTES } from './backends/wasm';
export { releaseWebgpu } from './backends/webgpu';
export { setRequestedThreads, setWorkload, THREADS_ENV, type Workload } from './backends/native';

const ALL: readonly BackendName[] = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

async function initNamed(name: BackendName, log: (line: string) => void): Promise<BackendInfo> {
  switch (name) {
    case 'native':
      return initNative(log);
    case 'wasm':
      return initWasm(log);
    case 'cpu':
      return initCpu(log);
    case 'webgpu':
      return initWebgpu(log);
    case 'tensorflow':
      return initTensorflow(log);
    default:
      throw new Error(`unknown backend '${String(name)}' (expected auto, ${ALL.join(', ')})`);
  }
}

/**
 * Whether probing webgpu is worth it: Dawn's probe costs time and prints native warnings on machines
 * without a GPU. Linux exposes GPUs as device nodes; elsewhere (macOS, Windows) always probe.
 */
function mayHaveGpu(): boolean {
  if (process.env.VK_ICD_FILENAMES || process.platform !== 'linux') return true;
  const dri = fs.existsSync('/dev/dri') && fs.readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  return dri || fs.readdirSync('/dev').some((f) => f.startsWith('nvidia'));
}

let nativeFallbackLogged = false;

/** Says once per process why the native backend is not used, since auto then runs several times slower. */
function logNativeFallbackOnce(reason: string, log: (line: string) => void): void {
  if (nativeFallbackLogged) return;
  nativeFallbackLogged = true;
  log(`backend auto: the native backend cannot load, using wasm instead: ${reason}`);
}

async function initAuto(log: (line: string) => void): Promise<BackendInfo> {
  const skipped: string[] = [];
  const t = loadTensorflow();
  if ('error' in t) {
    skipped.push('tensorflow: not importable');
  } else {
    try {
      const info = await initTensorflow(log);
      log(`backend auto: tensorflow (${t.pkg} is installed and imports)`);
      return info;
    } catch (e) {
      skipped.push(errMessage(e));
    }
  }
  try {
    if (!mayHaveGpu())
      throw new Error('webgpu: no GPU device node (/dev/dri/renderD*, /dev/nvidia*) and VK_ICD_FILENAMES unset; not probed');
    const probe = await probeWebgpu();
    if (probe.software) {
      skipped.push(`webgpu: adapter is a CPU implementation (${probe.name}), a CPU backend is faster`);
    } else {
      try {
        const info = await initWebgpu(log);
        log(`backend auto: webgpu (GPU adapter ${probe.name}${skipped.length ? `; ${skipped.join('; ')}` : ''})`);
        return info;
      } catch (e) {
        skipped.push(errMessage(e));
      }
    }
  } catch (e) {
    skipped.push(errMessage(e));
  }
  try {
    const info = await initNative(log);
    log(`backend auto: native${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
    return info;
  } catch (e) {
    skipped.push(errMessage(e));
    logNativeFallbackOnce(errMessage(e), log);
  }
  try {
    const info = await initWasm(log);
    log(`backend auto: wasm (${skipped.join('; ')})`);
    return info;
  } catch (e) {
    skipped.push(errMessage(e));
  }
  const info = await initCpu(log);
  log(`backend auto: cpu, the slow fallback (${skipped.join('; ')})`);
  return info;
}

/**
 * Picks and initialises a backend and returns what was chosen. Gradients are registered only by
 * training (ensureGradients), since loading them costs start-up time that inference does not need.
 * An explicit request for a backend that cannot run here throws a BackendUnavailableError with a
 * one-line message ("webgpu: no adapter found (...)").
 */
export async function initBackend(requested: BackendName | 'auto', log: (line: string) => void): Promise<BackendInfo> {
  const info = requested === 'auto' ? await initAuto(log) : await initNamed(requested, log);
  log(`backend: ${info.name} (${info.detail})`);
  return info;
}

/** The backends that can actually be initialised here, best first. Does not change the current backend. */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  if (!('error' in loadTensorflow()) && tf.findBackendFactory('tensorflow')) out.push('tensorflow');
  try {
    await probeWebgpu();
    out.push('webgpu');
  } catch {
    /* no adapter */
  }
  try {
    loadNativeAddon();
    out.push('native');
  } catch {
    /* no addon here */
  }
  if (hasWebAssembly() && wasmFilesFound()) out.push('wasm');
  out.push('cpu');
  return out;
}

/**
 * Refuses, before loading, what the backend cannot hold: wasm's heap is 4 GiB and an overflow
 * aborts the wasm module for good (every later op fails); native keeps the weights in this
 * process's memory, so a model larger than the memory available now would only swap or be killed.
 */
export function assertFitsBackend(info: BackendInfo, bytesNeeded: number, what: string): void {
  if (info.heapLimitBytes != null && bytesNeeded > info.heapLimitBytes) {
    throw new Error(
      `${what} needs ${fmtBytes(bytesNeeded)} (${bytesNeeded} bytes) but the ${info.name} backend's heap is limited to ` +
        `${fmtBytes(info.heapLimitBytes)} (${info.heapLimitBytes} bytes); use --backend native, --backend webgpu or --backend tensorflow`,
    );
  }
  if (info.name === 'native') {
    const free = availableMemory();
    if (bytesNeeded > free.bytes) {
      throw new Error(
        `${what} needs ${fmtBytes(bytesNeeded)} (${bytesNeeded} bytes) of fp32 weights but only ${fmtBytes(free.bytes)} ` +
          `(${free.bytes} bytes) of memory is available (${free.source}); close other programs or use a machine with more memory`,
      );
    }
  }
}
