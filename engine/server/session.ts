/**
 * The engine behind one JSON-RPC connection: the loaded base model and adapters, and a handler per
 * request of ../../protocol/engine.ts. Compute requests run one at a time (tfjs has one backend and
 * its ops block the thread), giving the event loop a turn between layers, tokens and training steps, so
 * that progress goes out, engine/status (outside the queue) is answered, and a cancelled request stops
 * at its next layer, token or step. Every request parameter is checked here, at the edge (./params.ts).
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { CancellationToken, MessageConnection, ProgressType, ResponseError } from 'vscode-jsonrpc';
import {
  AnalyzeParams,
  AnalyzeResult,
  AttentionParams,
  AttentionProgress,
  AttentionResult,
  CompareParams,
  CompareResult,
  ErrorCodes,
  GenerateParams,
  GenerateResult,
  HumanEvalParams,
  HumanEvalProgress,
  HumanEvalResult,
  InitializeParams,
  InitializeResult,
  LoadModelParams,
  LoadModelResult,
  ModelSummary,
  ProblemsParams,
  ProblemsResult,
  PROTOCOL_VERSION,
  Rpc,
  RpcRequest,
  TrainParams,
  StatusResult,
  TrainProgress,
  TrainResult,
  DataExtractParams,
  DataExtractResult,
  DataSummaryParams,
  DataSummaryResult,
} from '../../protocol/engine';
import { trainOptionError, type TrainOptionValues } from '../../protocol/training';
import type { CompareItem } from '../../protocol/compare';
import { encodeLayerMaps } from '../../protocol/map-pack';
import {
  Adapter,
  analyze,
  attention,
  Cancelled,
  compareCompletions,
  dataSummary,
  disposeAdapter,
  EngineEvent,
  extractPairs,
  generateCompletions,
  humanEval,
  humanEvalProblems,
  kindOf,
  loadAdapter,
  LoadedModel,
  loadModel,
  Method,
  RunContext,
  tokenSpans,
  trainAdapter,
  trainSettings,
} from '../api';
import { BackendInfo } from '../backend';
import { InputError } from '../errors';
import { optBoolean, optChoice, optInt, optIntList, optNumber, optStringList } from './params';

export const ENGINE_VERSION = '0.1.0';
/** Generation longer than this is a mistake in the request, not a wish. */
const MAX_NEW_TOKENS = 8192;

interface Loaded {
  m: LoadedModel;
  models: (ModelSummary & { adapter?: Adapter })[];
  parameters: number;
}

export class EngineSession {
  private loaded?: Loaded;
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private busy?: { method: string; since: number };

  constructor(
    private readonly conn: MessageConnection,
    private readonly backend: BackendInfo,
    private readonly log: (level: 'info' | 'warn' | 'error', line: string) => void,
  ) {
    this.handle(Rpc.initialize, (p) => this.initialize(p), false);
    this.handle(Rpc.status, () => this.status(), false);
    this.handle(Rpc.problems, (p) => this.problems(p), false);
    this.handle(Rpc.loadModel, (p) => this.loadModel(p));
    this.handle(Rpc.attention, (p, ctx, send) => this.attention(p, ctx, send));
    this.handle(Rpc.analyze, (p, ctx, send) => this.analyze(p, ctx, send));
    this.handle(Rpc.train, (p, ctx, send) => this.train(p, ctx, send));
    this.handle(Rpc.generate, (p, ctx) => this.generate(p, ctx));
    this.handle(Rpc.compare, (p, ctx, send) => this.compare(p, ctx, send));
    this.handle(Rpc.humanEval, (p, ctx, send) => this.humanEval(p, ctx, send));
    this.handle(Rpc.dataSummary, (p) => this.dataSummary(p));
    this.handle(Rpc.dataExtract, (p) => this.dataExtract(p));
  }

  /**
   * Serves `req`, in the queue (`serial`) or at once. The handler gets the request's cancellation as a
   * RunContext, and `send` for its progress (a no-op when the client asked for none).
   */
  private handle<P, R, E>(
    req: RpcRequest<P, R, E>,
    work: (p: P, ctx: RunContext, send: (e: E) => Promise<void>) => Promise<R> | R,
    serial = true,
  ): void {
    this.conn.onRequest(req.method, (p: P, token: CancellationToken) => {
      const progressToken = (p as { progressToken?: unknown } | undefined)?.progressToken;
      const type = new ProgressType<E>();
      const send = async (e: E) => {
        if (typeof progressToken === 'string' || typeof progressToken === 'number') await this.conn.sendProgress(type, progressToken, e);
      };
      const ctx: RunContext = { cancel: token };
      return serial ? this.serial(req.method, token, () => work(p, ctx, send)) : work(p, ctx, send);
    });
  }

