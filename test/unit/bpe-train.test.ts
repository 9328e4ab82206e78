/**
 * The byte-level BPE trainer: trained on a few hundred KB of the Python standard library, the
 * tokenizer.json it writes loads in tokenizers.js (through our TextTokenizer), round-trips held-out
 * code exactly, keeps special tokens whole, is deterministic, compresses, and encodes every word
 * exactly as an independent rank-ordered BPE over the same merges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { byteToUnicode, saveTokenizer, trainByteLevelBpe } from '../../engine/tokenizer-train/bpe';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { tempDir } from '../helpers/reference';

const SPECIALS = ['<|endoftext|>', '<|pad|>'];
const VOCAB = 600;

interface BpeModelJson {
  vocab: Record<string, number>;
  merges: string[];
}
interface TokJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: BpeModelJson;
}

function stdlibDir(): string {
  const py = process.env.DIFFLORA_PYTHON ?? 'python3';
  const r = spawnSync(py, ['-c', "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${py} cannot name its standard library: ${r.stderr}`);
  return r.stdout.trim();
}

/** Top-level stdlib modules (< 60 KB each), sorted: even places train (~400 KB), odd places are held out. */
function corpus(): { train: string[]; heldOut: { name: string; text: string }[] } {
  const dir = stdlibDir();
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.py') && fs.statSync(path.join(dir, f)).size < 60_000)
    .sort();
  const train: string[] = [];
  let size = 0;
  for (let i = 0; i < files.length && size < 400_000; i += 2) {
    const text = fs.readFileSync(path.join(dir, files[i]), 'utf8');
    train.push(text);
    size += text.length;
  }
  const odd = files.filter((_, i) => i % 2 === 1).map((f) => ({ name: f, text: fs.readFileSync(path.join(dir, f), 'utf8') }));
  const nonAscii = odd.filter((f) => /[^\x00-\x7f]/.test(f.text)).slice(0, 3);
  const ascii = odd.filter((f) => f.text.length > 2000 && !/[^\x00-\x7f]/.test(f.text)).slice(0, 3);
  const heldOut = [...nonAscii, ...ascii];
  const base = ascii[0].text;
  heldOut.push({ name: 'crlf+tabs', text: base.replace(/\n/g, '\r\n').replace(/^( {4})+/gm, (m) => '\t'.repeat(m.length / 4)) });
  heldOut.push({
    name: 'unicode',
    text:
      '# -*- coding: utf-8 -*-\ndef grüße(名前: str) -> str:\n    """Grüße, 数据 🙂👍🏽 👨‍👩‍👧 naïve café e\u0301 Ω≈ç√ ∑ 𝔘𝔫𝔦 ﷽"""\n' +
      '\treturn f"¡Hola, {名前}!\\t"\r\n\u00a0\u2028\u0085\ufeffx = 1\u200b\n\n\n    \n',
  });
  return { train, heldOut };
}

let cached: { dir: string; tok: TextTokenizer; json: TokJson; heldOut: { name: string; text: string }[]; train: string[] } | undefined;
function trained() {
  if (cached) return cached;
  const { train, heldOut } = corpus();
  const result = trainByteLevelBpe(train, { vocabSize: VOCAB, specialTokens: SPECIALS });
  const dir = tempDir('bpe');
  saveTokenizer(dir, result);
  const tok = TextTokenizer.fromFolder(dir);
  assert.ok(tok, 'the saved tokenizer loads');
  cached = { dir, tok, json: result.tokenizerJson as TokJson, heldOut, train };
  return cached;
}

test('BPE trainer: exact round trip of held-out stdlib files, unicode, tabs and CRLF', () => {
  const { tok, heldOut } = trained();
  assert.ok(
    heldOut.some((f) => /[^\x00-\x7f]/.test(f.text) && f.name.endsWith('.py')),
    'a held-out stdlib file has non-ASCII text',
  );
  for (const { name, text } of heldOut) {
    const ids = tok.encode(text, false);
    assert.equal(tok.decode(ids), text, name);
  }
});

