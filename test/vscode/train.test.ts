/**
 * "DiffLoRA: Train Adapter" in a real VS Code: the QuickPick / InputBox flow, a short DiffLoRA run on
 * the embedded model with the training panel's loss chart filling in, the finished run in the
 * adapters view; then the analyses panel (BOS mass, magic number) for base and the new adapter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { launchVSCode, ROOT, waitFor, type VSCode } from './harness';

const UTIL_PY = [
  'def clamp(x, lo, hi):\n    """Limit x to the range [lo, hi]."""\n    if x < lo:\n        return lo\n    return min(x, hi)\n',
  'def mean(values):\n    """The arithmetic mean of a non-empty list."""\n    total = sum(values)\n    return total / len(values)\n',
  'def words(text):\n    """Split text on whitespace and drop empty parts."""\n    parts = text.split()\n    return [p for p in parts if p]\n',
].join('\n\n');

const DATA =
  Array.from({ length: 24 }, (_, i) =>
    JSON.stringify({ prompt: `def add_${i}(x):\n    """Add ${i} to x."""\n`, completion: `    return x + ${i}\n` }),
  ).join('\n') + '\n';

/** Answers the open quick input: types `text` (replacing what is there) and accepts. */
async function answer(vs: VSCode, title: RegExp, text: string): Promise<void> {
  const widget = vs.page.locator('.quick-input-widget');
  await waitFor(
    async () =>
      (await widget.isVisible()) &&
      title.test(
        await widget
          .locator('.quick-input-title')
          .innerText()
          .catch(() => ''),
      ),
    `a quick input titled ${title}`,
    60_000,
  );
  const input = widget.locator('input.input').first();
  await input.fill(text);
  await vs.page.waitForTimeout(300);
  await input.press('Enter');
  await waitFor(
    async () =>
      !title.test(
        await widget
          .locator('.quick-input-title')
          .innerText()
          .catch(() => ''),
      ) || !(await widget.isVisible()),
    `the quick input ${title} to close`,
    30_000,
  );
}

