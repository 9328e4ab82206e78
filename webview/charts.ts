/**
 * Small per-layer charts: one dot per head (spread a little around its layer) and a line through the
 * per-layer mean, one colour per model; the selected head is ringed. Used for attention mass on the
 * first (BOS) token, mean row entropy, and lambda per layer (DiffLoRA; one value per layer, no heads).
 */
import * as d3 from 'd3';
import { formatValue } from './colors';
import { el, sizeCanvas, svgEl } from './dom';

export interface Series {
  model: number;
  label: string;
  color: string;
  numLayers: number;
  /** Values per layer (numHeads = 1) or per layer x head (index layer * numHeads + head); NaN = missing. */
  values: ArrayLike<number>;
  numHeads: number;
}

export interface ChartSelection {
  model: number;
  layer: number;
  head: number;
}

interface Dot {
  s: Series;
  layer: number;
  head: number;
  v: number;
}

export class MetricChart {
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;

  constructor(
    host: HTMLElement,
    title: string,
    private readonly opts: {
      unit?: string;
      yMin?: number;
      emptyText: string;
      onSelect?: (s: ChartSelection) => void;
    },
  ) {
    const box = el('div', 'dl-chart', undefined, host);
    el('div', 'dl-chart-title', title, box);
    this.svg = svgEl('svg', 'dl-chart-svg', box);
    this.note = el('div', 'dl-note', undefined, box);
    const s = d3.select(this.svg);
    s.append('g').attr('class', 'dl-chart-grid');
    s.append('g').attr('class', 'dl-chart-x');
    s.append('g').attr('class', 'dl-chart-y');
    s.append('g').attr('class', 'dl-chart-lines');
    s.append('g').attr('class', 'dl-chart-dots');
    s.append('g').attr('class', 'dl-chart-sel');
  }

  private drawn?: { key: string; x: d3.ScaleLinear<number, number>; y: d3.ScaleLinear<number, number>; series: Series[] };

