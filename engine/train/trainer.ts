/**
 * The training loop shared by fine-tuning (adapters) and pretraining (all weights): micro-batches
 * with gradient accumulation, global-norm clipping, AdamW, warmup + decay, seeded dropout, progress
 * events, cancellation, and checkpoints that resume exactly (parameters, optimizer moments, data
 * position; the data order and dropout masks are functions of the seed and the step, so they replay).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainEvent, TrainStepEvent as StepEvent } from '../../protocol/training';
import * as fs from 'fs';
import * as path from 'path';
import { setWorkload } from '../backend';
import { InputError } from '../errors';
import { readSafetensorsHeader, readTensorFloat32, writeSafetensors } from '../formats/safetensors';
import { TrainingPass } from '../model/llama';
import { Rng } from '../util/rng';
import { yieldToEventLoop } from '../util/yield';
import { AdamW, Param } from './adamw';
import { Batch, makeBatch, Sequence } from './loss';
import { learningRate, ScheduleKind } from './schedule';

export interface TrainOptions {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** Warmup steps (an absolute count; CLIs convert a ratio). */
  warmupSteps: number;
  schedule: ScheduleKind;
  epochs: number;
  /** Stop after this many optimizer steps (default: the epochs' worth). */
  maxSteps?: number;
  microBatchSize: number;
  gradAccum: number;
  maxGradNorm: number;
  dropout: number;
  seed: number;
  /** Checkpoint every N optimizer steps (0 = only on cancel and at the end). */
  checkpointEvery: number;
  padId: number;
}

// The events are part of the protocol: the extension's training panel draws them.
export type { TrainEvent, TrainStepEvent as StepEvent } from '../../protocol/training';

export interface Trainable {
  params: Param[];
  /** The loss of one micro-batch, already divided by `normaliser` (the targets of the whole step). */
  loss(batch: Batch, normaliser: number, pass: TrainingPass): tf.Scalar;
  /** lambda per layer (DiffLoRA) for progress events. */
  lambdas?(): Promise<number[]>;
}

export interface TrainRun {
  /** Where checkpoints and metrics go. */
  dir: string;
  onEvent?: (e: TrainEvent) => void;
  isCancelled?: () => boolean;
  resume?: boolean;
}

export interface TrainResult {
  steps: number;
  cancelled: boolean;
  finalLoss: number;
}

interface State {
  step: number;
  epoch: number;
  cursor: number;
  dataSize: number;
  options: TrainOptions;
}

const CHECKPOINT = 'checkpoint';
export const METRICS_FILE = 'metrics.jsonl';

export function totalSteps(n: number, o: TrainOptions): number {
  const perEpoch = Math.ceil(n / (o.microBatchSize * o.gradAccum));
  return o.maxSteps ?? Math.max(1, Math.round(perEpoch * o.epochs));
}

