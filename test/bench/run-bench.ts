/**
 * `npm run bench`: the engine's speed and memory against PyTorch on the CPU, measured in the same run.
 *
 *   node out/test/bench/run-bench.js [--quick] [--models small,1b] [--backends native,wasm,cpu,webgpu]
 *                                    [--lengths 128,512] [--runs N] [--load-rounds N] [--no-torch] [--no-profile]
 *
 * Models (random weights, written once into .cache/bench/ and reused):
 *   small  ~4M parameters (hidden 256, 4 layers, 8 heads / 2 KV heads, ffn 704, vocab 2048, untied, F32),
 *          plus a DiffLoRA adapter (authors' format, both terms, r 8, fixed lambda 0.1);
 *   1b     Llama-3.2-1B-shaped (hidden 2048, 16 layers, 32/8 heads, ffn 8192, vocab 128256, llama3 RoPE,
 *          tied), BF16 safetensors (2.47 GB).
 * Every (model, backend) runs in its own child process (bench-child.ts), one at a time, so peak RSS
 * figures do not mix and a wasm abort cannot spoil later configurations. The PyTorch peer
 * (torch_peer.py, Debian's /usr/bin/python3) runs the same forward on the same files right after.
 * Generation: the base model decodes tokens (small 32, 1B 8) one at a time through the KV
 * cache after a 128-token prompt, on each side; the "Generation" table gives ms per token.
 * Load: the load column is one process each, and on a VM the first process to touch GBs after an idle
 * spell also pays the host's page provisioning; so for the 1B shape the load is measured again in
 * --load-rounds (default 3) rounds of load-only processes, ours and torch's alternating (ABBA), and the
 * "Load" table gives their medians.
 * Figures only, no thresholds. Results: stdout table + .cache/bench/results.json.
 * Threads: native uses its default (BLAS threads chosen per GEMM size). On a shared or noisy machine run
 * `DIFFLORA_THREADS=1 npm run bench`: with one thread, our CPU time is compared with torch's t1b1 CPU
 * time (a table of its own), which holds however busy the machine is.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { availableBackends, releaseWebgpu } from '../../engine/backend';
import {
  BENCH_SRC,
  BenchBackend,
  CACHE,
  ChildRequest,
  ChildResult,
  DECODE_PROMPT,
  DecodeTiming,
  Measurement,
  median,
  oneThread,
  ProfileResult,
  baseCheckpointArgs,
  MAKE_CKPT,
  PY,
  readJson,
  run,
  TORCH_PY,
} from './common';
import { LLAMA_1B_CONFIG, LLAMA_1B_DIR, llama1b } from '../helpers/llama-1b';

// ---------------------------------------------------------------------------------------------- options

interface Options {
  quick: boolean;
  models: string[];
  backends?: BenchBackend[];
  lengths: number[];
  runs?: number;
  /** Rounds of alternating load-only processes (ours, torch) per model; undefined = the model's default. */
  loadRounds?: number;
  torch: boolean;
  profile: boolean;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    models: ['small', '1b'],
    lengths: [128, 512],
    torch: true,
    profile: true,
    out: path.join(CACHE, 'results.json'),
  };
  let modelsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const list = (): string[] =>
      val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--models':
        o.models = list();
        modelsGiven = true;
        break;
      case '--backends':
        o.backends = list() as BenchBackend[];
        break;
      case '--lengths':
        o.lengths = list().map(Number);
        break;
      case '--runs':
        o.runs = Number(val());
        break;
      case '--load-rounds':
        o.loadRounds = Number(val());
        if (!Number.isInteger(o.loadRounds) || o.loadRounds < 0) throw new Error(`--load-rounds: a whole number >= 0, not ${o.loadRounds}`);
        break;
      case '--no-torch':
        o.torch = false;
        break;
      case '--no-profile':
        o.profile = false;
        break;
      case '--out':
        o.out = path.resolve(val());
        break;
      case '-h':
      case '--help':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0] + '*/\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  for (const m of o.models) if (!MODELS[m]) throw new Error(`unknown model '${m}' (small, 1b)`);
  if (o.quick) {
    if (!modelsGiven) o.models = ['small'];
    o.profile = false;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------- models

interface ModelSpec {
  key: string;
  label: string;
  dir: string;
  adapterDir?: string;
  /** Produces the folder(s); called only when they are missing or stale. */
  make: () => void;
  ready: () => boolean;
  /** Backends this model is never run on, with the reason shown in the table. */
  skip: Partial<Record<BenchBackend, string>>;
  /** Backends on which only the load (time, RSS) is measured, with the reason. */
  loadOnly: Partial<Record<BenchBackend, string>>;
  runs: (T: number, backend: BenchBackend | 'torch', quick: boolean) => number;
  /** Untimed warm-up runs before the timed ones at length T. */
  warmup: (T: number, backend: BenchBackend, lengths: number[]) => number;
  /** The child skips it on a software (SwiftShader) GPU adapter. */
  tooBigForSoftwareGpu: boolean;
  /** Default rounds of alternating load-only processes (0: the load is too short to matter). */
  loadRounds: number;
  /** The length at which one forward and one capture are profiled by kernel. */
  profileLength: (lengths: number[]) => number;
  /** Tokens decoded one at a time after the prompt (generation), base model, ours and torch's. */
  decodeSteps: number;
}

function configMatches(dir: string, want: Record<string, unknown>): boolean {
  const cfg = readJson(path.join(dir, 'config.json'));
  if (!cfg || !fs.existsSync(path.join(dir, 'model.safetensors'))) return false;
  return Object.entries(want).every(([k, v]) => sameJson(cfg[k], v));
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a),
    kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const SMALL_DIMS = {
  hidden_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  intermediate_size: 704,
  vocab_size: 2048,
  tie_word_embeddings: false,
};
const SMALL_DIR = path.join(CACHE, 'small-4m');
const SMALL_DIFF_DIR = path.join(CACHE, 'small-4m-difflora-r8');

const MODELS: Record<string, ModelSpec> = {
  small: {
    key: 'small',
    label: 'small 4M',
    dir: SMALL_DIR,
    adapterDir: SMALL_DIFF_DIR,
    ready: () => configMatches(SMALL_DIR, SMALL_DIMS) && fs.existsSync(path.join(SMALL_DIFF_DIR, 'model.safetensors')),
    make: () => {
      const d = SMALL_DIMS;
      run(PY, baseCheckpointArgs(SMALL_DIR, d, false), 'make_checkpoint.py base');
      // make_checkpoint.py writes max_position_embeddings 128; the bench runs 512 tokens.
      const cfgFile = path.join(SMALL_DIR, 'config.json');
      const cfg = readJson(cfgFile) ?? {};
      cfg.max_position_embeddings = 4096;
      fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2) + '\n');
      fs.rmSync(SMALL_DIFF_DIR, { recursive: true, force: true });
      run(
        PY,
        [
          MAKE_CKPT,
          'difflora',
          '--base',
          SMALL_DIR,
          '--out',
          SMALL_DIFF_DIR,
          '--seed',
          '2',
          '--r',
          '8',
          '--alpha',
          '16',
          '--lambda',
          '0.1',
        ],
        'make_checkpoint.py difflora',
      );
    },
    skip: {},
    loadOnly: {},
    // The pure-JS backend needs ~10 s (128 tokens) to ~45 s (512) per forward of this model.
    runs: (T, backend, quick) => (quick ? 3 : backend === 'cpu' ? (T <= 128 ? 3 : 1) : 7),
    // Five warm-ups and at least a second of them (bench-child): V8 optimises tfjs's op code over the
    // first forwards (at T=128, 23 ms after one warm-up, 17 ms after ten); a steady state is what a user
    // running many inspections sees.
    warmup: (T, backend, lengths) => (backend === 'cpu' ? (T !== Math.min(...lengths) ? 0 : 1) : 5),
    tooBigForSoftwareGpu: false,
    loadRounds: 0,
    profileLength: (lengths) => Math.max(...lengths),
    decodeSteps: 32,
  },
  '1b': {
    key: '1b',
    label: 'Llama-3.2-1B shape',
    dir: LLAMA_1B_DIR,
    ready: () => configMatches(LLAMA_1B_DIR, { ...LLAMA_1B_CONFIG, torch_dtype: 'bfloat16' }),
    make: () => {
      llama1b(PY);
    },
    skip: {},
    loadOnly: { cpu: 'load only: a forward on the pure-JS backend would take many minutes' },
    // Five at T=128: run-to-run spread is +-10% on a shared 2-core machine, and ours and torch's sit within it.
    runs: (T, _backend, quick) => (quick ? 1 : T <= 128 ? 5 : 2),
    warmup: () => 1,
    tooBigForSoftwareGpu: true,
    loadRounds: 3,
    profileLength: (lengths) => Math.min(...lengths),
    decodeSteps: 8,
  },
};

