/**
 * "Compare Completions" and the analyses in a real VS Code, on the embedded model with a LoRA and a
 * DiffLoRA adapter: a HumanEval problem completed by the three models side by side, executed against its
 * tests (badges); the BOS and magic-number analyses for the three models side by side.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { makeCheckpoint, tempDir } from '../helpers/reference';
import { sharedDataFile } from '../helpers/shared-data';
import { launchVSCode, ROOT, waitFor, type VSCode } from './harness';

async function pick(vs: VSCode, title: RegExp, text: string): Promise<void> {
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
  await widget.locator('input.input').first().fill(text);
  await vs.page.waitForTimeout(300);
  await widget.locator('input.input').first().press('Enter');
}

describe('compare completions and analyses in VS Code', { timeout: 900_000 }, () => {
  let vs: VSCode;
  const dir = tempDir('vscode-compare');
  const base = path.join(ROOT, 'media', 'default-model');

  before(async () => {
    const lora = makeCheckpoint('lora', path.join(dir, 'lora'), ['--base', base, '--seed', '2', '--targets', 'q_proj,v_proj']);
    const diff = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', base, '--seed', '3', '--lambda', '0.2']);
    vs = await launchVSCode({
      extensionDevelopmentPath: ROOT,
      files: { 'demo.py': 'x = 1\n' },
      settings: {
        'difflora.adapters': [
          { label: 'LoRA', path: lora },
          { label: 'DiffLoRA', path: diff },
        ],
        'difflora.humanEval.problemsPath': sharedDataFile('humaneval', 'HumanEval.jsonl.gz'),
        'difflora.backend': 'wasm',
      },
      label: 'compare',
    });
  });
  after(async () => {
    await vs?.close();
  });

  it("shows three models' completions of a HumanEval problem side by side, with pass/fail badges", async () => {
    await vs.openFile('demo.py');
    await vs.runCommand('DiffLoRA: Compare Completions');
    await pick(vs, /compare completions of/, 'HumanEval problem');
    await pick(vs, /^Problem/, 'HumanEval/2');
    const frame = await vs.webviewFrame('DiffLoRA Completions', 180_000);
    const cols = await waitFor(
      async () => {
        const t = await frame
          .locator('body')
          .innerText()
          .catch(() => '');
        return /truncate_number/.test(t) && /base/.test(t) && /LoRA/.test(t) && /DiffLoRA/.test(t) && /(passed|failed|timed out)/i.test(t)
          ? t
          : undefined;
      },
      'the three completions with their badges',
      300_000,
      500,
    );
    assert.doesNotMatch(cols, /pending/i);
    // The three columns in one row, inside the panel beside the editor (none past its right edge).
    const geo = await frame.locator('.dl-col').evaluateAll((cs: any[]) =>
      cs.map((c) => {
        const r = c.getBoundingClientRect();
        return {
          top: Math.round(r.top),
          right: r.right as number,
          width: (globalThis as any).document.documentElement.clientWidth as number,
        };
      }),
    );
    assert.equal(geo.length, 3);
    assert.ok(
      geo.every((g) => g.top === geo[0].top && g.right <= g.width),
      `columns ${JSON.stringify(geo)}`,
    );
    await vs.screenshot('side-by-side');
  });

  it('runs HumanEval on two problems: pass@1 per model, then a problem from the table side by side', async () => {
    await vs.runCommand('DiffLoRA: Run HumanEval');
    await pick(vs, /HumanEval run: settings/, 'n=1 k=1 temperature=0 maxNewTokens=32 limit=2 timeoutSec=3');
    const frame = await vs.webviewFrame('DiffLoRA Completions', 60_000);
    const text = await waitFor(
      async () => {
        const t = await frame
          .locator('body')
          .innerText()
          .catch(() => '');
        return /pass@1/i.test(t) && /HumanEval\/1/.test(t) && /finished/i.test(t) ? t : undefined;
      },
      'the finished run with its pass@1 table',
      600_000,
      1000,
    );
    assert.match(text, /DiffLoRA/);
    await vs.screenshot('humaneval-run');
    await frame.getByText('HumanEval/1', { exact: true }).first().click();
    await waitFor(
      async () =>
        /separate_paren_groups/.test(
          await frame
            .locator('body')
            .innerText()
            .catch(() => ''),
        ),
      'HumanEval/1 side by side',
      60_000,
    );
  });

  it('attention on the first token per head, and the magic-number probe, for the three models', async () => {
    await vs.runCommand('DiffLoRA: Attention on the First Token per Head (attention sink)');
    const frame = await vs.webviewFrame('DiffLoRA Analyses', 120_000);
    await waitFor(
      async () => {
        const t = await frame
          .locator('body')
          .innerText()
          .catch(() => '');
        return /base/.test(t) && /DiffLoRA/.test(t) && /LoRA/.test(t) && !/running|waiting/i.test(t);
      },
      'the BOS analysis of three models',
      300_000,
      500,
    );
    await vs.screenshot('bos');
    await vs.runCommand('DiffLoRA: Magic Number Probe (Needle in Filler Text)');
    await waitFor(
      async () =>
        /magic number/i.test(
          await frame
            .locator('body')
            .innerText()
            .catch(() => ''),
        ) && /\d{5}/.test(await frame.locator('body').innerText()),
      'the needle analysis',
      300_000,
      500,
    );
    await vs.screenshot('needle');
  });
});
