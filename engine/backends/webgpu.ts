/** The webgpu backend: Dawn through the optional `webgpu` package (ESM-only, native dawn.node), probed before use. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, BackendUnavailableError, dynamicImport, fmtBytes, setBackendOrThrow } from './common';
import { errMessage, nodeRequire } from './runtime';

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

export function probeWebgpu(): Promise<WebgpuProbe> {
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
      const name =
        [info.vendor, info.architecture, info.description || info.device].filter((s) => s && String(s).trim()).join(' / ') ||
        'unknown adapter';
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

export async function initWebgpu(log: (line: string) => void): Promise<BackendInfo> {
  const probe = await probeWebgpu();
  installNavigatorGpu(probe.gpu);
  Object.assign(globalThis, probe.globals);
  if (!tf.findBackendFactory('webgpu')) {
    // Lazy on purpose: the module registers 'webgpu' only if navigator.gpu exists when it is evaluated.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- evaluated only now (see above)
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
