/**
 * `npm run demo`: the product end to end on the embedded default model, on the CPU, in about five
 * minutes: LoRA and DiffLoRA adapters trained on (signature + docstring -> body) pairs extracted from
 * the local Python standard library, then one self-contained HTML report (the attention panel's own
 * rendering code, no network) with the three models' attention maps on a code snippet and their
 * completions side by side. The demo sits above the engine and the webview and uses both.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BackendName, initBackend } from '../engine/backend';
import { pythonStdlib } from '../engine/cli/pretrain-command';
import { trainProgress } from '../engine/cli/train-progress';
import { Example, loadJsonlDataset } from '../engine/data/examples';
import { extractFolder } from '../engine/data/extract';
import { NEXT_TOP_LEVEL, parseChecks } from '../engine/humaneval/syntax-rate';
import { Adapter } from '../engine/model/adapter-weights';
import { generate } from '../engine/model/generate';
import { LoadedModel, loadModel } from '../engine/model/load';
import { createAdapter } from '../engine/train/adapter-init';
import { adapterTrainable, evaluateLoss } from '../engine/train/finetune';
import { installTrainingKernels } from '../engine/train/kernels';
import { makeBatch } from '../engine/train/loss';
import { Method, methodConfig } from '../engine/train/presets';
import { train } from '../engine/train/trainer';
import { Rng } from '../engine/util/rng';
import { ModelAttention, ModelKind, unpackLayerMaps } from '../protocol/attention';
import { reportHtml, ReportSection } from '../webview/report';

const ROOT = path.resolve(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'media', 'default-model');

interface Settings { out: string; backend: BackendName | 'auto'; trainExamples: number; steps: number; maxLength: number }

function settings(argv: string[]): Settings {
  const s: Settings = { out: path.join(ROOT, 'demo-output'), backend: 'auto', trainExamples: 256, steps: 32, maxLength: 160 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--out') s.out = path.resolve(v);
    else if (k === '--backend') s.backend = v as BackendName;
    else if (k === '--steps') s.steps = Number(v);
    else throw new Error(`unknown option ${k} (options: --out DIR, --backend B, --steps N)`);
  }
  return s;
}

const log = (l: string) => process.stderr.write(`${l}\n`);

/** A deterministic sample: the same pairs on every run over the same library. */
function sample<T>(items: T[], n: number, seed: number): T[] {
  const rng = new Rng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
  return a.slice(0, n);
}

