/** MBPP -> HumanEval-style prompt/completion JSONL (engine/data/mbpp.ts) on the real mbpp.jsonl from ../shared. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../engine/errors';
import { convertMbpp, MbppProblem, mbppToJsonl, readMbpp } from '../../engine/data/mbpp';
import { tempDir } from '../helpers/reference';
import { sharedDataFile } from '../helpers/shared-data';

const MBPP = sharedDataFile('mbpp', 'mbpp.jsonl');
const skip = MBPP ? false : 'mbpp.jsonl not found beside the project (../shared/data/mbpp) nor in $DIFFLORA_SHARED';

interface Out {
  prompt: string;
  completion: string;
  task_id: number;
}
const readOut = (f: string): Out[] =>
  fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

function python(args: string[], input: string, cwd?: string) {
  return spawnSync(process.env.DIFFLORA_PYTHON ?? 'python3', args, { input, cwd, encoding: 'utf8', timeout: 20_000 });
}

test('MBPP: counts per split, task ids in range, nothing skipped', { skip }, async () => {
  const dir = tempDir('mbpp');
  const expected = { prompt: [10, 1, 10], test: [500, 11, 510], validation: [90, 511, 600], train: [374, 601, 974], all: [974, 1, 974] };
  for (const [split, [n, lo, hi]] of Object.entries(expected)) {
    const out = path.join(dir, `${split}.jsonl`);
    const r = await convertMbpp(MBPP as string, out, split);
    assert.equal(r.selected, n, split);
    assert.equal(r.written, n, split);
    assert.deepEqual(r.skipped, []);
    const recs = readOut(out);
    assert.equal(recs.length, n);
    assert.deepEqual(
      recs.map((x) => x.task_id),
      Array.from({ length: n }, (_, i) => lo + i),
    );
    assert.equal(recs[recs.length - 1].task_id, hi);
    assert.ok(recs.every((x) => Object.keys(x).join() === 'prompt,completion,task_id'));
    assert.match(r.summary, new RegExp(`^MBPP ${split} .*: ${n} of ${n} problems -> `));
  }
});

test('MBPP: HumanEval-style prompt for a known task', { skip }, async () => {
  const out = path.join(tempDir('mbpp'), 'prompt.jsonl');
  await mbppToJsonl(MBPP as string, out, 'prompt');
  const byId = new Map(readOut(out).map((x) => [x.task_id, x]));
  // task 2: "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(...)\r\n  return (res) "
  assert.equal(
    byId.get(2)?.prompt,
    'def similar_elements(test_tup1, test_tup2):\n' +
      '  """Write a function to find the similar elements from the given two tuple lists.\n' +
      '  >>> similar_elements((3, 4, 5, 6),(5, 7, 4, 10))\n' +
      '  (4, 5)\n' +
      '  """\n',
  );
  assert.equal(byId.get(2)?.completion, '  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res)\n');
  // task 1: the constants before the function stay above it.
  assert.ok(
    byId.get(1)?.prompt.startsWith('R = 3\nC = 3\n\n\ndef min_cost(cost, m, n):\n\t"""Write a function to find the minimum cost path'),
  );
  // task 3: imports too.
  assert.ok(byId.get(3)?.prompt.startsWith('import math\n\n\ndef is_not_prime(n):\n'));
});

test('MBPP: prompt + completion parse, and a sample passes its own tests when run', { skip }, async () => {
  const out = path.join(tempDir('mbpp'), 'all.jsonl');
  await mbppToJsonl(MBPP as string, out, 'all');
  const recs = new Map(readOut(out).map((x) => [x.task_id, x]));
  const problems = new Map<number, MbppProblem>(readMbpp(MBPP as string).map((p) => [p.task_id, p]));
  // A spread over the splits, plus the ones with test setup code, several functions or a class.
  const withSetup = [...problems.values()].filter((p) => p.test_setup_code.trim() !== '').map((p) => p.task_id);
  const sample = [...new Set([1, 2, 3, 10, 11, 57, 150, 333, 510, 511, 555, 600, 601, 700, 888, 974, ...withSetup])];
  const work = tempDir('mbpp-run');
  for (const id of sample) {
    const r = recs.get(id);
    const p = problems.get(id);
    assert.ok(r && p, `task ${id}`);
    const code = r.prompt + r.completion;
    const parsed = python(['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], code);
    assert.equal(parsed.status, 0, `task ${id} does not parse:\n${parsed.stderr}`);
    const program = [code, p.test_setup_code, ...p.test_list, ''].join('\n');
    const run = spawnSync(process.env.DIFFLORA_PYTHON ?? 'python3', ['-c', program], { cwd: work, encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 0, `task ${id} fails its tests:\n${run.stderr}`);
  }
});

test('MBPP: a bad split name, a broken file, an unwritable output are clear errors', { skip }, async () => {
  const dir = tempDir('mbpp');
  await assert.rejects(
    convertMbpp(MBPP as string, path.join(dir, 'x.jsonl'), 'dev'),
    (e: unknown) => e instanceof InputError && (e as Error).message === "--split: 'dev' is not one of prompt, test, validation, train, all",
  );
  const broken = path.join(dir, 'broken.jsonl');
  const first = fs.readFileSync(MBPP as string, 'utf8').split('\n')[0];
  fs.writeFileSync(broken, `${first}\n{"text": "no code", "task_id": 2}\n`);
  await assert.rejects(
    convertMbpp(broken, path.join(dir, 'y.jsonl'), 'all'),
    (e: unknown) => e instanceof InputError && (e as Error).message === `${broken}:2: 'code' must be a non-empty string`,
  );
  await assert.rejects(
    convertMbpp(MBPP as string, path.join(dir, 'no', 'such', 'z.jsonl'), 'prompt'),
    (e: unknown) => e instanceof InputError && /cannot write: folder .* does not exist/.test((e as Error).message),
  );
  const onlyPrompt = path.join(dir, 'p.jsonl');
  fs.writeFileSync(onlyPrompt, `${first}\n`);
  await assert.rejects(
    convertMbpp(onlyPrompt, path.join(dir, 'w.jsonl'), 'train'),
    (e: unknown) =>
      e instanceof InputError && (e as Error).message === `${onlyPrompt}: no problem with a task_id in 601-974 (split 'train')`,
  );
});
