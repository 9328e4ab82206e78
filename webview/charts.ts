/**
 * Small per-layer charts: one dot per head (spread a little around its layer) and a line through the
 * per-layer mean, one colour per model; the selected head is ringed. Used for attention mass on the
 * first (BOS) token, mean row entropy, and lambda per layer (DiffLoRA; one value per layer, no heads).
 */
import * as d3 from 'd3';
import { formatValue } from './colors';
import { el, svgEl } from './dom';

export interface Series {
  model: number;
  label: string;
  color: string;
  numLayers: number;
  /** Values per layer (numHeads = 1) or per layer x head (index layer * numHeads + head); NaN = missing. */
  values: ArrayLike<number>;
  numHeads: number;
}

export interface ChartSelection { model: number; layer: number; head: number }

interface Dot { s: Series; layer: number; head: number; v: number }

export class MetricChart {
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;

  constructor(host: HTMLElement, title: string, private readonly opts: {
    unit?: string;
    yMin?: number;
    emptyText: string;
    onSelect?: (s: ChartSelection) => void;
  }) {
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
    if (this.drawn && version === version && this.drawn.key === key) { this.renderSelection(selected); return; }
    const s = d3.select(this.svg);
    const withData = series.filter((x) => Array.from(x.values).some((v) => v === v));
    this.drawn = undefined;
    if (!withData.length) { this.note.textContent = this.opts.emptyText; this.svg.style.display = 'none'; return; }
    this.note.textContent = '';
    this.svg.style.display = '';
    const W = Math.max(200, Math.min(width, 440)), H = 150;
    const m = { l: 40, r: 8, t: 8, b: 24 };
    s.attr('width', W).attr('height', H);
    const L = d3.max(withData, (x) => x.numLayers) ?? 1;
    const x = d3.scaleLinear().domain([-0.5, L - 0.5]).range([m.l, W - m.r]);
    let lo = Infinity, hi = -Infinity;
    for (const sr of withData) for (const v of Array.from(sr.values)) if (v === v) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (this.opts.yMin !== undefined) lo = Math.min(lo, this.opts.yMin);
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    const y = d3.scaleLinear().domain([lo, hi]).nice(4).range([H - m.b, m.t]);
    const xTicks = d3.range(0, L, Math.max(1, Math.ceil(L / Math.max(2, Math.floor((W - m.l - m.r) / 26)))));
    s.select<SVGGElement>('.dl-chart-x').attr('transform', `translate(0,${H - m.b})`)
      .call(d3.axisBottom(x).tickValues(xTicks).tickFormat((d) => `L${d}`).tickSizeOuter(0));
    s.select<SVGGElement>('.dl-chart-y').attr('transform', `translate(${m.l},0)`)
      .call(d3.axisLeft(y).ticks(4).tickFormat(d3.format('.2~g')).tickSizeOuter(0));
    s.select('.dl-chart-grid').selectAll('line').data(y.ticks(4)).join('line')
      .attr('x1', m.l).attr('x2', W - m.r).attr('y1', (d) => y(d)).attr('y2', (d) => y(d));

    // Per-head dots, spread over +-0.3 of a layer step.
    const dots: Dot[] = [];
    for (const sr of withData) {
      if (sr.numHeads <= 1) continue;
      for (let l = 0; l < sr.numLayers; l++) for (let h = 0; h < sr.numHeads; h++) {
        const v = sr.values[l * sr.numHeads + h];
        if (v === v) dots.push({ s: sr, layer: l, head: h, v });
      }
    }
    s.select('.dl-chart-dots').selectAll<SVGCircleElement, Dot>('circle').data(dots).join(
      (enter) => enter.append('circle').call((c) => c.append('title')),
    )
      .attr('cx', (d) => x(d.layer + spread(d.s, d.head))).attr('cy', (d) => y(d.v)).attr('r', 1.7)
      .attr('fill', (d) => d.s.color)
      .on('click', (_e, d) => this.opts.onSelect?.({ model: d.s.model, layer: d.layer, head: d.head }))
      .select('title').text((d) => `${d.s.label} · L${d.layer} H${d.head}: ${formatValue(d.v)}${this.opts.unit ?? ''}`);

    // Mean per layer.
    const means = withData.map((sr) => {
      const pts: [number, number][] = [];
      for (let l = 0; l < sr.numLayers; l++) {
        let sum = 0, n = 0;
        for (let h = 0; h < sr.numHeads; h++) { const v = sr.values[l * sr.numHeads + h]; if (v === v) { sum += v; n++; } }
        if (n) pts.push([l, sum / n]);
      }
      return { sr, pts };
    });
    const line = d3.line<[number, number]>().x((d) => x(d[0])).y((d) => y(d[1]));
    s.select('.dl-chart-lines').selectAll<SVGPathElement, (typeof means)[number]>('path').data(means).join('path')
      .attr('d', (d) => line(d.pts)).attr('stroke', (d) => d.sr.color).attr('fill', 'none');
    s.select('.dl-chart-lines').selectAll<SVGCircleElement, [Series, number, number]>('circle.dl-mean')
      .data(means.flatMap((d) => d.pts.map((p) => [d.sr, p[0], p[1]] as [Series, number, number])))
      .join((enter) => enter.append('circle').attr('class', 'dl-mean').call((c) => c.append('title')))
      .attr('cx', (d) => x(d[1])).attr('cy', (d) => y(d[2])).attr('r', 2.6).attr('fill', (d) => d[0].color)
      .select('title').text((d) => `${d[0].label} · L${d[1]} ${d[0].numHeads > 1 ? 'mean over heads' : ''}: ${formatValue(d[2])}${this.opts.unit ?? ''}`);

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
    d3.select(this.svg).select('.dl-chart-sel').selectAll('circle').data(sel).join('circle').attr('cx', (d) => d.cx).attr('cy', (d) => d.cy).attr('r', 5);
  }
}

function spread(sr: Series, h: number): number {
  return sr.numHeads > 1 ? (h / (sr.numHeads - 1) - 0.5) * 0.6 : 0;
}
