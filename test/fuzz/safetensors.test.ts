/**
 * Fuzzing the safetensors reader: generated headers (dtypes, shapes, offsets, metadata, the length
 * field), random bytes, and byte-level mutations and truncations of valid files. Each file either reads,
 * with every tensor inside the file and readable, or gives one InputError naming the file; never a raw
 * TypeError / RangeError. Also the shard index of a sharded checkpoint (TensorStore.openFolder).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { InputError } from '../../engine/errors';
import { readSafetensorsHeader, readTensorFloat32, SafetensorsHeader, writeSafetensors } from '../../engine/formats/safetensors';
import { TensorStore } from '../../engine/formats/tensor-store';
import { nativeTensorReader } from '../../engine/formats/native-reader';
import { loadNativeAddon } from '../../engine/backends/native-addon';
import { nativeSkip } from '../helpers/native';
import { fuzzParams, valueOrError } from '../helpers/fuzz';
import { tempDir } from '../helpers/reference';

const dir = tempDir('fuzz-st');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const nextFile = (ext = '.safetensors') => path.join(dir, `f${counter++}${ext}`);

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** A dimension: mostly small and valid, sometimes anything JSON can hold. */
const dim = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 5 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 53, 2 ** 53 + 2, 1e308, -1, -0, 2 ** 31, 2 ** 32)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const shapeArb = fc.oneof(
  { weight: 8, arbitrary: fc.array(dim, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const dtypeArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('F32', 'F16', 'BF16') },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('F64', 'I8', 'U8', 'BOOL', 'f32', ''), fc.jsonValue({ maxDepth: 1 })) },
);
/** 'auto': contiguous offsets that fit the shape; else a shifted pair or any JSON. */
const offsetsArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('auto' as const) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: -8, max: 8 }), fc.integer({ min: -8, max: 8 }))
      .map(([a, b]) => ({ shift: [a, b] as [number, number] })),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((raw) => ({ raw })) },
);
const nameArb = fc.oneof(
  fc.constantFrom('model.embed_tokens.weight', 'lm_head.weight', '__proto__', 'constructor', 'toString', '', 'a'),
  fc.string({ maxLength: 12, unit: 'binary' }),
);
const entryArb = fc.record({ name: nameArb, dtype: dtypeArb, shape: shapeArb, offsets: offsetsArb });

interface Spec {
  entries: { name: string; dtype: unknown; shape: unknown; offsets: 'auto' | { shift: [number, number] } | { raw: unknown } }[];
  metadata: unknown;
  /** The header's JSON text: as generated, or replaced by any JSON / any text. */
  headerText: { kind: 'spec' } | { kind: 'json'; value: unknown } | { kind: 'text'; value: string };
  /** The u64 length field: right, off by `delta`, or any 64-bit value. */
  lengthField: { kind: 'right' } | { kind: 'delta'; delta: number } | { kind: 'any'; value: bigint };
  /** Bytes of data: what the offsets need, plus this (negative: the file is cut). */
  dataDelta: number;
  /** Single-byte edits anywhere in the file, then a final cut. */
  edits: { at: number; byte: number }[];
  cutTo?: number;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  entries: fc.array(entryArb, { maxLength: 5 }),
  metadata: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  ),
  headerText: fc.oneof(
    { weight: 10, arbitrary: fc.constant({ kind: 'spec' as const }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }).map((value) => ({ kind: 'text' as const, value })) },
  ),
  lengthField: fc.oneof(
    { weight: 8, arbitrary: fc.constant({ kind: 'right' as const }) },
    { weight: 2, arbitrary: fc.integer({ min: -9, max: 9 }).map((delta) => ({ kind: 'delta' as const, delta })) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ kind: 'any' as const, value })) },
  ),
  dataDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -16, max: 16 }) }),
  edits: fc.oneof(
    { weight: 6, arbitrary: fc.constant<{ at: number; byte: number }[]>([]) },
    { weight: 1, arbitrary: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }) },
  ),
  cutTo: fc.option(fc.nat(), { nil: undefined, freq: 8 }),
});

function product(shape: unknown): number {
  const n =
    Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) ? shape.reduce((a: number, b: number) => a * b, 1) : 1;
  return Number.isFinite(n) ? n : 1;
}

