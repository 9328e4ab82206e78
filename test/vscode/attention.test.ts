/**
 * The extension in a real VS Code (code-server + Chromium): "Show Attention for Selection" on a Python
 * file opens the panel with the embedded model's maps for the base and a DiffLoRA adapter; the hover
 * lists the attended tokens per model; an edit drops the results; the engine killed with SIGKILL is
 * reported, restarted, and the next request works.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { makeCheckpoint, tempDir } from '../helpers/reference';
import { launchVSCode, ROOT, waitFor, type VSCode } from './harness';

const DEMO = 'def add(a, b):\n    """Return the sum of a and b."""\n    total = a + b\n    return total\n';
/** Long enough (~700 tokens) that the two models' eight layers take seconds. */
const LONG = Array.from({ length: 40 }, (_, i) => `def scale_${i}(values):\n    return [v * ${i} + ${i * 7} for v in values]\n`).join('\n');

/** The local engine's pid (the child of the extension host running `serve --stdio`). */
function enginePids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'difflora.js serve --stdio'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The editor tint: its status bar label, how many tinted ranges are drawn, the label at the hovered token. */
async function tintState(vs: VSCode): Promise<{ status?: string; tinted: number; label: string }> {
  return vs.page.evaluate(() => {
    const w = globalThis as any;
    const d = w.document;
    const status = (Array.from(d.querySelectorAll('.statusbar-item')) as any[])
      .map((e) => (e.textContent as string).trim())
      .find((t) => t.includes('tint:'));
    let tinted = 0;
    for (const e of Array.from(d.querySelectorAll('.monaco-editor .view-overlays div')) as any[])
      if (/255, 140, 0/.test(w.getComputedStyle(e).backgroundColor)) tinted++;
    let label = '';
    for (const e of Array.from(d.querySelectorAll('.monaco-editor .view-lines span')) as any[]) {
      const after = w.getComputedStyle(e, '::after').content as string;
      if (after && after.includes('attention of')) label = after;
      else if (!e.children.length && (e.textContent as string).includes('attention of')) label = e.textContent;
    }
    return { status, tinted, label };
  });
}

/** What the attention panel holds, read inside its webview. */
async function panelState(vs: VSCode): Promise<{ models: { label: string; kind: string; layers: number; tokens: number }[] }> {
  const frame = await vs.webviewFrame('DiffLoRA Attention');
  return frame.locator('body').evaluate(() => {
    const models = ((globalThis as any).DiffLoRALens?.panel?.models ?? []) as any[];
    return {
      models: models.map((m: any) => ({
        label: m.meta.label,
        kind: m.meta.kind,
        layers: Array.from(m.layerLoaded as Uint8Array).filter(Boolean).length,
        tokens: m.meta.tokens.length,
      })),
    };
  });
}

