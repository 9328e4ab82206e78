/**
 * Fuzzing the wire format and the packed attention maps: frames round-trip whatever they carry;
 * random bytes, mutated frames and generated array references give a FrameError (one line) or a
 * message whose arrays lie inside the frame; layer maps with any field replaced give a MapPackError
 * naming the layer, never a TypeError / RangeError, and a decoded map or row always has its size.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FrameError, frameCodec } from '../../protocol/wire';
import { decodeLayerMaps, encodedRow, encodeLayerMaps, MapPackError, WireLayerMaps } from '../../protocol/map-pack';
import type { PackedLayerMaps } from '../../protocol/attention';
import { fuzzParams, valueOrError, valueOrErrorAsync } from '../helpers/fuzz';

const typedArb = fc.oneof(
  fc.float32Array({ maxLength: 9 }),
  fc.uint16Array({ maxLength: 9 }),
  fc.uint8Array({ maxLength: 9 }),
  fc.int32Array({ maxLength: 9 }),
);
/** JSON values with typed arrays anywhere (and never a "$bin" key, the format's one reserved name). */
const messageArb = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.jsonValue({ maxDepth: 0 }), typedArb, tie('list'), tie('object')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(
    fc.string({ maxLength: 6 }).filter((k) => k !== '$bin' && k !== '__proto__'),
    tie('value'),
    { maxKeys: 4 },
  ),
})).value;

/** Deep equality where typed arrays compare by class and bytes (NaN payloads and -0 included). */
function sameMessage(a: unknown, b: unknown): void {
  if (ArrayBuffer.isView(a)) {
    assert.ok(ArrayBuffer.isView(b) && b.constructor === a.constructor, `expected a ${a.constructor.name}`);
    assert.deepEqual(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  } else if (Array.isArray(a)) {
    assert.ok(Array.isArray(b) && b.length === a.length);
    a.forEach((x, i) => sameMessage(x, b[i]));
  } else if (a !== null && typeof a === 'object') {
    assert.ok(b !== null && typeof b === 'object');
    assert.deepEqual(Object.keys(b as object).sort(), Object.keys(a).sort());
    for (const k of Object.keys(a)) sameMessage((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
  } else {
    assert.ok(Object.is(b, JSON.parse(JSON.stringify(a))), `${String(b)} != ${String(a)}`);
  }
}

/** Every typed array in a decoded message is one of the four kinds and owns its bytes. */
function checkDecoded(v: unknown): void {
  if (ArrayBuffer.isView(v)) {
    assert.ok(
      [Float32Array, Uint16Array, Uint8Array, Int32Array].some((C) => v instanceof C),
      v.constructor.name,
    );
    assert.equal(v.byteOffset, 0);
  } else if (v instanceof ArrayBuffer) {
    assert.fail('an ArrayBuffer came out of a frame');
  } else if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) checkDecoded(x);
  }
}

function frameOf(json: string, arrayBytes = 0): Uint8Array {
  const j = new TextEncoder().encode(json);
  const head = (4 + j.length + 7) & ~7;
  const out = new Uint8Array(head + arrayBytes);
  new DataView(out.buffer).setUint32(0, j.length, true);
  out.set(j, 4);
  for (let i = head; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

describe('fuzz: wire frames', () => {
  test('round trip of any message with typed arrays anywhere', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        sameMessage(m, decodeFrame(encodeFrame(m)));
      }),
      fuzzParams(500),
    );
  });

  test('random bytes: a FrameError or a message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const r = valueOrError(() => decodeFrame(b), FrameError);
        if (!r.error) checkDecoded(r.value);
      }),
      fuzzParams(1000),
    );
  });

  test('mutated frames (byte edits, cuts, extra bytes, unaligned views)', () => {
    const editsArb = fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 });
    fc.assert(
      fc.property(
        messageArb,
        editsArb,
        fc.option(fc.nat(), { nil: undefined }),
        fc.nat({ max: 9 }),
        fc.nat({ max: 7 }),
        (m, edits, cut, extra, shift) => {
          const f = encodeFrame(m);
          const big = new Uint8Array(shift + f.length + extra);
          big.set(f, shift);
          const view = big.subarray(shift);
          for (const { at, byte } of edits) view[at % view.length] = byte;
          const bytes = cut === undefined ? view : view.subarray(0, cut % (view.length + 1));
          const r = valueOrError(() => decodeFrame(bytes), FrameError);
          if (!r.error) checkDecoded(r.value);
        },
      ),
      fuzzParams(800),
    );
  });

  test('generated array references: any dtype name, offset and length', () => {
    const refArb = fc
      .tuple(
        fc.oneof(
          fc.constantFrom('f32', 'u16', 'u8', 'i32', 'f64', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        fc.oneof(fc.integer({ min: -4, max: 40 }), fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(1e300, -0, 0.5, 2 ** 53)),
        fc.oneof(fc.integer({ min: -4, max: 40 }), fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(1e300, -0, 0.5, 2 ** 53)),
      )
      .chain((ref) => fc.constantFrom<unknown[]>(ref, ref.slice(0, 2), [...ref, 1]));
    fc.assert(
      fc.property(refArb, fc.nat({ max: 48 }), fc.boolean(), (ref, arrayBytes, nested) => {
        const json = JSON.stringify(nested ? { id: 1, result: [{ a: { $bin: ref } }] } : { $bin: ref });
        const r = valueOrError(() => decodeFrame(frameOf(json, arrayBytes)), FrameError);
        if (!r.error) checkDecoded(r.value);
      }),
      fuzzParams(800),
    );
  });

  test('the content-type codec rejects (never throws synchronously) on a bad frame', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 24 }), async (b) => {
        let sync: unknown;
        let p: Promise<unknown> | undefined;
        try {
          p = frameCodec.decode(b);
        } catch (e) {
          sync = e;
        }
        assert.equal(sync, undefined, 'decode threw synchronously');
        await valueOrErrorAsync(() => p!, FrameError);
      }),
      fuzzParams(200),
    );
  });
});

