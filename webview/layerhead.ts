/**
 * A small layer x head heatmap of one value per head (canvas cells, SVG labels and outlines): rows are
 * layers, columns heads. Hover and click report the cell; several maps can show the same cell outlined.
 */
import * as d3 from 'd3';
import { formatValue, type ColorScale } from './colors';
import { el, sizeCanvas, svgEl } from './dom';

export interface LayerHeadCell {
  layer: number;
  head: number;
}

export interface LayerHeadData {
  label: string;
  numLayers: number;
  numHeads: number;
  values: Float32Array;
}

const LABEL_W = 30,
  LABEL_H = 16;

export class LayerHeadMap {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly titleEl: HTMLElement;
  private data?: LayerHeadData;
  private cell = 10;
  private gap = 1;

  constructor(
    host: HTMLElement,
    private readonly cb: { onHover?: (c: LayerHeadCell | undefined) => void; onClick?: (c: LayerHeadCell) => void } = {},
  ) {
    this.root = el('figure', 'dl-lh', undefined, host);
    this.titleEl = el('figcaption', 'dl-lh-title', '', this.root);
    const plot = el('div', 'dl-lh-plot', undefined, this.root);
    this.canvas = el('canvas', 'dl-lh-canvas', undefined, plot);
    this.svg = svgEl('svg', 'dl-lh-svg', plot);
    this.svg.setAttribute('role', 'img');
    const s = d3.select(this.svg);
    s.append('g').attr('class', 'dl-lh-x');
    s.append('g').attr('class', 'dl-lh-y');
    s.append('rect').attr('class', 'dl-lh-outline').attr('visibility', 'hidden');
    s.append('rect')
      .attr('class', 'dl-lh-hit')
      .attr('fill', 'transparent')
      .on('pointermove', (ev: PointerEvent) => this.cb.onHover?.(this.cellAt(ev)))
      .on('pointerleave', () => this.cb.onHover?.(undefined))
      .on('click', (ev: MouseEvent) => {
        const c = this.cellAt(ev);
        if (c) this.cb.onClick?.(c);
      });
  }

  /** Cell size that fits `width` CSS pixels (between 4 and 18). */
  static cellFor(numHeads: number, width: number): number {
    return Math.max(4, Math.min(18, Math.floor((width - LABEL_W - 4) / Math.max(1, numHeads))));
  }

  render(d: LayerHeadData, scale: ColorScale, cell: number, caption: string): void {
    this.data = d;
    this.cell = cell;
    this.gap = cell >= 7 ? 1 : 0;
    this.titleEl.textContent = caption;
    const W = d.numHeads * cell,
      H = d.numLayers * cell;
    this.canvas.style.left = `${LABEL_W}px`;
    this.canvas.style.top = `${LABEL_H}px`;
    const ctx = sizeCanvas(this.canvas, W, H);
    ctx.clearRect(0, 0, W, H);
    for (let l = 0; l < d.numLayers; l++) {
      for (let h = 0; h < d.numHeads; h++) {
        const [r, g, b] = scale.rgb(d.values[l * d.numHeads + h]);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(h * cell, l * cell, cell - this.gap, cell - this.gap);
      }
    }
    const s = d3
      .select(this.svg)
      .attr('width', LABEL_W + W + 2)
      .attr('height', LABEL_H + H + 2);
    (this.canvas.parentElement as HTMLElement).style.width = `${LABEL_W + W + 2}px`;
    (this.canvas.parentElement as HTMLElement).style.height = `${LABEL_H + H + 2}px`;
    // Labels no closer than 14 px.
    const step = Math.max(1, Math.ceil(14 / cell));
    const hx = d3.range(0, d.numHeads, step);
    const ly = d3.range(0, d.numLayers, step);
    s.select('.dl-lh-x')
      .selectAll<SVGTextElement, number>('text')
      .data(hx)
      .join('text')
      .attr('x', (h) => LABEL_W + (h + 0.5) * cell - this.gap / 2)
      .attr('y', LABEL_H - 4)
      .attr('text-anchor', 'middle')
      .text((h) => String(h));
    s.select('.dl-lh-y')
      .selectAll<SVGTextElement, number>('text')
      .data(ly)
      .join('text')
      .attr('x', LABEL_W - 4)
      .attr('y', (l) => LABEL_H + (l + 0.5) * cell - this.gap / 2)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .text((l) => `L${l}`);
    s.select('.dl-lh-hit').attr('x', LABEL_W).attr('y', LABEL_H).attr('width', W).attr('height', H);
    this.svg.setAttribute('aria-label', `${d.label}: ${d.numLayers} layers × ${d.numHeads} heads`);
  }

  /** Outlines a cell (or none). */
  highlight(c: LayerHeadCell | undefined): void {
    const o = d3.select(this.svg).select('.dl-lh-outline');
    const d = this.data;
    if (!c || !d || c.layer >= d.numLayers || c.head >= d.numHeads) {
      o.attr('visibility', 'hidden');
      return;
    }
    o.attr('visibility', 'visible')
      .attr('x', LABEL_W + c.head * this.cell - 1)
      .attr('y', LABEL_H + c.layer * this.cell - 1)
      .attr('width', this.cell + 2 - this.gap)
      .attr('height', this.cell + 2 - this.gap);
  }

  value(c: LayerHeadCell): number {
    const d = this.data;
    return d && c.layer < d.numLayers && c.head < d.numHeads ? d.values[c.layer * d.numHeads + c.head] : NaN;
  }

  describe(c: LayerHeadCell): string {
    return `${this.data?.label ?? ''} L${c.layer} H${c.head}: ${formatValue(this.value(c))}`;
  }

  /** Centre of a cell in canvas CSS pixels (tests). */
  cellCenter(c: LayerHeadCell): [number, number] {
    return [(c.head + 0.5) * this.cell - this.gap / 2, (c.layer + 0.5) * this.cell - this.gap / 2];
  }

  private cellAt(ev: MouseEvent): LayerHeadCell | undefined {
    const d = this.data;
    if (!d) return undefined;
    const [x, y] = d3.pointer(ev, this.svg);
    const head = Math.floor((x - LABEL_W) / this.cell),
      layer = Math.floor((y - LABEL_H) / this.cell);
    return head >= 0 && head < d.numHeads && layer >= 0 && layer < d.numLayers ? { layer, head } : undefined;
  }
}
