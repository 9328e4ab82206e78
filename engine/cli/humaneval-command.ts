/**
 * `difflora humaneval`: pass@k of a base model and of the base with each adapter (samples generated here,
 * executed in a sandbox), and `difflora humaneval-exec`: execution of an existing samples file (ours or one
 * made with openai/human-eval's tools).
 */
import * as os from 'os';
import { Command, Option } from 'commander';
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import { HUMANEVAL_DEFAULTS } from '../../protocol/engine';
import { ExecProgress, humanEval, humanEvalExec, humanEvalProblems, HumanEvalProgress, ModelSpec, SandboxMode } from '../api';
import { parseInteger, parseNumber } from '../api/parse';
import { BackendName } from '../backend';
import { InputError } from '../errors';
import { cancelOnSignals } from '../terminal/output';

interface RunFlags {
  model: string;
  adapter: string[];
  base: boolean;
  problems?: string;
  n: string;
  k: string;
  temperature: string;
  topP: string;
  seed: string;
  maxNewTokens: string;
  limit?: string;
  timeout: string;
  workers?: string;
  chat?: boolean;
  sandbox: SandboxMode;
  backend: BackendName | 'auto';
  quiet?: boolean;
  out: string;
}

interface ExecFlags {
  samples: string;
  problems?: string;
  k: string;
  timeout: string;
  workers?: string;
  sandbox: SandboxMode;
  quiet?: boolean;
  out: string;
}

const collect = (v: string, acc: string[]) => [...acc, v];

function parseKs(spec: string): number[] {
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new InputError('--k', 'is empty: give values like 1,10');
  return [...new Set(parts.map((p) => parseInteger('--k', p, 1)))].sort((a, b) => a - b);
}

function sandboxFlags(f: { timeout: string; workers?: string; sandbox: SandboxMode }) {
  return {
    timeoutSec: parseNumber('--timeout', f.timeout, 0.1, 3600),
    workers: f.workers === undefined ? Math.max(1, os.cpus().length) : parseInteger('--workers', f.workers, 1),
    sandbox: f.sandbox,
  };
}

