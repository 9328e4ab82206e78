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
export interface TrainCheckpointEvent {
  type: 'checkpoint';
  step: number;
  dir: string;
}

/** Held-out loss (mean per target token over the eval set) after `step`. */
export interface TrainEvalEvent {
  type: 'eval';
  step: number;
  loss: number;
}

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

/**
 * The training run's options: one table with their kinds, defaults and explanations. The Train
 * Adapter form shows it, and both the form and the engine validate options against it (an unknown
 * key or a bad value is refused, never ignored). Keys are the CLI flags in camelCase.
 */
interface OptionSpec {
  key: string;
  kind: 'int' | 'number' | 'choice' | 'flag' | 'text';
  /** The default the engine uses; undefined: it depends on the method preset (said in `help`). */
  default?: string | boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
  help: string;
  /** Shown first in the form: what most runs set. */
  common?: boolean;
}

/** One option of the table, its key one of the table's. */
export interface TrainOptionSpec extends OptionSpec {
  key: TrainOptionKey;
}

const TABLE = [
  { key: 'lr', kind: 'number', default: '1e-4', min: 0, help: 'Peak learning rate (AdamW).', common: true },
  { key: 'epochs', kind: 'number', default: '1', min: 0, help: 'Passes over the data.', common: true },
  { key: 'maxSteps', kind: 'int', min: 1, help: "Stop after this many optimizer steps (default: the epochs' worth).", common: true },
  { key: 'batchSize', kind: 'int', default: '8', min: 1, help: 'Sequences per micro-batch.', common: true },
  {
    key: 'effectiveBatch',
    kind: 'int',
    default: '64',
    min: 1,
    help: 'Sequences per optimizer step (gradient accumulation), where the data allows.',
    common: true,
  },
  { key: 'maxLength', kind: 'int', default: '512', min: 2, help: 'Tokens per example; longer ones follow onTooLong.', common: true },
  {
    key: 'checkpointEvery',
    kind: 'int',
    default: '50',
    min: 0,
    help: 'Checkpoint every N steps (and always on cancel); 0 = only then and at the end.',
    common: true,
  },
  { key: 'seed', kind: 'int', default: '0', min: 0, help: 'Seed of the adapter init, the data order and dropout.', common: true },
  { key: 'r', kind: 'int', min: 1, help: 'Adapter rank (preset: lora 16, lora-matched 64, difflora-64 64, difflora-32 32).' },
  { key: 'alpha', kind: 'number', min: 0, help: 'Scale numerator: the adapter is scaled by alpha / r (default 2r).' },
  { key: 'dropout', kind: 'number', min: 0, max: 0.9, help: 'Adapter dropout while training (default 0.05).' },
  { key: 'warmupRatio', kind: 'number', default: '0.03', min: 0, max: 1, help: 'Share of the steps spent warming the learning rate up.' },
  {
    key: 'schedule',
    kind: 'choice',
    default: 'linear',
    choices: ['linear', 'cosine', 'constant'],
    help: 'Learning-rate decay after warmup.',
  },
  { key: 'weightDecay', kind: 'number', default: '0', min: 0, help: 'AdamW decoupled weight decay.' },
  { key: 'maxGradNorm', kind: 'number', default: '1', min: 0, help: 'Clip the global gradient norm (0 = off).' },
  {
    key: 'onTooLong',
    kind: 'choice',
    default: 'truncate',
    choices: ['truncate', 'skip', 'error'],
    help: 'An example over maxLength: cut it, leave it out, or stop.',
  },
  {
    key: 'onBadLine',
    kind: 'choice',
    default: 'stop',
    choices: ['stop', 'skip'],
    help: 'A malformed data line: stop with its file:line, or leave it out and count it.',
  },
  {
    key: 'lambda',
    kind: 'text',
    help: 'DiffLoRA: fixed lambda (default 0.1), or with learnLambda its init ("rule" = 0.8 - 0.6 exp(-0.3 l)).',
  },
  { key: 'learnLambda', kind: 'flag', help: 'DiffLoRA: learn lambda per layer.' },
  { key: 'groupnorm', kind: 'flag', help: 'DiffLoRA: per-head RMSNorm. Off by default: it made pretrained models collapse in the paper.' },
  { key: 'relu', kind: 'flag', help: 'DiffLoRA: ReLU on the differential map.' },
  { key: 'negativeTermLoraOnly', kind: 'flag', help: 'DiffLoRA: Q2/K2 from the adapter alone (no base weight).' },
  { key: 'fullDim', kind: 'flag', help: 'DiffLoRA: full-dimension trainable Q2/K2 instead of low-rank adapters.' },
  { key: 'layers', kind: 'text', help: 'Layers to adapt, e.g. 0,2-5 (default all).' },
  { key: 'loraV', kind: 'flag', help: 'DiffLoRA: also adapt v.' },
  { key: 'loraO', kind: 'flag', help: 'DiffLoRA: also adapt o (from the layer input, as the authors do).' },
  { key: 'loraMlp', kind: 'flag', help: 'DiffLoRA: also adapt gate, up and down.' },
  { key: 'targets', kind: 'text', help: 'LoRA: target modules, e.g. q_proj,v_proj.' },
  { key: 'rslora', kind: 'flag', help: 'LoRA: scale by alpha / sqrt(r).' },
  { key: 'evalData', kind: 'text', help: 'Held-out JSONL: loss before and after training, in <out>/eval.jsonl.' },
] as const satisfies readonly OptionSpec[];

