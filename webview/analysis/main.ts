/**
 * Entry point of the analysis webview (dist/webview/analysis.js). In VS Code, results arrive as
 * AnalysisHostMessage messages (typed arrays by structured clone) and the Run buttons post
 * AnalysisViewMessage messages; elsewhere (tests) drive it through window.DiffLoRALensAnalysis.panel.
 */
import type { AnalysisHostMessage, AnalysisViewMessage } from '../../protocol/analysis';
import { expose, onHostMessage, rootElement, start, vscodeApi } from '../host';
import { AnalysisPanel, sharedScale } from './panel';

const api: { panel?: AnalysisPanel; AnalysisPanel: typeof AnalysisPanel; sharedScale: typeof sharedScale } = { AnalysisPanel, sharedScale };
expose('DiffLoRALensAnalysis', api);

start(() => {
  const vscode = vscodeApi<AnalysisViewMessage>();
  const post = (m: AnalysisViewMessage) => vscode?.postMessage(m);
  const panel = new AnalysisPanel(rootElement(), {
    onRun: (analysis, options) =>
      post(analysis === 'bos' ? { type: 'analysis.run', analysis } : { type: 'analysis.run', analysis, options: options ?? {} }),
    onSelect: (analysis, model, layer, head) => post({ type: 'analysis.select', analysis, model, layer, head }),
  });
  api.panel = panel;
  onHostMessage<AnalysisHostMessage>('analysis.', (m) => {
    switch (m.type) {
      case 'analysis.models':
        panel.setModels(m.models);
        break;
      case 'analysis.bos':
        panel.setBos(m.result);
        break;
      case 'analysis.needle':
        panel.setNeedle(m.result);
        break;
      case 'analysis.progress':
        panel.setProgress(m.analysis, m.text, m.fraction);
        break;
      case 'analysis.error':
        panel.setError(m.analysis, m.error);
        break;
    }
  });
  post({ type: 'analysis.ready' });
});
