/**
 * DiffLoRA Lens, the VS Code side: commands, the engine host, hover-to-inspect, panels and the
 * activity-bar view. Activation is lazy (on a command or the view): the engine starts on first use.
 */
import * as vscode from 'vscode';
import { AnalysisCommand } from './commands/analyses';
import { HumanEvalCommands } from './commands/humaneval';
import { attachRemote, loadAdapter, selectModel } from './commands/model-selection';
import { AttentionCommand } from './commands/show-attention';
import { TrainAdapterCommand } from './commands/train-adapter';
import { diagnosticsLine } from './diagnostics';
import { EngineHost } from './engine/engine-host';
import { InspectionStore } from './inspect/hover';
import { ModelsTree } from './views/models-tree';
import { RunRegistry } from './views/runs';

/** Runs a command and turns its failure into one error message (cancelling is not a failure). */
function guarded(name: string, log: vscode.LogOutputChannel, fn: (...args: never[]) => Promise<unknown>) {
  return async (...args: never[]) => {
    try {
      await fn(...args);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/cancel/i.test(msg)) return;
      log.error(`${name} failed: ${msg}`);
      log.debug((e as Error).stack ?? msg);
      void vscode.window.showErrorMessage(`DiffLoRA: ${msg}`, 'Show Log').then((a) => {
        if (a) log.show();
      });
    }
  };
}

export interface ExtensionApi {
  /** For tests: the engine host (its process id, its state). */
  engine: EngineHost;
}

export async function activate(ctx: vscode.ExtensionContext): Promise<ExtensionApi> {
  const engine = new EngineHost(ctx);
  await engine.init();
  const store = new InspectionStore();
  const runs = new RunRegistry(ctx.globalState);
  const attention = new AttentionCommand(ctx, engine, store, engine.output);
  const train = new TrainAdapterCommand(ctx, engine, runs);
  const analyses = new AnalysisCommand(ctx, engine);
  const humanEval = new HumanEvalCommands(ctx, engine, () => attention.run());
  const log = engine.output;
  const command = (id: string, fn: (...args: never[]) => Promise<unknown>) => vscode.commands.registerCommand(id, guarded(id, log, fn));
  ctx.subscriptions.push(
    engine,
    store,
    humanEval,
    vscode.window.registerTreeDataProvider('difflora.models', new ModelsTree(ctx, engine, runs)),
    command('difflora.showAttention', () => attention.run()),
    command('difflora.trainAdapter', () => train.run()),
    command('difflora.compareCompletions', () => humanEval.compare()),
    command('difflora.runHumanEval', () => humanEval.runSet()),
    command('difflora.selectModel', () => selectModel(ctx, engine, runs)),
    command('difflora.loadAdapter', (dir: string) => loadAdapter(ctx, engine, dir)),
    command('difflora.restartEngine', async () => {
      await engine.restart();
      await engine.ready();
      void vscode.window.showInformationMessage('DiffLoRA: engine restarted.');
    }),
    command('difflora.attachRemote', () => attachRemote(engine)),
    command('difflora.useLocalEngine', async () => {
      await vscode.workspace.getConfiguration('difflora').update('engineUrl', '', vscode.ConfigurationTarget.Global);
      await engine.restart();
    }),
    command('difflora.analyzeBos', () => analyses.run('bos')),
    command('difflora.analyzeNeedle', () => analyses.run('needle')),
    command('difflora.showEngineLog', async () => log.show()),
    command('difflora.showDiagnostics', async () => {
      log.info(await diagnosticsLine(engine));
      log.show(true);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['backend', 'threads', 'nodePath', 'engineUrl'].some((k) => e.affectsConfiguration(`difflora.${k}`))) {
        void vscode.window.showInformationMessage('DiffLoRA: the engine settings changed.', 'Restart Engine').then((a) => {
          if (a) void vscode.commands.executeCommand('difflora.restartEngine');
        });
      }
    }),
  );
  return { engine };
}

export function deactivate(): void {
  // Disposables (the engine host stops the engine) are released by VS Code through ctx.subscriptions.
}
