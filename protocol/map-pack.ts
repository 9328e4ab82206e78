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
  if (!(min <= max)) {
    min = 0;
    max = 0;
  }
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

/** A layer's maps that do not hold together (sizes, types): the message names the layer and kind. */
export class MapPackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MapPackError';
  }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const show = (v: unknown): string => {
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  try {
    return String(JSON.stringify(v)).slice(0, 60);
  } catch {
    return typeof v;
  }
};

/** Checks an encoded block's fields (it may come from another process); returns it typed. */
function checkBlock(raw: unknown, where: string): EncodedMaps {
  if (typeof raw !== 'object' || raw === null) throw new MapPackError(`${where}: expected an encoded block, got ${show(raw)}`);
  const e = raw as Partial<EncodedMaps>;
  if (e.encoding === 'u16') {
    if (!(e.data instanceof Uint16Array)) throw new MapPackError(`${where}: a u16 block needs a Uint16Array, got ${show(e.data)}`);
    if (typeof e.min !== 'number' || !Number.isFinite(e.min) || typeof e.scale !== 'number' || !Number.isFinite(e.scale)) {
      throw new MapPackError(`${where}: a u16 block needs finite min and scale, got ${show(e.min)} and ${show(e.scale)}`);
    }
  } else if (e.encoding === 'f32') {
    if (!(e.data instanceof Float32Array)) throw new MapPackError(`${where}: an f32 block needs a Float32Array, got ${show(e.data)}`);
  } else {
    throw new MapPackError(`${where}: unknown encoding ${show(e.encoding)} (u16 or f32)`);
  }
  if (typeof e.lower !== 'boolean') throw new MapPackError(`${where}: 'lower' must be true or false, got ${show(e.lower)}`);
  return e as EncodedMaps;
}

function decodeBlock(raw: unknown, n: number, tq: number, tk: number, where: string): Float32Array {
  const e = checkBlock(raw, where);
  const per = e.lower ? (tq * (tq + 1)) / 2 : tq * tk;
  if (e.lower && tq !== tk) throw new MapPackError(`${where}: a lower-triangle block needs tq = tk (got ${tq} x ${tk})`);
  if (e.data.length !== n * per) throw new MapPackError(`${where}: ${e.data.length} values, expected ${n} heads x ${per}`);
  const out = new Float32Array(n * tq * tk);
  const { min, scale, data } = e;
  const u16 = e.encoding === 'u16';
  let o = 0;
  for (let h = 0; h < n; h++) {
    for (let q = 0; q < tq; q++) {
      const row = h * tq * tk + q * tk;
      const len = e.lower ? q + 1 : tk;
      if (u16) for (let k = 0; k < len; k++) out[row + k] = min + scale * data[o++];
      else {
        out.set(data.subarray(o, o + len), row);
        o += len;
      }
    }
  }
  return out;
}

/** The maps of one layer as they came over the wire, checked (a MapPackError says what does not fit). */
export function decodeLayerMaps(w: WireLayerMaps): PackedLayerMaps {
  if (typeof w !== 'object' || w === null) throw new MapPackError(`layer maps: expected an object, got ${show(w)}`);
  if (!isCount(w.layer)) throw new MapPackError(`layer maps: 'layer' must be an integer >= 0, got ${show(w.layer)}`);
  const where = `layer ${w.layer}`;
  if (!Array.isArray(w.heads) || !w.heads.every(isCount))
    throw new MapPackError(`${where}: 'heads' must be a list of integers >= 0, got ${show(w.heads)}`);
  for (const k of ['tq', 'tk'] as const)
    if (!isCount(w[k])) throw new MapPackError(`${where}: '${k}' must be an integer >= 0, got ${show(w[k])}`);
  if (w.lambda !== undefined && w.lambda !== null && typeof w.lambda !== 'number')
    throw new MapPackError(`${where}: 'lambda' must be a number, got ${show(w.lambda)}`);
  if (typeof w.maps !== 'object' || w.maps === null) throw new MapPackError(`${where}: 'maps' must be an object, got ${show(w.maps)}`);
  const n = w.heads.length;
  const get = (k: MapKind) => {
    const e = w.maps[k];
    return e === undefined || e === null ? undefined : decodeBlock(e, n, w.tq, w.tk, `${where} ${k}`);
  };
  const positive = get('positive');
  if (!positive) throw new MapPackError(`${where}: no positive maps`);
  return {
    layer: w.layer,
    heads: w.heads,
    tq: w.tq,
    tk: w.tk,
    lambda: w.lambda,
    positive,
    negative: get('negative'),
    differential: get('differential'),
  };
}

/** Bytes of the arrays in a layer's message (what the benchmark reports per map). */
export function wireBytes(w: WireLayerMaps): number {
  return Object.values(w.maps).reduce((s, e) => s + (e ? e.data.byteLength : 0), 0);
}

/** Row `q` of head number `h` (index into the block's heads) of an encoded block, without decoding the rest. */
export function encodedRow(raw: EncodedMaps, h: number, tq: number, tk: number, q: number): Float32Array {
  const e = checkBlock(raw, 'encoded row');
  if (![h, tq, tk, q].every(isCount) || q >= tq || (e.lower && tq !== tk)) {
    throw new MapPackError(
      `encoded row: no row ${show(q)} of head ${show(h)} in a ${e.lower ? 'lower-triangle ' : ''}block of ${show(tq)} x ${show(tk)}`,
    );
  }
  const per = e.lower ? (tq * (tq + 1)) / 2 : tq * tk;
  const start = h * per + (e.lower ? (q * (q + 1)) / 2 : q * tk);
  const len = e.lower ? q + 1 : tk;
  if (start + len > e.data.length)
    throw new MapPackError(`encoded row: row ${q} of head ${h} ends at ${start + len}, past the block's ${e.data.length} values`);
  const out = new Float32Array(tk);
  for (let k = 0; k < len; k++) out[k] = e.encoding === 'u16' ? e.min + e.scale * e.data[start + k] : e.data[start + k];
  return out;
}
