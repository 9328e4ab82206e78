/**
 * "DiffLoRA: Train Adapter": pick the method preset, the dataset and the hyperparameters (the paper's
 * defaults), then train in the engine with a cancellable progress notification and the training panel
 * (live loss, lr, tokens/s, lambda per layer). A cancelled run keeps its checkpoint and can be resumed
 * (from the notification or the panel); a finished one joins the adapters view.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { Rpc, TrainParams, TrainResult } from '../../protocol/engine';
import { trainOptionDefaults, type TrainingHostMessage, type TrainingViewMessage, type TrainOptionValues } from '../../protocol/training';
import { EngineHost } from '../engine/engine-host';
import { PanelHost } from '../panels/panel-host';
import { readSettings } from '../settings';
import { RunRegistry } from '../views/runs';
import { trainOptionsForm } from './train-form';

const PRESETS = [
  { label: 'difflora-32', detail: "DiffLoRA, both terms (Q1/K1 and Q2/K2 adapters), r = 32: the paper's best" },
  { label: 'difflora-64', detail: 'DiffLoRA, negative term only, r = 64' },
  { label: 'lora', detail: 'LoRA on q, k, v, o, r = 16' },
  { label: 'lora-matched', detail: 'LoRA with the rank doubled on q, k (r = 64): as many parameters as DiffLoRA' },
];

interface Run {
  params: TrainParams;
  panel?: PanelHost<TrainingHostMessage, TrainingViewMessage>;
  cancel?: vscode.CancellationTokenSource;
}

export class TrainAdapterCommand {
  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly engine: EngineHost,
    private readonly runs: RunRegistry,
  ) {}

  async run(): Promise<void> {
    const s = readSettings(this.ctx.extensionPath);
    const method = await vscode.window.showQuickPick(PRESETS, { title: 'Train adapter (1/4): method', placeHolder: 'method preset' });
    if (!method) return;
    const data = await this.pickDataset();
    if (!data) return;
    let options: TrainOptionValues | undefined = {};
    for (;;) {
      options = await trainOptionsForm('Train adapter (3/4): hyperparameters', options);
      if (!options) return;
      // What training will make of the data, before it starts.
      const go = await this.confirmData(data, options);
      if (go === 'train') break;
      if (go === 'cancel') return;
    }
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(data);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
    const out = await vscode.window.showInputBox({
      title: 'Train adapter (4/4): output folder',
      value: path.join(ws, '.difflora', 'adapters', `${method.label}-${stamp}`),
    });
    if (!out) return;
    await this.train({ params: { model: s.modelPath, method: method.label, data, out, options } });
  }

  /** Shows kept / truncated / skipped (and why) for these options; 'back' returns to the form. */
  private async confirmData(data: string, options: TrainOptionValues): Promise<'train' | 'back' | 'cancel'> {
    await this.engine.ready();
    const r = await this.engine.request(Rpc.dataSummary, { data, options });
    const lines = [
      `${r.kept} examples (${r.format}) will be trained on${r.truncated ? `, ${r.truncated} of them truncated to ${r.maxLength} tokens` : ''}.`,
      r.skipped
        ? `${r.skipped} lines left out: ${r.skippedFirst.map((x) => `${path.basename(x.where)}: ${x.reason}`).join('; ')}${r.skipped > r.skippedFirst.length ? '; …' : ''}`
        : 'No line is left out.',
    ];
    this.engine.output.info(`data ${data}: ${lines.join(' ')}`);
    if (!r.skipped && !r.truncated) return 'train';
    const a = await vscode.window.showWarningMessage(
      `DiffLoRA: ${path.basename(data)}`,
      { modal: true, detail: lines.join('\n') },
      'Train',
      'Change Settings',
    );
    return a === 'Train' ? 'train' : a === 'Change Settings' ? 'back' : 'cancel';
  }

  private async pickDataset(): Promise<string | undefined> {
    const files = await vscode.workspace.findFiles('**/*.jsonl', '**/{node_modules,.difflora}/**', 200);
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const extract = {
      label: '$(wand) Extract pairs from this workspace',
      detail: 'signature + docstring -> body of the functions in its Python files',
      path: '',
    };
    const browse = { label: '$(folder-opened) Browse…', path: '' };
    const items = [...files.map((f) => ({ label: vscode.workspace.asRelativePath(f), path: f.fsPath })), ...(ws ? [extract] : []), browse];
    const pick = await vscode.window.showQuickPick(items, {
      title: 'Train adapter (2/4): dataset (JSONL: messages, prompt/completion or text)',
    });
    if (!pick) return undefined;
    if (pick === extract) {
      const out = path.join(ws!, '.difflora', 'data', 'workspace-pairs.jsonl');
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'DiffLoRA: extracting pairs from the workspace' },
        async () => {
          await this.engine.ready();
          return this.engine.request(Rpc.dataExtract, { folder: ws!, out });
        },
      );
      if (r.pairs === 0) throw new Error(`no (signature + docstring -> body) pairs in the Python files of ${ws} (${r.files} files seen)`);
      void vscode.window.showInformationMessage(
        `DiffLoRA: ${r.pairs} pairs from ${r.files} Python files -> ${vscode.workspace.asRelativePath(r.out)}`,
      );
      return r.out;
    }
    if (pick !== browse) return pick.path;
    const uri = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'JSON Lines': ['jsonl'] } });
    return uri?.[0]?.fsPath;
  }

  private panelFor(run: Run): PanelHost<TrainingHostMessage, TrainingViewMessage> {
    if (!run.panel || run.panel.isClosed) {
      run.panel = new PanelHost(this.ctx.extensionUri, 'training', `Train: ${path.basename(run.params.out)}`, (m) => {
        if (m.type === 'training.cancel') run.cancel?.cancel();
        if (m.type === 'training.resume' && !run.cancel) void this.train(run, true);
      });
    }
    return run.panel;
  }

  private async train(run: Run, resume = false): Promise<void> {
    const p = { ...run.params, resume };
    const panel = this.panelFor(run);
    if (resume) panel.post({ type: 'training.status', status: 'running' });
    else
      panel.post({
        type: 'training.run',
        run: {
          model: p.model,
          method: p.method,
          dataset: p.data,
          outputDir: p.out,
          totalSteps: 0,
          details: { ...trainOptionDefaults(), ...p.options },
        },
      });
    this.runs.update({ out: p.out, method: p.method, status: 'running' });
    run.cancel = new vscode.CancellationTokenSource();
    let result: TrainResult | undefined;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `DiffLoRA: training ${p.method}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => run.cancel?.cancel());
          let last = 0;
          return this.engine.request(Rpc.train, p, {
            cancel: run.cancel!.token,
            onProgress: (e) => {
              if (e.type === 'log') return;
              panel.post({ type: 'training.event', event: e });
              if (e.type === 'step') {
                const pct = (100 * e.step) / e.totalSteps;
                progress.report({
                  increment: pct - last,
                  message: `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(4)} · ${Math.round(e.tokensPerSec)} tok/s`,
                });
                last = pct;
              }
            },
          });
        },
      );
    } catch (e) {
      const msg = (e as Error).message;
      panel.post({ type: 'training.status', status: 'failed', error: msg });
      this.runs.update({ out: p.out, method: p.method, status: 'failed' });
      void vscode.window.showErrorMessage(`DiffLoRA: training failed: ${msg}`);
      return;
    } finally {
      run.cancel?.dispose();
      run.cancel = undefined;
    }
    if (result.cancelled) {
      panel.post({ type: 'training.status', status: 'cancelled' });
      this.runs.update({ out: p.out, method: p.method, status: 'cancelled', steps: result.steps });
      const a = await vscode.window.showInformationMessage(
        `DiffLoRA: training stopped at step ${result.steps}; the checkpoint is in ${p.out}.`,
        'Resume',
      );
      if (a === 'Resume') await this.train(run, true);
      return;
    }
    panel.post({ type: 'training.status', status: 'finished' });
    this.runs.update({
      out: p.out,
      method: p.method,
      status: 'finished',
      steps: result.steps,
      finalLoss: result.finalLoss,
      kind: result.kind,
    });
    const a = await vscode.window.showInformationMessage(
      `DiffLoRA: trained ${p.method} in ${result.steps} steps (final loss ${result.finalLoss.toFixed(4)}).`,
      'Load Adapter',
    );
    if (a === 'Load Adapter') await vscode.commands.executeCommand('difflora.loadAdapter', p.out);
  }
}
