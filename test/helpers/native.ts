/**
 * Whether tests of the native backend run. Where its addon does not load they are skipped with the
 * reason printed, except in CI (CI=true), where setup.sh builds it: there they run and fail, so a
 * broken native build cannot land silently.
 */
import { loadNativeAddon } from '../../engine/backends/native-addon';

let reason: string | false | undefined;

/** false when the native tests run, else why they are skipped (printed once). */
export function nativeSkip(): string | false {
  if (reason !== undefined) return reason;
  reason = false;
  if (process.env.CI === 'true') return reason;
  try {
    loadNativeAddon();
  } catch (e) {
    reason = `native backend tests skipped: ${(e as Error).message}`;
    console.log(reason);
  }
  return reason;
}

/** The CPU backends numerics tests compare: cpu and wasm, and native where it runs. */
export function cpuBackends(): ('cpu' | 'wasm' | 'native')[] {
  return nativeSkip() ? ['cpu', 'wasm'] : ['cpu', 'wasm', 'native'];
}
