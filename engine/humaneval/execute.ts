/**
 * Executing HumanEval programs: prompt + completion + "\n" + test + "\n" + `check(entry_point)`, each run by
 * py/sandbox.py: with bubblewrap, a warm interpreter inside one sandbox per worker (namespaces, read-only file
 * system, an unprivileged uid when run as root) forks each program with its own rlimits, process group, capped
 * output and timeout, and wipes what it left (py/forkserver.py); without it, a fresh interpreter per program
 * (rlimits, its own process group, a scrubbed environment, an unprivileged uid when run as root). Memory per
 * program: cgroup v2 memory.max where a delegated subtree allows, else RLIMIT_AS; Sandbox.open logs which. One
 * long-lived launcher process per worker takes programs one at a time over a JSON-lines pipe.
 *
 * Never call this for code from an untrusted source without the user's consent: the extension checks
 * that the workspace is trusted before it does.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError } from '../errors';
import { readLines } from '../data/jsonl';
import { Problem } from './problems';
import { countByTask, passAtKTable } from './passk';

export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface SandboxOptions {
  /** Wall-clock limit per program in seconds; default 3. */
  timeoutSec?: number;
  /** Programs run at once; default one per CPU core. */
  workers?: number;
  /** Memory per program; default 2 GiB: cgroup v2 memory.max where a delegated subtree allows, else RLIMIT_AS per process. */
  memoryBytes?: number;
  /** 'auto' (default, or $DIFFLORA_SANDBOX): bubblewrap when it works here, else the fallback with a warning;
   * 'bwrap': fail without it; 'none': never (rlimits, process group, scrubbed env, unprivileged uid when root). */
  sandbox?: SandboxMode;
  /** The runner's guard (no kill/fork/exec/file removal/sockets); default on without bubblewrap only. */
  guard?: boolean;
  /** Python 3 to run programs with; default $DIFFLORA_PYTHON, else python3. */
  python?: string;
  /** stdout / stderr kept per program; default 64 KiB each. */
  outputBytes?: number;
  /** Processes (threads) a program may have at once; default 16. */
  nproc?: number;
  /** Where the sandbox's limits line goes (once per distinct line and process); default the engine's log, stderr. */
  log?: (line: string) => void;
}

const logged = new Set<string>();

export interface SandboxInfo {
  mode: 'bwrap' | 'none';
  /** Programs run as a fresh unprivileged uid (the engine runs as root). */
  uidDrop: boolean;
  guard: boolean;
  python: string;
  /** e.g. which Python programs run with when the configured one is out of the sandbox user's reach. */
  note: string | null;
  /** One line naming the isolation that is missing, or null with bubblewrap. */
  warning: string | null;
  /** The limits in force, in words: how programs start, the memory limit (cgroup or rlimit) and the rlimits. */
  limits: string;
  /** The memory limit per program: a cgroup v2 memory.max on the group of a sandbox that runs one program at a
   * time, or RLIMIT_AS per process (`why`: why no cgroup). */
  memoryLimit: { kind: 'cgroup' | 'rlimit'; bytes: number; why: string | null };
}

export interface ExecOutcome {
  status: 'passed' | 'failed' | 'timed out';
  /** Why it failed: the exception line ("AssertionError", "NameError: name 'x' is not defined"), or how it ended. */
  reason: string | null;
  /** openai/human-eval's string: "passed", "timed out" or "failed: <reason>". */
  result: string;
  passed: boolean;
  stdout: string;
  stderr: string;
  /** Streams cut at outputBytes. */
  truncated: string[];
  /** Exit code, or minus the signal number. */
  exit?: number;
  seconds: number;
  /** Processes still there when the program ended (then killed). */
  killed: number;
  /** Processes that outlived their run despite everything: always 0 unless something is badly wrong. */
  survivors: number;
  /** With bubblewrap: how many programs its warm sandbox ran before this one (0: a new sandbox). */
  warm?: number;
}

const SCRIPT = 'sandbox.py';

