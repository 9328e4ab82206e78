/**
 * The webgpu backend (Dawn through the `webgpu` package) against cpu. Without a GPU it runs on the CPU
 * through SwiftShader, the Vulkan ICD that Debian's `chromium` ships. It runs in a child process so that
 * the environment the Vulkan loader reads at start (LD_LIBRARY_PATH, VK_ICD_FILENAMES) can be set here,
 * and so that a stuck GPU driver cannot hang the test runner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CHROMIUM_DIR = '/usr/lib/chromium';

function skipReason(): string | false {
  if (!process.env.VK_ICD_FILENAMES && !fs.existsSync(SWIFTSHADER_ICD)) {
    return `no Vulkan ICD to test with: ${SWIFTSHADER_ICD} is missing (apt-get install chromium) and VK_ICD_FILENAMES is unset`;
  }
  try {
    require.resolve('webgpu');
  } catch {
    return "the optional 'webgpu' package is not installed";
  }
  return false;
}

function systemVulkanLoader(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')));
}

const reason = skipReason();
if (reason) console.log(`webgpu test skipped: ${reason}`);

const CHILD = `
const tf = require(process.env.T_TF);
const { initBackend, ensureGradients, releaseWebgpu } = require(process.env.T_BACKEND);
function values(n, seed) {
  const a = new Float32Array(n); let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = (s / 4294967296) * 2 - 1; }
  return a;
}
async function compute() {
  const a = tf.tensor2d(values(24 * 40, 1), [24, 40]);
  const b = tf.tensor2d(values(40 * 32, 2), [40, 32]);
  const w = tf.reshape(tf.range(0, 32), [1, 32]);
  const y = tf.softmax(tf.matMul(a, b));
  const g = tf.grad((x) => tf.sum(tf.mul(tf.softmax(tf.matMul(x, b)), w)))(a);
  const n = 128, A = tf.tensor2d(values(n * n, 3), [n, n]), B = tf.tensor2d(values(n * n, 4), [n, n]);
  const big = tf.matMul(A, B);
  return { y: Array.from(await y.data()), g: Array.from(await g.data()), big: Array.from(await big.data()) };
}
(async () => {
  const lines = [];
  const info = await initBackend('webgpu', (l) => lines.push(l));
  await ensureGradients();
  const backendSeen = tf.getBackend();
  const gpu = await compute();
  await initBackend('cpu', () => {});
  const cpu = await compute();
  releaseWebgpu();
  console.log('@@RESULT ' + JSON.stringify({ info, backendSeen, gpu, cpu, lines }));
})().catch((e) => { console.log('@@ERROR ' + (e && e.message)); process.exitCode = 1; });
`;

function maxAbsDiff(x: number[], y: number[]): number {
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

test('webgpu (SwiftShader without a GPU) agrees with cpu on matMul, softmax and a gradient', { skip: reason, timeout: 240_000 }, () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  env.T_TF = require.resolve('@tensorflow/tfjs-core');
  env.T_BACKEND = require.resolve('../../engine/backend');
  if (!env.VK_ICD_FILENAMES) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = '/tmp';
  // Without Debian's libvulkan1, use the Vulkan loader that Chromium ships next to SwiftShader.
  if (!systemVulkanLoader() && fs.existsSync(path.join(CHROMIUM_DIR, 'libvulkan.so.1'))) {
    env.LD_LIBRARY_PATH = [CHROMIUM_DIR, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  const r = spawnSync(process.execPath, ['-e', CHILD], { env, encoding: 'utf8', timeout: 220_000, maxBuffer: 64 * 2 ** 20 });
  const out = r.stdout ?? '';
  const err = out.split('\n').find((l) => l.startsWith('@@ERROR '));
  assert.equal(err, undefined, `${err}\n${r.stderr}`);
  const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
  assert.ok(line, `no result from the child (status ${r.status}, signal ${r.signal}):\n${out}\n${r.stderr}`);
  const res = JSON.parse(line.slice('@@RESULT '.length)) as {
    info: { name: string; detail: string; softwareAdapter?: boolean };
    backendSeen: string;
    gpu: { y: number[]; g: number[]; big: number[] };
    cpu: { y: number[]; g: number[]; big: number[] };
    lines: string[];
  };
  console.log(`${res.info.name}: ${res.info.detail}`);
  assert.equal(res.info.name, 'webgpu');
  assert.equal(res.backendSeen, 'webgpu');
  assert.ok(maxAbsDiff(res.gpu.y, res.cpu.y) < 1e-5, `softmax(matMul): ${maxAbsDiff(res.gpu.y, res.cpu.y)}`);
  assert.ok(maxAbsDiff(res.gpu.g, res.cpu.g) < 1e-4, `gradient: ${maxAbsDiff(res.gpu.g, res.cpu.g)}`);
  assert.ok(maxAbsDiff(res.gpu.big, res.cpu.big) < 1e-3, `128^3 matMul: ${maxAbsDiff(res.gpu.big, res.cpu.big)}`);
});
