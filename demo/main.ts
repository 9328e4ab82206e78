/**
 * `npm run demo`: the product end to end on the embedded default model, on the CPU, in about five
 * minutes: LoRA and DiffLoRA adapters trained on (signature + docstring -> body) pairs extracted from
 * the local Python standard library, then one self-contained HTML report (the attention panel's own
 * rendering code, no network) with the three models' attention maps on a code snippet and their
 * completions side by side. The demo sits above the engine's API (engine/api) and the webview and uses both.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  attention,
  Completion,
  extractPairs,
  generateCompletions,
  loadAdapter,
  LoadedModel,
  Method,
  openModel,
  pythonStdlib,
  Target,
  trainAdapter,
  trainDefaults,
} from '../engine/api';
import { BackendName } from '../engine/backend';
import { printingContext } from '../engine/terminal/output';
import { Example, loadJsonlDataset } from '../engine/data/examples';
import { NEXT_TOP_LEVEL, parseChecks } from '../engine/humaneval/syntax-rate';
import { Rng } from '../engine/util/rng';
import { ModelAttention, unpackLayerMaps } from '../protocol/attention';
import { reportHtml, ReportSection } from '../webview/report';

const ROOT = path.resolve(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'media', 'default-model');

interface Settings {
  out: string;
  backend: BackendName | 'auto';
  trainExamples: number;
  steps: number;
  maxLength: number;
}

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
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
}

/** The lines of `source` the examples came from, in their order: a dataset file for the API. */
function writeLines(source: string, examples: Example[], out: string): string {
  const lines = fs.readFileSync(source, 'utf8').split('\n');
  fs.writeFileSync(out, examples.map((e) => `${lines[Number(/:(\d+)$/.exec(e.source)![1]) - 1]}\n`).join(''));
  return out;
}

