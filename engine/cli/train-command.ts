/** `difflora train`: fine-tune a LoRA or DiffLoRA adapter on a frozen base model. */
import * as fs from 'fs';
import * as path from 'path';
import { Command, Option } from 'commander';
import { BackendName, initBackend } from '../backend';
import { InputError } from '../errors';
import { loadJsonlDataset } from '../data/examples';
import { disposeAdapter, saveAdapter } from '../model/adapter-weights';
import { LoadedModel, loadModel } from '../model/load';
import { AdapterConfig } from '../model/adapter-config';
import { createAdapter } from '../train/adapter-init';
import { adapterTrainable, evaluateLoss } from '../train/finetune';
import { makeBatch } from '../train/loss';
import { installTrainingKernels } from '../train/kernels';
import { Method, methodConfig, METHODS, parseTargets } from '../train/presets';
import { ScheduleKind } from '../train/schedule';
import { train, TrainEvent } from '../train/trainer';
import { trainOptionDefaults } from '../../protocol/training';
import { parseIndexList, parseInteger, parseNumber } from './args';
import { cancelOnSignals } from './pretrain-command';
import { loadProgress } from './progress';
import { trainProgress } from './train-progress';

export interface TrainFlags {
  model: string; method: Method; data: string; out: string;
  r?: string; alpha?: string; dropout?: string; targets?: string; rslora?: boolean; lambda?: string; learnLambda?: boolean;
  groupnorm?: boolean; relu?: boolean; negativeTermLoraOnly?: boolean; fullDim?: boolean; layers?: string; loraV?: boolean; loraO?: boolean; loraMlp?: boolean;
  lr: string; epochs: string; maxSteps?: string; batchSize: string; effectiveBatch: string; warmupRatio: string; schedule: ScheduleKind;
  weightDecay: string; maxGradNorm: string; seed: string; maxLength: string; onBadLine: 'stop' | 'skip'; onTooLong: 'truncate' | 'skip' | 'error';
  checkpointEvery: string; resume?: boolean; evalData?: string; backend: BackendName | 'auto'; quiet?: boolean;
}

export interface TrainHooks {
  log(line: string): void;
  onEvent(e: TrainEvent): void;
  isCancelled(): boolean;
}

export interface TrainOutcome { out: string; steps: number; cancelled: boolean; finalLoss: number; kind: AdapterConfig['kind'] }

/**
 * One fine-tuning run from CLI-style flags (strings, as typed): the CLI and the engine server share it.
 * `m` is the base model `f.model`, loaded by the caller.
 */
