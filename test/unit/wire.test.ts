/** The engine's wire format: typed arrays as bytes inside frames, and the 16-bit lower-triangle map packing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame, FrameError } from '../../protocol/wire';
import { decodeLayerMaps, encodedRow, encodeLayerMaps, MapPackError, wireBytes } from '../../protocol/map-pack';

describe('frames', () => {
  it('round-trips nested typed arrays of every kind (as bytes, not JSON numbers)', () => {
    const msg = {
      id: 1,
      a: new Float32Array([1.5, -2, 3e-8]),
      nested: [{ b: new Uint16Array([0, 65535]) }, new Uint8Array([7]), new Int32Array([-5, 6, 7])],
      s: 'text',
    };
    const bytes = encodeFrame(msg);
    const json = new TextDecoder().decode(bytes.subarray(4, 4 + new DataView(bytes.buffer).getUint32(0, true)));
    assert.doesNotMatch(json, /1\.5|65535/, 'numbers of arrays must not be in the JSON');
    const back = decodeFrame(bytes) as typeof msg;
    assert.deepEqual(back, msg);
    assert.ok(back.a instanceof Float32Array && back.nested[2] instanceof Int32Array);
  });

  it('carries keys spelled like the array reference ("$bin", "$$bin") as data', () => {
    const msg = {
      $bin: ['f32', 0, 3],
      nested: { $$bin: [1], $bins: 'x', bin: 2, $$$bin: { $bin: 'not an array' } },
      a: new Float32Array([4, 5]),
    };
    const back = decodeFrame(encodeFrame(msg));
    assert.deepEqual(back, msg);
    assert.ok((back as typeof msg).a instanceof Float32Array);
  });

  it('decodes from an unaligned view of a bigger buffer', () => {
    const f = encodeFrame({ x: new Float32Array([1, 2, 3]) });
    const big = new Uint8Array(f.length + 3);
    big.set(f, 3);
    assert.deepEqual((decodeFrame(big.subarray(3)) as { x: Float32Array }).x, new Float32Array([1, 2, 3]));
  });

  it('rejects malformed frames with the reason', () => {
    const bad = (b: Uint8Array, re: RegExp) =>
      assert.throws(
        () => decodeFrame(b),
        (e: Error) => e instanceof FrameError && re.test(e.message),
      );
    bad(new Uint8Array([1, 2]), /too short for its header/);
    bad(new Uint8Array([200, 0, 0, 0, 1]), /JSON has 200 bytes, but the frame has 5/);
    const notJson = new TextEncoder().encode('{oops');
    bad(new Uint8Array([notJson.length, 0, 0, 0, ...notJson]), /does not parse/);
    bad(new Uint8Array([2, 0, 0, 0, 0xff, 0xfe]), /not valid UTF-8/);
    const ref = new TextEncoder().encode('{"a":{"$bin":["f32",0,1000]}}');
    bad(new Uint8Array([ref.length, 0, 0, 0, ...ref]), /runs past the end/);
    const kind = new TextEncoder().encode('{"a":{"$bin":["f64",0,1]}}');
    bad(new Uint8Array([kind.length, 0, 0, 0, ...kind]), /bad array reference/);
    // Found by the fuzz tier: names of Object's own members were taken for array types (an ArrayBuffer
    // came out, or a TypeError "is not a constructor"), and a newline in bad JSON made a two-line error.
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const inherited = new TextEncoder().encode(`{"a":{"$bin":["${name}",0,0]}}`);
      bad(new Uint8Array([inherited.length, 0, 0, 0, ...inherited]), /bad array reference/);
    }
    assert.throws(
      () => decodeFrame(new Uint8Array([2, 0, 0, 0, 0x0a, 0x00])),
      (e: Error) => e instanceof FrameError && /does not parse/.test(e.message) && !e.message.includes('\n'),
    );
  });
});

/** Causal softmax-like maps for 2 heads. */
function causal(T: number, heads: number, seed: number): Float32Array {
  const a = new Float32Array(heads * T * T);
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let h = 0; h < heads; h++)
    for (let q = 0; q < T; q++) {
      let sum = 0;
      for (let k = 0; k <= q; k++) sum += a[(h * T + q) * T + k] = rnd();
      for (let k = 0; k <= q; k++) a[(h * T + q) * T + k] /= sum;
    }
  return a;
}

