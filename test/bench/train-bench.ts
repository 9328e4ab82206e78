/**
 * The training benchmark: tokens/s and peak RSS of adapter training in the engine (native and wasm)
 * against the same configuration trained in PyTorch on the same CPU (Debian's python3-torch), in the same run.
 *
 *   node out/test/bench/train-bench.js [--model DIR] [--steps N] [--quick] [--methods lora,difflora-64,difflora-32]
 *                                      [--no-torch] [--profile | --no-profile] [--batch 8] [--seq-len 128]
 *                                      [--torch-threads 1:1,2:2] [--backends native,wasm] [--out FILE]
 *
 * Model: --model, else media/default-model (the embedded default), else a random checkpoint of the
 * default model's shape (hidden 192, 4 layers, 6 / 2 heads, ffn 512, vocab 2048, tied, F32), written
 * once into .cache/bench/default-shape-2m with test/reference/make_checkpoint.py.
 * Per method (lora, lora-matched, difflora-64, difflora-32; default lora,difflora-64,difflora-32):
 *   engine  a child process per backend (train-bench-child.ts; default native where its addon loads,
 *           and wasm): createAdapter(methodConfig(method, {})), adapterTrainable,
 *           the real train() loop, batch 8 x 128 random token ids (all targets, no accumulation),
 *           1 warm-up step + N timed steps (default 20, --quick 3), constant lr 1e-4, AdamW, clip 1,
 *           dropout 0.05; median step time, tokens/s, peak RSS of that child; --profile (default
 *           on, off with --quick) profiles one more step by kernel and times a forward-only pass.
 *   torch   test/bench/torch_train_peer.py with /usr/bin/python3 (override: DIFFLORA_TORCH_PYTHON), one
 *           process per method: the same weights, ids and adapter configuration, torch.optim.AdamW,
 *           1 warm-up + N timed steps per thread setting (torch:blas, default 1:1 and 2:2), the
 *           faster setting reported; its step-0 loss is checked against the engine's.
 * Output: a table per method (engine tok/s, torch tok/s, ratio engine/torch, peak RSS of both, the
 * step-0 losses) and a note on what dominates the engine's step; JSON in .cache/bench/train-results.json.
 * Figures only, no thresholds.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadNativeAddon } from '../../engine/backends/native-addon';
import { METHODS, Method, methodConfig } from '../../engine/train/presets';
import { Rng } from '../../engine/util/rng';
import { baseCheckpointArgs, BENCH_SRC, CACHE, ROOT } from './common';
import type { TrainChildRequest, TrainChildResult } from './train-bench-child';

interface Options {
  model?: string;
  steps: number;
  quick: boolean;
  methods: Method[];
  torch: boolean;
  profile: boolean;
  batch: number;
  seqLen: number;
  torchThreads: string;
  backends: TrainChildRequest['backend'][];
  out: string;
}

const DEFAULT_METHODS: Method[] = ['lora', 'difflora-64', 'difflora-32'];
const LR = 1e-4;
const MAX_GRAD_NORM = 1;
const SEED = 0;

function defaultBackends(): Options['backends'] {
  try {
    loadNativeAddon();
    return ['native', 'wasm'];
  } catch {
    return ['wasm'];
  }
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    steps: 20,
    quick: false,
    methods: DEFAULT_METHODS,
    torch: true,
    profile: true,
    batch: 8,
    seqLen: 128,
    torchThreads: '1:1,2:2',
    backends: defaultBackends(),
    out: path.join(CACHE, 'train-results.json'),
  };
  let steps: number | undefined, profile: boolean | undefined;
  const int = (flag: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--model':
        o.model = path.resolve(val());
        break;
      case '--steps':
        steps = int(a, val(), 1);
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--methods': {
        const list = val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const m of list)
          if (!(METHODS as readonly string[]).includes(m)) throw new Error(`unknown method '${m}' (${METHODS.join(', ')})`);
        if (list.length === 0) throw new Error('--methods is empty');
        o.methods = list as Method[];
        break;
      }
      case '--no-torch':
        o.torch = false;
        break;
      case '--profile':
        profile = true;
        break;
      case '--no-profile':
        profile = false;
        break;
      case '--batch':
        o.batch = int(a, val(), 1);
        break;
      case '--seq-len':
        o.seqLen = int(a, val(), 2);
        break;
      case '--torch-threads':
        o.torchThreads = val();
        break;
      case '--backends':
        o.backends = val()
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean) as Options['backends'];
        break;
      case '--out':
        o.out = path.resolve(val());
        break;
      case '-h':
      case '--help': {
        const src = fs.readFileSync(__filename, 'utf8');
        const start = src.indexOf('/**');
        process.stdout.write(`${src.slice(start, src.indexOf('*/', start) + 2)}\n`);
        return process.exit(0);
      }
      default:
        throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  o.steps = steps ?? (o.quick ? 3 : 20);
  o.profile = profile ?? !o.quick;
  return o;
}

