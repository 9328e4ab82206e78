/** The wasm backend (XNNPACK): the fallback on CPUs; its .wasm files next to the bundle or in node_modules. */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { BackendInfo, BackendUnavailableError, fmtBytes, setBackendOrThrow } from './common';
import { hereDir, nodeRequire } from './runtime';

/** 65535 wasm pages of 64 KiB (4 GiB - 64 KiB): the maximum heap of tfjs-backend-wasm 4.22 (its getHeapMax). */
export const WASM_HEAP_LIMIT_BYTES = 4294901760;

export function hasWebAssembly(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

/** Where the three .wasm files are: next to the bundle (dist/*.wasm) or in node_modules. */
export function findWasmDir(): { dir: string | null; tried: string[] } {
  const file = 'tfjs-backend-wasm-simd.wasm';
  const here = hereDir();
  const candidates: string[] = [];
  if (process.env.DIFFLORA_WASM_DIR) candidates.push(process.env.DIFFLORA_WASM_DIR);
  candidates.push(here, path.join(here, 'wasm'));
  try {
    candidates.push(path.dirname(nodeRequire().resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist');
  } catch {
    /* not resolvable from here (a bundle shipped without node_modules) */
  }
  for (const up of ['..', '../..', '../../..']) {
    candidates.push(path.join(here, up, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'));
    candidates.push(path.join(here, up, 'dist'));
  }
  candidates.push(path.join(process.cwd(), 'node_modules/@tensorflow/tfjs-backend-wasm/dist'));
  const tried: string[] = [];
  for (const c of candidates) {
    const d = path.resolve(c);
    if (tried.includes(d)) continue;
    tried.push(d);
    if (fs.existsSync(path.join(d, file)) && fs.existsSync(path.join(d, 'tfjs-backend-wasm.wasm'))) return { dir: d, tried };
  }
  return { dir: null, tried };
}

let wasmPathsSet: string | null = null;

export async function initWasm(log: (line: string) => void): Promise<BackendInfo> {
  if (!hasWebAssembly()) throw new BackendUnavailableError('wasm', 'this runtime has no WebAssembly');
  if (!wasmPathsSet) {
    const { dir, tried } = findWasmDir();
    if (!dir) {
      throw new BackendUnavailableError(
        'wasm',
        `tfjs-backend-wasm-simd.wasm not found (looked in ${tried.join(', ')}); copy node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm next to the bundle or set DIFFLORA_WASM_DIR`,
      );
    }
    // A prefix, concatenated with the file name; emscripten reads it with fs in Node.
    tfwasm.setWasmPaths(dir + path.sep);
    wasmPathsSet = dir;
  }
  await setBackendOrThrow('wasm', log);
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  let threads = 1;
  try {
    threads = tfwasm.getThreadsCount();
  } catch {
    /* older builds */
  }
  return {
    name: 'wasm',
    detail: `XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${threads} thread${threads === 1 ? '' : 's'}, heap max ${fmtBytes(WASM_HEAP_LIMIT_BYTES)}, files from ${wasmPathsSet}`,
    heapLimitBytes: WASM_HEAP_LIMIT_BYTES,
  };
}

/** Whether the wasm files can be found (without initialising the backend). */
export function wasmFilesFound(): boolean {
  return !!(wasmPathsSet || findWasmDir().dir);
}
