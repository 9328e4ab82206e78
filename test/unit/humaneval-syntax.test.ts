/** HumanEval problem reading (validated) and the syntax check behind the model card's parse rate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../engine/errors';
import { readProblems } from '../../engine/humaneval/problems';
import { NEXT_TOP_LEVEL, parseChecks } from '../../engine/humaneval/syntax-rate';
import { tempDir } from '../helpers/reference';
import { sharedDataFile } from '../helpers/shared-data';

const HUMANEVAL = sharedDataFile('humaneval', 'HumanEval.jsonl.gz');
const skip = HUMANEVAL ? false : 'HumanEval.jsonl.gz not found beside the project (../shared/data/humaneval) nor in $DIFFLORA_SHARED';
if (skip) console.log(`skipped: ${skip}`);

test('the 164 HumanEval problems read from the .gz; canonical solutions count, blank completions do not', { skip }, () => {
  const problems = readProblems(HUMANEVAL as string);
  assert.equal(problems.length, 164);
  assert.equal(problems[0].task_id, 'HumanEval/0');
  const good = parseChecks(problems.map((p) => ({ prompt: p.prompt, completion: p.canonical_solution, entryPoint: p.entry_point })));
  assert.equal(good.filter((r) => r.parses).length, 164);
  const bare = parseChecks(problems.map((p) => ({ prompt: p.prompt, completion: '    \n', entryPoint: p.entry_point })));
  assert.equal(bare.filter((r) => r.parses).length, 0);
  const broken = parseChecks([{ prompt: problems[0].prompt, completion: '    return (\n', entryPoint: problems[0].entry_point }]);
  assert.equal(broken[0].parses, false);
  assert.match(broken[0].error as string, /SyntaxError/);
});

test('the next top-level statement ends a completion, indented code and closing brackets do not', () => {
  const text = '    x = [\n        1,\n]\n    return x\n\ndef other():\n    pass\n';
  assert.equal(text.slice(0, text.search(NEXT_TOP_LEVEL)), '    x = [\n        1,\n]\n    return x\n');
});

test('bad problem files are named by line and task', () => {
  const dir = tempDir('he');
  const write = (name: string, lines: string[]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, lines.join('\n'));
    return f;
  };
  const rec = { task_id: 'T/1', prompt: 'def f():\n', entry_point: 'f', canonical_solution: '    return 1\n', test: 'def check(c): pass' };
  const expectError = (f: string, re: RegExp) =>
    assert.throws(
      () => readProblems(f),
      (e: unknown) => e instanceof InputError && re.test((e as Error).message),
    );
  expectError(write('a.jsonl', [JSON.stringify(rec), '{not json']), /a\.jsonl:2: not valid JSON/);
  expectError(write('b.jsonl', [JSON.stringify({ ...rec, test: 3 })]), /b\.jsonl:1 \(T\/1\): field 'test'/);
  expectError(write('c.jsonl', [JSON.stringify(rec), JSON.stringify(rec)]), /c\.jsonl:2 \(T\/1\): duplicate task_id/);
  expectError(write('d.jsonl', ['', '']), /no problems/);
  expectError(write('e.jsonl.gz', ['plain text']), /not a valid gzip/);
  expectError(path.join(dir, 'missing.jsonl'), /not found/);
});
