/**
 * Token-to-token lines for short spans (bertviz's head view): queries on the left, keys on the right,
 * one line per (query, key) pair with opacity and width from the value. SVG, since spans are small
 * (at most MAX_LINE_TOKENS tokens per side).
 */
import * as d3 from 'd3';
import type { ColorScale } from '../colors';
import { el, svgEl, tokenDisplay, truncate } from '../dom';
import type { ViewSource } from './source';

export const MAX_LINE_TOKENS = 48;

interface Link { q: number; k: number; v: number; w: number }

export class TokenLines {
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;
  private focusQ?: number;
  private focusK?: number;
  private pinnedQ?: number;

  constructor(host: HTMLElement, private readonly cb: { onQuery?: (q: number) => void } = {}) {
    host.classList.add('dl-lines');
    this.note = el('div', 'dl-note', undefined, host);
    this.svg = svgEl('svg', 'dl-lines-svg', host);
    const s = d3.select(this.svg);
    s.append('g').attr('class', 'dl-links');
    s.append('g').attr('class', 'dl-lines-q');
    s.append('g').attr('class', 'dl-lines-k');
    s.append('g').attr('class', 'dl-lines-head');
  }

  render(src: ViewSource | undefined, index: number, scale: ColorScale | undefined, range: { q0: number; q1: number; k0: number; k1: number }, pinnedQ: number | undefined, width: number): void {
    this.pinnedQ = pinnedQ;
    const s = d3.select(this.svg);
    const data = src?.map(index);
    const nq = range.q1 - range.q0, nk = range.k1 - range.k0;
    if (!src || !scale || !data) { this.note.textContent = 'No map loaded for this head yet.'; this.svg.style.display = 'none'; return; }
    if (nq > MAX_LINE_TOKENS || nk > MAX_LINE_TOKENS) {
      this.note.textContent = `Token lines show spans of up to ${MAX_LINE_TOKENS} tokens: zoom the heatmap (wheel) to ${MAX_LINE_TOKENS} tokens or fewer. Now: ${nq} queries × ${nk} keys.`;
      this.svg.style.display = 'none';
      return;
    }
    const partial = nq < src.tq || nk < src.tk;
    this.note.textContent = partial ? `Queries ${range.q0}–${range.q1 - 1}, keys ${range.k0}–${range.k1 - 1} (the heatmap's visible window). Hover a token to isolate its lines.` : 'Hover a token to isolate its lines.';
    this.svg.style.display = '';
    const rowH = 17, head = 20;
    const n = Math.max(nq, nk);
    const W = Math.max(260, Math.min(width, 560));
    const colW = Math.min(150, Math.floor(W * 0.3));
    const H = head + n * rowH + 6;
    s.attr('width', W).attr('height', H);
    const yq = (q: number) => head + (q - range.q0 + 0.5) * rowH * (n / nq);
    const yk = (k: number) => head + (k - range.k0 + 0.5) * rowH * (n / nk);
    const xL = colW, xR = W - colW;

    // Links: values relative to the largest |value| in the window.
    let m = 0;
    for (let q = range.q0; q < range.q1; q++) for (let k = range.k0; k < range.k1; k++) m = Math.max(m, Math.abs(data[q * src.tk + k]));
    const links: Link[] = [];
    if (m > 0) {
      for (let q = range.q0; q < range.q1; q++) {
        for (let k = range.k0; k < range.k1; k++) {
          const v = data[q * src.tk + k];
          const w = Math.abs(v) / m;
          if (w >= 0.02) links.push({ q, k, v, w });
        }
      }
    }
    const diverging = scale.kind === 'diverging';
    const pos = diverging ? scale.interpolator(0.92) : getComputedStyle(this.svg).getPropertyValue('--dl-accent').trim() || '#3794ff';
    const neg = scale.interpolator(0.08);
    s.select('.dl-links').selectAll<SVGLineElement, Link>('line').data(links, (d) => `${d.q}:${d.k}`).join('line')
      .attr('x1', xL + 6).attr('y1', (d) => yq(d.q)).attr('x2', xR - 6).attr('y2', (d) => yk(d.k))
      .attr('stroke', (d) => (d.v < 0 ? neg : pos))
      .attr('stroke-opacity', (d) => Math.max(0.06, Math.sqrt(d.w)))
      .attr('stroke-width', (d) => 0.6 + 2.4 * d.w);

    const label = (toks: string[], i: number) => truncate(tokenDisplay(toks[i] ?? ''), 20);
    s.select('.dl-lines-head').selectAll('text').data([['query', xL, 'end'], ['key', xR, 'start']] as const).join('text')
      .attr('x', (d) => d[1]).attr('y', 12).attr('text-anchor', (d) => d[2]).attr('class', 'dl-lines-title').text((d) => d[0]);
    s.select('.dl-lines-q').selectAll<SVGTextElement, number>('text').data(d3.range(range.q0, range.q1), (d) => d).join('text')
      .attr('x', xL).attr('y', yq).attr('dy', '0.35em').attr('text-anchor', 'end').text((q) => label(src.queryTokens, q))
      .on('pointerenter', (_e, q) => { this.focusQ = q; this.applyFocus(); })
      .on('pointerleave', () => { this.focusQ = undefined; this.applyFocus(); })
      .on('click', (_e, q) => this.cb.onQuery?.(q));
    s.select('.dl-lines-k').selectAll<SVGTextElement, number>('text').data(d3.range(range.k0, range.k1), (d) => d).join('text')
      .attr('x', xR).attr('y', yk).attr('dy', '0.35em').attr('text-anchor', 'start').text((k) => label(src.keyTokens, k))
      .on('pointerenter', (_e, k) => { this.focusK = k; this.applyFocus(); })
      .on('pointerleave', () => { this.focusK = undefined; this.applyFocus(); });
    this.applyFocus();
  }

  private applyFocus(): void {
    const s = d3.select(this.svg);
    const fq = this.focusQ ?? (this.focusK === undefined ? this.pinnedQ : undefined), fk = this.focusK;
    const any = fq !== undefined || fk !== undefined;
    s.select('.dl-links').selectAll<SVGLineElement, Link>('line').classed('dl-dim', (d) => any && !(d.q === fq || d.k === fk));
    s.select('.dl-lines-q').selectAll<SVGTextElement, number>('text').classed('dl-focus', (q) => q === fq);
    s.select('.dl-lines-k').selectAll<SVGTextElement, number>('text').classed('dl-focus', (k) => k === fk);
  }
}