export type TrainOptionKey = (typeof TABLE)[number]['key'];

/** Training options as the form and the RPC carry them: text (or a switch) per key of the table; a typo is a compile error. */
export type TrainOptionValues = { [K in TrainOptionKey]?: string | boolean };

export const TRAIN_OPTIONS: readonly TrainOptionSpec[] = TABLE;

/** The engine's defaults, as strings (flags absent). */
export function trainOptionDefaults(): Record<string, string> {
  return Object.fromEntries(TRAIN_OPTIONS.flatMap((o) => (typeof o.default === 'string' ? [[o.key, o.default]] : [])));
}

/** Why `value` is not a valid `key`, or undefined when it is. */
export function trainOptionError(key: string, value: string | boolean): string | undefined {
  const spec = TRAIN_OPTIONS.find((o) => o.key === key);
  if (!spec) {
    const near = TRAIN_OPTIONS.find((o) => o.key.toLowerCase().startsWith(key.toLowerCase().slice(0, 4)));
    return `unknown option "${key}"${near ? ` (did you mean ${near.key}?)` : ''}`;
  }
  if (spec.kind === 'flag')
    return value === true || value === 'true' || value === false || value === 'false'
      ? undefined
      : `${key} is a switch: give it without a value`;
  if (typeof value !== 'string' || value === '') return `${key} needs a value`;
  if (spec.kind === 'choice') return spec.choices!.includes(value) ? undefined : `${key} must be one of ${spec.choices!.join(', ')}`;
  if (spec.kind === 'text') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)))
    return `${key} must be ${spec.kind === 'int' ? 'an integer' : 'a number'}, got "${value}"`;
  if (spec.min !== undefined && n < spec.min) return `${key} must be >= ${spec.min}`;
  if (spec.max !== undefined && n > spec.max) return `${key} must be <= ${spec.max}`;
  return undefined;
}

/** Parses "key=value key2 ..." (a bare key is a switch); throws with every problem found. */
export function parseTrainOptions(text: string): TrainOptionValues {
  const out: Record<string, string | boolean> = {};
  const problems: string[] = [];
  for (const part of text.split(/\s+/).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value: string | boolean = eq < 0 ? true : part.slice(eq + 1);
    const err = trainOptionError(key, value);
    if (err) problems.push(err);
    else out[key] = value === 'true' ? true : value === 'false' ? false : value;
  }
  if (problems.length) throw new Error(problems.join('; '));
  return out;
}
