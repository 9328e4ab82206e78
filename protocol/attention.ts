/**
 * Attention maps as the engine produces them and the attention panel shows them.
 * Shared by the engine, the extension and the webview: no imports, no Node, no DOM.
 *
 * Every map is tq x tk, row-major, row = query position, column = key position, float32.
 * positive = A1 (softmax of the first term); negative = lambda * A2 (scaled, as the DiffLoRA authors'
 * code exports it); differential = A1 - lambda * A2 (can be negative). Base and plain LoRA models only
 * have positive maps.
 */

export type MapKind = 'positive' | 'negative' | 'differential';
export const MAP_KINDS: readonly MapKind[] = ['positive', 'negative', 'differential'];

export type ModelKind = 'base' | 'lora' | 'difflora';

export interface HeadMaps {
  head: number;
  positive: Float32Array;
  negative?: Float32Array;
  differential?: Float32Array;
}

export interface LayerMaps {
  layer: number;
  /** DiffLoRA: the layer's lambda (one scalar shared by its heads). */
  lambda?: number;
  heads: HeadMaps[];
}

export interface ModelAttention {
  label: string;
  kind: ModelKind;
  /** Display text of each token (decoded, not escaped: renderers must treat it as text). */
  tokens: string[];
  tq: number;
  tk: number;
  numLayers: number;
  numHeads: number;
  /** May start empty and fill as layers stream in. */
  layers: LayerMaps[];
}

/**
 * The engine's capture packs the heads of a layer into one array per kind, [heads.length, tq, tk].
 * This splits it into per-head views (subarrays: no copy).
 */
export interface PackedLayerMaps {
  layer: number;
  heads: number[];
  tq: number;
  tk: number;
  lambda?: number;
  positive: Float32Array;
  negative?: Float32Array;
  differential?: Float32Array;
}

export function unpackLayerMaps(p: PackedLayerMaps): LayerMaps {
  const n = p.tq * p.tk;
  for (const k of MAP_KINDS) {
    const a = p[k];
    if (a && a.length !== n * p.heads.length)
      throw new Error(`${k} map has ${a.length} values, expected ${p.heads.length} x ${p.tq} x ${p.tk}`);
  }
  const view = (a: Float32Array | undefined, i: number) => a?.subarray(i * n, (i + 1) * n);
  return {
    layer: p.layer,
    lambda: p.lambda,
    heads: p.heads.map((head, i) => ({
      head,
      positive: view(p.positive, i)!,
      negative: view(p.negative, i),
      differential: view(p.differential, i),
    })),
  };
}

/** Checks a layer against its model's shape; returns a message, or undefined when it fits. */
export function checkLayerMaps(m: Pick<ModelAttention, 'tq' | 'tk' | 'numLayers' | 'numHeads'>, l: LayerMaps): string | undefined {
  if (!Number.isInteger(l.layer) || l.layer < 0 || l.layer >= m.numLayers) return `layer ${l.layer} out of range 0..${m.numLayers - 1}`;
  const n = m.tq * m.tk;
  for (const h of l.heads) {
    if (!Number.isInteger(h.head) || h.head < 0 || h.head >= m.numHeads)
      return `layer ${l.layer}: head ${h.head} out of range 0..${m.numHeads - 1}`;
    for (const k of MAP_KINDS) {
      const a = h[k];
      if (k === 'positive' && !a) return `layer ${l.layer} head ${h.head}: no positive map`;
      if (a && a.length !== n) return `layer ${l.layer} head ${h.head}: ${k} map has ${a.length} values, expected ${m.tq} x ${m.tk}`;
    }
  }
  return undefined;
}

/** Messages from the extension host to the attention webview (typed arrays travel as binary). */
export type AttentionHostMessage =
  | { type: 'attention.reset'; title?: string }
  /** A model whose layers will follow; `layers` may already hold some. Its index is its order of arrival. */
  | { type: 'attention.model'; model: ModelAttention }
  | { type: 'attention.layer'; model: number; layer: LayerMaps }
  /**
   * A layer as the engine sent it (16-bit, lower triangle: see map-pack.ts), decoded in the view: a
   * fraction of the bytes of float32 maps through the webview channel.
   */
  | { type: 'attention.wireLayer'; model: number; maps: import('./map-pack').WireLayerMaps }
  | { type: 'attention.done'; model: number }
  /** A line above the maps (they are of a model no longer loaded; the request was cancelled), or null to clear it. */
  | { type: 'attention.notice'; text: string | null };

/** Messages from the attention webview to the extension host. */
export type AttentionViewMessage =
  | { type: 'attention.ready' }
  /** An export the host should save; `data` is base64 for PNG, text for JSON. */
  | { type: 'attention.export'; format: 'png' | 'json'; filename: string; data: string }
  /** What the editor's hover and tint show: one head, or (null) the mean over all layers and heads. */
  | { type: 'attention.focus'; focus: { layer: number; head: number } | null };
