/**
 * The layer x head overview: one pooled thumbnail per head, coloured into a single atlas ImageData
 * (one pixel per thumbnail bin) and drawn onto ONE canvas; only heads that changed are recoloured.
 * Axes, hover and selection live in an SVG overlay (a few dozen elements, not one per cell).
 */
import * as d3 from 'd3';
import { colorize, pack, type ColorScale } from '../colors';
import { el, sizeCanvas, svgEl } from '../dom';
import type { ViewSource } from './source';

export interface OverviewScale {
  scale: ColorScale;
  norm: (i: number) => number;
}

export interface OverviewLayout {
  left: number;
  top: number;
  cell: number;
  gap: number;
  width: number;
  height: number;
}

export class Overview {
  readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly atlas = document.createElement('canvas');
  private atlasImg?: ImageData;
  private atlas32?: Uint32Array;
  private dirty = new Set<number>();
  private allDirty = true;
  private src?: ViewSource;
  private sc?: OverviewScale;
  private placeholder = 0;
  layout: OverviewLayout = { left: 0, top: 0, cell: 0, gap: 0, width: 0, height: 0 };
  private readonly tip: HTMLDivElement;
  /** Time spent in the last render (ms) and in all renders so far. */
  lastRenderMs = 0;
  totalRenderMs = 0;

  constructor(
    private readonly host: HTMLElement,
    private readonly cb: {
      onSelect: (layer: number, head: number) => void;
      describe: (layer: number, head: number) => string;
    },
  ) {
    host.classList.add('dl-overview-plot');
    this.canvas = el('canvas', 'dl-overview-canvas', undefined, host);
    this.svg = svgEl('svg', 'dl-overview-svg', host);
    this.tip = el('div', 'dl-tip', undefined, host);
    this.tip.hidden = true;
    const s = d3.select(this.svg);
    s.append('g').attr('class', 'dl-axis dl-axis-heads');
    s.append('g').attr('class', 'dl-axis dl-axis-layers');
    s.append('rect').attr('class', 'dl-ov-hover').attr('visibility', 'hidden');
    s.append('rect').attr('class', 'dl-ov-selected').attr('visibility', 'hidden');
    s.append('rect')
      .attr('class', 'dl-ov-hit')
      .attr('fill', 'transparent')
      .on('pointermove', (ev: PointerEvent) => this.onMove(ev))
      .on('pointerleave', () => {
        this.tip.hidden = true;
        d3.select(this.svg).select('.dl-ov-hover').attr('visibility', 'hidden');
      })
      .on('click', (ev: MouseEvent) => {
        const c = this.cellAt(ev);
        if (c) this.cb.onSelect(c.layer, c.head);
      });
  }

  setSource(src: ViewSource, sc: OverviewScale, placeholderCss: string): void {
    this.src = src;
    this.sc = sc;
    this.placeholder = pack(placeholderCss);
    this.allDirty = true;
    this.dirty.clear();
  }

  markDirty(indices: Iterable<number>): void {
    for (const i of indices) this.dirty.add(i);
  }
  markAllDirty(): void {
    this.allDirty = true;
  }

  private cellAt(ev: MouseEvent): { layer: number; head: number } | undefined {
    if (!this.src) return undefined;
    const [x, y] = d3.pointer(ev, this.svg);
    const { left, top, cell } = this.layout;
    const head = Math.floor((x - left) / cell),
      layer = Math.floor((y - top) / cell);
    if (head < 0 || layer < 0 || head >= this.src.numHeads || layer >= this.src.numLayers) return undefined;
    return { layer, head };
  }

  private onMove(ev: PointerEvent): void {
    const c = this.cellAt(ev);
    const hov = d3.select(this.svg).select('.dl-ov-hover');
    if (!c) {
      this.tip.hidden = true;
      hov.attr('visibility', 'hidden');
      return;
    }
    const { left, top, cell } = this.layout;
    hov
      .attr('visibility', 'visible')
      .attr('x', left + c.head * cell - 0.5)
      .attr('y', top + c.layer * cell - 0.5)
      .attr('width', cell)
      .attr('height', cell);
    this.tip.textContent = this.cb.describe(c.layer, c.head);
    this.tip.hidden = false;
    const [x, y] = d3.pointer(ev, this.host);
    const flip = x > this.host.clientWidth - 200;
    this.tip.style.left = `${flip ? x - 12 - this.tip.offsetWidth : x + 14}px`;
    this.tip.style.top = `${y + 14}px`;
  }

