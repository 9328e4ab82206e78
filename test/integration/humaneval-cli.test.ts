/**
 * `difflora humaneval` and `difflora humaneval-exec` as processes: base + LoRA + DiffLoRA in one run with a
 * pass@k table, a run killed with kill -9 that resumes without redoing finished samples (and ends with the
 * same samples as an uninterrupted run), an existing samples file executed with hand-checked pass@k, and
 * bad input named by file:line or flag.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runCli, runCliOk } from '../helpers/cli';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';
import { tinyModel } from '../helpers/train-fixture';
import { SANDBOX_UIDS } from '../../engine/humaneval/execute';

const dir = tempDir('he-cli');
let model = '',
  problems = '';

const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** Short problems the tiny model's tokenizer knows: prompts stay well inside its context. */
function writeProblems(file: string, count: number): string {
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      task_id: `Tiny/${i}`,
      prompt: `def scale_${i}(values):\n    """Multiply every value by ${i}."""\n`,
      entry_point: `scale_${i}`,
      canonical_solution: `    return [v * ${i} for v in values]\n`,
      test: `def check(candidate):\n    assert candidate([1, 2]) == [${i}, ${2 * i}]\n`,
    }),
  );
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function sandboxProcessCount(): number {
  let n = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (
        (uid >= SANDBOX_UIDS.first && uid < SANDBOX_UIDS.first + SANDBOX_UIDS.count) ||
        cmd.includes(path.join(ROOT, 'dist', 'engine', 'py', 'sandbox.py'))
      )
        n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

describe('difflora humaneval', () => {
  before(() => {
    model = tinyModel(path.join(dir, 'model'));
    problems = writeProblems(path.join(dir, 'problems.jsonl'), 12);
  });

  test('the base, then the base with a LoRA and with a DiffLoRA: samples, results and a pass@k table', () => {
    const lora = makeCheckpoint('lora', path.join(dir, 'lora'), ['--base', model, '--seed', '5']);
    const diff = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', model, '--seed', '6']);
    const out = path.join(dir, 'three');
    const r = runCliOk([
      'humaneval',
      '--model',
      model,
      '--adapter',
      lora,
      '--adapter',
      diff,
      '--problems',
      problems,
      '--limit',
      '3',
      '--n',
      '2',
      '--temperature',
      '0.8',
      '--k',
      '1,2,10',
      '--max-new-tokens',
      '16',
      '--backend',
      'cpu',
      '--out',
      out,
    ]);
    const table = r.stdout.trim().split('\n');
    assert.match(table[0], /^model\s+samples\s+passed\s+pass@1\s+pass@2$/);
    assert.deepEqual(
      table.slice(1).map((l) => l.split(/\s+/).slice(0, 2)),
      [
        ['base', '6'],
        ['lora', '6'],
        ['difflora', '6'],
      ],
    );
    for (const label of ['base', 'lora', 'difflora']) {
      const samples = readJsonl(path.join(out, label, 'samples.jsonl'));
      assert.deepEqual(
        samples.map((s) => `${s.task_id}#${s.sample_index}`),
        ['Tiny/0#0', 'Tiny/0#1', 'Tiny/1#0', 'Tiny/1#1', 'Tiny/2#0', 'Tiny/2#1'],
      );
      for (const s of samples) assert.equal(s.model, label);
      const results = readJsonl(path.join(out, label, 'results.jsonl'));
      assert.deepEqual(
        results.map((x) => x.completion),
        samples.map((s) => s.completion),
      );
      for (const x of results) assert.ok(typeof x.result === 'string' && typeof x.passed === 'boolean');
    }
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(
      summary.models.map((m: { label: string }) => m.label),
      ['base', 'lora', 'difflora'],
    );
    assert.deepEqual(Object.keys(summary.models[0].passAtK), ['pass@1', 'pass@2']);
    // Different settings on the same folder are refused, naming the setting.
    const again = runCli([
      'humaneval',
      '--model',
      model,
      '--problems',
      problems,
      '--limit',
      '3',
      '--n',
      '3',
      '--temperature',
      '0.8',
      '--backend',
      'cpu',
      '--quiet',
      '--out',
      out,
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /run\.json: this folder holds a run with n = 2, not 3/);
  });

  test('kill -9 mid-run, then the same command: finished samples are kept, the rest made, same samples as an uninterrupted run', async () => {
    const args = (out: string) => [
      'humaneval',
      '--model',
      model,
      '--problems',
      problems,
      '--limit',
      '6',
      '--n',
      '3',
      '--temperature',
      '0.9',
      '--seed',
      '3',
      '--max-new-tokens',
      '24',
      '--k',
      '1,3',
      '--backend',
      'cpu',
      '--workers',
      '2',
      '--out',
      out,
    ];
    const full = path.join(dir, 'full');
    runCliOk(args(full));
    const cut = path.join(dir, 'cut');
    const samplesFile = path.join(cut, 'base', 'samples.jsonl');
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'difflora.js'), ...args(cut), '--quiet'], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const n = fs.existsSync(samplesFile) ? fs.readFileSync(samplesFile, 'utf8').split('\n').filter(Boolean).length : 0;
        if (n >= 4) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 10);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run ended before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    // Its sandbox launchers follow it (parent-death signal), and take their programs with them.
    for (let i = 0; i < 100 && sandboxProcessCount() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(sandboxProcessCount(), 0, 'sandbox processes outlived the killed engine');
    assert.ok(!fs.existsSync(path.join(cut, 'summary.json')));
    const text = fs.readFileSync(samplesFile, 'utf8');
    const kept = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    assert.ok(kept.length >= 4 && kept.length < 18, `${kept.length} samples at the kill`);

    const r = runCliOk(args(cut));
    assert.match(r.stderr, new RegExp(`base: resuming with ${kept.length} of 18 samples made`));
    assert.match(r.stderr, new RegExp(`base: ${18 - kept.length} samples generated and \\d+ executed in this run`));
    const a = readJsonl(path.join(full, 'base', 'samples.jsonl'));
    const b = readJsonl(samplesFile);
    assert.deepEqual(b, a);
    // The samples made before the kill are still there, unchanged.
    for (const s of kept)
      assert.deepEqual(
        b.find((x) => x.task_id === s.task_id && x.sample_index === s.sample_index),
        s,
      );
    const ra = readJsonl(path.join(full, 'base', 'results.jsonl')),
      rb = readJsonl(path.join(cut, 'base', 'results.jsonl'));
    assert.deepEqual(
      rb.map((x) => [x.task_id, x.sample_index, x.completion]),
      ra.map((x) => [x.task_id, x.sample_index, x.completion]),
    );
    assert.equal(rb.length, 18);
    assert.equal(r.stdout, runCliOk(args(full)).stdout, 'the same table (and a finished run is not redone)');
  });
});

