/**
 * Entry point of the training webview (dist/webview/training.js). In VS Code, run data arrives as
 * TrainingHostMessage messages and the buttons post TrainingViewMessage messages; elsewhere (tests) drive
 * it through window.DiffLoRALensTraining.panel.
 */
import type { TrainingHostMessage, TrainingViewMessage } from '../../protocol/training';
import { expose, onHostMessage, rootElement, start, vscodeApi } from '../host';
import { TrainingPanel } from './panel';

const api: { panel?: TrainingPanel; TrainingPanel: typeof TrainingPanel } = { TrainingPanel };
expose('DiffLoRALensTraining', api);

start(() => {
  const vscode = vscodeApi<TrainingViewMessage>();
  const post = (m: TrainingViewMessage) => vscode?.postMessage(m);
  const panel = new TrainingPanel(rootElement(), {
    onCancel: () => post({ type: 'training.cancel' }),
    onResume: () => post({ type: 'training.resume' }),
  });
  api.panel = panel;
  onHostMessage<TrainingHostMessage>('training.', (m) => {
    switch (m.type) {
      case 'training.run':
        panel.setRun(m.run);
        break;
      case 'training.event':
        panel.addEvent(m.event);
        break;
      case 'training.events':
        panel.addEvents(m.events);
        break;
      case 'training.status':
        panel.setStatus(m.status, m.error);
        break;
    }
  });
  post({ type: 'training.ready' });
});
