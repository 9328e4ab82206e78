/**
 * safetensors reading/writing and the F16/BF16 codecs: exact round trips against an independent
 * rounding reference, and hand-crafted malformed files that must each give one clear InputError
 * naming the file (and the tensor where there is one).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { DType, decodeToFloat32, encodeFromFloat32 } from '../../engine/formats/dtype';
import { readSafetensorsHeader, readTensorFloat32, TensorEntry, writeSafetensors } from '../../engine/formats/safetensors';
import { nativeTensorReader } from '../../engine/formats/native-reader';
import { TensorStore } from '../../engine/formats/tensor-store';
import { loadNativeAddon } from '../../engine/backends/native-addon';
import { tempDir } from '../helpers/reference';
import { expectInputError } from '../helpers/input-error';
import { nativeSkip } from '../helpers/native';

/** A safetensors file from a header (object, or raw text) and data bytes; `headerLen` overrides the length field. */
function craft(dir: string, name: string, header: unknown, data: Buffer | number = 0, headerLen?: number): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLen ?? json.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, json, typeof data === 'number' ? Buffer.alloc(data) : data]));
  return file;
}

/** Deterministic float32 values from random bit patterns (every class: normal, subnormal, Inf, NaN). */
function randomBits(n: number, seed: number): Float32Array {
  const bits = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    bits[i] = s ^ (s >>> 13) ^ Math.imul(i, 0x9e3779b1);
  }
  return new Float32Array(bits.buffer);
}

function randomUniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return a;
}

/**
 * The reference: x rounded to a binary format with `mant` stored mantissa bits, minimum normal
 * exponent `minExp` (gradual underflow below) and largest finite value `maxFinite`, round to
 * nearest with ties to even, overflow to Infinity. Plain float64 arithmetic, no bit tricks.
 */
function roundTo(x: number, mant: number, minExp: number, maxFinite: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, minExp) - mant);
  const q = a / ulp; // exact: ulp is a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp > maxFinite ? Infinity : r * ulp;
  return x < 0 ? -v : v;
}

const REF: Record<'F16' | 'BF16', (x: number) => number> = {
  F16: (x) => roundTo(x, 10, -14, 65504),
  BF16: (x) => roundTo(x, 7, -126, (2 - 2 ** -7) * 2 ** 127),
};

function assertRounded(got: Float32Array, input: Float32Array, dtype: 'F16' | 'BF16'): void {
  assert.equal(got.length, input.length);
  for (let i = 0; i < input.length; i++) {
    const x = input[i];
    if (Number.isNaN(x)) {
      assert.ok(Number.isNaN(got[i]), `${dtype}: NaN at ${i} came back as ${got[i]}`);
      continue;
    }
    const want = Math.fround(REF[dtype](x));
    assert.ok(
      Object.is(got[i], want),
      `${dtype}: ${x} (bits ${new Uint32Array(new Float32Array([x]).buffer)[0].toString(16)}) -> ${got[i]}, expected ${want}`,
    );
  }
}

function roundTripFile(dir: string, name: string, data: Float32Array, dtype: DType): Float32Array {
  const file = path.join(dir, name);
  writeSafetensors(file, [{ name: 'x', shape: [data.length], data }], dtype);
  const entry = readSafetensorsHeader(file).tensors.get('x');
  assert.ok(entry);
  assert.equal(entry.dtype, dtype);
  assert.deepEqual(entry.shape, [data.length]);
  return readTensorFloat32(entry);
}