// ---------------------------------------------------------------------------------------------- torch peer

interface TorchRow {
  T: number;
  mode: 'forward' | 'capture';
  threads: number;
  blas_threads: number;
  setting: string;
  runs: number;
  median_ms: number;
  tokens_per_s: number;
  cpu_median_ms: number;
  cpu_share: number;
  per_thread_ms: Record<string, number[]>;
  per_thread_cpu_ms?: Record<string, number[]>;
}
interface TorchResult {
  torch_version: string;
  blas: string;
  load_s: number;
  peak_rss_mb: number;
  results: TorchRow[];
  decode?: DecodeTiming & { setting: string; per_thread_ms: Record<string, number[]> };
}
interface TorchRun {
  modelKey: string;
  variant: 'base' | 'difflora';
  status: 'ok' | 'error';
  message?: string;
  result?: TorchResult;
  wall_s: number;
}

/** The torch peer on `spec`; `loadRound` set: load only (no lengths), one of the alternating load rounds. */
function runTorch(spec: ModelSpec, variant: 'base' | 'difflora', opts: Options, tmp: string, loadRound?: number): TorchRun {
  const lengths = loadRound === undefined ? opts.lengths : [];
  const out = path.join(tmp, `torch-${spec.key}-${variant}${loadRound === undefined ? '' : `-load${loadRound}`}.json`);
  const runs = lengths.map((T) => `${T}:${opts.runs ?? spec.runs(T, 'torch', opts.quick)}`).join(',');
  const args = [
    path.join(BENCH_SRC, 'torch_peer.py'),
    '--model',
    spec.dir,
    '--lengths',
    lengths.join(','),
    '--runs',
    runs,
    '--threads',
    '1:1,1:2,2:2',
    '--select',
    spec.key === '1b' ? 'probe' : 'full',
    '--out',
    out,
  ];
  if (variant === 'difflora' && spec.adapterDir) args.push('--adapter', spec.adapterDir);
  if (variant === 'base' && loadRound === undefined) args.push('--decode', String(spec.decodeSteps));
  process.stderr.write(`\n== torch peer: ${spec.label} ${variant}${loadRound === undefined ? '' : `, load round ${loadRound + 1}`}\n`);
  const t = performance.now();
  const r = spawnSync(TORCH_PY, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const wall_s = (performance.now() - t) / 1000;
  if (r.status !== 0 || !fs.existsSync(out)) {
    return {
      modelKey: spec.key,
      variant,
      status: 'error',
      message: r.error?.message ?? `torch_peer.py exited ${r.status} (is python3-torch installed for ${TORCH_PY}?)`,
      wall_s,
    };
  }
  return { modelKey: spec.key, variant, status: 'ok', result: readJson<TorchResult>(out), wall_s };
}

// ---------------------------------------------------------------------------------------------- children

/** Our engine on `spec` in a child process; `loadRound` set: load only, one of the alternating load rounds. */
function runChild(spec: ModelSpec, backend: BenchBackend, opts: Options, tmp: string, loadRound?: number): ChildResult {
  const tag = `${spec.key}-${backend}${loadRound === undefined ? '' : `-load${loadRound}`}`;
  const resultFile = path.join(tmp, `child-${tag}.json`);
  const loadOnly = loadRound !== undefined || !!spec.loadOnly[backend];
  const profileT =
    !loadOnly && opts.profile && (backend === 'native' || (backend === 'wasm' && spec.key === 'small'))
      ? spec.profileLength(opts.lengths)
      : 0;
  const req: ChildRequest = {
    modelKey: spec.key,
    modelDir: spec.dir,
    adapterDir: loadOnly ? undefined : spec.adapterDir,
    backend,
    lengths: loadOnly ? [] : opts.lengths,
    runs: Object.fromEntries(opts.lengths.map((T) => [T, opts.runs ?? spec.runs(T, backend, opts.quick)])),
    warmup: Object.fromEntries(opts.lengths.map((T) => [T, spec.warmup(T, backend, opts.lengths)])),
    profileT,
    skipOnSoftwareAdapter: spec.tooBigForSoftwareGpu,
    softwareAdapterLimits: { maxT: 128, runs: 1 },
    decodeSteps: loadOnly ? 0 : spec.decodeSteps,
    resultFile,
  };
  const reqFile = path.join(tmp, `req-${tag}.json`);
  fs.writeFileSync(reqFile, JSON.stringify(req, null, 2));
  process.stderr.write(`\n== ${spec.label} on ${backend}${loadRound === undefined ? '' : `, load round ${loadRound + 1}`}\n`);
  const t = performance.now();
  const r = spawnSync(process.execPath, [path.join(__dirname, 'bench-child.js'), reqFile], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 3 * 3600 * 1000,
  });
  const res = readJson<ChildResult>(resultFile);
  const died = r.status !== 0 || r.signal;
  const how = `child process ${r.signal ? `killed by ${r.signal}` : `exited ${r.status}`}${r.error ? ` (${r.error.message})` : ''}`;
  if (res && !died) return res;
  if (res)
    return {
      ...res,
      status: 'error',
      message: `${how} after ${res.measurements.length} measurement(s)${res.message ? `; ${res.message}` : ''}`,
    };
  return {
    modelKey: spec.key,
    backend,
    status: 'error',
    peak_rss_mb: NaN,
    measurements: [],
    profiles: [],
    wall_s: (performance.now() - t) / 1000,
    message: `${how} without a result`,
  };
}

