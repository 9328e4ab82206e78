/**
 * The training panel's messages, and the trainer's progress events they carry.
 * Shared by the engine, the extension and the webview: no imports, no Node, no DOM.
 */

/** One optimizer step (after gradient accumulation). */
export interface TrainStepEvent {
  type: 'step';
  /** 1-based optimizer step. */
  step: number;
  totalSteps: number;
  /** 0-based epoch. */
  epoch: number;
  /** Mean loss per target token of the step. */
  loss: number;
  /** Learning rate used for the step. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  tokensPerSec: number;
  /** Estimated seconds to the end of the run. */
  etaSec: number;
  /** DiffLoRA: lambda per layer (index = layer) after the step. */
  lambdas?: number[];
}

/** A checkpoint written after `step` into `dir`. */
export interface TrainCheckpointEvent { type: 'checkpoint'; step: number; dir: string }

/** Held-out loss (mean per target token over the eval set) after `step`. */
export interface TrainEvalEvent { type: 'eval'; step: number; loss: number }

/** What the trainer reports while it runs (the engine's TrainEvent). */
export type TrainEvent = TrainStepEvent | TrainCheckpointEvent | TrainEvalEvent;

/** The run a training panel shows (its header). */
export interface TrainingRunInfo {
  /** Base model (folder or display name). */
  model: string;
  /** Method preset: lora | lora-matched | difflora-64 | difflora-32 (or any label). */
  method: string;
  /** Training data file. */
  dataset: string;
  /** Output folder (adapter, metrics.jsonl, checkpoint/). */
  outputDir: string;
  totalSteps: number;
  evalDataset?: string;
  /** Number of layers (DiffLoRA lambda lines); otherwise taken from the first step with lambdas. */
  numLayers?: number;
  /** Further settings shown as key = value (r, alpha, lr, batch, ...). */
  details?: Record<string, string | number | boolean>;
}

export type TrainingStatus = 'running' | 'cancelled' | 'finished' | 'failed';

/** Messages from the extension host to the training webview. */
export type TrainingHostMessage =
  /** A new run: clears the charts (a resumed run keeps them: send training.status 'running' instead). */
  | { type: 'training.run'; run: TrainingRunInfo }
  | { type: 'training.event'; event: TrainEvent }
  /** Several events at once, in order (e.g. metrics.jsonl replayed when the panel reopens). */
  | { type: 'training.events'; events: TrainEvent[] }
  /**
   * The run's state. 'running' again after a cancel = resumed: the charts continue (steps at or after
   * the resumed checkpoint replace the ones shown). 'failed' carries the error text.
   */
  | { type: 'training.status'; status: TrainingStatus; error?: string };

/** Messages from the training webview to the extension host. */
export type TrainingViewMessage =
  /** The view listens: the host can post. */
  | { type: 'training.ready' }
  /** The Cancel button: checkpoint and stop (the view shows "cancelling" until training.status). */
  | { type: 'training.cancel' }
  /** The Resume button (shown after a cancel): continue from the last checkpoint. */
  | { type: 'training.resume' };
