/**
 * `npm run bench:stream`: the engine server as the extension uses it (its own client code, stdio, a
 * child process), on the embedded default model with a DiffLoRA adapter trained here for a few steps:
 * - time from the attention request to the first layer's maps and to all layers, at 256 tokens;
 * - bytes per map on the wire (16-bit lower triangle, float32 lower triangle) against the JSON number
 *   arrays that tools commonly send (the CLI's attention JSON);
 * - time to decode a layer on the extension side.
 * Medians of several runs; figures only, no thresholds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EngineConnection } from '../../extension/engine/connection';
import { Rpc } from '../../protocol/engine';
import { decodeLayerMaps, encodeLayerMaps, wireBytes, type WireLayerMaps } from '../../protocol/map-pack';
import { encodeFrame } from '../../protocol/wire';
import { runCliOk } from '../helpers/cli';
import { CACHE, pythonText, ROOT } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** A DiffLoRA-32 adapter on the default model (a few steps on stdlib-style pairs), cached. */
function difflora(model: string): string {
  const out = path.join(CACHE, 'stream-difflora');
  if (fs.existsSync(path.join(out, 'config.json'))) return out;
  const data = path.join(CACHE, 'stream-data.jsonl');
  fs.mkdirSync(CACHE, { recursive: true });
  fs.writeFileSync(
    data,
    Array.from({ length: 16 }, (_, i) =>
      JSON.stringify({ prompt: `def f${i}(x):\n    """Add ${i}."""\n`, completion: `    return x + ${i}\n` }),
    ).join('\n') + '\n',
  );
  runCliOk([
    'train',
    '--model',
    model,
    '--method',
    'difflora-32',
    '--data',
    data,
    '--out',
    out,
    '--max-steps',
    '3',
    '--batch-size',
    '4',
    '--quiet',
  ]);
  return out;
}

async function main(): Promise<void> {
  const model = path.join(ROOT, 'media', 'default-model');
  const adapter = difflora(model);
  const c = await EngineConnection.open(
    { kind: 'local', node: process.execPath, script: path.join(ROOT, 'bin', 'difflora.js'), args: ['--backend', 'wasm'] },
    () => undefined,
  );
  try {
    const loaded = await c.request(Rpc.loadModel, { model, adapters: [{ label: 'DiffLoRA', path: adapter }] });
    const text = pythonText(model, 256);
    const first: number[] = [];
    const all: number[] = [];
    const decode: number[] = [];
    let tokens = 0;
    let sample: WireLayerMaps | undefined;
    for (let run = 0; run <= RUNS; run++) {
      const t0 = performance.now();
      let t1 = 0;
      let dec = 0;
      const r = await c.request(
        Rpc.attention,
        { text, models: ['DiffLoRA'] },
        {
          onProgress: (p) => {
            if (p.type !== 'layer') return;
            if (!t1) t1 = performance.now() - t0;
            const d0 = performance.now();
            decodeLayerMaps(p.maps);
            dec += performance.now() - d0;
            sample = p.maps;
          },
        },
      );
      tokens = r.tokens;
      if (run === 0) continue; // warm-up
      first.push(t1);
      all.push(performance.now() - t0);
      decode.push(dec / loaded.layers);
    }
    const T = tokens;
    const d = decodeLayerMaps(sample!);
    const heads = d.heads.length;
    const kinds = 3;
    const perMap = (w: WireLayerMaps) => wireBytes(w) / (heads * kinds);
    const u16 = perMap(sample!);
    const f32 = perMap(encodeLayerMaps(d, 'f32'));
    const frame = encodeFrame({ maps: sample }).length / (heads * kinds);
    // The JSON a map takes as number arrays (the CLI's attention format: shortest float32 text per value).
    const jsonMap = JSON.stringify(
      Array.from({ length: T }, (_, q) => Array.from(d.differential!.subarray(q * T, (q + 1) * T), (v) => Number(v.toPrecision(7)))),
    ).length;
    console.log(
      `DiffLoRA Lens: attention streaming through the engine server (stdio, wasm), default model (${loaded.layers} layers x ${loaded.heads} heads) + DiffLoRA-32, ${T} tokens, ${RUNS} runs (median)`,
    );
    console.log(`  request -> first layer's maps      ${median(first).toFixed(1)} ms`);
    console.log(`  request -> all ${loaded.layers} layers (full overview data) ${median(all).toFixed(1)} ms`);
    console.log(`  extension-side decode per layer    ${median(decode).toFixed(2)} ms (${heads} heads x ${kinds} kinds)`);
    console.log(
      `  bytes per ${T}x${T} map: 16-bit lower triangle ${u16.toFixed(0)} (frame incl. header ${frame.toFixed(0)}), float32 lower triangle ${f32.toFixed(0)}, JSON number arrays ${jsonMap} (${(jsonMap / u16).toFixed(1)}x the 16-bit frame)`,
    );
  } finally {
    await c.shutdown();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
