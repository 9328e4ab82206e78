/**
 * Byte-level BPE tokenizer trainer (GPT-2 / Llama-3 style) writing a Hugging Face `tokenizer.json`.
 *
 * Pipeline: the text is cut at special tokens, then split into pre-tokens ("words") by the Llama-3 /
 * GPT-4 regex, compiled by tokenizers.js itself (its `SplitPreTokenizer`), so training sees exactly the
 * pieces that encoding will see. Each unique word becomes its UTF-8 byte sequence, counted once with its
 * frequency. Merges are then learnt with incremental pair counts: pair -> count, pair -> words holding
 * it (append-only lists, deduplicated when used), and a max-heap with lazy deletion.
 *
 * Id layout (vocabSize counts everything):
 *   0..255                 one token per byte; id b is byte b, spelt in the GPT-2 byte-to-unicode alphabet
 *   256..256+merges-1      merge i creates token id 256 + i (merges are in rank order)
 *   then the special tokens, in the order given (only in `added_tokens`, as in Llama-3)
 * With a full vocabulary the specials are the last ids: vocabSize - specials.length .. vocabSize - 1.
 * Training stops early when no pair reaches minFrequency; the specials then follow the shorter BPE vocab.
 *
 * Tie-breaking is deterministic: highest count first, then the smaller (left id, right id) pair.
 * A pair whose concatenation is already a token (reachable by another merge path) is never merged, so
 * every merge adds exactly one new token and token strings map 1:1 to ids.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SplitPreTokenizer } from '@huggingface/tokenizers';

export interface BpeTrainOptions {
  /** Total vocabulary: 256 byte tokens + merges + special tokens. */
  vocabSize: number;
  /** A pair is merged only when it occurs at least this often (counted over the corpus). Default 2. */
  minFrequency?: number;
  /** e.g. ['<|endoftext|>', '<|pad|>']: the first is bos/eos, one named like "pad" (else the second) is pad. */
  specialTokens: string[];
  onProgress?: (merges: number, total: number) => void;
  /** `model_max_length` written to tokenizer_config.json. Default 2048. */
  modelMaxLength?: number;
}

export interface TrainedTokenizer {
  tokenizerJson: object;
  tokenizerConfigJson: object;
}

/** The Llama-3 / GPT-4 pre-tokenizer split pattern (Oniguruma syntax, as stored in tokenizer.json). */
export const LLAMA3_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards. */
export function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return out;
}

const SHIFT = 2 ** 21; // pair key = left * SHIFT + right; ids stay below 2^21
const pairKey = (a: number, b: number) => a * SHIFT + b;

/** Max-heap of (count, left, right): larger count first, then smaller left, then smaller right. */
class PairHeap {
  private cnt: number[] = [];
  private a: number[] = [];
  private b: number[] = [];

  get size(): number {
    return this.cnt.length;
  }

  private before(i: number, j: number): boolean {
    const c = this.cnt;
    if (c[i] !== c[j]) return c[i] > c[j];
    if (this.a[i] !== this.a[j]) return this.a[i] < this.a[j];
    return this.b[i] < this.b[j];
  }

  private swap(i: number, j: number): void {
    let t = this.cnt[i];
    this.cnt[i] = this.cnt[j];
    this.cnt[j] = t;
    t = this.a[i];
    this.a[i] = this.a[j];
    this.a[j] = t;
    t = this.b[i];
    this.b[i] = this.b[j];
    this.b[j] = t;
  }

