/** What every backend module shares: its name and description, its error, tf.setBackend with tfjs's warnings kept. */
import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'native' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';

export interface BackendInfo {
  name: BackendName;
  /** Human-readable: adapter name, SIMD on/off, BLAS and threads, package used... */
  detail: string;
  /** wasm only: the most bytes the module's heap can ever hold (65535 pages of 64 KiB). */
  heapLimitBytes?: number;
  /** webgpu only: the largest single buffer (one tensor) the device accepts (maxStorageBufferBindingSize). */
  maxBufferBytes?: number;
  /** webgpu only: the adapter is a CPU implementation (SwiftShader, llvmpipe, fallback adapter). */
  softwareAdapter?: boolean;
}

/** Thrown when a backend cannot be initialised; the message is one line, starting with the backend's name. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: BackendName,
    reason: string,
  ) {
    super(`${backend}: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

/** A real dynamic import(), which neither tsc (module=commonjs) nor webpack rewrites (ESM-only packages). */
export const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

export function fmtBytes(n: number): string {
  const gib = n / 2 ** 30;
  if (gib >= 1) return `${gib.toFixed(2)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** setBackend, but a failure becomes an exception carrying tfjs's own warning (which it otherwise just prints). */
export async function setBackendOrThrow(name: BackendName, log: (line: string) => void): Promise<void> {
  const warnings: string[] = [];
  const origWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(' '));
  };
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } finally {
    console.warn = origWarn;
  }
  for (const w of warnings) for (const line of w.split('\n')) if (line.trim() && !/^=+$/.test(line.trim())) log(`[tfjs] ${line.trim()}`);
  if (!ok) {
    const reason = warnings
      .map((w) => w.split('\n').find((l) => l.trim() && !/^Initialization of backend/.test(l)) ?? '')
      .filter(Boolean)
      .pop();
    throw new BackendUnavailableError(name, `tf.setBackend('${name}') failed${reason ? `: ${reason.trim()}` : ''}`);
  }
  await tf.ready();
}