/** The example order of an epoch: a permutation seeded by (seed, epoch). */
function epochOrder(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng((seed * 1000003 + epoch * 7919) >>> 0);
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export async function train(t: Trainable, data: Sequence[], o: TrainOptions, run: TrainRun): Promise<TrainResult> {
  if (data.length === 0) throw new InputError('dataset', 'no training examples');
  fs.mkdirSync(run.dir, { recursive: true });
  const opt = new AdamW(t.params, { beta1: o.beta1, beta2: o.beta2, eps: o.adamEps, weightDecay: o.weightDecay });
  const total = totalSteps(data.length, o);
  let state: State = { step: 0, epoch: 0, cursor: 0, dataSize: data.length, options: o };
  const metricsFile = path.join(run.dir, METRICS_FILE);
  if (run.resume) state = restoreCheckpoint(run.dir, t, opt, state, metricsFile);
  else fs.writeFileSync(metricsFile, '');
  let order = epochOrder(data.length, o.seed, state.epoch);
  const started = Date.now();
  const firstStep = state.step;
  let tokensSinceStart = 0,
    lastLoss = NaN;
  setWorkload('training');
  try {
    while (state.step < total) {
      await yieldToEventLoop(); // the step's progress goes out and a cancellation comes in
      if (run.isCancelled?.()) {
        saveCheckpoint(run.dir, t, opt, state);
        run.onEvent?.({ type: 'checkpoint', step: state.step, dir: path.join(run.dir, CHECKPOINT) });
        return { steps: state.step, cancelled: true, finalLoss: lastLoss };
      }
      const micro: Batch[] = [];
      for (let m = 0; m < o.gradAccum; m++) {
        const seqs: Sequence[] = [];
        for (let k = 0; k < o.microBatchSize; k++) {
          if (state.cursor >= order.length) {
            state.epoch++;
            state.cursor = 0;
            order = epochOrder(data.length, o.seed, state.epoch);
          }
          seqs.push(data[order[state.cursor++]]);
        }
        micro.push(makeBatch(seqs, o.padId));
      }
      const normaliser = Math.max(
        1,
        micro.reduce((a, b) => a + b.targetCount, 0),
      );
      const lr = learningRate(state.step, total, o.lr, o.warmupSteps, o.schedule);
      const { loss, gradNorm } = await step(t, opt, micro, normaliser, lr, o, state.step);
      lastLoss = loss;
      state.step++;
      tokensSinceStart += micro.reduce((a, b) => a + b.tokenCount, 0);
      const elapsed = (Date.now() - started) / 1000;
      const event: StepEvent = {
        type: 'step',
        step: state.step,
        totalSteps: total,
        epoch: state.epoch,
        loss,
        lr,
        gradNorm,
        tokensPerSec: tokensSinceStart / Math.max(elapsed, 1e-3),
        etaSec: (elapsed / (state.step - firstStep)) * (total - state.step),
        lambdas: await t.lambdas?.(),
      };
      fs.appendFileSync(
        metricsFile,
        `${JSON.stringify({ step: event.step, loss, lr, grad_norm: gradNorm, tokens_per_sec: event.tokensPerSec, lambda: event.lambdas ?? null })}\n`,
      );
      run.onEvent?.(event);
      if (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0 && state.step < total) {
        saveCheckpoint(run.dir, t, opt, state);
        run.onEvent?.({ type: 'checkpoint', step: state.step, dir: path.join(run.dir, CHECKPOINT) });
      }
    }
    // A finished run keeps its last state too, so it can be extended with --resume and more steps.
    saveCheckpoint(run.dir, t, opt, state);
    return { steps: state.step, cancelled: false, finalLoss: lastLoss };
  } finally {
    opt.dispose();
    setWorkload('inference');
  }
}

async function step(t: Trainable, opt: AdamW, micro: Batch[], normaliser: number, lr: number, o: TrainOptions, stepIndex: number) {
  const vars = t.params.map((p) => p.variable);
  let sums: tf.Tensor[] | undefined;
  let loss = 0;
  for (let m = 0; m < micro.length; m++) {
    // Dropout masks are a function of (seed, step, micro-batch): a resumed run replays them.
    const pass: TrainingPass = { dropoutRate: o.dropout, seed: ((o.seed * 7777 + stepIndex * 131 + m) * 1009) >>> 0 };
    const { value, grads } = tf.variableGrads(() => t.loss(micro[m], normaliser, pass), vars);
    loss += (await value.data())[0];
    value.dispose();
    await yieldToEventLoop(); // a long step still answers other requests between its micro-batches
    const list = vars.map((v) => grads[v.name]);
    if (!sums) sums = list;
    else {
      const prev = sums;
      sums = prev.map((s, i) => tf.add(s, list[i]));
      for (const x of [...prev, ...list]) x.dispose();
    }
  }
  const g = sums as tf.Tensor[];
  const sq = tf.tidy(() => tf.addN(g.map((x) => tf.sum(tf.square(x)))));
  const gradNorm = Math.sqrt((await sq.data())[0]);
  sq.dispose();
  const scale = o.maxGradNorm > 0 && gradNorm > o.maxGradNorm ? o.maxGradNorm / (gradNorm + 1e-6) : 1;
  const clipped = scale === 1 ? g : g.map((x) => tf.mul(x, scale));
  opt.apply(clipped, lr);
  for (const x of new Set([...g, ...clipped])) x.dispose();
  return { loss, gradNorm };
}

/**
 * Writes the checkpoint beside the last one and swaps it in whole: a kill at any moment leaves a
 * complete checkpoint (`checkpoint`, or `checkpoint.old` between the two renames), never half of
 * one under either name. A write that fails (disk full, permission, I/O) stops the run with the
 * reason and keeps the last complete checkpoint.
 */
function saveCheckpoint(dir: string, t: Trainable, opt: AdamW, state: State): void {
  const final = path.join(dir, CHECKPOINT);
  const tmp = `${final}.partial`;
  const old = `${final}.old`;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    const tensors = (list: { name: string; t: tf.Tensor }[]) =>
      list.map(({ name, t: x }) => ({ name, shape: x.shape, data: x.dataSync() as Float32Array }));
    writeSafetensors(path.join(tmp, 'params.safetensors'), tensors(t.params.map((p) => ({ name: p.name, t: p.variable }))), 'F32');
    writeSafetensors(
      path.join(tmp, 'optimizer.safetensors'),
      tensors([
        ...t.params.map((p, i) => ({ name: `${p.name}/m`, t: opt.m[i] })),
        ...t.params.map((p, i) => ({ name: `${p.name}/v`, t: opt.v[i] })),
      ]),
      'F32',
    );
    fs.writeFileSync(path.join(tmp, 'state.json'), `${JSON.stringify({ ...state, optimizerStep: opt.step }, null, 2)}\n`);
    // Killed between the two renames last time: the complete one is `old`; put it back first.
    if (!fs.existsSync(final) && fs.existsSync(old)) fs.renameSync(old, final);
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(final)) fs.renameSync(final, old);
    fs.renameSync(tmp, final);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const kept =
      fs.existsSync(final) || fs.existsSync(old)
        ? 'the last complete checkpoint is kept; free the disk or fix the folder, then --resume'
        : 'no earlier checkpoint exists';
    throw new InputError(final, `cannot write the checkpoint of step ${state.step} (${(e as Error).message}); ${kept}`);
  }
}

