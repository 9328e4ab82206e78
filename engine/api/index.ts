/**
 * The engine's public surface: one function per task, each taking one typed options object (with one
 * set of defaults), reporting through one event type (EngineEvent) and honouring one cancellation
 * signal (RunContext). The CLI (../cli) turns flags into these objects, the server (../server) maps
 * JSON-RPC requests onto them, the demo calls them; test/unit/layering.test.ts keeps the CLI and the
 * server from importing the engine's internals directly.
 */
export { Cancelled, type CancelSignal, type EngineEvent, type RunContext } from './context';
export { modelInfo } from './info';
export {
  disposeAdapter,
  kindOf,
  loadAdapter,
  loadModel,
  openModel,
  type Adapter,
  type LoadedModel,
  type OpenOptions,
  type Opened,
  type Target,
} from './models';
export { attention, type AttentionOptions, type AttentionOutcome } from './attention';
export { tokenSpans } from '../model/token-spans';
export type { LayerMaps } from '../model/llama';
export { generateCompletions, GENERATE_DEFAULTS, type Completion, type GenerateOptions } from './generate';
// The options and events below are made of these; the modules that define them name them so.
export { METHODS, type Method } from '../train/presets';
export type { ScheduleKind } from '../train/schedule';
export type { DType } from '../formats/dtype';
export { trainAdapter, trainDefaults, trainSettings, type TrainAdapterOptions, type TrainOutcome, type TrainSettings } from './train';
export { pretrainModel, PRETRAIN_DEFAULTS, pythonStdlib, type PretrainModelOptions } from './pretrain';
export {
  COMPARE_DEFAULTS,
  compareCompletions,
  humanEval,
  humanEvalExec,
  humanEvalProblems,
  type CompareOptions,
  type CompareProblem,
} from './humaneval';
export type { ExecProgress, SandboxMode } from '../humaneval/execute';
export type { HumanEvalProgress, ModelSpec } from '../humaneval/run';
export { syntaxRate } from '../humaneval/syntax-rate';
export { convertMbpp, dataSummary, extractPairs, type DataSummaryOptions, type ExtractPairsOptions } from './data';
export { analyze, NEEDLE_DEFAULTS, type Analysis, type AnalysisOptions } from './analyses';
