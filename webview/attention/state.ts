/** What the attention panel shows: one plain object, changed only through the panel's methods. */
import type { Gamma } from '../colors';
import type { Mode } from './source';
import type { Operand } from './store';

/**
 * Colour range: per head (robust: 99.5th percentile), per head min-max, one range for all heads, or (a
 * difference only) the range of the maps subtracted, so that a small change stays faint.
 */
export type RangeMode = 'head' | 'head-max' | 'shared' | 'maps';
export type MetricMaps = 'effective' | 'positive';

export interface PanelState {
  model: number;
  mode: Mode;
  /** Difference mode: a minus b. */
  a: Operand;
  b: Operand;
  /** Models shown beside `model`, same head, zoom and hover (not in difference mode). */
  beside: number[];
  layer: number;
  head: number;
  range: RangeMode;
  gamma: Gamma;
  metricMaps: MetricMaps;
  /** What the editor's hover and tint show (VS Code only): the mean over all heads, or the selected head. */
  editorHover: 'mean' | 'head';
}

export function initialState(): PanelState {
  return {
    model: 0,
    mode: 'positive',
    a: { model: 0, kind: 'positive' },
    b: { model: 0, kind: 'positive' },
    beside: [],
    layer: 0,
    head: 0,
    range: 'head',
    gamma: 'sqrt',
    metricMaps: 'effective',
    editorHover: 'mean',
  };
}

export function parseOperand(v: string): Operand {
  const [m, k] = v.split(':');
  return { model: Number(m), kind: k as Operand['kind'] };
}

export function operandValue(o: Operand): string {
  return `${o.model}:${o.kind}`;
}
