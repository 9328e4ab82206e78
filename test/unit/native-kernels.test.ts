/**
 * The native backend's kernels against tfjs's cpu backend, on seeded random inputs: every op the
 * addon implements, with broadcasting, transposes, size-0 and size-1 dimensions and non-finite
 * values, and gradients through composites. Each case also checks that the addon actually ran (a
 * silent fallback to the cpu kernel would make the comparison trivial). The engine's fused ops
 * (engine/model/fused.ts) run their native kernel here and tfjs's composite on cpu.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients, initBackend } from '../../engine/backend';
import { loadNativeAddon, NativeAddon } from '../../engine/backends/native-addon';
import { NativeBackend } from '../../engine/backends/native-backend';
import {
  adamwUpdate,
  AdamWStep,
  addLowRank,
  attentionProbabilities,
  crossEntropy,
  differentialAttention,
  dropout,
  rmsNorm,
  rope,
  swiglu,
} from '../../engine/model/fused';
import { inverseFrequencies, ropeTables, rotateHalfMatrix } from '../../engine/model/rope';
import { nativeSkip } from '../helpers/native';

const skip = nativeSkip();

/** Deterministic values in [-scale, scale), with specials sprinkled in when asked. */
function rand(shape: number[], seed: number, opts: { scale?: number; specials?: boolean; positive?: boolean } = {}): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0;
  const specials = [NaN, Infinity, -Infinity, 0, -0];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = s / 4294967296;
    v[i] = opts.positive ? u * (opts.scale ?? 1) + 1e-3 : (u * 2 - 1) * (opts.scale ?? 1);
    if (opts.specials && i % 7 === 3) v[i] = specials[(i >> 3) % specials.length];
  }
  return tf.tensor(v, shape);
}

interface Out {
  shape: number[];
  dtype: string;
  data: ArrayLike<number>;
}

/** Runs fn on a backend and reads its outputs back. */
async function runOn(backend: 'cpu' | 'native', fn: () => tf.Tensor | tf.Tensor[]): Promise<Out[]> {
  await initBackend(backend, () => {});
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const read = list.map((t) => ({ shape: t.shape, dtype: t.dtype, data: t.dataSync() }));
  tf.dispose(list);
  return read;
}

function assertClose(native: Out[], cpu: Out[], what: string, rtol = 1e-5): void {
  assert.equal(native.length, cpu.length);
  native.forEach((n, k) => {
    const c = cpu[k];
    assert.deepEqual(n.shape, c.shape, `${what}: shape`);
    assert.equal(n.dtype, c.dtype, `${what}: dtype`);
    for (let i = 0; i < c.data.length; i++) {
      const x = n.data[i],
        y = c.data[i];
      if (Number.isNaN(y) || !Number.isFinite(y)) {
        assert.ok(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)), `${what}[${i}]: native ${x}, cpu ${y}`);
      } else {
        assert.ok(Math.abs(x - y) <= rtol * Math.max(1, Math.abs(y)), `${what}[${i}]: native ${x}, cpu ${y}`);
      }
    }
  });
}

let addon: NativeAddon;
const calls = new Map<string, number>();

/** fn on both backends, compared; `via` names the addon function that must have run on native. */
async function same(what: string, via: keyof NativeAddon | null, fn: () => tf.Tensor | tf.Tensor[], rtol?: number): Promise<void> {
  const cpu = await runOn('cpu', fn);
  calls.clear();
  const native = await runOn('native', fn);
  if (via) assert.ok((calls.get(via) ?? 0) > 0, `${what}: addon.${via} did not run`);
  assertClose(native, cpu, what, rtol);
}