describe('train adapter in VS Code', { timeout: 900_000 }, () => {
  let vs: VSCode;
  let workspace: string;

  before(async () => {
    vs = await launchVSCode({
      extensionDevelopmentPath: ROOT,
      files: { 'data/pairs.jsonl': DATA, 'demo.py': 'x = 1\n', 'lib/util.py': UTIL_PY },
      settings: { 'difflora.backend': 'wasm' },
      label: 'train',
    });
    workspace = vs.workspace;
  });
  after(async () => {
    await vs?.close();
  });

  it('runs a short DiffLoRA training to completion with the loss chart updating', async () => {
    await vs.runCommand('DiffLoRA: Train Adapter');
    await answer(vs, /1\/4.*method/, 'difflora-32');
    await answer(vs, /2\/4.*dataset/, 'pairs.jsonl');
    await answer(vs, /3\/4.*hyperparameters/, 'lr=1e-3 maxSteps=24 batchSize=4 effectiveBatch=4 checkpointEvery=12 maxLength=64');
    await answer(vs, /4\/4.*output folder/, path.join(workspace, 'adapters', 'dl32'));
    const frame = await vs.webviewFrame('Train: dl32', 120_000);
    // The loss chart gets points as steps stream in, before the run ends.
    const seen = new Set<number>();
    await waitFor(
      async () => {
        const n = await frame
          .locator('body')
          .evaluate(() => {
            const p = (globalThis as any).DiffLoRALensTraining?.panel;
            return p ? Number(p.steps.n) : 0;
          })
          .catch(() => 0);
        seen.add(n);
        return n >= 24 ? n : undefined;
      },
      '24 steps in the training panel',
      600_000,
      300,
    );
    assert.ok(seen.size >= 2, `the chart should fill in step by step (saw counts ${[...seen].join(',')})`);
    await waitFor(async () => /finished/i.test(await frame.locator('body').innerText()), 'the run to finish', 120_000);
    await vs.screenshot('training-panel');
    const out = path.join(workspace, 'adapters', 'dl32');
    assert.ok(fs.existsSync(path.join(out, 'model.safetensors')), 'the DiffLoRA adapter is saved');
    const metrics = fs
      .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(metrics.length, 24);
    await vs.waitForNotification(/trained difflora-32 in 24 steps/, 60_000);
  });

  it('shows each step while the run goes on; Cancel stops it within a step; Resume continues from the checkpoint', async () => {
    const out = path.join(workspace, 'adapters', 'long');
    await vs.runCommand('DiffLoRA: Train Adapter');
    await answer(vs, /1\/4.*method/, 'difflora-32');
    await answer(vs, /2\/4.*dataset/, 'pairs.jsonl');
    await answer(
      vs,
      /3\/4.*hyperparameters/,
      'lr=1e-3 maxSteps=400 batchSize=4 effectiveBatch=8 checkpointEvery=1000 maxLength=64 warmupRatio=0',
    );
    await answer(vs, /4\/4.*output folder/, out);
    const frame = await vs.webviewFrame('Train: long', 120_000);
    // The second training panel joins the first one's column as a tab: no third column.
    const columns = await vs.page.locator('.editor-group-container').count();
    assert.ok(columns <= 2, `DiffLoRA panels opened a third editor column (${columns} columns)`);
    const panel = () =>
      frame.locator('body').evaluate(() => {
        const p = (globalThis as any).DiffLoRALensTraining?.panel;
        return { step: p ? Number(p.steps.n) : 0, status: String(p?.status ?? '') };
      });
    const fileSteps = () => {
      try {
        return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    // Live: at the same moment the panel shows about as many steps as the trainer has written, mid-run.
    const samples: { panel: number; file: number }[] = [];
    await waitFor(
      async () => {
        const p = await panel();
        const file = fileSteps();
        if (p.step > 0) samples.push({ panel: p.step, file });
        // Seen counting up by three steps (the panel may already show a few when first found).
        return samples.length > 0 && p.step >= samples[0].panel + 3 ? p : undefined;
      },
      'the training panel to count up three steps',
      300_000,
      100,
    );
    assert.ok(
      new Set(samples.map((x) => x.panel)).size >= 2,
      `the panel should count up step by step (saw ${samples.map((x) => x.panel).join(',')})`,
    );
    for (const x of samples)
      assert.ok(
        x.file - x.panel <= 2 && x.file < 400,
        `panel at step ${x.panel} while metrics.jsonl had ${x.file} lines: progress is late`,
      );
    await vs.screenshot('training-live');
    // Cancel from the panel: the run stops within a step of the click and keeps a checkpoint. The
    // reference is the trainer's own count at the click (the panel may show a step or two less): the
    // step then in progress finishes, and one more may start while the click travels to the engine.
    await frame.locator('button.dl-cancel').click();
    const atClick = fileSteps();
    const stopped = await waitFor(
      async () => {
        const p = await panel();
        return p.status === 'cancelled' ? p : undefined;
      },
      'the run to stop',
      120_000,
    );
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    assert.ok(state.step - atClick <= 2, `clicked Cancel with ${atClick} steps written, the run went on to ${state.step}`);
    assert.equal(stopped.step, state.step);
    assert.equal(fileSteps(), state.step);
    await vs.waitForNotification(new RegExp(`training stopped at step ${state.step}`), 60_000);
    await vs.screenshot('training-cancelled');
    // Resume from the panel: the steps continue after the checkpoint's; then stop it again.
    await frame.locator('button.dl-resume').click();
    await waitFor(async () => ((await panel()).step >= state.step + 2 ? true : undefined), 'the resumed run to go on', 300_000, 100);
    const resumedFile = fileSteps();
    assert.ok(resumedFile >= state.step + 1 && resumedFile < 400, `resumed run wrote ${resumedFile} lines`);
    await frame.locator('button.dl-cancel').click();
    await waitFor(async () => ((await panel()).status === 'cancelled' ? true : undefined), 'the resumed run to stop', 120_000);
    const again = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    assert.ok(again.step > state.step && again.step < 400);
  });

  it('the hyperparameters form refuses a typo, extracts pairs from the workspace, and shows the data summary first', async () => {
    await vs.runCommand('DiffLoRA: Train Adapter');
    await answer(vs, /1\/4.*method/, 'lora');
    await answer(vs, /2\/4.*dataset/, 'Extract pairs from this workspace');
    const widget = vs.page.locator('.quick-input-widget');
    const input = widget.locator('input.input').first();
    await waitFor(
      async () =>
        /3\/4.*hyperparameters/.test(
          await widget
            .locator('.quick-input-title')
            .innerText()
            .catch(() => ''),
        ),
      'the hyperparameters form',
      60_000,
    );
    // Every option is listed with its value and an explanation; a typo is refused, not ignored.
    const listed = await widget.locator('.quick-input-list').innerText();
    assert.match(listed, /maxSteps/);
    assert.match(listed, /lr\s*= 1e-4 \(default\)/);
    await vs.screenshot('train-form');
    await input.fill('maxStep=2');
    await input.press('Enter');
    await waitFor(
      async () => /unknown option "maxStep" \(did you mean maxSteps\?\)/.test(await widget.innerText().catch(() => '')),
      'the typo refused in the form',
      30_000,
    );
    assert.match(await widget.locator('.quick-input-title').innerText(), /3\/4.*hyperparameters/);
    await vs.screenshot('train-form-typo');
    // maxLength 32 truncates every pair (44-45 tokens): the summary says so before anything trains; Change Settings goes back.
    await input.fill('maxSteps=2 maxLength=32');
    await input.press('Enter');
    const summary = await vs.waitForDialog(
      /workspace-pairs\.jsonl[\s\S]*3 examples \(prompt-completion\) will be trained on, 3 of them truncated to 32 tokens/,
      60_000,
    );
    assert.match(summary, /No line is left out/);
    await vs.screenshot('train-data-summary');
    await vs.dismissDialog('Change Settings');
    await waitFor(
      async () =>
        /3\/4.*hyperparameters/.test(
          await widget
            .locator('.quick-input-title')
            .innerText()
            .catch(() => ''),
        ),
      'back in the form',
      30_000,
    );
    await input.press('Escape');
    assert.equal(
      fs
        .readFileSync(path.join(workspace, '.difflora', 'data', 'workspace-pairs.jsonl'), 'utf8')
        .trim()
        .split('\n').length,
      3,
    );
    await vs.waitForNotification(/3 pairs from \d+ Python files -> \.difflora\/data\/workspace-pairs\.jsonl/, 30_000);
  });

  it('lists the run in the DiffLoRA view; loading it makes it one of the compared models', async () => {
    await vs.runCommand('DiffLoRA Lens: Focus on Models and Adapters View');
    const view = vs.page.locator('.pane', { hasText: 'Models and Adapters' });
    await waitFor(async () => /dl32/.test(await view.innerText()), 'the run in the view', 30_000);
    assert.match(await view.innerText(), /difflora-32 · finished · 24 steps/);
    await vs.screenshot('runs-view');
  });
});