describe('dtype codecs', () => {
  const dir = tempDir('st-dtype');

  test('F32 round trip is bit exact (NaN, Inf, -0, subnormals included)', () => {
    const data = randomBits(4096, 7);
    data.set([0, -0, Infinity, -Infinity, NaN, 2 ** -149, -(2 ** -149), 3.4028234663852886e38]);
    const got = roundTripFile(dir, 'f32.safetensors', data, 'F32');
    assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(data.buffer));
  });

  for (const dtype of ['F16', 'BF16'] as const) {
    test(`${dtype} round trip gives the round-to-nearest-even float32 of each value`, () => {
      const parts = [
        randomBits(4096, 11),
        randomUniform(2048, 3, -70000, 70000),
        randomUniform(2048, 4, -1e-4, 1e-4),
        randomUniform(1024, 5, -1e-7, 1e-7),
      ];
      const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        data.set(p, o);
        o += p.length;
      }
      assertRounded(roundTripFile(dir, `${dtype}.safetensors`, data, dtype), data, dtype);
    });

    test(`${dtype}: every one of the 65536 bit patterns decodes and re-encodes to itself (NaN stays NaN)`, () => {
      const u16 = new Uint16Array(65536).map((_, i) => i);
      const decoded = decodeToFloat32(new Uint8Array(u16.buffer), dtype);
      const back = new Uint16Array(encodeFromFloat32(decoded, dtype).buffer.slice(0));
      for (let h = 0; h < 65536; h++) {
        if (Number.isNaN(decoded[h])) {
          const e = dtype === 'F16' ? 0x7c00 : 0x7f80;
          assert.equal(back[h] & e, e, `${dtype} NaN 0x${h.toString(16)} re-encoded as 0x${back[h].toString(16)}`);
          assert.notEqual(back[h] & ~e & 0x7fff, 0, `${dtype} NaN 0x${h.toString(16)} became an infinity`);
        } else {
          assert.equal(back[h], h, `${dtype} 0x${h.toString(16)} = ${decoded[h]} re-encoded as 0x${back[h].toString(16)}`);
        }
      }
    });
  }

  test('F16 ties, overflow, subnormals and specials', () => {
    const cases: [number, number][] = [
      [1, 1],
      [1 + 2 ** -11, 1], // tie between 1 and 1+2^-10: to the even mantissa
      [1 + 3 * 2 ** -11, 1 + 2 ** -9], // tie between odd 1+2^-10 and even 1+2^-9
      [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10], // just above the tie
      [65504, 65504],
      [65519, 65504],
      [65520, Infinity], // tie above the largest finite: rounds up to Inf
      [1e6, Infinity],
      [-1e6, -Infinity],
      [2 ** -14, 2 ** -14], // smallest normal
      [2 ** -24, 2 ** -24], // smallest subnormal
      [3 * 2 ** -25, 2 * 2 ** -24], // tie between subnormals 1 and 2 (x 2^-24): to even
      [2 ** -25, 0], // tie between 0 and the smallest subnormal: to even (0)
      [2 ** -25 + 2 ** -35, 2 ** -24],
      [2 ** -26, 0],
      [-(2 ** -26), -0],
      [-0, -0],
      [Infinity, Infinity],
      [-Infinity, -Infinity],
    ];
    const got = decodeToFloat32(encodeFromFloat32(new Float32Array(cases.map((c) => c[0])), 'F16'), 'F16');
    cases.forEach(([x, want], i) => assert.ok(Object.is(got[i], want), `F16(${x}) = ${got[i]}, expected ${want}`));
    assert.ok(Number.isNaN(decodeToFloat32(encodeFromFloat32(new Float32Array([NaN, -NaN]), 'F16'), 'F16')[1]));
    // Little-endian IEEE half bits.
    assert.deepEqual([...encodeFromFloat32(new Float32Array([1, -2]), 'F16')], [0x00, 0x3c, 0x00, 0xc0]);
  });

  test('BF16 ties, overflow, subnormals and specials', () => {
    const max = (2 - 2 ** -7) * 2 ** 127;
    const cases: [number, number][] = [
      [1 + 2 ** -8, 1], // tie: to even
      [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie: odd neighbour loses
      [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7],
      [max, max],
      [3.4028234663852886e38, Infinity], // float32 max lies above the tie below 2^128
      [2 ** -126, 2 ** -126],
      [2 ** -133, 2 ** -133], // smallest bf16 subnormal
      [2 ** -134, 0], // tie with 0: to even
      [3 * 2 ** -134, 2 ** -132], // tie between 1 and 2 (x 2^-133): to even
      [2 ** -149, 0], // smallest float32 subnormal
      [-(2 ** -149), -0],
      [-Infinity, -Infinity],
    ];
    const got = decodeToFloat32(encodeFromFloat32(new Float32Array(cases.map((c) => c[0])), 'BF16'), 'BF16');
    cases.forEach(([x, want], i) => assert.ok(Object.is(got[i], Math.fround(want)), `BF16(${x}) = ${got[i]}, expected ${want}`));
    // A NaN whose payload sits only in the low 16 bits must not become Inf when truncated.
    const nan = new Float32Array(new Uint32Array([0x7f800001, 0xffc00000]).buffer);
    const back = decodeToFloat32(encodeFromFloat32(nan, 'BF16'), 'BF16');
    assert.ok(Number.isNaN(back[0]) && Number.isNaN(back[1]));
    assert.deepEqual([...encodeFromFloat32(new Float32Array([1, -2]), 'BF16')], [0x80, 0x3f, 0x00, 0xc0]);
  });

  test('decoding reads tensors at offsets that are not 4-byte aligned', () => {
    // F16 [1] at [0, 2], then F32 [2] at [2, 10], then BF16 [1] at [10, 12]: odd placements on purpose.
    const data = Buffer.alloc(12);
    data.writeUInt16LE(0x3c00, 0);
    data.writeFloatLE(1.5, 2);
    data.writeFloatLE(-2.25, 6);
    data.writeUInt16LE(0xc040, 10); // bf16 -3
    const file = craft(
      dir,
      'unaligned.safetensors',
      {
        a: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
        b: { dtype: 'F32', shape: [2], data_offsets: [2, 10] },
        c: { dtype: 'BF16', shape: [1, 1], data_offsets: [10, 12] },
      },
      data,
      undefined,
    );
    const h = readSafetensorsHeader(file).tensors;
    assert.deepEqual([...readTensorFloat32(h.get('a')!)], [1]);
    assert.deepEqual([...readTensorFloat32(h.get('b')!)], [1.5, -2.25]);
    assert.deepEqual([...readTensorFloat32(h.get('c')!)], [-3]);
  });
});

