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
import type { TrainEvent } from './training';

/** Bumped on any incompatible change; the client refuses an engine with another version. */
export const PROTOCOL_VERSION = 1;

export const Methods = {
  initialize: 'initialize',
  loadModel: 'model/load',
  attention: 'attention/run',
  analyze: 'analysis/run',
  train: 'train/run',
  generate: 'generate/run',
  problems: 'humaneval/problems',
  compare: 'humaneval/compare',
  humanEval: 'humaneval/run',
  dataSummary: 'data/summary',
  dataExtract: 'data/extract',
  /** Answered at once, even while a long request runs. */
  status: 'engine/status',
  shutdown: 'shutdown',
  /** Notification engine -> client: a log line for the output channel. */
  log: 'engine/log',
} as const;

/** What each request does, in words for users (messages never show the method names). */
export const MethodTitles: Record<string, string> = {
  [Methods.initialize]: 'the handshake',
  [Methods.loadModel]: 'loading the model',
  [Methods.attention]: 'computing attention',
  [Methods.analyze]: 'the analysis',
  [Methods.train]: 'training',
  [Methods.generate]: 'generation',
  [Methods.problems]: 'reading the HumanEval problems',
  [Methods.compare]: 'completing the problem',
  [Methods.humanEval]: 'the HumanEval run',
  [Methods.dataSummary]: 'reading the dataset',
  [Methods.dataExtract]: 'extracting training pairs',
  [Methods.status]: 'a status request',
  [Methods.shutdown]: 'shutting down',
};

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
  | { type: 'model'; index: number; label: string; kind: ModelKind; ids: number[]; tokens: TokenSpan[]; numLayers: number; numHeads: number }
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
  options: Record<string, string | boolean>;
  resume?: boolean;
  progressToken?: string;
}
export type TrainProgress = TrainEvent | { type: 'log'; message: string };

/** What training would make of a dataset with the loaded model's tokenizer (before it starts). */
export interface DataSummaryParams {
  data: string;
  /** Training options (maxLength, onTooLong, onBadLine matter here), as for train/run. */
  options: Record<string, string | boolean>;
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

export interface HumanEvalParams {
  problemsPath?: string;
  outDir: string;
  n?: number;
  k?: number[];
  temperature?: number;
  topP?: number;
  seed?: number;
  maxNewTokens?: number;
  limit?: number;
  chat?: boolean;
  timeoutSec?: number;
  /** false: generate only. */
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
