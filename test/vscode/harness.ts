/**
 * Runs an extension in a real VS Code, offline: code-server (VS Code 1.139's server and web workbench, run
 * by its own Node 24) on a free loopback port, driven through Debian's Chromium by playwright-core.
 * Setup: `bash scripts/setup.sh --test` (it calls scripts/setup-vscode-test.sh, which caches Node 24 and
 * code-server in ${DIFFLORA_VSCODE_CACHE:-~/.cache/difflora-vscode-test}). Without it, launching throws
 * (so tests fail, they do not skip).
 *
 *   const vs = await launchVSCode({ extensionDevelopmentPath: ROOT, files: { 'a.py': 'def f(x):\n' } });
 *   try {
 *     await vs.runCommand('DiffLoRA: Show Attention');
 *     const panel = await vs.webviewFrame('Attention');
 *     await panel.locator('canvas').waitFor();
 *     await vs.screenshot('attention');
 *   } finally { await vs.close(); }
 *
 * Each instance has its own temporary user-data-dir, extensions-dir, workspace folder and Chromium
 * profile, all removed by close() (also when the test process exits without calling it).
 * Environment: VSCODE_SHOTS_DIR (screenshots; default out/test-shots/vscode), VSCODE_TEST_VERBOSE=1 (echo
 * code-server's output and the extension host's console as they come), VSCODE_TEST_KEEP=1 (keep the
 * temporary directories and print where), CHROMIUM_PATH, DIFFLORA_VSCODE_CACHE.
 *
 * In-page code is plain JS on `globalThis as any` (this file is compiled for Node, without DOM types).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';

/** The repository root (this file runs from out/test/vscode/). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

const SETUP_HINT = 'run `bash scripts/setup.sh --test` (or just `bash scripts/setup-vscode-test.sh`) first';

export interface VSCodeSetup {
  /** Node 24, which runs code-server and the extension host. */
  node: string;
  /** code-server's out/node/entry.js. */
  codeServer: string;
  codeServerVersion: string;
  chromium: string;
}

/** Where scripts/setup-vscode-test.sh put Node 24 and code-server; throws, saying what to run, when it did not. */
export function vscodeSetup(): VSCodeSetup {
  const cache = process.env.DIFFLORA_VSCODE_CACHE || path.join(os.homedir(), '.cache', 'difflora-vscode-test');
  const file = path.join(cache, 'current.json');
  if (!fs.existsSync(file)) {
    throw new Error(`VS Code test setup missing (no ${file}): ${SETUP_HINT}`);
  }
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<VSCodeSetup>;
  for (const k of ['node', 'codeServer'] as const) {
    if (!s[k] || !fs.existsSync(s[k]!)) throw new Error(`VS Code test setup incomplete (${k}: ${s[k]} is missing): ${SETUP_HINT}`);
  }
  const browser = process.env.CHROMIUM_PATH || s.chromium || '/usr/bin/chromium';
  if (!fs.existsSync(browser)) {
    throw new Error(
      `Chromium not found at ${browser}: install Debian's chromium (\`bash scripts/setup.sh --test\` does, as root) or set CHROMIUM_PATH`,
    );
  }
  return { node: s.node!, codeServer: s.codeServer!, codeServerVersion: s.codeServerVersion ?? '?', chromium: browser };
}

export interface VSCodeOptions {
  /** Absolute path of an extension folder (its package.json) to load from source, as in F5 debugging. */
  extensionDevelopmentPath?: string;
  /** .vsix files to install (code-server --install-extension) before code-server starts. */
  vsix?: string[];
  /** Files to create in a fresh temporary workspace folder, by relative path. */
  files?: Record<string, string | Uint8Array>;
  /** Open this existing folder instead of a temporary one (it is not removed; `files` are written into it). */
  folder?: string;
  /** User settings (merged over the harness defaults, which hide chat, git, welcome pages, ...). */
  settings?: Record<string, unknown>;
  viewport?: { width: number; height: number };
  /** Extra environment for code-server and so the extension host. */
  env?: Record<string, string>;
  /** Screenshot directory; default $VSCODE_SHOTS_DIR or out/test-shots/vscode. */
  shotsDir?: string;
  /** Prefix of screenshot names, e.g. the test file's name. */
  label?: string;
  /** Echo code-server's output and the extension host's console (also VSCODE_TEST_VERBOSE=1). */
  verbose?: boolean;
}

export interface ConsoleEntry {
  type: string;
  text: string;
  time: number;
}

/** Settings that keep a fresh profile quiet and fast: no chat, no git, no welcome page, no update checks. */
export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.editor.enablePreview': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'github.gitAuthentication': false,
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
  'editor.minimap.enabled': false,
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown inside a waitFor callback: stops waiting at once (other errors are retried until the timeout). */
export class WaitAbort extends Error {}

/** Polls fn until it returns a value other than undefined/false, or throws `what` after timeoutMs. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  what: string | (() => string),
  timeoutMs = 30_000,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      if (e instanceof WaitAbort) throw new Error(e.message);
      lastErr = e;
    }
    if (Date.now() > end) {
      const w = typeof what === 'function' ? what() : what;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${w}${lastErr ? ` (last error: ${String(lastErr).split('\n')[0]})` : ''}`,
      );
    }
    await sleep(everyMs);
  }
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : e.isFile() ? [p] : [];
  });
}

/** Text as the workbench renders it (non-breaking spaces in editors) back to plain text. */
const plain = (s: string) => s.replace(/\u00a0/g, ' ');

