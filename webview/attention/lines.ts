/**
 * Token-to-token lines for short spans (bertviz's head view): queries on the left, keys on the right,
 * one line per (query, key) pair with opacity and width from the value. SVG, since spans are small
 * (at most MAX_LINE_TOKENS tokens per side). Over longer spans, the lines of one query (the heatmap's
 * hovered or pinned row) to its ROW_KEYS strongest keys.
 */
import * as d3 from 'd3';
import type { ColorScale } from '../colors';
import { el, svgEl, tokenDisplay, truncate } from '../dom';
import type { ViewSource } from './source';

export const MAX_LINE_TOKENS = 48;
/** Keys drawn for a single query row over a long span. */
export const ROW_KEYS = 24;

type Range = { q0: number; q1: number; k0: number; k1: number };

interface Link {
  q: number;
  k: number;
  v: number;
  w: number;
}

export class TokenLines {
  private readonly svg: SVGSVGElement;
  private readonly note: HTMLDivElement;
  private focusQ?: number;
  private focusK?: number;
  private pinnedQ?: number;

  constructor(
    host: HTMLElement,
    private readonly cb: { onQuery?: (q: number) => void } = {},
  ) {
    host.classList.add('dl-lines');
    this.note = el('div', 'dl-note', undefined, host);
    this.svg = svgEl('svg', 'dl-lines-svg', host);
    const s = d3.select(this.svg);
    s.append('g').attr('class', 'dl-links');
    s.append('g').attr('class', 'dl-lines-q');
    s.append('g').attr('class', 'dl-lines-k');
    s.append('g').attr('class', 'dl-lines-head');
  }

  /**
   * `pinnedQ`: the heatmap's pinned query (its lines stand out); `rowQ`: the hovered or pinned query, whose
   * lines are drawn alone when the window is too long for all of them.
   */
  render(
    src: ViewSource | undefined,
    index: number,
    scale: ColorScale | undefined,
    range: Range,
    pinnedQ: number | undefined,
    width: number,
    rowQ?: number,
  ): void {
    this.pinnedQ = pinnedQ;
    const data = src?.map(index);
    const nq = range.q1 - range.q0,
      nk = range.k1 - range.k0;
    if (!src || !scale || !data) {
      this.note.textContent = 'No map loaded for this head yet.';
      this.svg.style.display = 'none';
      return;
    }
    if (nq > MAX_LINE_TOKENS || nk > MAX_LINE_TOKENS) {
      const tooMany = `The window holds ${nq} queries × ${nk} keys, more than ${MAX_LINE_TOKENS}`;
      if (rowQ === undefined) {
        this.note.textContent = `${tooMany}: hover a heatmap row for that query's lines, or zoom (wheel) to ${MAX_LINE_TOKENS} tokens or fewer for all of them.`;
        this.svg.style.display = 'none';
        return;
      }
      // The row's strongest keys, in key order.
      const keys = d3
        .range(range.k0, range.k1)
        .filter((k) => data[rowQ * src.tk + k] !== 0)
        .sort((a, b) => Math.abs(data[rowQ * src.tk + b]) - Math.abs(data[rowQ * src.tk + a]))
        .slice(0, ROW_KEYS)
        .sort((a, b) => a - b);
      this.note.textContent = `${tooMany}: query ${rowQ}'s ${keys.length} strongest keys. Zoom to ${MAX_LINE_TOKENS} tokens or fewer for every line.`;
      this.draw(src, data, scale, [rowQ], keys, width);
      return;
    }
    const partial = nq < src.tq || nk < src.tk;
    const where = partial ? `Queries ${range.q0}–${range.q1 - 1}, keys ${range.k0}–${range.k1 - 1} (the heatmap's visible window). ` : '';
    const drawn = this.draw(src, data, scale, d3.range(range.q0, range.q1), d3.range(range.k0, range.k1), width);
    if (drawn > 0) this.note.textContent = `${where}Hover a token to isolate its lines.`;
    else {
      const masked = range.k0 > range.q1 - 1 + (src.tk - src.tq);
      this.note.textContent = `${where}No lines: ${masked ? 'every key here comes after every query, and a query never attends to later tokens (causal mask)' : 'every value in this window is 0'}. Zoom out (Fit) or move the window.`;
    }
  }

