/**
 * Attention maps as they travel from the engine: per layer and kind, the heads' maps in one typed array.
 * Causal maps (tq = tk) send only the lower triangle (the rest is exactly zero), and by default each
 * (layer, kind) block is quantised to 16 bits over its own [min, max]: the error is at most
 * (max - min) / 131070, below what the panel displays, at half the bytes of float32.
 * Pure code without imports.
 */
import { MAP_KINDS, type MapKind, type PackedLayerMaps } from './attention';

export type MapEncoding = 'u16' | 'f32';

export interface EncodedMaps {
  encoding: MapEncoding;
  /** Only the lower triangle, row by row (row q holds q + 1 values). */
  lower: boolean;
  min: number;
  /** value = min + scale * q for u16; unused for f32. */
  scale: number;
  data: Uint16Array | Float32Array;
}

export interface WireLayerMaps {
  layer: number;
  heads: number[];
  tq: number;
  tk: number;
  lambda?: number;
  maps: Partial<Record<MapKind, EncodedMaps>>;
}

function encodeBlock(a: Float32Array, n: number, tq: number, tk: number, encoding: MapEncoding): EncodedMaps {
  const lower = tq === tk;
  const per = lower ? (tq * (tq + 1)) / 2 : tq * tk;
  const src = lower ? new Float32Array(n * per) : a;
  if (lower) {
    let o = 0;
    for (let h = 0; h < n; h++) {
      for (let q = 0; q < tq; q++) {
        const row = h * tq * tk + q * tk;
        src.set(a.subarray(row, row + q + 1), o);
        o += q + 1;
      }
    }
  }
  if (encoding === 'f32') return { encoding, lower, min: 0, scale: 1, data: src === a ? a.slice() : src };
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(min <= max)) { min = 0; max = 0; }
  const scale = max > min ? (max - min) / 65535 : 1;
  const data = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = Math.round((src[i] - min) / scale);
  return { encoding, lower, min, scale, data };
}

export function encodeLayerMaps(p: PackedLayerMaps, encoding: MapEncoding): WireLayerMaps {
  const maps: Partial<Record<MapKind, EncodedMaps>> = {};
  for (const k of MAP_KINDS) {
    const a = p[k];
    if (a) maps[k] = encodeBlock(a, p.heads.length, p.tq, p.tk, encoding);
  }
  return { layer: p.layer, heads: p.heads, tq: p.tq, tk: p.tk, lambda: p.lambda, maps };
}

function decodeBlock(e: EncodedMaps, n: number, tq: number, tk: number, where: string): Float32Array {
  const per = e.lower ? (tq * (tq + 1)) / 2 : tq * tk;
  if (e.lower && tq !== tk) throw new Error(`${where}: a lower-triangle block needs tq = tk (got ${tq} x ${tk})`);
  if (e.data.length !== n * per) throw new Error(`${where}: ${e.data.length} values, expected ${n} heads x ${per}`);
  const out = new Float32Array(n * tq * tk);
  const { min, scale, data } = e;
  const u16 = e.encoding === 'u16';
  let o = 0;
  for (let h = 0; h < n; h++) {
    for (let q = 0; q < tq; q++) {
      const row = h * tq * tk + q * tk;
      const len = e.lower ? q + 1 : tk;
      if (u16) for (let k = 0; k < len; k++) out[row + k] = min + scale * data[o++];
      else { out.set(data.subarray(o, o + len), row); o += len; }
    }
  }
  return out;
}

export function decodeLayerMaps(w: WireLayerMaps): PackedLayerMaps {
  const n = w.heads.length;
  const get = (k: MapKind) => {
    const e = w.maps[k];
    return e && decodeBlock(e, n, w.tq, w.tk, `layer ${w.layer} ${k}`);
  };
  const positive = get('positive');
  if (!positive) throw new Error(`layer ${w.layer}: no positive maps`);
  return { layer: w.layer, heads: w.heads, tq: w.tq, tk: w.tk, lambda: w.lambda, positive, negative: get('negative'), differential: get('differential') };
}

/** Bytes of the arrays in a layer's message (what the benchmark reports per map). */
export function wireBytes(w: WireLayerMaps): number {
  return Object.values(w.maps).reduce((s, e) => s + (e ? e.data.byteLength : 0), 0);
}

/** Row `q` of head number `h` (index into the block's heads) of an encoded block, without decoding the rest. */
export function encodedRow(e: EncodedMaps, h: number, tq: number, tk: number, q: number): Float32Array {
  const per = e.lower ? (tq * (tq + 1)) / 2 : tq * tk;
  const start = h * per + (e.lower ? (q * (q + 1)) / 2 : q * tk);
  const len = e.lower ? q + 1 : tk;
  const out = new Float32Array(tk);
  for (let k = 0; k < len; k++) out[k] = e.encoding === 'u16' ? e.min + e.scale * e.data[start + k] : e.data[start + k];
  return out;
}