function permutations(xs: number[]): number[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('native kernels = tfjs cpu kernels', { skip }, () => {
  before(async () => {
    addon = loadNativeAddon().addon;
    const a = addon as unknown as Record<string, unknown>;
    for (const k of Object.keys(a)) {
      const f = a[k];
      if (typeof f === 'function')
        a[k] = (...args: unknown[]) => {
          calls.set(k, (calls.get(k) ?? 0) + 1);
          return f(...args);
        };
    }
    await initBackend('native', () => {});
    await ensureGradients();
  });

  test('matMul: every transpose combination, rank 2 and 3, with size-0 and size-1 dimensions', async () => {
    for (const [m, n, k] of [
      [5, 7, 3],
      [1, 4, 9],
      [6, 1, 1],
      [33, 17, 64],
      [0, 4, 3],
      [3, 0, 4],
      [3, 4, 0],
    ]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          for (const batch of [[], [3]]) {
            const a = () => rand([...batch, ...(ta ? [k, m] : [m, k])], m * 31 + k);
            const b = () => rand([...batch, ...(tb ? [n, k] : [k, n])], n * 17 + k + 1);
            await same(`matMul ${batch} m${m} n${n} k${k} tA ${ta} tB ${tb}`, m * n * k > 0 ? 'matMul' : null, () =>
              tf.matMul(a(), b(), ta, tb),
            );
          }
        }
      }
    }
  });

  test('matMul: batch dimensions broadcast', async () => {
    const cases: [number[], number[]][] = [
      [
        [4, 5, 6],
        [1, 6, 3],
      ],
      [
        [1, 5, 6],
        [4, 6, 3],
      ],
      [
        [2, 3, 5, 6],
        [6, 3],
      ],
      [
        [5, 6],
        [2, 3, 6, 3],
      ],
      [
        [2, 1, 5, 6],
        [3, 6, 2],
      ],
    ];
    for (const [sa, sb] of cases) await same(`matMul ${sa} x ${sb}`, 'matMul', () => tf.matMul(rand(sa, 1), rand(sb, 2)));
  });

  test('matMul of one row (sgemv): large, broadcast, and on a recycled output buffer that held NaN', async () => {
    // Threaded sgemv on a decode-sized product, both layouts of b.
    for (const tb of [false, true])
      await same(`matMul m1 n300 k2048 tB ${tb}`, 'matMul', () =>
        tf.matMul(rand([1, 2048], 5), rand(tb ? [300, 2048] : [2048, 300], 6), false, tb),
      );
    await same('matMul [1,1,6] x [4,6,3]', 'matMul', () => tf.matMul(rand([1, 1, 6], 7), rand([4, 6, 3], 8)));
    // A [1, 300] of NaN (never read, so it stays the pool's) goes back to the pool when disposed; the
    // next [1, 300] output reuses it.
    const pool = (tf.backend() as NativeBackend).pool;
    const nan = tf.div(tf.zeros([1, 300]), tf.zeros([1, 300]));
    const a = rand([1, 64], 9),
      b = rand([64, 300], 10);
    nan.dispose();
    const reused = pool.stats.reused;
    const y = tf.matMul(a, b);
    assert.equal(pool.stats.reused, reused + 1, 'the product did not get the recycled buffer');
    assert.ok(y.dataSync().every(Number.isFinite), 'the output kept NaN from the recycled buffer');
    tf.dispose([a, b, y]);
  });

  test('matMul: NaN and Inf propagate as on cpu', async () => {
    await same('matMul specials', 'matMul', () => tf.matMul(rand([6, 9], 3, { specials: true }), rand([9, 5], 4, { specials: true })));
  });

  test('fused matMul: bias and each activation', async () => {
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const) {
      for (const biasShape of [[7], [5, 7], null]) {
        for (const [ta, tb] of [
          [false, false],
          [true, true],
        ]) {
          await same(`fused ${activation} bias ${biasShape} ${ta}/${tb}`, 'matMul', () =>
            tf.fused.matMul({
              a: rand(ta ? [4, 5] : [5, 4], 5, { scale: 3 }),
              b: rand(tb ? [7, 4] : [4, 7], 6, { scale: 3 }),
              transposeA: ta,
              transposeB: tb,
              bias: biasShape ? rand(biasShape, 7) : undefined,
              activation,
              preluActivationWeights: activation === 'prelu' ? rand([7], 8) : undefined,
              leakyreluAlpha: 0.3,
            }),
          );
        }
      }
    }
  });

  const binaryOps: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['add', tf.add],
    ['sub', tf.sub],
    ['mul', tf.mul],
    ['div', tf.div],
    ['maximum', tf.maximum],
    ['minimum', tf.minimum],
    ['squaredDifference', tf.squaredDifference],
    ['prelu', tf.prelu],
  ];
  const shapePairs: [number[], number[]][] = [
    [
      [2, 3, 4],
      [2, 3, 4],
    ],
    [[2, 3, 4], [4]],
    [[4], [2, 3, 4]],
    [
      [2, 1, 4],
      [1, 3, 1],
    ],
    [[], [2, 3]],
    [[3, 1], []],
    [[], []],
    [
      [0, 3],
      [1, 3],
    ],
    [
      [2, 0, 3],
      [1, 1, 3],
    ],
    [[1], [5]],
    [
      [4, 1, 1, 5],
      [3, 1],
    ],
    [
      [3, 4],
      [2, 3, 4],
    ],
    [
      [1, 1],
      [1, 1],
    ],
  ];

  test('binary ops: broadcasting, scalars, size-0 and size-1 dimensions', async () => {
    for (const [name, op] of binaryOps) {
      for (const [sa, sb] of shapePairs) {
        const size = [...tf.backend_util.assertAndGetBroadcastShape(sa, sb)].reduce((x, y) => x * y, 1);
        await same(`${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, size > 0 ? 'binary' : null, () =>
          op(rand(sa, 11, { scale: 4 }), rand(sb, 12, { scale: 4 })),
        );
      }
    }
  });

  test('binary ops: NaN, Inf, -Inf, 0 and -0 on both sides', async () => {
    for (const [name, op] of binaryOps) {
      await same(`${name} specials`, 'binary', () => op(rand([8, 9], 13, { specials: true }), rand([8, 9], 14, { specials: true })));
      await same(`${name} specials broadcast`, 'binary', () => op(rand([8, 9], 15, { specials: true }), rand([9], 16, { specials: true })));
    }
  });

  test('unary ops, with non-finite inputs', async () => {
    const ops: [string, (x: tf.Tensor) => tf.Tensor, { positive?: boolean; scale?: number }][] = [
      ['exp', tf.exp, { scale: 20 }],
      ['neg', tf.neg, {}],
      ['rsqrt', tf.rsqrt, { positive: true, scale: 50 }],
      ['rsqrt of negatives', tf.rsqrt, {}],
      ['sqrt', tf.sqrt, { positive: true }],
      ['square', tf.square, { scale: 1e3 }],
      ['sigmoid', tf.sigmoid, { scale: 30 }],
      ['relu', tf.relu, {}],
      ['relu6', tf.relu6, { scale: 10 }],
      ['elu', tf.elu, { scale: 5 }],
      ['leakyRelu', (x) => tf.leakyRelu(x, 0.2), {}],
      ['log', tf.log, { positive: true, scale: 1e4 }],
      ['log of negatives', tf.log, {}],
      ['tanh', tf.tanh, { scale: 5 }],
      ['abs', tf.abs, {}],
      ['floor', tf.floor, { scale: 10 }],
      ['reciprocal', tf.reciprocal, {}],
    ];
    for (const [name, op, opts] of ops) {
      await same(name, 'unary', () => op(rand([3, 50], 21, opts)));
      await same(`${name} specials`, 'unary', () => op(rand([60], 22, { ...opts, specials: true })));
      await same(`${name} scalar and size 0`, 'unary', () => [op(rand([], 23, opts)), op(rand([0, 4], 24, opts))]);
    }
    assert.deepEqual(addon.unaryOps.slice().sort(), [
      'Abs',
      'Elu',
      'Exp',
      'Floor',
      'LeakyRelu',
      'Log',
      'Neg',
      'Reciprocal',
      'Relu',
      'Relu6',
      'Rsqrt',
      'Sigmoid',
      'Sqrt',
      'Square',
      'Tanh',
    ]);
  });

  test('transpose: every permutation of a rank-4 tensor, and size-0 / size-1 dimensions', async () => {
    for (const perm of permutations([0, 1, 2, 3]))
      await same(`transpose ${perm}`, 'transpose', () => tf.transpose(rand([2, 3, 4, 5], 31), perm));
    await same('transpose 2-D', 'transpose', () => tf.transpose(rand([37, 53], 32)));
    await same('transpose with size-1 dims', 'transpose', () => tf.transpose(rand([1, 3, 1, 5], 33), [3, 2, 0, 1]));
    await same('transpose with a size-0 dim', 'transpose', () => tf.transpose(rand([0, 3, 2], 34), [2, 0, 1]));
  });

  test('softmax: masked entries, large values, non-finite rows, size-1 last axis', async () => {
    const masked = () => {
      const x = rand([6, 10], 41, { scale: 5 });
      const mask = tf.tensor2d(
        Array.from({ length: 60 }, (_, i) => (i % 10 > Math.floor(i / 10) + 2 ? -1e9 : 0)),
        [6, 10],
      );
      return tf.add(x, mask);
    };
    await same('softmax causal mask -1e9', 'softmax', () => tf.softmax(masked()));
    await same('softmax large values', 'softmax', () => tf.softmax(rand([4, 3, 16], 42, { scale: 1e4 })));
    await same('softmax specials', 'softmax', () => tf.softmax(rand([5, 7], 43, { specials: true })));
    await same('softmax size-1 last axis', 'softmax', () => tf.softmax(rand([4, 1], 44)));
    await same('softmax explicit last dim', 'softmax', () => tf.softmax(rand([2, 3, 8], 45), 2));
  });

  test('reductions: sum, max, min, mean over inner, outer and middle axes, keepDims, size 0', async () => {
    const reducers: [string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor][] = [
      ['sum', tf.sum],
      ['max', tf.max],
      ['min', tf.min],
      ['mean', tf.mean],
    ];
    const axesList: (number | number[] | undefined)[] = [-1, 0, 1, [1, 2], [0, 1], undefined, [], [0, 1, 2]];
    for (const [name, r] of reducers) {
      for (const axis of axesList) {
        for (const keep of [false, true]) {
          await same(`${name} axis ${JSON.stringify(axis)} keepDims ${keep}`, 'reduce', () =>
            r(rand([4, 5, 6], 51, { scale: 3 }), axis, keep),
          );
        }
      }
      await same(`${name} non-consecutive axes (cpu path)`, null, () => r(rand([4, 5, 6], 52), [0, 2]));
      await same(`${name} specials`, 'reduce', () => r(rand([6, 7], 53, { specials: true }), -1));
      await same(`${name} scalar`, 'reduce', () => r(rand([], 54)));
    }
    await same('sum over a size-0 axis', 'reduce', () => tf.sum(rand([3, 0], 55), 1));
  });

  test('gather: axis 0 and 1, indices of rank 2; out-of-range indices fail as on cpu', async () => {
    const idx = () =>
      tf.tensor2d(
        [
          [3, 0],
          [1, 3],
          [2, 2],
        ],
        [3, 2],
        'int32',
      );
    await same('gather axis 0', 'gather', () => tf.gather(rand([4, 6], 61), idx()));
    await same('gather axis 1', 'gather', () => tf.gather(rand([2, 4, 5], 62), idx(), 1));
    await same('gather embedding rows', 'gather', () => tf.gather(rand([50, 8], 63), tf.tensor1d([49, 0, 7, 7], 'int32')));
    for (const backend of ['cpu', 'native'] as const) {
      await initBackend(backend, () => {});
      assert.throws(() => tf.gather(rand([4, 6], 64), tf.tensor1d([4], 'int32')), /GatherV2: the index value 4 is not in \[0, 3\]/);
    }
  });

  test('concat along each axis, with empty and single parts', async () => {
    for (const axis of [0, 1, 2]) {
      const shape = (w: number) => [2, 3, 4].map((d, i) => (i === axis ? w : d));
      await same(`concat axis ${axis}`, 'concat', () => tf.concat([rand(shape(2), 71), rand(shape(1), 72), rand(shape(3), 73)], axis));
      await same(`concat axis ${axis} with an empty part`, 'concat', () =>
        tf.concat([rand(shape(2), 74), rand(shape(0), 75), rand(shape(3), 76)], axis),
      );
    }
    await same('concat single part', null, () => tf.concat([rand([2, 3], 77)], 1));
    await same('concat all empty', null, () => tf.concat([rand([0, 3], 78), rand([0, 3], 79)], 0));
  });

  test('slice: strided, contiguous (cpu view), size 0', async () => {
    await same('slice strided', 'slice', () => tf.slice(rand([4, 5, 6], 81), [1, 2, 1], [2, 3, 4]));
    await same('slice last position of each row', 'slice', () => tf.slice(rand([3, 7, 5], 82), [0, 6, 0], [3, 1, -1]));
    await same('slice contiguous rows', null, () => tf.slice(rand([4, 5], 83), [1, 0], [2, 5]));
    await same('slice size 0', null, () => tf.slice(rand([4, 5], 84), [1, 1], [0, 3]));
  });

  test('gradients through a composite match the cpu backend', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
      const h = tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true), b);
      const p = tf.softmax(tf.mul(tf.sigmoid(h), tf.relu(h)));
      const n = tf.mul(h, tf.rsqrt(tf.add(tf.mean(tf.square(h), -1, true), 1e-5)));
      return tf.sum(tf.add(tf.mul(p, tf.transpose(tf.transpose(n))), tf.maximum(h, 0.1)));
    };
    await same('grad of a composite', 'matMul', () => tf.grads(f)([rand([6, 8], 91), rand([5, 8], 92), rand([5], 93)]), 1e-4);
    await same(
      'grad through gather and batched matMul',
      'gather',
      () =>
        tf.grads((t: tf.Tensor, q: tf.Tensor) =>
          tf.sum(tf.matMul(tf.reshape(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32')), [3, 2, 2]), q as tf.Tensor3D)),
        )([rand([4, 4], 94), rand([3, 2, 5], 95)]),
      1e-4,
    );
  });
  /** A causal mask [M, N] (-1e9 above the diagonal, offset so the last query sees every key), row `full` masked everywhere. */
  const causal = (M: number, N: number, full = -1) => {
    const off = N - M;
    return tf.tensor2d(
      Array.from({ length: M * N }, (_, i) => {
        const r = Math.floor(i / N),
          c = i % N;
        return r === full || c > r + off ? -1e9 : 0;
      }),
      [M, N],
    );
  };

  /**
   * Attention cases: batch dims, M, N, d, mask shape ('2d' [M, N], 'lead1' [1, M, N], 'full' the output's
   * shape, 'rep3' [M / 3, N] repeated down the rows as for 3 stacked GQA query heads).
   */
  const attentionCases: [number[], number, number, number, '2d' | 'lead1' | 'full' | 'rep3'][] = [
    [[2], 6, 5, 4, 'rep3'],
    [[1], 30, 40, 8, 'rep3'],
    [[3], 5, 7, 4, '2d'],
    [[], 6, 6, 8, '2d'],
    [[1], 1, 1, 1, '2d'],
    [[2, 2], 4, 9, 3, 'full'],
    [[4], 1, 5, 2, 'lead1'],
    [[2], 7, 3, 1, '2d'],
    [[1], 12, 12, 16, 'full'],
    [[3], 2, 1, 5, 'lead1'],
  ];
  const attentionInputs = ([batch, M, N, d, maskKind]: (typeof attentionCases)[number], seed: number) => {
    const q = rand([...batch, M, d], seed, { scale: 3 }),
      kT = rand([...batch, d, N], seed + 1, { scale: 3 });
    const m2 = maskKind === 'rep3' ? causal(M / 3, N) : causal(M, N, M > 2 ? 1 : -1); // with M > 2, row 1 is fully masked
    const full = () =>
      tf.add(tf.zeros([...batch, M, N]), tf.mul(m2, tf.cast(tf.greater(rand([...batch, M, N], seed + 2), -0.8), 'float32')));
    const mask = maskKind === '2d' || maskKind === 'rep3' ? m2 : maskKind === 'lead1' ? tf.reshape(m2, [1, M, N]) : full();
    return { q, kT, mask, weights: rand([...batch, M, N], seed + 3) };
  };

  test('fused attentionProbabilities = softmax(scale * q kT + mask), values', async () => {
    for (const [i, c] of attentionCases.entries()) {
      const scale = 1 / Math.sqrt(c[3]);
      await same(`attentionProbabilities ${JSON.stringify(c)}`, 'attentionProbabilities', () => {
        const { q, kT, mask } = attentionInputs(c, 100 + 10 * i);
        return attentionProbabilities(q, kT, scale, mask);
      });
    }
  });

  test('fused attentionProbabilities: masked entries exactly 0, a fully masked row finite', async () => {
    await initBackend('native', () => {});
    calls.clear();
    const p = tf.tidy(() =>
      attentionProbabilities(rand([2, 5, 8], 201, { scale: 30 }), rand([2, 8, 6], 202, { scale: 30 }), 0.125, causal(5, 6, 2)),
    );
    assert.ok((calls.get('attentionProbabilities') ?? 0) > 0, 'the native kernel ran');
    const v = p.dataSync();
    p.dispose();
    for (let b = 0; b < 2; b++) {
      for (let r = 0; r < 5; r++) {
        const row = Array.from(v.subarray((b * 5 + r) * 6, (b * 5 + r + 1) * 6));
        assert.ok(row.every(Number.isFinite), `row ${r} finite: ${row}`);
        assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-5, `row ${r} sums to 1`);
        if (r !== 2)
          row.forEach((x, c) => {
            if (c > r + 1) assert.equal(x, 0, `masked [${b}, ${r}, ${c}] is exactly 0`);
          });
      }
    }
  });

  test('addon.attentionProbabilities refuses a mask whose rows do not divide the output rows', () => {
    const f = (n: number) => new Float32Array(n);
    // batch 2 x m 3 = 6 output rows of 4 keys, k 2: 4 mask rows divide neither; 0 rows cannot repeat.
    for (const maskRows of [4, 0]) {
      assert.throws(
        () => addon.attentionProbabilities(f(12), f(16), f(maskRows * 4), f(24), 2, 3, 4, 2, maskRows, 1),
        /the mask's rows must divide batch \* m/,
      );
    }
    assert.throws(
      () => addon.attentionProbabilities(f(12), f(16), f(4), f(24), 2, 3, 4, 2, 3, 1),
      /argument 2 must be an array of at least 12/,
    );
  });

  test('large fresh outputs are advised huge pages; adviseHugePages keeps contents and checks its argument', () => {
    const before = calls.get('adviseHugePages') ?? 0;
    // 8 MB (a length no earlier test made, so the pool has none free): advised once.
    const big = tf.tidy(() => tf.sum(tf.matMul(tf.ones([1031, 16]), tf.ones([16, 2039]))).dataSync()[0]);
    assert.equal(big, 1031 * 2039 * 16);
    assert.equal((calls.get('adviseHugePages') ?? 0) - before, 1);
    tf.tidy(() => tf.matMul(tf.ones([3, 5]), tf.ones([5, 7])).dataSync()); // small: not advised
    assert.equal((calls.get('adviseHugePages') ?? 0) - before, 1);

    const data = new Float32Array(3 << 20).map((_, i) => i % 1000);
    addon.adviseHugePages(data);
    assert.ok(data.every((v, i) => v === i % 1000));
    assert.throws(() => addon.adviseHugePages(new Int32Array(4) as unknown as Float32Array), /argument 0 must be a Float32Array/);
  });

  test('fused attentionProbabilities: the skipped masked columns (large, non-finite scores, odd masks)', async () => {
    // The kernel multiplies only the columns a causal row can see when a bound proves the rest give
    // exact zeros; these inputs break that bound or the mask's shape, and must match the composite.
    const M = 40,
      N = 48,
      d = 8;
    const q = () => rand([2, M, d], 601, { scale: 3 }),
      kT = () => rand([2, d, N], 602, { scale: 3 });
    const withEntry = (mask: tf.Tensor, row: number, col: number, value: number) => {
      const v = mask.dataSync().slice();
      v[row * N + col] = value;
      return tf.tensor(v, mask.shape);
    };
    const cases: [string, () => tf.Tensor][] = [
      ['causal, offset 8', () => attentionProbabilities(q(), kT(), 0.35, causal(M, N))],
      // |q| about 1e9 along a dimension no key has: small scores, but the bound fails, so nothing is skipped.
      [
        'the bound fails',
        () => {
          const far = tf.concat([q(), tf.fill([2, M, 1], 1e9)], 2);
          return attentionProbabilities(far, tf.concat([kT(), tf.zeros([2, 1, N])], 1), 0.35, causal(M, N));
        },
      ],
      ['NaN and inf in q', () => attentionProbabilities(rand([2, M, d], 604, { scale: 3, specials: true }), kT(), 0.35, causal(M, N))],
      ['NaN in a masked tail', () => attentionProbabilities(q(), kT(), 0.35, withEntry(causal(M, N), 5, 40, NaN))],
      ['NaN among the visible keys', () => attentionProbabilities(q(), kT(), 0.35, withEntry(causal(M, N), 6, 3, NaN))],
      ['-inf in the tail', () => attentionProbabilities(q(), kT(), 0.35, withEntry(causal(M, N), 7, 47, -Infinity))],
      ['a non-zero visible entry', () => attentionProbabilities(q(), kT(), 0.35, withEntry(causal(M, N), 9, 2, -3))],
      ['masked in the middle only', () => attentionProbabilities(q(), kT(), 0.35, withEntry(tf.zeros([M, N]), 4, 20, -1e9))],
      ['no keys', () => attentionProbabilities(rand([2, M, 0], 605), rand([2, 0, N], 606), 0.35, causal(M, N))],
    ];
    for (const [name, fn] of cases) await same(`attentionProbabilities ${name}`, 'attentionProbabilities', fn);
  });

  test('fused attentionProbabilities: gradients w.r.t. q, kT and mask', async () => {
    for (const [i, c] of attentionCases.entries()) {
      const scale = 1 / Math.sqrt(c[3]);
      calls.clear();
      await same(
        `attentionProbabilities grads ${JSON.stringify(c)}`,
        'attentionProbabilitiesGrad',
        () => {
          const { q, kT, mask, weights } = attentionInputs(c, 300 + 10 * i);
          return tf.grads((a: tf.Tensor, b: tf.Tensor, m: tf.Tensor) => tf.sum(tf.mul(attentionProbabilities(a, b, scale, m), weights)))([
            q,
            kT,
            mask,
          ]);
        },
        1e-4,
      );
    }
  });

  test('fused rmsNorm = x / sqrt(mean(x^2) + eps) * w: values and gradients w.r.t. x and w', async () => {
    const shapes = [[4, 16], [1, 1], [3, 1], [1, 7], [2, 3, 5], [2, 1, 3, 8], [5], [0, 4]];
    for (const [i, shape] of shapes.entries()) {
      const D = shape[shape.length - 1];
      for (const eps of [1e-6, 1e-5, 0.5]) {
        const x = () => rand(shape, 400 + i, { scale: i % 2 ? 40 : 2 }),
          w = () => rand([D], 450 + i, { scale: 2 });
        const size = shape.reduce((a, b) => a * b, 1);
        await same(`rmsNorm ${JSON.stringify(shape)} eps ${eps}`, size > 0 ? 'rmsNorm' : null, () => rmsNorm(x(), w() as tf.Tensor1D, eps));
        if (size === 0) continue;
        const grads = () =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, b as tf.Tensor1D, eps), rand(shape, 470 + i))))([x(), w()]);
        await same(`rmsNorm grads ${JSON.stringify(shape)} eps ${eps}`, 'rmsNormGradX', grads, 1e-4);
        await same(`rmsNorm grad w ${JSON.stringify(shape)} eps ${eps}`, 'rmsNormGradW', grads, 1e-4);
      }
    }
    // A zero row: x / sqrt(eps), no NaN.
    await same('rmsNorm of a zero row', 'rmsNorm', () => rmsNorm(tf.zeros([2, 6]), rand([6], 480) as tf.Tensor1D, 1e-6));
  });

  test('fused addLowRank = base + s xa bT: values (size 0/1, non-finite) and gradients w.r.t. base, xa and bT', async () => {
    const cases = [
      [5, 3, 7],
      [1, 1, 1],
      [16, 8, 24],
      [0, 2, 3],
      [4, 0, 6],
      [3, 2, 0],
    ];
    for (const [i, [n, r, cols]] of cases.entries()) {
      for (const specials of [false, true]) {
        const inputs = () =>
          [rand([n, cols], 960 + i, { specials }), rand([n, r], 965 + i, { specials }), rand([r, cols], 970 + i)] as tf.Tensor2D[];
        await same(`addLowRank ${n}x${r}x${cols} specials ${specials}`, 'addLowRank', () => {
          const [b, x, bt] = inputs();
          return addLowRank(b, x, bt, 0.75);
        });
        if (n * cols === 0 || specials) continue;
        await same(
          `addLowRank grads ${n}x${r}x${cols}`,
          'addLowRank',
          () =>
            tf.grads((b: tf.Tensor, x: tf.Tensor, bt: tf.Tensor) =>
              tf.sum(tf.mul(addLowRank(b as tf.Tensor2D, x as tf.Tensor2D, bt as tf.Tensor2D, 2.5), rand([n, cols], 975 + i))),
            )(inputs()),
          1e-4,
        );
      }
    }
  });

  test('fused differentialAttention = relu?(A1 - lambda A2): values, with non-finite entries and size-0/1 shapes', async () => {
    const shapes = [[2, 3, 5], [1, 1], [7], [0, 4], [2, 1, 16, 9]];
    for (const [i, shape] of shapes.entries()) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const relu of [false, true]) {
        for (const lam of [0.3, -0.7, 0]) {
          for (const specials of [false, true]) {
            await same(
              `differentialAttention ${JSON.stringify(shape)} relu ${relu} lambda ${lam} specials ${specials}`,
              n > 0 ? 'differentialAttention' : null,
              () => differentialAttention(rand(shape, 500 + i, { specials }), rand(shape, 510 + i, { specials }), tf.scalar(lam), relu),
            );
          }
        }
      }
    }
  });

  test('fused differentialAttention: gradients w.r.t. A1, A2 and lambda (as the composite on cpu)', async () => {
    for (const [i, shape] of [
      [2, 3, 5],
      [1, 1],
      [3, 17],
      [2, 2, 4, 4],
    ].entries()) {
      for (const relu of [false, true]) {
        for (const specials of [false, true]) {
          await same(
            `differentialAttention grads ${JSON.stringify(shape)} relu ${relu} specials ${specials}`,
            'differentialAttentionGrad',
            () =>
              tf.grads((a: tf.Tensor, b: tf.Tensor, l: tf.Tensor) =>
                tf.sum(tf.mul(differentialAttention(a, b, l as tf.Scalar, relu), rand(shape, 530 + i))),
              )([rand(shape, 520 + i, { specials }), rand(shape, 525 + i, { specials }), tf.scalar(0.4 - 0.3 * i)]),
            1e-4,
          );
        }
      }
    }
  });

  test('fused swiglu = gate * sigmoid(gate) * up: values and gradients, non-finite and size-0/1', async () => {
    const shapes = [[4, 16], [1, 1], [5], [0, 3], [2, 3, 7]];
    for (const [i, shape] of shapes.entries()) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const specials of [false, true]) {
        const gate = () => rand(shape, 600 + i, { scale: 12, specials }),
          up = () => rand(shape, 610 + i, { scale: 3, specials });
        await same(`swiglu ${JSON.stringify(shape)} specials ${specials}`, n > 0 ? 'swiglu' : null, () => swiglu(gate(), up()));
        if (n === 0) continue;
        await same(
          `swiglu grads ${JSON.stringify(shape)} specials ${specials}`,
          'swigluGrad',
          () => tf.grads((g: tf.Tensor, u: tf.Tensor) => tf.sum(tf.mul(swiglu(g, u), rand(shape, 620 + i))))([gate(), up()]),
          1e-4,
        );
      }
    }
  });

  // x [B, T, heads, d] and the model's own tables for positions offset .. offset + T.
  const ropeCases: [number[], number][] = [
    [[2, 3, 4, 8], 0],
    [[1, 1, 1, 2], 5],
    [[1, 6, 3, 16], 40],
    [[0, 2, 2, 4], 0],
    [[3, 1, 2, 64], 1000],
  ];
  const ropeInputs = ([B, T, n, d]: number[], offset: number, seed: number, specials = false) => {
    const { cos, sin } = ropeTables(inverseFrequencies(d, 10000), offset, T);
    return { x: rand([B, T, n, d], seed, { scale: 4, specials }) as tf.Tensor4D, cos, sin, rotate: rotateHalfMatrix(d) };
  };

  test('fused rope = x cos + rotate_half(x) sin: values against the matMul composite and against split halves', async () => {
    for (const [i, [shape, offset]] of ropeCases.entries()) {
      const n = shape.reduce((a, b) => a * b, 1);
      await same(`rope ${JSON.stringify(shape)} offset ${offset}`, n > 0 ? 'rope' : null, () => {
        const { x, cos, sin, rotate } = ropeInputs(shape, offset, 700 + i);
        return rope(x, cos, sin, rotate);
      });
    }
    // With NaN and Inf the composite's matMul spreads them over the whole head (0 * Inf); the kernel
    // keeps them where rotate_half puts them, as the formula with split halves on cpu.
    const shape = [2, 3, 2, 8];
    const cpu = await runOn('cpu', () => {
      const { x, cos, sin } = ropeInputs(shape, 3, 750, true);
      const [x1, x2] = tf.split(x, 2, -1);
      return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], -1), sin));
    });
    calls.clear();
    const native = await runOn('native', () => {
      const { x, cos, sin, rotate } = ropeInputs(shape, 3, 750, true);
      return rope(x, cos, sin, rotate);
    });
    assert.ok((calls.get('rope') ?? 0) > 0, 'addon.rope ran');
    assertClose(native, cpu, 'rope with non-finite inputs');
  });

  test('fused rope: gradients w.r.t. x, cos and sin', async () => {
    for (const [i, [shape, offset]] of ropeCases.entries()) {
      if (shape.reduce((a, b) => a * b, 1) === 0) continue;
      await same(
        `rope grads ${JSON.stringify(shape)}`,
        'rope',
        () => {
          const { x, cos, sin, rotate } = ropeInputs(shape, offset, 760 + i);
          return tf.grads((a: tf.Tensor, c: tf.Tensor, s: tf.Tensor) =>
            tf.sum(tf.mul(rope(a as tf.Tensor4D, c as tf.Tensor3D, s as tf.Tensor3D, rotate), rand(shape, 770 + i))),
          )([x, cos, sin]);
        },
        1e-4,
      );
    }
  });

  // logits [rows..., V], labels (one outside [0, V) where asked) and weights with zeros.
  const ceCases: { shape: number[]; outside?: boolean }[] = [
    { shape: [6, 11] },
    { shape: [2, 3, 11], outside: true },
    { shape: [4, 2] },
    { shape: [1, 300] },
    { shape: [5, 2048] },
  ];
  const ceInputs = (shape: number[], outside: boolean | undefined, seed: number, specials = false) => {
    const V = shape[shape.length - 1],
      rows = shape.reduce((a, b) => a * b, 1) / V;
    const labels = Array.from({ length: rows }, (_, r) => (outside && r === 1 ? V + 2 : (r * 7 + seed) % V));
    const weights = Array.from({ length: rows }, (_, r) => (r % 3 === 2 ? 0 : (r + 1) / 10));
    return { logits: rand(shape, seed, { scale: 20, specials }), labels: tf.tensor1d(labels, 'int32'), weights: tf.tensor1d(weights) };
  };

  test('fused crossEntropy = -sum w log softmax(logits)[label]: values and gradient', async () => {
    for (const [i, { shape, outside }] of ceCases.entries()) {
      await same(
        `crossEntropy ${JSON.stringify(shape)}`,
        'crossEntropy',
        () => {
          const { logits, labels, weights } = ceInputs(shape, outside, 800 + i);
          return crossEntropy(logits, labels, weights);
        },
        1e-5,
      );
      await same(
        `crossEntropy grad ${JSON.stringify(shape)}`,
        'crossEntropyGrad',
        () => {
          const { logits, labels, weights } = ceInputs(shape, outside, 800 + i);
          return tf.grad((x: tf.Tensor) => tf.mul(crossEntropy(x, labels, weights), 1.7))(logits);
        },
        1e-5,
      );
    }
  });

  test('fused crossEntropy: non-finite logits (NaN loss as the composite), a -1e9 masked logit, one row', async () => {
    for (const [i, shape] of [
      [6, 11],
      [3, 5],
    ].entries()) {
      await same(`crossEntropy specials ${JSON.stringify(shape)}`, 'crossEntropy', () => {
        const { logits, labels, weights } = ceInputs(shape, false, 850 + i, true);
        return [crossEntropy(logits, labels, weights), tf.grad((x: tf.Tensor) => crossEntropy(x, labels, weights))(logits)];
      });
    }
    await same('crossEntropy with -1e9 logits', 'crossEntropy', () => {
      const logits = tf.tensor2d([
        [0, -1e9, 2, -1e9],
        [-1e9, 1, 1, 1],
      ]);
      const labels = tf.tensor1d([1, 3], 'int32'),
        weights = tf.tensor1d([0.5, 0.25]);
      return [crossEntropy(logits, labels, weights), tf.grad((x: tf.Tensor) => crossEntropy(x, labels, weights))(logits)];
    });
  });

  test('fused adamwUpdate: m, v and w as the composite, with and without decay, non-finite and size 0', async () => {
    const steps: AdamWStep[] = [
      { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, bc1: 1 - 0.9, bc2: 1 - 0.999, decay: 1 - 1e-3 * 0.01 },
      { beta1: 0.8, beta2: 0.95, eps: 1e-6, lr: 0.3, bc1: 1 - 0.8 ** 7, bc2: 1 - 0.95 ** 7 },
    ];
    for (const [i, shape] of [[3, 5], [1], [0, 2], [4, 33]].entries()) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (const [j, s] of steps.entries()) {
        for (const specials of [false, true]) {
          await same(
            `adamw ${JSON.stringify(shape)} step ${j} specials ${specials}`,
            n > 0 ? 'adamw' : null,
            () => {
              const { w, m, v } = adamwUpdate(
                rand(shape, 900 + i, { specials }),
                rand(shape, 910 + i, { scale: 1e-2, specials }),
                rand(shape, 920 + i, { scale: 1e-2 }),
                rand(shape, 930 + i, { positive: true, scale: 1e-4 }),
                s,
              );
              return [w, m, v];
            },
            1e-6,
          );
        }
      }
    }
  });

  test('fused dropout: x / (1 - rate) or 0 by a mask of the seed alone, rate-sized, with its gradient', async () => {
    await initBackend('native', () => {});
    calls.clear();
    const n = 200_000,
      rate = 0.1;
    const x = rand([n], 500, { specials: true });
    const xv = x.dataSync();
    const masks = [7, 7, 8].map((seed) => {
      const y = dropout(x, rate, seed).dataSync();
      const kept = new Uint8Array(n);
      const scale = Math.fround(1 / Math.fround(1 - rate));
      for (let i = 0; i < n; i++) {
        const k = Object.is(y[i], Math.fround(xv[i] * scale));
        assert.ok(k || Object.is(y[i], Math.fround(xv[i] * 0)), `seed ${seed} [${i}]: x ${xv[i]} gave ${y[i]}`);
        kept[i] = k && xv[i] !== 0 && Number.isFinite(xv[i]) ? 1 : 0; // 0, NaN: both branches agree; counted apart
      }
      return kept;
    });
    assert.ok((calls.get('dropout') ?? 0) >= 3, 'the addon ran');
    assert.deepEqual(masks[0], masks[1], 'same seed, same mask');
    // Finite non-zero inputs only (the others read the same kept or not); binomial bounds at 6 sigma.
    const finite = Array.from(xv).filter((v) => v !== 0 && Number.isFinite(v)).length;
    const dropped = (m: Uint8Array) => finite - m.reduce((s, k) => s + k, 0);
    const sigma = Math.sqrt(finite * rate * (1 - rate));
    for (const m of masks) assert.ok(Math.abs(dropped(m) - finite * rate) < 6 * sigma, `${dropped(m)} of ${finite} dropped`);
    // Seeds 7 and 8 drop independently: both drop about rate^2 of the elements.
    let both = 0;
    for (let i = 0; i < n; i++) if (xv[i] !== 0 && Number.isFinite(xv[i]) && !masks[0][i] && !masks[2][i]) both++;
    const sigma2 = Math.sqrt(finite * rate * rate * (1 - rate * rate));
    assert.ok(Math.abs(both - finite * rate * rate) < 6 * sigma2, `${both} dropped by both seeds`);

    // Gradient: dy times the same mask (and scale).
    const w = rand([64], 501),
      x64 = rand([64], 502);
    const g = tf
      .grad((v: tf.Tensor) => tf.sum(tf.mul(dropout(v, 0.5, 3), w)))(x64)
      .dataSync();
    const m = dropout(tf.ones([64]), 0.5, 3).dataSync();
    const wv = w.dataSync();
    for (let i = 0; i < 64; i++) assert.ok(Object.is(g[i], Math.fround(wv[i] * m[i])), `grad [${i}]`);
    assert.throws(() => dropout(x64, 1, 0), /dropout rate 1 is outside/);
    assert.throws(() => dropout(x64, 0.1, -1), /dropout seed -1 is not an integer/);
  });

  test('fused ops work under tf.variableGrads and tf.grad on native', async () => {
    await initBackend('native', () => {});
    calls.clear();
    const x = tf.variable(rand([3, 8], 490)),
      w = tf.variable(rand([8], 491));
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(rmsNorm(x, w as unknown as tf.Tensor1D, 1e-5), rand([3, 8], 492))) as tf.Scalar,
      [x, w],
    );
    assert.ok((calls.get('rmsNormGradX') ?? 0) > 0 && (calls.get('rmsNormGradW') ?? 0) > 0);
    assert.deepEqual(grads[x.name].shape, [3, 8]);
    assert.deepEqual(grads[w.name].shape, [8]);
    tf.dispose([value, ...Object.values(grads), x, w]);
    const g = tf.tidy(() =>
      tf.grad((q: tf.Tensor) => tf.sum(tf.mul(attentionProbabilities(q, rand([2, 4, 5], 494), 0.5, causal(3, 5)), rand([2, 3, 5], 495))))(
        rand([2, 3, 4], 493),
      ),
    );
    assert.deepEqual(g.shape, [2, 3, 4]);
    assert.ok(Array.from(g.dataSync()).every(Number.isFinite));
    g.dispose();
  });
});
