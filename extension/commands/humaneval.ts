/**
 * "DiffLoRA: Compare Completions" (one problem, or the function under the cursor, completed by every
 * loaded model side by side and run against its tests) and "DiffLoRA: Run HumanEval" (the set, pass@k
 * per model, a per-problem drill-down). Generated code runs only in a trusted workspace.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import type { CompareHostMessage, CompareItem, CompareViewMessage, ModelProgress } from '../../protocol/compare';
import {
  CompareParams,
  HUMANEVAL_DEFAULTS,
  HUMANEVAL_EDITOR_DEFAULTS,
  HumanEvalParams,
  HumanEvalResult,
  ProblemRecord,
  Rpc,
} from '../../protocol/engine';
import { EngineHost } from '../engine/engine-host';
import { PanelHost } from '../panels/panel-host';
import { parseKeyValues } from './key-values';

const SCHEME = 'difflora-completion';

export class HumanEvalCommands implements vscode.Disposable {
  private view?: PanelHost<CompareHostMessage, CompareViewMessage>;
  /** What the panel shows, by task id (for diffs, attention and drill-down). */
  private readonly items = new Map<string, CompareItem>();
  private lastRun?: HumanEvalResult;
  private readonly provider: vscode.Disposable;

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly engine: EngineHost,
    private readonly showAttention: () => Promise<void>,
  ) {
    // Completions as read-only documents, for the diff editor.
    this.provider = vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      provideTextDocumentContent: (uri) => {
        const q = new URLSearchParams(uri.query);
        const item = this.items.get(q.get('task') ?? '');
        const c = item?.completions[Number(q.get('model'))];
        return item && c ? item.problem.prompt + c.completion : '';
      },
    });
  }

  dispose(): void {
    this.provider.dispose();
    this.view?.dispose();
  }

  private panel(): PanelHost<CompareHostMessage, CompareViewMessage> {
    if (!this.view || this.view.isClosed) {
      this.view = new PanelHost(
        this.ctx.extensionUri,
        'compare',
        'DiffLoRA Completions',
        (m) => void this.onMessage(m).catch((e: Error) => vscode.window.showErrorMessage(`DiffLoRA: ${e.message}`)),
      );
    }
    this.view.reveal();
    return this.view;
  }

  private async onMessage(m: CompareViewMessage): Promise<void> {
    if (m.type === 'compare.openDiff') {
      const item = this.items.get(m.taskId);
      if (!item) return;
      const uri = (i: number) =>
        vscode.Uri.from({
          scheme: SCHEME,
          path: `/${m.taskId.replace(/\//g, '_')}-${item.completions[i].label}.py`,
          query: `task=${encodeURIComponent(m.taskId)}&model=${i}`,
        });
      await vscode.commands.executeCommand(
        'vscode.diff',
        uri(m.a),
        uri(m.b),
        `${m.taskId}: ${item.completions[m.a].label} ↔ ${item.completions[m.b].label}`,
      );
    } else if (m.type === 'compare.token') {
      await this.attentionAt(m.taskId, m.model, m.offset, m.text.length);
    } else if (m.type === 'compare.openProblem' && this.lastRun) {
      this.showFromRun(m.taskId);
    }
  }

  /** Opens prompt + completion in an editor with the clicked token selected, and runs attention there. */
  private async attentionAt(taskId: string, model: number, offset: number, length: number): Promise<void> {
    const item = this.items.get(taskId);
    const c = item?.completions[model];
    if (!item || !c) return;
    const doc = await vscode.workspace.openTextDocument({ language: 'python', content: item.problem.prompt + c.completion });
    const editor = await vscode.window.showTextDocument(doc, vscode.ViewColumn.One);
    const at = item.problem.prompt.length + offset;
    editor.selection = new vscode.Selection(doc.positionAt(0), doc.positionAt(doc.getText().length));
    await this.showAttention();
    editor.selection = new vscode.Selection(doc.positionAt(at), doc.positionAt(at + Math.max(1, length)));
    editor.revealRange(editor.selection);
  }

  private async problemsFile(): Promise<string | undefined> {
    const configured = vscode.workspace.getConfiguration('difflora').get<string>('humanEval.problemsPath');
    if (configured) return configured;
    const found = await vscode.workspace.findFiles('**/HumanEval*.jsonl{,.gz}', '**/node_modules/**', 5);
    const items = [
      ...found.map((f) => ({ label: vscode.workspace.asRelativePath(f), file: f.fsPath })),
      { label: '$(folder-opened) Browse…', file: '' },
      { label: '$(cloud-download) Download the official set (once, then cached)', file: 'download' },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'HumanEval problems (.jsonl or .jsonl.gz)' });
    if (!pick) return undefined;
    if (pick.file === 'download') return '';
    if (pick.file) return pick.file;
    const uri = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { HumanEval: ['jsonl', 'gz'] } });
    return uri?.[0]?.fsPath;
  }

  /** The Python function around the cursor, from its `def` to the cursor's line: a prompt without tests. */
  private functionUnderCursor(): ProblemRecord | undefined {
    const e = vscode.window.activeTextEditor;
    if (!e) return undefined;
    const doc = e.document;
    let line = e.selection.active.line;
    while (line >= 0 && !/^\s*(async\s+)?def\s+\w+/.test(doc.lineAt(line).text)) line--;
    if (line < 0) return undefined;
    const name = /def\s+(\w+)/.exec(doc.lineAt(line).text)![1];
    const prompt = doc.getText(new vscode.Range(line, 0, e.selection.active.line, doc.lineAt(e.selection.active.line).text.length)) + '\n';
    return { task_id: `${path.basename(doc.fileName)}:${name}`, prompt, entry_point: name };
  }

  async compare(): Promise<void> {
    const here = this.functionUnderCursor();
    const source = await vscode.window.showQuickPick(
      [
        ...(here ? [{ label: `$(symbol-function) ${here.entry_point} (under the cursor)`, id: 'cursor' }] : []),
        { label: '$(checklist) A HumanEval problem…', id: 'humaneval' },
      ],
      { title: 'DiffLoRA: compare completions of' },
    );
    if (!source) return;
    let problem = here;
    if (source.id === 'humaneval') {
      const file = await this.problemsFile();
      if (file === undefined) return;
      const { problems } = await this.engine.request(Rpc.problems, { path: file });
      const pick = await vscode.window.showQuickPick(
        problems.map((p) => ({ label: p.task_id, description: p.prompt.split('"""')[1]?.trim().split('\n')[0] ?? '', p })),
        { title: 'Problem', matchOnDescription: true },
      );
      if (!pick) return;
      problem = pick.p;
    }
    if (!problem) return;
    await this.compareProblem(problem);
  }

  async compareProblem(problem: ProblemRecord): Promise<void> {
    const trusted = vscode.workspace.isTrusted;
    const execute = trusted && !!problem.test;
    if (problem.test && !trusted)
      void vscode.window.showWarningMessage('DiffLoRA: this workspace is not trusted, so the completions are not executed.');
    const view = this.panel();
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `DiffLoRA: completing ${problem.task_id}`, cancellable: true },
      async (progress, token) => {
        await this.engine.ready();
        const r = await this.engine.request(Rpc.compare, { problem, execute } satisfies CompareParams, {
          cancel: token,
          onProgress: (m) => progress.report({ message: m }),
        });
        this.items.set(problem.task_id, r.item);
        view.post({ type: 'compare.mode', mode: 'problem' });
        view.post({ type: 'compare.problem', item: r.item });
        if (r.sandboxWarning) void vscode.window.showWarningMessage(`DiffLoRA: ${r.sandboxWarning}`);
      },
    );
  }

  async runSet(): Promise<void> {
    const file = await this.problemsFile();
    if (file === undefined) return;
    const opts = await vscode.window.showInputBox({
      title: 'HumanEval run: settings (key=value)',
      value: editorDefaults(),
      validateInput: (v) => {
        try {
          parseKeyValues(v);
          return undefined;
        } catch (e) {
          return (e as Error).message;
        }
      },
    });
    if (opts === undefined) return;
    const o = parseKeyValues(opts);
    const num = (k: string) => (o[k] === undefined ? undefined : Number(o[k]));
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
    const outDir = path.join(ws ?? this.ctx.globalStorageUri.fsPath, '.difflora', 'humaneval', stamp);
    const execute = vscode.workspace.isTrusted;
    if (!execute)
      void vscode.window.showWarningMessage('DiffLoRA: this workspace is not trusted: completions are generated but not executed.');
    const params: HumanEvalParams = {
      problemsPath: file,
      outDir,
      n: num('n'),
      k: typeof o.k === 'string' ? o.k.split(',').map(Number) : undefined,
      temperature: num('temperature'),
      maxNewTokens: num('maxNewTokens'),
      limit: num('limit'),
      timeoutSec: num('timeoutSec'),
      seed: num('seed'),
      execute,
    };
    const loaded = await this.engine.ready();
    const view = this.panel();
    const { problems } = await this.engine.request(Rpc.problems, { path: file });
    const taskIds = problems.slice(0, params.limit ?? problems.length).map((p) => p.task_id);
    view.post({ type: 'compare.mode', mode: 'run' });
    view.post({
      type: 'compare.run',
      run: {
        title: `HumanEval · ${path.basename(outDir)}`,
        models: loaded.models.map((m) => ({ label: m.label, kind: m.kind })),
        taskIds,
        n: params.n ?? HUMANEVAL_DEFAULTS.n,
        ks: params.k ?? [...HUMANEVAL_EDITOR_DEFAULTS.k],
        temperature: params.temperature,
      },
    });
    const state: ModelProgress[] = loaded.models.map((_, i) => ({
      model: i,
      generated: 0,
      executed: 0,
      total: taskIds.length * (params.n ?? HUMANEVAL_DEFAULTS.n),
    }));
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'DiffLoRA: HumanEval', cancellable: true },
        (progress, token) =>
          this.engine.request(Rpc.humanEval, params, {
            cancel: token,
            onProgress: (e) => {
              const i = 'model' in e ? loaded.models.findIndex((m) => m.label === e.model) : -1;
              if (e.type === 'generate' && i >= 0) state[i].generated = e.done;
              if (e.type === 'execute' && i >= 0) state[i].executed = e.done;
              if (e.type === 'warning') void vscode.window.showWarningMessage(`DiffLoRA: ${e.message}`);
              if (e.type === 'generate' || e.type === 'execute') {
                view.post({ type: 'compare.runProgress', progress: state });
                progress.report({ message: `${e.model}: ${e.type === 'generate' ? 'generated' : 'executed'} ${e.done}/${e.total}` });
              }
            },
          }),
      );
      this.lastRun = r;
      view.post({
        type: 'compare.runResults',
        results: r.models.flatMap((m, i) => m.perTask.map((t) => ({ taskId: t.task_id, model: i, executed: t.n, passed: t.c }))),
      });
      view.post({ type: 'compare.runStatus', status: r.cancelled ? 'cancelled' : 'finished' });
      for (const p of problems) if (taskIds.includes(p.task_id)) this.problemsById.set(p.task_id, p);
      const table = r.models
        .map(
          (m) =>
            `${m.label}: ${
              Object.entries(m.passAtK)
                .map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`)
                .join(', ') || `${m.passed}/${m.samples} passed`
            }`,
        )
        .join(' · ');
      void vscode.window.showInformationMessage(
        `DiffLoRA HumanEval${r.cancelled ? ' (cancelled)' : ''}: ${table}. Samples and results in ${outDir}.`,
      );
    } catch (e) {
      view.post({ type: 'compare.runStatus', status: 'failed', error: (e as Error).message });
      throw e;
    }
  }

  private readonly problemsById = new Map<string, ProblemRecord>();

  /** Drill-down: a problem of the last run, its first sample per model, with the recorded results. */
  private showFromRun(taskId: string): void {
    const p = this.problemsById.get(taskId);
    if (!p || !this.lastRun) return;
    const item: CompareItem = {
      problem: { task_id: p.task_id, prompt: p.prompt, entry_point: p.entry_point },
      completions: this.lastRun.models.map((m) => {
        const r = m.results.find((x) => x.task_id === taskId);
        const status = !r ? undefined : r.passed ? 'passed' : r.result === 'timed out' ? 'timed-out' : 'failed';
        return {
          label: m.label,
          kind: m.kind,
          completion: r?.completion ?? '',
          status,
          reason: r && !r.passed ? r.result.replace(/^failed: /, '') : undefined,
          sample: r?.sample_index,
        };
      }),
    };
    this.items.set(taskId, item);
    this.panel().post({ type: 'compare.problem', item });
  }
}

/** The run's settings box pre-filled from the one table of editor defaults, e.g. 'n=1 k=1 temperature=0 ...'. */
function editorDefaults(): string {
  const d = HUMANEVAL_EDITOR_DEFAULTS;
  return `n=${d.n} k=${d.k.join(',')} temperature=${d.temperature} maxNewTokens=${d.maxNewTokens} timeoutSec=${d.timeoutSec}`;
}
