/**
 * `npm run bench:vscode`: in a real VS Code (code-server + Chromium, see test/vscode/harness.ts), the
 * time from "DiffLoRA: Show Attention for Selection" to the first heatmap cell data in the panel and to
 * the full overview (every layer of every model received and drawn), on the embedded default model with
 * a DiffLoRA adapter, for a selection of 256 tokens. The first run (engine start, model load) is
 * reported apart; then medians of several warm runs. Figures only.
 */
import * as path from 'path';
import { launchVSCode, waitFor } from '../vscode/harness';
import { makeCheckpoint, tempDir } from '../helpers/reference';
import { pythonText, ROOT } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  const model = path.join(ROOT, 'media', 'default-model');
  const dir = tempDir('bench-vscode');
  const adapter = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', model, '--seed', '1', '--lambda', '0.2']);
  const text = pythonText(model, 256);
  const lines = text.split('\n').length;
  const vs = await launchVSCode({
    extensionDevelopmentPath: ROOT,
    files: { 'code.py': text },
    settings: { 'difflora.adapters': [{ label: 'DiffLoRA', path: adapter }], 'difflora.backend': 'wasm' },
    label: 'bench',
  });
  try {
    await vs.openFile('code.py');
    const first: number[] = [];
    const full: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      await vs.selectLines(1, lines);
      const frameBefore = run === 0 ? undefined : await vs.webviewFrame('DiffLoRA Attention');
      // Mark the panel so that a reset (a new run) is seen.
      if (frameBefore)
        await frameBefore.locator('body').evaluate(() => {
          (globalThis as any).DiffLoRALens.panel.__benchOld = true;
        });
      const t0 = Date.now();
      await vs.runCommand('DiffLoRA: Show Attention for Selection');
      const frame = frameBefore ?? (await vs.webviewFrame('DiffLoRA Attention', 180_000));
      const probe = () =>
        frame
          .locator('body')
          .evaluate(() => {
            const p = (globalThis as any).DiffLoRALens?.panel;
            if (!p || p.__benchOld) return { layers: 0, done: false };
            const ms = (p.models ?? []) as any[];
            const layers = ms.reduce((s: number, m: any) => s + Array.from(m.layerLoaded as Uint8Array).filter(Boolean).length, 0);
            return { layers, done: ms.length === 2 && layers === 2 * ms[0].meta.numLayers && !p.renderIfDirty() };
          })
          .catch(() => ({ layers: 0, done: false }));
      await waitFor(async () => ((await probe()).layers > 0 ? true : undefined), 'first layer', 180_000, 20);
      const tFirst = Date.now() - t0;
      await waitFor(async () => ((await probe()).done ? true : undefined), 'full overview', 180_000, 20);
      const tFull = Date.now() - t0;
      if (run === 0) console.log(`first run (engine start + model load): first heatmap ${tFirst} ms, full overview ${tFull} ms`);
      else {
        first.push(tFirst);
        full.push(tFull);
      }
    }
    console.log(
      `DiffLoRA Lens in VS Code (code-server ${'+'} Chromium), default model + DiffLoRA, 256 tokens, ${RUNS} warm runs (median; includes the palette UI, ~20 ms polling):`,
    );
    console.log(`  command -> first heatmap data in the panel  ${median(first)} ms   (runs: ${first.join(', ')})`);
    console.log(`  command -> full overview, 2 models x 4 layers x 6 heads drawn  ${median(full)} ms   (runs: ${full.join(', ')})`);
  } finally {
    await vs.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
