/**
 * HumanEval in the engine: problems (a file, or the official set downloaded once and cached), generation
 * for any list of models, sandboxed execution, pass@k. The programmatic API the CLI and the JSON-RPC
 * server use; progress events are plain JSON objects.
 */
export { HUMANEVAL_URL, defaultCacheDir, loadProblems, readProblems, resolveProblemsFile } from './problems';
export type { Problem, ProblemsSource } from './problems';
export { passAtK, passAtKTable, countByTask } from './passk';
export type { TaskCount } from './passk';
export { STANDARD_STOPS, CHAT_STOPS, completePrompt, promptIds, chatPrompt } from './complete';
export type { CompleteOptions, Completion } from './complete';
export { Sandbox, buildProgram, executeSamples, executeSamplesFile, readSamples, sandboxScript } from './execute';
export type {
  SandboxInfo,
  SandboxMode,
  SandboxOptions,
  ExecOutcome,
  ExecProgress,
  ExecuteHooks,
  ExecuteReport,
  ResultRecord,
  SampleRecord,
} from './execute';
export { modelLabels, runHumanEval, sampleSeed } from './run';
export type { HumanEvalHooks, HumanEvalOptions, HumanEvalProgress, HumanEvalReport, ModelReport, ModelSpec } from './run';
