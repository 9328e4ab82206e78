/**
 * The attention panel's exports: the current view as a PNG (overview, heatmap with its labels, legend,
 * readout, and the panes shown beside it, drawn onto one canvas) and the selected head's map or every
 * captured map as JSON.
 */
import * as d3 from 'd3';
import { serializeModels } from '../codec';
import type { ColorScale, Theme } from '../colors';
import type { Heatmap } from './heatmap';
import type { Legend } from '../legend';
import type { Overview } from './overview';
import type { ViewSource } from './source';
import type { PanelState } from './state';
import type { ModelStore } from './store';

/** What an export reads from the panel (already rendered). */
export interface ExportView {
  root: HTMLElement;
  title?: string;
  state: PanelState;
  theme: Theme;
  source?: ViewSource;
  scale?: ColorScale;
  models: readonly ModelStore[];
  /** The store the selected head belongs to (difference: the minuend's). */
  store?: ModelStore;
  index: number;
  overview: Overview;
  heatmap: Heatmap;
  legend: Legend;
  /** The detail card's subtitle (map, size, lambda). */
  subtitle: string;
  /** Heatmaps shown beside the main one (side by side), with their titles; the main one's title. */
  panes: { title: string; heatmap: Heatmap }[];
  mainTitle: string;
}

/** Gap between side-by-side heatmaps in the PNG, and room for their titles. */
const PANE_GAP = 16,
  PANE_TITLE_H = 18;

export function renderPng(v: ExportView, scale = 2): Promise<Blob> {
  const c = document.createElement('canvas');
  const pad = 16,
    titleH = 30;
  const ov = v.overview.layout,
    hm = v.heatmap.layout;
  const ovH = ov.height + 70;
  const titled = v.panes.length > 0;
  const tH = titled ? PANE_TITLE_H : 0;
  const panesW = v.panes.reduce((w, p) => w + PANE_GAP + p.heatmap.layout.left + p.heatmap.layout.width + 8, 0);
  const paneH = Math.max(hm.top + hm.height, ...v.panes.map((p) => p.heatmap.layout.top + p.heatmap.layout.height));
  const W = pad + ov.width + pad * 2 + hm.left + hm.width + panesW + pad;
  const H = pad + titleH + Math.max(ovH, tH + paneH + 40) + pad;
  c.width = Math.round(W * scale);
  c.height = Math.round(H * scale);
  const ctx = c.getContext('2d')!;
  ctx.scale(scale, scale);
  const fg = v.theme.foreground,
    bg = v.theme.background;
  const font = getComputedStyle(v.root).getPropertyValue('--dl-font').trim() || 'sans-serif';
  const mono = getComputedStyle(v.root).getPropertyValue('--dl-mono').trim() || 'monospace';
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = fg;
  ctx.font = `600 14px ${font}`;
  ctx.textBaseline = 'middle';
  const st = v.state;
  ctx.fillText(
    `DiffLoRA Lens${v.title ? ` — ${v.title}` : ''} — Layer ${st.layer} · Head ${st.head} — ${v.source?.label ?? ''}`,
    pad,
    pad + 10,
  );
  const y0 = pad + titleH;
  // Overview with its axis labels.
  ctx.drawImage(v.overview.canvas, pad, y0, ov.width, ov.height);
  ctx.font = `10px ${font}`;
  ctx.globalAlpha = 0.75;
  v.root.querySelectorAll<SVGTextElement>('.dl-overview-svg text').forEach((t) => {
    ctx.textAlign = t.getAttribute('text-anchor') === 'end' ? 'right' : 'center';
    ctx.fillText(
      t.textContent ?? '',
      pad + Number(t.getAttribute('x')),
      y0 + Number(t.getAttribute('y')) + (t.getAttribute('dy') ? 0 : -3),
    );
  });
  ctx.globalAlpha = 1;
  // Legend under the overview.
  const ly = y0 + ov.height + 14;
  ctx.textAlign = 'left';
  ctx.fillText(v.subtitle, pad, ly);
  ctx.drawImage(v.legend.canvas, pad + 12, ly + 12, v.legend.width, 12);
  const sc = v.scale;
  if (sc) {
    ctx.textAlign = 'center';
    for (const x of d3.ticks(sc.domain[0], sc.domain[1], 5))
      ctx.fillText(d3.format('.2~g')(x), pad + 12 + sc.t(x) * v.legend.width, ly + 34);
  }
  // Heatmaps with token labels: the main one, then those beside it.
  let hx = pad + ov.width + pad * 2;
  const hy = y0 + tH;
  drawHeatmap(ctx, v.heatmap, hx, hy, fg, mono, titled ? v.mainTitle : undefined, font);
  hx += hm.left + hm.width + 8;
  for (const p of v.panes) {
    hx += PANE_GAP;
    drawHeatmap(ctx, p.heatmap, hx, hy, fg, mono, p.title, font);
    hx += p.heatmap.layout.left + p.heatmap.layout.width + 8;
  }
  const r = v.heatmap.readoutText();
  if (r) {
    ctx.font = `12px ${mono}`;
    ctx.textAlign = 'left';
    ctx.fillText(r, pad + ov.width + pad * 2 + hm.left, hy + paneH + 20);
  }
  return new Promise((res, rej) => c.toBlob((b) => (b ? res(b) : rej(new Error('PNG encoding failed'))), 'image/png'));
}