describe('writeSafetensors', () => {
  const dir = tempDir('st-write');

  test('header is padded so the data starts 8-byte aligned; offsets are contiguous; metadata kept', () => {
    for (let k = 0; k < 8; k++) {
      const file = path.join(dir, `align${k}.safetensors`);
      const tensors = [
        { name: 'w'.repeat(k + 1), shape: [3], data: new Float32Array([1, 2, 3]) },
        { name: 'bias', shape: [1, 1], data: new Float32Array([4]) },
        { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
        { name: 'm', shape: [2, 3], data: new Float32Array([5, 6, 7, 8, 9, 10]) },
      ];
      const dtype: DType = (['F32', 'F16', 'BF16'] as const)[k % 3];
      writeSafetensors(file, tensors, dtype, { format: 'pt', note: 'x'.repeat(k) });
      const bytes = fs.readFileSync(file);
      const n = Number(bytes.readBigUInt64LE(0));
      assert.equal(n % 8, 0, `header length ${n}`);
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
      const size = dtype === 'F32' ? 4 : 2;
      let offset = 0;
      for (const t of tensors) {
        assert.deepEqual(header[t.name], { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] });
        offset += t.data.length * size;
      }
      assert.equal(bytes.length, 8 + n + offset);
      const read = readSafetensorsHeader(file);
      assert.deepEqual(read.metadata, { format: 'pt', note: 'x'.repeat(k) });
      for (const t of tensors) {
        const e = read.tensors.get(t.name)!;
        assert.equal(e.offset, 8 + n + header[t.name].data_offsets[0]);
        assert.deepEqual([...readTensorFloat32(e)], [...t.data]);
      }
      assert.ok(!fs.existsSync(`${file}.partial`));
    }
  });

  test('a tensor whose data disagrees with its shape: nothing written, the existing file untouched', () => {
    const file = path.join(dir, 'keep.safetensors');
    writeSafetensors(file, [{ name: 'a', shape: [2], data: new Float32Array([1, 2]) }], 'F32');
    const before = fs.readFileSync(file);
    assert.throws(
      () =>
        writeSafetensors(
          file,
          [
            { name: 'a', shape: [2], data: new Float32Array([1, 2]) },
            { name: 'bad', shape: [2, 2], data: new Float32Array(3) },
          ],
          'F32',
        ),
      (e: Error) => e.message.includes('bad') && e.message.includes('[2,2]') && e.message.includes('3'),
    );
    assert.deepEqual(fs.readFileSync(file), before);
    assert.ok(!fs.existsSync(`${file}.partial`));
  });
});

