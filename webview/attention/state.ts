/** What the attention panel shows: one plain object, changed only through the panel's methods. */
import type { Gamma } from '../colors';
import type { Mode } from './source';
import type { Operand } from './store';

/** Colour range: per head (robust: 99.5th percentile), per head min-max, or one range for all heads. */
export type RangeMode = 'head' | 'head-max' | 'shared';
export type MetricMaps = 'effective' | 'positive';

export interface PanelState {
  model: number;
  mode: Mode;
  /** Difference mode: a minus b. */
  a: Operand;
  b: Operand;
  layer: number;
  head: number;
  range: RangeMode;
  gamma: Gamma;
  metricMaps: MetricMaps;
}

export function initialState(): PanelState {
  return {
    model: 0, mode: 'positive', a: { model: 0, kind: 'positive' }, b: { model: 0, kind: 'positive' },
    layer: 0, head: 0, range: 'head', gamma: 'sqrt', metricMaps: 'effective',
  };
}

export function parseOperand(v: string): Operand {
  const [m, k] = v.split(':');
  return { model: Number(m), kind: k as Operand['kind'] };
}

export function operandValue(o: Operand): string {
  return `${o.model}:${o.kind}`;
}