  push(count: number, a: number, b: number): void {
    this.cnt.push(count);
    this.a.push(a);
    this.b.push(b);
    let i = this.cnt.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry and returns it as [count, left, right]. */
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.cnt[0], this.a[0], this.b[0]];
    const last = this.cnt.length - 1;
    this.swap(0, last);
    this.cnt.pop();
    this.a.pop();
    this.b.pop();
    const n = this.cnt.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Counts the pre-tokens of all texts (special tokens cut out first, as encoding does). */
function countWords(texts: Iterable<string>, specialTokens: string[]): Map<string, number> {
  const split = new SplitPreTokenizer({
    type: 'Split',
    pattern: { Regex: LLAMA3_SPLIT_PATTERN },
    behavior: 'Isolated',
    invert: false,
  });
  const specials = [...specialTokens].sort((x, y) => y.length - x.length);
  const specialRe = specials.length > 0 ? new RegExp(specials.map(escapeRegExp).join('|'), 'g') : null;
  const counts = new Map<string, number>();
  const add = (section: string) => {
    if (section.length === 0) return;
    for (const w of split.pre_tokenize_text(section)) counts.set(w, (counts.get(w) ?? 0) + 1);
  };
  for (const text of texts) {
    if (specialRe && specials.some((s) => text.includes(s))) {
      for (const section of text.split(specialRe)) add(section);
    } else {
      add(text);
    }
  }
  return counts;
}

export function trainByteLevelBpe(texts: Iterable<string>, opts: BpeTrainOptions): TrainedTokenizer {
  const specials = opts.specialTokens;
  if (new Set(specials).size !== specials.length) throw new Error(`duplicate special tokens: ${specials.join(', ')}`);
  if (specials.some((s) => s.length === 0)) throw new Error('a special token cannot be empty');
  const minFrequency = Math.max(1, opts.minFrequency ?? 2);
  const targetBpe = opts.vocabSize - specials.length;
  if (!Number.isInteger(opts.vocabSize) || targetBpe < 256 || opts.vocabSize >= SHIFT) {
    throw new Error(`vocabSize must be an integer in [256 + ${specials.length} special tokens, ${SHIFT - 1}], got ${opts.vocabSize}`);
  }
  const totalMerges = targetBpe - 256;

  // --- unique words as byte-id sequences in one slab; single-byte words hold no pair and are dropped
  const counts = countWords(texts, specials);
  const encoded: Buffer[] = [];
  const freqs: number[] = [];
  let totalLen = 0;
  for (const [w, f] of counts) {
    const bytes = Buffer.from(w, 'utf8');
    if (bytes.length < 2) continue;
    encoded.push(bytes);
    freqs.push(f);
    totalLen += bytes.length;
  }
  counts.clear();
  const nWords = encoded.length;
  const sym = new Int32Array(totalLen);
  const start = new Int32Array(nWords);
  const len = new Int32Array(nWords);
  const freq = Float64Array.from(freqs);
  for (let w = 0, off = 0; w < nWords; w++) {
    const bytes = encoded[w];
    start[w] = off;
    len[w] = bytes.length;
    for (let i = 0; i < bytes.length; i++) sym[off + i] = bytes[i];
    off += bytes.length;
  }
  encoded.length = 0;

  // --- pair statistics
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addWord = (k: number, w: number) => {
    const list = pairWords.get(k);
    if (list === undefined) pairWords.set(k, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  const bump = (k: number, d: number) => {
    const c = (pairCount.get(k) ?? 0) + d;
    if (c > 0) pairCount.set(k, c);
    else pairCount.delete(k);
  };
  for (let w = 0; w < nWords; w++) {
    const s = start[w];
    const f = freq[w];
    for (let i = s; i < s + len[w] - 1; i++) {
      const k = pairKey(sym[i], sym[i + 1]);
      bump(k, f);
      addWord(k, w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, Math.floor(k / SHIFT), k % SHIFT);

  // --- vocabulary and merges
  const b2u = byteToUnicode();
  const tokens: string[] = b2u.slice();
  const tokenId = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: string[] = [];
  const banned = new Set<number>();
  const seen = new Int32Array(nWords).fill(-1);
  const progressEvery = Math.max(1, Math.floor(totalMerges / 100));

  while (merges.length < totalMerges && heap.size > 0) {
    const [stored, a, b] = heap.pop();
    const k = pairKey(a, b);
    if (banned.has(k)) continue;
    const current = pairCount.get(k) ?? 0;
    if (current === 0) continue;
    if (current !== stored) {
      heap.push(current, a, b); // counts of old pairs only fall: re-queue with the true count
      continue;
    }
    if (current < minFrequency) break;
    const text = tokens[a] + tokens[b];
    if (tokenId.has(text)) {
      banned.add(k); // another merge path already made this string
      pairWords.delete(k);
      continue;
    }
    const c = tokens.length;
    tokens.push(text);
    tokenId.set(text, c);
    merges.push(`${tokens[a]} ${tokens[b]}`);

    const stamp = merges.length;
    const touched: number[] = [];
    const list = pairWords.get(k) ?? [];
    pairWords.delete(k);
    for (const w of list) {
      if (seen[w] === stamp) continue;
      seen[w] = stamp;
      const s = start[w];
      const n = len[w];
      let found = false;
      for (let i = s; i < s + n - 1; i++) {
        if (sym[i] === a && sym[i + 1] === b) {
          found = true;
          break;
        }
      }
      if (!found) continue; // stale entry: an earlier merge already changed this word
      const f = freq[w];
      for (let i = s; i < s + n - 1; i++) bump(pairKey(sym[i], sym[i + 1]), -f);
      let j = s;
      for (let i = s; i < s + n;) {
        if (i < s + n - 1 && sym[i] === a && sym[i + 1] === b) {
          sym[j++] = c;
          i += 2;
        } else {
          sym[j++] = sym[i++];
        }
      }
      const m = j - s;
      len[w] = m;
      for (let i = s; i < s + m - 1; i++) {
        const pk = pairKey(sym[i], sym[i + 1]);
        bump(pk, f);
        if (sym[i] === c || sym[i + 1] === c) {
          addWord(pk, w);
          touched.push(pk);
        }
      }
    }
    // Only pairs holding the new token can have grown: queue them with their final counts.
    const pushed = new Set<number>();
    for (const pk of touched) {
      if (pushed.has(pk)) continue;
      pushed.add(pk);
      const cnt = pairCount.get(pk);
      if (cnt !== undefined) heap.push(cnt, Math.floor(pk / SHIFT), pk % SHIFT);
    }
    if (opts.onProgress && merges.length % progressEvery === 0) opts.onProgress(merges.length, totalMerges);
  }
  if (opts.onProgress && merges.length % progressEvery !== 0) opts.onProgress(merges.length, totalMerges);

  return buildJson(tokens, merges, specials, opts.modelMaxLength ?? 2048);
}

function buildJson(tokens: string[], merges: string[], specials: string[], modelMaxLength: number): TrainedTokenizer {
  // A null-prototype object, so a token spelt "__proto__" is an ordinary key.
  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => (vocab[t] = i));
  const addedTokens = specials.map((content, i) => ({
    id: tokens.length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const eos = specials[0] ?? null;
  const pad = specials.find((s) => /pad/i.test(s)) ?? specials[1] ?? null;
  const addedTokensDecoder: Record<string, object> = {};
  for (const t of addedTokens) {
    addedTokensDecoder[String(t.id)] = {
      content: t.content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    };
  }
  const tokenizerConfigJson = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: eos,
    eos_token: eos,
    pad_token: pad,
    unk_token: null,
    model_max_length: modelMaxLength,
    clean_up_tokenization_spaces: false,
    add_bos_token: false,
    add_eos_token: false,
    model_input_names: ['input_ids', 'attention_mask'],
    added_tokens_decoder: addedTokensDecoder,
  };
  return { tokenizerJson, tokenizerConfigJson };
}

/**
 * tokenizer.json text with the vocab listed in id order (as HF writes it). Plain JSON.stringify would
 * list integer-like tokens ("0", "10", ...) first, since JS objects order such keys numerically.
 */
function stringifyTokenizerJson(json: object): string {
  const model = (json as { model?: { vocab?: Record<string, number> } }).model;
  if (!model?.vocab) return JSON.stringify(json, null, 2);
  const placeholder = '__VOCAB_IN_ID_ORDER__';
  const text = JSON.stringify({ ...json, model: { ...model, vocab: placeholder } }, null, 2);
  const at = text.indexOf(`"${placeholder}"`);
  const indent = text.slice(text.lastIndexOf('\n', at) + 1).match(/^ */)![0];
  const entries = Object.entries(model.vocab).sort((x, y) => x[1] - y[1]);
  const body = entries.map(([t, id]) => `${indent}  ${JSON.stringify(t)}: ${id}`).join(',\n');
  return text.slice(0, at) + `{\n${body}\n${indent}}` + text.slice(at + placeholder.length + 2);
}

/** Writes tokenizer.json and tokenizer_config.json into dir (created when missing). */
export function saveTokenizer(dir: string, trained: TrainedTokenizer): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), stringifyTokenizerJson(trained.tokenizerJson) + '\n');
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(trained.tokenizerConfigJson, null, 2) + '\n');
}