async function train(m: LoadedModel, method: Method, data: string, held: string, s: Settings) {
  const started = Date.now();
  let tokensPerSec = 0;
  const progress = printingContext({ train: method });
  const dir = path.join(s.out, method);
  let r;
  try {
    r = await trainAdapter(
      m,
      {
        ...trainDefaults(),
        lr: 1e-3,
        warmupRatio: 3 / s.steps,
        maxSteps: s.steps,
        batchSize: 8,
        effectiveBatch: 8,
        checkpointEvery: 0,
        maxLength: s.maxLength,
        onTooLong: 'skip',
        evalData: held,
        model: MODEL,
        method,
        data,
        out: dir,
      },
      {
        onEvent: (e) => {
          if (e.type !== 'train') return; // the API's log lines: the demo says less
          void progress.onEvent?.(e);
          if (e.event.type === 'step') tokensPerSec = e.event.tokensPerSec;
        },
      },
    );
  } finally {
    progress.stop();
  }
  const before = r.evalLoss!.before!,
    after = r.evalLoss!.after!;
  log(`${method}: held-out loss ${before.toFixed(3)} -> ${after.toFixed(3)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { adapter: loadAdapter(dir, m.config), before, after, tokensPerSec, params: r.parameters };
}

async function capture(m: LoadedModel, x: Target, ids: number[]): Promise<ModelAttention> {
  const out: ModelAttention = {
    label: x.label,
    kind: x.kind,
    tokens: m.tokenizer?.labels(ids) ?? ids.map(String),
    tq: ids.length,
    tk: ids.length,
    numLayers: m.config.numLayers,
    numHeads: m.config.numHeads,
    layers: [],
  };
  await attention(
    m,
    [x],
    { ids },
    {
      onEvent: (e) => {
        if (e.type === 'maps') out.layers.push(unpackLayerMaps(e.maps));
      },
    },
  );
  return out;
}

async function complete(m: LoadedModel, x: Target, prompt: string): Promise<string> {
  const [r]: Completion[] = await generateCompletions(m, [x], {
    prompt: m.tokenizer!.encode(prompt),
    maxNewTokens: 64,
    stop: [NEXT_TOP_LEVEL],
  });
  return r.completion ?? '';
}

async function main(): Promise<void> {
  const s = settings(process.argv.slice(2));
  const started = Date.now();
  if (!fs.existsSync(path.join(MODEL, 'model.safetensors')))
    throw new Error(`${MODEL}: the default model is missing (bash scripts/build-default-model.sh makes it)`);
  fs.mkdirSync(s.out, { recursive: true });
  const { m, backend } = await openModel(
    { model: MODEL, backend: s.backend },
    {
      onEvent: (e) => {
        if (e.type === 'log') log(e.message);
      },
    },
  );
  const tok = m.tokenizer!;

  const pairsFile = path.join(s.out, 'stdlib-pairs.jsonl');
  log((await extractPairs({ folder: pythonStdlib(), out: pairsFile })).summary);
  const all = loadJsonlDataset(pairsFile, tok, { maxLength: s.maxLength, onBadLine: 'skip', onTooLong: 'skip' }).examples;
  const picked = sample(all, s.trainExamples + 40, 1);
  const data = picked.slice(0, s.trainExamples),
    held = picked.slice(s.trainExamples, s.trainExamples + 32);
  const shows = picked.slice(s.trainExamples + 32, s.trainExamples + 36);
  log(`data: ${all.length} pairs of at most ${s.maxLength} tokens; training on ${data.length}, ${held.length} held out`);

  const trainFile = writeLines(pairsFile, data, path.join(s.out, 'train.jsonl'));
  const heldFile = writeLines(pairsFile, held, path.join(s.out, 'held-out.jsonl'));
  const lora = await train(m, 'lora-matched', trainFile, heldFile, s);
  const diff = await train(m, 'difflora-32', trainFile, heldFile, s);
  const models: Target[] = [
    { label: 'base', kind: 'base' },
    { label: 'LoRA (q,k r=64)', kind: 'lora', adapter: lora.adapter },
    { label: 'DiffLoRA-32', kind: 'difflora', adapter: diff.adapter },
  ];

  const snippet = tok.decode(shows[0].ids, true).slice(0, 400);
  const snippetIds = tok.encode(snippet).slice(0, 96);
  const maps: ModelAttention[] = [];
  for (const x of models) maps.push(await capture(m, x, snippetIds));

  const prompts = shows.map((e) => {
    const cut = e.targetMask.indexOf(1);
    return tok.decode(e.ids.slice(0, cut), true);
  });
  const sections: ReportSection[] = [
    {
      title: 'Training',
      text: [
        `Base: the embedded default model (${m.config.numLayers} layers, hidden ${m.config.hiddenSize}, ${m.config.numHeads} heads over ${m.config.numKvHeads} KV heads), frozen.`,
        `Data: ${data.length} (signature + docstring -> body) pairs extracted from this machine's Python standard library; ${held.length} more held out.`,
        `LoRA on q,k at r=64 (${lora.params} parameters): held-out loss ${lora.before.toFixed(3)} -> ${lora.after.toFixed(3)}, ${Math.round(lora.tokensPerSec)} tokens/s.`,
        `DiffLoRA-32, both terms at r=32, fixed lambda 0.1 (${diff.params} parameters): held-out loss ${diff.before.toFixed(3)} -> ${diff.after.toFixed(3)}, ${Math.round(diff.tokensPerSec)} tokens/s.`,
        `${s.steps} steps of 8 sequences each, AdamW lr 1e-3, backend ${backend.name}.`,
      ].join('\n\n'),
    },
  ];
  for (let i = 0; i < prompts.length; i++) {
    const outs: string[] = [];
    for (const x of models) outs.push(await complete(m, x, prompts[i]));
    const checks = parseChecks(outs.map((c) => ({ prompt: prompts[i], completion: c, entryPoint: entryPoint(prompts[i]) })));
    sections.push({
      title: `Completion ${i + 1}`,
      text: `Prompt:\n${prompts[i]}`,
      columns: models.map(({ label }, j) => ({
        title: `${label}${checks[j].parses ? '' : ' (does not parse as a function body)'}`,
        text: outs[j] || '(empty)',
      })),
    });
  }
  const assets = {
    js: fs.readFileSync(path.join(ROOT, 'dist', 'webview', 'attention.js'), 'utf8'),
    css: fs.readFileSync(path.join(ROOT, 'dist', 'webview', 'attention.css'), 'utf8'),
  };
  const report = path.join(s.out, 'report.html');
  fs.writeFileSync(report, reportHtml(maps, { title: 'DiffLoRA Lens demo: base vs LoRA vs DiffLoRA on Python', sections }, assets));
  log(`report: ${report} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  process.stdout.write(`${report}\n`);
}

function entryPoint(prompt: string): string {
  return /def\s+(\w+)\s*\(/.exec(prompt)?.[1] ?? '';
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`demo: error: ${e.message}\n`);
    process.exit(1);
  },
);
