/**
 * Side by side: the selected head of other models beside the main heatmap, each in a pane of its own,
 * with one zoom and one hovered (or pinned) cell for all. The panel builds their sources and scale; this
 * keeps the panes and their heatmaps in step.
 */
import type * as d3 from 'd3';
import { el } from '../dom';
import { Heatmap, type Cell } from './heatmap';
import type { ViewSource } from './source';

export interface Pane {
  model: number;
  root: HTMLElement;
  title: HTMLElement;
  heatmap: Heatmap;
  source?: ViewSource;
}

/** Narrowest plot (labels aside) before the heatmaps go onto rows of their own. */
const MIN_PLOT_PX = 120;
const GAP_PX = 12;

export class SidePanes {
  readonly panes: Pane[] = [];

  /** `host` holds the main pane (`mainRoot`) first; `onChange` reports a side pane's hover, pin or zoom (the lines follow). */
  constructor(
    private readonly host: HTMLElement,
    private readonly main: Heatmap,
    private readonly mainRoot: HTMLElement,
    private readonly onChange: () => void,
  ) {}

  /** Keeps one pane per model of `models`, in that order. */
  set(models: readonly number[]): void {
    if (models.length === this.panes.length && models.every((m, i) => this.panes[i].model === m)) return;
    for (const p of this.panes) p.root.remove();
    this.panes.length = 0;
    for (const model of models) {
      const root = el('div', 'dl-pane dl-pane-side', undefined, this.host);
      root.dataset.model = String(model);
      const title = el('div', 'dl-pane-title', undefined, root);
      const readout = el('div', 'dl-readout', undefined, root);
      const heatmap: Heatmap = new Heatmap(el('div', undefined, undefined, root), readout, {
        onCell: (c, pinned) => {
          this.cellFrom(heatmap, c, pinned);
          this.onChange();
        },
        onView: (t) => {
          this.viewFrom(heatmap, t);
          this.onChange();
        },
      });
      this.panes.push({ model, root, title, heatmap });
    }
  }

  /**
   * Lays the main heatmap and the panes out in `width` px: one row with plots of one size, the panes
   * leaving the query labels to the main heatmap; where that leaves a plot under MIN_PLOT_PX, each
   * heatmap on a row of its own, with its labels. Call after their sources are set.
   */
  layout(width: number): void {
    const all = [this.main, ...this.panes.map((p) => p.heatmap)];
    const roots = [this.mainRoot, ...this.panes.map((p) => p.root)];
    all.forEach((h, i) => {
      h.queryLabels = i === 0;
    });
    const room = all.reduce(
      (sum, h) => {
        const m = h.margins();
        return sum + m.left + m.right;
      },
      GAP_PX * (all.length - 1),
    );
    const plot = Math.floor((width - room) / all.length);
    const oneRow = all.length > 1 && plot >= MIN_PLOT_PX;
    all.forEach((h, i) => {
      if (!oneRow) h.queryLabels = true;
      const m = h.margins();
      const w = oneRow ? m.left + plot + m.right : width;
      h.render(w);
      // A pane is as wide as its heatmap (its title and readout wrap), so that the row holds.
      roots[i].style.width = oneRow ? `${w}px` : '';
    });
  }

  /** Every heatmap but `origin` shows the cell `origin` chose. */
  cellFrom(origin: Heatmap, c: Cell | undefined, pinned: boolean): void {
    for (const h of this.heatmaps()) if (h !== origin) h.showCell(c, pinned);
  }

  /** Every heatmap but `origin` takes its zoom. */
  viewFrom(origin: Heatmap, t: d3.ZoomTransform): void {
    for (const h of this.heatmaps()) if (h !== origin) h.setTransform(t);
  }

  private heatmaps(): Heatmap[] {
    return [this.main, ...this.panes.map((p) => p.heatmap)];
  }
}
