/**
 * Fine-tuning a LoRA or DiffLoRA adapter on a frozen base: typed options with the defaults of
 * protocol/training.ts's table, and the one reading of that table's text values (the CLI's flags and the
 * training form's key=value pairs alike).
 */
import * as fs from 'fs';
import * as path from 'path';
import { TRAIN_OPTIONS, trainOptionDefaults } from '../../protocol/training';
import { InputError } from '../errors';
import { loadJsonlDataset } from '../data/examples';
import { disposeAdapter, saveAdapter } from '../model/adapter-weights';
import { AdapterConfig } from '../model/adapter-config';
import { LoadedModel } from '../model/load';
import { createAdapter } from '../train/adapter-init';
import { adapterTrainable, evaluateLoss } from '../train/finetune';
import { installTrainingKernels } from '../train/kernels';
import { makeBatch } from '../train/loss';
import { Method, methodConfig, MethodOverrides, parseTargets } from '../train/presets';
import { ScheduleKind } from '../train/schedule';
import { train } from '../train/trainer';
import { emit, isCancelled, logTo, RunContext } from './context';
import { parseIndexList, parseInteger, parseNumber } from './parse';

/** The run's settings, typed; each is a key of TRAIN_OPTIONS. Undefined: the method preset's value (the adapter's knobs). */
export interface TrainSettings extends MethodOverrides {
  lr: number;
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  effectiveBatch: number;
  maxLength: number;
  checkpointEvery: number;
  seed: number;
  warmupRatio: number;
  schedule: ScheduleKind;
  weightDecay: number;
  maxGradNorm: number;
  onTooLong: 'truncate' | 'skip' | 'error';
  onBadLine: 'stop' | 'skip';
  evalData?: string;
}

export interface TrainAdapterOptions extends TrainSettings {
  /** The base model's folder (the caller has loaded it). */
  model: string;
  method: Method;
  data: string;
  /** Adapter folder; also holds checkpoint/, metrics.jsonl and eval.jsonl. */
  out: string;
  /** Continue the run in `out` from its checkpoint. */
  resume?: boolean;
}

export interface TrainOutcome {
  out: string;
  steps: number;
  cancelled: boolean;
  finalLoss: number;
  kind: AdapterConfig['kind'];
  /** Trainable parameters of the adapter. */
  parameters: number;
  /** Held-out loss before and after (with evalData). */
  evalLoss?: { before?: number; after?: number };
}

const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Typed settings from the table's text values (absent keys take the table's defaults). Errors name the
 * CLI flag (`--max-length`), as both the CLI and the engine server report them.
 */
export function trainSettings(given: Readonly<Record<string, string | boolean | undefined>>, numLayers: number): TrainSettings {
  const v: Record<string, string | boolean | undefined> = { ...trainOptionDefaults() };
  for (const o of TRAIN_OPTIONS) if (given[o.key] !== undefined) v[o.key] = given[o.key];
  const text = (key: string) => (v[key] === undefined ? undefined : String(v[key]));
  const num = (key: string, min: number, max?: number) => {
    const s = text(key);
    return s === undefined ? undefined : parseNumber(flag(key), s, min, max);
  };
  const int = (key: string, min: number) => {
    const s = text(key);
    return s === undefined ? undefined : parseInteger(flag(key), s, min);
  };
  const on = (key: string) => (v[key] === undefined ? undefined : v[key] === true || v[key] === 'true');
  const lambda = text('lambda');
  const layers = text('layers');
  const targets = text('targets');
  return {
    lr: num('lr', 0)!,
    epochs: num('epochs', 0)!,
    maxSteps: int('maxSteps', 1),
    batchSize: int('batchSize', 1)!,
    effectiveBatch: int('effectiveBatch', 1)!,
    maxLength: int('maxLength', 2)!,
    checkpointEvery: int('checkpointEvery', 0)!,
    seed: int('seed', 0)!,
    warmupRatio: num('warmupRatio', 0, 1)!,
    schedule: text('schedule') as ScheduleKind,
    weightDecay: num('weightDecay', 0)!,
    maxGradNorm: num('maxGradNorm', 0)!,
    onTooLong: text('onTooLong') as TrainSettings['onTooLong'],
    onBadLine: text('onBadLine') as TrainSettings['onBadLine'],
    r: int('r', 1),
    alpha: num('alpha', 0),
    dropout: num('dropout', 0, 0.9),
    lambda: lambda === undefined ? undefined : lambda === 'rule' ? 'rule' : parseNumber('--lambda', lambda, -10, 10),
    learnLambda: on('learnLambda'),
    groupnorm: on('groupnorm'),
    relu: on('relu'),
    negativeTermLoraOnly: on('negativeTermLoraOnly'),
    fullDim: on('fullDim'),
    layers: layers === undefined ? undefined : parseIndexList('--layers', layers, numLayers),
    loraV: on('loraV'),
    loraO: on('loraO'),
    loraMlp: on('loraMlp'),
    targets: targets === undefined ? undefined : parseTargets(targets),
    rslora: on('rslora'),
    evalData: text('evalData'),
  };
}

