/**
 * The engine's JSON-RPC interface (requests, their progress, notifications), shared by the engine and
 * the extension. Carried by vscode-jsonrpc; frames per ./wire.ts so typed arrays travel as bytes.
 * Long requests take a `progressToken` and report through `$/progress` with that token; cancelling
 * the request ($/cancelRequest) stops the work at its next step.
 */
import type { ModelKind } from './attention';
import type { AnalysisName, BosAnalysis, NeedleAnalysis, NeedleOptions } from './analysis';
import type { CompareItem } from './compare';
import type { MapEncoding, WireLayerMaps } from './map-pack';
import type { TrainEvent, TrainOptionValues } from './training';

/** Bumped on any incompatible change; the client refuses an engine with another version. */
export const PROTOCOL_VERSION = 1;

/**
 * A request of the engine's interface: its method name, its parameters P, its result R and the progress
 * values E it reports. The table below is the one declaration of each; the server's handlers and the
 * extension's client both take these, so a wrong parameter or a misread result is a compile error.
 */
export interface RpcRequest<P, R, E = never> {
  readonly method: string;
  /** What the request does, in words for users (messages never show the method names). */
  readonly title: string;
  /** Types only: never set. */
  readonly types?: { params: P; result: R; progress: E };
}

function request<P, R, E = never>(method: string, title: string): RpcRequest<P, R, E> {
  return { method, title };
}

export const Rpc = {
  initialize: request<InitializeParams, InitializeResult>('initialize', 'the handshake'),
  loadModel: request<LoadModelParams, LoadModelResult>('model/load', 'loading the model'),
  attention: request<AttentionParams, AttentionResult, AttentionProgress>('attention/run', 'computing attention'),
  analyze: request<AnalyzeParams, AnalyzeResult, string>('analysis/run', 'the analysis'),
  train: request<TrainParams, TrainResult, TrainProgress>('train/run', 'training'),
  generate: request<GenerateParams, GenerateResult>('generate/run', 'generation'),
  problems: request<ProblemsParams, ProblemsResult>('humaneval/problems', 'reading the HumanEval problems'),
  compare: request<CompareParams, CompareResult, string>('humaneval/compare', 'completing the problem'),
  humanEval: request<HumanEvalParams, HumanEvalResult, HumanEvalProgress>('humaneval/run', 'the HumanEval run'),
  dataSummary: request<DataSummaryParams, DataSummaryResult>('data/summary', 'reading the dataset'),
  dataExtract: request<DataExtractParams, DataExtractResult>('data/extract', 'extracting training pairs'),
  /** Answered at once, even while a long request runs. */
  status: request<Record<string, never>, StatusResult>('engine/status', 'a status request'),
  shutdown: request<Record<string, never>, null>('shutdown', 'shutting down'),
} as const;

export type ParamsOf<T> = T extends RpcRequest<infer P, unknown, unknown> ? P : never;
export type ResultOf<T> = T extends RpcRequest<unknown, infer R, unknown> ? R : never;
export type ProgressOf<T> = T extends RpcRequest<unknown, unknown, infer E> ? E : never;

/** Notification engine -> client: a log line for the output channel. */
export const LOG_NOTIFICATION = 'engine/log';

/** The method names (raw frames, tests), derived from the table. */
export const Methods = {
  ...(Object.fromEntries(Object.entries(Rpc).map(([k, r]) => [k, r.method])) as { readonly [K in keyof typeof Rpc]: string }),
  log: LOG_NOTIFICATION,
};

/** The title of a method by its name (for messages about a request in flight). */
export function methodTitle(method: string): string {
  return Object.values(Rpc).find((r) => r.method === method)?.title ?? method;
}

export interface InitializeParams {
  protocolVersion: number;
  client: string;
}
export interface InitializeResult {
  protocolVersion: number;
  engineVersion: string;
  backend: string;
  /** The backend's own description (threads, SIMD, why it was picked). */
  backendDetail: string;
  pid: number;
  node: string;
}

