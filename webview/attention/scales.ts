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
  reset(): void {
    this.heatKey = this.overviewKey = '';
  }

  /**
   * Rebuilds the scales if the sources' ranges, the state's colour options or the theme changed. `others`
   * are the maps shown beside `src` (side by side): one scale spans them all, so that colours compare.
   * Returns which scales changed. `sourceKey` names the source (for the per-head cache).
   */
  update(
    src: ViewSource,
    i: number,
    st: PanelState,
    theme: Theme,
    sourceKey: string,
    others: ViewSource[] = [],
  ): { heat: boolean; overview: boolean } {
    const all = [src, ...others];
    // One range for every head: "shared", or "maps" (a difference scaled like the maps it subtracts).
    const oneRange = st.range === 'shared' || st.range === 'maps';
    const kind = all.some((s) => s.scaleKind === 'diverging') ? 'diverging' : 'sequential';
    const ramp = all.every((s) => s.ramp === src.ramp) ? src.ramp : 'default';
    const base = `${kind}|${ramp}|${st.range}|${st.gamma}|${theme.background}`;
    const tops = oneRange ? all.map((s) => this.oneRangeTop(s, st)) : [];
    const key = `${base}|${oneRange ? tops.join(',') : all.map((s) => `${s.min(i)},${s.max(i)}`).join(';')}|${others.length}`;
    if (key === this.heatKey) return { heat: false, overview: false };
    const seq = kind === 'sequential';
    let top = oneRange
      ? Math.max(...tops)
      : Math.max(...all.map((s, j) => this.headTop(s, i, st, j === 0 ? sourceKey : `${sourceKey}|beside${j}`)));
    if (!(top > 0)) top = 1;
    this.heat = makeScale(kind, st.gamma, seq ? [0, top] : [-top, top], theme, ramp);
    if (oneRange) {
      this.overview = { scale: this.heat, norm: () => 1 };
    } else {
      const unit = makeScale(src.scaleKind, st.gamma, src.scaleKind === 'sequential' ? [0, 1] : [-1, 1], theme, src.ramp);
      const maxAbs = (j: number) => Math.max(Math.abs(src.min(j)), Math.abs(src.max(j)));
      const norm =
        st.range === 'head'
          ? (j: number) => src.robust(j) || maxAbs(j)
          : src.scaleKind === 'sequential'
            ? (j: number) => src.max(j)
            : maxAbs;
      this.overview = { scale: unit, norm };
    }
    this.heatKey = key;
    const ovKey = `${base}|${oneRange ? Math.max(...tops) : ''}`;
    const overview = ovKey !== this.overviewKey;
    this.overviewKey = ovKey;
    return { heat: true, overview };
  }

  private oneRangeTop(src: ViewSource, st: PanelState): number {
    if (st.range === 'maps' && src.operands) return Math.max(...src.operands.map(sharedRobust));
    return sharedRobust(src);
  }

  /** The top of head i's range in one source (its robust or full magnitude). */
  private headTop(src: ViewSource, i: number, st: PanelState, cacheKey: string): number {
    const seq = src.scaleKind === 'sequential';
    const maxAbs = Math.max(Math.abs(src.min(i)), Math.abs(src.max(i)));
    const top = st.range === 'head' ? this.cellRobust(src, i, cacheKey) : seq ? src.max(i) : maxAbs;
    return top > 0 ? top : seq ? (src.max(i) > 0 ? src.max(i) : 1) : maxAbs || 1;
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
    const range =
      st.range === 'head'
        ? "this head's 99.5th percentile (first-token column aside)"
        : st.range === 'head-max'
          ? "this head's full range"
          : st.range === 'maps' && src.operands
            ? 'the range of the maps subtracted (all heads)'
            : 'shared range (all heads)';
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
  for (let i = 0, n = src.numLayers * src.numHeads; i < n; i++) {
    const r = src.robust(i);
    if (r > m) m = r;
  }
  return m || 1;
}
