/**
 * The engine behind one JSON-RPC connection: the loaded base model and adapters, and a handler per
 * request of ../../protocol/engine.ts. Compute requests run one at a time (tfjs has one backend and
 * its ops block the thread), giving the event loop a turn between layers, tokens and training steps, so
 * that progress goes out, engine/status (outside the queue) is answered, and a cancelled request stops
 * at its next layer, token or step. Every request parameter is checked here, at the edge (./params.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { CancellationToken, MessageConnection, ProgressType, ResponseError } from 'vscode-jsonrpc';
import type { ModelKind } from '../../protocol/attention';
import type { PackedLayerMaps } from '../../protocol/attention';
import type { LayerHeadValues, NeedleAnalysis } from '../../protocol/analysis';
import {
  AnalyzeParams, AnalyzeResult, AttentionParams, AttentionProgress, AttentionResult, CompareParams, CompareResult, ErrorCodes,
  GenerateParams, GenerateResult, HumanEvalParams, HumanEvalProgress, HumanEvalResult, InitializeParams, InitializeResult,
  LoadModelParams, LoadModelResult, Methods, ModelSummary, ProblemsParams, ProblemsResult, PROTOCOL_VERSION, TrainParams,
  StatusResult, TrainProgress, TrainResult, DataExtractParams, DataExtractResult, DataSummaryParams, DataSummaryResult,
} from '../../protocol/engine';
import { trainOptionDefaults, trainOptionError } from '../../protocol/training';
import type { CompareItem } from '../../protocol/compare';
import { completePrompt, executeSamples, readProblems, resolveProblemsFile, runHumanEval, STANDARD_STOPS } from '../humaneval';
import { encodeLayerMaps } from '../../protocol/map-pack';
import { BackendInfo } from '../backend';
import { InputError } from '../errors';
import { Adapter, disposeAdapter, loadAdapter } from '../model/adapter-weights';
import { generate } from '../model/generate';
import { LoadedModel, loadModel } from '../model/load';
import { tokenSpans } from '../model/token-spans';
import { runTraining, TrainFlags } from '../cli/train-command';
import { DatasetOptions, loadJsonlDataset } from '../data/examples';
import { extractFolder } from '../data/extract';
import { yieldToEventLoop } from '../util/yield';
import { optBoolean, optChoice, optInt, optIntList, optNumber, optStringList } from './params';
import { bosMass, DEFAULT_BOS_TEXT, needlePrompt, spanMass, tokenRange } from './analysis';

export const ENGINE_VERSION = '0.1.0';
/** Generation longer than this is a mistake in the request, not a wish. */
const MAX_NEW_TOKENS = 8192;

class Cancelled extends Error {
  constructor() { super('cancelled'); }
}

interface Loaded {
  m: LoadedModel;
  models: (ModelSummary & { adapter?: Adapter })[];
  parameters: number;
}

function kindOf(a: Adapter | undefined): ModelKind {
  return !a ? 'base' : a.config.kind === 'lora' ? 'lora' : 'difflora';
}

export class EngineSession {
  private loaded?: Loaded;
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private busy?: { method: string; since: number };

  constructor(private readonly conn: MessageConnection, private readonly backend: BackendInfo, private readonly log: (level: 'info' | 'warn' | 'error', line: string) => void) {
    conn.onRequest(Methods.initialize, (p: InitializeParams) => this.initialize(p));
    conn.onRequest(Methods.status, () => this.status());
    conn.onRequest(Methods.loadModel, (p: LoadModelParams, t: CancellationToken) => this.serial(Methods.loadModel, t, () => this.loadModel(p)));
    conn.onRequest(Methods.attention, (p: AttentionParams, t: CancellationToken) => this.serial(Methods.attention, t, () => this.attention(p, t)));
    conn.onRequest(Methods.analyze, (p: AnalyzeParams, t: CancellationToken) => this.serial(Methods.analyze, t, () => this.analyze(p, t)));
    conn.onRequest(Methods.train, (p: TrainParams, t: CancellationToken) => this.serial(Methods.train, t, () => this.train(p, t)));
    conn.onRequest(Methods.generate, (p: GenerateParams, t: CancellationToken) => this.serial(Methods.generate, t, () => this.generate(p, t)));
    conn.onRequest(Methods.problems, (p: ProblemsParams) => this.problems(p));
    conn.onRequest(Methods.compare, (p: CompareParams, t: CancellationToken) => this.serial(Methods.compare, t, () => this.compare(p, t)));
    conn.onRequest(Methods.humanEval, (p: HumanEvalParams, t: CancellationToken) => this.serial(Methods.humanEval, t, () => this.humanEval(p, t)));
    conn.onRequest(Methods.dataSummary, (p: DataSummaryParams, t: CancellationToken) => this.serial(Methods.dataSummary, t, () => this.dataSummary(p)));
    conn.onRequest(Methods.dataExtract, (p: DataExtractParams, t: CancellationToken) => this.serial(Methods.dataExtract, t, () => this.dataExtract(p)));
  }

