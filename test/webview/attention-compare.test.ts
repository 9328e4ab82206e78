/**
 * The attention panel comparing models and reading labels (issue 12 §4), in headless Chromium: base and
 * adapters side by side (one head, zoom and hover for all), the difference's default operands and its
 * "as the maps" scale, λ·A₂ in a hue of its own, axis titles, whitespace tokens shown, labels inside the
 * plot's box, and token lines over long spans (the hovered row; an explanation when a window has none).
 * Expected values come from the synthetic maps themselves, computed here in Node, not from the panel.
 * In-page code is plain JS on globalThis (this file is compiled for Node, without DOM types).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ensureWebviewBuilt, launchChromium, ROOT } from './browser';
import type { ModelAttention } from '../../protocol/attention';
import { reportHtml } from '../../webview/report';
import { CODE_TOKENS, syntheticModels } from './synthetic';

const BUNDLE = path.join(ROOT, 'dist', 'webview', 'attention.js');
const CSS = path.join(ROOT, 'dist', 'webview', 'attention.css');
const SHOTS = process.env.WEBVIEW_SHOTS_DIR ?? '/tmp';

let browser: Browser;
let assets: { js: string; css: string };

async function open(
  models: ModelAttention[],
  opts: { width?: number; height?: number; dark?: boolean } = {},
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: opts.width ?? 1500, height: opts.height ?? 1100 },
    deviceScaleFactor: 1,
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.setContent(reportHtml(models, { title: 'compare' }, assets), { waitUntil: 'load' });
  await page.waitForFunction(() => !!(globalThis as any).DiffLoRALens?.panel);
  await page.evaluate(() => (globalThis as any).DiffLoRALens.panel.whenIdle());
  return { page, errors };
}

/** Page coordinates of a cell's centre in heatmap `pane` (-1: the main one, else a side pane). */
async function cellPoint(page: Page, pane: number, q: number, k: number): Promise<[number, number]> {
  return page.evaluate(
    ({ pane, q, k }) => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.renderIfDirty();
      const h = pane < 0 ? p.heatmap : p.side.panes[pane].heatmap;
      const r = h.canvas.getBoundingClientRect();
      const [x, y] = h.cellCenter({ q, k });
      return [r.left + x, r.top + y] as [number, number];
    },
    { pane, q, k },
  );
}

/** Every readout in the detail card, in pane order (main first). */
async function readouts(page: Page): Promise<{ q: number; k: number; value: number; pinned: boolean }[]> {
  return page.evaluate(() =>
    Array.from((globalThis as any).document.querySelectorAll('.dl-detail .dl-readout')).map((r: any) => ({
      q: Number(r.dataset.q),
      k: Number(r.dataset.k),
      value: Number(r.dataset.value),
      pinned: r.classList.contains('dl-pinned') as boolean,
    })),
  );
}

/** The pixel at a cell of a heatmap (device pixels = CSS pixels here). */
async function pixel(page: Page, pane: number, q: number, k: number): Promise<[number, number, number]> {
  return page.evaluate(
    ({ pane, q, k }) => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.renderIfDirty();
      const h = pane < 0 ? p.heatmap : p.side.panes[pane].heatmap;
      const [x, y] = h.cellCenter({ q, k });
      return Array.from(h.canvas.getContext('2d').getImageData(Math.floor(x), Math.floor(y), 1, 1).data).slice(0, 3) as [
        number,
        number,
        number,
      ];
    },
    { pane, q, k },
  );
}

/** Hue in degrees of an RGB colour (NaN for greys). */
function hue([r, g, b]: number[]): number {
  const max = Math.max(r, g, b),
    min = Math.min(r, g, b),
    d = max - min;
  if (d < 8) return NaN;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}

const at = (m: ModelAttention, kind: 'positive' | 'negative' | 'differential', layer: number, head: number, q: number, k: number) =>
  m.layers[layer].heads[head][kind]![q * m.tk + k];