  dispose(): void {
    this.unload();
  }

  private initialize(p: InitializeParams): InitializeResult {
    if (p?.protocolVersion !== PROTOCOL_VERSION) {
      throw new ResponseError(
        ErrorCodes.versionMismatch,
        `the engine speaks protocol ${PROTOCOL_VERSION}, the client ${p?.protocolVersion}: install matching versions`,
      );
    }
    return {
      protocolVersion: PROTOCOL_VERSION,
      engineVersion: ENGINE_VERSION,
      backend: this.backend.name,
      backendDetail: this.backend.detail,
      pid: process.pid,
      node: process.version,
    };
  }

  private status(): StatusResult {
    return {
      busy: this.busy && { method: this.busy.method, sinceMs: Date.now() - this.busy.since },
      queued: this.queued,
      model: this.loaded?.m.dir,
      numTensors: tf.memory().numTensors,
      rssBytes: process.memoryUsage.rss(),
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
      this.log('error', `internal error: ${process.env.DIFFLORA_DEBUG ? (e as Error).stack : ((e as Error).message ?? e)}`);
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
    if (typeof p?.model !== 'string' || !Array.isArray(p.adapters))
      throw new InputError('model/load', 'expected { model: string, adapters: [{ label, path }] }');
    const labels = new Set(['base']);
    for (const a of p.adapters) {
      if (typeof a?.label !== 'string' || typeof a.path !== 'string')
        throw new InputError('model/load', 'each adapter needs a label and a path');
      if (labels.has(a.label)) throw new InputError('model/load', `two models labelled "${a.label}"`);
      labels.add(a.label);
    }
    const model = path.resolve(p.model);
    let m = this.loaded?.m;
    if (!m || m.dir !== model) {
      this.unload();
      this.log('info', `loading ${model}`);
      m = loadModel(model, this.backend);
      if (!m.tokenizer) {
        m.model.dispose();
        throw new InputError(model, 'no tokenizer.json: the engine server works on text');
      }
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
      model,
      layers: c.numLayers,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      hidden: c.hiddenSize,
      vocab: c.vocabSize,
      parameters: this.loaded.parameters,
      models: models.map(({ adapter: _a, ...s }) => s),
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

  private async attention(p: AttentionParams, ctx: RunContext, send: (e: AttentionProgress) => Promise<void>): Promise<AttentionResult> {
    const { l, picked } = this.need(p.models);
    const encoding = optChoice('encoding', p.encoding, ['u16', 'f32'] as const) ?? 'u16';
    const ids = this.encode(l, p.text);
    const tokens = tokenSpans(l.m.tokenizer!, p.text, ids);
    const { numLayers, numHeads } = l.m.config;
    const layers = optIntList('layers', p.layers, 0, numLayers - 1),
      heads = optIntList('heads', p.heads, 0, numHeads - 1);
    // Awaited: each layer's frame is written before the next layer's compute blocks the thread.
    const r = await attention(
      l.m,
      picked,
      { ids, layers, heads },
      {
        ...ctx,
        onEvent: (e) => {
          if (e.type === 'model')
            return send({ type: 'model', index: e.index, label: e.label, kind: picked[e.index].kind, ids, tokens, numLayers, numHeads });
          if (e.type === 'maps') return send({ type: 'layer', index: e.index, maps: encodeLayerMaps(e.maps, encoding) });
          return undefined;
        },
      },
    );
    return { models: picked.length, tokens: ids.length, timings: r.timings };
  }

  private async analyze(p: AnalyzeParams, ctx: RunContext, send: (step: string) => Promise<void>): Promise<AnalyzeResult> {
    const { l, picked } = this.need(p.models);
    const steps = {
      ...ctx,
      onEvent: (e: EngineEvent) => {
        if (e.type === 'step') void send(e.message);
      },
    };
    if (p.kind === 'bos') return analyze(l.m, picked, { kind: 'bos', text: p.text }, steps);
    if (p.kind !== 'needle') throw new InputError('kind', `unknown analysis "${String(p.kind)}" (bos or needle)`);
    const needle = p.needle as unknown;
    if (needle !== undefined && (typeof needle !== 'object' || needle === null))
      throw new InputError('needle', 'expected { length?, depth? }');
    // Bounded by the model's context (a 1e9-token request once built a prompt that aborted the process).
    const length = optInt('needle.length', p.needle?.length, 32, Math.max(32, l.m.config.maxPositions));
    const depth = optNumber('needle.depth', p.needle?.depth, 0, 1);
    return analyze(l.m, picked, { kind: 'needle', length, depth }, steps);
  }

  private async train(p: TrainParams, ctx: RunContext, send: (e: TrainProgress) => Promise<void>): Promise<TrainResult> {
    if (typeof p?.model !== 'string' || typeof p.method !== 'string' || typeof p.data !== 'string' || typeof p.out !== 'string') {
      throw new InputError('train/run', 'expected { model, method, data, out, options }');
    }
    const model = path.resolve(p.model);
    const options = checkedTrainOptions(p.options);
    const m = this.loaded?.m.dir === model ? this.loaded.m : undefined;
    // Training another model than the loaded one loads it for the run only.
    const base = m ?? loadModel(model, this.backend);
    try {
      const r = await trainAdapter(
        base,
        {
          ...trainSettings(options, base.config.numLayers),
          model,
          method: p.method as Method,
          data: path.resolve(p.data),
          out: path.resolve(p.out),
          resume: !!p.resume,
        },
        {
          ...ctx,
          onEvent: (e) => {
            if (e.type === 'log') {
              this.log('info', e.message);
              void send({ type: 'log', message: e.message });
            }
            if (e.type === 'train') void send(e.event);
          },
        },
      );
      return { out: r.out, steps: r.steps, cancelled: r.cancelled, finalLoss: r.finalLoss, kind: r.kind === 'lora' ? 'lora' : 'difflora' };
    } finally {
      if (!m) base.model.dispose();
    }
  }

  private dataSummary(p: DataSummaryParams): DataSummaryResult {
    const { l } = this.need();
    if (typeof p?.data !== 'string' || !p.data) throw new InputError('data', 'which dataset? (a JSONL path)');
    const { maxLength, onTooLong } = trainSettings(checkedTrainOptions(p.options), l.m.config.numLayers);
    return dataSummary(l.m, { data: path.resolve(p.data), maxLength, onTooLong });
  }

  private async dataExtract(p: DataExtractParams): Promise<DataExtractResult> {
    if (typeof p?.folder !== 'string' || typeof p.out !== 'string') throw new InputError('data/extract', 'expected { folder, out }');
    const out = path.resolve(p.out);
    const r = await extractPairs({ folder: path.resolve(p.folder), out });
    this.log('info', r.summary);
    return { out, pairs: r.pairs, files: r.files, summary: r.summary };
  }

  private async problems(p: ProblemsParams): Promise<ProblemsResult> {
    try {
      const { file, problems } = await humanEvalProblems({ file: p?.path || undefined, log: (l) => this.log('info', l) });
      return {
        file,
        problems: problems.map(({ task_id, prompt, entry_point, test }) => ({ task_id, prompt, entry_point, test })),
      };
    } catch (e) {
      if (e instanceof InputError) throw new ResponseError(ErrorCodes.inputError, e.message);
      throw e;
    }
  }

  private async compare(p: CompareParams, ctx: RunContext, send: (step: string) => Promise<void>): Promise<CompareResult> {
    const { l, picked } = this.need(p.models);
    const pr = p?.problem;
    if (typeof pr?.prompt !== 'string' || !pr.prompt.trim()) throw new InputError('problem.prompt', 'empty prompt');
    const r = await compareCompletions(
      l.m,
      picked,
      pr,
      {
        maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS),
        execute: !!p.execute,
        timeoutSec: optNumber('timeoutSec', p.timeoutSec, 0.1, 3600),
      },
      {
        ...ctx,
        onEvent: (e) => {
          if (e.type === 'step') void send(e.message);
        },
      },
    );
    const ran = !!(p.execute && pr.test);
    const completions: CompareItem['completions'] = r.completions.map((c, i) => ({
      label: c.label,
      kind: picked[i].kind,
      completion: c.completion,
      sample: 0,
      ...(!ran
        ? {}
        : !c.outcome
          ? { status: 'pending' as const }
          : {
              status: c.outcome.status === 'timed out' ? ('timed-out' as const) : c.outcome.status,
              reason: c.outcome.reason ?? undefined,
            }),
    }));
    return {
      item: { problem: { task_id: pr.task_id, prompt: pr.prompt, entry_point: pr.entry_point }, completions },
      sandboxWarning: r.sandbox?.warning,
    };
  }

  private async humanEval(p: HumanEvalParams, ctx: RunContext, send: (e: HumanEvalProgress) => Promise<void>): Promise<HumanEvalResult> {
    const { l, picked } = this.need();
    if (typeof p?.outDir !== 'string' || !p.outDir) throw new InputError('outDir', 'where should the samples and results go?');
    const n = optInt('n', p.n, 1, 1000);
    const { problems } = await humanEvalProblems({ file: p.problemsPath || undefined, log: (line) => this.log('info', line) });
    const r = await humanEval(
      {
        models: picked.map((x) => ({
          label: x.label,
          model: l.m.dir,
          adapter: x.adapter ? x.path : undefined,
          loaded: l.m,
          adapterWeights: x.adapter,
        })),
        problems,
        outDir: path.resolve(p.outDir),
        n,
        k: optIntList('k', p.k, 1, n ?? 1000),
        temperature: optNumber('temperature', p.temperature, 0, 10),
        topP: optNumber('topP', p.topP, 0, 1),
        seed: optInt('seed', p.seed, 0, 2 ** 32 - 1),
        maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS),
        limit: optInt('limit', p.limit, 1, 1e6),
        chat: optBoolean('chat', p.chat),
        timeoutSec: optNumber('timeoutSec', p.timeoutSec, 0.1, 3600),
        execute: optBoolean('execute', p.execute) ?? false,
        backendInfo: this.backend,
      },
      {
        ...ctx,
        onEvent: (e) => {
          // The runner's events are the protocol's HumanEvalProgress (a samples file's execution is not served).
          if (e.type === 'humaneval') void send(e.event as HumanEvalProgress);
          else if (e.type === 'log') this.log('info', e.message);
        },
      },
    );
    return {
      outDir: r.outDir,
      cancelled: r.cancelled,
      models: r.models.map((m, i) => ({
        label: picked[i].label,
        kind: picked[i].kind,
        samples: m.samples,
        passed: m.passed,
        passAtK: m.passAtK,
        perTask: m.perTask,
        results: m.results.map((x) => ({
          task_id: x.task_id,
          completion: x.completion,
          passed: x.passed,
          result: x.result,
          sample_index: x.sample_index as number | undefined,
        })),
      })),
    };
  }

  private async generate(p: GenerateParams, ctx: RunContext): Promise<GenerateResult> {
    const { l, picked } = this.need(p.models);
    const ids = this.encode(l, p.prompt);
    const tok = l.m.tokenizer!;
    const r = await generateCompletions(
      l.m,
      picked,
      {
        prompt: ids,
        maxNewTokens: optInt('maxNewTokens', p.maxNewTokens, 1, MAX_NEW_TOKENS),
        temperature: optNumber('temperature', p.temperature, 0, 10),
        topP: optNumber('topP', p.topP, 0, 1),
        seed: optInt('seed', p.seed, 0, 2 ** 32 - 1),
        stop: optStringList('stop', p.stop),
      },
      ctx,
    );
    return {
      completions: r.map((g, i) => ({
        label: g.label,
        kind: picked[i].kind,
        completion: g.completion ?? tok.decode(g.ids, true),
        stopReason: g.stopReason,
      })),
    };
  }
}

/** The request's training options, each checked against the protocol's table (a typo is an error, not ignored). */
function checkedTrainOptions(options: unknown): TrainOptionValues {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new InputError('options', 'expected { key: value } training options');
  for (const [k, v] of Object.entries(options)) {
    const err = trainOptionError(k, v as string | boolean);
    if (err) throw new InputError(`options.${k}`, err);
  }
  return options as TrainOptionValues;
}

function countParameters(m: LoadedModel): number {
  const w = m.model.weights;
  const n = (t: { size: number }) => t.size;
  return (
    n(w.embed) +
    n(w.norm) +
    w.layers.reduce((s, l) => s + Object.values(l).reduce((a, t) => a + n(t as { size: number }), 0), 0) +
    (m.config.tieWordEmbeddings || !w.lmHeadT ? 0 : n(w.lmHeadT))
  );
}