  dispose(): void {
    this.unload();
  }

  private initialize(p: InitializeParams): InitializeResult {
    if (p?.protocolVersion !== PROTOCOL_VERSION) {
      throw new ResponseError(ErrorCodes.versionMismatch, `the engine speaks protocol ${PROTOCOL_VERSION}, the client ${p?.protocolVersion}: install matching versions`);
    }
    return { protocolVersion: PROTOCOL_VERSION, engineVersion: ENGINE_VERSION, backend: this.backend.name, backendDetail: this.backend.detail, pid: process.pid, node: process.version };
  }

  private status(): StatusResult {
    return {
      busy: this.busy && { method: this.busy.method, sinceMs: Date.now() - this.busy.since },
      queued: this.queued, model: this.loaded?.m.dir, numTensors: tf.memory().numTensors, rssBytes: process.memoryUsage.rss(),
    };
  }

  /** Runs `work` after the requests before it; maps engine errors to JSON-RPC errors. */
  private serial<T>(method: string, token: CancellationToken, work: () => Promise<T> | T): Promise<T> {
    this.queued++;
    const run = this.queue.then(async () => {
      this.queued--;
      if (token.isCancellationRequested) throw new Cancelled();
      this.busy = { method, since: Date.now() };
      try {
        return await work();
      } finally {
        this.busy = undefined;
      }
    });
    this.queue = run.catch(() => undefined);
    return run.catch((e: unknown) => {
      if (e instanceof ResponseError) throw e;
      if (e instanceof Cancelled) throw new ResponseError(-32800, 'cancelled');
      if (e instanceof InputError) throw new ResponseError(ErrorCodes.inputError, e.message);
      // The stack is for whoever debugs the engine (DIFFLORA_DEBUG=1, set by the extension at its Debug log level).
      this.log('error', `internal error: ${process.env.DIFFLORA_DEBUG ? (e as Error).stack : (e as Error).message ?? e}`);
      throw new ResponseError(-32603, (e as Error).message ?? String(e));
    });
  }

  private unload(): void {
    if (!this.loaded) return;
    for (const x of this.loaded.models) if (x.adapter) disposeAdapter(x.adapter);
    this.loaded.m.model.dispose();
    this.loaded = undefined;
  }

  private loadModel(p: LoadModelParams): LoadModelResult {
    if (typeof p?.model !== 'string' || !Array.isArray(p.adapters)) throw new InputError('model/load', 'expected { model: string, adapters: [{ label, path }] }');
    const labels = new Set(['base']);
    for (const a of p.adapters) {
      if (typeof a?.label !== 'string' || typeof a.path !== 'string') throw new InputError('model/load', 'each adapter needs a label and a path');
      if (labels.has(a.label)) throw new InputError('model/load', `two models labelled "${a.label}"`);
      labels.add(a.label);
    }
    const model = path.resolve(p.model);
    let m = this.loaded?.m;
    if (!m || m.dir !== model) {
      this.unload();
      this.log('info', `loading ${model}`);
      m = loadModel(model, this.backend);
      if (!m.tokenizer) { m.model.dispose(); throw new InputError(model, 'no tokenizer.json: the engine server works on text'); }
    } else {
      for (const x of this.loaded!.models) if (x.adapter) disposeAdapter(x.adapter);
    }
    const models: Loaded['models'] = [{ label: 'base', kind: 'base', path: model }];
    try {
      for (const a of p.adapters) {
        const adapter = loadAdapter(path.resolve(a.path), m.config);
        const { kind: _k, ...options } = adapter.config;
        models.push({ label: a.label, kind: kindOf(adapter), path: path.resolve(a.path), options, adapter });
      }
    } catch (e) {
      for (const x of models) if (x.adapter) disposeAdapter(x.adapter);
      this.loaded = { m, models: [models[0]], parameters: countParameters(m) };
      throw e;
    }
    this.loaded = { m, models, parameters: countParameters(m) };
    const c = m.config;
    this.log('info', `model ${model}: ${models.map((x) => `${x.label} (${x.kind})`).join(', ')}`);
    return {
      model, layers: c.numLayers, heads: c.numHeads, kvHeads: c.numKvHeads, hidden: c.hiddenSize, vocab: c.vocabSize,
      parameters: this.loaded.parameters, models: models.map(({ adapter: _a, ...s }) => s),
    };
  }