  /**
   * Draws the chart; `version` identifies the data: when it and the width are unchanged, only the
   * selection ring moves (selecting a head must not redraw a thousand dots).
   */
  render(series: Series[], selected: ChartSelection | undefined, width: number, version = NaN): void {
    const key = `${version}|${width}|${series.length}`;
    if (this.drawn && version === version && this.drawn.key === key) {
      this.renderSelection(selected);
      return;
    }
    const s = d3.select(this.svg);
    const withData = series.filter((x) => Array.from(x.values).some((v) => v === v));
    this.drawn = undefined;
    if (!withData.length) {
      this.note.textContent = this.opts.emptyText;
      this.svg.style.display = 'none';
      return;
    }
    this.note.textContent = '';
    this.svg.style.display = '';
    const W = Math.max(200, Math.min(width, 440)),
      H = 150;
    const m = { l: 40, r: 8, t: 8, b: 24 };
    s.attr('width', W).attr('height', H);
    const L = d3.max(withData, (x) => x.numLayers) ?? 1;
    const x = d3
      .scaleLinear()
      .domain([-0.5, L - 0.5])
      .range([m.l, W - m.r]);
    let lo = Infinity,
      hi = -Infinity;
    for (const sr of withData)
      for (const v of Array.from(sr.values))
        if (v === v) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
    if (this.opts.yMin !== undefined) lo = Math.min(lo, this.opts.yMin);
    if (hi - lo < 1e-9) {
      hi += 0.5;
      lo -= 0.5;
    }
    const y = d3
      .scaleLinear()
      .domain([lo, hi])
      .nice(4)
      .range([H - m.b, m.t]);
    const xTicks = d3.range(0, L, Math.max(1, Math.ceil(L / Math.max(2, Math.floor((W - m.l - m.r) / 26)))));
    s.select<SVGGElement>('.dl-chart-x')
      .attr('transform', `translate(0,${H - m.b})`)
      .call(
        d3
          .axisBottom(x)
          .tickValues(xTicks)
          .tickFormat((d) => `L${d}`)
          .tickSizeOuter(0),
      );
    s.select<SVGGElement>('.dl-chart-y')
      .attr('transform', `translate(${m.l},0)`)
      .call(d3.axisLeft(y).ticks(4).tickFormat(d3.format('.2~g')).tickSizeOuter(0));
    s.select('.dl-chart-grid')
      .selectAll('line')
      .data(y.ticks(4))
      .join('line')
      .attr('x1', m.l)
      .attr('x2', W - m.r)
      .attr('y1', (d) => y(d))
      .attr('y2', (d) => y(d));

    // Per-head dots, spread over +-0.3 of a layer step.
    const dots: Dot[] = [];
    for (const sr of withData) {
      if (sr.numHeads <= 1) continue;
      for (let l = 0; l < sr.numLayers; l++)
        for (let h = 0; h < sr.numHeads; h++) {
          const v = sr.values[l * sr.numHeads + h];
          if (v === v) dots.push({ s: sr, layer: l, head: h, v });
        }
    }
    s.select('.dl-chart-dots')
      .selectAll<SVGCircleElement, Dot>('circle')
      .data(dots)
      .join((enter) => enter.append('circle').call((c) => c.append('title')))
      .attr('cx', (d) => x(d.layer + spread(d.s, d.head)))
      .attr('cy', (d) => y(d.v))
      .attr('r', 1.7)
      .attr('fill', (d) => d.s.color)
      .on('click', (_e, d) => this.opts.onSelect?.({ model: d.s.model, layer: d.layer, head: d.head }))
      .select('title')
      .text((d) => `${d.s.label} · L${d.layer} H${d.head}: ${formatValue(d.v)}${this.opts.unit ?? ''}`);

    // Mean per layer.
    const means = withData.map((sr) => {
      const pts: [number, number][] = [];
      for (let l = 0; l < sr.numLayers; l++) {
        let sum = 0,
          n = 0;
        for (let h = 0; h < sr.numHeads; h++) {
          const v = sr.values[l * sr.numHeads + h];
          if (v === v) {
            sum += v;
            n++;
          }
        }
        if (n) pts.push([l, sum / n]);
      }
      return { sr, pts };
    });
    const line = d3
      .line<[number, number]>()
      .x((d) => x(d[0]))
      .y((d) => y(d[1]));
    s.select('.dl-chart-lines')
      .selectAll<SVGPathElement, (typeof means)[number]>('path')
      .data(means)
      .join('path')
      .attr('d', (d) => line(d.pts))
      .attr('stroke', (d) => d.sr.color)
      .attr('fill', 'none');
    s.select('.dl-chart-lines')
      .selectAll<SVGCircleElement, [Series, number, number]>('circle.dl-mean')
      .data(means.flatMap((d) => d.pts.map((p) => [d.sr, p[0], p[1]] as [Series, number, number])))
      .join((enter) =>
        enter
          .append('circle')
          .attr('class', 'dl-mean')
          .call((c) => c.append('title')),
      )
      .attr('cx', (d) => x(d[1]))
      .attr('cy', (d) => y(d[2]))
      .attr('r', 2.6)
      .attr('fill', (d) => d[0].color)
      .select('title')
      .text((d) => `${d[0].label} · L${d[1]} ${d[0].numHeads > 1 ? 'mean over heads' : ''}: ${formatValue(d[2])}${this.opts.unit ?? ''}`);

    this.drawn = { key, x, y, series: withData };
    this.renderSelection(selected);
  }

  private renderSelection(selected: ChartSelection | undefined): void {
    const sel: { cx: number; cy: number }[] = [];
    const dr = this.drawn;
    if (selected && dr) {
      const sr = dr.series.find((x) => x.model === selected.model && x.numHeads > 1);
      const v = sr?.values[selected.layer * sr.numHeads + selected.head];
      if (sr && v !== undefined && v === v) sel.push({ cx: dr.x(selected.layer + spread(sr, selected.head)), cy: dr.y(v) });
    }
    d3.select(this.svg)
      .select('.dl-chart-sel')
      .selectAll('circle')
      .data(sel)
      .join('circle')
      .attr('cx', (d) => d.cx)
      .attr('cy', (d) => d.cy)
      .attr('r', 5);
  }
}

function spread(sr: Series, h: number): number {
  return sr.numHeads > 1 ? (h / (sr.numHeads - 1) - 0.5) * 0.6 : 0;
}

/** A series over steps: the first `n` entries of xs / ys, xs ascending; NaN = no value. */
export interface StepSeries {
  label: string;
  color: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  n: number;
  /** line (default); faint: thin and translucent (raw values under a smoothed line); points: markers. */
  style?: 'line' | 'faint' | 'points';
  /** Left out of the hover readout. */
  quiet?: boolean;
}

