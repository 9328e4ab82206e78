/**
 * HumanEval pass@k for a list of models (a base, the base + a LoRA, the base + a DiffLoRA, ...): n samples
 * per problem, each executed in the sandbox as soon as it is generated (generation on the engine's backend,
 * execution in parallel worker processes).
 *
 * Output folder, one subfolder per model label:
 *   run.json                 the generation settings (a resumed run must use the same)
 *   <label>/model.json       {label, model, adapter, chat}
 *   <label>/samples.jsonl    {"task_id", "completion", "model", "sample_index", "stop_reason"}, one per line,
 *                            appended as made: openai/human-eval's evaluate_functional_correctness reads it
 *   <label>/results.jsonl    the sample + {"result", "passed"} (openai/human-eval's shape), appended as run
 *   summary.json             per model: samples, passed, pass@k, per-task counts
 * A run that stops (Ctrl-C, cancel, kill -9) resumes on the same folder: finished samples are neither
 * generated nor executed again. At the end both files are rewritten in problem order.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BackendInfo, BackendName, initBackend } from '../backend';
import { HUMANEVAL_DEFAULTS, type HumanEvalProgress, type HumanEvalSettings } from '../../protocol/engine';
import { InputError } from '../errors';
import { Adapter, disposeAdapter, loadAdapter } from '../model/adapter-weights';
import { LoadedModel, loadModel } from '../model/load';
import { completePrompt, STANDARD_STOPS } from './complete';
import { buildProgram, ResultRecord, Sandbox, SandboxInfo, SandboxOptions, SampleRecord, toResult, writeJsonl } from './execute';
import { countByTask, passAtKTable, TaskCount } from './passk';
import { Problem } from './problems';

export interface ModelSpec {
  /** Folder name and table label; default "base" for a bare model, the adapter folder's name otherwise. */
  label?: string;
  model: string;
  adapter?: string;
  /** Chat template format (instruct models); default the run's `chat`. */
  chat?: boolean;
  /** The model already loaded by the caller (e.g. the engine server's): used as is, never disposed here. */
  loaded?: LoadedModel;
  /** The adapter already loaded by the caller: used as is (instead of reading `adapter`), never disposed here. */
  adapterWeights?: Adapter;
}

/** The protocol's HumanEvalSettings (one type for the CLI, the server and the extension), plus what only the engine has. */
export interface HumanEvalOptions extends HumanEvalSettings, SandboxOptions {
  models: ModelSpec[];
  problems: Problem[];
  outDir: string;
  /** Default STANDARD_STOPS. */
  stop?: string[];
  backend?: BackendName | 'auto';
  /** A backend the caller already initialised (initBackend); then `backend` is not used. */
  backendInfo?: BackendInfo;
}

// Progress events are plain JSON objects, defined by the protocol: the server forwards them as they are.
export type { HumanEvalProgress } from '../../protocol/engine';

export interface HumanEvalHooks {
  onProgress?: (e: HumanEvalProgress) => void;
  isCancelled?: () => boolean;
  log?: (line: string) => void;
}

export interface ModelReport {
  label: string;
  model: string;
  adapter: string | null;
  chat: boolean;
  samplesFile: string;
  resultsFile: string;
  /** Samples executed (of the problems run), and how many passed. */
  samples: number;
  passed: number;
  passAtK: Record<string, number>;
  perTask: TaskCount[];
  /** Per sample, in problem order; missing when the run was cancelled before it was executed. */
  results: ResultRecord[];
}

export interface HumanEvalReport {
  outDir: string;
  models: ModelReport[];
  cancelled: boolean;
  sandbox: SandboxInfo | null;
}

const keyOf = (taskId: string, index: number) => `${taskId}\u0000${index}`;

/** FNV-1a: a per-sample seed that depends on the run's seed, the task and the sample index only. */
export function sampleSeed(seed: number, taskId: string, index: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}\u0000${taskId}\u0000${index}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function modelLabels(models: ModelSpec[]): string[] {
  const used = new Set<string>();
  return models.map((m) => {
    const base = (m.label ?? (m.adapter ? path.basename(path.resolve(m.adapter)) : 'base')).replace(/[^A-Za-z0-9._-]+/g, '_') || 'model';
    let label = base;
    for (let i = 2; used.has(label); i++) label = `${base}-${i}`;
    used.add(label);
    return label;
  });
}