async function trainAdapter(m: LoadedModel, method: Method, data: Example[], held: Example[], s: Settings) {
  const adapter = createAdapter(methodConfig(method, {}), m.config, m.configJson, MODEL, 0);
  const trainable = adapterTrainable(m, adapter);
  const heldBatches = held.map((e) => makeBatch([e], 0));
  const before = await evaluateLoss(m, adapter, heldBatches);
  const progress = trainProgress(method, false);
  const started = Date.now();
  const dir = path.join(s.out, method);
  let tokensPerSec = 0;
  await train(trainable, data, {
    lr: 1e-3, weightDecay: 0, beta1: 0.9, beta2: 0.999, adamEps: 1e-8, warmupSteps: 3, schedule: 'linear', epochs: 1,
    maxSteps: s.steps, microBatchSize: 8, gradAccum: 1, maxGradNorm: 1, dropout: 0.05, seed: 0, checkpointEvery: 0,
    padId: m.tokenizer?.padId() ?? 0,
  }, { dir, onEvent: (e) => { progress.onEvent(e); if (e.type === 'step') tokensPerSec = e.tokensPerSec; } });
  progress.stop();
  const after = await evaluateLoss(m, adapter, heldBatches);
  log(`${method}: held-out loss ${before.toFixed(3)} -> ${after.toFixed(3)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { adapter, before, after, tokensPerSec, params: trainable.params.reduce((n, p) => n + p.variable.size, 0) };
}

async function capture(m: LoadedModel, adapter: Adapter | undefined, label: string, kind: ModelKind, ids: number[]): Promise<ModelAttention> {
  const out: ModelAttention = {
    label, kind, tokens: m.tokenizer?.labels(ids) ?? ids.map(String), tq: ids.length, tk: ids.length,
    numLayers: m.config.numLayers, numHeads: m.config.numHeads, layers: [],
  };
  const logits = await m.model.forwardCapture([ids], adapter, { onMaps: (p) => { out.layers.push(unpackLayerMaps(p)); } });
  logits.dispose();
  return out;
}

async function complete(m: LoadedModel, adapter: Adapter | undefined, prompt: string): Promise<string> {
  const tok = m.tokenizer!;
  const r = await generate(m.model, adapter, tok.encode(prompt), {
    maxNewTokens: 64, temperature: 0, topP: 1, seed: 0, stop: [NEXT_TOP_LEVEL], useCache: true,
    eosIds: m.config.eosTokenIds, decode: (ids) => tok.decode(ids, true),
  });
  return r.completion ?? '';
}

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  const started = Date.now();
  if (!fs.existsSync(path.join(MODEL, 'model.safetensors'))) throw new Error(`${MODEL}: the default model is missing (bash scripts/build-default-model.sh makes it)`);
  fs.mkdirSync(s.out, { recursive: true });
  const backend = await initBackend(s.backend, log);
  await installTrainingKernels();
  const m = loadModel(MODEL, backend);
  const tok = m.tokenizer!;

  const pairsFile = path.join(s.out, 'stdlib-pairs.jsonl');
  log((await extractFolder(pythonStdlib(), pairsFile)).summary);
  const all = loadJsonlDataset(pairsFile, tok, { maxLength: s.maxLength, onBadLine: 'skip', onTooLong: 'skip' }).examples;
  const picked = sample(all, s.trainExamples + 40, 1);
  const data = picked.slice(0, s.trainExamples), held = picked.slice(s.trainExamples, s.trainExamples + 32);
  const shows = picked.slice(s.trainExamples + 32, s.trainExamples + 36);
  log(`data: ${all.length} pairs of at most ${s.maxLength} tokens; training on ${data.length}, ${held.length} held out`);

  const lora = await trainAdapter(m, 'lora-matched', data, held, s);
  const diff = await trainAdapter(m, 'difflora-32', data, held, s);
  const models: [string, ModelKind, Adapter | undefined][] = [['base', 'base', undefined], ['LoRA (q,k r=64)', 'lora', lora.adapter], ['DiffLoRA-32', 'difflora', diff.adapter]];

  const snippet = tok.decode(shows[0].ids, true).slice(0, 400);
  const snippetIds = tok.encode(snippet).slice(0, 96);
  const maps: ModelAttention[] = [];
  for (const [label, kind, adapter] of models) maps.push(await capture(m, adapter, label, kind, snippetIds));

  const prompts = shows.map((e) => {
    const cut = e.targetMask.indexOf(1);
    return tok.decode(e.ids.slice(0, cut), true);
  });
  const sections: ReportSection[] = [{
    title: 'Training',
    text: [
      `Base: the embedded default model (${m.config.numLayers} layers, hidden ${m.config.hiddenSize}, ${m.config.numHeads} heads over ${m.config.numKvHeads} KV heads), frozen.`,
      `Data: ${data.length} (signature + docstring -> body) pairs extracted from this machine's Python standard library; ${held.length} more held out.`,
      `LoRA on q,k at r=64 (${lora.params} parameters): held-out loss ${lora.before.toFixed(3)} -> ${lora.after.toFixed(3)}, ${Math.round(lora.tokensPerSec)} tokens/s.`,
      `DiffLoRA-32, both terms at r=32, fixed lambda 0.1 (${diff.params} parameters): held-out loss ${diff.before.toFixed(3)} -> ${diff.after.toFixed(3)}, ${Math.round(diff.tokensPerSec)} tokens/s.`,
      `${s.steps} steps of 8 sequences each, AdamW lr 1e-3, backend ${backend.name}.`,
    ].join('\n\n'),
  }];
  for (let i = 0; i < prompts.length; i++) {
    const outs: string[] = [];
    for (const [, , adapter] of models) outs.push(await complete(m, adapter, prompts[i]));
    const checks = parseChecks(outs.map((c) => ({ prompt: prompts[i], completion: c, entryPoint: entryPoint(prompts[i]) })));
    sections.push({
      title: `Completion ${i + 1}`,
      text: `Prompt:\n${prompts[i]}`,
      columns: models.map(([label], j) => ({ title: `${label}${checks[j].parses ? '' : ' (does not parse as a function body)'}`, text: outs[j] || '(empty)' })),
    });
  }
  const assets = { js: fs.readFileSync(path.join(ROOT, 'dist', 'webview', 'attention.js'), 'utf8'), css: fs.readFileSync(path.join(ROOT, 'dist', 'webview', 'attention.css'), 'utf8') };
  const report = path.join(s.out, 'report.html');
  fs.writeFileSync(report, reportHtml(maps, { title: 'DiffLoRA Lens demo: base vs LoRA vs DiffLoRA on Python', sections }, assets));
  log(`report: ${report} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  process.stdout.write(`${report}\n`);
}

function entryPoint(prompt: string): string {
  return /def\s+(\w+)\s*\(/.exec(prompt)?.[1] ?? '';
}

main().then(() => process.exit(0), (e: Error) => { process.stderr.write(`demo: error: ${e.message}\n`); process.exit(1); });
