/** The paper's analyses, one command each: attention on the first token, and the magic-number probe. */
import * as vscode from 'vscode';
import type { AnalysisHostMessage, AnalysisName, AnalysisViewMessage, NeedleOptions } from '../../protocol/analysis';
import { AnalyzeParams, Rpc } from '../../protocol/engine';
import { EngineHost } from '../engine/engine-host';
import { PanelHost } from '../panels/panel-host';

export class AnalysisCommand {
  private view?: PanelHost<AnalysisHostMessage, AnalysisViewMessage>;

  constructor(
    private readonly ctx: vscode.ExtensionContext,
    private readonly engine: EngineHost,
  ) {}

  private panel(): PanelHost<AnalysisHostMessage, AnalysisViewMessage> {
    if (!this.view || this.view.isClosed) {
      this.view = new PanelHost(this.ctx.extensionUri, 'analysis', 'DiffLoRA Analyses', (m) => {
        if (m.type === 'analysis.run') void this.run(m.analysis, m.analysis === 'needle' ? m.options : undefined);
      });
    }
    this.view.reveal();
    return this.view;
  }

  async run(analysis: AnalysisName, needle?: NeedleOptions): Promise<void> {
    const view = this.panel();
    try {
      await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `DiffLoRA: ${analysis === 'bos' ? 'attention on the first token' : 'magic-number probe'}`,
          cancellable: true,
        },
        async (progress, token) => {
          const loaded = await this.engine.ready();
          view.post({ type: 'analysis.models', models: loaded.models.map((m) => ({ label: m.label, kind: m.kind })) });
          let done = 0;
          const r = await this.engine.request(Rpc.analyze, { kind: analysis, needle } satisfies AnalyzeParams, {
            cancel: token,
            onProgress: (label) => {
              view.post({
                type: 'analysis.progress',
                analysis,
                text: label,
                fraction: done++ / (loaded.models.length * (analysis === 'needle' ? 2 : 1)),
              });
              progress.report({ message: label });
            },
          });
          view.post(r.kind === 'bos' ? { type: 'analysis.bos', result: r.result } : { type: 'analysis.needle', result: r.result });
        },
      );
    } catch (e) {
      view.post({ type: 'analysis.error', analysis, error: (e as Error).message });
      throw e;
    }
  }
}