/** Our own JSONL (samples or results). A last line without its newline was cut by a kill: it is dropped
 * (and cut from the file, so that appending goes on cleanly). */
function readOwnJsonl<T extends SampleRecord>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const whole = text.slice(0, text.lastIndexOf('\n') + 1);
  if (whole.length < text.length) fs.truncateSync(file, Buffer.byteLength(whole));
  const out: T[] = [];
  whole.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const rec = JSON.parse(line) as T;
      if (typeof rec.task_id !== 'string' || typeof rec.completion !== 'string' || !Number.isInteger(rec.sample_index))
        throw new Error('not a sample of this run');
      out.push(rec);
    } catch (e) {
      throw new InputError(`${file}:${i + 1}`, `${(e as Error).message}: delete the file (or the output folder) to start over`);
    }
  });
  return out;
}

function settingsOf(o: HumanEvalOptions, problems: Problem[]) {
  const digest = crypto.createHash('sha256');
  for (const p of problems) digest.update(`${p.task_id}\u0000${p.prompt}\u0000`);
  return {
    n: o.n ?? HUMANEVAL_DEFAULTS.n,
    temperature: o.temperature ?? HUMANEVAL_DEFAULTS.temperature,
    top_p: o.topP ?? HUMANEVAL_DEFAULTS.topP,
    seed: o.seed ?? HUMANEVAL_DEFAULTS.seed,
    max_new_tokens: o.maxNewTokens ?? HUMANEVAL_DEFAULTS.maxNewTokens,
    stop: o.stop ?? STANDARD_STOPS,
    problems_sha256: digest.digest('hex'),
  };
}

function checkSettings(file: string, want: Record<string, unknown>): void {
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `${JSON.stringify(want, null, 1)}\n`);
    return;
  }
  let have: Record<string, unknown>;
  try {
    have = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, `not valid JSON (${(e as Error).message})`);
  }
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(have[k]) !== JSON.stringify(v)) {
      throw new InputError(
        file,
        `this folder holds a run with ${k} = ${JSON.stringify(have[k])}, not ${JSON.stringify(v)}: use another output folder, or the same settings to resume`,
      );
    }
  }
}

function checkInt(where: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new InputError(where, `must be an integer >= ${min}, got ${v}`);
  return v;
}