  /** Lays out for the available width, recolours dirty heads, redraws. */
  render(width: number, selected: { layer: number; head: number } | undefined): void {
    const src = this.src,
      sc = this.sc;
    if (!src || !sc) return;
    const t0 = performance.now();
    const L = src.numLayers,
      H = src.numHeads;
    const left = 30,
      top = 18;
    const cell = Math.max(5, Math.min(64, Math.floor((width - left - 6) / H)));
    const gap = cell >= 10 ? 1 : 0;
    const layout: OverviewLayout = { left, top, cell, gap, width: left + cell * H + 2, height: top + cell * L + 2 };
    const relayout = layout.cell !== this.layout.cell || layout.width !== this.layout.width || layout.height !== this.layout.height;
    this.layout = layout;

    // Atlas: one pixel per pooled bin.
    const { pq, pk } = src.bins;
    const AW = H * pk,
      AH = L * pq;
    if (!this.atlasImg || this.atlasImg.width !== AW || this.atlasImg.height !== AH) {
      this.atlas.width = AW;
      this.atlas.height = AH;
      this.atlasImg = new ImageData(AW, AH);
      this.atlas32 = new Uint32Array(this.atlasImg.data.buffer);
      this.allDirty = true;
    }
    const a32 = this.atlas32!;
    const paint = (i: number) => {
      const layer = Math.floor(i / H),
        head = i % H;
      const p = src.pooled(i);
      const x0 = head * pk,
        y0 = layer * pq;
      if (!p) {
        for (let r = 0; r < pq; r++) a32.fill(this.placeholder, (y0 + r) * AW + x0, (y0 + r) * AW + x0 + pk);
        return;
      }
      const norm = sc.norm(i) || 1;
      for (let r = 0; r < pq; r++) colorize(p.subarray(r * pk, (r + 1) * pk), a32, (y0 + r) * AW + x0, sc.scale, norm);
    };
    if (this.allDirty) for (let i = 0; i < L * H; i++) paint(i);
    else for (const i of this.dirty) paint(i);
    this.allDirty = false;
    this.dirty.clear();
    this.atlas.getContext('2d')!.putImageData(this.atlasImg!, 0, 0);

    const ctx = sizeCanvas(this.canvas, layout.width, layout.height);
    ctx.clearRect(0, 0, layout.width, layout.height);
    const upscale = cell >= Math.max(pq, pk);
    ctx.imageSmoothingEnabled = !upscale;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(this.atlas, left, top, cell * H, cell * L);
    if (gap) {
      // Gutters between heads, in the background colour.
      ctx.fillStyle = getComputedStyle(this.host).getPropertyValue('--dl-bg').trim() || '#1e1e1e';
      for (let h = 1; h < H; h++) ctx.fillRect(left + h * cell - gap, top, gap, cell * L);
      for (let l = 1; l < L; l++) ctx.fillRect(left, top + l * cell - gap, cell * H, gap);
    }

    if (relayout) this.renderAxes();
    const s = d3.select(this.svg);
    s.select('.dl-ov-selected')
      .attr('visibility', selected ? 'visible' : 'hidden')
      .attr('x', selected ? left + selected.head * cell - 1 : 0)
      .attr('y', selected ? top + selected.layer * cell - 1 : 0)
      .attr('width', cell + 1)
      .attr('height', cell + 1);
    this.lastRenderMs = performance.now() - t0;
    this.totalRenderMs += this.lastRenderMs;
  }

  private renderAxes(): void {
    const src = this.src!;
    const { left, top, cell, width, height } = this.layout;
    const s = d3.select(this.svg).attr('width', width).attr('height', height);
    s.select('.dl-ov-hit')
      .attr('x', left)
      .attr('y', top)
      .attr('width', cell * src.numHeads)
      .attr('height', cell * src.numLayers);
    const hStep = Math.max(1, Math.ceil(16 / cell));
    const heads = d3.range(0, src.numHeads).filter((h) => h % hStep === 0);
    s.select('.dl-axis-heads')
      .selectAll('text')
      .data(heads)
      .join('text')
      .attr('x', (h) => left + h * cell + cell / 2)
      .attr('y', top - 5)
      .attr('text-anchor', 'middle')
      .text((h) => String(h));
    const lStep = Math.max(1, Math.ceil(12 / cell));
    const layers = d3.range(0, src.numLayers).filter((l) => l % lStep === 0);
    s.select('.dl-axis-layers')
      .selectAll('text')
      .data(layers)
      .join('text')
      .attr('x', left - 5)
      .attr('y', (l) => top + l * cell + cell / 2)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .text((l) => `L${l}`);
  }
}