describe('attention panel: models side by side, difference defaults, labels (webview, Chromium)', { timeout: 300_000 }, () => {
  before(async () => {
    ensureWebviewBuilt(['attention.js', 'attention.css']);
    assets = { js: fs.readFileSync(BUNDLE, 'utf8'), css: fs.readFileSync(CSS, 'utf8') };
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it("base | LoRA | DiffLoRA side by side: one head, one zoom, one hovered cell; each pane shows its own model's values", async () => {
    const models = syntheticModels(CODE_TOKENS, 4, 4);
    const { page, errors } = await open(models);
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.select({ model: 2, layer: 2, head: 3 });
      p.setBeside([0, 1]);
      p.renderIfDirty();
    });
    const panes = await page.evaluate(() =>
      Array.from((globalThis as any).document.querySelectorAll('.dl-pane')).map((e: any) => ({
        title: e.querySelector('.dl-pane-title').textContent as string,
        hidden: e.querySelector('.dl-pane-title').hidden as boolean,
        box: e.getBoundingClientRect().toJSON() as { left: number; right: number; top: number },
      })),
    );
    assert.equal(panes.length, 3);
    assert.match(panes[0].title, /^DiffLoRA r=8 · positive A₁/);
    assert.match(panes[1].title, /^base · attention A/);
    assert.match(panes[2].title, /^LoRA r=16 · attention A/);
    assert.ok(panes.every((p) => !p.hidden));
    // At 1500 px the three panes sit in one row, inside the window.
    assert.ok(
      panes.every((p) => Math.abs(p.box.top - panes[0].box.top) < 1),
      `one row: ${JSON.stringify(panes.map((p) => p.box))}`,
    );
    assert.ok(
      panes.every((p) => p.box.right <= 1500),
      'no pane past the right edge',
    );

    // Hover a cell of the main pane: every pane's readout follows, each with its model's own value.
    const [q, k] = [30, 17];
    const [x, y] = await cellPoint(page, -1, q, k);
    await page.mouse.move(x, y);
    let r = await readouts(page);
    assert.deepEqual(
      r.map((o) => [o.q, o.k]),
      [
        [q, k],
        [q, k],
        [q, k],
      ],
    );
    assert.equal(r[0].value, at(models[2], 'positive', 2, 3, q, k));
    assert.equal(r[1].value, at(models[0], 'positive', 2, 3, q, k));
    assert.equal(r[2].value, at(models[1], 'positive', 2, 3, q, k));
    // Hover in a side pane: the main one follows; a click there pins every pane.
    const [x2, y2] = await cellPoint(page, 1, 12, 5);
    await page.mouse.move(x2, y2);
    r = await readouts(page);
    assert.deepEqual(
      r.map((o) => [o.q, o.k]),
      [
        [12, 5],
        [12, 5],
        [12, 5],
      ],
    );
    assert.equal(r[0].value, at(models[2], 'positive', 2, 3, 12, 5));
    await page.mouse.down();
    await page.mouse.up();
    r = await readouts(page);
    assert.ok(
      r.every((o) => o.pinned),
      'pinned in every pane',
    );
    await page.keyboard.press('Escape');

    // One colour scale for the three panes: each cell's colour is the scale's colour for that model's value.
    const want = await page.evaluate(
      ({ vals }) => {
        const w = globalThis as any;
        const sc = w.DiffLoRALens.panel.colorScale();
        const c = w.document.createElement('canvas').getContext('2d');
        return vals.map((v: number) => {
          c.fillStyle = sc.scale(v);
          c.fillRect(0, 0, 1, 1);
          return Array.from(c.getImageData(0, 0, 1, 1).data).slice(0, 3) as number[];
        });
      },
      { vals: [at(models[2], 'positive', 2, 3, q, k), at(models[0], 'positive', 2, 3, q, k), at(models[1], 'positive', 2, 3, q, k)] },
    );
    const got = [await pixel(page, -1, q, k), await pixel(page, 0, q, k), await pixel(page, 1, q, k)];
    got.forEach((g, i) =>
      assert.ok(
        g.every((c, j) => Math.abs(c - want[i][j]) <= 3),
        `pane ${i}: rgb(${g}) want rgb(${want[i]})`,
      ),
    );

    // Zoom the main pane: the side panes take the same window; select another head: all panes follow.
    const zoom = await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.heatmap.zoomTo(20, 36, 4, 20);
      p.renderIfDirty();
      const t = (h: any) => {
        const z = h.zoomTransform;
        return [z.k, z.x, z.y];
      };
      return {
        main: t(p.heatmap),
        side: p.side.panes.map((s: any) => t(s.heatmap)),
        ranges: [p.heatmap, ...p.side.panes.map((s: any) => s.heatmap)].map((h: any) => h.visibleRange()),
      };
    });
    assert.ok(zoom.main[0] > 1);
    for (const s of zoom.side) assert.deepEqual(s, zoom.main);
    for (const rg of zoom.ranges) assert.deepEqual(rg, zoom.ranges[0]);
    await page.screenshot({ path: path.join(SHOTS, 'webview-side-by-side.png'), fullPage: true });
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.heatmap.resetZoom();
      p.select({ layer: 1, head: 0 });
      p.renderIfDirty();
    });
    const [x3, y3] = await cellPoint(page, 0, 8, 8);
    await page.mouse.move(x3, y3);
    r = await readouts(page);
    assert.equal(r[1].value, at(models[0], 'positive', 1, 0, 8, 8));
    assert.equal(r[0].value, at(models[2], 'positive', 1, 0, 8, 8));
    // The PNG export holds every pane: the LoRA pane's cell (8, 8) in the PNG has its on-screen colour.
    const png = await page.evaluate(async () => {
      const w = globalThis as any;
      const p = w.DiffLoRALens.panel;
      p.renderIfDirty();
      // Where the export puts the second side pane: after the overview, the main heatmap and the first pane.
      const pad = 16,
        titleH = 30,
        gap = 16,
        paneTitle = 18;
      const ov = p.overview.layout,
        hm = p.heatmap.layout,
        p0 = p.side.panes[0].heatmap.layout,
        p1 = p.side.panes[1].heatmap;
      const [cx, cy] = p1.cellCenter({ q: 8, k: 8 });
      const x = pad + ov.width + pad * 2 + hm.left + hm.width + 8 + gap + p0.left + p0.width + 8 + gap + p1.layout.left + cx;
      const y = pad + titleH + paneTitle + p1.layout.top + cy;
      const screen = Array.from(p1.canvas.getContext('2d').getImageData(Math.floor(cx), Math.floor(cy), 1, 1).data).slice(0, 3) as number[];
      const one = await w.createImageBitmap(await p.exportPng(1));
      const c = w.document.createElement('canvas');
      c.width = one.width;
      c.height = one.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(one, 0, 0);
      const got = Array.from(ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data).slice(0, 3) as number[];
      p.setBeside([]);
      const alone = await w.createImageBitmap(await p.exportPng(1));
      p.setBeside([0, 1]);
      p.renderIfDirty();
      return { width: one.width as number, alone: alone.width as number, got, screen };
    });
    assert.ok(png.width > png.alone + 200, `the PNG widens for the panes: ${png.width} vs ${png.alone}`);
    assert.ok(
      png.got.every((c: number, j: number) => Math.abs(c - png.screen[j]) <= 3),
      `PNG pane pixel rgb(${png.got}) vs screen rgb(${png.screen})`,
    );
    // Back to one model: the side panes go.
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.setBeside([]);
      p.renderIfDirty();
    });
    assert.equal(await page.locator('.dl-pane-side').count(), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('three models side by side in a 900 px window: the side panes leave the query labels to the first; none past the right edge', async () => {
    const { page, errors } = await open(syntheticModels(CODE_TOKENS, 2, 2), { width: 900, height: 1400 });
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.setBeside([1, 2]);
      p.renderIfDirty();
    });
    const panes = await page.evaluate(() =>
      Array.from((globalThis as any).document.querySelectorAll('.dl-pane')).map((e: any) => ({
        right: e.getBoundingClientRect().right as number,
        top: e.getBoundingClientRect().top as number,
        queryLabels: e.querySelectorAll('.dl-labels-q text').length as number,
      })),
    );
    assert.equal(panes.length, 3);
    const width = await page.evaluate(() => (globalThis as any).document.documentElement.clientWidth as number);
    assert.ok(
      panes.every((p) => p.right <= width),
      `pane right edges ${panes.map((p) => p.right)} within ${width}`,
    );
    assert.ok(
      panes.every((p) => Math.abs(p.top - panes[0].top) < 1),
      'one row',
    );
    assert.ok(panes[0].queryLabels > 0);
    assert.deepEqual(
      panes.slice(1).map((p) => p.queryLabels),
      [0, 0],
      'the side panes leave the query labels to the first',
    );
    await page.screenshot({ path: path.join(SHOTS, 'webview-side-by-side-narrow.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('Difference defaults to the selected adapter minus the base, scaled like the maps: a small change stays faint', async () => {
    const toks = ['<s>', 'The', ' cat', ' sat'];
    const POS = [1, 0, 0, 0, 0.7, 0.3, 0, 0, 0.5, 0.2, 0.3, 0, 0.1, 0.2, 0.3, 0.4];
    const SMALL = [0, 0, 0, 0, -0.02, 0.02, 0, 0, 0.01, -0.02, 0.01, 0, 0.02, -0.01, 0, -0.01]; // rows still sum to 1
    const one = (label: string, kind: ModelAttention['kind'], v: number[]): ModelAttention => ({
      label,
      kind,
      tokens: toks,
      tq: 4,
      tk: 4,
      numLayers: 1,
      numHeads: 1,
      layers: [{ layer: 0, heads: [{ head: 0, positive: new Float32Array(v) }] }],
    });
    const models = [
      one('base', 'base', POS),
      one(
        'lora-a',
        'lora',
        POS.map((v, i) => v + SMALL[i]),
      ),
      one(
        'lora-b',
        'lora',
        POS.map((v, i) => v - SMALL[i]),
      ),
    ];
    const { page, errors } = await open(models);
    const st = await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.select({ model: 1 });
      p.setMode('difference');
      p.renderIfDirty();
      const sc = p.colorScale();
      return {
        a: p.state.a,
        b: p.state.b,
        range: p.state.range,
        domain: sc.domain as number[],
        t: sc.t(Math.fround(0.02)) as number,
        op: [(globalThis as any).document.querySelector('.dl-op-a').value, (globalThis as any).document.querySelector('.dl-op-b').value],
      };
    });
    assert.deepEqual(st.a, { model: 1, kind: 'positive' }, 'the selected adapter');
    assert.deepEqual(st.b, { model: 0, kind: 'positive' }, 'minus the base');
    assert.deepEqual(st.op, ['1:positive', '0:positive'], 'the toolbar shows the operands');
    assert.equal(st.range, 'maps');
    // The maps' range (their largest values, ~0.4-1), not the difference's own (0.02).
    assert.ok(st.domain[1] >= 0.3, `difference domain ${st.domain}`);
    assert.ok(Math.abs(st.t - 0.5) < 0.3, `a change of 0.02 sits near the neutral middle (t=${st.t})`);
    // The values are adapter minus base, cell by cell (hover readout, exact float32 arithmetic).
    for (const [q, k] of [
      [1, 0],
      [2, 1],
      [3, 3],
    ]) {
      const [x, y] = await cellPoint(page, -1, q, k);
      await page.mouse.move(x, y);
      const [r] = await readouts(page);
      assert.equal(r.value, Math.fround(Math.fround(POS[q * 4 + k] + SMALL[q * 4 + k]) - Math.fround(POS[q * 4 + k])), `cell (${q},${k})`);
    }
    // Per head instead: the same change saturates (why "as the maps" is the difference's default).
    const perHead = await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.setColor('head');
      p.renderIfDirty();
      return p.colorScale().t(Math.fround(0.02)) as number;
    });
    assert.ok(Math.abs(perHead - 0.5) > 0.45, `per head, 0.02 is near full colour (t=${perHead})`);
    // Another adapter selected: the default follows it.
    const b2 = await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.setMode('positive');
      p.select({ model: 2 });
      p.setMode('difference');
      p.renderIfDirty();
      return p.state.a;
    });
    assert.deepEqual(b2, { model: 2, kind: 'positive' });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('λ·A₂ in a hue of its own; axis titles; whitespace tokens visible; labels inside the plot box', async () => {
    const toks = ['<|begin_of_text|>', 'def', ' f', '():', '\n', '    ', 'return', ' 1', '\t', ' ', ' a_rather_long_identifier_name'];
    const models = syntheticModels(toks, 1, 1);
    const { page, errors } = await open([models[0], models[2]]);
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.select({ model: 1 });
      p.setMode('positive');
      p.setColor('head-max', 'linear');
      p.renderIfDirty();
    });
    const posPx = await pixel(page, -1, 5, 0);
    await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALens.panel;
      p.setMode('negative');
      p.renderIfDirty();
    });
    const negPx = await pixel(page, -1, 5, 0);
    const hp = hue(posPx),
      hn = hue(negPx);
    assert.ok(hp > 190 && hp < 235, `A₁ in blue: rgb(${posPx}) hue ${hp}`);
    assert.ok(hn > 250 && hn < 320, `λ·A₂ in purple: rgb(${negPx}) hue ${hn}`);
    await page.screenshot({ path: path.join(SHOTS, 'webview-negative.png'), fullPage: true });

    const dom = await page.evaluate(() => {
      const d = (globalThis as any).document;
      const host = d.querySelector('.dl-pane-main .dl-heatmap').getBoundingClientRect();
      const texts = Array.from(
        d.querySelectorAll('.dl-pane-main .dl-labels-k text, .dl-pane-main .dl-labels-q text, .dl-pane-main .dl-axis-title'),
      ) as any[];
      return {
        titles: Array.from(d.querySelectorAll('.dl-pane-main .dl-axis-title')).map((t: any) => t.textContent as string),
        keys: Array.from(d.querySelectorAll('.dl-pane-main .dl-labels-k text')).map((t: any) => t.textContent as string),
        queries: Array.from(d.querySelectorAll('.dl-pane-main .dl-labels-q text')).map((t: any) => t.textContent as string),
        outside: texts
          .map((t) => ({ text: t.textContent as string, b: t.getBoundingClientRect() }))
          .filter(
            ({ b }) => b.left < host.left - 0.5 || b.right > host.right + 0.5 || b.top < host.top - 0.5 || b.bottom > host.bottom + 0.5,
          )
          .map((x) => x.text),
      };
    });
    assert.deepEqual(dom.titles, ['key →', 'query ↓']);
    assert.equal(await page.locator('.dl-editor-hover').count(), 0, 'the "Editor hover" switch is for VS Code only');
    assert.equal(dom.keys.length, toks.length);
    assert.equal(dom.keys[4], '↵');
    assert.equal(dom.keys[5], '␣␣␣␣');
    assert.equal(dom.keys[8], '⇥');
    assert.equal(dom.keys[9], '␣');
    assert.equal(dom.queries[5], '␣␣␣␣');
    assert.deepEqual(dom.outside, [], 'labels cut by the heatmap box');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("token lines over 100 tokens: the hovered row's strongest keys; a window of masked cells says why it has none", async () => {
    const toks = Array.from({ length: 100 }, (_, i) => (i === 0 ? '<s>' : ` t${i}`));
    const models = syntheticModels(toks, 1, 2);
    const { page, errors } = await open([models[0]]);
    const before = await page.evaluate(() => ({
      note: (globalThis as any).document.querySelector('.dl-lines .dl-note').textContent as string,
      lines: (globalThis as any).document.querySelectorAll('.dl-links line').length as number,
    }));
    assert.match(before.note, /hover a heatmap row/);
    const q = 70;
    const [x, y] = await cellPoint(page, -1, q, 3);
    await page.mouse.move(x, y);
    await page.evaluate(() => (globalThis as any).DiffLoRALens.panel.renderIfDirty());
    const row = await page.evaluate(() => {
      const d = (globalThis as any).document;
      return {
        note: d.querySelector('.dl-lines .dl-note').textContent as string,
        queries: Array.from(d.querySelectorAll('.dl-lines-q text')).map((t: any) => t.textContent as string),
        keys: Array.from(d.querySelectorAll('.dl-lines-k text')).map((t: any) => t.textContent as string),
        lines: d.querySelectorAll('.dl-links line').length as number,
      };
    });
    assert.deepEqual(row.queries, [toks[q]]);
    // Its 24 strongest keys, in key order (reference: the synthetic map's row, sorted here).
    const r = Array.from({ length: q + 1 }, (_, k) => ({ k, v: at(models[0], 'positive', 0, 0, q, k) }));
    const top = r
      .sort((a, b) => b.v - a.v)
      .slice(0, 24)
      .map((e) => e.k)
      .sort((a, b) => a - b);
    assert.deepEqual(
      row.keys,
      top.map((k) => toks[k]),
    );
    assert.ok(row.lines > 0 && row.lines <= 24);
    assert.match(row.note, /query 70's 24 strongest keys/);
    // Thinned-out labels (with their positions) stay inside the heatmap's box too.
    const outside = await page.evaluate(() => {
      const d = (globalThis as any).document;
      const host = d.querySelector('.dl-pane-main .dl-heatmap').getBoundingClientRect();
      return (Array.from(d.querySelectorAll('.dl-pane-main .dl-labels-k text, .dl-pane-main .dl-labels-q text')) as any[])
        .map((t) => ({ text: t.textContent as string, b: t.getBoundingClientRect() }))
        .filter(({ b }) => b.left < host.left - 0.5 || b.right > host.right + 0.5 || b.top < host.top - 0.5 || b.bottom > host.bottom + 0.5)
        .map((x) => x.text);
    });
    assert.deepEqual(outside, [], 'labels cut by the heatmap box (100 tokens)');
    // Pinned, the row's lines stay for the (full page) screenshot.
    await page.mouse.down();
    await page.mouse.up();
    await page.screenshot({ path: path.join(SHOTS, 'webview-lines-row.png'), fullPage: true });
    await page.evaluate(() => (globalThis as any).DiffLoRALens.panel.heatmap.unpin());

    // Queries 0-19 against keys 60-79: all masked.
    await page.mouse.move(5, 5);
    const masked = await page.evaluate(() => {
      const w = globalThis as any;
      const p = w.DiffLoRALens.panel;
      p.heatmap.zoomTo(0, 20, 60, 80);
      p.renderIfDirty();
      return {
        range: p.heatmap.visibleRange(),
        note: w.document.querySelector('.dl-lines .dl-note').textContent as string,
        lines: w.document.querySelectorAll('.dl-links line').length as number,
      };
    });
    assert.ok(masked.range.q1 <= masked.range.k0, `window ${JSON.stringify(masked.range)}`);
    assert.equal(masked.lines, 0);
    assert.match(masked.note, /No lines: every key here comes after every query.*causal mask/);
    await page.screenshot({ path: path.join(SHOTS, 'webview-lines-masked.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
