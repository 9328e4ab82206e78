/** Initialises the native backend (tfjs cpu kernels, the hot ones in the N-API addon over OpenBLAS; see ./native.ts). */
import { BackendInfo, BackendUnavailableError, setBackendOrThrow } from './common';
import { applyThreads, chooseThreads, describeThreads, registerNativeBackend } from './native';
import { loadNativeAddon } from './native-addon';
import { errMessage } from './runtime';

export async function initNative(log: (line: string) => void): Promise<BackendInfo> {
  let native: ReturnType<typeof loadNativeAddon>;
  let threads: ReturnType<typeof chooseThreads>;
  try {
    native = loadNativeAddon();
    threads = chooseThreads();
  } catch (e) {
    throw new BackendUnavailableError('native', errMessage(e));
  }
  registerNativeBackend(native.addon);
  applyThreads(native.addon, threads);
  native.addon.keepFreedMemory();
  await setBackendOrThrow('native', log);
  return {
    name: 'native',
    detail: `${native.addon.blasInfo()}, ${describeThreads(threads)}, addon ${native.file}`,
  };
}