  private need(requested?: unknown): { l: Loaded; picked: Loaded['models'] } {
    const l = this.loaded;
    if (!l) throw new ResponseError(ErrorCodes.noModel, 'no model loaded: send model/load first');
    const labels = optStringList('models', requested);
    if (!labels) return { l, picked: l.models };
    const picked = labels.map((label) => {
      const x = l.models.find((y) => y.label === label);
      if (!x) throw new InputError('models', `no model "${label}" (loaded: ${l.models.map((y) => y.label).join(', ')})`);
      return x;
    });
    return { l, picked };
  }

  private encode(l: Loaded, text: string): number[] {
    if (typeof text !== 'string' || text.length === 0) throw new InputError('text', 'empty text: nothing to look at');
    const ids = l.m.tokenizer!.encode(text);
    l.m.model.checkIds([ids]);
    return ids;
  }

  private async attention(p: AttentionParams, token: CancellationToken): Promise<AttentionResult> {
    const { l, picked } = this.need(p.models);
    const encoding = optChoice('encoding', p.encoding, ['u16', 'f32'] as const) ?? 'u16';
    const ids = this.encode(l, p.text);
    const tokens = tokenSpans(l.m.tokenizer!, p.text, ids);
    const progress = new ProgressType<AttentionProgress>();
    // Awaited: each layer's frame is written before the next layer's compute blocks the thread.
    const send = async (v: AttentionProgress) => { if (p.progressToken !== undefined) await this.conn.sendProgress(progress, p.progressToken, v); };
    const t0 = Date.now();
    const timings: AttentionResult['timings'] = [];
    for (const [index, x] of picked.entries()) {
      await send({ type: 'model', index, label: x.label, kind: x.kind, ids, tokens, numLayers: l.m.config.numLayers, numHeads: l.m.config.numHeads });
      let first = -1;
      const logits = await l.m.model.forwardCapture([ids], x.adapter, {
        layers: optIntList('layers', p.layers, 0, l.m.config.numLayers - 1), heads: optIntList('heads', p.heads, 0, l.m.config.numHeads - 1),
        onMaps: async (maps) => {
          if (token.isCancellationRequested) throw new Cancelled();
          if (first < 0) first = Date.now() - t0;
          await send({ type: 'layer', index, maps: encodeLayerMaps(maps, encoding) });
          await yieldToEventLoop();
        },
      });
      logits.dispose();
      timings.push({ label: x.label, firstLayerMs: first, doneMs: Date.now() - t0 });
    }
    return { models: picked.length, tokens: ids.length, timings };
  }

  /** Runs each model over `ids` and reduces every layer's maps to one value per head. */
  private async perHead(l: Loaded, picked: Loaded['models'], ids: number[], reduce: (maps: PackedLayerMaps) => Float32Array, token: CancellationToken, step: (label: string) => void): Promise<LayerHeadValues[]> {
    const { numLayers, numHeads } = l.m.config;
    const out: LayerHeadValues[] = [];
    for (const x of picked) {
      step(x.label);
      const values = new Float32Array(numLayers * numHeads).fill(NaN);
      const logits = await l.m.model.forwardCapture([ids], x.adapter, {
        onMaps: async (maps) => {
          if (token.isCancellationRequested) throw new Cancelled();
          values.set(reduce(maps), maps.layer * numHeads);
          await yieldToEventLoop();
        },
      });
      logits.dispose();
      out.push({ label: x.label, kind: x.kind, numLayers, numHeads, values, map: x.kind === 'difflora' ? 'differential' : 'positive' });
    }
    return out;
  }

