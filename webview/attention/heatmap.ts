/**
 * The large heatmap of the chosen head: one pixel per cell in an offscreen canvas (coloured through the
 * scale's lookup table), drawn scaled onto the visible canvas; D3 zoom (wheel, drag) with token labels on
 * both axes that thin out to what fits; a crosshair with the exact value and the query / key tokens
 * under the pointer; click (or Enter) pins the cell, Escape unpins, arrow keys move it.
 */
import * as d3 from 'd3';
import { colorize, formatValue, type ColorScale } from '../colors';
import { el, sizeCanvas, svgEl, tokenDisplay, truncate } from '../dom';
import type { ViewSource } from './source';

export interface Cell {
  q: number;
  k: number;
}
export interface HeatmapLayout {
  left: number;
  top: number;
  width: number;
  height: number;
}

let uid = 0;

export class Heatmap {
  readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly img = document.createElement('canvas');
  private src?: ViewSource;
  private index = -1;
  private scale?: ColorScale;
  private imageValid = false;
  private data?: Float32Array;
  layout: HeatmapLayout = { left: 0, top: 0, width: 0, height: 0 };
  private transform: d3.ZoomTransform = d3.zoomIdentity;
  private readonly zoom: d3.ZoomBehavior<SVGRectElement, unknown>;
  hover?: Cell;
  pinned?: Cell;
  private labelWidth = { q: 40, k: 40 };
  lastColorMs = 0;
  lastDrawMs = 0;
  private readonly clipId = `dl-clip-${++uid}`;
  /** True while applying a synchronised zoom: no onView echo. */
  private quiet = false;
  private showQ = true;

  constructor(
    private readonly host: HTMLElement,
    private readonly readout: HTMLElement,
    private readonly cb: {
      /** The pointer (or a key) chose a cell; not called for showCell(). */
      onCell: (cell: Cell | undefined, pinned: boolean) => void;
      /** The zoom or pan changed; not called for setTransform(). */
      onView: (t: d3.ZoomTransform) => void;
    },
  ) {
    host.classList.add('dl-heatmap');
    this.canvas = el('canvas', 'dl-heatmap-canvas', undefined, host);
    this.svg = svgEl('svg', 'dl-heatmap-svg', host);
    this.svg.setAttribute('tabindex', '0');
    this.svg.setAttribute('role', 'img');
    this.svg.setAttribute('aria-label', 'Attention heatmap: arrow keys move the pinned cell, Enter pins, Escape unpins, 0 resets the zoom');
    const s = d3.select(this.svg);
    s.append('defs').append('clipPath').attr('id', this.clipId).append('rect');
    s.append('g').attr('class', 'dl-labels dl-labels-k');
    s.append('g').attr('class', 'dl-labels dl-labels-q');
    s.append('g')
      .attr('class', 'dl-axis-titles')
      .call((g) => {
        g.append('text').attr('class', 'dl-axis-title dl-axis-k').attr('text-anchor', 'end').text('key →');
        g.append('text').attr('class', 'dl-axis-title dl-axis-q').attr('text-anchor', 'end').text('query ↓');
      });
    const plot = s.append('g').attr('class', 'dl-plot');
    plot.append('rect').attr('class', 'dl-plot-frame');
    const cross = plot.append('g').attr('class', 'dl-cross').attr('clip-path', `url(#${this.clipId})`).attr('visibility', 'hidden');
    cross.append('rect').attr('class', 'dl-cross-row');
    cross.append('rect').attr('class', 'dl-cross-col');
    cross.append('rect').attr('class', 'dl-cross-cell');
    const hit = plot.append('rect').attr('class', 'dl-hit').attr('fill', 'transparent');
    s.append('g')
      .attr('class', 'dl-flag dl-flag-q')
      .attr('visibility', 'hidden')
      .call((g) => {
        g.append('rect');
        g.append('text');
      });
    s.append('g')
      .attr('class', 'dl-flag dl-flag-k')
      .attr('visibility', 'hidden')
      .call((g) => {
        g.append('rect');
        g.append('text');
      });

    this.zoom = d3
      .zoom<SVGRectElement, unknown>()
      .filter((ev: Event) => (ev.type === 'wheel' || (ev as MouseEvent).button === 0) && ev.type !== 'dblclick')
      .clickDistance(4)
      .on('zoom', (ev: d3.D3ZoomEvent<SVGRectElement, unknown>) => {
        this.transform = ev.transform;
        this.draw();
        if (!this.quiet) this.cb.onView(ev.transform);
      });
    hit.call(this.zoom).on('dblclick.zoom', null);
    hit
      .on('pointermove', (ev: PointerEvent) => {
        if (!this.pinned) this.setHover(this.cellAt(ev));
      })
      .on('pointerleave', () => {
        if (!this.pinned) this.setHover(undefined);
      })
      .on('click', (ev: MouseEvent) => {
        const c = this.cellAt(ev);
        if (!c) return;
        if (this.pinned && this.pinned.q === c.q && this.pinned.k === c.k) this.unpin();
        else this.pin(c);
      });
    s.on('keydown', (ev: KeyboardEvent) => this.onKey(ev));
  }

