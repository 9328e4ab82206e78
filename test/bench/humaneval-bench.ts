/**
 * `npm run bench:humaneval`: wall time to execute 164 x n HumanEval samples (canonical solutions, empty and
 * wrong completions, a few endless loops) with our sandbox (`difflora humaneval-exec`: a warm interpreter per
 * worker inside bubblewrap forks each program; the limits in force are printed) and with
 * openai/human-eval's own execution code on the same samples file, in the same run; the pass/fail of every
 * sample must agree. Figures only (medians of --runs runs), no thresholds.
 *
 * openai/human-eval (MIT) is not part of this project: point HUMAN_EVAL_DIR (or --human-eval DIR) at a
 * checkout (git clone https://github.com/openai/human-eval), or pip-install it. Its human_eval/ package is
 * copied to a temporary folder for the run, and there the `exec(check_program, exec_globals)` line of
 * execution.py, which ships commented out, is enabled (the samples here are known: canonical solutions,
 * empty and wrong bodies, endless loops). Without it, only our side is timed.
 *
 *   npm run bench:humaneval -- [--n 5] [--runs 3] [--workers N] [--timeout 3] [--loops 4] [--human-eval DIR]
 *                              [--problems F] [--out F]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readProblems } from '../../engine/humaneval/problems';
import { CACHE, ROOT } from './common';

interface Options {
  n: number;
  runs: number;
  workers: number;
  timeout: number;
  loops: number;
  humanEval?: string;
  problems?: string;
  out: string;
}

const PY = process.env.DIFFLORA_PYTHON ?? 'python3';

function parseArgs(argv: string[]): Options {
  const o: Options = {
    n: 5,
    runs: 3,
    workers: os.cpus().length,
    timeout: 3,
    loops: 4,
    humanEval: process.env.HUMAN_EVAL_DIR,
    out: path.join(CACHE, 'humaneval-results.json'),
  };
  const num = (flag: string, v: string | undefined, min: number, int = true) => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x) || x < min || (int && !Number.isInteger(x)))
      throw new Error(`${flag} takes ${int ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--n':
        o.n = num(a, argv[++i], 3);
        break;
      case '--runs':
        o.runs = num(a, argv[++i], 1);
        break;
      case '--workers':
        o.workers = num(a, argv[++i], 1);
        break;
      case '--timeout':
        o.timeout = num(a, argv[++i], 0.1, false);
        break;
      case '--loops':
        o.loops = num(a, argv[++i], 0);
        break;
      case '--human-eval':
        o.humanEval = argv[++i];
        break;
      case '--problems':
        o.problems = argv[++i];
        break;
      case '--out':
        o.out = argv[++i];
        break;
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  return o;
}

function problemsFile(o: Options): string {
  const candidates = [
    o.problems,
    process.env.DIFFLORA_SHARED && path.join(process.env.DIFFLORA_SHARED, 'data', 'humaneval', 'HumanEval.jsonl.gz'),
    path.resolve(ROOT, '..', 'shared', 'data', 'humaneval', 'HumanEval.jsonl.gz'),
    '/work/shared/data/humaneval/HumanEval.jsonl.gz',
  ];
  const f = candidates.find((c): c is string => !!c && fs.existsSync(c));
  if (!f) throw new Error('HumanEval.jsonl.gz not found: pass --problems F (or put it in ../shared/data/humaneval/)');
  return f;
}

/** The human_eval package folder: $HUMAN_EVAL_DIR / --human-eval (a checkout or the package itself), else a pip install. */
function findHumanEval(dir: string | undefined): { pkg?: string; why: string } {
  if (dir) {
    for (const p of [path.join(dir, 'human_eval'), dir])
      if (fs.existsSync(path.join(p, 'execution.py')) && fs.existsSync(path.join(p, 'evaluation.py')))
        return { pkg: p, why: `from ${dir}` };
    return { why: `${dir} holds no human_eval/execution.py` };
  }
  const r = spawnSync(PY, ['-c', 'import human_eval.execution as e, os; print(os.path.dirname(e.__file__))'], { encoding: 'utf8' });
  if (r.status === 0) return { pkg: r.stdout.trim(), why: `pip-installed (${r.stdout.trim()})` };
  return { why: 'HUMAN_EVAL_DIR is not set and `import human_eval` fails' };
}

