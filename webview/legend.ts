/** Colour legend: the ramp on a canvas, a D3-positioned tick axis in SVG, and a caption. */
import * as d3 from 'd3';
import type { ColorScale } from './colors';
import { el, sizeCanvas, svgEl } from './dom';

export class Legend {
  readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly caption: HTMLDivElement;
  width = 260;

  constructor(host: HTMLElement) {
    host.classList.add('dl-legend');
    this.caption = el('div', 'dl-legend-caption', undefined, host);
    const ramp = el('div', 'dl-legend-ramp', undefined, host);
    this.canvas = el('canvas', 'dl-legend-canvas', undefined, ramp);
    this.svg = svgEl('svg', 'dl-legend-axis', ramp);
  }

  render(scale: ColorScale, caption: string, width = 260): void {
    this.width = width;
    this.caption.textContent = caption;
    const W = width,
      H = 12;
    const ctx = sizeCanvas(this.canvas, W, H);
    for (let x = 0; x < W; x++) {
      ctx.fillStyle = scale.interpolator((x + 0.5) / W);
      ctx.fillRect(x, 0, 1, H);
    }
    const [lo, hi] = scale.domain;
    let ticks = d3.ticks(lo, hi, 5);
    if (scale.kind === 'diverging' && !ticks.includes(0)) ticks = [...ticks, 0].sort((a, b) => a - b);
    const fmt = d3.format('.2~g');
    const s = d3
      .select(this.svg)
      .attr('width', W + 24)
      .attr('height', 20);
    const g = s
      .selectAll('g.dl-tick')
      .data(ticks)
      .join((e) =>
        e
          .append('g')
          .attr('class', 'dl-tick')
          .call((t) => {
            t.append('line');
            t.append('text');
          }),
      );
    g.attr('transform', (v) => `translate(${12 + scale.t(v) * W},0)`);
    g.select('line').attr('y1', 0).attr('y2', 4);
    g.select('text')
      .attr('y', 15)
      .attr('text-anchor', 'middle')
      .text((v) => fmt(v));
  }
}
