/**
 * One benchmark configuration in its own process (so peak RSS and wasm heaps never mix):
 *   node out/test/bench/bench-child.js REQUEST.json
 * initialises the backend, loads the model (and the adapter), times forward and full attention capture
 * per length, optionally profiles one forward by kernel, and writes a ChildResult to request.resultFile.
 * Logs go to stderr.
 */
import * as fs from 'fs';
import { performance } from 'perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, initBackend, releaseWebgpu } from '../../engine/backend';
import { Adapter, loadAdapter } from '../../engine/model/adapter-weights';
import { loadModel } from '../../engine/model/load';
import { CaptureRequest, KVCache, LayerMaps, LlamaModel } from '../../engine/model/llama';
import {
  benchIds,
  ChildRequest,
  ChildResult,
  DECODE_PROMPT,
  DecodeTiming,
  decodeId,
  KernelStat,
  Measurement,
  median,
  peakRssMb,
  ProfileResult,
  timing,
} from './common';

function log(line: string): void {
  process.stderr.write(`  [${req.modelKey}/${req.backend}] ${line}\n`);
}

const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as ChildRequest;
const started = performance.now();
const result: ChildResult = {
  modelKey: req.modelKey,
  backend: req.backend,
  status: 'ok',
  peak_rss_mb: 0,
  measurements: [],
  profiles: [],
  wall_s: 0,
};

/** Writes the result so far (also after every measurement: a killed child still leaves its figures). */
function save(): void {
  result.peak_rss_mb = peakRssMb();
  result.wall_s = (performance.now() - started) / 1000;
  fs.writeFileSync(req.resultFile, JSON.stringify(result, null, 2));
}

function finish(): never {
  save();
  if (req.backend === 'webgpu') releaseWebgpu();
  process.exit(0);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/**
 * A forward with attention capture: `model.forwardCapture(ids, adapter, capture)` (asynchronous, one
 * layer's maps alive at a time), or, in engines before it existed, `forward(ids, adapter, { capture })`.
 */
function forwardWithCapture(model: LlamaModel, ids: number[][], adapter: Adapter | undefined, capture: CaptureRequest): Promise<tf.Tensor> {
  const m = model as unknown as {
    forwardCapture?: (ids: number[][], adapter: Adapter | undefined, capture: CaptureRequest) => Promise<tf.Tensor>;
    forward: (ids: number[][], adapter: Adapter | undefined, opts: { capture: CaptureRequest }) => tf.Tensor;
  };
  if (typeof m.forwardCapture === 'function') return m.forwardCapture(ids, adapter, capture);
  return Promise.resolve(m.forward(ids, adapter, { capture }));
}

/** Waits for the forward's work to finish on any backend (webgpu is asynchronous) by reading 1 logit. */
async function settle(logits: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(logits, [-1]), [logits.size - 1], [1]));
  await one.data();
  one.dispose();
  logits.dispose();
}

/**
 * Wall and CPU milliseconds of `n` runs after `warmup` untimed ones, continued for at least a second when
 * warmup > 0: V8 optimises the engine's JS over the first runs, and at 15 ms a forward five were not enough.
 */
async function timeRuns(n: number, warmup: number, run: () => Promise<void>): Promise<{ wall: number[]; cpu: number[] }> {
  const t0 = performance.now();
  for (let i = 0; i < warmup || (warmup > 0 && performance.now() - t0 < 1000); i++) await run();
  const wall: number[] = [],
    cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await run();
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  return { wall, cpu };
}

async function measure(model: LlamaModel, adapter: Adapter | undefined, variant: 'base' | 'difflora', T: number): Promise<Measurement> {
  const c = model.config;
  const ids = [benchIds(T, c.vocabSize)];
  const runs = req.runs[T] ?? 3;
  const tensorsBefore = tf.memory().numTensors;

  const warmup = req.warmup[T] ?? 1;
  const fwd = await timeRuns(runs, warmup, async () => settle(model.forward(ids, adapter)));

  let mapsBytes = 0,
    layers = 0;
  const cap = await timeRuns(runs, warmup, async () => {
    const kept: LayerMaps[] = []; // kept until the forward is done, like output_attentions
    const logits = await forwardWithCapture(model, ids, adapter, {
      onMaps: (m) => {
        kept.push(m);
      },
    });
    await settle(logits);
    layers = kept.length;
    mapsBytes = kept.reduce((s, m) => s + m.positive.byteLength + (m.negative?.byteLength ?? 0) + (m.differential?.byteLength ?? 0), 0);
  });
  const expected = c.numLayers * c.numHeads * T * T * 4 * (variant === 'difflora' ? 3 : 1);
  if (layers !== c.numLayers || mapsBytes !== expected) {
    log(`WARNING: capture returned ${layers} layers / ${mapsBytes} bytes, expected ${c.numLayers} / ${expected}`);
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  const f = timing(fwd.wall, fwd.cpu),
    k = timing(cap.wall, cap.cpu);
  log(
    `${variant} T=${T}: forward ${f.median_ms.toFixed(1)} ms (${((T / f.median_ms) * 1000).toFixed(0)} tok/s), ` +
      `capture ${k.median_ms.toFixed(1)} ms, medians of ${runs}, cpu/wall ${f.cpu_share.toFixed(2)}${leaked ? `, LEAK ${leaked} tensors` : ''}`,
  );
  return {
    variant,
    T,
    forward: { ...f, tokens_per_s: (T / f.median_ms) * 1000 },
    capture: { ...k, maps_mb: mapsBytes / 2 ** 20, layers },
    leaked_tensors: leaked,
  };
}

function shapeKey(shapes: number[][]): string {
  return shapes.map((s) => `[${s.join(',')}]`).join(' ');
}

/** Generation as `generate` runs it: the prompt through the KV cache, then one token per forward, last logits only. */
async function measureDecode(model: LlamaModel, steps: number): Promise<DecodeTiming> {
  const V = model.config.vocabSize;
  const cache = new KVCache();
  try {
    await settle(model.forward([benchIds(DECODE_PROMPT, V)], undefined, { cache, lastOnly: true }));
    const all_ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      await settle(model.forward([[decodeId(i, V)]], undefined, { cache, lastOnly: true }));
      all_ms.push(performance.now() - t);
    }
    return { prompt: DECODE_PROMPT, steps, all_ms, median_ms: median(all_ms) };
  } finally {
    cache.dispose();
  }
}