describe('malformed safetensors files', () => {
  const dir = tempDir('st-bad');
  const f32 = (shape: number[], begin: number) => ({
    dtype: 'F32',
    shape,
    data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)],
  });

  test('missing file', () => {
    expectInputError(() => readSafetensorsHeader(path.join(dir, 'nothere.safetensors')), 'nothere.safetensors', 'not found');
  });

  test('file shorter than 8 bytes', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4, 5]));
    expectInputError(() => readSafetensorsHeader(file), 'short.safetensors', '5 bytes', 'shorter than the 8-byte header length');
  });

  test('empty file', () => {
    const file = path.join(dir, 'empty.safetensors');
    fs.writeFileSync(file, '');
    expectInputError(() => readSafetensorsHeader(file), 'empty.safetensors', '0 bytes');
  });

  test('header length beyond the end of the file', () => {
    const file = craft(dir, 'longheader.safetensors', { a: f32([1], 0) }, 4, 10_000);
    expectInputError(() => readSafetensorsHeader(file), 'longheader.safetensors', 'header length 10000', 'beyond the end of the file');
  });

  test('header length absurd (u64 with the high bits set)', () => {
    const file = craft(dir, 'hugeheader.safetensors', '{}', 0, 2 ** 60);
    expectInputError(() => readSafetensorsHeader(file), 'hugeheader.safetensors', 'beyond the end of the file');
  });

  test('header not JSON', () => {
    const file = craft(dir, 'notjson.safetensors', '{"a": {"dtype": "F32",', 8);
    expectInputError(() => readSafetensorsHeader(file), 'notjson.safetensors', 'header is not valid JSON');
  });

  test('header JSON but not an object', () => {
    const file = craft(dir, 'array.safetensors', '[1, 2]', 0);
    expectInputError(() => readSafetensorsHeader(file), 'array.safetensors', 'not a JSON object');
  });

  test('tensor entry not an object', () => {
    const file = craft(dir, 'entry.safetensors', { 'model.norm.weight': 3 }, 0);
    expectInputError(() => readSafetensorsHeader(file), 'entry.safetensors', "tensor 'model.norm.weight'", 'not an object');
  });

  test('data truncated: offsets run past the end of the file', () => {
    const file = craft(dir, 'truncated.safetensors', { first: f32([2], 0), 'model.layers.0.mlp.up_proj.weight': f32([4, 4], 8) }, 40);
    expectInputError(
      () => readSafetensorsHeader(file),
      'truncated.safetensors',
      "tensor 'model.layers.0.mlp.up_proj.weight'",
      '[8, 72]',
      'run past the end of the data (40 bytes)',
    );
  });

  test('file cut after the header was read: reading the tensor says so', () => {
    const file = craft(dir, 'cutlater.safetensors', { x: f32([4], 0) }, 16);
    const entry = readSafetensorsHeader(file).tensors.get('x')!;
    fs.truncateSync(file, fs.statSync(file).size - 6);
    expectInputError(() => readTensorFloat32(entry), 'cutlater.safetensors', "tensor 'x'", 'file ended before the tensor data did');
  });

  test('overlapping offsets between two tensors', () => {
    const file = craft(dir, 'overlap.safetensors', { 'layer.a': f32([4], 0), 'layer.b': f32([4], 8) }, 24);
    expectInputError(() => readSafetensorsHeader(file), 'overlap.safetensors', "'layer.a'", "'layer.b'", 'overlapping data_offsets');
  });

  test('a zero-size tensor sharing its offset with the next tensor is no overlap (any header order)', () => {
    const file = craft(dir, 'emptyfirst.safetensors', { full: f32([2], 0), none: { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }, 8);
    const h = readSafetensorsHeader(file).tensors;
    assert.equal(readTensorFloat32(h.get('none')!).length, 0);
    assert.equal(readTensorFloat32(h.get('full')!).length, 2);
  });

  test('data_offsets reversed, negative, fractional, missing or of the wrong length', () => {
    const bad: unknown[] = [[16, 0], [-4, 12], [0.5, 16.5], undefined, [0], [0, 16, 32], ['0', '16']];
    bad.forEach((offsets, i) => {
      const file = craft(dir, `offsets${i}.safetensors`, { 'w.q': { dtype: 'F32', shape: [4], data_offsets: offsets } }, 16);
      expectInputError(() => readSafetensorsHeader(file), `offsets${i}.safetensors`, "tensor 'w.q'", 'data_offsets', '0 <= begin <= end');
    });
  });

  test('data_offsets out of range', () => {
    const file = craft(dir, 'range.safetensors', { 'w.k': { dtype: 'F32', shape: [4], data_offsets: [1_000_000, 1_000_016] } }, 16);
    expectInputError(() => readSafetensorsHeader(file), 'range.safetensors', "tensor 'w.k'", '[1000000, 1000016]', 'run past the end');
  });

  for (const dtype of ['I8', 'F64', 'f32', 'U8', 42, undefined]) {
    test(`unsupported dtype ${JSON.stringify(dtype)}`, () => {
      const file = craft(
        dir,
        `dtype-${String(dtype)}.safetensors`,
        { 'model.embed_tokens.weight': { dtype, shape: [2], data_offsets: [0, 8] } },
        8,
      );
      expectInputError(
        () => readSafetensorsHeader(file),
        `dtype-${String(dtype)}.safetensors`,
        "tensor 'model.embed_tokens.weight'",
        'unsupported dtype',
        'F32, F16, BF16',
      );
    });
  }

  test('shape disagreeing with the byte length', () => {
    const file = craft(dir, 'shape.safetensors', { 'w.v': { dtype: 'BF16', shape: [3, 3], data_offsets: [0, 16] } }, 16);
    expectInputError(
      () => readSafetensorsHeader(file),
      'shape.safetensors',
      "tensor 'w.v'",
      'shape [3, 3] in BF16 needs 18 bytes but data_offsets span 16',
    );
  });

  // Found by the fuzz tier (test/fuzz/safetensors.test.ts): each was a bare EISDIR, a non-object
  // passed on as metadata, a NaN-byte tensor or a two-line message.
  test('a folder where the file should be (and a shard named "" or ".." in an index)', () => {
    const folder = path.join(dir, 'folder.safetensors');
    fs.mkdirSync(folder);
    expectInputError(() => readSafetensorsHeader(folder), 'folder.safetensors', 'is not a file');
    const model = path.join(dir, 'shardfolder');
    fs.mkdirSync(model);
    writeSafetensors(path.join(model, 'model-00001-of-00001.safetensors'), [{ name: 'a', shape: [1], data: new Float32Array(1) }], 'F32');
    for (const shard of ['', '..']) {
      fs.writeFileSync(path.join(model, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: shard } }));
      expectInputError(
        () => TensorStore.openFolder(model, 'model.safetensors'),
        'model.safetensors.index.json',
        `shard ${JSON.stringify(shard)}`,
        "tensor 'a'",
        'is not a file',
      );
    }
    fs.writeFileSync(path.join(model, 'model.safetensors.index.json'), 'null');
    expectInputError(() => TensorStore.openFolder(model, 'model.safetensors'), 'model.safetensors.index.json', 'expected a JSON object');
  });

  test("'__metadata__' that is not an object of strings", () => {
    for (const [i, metadata] of [5, 'pt', [1], { format: 3 }].entries()) {
      const file = craft(dir, `meta${i}.safetensors`, { __metadata__: metadata }, 0);
      expectInputError(() => readSafetensorsHeader(file), `meta${i}.safetensors`, "'__metadata__' must be an object of strings");
    }
    assert.deepEqual(readSafetensorsHeader(craft(dir, 'metanull.safetensors', { __metadata__: null }, 0)).metadata, {});
  });

  test('dimensions beyond 2^53, and shapes whose size overflows', () => {
    const big = craft(dir, 'bigdim.safetensors', { w: { dtype: 'F32', shape: [2 ** 53, 0], data_offsets: [0, 0] } }, 0);
    expectInputError(() => readSafetensorsHeader(big), 'bigdim.safetensors', "tensor 'w'", 'not a list of non-negative integers');
    const huge = craft(dir, 'hugeshape.safetensors', { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 0] } }, 0);
    expectInputError(() => readSafetensorsHeader(huge), 'hugeshape.safetensors', "tensor 'w'", 'too large');
  });

  test('a header whose bad JSON holds a newline: the error is still one line', () => {
    const file = craft(dir, 'newline.safetensors', '\n\u0000', 0);
    expectInputError(() => readSafetensorsHeader(file), 'newline.safetensors', 'header is not valid JSON', '\\n');
  });

  test('shape not a list of non-negative integers', () => {
    for (const [i, shape] of [[2, -2], [1.5], '4', null].entries()) {
      const file = craft(dir, `badshape${i}.safetensors`, { 'w.o': { dtype: 'F32', shape, data_offsets: [0, 16] } }, 16);
      expectInputError(
        () => readSafetensorsHeader(file),
        `badshape${i}.safetensors`,
        "tensor 'w.o'",
        'is not a list of non-negative integers',
      );
    }
  });
});

