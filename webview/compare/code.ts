/**
 * A block of Python code as DOM: numbered lines, syntax classes, word-level differences against a
 * reference text (the `diff` package), and one span per token carrying its character offset, so a click
 * can name the position. Every piece of text goes in as a text node.
 */
import { diffLines, diffWordsWithSpace, type Change } from 'diff';
import { el } from '../dom';
import { highlightPython, scopeClass } from './highlight';

export interface DiffMarks {
  /** Per character of the text: 1 where it is not in the reference. */
  inserted: Uint8Array;
  /** Lines (0-based) of the text that are new as a whole. */
  addedLines: Set<number>;
  /** Positions in the text where reference text is missing, with that text. */
  deleted: { at: number; text: string }[];
  /** Number of characters inserted / deleted. */
  insertedChars: number;
  deletedChars: number;
}

/** Lines of a text, each with its newline. */
function splitLines(t: string): string[] {
  const out = t.split(/(?<=\n)/);
  return out.length === 1 && out[0] === '' ? [] : out;
}

/** 2 x common characters / total length: 1 for equal lines, 0 for nothing in common. */
function similarity(a: string, b: string): number {
  const x = a.trim(),
    y = b.trim();
  if (!x.length && !y.length) return 1;
  let common = 0;
  for (const c of diffWordsWithSpace(x, y)) if (!c.added && !c.removed) common += c.value.length;
  return (2 * common) / (x.length + y.length);
}

/**
 * Pairs removed lines with added lines of a replaced block (in order, each pair similar enough), by
 * dynamic programming on the summed similarity. Returns, per added line, the removed line it replaces or -1.
 */
function pairLines(removed: string[], added: string[]): number[] {
  const R = removed.length,
    A = added.length;
  const pair = new Array<number>(A).fill(-1);
  if (R * A > 2500) return pair;
  const sim = removed.map((r) => added.map((x) => similarity(r, x)));
  const f = Array.from({ length: R + 1 }, () => new Float64Array(A + 1));
  for (let i = 1; i <= R; i++) {
    for (let j = 1; j <= A; j++) {
      const s = sim[i - 1][j - 1];
      f[i][j] = Math.max(f[i - 1][j], f[i][j - 1], s >= 0.4 ? f[i - 1][j - 1] + s : -1);
    }
  }
  for (let i = R, j = A; i > 0 && j > 0;) {
    const s = sim[i - 1][j - 1];
    if (s >= 0.4 && f[i][j] === f[i - 1][j - 1] + s) {
      pair[j - 1] = i - 1;
      i--;
      j--;
    } else if (f[i][j] === f[i - 1][j]) i--;
    else j--;
  }
  return pair;
}

/**
 * Differences of `text` against `reference`, as a diff editor shows them: by lines first (a line only in
 * the text is added as a whole); where lines were replaced, each new line is paired with the old line it
 * most resembles and compared with it word by word.
 */
export function diffAgainst(reference: string, text: string): DiffMarks {
  const inserted = new Uint8Array(text.length);
  const addedLines = new Set<number>();
  const deleted: DiffMarks['deleted'] = [];
  let pos = 0,
    line = 0,
    ins = 0,
    del = 0;
  const addWhole = (t: string) => {
    inserted.fill(1, pos, pos + t.length);
    ins += t.length;
    pos += t.length;
    addedLines.add(line++);
  };
  const remove = (t: string) => {
    deleted.push({ at: pos, text: t });
    del += t.length;
  };
  const parts: Change[] = diffLines(reference, text);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.removed && parts[i + 1]?.added) {
      const rs = splitLines(p.value),
        as = splitLines(parts[++i].value);
      const pair = pairLines(rs, as);
      let r = 0;
      as.forEach((a, j) => {
        const k = pair[j];
        if (k < 0) {
          addWhole(a);
          return;
        }
        for (; r < k; r++) remove(rs[r]);
        r = k + 1;
        for (const w of diffWordsWithSpace(rs[k], a)) {
          if (w.added) {
            inserted.fill(1, pos, pos + w.value.length);
            pos += w.value.length;
            ins += w.value.length;
          } else if (w.removed) remove(w.value);
          else pos += w.value.length;
        }
        line++;
      });
      for (; r < rs.length; r++) remove(rs[r]);
    } else if (p.added) {
      for (const a of splitLines(p.value)) addWhole(a);
    } else if (p.removed) {
      remove(p.value);
    } else {
      pos += p.value.length;
      line += splitLines(p.value).length;
    }
  }
  return { inserted, addedLines, deleted, insertedChars: ins, deletedChars: del };
}