export interface StepChartOptions {
  emptyText: string;
  /** Value format of the y axis and the readout. */
  format?: (v: number) => string;
  height?: number;
  /** Include this value in the y range (e.g. 0). */
  yMin?: number;
}

export interface StepMark {
  x: number;
  label: string;
}

/** What the last render drew of each series (tests, timings). */
export interface DrawnSeries {
  label: string;
  color: string;
  style: string;
  points: number;
}

/**
 * A chart of values over training steps: lines on a canvas (any number of points: each series is reduced
 * to at most four points per pixel column, first / min / max / last, which draws the same line as every
 * point), axes, markers and the hover readout in SVG. A redraw costs O(points) arithmetic and O(width)
 * drawing, and no DOM per point. Hover shows a rule and every series' value at the nearest step.
 */
export class StepChart {
  readonly root: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;
  private readonly tip: HTMLDivElement;
  private readonly titleEl: HTMLDivElement;
  private log = false;
  private drawn?: {
    series: StepSeries[];
    x: d3.ScaleLinear<number, number>;
    y: (v: number) => number;
    W: number;
    H: number;
    m: { l: number; r: number; t: number; b: number };
  };
  /** Points drawn in the last render (after reduction). */
  lastPoints = 0;
  lastDrawn: DrawnSeries[] = [];

  constructor(
    host: HTMLElement,
    title: string,
    private readonly opts: StepChartOptions,
  ) {
    this.root = el('div', 'dl-chart dl-step-chart', undefined, host);
    this.titleEl = el('div', 'dl-chart-title', title, this.root);
    const plot = el('div', 'dl-step-plot', undefined, this.root);
    this.canvas = el('canvas', 'dl-step-canvas', undefined, plot);
    this.svg = svgEl('svg', 'dl-chart-svg', plot);
    this.tip = el('div', 'dl-tip', undefined, plot);
    this.tip.hidden = true;
    this.note = el('div', 'dl-note', opts.emptyText, this.root);
    const s = d3.select(this.svg);
    for (const c of ['dl-chart-grid', 'dl-chart-x', 'dl-chart-y', 'dl-chart-marks', 'dl-chart-points', 'dl-chart-hover'])
      s.append('g').attr('class', c);
    s.append('rect')
      .attr('class', 'dl-chart-hit')
      .attr('fill', 'transparent')
      .on('pointermove', (ev: PointerEvent) => this.hover(ev))
      .on('pointerleave', () => this.hover(undefined));
  }

  setTitle(t: string): void {
    this.titleEl.textContent = t;
  }

  /** Logarithmic y axis (values <= 0 are left out). */
  setLog(log: boolean): void {
    this.log = log;
  }

