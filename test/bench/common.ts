/** Types and helpers shared by the benchmark's parent (run-bench.ts) and its child processes (bench-child.ts). */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { TextTokenizer } from '../../engine/model/tokenizer';

/** The repository root, from out/test/bench/*.js (compiled) or test/bench/*.ts. */
export const ROOT = path.resolve(__dirname, '..', '..', ...(path.basename(path.resolve(__dirname, '..', '..')) === 'out' ? ['..'] : []));
export const BENCH_SRC = path.join(ROOT, 'test', 'bench');
export const CACHE = process.env.DIFFLORA_BENCH_CACHE ?? path.join(ROOT, '.cache', 'bench');

export type BenchBackend = 'native' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';

/** What one child process measures: one model on one backend, base and (optionally) with an adapter. */
export interface ChildRequest {
  modelKey: string;
  modelDir: string;
  adapterDir?: string;
  backend: BenchBackend;
  lengths: number[];
  /** Timed runs per length, after warmup[T] untimed runs. No lengths: load only. */
  runs: Record<number, number>;
  warmup: Record<number, number>;
  /** Profile one forward by kernel at this length (0 = no profile). */
  profileT: number;
  /** Skip the model when the backend turns out to be a software GPU adapter (SwiftShader). */
  skipOnSoftwareAdapter: boolean;
  /** On a software GPU adapter (~100x slower than wasm): only lengths up to maxT, `runs` runs each. */
  softwareAdapterLimits: { maxT: number; runs: number };
  /** Generation: tokens decoded one at a time (KV cache) after a DECODE_PROMPT-token prompt; 0 = none. */
  decodeSteps: number;
  resultFile: string;
}

/** Decoding, timed token by token after a prompt of this many benchIds (the prefill is not timed). */
export const DECODE_PROMPT = 128;

export interface DecodeTiming {
  prompt: number;
  steps: number;
  /** Per decoded token, the first step included (it is not a warm-up: a user's generation has one too). */
  all_ms: number[];
  median_ms: number;
}

export interface Timing {
  runs: number;
  median_ms: number;
  min_ms: number;
  all_ms: number[];
  /** Median CPU time (user + system, all threads of the process) per run. */
  cpu_median_ms: number;
  /** Median of cpu/wall per run: well below 1 for a one-thread backend means the machine was busy. */
  cpu_share: number;
}

export interface Measurement {
  variant: 'base' | 'difflora';
  T: number;
  forward: Timing & { tokens_per_s: number };
  capture: Timing & { maps_mb: number; layers: number };
  /** tf.memory().numTensors grew across the runs: a leak in the forward pass. */
  leaked_tensors: number;
}

export interface KernelStat {
  kernel: string;
  ms: number;
  calls: number;
  share: number;
}

export interface ProfileResult {
  variant: 'base' | 'difflora';
  T: number;
  mode: 'forward' | 'capture';
  wall_ms: number;
  kernel_ms: number;
  byKernel: KernelStat[];
  /** The costliest (kernel, input shapes) pairs. */
  byShape: KernelStat[];
}

export interface ChildResult {
  modelKey: string;
  backend: BenchBackend;
  /** ok: measured; refused: the engine refused the model (e.g. wasm heap); unavailable: backend missing; skipped; error. */
  status: 'ok' | 'refused' | 'unavailable' | 'skipped' | 'error';
  message?: string;
  backend_detail?: string;
  load_s?: number;
  adapter_load_s?: number;
  rss_after_load_mb?: number;
  peak_rss_mb: number;
  measurements: Measurement[];
  profiles: ProfileResult[];
  decode?: DecodeTiming;
  wall_s: number;
}

/** A backend that computes on the JS thread alone (wasm, cpu, native with one BLAS thread): its CPU time compares with torch t1b1. */
export function oneThread(backend: BenchBackend, detail: string | undefined): boolean {
  return backend === 'wasm' || backend === 'cpu' || (backend === 'native' && /\b1 BLAS thread\b/.test(detail ?? ''));
}

/** Deterministic token ids, the same formula as torch_peer.py's bench_ids. */
export function benchIds(T: number, vocab: number): number[] {
  return Array.from({ length: T }, (_, i) => (i * 7919 + 13) % vocab);
}

/** The token fed at decode step i (fixed, not sampled: both sides do the same work); torch_peer.py's decode_id. */
export function decodeId(i: number, vocab: number): number {
  return (i * 31 + 7) % vocab;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function timing(all: number[], cpu: number[]): Timing {
  return {
    runs: all.length,
    median_ms: median(all),
    min_ms: Math.min(...all),
    all_ms: all.map((x) => Math.round(x * 100) / 100),
    cpu_median_ms: median(cpu),
    cpu_share: median(all.map((w, i) => cpu[i] / w)),
  };
}

/** Peak resident set size of this process so far, in MB (maxRSS is in KiB). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Python source (our extractor's) cut to exactly `tokens` tokens of the model's tokenizer. */
export function pythonText(model: string, tokens: number): string {
  const tok = TextTokenizer.fromFolder(model)!;
  const src = fs.readFileSync(path.join(ROOT, 'engine', 'data', 'py', 'extract_functions.py'), 'utf8');
  let n = tokens;
  while (tok.encode(src.slice(0, n)).length < tokens) n += 16;
  while (tok.encode(src.slice(0, n)).length > tokens) n--;
  return src.slice(0, n);
}

/** The dimensions of a random Llama checkpoint written by test/reference/make_checkpoint.py. */
export interface CheckpointDims {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  intermediate_size: number;
  vocab_size: number;
}

/** make_checkpoint.py's arguments for a random F32 base model (seed 1) of these dimensions in `out`. */
export function baseCheckpointArgs(out: string, d: CheckpointDims, tie: boolean): string[] {
  const dims: [string, number][] = [
    ['--hidden', d.hidden_size],
    ['--layers', d.num_hidden_layers],
    ['--heads', d.num_attention_heads],
    ['--kv-heads', d.num_key_value_heads],
    ['--inter', d.intermediate_size],
    ['--vocab', d.vocab_size],
  ];
  return [
    path.join(ROOT, 'test', 'reference', 'make_checkpoint.py'),
    'base',
    '--out',
    out,
    '--seed',
    '1',
    ...dims.flatMap(([flag, v]) => [flag, String(v)]),
    ...(tie ? ['--tie'] : []),
    '--dtype',
    'F32',
  ];
}

export const PY = process.env.DIFFLORA_PYTHON ?? 'python3';
export const TORCH_PY = process.env.DIFFLORA_TORCH_PYTHON ?? '/usr/bin/python3';
export const MAKE_CKPT = path.join(ROOT, 'test', 'reference', 'make_checkpoint.py');

/** Runs a set-up command with its output shown; throws naming `what` if it fails. */
export function run(cmd: string, args: string[], what: string): void {
  process.stderr.write(`$ ${[cmd, ...args].map((s) => (/\s/.test(s) ? JSON.stringify(s) : s)).join(' ')}\n`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

export function readJson<T = Record<string, unknown>>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