function build(s: Spec): Buffer {
  const header: Record<string, unknown> = {};
  if (s.metadata !== undefined) header.__metadata__ = s.metadata;
  let offset = 0;
  for (const e of s.entries) {
    const size = Math.min(product(e.shape), 64) * (typeof e.dtype === 'string' && Object.hasOwn(BYTES, e.dtype) ? BYTES[e.dtype] : 4);
    let offsets: unknown;
    if (e.offsets === 'auto') offsets = [offset, offset + size];
    else if ('shift' in e.offsets) offsets = [offset + e.offsets.shift[0], offset + size + e.offsets.shift[1]];
    else offsets = e.offsets.raw;
    offset += size;
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: offsets };
  }
  const text =
    s.headerText.kind === 'spec'
      ? JSON.stringify(header)
      : s.headerText.kind === 'json'
        ? (JSON.stringify(s.headerText.value) ?? '')
        : s.headerText.value;
  const json = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  const field =
    s.lengthField.kind === 'right'
      ? BigInt(json.length)
      : s.lengthField.kind === 'delta'
        ? BigInt(Math.max(0, json.length + s.lengthField.delta))
        : s.lengthField.value;
  len.writeBigUInt64LE(field);
  const data = Buffer.alloc(Math.max(0, offset + s.dataDelta));
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
  const file = Buffer.concat([len, json, data]);
  for (const { at, byte } of s.edits) if (file.length) file[at % file.length] = byte;
  return s.cutTo === undefined ? file : file.subarray(0, s.cutTo % (file.length + 1));
}

/** What a header that reads must satisfy: every tensor inside the file, of its shape's size, no overlaps, readable. */
function checkHeader(file: string, h: SafetensorsHeader): void {
  const size = fs.statSync(file).size;
  assert.ok(h.metadata !== null && typeof h.metadata === 'object' && !Array.isArray(h.metadata), 'metadata is an object');
  for (const v of Object.values(h.metadata)) assert.equal(typeof v, 'string', 'metadata values are strings');
  const entries = [...h.tensors.values()].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let end = 0;
  for (const e of entries) {
    assert.ok(
      e.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      `shape ${e.shape}`,
    );
    assert.equal(e.byteLength, e.shape.reduce((a, b) => a * b, 1) * BYTES[e.dtype]);
    assert.ok(
      e.offset >= 8 && e.offset + e.byteLength <= size,
      `'${e.name}' [${e.offset}, ${e.offset + e.byteLength}) inside ${size} bytes`,
    );
    assert.ok(e.offset >= end || e.byteLength === 0, `'${e.name}' overlaps`);
    end = Math.max(end, e.offset + e.byteLength);
    const values = readTensorFloat32(e);
    assert.equal(values.length, e.byteLength / BYTES[e.dtype]);
    if (nativeRead) {
      assert.deepEqual(bits(nativeRead(e)), bits(values), `'${e.name}' native`);
      if (e.shape.length === 2)
        assert.deepEqual(bits(nativeRead(e, true)), bits(readTensorFloat32(e, true)), `'${e.name}' native, transposed`);
    }
  }
}

/** The native backend's reader too, where the addon loads: the same values bit for bit, the same errors. */
const nativeRead = nativeSkip() ? undefined : nativeTensorReader(loadNativeAddon().addon);
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function readOrInputError(file: string): void {
  const r = valueOrError(() => readSafetensorsHeader(file), InputError, file);
  if (r.value) checkHeader(file, r.value);
}

