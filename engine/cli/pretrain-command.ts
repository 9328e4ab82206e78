/** `difflora pretrain`: a small Llama-architecture code model from scratch on a folder of Python. */
import { Command, Option } from 'commander';
import { DType, pretrainModel, PRETRAIN_DEFAULTS, ScheduleKind } from '../api';
import { BackendName } from '../backend';
import { parseInteger, parseNumber } from '../api/parse';
import { printingContext } from '../terminal/output';

interface PretrainFlags {
  corpus?: string;
  out: string;
  vocab: string;
  hidden: string;
  layers: string;
  heads: string;
  kvHeads: string;
  intermediate: string;
  seqLen: string;
  batchSize: string;
  gradAccum: string;
  lr: string;
  warmup: string;
  schedule: ScheduleKind;
  epochs: string;
  maxSteps?: string;
  seed: string;
  checkpointEvery: string;
  weightDecay: string;
  heldOut: string;
  dtype: DType;
  resume?: boolean;
  skipCodecTables?: boolean;
  backend: BackendName | 'auto';
  quiet?: boolean;
}

async function run(f: PretrainFlags): Promise<void> {
  const int = (flag: string, v: string, min = 1) => parseInteger(flag, v, min);
  const options = {
    hidden: int('--hidden', f.hidden),
    layers: int('--layers', f.layers),
    heads: int('--heads', f.heads),
    kvHeads: int('--kv-heads', f.kvHeads),
    intermediate: int('--intermediate', f.intermediate),
    vocab: int('--vocab', f.vocab, 300),
    corpus: f.corpus,
    out: f.out,
    lr: parseNumber('--lr', f.lr, 0),
    weightDecay: parseNumber('--weight-decay', f.weightDecay, 0),
    warmup: int('--warmup', f.warmup, 0),
    schedule: f.schedule,
    epochs: parseNumber('--epochs', f.epochs, 0),
    maxSteps: f.maxSteps === undefined ? undefined : int('--max-steps', f.maxSteps),
    batchSize: int('--batch-size', f.batchSize),
    gradAccum: int('--grad-accum', f.gradAccum),
    seed: int('--seed', f.seed, 0),
    checkpointEvery: int('--checkpoint-every', f.checkpointEvery, 0),
    seqLen: int('--seq-len', f.seqLen, 8),
    heldOut: parseNumber('--held-out', f.heldOut, 0, 0.5),
    dtype: f.dtype,
    skipCodecTables: !!f.skipCodecTables,
    resume: !!f.resume,
    backend: f.backend,
  };
  const out = printingContext({ quiet: f.quiet, train: 'pretrain', cancel: true });
  try {
    await pretrainModel(options, out);
  } finally {
    out.stop();
  }
}

export function registerPretrain(program: Command, backendOption: () => Option): void {
  program
    .command('pretrain')
    .description('pretrain a small Llama-architecture model (and its BPE tokenizer) on a folder of Python source')
    .option('--corpus <dir>', 'folder of .py files (default: the Python standard library)')
    .requiredOption('--out <dir>', 'output HF model folder')
    .option('--vocab <n>', 'tokenizer vocabulary size', String(PRETRAIN_DEFAULTS.vocab))
    .option('--hidden <n>', 'hidden size', String(PRETRAIN_DEFAULTS.hidden))
    .option('--layers <n>', 'layers', String(PRETRAIN_DEFAULTS.layers))
    .option('--heads <n>', 'attention heads', String(PRETRAIN_DEFAULTS.heads))
    .option('--kv-heads <n>', 'key/value heads (GQA)', String(PRETRAIN_DEFAULTS.kvHeads))
    .option('--intermediate <n>', 'MLP width', String(PRETRAIN_DEFAULTS.intermediate))
    .option('--seq-len <n>', 'tokens per sequence', String(PRETRAIN_DEFAULTS.seqLen))
    .option('--batch-size <n>', 'sequences per micro-batch', String(PRETRAIN_DEFAULTS.batchSize))
    .option('--grad-accum <n>', 'micro-batches per step', String(PRETRAIN_DEFAULTS.gradAccum))
    .option('--lr <x>', 'peak learning rate', String(PRETRAIN_DEFAULTS.lr))
    .option('--warmup <n>', 'warmup steps', String(PRETRAIN_DEFAULTS.warmup))
    .addOption(
      new Option('--schedule <s>', 'decay after warmup').choices(['cosine', 'linear', 'constant']).default(PRETRAIN_DEFAULTS.schedule),
    )
    .option('--epochs <x>', 'passes over the corpus', String(PRETRAIN_DEFAULTS.epochs))
    .option('--max-steps <n>', 'stop after this many steps')
    .option('--weight-decay <x>', 'AdamW weight decay', String(PRETRAIN_DEFAULTS.weightDecay))
    .option('--held-out <x>', 'share of files held out', String(PRETRAIN_DEFAULTS.heldOut))
    .option('--seed <n>', 'seed', String(PRETRAIN_DEFAULTS.seed))
    .option('--checkpoint-every <n>', 'checkpoint every N steps', String(PRETRAIN_DEFAULTS.checkpointEvery))
    .addOption(new Option('--dtype <t>', 'weights on disk').choices(['F32', 'BF16', 'F16']).default(PRETRAIN_DEFAULTS.dtype))
    .option('--skip-codec-tables', 'leave out generated character-map codecs (encodings/cp*.py ...: hex tables)')
    .option('--resume', 'continue from <out>/run/checkpoint')
    .addOption(backendOption())
    .option('--quiet', 'no progress on stderr')
    .action(run);
}
