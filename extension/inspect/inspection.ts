/**
 * The attention results of one "Show Attention" run over a document range, kept for hover-to-inspect:
 * each model's layers in their wire form (16-bit, lower triangle), read one row at a time.
 * No `vscode` import: the hover and decoration code adapt it to the editor.
 */
import type { MapKind, ModelKind } from '../../protocol/attention';
import type { TokenSpan } from '../../protocol/engine';
import { encodedRow, type WireLayerMaps } from '../../protocol/map-pack';

export interface InspectedModel {
  label: string;
  kind: ModelKind;
  numLayers: number;
  numHeads: number;
  layers: WireLayerMaps[];
}

export interface Focus {
  layer: number;
  head: number;
}

export interface Attended {
  token: number;
  weight: number;
}

export class Inspection {
  readonly models: InspectedModel[] = [];
  /** A head chosen in the panel; undefined = the mean over all captured layers and heads. */
  focus?: Focus;

  /** `start` is the document offset of the text's first character. */
  constructor(
    readonly uri: string,
    readonly version: number,
    readonly start: number,
    readonly text: string,
    readonly tokens: TokenSpan[],
  ) {}

  /** The map a model is read from: the differential map where there is one, else the softmax. */
  static mapKind(m: WireLayerMaps): MapKind {
    return m.maps.differential ? 'differential' : 'positive';
  }

  /** The token covering document offset `offset`, or undefined outside the inspected text. */
  tokenAt(offset: number): number | undefined {
    const rel = offset - this.start;
    const i = this.tokens.findIndex((t) => t.start !== undefined && t.end !== undefined && rel >= t.start && rel < t.end);
    return i < 0 ? undefined : i;
  }

  /** Query row `q` of a model: the focused head's, or the mean over all captured heads of all layers. */
  row(model: number, q: number): Float32Array | undefined {
    const m = this.models[model];
    const T = this.tokens.length;
    const picked = this.focus
      ? m.layers
          .filter((l) => l.layer === this.focus!.layer)
          .map((l) => ({ l, heads: [l.heads.indexOf(this.focus!.head)].filter((h) => h >= 0) }))
      : m.layers.map((l) => ({ l, heads: l.heads.map((_, i) => i) }));
    const out = new Float32Array(T);
    let n = 0;
    for (const { l, heads } of picked) {
      const e = l.maps[Inspection.mapKind(l)]!;
      for (const h of heads) {
        const r = encodedRow(e, h, l.tq, l.tk, q);
        for (let k = 0; k < T; k++) out[k] += r[k];
        n++;
      }
    }
    if (n === 0) return undefined;
    for (let k = 0; k < T; k++) out[k] /= n;
    return out;
  }

  /** The `n` keys with the largest weights in a row (causal: only keys up to q). */
  static top(row: Float32Array, q: number, n: number): Attended[] {
    return Array.from(row.subarray(0, q + 1), (weight, token) => ({ token, weight }))
      .sort((a, b) => b.weight - a.weight)
      .slice(0, n);
  }

  describeScope(): string {
    return this.focus ? `layer ${this.focus.layer}, head ${this.focus.head}` : 'mean over all layers and heads';
  }
}
