/**
 * The training, compare and analysis panels (webview bundles) in headless Chromium, through playwright-core,
 * each loaded the way VS Code loads it: panelHtml() under its strict CSP, served from a webview-like
 * origin, acquireVsCodeApi() stubbed to capture what the view posts, data posted to the window as the host's
 * messages (structured clone, typed arrays as binary). Known data shows the right values and colours,
 * model text renders as text, buttons post the right messages, the training panel takes 5000 streamed
 * steps; screenshots of each panel, light and dark, go to $WEBVIEW_SHOTS_DIR (default /tmp).
 * In-page code is plain JS on globalThis (this file is compiled for Node, without DOM types).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ensureWebviewBuilt, launchChromium, WEBVIEW_DIST } from './browser';
import { passAtK } from '../../protocol/compare';
import { PANEL_FILES, panelHtml, type WebviewPanel } from '../../webview/report';

const DIST = WEBVIEW_DIST;
const SHOTS = process.env.WEBVIEW_SHOTS_DIR ?? '/tmp';
const ORIGIN = 'https://webview.test';
const XSS = '<img src=x onerror=alert(1)>';

let browser: Browser;

interface Opened {
  page: Page;
  errors: string[];
  requests: string[];
  dialogs: string[];
}

/** VS Code's Dark Modern colours, as VS Code sets them on the webview's <html> (through CSSOM). */
const DARK_VARS: Record<string, string> = {
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-editor-foreground': '#cccccc',
  '--vscode-foreground': '#cccccc',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-panel-border': '#2b2b2b',
  '--vscode-widget-border': '#313131',
  '--vscode-editorWidget-background': '#202020',
  '--vscode-focusBorder': '#0078d4',
  '--vscode-dropdown-background': '#313131',
  '--vscode-dropdown-foreground': '#cccccc',
  '--vscode-dropdown-border': '#3c3c3c',
  '--vscode-button-background': '#0078d4',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#026ec1',
  '--vscode-button-secondaryBackground': '#313131',
  '--vscode-button-secondaryForeground': '#cccccc',
  '--vscode-button-secondaryHoverBackground': '#3c3c3c',
  '--vscode-editorHoverWidget-background': '#202020',
  '--vscode-errorForeground': '#f85149',
  '--vscode-testing-iconPassed': '#73c991',
  '--vscode-testing-iconFailed': '#f14c4c',
  '--vscode-textCodeBlock-background': '#2b2b2b',
};

/**
 * Opens a panel as VS Code would: its HTML (panelHtml) and files served from ORIGIN, acquireVsCodeApi
 * stubbed before the bundle runs. `dark`: VS Code's dark theme variables and body class (the system
 * preference stays light, so the panel must follow the variables); otherwise the light fallbacks.
 */
async function openPanel(
  panel: Exclude<WebviewPanel, 'attention'>,
  opts: { dark?: boolean; width?: number; height?: number } = {},
): Promise<Opened> {
  const page = await browser.newPage({
    viewport: { width: opts.width ?? 1400, height: opts.height ?? 1000 },
    deviceScaleFactor: 1,
    colorScheme: 'light',
  });
  const o: Opened = { page, errors: [], requests: [], dialogs: [] };
  page.on('dialog', (d) => {
    o.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(ORIGIN) && !u.startsWith('data:') && !u.startsWith('blob:')) o.requests.push(u);
  });
  page.on('pageerror', (e) => o.errors.push(e.stack ?? String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) o.errors.push(m.text());
  });
  const files = PANEL_FILES[panel];
  const html = panelHtml({
    scriptUri: `${ORIGIN}/dist/webview/${files.script}`,
    cssUri: files.css.map((f) => `${ORIGIN}/dist/webview/${f}`),
    cspSource: ORIGIN,
    nonce: 'n0nce-test-42',
    title: panel,
  });
  await page.route(`${ORIGIN}/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/panel.html') return route.fulfill({ contentType: 'text/html', body: html });
    const f = path.join(DIST, path.basename(u.pathname));
    if (u.pathname.startsWith('/dist/webview/') && fs.existsSync(f))
      return route.fulfill({ contentType: f.endsWith('.js') ? 'text/javascript' : 'text/css', body: fs.readFileSync(f, 'utf8') });
    return route.fulfill({ status: 404, body: '' });
  });
  await page.addInitScript(
    (vars) => {
      const w = globalThis as any;
      w.__posted = [];
      w.__csp = [];
      w.acquireVsCodeApi = () => ({
        postMessage: (m: unknown) => w.__posted.push(m),
        getState: () => undefined,
        setState: () => undefined,
      });
      w.document.addEventListener('securitypolicyviolation', (e: any) =>
        w.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample ?? ''}`),
      );
      w.document.addEventListener(
        'DOMContentLoaded',
        () => {
          // What VS Code does (before any panel script runs): variables on <html>, a theme class on <body>,
          // its default body style.
          const root = w.document.documentElement;
          if (vars) {
            for (const [k, v] of Object.entries(vars)) root.style.setProperty(k, v as string);
            w.document.body.classList.add('vscode-dark');
          }
          const b = w.document.body.style;
          b.margin = '0';
          b.padding = '0 8px';
          b.background = 'var(--vscode-editor-background, var(--dl-bg-fb))';
        },
        { once: true },
      );
    },
    opts.dark ? DARK_VARS : null,
  );
  await page.goto(`${ORIGIN}/panel.html`, { waitUntil: 'load' });
  await page.waitForFunction((t) => (globalThis as any).__posted.some((m: any) => m.type === t), `${panel}.ready`);
  return o;
}

/** Renders whatever the panel has pending now (it would otherwise wait for the next animation frame). */
async function flush(page: Page): Promise<void> {
  await page.evaluate(() => {
    for (const k of ['DiffLoRALensTraining', 'DiffLoRALensCompare', 'DiffLoRALensAnalysis']) (globalThis as any)[k]?.panel?.renderIfDirty();
  });
}

/** Posts host messages to the page (structured clone, one task each, as VS Code delivers them), then renders. */
async function host(page: Page, messages: unknown[]): Promise<void> {
  await page.evaluate((ms) => {
    for (const m of ms) (globalThis as any).postMessage(m, '*');
  }, messages);
  await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  await flush(page);
}

async function posted(page: Page, type?: string): Promise<any[]> {
  return page.evaluate((t) => (globalThis as any).__posted.filter((m: any) => !t || m.type === t), type);
}

async function checkClean(o: Opened): Promise<void> {
  const csp = await o.page.evaluate(() => (globalThis as any).__csp as string[]);
  assert.deepEqual(csp, [], 'no CSP violation');
  assert.deepEqual(o.errors, [], 'no page error');
  assert.deepEqual(o.dialogs, [], 'no dialog (no script ran from model text)');
  assert.deepEqual(o.requests, [], 'no request outside the webview origin');
  const imgs = await o.page.evaluate(() => (globalThis as any).document.querySelectorAll('img, script:not([src])').length as number);
  assert.equal(imgs, 0, 'no element made from model text');
}

