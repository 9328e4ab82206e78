/**
 * The panel's colour scales: the large heatmap's (one head, or one range shared by all heads) and the
 * overview's (per-head normalisation onto a unit scale, or the shared scale), rebuilt only when what
 * they depend on changes.
 */
import * as d3 from 'd3';
import { makeScale, type ColorScale, type Theme } from '../colors';
import type { OverviewScale } from './overview';
import type { ViewSource } from './source';
import type { PanelState } from './state';
import { robustRange } from './store';

export class PanelScales {
  heat?: ColorScale;
  overview?: OverviewScale;
  private heatKey = '';
  private overviewKey = '';
  private readonly robustCache = new Map<string, number>();

  /** Forget the built scales (a new source). */
  reset(): void { this.heatKey = this.overviewKey = ''; }

  /**
   * Rebuilds the scales if the source's range, the state's colour options or the theme changed.
   * Returns which scales changed. `sourceKey` names the source (for the per-head cache).
   */
  update(src: ViewSource, i: number, st: PanelState, theme: Theme, sourceKey: string): { heat: boolean; overview: boolean } {
    const shared = st.range === 'shared' ? sharedRobust(src) : 0;
    const base = `${src.scaleKind}|${st.range}|${st.gamma}|${theme.background}`;
    const key = `${base}|${shared || `${src.min(i)},${src.max(i)}`}`;
    if (key === this.heatKey) return { heat: false, overview: false };
    this.build(src, i, st, theme, sourceKey);
    this.heatKey = key;
    const ovKey = `${base}|${shared}`;
    const overview = ovKey !== this.overviewKey;
    this.overviewKey = ovKey;
    return { heat: true, overview };
  }

  private build(src: ViewSource, i: number, st: PanelState, theme: Theme, sourceKey: string): void {
    const kind = src.scaleKind;
    const seq = kind === 'sequential';
    const maxAbs = (j: number) => Math.max(Math.abs(src.min(j)), Math.abs(src.max(j)));
    let top: number;
    if (st.range === 'shared') top = sharedRobust(src);
    else if (st.range === 'head') top = this.cellRobust(src, i, sourceKey);
    else top = seq ? src.max(i) : maxAbs(i);
    if (!(top > 0)) top = seq ? (src.max(i) > 0 ? src.max(i) : 1) : maxAbs(i) || 1;
    this.heat = makeScale(kind, st.gamma, seq ? [0, top] : [-top, top], theme);
    if (st.range === 'shared') {
      this.overview = { scale: this.heat, norm: () => 1 };
    } else {
      const unit = makeScale(kind, st.gamma, seq ? [0, 1] : [-1, 1], theme);
      const norm = st.range === 'head'
        ? (j: number) => src.robust(j) || maxAbs(j)
        : seq ? (j: number) => src.max(j) : maxAbs;
      this.overview = { scale: unit, norm };
    }
  }

  /** The selected head's robust magnitude at cell level (99.5th percentile of |v|), cached. */
  private cellRobust(src: ViewSource, i: number, sourceKey: string): number {
    const key = `${sourceKey}|${i}|${src.max(i)}|${src.min(i)}`;
    let r = this.robustCache.get(key);
    if (r === undefined) {
      const a = src.map(i);
      r = a ? robustRange(a, src.tk) : NaN;
      if (this.robustCache.size > 256) this.robustCache.clear();
      this.robustCache.set(key, r);
    }
    return r;
  }

  /** The legend's caption: which range, which ramp, and what saturates. */
  caption(src: ViewSource, i: number, st: PanelState): string {
    const what = src.scaleKind === 'diverging' ? 'diverging, 0 = neutral' : 'sequential';
    const range = st.range === 'head' ? "this head's 99.5th percentile (first-token column aside)" : st.range === 'head-max' ? "this head's full range" : 'shared range (all heads)';
    const parts = [range, what, st.gamma === 'sqrt' ? '√ ramp' : 'linear ramp'];
    const sc = this.heat;
    const m = Math.max(Math.abs(src.min(i)), Math.abs(src.max(i)));
    const f = d3.format('.3~g');
    if (sc && m > sc.domain[1] * 1.0001) parts.push(`|values| above ${f(sc.domain[1])} saturate (max ${f(m)})`);
    return parts.join(' · ');
  }
}

/** The shared range: the largest per-head robust magnitude over loaded heads. */
function sharedRobust(src: ViewSource): number {
  let m = 0;
  for (let i = 0, n = src.numLayers * src.numHeads; i < n; i++) { const r = src.robust(i); if (r > m) m = r; }
  return m || 1;
}
