/** `difflora pretrain`: a small Llama-architecture code model from scratch on a folder of Python. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { initBackend, BackendName } from '../backend';
import { InputError } from '../errors';
import { DType } from '../formats/dtype';
import { installTrainingKernels } from '../train/kernels';
import { pretrain } from '../train/pretrain';
import { ScheduleKind } from '../train/schedule';
import { parseInteger, parseNumber } from './args';
import { trainProgress } from './train-progress';

/** The standard library of the python3 on PATH (PSF licence, on every machine that has Python). */
export function pythonStdlib(): string {
  try {
    return execFileSync('python3', ['-c', "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], { encoding: 'utf8' }).trim();
  } catch {
    throw new InputError('--corpus', 'not given, and python3 (whose standard library is the default corpus) was not found');
  }
}

/** SIGINT / SIGTERM ask the loop to stop at the next step, after a checkpoint. */
export function cancelOnSignals(log: (l: string) => void): () => boolean {
  let cancelled = false;
  const stop = () => {
    if (cancelled) process.exit(130);
    cancelled = true;
    log('stopping after this step (checkpoint, then exit); again to quit now');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return () => cancelled;
}

interface PretrainFlags {
  corpus?: string; out: string; vocab: string; hidden: string; layers: string; heads: string; kvHeads: string; intermediate: string;
  seqLen: string; batchSize: string; gradAccum: string; lr: string; warmup: string; schedule: ScheduleKind; epochs: string;
  maxSteps?: string; seed: string; checkpointEvery: string; weightDecay: string; heldOut: string; dtype: DType; resume?: boolean; skipCodecTables?: boolean;
  backend: BackendName | 'auto'; quiet?: boolean;
}

async function run(f: PretrainFlags): Promise<void> {
  const log = (l: string) => { if (!f.quiet) process.stderr.write(`${l}\n`); };
  const int = (flag: string, v: string, min = 1) => parseInteger(flag, v, min);
  const arch = {
    hidden: int('--hidden', f.hidden), layers: int('--layers', f.layers), heads: int('--heads', f.heads), kvHeads: int('--kv-heads', f.kvHeads),
    intermediate: int('--intermediate', f.intermediate), vocab: int('--vocab', f.vocab, 300), ropeTheta: 10000, maxPositions: 2048,
  };
  if (arch.hidden % arch.heads) throw new InputError('--heads', `${arch.heads} must divide --hidden ${arch.hidden}`);
  if (arch.heads % arch.kvHeads) throw new InputError('--kv-heads', `${arch.kvHeads} must divide --heads ${arch.heads}`);
  await initBackend(f.backend, log);
  await installTrainingKernels();
  const progress = trainProgress('pretrain', !!f.quiet);
  const corpus = f.corpus ?? pythonStdlib();
  const out = path.resolve(f.out);
  const trainOptions = {
    lr: parseNumber('--lr', f.lr, 0), weightDecay: parseNumber('--weight-decay', f.weightDecay, 0), beta1: 0.9, beta2: 0.95, adamEps: 1e-8,
    warmupSteps: int('--warmup', f.warmup, 0), schedule: f.schedule, epochs: parseNumber('--epochs', f.epochs, 0),
    maxSteps: f.maxSteps === undefined ? undefined : int('--max-steps', f.maxSteps), microBatchSize: int('--batch-size', f.batchSize),
    gradAccum: int('--grad-accum', f.gradAccum), maxGradNorm: 1, dropout: 0, seed: int('--seed', f.seed, 0),
    checkpointEvery: int('--checkpoint-every', f.checkpointEvery, 0), padId: 0,
  };
  const result = await pretrain({
    corpus, out, arch, seqLen: int('--seq-len', f.seqLen, 8), heldOut: parseNumber('--held-out', f.heldOut, 0, 0.5), dtype: f.dtype, skipCodecTables: !!f.skipCodecTables, log,
    train: trainOptions,
  }, { dir: path.join(out, 'run'), resume: !!f.resume, onEvent: progress.onEvent, isCancelled: cancelOnSignals(log) });
  progress.stop();
  const summary = { ...result, corpus, arch, seqLen: Number(f.seqLen), skipCodecTables: !!f.skipCodecTables, train: trainOptions, backend: f.backend, finishedAt: new Date().toISOString() };
  fs.writeFileSync(path.join(out, 'pretrain_summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  log(result.cancelled ? `stopped at step ${result.steps}; resume with --resume` : `done: ${result.steps} steps, ${result.tokensSeen} tokens, held-out loss ${result.heldOutLoss.toFixed(4)}`);
}

export function registerPretrain(program: Command, backendOption: () => Option): void {
  program
    .command('pretrain')
    .description('pretrain a small Llama-architecture model (and its BPE tokenizer) on a folder of Python source')
    .option('--corpus <dir>', 'folder of .py files (default: the Python standard library)')
    .requiredOption('--out <dir>', 'output HF model folder')
    .option('--vocab <n>', 'tokenizer vocabulary size', '4096')
    .option('--hidden <n>', 'hidden size', '256')
    .option('--layers <n>', 'layers', '4')
    .option('--heads <n>', 'attention heads', '8')
    .option('--kv-heads <n>', 'key/value heads (GQA)', '2')
    .option('--intermediate <n>', 'MLP width', '704')
    .option('--seq-len <n>', 'tokens per sequence', '256')
    .option('--batch-size <n>', 'sequences per micro-batch', '8')
    .option('--grad-accum <n>', 'micro-batches per step', '1')
    .option('--lr <x>', 'peak learning rate', '2e-3')
    .option('--warmup <n>', 'warmup steps', '100')
    .addOption(new Option('--schedule <s>', 'decay after warmup').choices(['cosine', 'linear', 'constant']).default('cosine'))
    .option('--epochs <x>', 'passes over the corpus', '1')
    .option('--max-steps <n>', 'stop after this many steps')
    .option('--weight-decay <x>', 'AdamW weight decay', '0.1')
    .option('--held-out <x>', 'share of files held out', '0.02')
    .option('--seed <n>', 'seed', '0')
    .option('--checkpoint-every <n>', 'checkpoint every N steps', '50')
    .addOption(new Option('--dtype <t>', 'weights on disk').choices(['F32', 'BF16', 'F16']).default('F32'))
    .option('--skip-codec-tables', 'leave out generated character-map codecs (encodings/cp*.py ...: hex tables)')
    .option('--resume', 'continue from <out>/run/checkpoint')
    .addOption(backendOption())
    .option('--quiet', 'no progress on stderr')
    .action(run);
}
