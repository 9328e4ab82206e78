/**
 * The packaged extension: `vsce package` of the built tree (what `npm run package` makes), installed
 * into a real VS Code, runs "Show Attention for Selection" on the embedded model from its own files
 * (the engine bundle, its wasm, the default model: nothing from node_modules).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from '../helpers/reference';
import { packageVsix, ROOT, VSCode, waitFor } from './harness';

describe('the .vsix', { timeout: 600_000 }, () => {
  let vs: VSCode;
  let vsix: string;

  before(async () => {
    vsix = packageVsix(ROOT, path.join(tempDir('vsix'), 'difflora-lens.vsix'));
    vs = VSCode.create({
      files: { 'demo.py': 'def twice(x):\n    return 2 * x\n' },
      settings: { 'difflora.backend': 'wasm' },
      label: 'vsix',
    });
    vs.installVsix(vsix);
    await vs.start();
  });
  after(async () => {
    await vs?.close();
  });

  it('is small and holds the bundles, the wasm files and the default model, not node_modules', () => {
    const mb = fs.statSync(vsix).size / 2 ** 20;
    console.log(`vsix: ${mb.toFixed(1)} MB`);
    assert.ok(mb < 30, `${mb} MB`);
    const names = execFileSync('python3', ['-c', 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', vsix], {
      encoding: 'utf8',
    }).split('\n');
    for (const f of [
      'extension/dist/extension/main.js',
      'extension/dist/engine/cli.js',
      'extension/bin/difflora.js',
      'extension/dist/webview/attention.js',
      'extension/media/default-model/model.safetensors',
    ]) {
      assert.ok(names.includes(f), `${f} in the vsix`);
    }
    assert.ok(
      names.some((n) => /dist\/engine\/.*\.wasm$/.test(n)),
      'the wasm backend files',
    );
    assert.ok(!names.some((n) => n.includes('node_modules/')), 'no node_modules');
  });

  it('installs and its command shows the attention panel', async () => {
    await vs.openFile('demo.py');
    await vs.selectLines(1, 2);
    await vs.runCommand('DiffLoRA: Show Attention for Selection');
    const frame = await vs.webviewFrame('DiffLoRA Attention', 120_000);
    await waitFor(
      () =>
        frame
          .locator('body')
          .evaluate(() => {
            const m = (globalThis as any).DiffLoRALens?.panel?.models?.[0];
            return !!m && Array.from(m.layerLoaded as Uint8Array).every(Boolean);
          })
          .catch(() => false),
      'the maps from the installed extension',
      180_000,
      500,
    );
    await vs.screenshot('installed');
  });
});
