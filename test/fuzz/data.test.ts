/**
 * Fuzzing the line-based inputs: the JSONL line reader (any bytes: CR, LF, BOM, bad UTF-8, lines across
 * its 1 MiB chunks) against a plain reference; training datasets (loadJsonlDataset with the real Llama-3
 * tokenizer and chat template) of good, mutated and garbage lines under any options; MBPP files (the
 * input of `difflora data mbpp`); HumanEval problem
 * files (.jsonl and .jsonl.gz) and samples files. Each loads to well-formed records or gives one
 * InputError naming the file (and the line where there is one).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { InputError } from '../../engine/errors';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { DatasetOptions, loadJsonlDataset } from '../../engine/data/examples';
import { readLines } from '../../engine/data/jsonl';
import { readMbpp } from '../../engine/data/mbpp';
import { Problem, readProblems } from '../../engine/humaneval/problems';
import { readSamples } from '../../engine/humaneval/execute';
import { fuzzParams, valueOrError } from '../helpers/fuzz';
import { ROOT, tempDir } from '../helpers/reference';

const dir = tempDir('fuzz-data');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const nextFile = (ext: string) => path.join(dir, `d${counter++}${ext}`);

/** The lines of `bytes` as readLines must give them: split on LF, BOM dropped, one CR before LF dropped, bad UTF-8 flagged. */
function referenceLines(bytes: Buffer): { line: number; text?: string }[] {
  const out: { line: number; text?: string }[] = [];
  let start = 0;
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++)
    if (bytes[i] === 0x0a) {
      pieces.push(bytes.subarray(start, i));
      start = i + 1;
    }
  if (start < bytes.length) pieces.push(bytes.subarray(start));
  pieces.forEach((p, i) => {
    let b = p;
    if (i === 0 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    if (b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
    try {
      out.push({ line: i + 1, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b) });
    } catch {
      out.push({ line: i + 1 });
    }
  });
  return out;
}

/** Bytes that look like text files: pieces of JSON, CR, LF, BOMs, bad UTF-8, multi-byte characters. */
const textBytesArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('\n', '\r\n', '\r', '\ufeff', '{"text": "hi"}', 'é', '🙂', '\u2028', ' ', '').map((s) => Buffer.from(s, 'utf8')),
      fc
        .constantFrom([0xef, 0xbb, 0xbf], [0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0])
        .map((b) => Buffer.from(b)),
      fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
    ),
    { maxLength: 24 },
  )
  .map((parts) => Buffer.concat(parts));