  render(series: StepSeries[], width: number, xDomain: [number, number], marks: StepMark[] = []): void {
    const s = d3.select(this.svg);
    const W = Math.max(160, Math.round(width)),
      H = this.opts.height ?? 150;
    const m = { l: 48, r: 10, t: 8, b: 22 };
    const log = this.log;
    let lo = Infinity,
      hi = -Infinity;
    for (const sr of series) {
      const ys = sr.ys,
        n = sr.n;
      for (let i = 0; i < n; i++) {
        const v = ys[i];
        if (v === v && (!log || v > 0)) {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
    }
    if (!(hi >= lo)) {
      this.drawn = undefined;
      this.note.textContent = this.opts.emptyText;
      this.svg.style.display = this.canvas.style.display = 'none';
      this.tip.hidden = true;
      this.lastPoints = 0;
      this.lastDrawn = [];
      return;
    }
    this.note.textContent = '';
    this.svg.style.display = this.canvas.style.display = '';
    if (!log && this.opts.yMin !== undefined) lo = Math.min(lo, this.opts.yMin);
    if (hi - lo <= Math.abs(hi) * 1e-9) {
      const d = Math.abs(hi) * 0.05 || 0.5;
      hi += d;
      lo = log ? lo / 1.2 : lo - d;
    }
    s.attr('width', W).attr('height', H);
    const x = d3
      .scaleLinear()
      .domain(xDomain[1] > xDomain[0] ? xDomain : [xDomain[0], xDomain[0] + 1])
      .range([m.l, W - m.r]);
    const yScale = log
      ? d3
          .scaleLog()
          .domain([lo, hi])
          .nice()
          .range([H - m.b, m.t])
      : d3
          .scaleLinear()
          .domain([lo, hi])
          .nice(4)
          .range([H - m.b, m.t]);
    const y = (v: number) => yScale(v);
    const fmt = this.opts.format ?? d3.format('.3~g');
    const yTicks = log ? yScale.ticks(4).filter((_, i, a) => a.length <= 6 || i % Math.ceil(a.length / 5) === 0) : yScale.ticks(4);
    s.select<SVGGElement>('.dl-chart-x')
      .attr('transform', `translate(0,${H - m.b})`)
      // Steps are whole numbers: no "500m" ticks on a short run.
      .call(
        d3
          .axisBottom(x)
          .tickValues(x.ticks(Math.max(2, Math.floor((W - m.l - m.r) / 70))).filter(Number.isInteger))
          .tickFormat(d3.format('~s'))
          .tickSizeOuter(0),
      );
    s.select<SVGGElement>('.dl-chart-y')
      .attr('transform', `translate(${m.l},0)`)
      .call(
        d3
          .axisLeft(yScale as d3.AxisScale<number>)
          .tickValues(yTicks)
          .tickFormat((v) => fmt(Number(v)))
          .tickSizeOuter(0),
      );
    s.select('.dl-chart-grid')
      .selectAll('line')
      .data(yTicks)
      .join('line')
      .attr('x1', m.l)
      .attr('x2', W - m.r)
      .attr('y1', (d) => y(d))
      .attr('y2', (d) => y(d));
    s.select('.dl-chart-marks')
      .selectAll<SVGPathElement, StepMark>('path')
      .data(marks.filter((k) => k.x >= x.domain()[0] && k.x <= x.domain()[1]))
      .join((e) => e.append('path').call((p) => p.append('title')))
      .attr('d', (k) => `M${x(k.x)},${H - m.b}l-3.5,-6h7z`)
      .select('title')
      .text((k) => k.label);

    // Lines on the canvas, clipped to the plot area.
    const ctx = sizeCanvas(this.canvas, W, H);
    ctx.clearRect(0, 0, W, H);
    ctx.save();
    ctx.beginPath();
    ctx.rect(m.l, m.t - 2, W - m.l - m.r, H - m.t - m.b + 4);
    ctx.clip();
    ctx.lineJoin = 'round';
    const xa = affineOf(x),
      ya = affineOf(yScale, log);
    let points = 0;
    const drawn: DrawnSeries[] = [];
    for (const sr of series) {
      if (sr.style === 'points') continue;
      ctx.strokeStyle = sr.color;
      ctx.globalAlpha = sr.style === 'faint' ? 0.3 : 1;
      ctx.lineWidth = sr.style === 'faint' ? 1 : 1.6;
      ctx.beginPath();
      const k = traceReduced(sr, xa, ya, ctx);
      ctx.stroke();
      points += k;
      drawn.push({ label: sr.label, color: sr.color, style: sr.style ?? 'line', points: k });
    }
    ctx.restore();
    const pts: [StepSeries, number, number][] = [];
    for (const sr of series) {
      if (sr.style !== 'points') continue;
      const stride = Math.max(1, Math.ceil(sr.n / 600));
      let k = 0;
      for (let i = 0; i < sr.n; i += stride) {
        const v = sr.ys[i];
        if (v === v && (!log || v > 0)) {
          pts.push([sr, sr.xs[i], v]);
          k++;
        }
      }
      drawn.push({ label: sr.label, color: sr.color, style: 'points', points: k });
    }
    points += pts.length;
    s.select('.dl-chart-points')
      .selectAll<SVGCircleElement, [StepSeries, number, number]>('circle')
      .data(pts)
      .join('circle')
      .attr('cx', (d) => x(d[1]))
      .attr('cy', (d) => y(d[2]))
      .attr('r', 3)
      .attr('fill', (d) => d[0].color);
    s.select('.dl-chart-hit')
      .attr('x', m.l)
      .attr('y', m.t)
      .attr('width', Math.max(0, W - m.l - m.r))
      .attr('height', Math.max(0, H - m.t - m.b));
    this.lastPoints = points;
    this.lastDrawn = drawn;
    this.drawn = { series, x, y, W, H, m };
    if (this.hoverX !== undefined) this.showHover(this.hoverX);
  }

  /** Where (step, value) lands, in CSS pixels from the chart's top-left (tests). */
  pixelOf(step: number, value: number): [number, number] | undefined {
    return this.drawn ? [this.drawn.x(step), this.drawn.y(value)] : undefined;
  }

  private hoverX?: number;

  private hover(ev: PointerEvent | undefined): void {
    if (!ev || !this.drawn) {
      this.hoverX = undefined;
      this.tip.hidden = true;
      d3.select(this.svg).select('.dl-chart-hover').selectAll('*').remove();
      return;
    }
    const [px] = d3.pointer(ev, this.svg);
    this.hoverX = this.drawn.x.invert(px);
    this.showHover(this.hoverX);
  }

  private showHover(step: number): void {
    const dr = this.drawn!;
    const fmt = this.opts.format ?? d3.format('.4~g');
    const found: { sr: StepSeries; x: number; v: number }[] = [];
    for (const sr of dr.series) {
      if (sr.quiet || !sr.n) continue;
      const i = nearestIndex(sr.xs, sr.n, step);
      const v = sr.ys[i];
      if (v === v && (!this.log || v > 0)) found.push({ sr, x: sr.xs[i], v });
    }
    const g = d3.select(this.svg).select('.dl-chart-hover');
    if (!found.length) {
      g.selectAll('*').remove();
      this.tip.hidden = true;
      return;
    }
    const at = found.reduce((a, b) => (Math.abs(b.x - step) < Math.abs(a.x - step) ? b : a)).x;
    g.selectAll('line')
      .data([at])
      .join('line')
      .attr('x1', (d) => dr.x(d))
      .attr('x2', (d) => dr.x(d))
      .attr('y1', dr.m.t)
      .attr('y2', dr.H - dr.m.b);
    g.selectAll<SVGCircleElement, (typeof found)[number]>('circle')
      .data(found)
      .join('circle')
      .attr('cx', (d) => dr.x(d.x))
      .attr('cy', (d) => dr.y(d.v))
      .attr('r', 3)
      .attr('stroke', (d) => d.sr.color);
    this.tip.textContent = '';
    el('div', 'dl-tip-head', `step ${at}`, this.tip);
    for (const f of found) {
      const row = el('div', 'dl-tip-row', undefined, this.tip);
      const sw = el('span', 'dl-swatch', undefined, row);
      sw.style.background = f.sr.color;
      el('span', undefined, `${f.sr.label}${f.x !== at ? ` (step ${f.x})` : ''}: `, row);
      el('b', undefined, fmt(f.v), row);
    }
    this.tip.hidden = false;
    const left = dr.x(at) + 12;
    this.tip.style.left = `${left + 160 > dr.W ? Math.max(0, dr.x(at) - 12 - this.tip.offsetWidth) : left}px`;
    this.tip.style.top = `${dr.m.t}px`;
  }
}

/** Index of the entry of xs (ascending, first n) closest to x. */
export function nearestIndex(xs: ArrayLike<number>, n: number, x: number): number {
  let lo = 0,
    hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

/** A scale as v -> a * f(v) + b with f = identity or log (the hot loops avoid calling D3 scales). */
export interface Affine {
  a: number;
  b: number;
  log: boolean;
}

export function affineOf(s: { domain(): number[]; range(): number[] }, log = false): Affine {
  const [d0, d1] = s.domain(),
    [r0, r1] = s.range();
  const f = log ? Math.log : (v: number) => v;
  const a = (r1 - r0) / (f(d1) - f(d0) || 1);
  return { a, b: r0 - a * f(d0), log };
}

/** Where a traced line goes: a canvas context, or anything with moveTo / lineTo. */
export interface PathSink {
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
}

/**
 * Traces a series into `sink` with at most four points per pixel column (first, min, max, last of the
 * column, in order): the same line as every point, at a cost independent of the point count after one
 * pass. NaN (and <= 0 on a log axis) breaks the line. Returns the number of points traced.
 */
export function traceReduced(sr: StepSeries, x: Affine, y: Affine, sink: PathSink): number {
  const xs = sr.xs,
    ys = sr.ys,
    n = sr.n;
  const ax = x.a,
    bx = x.b,
    ay = y.a,
    by = y.b,
    log = y.log;
  let points = 0,
    penDown = false;
  let col = NaN,
    fI = -1,
    minI = -1,
    maxI = -1,
    lI = -1;
  const emit = (i: number) => {
    const v = ys[i];
    const px = ax * xs[i] + bx,
      py = ay * (log ? Math.log(v) : v) + by;
    if (penDown) sink.lineTo(px, py);
    else sink.moveTo(px, py);
    penDown = true;
    points++;
  };
  const flush = () => {
    if (fI < 0) return;
    emit(fI);
    const a = minI < maxI ? minI : maxI,
      b = minI < maxI ? maxI : minI;
    if (a !== fI && a !== lI) emit(a);
    if (b !== fI && b !== lI && b !== a) emit(b);
    if (lI !== fI) emit(lI);
    fI = -1;
  };
  for (let i = 0; i < n; i++) {
    const v = ys[i];
    if (!(v === v) || (log && v <= 0)) {
      flush();
      penDown = false;
      col = NaN;
      continue;
    }
    const c = Math.floor(ax * xs[i] + bx);
    if (c !== col) {
      flush();
      col = c;
      fI = minI = maxI = lI = i;
    } else {
      if (v < ys[minI]) minI = i;
      if (v > ys[maxI]) maxI = i;
      lI = i;
    }
  }
  flush();
  return points;
}

/** Bars, one per index (e.g. the latest lambda of each layer), coloured per bar. */
export class BarChart {
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;

  constructor(
    host: HTMLElement,
    title: string,
    private readonly opts: { emptyText: string; format?: (v: number) => string; label?: (i: number) => string; height?: number },
  ) {
    const box = el('div', 'dl-chart dl-bar-chart', undefined, host);
    el('div', 'dl-chart-title', title, box);
    this.svg = svgEl('svg', 'dl-chart-svg', box);
    this.note = el('div', 'dl-note', opts.emptyText, box);
    const s = d3.select(this.svg);
    for (const c of ['dl-chart-grid', 'dl-chart-x', 'dl-chart-y', 'dl-chart-bars']) s.append('g').attr('class', c);
  }

  render(values: ArrayLike<number>, colors: string[], width: number): void {
    const s = d3.select(this.svg);
    const vals = Array.from(values);
    if (!vals.some((v) => v === v)) {
      this.note.textContent = this.opts.emptyText;
      this.svg.style.display = 'none';
      return;
    }
    this.note.textContent = '';
    this.svg.style.display = '';
    const W = Math.max(160, Math.round(width)),
      H = this.opts.height ?? 150;
    const m = { l: 48, r: 10, t: 8, b: 22 };
    s.attr('width', W).attr('height', H);
    const n = vals.length;
    const x = d3
      .scaleBand<number>()
      .domain(d3.range(n))
      .range([m.l, W - m.r])
      .padding(0.2);
    const lo = Math.min(0, d3.min(vals.filter((v) => v === v)) ?? 0),
      hi = Math.max(0, d3.max(vals.filter((v) => v === v)) ?? 1);
    const y = d3
      .scaleLinear()
      .domain([lo, hi > lo ? hi : lo + 1])
      .nice(4)
      .range([H - m.b, m.t]);
    const fmt = this.opts.format ?? d3.format('.3~g');
    const label = this.opts.label ?? ((i: number) => `L${i}`);
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((W - m.l - m.r) / 28))));
    s.select<SVGGElement>('.dl-chart-x')
      .attr('transform', `translate(0,${H - m.b})`)
      .call(
        d3
          .axisBottom(x)
          .tickValues(d3.range(0, n, every))
          .tickFormat((i) => label(i))
          .tickSizeOuter(0),
      );
    s.select<SVGGElement>('.dl-chart-y')
      .attr('transform', `translate(${m.l},0)`)
      .call(
        d3
          .axisLeft(y)
          .ticks(4)
          .tickFormat((v) => fmt(Number(v)))
          .tickSizeOuter(0),
      );
    s.select('.dl-chart-grid')
      .selectAll('line')
      .data(y.ticks(4))
      .join('line')
      .attr('x1', m.l)
      .attr('x2', W - m.r)
      .attr('y1', (d) => y(d))
      .attr('y2', (d) => y(d));
    s.select('.dl-chart-bars')
      .selectAll<SVGRectElement, number>('rect')
      .data(d3.range(n))
      .join((e) => e.append('rect').call((r) => r.append('title')))
      .attr('x', (i) => x(i)!)
      .attr('width', x.bandwidth())
      .attr('y', (i) => (vals[i] === vals[i] ? y(Math.max(0, vals[i])) : y(0)))
      .attr('height', (i) => (vals[i] === vals[i] ? Math.abs(y(vals[i]) - y(0)) : 0))
      .attr('fill', (i) => colors[i % colors.length])
      .select('title')
      .text((i) => `${label(i)}: ${vals[i] === vals[i] ? fmt(vals[i]) : '—'}`);
  }
}