describe('difflora humaneval-exec', () => {
  test('an openai/human-eval samples file: results in its shape, pass@k as computed by hand', () => {
    const probs = writeProblems(path.join(dir, 'exec-problems.jsonl'), 3);
    const samples = path.join(dir, 'samples.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 3; i++) {
      lines.push(JSON.stringify({ task_id: `Tiny/${i}`, completion: `    return [v * ${i} for v in values]\n` }));
      lines.push(JSON.stringify({ task_id: `Tiny/${i}`, completion: `    return [v * ${i + 1} for v in values]\n`, note: 'wrong' }));
      lines.push(
        JSON.stringify({ task_id: `Tiny/${i}`, completion: i === 0 ? '    return []\n' : `    return [${i} * v for v in values]\n` }),
      );
    }
    fs.writeFileSync(samples, `${lines.join('\n')}\n`);
    const out = path.join(dir, 'samples_results.jsonl');
    const r = runCliOk(['humaneval-exec', '--samples', samples, '--problems', probs, '--k', '1,2,5', '--quiet', '--out', out]);
    // Tiny/0: c = 1 of 3 ([] is not [0, 0]); Tiny/1 and Tiny/2: c = 2 of 3 (i * v is right too).
    // pass@1 = mean(1/3, 2/3, 2/3) = 5/9; pass@2 = mean(1 - C(2,2)/C(3,2), 1, 1) = mean(2/3, 1, 1) = 8/9.
    assert.match(r.stdout, /pass@1\s+pass@2\s*\n/);
    assert.match(r.stdout, /\s9\s+5\s+55\.56%\s+88\.89%/);
    const results = readJsonl(out);
    assert.equal(results.length, 9);
    assert.deepEqual(Object.keys(results[0]), ['task_id', 'completion', 'result', 'passed']);
    assert.deepEqual(Object.keys(results[1]), ['task_id', 'completion', 'note', 'result', 'passed']);
    assert.deepEqual(
      results.map((x) => x.passed),
      [true, false, false, true, false, true, true, false, true],
    );
    assert.equal(results[0].result, 'passed');
    assert.equal(results[1].result, 'failed: AssertionError');
  });

  test('bad input: the file and line, or the flag, in one line', () => {
    const probs = writeProblems(path.join(dir, 'err-problems.jsonl'), 2);
    const write = (name: string, text: string) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text);
      return f;
    };
    const exec = (samples: string, extra: string[] = []) =>
      runCli(['humaneval-exec', '--samples', samples, '--problems', probs, '--quiet', '--out', path.join(dir, 'err.jsonl'), ...extra]);
    const good = write('good.jsonl', '{"task_id": "Tiny/0", "completion": "    return []\\n"}\n');
    const cases: [ReturnType<typeof runCli>, RegExp][] = [
      [exec(write('bad1.jsonl', '{"task_id": "Tiny/0", "completion": ""}\n{"task_id": \n')), /bad1\.jsonl:2: not valid JSON/],
      [
        exec(write('bad2.jsonl', '{"task_id": "Other/7", "completion": ""}\n')),
        /bad2\.jsonl:1 \(Other\/7\): task_id is not in the problems file/,
      ],
      [exec(write('bad3.jsonl', '{"task_id": "Tiny/1", "completion": 3}\n')), /bad3\.jsonl:1 \(Tiny\/1\): field 'completion'/],
      [exec(good, ['--k', '0']), /--k: '0' must be a number in \[1,/],
      [exec(good, ['--timeout', 'soon']), /--timeout: 'soon'/],
      [exec(good, ['--workers', '0']), /--workers: '0'/],
      [
        runCli(['humaneval-exec', '--samples', good, '--problems', path.join(dir, 'nope.jsonl'), '--out', path.join(dir, 'x.jsonl')]),
        /nope\.jsonl: not found/,
      ],
      [
        runCli(['humaneval-exec', '--samples', good, '--problems', probs, '--out', path.join(dir, 'no', 'such', 'x.jsonl')]),
        /x\.jsonl: cannot write: folder .* does not exist/,
      ],
      [
        runCli(['humaneval', '--model', path.join(dir, 'no-model'), '--problems', probs, '--out', path.join(dir, 'o')]),
        /no-model: model folder not found/,
      ],
    ];
    for (const [r, re] of cases) {
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^difflora: error: /);
      assert.match(lines[0], re);
    }
  });
});
