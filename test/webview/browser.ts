/** What the webview tests share: the production webview bundle (built once if missing) and headless Chromium. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const WEBVIEW_DIST = path.join(ROOT, 'dist', 'webview');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Builds the webview bundle (webpack, production) unless every file of `files` is in dist/webview. */
export function ensureWebviewBuilt(files: string[]): void {
  if (files.every((f) => fs.existsSync(path.join(WEBVIEW_DIST, f)))) return;
  const cli = require.resolve('webpack-cli/bin/cli.js', { paths: [ROOT] });
  const r = spawnSync(process.execPath, [cli, '--config-name', 'webview', '--mode', 'production'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(r.status, 0, 'webpack (webview) failed');
}

/** Debian's Chromium (CHROMIUM_PATH overrides), headless, offline, no GPU. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