export async function runTraining(f: TrainFlags, hooks: TrainHooks, m: LoadedModel): Promise<TrainOutcome> {
  const { log } = hooks;
  await installTrainingKernels();
  if (!m.tokenizer) throw new InputError(f.model, 'no tokenizer.json: training needs the model\'s tokenizer');
  const config = methodConfig(f.method, {
    r: f.r === undefined ? undefined : parseInteger('--r', f.r, 1),
    alpha: f.alpha === undefined ? undefined : parseNumber('--alpha', f.alpha, 0),
    dropout: f.dropout === undefined ? undefined : parseNumber('--dropout', f.dropout, 0, 0.9),
    targets: f.targets === undefined ? undefined : parseTargets(f.targets),
    rslora: f.rslora, learnLambda: f.learnLambda, groupnorm: f.groupnorm, relu: f.relu,
    lambda: f.lambda === undefined ? undefined : f.lambda === 'rule' ? 'rule' : parseNumber('--lambda', f.lambda, -10, 10),
    negativeTermLoraOnly: f.negativeTermLoraOnly, fullDim: f.fullDim, loraV: f.loraV, loraO: f.loraO, loraMlp: f.loraMlp,
    layers: f.layers === undefined ? undefined : parseIndexList('--layers', f.layers, m.config.numLayers),
  });
  const data = loadJsonlDataset(f.data, m.tokenizer, { maxLength: parseInteger('--max-length', f.maxLength, 2), onBadLine: f.onBadLine, onTooLong: f.onTooLong });
  log(`data: ${data.examples.length} examples (${data.format})${data.skipped.length ? `, ${data.skipped.length} bad lines skipped (first: ${data.skipped[0].where}: ${data.skipped[0].reason})` : ''}${data.truncated ? `, ${data.truncated} truncated to ${f.maxLength} tokens` : ''}`);
  const batchSize = parseInteger('--batch-size', f.batchSize, 1);
  // The paper's effective batch where the data allows: fewer accumulation steps on a small dataset.
  const effective = parseInteger('--effective-batch', f.effectiveBatch, 1);
  const gradAccum = Math.max(1, Math.min(Math.round(effective / batchSize), Math.ceil(data.examples.length / batchSize)));
  const epochs = parseNumber('--epochs', f.epochs, 0);
  const maxSteps = f.maxSteps === undefined ? undefined : parseInteger('--max-steps', f.maxSteps, 1);
  const steps = maxSteps ?? Math.max(1, Math.round(Math.ceil(data.examples.length / (batchSize * gradAccum)) * epochs));
  const evalBatches = f.evalData === undefined ? undefined
    : loadJsonlDataset(f.evalData, m.tokenizer, { maxLength: parseInteger('--max-length', f.maxLength, 2), onBadLine: f.onBadLine, onTooLong: f.onTooLong })
      .examples.map((e) => makeBatch([e], 0));
  const adapter = createAdapter(config, m.config, m.configJson, path.resolve(f.model), parseInteger('--seed', f.seed, 0));
  // The adapter lives in this run only (a long-lived engine server would keep its tensors otherwise).
  try {
    const trainable = adapterTrainable(m, adapter);
    log(`method ${f.method}: ${trainable.params.reduce((a, p) => a + p.variable.size, 0)} trainable parameters; ${steps} steps of ${batchSize} x ${gradAccum} sequences`);
    const out = path.resolve(f.out);
    const evalFile = path.join(out, 'eval.jsonl');
    const evaluate = async (step: number) => {
      if (!evalBatches) return;
      const loss = await evaluateLoss(m, adapter, evalBatches);
      fs.mkdirSync(out, { recursive: true });
      fs.appendFileSync(evalFile, `${JSON.stringify({ step, eval_loss: loss, examples: evalBatches.length })}\n`);
      log(`held-out loss at step ${step}: ${loss.toFixed(4)}`);
    };
    if (!f.resume) { fs.rmSync(evalFile, { force: true }); await evaluate(0); }
    const result = await train(trainable, data.examples, {
      lr: parseNumber('--lr', f.lr, 0), weightDecay: parseNumber('--weight-decay', f.weightDecay, 0), beta1: 0.9, beta2: 0.999, adamEps: 1e-8,
      warmupSteps: Math.round(parseNumber('--warmup-ratio', f.warmupRatio, 0, 1) * steps), schedule: f.schedule, epochs, maxSteps,
      microBatchSize: batchSize, gradAccum, maxGradNorm: parseNumber('--max-grad-norm', f.maxGradNorm, 0), dropout: config.dropout,
      seed: parseInteger('--seed', f.seed, 0), checkpointEvery: parseInteger('--checkpoint-every', f.checkpointEvery, 0),
      padId: m.tokenizer.padId() ?? 0,
    }, { dir: out, resume: !!f.resume, onEvent: hooks.onEvent, isCancelled: hooks.isCancelled });
    const outcome = { out, steps: result.steps, cancelled: result.cancelled, finalLoss: result.finalLoss, kind: config.kind };
    if (result.cancelled) {
      log(`stopped at step ${result.steps}: checkpoint in ${out}/checkpoint; continue with --resume`);
      return outcome;
    }
    await evaluate(result.steps);
    saveAdapter(adapter, m.config, out);
    log(`saved the ${config.kind === 'lora' ? 'PEFT LoRA' : 'DiffLoRA (authors\' format)'} adapter in ${out} (final loss ${result.finalLoss.toFixed(4)}; metrics in ${out}/metrics.jsonl)`);
    return outcome;
  } finally {
    disposeAdapter(adapter);
  }
}

async function run(f: TrainFlags): Promise<void> {
  const log = (l: string) => { if (!f.quiet) process.stderr.write(`${l}\n`); };
  const backend = await initBackend(f.backend, log);
  const bar = loadProgress('loading weights', !!f.quiet);
  const m = loadModel(f.model, backend, bar.update);
  bar.stop();
  const progress = trainProgress('train', !!f.quiet);
  try {
    await runTraining(f, { log, onEvent: progress.onEvent, isCancelled: cancelOnSignals(log) }, m);
  } finally {
    progress.stop();
  }
}

export function registerTrain(program: Command, backendOption: () => Option): void {
  const d = trainOptionDefaults(); // the one table of defaults, shared with the engine server and the extension
  program
    .command('train')
    .description('fine-tune a LoRA or DiffLoRA adapter (base frozen); saves PEFT / authors\' format + metrics.jsonl')
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
