/**
 * Entry point of the compare webview (dist/webview/compare.js): completions side by side and the
 * HumanEval run view. In VS Code, data arrives as CompareHostMessage messages and the view posts
 * CompareViewMessage messages; elsewhere (tests) drive it through window.DiffLoRALensCompare.panel.
 */
import { passAtK, type CompareHostMessage, type CompareViewMessage } from '../../protocol/compare';
import { expose, onHostMessage, rootElement, start, vscodeApi } from '../host';
import { ComparePanel } from './panel';

const api: { panel?: ComparePanel; ComparePanel: typeof ComparePanel; passAtK: typeof passAtK } = { ComparePanel, passAtK };
expose('DiffLoRALensCompare', api);

start(() => {
  const vscode = vscodeApi<CompareViewMessage>();
  const post = (m: CompareViewMessage) => vscode?.postMessage(m);
  const panel = new ComparePanel(rootElement(), {
    onOpenDiff: (taskId, a, b) => post({ type: 'compare.openDiff', taskId, a, b }),
    onToken: (taskId, model, offset, text) => post({ type: 'compare.token', taskId, model, offset, text }),
    onOpenProblem: (taskId) => post({ type: 'compare.openProblem', taskId }),
    onShowing: (taskId) => post({ type: 'compare.showing', taskId }),
  });
  api.panel = panel;
  onHostMessage<CompareHostMessage>('compare.', (m) => {
    switch (m.type) {
      case 'compare.problems':
        panel.setProblems(m.items, m.index);
        break;
      case 'compare.problem':
        panel.upsertProblem(m.item);
        break;
      case 'compare.status':
        panel.setExecStatus(m.taskId, m.model, m.status, m.reason);
        break;
      case 'compare.run':
        panel.setRun(m.run);
        break;
      case 'compare.runResults':
        panel.addRunResults(m.results);
        break;
      case 'compare.runProgress':
        panel.setRunProgress(m.progress);
        break;
      case 'compare.runStatus':
        panel.setRunStatus(m.status, m.error);
        break;
      case 'compare.mode':
        panel.setMode(m.mode);
        break;
    }
  });
  post({ type: 'compare.ready' });
});
