/**
 * Settings and state that tell the truth, in a real VS Code: changing difflora.modelPath reloads the
 * running engine; a model that cannot load (no such folder, a broken config.json) shows as "no model"
 * in the status bar and the view, with an error that names the setting and what to do; maps of a model
 * that is no longer loaded say so; setting it back loads it again and clears all that. The engine log
 * is timestamped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { launchVSCode, ROOT, waitFor, type VSCode } from './harness';

const DEMO = 'def add(a, b):\n    return a + b\n';

describe('settings that take effect, in VS Code', { timeout: 600_000 }, () => {
  let vs: VSCode;

  before(async () => {
    vs = await launchVSCode({
      extensionDevelopmentPath: ROOT,
      files: { 'demo.py': DEMO, 'broken-model/config.json': '{ "hidden_size": 64, ' },
      settings: { 'difflora.backend': 'wasm' },
      label: 'settings',
    });
  });
  after(async () => {
    await vs?.close();
  });

  const statusBar = () =>
    vs.page
      .locator('.part.statusbar .statusbar-item', { hasText: 'DiffLoRA' })
      .first()
      .innerText()
      .catch(() => '');
  const notice = async () =>
    (await vs.webviewFrame('DiffLoRA Attention'))
      .locator('.dl-notice')
      .evaluate((e: any) => (e.hidden ? '' : (e.textContent as string)))
      .catch(() => '');
  /** The DiffLoRA view's text, once it matches `re` (the tree renders a moment after the focus command). */
  const viewText = async (re: RegExp) => {
    await vs.runCommand('DiffLoRA Lens: Focus on Models and Adapters View');
    const pane = vs.page.locator('.pane', { hasText: 'Models and Adapters' });
    let last = '';
    return waitFor(
      async () => {
        last = await pane.innerText().catch(() => '');
        return re.test(last) ? last : undefined;
      },
      () => `the view to show ${re} (it shows ${JSON.stringify(last)})`,
      30_000,
    );
  };

  it('a model path that does not exist: "no model" in the status bar and the view, the setting named, stale maps marked', async () => {
    await vs.openFile('demo.py');
    await vs.selectLines(1, 2);
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    await waitFor(async () => /ready · wasm · default-model/.test(await statusBar()), 'the engine ready with the embedded model', 120_000);
    await vs.webviewFrame('DiffLoRA Attention', 60_000);

    const missing = path.join(vs.workspace, 'no-such-model');
    vs.updateSettings({ 'difflora.modelPath': missing });
    await waitFor(
      async () => /no model · wasm/.test(await statusBar()),
      () => 'the status bar to say "no model"',
      60_000,
    );
    const msg = await vs.waitForNotification(
      /DiffLoRA: no model loaded\. difflora\.modelPath \(.*no-such-model\): .*Select Model and Adapters/,
      30_000,
    );
    assert.doesNotMatch(msg, /model\/load|humaneval\/|train\/run/, 'internal method names in a user message');
    await viewText(/no model/);
    assert.match(await notice(), /These maps are of default-model, which is no longer loaded/);
    await vs.screenshot('no-model');
  });

  it('a broken config.json: the error names the setting and the file', async () => {
    vs.updateSettings({ 'difflora.modelPath': path.join(vs.workspace, 'broken-model') });
    await vs.waitForNotification(/no model loaded\. difflora\.modelPath \(.*broken-model\): .*config\.json/, 60_000);
    assert.match(await statusBar(), /no model/);
  });

  it('setting the model back reloads it: status bar, view and panel agree again; the log is timestamped', async () => {
    vs.updateSettings({ 'difflora.modelPath': '' });
    await waitFor(
      async () => /ready · wasm · default-model/.test(await statusBar()),
      () => 'the embedded model loaded again',
      60_000,
    );
    await waitFor(async () => (await notice()) === '', 'the stale notice to clear', 30_000);
    await viewText(/default-model\s*4 layers · 6 heads/);
    const log = await vs.outputChannelText('DiffLoRA Engine');
    assert.match(log, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[info\] engine: ready \(wasm\)/m);
    assert.match(log, /\[error\] no model: difflora\.modelPath/);
    assert.doesNotMatch(log, /\n\s+at .*\.js:\d+:\d+/, 'a stack trace in the log at the default log level');
    await vs.screenshot('model-back');
  });
});
