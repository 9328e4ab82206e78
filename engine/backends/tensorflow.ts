/** The tensorflow backend: tfjs-node-gpu / tfjs-node (libtensorflow) when installed; optional, never bundled. */
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, BackendUnavailableError, setBackendOrThrow } from './common';
import { errMessage, nodeRequire } from './runtime';

let tensorflowLoad: { pkg: string; version: string } | { error: string } | null = null;

export function loadTensorflow(): { pkg: string; version: string } | { error: string } {
  if (tensorflowLoad) return tensorflowLoad;
  const req = nodeRequire();
  const failures: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      req(pkg);
      let version = '?';
      try {
        version = (req(`${pkg}/package.json`) as { version: string }).version;
      } catch {
        /* keep '?' */
      }
      tensorflowLoad = { pkg, version };
      return tensorflowLoad;
    } catch (e) {
      const m = errMessage(e);
      failures.push(`${pkg}: ${/Cannot find module '@tensorflow\/tfjs-node/.test(m) ? 'not installed' : m}`);
    }
  }
  tensorflowLoad = {
    error:
      `neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node can be loaded (${failures.join('; ')}); ` +
      'install one where its install script can download libtensorflow, or use --backend webgpu / wasm',
  };
  return tensorflowLoad;
}

export async function initTensorflow(log: (line: string) => void): Promise<BackendInfo> {
  const l = loadTensorflow();
  if ('error' in l) throw new BackendUnavailableError('tensorflow', l.error);
  if (!tf.findBackendFactory('tensorflow')) {
    throw new BackendUnavailableError(
      'tensorflow',
      `${l.pkg} loaded but registered no 'tensorflow' backend (version mismatch with tfjs-core ${tf.version_core}?)`,
    );
  }
  await setBackendOrThrow('tensorflow', log);
  const b = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const device = b.isUsingGpuDevice === true ? 'CUDA GPU' : b.isUsingGpuDevice === false ? 'CPU' : 'device unknown';
  return { name: 'tensorflow', detail: `${l.pkg} ${l.version} (libtensorflow, ${device})` };
}
