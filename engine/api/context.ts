/**
 * What every engine API call shares: one typed progress event, one cancellation signal, and the error
 * a cancelled call ends with. The CLI prints the events, the server forwards them as `$/progress`.
 */
import type { HumanEvalProgress } from '../../protocol/engine';
import type { TrainEvent } from '../../protocol/training';
import type { ExecProgress } from '../humaneval/execute';
import type { LayerMaps } from '../model/llama';

/** vscode-jsonrpc's CancellationToken satisfies it; so does `{ isCancellationRequested: false }`. */
export interface CancelSignal {
  readonly isCancellationRequested: boolean;
}

export type EngineEvent =
  /** A line for whoever watches (stderr, the engine log). */
  | { type: 'log'; message: string }
  /** Weights read so far. */
  | { type: 'load'; done: number; total: number }
  /** A step of a multi-model call, in words ("DiffLoRA: answering"). */
  | { type: 'step'; message: string }
  /** attention: the `index`-th model starts; its layers follow. */
  | { type: 'model'; index: number; label: string }
  /** attention: one layer's maps of the `index`-th model. */
  | { type: 'maps'; index: number; maps: LayerMaps }
  | { type: 'train'; event: TrainEvent }
  | { type: 'humaneval'; event: HumanEvalProgress | ExecProgress };

export interface RunContext {
  /** Awaited where the work can wait for it (attention sends a layer before computing the next). */
  onEvent?: (e: EngineEvent) => void | Promise<void>;
  cancel?: CancelSignal;
}

export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

export function isCancelled(ctx: RunContext): boolean {
  return !!ctx.cancel?.isCancellationRequested;
}

export function throwIfCancelled(ctx: RunContext): void {
  if (isCancelled(ctx)) throw new Cancelled();
}

export function emit(ctx: RunContext, e: EngineEvent): void | Promise<void> {
  return ctx.onEvent?.(e);
}

/** A log function for the engine's lower layers (backend choice, data summaries). */
export function logTo(ctx: RunContext): (message: string) => void {
  return (message) => void emit(ctx, { type: 'log', message });
}

/** `given` over `defaults`: a key absent or undefined in `given` takes the default. */
export function withDefaults<T extends object>(defaults: T, given: { [K in keyof T]?: T[K] | undefined }): T {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
