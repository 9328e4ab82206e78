/** `difflora train`: fine-tune a LoRA or DiffLoRA adapter on a frozen base model. */
import { Command, Option } from 'commander';
import { Method, METHODS, openModel, trainAdapter, trainSettings } from '../api';
import { BackendName } from '../backend';
import { TRAIN_OPTIONS, trainOptionDefaults } from '../../protocol/training';
import { printingContext } from '../terminal/output';

interface TrainFlags {
  model: string;
  method: Method;
  data: string;
  out: string;
  resume?: boolean;
  backend: BackendName | 'auto';
  quiet?: boolean;
  /** The training options, keyed as in protocol/training.ts's table (commander's camelCase of the flags). */
  [option: string]: string | boolean | undefined;
}

async function run(f: TrainFlags): Promise<void> {
  const out = printingContext({ quiet: f.quiet, train: 'train', cancel: true });
  try {
    const { m } = await openModel({ model: f.model, backend: f.backend }, out);
    out.loaded();
    const options = Object.fromEntries(TRAIN_OPTIONS.map((o) => [o.key, f[o.key]]));
    await trainAdapter(
      m,
      { ...trainSettings(options, m.config.numLayers), model: f.model, method: f.method, data: f.data, out: f.out, resume: f.resume },
      out,
    );
  } finally {
    out.stop();
  }
}

export function registerTrain(program: Command, backendOption: () => Option): void {
  const d = trainOptionDefaults(); // the one table of defaults, shared with the engine server and the extension
  program
    .command('train')
    .description("fine-tune a LoRA or DiffLoRA adapter (base frozen); saves PEFT / authors' format + metrics.jsonl")
    .requiredOption('--model <dir>', 'base HF model folder')
    .addOption(new Option('--method <m>', 'preset').choices([...METHODS]).makeOptionMandatory())
    .requiredOption('--data <file>', 'JSONL: {"messages":[...]}, {"prompt","completion"} or {"text"}')
    .requiredOption('--out <dir>', 'adapter folder (also holds checkpoint/ and metrics.jsonl)')
    .option('--r <n>', 'rank (preset: lora 16, lora-matched 64, difflora-64 64, difflora-32 32)')
    .option('--alpha <x>', 'scale numerator (default 2r)')
    .option('--dropout <x>', 'adapter dropout (default 0.05)')
    .option('--targets <list>', 'LoRA target modules, e.g. q_proj,v_proj')
    .option('--rslora', 'LoRA: scale alpha/sqrt(r)')
    .option('--lambda <x|rule>', 'DiffLoRA: fixed lambda, or the learned init (rule = 0.8-0.6exp(-0.3l)); default 0.1')
    .option('--learn-lambda', 'DiffLoRA: learn lambda per layer')
    .option('--groupnorm', 'DiffLoRA: per-head RMSNorm (collapsed pretrained models in the paper; off by default)')
    .option('--relu', 'DiffLoRA: ReLU on the differential map')
    .option('--negative-term-lora-only', 'DiffLoRA: Q2/K2 from the adapter alone (no base weight)')
    .option('--full-dim', 'DiffLoRA: full-dimension trainable Q2/K2')
    .option('--layers <list>', 'layers to adapt (default all)')
    .option('--lora-v', 'DiffLoRA: also adapt v')
    .option('--lora-o', 'DiffLoRA: also adapt o (from the layer input, as the authors do)')
    .option('--lora-mlp', 'DiffLoRA: also adapt gate/up/down')
    .option('--lr <x>', 'peak learning rate', d.lr)
    .option('--epochs <x>', 'passes over the data', d.epochs)
    .option('--max-steps <n>', 'stop after N optimizer steps')
    .option('--batch-size <n>', 'sequences per micro-batch', d.batchSize)
    .option('--effective-batch <n>', 'sequences per optimizer step (gradient accumulation), where the data allows', d.effectiveBatch)
    .option('--warmup-ratio <x>', 'share of steps warming up', d.warmupRatio)
    .addOption(new Option('--schedule <s>', 'decay after warmup').choices(['linear', 'cosine', 'constant']).default(d.schedule))
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', d.weightDecay)
    .option('--max-grad-norm <x>', 'clip the global gradient norm (0 = off)', d.maxGradNorm)
    .option('--seed <n>', 'seed: init, data order, dropout', d.seed)
    .option('--max-length <n>', 'tokens per example', d.maxLength)
    .addOption(new Option('--on-bad-line <p>', 'a malformed data line').choices(['stop', 'skip']).default(d.onBadLine))
    .addOption(new Option('--on-too-long <p>', 'an example over --max-length').choices(['truncate', 'skip', 'error']).default(d.onTooLong))
    .option('--checkpoint-every <n>', 'checkpoint every N steps (and always on cancel)', d.checkpointEvery)
    .option('--resume', 'continue the run in --out from its checkpoint')
    .option('--eval-data <file>', 'held-out JSONL: loss before and after training, in <out>/eval.jsonl')
    .addOption(backendOption())
    .option('--quiet', 'no progress on stderr')
    .action(run);
}
