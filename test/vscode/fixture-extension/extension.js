// A fixture for test/vscode/harness-smoke.test.ts: plain JS, no dependencies.
'use strict';
const vscode = require('vscode');

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function html(title, text) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline';">
<style>body { font: 16px sans-serif; padding: 1em; } #text { color: var(--vscode-textLink-foreground); }</style></head>
<body><h1 id="title">${esc(title)}</h1><p id="text">${esc(text)}</p><p id="script"></p>
<script>document.getElementById('script').textContent = 'script ran: ' + (1 + 2);</script></body></html>`;
}

function panel(id, title, text) {
  const p = vscode.window.createWebviewPanel(id, title, vscode.ViewColumn.Beside, { enableScripts: true });
  p.webview.html = html(title, text);
  return p;
}

function activate(context) {
  console.log('difflora-fixture: activated');
  const out = vscode.window.createOutputChannel('Fixture Output');
  context.subscriptions.push(
    out,
    vscode.commands.registerCommand('difflora.fixture.showWebview', () => {
      const ed = vscode.window.activeTextEditor;
      const sel = ed && !ed.selection.isEmpty ? ed.document.getText(ed.selection) : '';
      panel('difflora.fixture.a', 'Fixture Panel A', `Hello from the fixture webview. Selection: [${sel}]`);
    }),
    vscode.commands.registerCommand('difflora.fixture.showSecondWebview', () => {
      panel('difflora.fixture.b', 'Fixture Panel B', 'This is the second panel.');
    }),
    vscode.window.registerWebviewViewProvider('difflora.fixture.view', {
      resolveWebviewView(view) {
        view.webview.options = { enableScripts: true };
        view.webview.html = html('Fixture View', 'A webview view in the explorer.');
      },
    }),
    vscode.commands.registerCommand('difflora.fixture.showView', () => vscode.commands.executeCommand('difflora.fixture.view.focus')),
    vscode.commands.registerCommand('difflora.fixture.writeOutput', () => {
      out.appendLine('fixture line 1: output channel works');
      out.appendLine('fixture line 2: 6 * 7 = ' + 6 * 7);
      out.show(true);
      vscode.window.showInformationMessage('Fixture: wrote 2 lines to the output channel');
      console.error('difflora-fixture: wrote output');
    }),
    vscode.commands.registerCommand('difflora.fixture.fail', () => {
      throw new Error('fixture failure on purpose');
    }),
    vscode.languages.registerHoverProvider(
      { language: 'plaintext' },
      {
        provideHover(doc, pos) {
          const range = doc.getWordRangeAtPosition(pos);
          const word = range ? doc.getText(range) : '';
          return new vscode.Hover(new vscode.MarkdownString(`**Fixture hover** for \`${word}\``));
        },
      },
    ),
  );
}

function deactivate() {}

module.exports = { activate, deactivate };
