/**
 * The native backend's output buffer pool: a buffer is reused only when nothing outside the backend can
 * hold it. The pool on its own (take / written / give / escape), then through the real backend: tensors
 * read back, views made by the cpu slice kernel, values kept past dispose, and results unchanged when
 * buffers are reused (dirty contents must never show).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../engine/backend';
import { BufferPool } from '../../engine/backends/buffer-pool';
import { NativeBackend } from '../../engine/backends/native-backend';
import { nativeSkip } from '../helpers/native';

describe('BufferPool', () => {
  test('a buffer written once and given back is reused; its length must match', () => {
    const pool = new BufferPool();
    const a = pool.take(100);
    pool.written(a);
    pool.give(a);
    assert.equal(pool.take(99).length, 99, 'another length: a new buffer');
    assert.equal(pool.take(100), a, 'same length: reused');
    assert.deepEqual(pool.stats, { taken: 3, reused: 1 });
  });

  test('never reused: escaped, a view of it written, written twice, never written, given twice', () => {
    const pool = new BufferPool();
    const escaped = pool.take(8);
    pool.written(escaped);
    pool.escape(escaped);
    pool.give(escaped);
    assert.notEqual(pool.take(8), escaped, 'escaped (read by someone)');

    const parent = pool.take(16);
    pool.written(parent);
    pool.written(parent.subarray(4, 8)); // the cpu slice kernel's zero-copy output
    pool.give(parent);
    assert.notEqual(pool.take(16), parent, 'a view became another tensor');

    const twice = pool.take(32);
    pool.written(twice);
    pool.written(twice); // a second tensor over the same array
    pool.give(twice);
    assert.notEqual(pool.take(32), twice, 'held by two tensors');

    const unwritten = pool.take(64);
    pool.give(unwritten);
    assert.notEqual(pool.take(64), unwritten, 'never became a tensor: nobody can give it back');

    const once = pool.take(128);
    pool.written(once);
    pool.give(once);
    pool.give(once);
    const first = pool.take(128),
      second = pool.take(128);
    assert.equal(first, once);
    assert.notEqual(second, once, 'given twice, handed out once');

    const foreign = new Float32Array(256);
    pool.written(foreign);
    pool.give(foreign);
    assert.notEqual(pool.take(256), foreign, 'not made by the pool (a user array, loaded weights)');
  });

  test('limits: the largest buffer pooled, the bytes kept free; clear() drops them', () => {
    const pool = new BufferPool({ maxFreeBytes: 1024, maxBufferBytes: 512 });
    const big = pool.take(129); // 516 bytes > 512
    pool.written(big);
    pool.give(big);
    assert.notEqual(pool.take(129), big, 'over the per-buffer limit');
    const kept = [pool.take(100), pool.take(100), pool.take(100)]; // 400 bytes each, 1024 free at most
    for (const b of kept) pool.written(b);
    for (const b of kept) pool.give(b);
    const again = [pool.take(100), pool.take(100), pool.take(100)];
    assert.equal(again.filter((b) => kept.includes(b)).length, 2, 'only two fit in 1024 bytes');
    for (const b of again) pool.written(b);
    for (const b of again) pool.give(b);
    pool.clear();
    assert.ok(!kept.includes(pool.take(100)), 'cleared');
  });
});

test('BufferPool: free buffers are dropped when it sits idle', async () => {
  const pool = new BufferPool({ maxFreeBytes: 1024, maxBufferBytes: 512, idleMs: 40 });
  const a = pool.take(10);
  pool.written(a);
  pool.give(a);
  assert.ok(pool.freeMegabytes > 0);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(pool.freeMegabytes, 0, 'cleared after 40 ms without use');
  assert.notEqual(pool.take(10), a);
});

describe('BufferPool in the native backend', { skip: nativeSkip() }, () => {
  const pool = (): BufferPool => (tf.backend() as NativeBackend).pool;

  test('intermediates are reused, and reused buffers never change a result', async () => {
    await initBackend('native', () => {});
    const x = tf.tensor2d(
      Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i)),
      [64, 48],
    );
    const w = tf.tensor2d(
      Array.from({ length: 48 * 32 }, (_, i) => Math.cos(i)),
      [48, 32],
    );
    const step = () => tf.tidy(() => tf.sum(tf.softmax(tf.add(tf.matMul(tf.relu(x), w), 1)), 1));
    const first = step();
    const expected = first.dataSync().slice();
    first.dispose();
    const before = { ...pool().stats };
    for (let i = 0; i < 5; i++) {
      // Dirty the free buffers: a kernel that skipped an element would show it.
      const junk = tf.tidy(() => tf.mul(tf.matMul(tf.relu(x), w), NaN));
      junk.dispose();
      const again = step();
      assert.deepEqual(again.dataSync(), expected, `run ${i}: same values`);
      again.dispose();
    }
    const reused = pool().stats.reused - before.reused;
    assert.ok(reused > 10, `buffers reused (${reused})`);
    tf.dispose([x, w]);
  });

  test('values read back or viewed by another tensor are never overwritten after dispose', async () => {
    await initBackend('native', () => {});
    const a = tf.tidy(() => tf.add(tf.fill([1000], 1), tf.fill([1000], 2)));
    const read = a.dataSync(); // the backend's own array, kept by the caller
    a.dispose();
    const b = tf.tidy(() => tf.add(tf.fill([4, 250], 5), tf.fill([4, 250], 5)));
    const view = tf.slice(b, [1, 0], [1, 250]); // contiguous: the cpu kernel's subarray of b's values
    b.dispose();
    for (let i = 0; i < 5; i++) tf.tidy(() => tf.add(tf.fill([1000], -7), tf.fill([1000], 0)).dataSync());
    assert.ok(
      read.every((v) => v === 3),
      'the array read before dispose still holds 3',
    );
    assert.ok(
      view.dataSync().every((v) => v === 10),
      'the slice still holds 10',
    );
    view.dispose();
  });
});
