/**
 * What the panel shows in the current mode, behind one interface: a map kind of one model, or the
 * difference of two (model, kind) operands.
 */
import type { MapKind } from '../../protocol/attention';
import type { Ramp, ScaleKind } from '../colors';
import { DifferenceStore, type Bins, type ModelStore } from './store';

export type Mode = MapKind | 'difference';

export const KIND_LABEL: Record<MapKind, string> = {
  positive: 'positive A₁',
  negative: 'negative λ·A₂',
  differential: 'differential A₁ − λ·A₂',
};
export const KIND_SHORT: Record<MapKind, string> = { positive: 'A₁', negative: 'λA₂', differential: 'A' };

export interface ViewSource {
  label: string;
  scaleKind: ScaleKind;
  /** The sequential ramp's hue (λ·A₂ has its own). */
  ramp: Ramp;
  numLayers: number;
  numHeads: number;
  tq: number;
  tk: number;
  bins: Bins;
  queryTokens: string[];
  keyTokens: string[];
  loaded(i: number): boolean;
  pooled(i: number): Float32Array | undefined;
  min(i: number): number;
  max(i: number): number;
  /** Robust magnitude of head i's thumbnail (95th percentile of |pooled|): the overview's per-head scale. */
  robust(i: number): number;
  /** Full-resolution map of head i (may be a reused buffer). */
  map(i: number): Float32Array | undefined;
  /** [min, max] over all loaded heads. */
  range(): [number, number];
  /** A difference's operands, each as a source of its own. */
  operands?: [ViewSource, ViewSource];
  /** Extra detail for one cell (difference mode: the two operands). */
  explain?(i: number, q: number, k: number): string;
}

export function splitTokens(tokens: string[], tq: number, tk: number): { queryTokens: string[]; keyTokens: string[] } {
  const keys = tokens.slice(0, tk);
  while (keys.length < tk) keys.push('');
  const queryTokens = tq <= tk ? keys.slice(tk - tq) : tokens.slice(0, tq);
  return { queryTokens, keyTokens: keys };
}

function kindLabel(s: ModelStore, k: MapKind): string {
  return s.meta.kind === 'difflora' ? KIND_LABEL[k] : 'attention A';
}

export function modelSource(s: ModelStore, kind: MapKind): ViewSource {
  const st = s.stats[kind];
  const { queryTokens, keyTokens } = splitTokens(s.meta.tokens, s.meta.tq, s.meta.tk);
  return {
    label: `${s.meta.label} · ${kindLabel(s, kind)}`,
    // A learned lambda can be negative, which makes the "negative" map negative: then go diverging.
    get scaleKind(): ScaleKind {
      return kind === 'differential' || s.range(kind)[0] < 0 ? 'diverging' : 'sequential';
    },
    ramp: kind === 'negative' ? 'negative' : 'default',
    numLayers: s.numLayers,
    numHeads: s.numHeads,
    tq: s.meta.tq,
    tk: s.meta.tk,
    bins: s.bins,
    queryTokens,
    keyTokens,
    loaded: (i) => !!s.heads[i]?.[kind],
    pooled: (i) => st.pooled[i],
    min: (i) => st.min[i],
    max: (i) => st.max[i],
    robust: (i) => st.robust[i],
    map: (i) => s.heads[i]?.[kind],
    range: () => s.range(kind),
  };
}

export function differenceSource(d: DifferenceStore, label: (s: ModelStore, k: MapKind) => string): ViewSource {
  const st = d.stats;
  const { queryTokens, keyTokens } = splitTokens(d.a.meta.tokens, d.tq, d.tk);
  return {
    label: `${label(d.a, d.ak)} − ${label(d.b, d.bk)}`,
    scaleKind: 'diverging',
    ramp: 'default',
    numLayers: d.a.numLayers,
    numHeads: d.a.numHeads,
    tq: d.tq,
    tk: d.tk,
    bins: d.bins,
    queryTokens,
    keyTokens,
    loaded: (i) => !!st.pooled[i],
    pooled: (i) => st.pooled[i],
    min: (i) => st.min[i],
    max: (i) => st.max[i],
    robust: (i) => st.robust[i],
    map: (i) => d.map(i),
    range: () => d.range(),
    operands: [modelSource(d.a, d.ak), modelSource(d.b, d.bk)],
    explain: (i, q, k) => {
      const x = d.a.heads[i]?.[d.ak]?.[q * d.tk + k],
        y = d.b.heads[i]?.[d.bk]?.[q * d.tk + k];
      return x === undefined || y === undefined ? '' : `${fmt(x)} − ${fmt(y)}`;
    },
  };
}

function fmt(v: number): string {
  return Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(3) : v.toPrecision(4);
}

export function operandLabel(s: ModelStore, k: MapKind): string {
  return `${s.meta.label} ${s.meta.kind === 'difflora' ? KIND_SHORT[k] : 'A'}`;
}
