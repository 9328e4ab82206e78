/**
 * One method of the training benchmark in its own process (so peak RSS is this method's alone):
 *   node out/test/bench/train-bench-child.js REQUEST.json
 * initialises the requested backend (native, wasm, ...) and the training kernels, loads the model, builds a fresh
 * adapter with createAdapter(methodConfig(method, {})), wraps it with adapterTrainable, and runs the real
 * train() loop for warmup + steps optimizer steps on the request's token ids (batch B x T, every position
 * a target, no accumulation). Step times are the intervals between train()'s step events. With
 * `profile`, one more step runs under tf.profile and a few forward-only passes are timed.
 * Writes a TrainChildResult to request.resultFile; logs go to stderr.
 */
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, initBackend } from '../../engine/backend';
import { loadModel, LoadedModel } from '../../engine/model/load';
import { createAdapter } from '../../engine/train/adapter-init';
import { adapterTrainable } from '../../engine/train/finetune';
import { installTrainingKernels } from '../../engine/train/kernels';
import { makeBatch, Sequence } from '../../engine/train/loss';
import { Method, methodConfig } from '../../engine/train/presets';
import { Trainable, train, TrainOptions } from '../../engine/train/trainer';
import { AdapterConfig } from '../../engine/model/adapter-config';
import { KernelStat, median, peakRssMb } from './common';

export interface TrainChildRequest {
  method: Method;
  modelDir: string;
  backend: 'native' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';
  /** JSON file {"ids": number[][]}: one batch, B rows of T ids. */
  dataFile: string;
  steps: number;
  warmup: number;
  lr: number;
  maxGradNorm: number;
  seed: number;
  profile: boolean;
  /** Scratch folder for train()'s run dir (metrics.jsonl). */
  runDir: string;
  resultFile: string;
}

export interface TrainChildResult {
  method: Method;
  status: 'ok' | 'error';
  message?: string;
  backend_detail?: string;
  adapter_config?: AdapterConfig;
  trainable_params?: number;
  batch?: number;
  seq_len?: number;
  tokens_per_step?: number;
  load_s?: number;
  rss_after_load_mb?: number;
  /** The warm-up steps' times (include the first step's one-off costs). */
  warmup_ms?: number[];
  /** The timed steps. */
  step_ms?: number[];
  median_ms?: number;
  tokens_per_s?: number;
  /** Median CPU time / wall time per timed step (~1 for one thread, wasm or native on <= 2 cores, on an idle core). */
  cpu_share?: number;
  loss_step0?: number;
  grad_norm_step0?: number;
  losses?: number[];
  /** tf.memory().numTensors after train() minus before (what train() left behind). */
  leaked_tensors?: number;
  /** The wasm module's heap (grows, never shrinks). */
  wasm_heap_mb?: number;
  /** Median of a few forward + loss passes (no gradient), dropout on as in training. */
  forward_ms?: number;
  profile?: { wall_ms: number; kernel_ms: number; byKernel: KernelStat[]; byShape: KernelStat[] };
  peak_rss_mb: number;
  wall_s: number;
}

const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as TrainChildRequest;
const started = performance.now();
const result: TrainChildResult = { method: req.method, status: 'ok', peak_rss_mb: 0, wall_s: 0 };

function log(line: string): void {
  process.stderr.write(`  [engine ${req.method}] ${line}\n`);
}

function save(): void {
  result.peak_rss_mb = peakRssMb();
  result.wall_s = (performance.now() - started) / 1000;
  fs.writeFileSync(req.resultFile, JSON.stringify(result, null, 2));
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

function wasmHeapMb(): number | undefined {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  const n = b?.wasm?.HEAPU8?.buffer.byteLength;
  return n === undefined ? undefined : n / 2 ** 20;
}

function options(o: Partial<TrainOptions>, dropout: number): TrainOptions {
  // The CLI's defaults (train-command.ts) except the schedule: constant, no warmup, so every step runs at lr.
  return {
    lr: req.lr,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.999,
    adamEps: 1e-8,
    warmupSteps: 0,
    schedule: 'constant',
    epochs: 1,
    microBatchSize: 0,
    gradAccum: 1,
    maxGradNorm: req.maxGradNorm,
    dropout,
    seed: req.seed,
    checkpointEvery: 0,
    padId: 0,
    ...o,
  };
}

async function profileStep(t: Trainable, data: Sequence[], o: TrainOptions): Promise<NonNullable<TrainChildResult['profile']>> {
  const dir = path.join(req.runDir, 'profile');
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await train(t, data, { ...o, maxSteps: 1 }, { dir });
  });
  const wall = performance.now() - t0;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  const byShape = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  const backend = tf.getBackend();
  for (const k of info.kernels) {
    // Only registered kernels: tf.profile also lists op and customGrad scopes ('logSoftmax__op',
    // 'unnamed scope'), whose time is that of the kernels inside them, listed as well.
    if (!tf.getKernel(k.name, backend)) continue;
    const ms = Number(k.kernelTimeMs) || 0;
    total += ms;
    const add = (m: Map<string, { ms: number; calls: number }>, key: string) => {
      const a = m.get(key) ?? { ms: 0, calls: 0 };
      a.ms += ms;
      a.calls++;
      m.set(key, a);
    };
    add(byKernel, k.name);
    add(byShape, `${k.name} ${k.inputShapes.map((s) => `[${(s ?? []).join(',')}]`).join(' ')}`);
  }
  const top = (m: Map<string, { ms: number; calls: number }>, n: number): KernelStat[] =>
    [...m.entries()]
      .sort((x, y) => y[1].ms - x[1].ms)
      .slice(0, n)
      .map(([kernel, v]) => ({ kernel, ms: v.ms, calls: v.calls, share: v.ms / total }));
  return { wall_ms: wall, kernel_ms: total, byKernel: top(byKernel, 15), byShape: top(byShape, 15) };
}

