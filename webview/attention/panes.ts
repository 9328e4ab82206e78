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

/** Narrowest pane (labels included) before the panes wrap onto another row. */
const MIN_PANE_PX = 300;
const GAP_PX = 12;

export class SidePanes {
  readonly panes: Pane[] = [];

  /** `host` holds the main pane first; `onChange` reports a side pane's hover, pin or zoom (the lines follow). */
  constructor(private readonly host: HTMLElement, private readonly main: Heatmap, private readonly onChange: () => void) {}

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
        onCell: (c, pinned) => { this.cellFrom(heatmap, c, pinned); this.onChange(); },
        onView: (t) => { this.viewFrom(heatmap, t); this.onChange(); },
      });
      this.panes.push({ model, root, title, heatmap });
    }
  }

  /** Width of each pane's heatmap (labels included) when `count` panes share `width` pixels. */
  static paneWidth(width: number, count: number): number {
    const perRow = Math.max(1, Math.min(count, Math.floor((width + GAP_PX) / (MIN_PANE_PX + GAP_PX))));
    return Math.floor((width - GAP_PX * (perRow - 1)) / perRow);
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
