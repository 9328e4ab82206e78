import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  initBackend,
  ensureGradients,
  availableBackends,
  assertFitsBackend,
  BackendInfo,
  WASM_HEAP_LIMIT_BYTES,
} from '../../engine/backend';
import { reclaimableFromVmStat } from '../../engine/backends/memory';
import { nativeSkip } from '../helpers/native';

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

/** softmax(a @ b) and d/da sum(softmax(a @ b) * w) on the current backend. */
async function compute(): Promise<{ y: Float32Array; g: Float32Array }> {
  const a = tf.tensor2d(values(24 * 40, 1), [24, 40]);
  const b = tf.tensor2d(values(40 * 32, 2), [40, 32]);
  const w = tf.reshape(tf.range(0, 32), [1, 32]);
  const y = tf.softmax(tf.matMul(a, b));
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.softmax(tf.matMul(x as tf.Tensor2D, b)), w)))(a);
  const out = { y: (await y.data()) as Float32Array, g: (await g.data()) as Float32Array };
  tf.dispose([a, b, w, y, g]);
  return out;
}

function maxAbsDiff(x: Float32Array, y: Float32Array): number {
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

const lines: string[] = [];
const log = (l: string): void => {
  lines.push(l);
};

let wasmInfo: BackendInfo | undefined;

test('wasm and cpu initialise and agree on matMul + softmax and its gradient', async () => {
  wasmInfo = await initBackend('wasm', log);
  await ensureGradients();
  assert.equal(wasmInfo.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.match(wasmInfo.detail, /SIMD on/);
  assert.equal(wasmInfo.heapLimitBytes, WASM_HEAP_LIMIT_BYTES);
  assert.ok(tf.getGradient('BatchMatMul'), 'gradients are registered');
  const w = await compute();

  const cpuInfo = await initBackend('cpu', log);
  assert.equal(cpuInfo.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  const c = await compute();

  // Each row of a softmax sums to 1.
  for (let r = 0; r < 24; r++) {
    let s = 0;
    for (let j = 0; j < 32; j++) s += c.y[r * 32 + j];
    assert.ok(Math.abs(s - 1) < 1e-5, `row ${r} sums to ${s}`);
  }
  assert.ok(maxAbsDiff(w.y, c.y) < 1e-5, `softmax(matMul) wasm vs cpu: ${maxAbsDiff(w.y, c.y)}`);
  assert.ok(maxAbsDiff(w.g, c.g) < 1e-4, `gradient wasm vs cpu: ${maxAbsDiff(w.g, c.g)}`);
  assert.ok(lines.some((l) => l.startsWith('backend: wasm')));
});

test(
  'native initialises, names its BLAS and threads, and agrees with cpu on matMul + softmax and its gradient',
  { skip: nativeSkip() },
  async () => {
    const info = await initBackend('native', log);
    assert.equal(info.name, 'native');
    assert.equal(tf.getBackend(), 'native');
    assert.match(info.detail, /^OpenBLAS \d+\.\d+\.\d+ .*, (1-)?\d+ BLAS threads? \(.*\), addon .*\.node$/);
    assert.equal(info.heapLimitBytes, undefined, 'no heap limit');
    const n = await compute();
    await initBackend('cpu', log);
    const c = await compute();
    assert.ok(maxAbsDiff(n.y, c.y) < 1e-6, `softmax(matMul) native vs cpu: ${maxAbsDiff(n.y, c.y)}`);
    assert.ok(maxAbsDiff(n.g, c.g) < 1e-5, `gradient native vs cpu: ${maxAbsDiff(n.g, c.g)}`);
  },
);

test("requesting 'tensorflow' here fails with a clear one-line error", async () => {
  const installed = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((p) => {
    try {
      require.resolve(p);
      return true;
    } catch {
      return false;
    }
  });
  if (installed) {
    const info = await initBackend('tensorflow', log);
    assert.equal(info.name, 'tensorflow');
    return;
  }
  await assert.rejects(initBackend('tensorflow', log), (e: Error) => {
    assert.match(e.message, /^tensorflow: neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node can be loaded/);
    assert.match(e.message, /not installed/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
});

test('availableBackends lists native (where it loads), wasm and cpu, and not tensorflow when it is not installed', async () => {
  const names = await availableBackends();
  if (!nativeSkip()) assert.deepEqual(names.slice(-3), ['native', 'wasm', 'cpu']);
  assert.ok(names.includes('wasm'));
  assert.ok(names.includes('cpu'));
  assert.equal(names[names.length - 1], 'cpu');
});

test('auto picks a backend and says why', async () => {
  const before = lines.length;
  const info = await initBackend('auto', log);
  const said = lines.slice(before).find((l) => l.startsWith('backend auto: '));
  assert.ok(said, 'auto logs its choice');
  assert.ok(said.startsWith(`backend auto: ${info.name}`), said);
  if (!nativeSkip() && !['tensorflow', 'webgpu'].includes(info.name)) assert.equal(info.name, 'native', 'native comes before wasm');
});

test('assertFitsBackend refuses 5 GiB on wasm and accepts 1 GiB', () => {
  assert.ok(wasmInfo, 'wasm initialised by the first test');
  const fiveGiB = 5 * 2 ** 30;
  assert.throws(
    () => assertFitsBackend(wasmInfo!, fiveGiB, 'Llama-3.2-1B (fp32)'),
    (e: Error) => {
      assert.match(e.message, /Llama-3\.2-1B \(fp32\) needs 5\.00 GiB \(5368709120 bytes\)/);
      assert.match(e.message, new RegExp(`${WASM_HEAP_LIMIT_BYTES} bytes`));
      assert.match(e.message, /--backend webgpu/);
      assert.match(e.message, /--backend tensorflow/);
      return true;
    },
  );
  assertFitsBackend(wasmInfo!, 2 ** 30, 'a 1 GiB model');
  // Backends without a heap limit accept anything.
  assertFitsBackend({ name: 'cpu', detail: '' }, fiveGiB, 'a 5 GiB model');
});

test('assertFitsBackend refuses on native what exceeds the available memory, with the numbers', { skip: nativeSkip() }, () => {
  const native: BackendInfo = { name: 'native', detail: '' };
  const saved = process.env.DIFFLORA_TEST_AVAILABLE_MEMORY;
  process.env.DIFFLORA_TEST_AVAILABLE_MEMORY = String(2 ** 30);
  try {
    assert.throws(
      () => assertFitsBackend(native, 5 * 2 ** 30, 'Llama-3.2-1B (fp32)'),
      /^Error: Llama-3\.2-1B \(fp32\) needs 5\.00 GiB \(5368709120 bytes\) of fp32 weights but only 1\.00 GiB \(1073741824 bytes\) of memory is available/,
    );
    assertFitsBackend(native, 2 ** 29, 'a 512 MiB model');
  } finally {
    if (saved === undefined) delete process.env.DIFFLORA_TEST_AVAILABLE_MEMORY;
    else process.env.DIFFLORA_TEST_AVAILABLE_MEMORY = saved;
  }
  // Without the test override: the machine's own figure, far above a 1 MiB model.
  assertFitsBackend(native, 2 ** 20, 'a 1 MiB model');
});

test('on macOS the memory a model may take counts the pages vm_stat says the OS can reclaim', () => {
  // vm_stat's layout (written here, as on an Apple Silicon Mac with 16 KiB pages): free is small, the cache inactive/purgeable.
  const out = [
    'Mach Virtual Memory Statistics: (page size of 16384 bytes)',
    'Pages free:                               10000.',
    'Pages active:                            300000.',
    'Pages inactive:                          200000.',
    'Pages speculative:                         5000.',
    'Pages throttled:                              0.',
    'Pages wired down:                        120000.',
    'Pages purgeable:                           3000.',
    '"Translation faults":                 987654321.',
    'File-backed pages:                       180000.',
    'Pages stored in compressor:              400000.',
  ].join('\n');
  assert.equal(reclaimableFromVmStat(out), (10000 + 200000 + 5000 + 3000) * 16384);
  // Anything unexpected (no page size, a line missing): no figure, the caller falls back to os.freemem().
  assert.equal(reclaimableFromVmStat(out.replace(/page size of \d+ bytes/, '')), undefined);
  assert.equal(reclaimableFromVmStat(out.replace(/^Pages purgeable.*$/m, '')), undefined);
  assert.equal(reclaimableFromVmStat(''), undefined);
});