export interface StatusResult {
  /** The request being computed (its method), and for how long; absent when idle. */
  busy?: { method: string; sinceMs: number };
  /** Requests waiting behind it. */
  queued: number;
  /** The loaded base model's folder, if any. */
  model?: string;
  /** Live tensors in the engine and its resident memory: a long session's leak shows here. */
  numTensors: number;
  rssBytes: number;
}

export interface AdapterRef {
  /** Shown in the UI and used to name the model in later requests. */
  label: string;
  path: string;
}
export interface LoadModelParams {
  model: string;
  adapters: AdapterRef[];
}
export interface ModelSummary {
  label: string;
  kind: ModelKind;
  path: string;
  /** DiffLoRA / LoRA options as read from the adapter's config (for the UI). */
  options?: Record<string, unknown>;
}
export interface LoadModelResult {
  model: string;
  layers: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  vocab: number;
  parameters: number;
  /** base first, then the adapters in the order given. */
  models: ModelSummary[];
}

export interface TokenSpan {
  /** The token's own text (for labels). */
  text: string;
  /** Character range in the request's text, or undefined for tokens with no text (BOS). */
  start?: number;
  end?: number;
}

export interface AttentionParams {
  text: string;
  /** Labels from LoadModelResult.models; default all. */
  models?: string[];
  layers?: number[];
  heads?: number[];
  encoding?: MapEncoding;
  progressToken?: string;
}
/** Progress of an attention request, in order: a `model`, then its `layer`s, then the next model. */
export type AttentionProgress =
  | {
      type: 'model';
      index: number;
      label: string;
      kind: ModelKind;
      ids: number[];
      tokens: TokenSpan[];
      numLayers: number;
      numHeads: number;
    }
  | { type: 'layer'; index: number; maps: WireLayerMaps };
export interface AttentionResult {
  models: number;
  tokens: number;
  /** Milliseconds from the request to each model's first and last layer. */
  timings: { label: string; firstLayerMs: number; doneMs: number }[];
}

export interface AnalyzeParams {
  kind: AnalysisName;
  models?: string[];
  /** bos: the text to measure on (default: a built-in code sample). */
  text?: string;
  /** needle: prompt length in tokens (approximately), and where the needle goes (0..1). */
  needle?: NeedleOptions;
  progressToken?: string;
}
export type AnalyzeResult = { kind: 'bos'; result: BosAnalysis } | { kind: 'needle'; result: NeedleAnalysis };

export interface TrainParams {
  model: string;
  method: string;
  data: string;
  out: string;
  /** Flags as the CLI takes them (without dashes, camelCase), e.g. { lr: '1e-4', maxSteps: '20' }. */
  options: TrainOptionValues;
  resume?: boolean;
  progressToken?: string;
}
export type TrainProgress = TrainEvent | { type: 'log'; message: string };

/** What training would make of a dataset with the loaded model's tokenizer (before it starts). */
export interface DataSummaryParams {
  data: string;
  /** Training options (maxLength, onTooLong, onBadLine matter here), as for train/run. */
  options: TrainOptionValues;
}
export interface DataSummaryResult {
  format: string;
  /** Lines that became examples (truncated ones included). */
  kept: number;
  truncated: number;
  maxLength: number;
  /** Lines left out, with where and why (the first few). */
  skipped: number;
  skippedFirst: { where: string; reason: string }[];
}

/** (signature + docstring -> body) pairs from the Python files under `folder`, written to `out`. */
export interface DataExtractParams {
  folder: string;
  out: string;
}
export interface DataExtractResult {
  out: string;
  pairs: number;
  files: number;
  summary: string;
}
export interface TrainResult {
  out: string;
  steps: number;
  cancelled: boolean;
  finalLoss: number;
  kind: ModelKind;
}

export interface GenerateParams {
  prompt: string;
  models?: string[];
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
}
export interface GenerateResult {
  completions: { label: string; kind: ModelKind; completion: string; stopReason: string }[];
}

