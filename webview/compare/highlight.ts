/**
 * Python syntax highlighting with highlight.js (core + the python language only). Its HTML is never
 * used: the token tree becomes character ranges with a scope, and the caller builds text nodes, so model
 * output is always text.
 */
import hljs from 'highlight.js/lib/core';
import python from 'highlight.js/lib/languages/python';

hljs.registerLanguage('python', python);

/** A highlighted range [start, end) of the code, with its innermost scope (e.g. "keyword", "string"). */
export interface SyntaxSpan {
  start: number;
  end: number;
  scope: string;
}

type TreeNode = string | { scope?: string; children?: TreeNode[] };

/** CSS class of a scope: dl-syn- plus its first part ("title.function" -> "dl-syn-title"). */
export function scopeClass(scope: string): string {
  return `dl-syn-${scope.split(/[.\s]/)[0].replace(/[^a-z_-]/gi, '')}`;
}

/** The highlighted ranges of `code` (an empty list if highlight.js fails or its tree does not cover the text). */
export function highlightPython(code: string): SyntaxSpan[] {
  let root: TreeNode | undefined;
  try {
    const r = hljs.highlight(code, { language: 'python', ignoreIllegals: true });
    root = (r._emitter as unknown as { rootNode?: TreeNode }).rootNode;
  } catch {
    return [];
  }
  if (!root) return [];
  const spans: SyntaxSpan[] = [];
  let pos = 0;
  const walk = (n: TreeNode, scope: string | undefined) => {
    if (typeof n === 'string') {
      if (scope && n.length) spans.push({ start: pos, end: pos + n.length, scope });
      pos += n.length;
      return;
    }
    const s = n.scope && !n.scope.startsWith('language:') ? n.scope : scope;
    for (const c of n.children ?? []) walk(c, s);
  };
  walk(root, undefined);
  return pos === code.length ? spans : [];
}