  /** Draws the lines between the given queries and keys; returns how many were drawn. */
  private draw(src: ViewSource, data: Float32Array, scale: ColorScale, qs: number[], ks: number[], width: number): number {
    const s = d3.select(this.svg);
    const qIndex = new Map(qs.map((q, i) => [q, i])),
      kIndex = new Map(ks.map((k, i) => [k, i]));
    const nq = qs.length,
      nk = ks.length;
    this.svg.style.display = '';
    const rowH = 17,
      head = 20;
    const n = Math.max(nq, nk);
    const W = Math.max(260, Math.min(width, 560));
    const colW = Math.min(150, Math.floor(W * 0.3));
    const H = head + n * rowH + 6;
    s.attr('width', W).attr('height', H);
    const yq = (q: number) => head + (qIndex.get(q)! + 0.5) * rowH * (n / nq);
    const yk = (k: number) => head + (kIndex.get(k)! + 0.5) * rowH * (n / nk);
    const xL = colW,
      xR = W - colW;

    // Links: values relative to the largest |value| in the window.
    let m = 0;
    for (const q of qs) for (const k of ks) m = Math.max(m, Math.abs(data[q * src.tk + k]));
    const links: Link[] = [];
    if (m > 0) {
      for (const q of qs) {
        for (const k of ks) {
          const v = data[q * src.tk + k];
          const w = Math.abs(v) / m;
          if (w >= 0.02) links.push({ q, k, v, w });
        }
      }
    }
    const diverging = scale.kind === 'diverging';
    const pos = diverging ? scale.interpolator(0.92) : getComputedStyle(this.svg).getPropertyValue('--dl-accent').trim() || '#3794ff';
    const neg = scale.interpolator(0.08);
    s.select('.dl-links')
      .selectAll<SVGLineElement, Link>('line')
      .data(links, (d) => `${d.q}:${d.k}`)
      .join('line')
      .attr('x1', xL + 6)
      .attr('y1', (d) => yq(d.q))
      .attr('x2', xR - 6)
      .attr('y2', (d) => yk(d.k))
      .attr('stroke', (d) => (d.v < 0 ? neg : pos))
      .attr('stroke-opacity', (d) => Math.max(0.06, Math.sqrt(d.w)))
      .attr('stroke-width', (d) => 0.6 + 2.4 * d.w);

    const label = (toks: string[], i: number) => truncate(tokenDisplay(toks[i] ?? ''), 20);
    s.select('.dl-lines-head')
      .selectAll('text')
      .data([
        ['query', xL, 'end'],
        ['key', xR, 'start'],
      ] as const)
      .join('text')
      .attr('x', (d) => d[1])
      .attr('y', 12)
      .attr('text-anchor', (d) => d[2])
      .attr('class', 'dl-lines-title')
      .text((d) => d[0]);
    s.select('.dl-lines-q')
      .selectAll<SVGTextElement, number>('text')
      .data(qs, (d) => d)
      .join('text')
      .attr('x', xL)
      .attr('y', yq)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .text((q) => label(src.queryTokens, q))
      .on('pointerenter', (_e, q) => {
        this.focusQ = q;
        this.applyFocus();
      })
      .on('pointerleave', () => {
        this.focusQ = undefined;
        this.applyFocus();
      })
      .on('click', (_e, q) => this.cb.onQuery?.(q));
    s.select('.dl-lines-k')
      .selectAll<SVGTextElement, number>('text')
      .data(ks, (d) => d)
      .join('text')
      .attr('x', xR)
      .attr('y', yk)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'start')
      .text((k) => label(src.keyTokens, k))
      .on('pointerenter', (_e, k) => {
        this.focusK = k;
        this.applyFocus();
      })
      .on('pointerleave', () => {
        this.focusK = undefined;
        this.applyFocus();
      });
    this.applyFocus();
    return links.length;
  }

  private applyFocus(): void {
    const s = d3.select(this.svg);
    const fq = this.focusQ ?? (this.focusK === undefined ? this.pinnedQ : undefined),
      fk = this.focusK;
    const any = fq !== undefined || fk !== undefined;
    s.select('.dl-links')
      .selectAll<SVGLineElement, Link>('line')
      .classed('dl-dim', (d) => any && !(d.q === fq || d.k === fk));
    s.select('.dl-lines-q')
      .selectAll<SVGTextElement, number>('text')
      .classed('dl-focus', (q) => q === fq);
    s.select('.dl-lines-k')
      .selectAll<SVGTextElement, number>('text')
      .classed('dl-focus', (k) => k === fk);
  }
}