/** A HumanEval-style problem; `test` defines check(candidate). */
export interface ProblemRecord {
  task_id: string;
  prompt: string;
  entry_point: string;
  test?: string;
}
export interface ProblemsParams {
  /** A .jsonl / .jsonl.gz file; empty: the official set, downloaded once and cached (needs the internet). */
  path?: string;
}
export interface ProblemsResult {
  file: string;
  problems: ProblemRecord[];
}

/** One problem, every loaded model's greedy completion, executed against the problem's test when asked. */
export interface CompareParams {
  problem: ProblemRecord;
  models?: string[];
  maxNewTokens?: number;
  /** Run prompt + completion + test in the sandbox (the extension asks only in a trusted workspace). */
  execute: boolean;
  timeoutSec?: number;
  progressToken?: string;
}
export interface CompareResult {
  item: CompareItem;
  /** The sandbox's missing isolation, if any (one line), when code ran. */
  sandboxWarning?: string | null;
}

/** A HumanEval run's settings: the engine's runner (engine/humaneval/run.ts) takes them as they are. */
export interface HumanEvalSettings {
  /** Samples per problem. */
  n?: number;
  /** pass@k values to report (each only where n >= k). */
  k?: number[];
  /** 0 = greedy: one generation serves all n samples. */
  temperature?: number;
  topP?: number;
  seed?: number;
  maxNewTokens?: number;
  /** The first N problems only. */
  limit?: number;
  /** Render prompts with the chat template (instruct models). */
  chat?: boolean;
  /** Wall-clock limit per program, seconds. */
  timeoutSec?: number;
  /** false: generate the samples only. */
  execute?: boolean;
}

/** The engine's defaults of HumanEvalSettings (the CLI shows them in its help). */
export const HUMANEVAL_DEFAULTS = {
  n: 1,
  k: [1, 10, 100],
  temperature: 0,
  topP: 1,
  seed: 0,
  maxNewTokens: 512,
  timeoutSec: 3,
  chat: false,
} as const;

/**
 * What the editor's "Run HumanEval" pre-fills: a quicker first run than the engine's defaults. One
 * greedy sample, so pass@1 is the only k that means anything; 256 new tokens end nearly every HumanEval
 * body and halve the worst-case wait of the engine's 512. The user edits them before the run starts.
 */
export const HUMANEVAL_EDITOR_DEFAULTS = { ...HUMANEVAL_DEFAULTS, k: [1], maxNewTokens: 256 } as const;

export interface HumanEvalParams extends HumanEvalSettings {
  problemsPath?: string;
  outDir: string;
  execute: boolean;
  progressToken?: string;
}
/** Progress events of a HumanEval run (as the engine's runner emits them). */
export type HumanEvalProgress =
  | { type: 'start'; models: string[]; problems: number; n: number }
  | { type: 'sandbox'; mode: 'bwrap' | 'none'; warning: string | null; note: string | null }
  | { type: 'load'; model: string; done: number; total: number }
  | { type: 'generate'; model: string; done: number; total: number }
  | { type: 'execute'; model: string; done: number; total: number; passed: number }
  | { type: 'model-done'; model: string; samples: number; passed: number; passAtK: Record<string, number> }
  | { type: 'warning'; message: string }
  | { type: 'done'; cancelled: boolean };
export interface HumanEvalResult {
  outDir: string;
  cancelled: boolean;
  models: {
    label: string;
    kind: ModelKind;
    samples: number;
    passed: number;
    passAtK: Record<string, number>;
    perTask: { task_id: string; n: number; c: number }[];
    results: { task_id: string; completion: string; passed: boolean; result: string; sample_index?: number }[];
  }[];
}

export interface LogParams {
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** Error codes in JSON-RPC error responses (the message names what and where). */
export const ErrorCodes = {
  inputError: -32001,
  noModel: -32002,
  busy: -32003,
  versionMismatch: -32004,
} as const;
