/**
 * The compare panel's messages: HumanEval completions of several models side by side, and a HumanEval
 * run (pass@k, per-problem results, live progress).
 * Shared by the engine, the extension and the webview: no imports but protocol types, no Node, no DOM.
 */
import type { ModelKind } from './attention';

/** A HumanEval problem, as much of it as the panel shows. */
export interface CompareProblem {
  task_id: string;
  /** The signature and docstring the models complete. */
  prompt: string;
  entry_point: string;
}

/** Execution outcome of one completion. */
export type ExecStatus = 'passed' | 'failed' | 'timed-out' | 'pending';

export interface CompareCompletion {
  /** Display name, e.g. "base", "LoRA", "DiffLoRA". */
  label: string;
  kind: ModelKind;
  /** The generated text that follows the prompt (not the prompt itself). Shown as text, never as HTML. */
  completion: string;
  /** Undefined: not executed. */
  status?: ExecStatus;
  /** Why it failed or timed out (assertion, exception, time limit). */
  reason?: string;
  /** Which sample this is when the model has several. */
  sample?: number;
}

/** One problem and one completion per model; a model's index is its column. */
export interface CompareItem {
  problem: CompareProblem;
  completions: CompareCompletion[];
}

/** A HumanEval run: the models, problems and sample counts. */
export interface HumanEvalRunInfo {
  title?: string;
  models: { label: string; kind: ModelKind }[];
  /** Problems in order (rows of the per-problem table). */
  taskIds: string[];
  /** Samples per problem and model. */
  n: number;
  /** k values of the pass@k table, each <= n. */
  ks: number[];
  temperature?: number;
}

/** Results so far of one model on one problem. */
export interface ProblemResult {
  taskId: string;
  model: number;
  /** Samples executed so far. */
  executed: number;
  /** Of which passed. */
  passed: number;
  /** Of which timed out (counted in executed, not in passed). */
  timedOut?: number;
}

/** Progress of one model over the whole run. */
export interface ModelProgress {
  model: number;
  /** Completions generated so far. */
  generated: number;
  /** Completions executed so far. */
  executed: number;
  /** Completions the run will make (problems x n). */
  total: number;
}

export type RunStatus = 'running' | 'finished' | 'cancelled' | 'failed';

/** Messages from the extension host to the compare webview. */
export type CompareHostMessage =
  /** Replaces the problem list; shows item `index` (default 0) side by side. */
  | { type: 'compare.problems'; items: CompareItem[]; index?: number }
  /** Adds a problem, or replaces the one with the same task_id; shows it. */
  | { type: 'compare.problem'; item: CompareItem }
  /** An execution result for one completion of a listed problem. */
  | { type: 'compare.status'; taskId: string; model: number; status: ExecStatus; reason?: string }
  /** Starts (or replaces) the HumanEval run view and switches to it. */
  | { type: 'compare.run'; run: HumanEvalRunInfo }
  /** Per-problem results (upserts by taskId + model). */
  | { type: 'compare.runResults'; results: ProblemResult[] }
  | { type: 'compare.runProgress'; progress: ModelProgress[] }
  | { type: 'compare.runStatus'; status: RunStatus; error?: string }
  /** Switches between the side-by-side view and the run view. */
  | { type: 'compare.mode'; mode: CompareMode };

export type CompareMode = 'problem' | 'run';

/** Messages from the compare webview to the extension host. */
export type CompareViewMessage =
  | { type: 'compare.ready' }
  /** "Open in diff editor": completion `a` (left) against completion `b` (right) of problem taskId. */
  | { type: 'compare.openDiff'; taskId: string; a: number; b: number }
  /**
   * A click on a completion token: `offset` is the character offset in that completion (not counting
   * the prompt) of the clicked token's start, `text` the token. The host opens the attention panel there.
   */
  | { type: 'compare.token'; taskId: string; model: number; offset: number; text: string }
  /** A row of the run's per-problem table was clicked: show that problem side by side. */
  | { type: 'compare.openProblem'; taskId: string }
  /** The problem shown changed (navigation in the view). */
  | { type: 'compare.showing'; taskId: string };

/**
 * Unbiased pass@k estimator (Chen et al., 2021): 1 - C(n - c, k) / C(n, k) for n samples of which c
 * passed; NaN when k > n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(k >= 1) || k > n) return NaN;
  if (n - c < k) return 1;
  let r = 1;
  for (let i = n - c + 1; i <= n; i++) r *= 1 - k / i;
  return 1 - r;
}
