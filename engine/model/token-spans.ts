/**
 * Where each token of an encoded text sits in that text, for hovers and decorations. The tokenizer
 * library gives no offsets. When the tokens' own decodings add up to the text (the usual case), they
 * give the ranges directly; otherwise (a character split across byte-level tokens) they come from
 * decoding growing prefixes (quadratic): token i covers the characters its prefix's decoding adds.
 * Tokens that add none (BOS, or a byte-level token ending inside a multi-byte character, which decodes
 * to U+FFFD) get no range. When the decoding does not give the text back (a normalising tokenizer), no
 * token gets a range: better none than wrong ones.
 */
import type { TokenSpan } from '../../protocol/engine';
import { TextTokenizer } from './tokenizer';

export function tokenSpans(tok: TextTokenizer, text: string, ids: number[]): TokenSpan[] {
  const labels = tok.labels(ids);
  if (tok.decode(ids, true) !== text) return labels.map((t) => ({ text: t }));
  // Fast path (linear): the tokens' own decodings, special tokens aside, add up to the text.
  const pieces = ids.map((id, i) => (tok.decode([id], true) === '' ? '' : labels[i]));
  if (pieces.join('') === text) {
    let at = 0;
    return pieces.map((p, i) => (p === '' ? { text: labels[i] } : { text: labels[i], start: at, end: (at += p.length) }));
  }
  let start = 0;
  return ids.map((_, i) => {
    const prefix = tok.decode(ids.slice(0, i + 1), true);
    let end = prefix.length;
    while (end > start && !text.startsWith(prefix.slice(start, end), start)) end--;
    if (end <= start) return { text: labels[i] };
    const span = { text: labels[i], start, end };
    start = end;
    return span;
  });
}
