/**
 * Float32Array <-> base64 (little-endian bytes), and the serialised form of ModelAttention used by the
 * self-contained report and the "all maps" JSON export. Runs in the browser and in Node: no imports
 * from either (Buffer is used when the global exists, for speed).
 */
import { MAP_KINDS, type HeadMaps, type LayerMaps, type MapKind, type ModelAttention } from '../protocol/attention';

interface BufferLike {
  from(a: ArrayBufferLike, off: number, len: number): { toString(enc: 'base64'): string };
  from(s: string, enc: 'base64'): Uint8Array;
}
const NodeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer;
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function bytesToBase64(b: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  const parts: string[] = [];
  const chunk = 0x6000; // multiple of 3: chunks concatenate without padding in between
  for (let i = 0; i < b.length; i += chunk) {
    const s = b.subarray(i, Math.min(i + chunk, b.length));
    parts.push(btoa(String.fromCharCode.apply(null, s as unknown as number[])));
  }
  return parts.join('');
}

export function base64ToBytes(s: string): Uint8Array {
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(s, 'base64'));
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function float32ToBase64(a: Float32Array): string {
  if (!littleEndian) throw new Error('big-endian hosts are not supported');
  return bytesToBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

export function base64ToFloat32(s: string): Float32Array {
  const b = base64ToBytes(s);
  if (b.byteLength % 4) throw new Error('base64 float32 data: length is not a multiple of 4 bytes');
  // Copy into a fresh, aligned buffer.
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** ModelAttention with every map as base64 float32 (little-endian). */
export interface SerializedHead {
  head: number;
  positive: string;
  negative?: string;
  differential?: string;
}
export interface SerializedModel extends Omit<ModelAttention, 'layers'> {
  layers: { layer: number; lambda?: number; heads: SerializedHead[] }[];
}
export interface SerializedAttention {
  format: 'difflora-lens-attention';
  version: 1;
  encoding: 'base64-float32le';
  title?: string;
  models: SerializedModel[];
}

export function serializeModels(models: ModelAttention[], title?: string): SerializedAttention {
  return {
    format: 'difflora-lens-attention',
    version: 1,
    encoding: 'base64-float32le',
    title,
    models: models.map((m) => ({
      label: m.label,
      kind: m.kind,
      tokens: m.tokens,
      tq: m.tq,
      tk: m.tk,
      numLayers: m.numLayers,
      numHeads: m.numHeads,
      layers: m.layers.map((l) => ({
        layer: l.layer,
        ...(l.lambda !== undefined ? { lambda: l.lambda } : {}),
        heads: l.heads.map((h) => {
          const o: SerializedHead = { head: h.head, positive: float32ToBase64(h.positive) };
          for (const k of MAP_KINDS) if (k !== 'positive' && h[k]) o[k] = float32ToBase64(h[k]!);
          return o;
        }),
      })),
    })),
  };
}

export function deserializeModels(s: SerializedAttention): ModelAttention[] {
  if (s.format !== 'difflora-lens-attention' || s.encoding !== 'base64-float32le') throw new Error('not a DiffLoRA Lens attention file');
  return s.models.map((m) => ({
    ...m,
    layers: m.layers.map((l): LayerMaps => ({
      layer: l.layer,
      lambda: l.lambda,
      heads: l.heads.map((h): HeadMaps => {
        const o: HeadMaps = { head: h.head, positive: base64ToFloat32(h.positive) };
        for (const k of ['negative', 'differential'] as MapKind[])
          if (h[k]) (o as unknown as Record<string, Float32Array>)[k] = base64ToFloat32(h[k]!);
        return o;
      }),
    })),
  }));
}

/** JSON for embedding inside <script type="application/json">: no "<" can close the element. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