export interface CodeOptions {
  /** Text before `text` that the highlighter reads for context (the prompt); not shown. */
  context?: string;
  diff?: DiffMarks;
  /** Line number of the first line. */
  firstLine?: number;
  /** Token spans get class dl-tok-click and data-o (offset in `text`). */
  clickable?: boolean;
}

const WORD = /[A-Za-z0-9_]/;

function charClass(c: string): number {
  if (c === ' ' || c === '\t') return 1;
  return WORD.test(c) ? 2 : 3;
}

/** Renders `text` into `host` (a <pre>): one .dl-line per line, each with a number and its tokens. */
export function renderCode(host: HTMLElement, text: string, o: CodeOptions = {}): void {
  host.textContent = '';
  host.classList.add('dl-code');
  const ctx = o.context ?? '';
  const syn = new Array<string | undefined>(text.length);
  for (const s of highlightPython(ctx + text)) {
    const a = Math.max(0, s.start - ctx.length),
      b = Math.min(text.length, s.end - ctx.length);
    if (b <= a) continue;
    const cls = scopeClass(s.scope);
    for (let i = a; i < b; i++) syn[i] = cls;
  }
  const ins = o.diff?.inserted;
  const dels = new Map<number, string>();
  for (const d of o.diff?.deleted ?? []) dels.set(d.at, (dels.get(d.at) ?? '') + d.text);
  const first = o.firstLine ?? 1;
  let lineNo = first;
  let line: HTMLElement, code: HTMLElement;
  let lineChanged = false;
  const newLine = () => {
    line = el('div', 'dl-line', undefined, host);
    if (o.diff?.addedLines.has(lineNo - first)) line.classList.add('dl-line-added');
    el('span', 'dl-ln', String(lineNo++), line);
    code = el('span', 'dl-lc', undefined, line);
    lineChanged = false;
  };
  const endLine = () => {
    if (lineChanged) line.classList.add('dl-line-changed');
  };
  const delMark = (at: number) => {
    const t = dels.get(at);
    if (t === undefined) return;
    const m = el('span', 'dl-del-mark', undefined, code);
    m.title = `Only in the reference: ${t}`;
    m.setAttribute('aria-label', `deleted: ${t}`);
    lineChanged = true;
  };
  newLine();
  let i = 0;
  // A final newline ends the last line; it does not open an empty one.
  const end = text.endsWith('\n') ? text.length - 1 : text.length;
  while (i < end) {
    delMark(i);
    const c = text[i];
    if (c === '\n') {
      endLine();
      newLine();
      i++;
      continue;
    }
    const k = charClass(c),
      s = syn[i],
      d = ins?.[i] ?? 0;
    let j = i + 1;
    while (
      j < end &&
      text[j] !== '\n' &&
      syn[j] === s &&
      (ins?.[j] ?? 0) === d &&
      !dels.has(j) &&
      charClass(text[j]) === k &&
      (k !== 3 || j - i < 3)
    )
      j++;
    const span = el('span', s, text.slice(i, j), code!);
    if (d) {
      span.classList.add('dl-ins');
      lineChanged = true;
    }
    if (o.clickable && k !== 1) {
      span.classList.add('dl-tok-click');
      span.dataset.o = String(i);
    }
    i = j;
  }
  for (let p = end; p <= text.length; p++) delMark(p);
  endLine();
}