describe('fuzz: safetensors reader', () => {
  test('generated headers, length fields, data sizes, edits and cuts: a good read or an InputError naming the file', () => {
    let reads = 0,
      errors = 0;
    fc.assert(
      fc.property(specArb, (s) => {
        const file = nextFile();
        fs.writeFileSync(file, build(s));
        try {
          const r = valueOrError(() => readSafetensorsHeader(file), InputError, file);
          if (r.value) {
            checkHeader(file, r.value);
            reads++;
          } else errors++;
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(400),
    );
    // The generator must reach both sides, or it tests nothing.
    assert.ok(reads > 0 && errors > 0, `reads ${reads}, errors ${errors}`);
  });

  test('random bytes (and random bytes after a plausible length field)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.boolean(), (bytes, plausible) => {
        const file = nextFile();
        const buf = Buffer.from(bytes);
        if (plausible && buf.length >= 8) buf.writeBigUInt64LE(BigInt(buf.length - 8 - ((buf[8] ?? 0) % (buf.length - 7))), 0);
        fs.writeFileSync(file, buf);
        try {
          readOrInputError(file);
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(300),
    );
  });

  test('byte edits and cuts of files written by writeSafetensors', () => {
    const tensorsArb = fc
      .array(
        fc.record({
          name: fc.string({ minLength: 1, maxLength: 8 }),
          shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((ts) => {
        const seen = new Set<string>();
        return ts
          .filter((t) => !seen.has(t.name) && seen.add(t.name))
          .map((t) => ({ ...t, data: new Float32Array(t.shape.reduce((a, b) => a * b, 1)).map((_, i) => i - 1.5) }));
      });
    fc.assert(
      fc.property(
        tensorsArb,
        fc.constantFrom('F32', 'F16', 'BF16') as fc.Arbitrary<'F32' | 'F16' | 'BF16'>,
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
        fc.option(fc.nat(), { nil: undefined }),
        (tensors, dtype, edits, cut) => {
          const file = nextFile();
          writeSafetensors(file, tensors, dtype, { format: 'pt' });
          const bytes = fs.readFileSync(file);
          for (const { at, byte } of edits) bytes[at % bytes.length] = byte;
          fs.writeFileSync(file, cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1)));
          try {
            readOrInputError(file);
          } finally {
            fs.rmSync(file);
          }
        },
      ),
      fuzzParams(300),
    );
  });

  test('a tensor file replaced by a folder, or cut after its header was read', () => {
    const folder = nextFile();
    fs.mkdirSync(folder);
    valueOrError(() => readSafetensorsHeader(folder), InputError, folder);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(), (n, cutSeed) => {
        const file = nextFile();
        writeSafetensors(file, [{ name: 'w', shape: [n], data: new Float32Array(n).fill(1) }], 'F32');
        const entry = readSafetensorsHeader(file).tensors.get('w')!;
        const size = fs.statSync(file).size;
        fs.truncateSync(file, size - 1 - (cutSeed % (4 * n)));
        try {
          valueOrError(() => readTensorFloat32(entry), InputError, file, "tensor 'w'");
          if (nativeRead) valueOrError(() => nativeRead(entry), InputError, file, "tensor 'w'");
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(30),
    );
  });
});

describe('fuzz: sharded checkpoint index', () => {
  test('model.safetensors.index.json: any JSON, any weight_map, shards named anything', () => {
    const shardName = 'model-00001-of-00001.safetensors';
    const weightMapArb = fc.oneof(
      fc.dictionary(
        fc.constantFrom('a', 'b', 'missing', '__proto__'),
        fc.oneof(
          fc.constant(shardName),
          fc.constantFrom('', '.', '..', '/', 'nope.safetensors', `./${shardName}`),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        { maxKeys: 4 },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const indexArb = fc.oneof(
      { weight: 6, arbitrary: weightMapArb.map((weight_map) => JSON.stringify({ metadata: { total_size: 12 }, weight_map })) },
      { weight: 1, arbitrary: fc.json({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    );
    fc.assert(
      fc.property(indexArb, (index) => {
        const folder = nextFile('.d');
        fs.mkdirSync(folder);
        writeSafetensors(
          path.join(folder, shardName),
          [
            { name: 'a', shape: [2], data: new Float32Array(2) },
            { name: 'b', shape: [1], data: new Float32Array(1) },
          ],
          'F32',
        );
        const indexFile = path.join(folder, 'model.safetensors.index.json');
        fs.writeFileSync(indexFile, index);
        try {
          const r = valueOrError(() => TensorStore.openFolder(folder, 'model.safetensors'), InputError, folder);
          if (r.value) for (const n of r.value.names()) assert.ok(r.value.read(n) instanceof Float32Array);
        } finally {
          fs.rmSync(folder, { recursive: true });
        }
      }),
      fuzzParams(300),
    );
  });
});