/** Valid packed maps: causal (tq = tk) or not, any values the panel may see (negative in differential). */
const packedArb: fc.Arbitrary<PackedLayerMaps> = fc
  .record({
    layer: fc.nat({ max: 40 }),
    heads: fc.uniqueArray(fc.nat({ max: 31 }), { minLength: 1, maxLength: 3 }),
    tq: fc.integer({ min: 1, max: 6 }),
    tk: fc.integer({ min: 1, max: 6 }),
    causal: fc.boolean(),
    lambda: fc.option(fc.double({ min: -1, max: 1, noNaN: true }), { nil: undefined }),
    kinds: fc.subarray(['negative', 'differential'] as const),
    seed: fc.nat(),
  })
  .map(({ causal, kinds, seed, ...p }) => {
    const tk = causal ? p.tq : p.tk;
    const n = p.heads.length * p.tq * tk;
    let s = seed;
    const fill = () =>
      new Float32Array(n).map((_, i) => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const q = Math.floor((i % (p.tq * tk)) / tk),
          k = i % tk;
        return tk === p.tq && k > q ? 0 : (s / 2 ** 32) * 2 - 0.5; // square maps travel as lower triangles: causal
      });
    const out: PackedLayerMaps = { ...p, tk, positive: fill() };
    for (const k of kinds) out[k] = fill();
    return out;
  });

describe('fuzz: packed attention maps', () => {
  test('encode then decode: sizes kept, error within (max - min) / 131070 (u16), exact (f32)', () => {
    fc.assert(
      fc.property(packedArb, fc.constantFrom('u16', 'f32') as fc.Arbitrary<'u16' | 'f32'>, (p, enc) => {
        const d = decodeLayerMaps(encodeLayerMaps(p, enc));
        assert.deepEqual([d.layer, d.heads, d.tq, d.tk], [p.layer, p.heads, p.tq, p.tk]);
        for (const k of ['positive', 'negative', 'differential'] as const) {
          const src = p[k];
          if (!src) {
            assert.equal(d[k], undefined);
            continue;
          }
          const range = Math.max(...src) - Math.min(...src);
          for (let i = 0; i < src.length; i++)
            assert.ok(Math.abs(d[k]![i] - src[i]) <= (enc === 'f32' ? 0 : range / 131070 + 1e-6), `${k}[${i}]`);
        }
      }),
      fuzzParams(300),
    );
  });

  /** Replaces one field at `path` (a key or two) of a wire layer by `value`. */
  const fieldPaths = [
    'layer',
    'heads',
    'tq',
    'tk',
    'lambda',
    'maps',
    'maps.positive',
    'maps.negative',
    'maps.positive.encoding',
    'maps.positive.lower',
    'maps.positive.min',
    'maps.positive.scale',
    'maps.positive.data',
    'maps.differential.data',
  ];
  const replacementArb = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(undefined, null, -1, 0, 1, 2.5, 1e9, 2 ** 53, NaN, Infinity, 'u16', 'f32', true, [], {}),
    typedArb,
    fc.float64Array({ maxLength: 4 }),
  );

  test('any field replaced by anything: a MapPackError naming the layer, or maps of the right size', () => {
    fc.assert(
      fc.property(
        packedArb,
        fc.constantFrom('u16', 'f32') as fc.Arbitrary<'u16' | 'f32'>,
        fc.array(fc.tuple(fc.constantFrom(...fieldPaths), replacementArb), { minLength: 1, maxLength: 3 }),
        (p, enc, edits) => {
          const w = encodeLayerMaps(p, enc) as unknown as Record<string, unknown>;
          for (const [pathStr, value] of edits) {
            const keys = pathStr.split('.');
            let o: unknown = w;
            for (const k of keys.slice(0, -1)) o = o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined;
            if (o !== null && typeof o === 'object') (o as Record<string, unknown>)[keys[keys.length - 1]] = value;
          }
          const r = valueOrError(() => decodeLayerMaps(w as unknown as WireLayerMaps), MapPackError, /^layer (maps|\d+)/);
          if (r.value) {
            const d = r.value;
            const n = d.heads.length * d.tq * d.tk;
            for (const k of ['positive', 'negative', 'differential'] as const) if (d[k]) assert.equal(d[k]!.length, n, k);
          }
        },
      ),
      fuzzParams(1000),
    );
  });

  test('one row read from the wire form: any head, query and sizes', () => {
    fc.assert(
      fc.property(
        packedArb,
        fc.constantFrom('u16', 'f32') as fc.Arbitrary<'u16' | 'f32'>,
        fc.integer({ min: -2, max: 8 }),
        fc.integer({ min: -2, max: 8 }),
        fc.integer({ min: -1, max: 8 }),
        fc.integer({ min: -1, max: 8 }),
        (p, enc, h, q, dq, dk) => {
          const w = encodeLayerMaps(p, enc);
          const tq = dq < 0 ? w.tq : dq,
            tk = dk < 0 ? w.tk : dk;
          const r = valueOrError(() => encodedRow(w.maps.positive!, h, tq, tk, q), MapPackError, 'encoded row');
          if (r.value) {
            assert.equal(r.value.length, tk);
            if (tq === w.tq && tk === w.tk && h < w.heads.length) {
              const full = decodeLayerMaps(w).positive;
              assert.deepEqual(r.value, full.subarray((h * tq + q) * tk, (h * tq + q + 1) * tk));
            }
          }
        },
      ),
      fuzzParams(500),
    );
  });
});
