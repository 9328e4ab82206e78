/**
 * Backend selection for the engine: native (tfjs cpu kernels with the hot ones in an N-API addon over
 * OpenBLAS), wasm (the fallback on CPUs), cpu (reference), webgpu (Dawn through the `webgpu` npm
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
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { availableMemory } from './backends/memory';
import { applyThreads, chooseThreads, describeThreads, registerNativeBackend } from './backends/native';
import { loadNativeAddon } from './backends/native-addon';
import { errMessage, hereDir, inWebpackBundle, nodeRequire } from './backends/runtime';

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
  constructor(readonly backend: BackendName, reason: string) {
    super(`${backend}: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

/** 65535 wasm pages of 64 KiB (4 GiB - 64 KiB): the maximum heap of tfjs-backend-wasm 4.22 (its getHeapMax). */
export const WASM_HEAP_LIMIT_BYTES = 4294901760;

const ALL: readonly BackendName[] = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

function fmtBytes(n: number): string {
  const gib = n / 2 ** 30;
  if (gib >= 1) return `${gib.toFixed(2)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** setBackend, but a failure becomes an exception carrying tfjs's own warning (which it otherwise just prints). */
async function setBackendOrThrow(name: BackendName, log: (line: string) => void): Promise<void> {
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
    const reason = warnings.map((w) => w.split('\n').find((l) => l.trim() && !/^Initialization of backend/.test(l)) ?? '').filter(Boolean).pop();
    throw new BackendUnavailableError(name, `tf.setBackend('${name}') failed${reason ? `: ${reason.trim()}` : ''}`);
  }
  await tf.ready();
}

// ---------------------------------------------------------------------------------------------
// Gradients. tfjs-core's CommonJS build (dist/tf-core.node.js) contains no gradient at all, and
// dist/register_all_gradients.js is ESM with extension-less relative imports ('./gradients/Abs_grad'),
// which Node's ESM loader refuses: a plain require()/import() of it crashes. In a webpack bundle the
// static require below is resolved by webpack. From tsc output we import it through Node's ESM loader
// with a resolve hook (module.register, Node >= 20.6) that adds '.js' / '/index.js' for relative
// specifiers inside tfjs-core/dist only. That loads tfjs-core's ESM files as a second copy of the ops,
// which is fine: the engine and the kernel/gradient registries are process-wide globals in tfjs.

let gradientsLoading: Promise<void> | null = null;

function haveGradients(): boolean {
  return tf.getGradient('BatchMatMul') != null && tf.getGradient('Softmax') != null;
}

export function ensureGradients(): Promise<void> {
  if (haveGradients()) return Promise.resolve();
  if (!gradientsLoading) {
    gradientsLoading = (async () => {
      if (inWebpackBundle) {
        // Static string: webpack bundles the ESM gradient files (tfjs-core lists this file in sideEffects).
        require('@tensorflow/tfjs-core/dist/register_all_gradients');
      } else {
        const req = nodeRequire();
        const mod = req('module') as { register?: (specifier: string, parentURL?: string) => void };
        if (typeof mod.register !== 'function') {
          throw new Error(`Node ${process.version} has no module.register (need >= 20.6) to load tfjs gradients`);
        }
        const hooks = [
          'export async function resolve(specifier, context, next) {',
          "  const p = context.parentURL || '';",
          "  if (/[\\\\/]@tensorflow[\\\\/]tfjs-core[\\\\/]dist[\\\\/]/.test(p) && /^\\.\\.?\\//.test(specifier) && !/\\.m?js$/.test(specifier)) {",
          "    try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }",
          '  }',
          '  return next(specifier, context);',
          '}',
        ].join('\n');
        mod.register('data:text/javascript,' + encodeURIComponent(hooks));
        const file = req.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
        await dynamicImport(pathToFileURL(file).href);
      }
      if (!haveGradients()) throw new Error('register_all_gradients loaded but no gradient is registered');
    })();
    gradientsLoading.catch(() => {
      gradientsLoading = null;
    });
  }
  return gradientsLoading;
}

// ---------------------------------------------------------------------------------------------
// wasm

function hasWebAssembly(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

/** Where the three .wasm files are: next to the bundle (dist/*.wasm) or in node_modules. */
function findWasmDir(): { dir: string | null; tried: string[] } {
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

async function initWasm(log: (line: string) => void): Promise<BackendInfo> {
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

// ---------------------------------------------------------------------------------------------
// native

async function initNative(log: (line: string) => void): Promise<BackendInfo> {
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

// ---------------------------------------------------------------------------------------------
// cpu

async function initCpu(log: (line: string) => void): Promise<BackendInfo> {
  await setBackendOrThrow('cpu', log);
  // The cpu backend prints a "you are running TensorFlow.js in Node.js, install tfjs-node" banner on
  // first use; it was chosen on purpose here.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if (b && typeof b.firstUse === 'boolean') b.firstUse = false;
  return { name: 'cpu', detail: 'pure JavaScript reference (slow)' };
}

// ---------------------------------------------------------------------------------------------
// webgpu

interface WebgpuModule {
  create: (options: string[]) => GpuLike;
  globals: Record<string, unknown>;
}
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  backendType?: string;
  adapterType?: string;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface WebgpuProbe {
  gpu: GpuLike;
  globals: Record<string, unknown>;
  adapter: AdapterLike;
  info: AdapterInfoLike;
  software: boolean;
  name: string;
}

let webgpuProbe: Promise<WebgpuProbe> | null = null;

function vulkanLoaderHint(): string {
  if (process.platform !== 'linux') return '';
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  const loader = dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')));
  const hints: string[] = [];
  if (!loader) {
    hints.push(
      'the Vulkan loader libvulkan.so.1 was not found: apt-get install libvulkan1' +
        (fs.existsSync('/usr/lib/chromium/libvulkan.so.1') ? ' (or start node with LD_LIBRARY_PATH=/usr/lib/chromium)' : ''),
    );
  }
  if (!process.env.VK_ICD_FILENAMES) {
    hints.push(
      'no Vulkan driver (ICD) answered: on a GPU machine install its Vulkan driver; on a CPU-only machine ' +
        (fs.existsSync('/usr/lib/chromium/vk_swiftshader_icd.json') ? '' : 'apt-get install chromium and ') +
        'set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader, slow)',
    );
  } else {
    hints.push(`VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}${fs.existsSync(process.env.VK_ICD_FILENAMES) ? '' : ' (file missing)'}`);
  }
  return hints.join('; ');
}

function isSoftwareAdapter(info: AdapterInfoLike, adapter: AdapterLike): boolean {
  if (info.isFallbackAdapter === true || adapter.isFallbackAdapter === true) return true;
  if (info.adapterType === 'cpu') return true;
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render|\bcpu\b/i.test(text);
}

function probeWebgpu(): Promise<WebgpuProbe> {
  if (!webgpuProbe) {
    webgpuProbe = (async (): Promise<WebgpuProbe> => {
      // Dawn's Vulkan backend wants XDG_RUNTIME_DIR. VK_ICD_FILENAMES is deliberately NOT set here:
      // pointing it at SwiftShader would hide a real GPU.
      if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = os.tmpdir();
      let mod: WebgpuModule;
      try {
        const req = nodeRequire();
        // require.resolve finds the package from the running file (its "main" is index.js);
        // the ESM module itself is then loaded with a real import().
        const entry = req.resolve('webgpu');
        mod = (await dynamicImport(pathToFileURL(entry).href)) as WebgpuModule;
      } catch (e) {
        throw new BackendUnavailableError(
          'webgpu',
          `the optional 'webgpu' package (Dawn) cannot be loaded: ${errMessage(e)} (npm install webgpu@0.6.2)`,
        );
      }
      if (typeof mod.create !== 'function') throw new BackendUnavailableError('webgpu', "the 'webgpu' package exports no create()");
      let gpu: GpuLike;
      try {
        const opts = (process.env.DIFFLORA_DAWN_OPTIONS ?? '').split(/\s+/).filter(Boolean);
        gpu = mod.create(opts);
      } catch (e) {
        throw new BackendUnavailableError('webgpu', `Dawn create() failed: ${errMessage(e)}`);
      }
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new BackendUnavailableError('webgpu', `no adapter found (${vulkanLoaderHint()})`);
      let info: AdapterInfoLike = adapter.info ?? {};
      if (!adapter.info && typeof adapter.requestAdapterInfo === 'function') {
        try {
          info = await adapter.requestAdapterInfo();
        } catch {
          /* keep empty */
        }
      }
      const software = isSoftwareAdapter(info, adapter);
      const name = [info.vendor, info.architecture, info.description || info.device].filter((s) => s && String(s).trim()).join(' / ') || 'unknown adapter';
      return { gpu, globals: mod.globals ?? {}, adapter, info, software, name };
    })();
    webgpuProbe.catch(() => {
      /* keep the rejection cached: the answer will not change in this process */
    });
  }
  return webgpuProbe;
}

/** `navigator.gpu = gpu`, whether `navigator` is missing (Node 20) or a read-only global object (Node 21+). */
function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const nav = g.navigator;
  if (nav == null) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true, enumerable: true });
    return;
  }
  if (nav.gpu === gpu) return;
  try {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true, enumerable: true });
  } catch {
    /* non-extensible: replace below */
  }
  if (g.navigator?.gpu !== gpu) {
    const copy: Record<string, unknown> = { gpu };
    for (const k of ['userAgent', 'platform', 'language', 'languages', 'hardwareConcurrency']) {
      try {
        copy[k] = nav[k];
      } catch {
        /* brand-checked getter */
      }
    }
    Object.defineProperty(globalThis, 'navigator', { value: copy, configurable: true, writable: true, enumerable: true });
  }
  if (g.navigator?.gpu !== gpu) throw new BackendUnavailableError('webgpu', 'could not install navigator.gpu on this runtime');
}

async function initWebgpu(log: (line: string) => void): Promise<BackendInfo> {
  const probe = await probeWebgpu();
  installNavigatorGpu(probe.gpu);
  Object.assign(globalThis, probe.globals);
  if (!tf.findBackendFactory('webgpu')) {
    // Lazy on purpose: the module registers 'webgpu' only if navigator.gpu exists when it is evaluated.
    const webgpuBackend = require('@tensorflow/tfjs-backend-webgpu') as typeof import('@tensorflow/tfjs-backend-webgpu');
    if (!tf.findBackendFactory('webgpu')) {
      // It was evaluated earlier, before navigator.gpu existed: register the same factory ourselves.
      const WebGPUBackend = webgpuBackend.WebGPUBackend as unknown as new (device: unknown, info: unknown) => tf.KernelBackend;
      tf.registerBackend(
        'webgpu',
        async () => {
          const a = probe.adapter as unknown as {
            features: Set<string>;
            limits: Record<string, number>;
            requestDevice(d: unknown): Promise<unknown>;
          };
          const requiredFeatures = ['timestamp-query'].filter((f) => a.features.has(f));
          const l = a.limits;
          const device = await a.requestDevice({
            requiredFeatures,
            requiredLimits: {
              maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
              maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
              maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
              maxBufferSize: l.maxBufferSize,
              maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
              maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
            },
          });
          return new WebGPUBackend(device, probe.info);
        },
        3,
      );
    }
  }
  await setBackendOrThrow('webgpu', log);
  const maxBufferBytes = Math.min(probe.adapter.limits.maxStorageBufferBindingSize, probe.adapter.limits.maxBufferSize);
  return {
    name: 'webgpu',
    detail:
      `${probe.name}${probe.info.backendType ? ` (${probe.info.backendType})` : ''}` +
      (probe.software ? ', CPU/software adapter (SwiftShader-class): slow, for testing only' : ', hardware GPU') +
      `, max buffer ${fmtBytes(maxBufferBytes)}`,
    maxBufferBytes,
    softwareAdapter: probe.software,
  };
}

/** Lets the process exit: Dawn keeps Node alive while `navigator.gpu` holds the instance. */
export function releaseWebgpu(): void {
  try {
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  } catch {
    /* nothing to release */
  }
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (g.navigator && 'gpu' in g.navigator) {
    try {
      delete g.navigator.gpu;
    } catch {
      /* ignore */
    }
  }
  webgpuProbe = null;
}

// ---------------------------------------------------------------------------------------------
// tensorflow (tfjs-node-gpu / tfjs-node): optional, never bundled.

let tensorflowLoad: { pkg: string; version: string } | { error: string } | null = null;

function loadTensorflow(): { pkg: string; version: string } | { error: string } {
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

async function initTensorflow(log: (line: string) => void): Promise<BackendInfo> {
  const l = loadTensorflow();
  if ('error' in l) throw new BackendUnavailableError('tensorflow', l.error);
  if (!tf.findBackendFactory('tensorflow')) {
    throw new BackendUnavailableError('tensorflow', `${l.pkg} loaded but registered no 'tensorflow' backend (version mismatch with tfjs-core ${tf.version_core}?)`);
  }
  await setBackendOrThrow('tensorflow', log);
  const b = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const device = b.isUsingGpuDevice === true ? 'CUDA GPU' : b.isUsingGpuDevice === false ? 'CPU' : 'device unknown';
  return { name: 'tensorflow', detail: `${l.pkg} ${l.version} (libtensorflow, ${device})` };
}

// ---------------------------------------------------------------------------------------------
// Public API

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
    if (!mayHaveGpu()) throw new Error('webgpu: no GPU device node (/dev/dri/renderD*, /dev/nvidia*) and VK_ICD_FILENAMES unset; not probed');
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
  if (hasWebAssembly() && (wasmPathsSet || findWasmDir().dir)) out.push('wasm');
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
