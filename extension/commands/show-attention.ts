/**
 * "DiffLoRA: Show Attention for Selection": runs every loaded model (base, then the adapters) over the
 * selected text (or the current line), streams each layer's maps into the attention panel as the
 * engine computes them, and keeps them for hover-to-inspect.
 */
import * as vscode from 'vscode';
import type { AttentionHostMessage, AttentionViewMessage } from '../../protocol/attention';
import { AttentionParams, LoadModelResult, Rpc } from '../../protocol/engine';
import { EngineHost } from '../engine/engine-host';
import { InspectionStore } from '../inspect/hover';
import { Inspection } from '../inspect/inspection';
import { PanelHost } from '../panels/panel-host';
import { saveExport } from '../panels/save-export';

/** Which base model and adapters a result came from. */
function modelSet(l: LoadModelResult | undefined): string {
  return l ? JSON.stringify([l.model, l.models.map((m) => [m.label, m.path])]) : '';
}

export class AttentionCommand {
  private view?: PanelHost<AttentionHostMessage, AttentionViewMessage>;
  private current?: Inspection;
  /** The model set of the maps on show, and whether the panel says they are stale. */
  private shown?: { set: string; names: string; stale: boolean };

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly engine: EngineHost,
    private readonly store: InspectionStore,
    private readonly log: vscode.OutputChannel,
  ) {
    engine.onDidChange(() => this.markStale());
  }

  /** Maps of a model that is no longer loaded say so (and stop saying so if it is loaded again). */
  private markStale(): void {
    const s = this.shown;
    if (!s || !this.view || this.view.isClosed || (this.engine.loaded === undefined && !this.engine.loadError)) return;
    const stale = modelSet(this.engine.loaded) !== s.set;
    if (stale === s.stale) return;
    s.stale = stale;
    this.view.post({
      type: 'attention.notice',
      text: stale ? `These maps are of ${s.names}, which is no longer loaded: run "Show Attention for Selection" again.` : null,
    });
  }

  private panel(): PanelHost<AttentionHostMessage, AttentionViewMessage> {
    if (!this.view || this.view.isClosed) {
      this.view = new PanelHost(this.ctx.extensionUri, 'attention', 'DiffLoRA Attention', (m) => {
        if (m.type === 'attention.focus' && this.current) this.current.focus = m.focus ?? undefined;
        if (m.type === 'attention.export')
          void saveExport(m.filename, m.format === 'png' ? Buffer.from(m.data, 'base64') : Buffer.from(m.data, 'utf8'));
      });
    }
    this.view.reveal();
    return this.view;
  }

  async run(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showErrorMessage('DiffLoRA: open a file and select the text to look at.');
      return;
    }
    const doc = editor.document;
    const range = editor.selection.isEmpty
      ? doc.lineAt(editor.selection.active.line).range
      : new vscode.Range(editor.selection.start, editor.selection.end);
    const text = doc.getText(range);
    if (!text.trim()) {
      void vscode.window.showErrorMessage('DiffLoRA: the selection is empty; select some text first.');
      return;
    }
    const version = doc.version;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'DiffLoRA attention', cancellable: true },
      async (progress, token) => {
        progress.report({ message: 'starting the engine and loading the model…' });
        const loaded = await this.engine.ready();
        const view = this.panel();
        const t0 = Date.now();
        const name = doc.uri.path.split('/').pop();
        view.post({ type: 'attention.reset', title: `${name}:${range.start.line + 1}-${range.end.line + 1}` });
        const ins = new Inspection(doc.uri.toString(), version, doc.offsetAt(range.start), text, []);
        this.store.clearTint();
        this.current = ins;
        this.shown = {
          set: modelSet(loaded),
          names: `${loaded.model.split(/[\\/]/).pop()}${
            loaded.models.length > 1
              ? ` with ${loaded.models
                  .slice(1)
                  .map((m) => m.label)
                  .join(', ')}`
              : ''
          }`,
          stale: false,
        };
        let layersDone = 0;
        const total = loaded.layers * loaded.models.length;
        token.onCancellationRequested(() =>
          view.post({ type: 'attention.notice', text: `Cancelled after ${layersDone} of ${total} layers.` }),
        );
        const r = await this.engine.request(Rpc.attention, { text, encoding: 'u16' } satisfies AttentionParams, {
          cancel: token,
          onProgress: (p) => {
            if (p.type === 'model') {
              if (ins.tokens.length === 0) ins.tokens.push(...p.tokens);
              ins.models.push({ label: p.label, kind: p.kind, numLayers: p.numLayers, numHeads: p.numHeads, layers: [] });
              const T = p.tokens.length;
              view.post({
                type: 'attention.model',
                model: {
                  label: p.label,
                  kind: p.kind,
                  tokens: p.tokens.map((t) => t.text),
                  tq: T,
                  tk: T,
                  numLayers: p.numLayers,
                  numHeads: p.numHeads,
                  layers: [],
                },
              });
              progress.report({ message: `${p.label}: ${T} tokens` });
            } else {
              ins.models[p.index].layers.push(p.maps);
              view.post({ type: 'attention.wireLayer', model: p.index, maps: p.maps });
              progress.report({ increment: 100 / total });
              if (++layersDone === total)
                this.log.appendLine(
                  `attention: ${ins.tokens.length} tokens, ${loaded.models.length} models, all layers in ${Date.now() - t0} ms`,
                );
            }
          },
        });
        ins.models.forEach((_, i) => view.post({ type: 'attention.done', model: i }));
        if (doc.version === version) this.store.set(ins);
        this.log.appendLine(
          `attention timings: ${r.timings.map((t) => `${t.label} first layer ${t.firstLayerMs} ms, done ${t.doneMs} ms`).join('; ')}`,
        );
      },
    );
  }
}
