/** Pretraining a small Llama-architecture code model (and its BPE tokenizer) from scratch on Python source. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BackendName, initBackend } from '../backend';
import { InputError } from '../errors';
import { DType } from '../formats/dtype';
import { installTrainingKernels } from '../train/kernels';
import { pretrain, PretrainResult } from '../train/pretrain';
import { ScheduleKind } from '../train/schedule';
import { emit, isCancelled, logTo, RunContext, withDefaults } from './context';

export interface PretrainModelOptions {
  /** Folder of .py files; default: the standard library of the python3 on PATH. */
  corpus?: string;
  /** Output HF model folder (the run's checkpoint in <out>/run). */
  out: string;
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  seqLen: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  epochs: number;
  maxSteps?: number;
  weightDecay: number;
  heldOut: number;
  seed: number;
  checkpointEvery: number;
  dtype: DType;
  /** Leave out generated character-map codecs (encodings/cp*.py: hex tables). */
  skipCodecTables: boolean;
  resume: boolean;
  backend: BackendName | 'auto';
}

export const PRETRAIN_DEFAULTS: Omit<PretrainModelOptions, 'out' | 'corpus' | 'maxSteps'> = {
  vocab: 4096,
  hidden: 256,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  intermediate: 704,
  seqLen: 256,
  batchSize: 8,
  gradAccum: 1,
  lr: 2e-3,
  warmup: 100,
  schedule: 'cosine',
  epochs: 1,
  weightDecay: 0.1,
  heldOut: 0.02,
  seed: 0,
  checkpointEvery: 50,
  dtype: 'F32',
  skipCodecTables: false,
  resume: false,
  backend: 'auto',
};

/** The standard library of the python3 on PATH (PSF licence, on every machine that has Python). */
export function pythonStdlib(): string {
  try {
    return execFileSync('python3', ['-c', "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], { encoding: 'utf8' }).trim();
  } catch {
    throw new InputError('--corpus', 'not given, and python3 (whose standard library is the default corpus) was not found');
  }
}

/** Trains, writes the model folder and <out>/pretrain_summary.json. */
/** Options left out (or undefined) take PRETRAIN_DEFAULTS. */
export async function pretrainModel(given: Partial<PretrainModelOptions> & { out: string }, ctx: RunContext = {}): Promise<PretrainResult> {
  const o: PretrainModelOptions = withDefaults<PretrainModelOptions>({ ...PRETRAIN_DEFAULTS, out: given.out }, given);
  const log = logTo(ctx);
  const arch = {
    hidden: o.hidden,
    layers: o.layers,
    heads: o.heads,
    kvHeads: o.kvHeads,
    intermediate: o.intermediate,
    vocab: o.vocab,
    ropeTheta: 10000,
    maxPositions: 2048,
  };
  if (arch.hidden % arch.heads) throw new InputError('--heads', `${arch.heads} must divide --hidden ${arch.hidden}`);
  if (arch.heads % arch.kvHeads) throw new InputError('--kv-heads', `${arch.kvHeads} must divide --heads ${arch.heads}`);
  await initBackend(o.backend, log);
  await installTrainingKernels();
  const corpus = o.corpus ?? pythonStdlib();
  const out = path.resolve(o.out);
  const trainOptions = {
    lr: o.lr,
    weightDecay: o.weightDecay,
    beta1: 0.9,
    beta2: 0.95,
    adamEps: 1e-8,
    warmupSteps: o.warmup,
    schedule: o.schedule,
    epochs: o.epochs,
    maxSteps: o.maxSteps,
    microBatchSize: o.batchSize,
    gradAccum: o.gradAccum,
    maxGradNorm: 1,
    dropout: 0,
    seed: o.seed,
    checkpointEvery: o.checkpointEvery,
    padId: 0,
  };
  const result = await pretrain(
    {
      corpus,
      out,
      arch,
      seqLen: o.seqLen,
      heldOut: o.heldOut,
      dtype: o.dtype,
      skipCodecTables: o.skipCodecTables,
      log,
      train: trainOptions,
    },
    {
      dir: path.join(out, 'run'),
      resume: o.resume,
      onEvent: (event) => void emit(ctx, { type: 'train', event }),
      isCancelled: () => isCancelled(ctx),
    },
  );
  const summary = {
    ...result,
    corpus,
    arch,
    seqLen: o.seqLen,
    skipCodecTables: o.skipCodecTables,
    train: trainOptions,
    backend: o.backend,
    finishedAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(out, 'pretrain_summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    result.cancelled
      ? `stopped at step ${result.steps}; resume with --resume`
      : `done: ${result.steps} steps, ${result.tokensSeen} tokens, held-out loss ${result.heldOutLoss.toFixed(4)}`,
  );
  return result;
}
