/**
 * The native backend's BLAS threads: the default chosen by GEMM size and core count, the user's
 * --threads / DIFFLORA_THREADS taking precedence, and the addon applying the choice per GEMM.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../engine/backends/native-addon';
import {
  applyThreads,
  chooseThreads,
  describeThreads,
  MIN_WORK_FOR_THREADS,
  setRequestedThreads,
  setWorkload,
  THREADS_ENV,
} from '../../engine/backends/native';
import { nativeSkip } from '../helpers/native';

describe('the thread default', () => {
  test('by core count: 1 core one thread; more, up to 8 for large GEMMs and 1 for small ones', () => {
    delete process.env[THREADS_ENV];
    assert.deepEqual({ ...chooseThreads(1), why: '' }, { threads: 1, why: '' });
    for (const [cores, threads] of [
      [2, 2],
      [4, 4],
      [16, 8],
    ]) {
      const c = chooseThreads(cores);
      assert.equal(c.threads, threads, `${cores} cores`);
      assert.deepEqual(c.minWork, MIN_WORK_FOR_THREADS);
      assert.match(describeThreads(c), new RegExp(`^1-${threads} BLAS threads \\(default for ${cores} cores: `));
    }
    // The boundaries: in inference the small model's T=128 MLP product above; in training the default
    // model's MLP products (8 x 128 rows, 192 x 512) below, the 1B shape's q at T=128 above.
    const w = MIN_WORK_FOR_THREADS;
    assert.ok(128 * 256 * 704 >= w.inference && 1024 * 192 * 512 < w.training && 128 * 2048 * 2048 >= w.training);
  });

  test('--threads, then DIFFLORA_THREADS, fix the count for every GEMM', () => {
    process.env[THREADS_ENV] = '3';
    assert.deepEqual(chooseThreads(16), { threads: 3, why: THREADS_ENV });
    setRequestedThreads(2);
    assert.deepEqual(chooseThreads(16), { threads: 2, why: '--threads' });
    assert.equal(describeThreads(chooseThreads(16)), '2 BLAS threads (--threads)');
    setRequestedThreads(undefined);
    process.env[THREADS_ENV] = 'two';
    assert.throws(() => chooseThreads(16), /DIFFLORA_THREADS=two: expected an integer >= 1/);
    delete process.env[THREADS_ENV];
  });
});

describe('the addon applies the choice per GEMM', { skip: nativeSkip() }, () => {
  test('by size when automatic, the fixed count otherwise', () => {
    const { addon } = loadNativeAddon();
    const gemm = (m: number, n: number, k: number): number => {
      addon.matMul(new Float32Array(m * k), new Float32Array(k * n), new Float32Array(m * n), 1, 1, m, n, k, false, false);
      return addon.threads();
    };
    applyThreads(addon, { threads: 2, minWork: { inference: 1e6, training: 8e6 }, why: '' });
    assert.equal(gemm(8, 8, 8), 1);
    assert.equal(gemm(100, 100, 100), 2); // exactly minWork
    assert.equal(gemm(99, 100, 100), 1);
    setWorkload('training'); // what the trainer does around its steps
    assert.equal(gemm(100, 100, 100), 1);
    assert.equal(gemm(200, 200, 200), 2);
    setWorkload('inference');
    assert.equal(gemm(100, 100, 100), 2);
    applyThreads(addon, { threads: 1, why: '' });
    assert.equal(gemm(200, 200, 200), 1);
    applyThreads(addon, { threads: 2, why: '' });
    assert.equal(gemm(8, 8, 8), 2);
  });
});

describe('the BLAS worker timeout', { skip: nativeSkip() }, () => {
  test('idle OpenBLAS workers spin 2^16 cycles, not 2^28, unless the user set OPENBLAS_THREAD_TIMEOUT', () => {
    const preset = process.env.OPENBLAS_THREAD_TIMEOUT;
    loadNativeAddon();
    assert.equal(process.env.OPENBLAS_THREAD_TIMEOUT, preset ?? '16');
  });
});