async function timeForward(t: Trainable, data: Sequence[], dropout: number, runs: number): Promise<number> {
  const batch = makeBatch(data, 0);
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const loss = tf.tidy(() => t.loss(batch, Math.max(1, batch.targetCount), { dropoutRate: dropout, seed: 12345 + i }));
    await loss.data();
    loss.dispose();
    if (i > 0) times.push(performance.now() - t0); // the first is a warm-up
  }
  return median(times);
}

async function main(): Promise<void> {
  let info: BackendInfo;
  try {
    info = await initBackend(req.backend, () => undefined);
    await installTrainingKernels();
  } catch (e) {
    throw new Error(`backend ${req.backend}: ${oneLine(e)}`);
  }
  result.backend_detail = info.detail;
  log(`backend ${info.detail}`);

  const t0 = performance.now();
  const m: LoadedModel = loadModel(req.modelDir, info);
  result.load_s = (performance.now() - t0) / 1000;
  result.rss_after_load_mb = process.memoryUsage().rss / 2 ** 20;

  const config = methodConfig(req.method, {});
  result.adapter_config = config;
  const adapter = createAdapter(config, m.config, m.configJson, path.resolve(req.modelDir), req.seed);
  const trainable = adapterTrainable(m, adapter);
  result.trainable_params = trainable.params.reduce((a, p) => a + p.variable.size, 0);

  const ids = (JSON.parse(fs.readFileSync(req.dataFile, 'utf8')) as { ids: number[][] }).ids;
  const data: Sequence[] = ids.map((row) => ({ ids: row, targetMask: row.map(() => 1) }));
  const B = data.length,
    T = ids[0].length;
  result.batch = B;
  result.seq_len = T;
  result.tokens_per_step = B * T;
  log(`${result.trainable_params} trainable parameters; batch ${B} x ${T}; ${req.warmup} warm-up + ${req.steps} timed steps`);

  const o = options({ microBatchSize: B, maxSteps: req.warmup + req.steps }, config.dropout);
  const stamps: { wall: number; cpu: NodeJS.CpuUsage }[] = [];
  const losses: number[] = [];
  let gradNorm0: number | undefined;
  const tensorsBefore = tf.memory().numTensors;
  stamps.push({ wall: performance.now(), cpu: process.cpuUsage() });
  await train(trainable, data, o, {
    dir: path.join(req.runDir, 'run'),
    onEvent: (e) => {
      if (e.type !== 'step') return;
      stamps.push({ wall: performance.now(), cpu: process.cpuUsage() });
      losses.push(e.loss);
      gradNorm0 ??= e.gradNorm;
    },
  });
  result.leaked_tensors = tf.memory().numTensors - tensorsBefore;
  const wall: number[] = [],
    share: number[] = [];
  for (let i = 1; i < stamps.length; i++) {
    const w = stamps[i].wall - stamps[i - 1].wall;
    const c = stamps[i].cpu,
      p = stamps[i - 1].cpu;
    wall.push(w);
    share.push((c.user - p.user + c.system - p.system) / 1000 / w);
  }
  result.warmup_ms = wall.slice(0, req.warmup).map(round2);
  result.step_ms = wall.slice(req.warmup).map(round2);
  result.median_ms = median(wall.slice(req.warmup));
  result.tokens_per_s = (B * T) / (result.median_ms / 1000);
  result.cpu_share = median(share.slice(req.warmup));
  result.loss_step0 = losses[0];
  result.grad_norm_step0 = gradNorm0;
  result.losses = losses;
  result.wasm_heap_mb = wasmHeapMb();
  log(
    `step ${result.median_ms.toFixed(1)} ms median of ${result.step_ms.length} (${result.tokens_per_s.toFixed(0)} tok/s, cpu/wall ${result.cpu_share.toFixed(2)}); ` +
      `warm-up ${result.warmup_ms.join(', ')} ms; loss at step 0 ${losses[0]?.toFixed(5)}${result.leaked_tensors ? `; ${result.leaked_tensors} tensors left after train()` : ''}`,
  );
  save();

  if (req.profile) {
    result.forward_ms = await timeForward(trainable, data, config.dropout, 2);
    result.profile = await profileStep(trainable, data, o);
    const p = result.profile;
    log(
      `forward + loss ${result.forward_ms.toFixed(0)} ms (${((result.forward_ms / result.median_ms) * 100).toFixed(0)}% of a step); ` +
        `profiled step: wall ${p.wall_ms.toFixed(0)} ms, kernels ${p.kernel_ms.toFixed(0)} ms; top: ` +
        p.byKernel
          .slice(0, 6)
          .map((k) => `${k.kernel} ${(k.share * 100).toFixed(0)}%`)
          .join(', '),
    );
  }
  result.wasm_heap_mb = wasmHeapMb();
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

main()
  .catch((e) => {
    result.status = 'error';
    result.message = oneLine(e);
    log(`error: ${result.message}`);
  })
  .finally(() => {
    save();
    process.exit(0);
  });
