/**
 * HumanEval: pass@k of a list of models (samples generated and run in the sandbox, resumable), the
 * execution of an existing samples file, and one problem completed by every model (the compare panel).
 */
import { completePrompt, STANDARD_STOPS } from '../humaneval/complete';
import { ExecOutcome, executeSamples, executeSamplesFile, ExecuteFileOptions, SandboxInfo } from '../humaneval/execute';
import { Problem, ProblemsSource, readProblems, resolveProblemsFile } from '../humaneval/problems';
import { HumanEvalOptions, HumanEvalReport, runHumanEval } from '../humaneval/run';
import { LoadedModel } from '../model/load';
import { Cancelled, emit, isCancelled, logTo, RunContext } from './context';
import { Target } from './models';

/** The problems of `src.file`, or of the official set (downloaded once and cached) when none is given. */
export async function humanEvalProblems(src: ProblemsSource = {}): Promise<{ file: string; problems: Problem[] }> {
  const file = await resolveProblemsFile(src);
  return { file, problems: readProblems(file) };
}

export function humanEval(o: HumanEvalOptions, ctx: RunContext = {}): Promise<HumanEvalReport> {
  return runHumanEval(o, {
    onProgress: (event) => void emit(ctx, { type: 'humaneval', event }),
    isCancelled: () => isCancelled(ctx),
    log: logTo(ctx),
  });
}

export function humanEvalExec(o: ExecuteFileOptions, ctx: RunContext = {}): ReturnType<typeof executeSamplesFile> {
  return executeSamplesFile(o, {
    onProgress: (event) => void emit(ctx, { type: 'humaneval', event }),
    isCancelled: () => isCancelled(ctx),
  });
}

export interface CompareProblem {
  task_id: string;
  prompt: string;
  entry_point: string;
  test?: string;
}

export interface CompareOptions {
  /** Default COMPARE_DEFAULTS.maxNewTokens. */
  maxNewTokens?: number;
  /** Run prompt + completion + test in the sandbox. */
  execute: boolean;
  timeoutSec?: number;
}

export const COMPARE_DEFAULTS = { maxNewTokens: 256 } as const;

export interface ComparedCompletion {
  label: string;
  completion: string;
  /** Undefined where nothing ran. */
  outcome?: ExecOutcome;
}

/** Every target's greedy completion of one problem, run against its test when asked (and it has one). */
export async function compareCompletions(
  m: LoadedModel,
  targets: Target[],
  pr: CompareProblem,
  o: CompareOptions,
  ctx: RunContext = {},
): Promise<{ completions: ComparedCompletion[]; sandbox?: SandboxInfo }> {
  const completions: ComparedCompletion[] = [];
  for (const x of targets) {
    await emit(ctx, { type: 'step', message: `${x.label}: generating` });
    const c = await completePrompt(m, x.adapter, pr.prompt, {
      maxNewTokens: o.maxNewTokens ?? COMPARE_DEFAULTS.maxNewTokens,
      temperature: 0,
      topP: 1,
      seed: 0,
      stop: STANDARD_STOPS,
      isCancelled: () => isCancelled(ctx),
    });
    if (c.stopReason === 'cancelled') throw new Cancelled();
    completions.push({ label: x.label, completion: c.completion });
  }
  if (!o.execute || !pr.test) return { completions };
  await emit(ctx, { type: 'step', message: 'running the tests' });
  const problem = { task_id: pr.task_id, prompt: pr.prompt, entry_point: pr.entry_point, canonical_solution: '', test: pr.test };
  const r = await executeSamples(
    [problem],
    completions.map((c) => ({ task_id: pr.task_id, completion: c.completion })),
    { timeoutSec: o.timeoutSec },
    { isCancelled: () => isCancelled(ctx) },
  );
  r.outcomes.forEach((outcome, i) => {
    completions[i].outcome = outcome;
  });
  return { completions, sandbox: r.sandbox };
}