/** One heatmap (its canvas, frame, token labels and title) with its top-left corner at (x, y). */
function drawHeatmap(
  ctx: CanvasRenderingContext2D,
  h: Heatmap,
  x: number,
  y: number,
  fg: string,
  mono: string,
  title: string | undefined,
  font: string,
): void {
  const hm = h.layout;
  if (title) {
    ctx.font = `600 12px ${font}`;
    ctx.textAlign = 'left';
    ctx.fillText(title, x, y - PANE_TITLE_H / 2);
  }
  ctx.drawImage(h.canvas, x + hm.left, y + hm.top, hm.width, hm.height);
  ctx.strokeStyle = fg;
  ctx.globalAlpha = 0.3;
  ctx.strokeRect(x + hm.left - 0.5, y + hm.top - 0.5, hm.width + 1, hm.height + 1);
  ctx.globalAlpha = 1;
  ctx.font = `11px ${mono}`;
  const labels = h.labels();
  ctx.textAlign = 'right';
  for (const l of labels.q) ctx.fillText(l.text, x + hm.left - 6, y + l.y);
  ctx.textAlign = 'left';
  for (const l of labels.k) {
    ctx.save();
    ctx.translate(x + l.x, y + hm.top - 5);
    ctx.rotate(-Math.PI / 3);
    ctx.fillText(l.text, 0, 0);
    ctx.restore();
  }
}

/** JSON of the selected head's current map ('head', numbers) or of every map ('all', base64 float32). */
export function renderJson(v: ExportView, scope: 'head' | 'all'): string {
  if (scope === 'all')
    return JSON.stringify(
      serializeModels(
        v.models.map((s) => s.meta),
        v.title,
      ),
    );
  const src = v.source,
    st = v.state,
    s = v.store;
  const data = src?.map(v.index);
  const rows: number[][] = [];
  if (src && data) for (let q = 0; q < src.tq; q++) rows.push(Array.from(data.subarray(q * src.tk, (q + 1) * src.tk)));
  return JSON.stringify({
    format: 'difflora-lens-head',
    version: 1,
    title: v.title,
    map: src?.label,
    mode: st.mode,
    model: st.mode === 'difference' ? undefined : s?.meta.label,
    difference: st.mode === 'difference' ? { a: st.a, b: st.b } : undefined,
    layer: st.layer,
    head: st.head,
    lambda: s && s.lambda[st.layer] === s.lambda[st.layer] ? s.lambda[st.layer] : undefined,
    tq: src?.tq,
    tk: src?.tk,
    queryTokens: src?.queryTokens,
    keyTokens: src?.keyTokens,
    values: rows,
  });
}

/** A file name for the current view, without extension. */
export function fileBase(v: Pick<ExportView, 'state' | 'models'>): string {
  const st = v.state;
  const what = st.mode === 'difference' ? 'difference' : `${v.models[st.model]?.meta.label ?? 'model'}-${st.mode}`;
  return `attention-${what}-L${st.layer}H${st.head}`.replace(/[^\w.-]+/g, '_');
}