async function profile(
  model: LlamaModel,
  adapter: Adapter | undefined,
  variant: 'base' | 'difflora',
  T: number,
  mode: 'forward' | 'capture',
): Promise<ProfileResult> {
  const ids = [benchIds(T, model.config.vocabSize)];
  const t = performance.now();
  const info = await tf.profile(async () => {
    const logits =
      mode === 'capture' ? await forwardWithCapture(model, ids, adapter, { onMaps: () => undefined }) : model.forward(ids, adapter);
    await settle(logits);
  });
  const wall = performance.now() - t;
  const byKernel = new Map<string, { ms: number; calls: number }>();
  const byShape = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = Number(k.kernelTimeMs) || 0;
    total += ms;
    const a = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    a.ms += ms;
    a.calls++;
    byKernel.set(k.name, a);
    const key = `${k.name} ${shapeKey(k.inputShapes)}`;
    const b = byShape.get(key) ?? { ms: 0, calls: 0 };
    b.ms += ms;
    b.calls++;
    byShape.set(key, b);
  }
  const top = (m: Map<string, { ms: number; calls: number }>, n: number): KernelStat[] =>
    [...m.entries()]
      .sort((x, y) => y[1].ms - x[1].ms)
      .slice(0, n)
      .map(([kernel, v]) => ({ kernel, ms: v.ms, calls: v.calls, share: v.ms / total }));
  return { variant, T, mode, wall_ms: wall, kernel_ms: total, byKernel: top(byKernel, 15), byShape: top(byShape, 15) };
}

async function main(): Promise<void> {
  let info: BackendInfo;
  try {
    info = await initBackend(req.backend, () => undefined);
    result.backend_detail = info.detail;
  } catch (e) {
    result.status = 'unavailable';
    result.message = oneLine(e);
    finish();
  }
  if (info.softwareAdapter && req.skipOnSoftwareAdapter) {
    result.status = 'skipped';
    result.message = `software GPU adapter (${info.detail.split(',')[0]}): far too slow for this model`;
    finish();
  }
  log(`backend ${info.detail}`);
  let lengths = req.lengths;
  if (info.softwareAdapter) {
    const { maxT, runs } = req.softwareAdapterLimits;
    lengths = lengths.filter((T) => T <= maxT);
    if (lengths.length === 0) lengths = [Math.min(...req.lengths)];
    for (const T of lengths) req.runs[T] = Math.min(req.runs[T] ?? runs, runs);
    req.profileT = 0;
    log(`software adapter: only T=${lengths.join(',')} with ${runs} run(s) each`);
  }

  const t0 = performance.now();
  let model: LlamaModel;
  try {
    model = loadModel(req.modelDir, info).model;
    // Uploads may be lazy (webgpu): one tiny forward is not part of the load figure, the warm-up is.
  } catch (e) {
    result.status = /heap|needs .* but/.test(oneLine(e)) ? 'refused' : 'error';
    result.message = oneLine(e);
    result.load_s = (performance.now() - t0) / 1000;
    log(`${result.status}: ${result.message}`);
    finish();
  }
  result.load_s = (performance.now() - t0) / 1000;
  result.rss_after_load_mb = process.memoryUsage().rss / 2 ** 20;
  log(`loaded in ${result.load_s.toFixed(2)} s, RSS ${result.rss_after_load_mb.toFixed(0)} MB`);

  let adapter: Adapter | undefined;
  if (req.adapterDir) {
    const t1 = performance.now();
    adapter = loadAdapter(req.adapterDir, model.config);
    result.adapter_load_s = (performance.now() - t1) / 1000;
  }

  try {
    const variants: ['base' | 'difflora', Adapter | undefined][] = [['base', undefined]];
    if (adapter) variants.push(['difflora', adapter]);
    for (const [variant, a] of variants) {
      for (const T of lengths) {
        result.measurements.push(await measure(model, a, variant, T));
        save();
      }
    }
    if (req.decodeSteps > 0) {
      result.decode = await measureDecode(model, req.decodeSteps);
      log(`decode after a ${DECODE_PROMPT}-token prompt: ${result.decode.median_ms.toFixed(1)} ms/token, median of ${req.decodeSteps}`);
      save();
    }
    if (req.profileT > 0) {
      for (const [variant, a] of variants) {
        for (const mode of ['forward', 'capture'] as const) {
          const p = await profile(model, a, variant, req.profileT, mode);
          result.profiles.push(p);
          log(
            `profile ${variant} ${mode} T=${req.profileT}: wall ${p.wall_ms.toFixed(0)} ms, kernels ${p.kernel_ms.toFixed(0)} ms; top: ` +
              p.byKernel
                .slice(0, 5)
                .map((k) => `${k.kernel} ${(k.share * 100).toFixed(0)}%`)
                .join(', '),
          );
        }
      }
    }
  } catch (e) {
    result.status = 'error';
    result.message = oneLine(e);
    log(`error: ${result.message}`);
  }
  finish();
}

main().catch((e) => {
  result.status = 'error';
  result.message = oneLine(e);
  finish();
});