describe('TensorStore (single file and shards)', () => {
  const base = tempDir('st-store');
  const t = (name: string, n: number) => ({ name, shape: [n], data: new Float32Array(n).fill(n) });

  function sharded(name: string, weightMap: unknown): string {
    const dir = path.join(base, name);
    fs.mkdirSync(dir);
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [t('a', 2), t('b', 3)], 'F32');
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [t('c', 4)], 'BF16');
    fs.writeFileSync(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 36 }, weight_map: weightMap }),
    );
    return dir;
  }
  const GOOD_MAP = { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' };

  test('a good sharded folder reads every tensor', () => {
    const store = TensorStore.openFolder(sharded('good', GOOD_MAP), 'model.safetensors');
    assert.deepEqual(store.names().sort(), ['a', 'b', 'c']);
    assert.deepEqual([...store.read('c', [4])], [4, 4, 4, 4]);
    assert.equal(store.totalBytes(), 2 * 4 + 3 * 4 + 4 * 2);
  });

  test('the index names a tensor its shard lacks', () => {
    const dir = sharded('lacks', { ...GOOD_MAP, 'model.layers.3.mlp.down_proj.weight': 'model-00002-of-00002.safetensors' });
    expectInputError(
      () => TensorStore.openFolder(dir, 'model.safetensors'),
      'model.safetensors.index.json',
      "tensor 'model.layers.3.mlp.down_proj.weight'",
      'model-00002-of-00002.safetensors',
      'does not contain it',
    );
  });

  test('a shard file named by the index is missing', () => {
    const dir = sharded('noshard', { ...GOOD_MAP, d: 'model-00003-of-00003.safetensors' });
    expectInputError(
      () => TensorStore.openFolder(dir, 'model.safetensors'),
      'model.safetensors.index.json',
      'model-00003-of-00003.safetensors',
      "tensor 'd'",
      'not found',
    );
  });

  test('a malformed shard names the shard and the tensor', () => {
    const dir = sharded('badshard', GOOD_MAP);
    const shard = path.join(dir, 'model-00002-of-00002.safetensors');
    fs.truncateSync(shard, fs.statSync(shard).size - 2);
    expectInputError(
      () => TensorStore.openFolder(dir, 'model.safetensors'),
      'model-00002-of-00002.safetensors',
      "tensor 'c'",
      'run past the end',
    );
  });

  test('index without weight_map, not JSON, or with a non-string shard', () => {
    expectInputError(
      () => TensorStore.openFolder(sharded('nomap', undefined), 'model.safetensors'),
      'model.safetensors.index.json',
      "missing 'weight_map'",
    );
    const dir = sharded('notjson', GOOD_MAP);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": {');
    expectInputError(() => TensorStore.openFolder(dir, 'model.safetensors'), 'model.safetensors.index.json', 'not valid JSON');
    expectInputError(
      () => TensorStore.openFolder(sharded('numshard', { a: 3 }), 'model.safetensors'),
      'model.safetensors.index.json',
      "tensor 'a'",
      'not a file name',
    );
  });

  test('neither the file nor an index', () => {
    const dir = path.join(base, 'nothing');
    fs.mkdirSync(dir);
    expectInputError(
      () => TensorStore.openFolder(dir, 'adapter_model.safetensors'),
      dir,
      'neither adapter_model.safetensors nor adapter_model.safetensors.index.json found',
    );
  });

  test('read: a missing tensor and a shape that disagrees with the configuration', () => {
    const dir = sharded('read', GOOD_MAP);
    const store = TensorStore.openFolder(dir, 'model.safetensors');
    expectInputError(() => store.read('lm_head.weight'), 'model.safetensors.index.json', "missing tensor 'lm_head.weight'");
    expectInputError(
      () => store.read('b', [3, 1]),
      'model-00001-of-00002.safetensors',
      "tensor 'b'",
      'shape [3] disagrees with the configuration, which implies [3, 1]',
    );
    expectInputError(() => store.read('b', [4]), "tensor 'b'", 'shape [3]', '[4]');
  });
});

