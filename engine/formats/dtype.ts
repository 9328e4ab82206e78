/** Floating-point storage types the engine reads and writes. */
export type DType = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

export function isDType(s: unknown): s is DType {
  return s === 'F32' || s === 'F16' || s === 'BF16';
}

let halfTable: Float32Array | undefined;

/** All 65536 IEEE half values as float32, built once (a lookup beats bit-twiddling per element). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    halfTable[h] = sign * v;
  }
  return halfTable;
}

/** Decodes little-endian raw bytes of `dtype` into float32. */
export function decodeToFloat32(bytes: Uint8Array, dtype: DType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  // Copy to an aligned buffer: safetensors offsets need not be 4-byte aligned.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') return new Float32Array(aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + bytes.byteLength));
  const u16 = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  const out = new Float32Array(n);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = u16[i] << 16;
  } else {
    const table = halfToFloatTable();
    for (let i = 0; i < n; i++) out[i] = table[u16[i]];
  }
  return out;
}

/** Encodes float32 values as little-endian bytes of `dtype` (round to nearest even). */
export function encodeFromFloat32(values: Float32Array, dtype: DType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  if (dtype === 'BF16') {
    for (let i = 0; i < values.length; i++) {
      const b = bits[i];
      if ((b & 0x7fffffff) > 0x7f800000) {
        out[i] = (b >>> 16) | 0x40;
        continue;
      } // keep NaN a NaN
      out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = floatToHalf(bits[i]);
  }
  return new Uint8Array(out.buffer);
}

function floatToHalf(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