describe('fuzz: JSONL line reader', () => {
  test('any bytes: the same lines as the reference split', () => {
    fc.assert(
      fc.property(textBytesArb, (bytes) => {
        const file = nextFile('.jsonl');
        fs.writeFileSync(file, bytes);
        try {
          assert.deepEqual([...readLines(file)], referenceLines(bytes));
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(500),
    );
  });

  test('lines, CRs and multi-byte characters across the 1 MiB chunk boundary', () => {
    const CHUNK = 1 << 20;
    fc.assert(
      fc.property(textBytesArb, fc.integer({ min: -12, max: 12 }), (tail, shift) => {
        const pad = Buffer.alloc(CHUNK + shift - Math.min(tail.length, 6), 0x61);
        const bytes = Buffer.concat([pad, tail, tail]);
        const file = nextFile('.jsonl');
        fs.writeFileSync(file, bytes);
        try {
          assert.deepEqual([...readLines(file)], referenceLines(bytes));
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(25, 400),
    );
  });

  test('a folder or a missing file: an InputError naming it', () => {
    for (const p of [dir, path.join(dir, 'missing.jsonl')])
      assert.throws(
        () => [...readLines(p)],
        (e: Error) => e instanceof InputError && e.message.startsWith(p),
      );
  });
});

/** The real Llama-3 tokenizer and its chat template (as in test/unit/data-examples.test.ts). */
const TOK = (() => {
  const tokDir = tempDir('fuzz-tok');
  const src = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(src, f), path.join(tokDir, f));
  const tok = TextTokenizer.fromFolder(tokDir)!;
  fs.rmSync(tokDir, { recursive: true });
  return tok;
})();

const shortText = fc.oneof(
  fc.constantFrom(
    'def f(x):\n    return x\n',
    'Hello world',
    'a',
    ' ',
    '',
    '<|eot_id|>',
    '<|begin_of_text|>',
    '\u0002difflora-assistant-1\u0003',
    '{{ x }}',
    '\ud800',
    '🙂',
  ),
  fc.string({ maxLength: 16 }),
  fc.string({ maxLength: 8, unit: 'binary' }),
);
const messageArb = fc.record(
  {
    role: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('system', 'user', 'assistant') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 0 }) },
    ),
    content: fc.oneof({ weight: 4, arbitrary: shortText }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
  },
  { requiredKeys: [] },
);
const recordArb = fc.oneof(
  fc.record({ prompt: shortText, completion: shortText }, { requiredKeys: [] }),
  fc.record({ text: fc.oneof(shortText, fc.jsonValue({ maxDepth: 1 })) }),
  fc.record({
    messages: fc.oneof(
      { weight: 5, arbitrary: fc.array(messageArb, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
    ),
  }),
  fc.record({ code: fc.string(), test_list: fc.array(fc.string()) }),
  fc.record({ text: shortText, prompt: shortText }),
  fc.jsonValue({ maxDepth: 2 }),
);
const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: recordArb.map((r) => Buffer.from(JSON.stringify(r))) },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', '{', '[1,', 'null', '"text"', '{"text": "a\u0000b"}').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0a))) },
);
const optionsArb: fc.Arbitrary<DatasetOptions> = fc.record({
  maxLength: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 2, max: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 2.5, -3, NaN, Infinity) },
  ),
  onBadLine: fc.constantFrom('stop', 'skip') as fc.Arbitrary<'stop' | 'skip'>,
  onTooLong: fc.constantFrom('truncate', 'skip', 'error') as fc.Arbitrary<'truncate' | 'skip' | 'error'>,
});

describe('fuzz: training datasets (JSONL)', () => {
  test('good, mutated and garbage lines under any options: examples with valid masks, or an InputError at file:line', () => {
    const seen = { examples: 0, messages: 0, skipped: 0, errors: 0 };
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), optionsArb, (lines, eol, opts) => {
        const file = nextFile('.jsonl');
        fs.writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from(eol)])));
        try {
          const r = valueOrError(() => loadJsonlDataset(file, TOK, opts), InputError, /^(maxLength|\S+\.jsonl)/);
          if (r.error) {
            if (!r.error.message.startsWith('maxLength')) assert.ok(r.error.message.startsWith(file), r.error.message);
            seen.errors++;
            return;
          }
          const rep = r.value!;
          seen.examples += rep.examples.length;
          seen.skipped += rep.skipped.length;
          if (rep.format === 'messages' || rep.format === 'mixed') seen.messages++;
          assert.ok(rep.examples.length > 0);
          for (const e of rep.examples) {
            assert.ok(e.ids.length >= 2 && e.ids.length <= opts.maxLength, `${e.ids.length} tokens`);
            assert.equal(e.targetMask.length, e.ids.length);
            assert.equal(e.targetMask[0], 0);
            assert.ok(e.targetMask.every((m) => m === 0 || m === 1) && e.targetMask.includes(1));
            assert.ok(e.ids.every((id) => Number.isInteger(id) && id >= 0));
            assert.match(e.source, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+$`));
          }
          for (const s of rep.skipped) assert.ok(s.where.startsWith(`${file}:`) && !s.reason.includes('\n'), JSON.stringify(s));
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(300, 5000),
    );
    // The generator must reach good examples (chat ones too), skipped lines and errors, or it tests little.
    assert.ok(
      Object.values(seen).every((n) => n > 0),
      JSON.stringify(seen),
    );
  });
});

describe('fuzz: MBPP files', () => {
  test('records with fields of any type: checked problems, or an InputError at file:line', () => {
    const recArb = fc
      .record(
        {
          task_id: fc.oneof(fc.integer({ min: 1, max: 974 }), fc.jsonValue({ maxDepth: 0 })),
          text: fc.oneof(fc.constant('Write a function.'), fc.jsonValue({ maxDepth: 1 })),
          code: fc.oneof(fc.constant('def f(x):\n    return x'), fc.jsonValue({ maxDepth: 1 })),
          test_list: fc.oneof(
            fc.constant(['assert f(1) == 1']),
            fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 0 })), { maxLength: 2 }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          test_setup_code: fc.jsonValue({ maxDepth: 1 }),
          challenge_test_list: fc.oneof(fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }), fc.jsonValue({ maxDepth: 1 })),
        },
        { requiredKeys: [] },
      )
      .map((r) => Buffer.from(JSON.stringify(r)));
    fc.assert(
      fc.property(fc.array(fc.oneof({ weight: 5, arbitrary: recArb }, { weight: 1, arbitrary: lineArb }), { maxLength: 4 }), (lines) => {
        const file = nextFile('.jsonl');
        fs.writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
        try {
          const r = valueOrError(() => readMbpp(file), InputError, file);
          for (const p of r.value ?? []) {
            assert.ok(
              Number.isInteger(p.task_id) &&
                typeof p.text === 'string' &&
                typeof p.code === 'string' &&
                typeof p.test_setup_code === 'string',
            );
            assert.ok(p.test_list.length > 0 && [...p.test_list, ...p.challenge_test_list].every((t) => typeof t === 'string'));
          }
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(400),
    );
  });
});

const GOOD_PROBLEM: Problem = {
  task_id: 'T/0',
  prompt: 'def f(x):\n',
  entry_point: 'f',
  canonical_solution: '    return x\n',
  test: 'def check(c):\n    assert c(1) == 1\n',
};
const problemLineArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          task_id: fc.oneof(fc.constantFrom('T/0', 'T/1', 'T/2'), fc.jsonValue({ maxDepth: 0 })),
          prompt: fc.oneof(fc.constant(GOOD_PROBLEM.prompt), fc.jsonValue({ maxDepth: 0 })),
          entry_point: fc.oneof(fc.constantFrom('f', 'g_1', '_x', 'f)\nimport os', '1f', '', 'f g', 'é'), fc.string({ maxLength: 6 })),
          canonical_solution: fc.oneof(fc.constant(GOOD_PROBLEM.canonical_solution), fc.jsonValue({ maxDepth: 0 })),
          test: fc.oneof(fc.constant(GOOD_PROBLEM.test), fc.jsonValue({ maxDepth: 0 })),
        },
        { requiredKeys: [] },
      )
      .map((r) => JSON.stringify(r)),
  },
  { weight: 1, arbitrary: fc.oneof(fc.json({ maxDepth: 1 }), fc.constantFrom('', ' ', '{', '\r', 'null', '[]', '"x"')) },
);

describe('fuzz: HumanEval problem and samples files', () => {
  test('problem files (.jsonl, .jsonl.gz, bad gzip): valid problems, or an InputError naming the file', () => {
    fc.assert(
      fc.property(fc.array(problemLineArb, { maxLength: 5 }), fc.constantFrom('jsonl', 'gz', 'gz-cut', 'gz-magic-only'), (lines, kind) => {
        const text = Buffer.from(lines.join('\n'));
        const file = nextFile(kind === 'jsonl' ? '.jsonl' : '.jsonl.gz');
        const gz = zlib.gzipSync(text);
        fs.writeFileSync(
          file,
          kind === 'jsonl'
            ? text
            : kind === 'gz'
              ? gz
              : kind === 'gz-cut'
                ? gz.subarray(0, gz.length >> 1)
                : Buffer.concat([Buffer.from([0x1f, 0x8b]), text]),
        );
        try {
          const r = valueOrError(() => readProblems(file), InputError, file);
          if (r.value) {
            const ids = new Set<string>();
            for (const p of r.value) {
              for (const f of ['task_id', 'prompt', 'entry_point', 'canonical_solution', 'test'] as const)
                assert.ok(typeof p[f] === 'string' && p[f].length > 0, f);
              assert.match(p.entry_point, /^[A-Za-z_][A-Za-z0-9_]*$/);
              assert.ok(!ids.has(p.task_id));
              ids.add(p.task_id);
            }
          }
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(400),
    );
  });

  test('samples files: records of known tasks with a string completion, or an InputError at file:line', () => {
    const problems = new Map([
      ['T/0', GOOD_PROBLEM],
      ['T/1', { ...GOOD_PROBLEM, task_id: 'T/1' }],
    ]);
    const sampleArb = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .record(
            {
              task_id: fc.oneof(fc.constantFrom('T/0', 'T/1', 'T/9', 'constructor', '__proto__'), fc.jsonValue({ maxDepth: 0 })),
              completion: fc.oneof(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })),
              extra: fc.jsonValue({ maxDepth: 1 }),
            },
            { requiredKeys: [] },
          )
          .map((r) => Buffer.from(JSON.stringify(r))),
      },
      { weight: 1, arbitrary: fc.constantFrom('', '  ', '{', 'null', '[1]', '"T/0"').map((s) => Buffer.from(s)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b.filter((x) => x !== 0x0a))) },
    );
    fc.assert(
      fc.property(fc.array(sampleArb, { maxLength: 5 }), (lines) => {
        const file = nextFile('.jsonl');
        fs.writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
        try {
          const r = valueOrError(() => readSamples(file, problems), InputError, file);
          if (r.value) {
            assert.ok(r.value.length > 0);
            for (const s of r.value) assert.ok(problems.has(s.task_id) && typeof s.completion === 'string');
          }
        } finally {
          fs.rmSync(file);
        }
      }),
      fuzzParams(400),
    );
  });
});
