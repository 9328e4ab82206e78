/**
 * A webview panel hosting one of the webview bundles (dist/webview/<panel>.js) under a strict CSP with
 * a fresh nonce, that queues host messages until the view says it is ready (its `<panel>.ready`
 * message) and hands the view's other messages to `onMessage`.
 */
import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import { PANEL_FILES, panelHtml, type WebviewPanel } from '../../protocol/panel-shell';

/** The panels that are open: a new one joins their column as a tab instead of opening yet another column. */
const open = new Set<PanelHost<unknown, { type: string }>>();

export function openPanelCount(): number {
  return open.size;
}

function panelColumn(): vscode.ViewColumn {
  for (const h of open) if (h.panel.viewColumn !== undefined) return h.panel.viewColumn;
  return vscode.ViewColumn.Beside;
}

export class PanelHost<HostMsg, ViewMsg extends { type: string }> implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  private ready = false;
  private queue: HostMsg[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private closed = false;

  constructor(ext: vscode.Uri, kind: WebviewPanel, title: string, onMessage: (m: ViewMsg) => void, column = panelColumn()) {
    const root = vscode.Uri.joinPath(ext, 'dist', 'webview');
    this.panel = vscode.window.createWebviewPanel(
      `difflora.${kind}`,
      title,
      { viewColumn: column, preserveFocus: true },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [root],
      },
    );
    const w = this.panel.webview;
    const uri = (name: string) => w.asWebviewUri(vscode.Uri.joinPath(root, name)).toString();
    const files = PANEL_FILES[kind];
    w.html = panelHtml({
      scriptUri: uri(files.script),
      cssUri: files.css.map(uri),
      cspSource: w.cspSource,
      nonce: randomBytes(16).toString('base64'),
      title,
    });
    this.disposables.push(
      w.onDidReceiveMessage((m: ViewMsg) => {
        if (!m || typeof m.type !== 'string') return;
        if (m.type === `${kind}.ready`) {
          this.ready = true;
          for (const q of this.queue.splice(0)) void w.postMessage(q);
          return;
        }
        onMessage(m);
      }),
      this.panel.onDidDispose(() => {
        this.closed = true;
        this.dispose();
      }),
    );
    open.add(this as PanelHost<unknown, { type: string }>);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  post(m: HostMsg): void {
    if (this.closed) return;
    if (this.ready) void this.panel.webview.postMessage(m);
    else this.queue.push(m);
  }

  reveal(): void {
    this.panel.reveal(undefined, true);
  }

  dispose(): void {
    open.delete(this as PanelHost<unknown, { type: string }>);
    for (const d of this.disposables.splice(0)) d.dispose();
    if (!this.closed) this.panel.dispose();
  }
}
