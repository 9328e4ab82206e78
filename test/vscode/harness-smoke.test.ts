/**
 * Proves test/vscode/harness.ts on a tiny fixture extension (test/vscode/fixture-extension): a real VS Code
 * (code-server) in headless Chromium runs its commands from the palette, shows its webviews, output channel,
 * notification and hover; the same extension packaged as a .vsix installs and runs too.
 * Needs `bash scripts/setup.sh --test`; without it these tests fail, saying so.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchVSCode, packageVsix, ROOT, type VSCode } from './harness';

const FIXTURE = path.join(ROOT, 'test', 'vscode', 'fixture-extension');
const FIXTURE_ID = 'difflora-lens.difflora-harness-fixture';
const FILES = { 'notes.txt': 'alpha beta gamma\nsecond line here\nthird line\n', 'src/deep/other.txt': 'other file\n' };

/** Runs fn, logging how long it took (the harness's timings are part of what these tests report). */
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    console.log(`  ${what}: ${Date.now() - t} ms`);
  }
}

describe('VS Code harness, extension from source', { timeout: 240_000 }, () => {
  let vs: VSCode;
  let failed = false;

  before(async () => {
    vs = await timed('launch to workbench', () => launchVSCode({ extensionDevelopmentPath: FIXTURE, files: FILES, label: 'smoke-dev' }));
    console.log('  timings', JSON.stringify(vs.timings));
  });
  after(async () => {
    if (failed && vs) {
      console.log(vs.diagnostics());
      await vs.screenshot('failure').catch(() => undefined);
    }
    await vs?.close();
  });
  const test = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await timed(name, fn);
      } catch (e) {
        failed = true;
        throw e;
      }
    });

  test('activates the development extension', async () => {
    await vs.waitForExtension(FIXTURE_ID);
    assert.equal(await vs.waitForExtensionHostConsole(/activated/), 'difflora-fixture: activated');
  });

  test('opens a file, selects text, shows the hover', async () => {
    await vs.openFile('notes.txt');
    assert.match(await vs.editorText(), /alpha beta gamma\nsecond line here/);
    const sel = await vs.selectText('beta');
    assert.match(sel, /\(4 selected\)/);
    assert.match(await vs.hover(), /Fixture hover for beta/);
    assert.match(await vs.selectLines(2, 3), /\(27 selected\)/); // "second line here\nthird line"
    await vs.openFile('src/deep/other.txt');
    assert.deepEqual((await vs.tabTitles()).sort(), ['notes.txt', 'other.txt']);
  });

  test('runs a command from the palette and reads its webview', async () => {
    await vs.openFile('notes.txt');
    await vs.selectText('gamma');
    await vs.runCommand('Harness Fixture: Show Webview');
    const a = await vs.webviewFrame('Fixture Panel A');
    await a.locator('#text').waitFor();
    assert.equal(await a.locator('#title').innerText(), 'Fixture Panel A');
    assert.equal(await a.locator('#text').innerText(), 'Hello from the fixture webview. Selection: [gamma]');
    assert.equal(await a.locator('#script').innerText(), 'script ran: 3');

    await vs.runCommand('Harness Fixture: Show Second Webview');
    const b = await vs.webviewFrame('Fixture Panel B');
    assert.equal(await b.locator('#text').innerText(), 'This is the second panel.');
    // Back to the first one, picked by its title among several.
    const a2 = await vs.webviewFrame('Fixture Panel A');
    assert.equal(await a2.locator('#title').innerText(), 'Fixture Panel A');
    // A webview view (sidebar), by its view title.
    await vs.runCommand('Harness Fixture: Show View');
    const v = await vs.webviewFrame('Fixture View');
    assert.equal(await v.locator('#text').innerText(), 'A webview view in the explorer.');
  });

  test('an output channel, a notification, the extension host console; a screenshot', async () => {
    await vs.runCommand('Harness Fixture: Write Output');
    const text = await vs.outputChannelText('Fixture Output', /6 \* 7 = 42/);
    assert.equal(text, 'fixture line 1: output channel works\nfixture line 2: 6 * 7 = 42\n');
    const shown = await vs.outputPanelText();
    assert.match(shown.text, /fixture line 1: output channel works/);
    assert.match(await vs.waitForNotification(/wrote 2 lines/), /Fixture: wrote 2 lines to the output channel/);
    assert.equal(await vs.waitForExtensionHostConsole(/wrote output/), 'difflora-fixture: wrote output');
    const shot = await vs.screenshot('output-and-webview');
    assert.ok(fs.statSync(shot).size > 10_000);
  });

  test('an error thrown by a command shows as a modal dialog', async () => {
    await vs.runCommand('Harness Fixture: Fail');
    assert.equal(await vs.waitForDialog(/on purpose/), "Command 'Harness Fixture: Fail' resulted in an error\nfixture failure on purpose");
    await assert.rejects(vs.runCommand('Harness Fixture: Write Output'), /a modal dialog is open/);
    await vs.dismissDialog();
    assert.deepEqual(await vs.dialogs(), []);
    await vs.runCommand('Harness Fixture: Write Output');
  });
});

describe('VS Code harness, extension installed from a .vsix', { timeout: 240_000 }, () => {
  let vs: VSCode | undefined;
  let tmp: string;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-vsix-'));
  });
  after(async () => {
    await vs?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('packages the fixture with vsce, installs it, runs its command', async () => {
    const vsix = await timed('vsce package', async () => packageVsix(FIXTURE, path.join(tmp, 'fixture.vsix')));
    vs = await timed('install + launch to workbench', () => launchVSCode({ vsix: [vsix], files: FILES, label: 'smoke-vsix' }));
    console.log('  timings', JSON.stringify(vs.timings));
    assert.ok(
      vs.listExtensions().some((e) => e.startsWith(`${FIXTURE_ID}@0.0.1`)),
      'installed',
    );
    await vs.waitForExtension(FIXTURE_ID);
    assert.equal(await vs.waitForExtensionHostConsole(/activated/), 'difflora-fixture: activated');
    await vs.runCommand('Harness Fixture: Show Webview');
    const a = await vs.webviewFrame();
    assert.match(await a.locator('#text').innerText(), /Hello from the fixture webview/);
    await vs.screenshot('vsix-webview');
  });
});
