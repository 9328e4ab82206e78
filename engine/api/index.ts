/**
 * The engine's public surface: one function per task, each taking one typed options object (with one
 * set of defaults), reporting through one event type (EngineEvent) and honouring one cancellation
 * signal (RunContext). The CLI (../cli) turns flags into these objects, the server (../server) maps
 * JSON-RPC requests onto them, the demo calls them.
 */
export { Cancelled, type CancelSignal, type EngineEvent, type RunContext } from './context';
export { modelInfo } from './info';
export { kindOf, openModel, type OpenOptions, type Opened, type Target } from './models';
export { attention, type AttentionOptions, type AttentionOutcome } from './attention';
export { generateCompletions, GENERATE_DEFAULTS, type Completion, type GenerateOptions } from './generate';
export { trainAdapter, trainDefaults, trainSettings, type TrainAdapterOptions, type TrainOutcome, type TrainSettings } from './train';
export { pretrainModel, PRETRAIN_DEFAULTS, pythonStdlib, type PretrainModelOptions } from './pretrain';
export { COMPARE_DEFAULTS, compareCompletions, humanEval, humanEvalExec, type CompareOptions, type CompareProblem } from './humaneval';
export { analyze, NEEDLE_DEFAULTS, type Analysis, type AnalysisOptions } from './analyses';