  private async analyze(p: AnalyzeParams, token: CancellationToken): Promise<AnalyzeResult> {
    const { l, picked } = this.need(p.models);
    const progress = new ProgressType<string>();
    const step = (label: string) => { if (p.progressToken !== undefined) void this.conn.sendProgress(progress, p.progressToken, label); };
    if (p.kind === 'bos') {
      const text = p.text ?? DEFAULT_BOS_TEXT;
      const ids = this.encode(l, text);
      const models = await this.perHead(l, picked, ids, bosMass, token, step);
      const firstTokenIsBos = l.m.config.bosTokenId !== undefined && ids[0] === l.m.config.bosTokenId;
      return { kind: 'bos', result: { text, numTokens: ids.length, note: `queries 1..${ids.length - 1}, mass on token 0 ${JSON.stringify(l.m.tokenizer!.labels([ids[0]])[0])}`, firstTokenIsBos, models } };
    }
    if (p.kind !== 'needle') throw new InputError('kind', `unknown analysis "${String(p.kind)}" (bos or needle)`);
    const needle0 = p.needle as unknown;
    if (needle0 !== undefined && (typeof needle0 !== 'object' || needle0 === null)) throw new InputError('needle', 'expected { length?, depth? }');
    // Tokens of filler text (about 4 characters each): bounded by the model's context.
    const length = optInt('needle.length', p.needle?.length, 32, Math.max(32, l.m.config.maxPositions)) ?? 400;
    const depth = optNumber('needle.depth', p.needle?.depth, 0, 1) ?? 0.5;
    const needle = needlePrompt(length * 4, depth, 0);
    const ids = this.encode(l, needle.text);
    const tokens = tokenSpans(l.m.tokenizer!, needle.text, ids);
    const range = tokenRange(tokens, needle.start, needle.end);
    if (!range) throw new InputError('needle', 'the tokenizer gives no character offsets, so the needle\'s tokens cannot be found');
    const values = await this.perHead(l, picked, ids, (maps) => spanMass(maps, range.tokenStart, range.tokenEnd), token, step);
    const tok = l.m.tokenizer!;
    const models: NeedleAnalysis['models'] = [];
    for (const [i, x] of picked.entries()) {
      step(`${x.label}: answering`);
      const g = await generate(l.m.model, x.adapter, ids, {
        maxNewTokens: 8, temperature: 0, topP: 1, seed: 0, stop: ['\n'], useCache: true, eosIds: l.m.config.eosTokenIds,
        decode: (g) => tok.decode(g, true), isCancelled: () => token.isCancellationRequested,
      });
      if (g.stopReason === 'cancelled') throw new Cancelled();
      const answer = g.completion ?? tok.decode(g.ids, true);
      models.push({ ...values[i], answer, correct: answer.includes(needle.value) });
    }
    return { kind: 'needle', result: { text: needle.text, needleStart: needle.start, needleEnd: needle.end, needle: needle.value, numTokens: ids.length, depth, models } };
  }

  private async train(p: TrainParams, token: CancellationToken): Promise<TrainResult> {
    if (typeof p?.model !== 'string' || typeof p.method !== 'string' || typeof p.data !== 'string' || typeof p.out !== 'string') {
      throw new InputError('train/run', 'expected { model, method, data, out, options }');
    }
    const progress = new ProgressType<TrainProgress>();
    const send = (v: TrainProgress) => { if (p.progressToken !== undefined) void this.conn.sendProgress(progress, p.progressToken, v); };
    const model = path.resolve(p.model);
    const m = this.loaded?.m.dir === model ? this.loaded.m : undefined;
    // Training another model than the loaded one loads it for the run only.
    const base = m ?? loadModel(model, this.backend);
    const flags = { ...trainOptionDefaults(), ...checkedTrainOptions(p.options), model, method: p.method, data: path.resolve(p.data), out: path.resolve(p.out), resume: !!p.resume, backend: this.backend.name, quiet: false } as unknown as TrainFlags;
    try {
      const r = await runTraining(flags, {
        log: (message) => { this.log('info', message); send({ type: 'log', message }); },
        onEvent: (e) => send(e),
        isCancelled: () => token.isCancellationRequested,
      }, base);
      return { out: r.out, steps: r.steps, cancelled: r.cancelled, finalLoss: r.finalLoss, kind: r.kind === 'lora' ? 'lora' : 'difflora' };
    } finally {
      if (!m) base.model.dispose();
    }
  }