// ---------------------------------------------------------------------------------------------- load rounds

interface LoadRounds {
  modelKey: string;
  backend: BenchBackend;
  ours: { load_s: number; peak_rss_mb: number }[];
  torch: { load_s: number; peak_rss_mb: number }[];
  failures: string[];
}

/**
 * Load-only processes, ours and torch's alternating ABBA (torch first in even rounds), for every backend
 * that loaded the model in the main run (not the pure-JS one: minutes): whichever process runs first after
 * an idle spell pays the VM's page provisioning, so one load each would measure the order.
 */
function loadRounds(specs: ModelSpec[], backends: BenchBackend[], children: ChildResult[], opts: Options, tmp: string): LoadRounds[] {
  const out: LoadRounds[] = [];
  for (const s of specs) {
    const rounds = opts.loadRounds ?? s.loadRounds;
    for (const b of backends) {
      const loaded = children.find((c) => c.modelKey === s.key && c.backend === b)?.status === 'ok';
      if (rounds === 0 || b === 'cpu' || !loaded) continue;
      const r: LoadRounds = { modelKey: s.key, backend: b, ours: [], torch: [], failures: [] };
      for (let i = 0; i < rounds; i++) {
        const ours = () => {
          const c = runChild(s, b, opts, tmp, i);
          if (c.status === 'ok' && c.load_s !== undefined) r.ours.push({ load_s: c.load_s, peak_rss_mb: c.peak_rss_mb });
          else r.failures.push(`${b} round ${i + 1}: ${c.status} ${c.message ?? ''}`);
        };
        const peer = () => {
          const t = runTorch(s, 'base', opts, tmp, i);
          if (t.result) r.torch.push({ load_s: t.result.load_s, peak_rss_mb: t.result.peak_rss_mb });
          else r.failures.push(`torch round ${i + 1}: ${t.message ?? ''}`);
        };
        for (const step of i % 2 === 0 ? [peer, ours] : [ours, peer]) step();
      }
      out.push(r);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- output

function fmt(x: number | undefined, digits = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return `${x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3)}x`;
}

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** Alignment for table(): `labels` left-aligned columns, then numbers (right-aligned) up to `width`. */
function labelsThenNumbers(labels: number, width: number): boolean[] {
  return Array.from({ length: width }, (_, i) => i >= labels);
}

function torchRow(torch: TorchRun[], modelKey: string, variant: string, T: number, mode: 'forward' | 'capture'): TorchRow | undefined {
  return torch.find((t) => t.modelKey === modelKey && t.variant === variant)?.result?.results.find((r) => r.T === T && r.mode === mode);
}

function printProfiles(children: ChildResult[]): void {
  for (const c of children) {
    for (const p of c.profiles as ProfileResult[]) {
      console.log(
        `\nProfile: ${c.modelKey} ${p.variant} on ${c.backend}, one ${p.mode} at T=${p.T} ` +
          `(tf.profile, per-kernel wall time; kernels ${fmt(p.kernel_ms)} ms of ${fmt(p.wall_ms)} ms wall, profiling adds overhead)`,
      );
      console.log(
        table(
          ['kernel', 'ms', 'share', 'calls'],
          p.byKernel.slice(0, 10).map((k) => [k.kernel, fmt(k.ms, 1), `${(k.share * 100).toFixed(1)}%`, String(k.calls)]),
          labelsThenNumbers(1, 4),
        ),
      );
      console.log('  costliest kernel + input shapes:');
      for (const k of p.byShape.slice(0, 8))
        console.log(`    ${fmt(k.ms, 1).padStart(8)} ms ${(k.share * 100).toFixed(1).padStart(5)}%  x${k.calls}  ${k.kernel}`);
    }
  }
}

function printDecodes(children: ChildResult[], torch: TorchRun[]): void {
  const rows = children
    .filter((c) => c.decode)
    .map((c) => {
      const d = c.decode as DecodeTiming;
      const t = torch.find((x) => x.modelKey === c.modelKey && x.variant === 'base')?.result?.decode;
      return [
        MODELS[c.modelKey].label,
        c.backend,
        String(d.steps),
        fmt(d.median_ms, 1),
        fmt(1000 / d.median_ms, 1),
        t ? `${fmt(t.median_ms, 1)} (${t.setting})` : '-',
        ratio(t && t.median_ms / d.median_ms),
      ];
    });
  if (!rows.length) return;
  console.log(
    `\nGeneration (base model, KV cache, one token per forward after a ${DECODE_PROMPT}-token prompt; medians per token; ours/torch > 1: we are faster):`,
  );
  console.log(table(['model', 'backend', 'tokens', 'ms/token', 'tok/s', 'torch ms/token', 'ours/torch'], rows, labelsThenNumbers(2, 7)));
}

function printLoads(loads: LoadRounds[]): void {
  if (!loads.length) return;
  console.log(
    '\nLoad (load-only processes, ours and torch alternating ABBA; medians, all rounds in brackets; ours/torch > 1: we load faster):',
  );
  const all = (xs: number[]) => xs.map((x) => fmt(x, 2)).join(' ');
  const rows = loads.map((l) => {
    const ours = median(l.ours.map((x) => x.load_s));
    const peer = median(l.torch.map((x) => x.load_s));
    return [
      MODELS[l.modelKey].label,
      l.backend,
      `${fmt(ours, 2)} [${all(l.ours.map((x) => x.load_s))}]`,
      `${fmt(peer, 2)} [${all(l.torch.map((x) => x.load_s))}]`,
      ratio(peer / ours),
      fmt(median(l.ours.map((x) => x.peak_rss_mb))),
      fmt(median(l.torch.map((x) => x.peak_rss_mb))),
    ];
  });
  console.log(
    table(
      ['model', 'backend', 'ours load s', 'torch load s', 'ours/torch', 'ours peak RSS MB', 'torch peak RSS MB'],
      rows,
      labelsThenNumbers(2, 7),
    ),
  );
  for (const l of loads) for (const f of l.failures) console.log(`  - ${MODELS[l.modelKey].label}: ${f}`);
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model,
    cores: cpus.length,
    mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    vk_icd: process.env.VK_ICD_FILENAMES ?? null,
  };
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const startMachine = machine();
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-bench-'));

  const available = (await availableBackends()) as BenchBackend[];
  releaseWebgpu();
  let backends = opts.backends ?? available;
  if (opts.quick && !opts.backends) backends = backends.filter((b) => b !== 'cpu');
  process.stderr.write(
    `backends available: ${available.join(', ')}; benchmarking: ${backends.join(', ')}` +
      `${available.includes('webgpu') ? '' : ' (webgpu: no adapter; on a CPU-only machine set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)'}\n`,
  );

  const specs = opts.models.map((m) => MODELS[m]);
  const prep: Record<string, number> = {};
  for (const s of specs) {
    if (s.ready()) continue;
    process.stderr.write(`\n== writing the ${s.label} checkpoint (once) into ${s.dir}\n`);
    const t = performance.now();
    s.make();
    prep[s.key] = (performance.now() - t) / 1000;
    if (!s.ready()) throw new Error(`${s.dir}: checkpoint still incomplete after writing it`);
  }

  const children: ChildResult[] = [];
  const torch: TorchRun[] = [];
  for (const s of specs) {
    for (const b of backends) {
      const why = s.skip[b];
      if (why) {
        children.push({
          modelKey: s.key,
          backend: b,
          status: 'skipped',
          message: why,
          peak_rss_mb: NaN,
          measurements: [],
          profiles: [],
          wall_s: 0,
        });
        continue;
      }
      children.push(runChild(s, b, opts, tmp));
    }
    if (opts.torch) {
      torch.push(runTorch(s, 'base', opts, tmp));
      if (s.adapterDir) torch.push(runTorch(s, 'difflora', opts, tmp));
    }
  }
  const loads = opts.torch ? loadRounds(specs, backends, children, opts, tmp) : [];

  // ---- the table
  const header = [
    'model',
    'variant',
    'backend',
    'T',
    'fwd tok/s',
    'torch tok/s',
    'fwd ours/torch',
    'capture ms',
    'torch capt ms',
    'capt ours/torch',
    'runs',
    'cpu/wall',
    'load s',
    'peak RSS MB',
  ];
  const right = labelsThenNumbers(3, header.length);
  let busy = false;
  /** cpu/wall of a one-thread process well below 1: it waited for a core (other load on the machine). */
  const share = (x: number, oneThread: boolean): string => {
    if (!Number.isFinite(x)) return '-';
    const flag = oneThread && x < 0.85;
    busy ||= flag;
    return `${x.toFixed(2)}${flag ? '*' : ''}`;
  };
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of specs) {
    for (const c of children.filter((x) => x.modelKey === s.key)) {
      if (c.status !== 'ok') {
        const label = c.status === 'refused' ? 'REFUSED' : c.status.toUpperCase();
        rows.push([s.label, '-', c.backend, '-', label, '', '', '', '', '', '', '', fmt(c.load_s, 2), fmt(c.peak_rss_mb)]);
        notes.push(`${s.label} / ${c.backend}: ${label}: ${c.message ?? ''}`);
        if (c.status !== 'error' || c.measurements.length === 0) continue;
      }
      const loadOnly = s.loadOnly[c.backend];
      if (c.status === 'ok' && loadOnly) {
        rows.push([s.label, '-', c.backend, '-', 'LOAD ONLY', '', '', '', '', '', '', '', fmt(c.load_s, 2), fmt(c.peak_rss_mb)]);
        notes.push(`${s.label} / ${c.backend}: ${loadOnly}`);
        continue;
      }
      for (const m of c.measurements as Measurement[]) {
        const tf = torchRow(torch, s.key, m.variant, m.T, 'forward');
        const tc = torchRow(torch, s.key, m.variant, m.T, 'capture');
        rows.push([
          s.label,
          m.variant,
          c.backend,
          String(m.T),
          fmt(m.forward.tokens_per_s),
          fmt(tf?.tokens_per_s),
          ratio(tf && m.forward.tokens_per_s / tf.tokens_per_s),
          fmt(m.capture.median_ms, 1),
          fmt(tc?.median_ms, 1),
          ratio(tc && tc.median_ms / m.capture.median_ms),
          String(m.forward.runs),
          share(m.forward.cpu_share, oneThread(c.backend, c.backend_detail)),
          fmt(c.load_s, 2),
          fmt(c.peak_rss_mb),
        ]);
        if (m.leaked_tensors)
          notes.push(`${s.label} / ${c.backend} / ${m.variant} T=${m.T}: ${m.leaked_tensors} tensors leaked over the runs`);
      }
    }
    for (const t of torch.filter((x) => x.modelKey === s.key)) {
      if (t.status !== 'ok' || !t.result) {
        rows.push([s.label, t.variant, 'torch', '-', 'ERROR', '', '', '', '', '', '', '', '', '']);
        notes.push(`${s.label} / torch / ${t.variant}: ${t.message}`);
        continue;
      }
      for (const T of opts.lengths) {
        const f = t.result.results.find((r) => r.T === T && r.mode === 'forward');
        const k = t.result.results.find((r) => r.T === T && r.mode === 'capture');
        if (!f) continue;
        rows.push([
          s.label,
          t.variant,
          `torch ${f.setting}${k && k.setting !== f.setting ? `/${k.setting}` : ''}`,
          String(T),
          fmt(f.tokens_per_s),
          '',
          '',
          fmt(k?.median_ms, 1),
          '',
          '',
          String(f.runs),
          share(f.cpu_share, f.threads === 1 && f.blas_threads === 1),
          fmt(t.result.load_s, 2),
          fmt(t.result.peak_rss_mb),
        ]);
      }
    }
  }

  const wall = (performance.now() - t0) / 1000;
  console.log(
    '\nDiffLoRA Lens benchmark: forward (all logits) and full attention capture (every layer and head, maps as Float32Arrays), batch 1.',
  );
  console.log('tok/s = T / median forward time; capture ms = median forward-with-capture time; ours/torch > 1 means we are faster;');
  console.log('cpu/wall = median CPU time / wall time of the forward runs (1.00 = one core fully busy).');
  console.log(
    `torch = PyTorch ${torch.find((t) => t.result)?.result?.torch_version ?? '?'} on the CPU (OpenBLAS), eager attention, the fastest of ` +
      'torch/OpenBLAS threads t1b1 (one thread, like wasm and native on <= 2 cores), t1b2, t2b2 (forward/capture setting in the torch rows);',
  );
  console.log(
    'runs = timed runs per median, after warm-ups (small model: 5 and >= 1 s; 1B shape: 1; cpu backend: 1, at the first length only).\n',
  );
  console.log(table(header, rows, right));
  if (busy) {
    notes.unshift(
      '* cpu/wall below 0.85 for a one-thread process: it waited for a core, the machine was busy with other work ' +
        'and the figure understates the speed (results.json has CPU-time medians too)',
    );
  }
  if (loads.length) notes.push('load s in this table: one process each, in run order; the Load table below alternates them');
  if (notes.length) {
    console.log('\nNotes:');
    for (const n of notes) console.log(`  - ${n}`);
  }
  printLoads(loads);
  printDecodes(children, torch);
  // ---- contention-proof comparison: CPU time of one-thread runs (wasm, native with 1 BLAS thread) vs torch t1b1
  const cpuRows: string[][] = [];
  for (const c of children.filter((x) => x.backend !== 'cpu' && oneThread(x.backend, x.backend_detail))) {
    for (const m of c.measurements) {
      const t1 = (mode: 'forward' | 'capture') => {
        const v = torchRow(torch, c.modelKey, m.variant, m.T, mode)?.per_thread_cpu_ms?.t1b1;
        return v && v.length ? median(v) : undefined;
      };
      const tf = t1('forward'),
        tc = t1('capture');
      cpuRows.push([
        MODELS[c.modelKey].label,
        m.variant,
        c.backend,
        String(m.T),
        fmt(m.forward.cpu_median_ms, 1),
        fmt(tf, 1),
        ratio(tf && tf / m.forward.cpu_median_ms),
        fmt(m.capture.cpu_median_ms, 1),
        fmt(tc, 1),
        ratio(tc && tc / m.capture.cpu_median_ms),
      ]);
    }
  }
  if (cpuRows.length) {
    console.log(
      '\nOne thread each, CPU time (robust to other load on the machine): ours vs torch with 1 torch + 1 OpenBLAS thread (t1b1); medians in ms.',
    );
    console.log(
      table(
        ['model', 'variant', 'backend', 'T', 'ours fwd', 'torch t1b1 fwd', 'ours/torch', 'ours capture', 'torch t1b1 capt', 'ours/torch'],
        cpuRows,
        labelsThenNumbers(3, 10),
      ),
    );
  }
  printProfiles(children);
  const endMachine = machine();
  console.log(
    `\nMachine: ${startMachine.cpu}, ${startMachine.cores} cores, ${startMachine.mem_gb} GiB, Node ${process.version}; ` +
      `load average at start ${(startMachine.loadavg as number[]).join(' ')}, at end ${(endMachine.loadavg as number[]).join(' ')}`,
  );
  console.log(
    `Total ${fmt(wall, 0)} s${
      Object.keys(prep).length
        ? ` (writing checkpoints: ${Object.entries(prep)
            .map(([k, v]) => `${k} ${fmt(v, 0)} s`)
            .join(', ')})`
        : ''
    }.`,
  );

  const json = {
    date: new Date().toISOString(),
    options: opts,
    machine: { start: startMachine, end: endMachine },
    backends_available: available,
    wall_s: wall,
    checkpoint_write_s: prep,
    models: Object.fromEntries(specs.map((s) => [s.key, { label: s.label, dir: s.dir, adapter: s.adapterDir }])),
    engine: children,
    torch,
    loads,
  };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  console.log(`Results: ${path.relative(process.cwd(), opts.out) || opts.out}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
