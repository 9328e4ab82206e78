/**
 * The engine as the rest of the extension sees it: a supervised connection (local child process or
 * remote WebSocket) that loads the configured model and adapters on every (re)start, reports its state
 * in the status bar, its log in the output channel, and crashes as notifications.
 */
import * as vscode from 'vscode';
import { LoadModelParams, LoadModelResult, Methods } from '../../protocol/engine';
import { readSettings } from '../settings';
import { Endpoint, EngineConnection, RequestOptions } from './connection';
import { EngineState, EngineSupervisor } from './supervisor';

const TOKEN_SECRET = 'difflora.engineToken';

export class EngineHost implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('DiffLoRA Engine');
  private readonly status = vscode.window.createStatusBarItem('difflora.engine', vscode.StatusBarAlignment.Left, 50);
  private readonly supervisor: EngineSupervisor;
  private remoteToken?: string;
  private state: EngineState = 'stopped';
  private backend = '';
  /** What the engine has loaded: set after each successful model/load. */
  loaded?: LoadModelResult;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly ctx: vscode.ExtensionContext) {
    this.status.name = 'DiffLoRA engine';
    this.status.command = 'difflora.selectModel';
    this.render();
    this.status.show();
    this.supervisor = new EngineSupervisor({
      endpoint: () => this.endpoint(),
      log: (line) => this.output.appendLine(line),
      onState: (state, detail) => {
        this.state = state;
        if (state === 'ready') this.backend = detail;
        if (state !== 'ready') this.loaded = state === 'stopped' ? undefined : this.loaded;
        this.output.appendLine(`engine: ${state}${detail ? ` (${detail})` : ''}`);
        this.render();
      },
      onCrash: (why, retryInMs) => {
        void vscode.window.showWarningMessage(retryInMs === undefined
          ? `DiffLoRA engine stopped: ${why}. It failed to start several times; fix the cause and run "DiffLoRA: Restart Engine".`
          : `DiffLoRA engine stopped: ${why}. Restarting in ${Math.round(retryInMs / 1000)} s.`, 'Show Log').then((a) => { if (a) this.output.show(); });
      },
      onStarted: (c) => this.loadConfigured(c),
    });
  }

  private endpoint(): Endpoint {
    const s = readSettings(this.ctx.extensionPath);
    if (s.engineUrl) {
      if (!this.remoteToken) throw new Error(`no token for ${s.engineUrl}: run "DiffLoRA: Attach to Remote Engine"`);
      return { kind: 'remote', url: s.engineUrl, token: this.remoteToken };
    }
    return { kind: 'local', node: s.nodePath || process.execPath, script: this.ctx.asAbsolutePath('bin/difflora.js'), args: ['--backend', s.backend] };
  }

  /** Reads the stored remote token (SecretStorage) before the first start. */
  async init(): Promise<void> {
    this.remoteToken = await this.ctx.secrets.get(TOKEN_SECRET);
  }

  async setRemote(url: string, token: string): Promise<void> {
    await this.ctx.secrets.store(TOKEN_SECRET, token);
    this.remoteToken = token;
    await vscode.workspace.getConfiguration('difflora').update('engineUrl', url, vscode.ConfigurationTarget.Global);
  }

  private render(): void {
    const icon = { stopped: '$(circle-outline)', starting: '$(loading~spin)', ready: '$(pulse)', crashed: '$(warning)', failed: '$(error)' }[this.state];
    const model = this.loaded ? ` · ${this.loaded.model.split(/[\\/]/).pop()}${this.loaded.models.length > 1 ? ` +${this.loaded.models.length - 1}` : ''}` : '';
    this.status.text = `${icon} DiffLoRA: ${this.state}${this.state === 'ready' ? ` · ${this.backend}` : ''}${model}`;
    this.status.tooltip = this.loaded
      ? `Engine ${this.state} (${this.backend})\nModel: ${this.loaded.model}\n${this.loaded.models.map((m) => `${m.label}: ${m.kind}`).join('\n')}\nClick to choose the model and adapters.`
      : `Engine ${this.state}. Click to choose the model and adapters.`;
    this.changed.fire();
  }

  private async loadConfigured(c: EngineConnection): Promise<void> {
    const s = readSettings(this.ctx.extensionPath);
    await this.load(c, { model: s.modelPath, adapters: s.adapters });
  }

  private async load(c: EngineConnection, p: LoadModelParams): Promise<LoadModelResult> {
    try {
      this.loaded = await c.request<LoadModelResult>(Methods.loadModel, p);
    } catch (e) {
      this.loaded = undefined;
      this.render();
      throw e;
    }
    this.render();
    return this.loaded;
  }

  /** Loads the configured model and adapters now (after the user changed them). */
  async reload(): Promise<LoadModelResult> {
    const c = await this.supervisor.connection();
    const s = readSettings(this.ctx.extensionPath);
    return this.load(c, { model: s.modelPath, adapters: s.adapters });
  }

  /** The running engine with a model loaded (started and loaded on first use). */
  async ready(): Promise<LoadModelResult> {
    await this.supervisor.connection();
    return this.loaded ?? this.reload();
  }

  request<R, P = unknown>(method: string, params: object, opts?: RequestOptions<P>): Promise<R> {
    return this.supervisor.request<R, P>(method, params, opts);
  }

  async restart(): Promise<void> {
    this.loaded = undefined;
    await this.supervisor.restart();
  }

  /** The local engine's process id (tests kill it to check the restart). */
  async pid(): Promise<number | undefined> {
    return (await this.supervisor.connection()).pid;
  }

  dispose(): void {
    void this.supervisor.dispose();
    this.status.dispose();
    this.output.dispose();
    this.changed.dispose();
  }
}