test('BPE trainer: vocabulary layout (bytes = ids 0..255, merges, specials last) and merge count', () => {
  const { tok, json } = trained();
  const b2u = byteToUnicode();
  // GPT-2's byte alphabet: printable ASCII as itself, space/newline/tab/CR shifted to U+0100+.
  assert.equal(b2u[65], 'A');
  assert.equal(b2u[32], 'Ġ');
  assert.equal(b2u[10], 'Ċ');
  assert.equal(b2u[9], 'ĉ');
  assert.equal(b2u[13], 'č');
  assert.equal(b2u[0], 'Ā');
  assert.equal(new Set(b2u).size, 256);
  for (let b = 0; b < 256; b++) assert.equal(json.model.vocab[b2u[b]], b, `byte ${b}`);
  assert.equal(json.model.merges.length, VOCAB - 256 - SPECIALS.length);
  assert.equal(Object.keys(json.model.vocab).length, VOCAB - SPECIALS.length);
  assert.deepEqual(
    json.added_tokens.map((t) => [t.id, t.content, t.special]),
    SPECIALS.map((s, i) => [VOCAB - SPECIALS.length + i, s, true]),
  );
  // Merge i makes token 256 + i, and every merged token is new.
  json.model.merges.forEach((m, i) => assert.equal(json.model.vocab[m.replace(' ', '')], 256 + i, m));
  assert.deepEqual(tok.encode('A', false), [65]);
  // The file lists the vocab in id order and parses back to the trained object.
  const file = fs.readFileSync(path.join(trained().dir, 'tokenizer.json'), 'utf8');
  assert.deepEqual(JSON.parse(file), JSON.parse(JSON.stringify(json)));
  const vocabText = file.slice(file.indexOf('"vocab": {'), file.indexOf('"merges": ['));
  const ids = [...vocabText.matchAll(/^ {6}".*": (\d+),?$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(ids, [...Array(VOCAB - SPECIALS.length).keys()]);
  const cfg = JSON.parse(fs.readFileSync(path.join(trained().dir, 'tokenizer_config.json'), 'utf8'));
  assert.equal(cfg.eos_token, '<|endoftext|>');
  assert.equal(cfg.pad_token, '<|pad|>');
  assert.equal(cfg.add_bos_token, false);
  assert.equal(cfg.clean_up_tokenization_spaces, false);
});

test('BPE trainer: special tokens encode to their single ids', () => {
  const { tok } = trained();
  const eot = VOCAB - 2;
  const pad = VOCAB - 1;
  assert.equal(tok.idOf('<|endoftext|>'), eot);
  assert.equal(tok.idOf('<|pad|>'), pad);
  assert.deepEqual(tok.encode('<|endoftext|>'), [eot], 'no BOS is added');
  const text = 'import os\n<|endoftext|>def f():\n    pass<|pad|><|pad|>';
  const ids = tok.encode(text);
  assert.equal(ids.filter((i) => i === eot).length, 1);
  assert.deepEqual(ids.slice(-2), [pad, pad]);
  assert.ok(ids.every((i) => i === eot || i === pad || i < VOCAB - 2));
  assert.equal(tok.decode(ids), text);
  assert.equal(tok.decode(ids, true), 'import os\ndef f():\n    pass');
});

test('BPE trainer: deterministic; the order of the texts does not matter', () => {
  const { train, dir } = trained();
  const again = tempDir('bpe2');
  saveTokenizer(again, trainByteLevelBpe(train, { vocabSize: VOCAB, specialTokens: SPECIALS }));
  const reversed = tempDir('bpe3');
  saveTokenizer(reversed, trainByteLevelBpe([...train].reverse(), { vocabSize: VOCAB, specialTokens: SPECIALS }));
  const first = fs.readFileSync(path.join(dir, 'tokenizer.json'));
  assert.ok(first.equals(fs.readFileSync(path.join(again, 'tokenizer.json'))), 'same corpus, same bytes');
  assert.ok(first.equals(fs.readFileSync(path.join(reversed, 'tokenizer.json'))), 'reordered corpus, same bytes');
});

test('BPE trainer: compresses held-out code well below one token per byte', (t) => {
  const { tok, heldOut } = trained();
  let bytes = 0;
  let tokens = 0;
  for (const { name, text } of heldOut) {
    if (!name.endsWith('.py')) continue;
    bytes += Buffer.byteLength(text);
    tokens += tok.encode(text, false).length;
  }
  const ratio = tokens / bytes;
  t.diagnostic(`vocab ${VOCAB}: ${tokens} tokens for ${bytes} held-out bytes = ${ratio.toFixed(3)} tokens/byte`);
  assert.ok(ratio < 0.55, `tokens per byte ${ratio}`);
});

test('BPE trainer: characters never seen in training still round-trip through the byte alphabet', () => {
  const dir = tempDir('bpe-ascii');
  saveTokenizer(dir, trainByteLevelBpe(['def add(a, b):\n    return a + b\n'.repeat(50)], { vocabSize: 300, specialTokens: SPECIALS }));
  const tok = TextTokenizer.fromFolder(dir);
  assert.ok(tok);
  const text = 'ß 𓀀 数 😀\u0000\u007f\u0080\u00ad\ufffd ✓ def add(ü):\r\n\treturn 😀';
  const ids = tok.encode(text, false);
  assert.equal(tok.decode(ids), text);
  // 𓀀 is 4 bytes, none merged: four byte tokens.
  assert.deepEqual(tok.encode('𓀀', false), [...Buffer.from('𓀀', 'utf8')]);
});

test('BPE trainer: a hand-checked corpus gives the expected merges and tie-breaking', () => {
  const train = (minFrequency?: number) =>
    (trainByteLevelBpe(['aaab aaab ab'], { vocabSize: 261, specialTokens: [], minFrequency }).tokenizerJson as TokJson).model.merges;
  // Counts: (a,a)=4, then (a,b)=3, then (aa,ab)=2; then (Ġ,aaab) and (Ġ,ab) tie at 1: the smaller id (ab) wins.
  assert.deepEqual(train(1), ['a a', 'a b', 'aa ab', 'Ġ ab', 'Ġ aaab']);
  assert.deepEqual(train(), ['a a', 'a b', 'aa ab'], 'default minFrequency 2 stops early');
});

/** GPT-2's reference bpe(): repeatedly merge every occurrence of the lowest-ranked adjacent pair. */
function referenceEncode(text: string, json: TokJson): number[] {
  const ranks = new Map(json.model.merges.map((m, i) => [m, i]));
  const b2u = byteToUnicode();
  // The Llama-3 split pattern in plain JS syntax (written out independently of the trainer).
  const split =
    /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  const words = text.match(split) ?? [];
  assert.equal(words.join(''), text);
  const ids: number[] = [];
  for (const word of words) {
    let parts = [...Buffer.from(word, 'utf8')].map((b) => b2u[b]);
    for (;;) {
      let best = -1;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && (best < 0 || r < best)) best = r;
      }
      if (best < 0) break;
      const [l, r] = json.model.merges[best].split(' ');
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === l && parts[i + 1] === r) {
          next.push(l + r);
          i++;
        } else next.push(parts[i]);
      }
      parts = next;
    }
    for (const p of parts) ids.push(json.model.vocab[p]);
  }
  return ids;
}

test('BPE trainer: tokenizers.js ids equal an independent rank-ordered BPE over the merges', () => {
  const { tok, json, heldOut } = trained();
  const samples = [
    'self.assertEqual(x, 12345)\n',
    '        return self._data[key]\n',
    "    def __init__(self, *args, **kwargs):\n        super().__init__()  # it's fine\n",
    'aaaaaaaaaaaaaaaa                 ================ ',
    heldOut[0].text,
    heldOut[heldOut.length - 3].text,
  ];
  for (const s of samples) assert.deepEqual(tok.encode(s, false), referenceEncode(s, json), s.slice(0, 40));
});