export async function runHumanEval(o: HumanEvalOptions, hooks: HumanEvalHooks = {}): Promise<HumanEvalReport> {
  const emit = (e: HumanEvalProgress) => hooks.onProgress?.(e);
  const log = hooks.log ?? (() => undefined);
  const cancelled = () => !!hooks.isCancelled?.();
  if (o.models.length === 0) throw new InputError('models', 'no model to evaluate');
  const n = checkInt('n', o.n ?? HUMANEVAL_DEFAULTS.n, 1);
  const ks = (o.k ?? HUMANEVAL_DEFAULTS.k).map((k) => checkInt('k', k, 1));
  const temperature = o.temperature ?? HUMANEVAL_DEFAULTS.temperature;
  if (!(temperature >= 0)) throw new InputError('temperature', `must be >= 0, got ${temperature}`);
  const topP = o.topP ?? HUMANEVAL_DEFAULTS.topP;
  if (!(topP > 0 && topP <= 1)) throw new InputError('top-p', `must be in (0, 1], got ${topP}`);
  const maxNewTokens = checkInt('max-new-tokens', o.maxNewTokens ?? HUMANEVAL_DEFAULTS.maxNewTokens, 1);
  const settings = settingsOf(o, o.problems);
  const problems = o.limit !== undefined ? o.problems.slice(0, checkInt('limit', o.limit, 1)) : o.problems;
  const order = new Map(o.problems.map((p, i) => [p.task_id, i]));
  const labels = modelLabels(o.models);
  for (const m of o.models) {
    if (!m.loaded && !fs.existsSync(m.model)) throw new InputError(m.model, 'model folder not found');
    if (m.adapter && !m.adapterWeights && !fs.existsSync(m.adapter)) throw new InputError(m.adapter, 'adapter folder not found');
  }
  fs.mkdirSync(o.outDir, { recursive: true });
  checkSettings(path.join(o.outDir, 'run.json'), settings);
  emit({ type: 'start', models: labels, problems: problems.length, n });

  const execute = o.execute !== false;
  let sandbox: Sandbox | undefined;
  const openSandbox = async () => {
    if (!sandbox) {
      sandbox = await Sandbox.open(o);
      emit({ type: 'sandbox', mode: sandbox.info.mode, warning: sandbox.info.warning, note: sandbox.info.note });
      if (sandbox.info.warning) emit({ type: 'warning', message: sandbox.info.warning });
    }
    return sandbox;
  };
  const backendName = o.backend ?? 'auto';
  let backend: BackendInfo | undefined = o.backendInfo;
  let loaded: LoadedModel | undefined;
  const reports: ModelReport[] = [];
  let wasCancelled = false;
  try {
    if (execute) await openSandbox();
    for (let mi = 0; mi < o.models.length && !wasCancelled; mi++) {
      const spec = o.models[mi],
        label = labels[mi];
      const chat = spec.chat ?? o.chat ?? HUMANEVAL_DEFAULTS.chat;
      const dir = path.join(o.outDir, label);
      fs.mkdirSync(dir, { recursive: true });
      checkSettings(path.join(dir, 'model.json'), {
        label,
        model: path.resolve(spec.model),
        adapter: spec.adapter ? path.resolve(spec.adapter) : null,
        chat,
      });
      const samplesFile = path.join(dir, 'samples.jsonl');
      const resultsFile = path.join(dir, 'results.jsonl');
      const samples = new Map(readOwnJsonl<SampleRecord>(samplesFile).map((s) => [keyOf(s.task_id, s.sample_index as number), s]));
      const results = new Map(readOwnJsonl<ResultRecord>(resultsFile).map((r) => [keyOf(r.task_id, r.sample_index as number), r]));
      const total = problems.length * n;
      const present = (m: Map<string, SampleRecord>) =>
        problems.reduce((s, p) => s + [...Array(n).keys()].filter((j) => m.has(keyOf(p.task_id, j))).length, 0);
      let generated = present(samples);
      let executed = present(results);
      let passed = problems.reduce((s, p) => s + [...Array(n).keys()].filter((j) => results.get(keyOf(p.task_id, j))?.passed).length, 0);
      if (generated > 0) log(`${label}: resuming with ${generated} of ${total} samples made and ${executed} executed`);
      emit({ type: 'generate', model: label, done: generated, total });
      if (execute) emit({ type: 'execute', model: label, done: executed, total, passed });

      const inflight: Promise<void>[] = [];
      const execErrors: Error[] = [];
      const runSample = (p: Problem, s: SampleRecord) => {
        const key = keyOf(p.task_id, s.sample_index as number);
        if (!execute || results.has(key)) return;
        inflight.push(
          (async () => {
            const box = await openSandbox();
            let outcome;
            try {
              outcome = await box.run(buildProgram(p, s.completion));
            } catch (e) {
              if (wasCancelled || cancelled()) return;
              throw e;
            }
            const r = toResult(s, outcome);
            results.set(key, r);
            fs.appendFileSync(resultsFile, `${JSON.stringify(r)}\n`);
            executed++;
            if (r.passed) passed++;
            emit({ type: 'execute', model: label, done: executed, total, passed });
          })().catch((e: Error) => {
            execErrors.push(e);
          }),
        );
      };

      const before = { generated, executed };
      let adapter: Adapter | undefined;
      let ownAdapter = false;
      try {
        for (const p of problems) {
          for (let j = 0; j < n; j++) {
            if (cancelled()) {
              wasCancelled = true;
              break;
            }
            let s = samples.get(keyOf(p.task_id, j));
            if (!s) {
              const greedyTwin = temperature === 0 && j > 0 ? samples.get(keyOf(p.task_id, 0)) : undefined;
              let completion: string, stopReason: string;
              if (greedyTwin) {
                completion = greedyTwin.completion;
                stopReason = String(greedyTwin.stop_reason ?? '');
              } else {
                if (!spec.loaded && (!loaded || loaded.dir !== spec.model)) {
                  if (loaded) {
                    loaded.model.dispose();
                    loaded = undefined;
                  }
                  backend ??= await initBackend(backendName, log);
                  loaded = loadModel(spec.model, backend, (done, tot) => emit({ type: 'load', model: label, done, total: tot }));
                }
                const m = spec.loaded ?? loaded!;
                if (spec.adapterWeights) adapter = spec.adapterWeights;
                else if (spec.adapter && !adapter) {
                  adapter = loadAdapter(spec.adapter, m.config);
                  ownAdapter = true;
                }
                const c = await completePrompt(m, adapter, p.prompt, {
                  maxNewTokens,
                  temperature,
                  topP,
                  seed: sampleSeed(settings.seed, p.task_id, j),
                  stop: settings.stop,
                  chat,
                  isCancelled: hooks.isCancelled,
                });
                if (c.stopReason === 'cancelled') {
                  wasCancelled = true;
                  break;
                }
                completion = c.completion;
                stopReason = c.stopReason;
              }
              s = { task_id: p.task_id, completion, model: label, sample_index: j, stop_reason: stopReason };
              samples.set(keyOf(p.task_id, j), s);
              fs.appendFileSync(samplesFile, `${JSON.stringify(s)}\n`);
              generated++;
              emit({ type: 'generate', model: label, done: generated, total });
            }
            runSample(p, s);
          }
          if (wasCancelled) break;
        }
        if (wasCancelled && sandbox) await sandbox.abort();
        await Promise.all(inflight);
        if (execErrors.length) throw execErrors[0];
      } finally {
        if (adapter && ownAdapter) disposeAdapter(adapter);
      }

      log(`${label}: ${generated - before.generated} samples generated and ${executed - before.executed} executed in this run`);
      const sorted = <T extends SampleRecord>(m: Map<string, T>) =>
        [...m.values()].sort(
          (a, b) =>
            (order.get(a.task_id) ?? Infinity) - (order.get(b.task_id) ?? Infinity) ||
            (a.sample_index as number) - (b.sample_index as number),
        );
      if (!wasCancelled) {
        writeJsonl(samplesFile, sorted(samples));
        if (execute) writeJsonl(resultsFile, sorted(results));
      }
      const mine = problems.flatMap((p) =>
        [...Array(n).keys()].map((j) => results.get(keyOf(p.task_id, j))).filter((r): r is ResultRecord => !!r),
      );
      const perTask = countByTask(mine);
      const complete = !wasCancelled && execute && mine.length === total;
      const report: ModelReport = {
        label,
        model: spec.model,
        adapter: spec.adapter ?? null,
        chat,
        samplesFile,
        resultsFile,
        samples: mine.length,
        passed: mine.filter((r) => r.passed).length,
        passAtK: complete ? passAtKTable(perTask, ks) : {},
        perTask,
        results: mine,
      };
      reports.push(report);
      if (complete) emit({ type: 'model-done', model: label, samples: report.samples, passed: report.passed, passAtK: report.passAtK });
    }
  } finally {
    if (loaded) loaded.model.dispose();
    const box = sandbox as Sandbox | undefined;
    if (box) await (wasCancelled ? box.abort() : box.close());
  }
  if (!wasCancelled) {
    const summary = {
      settings: { ...settings, k: ks, limit: o.limit ?? null, timeout_sec: o.timeoutSec ?? HUMANEVAL_DEFAULTS.timeoutSec },
      sandbox: sandbox ? { mode: sandbox.info.mode, warning: sandbox.info.warning } : null,
      models: reports.map(({ results: _r, ...rest }) => rest),
    };
    fs.writeFileSync(path.join(o.outDir, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  }
  emit({ type: 'done', cancelled: wasCancelled });
  return { outDir: o.outDir, models: reports, cancelled: wasCancelled, sandbox: sandbox ? sandbox.info : null };
}