/** Progress on stderr: one bar per model and phase on a terminal, a line every 25 % otherwise. */
function progress(quiet: boolean): { on: (e: HumanEvalProgress | ExecProgress) => void; log: (line: string) => void; stop: () => void } {
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  if (quiet)
    return {
      on: (e) => {
        if (e.type === 'warning') warn(e.message);
      },
      log: () => {},
      stop: () => {},
    };
  const multi = process.stderr.isTTY
    ? new MultiBar(
        { format: '{label} [{bar}] {value}/{total} {extra}', stream: process.stderr, hideCursor: true, clearOnComplete: false },
        Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, SingleBar>();
  const last = new Map<string, number>();
  const show = (key: string, done: number, total: number, extra = '') => {
    if (multi) {
      let bar = bars.get(key);
      if (!bar) bars.set(key, (bar = multi.create(total, done, { label: key.padEnd(24), extra })));
      bar.setTotal(total);
      bar.update(done, { extra });
    } else {
      const step = total === 0 ? 100 : Math.floor((100 * done) / total / 25) * 25;
      if (last.get(key) !== step) {
        last.set(key, step);
        process.stderr.write(`${key}: ${done}/${total}${extra ? ` ${extra}` : ''}\n`);
      }
    }
  };
  return {
    on: (e) => {
      if (e.type === 'warning') {
        if (multi) multi.log(`warning: ${e.message}\n`);
        else warn(e.message);
      } else if (e.type === 'sandbox' && e.note) process.stderr.write(`note: ${e.note}\n`);
      else if (e.type === 'load') show(`${e.model} loading`, e.done, e.total);
      else if (e.type === 'generate') show(`${e.model} generating`, e.done, e.total);
      else if (e.type === 'execute') show(`${e.model ?? 'samples'} executing`, e.done, e.total, `${e.passed} passed`);
    },
    log: (line) => {
      if (multi) multi.log(`${line}\n`);
      else process.stderr.write(`${line}\n`);
    },
    stop: () => multi?.stop(),
  };
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${(100 * x).toFixed(2)}%`;
}

/** The pass@k table: one row per model. */
export function passAtKTableText(
  rows: { label: string; samples: number; passed: number; passAtK: Record<string, number> }[],
  ks: number[],
): string {
  const head = ['model', 'samples', 'passed', ...ks.map((k) => `pass@${k}`)];
  const body = rows.map((r) => [r.label, String(r.samples), String(r.passed), ...ks.map((k) => pct(r.passAtK[`pass@${k}`]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(head), ...body.map(fmt)].join('\n');
}

async function run(f: RunFlags): Promise<void> {
  const log = (l: string) => {
    if (!f.quiet) process.stderr.write(`${l}\n`);
  };
  const ks = parseKs(f.k);
  const n = parseInteger('--n', f.n, 1);
  const temperature = parseNumber('--temperature', f.temperature, 0);
  if (n > 1 && temperature === 0) log(`note: --n ${n} with --temperature 0: every sample is the same greedy completion`);
  const models: ModelSpec[] = [...(f.base ? [{ model: f.model }] : []), ...f.adapter.map((a) => ({ model: f.model, adapter: a }))];
  if (models.length === 0) throw new InputError('--no-base', 'leaves no model to evaluate: add --adapter');
  const { problems } = await humanEvalProblems({ file: f.problems, log });
  const cancel = cancelOnSignals(log);
  const bars = progress(!!f.quiet);
  let report;
  try {
    report = await humanEval(
      {
        models,
        problems,
        outDir: f.out,
        n,
        k: ks,
        temperature,
        topP: parseNumber('--top-p', f.topP, 0, 1),
        seed: parseInteger('--seed', f.seed, 0),
        maxNewTokens: parseInteger('--max-new-tokens', f.maxNewTokens, 1),
        limit: f.limit === undefined ? undefined : parseInteger('--limit', f.limit, 1),
        chat: !!f.chat,
        backend: f.backend,
        ...sandboxFlags(f),
      },
      {
        cancel,
        onEvent: (e) => {
          if (e.type === 'humaneval') bars.on(e.event);
          else if (e.type === 'log') bars.log(e.message);
        },
      },
    );
  } finally {
    bars.stop();
  }
  if (report.cancelled) {
    log(`stopped: run the same command again to resume from ${f.out}`);
    process.exitCode = 130;
    return;
  }
  process.stdout.write(
    `${passAtKTableText(
      report.models.map((m) => ({ ...m, label: m.label })),
      ks.filter((k) => k <= n),
    )}\n`,
  );
  log(`samples and results in ${f.out}/<model>/, summary in ${f.out}/summary.json`);
}

async function exec(f: ExecFlags): Promise<void> {
  const ks = parseKs(f.k);
  const { problems } = await humanEvalProblems({
    file: f.problems,
    log: (l) => {
      if (!f.quiet) process.stderr.write(`${l}\n`);
    },
  });
  const cancel = cancelOnSignals((l) => process.stderr.write(`${l}\n`));
  const bars = progress(!!f.quiet);
  let r;
  try {
    r = await humanEvalExec(
      { samples: f.samples, problems, out: f.out, k: ks, ...sandboxFlags(f) },
      {
        cancel,
        onEvent: (e) => {
          if (e.type === 'humaneval') bars.on(e.event);
        },
      },
    );
  } finally {
    bars.stop();
  }
  if (r.cancelled) {
    process.stderr.write('stopped: nothing written\n');
    process.exitCode = 130;
    return;
  }
  const shown = ks.filter((k) => r.passAtK[`pass@${k}`] !== undefined);
  process.stdout.write(`${passAtKTableText([{ label: f.samples, samples: r.samples, passed: r.passed, passAtK: r.passAtK }], shown)}\n`);
  if (!f.quiet) process.stderr.write(`wrote ${f.out}\n`);
}

export function registerHumanEval(program: Command, backendOption: () => Option): void {
  const sandboxOption = () =>
    new Option(
      '--sandbox <mode>',
      'bwrap: bubblewrap namespaces (fail without); none: rlimits, process group, scrubbed env only; auto: bwrap when it works',
    )
      .choices(['auto', 'bwrap', 'none'])
      .default('auto');
  program
    .command('humaneval')
    .description('HumanEval pass@k of the base model and of the base with each adapter: samples made here, run in a sandbox (resumable)')
    .requiredOption('--model <dir>', 'HF model folder')
    .option('--adapter <dir>', 'adapter folder; repeatable: the base, then the base with each adapter', collect, [])
    .option('--no-base', 'evaluate the adapters only')
    .option('--problems <file>', 'HumanEval JSONL or JSONL.GZ (default: the official set, downloaded once into ~/.cache/difflora)')
    .option('--n <n>', 'samples per problem', String(HUMANEVAL_DEFAULTS.n))
    .option('--k <list>', 'pass@k to report (where n >= k)', HUMANEVAL_DEFAULTS.k.join(','))
    .option('--temperature <t>', '0 = greedy', String(HUMANEVAL_DEFAULTS.temperature))
    .option('--top-p <p>', 'nucleus sampling mass', String(HUMANEVAL_DEFAULTS.topP))
    .option('--seed <s>', 'sampling seed', String(HUMANEVAL_DEFAULTS.seed))
    .option('--max-new-tokens <n>', 'tokens per completion at most', String(HUMANEVAL_DEFAULTS.maxNewTokens))
    .option('--limit <n>', 'first N problems only')
    .option('--timeout <s>', 'seconds per program', String(HUMANEVAL_DEFAULTS.timeoutSec))
    .option('--workers <n>', 'programs run at once (default: one per core)')
    .option('--chat', 'render prompts with the chat template (instruct models)')
    .addOption(sandboxOption())
    .addOption(backendOption())
    .option('--quiet', 'no progress on stderr')
    .requiredOption('--out <dir>', 'output folder (resumes the run it holds)')
    .action(run);
  program
    .command('humaneval-exec')
    .description('execute a samples JSONL ({"task_id", "completion"} per line, e.g. from openai/human-eval tools) in the sandbox')
    .requiredOption('--samples <file>', 'samples JSONL')
    .option('--problems <file>', 'HumanEval JSONL or JSONL.GZ (default: the official set, downloaded once)')
    .option('--k <list>', 'pass@k to report (where every task has n >= k)', HUMANEVAL_DEFAULTS.k.join(','))
    .option('--timeout <s>', 'seconds per program', String(HUMANEVAL_DEFAULTS.timeoutSec))
    .option('--workers <n>', 'programs run at once (default: one per core)')
    .addOption(sandboxOption())
    .option('--quiet', 'no progress on stderr')
    .requiredOption('--out <file>', 'results JSONL (the samples + "result", "passed")')
    .action(exec);
}