  private dataSummary(p: DataSummaryParams): DataSummaryResult {
    const { l } = this.need();
    if (typeof p?.data !== 'string' || !p.data) throw new InputError('data', 'which dataset? (a JSONL path)');
    const o = { ...trainOptionDefaults(), ...checkedTrainOptions(p.options) };
    const maxLength = Number(o.maxLength);
    const r = loadJsonlDataset(path.resolve(p.data), l.m.tokenizer!, { maxLength, onBadLine: 'skip', onTooLong: o.onTooLong as DatasetOptions['onTooLong'] });
    return { format: r.format, kept: r.examples.length, truncated: r.truncated, maxLength, skipped: r.skipped.length, skippedFirst: r.skipped.slice(0, 5) };
  }

  private async dataExtract(p: DataExtractParams): Promise<DataExtractResult> {
    if (typeof p?.folder !== 'string' || typeof p.out !== 'string') throw new InputError('data/extract', 'expected { folder, out }');
    const out = path.resolve(p.out);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const r = await extractFolder(path.resolve(p.folder), out, {});
    this.log('info', r.summary);
    return { out, pairs: r.pairs, files: r.files, summary: r.summary };
  }

  private async problems(p: ProblemsParams): Promise<ProblemsResult> {
    try {
      const file = await resolveProblemsFile({ file: p?.path || undefined, log: (l) => this.log('info', l) });
      return { file, problems: readProblems(file).map(({ task_id, prompt, entry_point, test }) => ({ task_id, prompt, entry_point, test })) };
    } catch (e) {
      if (e instanceof InputError) throw new ResponseError(ErrorCodes.inputError, e.message);
      throw e;
    }
  }