/** As root, each program runs as a fresh uid from this range (no such user exists; nothing else uses it). */
export const SANDBOX_UIDS = { first: 1_500_000_000, count: 2 ** 24 };

/** The launcher: beside the bundle (dist/engine/py/), or in the source tree (from out/ or dist/). */
export function sandboxScript(): string {
  const candidates = [
    path.join(__dirname, 'py', SCRIPT),
    path.join(__dirname, '..', '..', '..', 'engine', 'humaneval', 'py', SCRIPT),
    path.join(__dirname, '..', '..', 'engine', 'humaneval', 'py', SCRIPT),
  ];
  const found = candidates.find(
    (p) => fs.existsSync(p) && ['runner.py', 'forkserver.py'].every((f) => fs.existsSync(path.join(path.dirname(p), f))),
  );
  if (!found) throw new Error(`${SCRIPT} not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** The program openai/human-eval runs for a completion. */
export function buildProgram(problem: Problem, completion: string): string {
  return `${problem.prompt}${completion}\n${problem.test}\ncheck(${problem.entry_point})`;
}

export function humanEvalResult(status: ExecOutcome['status'], reason: string | null): string {
  return status === 'failed' ? `failed: ${reason ?? ''}` : status;
}

interface RawResult {
  id: number;
  status: ExecOutcome['status'] | 'error';
  reason: string | null;
  stdout: string;
  stderr: string;
  truncated: string[];
  exit?: number;
  seconds: number;
  killed: number;
  survivors: number;
  warm?: number;
}

/** One launcher process: programs one after the other. */
class Launcher {
  readonly ready: Promise<SandboxInfo>;
  private readonly proc: ChildProcess;
  private buf = '';
  private stderr = '';
  private job?: { id: number; resolve: (r: RawResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  private nextId = 1;
  private exited = false;
  private onReady?: { resolve: (i: SandboxInfo) => void; reject: (e: Error) => void };

  constructor(
    private readonly python: string,
    script: string,
    config: object,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.onReady = { resolve, reject };
    });
    // Its own process group: killing it never signals the engine, and the engine's Ctrl-C does not reach it
    // (the engine ends it, and with it every sandbox, through close()).
    this.proc = spawn(python, ['-I', script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (s: string) => this.onData(s));
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-4000);
    });
    this.proc.stdin!.on('error', () => undefined); // EPIPE when it died: reported by 'exit'
    this.proc.on('error', (e: NodeJS.ErrnoException) =>
      this.fail(
        e.code === 'ENOENT'
          ? new Error(`${python} not found: HumanEval execution needs Python 3 (set DIFFLORA_PYTHON to its path)`)
          : new Error(`cannot run ${python} ${SCRIPT}: ${e.message}`),
      ),
    );
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      const last = this.stderr.trim().split('\n').filter(Boolean).pop();
      this.fail(new Error(`the HumanEval sandbox launcher exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`));
    });
  }

  private fail(e: Error): void {
    this.onReady?.reject(e);
    this.onReady = undefined;
    const job = this.job;
    this.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.reject(e);
    }
  }

  private onData(s: string): void {
    this.buf += s;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        this.fail(new Error(`the HumanEval sandbox launcher wrote ${JSON.stringify(line.slice(0, 200))}`));
        continue;
      }
      if (msg.ready) {
        this.onReady?.resolve({
          mode: msg.mode as SandboxInfo['mode'],
          uidDrop: !!msg.uid_drop,
          guard: !!msg.guard,
          python: String(msg.python ?? this.python),
          note: (msg.note as string | null) ?? null,
          warning: (msg.warning as string | null) ?? null,
          limits: String(msg.limits ?? ''),
          memoryLimit: msg.memory_limit as SandboxInfo['memoryLimit'],
        });
        this.onReady = undefined;
      } else if (this.job && msg.id === this.job.id) {
        const job = this.job;
        this.job = undefined;
        clearTimeout(job.timer);
        job.resolve(msg as unknown as RawResult);
      }
    }
  }

  get alive(): boolean {
    return !this.exited;
  }

  run(program: string, timeoutSec: number): Promise<RawResult> {
    if (this.exited) return Promise.reject(new Error('the HumanEval sandbox launcher is not running'));
    if (this.job) return Promise.reject(new Error('launcher busy'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // The launcher enforces the timeout itself; this is the watchdog for the launcher.
      const timer = setTimeout(
        () => {
          this.kill();
          this.fail(new Error(`the HumanEval sandbox launcher did not answer within ${timeoutSec + 30} s`));
        },
        (timeoutSec + 30) * 1000,
      );
      this.job = { id, resolve, reject, timer };
      this.proc.stdin!.write(`${JSON.stringify({ id, program, timeout: timeoutSec })}\n`);
    });
  }

  /** Ends the launcher after its current program: stdin closes. */
  close(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.stdin!.end();
    });
  }

  /** Ends it now: SIGTERM lets it kill its current sandbox and remove its temporary folder. */
  kill(): void {
    if (this.exited || !this.proc.pid) return;
    try {
      process.kill(this.proc.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const pid = this.proc.pid;
    setTimeout(() => {
      if (!this.exited)
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
    }, 3000).unref();
  }

  killedPromise(): Promise<void> {
    return this.exited ? Promise.resolve() : new Promise((r) => this.proc.once('exit', () => r()));
  }
}

/** A pool of launchers: run() queues a program until a worker is free. */
export class Sandbox {
  private readonly idle: Launcher[] = [];
  private readonly queue: (() => void)[] = [];
  private closed = false;

  private constructor(
    private readonly launchers: Launcher[],
    readonly info: SandboxInfo,
    readonly timeoutSec: number,
    private readonly spawnOne: () => Launcher,
  ) {
    this.idle.push(...launchers);
  }

  static async open(opts: SandboxOptions = {}): Promise<Sandbox> {
    if (process.platform === 'win32')
      throw new Error('HumanEval execution needs Linux (or another POSIX system): not available on Windows');
    const timeoutSec = opts.timeoutSec ?? 3;
    if (!(timeoutSec > 0)) throw new InputError('timeout', `must be > 0 seconds, got ${timeoutSec}`);
    const workers = opts.workers ?? Math.max(1, os.cpus().length);
    if (!Number.isInteger(workers) || workers < 1) throw new InputError('workers', `must be an integer >= 1, got ${workers}`);
    const python = opts.python ?? process.env.DIFFLORA_PYTHON ?? 'python3';
    const script = sandboxScript();
    const config = {
      python,
      sandbox: opts.sandbox ?? (process.env.DIFFLORA_SANDBOX as SandboxMode | undefined) ?? 'auto',
      memory_bytes: opts.memoryBytes ?? 2 ** 31,
      nproc: opts.nproc ?? 16,
      output_bytes: opts.outputBytes ?? 65536,
      guard: opts.guard ?? null,
      uid_base: SANDBOX_UIDS.first,
    };
    const spawnOne = () => new Launcher(python, script, config);
    const launchers = Array.from({ length: workers }, spawnOne);
    let infos: SandboxInfo[];
    try {
      infos = await Promise.all(launchers.map((l) => l.ready));
    } catch (e) {
      for (const l of launchers) l.kill();
      throw e;
    }
    const line = `HumanEval sandbox: ${infos[0].mode}, ${workers} worker${workers === 1 ? '' : 's'}: ${infos[0].limits}`;
    if (!logged.has(line)) {
      logged.add(line);
      (opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
    }
    return new Sandbox(launchers, infos[0], timeoutSec, spawnOne);
  }

  private async acquire(): Promise<Launcher> {
    for (;;) {
      if (this.closed) throw new Error('the sandbox is closed');
      const l = this.idle.pop();
      if (l) return l;
      await new Promise<void>((r) => this.queue.push(r));
    }
  }

  private release(l: Launcher): void {
    this.idle.push(l);
    this.queue.shift()?.();
  }

  /** Runs one program; a launcher that dies is replaced and the program tried once more. */
  async run(program: string, timeoutSec = this.timeoutSec): Promise<ExecOutcome> {
    let l = await this.acquire();
    let raw: RawResult | undefined;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 2 && !raw; attempt++) {
      try {
        raw = await l.run(program, timeoutSec);
      } catch (e) {
        lastError = e as Error;
        if (this.closed) {
          this.release(l);
          throw lastError;
        }
        l.kill();
        const i = this.launchers.indexOf(l);
        l = this.spawnOne();
        if (i >= 0) this.launchers[i] = l;
        try {
          await l.ready;
        } catch (e2) {
          this.release(l);
          throw e2;
        }
      }
    }
    this.release(l);
    if (!raw) throw lastError ?? new Error('sandbox failure');
    if (raw.status === 'error') throw new Error(`the HumanEval sandbox launcher failed: ${raw.reason}`);
    return {
      status: raw.status,
      reason: raw.reason ?? null,
      result: humanEvalResult(raw.status, raw.reason ?? null),
      passed: raw.status === 'passed',
      stdout: raw.stdout,
      stderr: raw.stderr,
      truncated: raw.truncated ?? [],
      exit: raw.exit,
      seconds: raw.seconds,
      killed: raw.killed ?? 0,
      survivors: raw.survivors ?? 0,
      ...(raw.warm === undefined ? {} : { warm: raw.warm }),
    };
  }

  /** Waits for running programs, then ends every launcher. */
  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.queue.splice(0)) r();
    await Promise.all(this.launchers.map((l) => l.close()));
  }

  /** Ends everything now (cancel): running programs are killed and their folders removed. */
  async abort(): Promise<void> {
    this.closed = true;
    for (const r of this.queue.splice(0)) r();
    for (const l of this.launchers) l.kill();
    await Promise.all(this.launchers.map((l) => l.killedPromise()));
  }
}

// ------------------------------------------------------------------------------------------- samples files

/** A line of a samples file: openai/human-eval's {"task_id", "completion"} plus any other keys. */
export interface SampleRecord {
  task_id: string;
  completion: string;
  [extra: string]: unknown;
}

/** A line of a results file: the sample, then "result" and "passed" (openai/human-eval's shape). */
export interface ResultRecord extends SampleRecord {
  result: string;
  passed: boolean;
}

/** Reads a samples JSONL file; every line must name a known task and carry a string completion. */
export function readSamples(file: string, problems: Map<string, Problem>): SampleRecord[] {
  const out: SampleRecord[] = [];
  for (const { line, text } of readLines(file)) {
    const where = `${file}:${line}`;
    if (text === undefined) throw new InputError(where, 'not valid UTF-8');
    if (!text.trim()) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch (e) {
      throw new InputError(where, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec))
      throw new InputError(where, 'expected a JSON object {"task_id", "completion"}');
    const r = rec as Record<string, unknown>;
    if (typeof r.task_id !== 'string') throw new InputError(where, "field 'task_id' is missing or not a string");
    if (!problems.has(r.task_id)) throw new InputError(`${where} (${r.task_id})`, 'task_id is not in the problems file');
    if (typeof r.completion !== 'string') throw new InputError(`${where} (${r.task_id})`, "field 'completion' is missing or not a string");
    out.push(r as SampleRecord);
  }
  if (out.length === 0) throw new InputError(file, 'no samples in the file');
  return out;
}

export function toResult(sample: SampleRecord, o: ExecOutcome): ResultRecord {
  return { ...sample, result: o.result, passed: o.passed };
}

export type ExecProgress =
  { type: 'execute'; model?: string; done: number; total: number; passed: number } | { type: 'warning'; message: string };

export interface ExecuteHooks {
  onProgress?: (e: ExecProgress) => void;
  isCancelled?: () => boolean;
  /** Each result as it comes (any order), with its index in `samples`. */
  onResult?: (index: number, r: ResultRecord, o: ExecOutcome) => void;
  /** An open sandbox to use (not closed here); otherwise one is opened with the options and closed. */
  sandbox?: Sandbox;
  /** Label put in progress events. */
  model?: string;
}

export interface ExecuteReport {
  /** In the order of `samples`; undefined for samples not run (cancelled). */
  results: (ResultRecord | undefined)[];
  outcomes: (ExecOutcome | undefined)[];
  cancelled: boolean;
  sandbox: SandboxInfo;
}

/** Runs every sample's program; `workers` at once. */
export async function executeSamples(
  problems: Problem[] | Map<string, Problem>,
  samples: SampleRecord[],
  opts: SandboxOptions = {},
  hooks: ExecuteHooks = {},
): Promise<ExecuteReport> {
  const byId = problems instanceof Map ? problems : new Map(problems.map((p) => [p.task_id, p]));
  samples.forEach((s, i) => {
    if (!byId.has(s.task_id)) throw new InputError(`samples[${i}]`, `task_id ${JSON.stringify(s.task_id)} is not a known problem`);
  });
  const sandbox = hooks.sandbox ?? (await Sandbox.open(opts));
  if (!hooks.sandbox && sandbox.info.warning) hooks.onProgress?.({ type: 'warning', message: sandbox.info.warning });
  const results: (ResultRecord | undefined)[] = new Array(samples.length).fill(undefined);
  const outcomes: (ExecOutcome | undefined)[] = new Array(samples.length).fill(undefined);
  let done = 0,
    passed = 0,
    cancelled = false,
    next = 0;
  const worker = async () => {
    for (;;) {
      if (hooks.isCancelled?.()) {
        cancelled = true;
        return;
      }
      const i = next++;
      if (i >= samples.length) return;
      const s = samples[i];
      const o = await sandbox.run(buildProgram(byId.get(s.task_id)!, s.completion));
      outcomes[i] = o;
      results[i] = toResult(s, o);
      done++;
      if (o.passed) passed++;
      hooks.onResult?.(i, results[i]!, o);
      hooks.onProgress?.({ type: 'execute', model: hooks.model, done, total: samples.length, passed });
    }
  };
  try {
    const n = Math.max(1, opts.workers ?? Math.max(1, os.cpus().length));
    await Promise.all(Array.from({ length: Math.min(n, samples.length) }, worker));
  } finally {
    if (!hooks.sandbox) await (cancelled ? sandbox.abort() : sandbox.close());
  }
  return { results, outcomes, cancelled, sandbox: sandbox.info };
}

export function writeJsonl(file: string, records: object[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const part = `${file}.${process.pid}.part`;
  fs.writeFileSync(part, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  fs.renameSync(part, file);
}

export interface ExecuteFileOptions extends SandboxOptions {
  samples: string;
  problems: Problem[];
  out: string;
  k?: number[];
}

/** `difflora humaneval-exec`: a samples file (ours or openai/human-eval's) to a results file and pass@k. */
export async function executeSamplesFile(
  o: ExecuteFileOptions,
  hooks: ExecuteHooks = {},
): Promise<{ passAtK: Record<string, number>; samples: number; passed: number; cancelled: boolean; sandbox: SandboxInfo }> {
  const byId = new Map(o.problems.map((p) => [p.task_id, p]));
  const samples = readSamples(o.samples, byId);
  const outDir = path.dirname(path.resolve(o.out));
  if (!fs.existsSync(outDir)) throw new InputError(o.out, `cannot write: folder ${outDir} does not exist`);
  const r = await executeSamples(byId, samples, o, hooks);
  const results = r.results.filter((x): x is ResultRecord => x !== undefined);
  if (!r.cancelled) writeJsonl(o.out, results);
  const counts = countByTask(results);
  return {
    passAtK: passAtKTable(counts, o.k ?? [1, 10, 100]),
    samples: results.length,
    passed: results.filter((x) => x.passed).length,
    cancelled: r.cancelled,
    sandbox: r.sandbox,
  };
}
