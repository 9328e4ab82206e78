/** The DiffLoRA activity-bar view: the loaded model, its adapters, and the training runs. */
import * as path from 'path';
import * as vscode from 'vscode';
import { EngineHost } from '../engine/engine-host';
import { readSettings } from '../settings';
import { RunRegistry } from './runs';

type Node =
  | { kind: 'section'; id: 'model' | 'adapters' | 'runs' }
  | {
      kind: 'item';
      label: string;
      description?: string;
      tooltip?: string;
      icon: string;
      path?: string;
      context?: string;
      command?: vscode.Command;
    };

export class ModelsTree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly engine: EngineHost,
    private readonly runs: RunRegistry,
  ) {
    engine.onDidChange(() => this.changed.fire());
    runs.onDidChange(() => this.changed.fire());
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('difflora')) this.changed.fire();
    });
  }

  getTreeItem(n: Node): vscode.TreeItem {
    if (n.kind === 'section') {
      const label = { model: 'Model', adapters: 'Adapters', runs: 'Training runs' }[n.id];
      const t = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Expanded);
      t.contextValue = `section-${n.id}`;
      return t;
    }
    const t = new vscode.TreeItem(n.label, vscode.TreeItemCollapsibleState.None);
    t.description = n.description;
    t.tooltip = n.tooltip ?? n.path;
    t.iconPath = new vscode.ThemeIcon(n.icon);
    t.contextValue = n.context;
    t.command = n.command;
    if (n.path) t.resourceUri = vscode.Uri.file(n.path);
    return t;
  }

  getChildren(n?: Node): Node[] {
    if (!n)
      return [
        { kind: 'section', id: 'model' },
        { kind: 'section', id: 'adapters' },
        { kind: 'section', id: 'runs' },
      ];
    if (n.kind !== 'section') return [];
    const s = readSettings(this.ctx.extensionPath);
    const loaded = this.engine.loaded;
    if (n.id === 'model') {
      if (this.engine.loadError) {
        return [
          { kind: 'item', label: 'no model', description: this.engine.loadError, tooltip: this.engine.loadError, icon: 'error' },
          {
            kind: 'item',
            label: 'Open Settings',
            icon: 'settings-gear',
            command: { title: 'Open Settings', command: 'workbench.action.openSettings', arguments: ['difflora.modelPath'] },
          },
          {
            kind: 'item',
            label: 'Select Model',
            icon: 'folder-opened',
            command: { title: 'Select Model', command: 'difflora.selectModel' },
          },
        ];
      }
      // What the engine holds, not only what the settings say.
      const shown = loaded?.model ?? s.modelPath;
      return [
        {
          kind: 'item',
          label: path.basename(shown),
          path: shown,
          icon: 'symbol-structure',
          description: loaded
            ? `${loaded.layers} layers · ${loaded.heads} heads · ${(loaded.parameters / 1e6).toFixed(1)}M`
            : 'not loaded yet',
        },
      ];
    }
    if (n.id === 'adapters') {
      return s.adapters.map((a) => {
        const m = loaded?.models.find((x) => x.path === a.path);
        return {
          kind: 'item',
          label: a.label,
          path: a.path,
          icon: m?.kind === 'difflora' ? 'symbol-operator' : 'symbol-variable',
          description: m ? m.kind : 'configured',
          context: 'adapter',
        };
      });
    }
    return this.runs.all().map((r) => ({
      kind: 'item',
      label: path.basename(r.out),
      path: r.out,
      context: r.status === 'finished' ? 'run-finished' : 'run',
      icon: { running: 'loading~spin', cancelled: 'debug-pause', finished: 'pass', failed: 'error' }[r.status],
      description: `${r.method} · ${r.status}${r.steps !== undefined ? ` · ${r.steps} steps` : ''}${r.finalLoss !== undefined ? ` · loss ${r.finalLoss.toFixed(3)}` : ''}`,
    }));
  }
}