/** A temporary copy of the package with the exec line enabled (and a no-op tqdm when it is not installed). */
function prepareHumanEval(pkg: string, tmp: string): { root: string; notes: string[] } {
  const root = path.join(tmp, 'human-eval-copy');
  const dest = path.join(root, 'human_eval');
  fs.mkdirSync(dest, { recursive: true });
  for (const f of fs.readdirSync(pkg)) if (f.endsWith('.py')) fs.copyFileSync(path.join(pkg, f), path.join(dest, f));
  const notes: string[] = [];
  const execFile = path.join(dest, 'execution.py');
  const src = fs.readFileSync(execFile, 'utf8');
  const commented = /^(\s*)#\s*(exec\(check_program, exec_globals\))\s*$/m;
  if (commented.test(src)) {
    fs.writeFileSync(execFile, src.replace(commented, '$1$2'));
    notes.push(
      'enabled the `exec(check_program, exec_globals)` line of human_eval/execution.py in a temporary copy (it ships commented out)',
    );
  } else if (/^\s*exec\(check_program, exec_globals\)\s*$/m.test(src)) {
    notes.push('the `exec(check_program, exec_globals)` line was already enabled in this copy of human_eval/execution.py');
  } else {
    throw new Error(`${execFile}: no exec(check_program, exec_globals) line: an unknown human-eval version`);
  }
  if (spawnSync(PY, ['-c', 'import tqdm'], { stdio: 'ignore' }).status !== 0) {
    fs.writeFileSync(path.join(root, 'tqdm.py'), 'def tqdm(iterable=None, **kwargs):\n    return iterable\n');
    notes.push("tqdm is not installed: a no-op stand-in is used for human-eval's progress bars");
  }
  if (spawnSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0)
    throw new Error(`human-eval's evaluation.py needs numpy, which ${PY} cannot import`);
  return { root, notes };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const pf = problemsFile(o);
  const problems = readProblems(pf);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-he-bench-'));
  const samplesFile = path.join(tmp, 'samples.jsonl');
  // Per task: n - 2 canonical solutions, an empty body, a wrong one (an endless loop for the first --loops tasks).
  const samples: { task_id: string; completion: string }[] = [];
  problems.forEach((p, t) => {
    for (let j = 0; j < o.n - 2; j++) samples.push({ task_id: p.task_id, completion: p.canonical_solution });
    samples.push({ task_id: p.task_id, completion: '' });
    samples.push({ task_id: p.task_id, completion: t < o.loops ? '    while True:\n        pass\n' : '    return None\n' });
  });
  fs.writeFileSync(samplesFile, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  process.stdout.write(
    `HumanEval execution bench: ${samples.length} programs (${problems.length} tasks x ${o.n}: ${o.n - 2} canonical, 1 empty, 1 wrong or an endless loop), ` +
      `${o.workers} workers, timeout ${o.timeout} s, ${o.runs} runs each; load average ${load}\n`,
  );

  const found = findHumanEval(o.humanEval);
  let he: { root: string; notes: string[] } | undefined;
  if (found.pkg) {
    he = prepareHumanEval(found.pkg, tmp);
    process.stdout.write(`openai/human-eval: ${found.why}\n${he.notes.map((n) => `  note: ${n}\n`).join('')}`);
  } else {
    process.stdout.write(
      `openai/human-eval: NOT FOUND (${found.why}); timing ours only. Set HUMAN_EVAL_DIR to a checkout of https://github.com/openai/human-eval or pip-install it.\n`,
    );
  }

  const ours: number[] = [],
    theirs: number[] = [];
  let oursPassed: boolean[] = [],
    theirsPassed: boolean[] = [];
  let oursResults: string[] = [],
    theirsResults: string[] = [];
  let sandboxLine = '';
  const differentRuns: string[] = [];
  const driver = path.join(tmp, 'run_human_eval.py');
  fs.writeFileSync(
    driver,
    [
      'import json, sys',
      'sys.path.insert(0, sys.argv[1])',
      'from human_eval.evaluation import evaluate_functional_correctness',
      'r = evaluate_functional_correctness(sys.argv[2], k=[1], n_workers=int(sys.argv[4]), timeout=float(sys.argv[5]), problem_file=sys.argv[3])',
      'print(json.dumps({k: float(v) for k, v in r.items()}))',
    ].join('\n') + '\n',
  );
  for (let run = 0; run < o.runs; run++) {
    const outFile = path.join(tmp, `ours-${run}.jsonl`);
    let t0 = process.hrtime.bigint();
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'difflora.js'),
        'humaneval-exec',
        '--samples',
        samplesFile,
        '--problems',
        pf,
        '--k',
        '1',
        '--workers',
        String(o.workers),
        '--timeout',
        String(o.timeout),
        '--quiet',
        '--out',
        outFile,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    ours.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) throw new Error(`difflora humaneval-exec failed: ${r.stderr}`);
    sandboxLine = r.stderr
      .split('\n')
      .filter((l) => /warning|note|^HumanEval sandbox:/.test(l))
      .join('; ');
    const res = fs
      .readFileSync(outFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    oursPassed = res.map((x) => x.passed);
    oursResults = res.map((x) => x.result);
    process.stdout.write(`  run ${run + 1}: ours ${ours[run].toFixed(2)} s (${oursPassed.filter(Boolean).length} passed)`);
    if (he) {
      const heSamples = path.join(tmp, `he-${run}.jsonl`);
      fs.copyFileSync(samplesFile, heSamples);
      t0 = process.hrtime.bigint();
      const h = spawnSync(PY, [driver, he.root, heSamples, pf, String(o.workers), String(o.timeout)], {
        encoding: 'utf8',
        cwd: tmp,
        maxBuffer: 1 << 26,
      });
      theirs.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (h.status !== 0) throw new Error(`human-eval failed: ${h.stderr.slice(-2000)}`);
      const hres = fs
        .readFileSync(`${heSamples}_results.jsonl`, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      theirsPassed = hres.map((x) => x.passed);
      theirsResults = hres.map((x) => x.result);
      const diffs =
        oursPassed.length !== theirsPassed.length
          ? [`${oursPassed.length} vs ${theirsPassed.length} results`]
          : oursPassed.flatMap((p, i) =>
              p !== theirsPassed[i]
                ? [`${samples[i].task_id} sample ${i}: ours "${oursResults[i]}", human-eval "${theirsResults[i]}"`]
                : [],
            );
      if (diffs.length) differentRuns.push(`run ${run + 1}: ${diffs.join('; ')}`);
      process.stdout.write(
        `, human-eval ${theirs[run].toFixed(2)} s (${theirsPassed.filter(Boolean).length} passed), per-sample pass/fail ${diffs.length ? `DIFFERENT (${diffs.slice(0, 3).join('; ')})` : 'identical'}`,
      );
    }
    process.stdout.write('\n');
  }
  const kind = (r: string) => (r === 'passed' ? 'passed' : r === 'timed out' ? 'timed out' : 'failed');
  const tally = (rs: string[]) => ['passed', 'failed', 'timed out'].map((k) => `${rs.filter((r) => kind(r) === k).length} ${k}`).join(', ');
  process.stdout.write(`\n${'side'.padEnd(22)}${'median s'.padStart(10)}${'min s'.padStart(10)}${'ms/program'.padStart(12)}\n`);
  const row = (name: string, xs: number[]) =>
    process.stdout.write(
      `${name.padEnd(22)}${median(xs).toFixed(2).padStart(10)}${Math.min(...xs)
        .toFixed(2)
        .padStart(10)}${((1000 * median(xs)) / samples.length).toFixed(1).padStart(12)}\n`,
    );
  row('difflora (sandbox)', ours);
  if (he) row('openai/human-eval', theirs);
  process.stdout.write(`ours: ${tally(oursResults)}\n${sandboxLine ? `  ${sandboxLine}\n` : ''}`);
  if (he) {
    process.stdout.write(`human-eval: ${tally(theirsResults)}\n`);
    process.stdout.write(
      `per-sample pass/fail: ${
        differentRuns.length === 0
          ? `identical in every run (${samples.length} samples)`
          : `different in ${differentRuns.length} of ${o.runs} runs (a program near the time limit on a busy machine shows up so): ${differentRuns.join(' | ')}`
      }\n`,
    );
    process.stdout.write(`time ratio (ours / human-eval, medians): ${(median(ours) / median(theirs)).toFixed(2)}\n`);
  }
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(
    o.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        host: { cpus: os.cpus().length, loadavg_at_start: load, node: process.version },
        programs: samples.length,
        n: o.n,
        workers: o.workers,
        timeout_sec: o.timeout,
        runs: o.runs,
        ours_seconds: ours,
        ours_sandbox: sandboxLine,
        ours_tally: tally(oursResults),
        human_eval_tally: he ? tally(theirsResults) : null,
        human_eval_seconds: he ? theirs : null,
        human_eval: found.why,
        human_eval_notes: he?.notes ?? [],
        identical_pass_fail: he ? differentRuns.length === 0 : null,
        differences: differentRuns,
        ratio: he ? median(ours) / median(theirs) : null,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`results: ${o.out}\n`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

try {
  main();
} catch (e) {
  process.stderr.write(`humaneval-bench: ${(e as Error).message}\n`);
  process.exit(1);
}