  private onKey(ev: KeyboardEvent): void {
    if (!this.src) return;
    const c = this.pinned ?? this.hover ?? { q: 0, k: 0 };
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[ev.key]) {
      const [dq, dk] = moves[ev.key];
      this.pin({ q: Math.max(0, Math.min(this.src.tq - 1, c.q + dq)), k: Math.max(0, Math.min(this.src.tk - 1, c.k + dk)) });
    } else if (ev.key === 'Enter') this.pin(c);
    else if (ev.key === 'Escape') this.unpin();
    else if (ev.key === '0') this.resetZoom();
    else return;
    ev.preventDefault();
  }

  setSource(src: ViewSource, index: number, scale: ColorScale): void {
    if (src.tq !== this.src?.tq || src.tk !== this.src?.tk) {
      this.pinned = undefined;
      this.hover = undefined;
      this.transform = d3.zoomIdentity;
      d3.select(this.svg).select<SVGRectElement>('.dl-hit').property('__zoom', d3.zoomIdentity);
    }
    if (src !== this.src) this.measureLabels(src);
    this.src = src;
    this.index = index;
    this.scale = scale;
    this.imageValid = false;
  }

  invalidate(): void {
    this.imageValid = false;
  }

  private measureLabels(src: ViewSource): void {
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = `11px ${getComputedStyle(this.host).getPropertyValue('--dl-mono').trim() || 'monospace'}`;
    const w = (toks: string[]) => {
      let m = 0;
      for (const t of toks) m = Math.max(m, ctx.measureText(truncate(tokenDisplay(t), 18)).width);
      return m;
    };
    // Thinned-out key labels carry their position ("12 tok"): room for it too.
    this.labelWidth = { q: w(src.queryTokens), k: w(src.keyTokens) + ctx.measureText(`${src.tk} `).width };
  }

  /** The visible query and key ranges, [start, end). */
  visibleRange(): { q0: number; q1: number; k0: number; k1: number } {
    const { zx, zy } = this.scales();
    const src = this.src;
    if (!src) return { q0: 0, q1: 0, k0: 0, k1: 0 };
    const clamp = (v: number, n: number) => Math.max(0, Math.min(n, v));
    return {
      k0: clamp(Math.floor(zx.invert(0) + 1e-6), src.tk),
      k1: clamp(Math.ceil(zx.invert(this.layout.width) - 1e-6), src.tk),
      q0: clamp(Math.floor(zy.invert(0) + 1e-6), src.tq),
      q1: clamp(Math.ceil(zy.invert(this.layout.height) - 1e-6), src.tq),
    };
  }

  resetZoom(): void {
    d3.select(this.svg).select<SVGRectElement>('.dl-hit').call(this.zoom.transform, d3.zoomIdentity);
  }

  /** Zooms so that the given ranges fill the plot (approximately: the zoom is uniform). */
  zoomTo(q0: number, q1: number, k0: number, k1: number): void {
    if (!this.src) return;
    const { width: W, height: H } = this.layout;
    const k = Math.min(this.src.tk / Math.max(1, k1 - k0), this.src.tq / Math.max(1, q1 - q0));
    const t = d3.zoomIdentity.scale(k).translate(-(k0 / this.src.tk) * W, -(q0 / this.src.tq) * H);
    d3.select(this.svg).select<SVGRectElement>('.dl-hit').call(this.zoom.transform, t);
  }

  private scales() {
    const src = this.src;
    const x0 = d3
      .scaleLinear()
      .domain([0, src?.tk ?? 1])
      .range([0, this.layout.width]);
    const y0 = d3
      .scaleLinear()
      .domain([0, src?.tq ?? 1])
      .range([0, this.layout.height]);
    return { zx: this.transform.rescaleX(x0), zy: this.transform.rescaleY(y0) };
  }

  private cellAt(ev: MouseEvent): Cell | undefined {
    if (!this.src) return undefined;
    const plot = this.svg.querySelector('.dl-plot') as SVGGElement;
    const [px, py] = d3.pointer(ev, plot);
    const { zx, zy } = this.scales();
    const k = Math.floor(zx.invert(px)),
      q = Math.floor(zy.invert(py));
    if (q < 0 || k < 0 || q >= this.src.tq || k >= this.src.tk) return undefined;
    return { q, k };
  }

  pin(c: Cell): void {
    this.pinned = c;
    this.setHover(c);
  }

  unpin(): void {
    this.pinned = undefined;
    this.setHover(undefined);
  }

  private setHover(c: Cell | undefined): void {
    this.showCell(c, !!this.pinned);
    this.cb.onCell(c, !!this.pinned);
  }

  /** Shows a cell chosen elsewhere (a synchronised pane) without reporting it back. */
  showCell(c: Cell | undefined, pinned: boolean): void {
    this.pinned = pinned ? c : undefined;
    this.hover = c;
    this.drawCross();
    this.updateReadout();
  }

  /** Applies a zoom chosen elsewhere (a synchronised pane) without reporting it back. */
  setTransform(t: d3.ZoomTransform): void {
    if (t.k === this.transform.k && t.x === this.transform.x && t.y === this.transform.y) return;
    this.quiet = true;
    try {
      d3.select(this.svg).select<SVGRectElement>('.dl-hit').call(this.zoom.transform, t);
    } finally {
      this.quiet = false;
    }
  }

  get zoomTransform(): d3.ZoomTransform {
    return this.transform;
  }

  /** The value at a cell of the current map. */
  valueAt(c: Cell): number {
    const d = this.data ?? this.src?.map(this.index);
    return d ? d[c.q * (this.src?.tk ?? 0) + c.k] : NaN;
  }

  updateReadout(): void {
    const r = this.readout;
    r.replaceChildren();
    const c = this.hover;
    const src = this.src;
    r.classList.toggle('dl-pinned', !!this.pinned);
    if (!c || !src) {
      el('span', 'dl-readout-hint', src ? 'Hover a cell for its value · click to pin · wheel to zoom · drag to pan' : 'No map yet', r);
      delete r.dataset.value;
      return;
    }
    const v = this.valueAt(c);
    r.dataset.q = String(c.q);
    r.dataset.k = String(c.k);
    r.dataset.value = String(v);
    if (this.pinned) el('span', 'dl-pin', 'pinned', r).title = 'Pinned: click the cell again or press Escape to release';
    el('span', 'dl-readout-label', 'query', r);
    el('span', 'dl-readout-idx', String(c.q), r);
    el('span', 'dl-tok dl-tok-q', tokenDisplay(src.queryTokens[c.q] ?? ''), r);
    el('span', 'dl-readout-arrow', '→ key', r);
    el('span', 'dl-readout-idx', String(c.k), r);
    el('span', 'dl-tok dl-tok-k', tokenDisplay(src.keyTokens[c.k] ?? ''), r);
    el('span', 'dl-readout-eq', '=', r);
    el('span', 'dl-value', formatValue(v), r);
    const ex = src.explain?.(this.index, c.q, c.k);
    if (ex) el('span', 'dl-readout-explain', `(${ex})`, r);
  }

  /**
   * Shows or hides the query labels (and the axis titles): a pane beside another heatmap of the same
   * tokens leaves them to that one, so that the plots get the room.
   */
  set queryLabels(on: boolean) {
    this.showQ = on;
    d3.select(this.svg)
      .select('.dl-axis-titles')
      .attr('visibility', on ? 'visible' : 'hidden');
  }

  /** The room around the plot (labels, axis titles) for the current source, px. */
  margins(): { left: number; top: number; right: number } {
    const src = this.src;
    if (!src) return { left: 0, top: 0, right: 0 };
    // Room for the labels plus their positions, shown whenever either axis is thinned out (the keys
    // thin out first, so even a short span may need them).
    const idxRoom = 7 * String(src.tq).length + 6;
    const left = this.showQ ? Math.round(Math.min(170, Math.max(36, this.labelWidth.q + 14 + idxRoom))) : 8;
    const top = Math.round(Math.min(120, Math.max(34, this.labelWidth.k * Math.sin(Math.PI / 3) + 16)));
    // Key labels rise at 60°: the last ones reach past the plot's right edge by up to half their width.
    const right = Math.round(Math.min(60, this.labelWidth.k * Math.cos(Math.PI / 3)) + 8);
    return { left, top, right };
  }

  /** Lays the heatmap out in `width` px (labels included; the plot gets at least 120 px) and draws it. */
  render(width: number): void {
    const src = this.src;
    if (!src) return;
    const { left, top, right } = this.margins();
    const avail = Math.max(120, Math.min(width - left - right, 820));
    // Cells keep the map's aspect, but a few query rows (decoding) still get legible rows.
    const W = Math.floor(avail),
      H = Math.floor(Math.min(820, Math.max(avail * (src.tq / src.tk), Math.min(src.tq * 14, 820))));
    if (W !== this.layout.width || H !== this.layout.height) {
      this.transform = d3.zoomIdentity;
      d3.select(this.svg).select<SVGRectElement>('.dl-hit').property('__zoom', d3.zoomIdentity);
    }
    this.layout = { left, top, width: W, height: H };
    const s = d3
      .select(this.svg)
      .attr('width', left + W + right)
      .attr('height', top + H + 8);
    s.select('.dl-axis-k')
      .attr('x', left - 6)
      .attr('y', top - 20);
    s.select('.dl-axis-q')
      .attr('x', left - 6)
      .attr('y', top - 6);
    s.select(`#${this.clipId} rect`).attr('width', W).attr('height', H);
    s.select('.dl-plot').attr('transform', `translate(${left},${top})`);
    s.select('.dl-plot-frame').attr('width', W).attr('height', H);
    s.select('.dl-hit').attr('width', W).attr('height', H);
    this.canvas.style.left = `${left}px`;
    this.canvas.style.top = `${top}px`;
    this.zoom
      .extent([
        [0, 0],
        [W, H],
      ])
      .translateExtent([
        [0, 0],
        [W, H],
      ])
      .scaleExtent([1, Math.max(1, Math.max(src.tk, src.tq) / 4)]);
    this.host.style.width = `${left + W + right}px`;
    this.host.style.height = `${top + H + 8}px`;
    this.draw();
  }

  private colorImage(): void {
    const src = this.src!,
      scale = this.scale!;
    const t0 = performance.now();
    const d = src.map(this.index);
    this.data = d ? Float32Array.from(d) : undefined; // the difference buffer is shared: keep our own copy
    if (this.img.width !== src.tk || this.img.height !== src.tq) {
      this.img.width = src.tk;
      this.img.height = src.tq;
    }
    const ctx = this.img.getContext('2d')!;
    const im = ctx.createImageData(src.tk, src.tq);
    const u32 = new Uint32Array(im.data.buffer);
    if (this.data) {
      colorize(this.data, u32, 0, scale);
      // The causal mask: query q sees keys up to q + (tk - tq). Those cells get their own colour, so that
      // "masked" never reads as "0" (the neutral middle of a diverging map).
      // (Only where the map is causal: every such cell 0.)
      const off = src.tk - src.tq,
        d = this.data;
      const from = (q: number) => q * src.tk + Math.max(0, q + off + 1);
      let causal = true;
      for (let q = 0; q < src.tq && causal; q++)
        for (let j = from(q), e = (q + 1) * src.tk; j < e; j++)
          if (d[j] !== 0) {
            causal = false;
            break;
          }
      if (causal) for (let q = 0; q < src.tq; q++) u32.fill(scale.masked, from(q), (q + 1) * src.tk);
    } else u32.fill(scale.missing);
    ctx.putImageData(im, 0, 0);
    this.imageValid = true;
    this.lastColorMs = performance.now() - t0;
  }

  draw(): void {
    const src = this.src;
    if (!src || !this.layout.width) return;
    const t0 = performance.now();
    if (!this.imageValid) this.colorImage();
    const { width: W, height: H } = this.layout;
    const ctx = sizeCanvas(this.canvas, W, H);
    ctx.clearRect(0, 0, W, H);
    const { zx, zy } = this.scales();
    const cellPx = zx(1) - zx(0);
    ctx.imageSmoothingEnabled = cellPx < 1;
    ctx.imageSmoothingQuality = 'high';
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, W, H);
    ctx.clip();
    ctx.drawImage(this.img, zx(0), zy(0), zx(src.tk) - zx(0), zy(src.tq) - zy(0));
    ctx.restore();
    this.drawLabels();
    this.drawCross();
    this.lastDrawMs = performance.now() - t0;
  }

  private drawLabels(): void {
    const src = this.src!;
    const { left, top } = this.layout;
    const { zx, zy } = this.scales();
    const { q0, q1, k0, k1 } = this.visibleRange();
    const cellX = zx(1) - zx(0),
      cellY = zy(1) - zy(0);
    // Rotated key labels need a little more room than the horizontal query labels.
    const stepK = Math.max(1, Math.ceil(14 / cellX)),
      stepQ = Math.max(1, Math.ceil(12 / cellY));
    const ks = d3.range(Math.ceil(k0 / stepK) * stepK, k1, stepK);
    const qs = d3.range(Math.ceil(q0 / stepQ) * stepQ, q1, stepQ);
    const s = d3.select(this.svg);
    const lab = (toks: string[], i: number) => truncate(tokenDisplay(toks[i] ?? ''), 18);
    // When labels are thinned out, each carries its position (muted, next to the plot).
    const showIdx = stepK > 1 || stepQ > 1;
    const fill = (t: d3.Selection<SVGTextElement, number, d3.BaseType, unknown>, parts: (i: number) => [string, string][]) =>
      t.each(function (i) {
        const sel = d3.select(this);
        sel.selectAll('tspan').remove();
        for (const [text, cls] of parts(i)) sel.append('tspan').attr('class', cls).text(text);
      });
    s.select('.dl-labels-k')
      .selectAll<SVGTextElement, number>('text')
      .data(ks, (d) => d)
      .join('text')
      .attr('transform', (k) => `translate(${left + zx(k + 0.5)},${top - 5}) rotate(-60)`)
      .attr('dy', '0.35em')
      .call(fill, (k) =>
        showIdx
          ? [
              [`${k} `, 'dl-idx'],
              [lab(src.keyTokens, k), 'dl-tok-label'],
            ]
          : [[lab(src.keyTokens, k), 'dl-tok-label']],
      );
    s.select('.dl-labels-q')
      .selectAll<SVGTextElement, number>('text')
      .data(this.showQ ? qs : [], (d) => d)
      .join('text')
      .attr('x', left - 6)
      .attr('y', (q) => top + zy(q + 0.5))
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .call(fill, (q) =>
        showIdx
          ? [
              [lab(src.queryTokens, q), 'dl-tok-label'],
              [` ${q}`, 'dl-idx'],
            ]
          : [[lab(src.queryTokens, q), 'dl-tok-label']],
      );
  }

  private drawCross(): void {
    const s = d3.select(this.svg);
    const c = this.hover;
    const cross = s.select('.dl-cross');
    const fq = s.select('.dl-flag-q'),
      fk = s.select('.dl-flag-k');
    if (!c || !this.src) {
      cross.attr('visibility', 'hidden');
      fq.attr('visibility', 'hidden');
      fk.attr('visibility', 'hidden');
      return;
    }
    const { zx, zy } = this.scales();
    const { left, top, width: W, height: H } = this.layout;
    const x = zx(c.k),
      y = zy(c.q),
      w = Math.max(1, zx(c.k + 1) - x),
      h = Math.max(1, zy(c.q + 1) - y);
    cross.attr('visibility', 'visible').classed('dl-pinned', !!this.pinned);
    cross.select('.dl-cross-row').attr('x', 0).attr('y', y).attr('width', W).attr('height', h);
    cross.select('.dl-cross-col').attr('x', x).attr('y', 0).attr('width', w).attr('height', H);
    cross
      .select('.dl-cross-cell')
      .attr('x', x - 0.5)
      .attr('y', y - 0.5)
      .attr('width', w + 1)
      .attr('height', h + 1);
    // Flags: the hovered tokens, always legible even when the axis labels are thinned out.
    const flag = (
      g: d3.Selection<d3.BaseType, unknown, null, undefined>,
      text: string,
      tx: number,
      ty: number,
      anchor: 'end' | 'middle',
      visible: boolean,
    ) => {
      g.attr('visibility', visible ? 'visible' : 'hidden');
      const t = g.select<SVGTextElement>('text').attr('x', tx).attr('y', ty).attr('dy', '0.35em').attr('text-anchor', anchor).text(text);
      const b = (t.node() as SVGTextElement).getBBox();
      g.select('rect')
        .attr('x', b.x - 4)
        .attr('y', b.y - 2)
        .attr('width', b.width + 8)
        .attr('height', b.height + 4)
        .attr('rx', 3);
    };
    const yc = top + y + h / 2,
      xc = left + x + w / 2;
    flag(
      fq,
      `${c.q} ${truncate(tokenDisplay(this.src.queryTokens[c.q] ?? ''), 18)}`,
      left - 6,
      yc,
      'end',
      this.showQ && yc >= top && yc <= top + H,
    );
    flag(fk, `${c.k} ${truncate(tokenDisplay(this.src.keyTokens[c.k] ?? ''), 18)}`, xc, top - 12, 'middle', xc >= left && xc <= left + W);
  }

  /** Canvas pixel (CSS px, relative to the canvas) at the centre of a cell, for tests and export. */
  cellCenter(c: Cell): [number, number] {
    const { zx, zy } = this.scales();
    return [(zx(c.k) + zx(c.k + 1)) / 2, (zy(c.q) + zy(c.q + 1)) / 2];
  }

  /** The readout as one line of text (for export). */
  readoutText(): string {
    const c = this.hover,
      src = this.src;
    if (!c || !src) return '';
    const ex = src.explain?.(this.index, c.q, c.k);
    return `query ${c.q} ${JSON.stringify(src.queryTokens[c.q] ?? '')} → key ${c.k} ${JSON.stringify(src.keyTokens[c.k] ?? '')} = ${formatValue(this.valueAt(c))}${ex ? ` (${ex})` : ''}${this.pinned ? '  [pinned]' : ''}`;
  }

  /** The label texts currently shown (for export). */
  labels(): { q: { text: string; y: number }[]; k: { text: string; x: number }[] } {
    const q = [...this.svg.querySelectorAll<SVGTextElement>('.dl-labels-q text')].map((t) => ({
      text: t.textContent ?? '',
      y: Number(t.getAttribute('y')),
    }));
    const k = [...this.svg.querySelectorAll<SVGTextElement>('.dl-labels-k text')].map((t) => {
      const m = /translate\(([-\d.e]+),/.exec(t.getAttribute('transform') ?? '');
      return { text: t.textContent ?? '', x: m ? Number(m[1]) : 0 };
    });
    return { q, k };
  }

  get element(): SVGSVGElement {
    return this.svg;
  }
}
