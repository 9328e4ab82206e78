/**
 * safetensors, read by offset (files over 2 GiB exist: never one buffer for the whole file) and written.
 * Layout: u64 LE header length N, N bytes of JSON, then raw little-endian tensor bytes.
 */
import * as fs from 'fs';
import { InputError } from '../errors';
import { DType, DTYPE_BYTES, decodeToFloat32, encodeFromFloat32, isDType } from './dtype';

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Headers above this are refused: the format's own reference implementation caps them at 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openOrFail(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) throw new InputError(file, `truncated safetensors file: ${fileSize} bytes, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > fileSize - 8) {
      throw new InputError(
        file,
        `header length ${headerLen} goes beyond the end of the file (${fileSize} bytes): truncated or not a safetensors file`,
      );
    }
    if (headerLen > MAX_HEADER_BYTES) throw new InputError(file, `header length ${headerLen} is implausibly large`);
    const headerBuf = Buffer.alloc(headerLen);
    fs.readSync(fd, headerBuf, 0, headerLen, 8);
    let json: unknown;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch (e) {
      throw new InputError(file, `header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InputError(file, 'header is not a JSON object');
    return parseHeader(file, json as Record<string, unknown>, 8 + headerLen, fileSize);
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(file: string, json: Record<string, unknown>, dataStart: number, fileSize: number): SafetensorsHeader {
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  const dataSize = fileSize - dataStart;
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      // The format's reference implementation reads it as a map of strings, and so do we.
      if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string'))) {
        throw new InputError(file, `'__metadata__' must be an object of strings, got ${JSON.stringify(raw).slice(0, 80)}`);
      }
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const where = `${file}: tensor '${name}'`;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) throw new InputError(where, 'entry is not an object');
    if (!isDType(info.dtype)) {
      throw new InputError(where, `unsupported dtype ${JSON.stringify(info.dtype)} (supported: F32, F16, BF16)`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new InputError(where, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new InputError(where, `data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) {
      throw new InputError(
        where,
        `data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes): file truncated or offsets out of range`,
      );
    }
    const expected = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[info.dtype];
    if (!Number.isSafeInteger(expected)) throw new InputError(where, `shape [${shape.join(', ')}] is too large to be a tensor in a file`);
    if (end - begin !== expected) {
      throw new InputError(
        where,
        `shape [${shape.join(', ')}] in ${info.dtype} needs ${expected} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.set(name, { name, dtype: info.dtype, shape: shape as number[], file, offset: dataStart + begin, byteLength: end - begin });
  }
  // Ties: an empty tensor first, so one sharing its offset with the next tensor is no overlap.
  const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteLength) {
      throw new InputError(file, `tensors '${prev.name}' and '${sorted[i].name}' have overlapping data_offsets`);
    }
  }
  return { tensors, metadata };
}

/**
 * Reads a tensor's data as float32: as stored, or, with `transpose`, a 2-D [rows, cols] tensor as
 * [cols, rows] (HF's [out, in] linear weights as the engine's [in, out]).
 */
export type TensorReader = (entry: TensorEntry, transpose?: boolean) => Float32Array;

/** The JavaScript reader: bytes by offset into a buffer, decoded, then transposed when asked. */
export const readTensorFloat32: TensorReader = (entry, transpose = false) => {
  const [rows, cols] = matrixShape(entry, transpose);
  const fd = openOrFail(entry.file);
  try {
    const buf = Buffer.allocUnsafe(entry.byteLength);
    let done = 0;
    while (done < entry.byteLength) {
      // readSync moves at most 2 GiB per call.
      const n = fs.readSync(fd, buf, done, Math.min(entry.byteLength - done, 1 << 30), entry.offset + done);
      if (n === 0) throw fileEndedError(entry);
      done += n;
    }
    const data = decodeToFloat32(buf, entry.dtype);
    return transpose ? transposed(data, rows, cols) : data;
  } finally {
    fs.closeSync(fd);
  }
};

/** The tensor as [rows, cols]: its own two dimensions when transposed (which needs 2-D), else [1, size]. */
export function matrixShape(entry: TensorEntry, transpose: boolean): [number, number] {
  if (!transpose) return [1, entry.byteLength / DTYPE_BYTES[entry.dtype]];
  if (entry.shape.length !== 2)
    throw new InputError(`${entry.file}: tensor '${entry.name}'`, `shape [${entry.shape.join(', ')}] is not a matrix`);
  return [entry.shape[0], entry.shape[1]];
}

export function fileEndedError(entry: TensorEntry): InputError {
  return new InputError(`${entry.file}: tensor '${entry.name}'`, 'file ended before the tensor data did (truncated?)');
}

/** [rows, cols] -> [cols, rows], in cache-sized blocks (a naive loop is several times slower at 1B sizes). */
export function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  // Moved as bits: a float32 read into a JS number may lose a NaN's payload, depending on the JIT tier.
  const t = new Uint32Array(out.buffer),
    src = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) t[c * rows + r] = src[r * cols + c];
    }
  }
  return out;
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Writes tensors in `dtype`, streaming each tensor so a large model never sits in one buffer. */
export function writeSafetensors(file: string, tensors: TensorToWrite[], dtype: DType, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`${t.name}: shape [${t.shape}] holds ${count} values, data has ${t.data.length}`);
    const bytes = count * DTYPE_BYTES[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keeps tensor data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const tmp = `${file}.partial`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, lenBuf);
    fs.writeSync(fd, headerBytes);
    for (const t of tensors) fs.writeSync(fd, encodeFromFloat32(t.data, dtype));
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true }); // e.g. a full disk: leave nothing half-written behind
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file); // a crash mid-write never leaves a half file under the real name
}

export function openOrFail(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(file, code === 'ENOENT' ? 'not found' : `cannot open (${code ?? (e as Error).message})`);
  }
  // A folder opens on Linux, and reading it fails with a bare EISDIR: say what is wrong instead.
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new InputError(file, 'is not a file (a folder?): expected a .safetensors file');
  }
  return fd;
}