const live = new Set<VSCode>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test ends without close(): kill code-server's process group, remove temp dirs.
  // (Chromium, a child of this process on a pipe, goes with it.)
  process.on('exit', () => {
    for (const v of live) v.killSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const v of live) v.killSync();
      process.kill(process.pid, sig);
    });
  }
}

export class VSCode {
  readonly setup: VSCodeSetup;
  readonly tmp: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly workspace: string;
  readonly profileDir: string;
  readonly shotsDir: string;
  readonly label: string;
  /** code-server's stdout + stderr so far. */
  serverOutput = '';
  /** The workbench page's console (errors, warnings, logs), including the forwarded extension host console. */
  readonly console: ConsoleEntry[] = [];
  /** Uncaught errors of the workbench page. */
  readonly pageErrors: string[] = [];
  /** Milestones, ms since launch: server listening, page loaded, workbench ready. */
  readonly timings: Record<string, number> = {};
  port = 0;
  private server?: ChildProcess;
  private serverExited?: Promise<void>;
  private context?: BrowserContext;
  private _page?: Page;
  private closed = false;
  private lastTabs: string[] = [];
  private readonly t0 = Date.now();
  private readonly verbose: boolean;

  private constructor(private readonly opts: VSCodeOptions) {
    this.setup = vscodeSetup();
    this.verbose = !!opts.verbose || process.env.VSCODE_TEST_VERBOSE === '1';
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-vscode-'));
    this.userDataDir = path.join(this.tmp, 'user');
    this.extensionsDir = path.join(this.tmp, 'extensions');
    this.profileDir = path.join(this.tmp, 'chromium');
    this.workspace = opts.folder ? path.resolve(opts.folder) : path.join(this.tmp, 'workspace');
    for (const d of [this.userDataDir, this.extensionsDir, this.profileDir, this.workspace, path.join(this.tmp, 'xdg')])
      fs.mkdirSync(d, { recursive: true });
    for (const [rel, content] of Object.entries(opts.files ?? {})) {
      const p = path.join(this.workspace, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
    fs.mkdirSync(path.join(this.userDataDir, 'User'), { recursive: true });
    fs.writeFileSync(
      path.join(this.userDataDir, 'User', 'settings.json'),
      JSON.stringify({ ...DEFAULT_SETTINGS, ...opts.settings }, null, 2),
    );
    // An empty config file: code-server would otherwise write ~/.config/code-server/config.yaml (with a password).
    fs.writeFileSync(path.join(this.tmp, 'config.yaml'), 'auth: none\n');
    this.shotsDir = path.resolve(opts.shotsDir ?? process.env.VSCODE_SHOTS_DIR ?? path.join(ROOT, 'out', 'test-shots', 'vscode'));
    this.label = (opts.label ?? 'vscode').replace(/[^\w.-]+/g, '_');
    live.add(this);
    installExitHook();
  }

  /** Prepares the temporary directories (nothing runs yet): then installVsix() and start(). */
  static create(opts: VSCodeOptions = {}): VSCode {
    return new VSCode(opts);
  }

  get page(): Page {
    if (!this._page) throw new Error('VS Code is not started: call start()');
    return this._page;
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      // VSCODE_IPC_HOOK_CLI would make code-server open the folder in another instance; PORT, PASSWORD, ...
      // override its flags; NODE_TEST_CONTEXT is node:test's.
      if (
        /^(VSCODE_|CODE_SERVER_|CS_)/.test(k) ||
        ['PORT', 'PASSWORD', 'HASHED_PASSWORD', 'GITHUB_TOKEN', 'LOG_LEVEL', 'NODE_TEST_CONTEXT'].includes(k)
      )
        continue;
      env[k] = v;
    }
    const xdg = path.join(this.tmp, 'xdg');
    return { ...env, XDG_CONFIG_HOME: xdg, XDG_DATA_HOME: xdg, ...this.opts.env };
  }

  private baseArgs(): string[] {
    return [
      this.setup.codeServer,
      '--config',
      path.join(this.tmp, 'config.yaml'),
      '--user-data-dir',
      this.userDataDir,
      '--extensions-dir',
      this.extensionsDir,
    ];
  }

  /** Installs a .vsix into this instance's (temporary) extensions dir. Before start(). */
  /** Changes workspace settings while VS Code runs (it watches .vscode/settings.json), as a user editing it would. */
  updateSettings(patch: Record<string, unknown>): void {
    const file = path.join(this.workspace, '.vscode', 'settings.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const now = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    fs.writeFileSync(file, JSON.stringify({ ...now, ...patch }, null, 2));
  }

  installVsix(vsix: string): void {
    if (this.server) throw new Error('installVsix must be called before start()');
    const abs = path.resolve(vsix);
    if (!fs.existsSync(abs)) throw new Error(`no such .vsix: ${abs}`);
    const t = Date.now();
    const r = spawnSync(this.setup.node, [...this.baseArgs(), '--install-extension', abs, '--force'], {
      env: this.env(),
      encoding: 'utf8',
      timeout: 180_000,
    });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0 || !/successfully installed/i.test(out)) {
      throw new Error(`code-server --install-extension ${abs} failed (exit ${r.status ?? r.signal}):\n${out.trim()}`);
    }
    this.timings[`installVsix ${path.basename(abs)}`] = Date.now() - t;
  }

  /** Installed extensions (id@version), as code-server lists them. */
  listExtensions(): string[] {
    const r = spawnSync(this.setup.node, [...this.baseArgs(), '--list-extensions', '--show-versions'], {
      env: this.env(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    return r.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => /^[\w-]+\.[\w-]+@/.test(s));
  }

  /** Starts code-server and Chromium, opens the workspace (with the development extension, if any), waits for the workbench. */
  async start(): Promise<void> {
    if (this.server) throw new Error('already started');
    await this.startServer();
    await this.startBrowser();
    await this.waitForWorkbench();
  }

  private async startServer(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.port = await freePort();
      const args = [
        ...this.baseArgs(),
        '--auth',
        'none',
        '--bind-addr',
        `127.0.0.1:${this.port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--disable-file-downloads',
        '--ignore-last-opened',
        // Safety net: if this process dies without close() (SIGKILL), the browser goes and so, idle, does the server.
        '--idle-timeout-seconds',
        '300',
        // Without it the extensionDevelopmentPath payload of the URL is silently ignored.
        '--vscode-option',
        'enable-smoke-test-driver',
        this.workspace,
      ];
      const child = spawn(this.setup.node, args, { env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      this.server = child;
      this.serverExited = new Promise((r) => child.once('exit', () => r()));
      const onData = (b: Buffer) => {
        const s = b.toString();
        this.serverOutput += s;
        if (this.serverOutput.length > 2_000_000) this.serverOutput = this.serverOutput.slice(-1_000_000);
        if (this.verbose) process.stderr.write(s.replace(/^/gm, '[code-server] '));
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      let exited = false;
      child.once('exit', () => {
        exited = true;
      });
      const ok = await waitFor(
        async () => {
          if (this.serverOutput.includes(`listening on http://127.0.0.1:${this.port}`)) return true;
          if (exited) return 'exited';
          return undefined;
        },
        () => `code-server to listen on 127.0.0.1:${this.port}; its output:\n${this.serverOutput}`,
        60_000,
        50,
      );
      if (ok === true) break;
      this.server = undefined;
      if (/EADDRINUSE/.test(this.serverOutput) && attempt < 3) continue;
      throw new Error(`code-server exited at start:\n${this.serverOutput}`);
    }
    this.timings.serverListening = Date.now() - this.t0;
  }

  /** The workbench URL: the folder, and the extension to load from source if any. */
  url(): string {
    const q = [`folder=${encodeURIComponent(this.workspace)}`];
    if (this.opts.extensionDevelopmentPath) {
      const dev = path.resolve(this.opts.extensionDevelopmentPath);
      if (!fs.existsSync(path.join(dev, 'package.json'))) throw new Error(`extensionDevelopmentPath has no package.json: ${dev}`);
      q.push(
        `payload=${encodeURIComponent(JSON.stringify([['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${this.port}${dev}`]]))}`,
      );
    }
    return `http://127.0.0.1:${this.port}/?${q.join('&')}`;
  }

  private async startBrowser(): Promise<void> {
    const vp = this.opts.viewport ?? { width: 1400, height: 900 };
    this.context = await chromium.launchPersistentContext(this.profileDir, {
      executablePath: this.setup.chromium,
      headless: true,
      viewport: vp,
      deviceScaleFactor: 1,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-default-apps',
      ],
    });
    const page = this.context.pages()[0] ?? (await this.context.newPage());
    this._page = page;
    page.setDefaultTimeout(30_000);
    page.on('console', (m) => {
      const e = { type: m.type(), text: m.text(), time: Date.now() - this.t0 };
      this.console.push(e);
      if (this.console.length > 20_000) this.console.splice(0, 10_000);
      if (this.verbose && e.text.startsWith('%c[Extension Host]')) process.stderr.write(`[extension host] ${cleanExtHost(e.text)}\n`);
    });
    page.on('pageerror', (e) => {
      this.pageErrors.push(String(e?.stack ?? e));
    });
    await page.goto(this.url(), { waitUntil: 'domcontentloaded', timeout: 60_000 });
    this.timings.pageLoaded = Date.now() - this.t0;
  }

  /** Waits until the workbench's parts are laid out (the extension host may still be starting). */
  async waitForWorkbench(timeoutMs = 90_000): Promise<void> {
    const p = this.page;
    await p.locator('.monaco-workbench .part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
    await p.locator('.monaco-workbench .part.editor').waitFor({ state: 'visible', timeout: timeoutMs });
    this.timings.workbenchReady ??= Date.now() - this.t0;
  }

  /** The directory of the newest extension host's logs (server side), if any. */
  private extHostLogDir(): string | undefined {
    const logs = path.join(this.userDataDir, 'logs');
    const dirs = listFiles(logs)
      .filter((f) => path.basename(f) === 'remoteexthost.log')
      .map((f) => path.dirname(f));
    dirs.sort((a, b) => fs.statSync(path.join(b, 'remoteexthost.log')).mtimeMs - fs.statSync(path.join(a, 'remoteexthost.log')).mtimeMs);
    return dirs[0];
  }

  /** The extension host's log (the "Extension Host" output channel: activations, activation errors). */
  extensionHostLog(): string {
    const d = this.extHostLogDir();
    return d ? fs.readFileSync(path.join(d, 'remoteexthost.log'), 'utf8') : '';
  }

  /**
   * What extensions printed in the extension host (console.log/info/warn/error/debug), as VS Code forwards it
   * to the workbench's console, in order (for extensions from source and from a .vsix alike).
   */
  extensionHostConsole(): string[] {
    return this.console.filter((e) => e.text.startsWith('%c[Extension Host]')).map((e) => cleanExtHost(e.text));
  }

  /** Waits for a line of the extension host's console (see extensionHostConsole) that matches, returns it. */
  async waitForExtensionHostConsole(re: RegExp, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      () => this.extensionHostConsole().find((l) => re.test(l)),
      () => `an extension host console line matching ${re} (got: ${JSON.stringify(this.extensionHostConsole().slice(-10))})`,
      timeoutMs,
    );
  }

  /** Waits until the extension host activated extension `id` (publisher.name); throws on an activation error. */
  async waitForExtension(id: string, timeoutMs = 60_000): Promise<void> {
    const idl = id.toLowerCase();
    await waitFor(
      () => {
        const log = this.extensionHostLog();
        const failed = log
          .split('\n')
          .findIndex(
            (l) =>
              l.toLowerCase().includes(`activating extension ${idl} failed`) ||
              l.toLowerCase().includes(`activating extension '${idl}' failed`),
          );
        if (failed >= 0)
          throw new WaitAbort(
            `extension ${id} failed to activate:\n${log
              .split('\n')
              .slice(failed, failed + 15)
              .join('\n')}`,
          );
        return log.toLowerCase().includes(`_doactivateextension ${idl},`) || undefined;
      },
      () => `extension ${id} to activate; extension host log:\n${this.extensionHostLog()}`,
      timeoutMs,
    );
    // Activation started; let activate() run to its end (commands registered).
    await sleep(300);
  }

  /** Closes any quick input, notification centre or find widget, and focuses the workbench (not a webview). */
  private async focusWorkbench(): Promise<void> {
    const p = this.page;
    if (await p.locator('.quick-input-widget').isVisible()) await p.keyboard.press('Escape');
    await p.evaluate(() => {
      const d = (globalThis as any).document;
      const a = d.activeElement;
      if (a && a.tagName === 'IFRAME') a.blur();
    });
  }

  private async openQuickInput(key: string, prefix: string): Promise<void> {
    const p = this.page;
    const input = p.locator('.quick-input-widget input.input').first();
    for (let i = 0; i < 4; i++) {
      await this.focusWorkbench();
      if (i >= 2) await p.evaluate(() => (globalThis as any).document.activeElement?.blur());
      await p.keyboard.press(key);
      try {
        await input.waitFor({ state: 'visible', timeout: 3_000 });
        const v = await input.inputValue();
        if (v.startsWith(prefix)) return;
      } catch {
        /* retry */
      }
    }
    throw new Error(`the quick input did not open with ${key}`);
  }

  /** Rows of the open quick input: label (without highlights), description, aria-label. */
  private quickPickRows(): Promise<{ label: string; description: string; aria: string; index: number }[]> {
    return this.page.evaluate(() => {
      const d = (globalThis as any).document;
      const rows = Array.from(d.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row')) as any[];
      return rows.map((r) => ({
        label: (r.querySelector('.label-name')?.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
        description: (r.querySelector('.label-description')?.textContent ?? '').replace(/\u00a0/g, ' ').trim(),
        aria: r.getAttribute('aria-label') ?? '',
        index: Number(r.getAttribute('data-index')),
      }));
    });
  }

  /**
   * Runs a command from the command palette (F1) by its title as the palette shows it, e.g.
   * 'DiffLoRA: Show Attention' ("Category: Title"; a title without category matches if it is unique).
   * Contributed commands appear only once the extension host is up: retries until timeoutMs.
   */
  async runCommand(title: string, timeoutMs = 45_000): Promise<void> {
    const p = this.page;
    const end = Date.now() + timeoutMs;
    let seen: string[] = [];
    for (;;) {
      const dialogs = await this.dialogs();
      if (dialogs.length)
        throw new Error(`cannot run "${title}": a modal dialog is open (dismissDialog() closes it): ${JSON.stringify(dialogs)}`);
      await this.openQuickInput('F1', '>');
      await p.locator('.quick-input-widget input.input').first().fill(`>${title}`);
      // The list filters asynchronously (and gains contributed commands when the extension host registers them).
      const pickEnd = Date.now() + 1_500;
      let row: { index: number } | undefined;
      while (Date.now() < pickEnd && !row) {
        const rows = await this.quickPickRows();
        seen = rows.map((r) => r.label);
        row =
          rows.find((r) => r.label === title) ??
          (() => {
            const m = rows.filter((r) => r.label.endsWith(`: ${title}`));
            return m.length === 1 ? m[0] : undefined;
          })();
        if (!row) await sleep(150);
      }
      // A stale row (the list re-rendered) is retried rather than waited on.
      if (
        row &&
        (await p
          .locator(`.quick-input-widget .quick-input-list .monaco-list-row[data-index="${row.index}"]`)
          .click({ timeout: 3_000 })
          .then(
            () => true,
            () => false,
          ))
      ) {
        await p
          .locator('.quick-input-widget')
          .waitFor({ state: 'hidden', timeout: 10_000 })
          .catch(() => undefined);
        return;
      }
      await p.keyboard.press('Escape');
      if (Date.now() > end)
        throw new Error(`command "${title}" not found in the palette after ${timeoutMs} ms; it showed: ${JSON.stringify(seen)}`);
      await sleep(500);
    }
  }

  /** Opens a workspace file (path relative to the workspace) in an editor through Quick Open, and waits for it. */
  async openFile(rel: string, timeoutMs = 60_000): Promise<void> {
    const p = this.page;
    const base = path.basename(rel);
    const relDir = path.dirname(rel) === '.' ? '' : path.dirname(rel);
    await waitFor(
      async () => {
        await this.openQuickInput('Control+P', '');
        const input = p.locator('.quick-input-widget input.input').first();
        await input.fill(rel);
        const row = await waitFor(
          async () => {
            const rows = await this.quickPickRows();
            return rows.find((r) => r.label === base && (relDir === '' || r.description.replace(/\\/g, '/').endsWith(relDir)));
          },
          `"${rel}" in Quick Open`,
          5_000,
        ).catch(() => undefined);
        if (!row) {
          await p.keyboard.press('Escape');
          return undefined;
        }
        // A short click timeout: the list re-renders as results arrive, and a stale row is retried, not waited on.
        const clicked = await p
          .locator(`.quick-input-widget .quick-input-list .monaco-list-row[data-index="${row.index}"]`)
          .click({ timeout: 3_000 })
          .then(
            () => true,
            () => false,
          );
        if (!clicked) {
          await p.keyboard.press('Escape');
          return undefined;
        }
        return true;
      },
      `Quick Open to offer ${rel}`,
      timeoutMs,
      500,
    );
    await p.locator(`.tabs-container .tab.active[data-resource-name="${base}"]`).first().waitFor({ state: 'visible', timeout: timeoutMs });
    await p.locator('.editor-group-container.active .monaco-editor .view-lines').first().waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** The active text editor's selection as the status bar shows it, e.g. "Ln 1, Col 7 (5 selected)". */
  async selectionStatus(): Promise<string> {
    return plain(await this.page.locator('[id="status.editor.selection"]').first().innerText()).trim();
  }

  /** The status bar's selection readout once it matches `re` and stays the same for 300 ms (it lags the editor). */
  private async settledSelectionStatus(re: RegExp, what: string): Promise<string> {
    let last = '';
    let since = Date.now();
    return waitFor(
      async () => {
        const s = await this.selectionStatus();
        if (s !== last) {
          last = s;
          since = Date.now();
          return undefined;
        }
        return re.test(s) && Date.now() - since >= 300 ? s : undefined;
      },
      () => `${what} (status bar: "${last}")`,
      10_000,
      100,
    );
  }

  /**
   * Selects the `occurrence`-th (1-based) match of `text` in the active editor, through the find widget
   * (literal, case-sensitive search), and returns the status bar's selection readout.
   */
  async selectText(text: string, occurrence = 1): Promise<string> {
    const p = this.page;
    await this.focusEditor();
    await p.keyboard.press('Control+Home');
    await p.keyboard.press('Control+f');
    const find = p.locator('.editor-group-container.active .find-widget.visible');
    await find.waitFor({ state: 'visible', timeout: 10_000 });
    // Literal, case-sensitive: turn regex / whole word off and match case on.
    await find.evaluate((w: any) => {
      const toggle = (sel: string, on: boolean) => {
        const b = w.querySelector(sel);
        if (b && (b.getAttribute('aria-checked') === 'true') !== on) b.click();
      };
      toggle('[aria-label^="Use Regular Expression"]', false);
      toggle('[aria-label^="Match Whole Word"]', false);
      toggle('[aria-label^="Match Case"]', true);
    });
    const input = find.locator('.find-part textarea, .find-part input').first();
    await input.fill(text);
    for (let i = 1; i < occurrence; i++) await input.press('Enter');
    await sleep(150);
    await p.keyboard.press('Escape');
    await find.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
    return this.settledSelectionStatus(/selected/, `a selection of "${text}"`);
  }

  /** Selects whole lines from..to (1-based, inclusive; without the final line break) in the active editor. */
  async selectLines(from: number, to = from): Promise<string> {
    const p = this.page;
    await this.focusEditor();
    await p.keyboard.press('Control+g');
    const input = p.locator('.quick-input-widget input.input').first();
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`:${from}:1`);
    await sleep(100);
    await input.press('Enter');
    await p
      .locator('.quick-input-widget')
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .catch(() => undefined);
    await this.settledSelectionStatus(new RegExp(`^Ln ${from}, Col 1\\b`), `the cursor at line ${from}`);
    for (let i = from; i < to; i++) await p.keyboard.press('Shift+ArrowDown');
    await p.keyboard.press('Shift+End');
    return this.settledSelectionStatus(new RegExp(`^Ln ${to}, `), `a selection of lines ${from}-${to}`);
  }

  /** Moves the cursor of the active editor to line:column (1-based). */
  async goTo(line: number, column = 1): Promise<void> {
    const p = this.page;
    await this.focusEditor();
    await p.keyboard.press('Control+g');
    const input = p.locator('.quick-input-widget input.input').first();
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`:${line}:${column}`);
    await sleep(100);
    await input.press('Enter');
    await p
      .locator('.quick-input-widget')
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .catch(() => undefined);
    await this.settledSelectionStatus(new RegExp(`^Ln ${line}, Col ${column}\\b`), `the cursor at ${line}:${column}`);
  }

  /** Gives the keyboard to the active editor's text area (without moving its cursor). */
  async focusEditor(): Promise<void> {
    await this.focusWorkbench();
    const ta = this.page
      .locator(
        '.editor-group-container.active .monaco-editor textarea.inputarea, .editor-group-container.active .monaco-editor .native-edit-context',
      )
      .first();
    await ta.focus();
  }

  /** The active text editor's visible lines (Monaco renders only what is on screen). */
  async editorText(): Promise<string> {
    const lines = await this.page
      .locator('.editor-group-container.active .monaco-editor .view-lines')
      .first()
      .evaluate((el: any) =>
        Array.from(el.querySelectorAll('.view-line')).map((l: any) => ({ top: parseFloat(l.style.top), text: l.textContent as string })),
      );
    return plain(
      lines
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text)
        .join('\n'),
    );
  }

  /** Shows the hover at the cursor ("Show or Focus Hover") and returns its text. */
  async hover(timeoutMs = 20_000): Promise<string> {
    await this.runCommand('Show or Focus Hover');
    const h = this.page.locator('.monaco-hover:not(.hidden) .monaco-hover-content').first();
    await h.waitFor({ state: 'visible', timeout: timeoutMs });
    // Providers answer asynchronously ("Loading..." first).
    return waitFor(
      async () => {
        const t = plain(await h.innerText()).trim();
        return t && !/^Loading\.*$/.test(t) ? t : undefined;
      },
      'hover content',
      timeoutMs,
    );
  }

  /**
   * The content of a webview, for locators: page.frameLocator(iframe).frameLocator('#active-frame').
   * With `title`, the webview of the editor tab with that title (the tab is activated first); without it,
   * the only visible webview. Waits until it exists.
   */
  async webviewFrame(title?: string, timeoutMs = 30_000): Promise<FrameLocator> {
    const p = this.page;
    const name = await waitFor(
      async () => {
        if (title !== undefined) {
          // An editor tab with that title: activate it (a webview in a hidden tab has no frame on screen).
          const titles = (this.lastTabs = await this.tabTitles());
          const i = titles.indexOf(title) >= 0 ? titles.indexOf(title) : titles.findIndex((t) => t.includes(title));
          if (i >= 0) {
            const tab = p.locator('.tabs-container .tab').nth(i);
            if (!(await tab.evaluate((t: any) => t.classList.contains('active')))) await tab.click();
          }
        }
        const found = await p.evaluate((title: string | null) => {
          const d = (globalThis as any).document;
          const visible = (e: any) => {
            const r = e.getBoundingClientRect();
            const cs = (globalThis as any).getComputedStyle(e.parentElement ?? e);
            return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
          };
          const frames = (Array.from(d.querySelectorAll('iframe.webview.ready')) as any[]).filter(visible);
          if (title === null)
            return frames.length === 1 ? frames[0].getAttribute('name') : frames.length > 1 ? { many: frames.length } : undefined;
          // Where the titled webview is: the editor area of the group whose active tab has that title, else the
          // body of a view (sidebar or panel) with that title. The webview is the one whose centre lies inside.
          const text = (e: any) => (e?.textContent ?? '').replace(/\u00a0/g, ' ').trim();
          const label = (t: any) =>
            (text(t.querySelector('.monaco-icon-name-container')) + text(t.querySelector('.monaco-icon-suffix-container'))).trim();
          const pick = <T>(items: T[], get: (x: T) => string): T[] => {
            const exact = items.filter((x) => get(x) === title);
            return exact.length ? exact : items.filter((x) => get(x).includes(title));
          };
          const regions: any[] = [];
          for (const t of pick(Array.from(d.querySelectorAll('.tabs-container .tab.active')) as any[], label)) {
            regions.push(t.closest('.editor-group-container')?.querySelector('.editor-container'));
          }
          for (const pane of pick(Array.from(d.querySelectorAll('.pane')) as any[], (x) => text(x.querySelector('.pane-header .title')))) {
            regions.push(pane.querySelector('.pane-body'));
          }
          for (const part of pick(Array.from(d.querySelectorAll('.part.sidebar, .part.panel, .part.auxiliarybar')) as any[], (x) =>
            text(x.querySelector('.composite.title .title-label')),
          )) {
            regions.push(part.querySelector('.content'));
          }
          for (const g of regions) {
            if (!g) continue;
            const gr = g.getBoundingClientRect();
            const f = frames.find((f) => {
              const r = f.getBoundingClientRect();
              const cx = r.left + r.width / 2,
                cy = r.top + r.height / 2;
              return cx >= gr.left && cx <= gr.right && cy >= gr.top && cy <= gr.bottom;
            });
            if (f) return f.getAttribute('name');
          }
          return undefined;
        }, title ?? null);
        if (found && typeof found === 'object') throw new WaitAbort(`${found.many} webviews are visible: pass the title of one`);
        return found as string | undefined;
      },
      () => `a webview${title !== undefined ? ` titled "${title}"` : ''} (tabs: ${JSON.stringify(this.lastTabs)})`,
      timeoutMs,
    );
    const frame = p.frameLocator(`iframe.webview.ready[name="${name}"]`).frameLocator('#active-frame');
    await frame.locator('body').waitFor({ state: 'attached', timeout: timeoutMs });
    return frame;
  }

  /** Titles of the open editor tabs (all groups), e.g. 'notes.txt', 'DiffLoRA Attention'. */
  async tabTitles(): Promise<string[]> {
    return this.page.locator('.tabs-container .tab').evaluateAll((tabs: any[]) =>
      tabs.map((t) => {
        const part = (sel: string) => t.querySelector(sel)?.textContent ?? '';
        return (part('.monaco-icon-name-container') + part('.monaco-icon-suffix-container')).replace(/\u00a0/g, ' ').trim();
      }),
    );
  }

  /**
   * Texts of all notifications (info, warning, error, progress), read from the notification centre, which is
   * opened (the bell in the status bar) and closed again. (With the smoke-test driver on, which loading an
   * extension from source needs, VS Code shows no toasts: the centre is where notifications are.)
   * Errors thrown by commands are not notifications but modal dialogs: see dialogs().
   */
  async notifications(): Promise<string[]> {
    const p = this.page;
    const center = p.locator('.notifications-center.visible');
    const wasOpen = (await center.count()) > 0;
    if (!wasOpen) {
      await this.focusWorkbench();
      const bell = p.locator('[id="status.notifications"] a, [id="status.notifications"]').first();
      if (await bell.count()) await bell.click();
      else await this.runCommand('Notifications: Show Notifications');
      await center.waitFor({ state: 'visible', timeout: 10_000 });
    }
    const texts = await p
      .locator('.notifications-center .notification-list-item-message')
      .evaluateAll((els: any[]) => els.map((e) => (e.textContent ?? '').replace(/\u00a0/g, ' ').trim()));
    if (!wasOpen) {
      const bell = p.locator('[id="status.notifications"] a, [id="status.notifications"]').first();
      if (await bell.count()) await bell.click();
      else await p.keyboard.press('Escape');
      await center.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
    }
    return texts;
  }

  /** Waits for a notification whose text matches, returns its text. */
  async waitForNotification(re: RegExp, timeoutMs = 30_000): Promise<string> {
    let seen: string[] = [];
    return waitFor(
      async () => {
        seen = await this.notifications();
        return seen.find((t) => re.test(t));
      },
      () => `a notification matching ${re} (notifications: ${JSON.stringify(seen)})`,
      timeoutMs,
      1_000,
    );
  }

  /** Texts of the modal dialogs on screen (e.g. "Command 'X' resulted in an error" + its message). */
  async dialogs(): Promise<string[]> {
    return this.page.locator('.monaco-dialog-box').evaluateAll((els: any[]) =>
      els.map((e) =>
        [e.querySelector('.dialog-message-text')?.textContent, e.querySelector('.dialog-message-detail')?.textContent]
          .filter((x: string | undefined) => x)
          .join('\n')
          .replace(/\u00a0/g, ' ')
          .trim(),
      ),
    );
  }

  /** Waits for a modal dialog whose text matches, returns its text. */
  async waitForDialog(re: RegExp, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      async () => (await this.dialogs()).find((t) => re.test(t)),
      () => `a dialog matching ${re}`,
      timeoutMs,
    );
  }

  /** Closes the modal dialog by its button `button` (default: the first, e.g. OK) or by its close button. */
  async dismissDialog(button?: string): Promise<void> {
    const p = this.page;
    const box = p.locator('.monaco-dialog-box').first();
    if (!(await box.count())) return;
    const b =
      button !== undefined
        ? box.locator('.dialog-buttons .monaco-button', { hasText: button }).first()
        : box.locator('.dialog-buttons .monaco-button').first();
    if (await b.count()) await b.click();
    else await box.locator('.dialog-close-action, .codicon-dialog-close, [aria-label="Close Dialog"]').first().click();
    await box.waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
  }

  /** Names of the output channels the extension host created (from their log files). */
  outputChannels(): string[] {
    return this.outputChannelFiles().map((f) => f.name);
  }

  private outputChannelFiles(): { name: string; file: string; mtime: number }[] {
    const d = this.extHostLogDir();
    if (!d) return [];
    // Plain channels in output_logging_*/N-name.log; log channels ({ log: true }) in <publisher.extension>/name.log.
    return listFiles(d)
      .filter(
        (f) =>
          /(^|[\\/])output_logging_[^\\/]+[\\/]\d+-.+\.log$/.test(f) ||
          (path.relative(d, f).split(path.sep).length === 2 && /^[^.\\/]+\.[^\\/]+$/.test(path.basename(path.dirname(f)))),
      )
      .map((f) => ({
        name: path
          .basename(f)
          .replace(/^\d+-/, '')
          .replace(/\.log$/, ''),
        file: f,
        mtime: fs.statSync(f).mtimeMs,
      }))
      .sort((a, b) => b.mtime - a.mtime);
  }

  /**
   * The whole text of an extension's output channel (vscode.window.createOutputChannel(name)), read from the
   * file the extension host writes it to (complete, unlike the panel, which renders visible lines only).
   * Log output channels ({ log: true }) live in the extension's own log folder: see extensionLogText.
   * Waits up to timeoutMs for the channel to exist (and, with `until`, for its text to match).
   */
  async outputChannelText(name: string, until?: RegExp, timeoutMs = 15_000): Promise<string> {
    return waitFor(
      () => {
        const f = this.outputChannelFiles().find((c) => c.name === name);
        if (!f) return undefined;
        const t = fs.readFileSync(f.file, 'utf8');
        return !until || until.test(t) ? t : undefined;
      },
      () => `output channel "${name}"${until ? ` matching ${until}` : ''} (channels: ${JSON.stringify(this.outputChannels())})`,
      timeoutMs,
    );
  }

  /** Text of the Output panel as shown (visible lines of the selected channel), e.g. after the extension's channel.show(). */
  async outputPanelText(): Promise<{ channel: string; text: string }> {
    const p = this.page;
    const panel = p.locator('.part.panel .pane-body.output-view, .part.panel .output-view').first();
    await panel.waitFor({ state: 'visible', timeout: 15_000 });
    const channel = await p
      .locator('.part.panel .monaco-select-box, .part.panel select')
      .first()
      .evaluate((e: any) => e.value ?? e.title ?? e.textContent)
      .catch(() => '');
    const text = await panel
      .locator('.view-lines')
      .first()
      .evaluate((el: any) =>
        Array.from(el.querySelectorAll('.view-line')).map((l: any) => ({ top: parseFloat(l.style.top), text: l.textContent as string })),
      );
    return {
      channel: plain(String(channel)),
      text: plain(
        text
          .sort((a, b) => a.top - b.top)
          .map((l) => l.text)
          .join('\n'),
      ),
    };
  }

  /** Text of a log file an extension wrote in its log folder (context.logUri, e.g. a LogOutputChannel). */
  extensionLogText(extensionId: string, file?: string): string {
    const d = this.extHostLogDir();
    const dir = d && path.join(d, extensionId);
    const files = dir ? listFiles(dir) : [];
    const f = file ? files.find((x) => path.basename(x) === file) : files[0];
    return f ? fs.readFileSync(f, 'utf8') : '';
  }

  /** Saves a PNG of the whole window to the screenshot directory, prints and returns its path. */
  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(this.shotsDir, { recursive: true });
    const file = path.join(this.shotsDir, `${this.label}-${name.replace(/[^\w.-]+/g, '_')}.png`);
    await this.page.screenshot({ path: file });
    console.log(`screenshot: ${file}`);
    return file;
  }

  /** A short digest for a failing test: server output tail, extension host log tail, console errors. */
  diagnostics(): string {
    const tail = (s: string, n: number) => s.split('\n').slice(-n).join('\n');
    const errors = this.console
      .filter((e) => e.type === 'error')
      .map((e) => e.text.split('\n')[0])
      .slice(-20);
    return [
      `--- code-server output (tail) ---\n${tail(this.serverOutput, 30)}`,
      `--- extension host log (tail) ---\n${tail(this.extensionHostLog(), 30)}`,
      `--- extension host console (tail) ---\n${this.extensionHostConsole().slice(-30).join('\n')}`,
      `--- workbench console errors (tail) ---\n${errors.join('\n')}`,
      `--- page errors ---\n${this.pageErrors.slice(-10).join('\n')}`,
    ].join('\n');
  }

  /** Closes Chromium, kills code-server's whole process group, removes the temporary directories. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.context) await Promise.race([this.context.close().catch(() => undefined), sleep(10_000)]);
    } finally {
      const srv = this.server;
      if (srv?.pid && srv.exitCode === null && srv.signalCode === null) {
        try {
          process.kill(-srv.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        await Promise.race([this.serverExited, sleep(3_000)]);
      }
      // The extension host and other helpers may outlive code-server's main process: kill the whole group.
      if (srv?.pid) {
        try {
          process.kill(-srv.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      this.removeTemp();
      live.delete(this);
    }
  }

  /** Synchronous last-resort cleanup (process exit). */
  killSync(): void {
    if (this.server?.pid) {
      try {
        process.kill(-this.server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.removeTemp();
  }

  private removeTemp(): void {
    if (process.env.VSCODE_TEST_KEEP === '1') {
      if (fs.existsSync(this.tmp)) console.log(`VSCODE_TEST_KEEP: kept ${this.tmp}`);
      return;
    }
    // (A folder given as opts.folder is not under tmp: it stays.)
    for (let i = 0; i < 3; i++) {
      try {
        fs.rmSync(this.tmp, { recursive: true, force: true });
        break;
      } catch {
        /* a process still writing: retry */
      }
    }
  }
}

/** "%c[Extension Host] %ctext color: blue color: " -> "text". */
function cleanExtHost(s: string): string {
  const n = (s.match(/%c/g) ?? []).length;
  let t = s.replace(/%c/g, '').replace(/^\[Extension Host\]\s*/, '');
  for (let i = 0; i < n; i++) t = t.replace(/\s*color: [^\s]*\s*$/, '');
  return t.trim();
}

/**
 * Prepares, installs opts.vsix, starts, and waits for the workbench. If start fails, everything is cleaned up
 * and the error (with code-server's output) is thrown.
 */
export async function launchVSCode(opts: VSCodeOptions = {}): Promise<VSCode> {
  const vs = VSCode.create(opts);
  try {
    for (const v of opts.vsix ?? []) vs.installVsix(v);
    await vs.start();
    return vs;
  } catch (e) {
    const diag = vs.serverOutput ? `\n${vs.diagnostics()}` : '';
    await vs.close();
    if (e instanceof Error) {
      e.message += diag;
      throw e;
    }
    throw new Error(String(e) + diag);
  }
}

/**
 * Packages an extension folder as a .vsix with @vsce (offline: --no-dependencies, no publishing), returns its path.
 * `cwd` must contain a package.json with publisher, name, version, engines.vscode (and a LICENSE or --skip-license).
 */
export function packageVsix(extensionDir: string, out: string): string {
  const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const r = spawnSync(
    process.execPath,
    [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '-o', path.resolve(out)],
    { cwd: extensionDir, encoding: 'utf8', timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`vsce package in ${extensionDir} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return path.resolve(out);
}