describe('attention in VS Code', { timeout: 600_000 }, () => {
  let vs: VSCode;
  const dir = tempDir('vscode-attn');
  const adapter = path.join(dir, 'difflora');

  before(async () => {
    makeCheckpoint('difflora', adapter, ['--base', path.join(ROOT, 'media', 'default-model'), '--seed', '1', '--lambda', '0.3']);
    vs = await launchVSCode({
      extensionDevelopmentPath: ROOT,
      files: { 'demo.py': DEMO, 'long.py': LONG },
      settings: { 'difflora.adapters': [{ label: 'DiffLoRA', path: adapter }], 'difflora.backend': 'wasm' },
      label: 'attention',
    });
  });
  after(async () => {
    await vs?.close();
  });

  it('shows the base and DiffLoRA maps of the selection, streamed into the panel', async () => {
    await vs.openFile('demo.py');
    await vs.selectLines(1, 4);
    const t0 = Date.now();
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    const state = await waitFor(
      async () => {
        const s = await panelState(vs).catch(() => undefined);
        return s && s.models.length === 2 && s.models.every((m) => m.layers === 4) ? s : undefined;
      },
      'both models with all 4 layers in the panel',
      180_000,
      500,
    );
    console.log(`command -> full overview in the panel: ${Date.now() - t0} ms (includes the engine start and model load)`);
    assert.deepEqual(
      state.models.map((m) => [m.label, m.kind]),
      [
        ['base', 'base'],
        ['DiffLoRA', 'difflora'],
      ],
    );
    assert.ok(state.models[0].tokens > 10);
    const frame = await vs.webviewFrame('DiffLoRA Attention');
    assert.ok((await frame.locator('canvas').count()) > 0);
    await vs.screenshot('panel');
    // Base | DiffLoRA side by side in the panel beside the editor.
    await frame.locator('.dl-beside input[value="1"]').check();
    await waitFor(async () => ((await frame.locator('.dl-pane').count()) === 2 ? true : undefined), 'two heatmap panes', 10_000);
    const titles = await frame.locator('.dl-pane-title').allTextContents();
    assert.match(titles[0], /^base · attention A/);
    assert.match(titles[1], /^DiffLoRA · positive A₁/);
    const rows = await frame
      .locator('.dl-pane .dl-heatmap-canvas')
      .evaluateAll((cs: any[]) => cs.map((c) => Math.round(c.getBoundingClientRect().top)));
    assert.equal(rows.length, 2);
    assert.equal(rows[0], rows[1], 'the two heatmaps side by side (one row) in the panel beside the editor');
    await vs.screenshot('side-by-side');
    await frame.locator('.dl-beside input[value="1"]').uncheck();
    await vs.openFile('demo.py'); // the editor group, not the panel's, active again
    const log = await vs.outputChannelText('DiffLoRA Engine', /attention timings/, 60_000);
    assert.match(log, /engine: ready \(wasm\)/);
    assert.match(log, /attention timings: base first layer \d+ ms/);
  });

  it('the hover lists, for each model, the tokens the hovered token attends to', async () => {
    await vs.goTo(3, 14); // inside "a + b" of `total = a + b`
    const text = await vs.hover();
    assert.match(text, /DiffLoRA Lens/);
    assert.match(text, /mean over all layers and heads/);
    assert.match(text, /base \(base\)/);
    assert.match(text, /DiffLoRA \(difflora\)/);
    assert.match(text, /\d\.\d{3}/);
    await vs.screenshot('hover');
  });

  it("the editor tint: labelled with its model and scope, outlives the hover, follows the panel's head and back to the mean; a cursor move or a new inspection clears it", async () => {
    await vs.goTo(3, 14);
    await vs.hover();
    const t1 = await waitFor(
      async () => {
        const t = await tintState(vs);
        return t.status && t.tinted > 0 ? t : undefined;
      },
      'the tint and its status bar label',
      10_000,
    );
    assert.match(t1.status!, /tint: DiffLoRA · mean over all layers and heads/);
    assert.match(t1.label, /attention of DiffLoRA · mean over all layers and heads/);
    await vs.page.keyboard.press('Escape');
    await vs.page
      .locator('.monaco-hover:not(.hidden) .monaco-hover-content')
      .first()
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .catch(() => undefined);
    assert.ok((await tintState(vs)).tinted > 0, 'the tint stays when the hover closes');
    await vs.screenshot('tint');

    // The panel's "Editor hover" switch: this head, then back to the mean; the hover and the tint agree.
    let frame = await vs.webviewFrame('DiffLoRA Attention');
    await frame.locator('.dl-editor-hover select').selectOption('head');
    await frame.locator('body').evaluate(() => (globalThis as any).DiffLoRALens.panel.select({ layer: 1, head: 2 }));
    await vs.openFile('demo.py');
    await vs.goTo(3, 14);
    let text = await vs.hover();
    assert.match(text, /layer 1, head 2/);
    assert.match(text, /Editor hover/, 'the hover says how to go back to the mean');
    assert.match(await waitFor(async () => (await tintState(vs)).status, 'the tint label', 10_000), /tint: DiffLoRA · layer 1, head 2/);
    await vs.screenshot('tint-head');
    frame = await vs.webviewFrame('DiffLoRA Attention');
    await frame.locator('.dl-editor-hover select').selectOption('mean');
    await vs.openFile('demo.py');
    await vs.goTo(3, 14);
    text = await vs.hover();
    assert.match(text, /mean over all layers and heads/);

    // A cursor move clears the tint.
    await vs.page.keyboard.press('Escape');
    await vs.goTo(1, 1);
    const cleared = await waitFor(
      async () => {
        const t = await tintState(vs);
        return !t.status && t.tinted === 0 ? t : undefined;
      },
      'no tint after the cursor moved',
      10_000,
    );
    assert.equal(cleared.label, '');

    // A new inspection clears it as it starts.
    await vs.goTo(3, 14);
    await vs.hover();
    await waitFor(async () => ((await tintState(vs)).tinted > 0 ? true : undefined), 'the tint again', 10_000);
    await vs.page.keyboard.press('Escape');
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    await waitFor(
      async () => {
        const t = await tintState(vs);
        return !t.status && t.tinted === 0 ? true : undefined;
      },
      'no tint once a new inspection starts',
      10_000,
    );
    await waitFor(
      async () => {
        const s = await panelState(vs).catch(() => undefined);
        return s && s.models.length === 2 && s.models.every((m) => m.layers === 4) && s.models[0].tokens < 15 ? s : undefined;
      },
      'the new (one line) inspection in the panel',
      120_000,
      500,
    );
    await vs.openFile('demo.py');
  });

  it('an edit drops the results: no hover afterwards', async () => {
    await vs.goTo(4, 1);
    await vs.page.keyboard.type('    # edited\n');
    await vs.goTo(3, 14);
    await assert.rejects(vs.hover(4000));
  });

  it('Cancel on the progress notification stops a long attention request within a layer', async () => {
    const finishedRuns = async () => (await vs.outputChannelText('DiffLoRA Engine')).split('attention timings').length;
    const finishedBefore = await finishedRuns();
    await vs.openFile('long.py');
    await vs.focusEditor();
    await vs.page.keyboard.press('Control+A');
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    const layers = async () => (await panelState(vs).catch(() => undefined))?.models.reduce((a, m) => a + m.layers, 0) ?? 0;
    // The panel is reset for the new request, then learns its tokens before any layer.
    await waitFor(
      async () => {
        const s = await panelState(vs).catch(() => undefined);
        return s && s.models[0]?.tokens > 300 ? true : undefined;
      },
      'the long text in the panel',
      120_000,
      100,
    );
    // The progress notification (in the notification centre when no toast is up) has the Cancel button.
    const item = vs.page.locator('.notification-toast, .notifications-center .notification-list-item', { hasText: 'DiffLoRA attention' });
    if (!(await item.first().isVisible()))
      await vs.page.locator('[id="status.notifications"] a, [id="status.notifications"]').first().click();
    await item.locator('.monaco-button', { hasText: 'Cancel' }).first().click({ timeout: 10_000 });
    const atCancel = await layers();
    await vs.page.waitForTimeout(4000);
    const after = await layers();
    assert.ok(after < 8, `cancelled with ${atCancel} of 8 layers shown, yet all arrived`);
    // Layers already computed and on their way still arrive; the request never finishes.
    console.log(`attention cancelled: ${atCancel} of 8 layers shown at the click, ${after} after 4 s`);
    assert.equal(await finishedRuns(), finishedBefore, 'the cancelled request logged its timings as if it had finished');
    await vs.screenshot('attention-cancelled');
    await vs.openFile('demo.py');
  });

  it('the engine killed mid-work is reported and restarted; the next request works', async () => {
    const [pid] = enginePids();
    assert.ok(pid, 'the engine process is running');
    await vs.selectLines(1, 3);
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    process.kill(pid, 'SIGKILL');
    await vs.waitForNotification(/DiffLoRA engine stopped: .*killed by SIGKILL.*Restarting/, 60_000);
    const next = await waitFor(() => enginePids().find((p) => p !== pid), 'a new engine process', 60_000);
    assert.notEqual(next, pid);
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    await waitFor(
      async () => {
        const s = await panelState(vs).catch(() => undefined);
        return s && s.models.length === 2 && s.models.every((m) => m.layers === 4) ? s : undefined;
      },
      'the maps after the restart',
      120_000,
      500,
    );
    const log = await vs.outputChannelText('DiffLoRA Engine');
    assert.match(log, /engine: crashed/);
    await vs.screenshot('after-restart');
  });
});
