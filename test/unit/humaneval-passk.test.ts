/** pass@k (hand-computed values), the program and file shapes of openai/human-eval, labels, seeds, the cached download. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as zlib from 'zlib';
import { passAtK, passAtKTable, countByTask } from '../../engine/humaneval/passk';
import { buildProgram, humanEvalResult, readSamples } from '../../engine/humaneval/execute';
import { modelLabels, sampleSeed } from '../../engine/humaneval/run';
import { readProblems, resolveProblemsFile } from '../../engine/humaneval/problems';
import { readJsonFile } from '../../engine/formats/json-fields';
import { InputError } from '../../engine/errors';
import { CHAT_INSTRUCTION, chatPrompt } from '../../engine/humaneval/complete';
import { LoadedModel } from '../../engine/model/load';
import { expectInputError } from '../helpers/input-error';
import { tempDir } from '../helpers/reference';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('pass@k: the unbiased estimator against values worked out by hand', () => {
  // n = 10, c = 3, k = 1: c / n.
  close(passAtK(10, 3, 1), 0.3, 'n10 c3 k1');
  // n = 5, c = 2, k = 2: 1 - C(3,2)/C(5,2) = 1 - 3/10.
  close(passAtK(5, 2, 2), 0.7, 'n5 c2 k2');
  // n = 10, c = 1, k = 5: 1 - C(9,5)/C(10,5) = 1 - 126/252.
  close(passAtK(10, 1, 5), 0.5, 'n10 c1 k5');
  // n = 4, c = 1, k = 3: 1 - C(3,3)/C(4,3) = 3/4.
  close(passAtK(4, 1, 3), 0.75, 'n4 c1 k3');
  // n - c < k: certain.
  assert.equal(passAtK(5, 4, 2), 1);
  assert.equal(passAtK(3, 0, 3), 0);
  assert.equal(passAtK(1, 1, 1), 1);
  // Large n: no overflow (C(200,100) is ~9e58), and the exact value 1 - C(150,100)/C(200,100) through the product.
  const v = passAtK(200, 50, 100);
  assert.ok(v > 0.999999 && v <= 1, String(v));
  close(passAtK(200, 1, 100), 0.5, 'n200 c1 k100');
  assert.throws(() => passAtK(3, 1, 4), RangeError);
  assert.throws(() => passAtK(3, 4, 1), RangeError);
});

test('pass@k of a set: the mean over tasks, only for k <= n of every task', () => {
  const results = [
    ...[true, false, false, false].map((passed) => ({ task_id: 'A', passed })),
    ...[true, true, false, false].map((passed) => ({ task_id: 'B', passed })),
  ];
  const counts = countByTask(results);
  assert.deepEqual(counts, [
    { task_id: 'A', n: 4, c: 1 },
    { task_id: 'B', n: 4, c: 2 },
  ]);
  const t = passAtKTable(counts, [1, 2, 10]);
  close(t['pass@1'], (0.25 + 0.5) / 2, 'pass@1');
  // A: 1 - C(3,2)/C(4,2) = 1/2; B: 1 - C(2,2)/C(4,2) = 5/6.
  close(t['pass@2'], (0.5 + 5 / 6) / 2, 'pass@2');
  assert.equal(t['pass@10'], undefined);
  assert.deepEqual(
    Object.keys(
      passAtKTable(
        [
          { task_id: 'A', n: 3, c: 1 },
          { task_id: 'B', n: 1, c: 1 },
        ],
        [1, 2],
      ),
    ),
    ['pass@1'],
  );
});

test("the program and the result strings are openai/human-eval's", () => {
  const p = {
    task_id: 'T/0',
    prompt: 'def f(x):\n    """doc"""\n',
    entry_point: 'f',
    canonical_solution: '    return x\n',
    test: 'def check(c):\n    assert c(1) == 1\n',
  };
  assert.equal(
    buildProgram(p, '    return x\n'),
    'def f(x):\n    """doc"""\n    return x\n\ndef check(c):\n    assert c(1) == 1\n\ncheck(f)',
  );
  assert.equal(humanEvalResult('passed', null), 'passed');
  assert.equal(humanEvalResult('timed out', null), 'timed out');
  assert.equal(humanEvalResult('failed', 'AssertionError'), 'failed: AssertionError');
});

test('model labels: base, then the adapter folders, made unique and safe as folder names', () => {
  assert.deepEqual(
    modelLabels([
      { model: 'm' },
      { model: 'm', adapter: '/x/lora' },
      { model: 'm', adapter: '/y/lora' },
      { model: 'm', adapter: '/z/my diff' },
    ]),
    ['base', 'lora', 'lora-2', 'my_diff'],
  );
});

test('per-sample seeds depend on the seed, the task and the index only', () => {
  assert.equal(sampleSeed(0, 'HumanEval/1', 2), sampleSeed(0, 'HumanEval/1', 2));
  const seeds = new Set([sampleSeed(0, 'A', 0), sampleSeed(0, 'A', 1), sampleSeed(0, 'B', 0), sampleSeed(1, 'A', 0)]);
  assert.equal(seeds.size, 4);
});

test('samples files: extra keys kept, bad lines named by file:line', () => {
  const dir = tempDir('he-samples');
  const problems = new Map([
    ['T/0', { task_id: 'T/0', prompt: 'def f():\n', entry_point: 'f', canonical_solution: '    return 1\n', test: 'def check(c): pass' }],
  ]);
  const write = (name: string, lines: string[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, lines.join('\n'));
    return f;
  };
  const ok = readSamples(
    write('ok.jsonl', ['{"task_id": "T/0", "completion": "    return 1\\n", "model": "x"}', '', '{"task_id": "T/0", "completion": ""}']),
    problems,
  );
  assert.equal(ok.length, 2);
  assert.equal(ok[0].model, 'x');
  expectInputError(
    () => readSamples(write('a.jsonl', ['{"task_id": "T/0", "completion": "x"}', '{oops']), problems),
    'a.jsonl:2',
    'not valid JSON',
  );
  expectInputError(
    () => readSamples(write('b.jsonl', ['{"task_id": "T/9", "completion": "x"}']), problems),
    'b.jsonl:1 (T/9)',
    'not in the problems file',
  );
  expectInputError(() => readSamples(write('c.jsonl', ['{"task_id": "T/0"}']), problems), 'c.jsonl:1 (T/0)', "'completion'");
  expectInputError(() => readSamples(write('d.jsonl', ['[1, 2]']), problems), 'd.jsonl:1', 'JSON object');
  expectInputError(() => readSamples(write('e.jsonl', ['']), problems), 'e.jsonl', 'no samples');
  expectInputError(() => readSamples(path.join(dir, 'missing.jsonl'), problems), 'missing.jsonl', 'not found');
});

test('problem records: an entry point that is not a Python name is refused with its line and task', () => {
  const dir = tempDir('he-prob');
  const f = path.join(dir, 'p.jsonl');
  const rec = {
    task_id: 'T/1',
    prompt: 'def f():\n',
    entry_point: 'f); import os; (',
    canonical_solution: '    return 1\n',
    test: 'def check(c): pass',
  };
  fs.writeFileSync(f, `${JSON.stringify(rec)}\n`);
  expectInputError(() => readProblems(f), 'p.jsonl:1 (T/1)', 'entry_point');
});

test('a problems "path" that is a number is refused, never read as a file descriptor (found by the fuzz tier: the engine hung)', async () => {
  // humaneval/problems {"path": 4} made readFileSync(4) block on the engine's own pipe.
  for (const bad of [4, 0, '', null, {}])
    expectInputError(() => readProblems(bad as unknown as string), 'problems', 'expected the path of a .jsonl or .jsonl.gz file');
  await assert.rejects(
    resolveProblemsFile({ file: 4 as unknown as string }),
    (e: unknown) => e instanceof InputError && /^problems: expected the path/.test((e as Error).message),
  );
  expectInputError(() => readJsonFile(3 as unknown as string), '3', 'expected a file path');
});

test('without --problems the set is downloaded once, validated, then read from the cache', async () => {
  const dir = tempDir('he-dl');
  const good = zlib.gzipSync(
    `${JSON.stringify({ task_id: 'T/0', prompt: 'def f():\n', entry_point: 'f', canonical_solution: '    return 1\n', test: 'def check(c):\n    assert c() == 1\n' })}\n`,
  );
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/data/HumanEval.jsonl.gz') {
      res.writeHead(200);
      res.end(good);
    } else if (req.url === '/broken/HumanEval.jsonl.gz') {
      res.writeHead(200);
      res.end('<html>not gzip</html>');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const cacheDir = path.join(dir, 'cache');
    const f1 = await resolveProblemsFile({ url: `${base}/data/HumanEval.jsonl.gz`, cacheDir });
    const f2 = await resolveProblemsFile({ url: `${base}/data/HumanEval.jsonl.gz`, cacheDir });
    assert.equal(f1, f2);
    assert.equal(hits, 1);
    assert.equal(readProblems(f1)[0].task_id, 'T/0');
    // A given file wins, without any request.
    assert.equal(await resolveProblemsFile({ file: '/some/file.jsonl', url: `${base}/x`, cacheDir }), '/some/file.jsonl');
    assert.equal(hits, 1);
    // A broken download is an error and is not cached; so is a failed one.
    const brokenCache = path.join(dir, 'cache2');
    await assert.rejects(
      resolveProblemsFile({ url: `${base}/broken/HumanEval.jsonl.gz`, cacheDir: brokenCache }),
      (e: unknown) => e instanceof InputError && /not a HumanEval problem set/.test((e as Error).message),
    );
    assert.deepEqual(fs.readdirSync(brokenCache), []);
    await assert.rejects(
      resolveProblemsFile({ url: `${base}/missing/HumanEval.jsonl.gz`, cacheDir: brokenCache }),
      (e: unknown) => e instanceof InputError && /--problems.*HTTP 404.*--problems/.test((e as Error).message),
    );
  } finally {
    server.close();
  }
});

test('chat format: the template renders the instruction, then the answer starts with a fence and the prompt', () => {
  const tok = {
    config: {
      chat_template:
        '{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}',
      bos_token: '<s>',
    },
  };
  const m = { dir: '/models/chat', tokenizer: tok } as unknown as LoadedModel;
  const prompt = 'def f(x):\n    """Twice x."""\n';
  assert.equal(
    chatPrompt(m, prompt),
    `<s><user>${CHAT_INSTRUCTION}\n\n\`\`\`python\n${prompt}\`\`\`</user><assistant>\`\`\`python\n${prompt}`,
  );
  const plain = { dir: '/models/base', tokenizer: { config: {} } } as unknown as LoadedModel;
  expectInputError(() => chatPrompt(plain, prompt), path.join('/models/base', 'tokenizer_config.json'), 'no chat_template');
});