describe('map packing', () => {
  const T = 37;
  const positive = causal(T, 2, 3);
  const negative = causal(T, 2, 4).map((v) => 0.3 * v);
  const differential = positive.map((v, i) => v - negative[i]);
  const layer = { layer: 2, heads: [1, 4], tq: T, tk: T, lambda: 0.3, positive, negative, differential };

  it('16-bit: error below (max - min) / 131070, lower triangle only, exact zeros above the diagonal', () => {
    const w = encodeLayerMaps(layer, 'u16');
    assert.equal(w.maps.positive!.data.length, (2 * (T * (T + 1))) / 2);
    assert.equal(wireBytes(w), (3 * 2 * 2 * (T * (T + 1))) / 2);
    const d = decodeLayerMaps(w);
    for (const k of ['positive', 'negative', 'differential'] as const) {
      const src = layer[k];
      const range = Math.max(...src) - Math.min(...src);
      let worst = 0;
      for (let i = 0; i < src.length; i++) worst = Math.max(worst, Math.abs(d[k]![i] - src[i]));
      assert.ok(worst <= range / 131070 + 1e-7, `${k}: ${worst}`);
    }
    assert.equal(d.positive[0 * T * T + 0 * T + 5], 0);
    assert.equal(d.lambda, 0.3);
    assert.deepEqual(d.heads, [1, 4]);
  });

  it('float32: exact; a single row reads the same as the decoded map', () => {
    const w = encodeLayerMaps(layer, 'f32');
    const d = decodeLayerMaps(w);
    assert.deepEqual(d.differential, differential);
    for (const q of [0, 10, T - 1]) {
      assert.deepEqual(encodedRow(w.maps.differential!, 1, T, T, q), differential.subarray((T + q) * T, (T + q + 1) * T));
    }
  });

  it('non-square maps (a cached step) travel in full', () => {
    const a = new Float32Array(2 * 3 * 5).map((_, i) => i / 30);
    const w = encodeLayerMaps({ layer: 0, heads: [0, 1], tq: 3, tk: 5, positive: a }, 'u16');
    assert.equal(w.maps.positive!.lower, false);
    assert.equal(w.maps.positive!.data.length, 30);
  });

  it('fields of the wrong type or size are a MapPackError naming the layer (found by the fuzz tier: they were TypeErrors or RangeErrors)', () => {
    const cases: [(w: Record<string, any>) => void, RegExp][] = [
      [
        (w) => {
          w.heads = 3;
        },
        /layer 2: 'heads' must be a list/,
      ],
      [
        (w) => {
          w.tq = -1;
        },
        /layer 2: 'tq' must be an integer >= 0/,
      ],
      [
        (w) => {
          w.maps = null;
        },
        /layer 2: 'maps' must be an object/,
      ],
      [
        (w) => {
          w.maps.positive.data = [1, 2];
        },
        /layer 2 positive: a u16 block needs a Uint16Array/,
      ],
      [
        (w) => {
          w.maps.negative.encoding = 'f64';
        },
        /layer 2 negative: unknown encoding "f64"/,
      ],
      [
        (w) => {
          w.maps.positive.min = null;
        },
        /layer 2 positive: a u16 block needs finite min and scale/,
      ],
      [
        (w) => {
          w.layer = '2';
        },
        /layer maps: 'layer' must be an integer/,
      ],
    ];
    for (const [edit, re] of cases) {
      const w = encodeLayerMaps(layer, 'u16') as unknown as Record<string, any>;
      edit(w);
      assert.throws(
        () => decodeLayerMaps(w as never),
        (e: Error) => e instanceof MapPackError && re.test(e.message),
        String(re),
      );
    }
    const w = encodeLayerMaps(layer, 'u16');
    assert.throws(() => encodedRow(w.maps.positive!, 2, T, T, 0), /encoded row: row 0 of head 2 ends at \d+, past the block's 1406 values/);
    assert.throws(() => encodedRow(w.maps.positive!, 0, T, T, T), MapPackError);
  });

  it('a block of the wrong size is an error naming the layer and kind', () => {
    const w = encodeLayerMaps(layer, 'u16');
    w.maps.negative!.data = w.maps.negative!.data.subarray(1);
    assert.throws(() => decodeLayerMaps(w), /layer 2 negative: \d+ values, expected 2 heads x 703/);
  });
});
