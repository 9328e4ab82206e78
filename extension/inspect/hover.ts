/**
 * Hover-to-inspect over the text attention ran on: for each loaded model, the tokens the hovered token
 * attends to most (the head chosen in the panel, or the mean), and decorations tinting the inspected
 * text by the attention of the hovered token (the last model's: the adapter users compare against the
 * base), labelled with that model and scope at the token and in the status bar. The tint outlives the
 * hover (which covers the lines above it) until the pointer rests outside the inspected text, the cursor
 * or editor changes, a new inspection starts, or the status bar item is clicked.
 * Edits to the document drop its results.
 */
import * as vscode from 'vscode';
import { Inspection } from './inspection';

const LEVELS = 6;
/** Clears the tint (the status bar item's click); not in the palette. */
const CLEAR_TINT = 'difflora.clearAttentionTint';
const TOP = 5;

export class InspectionStore implements vscode.Disposable {
  private readonly byUri = new Map<string, Inspection>();
  private readonly tints = Array.from({ length: LEVELS }, (_, i) =>
    vscode.window.createTextEditorDecorationType({
      backgroundColor: `rgba(255, 140, 0, ${(0.12 + (0.6 * i) / (LEVELS - 1)).toFixed(2)})`,
      borderRadius: '2px',
    }),
  );
  private readonly hovered = vscode.window.createTextEditorDecorationType({
    border: '1px solid',
    borderColor: new vscode.ThemeColor('editorCursor.foreground'),
  });
  private readonly status = vscode.window.createStatusBarItem('difflora.attentionTint', vscode.StatusBarAlignment.Left, 50);
  /** What the tint shows now (for tests and the status bar), undefined when there is none. */
  tint?: { uri: string; token: number; label: string };
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.status.name = 'DiffLoRA attention tint';
    this.status.command = CLEAR_TINT;
    this.disposables.push(
      vscode.commands.registerCommand(CLEAR_TINT, () => this.clearTint()),
      vscode.window.onDidChangeTextEditorSelection(() => this.clearTint()),
      vscode.window.onDidChangeActiveTextEditor(() => this.clearTint()),
      vscode.languages.registerHoverProvider([{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-remote' }], {
        provideHover: (d, p) => this.hover(d, p),
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length && this.byUri.delete(e.document.uri.toString())) {
          this.clearDecorations(e.document.uri);
          vscode.window.setStatusBarMessage('DiffLoRA: the text changed, its attention results were dropped', 4000);
        }
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.byUri.delete(d.uri.toString())),
    );
  }

  set(ins: Inspection): void {
    this.byUri.set(ins.uri, ins);
  }

  /** Removes the tint, its label and its status bar item (a new inspection starts, the pointer left...). */
  clearTint(): void {
    if (!this.tint) return;
    this.tint = undefined;
    this.status.hide();
    for (const e of vscode.window.visibleTextEditors) for (const d of [...this.tints, this.hovered]) e.setDecorations(d, []);
  }

  /** The results for a document, if they are still for its current text. */
  get(doc: vscode.TextDocument): Inspection | undefined {
    const ins = this.byUri.get(doc.uri.toString());
    return ins && ins.version === doc.version ? ins : undefined;
  }

  latest(): Inspection | undefined {
    return [...this.byUri.values()].pop();
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const ins = this.get(doc);
    const q = ins?.tokenAt(doc.offsetAt(pos));
    // The pointer rests outside the inspected text: the tint it left goes.
    if (!ins || q === undefined) {
      this.clearTint();
      return undefined;
    }
    const md = new vscode.MarkdownString(undefined, false);
    md.appendMarkdown(`**DiffLoRA Lens** · token ${q} ${code(ins.tokens[q].text)} · ${ins.describeScope()}\n\n`);
    md.appendMarkdown('| model | attends to most |\n|---|---|\n');
    let last: { row: Float32Array; label: string } | undefined;
    for (const [i, m] of ins.models.entries()) {
      const row = ins.row(i, q);
      if (!row) {
        md.appendMarkdown(`| ${m.label} | (head not captured) |\n`);
        continue;
      }
      last = { row, label: m.label };
      const top = Inspection.top(row, q, TOP);
      md.appendMarkdown(
        `| ${escapeMd(m.label)} (${m.kind}) | ${top.map((a) => `${code(ins.tokens[a.token].text)} ${a.weight.toFixed(3)}`).join(' · ')} |\n`,
      );
    }
    if (last) {
      this.decorate(doc, ins, q, last.row, last.label);
      md.appendMarkdown(
        `\nThe tint in the editor: ${escapeMd(last.label)} · ${ins.describeScope()}${ins.focus ? ' (the attention panel\'s "Editor hover" switch goes back to the mean)' : ''}.\n`,
      );
    }
    const t = ins.tokens[q];
    return new vscode.Hover(md, new vscode.Range(doc.positionAt(ins.start + t.start!), doc.positionAt(ins.start + t.end!)));
  }

  private decorate(doc: vscode.TextDocument, ins: Inspection, q: number, row: Float32Array, model: string): void {
    const editor = vscode.window.visibleTextEditors.find((e) => e.document === doc);
    if (!editor) return;
    const max = Math.max(...Array.from(row.subarray(0, q + 1)), 1e-9);
    const buckets: vscode.Range[][] = Array.from({ length: LEVELS }, () => []);
    ins.tokens.forEach((t, k) => {
      if (k > q || t.start === undefined || t.end === undefined || row[k] <= 0) return;
      const level = Math.min(LEVELS - 1, Math.floor((row[k] / max) * LEVELS));
      buckets[level].push(new vscode.Range(doc.positionAt(ins.start + t.start), doc.positionAt(ins.start + t.end)));
    });
    this.tints.forEach((d, i) => editor.setDecorations(d, buckets[i]));
    const t = ins.tokens[q];
    const label = `${model} · ${ins.describeScope()}`;
    editor.setDecorations(this.hovered, [
      {
        range: new vscode.Range(doc.positionAt(ins.start + t.start!), doc.positionAt(ins.start + t.end!)),
        renderOptions: {
          after: {
            contentText: ` ◂ attention of ${label}`,
            color: new vscode.ThemeColor('editorCodeLens.foreground'),
            fontStyle: 'italic',
            margin: '0 0 0 1em',
          },
        },
      },
    ]);
    this.tint = { uri: doc.uri.toString(), token: q, label };
    this.status.text = `$(eye) tint: ${label}`;
    this.status.tooltip = `DiffLoRA: the editor tint shows where token ${q} attends, in ${label}. Click to clear it.`;
    this.status.show();
  }

  private clearDecorations(uri: vscode.Uri): void {
    for (const e of vscode.window.visibleTextEditors.filter((x) => x.document.uri.toString() === uri.toString())) {
      for (const d of [...this.tints, this.hovered]) e.setDecorations(d, []);
    }
  }

  dispose(): void {
    for (const d of [...this.disposables, ...this.tints, this.hovered, this.status]) d.dispose();
  }
}

/** A token as inline code: whitespace made visible, backticks safe. */
function code(s: string): string {
  const shown = s.replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/ /g, '·') || '∅';
  const ticks = shown.includes('`') ? '``' : '`';
  return `${ticks}${shown.replace(/\|/g, '\\|')}${ticks}`;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