// ---------------------------------------------------------------------------------------------- model

const PY = process.env.DIFFLORA_PYTHON ?? 'python3';
const TORCH_PY = process.env.DIFFLORA_TORCH_PYTHON ?? '/usr/bin/python3';
const MEDIA_MODEL = path.join(ROOT, 'media', 'default-model');
const RANDOM_DEFAULT = path.join(CACHE, 'default-shape-2m');
/** The embedded default model's shape (scripts/build-default-model.sh, pretrain-command.ts). */
const DEFAULT_DIMS = {
  hidden_size: 192,
  num_hidden_layers: 4,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  intermediate_size: 512,
  vocab_size: 2048,
  tie_word_embeddings: true,
};

function readJson<T = Record<string, unknown>>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[], what: string): void {
  process.stderr.write(`$ ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function resolveModel(o: Options): { dir: string; source: string } {
  if (o.model) return { dir: o.model, source: 'given' };
  if (fs.existsSync(path.join(MEDIA_MODEL, 'config.json'))) return { dir: MEDIA_MODEL, source: 'embedded default (media/default-model)' };
  const cfg = readJson(path.join(RANDOM_DEFAULT, 'config.json'));
  const fresh =
    cfg && fs.existsSync(path.join(RANDOM_DEFAULT, 'model.safetensors')) && Object.entries(DEFAULT_DIMS).every(([k, v]) => cfg[k] === v);
  if (!fresh) {
    const d = DEFAULT_DIMS;
    run(PY, baseCheckpointArgs(RANDOM_DEFAULT, d, true), 'make_checkpoint.py base');
    // As the default model: 2048 positions (make_checkpoint.py writes 128).
    const file = path.join(RANDOM_DEFAULT, 'config.json');
    const c = readJson(file) ?? {};
    c.max_position_embeddings = 2048;
    fs.writeFileSync(file, JSON.stringify(c, null, 2) + '\n');
  }
  return { dir: RANDOM_DEFAULT, source: 'random weights, default-model shape (media/default-model not found)' };
}

/** B rows of T token ids, uniform over the vocabulary, seeded (the same for every method and for torch). */
function randomIds(B: number, T: number, vocab: number): number[][] {
  const rng = new Rng(20240607);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * vocab)));
}

// ---------------------------------------------------------------------------------------------- runs

interface TorchTrainResult {
  method: string;
  torch_version: string;
  blas: string;
  trainable_params: number;
  best: string;
  median_ms: number;
  tokens_per_s: number;
  per_setting: Record<string, { median_ms: number; cpu_share: number; all_ms: number[] }>;
  loss_step0: number;
  base_loss: number;
  peak_rss_mb: number;
}

interface MethodRow {
  method: Method;
  backend: string;
  engine: TrainChildResult;
  torch?: TorchTrainResult | { status: 'error'; message: string };
  ratio?: number;
  loss_step0_diff?: number;
}

function runEngine(
  method: Method,
  backend: TrainChildRequest['backend'],
  modelDir: string,
  dataFile: string,
  o: Options,
  tmp: string,
): TrainChildResult {
  const resultFile = path.join(tmp, `engine-${method}-${backend}.json`);
  const request: TrainChildRequest = {
    method,
    modelDir,
    backend,
    dataFile,
    steps: o.steps,
    warmup: 1,
    lr: LR,
    maxGradNorm: MAX_GRAD_NORM,
    seed: SEED,
    profile: o.profile,
    runDir: path.join(tmp, `run-${method}-${backend}`),
    resultFile,
  };
  const reqFile = path.join(tmp, `req-${method}-${backend}.json`);
  fs.writeFileSync(reqFile, JSON.stringify(request, null, 2));
  process.stderr.write(`\n== engine (${backend}): ${method}\n`);
  const r = spawnSync(process.execPath, [path.join(__dirname, 'train-bench-child.js'), reqFile], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const res = readJson<TrainChildResult>(resultFile);
  if (!res)
    return { method, status: 'error', message: `child exited ${r.status ?? r.signal} without a result`, peak_rss_mb: NaN, wall_s: NaN };
  if (r.status !== 0 && res.status === 'ok') {
    res.status = 'error';
    res.message = `child exited ${r.status ?? r.signal}`;
  }
  return res;
}

function runTorch(method: Method, modelDir: string, dataFile: string, o: Options, tmp: string): MethodRow['torch'] {
  const out = path.join(tmp, `torch-${method}.json`);
  const args = [
    path.join(BENCH_SRC, 'torch_train_peer.py'),
    '--model',
    modelDir,
    '--data',
    dataFile,
    '--method',
    method,
    '--adapter-config',
    JSON.stringify(methodConfig(method, {})),
    '--steps',
    String(o.steps),
    '--warmup',
    '1',
    '--threads',
    o.torchThreads,
    '--lr',
    String(LR),
    '--max-grad-norm',
    String(MAX_GRAD_NORM),
    '--seed',
    String(SEED),
    '--out',
    out,
  ];
  process.stderr.write(`== torch peer: ${method}\n`);
  const r = spawnSync(TORCH_PY, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const res = r.status === 0 ? readJson<TorchTrainResult>(out) : undefined;
  if (!res)
    return {
      status: 'error',
      message: r.error?.message ?? `torch_train_peer.py exited ${r.status} (is python3-torch installed for ${TORCH_PY}?)`,
    };
  return res;
}

// ---------------------------------------------------------------------------------------------- report

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function fmt(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

function isTorchOk(t: MethodRow['torch']): t is TorchTrainResult {
  return !!t && !('status' in t);
}

function table(rows: MethodRow[]): string {
  const head = [
    'method',
    'backend',
    'params',
    'engine ms/step',
    'engine tok/s',
    'torch ms/step',
    'torch tok/s',
    'torch thr',
    'engine/torch',
    'engine RSS MB',
    'torch RSS MB',
    'loss0 engine',
    'loss0 torch',
  ];
  const lines = rows.map((r) => {
    const e = r.engine,
      t = isTorchOk(r.torch) ? r.torch : undefined;
    const ok = e.status === 'ok';
    return [
      r.method,
      r.backend,
      ok ? String(e.trainable_params) : e.status,
      ok ? fmt(e.median_ms, 1) : '-',
      ok ? fmt(e.tokens_per_s) : '-',
      t ? fmt(t.median_ms, 1) : r.torch ? 'error' : '-',
      t ? fmt(t.tokens_per_s) : '-',
      t ? t.best : '-',
      r.ratio !== undefined ? `${r.ratio.toFixed(3)}x` : '-',
      fmt(e.peak_rss_mb),
      t ? fmt(t.peak_rss_mb) : '-',
      fmt(e.loss_step0, 5),
      t ? fmt(t.loss_step0, 5) : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], i > 1)).join('  ');
  return [row(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row)].join('\n');
}

/** What dominates the engine's step, from the profiles (or says there is none). */
function note(rows: MethodRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const e = r.engine,
      p = e.profile;
    if (!p || !e.median_ms) continue;
    const kernels = p.byKernel
      .slice(0, 5)
      .map((k) => `${k.kernel} ${(k.share * 100).toFixed(0)}%`)
      .join(', ');
    const shape = p.byShape[0];
    const fwd =
      e.forward_ms !== undefined
        ? `forward+loss ${((e.forward_ms / e.median_ms) * 100).toFixed(0)}% of the step, backward+AdamW the rest; `
        : '';
    out.push(
      `note: ${r.method} on ${r.backend}: ${fwd}kernels ${((p.kernel_ms / p.wall_ms) * 100).toFixed(0)}% of the profiled step's wall time; top kernels ${kernels}` +
        (shape ? `; costliest (kernel, inputs): ${shape.kernel} ${(shape.share * 100).toFixed(0)}% in ${shape.calls} calls` : ''),
    );
  }
  if (out.length === 0)
    out.push("note: no profile taken (run without --quick, or with --profile, to see what dominates the engine's step)");
  return out;
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const model = resolveModel(o);
  const cfg = readJson(path.join(model.dir, 'config.json'));
  if (!cfg) throw new Error(`${model.dir}: no config.json`);
  const vocab = Number(cfg.vocab_size);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-train-bench-'));
  const dataFile = path.join(tmp, 'ids.json');
  fs.writeFileSync(dataFile, JSON.stringify({ ids: randomIds(o.batch, o.seqLen, vocab) }));
  const load = os.loadavg();
  process.stderr.write(
    `model ${model.dir} (${model.source}): hidden ${cfg.hidden_size}, ${cfg.num_hidden_layers} layers, ` +
      `${cfg.num_attention_heads}/${cfg.num_key_value_heads} heads, vocab ${vocab}; batch ${o.batch} x ${o.seqLen}, ${o.steps} timed steps after 1 warm-up; ` +
      `load average ${load.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs\n`,
  );

  const rows: MethodRow[] = [];
  try {
    for (const method of o.methods) {
      const engines = o.backends.map((backend) => ({ backend, engine: runEngine(method, backend, model.dir, dataFile, o, tmp) }));
      const torch = o.torch ? runTorch(method, model.dir, dataFile, o, tmp) : undefined;
      for (const { backend, engine } of engines) {
        const row: MethodRow = { method, backend, engine, torch };
        if (isTorchOk(torch)) {
          if (engine.status === 'ok' && engine.tokens_per_s) row.ratio = engine.tokens_per_s / torch.tokens_per_s;
          if (engine.loss_step0 !== undefined) row.loss_step0_diff = Math.abs(engine.loss_step0 - torch.loss_step0);
          if (engine.trainable_params !== undefined && engine.trainable_params !== torch.trainable_params) {
            process.stderr.write(
              `WARNING: ${method}: ${engine.trainable_params} trainable parameters in the engine, ${torch.trainable_params} in torch\n`,
            );
          }
        }
        rows.push(row);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const lines = [
    `Training: ${path.relative(ROOT, model.dir) || model.dir} (${model.source}); batch ${o.batch} x ${o.seqLen} tokens, ` +
      `${o.steps} timed steps (median) after 1 warm-up; engine on ${o.backends.join(', ')}, torch ${rows.map((r) => (isTorchOk(r.torch) ? r.torch.torch_version : '')).find(Boolean) ?? '(not run)'}`,
    table(rows),
  ];
  for (const r of rows) {
    const who = `${r.method} on ${r.backend}`;
    // torch ran once per method: its lines go with the method's first row only.
    const torchLines = rows.find((x) => x.method === r.method) === r;
    if (r.engine.status !== 'ok') lines.push(`${who}: engine ${r.engine.status}: ${r.engine.message}`);
    if (torchLines && r.torch && !isTorchOk(r.torch)) lines.push(`${r.method}: torch error: ${r.torch.message}`);
    if (r.loss_step0_diff !== undefined) {
      const t = r.torch as TorchTrainResult;
      const rel = r.loss_step0_diff / Math.abs(t.loss_step0);
      lines.push(
        `${who}: step-0 loss engine ${fmt(r.engine.loss_step0, 6)} vs torch ${fmt(t.loss_step0, 6)} (|diff| ${r.loss_step0_diff.toExponential(2)}` +
          `${rel > 1e-4 ? ', MISMATCH' : ''})` +
          (torchLines
            ? `; base model without adapter (torch) ${fmt(t.base_loss, 6)}; torch per thread setting: ` +
              Object.entries(t.per_setting)
                .map(([k, v]) => `${k} ${v.median_ms.toFixed(1)} ms`)
                .join(', ')
            : ''),
      );
    }
    if (r.engine.status === 'ok' && (r.engine.cpu_share ?? 1) < 0.8) {
      lines.push(
        `${who}: engine cpu/wall ${fmt(r.engine.cpu_share, 2)} per step (one thread): the machine was busy, the engine's figure is pessimistic`,
      );
    }
    if (torchLines && isTorchOk(r.torch)) {
      const best = r.torch.per_setting[r.torch.best];
      const threads = Number(/^t(\d+)/.exec(r.torch.best)?.[1] ?? 1);
      if (best && best.cpu_share / threads < 0.8) {
        lines.push(
          `${r.method}: torch cpu/wall ${fmt(best.cpu_share, 2)} per step at ${r.torch.best}: the machine was busy, torch's figure is pessimistic`,
        );
      }
    }
  }
  lines.push(...note(rows));
  process.stdout.write(`\n${lines.join('\n')}\n`);

  const json = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, loadavg_at_start: load, node: process.version },
    model: { dir: model.dir, source: model.source, config: cfg },
    batch: o.batch,
    seq_len: o.seqLen,
    steps: o.steps,
    warmup: 1,
    lr: LR,
    max_grad_norm: MAX_GRAD_NORM,
    torch_threads: o.torchThreads,
    results: rows,
    notes: note(rows),
  };
  fs.writeFileSync(o.out, JSON.stringify(json, null, 2));
  process.stdout.write(`results: ${o.out}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`train-bench: ${(e as Error).message}\n`);
  process.exit(1);
}