/** The step of a metrics line; a line torn by a kill in the middle of its write counts as after any step. */
function stepOf(line: string): number {
  try {
    return (JSON.parse(line) as { step: number }).step;
  } catch {
    return Infinity;
  }
}

function restoreCheckpoint(dir: string, t: Trainable, opt: AdamW, fresh: State, metricsFile: string): State {
  let cdir = path.join(dir, CHECKPOINT);
  if (!fs.existsSync(cdir) && fs.existsSync(`${cdir}.old`)) cdir = `${cdir}.old`; // killed mid-swap
  const stateFile = path.join(cdir, 'state.json');
  if (!fs.existsSync(stateFile)) throw new InputError(dir, 'no checkpoint to resume from (checkpoint/state.json missing)');
  const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as State & { optimizerStep: number };
  if (saved.dataSize !== fresh.dataSize) {
    throw new InputError(
      stateFile,
      `the checkpoint was trained on ${saved.dataSize} examples, this dataset has ${fresh.dataSize}: not the same data`,
    );
  }
  for (const key of ['lr', 'microBatchSize', 'gradAccum', 'seed', 'epochs', 'schedule', 'warmupSteps'] as const) {
    if (saved.options[key] !== fresh.options[key]) {
      throw new InputError(
        stateFile,
        `option '${key}' was ${JSON.stringify(saved.options[key])} in the checkpointed run, now ${JSON.stringify(fresh.options[key])}: resume with the same settings`,
      );
    }
  }
  const load = (file: string, apply: (name: string, data: Float32Array) => void) => {
    for (const [name, entry] of readSafetensorsHeader(path.join(cdir, file)).tensors) apply(name, readTensorFloat32(entry));
  };
  const byName = new Map(t.params.map((p, i) => [p.name, i]));
  const index = (name: string) => {
    const i = byName.get(name);
    if (i === undefined) throw new InputError(cdir, `checkpoint tensor '${name}' is not a parameter of this run`);
    return i;
  };
  // assign() copies: the tensor read from the file is freed at once.
  const assign = (v: tf.Variable, data: Float32Array) => tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  load('params.safetensors', (name, data) => assign(t.params[index(name)].variable, data));
  load('optimizer.safetensors', (name, data) => {
    const [param, which] = [name.slice(0, name.lastIndexOf('/')), name.slice(name.lastIndexOf('/') + 1)];
    const i = index(param);
    assign((which === 'm' ? opt.m : opt.v)[i], data);
  });
  opt.step = saved.optimizerStep;
  // Steps after the checkpoint are redone: drop their metrics so the file reads as one run.
  if (fs.existsSync(metricsFile)) {
    const kept = fs
      .readFileSync(metricsFile, 'utf8')
      .split('\n')
      .filter((l) => l && stepOf(l) <= saved.step);
    fs.writeFileSync(metricsFile, kept.map((l) => `${l}\n`).join(''));
  }
  return { step: saved.step, epoch: saved.epoch, cursor: saved.cursor, dataSize: saved.dataSize, options: fresh.options };
}