/** The table's defaults, typed (options that depend on the method preset stay undefined). */
export function trainDefaults(): TrainSettings {
  return trainSettings({}, 0);
}

/** One fine-tuning run on `m` (the base model `o.model`, loaded by the caller). */
export async function trainAdapter(m: LoadedModel, o: TrainAdapterOptions, ctx: RunContext = {}): Promise<TrainOutcome> {
  const log = logTo(ctx);
  await installTrainingKernels();
  if (!m.tokenizer) throw new InputError(o.model, "no tokenizer.json: training needs the model's tokenizer");
  const config = methodConfig(o.method, o);
  const dataOptions = { maxLength: o.maxLength, onBadLine: o.onBadLine, onTooLong: o.onTooLong };
  const data = loadJsonlDataset(o.data, m.tokenizer, dataOptions);
  log(
    `data: ${data.examples.length} examples (${data.format})${data.skipped.length ? `, ${data.skipped.length} bad lines skipped (first: ${data.skipped[0].where}: ${data.skipped[0].reason})` : ''}${data.truncated ? `, ${data.truncated} truncated to ${o.maxLength} tokens` : ''}`,
  );
  // The paper's effective batch where the data allows: fewer accumulation steps on a small dataset.
  const gradAccum = Math.max(1, Math.min(Math.round(o.effectiveBatch / o.batchSize), Math.ceil(data.examples.length / o.batchSize)));
  const steps = o.maxSteps ?? Math.max(1, Math.round(Math.ceil(data.examples.length / (o.batchSize * gradAccum)) * o.epochs));
  const evalBatches =
    o.evalData === undefined ? undefined : loadJsonlDataset(o.evalData, m.tokenizer, dataOptions).examples.map((e) => makeBatch([e], 0));
  const adapter = createAdapter(config, m.config, m.configJson, path.resolve(o.model), o.seed);
  // The adapter lives in this run only (a long-lived engine server would keep its tensors otherwise).
  try {
    const trainable = adapterTrainable(m, adapter);
    const parameters = trainable.params.reduce((a, p) => a + p.variable.size, 0);
    log(`method ${o.method}: ${parameters} trainable parameters; ${steps} steps of ${o.batchSize} x ${gradAccum} sequences`);
    const out = path.resolve(o.out);
    const evalFile = path.join(out, 'eval.jsonl');
    const evalLoss: TrainOutcome['evalLoss'] = evalBatches && {};
    const evaluate = async (step: number) => {
      if (!evalBatches) return undefined;
      const loss = await evaluateLoss(m, adapter, evalBatches);
      fs.mkdirSync(out, { recursive: true });
      fs.appendFileSync(evalFile, `${JSON.stringify({ step, eval_loss: loss, examples: evalBatches.length })}\n`);
      log(`held-out loss at step ${step}: ${loss.toFixed(4)}`);
      return loss;
    };
    if (!o.resume) {
      fs.rmSync(evalFile, { force: true });
      if (evalLoss) evalLoss.before = await evaluate(0);
    }
    const result = await train(
      trainable,
      data.examples,
      {
        lr: o.lr,
        weightDecay: o.weightDecay,
        beta1: 0.9,
        beta2: 0.999,
        adamEps: 1e-8,
        warmupSteps: Math.round(o.warmupRatio * steps),
        schedule: o.schedule,
        epochs: o.epochs,
        maxSteps: o.maxSteps,
        microBatchSize: o.batchSize,
        gradAccum,
        maxGradNorm: o.maxGradNorm,
        dropout: config.dropout,
        seed: o.seed,
        checkpointEvery: o.checkpointEvery,
        padId: m.tokenizer.padId() ?? 0,
      },
      { dir: out, resume: !!o.resume, onEvent: (event) => void emit(ctx, { type: 'train', event }), isCancelled: () => isCancelled(ctx) },
    );
    const outcome: TrainOutcome = {
      out,
      steps: result.steps,
      cancelled: result.cancelled,
      finalLoss: result.finalLoss,
      kind: config.kind,
      parameters,
      evalLoss,
    };
    if (result.cancelled) {
      log(`stopped at step ${result.steps}: checkpoint in ${out}/checkpoint; continue with --resume`);
      return outcome;
    }
    const after = await evaluate(result.steps);
    if (evalLoss) evalLoss.after = after;
    saveAdapter(adapter, m.config, out);
    log(
      `saved the ${config.kind === 'lora' ? 'PEFT LoRA' : "DiffLoRA (authors' format)"} adapter in ${out} (final loss ${result.finalLoss.toFixed(4)}; metrics in ${out}/metrics.jsonl)`,
    );
    return outcome;
  } finally {
    disposeAdapter(adapter);
  }
}