async function closeClean(o: Opened): Promise<void> {
  assert.deepEqual(o.errors, [], 'no page error');
  await o.page.close();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(250); // progress-bar transitions
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function step(i: number, total: number, layers = 0) {
  const loss = 2.5 * Math.exp(-i / 900) + 0.6 + 0.08 * Math.sin(i * 0.7) + 0.05 * Math.cos(i * 1.3);
  const lr = i < 150 ? (2e-4 * i) / 150 : 2e-4 * Math.max(0, (total - i) / (total - 150));
  const lambdas = layers
    ? Array.from({ length: layers }, (_, l) => 0.1 + (0.8 - 0.6 * Math.exp(-0.3 * l)) * (1 - Math.exp(-i / 1500)) * 0.5)
    : undefined;
  return {
    type: 'step',
    step: i,
    totalSteps: total,
    epoch: Math.floor(i / 2000),
    loss,
    lr,
    gradNorm: 0.4 + 0.3 * Math.abs(Math.sin(i / 37)),
    tokensPerSec: 1800 + 200 * Math.sin(i / 50),
    etaSec: (total - i) * 0.35,
    lambdas,
  };
}

const RUN = (total: number) => ({
  model: `media/default-model ${XSS}`,
  method: 'difflora-64',
  dataset: `stdlib-pairs.jsonl</dd><script>alert(2)</script>`,
  outputDir: '/home/me/adapters/difflora-64-stdlib',
  totalSteps: total,
  evalDataset: 'heldout.jsonl',
  details: { r: 64, alpha: 128, lr: '2e-4', 'effective batch': 64 },
});

describe('training, compare and analysis panels (webviews) in Chromium', { timeout: 600_000 }, () => {
  before(async () => {
    ensureWebviewBuilt(['training.js', 'compare.js', 'analysis.js', 'attention.css', 'panels.css']);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('panelHtml: one function for every panel, strict CSP, nonce, escaped title, style sheets in order', () => {
    const html = panelHtml({
      scriptUri: 'https://x/compare.js',
      cssUri: ['https://x/attention.css', 'https://x/panels.css'],
      cspSource: 'https://x',
      nonce: 'abc',
      title: '<b>t</b>',
    });
    assert.match(html, /script-src &#39;nonce-abc&#39;; style-src https:\/\/x;/);
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/);
    assert.ok(html.indexOf('attention.css') < html.indexOf('panels.css'));
    assert.match(html, /<title>&lt;b&gt;t&lt;\/b&gt;<\/title>/);
    assert.match(html, /<script nonce="abc" src="https:\/\/x\/compare.js"><\/script>/);
    const one = panelHtml({ scriptUri: 's.js', cssUri: 'a.css', cspSource: 'c', nonce: 'n' });
    assert.equal((one.match(/rel="stylesheet"/g) ?? []).length, 1);
    for (const p of ['attention', 'training', 'compare', 'analysis'] as const)
      assert.match(PANEL_FILES[p].script, new RegExp(`^${p}\\.js$`));
  });

  it('training: header, status, charts, eval and checkpoints; cancel, resume (replacing redone steps), failed; text stays text', async () => {
    const o = await openPanel('training');
    const { page } = o;
    const T = 60;
    await host(page, [{ type: 'training.run', run: RUN(T) }]);
    const events: unknown[] = [];
    for (let i = 1; i <= 30; i++) {
      events.push(step(i, T, 4));
      if (i % 10 === 0)
        events.push({ type: 'eval', step: i, loss: 1.5 - i / 100 }, { type: 'checkpoint', step: i, dir: `/out/checkpoint ${XSS}` });
    }
    await host(
      page,
      events.map((event) => ({ type: 'training.event', event })),
    );
    const s1 = await page.evaluate(() => {
      const w = globalThis as any;
      const p = w.DiffLoRALensTraining.panel;
      p.renderIfDirty();
      const d = w.document;
      const q = (sel: string) => d.querySelector(sel);
      return {
        info: Array.from(d.querySelectorAll('.dl-kv')).map((e: any) => [
          e.querySelector('dt').textContent,
          e.querySelector('dd').textContent,
        ]),
        status: q('.dl-status-line').textContent as string,
        badge: q('.dl-badge').textContent as string,
        checkpoint: q('.dl-checkpoint').textContent as string,
        steps: p.steps.n as number,
        evals: p.evalLoss.n as number,
        marks: d.querySelectorAll('.dl-chart-marks path').length as number,
        evalDots: d.querySelectorAll('.dl-loss-card .dl-chart-points circle').length as number,
        lossLines: p.charts.loss.lastDrawn.filter((x: any) => x.style !== 'points').map((x: any) => x.label),
        bars: Array.from(d.querySelectorAll('.dl-lambda-card .dl-chart-bars rect')).map((r: any) => ({
          title: r.querySelector('title').textContent,
          fill: r.getAttribute('fill'),
          h: Number(r.getAttribute('height')),
        })),
        lambdaStrokes: p.charts.lambda.lastDrawn.map((x: any) => x.color),
        // The tokens/s line on its canvas: at step 15 the pixel has the line's colour; 25 px below, nothing.
        linePixel: (() => {
          const c = p.charts.tps;
          const v = p.tokensPerSec.data[14];
          const [x, y] = c.pixelOf(15, v);
          const ctx = c.canvas.getContext('2d');
          const px = (yy: number) => Array.from(ctx.getImageData(Math.round(x), Math.round(yy), 1, 1).data) as number[];
          return { on: px(y), off: px(y + 25), color: c.lastDrawn[0].color };
        })(),
        cancelShown: !q('.dl-cancel').hidden,
        resumeShown: !q('.dl-resume').hidden,
        progress: q('.dl-progress-fill').style.width as string,
      };
    });
    const info = Object.fromEntries(s1.info);
    assert.equal(info.Model, `media/default-model ${XSS}`, 'the model name shows as text');
    assert.equal(info.Dataset, 'stdlib-pairs.jsonl</dd><script>alert(2)</script>');
    assert.equal(info.Method, 'difflora-64');
    assert.equal(info.Steps, '60');
    assert.equal(info.r, '64');
    const last = step(30, T, 4);
    assert.match(s1.status, /^step 30 \/ 60 \(50\.0%\) · epoch 1 · ETA 11 s · loss /);
    assert.ok(s1.status.includes(`loss ${Number(last.loss.toFixed(4))}`), s1.status);
    assert.ok(s1.status.includes('eval 1.2 @ 30'), s1.status);
    assert.equal(s1.badge, 'running');
    assert.equal(s1.checkpoint, `Last checkpoint: step 30 → /out/checkpoint ${XSS}`);
    assert.equal(s1.steps, 30);
    assert.equal(s1.evals, 3);
    assert.equal(s1.marks, 3, 'a checkpoint mark per checkpoint');
    assert.equal(s1.evalDots, 3);
    assert.deepEqual(s1.lossLines, ['loss', 'loss (EMA 0.9)'], 'raw loss and its moving average');
    const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
    assert.ok(
      s1.linePixel.on[3] > 100 && hex(s1.linePixel.color).every((v, i) => Math.abs(v - s1.linePixel.on[i]) < 40),
      `line pixel ${s1.linePixel.on} vs ${s1.linePixel.color}`,
    );
    assert.equal(s1.linePixel.off[3], 0, 'nothing drawn away from the line');
    assert.equal(s1.progress, '50%');
    assert.equal(s1.bars.length, 4);
    s1.bars.forEach((b, l) => assert.equal(b.title, `L${l}: ${Number(last.lambdas![l].toPrecision(4))}`));
    assert.deepEqual(
      s1.bars.map((b) => b.fill),
      s1.lambdaStrokes,
      'bar and line of a layer share its colour',
    );
    for (let l = 1; l < 4; l++) assert.ok(s1.bars[l].h > s1.bars[l - 1].h, 'bar heights follow the values');
    assert.ok(s1.cancelShown && !s1.resumeShown);

    // Hover the loss chart: the readout names the step and the loss under the pointer.
    const box = await page.locator('.dl-loss-card .dl-chart-hit').boundingBox();
    await page.mouse.move(box!.x + box!.width * (20 / 60), box!.y + box!.height / 2);
    const tip = await page.evaluate(() => (globalThis as any).document.querySelector('.dl-loss-card .dl-tip').textContent as string);
    assert.ok(tip.startsWith('step 20'), tip);
    assert.ok(tip.includes(`loss: ${Number(step(20, T, 4).loss.toPrecision(4))}`), tip);
    await page.mouse.move(0, 0);

    await shot(page, 'webview-training-running-light');
    // Cancel: posts training.cancel, shows "cancelling" until the host says cancelled; then Resume.
    await page.getByRole('button', { name: 'Cancel' }).click();
    await flush(page);
    assert.equal((await posted(page, 'training.cancel')).length, 1);
    assert.equal(await page.locator('.dl-badge').textContent(), 'cancelling…');
    await host(page, [{ type: 'training.status', status: 'cancelled' }]);
    await page.getByRole('button', { name: 'Resume' }).click();
    await flush(page);
    assert.equal((await posted(page, 'training.resume')).length, 1);
    assert.equal(await page.locator('.dl-cancel').isHidden(), true);
    // Resumed from the checkpoint at step 20: steps 21.. replace the ones shown, eval at 30 is redone.
    await host(page, [
      { type: 'training.status', status: 'running' },
      ...[21, 22, 23].map((i) => ({ type: 'training.event', event: step(i, T, 4) })),
    ]);
    const s2 = await page.evaluate(() => {
      const p = (globalThis as any).DiffLoRALensTraining.panel;
      p.renderIfDirty();
      return {
        n: p.steps.n,
        last: p.steps.last(),
        lam: p.lambdas[0].n,
        smooth: p.smooth.n,
        evals: p.evalLoss.n,
        ck: p.checkpoints.map((c: any) => c.step),
        badge: (globalThis as any).document.querySelector('.dl-badge').textContent,
      };
    });
    assert.deepEqual(
      s2,
      { n: 23, last: 23, lam: 23, smooth: 23, evals: 2, ck: [10, 20], badge: 'running' },
      'the redone steps, evals and checkpoints replace the old ones',
    );
    // Failed: the error as text.
    await host(page, [{ type: 'training.status', status: 'failed', error: `Out of memory <script>alert(3)</script> ${XSS}` }]);
    const s3 = await page.evaluate(() => {
      const w = globalThis as any;
      w.DiffLoRALensTraining.panel.renderIfDirty();
      const m = w.document.querySelector('.dl-message');
      return {
        text: m.textContent,
        hidden: m.hidden,
        badge: w.document.querySelector('.dl-badge').textContent,
        resume: !w.document.querySelector('.dl-resume').hidden,
        cancel: !w.document.querySelector('.dl-cancel').hidden,
      };
    });
    assert.deepEqual(s3, {
      text: `Out of memory <script>alert(3)</script> ${XSS}`,
      hidden: false,
      badge: 'failed',
      resume: false,
      cancel: false,
    });
    await shot(page, 'webview-training-failed-light');
    await checkClean(o);
    await page.close();
  });

  it('training: 5000 streamed step events (16 lambdas each) stay smooth', async () => {
    for (const dark of [false, true]) {
      const o = await openPanel('training', { dark, height: 1300 });
      const { page } = o;
      const N = 5000;
      await host(page, [{ type: 'training.run', run: { ...RUN(N), model: 'media/default-model', dataset: 'stdlib-pairs.jsonl' } }]);
      // Hand the events to the page first, then post them all at once (a burst: the worst case).
      await page.evaluate(
        (ev) => {
          (globalThis as any).__ev = ev;
        },
        Array.from({ length: N }, (_, i) => ({ type: 'training.event', event: step(i + 1, N, 16) })),
      );
      const r = await page.evaluate(async (N) => {
        const w = globalThis as any;
        const p = w.DiffLoRALensTraining.panel;
        let lastTick = performance.now(),
          maxGap = 0;
        const probe = setInterval(() => {
          const t = performance.now();
          maxGap = Math.max(maxGap, t - lastTick);
          lastTick = t;
        }, 5);
        const t0 = performance.now();
        for (const m of w.__ev) w.postMessage(m, '*');
        const tPosted = performance.now();
        await new Promise<void>((res) => {
          const check = () => (p.steps.n === N && !p.dirty && !p.chartsDirty ? res() : setTimeout(check, 5));
          check();
        });
        const t1 = performance.now();
        // Evals and checkpoints on top; one more render; then the cost of a single redraw of everything.
        w.postMessage(
          {
            type: 'training.events',
            events: Array.from({ length: 50 }, (_, i) => ({ type: 'eval', step: (i + 1) * 100, loss: 1.2 - i * 0.005 })),
          },
          '*',
        );
        await new Promise((res) => setTimeout(res, 50));
        const redraws: number[] = [];
        for (let i = 0; i < 5; i++) {
          p.invalidate();
          const a = performance.now();
          p.renderIfDirty();
          redraws.push(performance.now() - a);
        }
        clearInterval(probe);
        const status = w.document.querySelector('.dl-status-line').textContent;
        // The same run replayed as one message (how a reopened panel gets metrics.jsonl): ingest + one render.
        const run = p.run;
        const r0 = performance.now();
        w.postMessage({ type: 'training.run', run }, '*');
        w.postMessage({ type: 'training.events', events: w.__ev.map((m: any) => m.event) }, '*');
        await new Promise<void>((res) => {
          const check = () => (p.steps.n === N ? res() : setTimeout(check, 1));
          check();
        });
        const r1 = performance.now();
        p.invalidate();
        p.renderIfDirty();
        const r2 = performance.now();
        return {
          postMs: tPosted - t0,
          allShownMs: t1 - t0,
          maxGapMs: maxGap,
          renders: p.timings.renders,
          maxRenderMs: p.timings.maxRenderMs,
          redrawMedianMs: redraws.sort((a, b) => a - b)[2],
          lossPoints: p.charts.loss.lastPoints,
          lambdaPoints: p.charts.lambda.lastPoints,
          replayIngestMs: r1 - r0,
          replayRenderMs: r2 - r1,
          status,
        };
      }, N);
      const loadavg = fs.existsSync('/proc/loadavg') ? fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : '';
      console.log(
        `[training perf${dark ? ', dark' : ''}] 5000 steps x 16 lambdas: ${JSON.stringify(Object.fromEntries(Object.entries({ ...r, loadavg }).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 10) / 10 : v])))}`,
      );
      assert.match(r.status, /^step 5,000 \/ 5,000 \(100\.0%\)/);
      assert.ok(r.lossPoints < 4 * 2 * 1400 + 100, `loss reduced to a few points per pixel: ${r.lossPoints}`);
      assert.ok(r.allShownMs < 30_000, `5000 events shown in ${r.allShownMs} ms`);
      assert.ok(r.redrawMedianMs < 250, `a full redraw takes ${r.redrawMedianMs} ms`);
      const extra: unknown[] = [];
      for (let i = 250; i <= N; i += 250) extra.push({ type: 'eval', step: i, loss: 0.75 + 1.6 * Math.exp(-i / 900) });
      for (let i = 1000; i <= N; i += 1000)
        extra.push({ type: 'checkpoint', step: i, dir: `/home/me/adapters/difflora-64-stdlib/checkpoint` });
      await host(page, [
        { type: 'training.events', events: extra },
        { type: 'training.status', status: 'finished' },
      ]);
      await shot(page, `webview-training-${dark ? 'dark' : 'light'}`);
      await checkClean(o);
      await page.close();
    }
  });

  const PROMPT =
    'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n';
  const ITEMS = [
    {
      problem: { task_id: 'HumanEval/0', prompt: PROMPT, entry_point: 'add' },
      completions: [
        { label: 'base', kind: 'base', completion: '    return a + b\n', status: 'passed' },
        {
          label: 'LoRA r=16',
          kind: 'lora',
          completion: '    # subtract\n    return a - b\n',
          status: 'failed',
          reason: `AssertionError: add(2, 3) == 5 <b>bold</b>\n  got -1`,
        },
        {
          label: 'DiffLoRA',
          kind: 'difflora',
          completion: `    s = "${XSS}"  # ${XSS}\n    while True:\n        pass\n    return a + b + 0x10\n`,
          status: 'timed-out',
          reason: 'timed out after 3.0 s',
        },
      ],
    },
    {
      problem: { task_id: 'HumanEval/1', prompt: 'def inc(x):\n    """x + 1"""\n', entry_point: 'inc' },
      completions: [
        { label: 'base', kind: 'base', completion: '    return x + 1\n', status: 'passed' },
        { label: 'LoRA r=16', kind: 'lora', completion: '    return x + 1\n', status: 'passed' },
        { label: 'DiffLoRA', kind: 'difflora', completion: '    return 1 + x\n' },
      ],
    },
  ];

  it('compare: side by side, highlighted, diffs against the reference, badges; buttons and token clicks post; navigation', async () => {
    for (const dark of [false, true]) {
      const o = await openPanel('compare', { dark, width: 1500 });
      const { page } = o;
      await host(page, [{ type: 'compare.problems', items: ITEMS }]);
      const view = await page.evaluate(() => {
        const w = globalThis as any;
        w.DiffLoRALensCompare.panel.renderIfDirty();
        const d = w.document;
        const text = (pre: any) =>
          Array.from(pre.querySelectorAll('.dl-lc'))
            .map((l: any) => l.textContent)
            .join('\n');
        const cols = Array.from(d.querySelectorAll('.dl-col')) as any[];
        const kw = d.querySelector('.dl-col .dl-syn-keyword');
        return {
          title: d.querySelector('.dl-task-title').textContent,
          prompt: text(d.querySelector('.dl-prompt pre')),
          labels: cols.map((c) => c.querySelector('.dl-col-label').textContent),
          badges: cols.map((c) => c.querySelector('.dl-exec').textContent),
          codes: cols.map((c) => text(c.querySelector('pre.dl-code'))),
          reasons: cols.map((c) => c.querySelector('.dl-reason')?.textContent ?? null),
          firstLine: cols.map((c) => Number(c.querySelector('.dl-ln').textContent)),
          keyword: kw.textContent,
          keywordColor: w.getComputedStyle(kw).color,
          plainColor: w.getComputedStyle(d.querySelector('.dl-col .dl-lc')).color,
          strings: Array.from(cols[2].querySelectorAll('.dl-syn-string'))
            .map((e: any) => e.textContent)
            .join(''),
          comments: Array.from(cols[1].querySelectorAll('.dl-syn-comment'))
            .map((e: any) => e.textContent)
            .join(''),
          numbers: Array.from(cols[2].querySelectorAll('.dl-syn-number')).map((e: any) => e.textContent),
          ins: cols.map((c) =>
            Array.from(c.querySelectorAll('.dl-ins'))
              .map((e: any) => e.textContent)
              .join('|'),
          ),
          dels: cols.map((c) => Array.from(c.querySelectorAll('.dl-del-mark')).map((e: any) => e.title)),
          added: cols.map((c) =>
            Array.from(c.querySelectorAll('pre.dl-code .dl-line')).map((l: any) => l.classList.contains('dl-line-added')),
          ),
          changedWords: cols.map((c) =>
            Array.from(c.querySelectorAll('.dl-line:not(.dl-line-added) .dl-ins'))
              .map((e: any) => e.textContent)
              .join(''),
          ),
          sums: cols.map((c) => c.querySelector('.dl-diff-sum').textContent),
          ref: cols.map((c) => c.classList.contains('dl-col-ref')),
          diffButtons: cols.map((c) => c.querySelectorAll('.dl-open-diff').length),
          options: Array.from(d.querySelectorAll('.dl-problem-select option')).map((e: any) => e.textContent),
        };
      });
      assert.equal(view.title, 'HumanEval/0');
      // Lines as shown (a final newline ends the last line, it opens no empty one).
      assert.equal(view.prompt, PROMPT.replace(/\n$/, ''), 'the prompt, exactly, once');
      assert.deepEqual(view.labels, ['base', 'LoRA r=16', 'DiffLoRA']);
      assert.deepEqual(view.badges, ['✓ passed', '✗ failed', '◷ timed out']);
      assert.deepEqual(
        view.codes,
        ITEMS[0].completions.map((c) => c.completion.replace(/\n$/, '')),
        'each completion, exactly (XSS text included) as text',
      );
      assert.deepEqual(view.reasons, [null, 'AssertionError: add(2, 3) == 5 <b>bold</b>\n  got -1', 'timed out after 3.0 s']);
      assert.deepEqual(view.firstLine, [9, 9, 9], 'completions numbered after the prompt');
      assert.equal(view.keyword, 'return');
      assert.notEqual(view.keywordColor, view.plainColor, 'keywords coloured');
      assert.equal(view.keywordColor, dark ? 'rgb(86, 156, 214)' : 'rgb(0, 0, 255)');
      assert.equal(view.strings, `"${XSS}"`);
      assert.equal(view.comments, '# subtract');
      assert.deepEqual(view.numbers, ['0x10']);
      assert.equal(view.ins[0], '', 'the reference has no marks');
      assert.ok(view.ins[1].includes('-') && view.ins[1].includes('subtract'), view.ins[1]);
      assert.deepEqual(view.added[1], [true, false], 'a new line is marked as a whole; a changed one word by word');
      assert.deepEqual(view.added[2], [true, true, true, false]);
      assert.deepEqual(view.changedWords, ['', '-', ' + 0x10'], 'within changed lines, only the changed words');
      assert.ok(
        view.dels[1].some((t: string) => t.includes('+')),
        'the reference\'s "+" is marked as missing',
      );
      assert.ok(view.ins[2].includes('0x10'), view.ins[2]);
      assert.match(view.sums[1], /^\+\d+ \/ −\d+ chars vs base$/);
      assert.deepEqual(view.ref, [true, false, false]);
      assert.deepEqual(view.diffButtons, [0, 1, 1]);
      assert.deepEqual(view.options, ['HumanEval/0  ✓✗◷', 'HumanEval/1  ✓✓·']);
      if (!dark) await page.locator('.dl-prompt summary').click(); // collapsed in the light shot
      await shot(page, `webview-compare-${dark ? 'dark' : 'light'}`);
      if (dark) {
        await checkClean(o);
        await page.close();
        continue;
      }
      assert.equal(await page.locator('.dl-prompt').evaluate((e: any) => e.open), false, 'the prompt collapses');

      // "Open in diff editor" on the LoRA column: reference (0) against 1.
      await page.locator('.dl-col[data-model="1"] .dl-open-diff').click();
      assert.deepEqual(await posted(page, 'compare.openDiff'), [{ type: 'compare.openDiff', taskId: 'HumanEval/0', a: 0, b: 1 }]);
      // A token click: the model and the token's offset in that completion.
      const c2 = ITEMS[0].completions[2].completion;
      await page.locator('.dl-col[data-model="2"] .dl-tok-click', { hasText: /^while$/ }).click();
      await page.locator('.dl-col[data-model="2"] .dl-tok-click', { hasText: /^0x10$/ }).click();
      assert.deepEqual(await posted(page, 'compare.token'), [
        { type: 'compare.token', taskId: 'HumanEval/0', model: 2, offset: c2.indexOf('while'), text: 'while' },
        { type: 'compare.token', taskId: 'HumanEval/0', model: 2, offset: c2.indexOf('0x10'), text: '0x10' },
      ]);
      // Another reference: the marks move.
      await page.locator('.dl-col[data-model="2"] .dl-ref-radio').check();
      const ref2 = await page.evaluate(() => {
        const w = globalThis as any;
        w.DiffLoRALensCompare.panel.renderIfDirty();
        return Array.from(w.document.querySelectorAll('.dl-col')).map((c: any) => [
          c.classList.contains('dl-col-ref'),
          c.querySelectorAll('.dl-ins, .dl-del-mark').length > 0,
        ]);
      });
      assert.deepEqual(ref2, [
        [false, true],
        [false, true],
        [true, false],
      ]);
      await page.locator('.dl-col[data-model="0"] .dl-open-diff').click();
      assert.deepEqual((await posted(page, 'compare.openDiff'))[1], { type: 'compare.openDiff', taskId: 'HumanEval/0', a: 2, b: 0 });
      // Execution result arrives later.
      await host(page, [{ type: 'compare.status', taskId: 'HumanEval/0', model: 2, status: 'passed' }]);
      assert.equal(await page.locator('.dl-col[data-model="2"] .dl-exec').textContent(), '✓ passed');
      // Navigation.
      await page.getByRole('button', { name: '▶' }).click();
      const nav = await page.evaluate(() => {
        const w = globalThis as any;
        w.DiffLoRALensCompare.panel.renderIfDirty();
        const d = w.document;
        return {
          title: d.querySelector('.dl-task-title').textContent,
          pos: d.querySelector('.dl-nav-pos').textContent,
          next: d.querySelector('.dl-next').disabled,
          sums: Array.from(d.querySelectorAll('.dl-diff-sum')).map((e: any) => e.textContent),
        };
      });
      assert.deepEqual(nav.title, 'HumanEval/1');
      assert.equal(nav.pos, '2 / 2');
      assert.equal(nav.next, true);
      assert.equal(nav.sums[1], nav.sums[0], 'base and LoRA wrote the same: the same difference to the reference (DiffLoRA, kept)');
      await page.locator('.dl-col[data-model="0"] .dl-ref-radio').check();
      await flush(page);
      assert.equal(await page.locator('.dl-col[data-model="1"] .dl-diff-sum').textContent(), 'identical to base');
      assert.deepEqual(await posted(page, 'compare.showing'), [{ type: 'compare.showing', taskId: 'HumanEval/1' }]);
      await page.locator('.dl-problem-select').selectOption('0');
      await flush(page);
      assert.equal(await page.locator('.dl-task-title').textContent(), 'HumanEval/0');
      await checkClean(o);
      await page.close();
    }
  });

  it('compare: HumanEval run view: pass@k table, per-problem c/n colours, progress; a row opens the problem', async () => {
    const models = [
      { label: 'base', kind: 'base' },
      { label: 'LoRA', kind: 'lora' },
      { label: `DiffLoRA ${XSS}`, kind: 'difflora' },
    ];
    const taskIds = Array.from({ length: 12 }, (_, i) => `HumanEval/${i}`);
    const n = 10,
      ks = [1, 5, 10];
    const results: { taskId: string; model: number; executed: number; passed: number; timedOut?: number }[] = [];
    taskIds.forEach((taskId, t) =>
      models.forEach((_, m) => {
        if (t >= 10 && m === 2) return; // still running
        const executed = t === 9 ? 4 : n;
        const passed = Math.min(executed, (t * 3 + m * 4) % 11);
        results.push({ taskId, model: m, executed, passed, timedOut: t === 3 && m === 1 ? 2 : undefined });
      }),
    );
    for (const dark of [false, true]) {
      const o = await openPanel('compare', { dark, height: 1100 });
      const { page } = o;
      await host(page, [
        { type: 'compare.problems', items: ITEMS },
        { type: 'compare.run', run: { title: 'HumanEval · 12 problems', models, taskIds, n, ks, temperature: 0.8 } },
        { type: 'compare.runResults', results },
        {
          type: 'compare.runProgress',
          progress: models.map((_, m) => ({ model: m, generated: m === 2 ? 110 : 120, executed: m === 2 ? 94 : 114, total: 120 })),
        },
      ]);
      const v = await page.evaluate(() => {
        const w = globalThis as any;
        w.DiffLoRALensCompare.panel.renderIfDirty();
        const d = w.document;
        return {
          mode: d.querySelector('.dl-compare').dataset.mode,
          head: Array.from(d.querySelectorAll('.dl-passk-table th')).map((e: any) => e.textContent),
          rows: Array.from(d.querySelectorAll('.dl-passk-table tbody tr')).map((tr: any) =>
            Array.from(tr.querySelectorAll('td')).map((td: any) => td.textContent),
          ),
          values: Array.from(d.querySelectorAll('.dl-passk-table tbody tr')).map((tr: any) =>
            Array.from(tr.querySelectorAll('.dl-passk-cell')).map((td: any) => Number(td.dataset.value)),
          ),
          cells: Array.from(d.querySelectorAll('.dl-problem-table tbody tr')).map((tr: any) => [
            tr.dataset.task,
            ...Array.from(tr.querySelectorAll('.dl-rate')).map((td: any) => [td.textContent, td.style.background]),
          ]),
          prog: Array.from(d.querySelectorAll('.dl-prog-row')).map((r: any) => [
            r.querySelector('.dl-prog-name').textContent,
            ...Array.from(r.querySelectorAll('.dl-prog-count')).map((e: any) => e.textContent),
            r.querySelector('.dl-prog-exec .dl-progress-fill').style.width,
          ]),
        };
      });
      assert.equal(v.mode, 'run');
      assert.deepEqual(v.head, ['Model', 'n', 'Samples', 'Problems', 'pass@1', 'pass@5', 'pass@10']);
      // Independent expectation: mean over problems with >= k executed samples.
      models.forEach((_, m) =>
        ks.forEach((k, j) => {
          const rs = results.filter((r) => r.model === m && r.executed >= k);
          const want = rs.reduce((s, r) => s + passAtK(r.executed, r.passed, k), 0) / rs.length;
          assert.ok(Math.abs(v.values[m][j] - want) < 1e-12, `pass@${k} of model ${m}: ${v.values[m][j]} vs ${want}`);
          assert.equal(v.rows[m][4 + j], `${(want * 100).toFixed(1)}%`);
        }),
      );
      assert.equal(v.rows[2][0], `DiffLoRA ${XSS}difflora`, 'model label as text');
      assert.deepEqual(v.rows[0].slice(1, 4), ['10', '114 / 120', '11 / 12']);
      assert.deepEqual(v.rows[2].slice(1, 4), ['10', '94 / 120', '9 / 12']);
      const row3 = v.cells[3] as any[];
      assert.equal(row3[0], 'HumanEval/3');
      assert.equal(row3[2][0], `${(9 + 4) % 11}/10 ◷2`);
      const zero = v.cells.flatMap((r: any) => r.slice(1)).find((c: any) => c[0].startsWith('0/'));
      const full = v.cells.flatMap((r: any) => r.slice(1)).find((c: any) => /^(\d+)\/\1$/.test(c[0]));
      const rgb = (s: string) => s.match(/\d+/g)!.map(Number);
      assert.ok(zero && full, 'a failed and a solved cell');
      assert.ok(rgb(zero[1])[0] > rgb(zero[1])[1], `0/n is red: ${zero[1]}`);
      assert.ok(rgb(full[1])[1] > rgb(full[1])[0], `n/n is green: ${full[1]}`);
      assert.deepEqual(v.cells[11].slice(1)[2], ['…', ''], 'not executed yet');
      assert.deepEqual(v.prog[2].slice(0, 3), [`DiffLoRA ${XSS}`, '110 / 120', '94 / 120']);
      assert.ok(Math.abs(parseFloat(v.prog[2][3]) - (94 / 120) * 100) < 0.01, v.prog[2][3]);
      await shot(page, `webview-humaneval-run-${dark ? 'dark' : 'light'}`);
      if (!dark) {
        await page.locator('.dl-row-filter').selectOption('disagree');
        await flush(page);
        const shown = await page.locator('.dl-problem-table tbody tr:visible').count();
        const want = taskIds.filter((id) => {
          const rs = results.filter((r) => r.taskId === id).map((r) => r.passed / r.executed);
          return Math.max(...rs) > Math.min(...rs);
        }).length;
        assert.equal(shown, want);
        await page.locator('.dl-row-filter').selectOption('all');
        // A row: asks the host, and shows the problem at once when the view has it.
        await page.locator('.dl-problem-row[data-task="HumanEval/1"]').click();
        assert.deepEqual(await posted(page, 'compare.openProblem'), [{ type: 'compare.openProblem', taskId: 'HumanEval/1' }]);
        await page.evaluate(() => (globalThis as any).DiffLoRALensCompare.panel.renderIfDirty());
        assert.equal(await page.locator('.dl-task-title').textContent(), 'HumanEval/1');
        assert.equal(await page.locator('.dl-run-view').isHidden(), true);
        // One it does not have: the host answers with compare.problem.
        await page.getByRole('tab', { name: 'HumanEval run' }).click();
        await page.locator('.dl-problem-row[data-task="HumanEval/7"]').click();
        assert.equal((await posted(page, 'compare.openProblem'))[1].taskId, 'HumanEval/7');
        await host(page, [{ type: 'compare.problem', item: { ...ITEMS[1], problem: { ...ITEMS[1].problem, task_id: 'HumanEval/7' } } }]);
        await page.evaluate(() => (globalThis as any).DiffLoRALensCompare.panel.renderIfDirty());
        assert.equal(await page.locator('.dl-task-title').textContent(), 'HumanEval/7');
        await host(page, [
          { type: 'compare.runStatus', status: 'failed', error: `worker died <i>${XSS}</i>` },
          { type: 'compare.mode', mode: 'run' },
        ]);
        await page.evaluate(() => (globalThis as any).DiffLoRALensCompare.panel.renderIfDirty());
        assert.equal(await page.locator('.dl-run-head .dl-message').textContent(), `worker died <i>${XSS}</i>`);
      }
      await checkClean(o);
      await page.close();
    }
  });

  /** L x H values with structure: a BOS sink in early layers that DiffLoRA lowers; NaN-free. */
  function bosValues(L: number, H: number, m: number): number[] {
    return Array.from({ length: L * H }, (_, i) => {
      const l = Math.floor(i / H),
        h = i % H;
      const sink = 0.25 + 0.6 * Math.min(1, l / 3) * (0.6 + 0.4 * Math.sin(h * 1.7 + l));
      return Math.max(0, Math.min(1, sink * (m === 2 ? 0.45 : m === 1 ? 0.9 : 1) + 0.03 * Math.cos(h * 3 + l * 5)));
    });
  }

  it('analysis: BOS mass and needle probe heatmaps on one shared scale, hover readout, answers, marked needle; Run buttons post', async () => {
    const L = 12,
      H = 8;
    const models = [
      { label: 'base', kind: 'base' },
      { label: 'LoRA r=16', kind: 'lora' },
      { label: 'DiffLoRA r=8', kind: 'difflora', map: 'differential' },
    ];
    const filler = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
    const before = filler.repeat(14);
    const needleSentence = `The magic number is 48213. ${XSS} `;
    const text = `${before}${needleSentence}${filler.repeat(12)}What is the magic number? Answer:`;
    for (const dark of [false, true]) {
      const o = await openPanel('analysis', { dark, height: 1400 });
      const { page } = o;
      await page.evaluate(
        ({ models, L, H, bos, text, start, end, XSS }) => {
          const w = globalThis as any;
          w.postMessage({ type: 'analysis.models', models: models.map((m: any) => ({ label: m.label, kind: m.kind })) }, '*');
          w.postMessage(
            {
              type: 'analysis.bos',
              result: {
                text: 'def f(x):',
                numTokens: 96,
                note: 'queries 1..95',
                firstTokenIsBos: true,
                models: models.map((m: any, i: number) => ({ ...m, numLayers: L, numHeads: H, values: new Float32Array(bos[i]) })),
              },
            },
            '*',
          );
          const needle = models.map((m: any, i: number) => {
            const v = new Float32Array(L * H);
            for (let l = 0; l < L; l++)
              for (let h = 0; h < H; h++)
                v[l * H + h] = (l > 5 && h === l % H ? 0.35 + 0.1 * i : 0.004 * ((l + h + i) % 5)) * (i === 2 ? 1.4 : 1);
            return {
              ...m,
              numLayers: L,
              numHeads: H,
              values: v,
              answer: i === 0 ? XSS : i === 1 ? ' 48213' : ' The magic number is 48213.',
              correct: i !== 0,
            };
          });
          w.postMessage(
            {
              type: 'analysis.needle',
              result: { text, needleStart: start, needleEnd: end, needle: '48213', numTokens: 1030, depth: 0.5, models: needle },
            },
            '*',
          );
        },
        {
          models,
          L,
          H,
          bos: [0, 1, 2].map((m) => bosValues(L, H, m)),
          text,
          start: before.length + 'The magic number is '.length,
          end: before.length + 'The magic number is 48213'.length,
          XSS,
        },
      );
      await page.waitForFunction(() => !!(globalThis as any).DiffLoRALensAnalysis.panel.needle);
      // "BOS" only when the model's first token is its BOS token.
      assert.equal(await page.locator('.dl-analysis-bos h2').textContent(), 'Attention on the first token (BOS)');
      await page.evaluate(() => {
        const p = (globalThis as any).DiffLoRALensAnalysis.panel;
        p.setBos({ ...p.bos, firstTokenIsBos: false });
      });
      assert.equal(await page.locator('.dl-analysis-bos h2').textContent(), 'Attention on the first token');
      const r = await page.evaluate(() => {
        const w = globalThis as any;
        const p = w.DiffLoRALensAnalysis.panel;
        p.renderIfDirty();
        const out: any = {};
        for (const name of ['bos', 'needle']) {
          const sc = p.scales[name];
          const res = p[name];
          let max = 0;
          for (const m of res.models) for (const v of m.values) max = Math.max(max, v);
          const checks: any[] = [];
          p.maps[name].forEach((map: any, i: number) => {
            const ctx = map.canvas.getContext('2d');
            for (const [layer, head] of [
              [0, 0],
              [3, 5],
              [7, 6],
              [11, 7],
            ]) {
              const [x, y] = map.cellCenter({ layer, head });
              const got = Array.from(ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data).slice(0, 3);
              const v = res.models[i].values[layer * res.models[i].numHeads + head];
              checks.push({ i, layer, head, got, want: sc.rgb(v) });
            }
          });
          out[name] = {
            domain: sc.domain,
            kind: sc.kind,
            max,
            checks,
            maps: p.maps[name].length,
            titles: p.maps[name].map((m: any) => m.root.querySelector('.dl-lh-title').textContent),
            means: w.document.querySelectorAll(`.dl-analysis-${name} .dl-chart-lines circle.dl-mean`).length,
          };
        }
        const d = w.document;
        out.answers = Array.from(d.querySelectorAll('.dl-answer')).map((a: any) => [
          a.querySelector('.dl-answer-label').textContent,
          a.querySelector('.dl-answer-text').textContent,
          a.querySelector('.dl-badge')?.textContent,
        ]);
        out.mark = d.querySelector('mark.dl-needle').textContent;
        out.text = d.querySelector('.dl-needle-text').textContent;
        out.scrolled = d.querySelector('.dl-needle-text').scrollTop;
        return out;
      });
      for (const name of ['bos', 'needle']) {
        const a = r[name];
        assert.equal(a.maps, 3);
        assert.equal(a.kind, 'sequential');
        assert.deepEqual(a.domain, [0, a.max], `${name}: one scale, 0 to the largest value of all models`);
        for (const c of a.checks)
          assert.ok(
            c.got.every((x: number, j: number) => Math.abs(x - c.want[j]) <= 2),
            `${name} model ${c.i} L${c.layer} H${c.head}: ${c.got} vs ${c.want}`,
          );
        assert.equal(a.means, 3 * L, 'per-layer means, every model');
      }
      assert.deepEqual(r.bos.titles, ['base · base', 'LoRA r=16 · lora', 'DiffLoRA r=8 · difflora (differential)']);
      assert.deepEqual(r.answers, [
        ['base', XSS, '✗ missed'],
        ['LoRA r=16', ' 48213', '✓ found'],
        ['DiffLoRA r=8', ' The magic number is 48213.', '✓ found'],
      ]);
      assert.equal(r.mark, '48213');
      assert.equal(r.text, text, 'the whole prompt, as text');
      // Hover a cell with the mouse: every model's value for it.
      const pos = await page.evaluate(() => {
        const p = (globalThis as any).DiffLoRALensAnalysis.panel;
        const map = p.maps.bos[1];
        const b = map.canvas.getBoundingClientRect();
        const [x, y] = map.cellCenter({ layer: 4, head: 2 });
        return [b.left + x, b.top + y];
      });
      await page.mouse.move(pos[0], pos[1]);
      await flush(page);
      const ro = await page.evaluate(() => {
        const e = (globalThis as any).document.querySelector('.dl-analysis-bos .dl-readout');
        return {
          layer: e.dataset.layer,
          head: e.dataset.head,
          values: Array.from(e.querySelectorAll('.dl-value')).map((v: any) => Number(v.dataset.value)),
          outlines: Array.from((globalThis as any).document.querySelectorAll('.dl-analysis-bos .dl-lh-outline')).map((x: any) =>
            x.getAttribute('visibility'),
          ),
        };
      });
      assert.equal(ro.layer, '4');
      assert.equal(ro.head, '2');
      assert.deepEqual(
        ro.values,
        [0, 1, 2].map((m) => Math.fround(bosValues(L, H, m)[4 * H + 2])),
      );
      assert.deepEqual(ro.outlines, ['visible', 'visible', 'visible'], 'the cell is outlined in every model');
      await page.mouse.down();
      await page.mouse.up();
      assert.deepEqual(await posted(page, 'analysis.select'), [{ type: 'analysis.select', analysis: 'bos', model: 1, layer: 4, head: 2 }]);
      await shot(page, `webview-analysis-${dark ? 'dark' : 'light'}`);
      if (!dark) {
        // Run buttons: the host is asked; progress and errors show (as text).
        await page.locator('.dl-analysis-needle .dl-select').nth(0).selectOption('4096');
        await page.locator('.dl-analysis-needle .dl-run').click();
        await page.locator('.dl-analysis-bos .dl-run').click();
        assert.deepEqual(await posted(page, 'analysis.run'), [
          { type: 'analysis.run', analysis: 'needle', options: { length: 4096, depth: 0.5 } },
          { type: 'analysis.run', analysis: 'bos' },
        ]);
        await host(page, [
          { type: 'analysis.progress', analysis: 'bos', text: 'LoRA: layer 5 of 12', fraction: 0.4 },
          { type: 'analysis.error', analysis: 'needle', error: `model too small for 4096 tokens ${XSS}` },
        ]);
        const st = await page.evaluate(() => {
          const w = globalThis as any;
          w.DiffLoRALensAnalysis.panel.renderIfDirty();
          const d = w.document;
          return {
            progress: d.querySelector('.dl-analysis-bos .dl-status-line').textContent,
            width: d.querySelector('.dl-analysis-bos .dl-progress-fill').style.width,
            running: d.querySelector('.dl-analysis-bos .dl-run').disabled,
            err: d.querySelector('.dl-analysis-needle .dl-message').textContent,
            needleRun: d.querySelector('.dl-analysis-needle .dl-run').disabled,
          };
        });
        assert.deepEqual(st, {
          progress: 'LoRA: layer 5 of 12',
          width: '40%',
          running: true,
          err: `model too small for 4096 tokens ${XSS}`,
          needleRun: false,
        });
        // A differential map with negative values: a diverging shared scale.
        await page.evaluate(() => {
          const w = globalThis as any;
          const v = new Float32Array(4).fill(0.2);
          v[3] = -0.1;
          w.postMessage(
            {
              type: 'analysis.bos',
              result: {
                text: 'x',
                numTokens: 3,
                models: [{ label: 'd', kind: 'difflora', numLayers: 2, numHeads: 2, values: v, map: 'differential' }],
              },
            },
            '*',
          );
        });
        await page.waitForFunction(() => (globalThis as any).DiffLoRALensAnalysis.panel.bos.numTokens === 3);
        const sc = await page.evaluate(() => {
          const p = (globalThis as any).DiffLoRALensAnalysis.panel;
          p.renderIfDirty();
          return { kind: p.scales.bos.kind, domain: p.scales.bos.domain, maps: p.maps.bos.length };
        });
        assert.equal(sc.kind, 'diverging');
        assert.ok(Math.abs(sc.domain[1] - 0.2) < 1e-6);
        assert.equal(sc.maps, 1);
      }
      await checkClean(o);
      await page.close();
    }
  });
  it('layout fits a normal editor: three compare columns, run counts and the Colour selector inside the right edge; needle results scroll into view', async () => {
    const inside = (page: Page, sel: string) =>
      page.evaluate((sel) => {
        const w = globalThis as any;
        const width = w.document.documentElement.clientWidth as number;
        return (Array.from(w.document.querySelectorAll(sel)) as any[])
          .filter((e) => e.getClientRects().length)
          .map((e) => {
            const r = e.getBoundingClientRect();
            return {
              left: r.left as number,
              right: r.right as number,
              top: r.top as number,
              clipped: e.scrollWidth > e.clientWidth + 1,
              width,
            };
          });
      }, sel);
    // Compare: three models in an 800 px editor, one row, no sideways scroll of the page or the columns.
    for (const width of [800, 480, 400]) {
      const o = await openPanel('compare', { width });
      await host(o.page, [{ type: 'compare.problems', items: ITEMS }]);
      const cols = await inside(o.page, '.dl-col');
      assert.equal(cols.length, ITEMS[0].completions.length);
      assert.ok(
        cols.every((c) => c.left >= 0 && c.right <= c.width),
        `${width} px: columns ${JSON.stringify(cols)}`,
      );
      const grid = await o.page.evaluate(() => {
        const g = (globalThis as any).document.querySelector('.dl-columns');
        return {
          sw: g.scrollWidth as number,
          cw: g.clientWidth as number,
          page: (globalThis as any).document.documentElement.scrollWidth as number,
        };
      });
      assert.ok(grid.sw <= grid.cw + 1 && grid.page <= width, `${width} px: no sideways scroll (${JSON.stringify(grid)})`);
      if (width >= 480)
        assert.ok(
          cols.every((c) => Math.abs(c.top - cols[0].top) < 1),
          `one row at ${width} px: ${JSON.stringify(cols)} in ${JSON.stringify(grid)}`,
        );
      // Nothing spills out of its column (the "Open in diff editor" buttons in narrow columns).
      const spill = await o.page.evaluate(() =>
        (Array.from((globalThis as any).document.querySelectorAll('.dl-col')) as any[]).flatMap((col) => {
          const c = col.getBoundingClientRect();
          return (Array.from(col.querySelectorAll('.dl-btn, .dl-badge, .dl-col-label')) as any[])
            .map((e) => e.getBoundingClientRect())
            .filter((r) => r.right > c.right + 0.5 || r.left < c.left - 0.5)
            .map((r) => [r.left, r.right, c.left, c.right]);
        }),
      );
      assert.deepEqual(spill, [], `${width} px: elements past their column's edges`);
      await shot(o.page, `webview-compare-${width}`);
      await closeClean(o);
    }
    // The HumanEval run view at 640 px: every generated / executed count whole and on screen.
    const o = await openPanel('compare', { width: 640 });
    const models = [
      { label: 'base', kind: 'base' },
      { label: 'LoRA r=16', kind: 'lora' },
      { label: 'DiffLoRA r=8 (a long label)', kind: 'difflora' },
    ];
    await host(o.page, [
      { type: 'compare.problems', items: ITEMS },
      {
        type: 'compare.run',
        run: { title: 'HumanEval · 164 problems', models, taskIds: ['HumanEval/0'], n: 10, ks: [1], temperature: 0.8 },
      },
      { type: 'compare.runProgress', progress: models.map((_, m) => ({ model: m, generated: 1640, executed: 1500 + m, total: 1640 })) },
      { type: 'compare.mode', mode: 'run' },
    ]);
    const counts = await inside(o.page, '.dl-prog-count');
    assert.equal(counts.length, 6);
    assert.ok(
      counts.every((c) => !c.clipped && c.right <= c.width),
      `counts ${JSON.stringify(counts)}`,
    );
    assert.deepEqual(await o.page.locator('.dl-prog-exec .dl-prog-count').allTextContents(), ['1500 / 1640', '1501 / 1640', '1502 / 1640']);
    await shot(o.page, 'webview-compare-run-640');
    await closeClean(o);
    // Analysis at 560 px: the Colour selectors on screen; a needle run's results scroll into view.
    const a = await openPanel('analysis', { width: 560, height: 700 });
    const L = 12,
      H = 8;
    const am = [
      { label: 'base', kind: 'base' },
      { label: 'DiffLoRA r=8', kind: 'difflora' },
    ];
    await host(a.page, [
      { type: 'analysis.models', models: am },
      {
        type: 'analysis.bos',
        result: {
          text: 'def f(x):',
          numTokens: 96,
          note: '',
          firstTokenIsBos: true,
          models: am.map((m, i) => ({ ...m, numLayers: L, numHeads: H, values: new Float32Array(bosValues(L, H, i)) })),
        },
      },
    ]);
    await a.page.locator('.dl-analysis-needle .dl-run').click();
    await host(a.page, [
      {
        type: 'analysis.needle',
        result: {
          text: 'x The magic number is 48213. y What is the magic number? Answer:',
          needleStart: 22,
          needleEnd: 27,
          needle: '48213',
          numTokens: 30,
          depth: 0.5,
          models: am.map((m, i) => ({
            ...m,
            numLayers: L,
            numHeads: H,
            values: new Float32Array(L * H).fill(0.01 * (i + 1)),
            answer: ' 48213',
            correct: true,
          })),
        },
      },
    ]);
    const seen = await a.page.evaluate(() => {
      const w = globalThis as any;
      const r = w.document.querySelector('.dl-analysis-needle .dl-results').getBoundingClientRect();
      return { top: r.top as number, bottom: r.bottom as number, vh: w.innerHeight as number, scrollY: w.scrollY as number };
    });
    assert.ok(seen.scrollY > 0 && seen.top < seen.vh && seen.bottom > 0, `needle results in view: ${JSON.stringify(seen)}`);
    const selects = await inside(a.page, '.dl-gamma');
    assert.equal(selects.length, 2);
    assert.ok(
      selects.every((c) => c.right <= c.width),
      `Colour selectors ${JSON.stringify(selects)}`,
    );
    await shot(a.page, 'webview-analysis-560');
    await closeClean(a);
  });
});
