/**
 * The engine as the rest of the extension sees it: a supervised connection (local child process or
 * remote WebSocket) that loads the configured model and adapters on every (re)start and whenever
 * their settings change, reports its state (and a model that failed to load) in the status bar, its
 * log in the output channel (timestamped; stack traces only at the Debug log level), and crashes as
 * notifications.
 */
import * as vscode from 'vscode';
import { LoadModelParams, LoadModelResult, Rpc, RpcRequest } from '../../protocol/engine';
import { readSettings } from '../settings';
import { Endpoint, EngineConnection, RequestOptions, RequestParams } from './connection';
import { EngineState, EngineSupervisor } from './supervisor';

const TOKEN_SECRET = 'difflora.engineToken';

export class EngineHost implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('DiffLoRA Engine', { log: true });
  private readonly status = vscode.window.createStatusBarItem('difflora.engine', vscode.StatusBarAlignment.Left, 50);
  private readonly supervisor: EngineSupervisor;
  private remoteToken?: string;
  private state: EngineState = 'stopped';
  private backend = '';
  /** What the engine has loaded: set after each successful model/load. */
  loaded?: LoadModelResult;
  /** Why the configured model or adapters did not load (shown until a load succeeds). */
  loadError?: string;
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
        void vscode.window
          .showWarningMessage(
            retryInMs === undefined
              ? `DiffLoRA engine stopped: ${why}. It failed to start several times; fix the cause and run "DiffLoRA: Restart Engine".`
              : `DiffLoRA engine stopped: ${why}. Restarting in ${Math.round(retryInMs / 1000)} s.`,
            'Show Log',
          )
          .then((a) => {
            if (a) this.output.show();
          });
      },
      onStarted: (c) => this.loadConfigured(c),
    });
    ctx.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        // The running engine follows the settings at once; a stopped one loads them when it starts.
        if ((e.affectsConfiguration('difflora.modelPath') || e.affectsConfiguration('difflora.adapters')) && this.state === 'ready') {
          this.reload().catch(() => undefined);
        }
      }),
    );
  }

  private endpoint(): Endpoint {
    const s = readSettings(this.ctx.extensionPath);
    if (s.engineUrl) {
      if (!this.remoteToken) throw new Error(`no token for ${s.engineUrl}: run "DiffLoRA: Attach to Remote Engine"`);
      return { kind: 'remote', url: s.engineUrl, token: this.remoteToken };
    }
    // At the Debug log level the engine logs stack traces too.
    const debug = this.output.logLevel <= vscode.LogLevel.Debug && this.output.logLevel !== vscode.LogLevel.Off;
    return {
      kind: 'local',
      node: s.nodePath || process.execPath,
      script: this.ctx.asAbsolutePath('bin/difflora.js'),
      args: ['--backend', s.backend, ...(s.threads > 0 ? ['--threads', String(s.threads)] : [])],
      env: debug ? { DIFFLORA_DEBUG: '1' } : {},
    };
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
    const noModel = this.state === 'ready' && this.loadError !== undefined;
    const icon = noModel
      ? '$(error)'
      : { stopped: '$(circle-outline)', starting: '$(loading~spin)', ready: '$(pulse)', crashed: '$(warning)', failed: '$(error)' }[
          this.state
        ];
    const model = this.loaded
      ? ` · ${this.loaded.model.split(/[\\/]/).pop()}${this.loaded.models.length > 1 ? ` +${this.loaded.models.length - 1}` : ''}`
      : '';
    this.status.text = `${icon} DiffLoRA: ${noModel ? 'no model' : this.state}${this.state === 'ready' ? ` · ${this.backend}` : ''}${model}`;
    this.status.tooltip = noModel
      ? `No model loaded: ${this.loadError}\nClick to choose the model and adapters.`
      : this.loaded
        ? `Engine ${this.state} (${this.backend})\nModel: ${this.loaded.model}\n${this.loaded.models.map((m) => `${m.label}: ${m.kind}`).join('\n')}\nClick to choose the model and adapters.`
        : `Engine ${this.state}. Click to choose the model and adapters.`;
    this.status.backgroundColor = noModel ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.changed.fire();
  }

  private async loadConfigured(c: EngineConnection): Promise<void> {
    const s = readSettings(this.ctx.extensionPath);
    await this.load(c, { model: s.modelPath, adapters: s.adapters });
  }

  private async load(c: EngineConnection, p: LoadModelParams): Promise<LoadModelResult> {
    try {
      this.loaded = await c.request(Rpc.loadModel, p);
      this.loadError = undefined;
    } catch (e) {
      const why = settingAtFault(p, (e as Error).message);
      const repeated = why === this.loadError;
      this.loaded = undefined;
      this.loadError = why;
      this.render();
      this.output.error(`no model: ${why}`);
      if (!repeated) {
        void vscode.window.showErrorMessage(`DiffLoRA: no model loaded. ${why}`, 'Open Settings', 'Select Model').then((a) => {
          if (a === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'difflora.modelPath');
          if (a === 'Select Model') void vscode.commands.executeCommand('difflora.selectModel');
        });
      }
      throw new Error(why);
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

  request<P, R, E>(req: RpcRequest<P, R, E>, params: NoInfer<RequestParams<P>>, opts?: RequestOptions<NoInfer<E>>): Promise<R> {
    return this.supervisor.request(req, params, opts);
  }

  async restart(): Promise<void> {
    this.loaded = undefined;
    this.loadError = undefined;
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

/** The engine's load error, prefixed with the setting that names the file at fault, and what to do. */
function settingAtFault(p: LoadModelParams, message: string): string {
  const adapter = p.adapters.find((a) => message.includes(a.path));
  const setting = adapter ? `difflora.adapters ("${adapter.label}": ${adapter.path})` : `difflora.modelPath (${p.model})`;
  return `${setting}: ${message}. Fix the setting, or choose another with "DiffLoRA: Select Model and Adapters".`;
}