describe('the native reader (the addon reads and widens by offset)', { skip: nativeSkip() }, () => {
  const dir = tempDir('st-native');
  const read = (): ReturnType<typeof nativeTensorReader> => nativeTensorReader(loadNativeAddon().addon);
  const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

  /** A file whose tensor 'w' starts 2 bytes past an 8-byte boundary (a one-element F16 tensor before it). */
  function fileWith(name: string, dtype: DType, rows: number, cols: number, data: Float32Array): TensorEntry {
    const file = path.join(dir, name);
    writeSafetensors(
      file,
      [
        { name: 'pad', shape: [1], data: new Float32Array([1]) },
        { name: 'w', shape: [rows, cols], data },
      ],
      dtype,
    );
    return readSafetensorsHeader(file).tensors.get('w')!;
  }

  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    test(`${dtype}: as stored and transposed, bit for bit the JavaScript reader's values (blocks cut mid-row)`, () => {
      const rows = 67,
        cols = 131; // not multiples of the 64-row blocks
      const data = randomBits(rows * cols, 7);
      const entry = fileWith(`odd-${dtype}.safetensors`, dtype, rows, cols, data);
      const plain = read()(entry),
        t = read()(entry, true);
      assert.deepEqual(bits(plain), bits(readTensorFloat32(entry)));
      assert.deepEqual(bits(t), bits(readTensorFloat32(entry, true)));
      // Independent of either reader: the stored values are the float32 ones rounded (F32: the same bits).
      if (dtype === 'F32') assert.deepEqual(bits(plain), bits(data));
      else assertRounded(plain, data, dtype);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) assert.ok(Object.is(t[c * rows + r], plain[r * cols + c]), `[${r}, ${c}]`);
    });
  }

  test('a tensor larger than one read chunk (8 MiB): every chunk lands in place, transposed too', () => {
    const rows = 8000,
      cols = 1100; // BF16: 3808 rows a chunk, three chunks, the last one partial; cols not a multiple of 8
    const data = randomUniform(rows * cols, 3, -4, 4);
    const entry = fileWith('chunks.safetensors', 'BF16', rows, cols, data);
    const plain = read()(entry),
      t = read()(entry, true);
    assertRounded(plain, data, 'BF16');
    assert.deepEqual(bits(t), bits(readTensorFloat32(entry, true)));
  });

  test('every F16 and BF16 bit pattern widens as the JavaScript reader does (NaN included)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    for (const dtype of ['F16', 'BF16'] as const) {
      const entry = fileWith(`all-${dtype}.safetensors`, dtype, 256, 256, decodeToFloat32(new Uint8Array(all.buffer), dtype));
      assert.deepEqual(bits(read()(entry)), bits(readTensorFloat32(entry)), dtype);
    }
  });

  test('a file cut after the header was read: the same named error as the JavaScript reader', () => {
    const entry = fileWith('cut.safetensors', 'BF16', 300, 700, randomUniform(300 * 700, 5, -1, 1));
    fs.truncateSync(entry.file, fs.statSync(entry.file).size - 1000);
    for (const transpose of [false, true]) {
      expectInputError(() => read()(entry, transpose), 'cut.safetensors', "tensor 'w'", 'file ended before the tensor data did');
    }
    fs.rmSync(entry.file);
    expectInputError(() => read()(entry), 'cut.safetensors', 'not found');
  });

  test('transposing what is not a matrix, and empty tensors', () => {
    const file = path.join(dir, 'shapes.safetensors');
    writeSafetensors(
      file,
      [
        { name: 'v', shape: [3], data: new Float32Array([1, 2, 3]) },
        { name: 'e', shape: [0, 4], data: new Float32Array(0) },
      ],
      'BF16',
    );
    const h = readSafetensorsHeader(file).tensors;
    expectInputError(() => read()(h.get('v')!, true), 'shapes.safetensors', "tensor 'v'", 'shape [3] is not a matrix');
    assert.deepEqual([...read()(h.get('v')!)], [1, 2, 3]);
    assert.equal(read()(h.get('e')!, true).length, 0);
  });

  test('TensorStore with the native reader: readTransposed checks the shape first', () => {
    const file = path.join(dir, 'store.safetensors');
    writeSafetensors(file, [{ name: 'w', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }], 'F32');
    const store = TensorStore.openFile(file, read());
    assert.deepEqual([...store.readTransposed('w', 2, 3)], [1, 4, 2, 5, 3, 6]);
    expectInputError(
      () => store.readTransposed('w', 3, 2),
      "tensor 'w'",
      'shape [2, 3] disagrees with the configuration, which implies [3, 2]',
    );
  });
});