  private async compare(p: CompareParams, token: CancellationToken): Promise<CompareResult> {
    const { l, picked } = this.need(p.models);
    const pr = p?.problem;
    if (typeof pr?.prompt !== 'string' || !pr.prompt.trim()) throw new InputError('problem.prompt', 'empty prompt');
    const progress = new ProgressType<string>();
    const step = (m: string) => { if (p.progressToken !== undefined) void this.conn.sendProgress(progress, p.progressToken, m); };
    const completions: CompareItem['completions'] = [];
    for (const x of picked) {
      step(`${x.label}: generating`);
      const c = await completePrompt(l.m, x.adapter, pr.prompt, {
        maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS) ?? 256, temperature: 0, topP: 1, seed: 0, stop: STANDARD_STOPS, isCancelled: () => token.isCancellationRequested,
      });
      if (c.stopReason === 'cancelled') throw new Cancelled();
      completions.push({ label: x.label, kind: x.kind, completion: c.completion, sample: 0, status: 'pending' });
    }
    let sandboxWarning: string | null | undefined;
    if (p.execute && pr.test) {
      step('running the tests');
      const problem = { task_id: pr.task_id, prompt: pr.prompt, entry_point: pr.entry_point, canonical_solution: '', test: pr.test };
      const r = await executeSamples([problem], completions.map((c) => ({ task_id: pr.task_id, completion: c.completion })), { timeoutSec: optNumber('timeoutSec', p.timeoutSec, 0.1, 3600) }, { isCancelled: () => token.isCancellationRequested });
      sandboxWarning = r.sandbox.warning;
      r.outcomes.forEach((o, i) => {
        if (!o) return;
        completions[i].status = o.status === 'timed out' ? 'timed-out' : o.status;
        completions[i].reason = o.reason ?? undefined;
      });
    } else {
      for (const c of completions) delete c.status;
    }
    return { item: { problem: { task_id: pr.task_id, prompt: pr.prompt, entry_point: pr.entry_point }, completions }, sandboxWarning };
  }

  private async humanEval(p: HumanEvalParams, token: CancellationToken): Promise<HumanEvalResult> {
    const { l, picked } = this.need();
    if (typeof p?.outDir !== 'string' || !p.outDir) throw new InputError('outDir', 'where should the samples and results go?');
    const n = optInt('n', p.n, 1, 1000);
    const progress = new ProgressType<HumanEvalProgress>();
    const file = await resolveProblemsFile({ file: p.problemsPath || undefined, log: (line) => this.log('info', line) });
    const r = await runHumanEval({
      models: picked.map((x) => ({ label: x.label, model: l.m.dir, adapter: x.adapter ? x.path : undefined, loaded: l.m, adapterWeights: x.adapter })),
      problems: readProblems(file), outDir: path.resolve(p.outDir), n, k: optIntList('k', p.k, 1, n ?? 1000),
      temperature: optNumber('temperature', p.temperature, 0, 10), topP: optNumber('topP', p.topP, 0, 1), seed: optInt('seed', p.seed, 0, 2 ** 32 - 1),
      maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS), limit: optInt('limit', p.limit, 1, 1e6), chat: optBoolean('chat', p.chat),
      timeoutSec: optNumber('timeoutSec', p.timeoutSec, 0.1, 3600), execute: optBoolean('execute', p.execute) ?? false, backendInfo: this.backend,
    }, {
      onProgress: (e) => { if (p.progressToken !== undefined) void this.conn.sendProgress(progress, p.progressToken, e); },
      isCancelled: () => token.isCancellationRequested,
      log: (line) => this.log('info', line),
    });
    return {
      outDir: r.outDir, cancelled: r.cancelled,
      models: r.models.map((m, i) => ({
        label: picked[i].label, kind: picked[i].kind, samples: m.samples, passed: m.passed, passAtK: m.passAtK, perTask: m.perTask,
        results: m.results.map((x) => ({ task_id: x.task_id, completion: x.completion, passed: x.passed, result: x.result, sample_index: x.sample_index as number | undefined })),
      })),
    };
  }

  private async generate(p: GenerateParams, token: CancellationToken): Promise<GenerateResult> {
    const { l, picked } = this.need(p.models);
    const ids = this.encode(l, p.prompt);
    const tok = l.m.tokenizer!;
    const completions: GenerateResult['completions'] = [];
    const sampling = {
      maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS) ?? 128, temperature: optNumber('temperature', p.temperature, 0, 10) ?? 0,
      topP: optNumber('topP', p.topP, 0, 1) ?? 1, seed: optInt('seed', p.seed, 0, 2 ** 32 - 1) ?? 0, stop: optStringList('stop', p.stop) ?? [],
    };
    for (const x of picked) {
      const g = await generate(l.m.model, x.adapter, ids, {
        ...sampling, useCache: true, eosIds: l.m.config.eosTokenIds, decode: (g) => tok.decode(g, true),
        isCancelled: () => token.isCancellationRequested,
      });
      if (g.stopReason === 'cancelled') throw new Cancelled();
      completions.push({ label: x.label, kind: x.kind, completion: g.completion ?? tok.decode(g.ids, true), stopReason: g.stopReason });
    }
    return { completions };
  }
}

/** The request's training options, each checked against the protocol's table (a typo is an error, not ignored). */
function checkedTrainOptions(options: unknown): Record<string, string | boolean> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new InputError('options', 'expected { key: value } training options');
  for (const [k, v] of Object.entries(options)) {
    const err = trainOptionError(k, v as string | boolean);
    if (err) throw new InputError(`options.${k}`, err);
  }
  return options as Record<string, string | boolean>;
}

function countParameters(m: LoadedModel): number {
  const w = m.model.weights;
  const n = (t: { size: number }) => t.size;
  return n(w.embed) + n(w.norm) + w.layers.reduce((s, l) => s + Object.values(l).reduce((a, t) => a + n(t as { size: number }), 0), 0)
    + (m.config.tieWordEmbeddings || !w.lmHeadT ? 0 : n(w.lmHeadT));
}
