/**
 * A long session against the engine server through the extension's own client (EngineSupervisor):
 * mixed requests (attention at varying lengths with layer/head subsets, generation, cancellation in
 * the middle of a request, model reload, adapter swap) and one engine crash with its restart. After
 * every request the engine's live tensors are back at their baseline for the loaded models, and RSS
 * stays bounded. Then the client restarts the engine many times and holds no more handles or child
 * processes than before. CI runs a bounded slice; `npm run soak` runs DIFFLORA_SOAK_REQUESTS (400).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { EngineStoppedError, Endpoint } from '../../extension/engine/connection';
import { EngineSupervisor } from '../../extension/engine/supervisor';
import { AttentionProgress, LoadModelParams, Rpc } from '../../protocol/engine';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';
import { Rng } from '../../engine/util/rng';

const REQUESTS = Number(process.env.DIFFLORA_SOAK_REQUESTS ?? 60);
const MODEL = path.join(ROOT, 'media', 'default-model');
const local: Endpoint = {
  kind: 'local',
  node: process.execPath,
  script: path.join(ROOT, 'bin', 'difflora.js'),
  args: ['--backend', 'wasm'],
};

function text(rng: Rng, lines: number): string {
  return Array.from({ length: lines }, (_, i) => `def f_${i}(x):\n    return x * ${Math.floor(rng.next() * 100)} + ${i}\n`).join('\n');
}

/** A cancellation the client side controls, shaped like VS Code's CancellationToken. */
function cancellation() {
  const listeners: (() => void)[] = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested(l: () => void) {
      listeners.push(l);
      return { dispose: () => undefined };
    },
  };
  return {
    token,
    cancel: () => {
      token.isCancellationRequested = true;
      for (const l of listeners) l();
    },
  };
}

function childCount(): number {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean).length;
  } catch {
    return 0;
  }
}

function handleCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

describe('a long session against the engine', { timeout: 1_200_000 }, () => {
  const dir = tempDir('soak');
  const adapters: Record<string, string> = {};
  let current: LoadModelParams;
  let sup: EngineSupervisor;

  before(() => {
    adapters.a = makeCheckpoint('difflora', path.join(dir, 'difflora-a'), ['--base', MODEL, '--seed', '1', '--lambda', '0.3']);
    adapters.b = makeCheckpoint('lora', path.join(dir, 'lora-b'), ['--base', MODEL, '--seed', '2', '--targets', 'q_proj,v_proj']);
    current = { model: MODEL, adapters: [{ label: 'A', path: adapters.a }] };
    sup = new EngineSupervisor(
      {
        endpoint: () => local,
        log: () => undefined,
        onState: () => undefined,
        onCrash: () => undefined,
        onStarted: async (c) => {
          await c.request(Rpc.loadModel, current);
        },
      },
      100,
    );
  });
  after(async () => {
    await sup?.dispose();
  });

  it(`${REQUESTS} mixed requests, one crash: tensors back to baseline after each, RSS bounded`, async () => {
    const rng = new Rng(11);
    const status = () => sup.request(Rpc.status, {});
    const baselines = new Map<string, number>(); // per engine process and loaded set
    const key = async () => `${(await sup.connection()).pid}:${current.adapters.map((a) => a.label).join(',')}`;
    const checkBaseline = async (what: string) => {
      const s = await status();
      const k = await key();
      if (!baselines.has(k)) baselines.set(k, s.numTensors);
      assert.equal(s.numTensors, baselines.get(k), `after ${what}: ${s.numTensors} live tensors, baseline ${baselines.get(k)}`);
      assert.equal(s.busy, undefined);
      return s;
    };
    const t0 = Date.now();
    const first = await checkBaseline('start');
    let rssAfterWarmup = 0,
      rssMax = 0,
      crashed = false;
    const rssTrace: string[] = [];
    const counts: Record<string, number> = {};
    for (let i = 0; i < REQUESTS; i++) {
      const kind =
        i === Math.floor(REQUESTS / 2) && !crashed
          ? 'crash'
          : ['attention', 'attention', 'subset', 'generate', 'cancel', 'reload', 'swap'][Math.floor(rng.next() * 7)];
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (kind === 'attention' || kind === 'subset') {
        const layers = kind === 'subset' ? [Math.floor(rng.next() * 4)] : undefined;
        const heads = kind === 'subset' ? [0, 1 + Math.floor(rng.next() * 5)] : undefined;
        let maps = 0;
        await sup.request(
          Rpc.attention,
          { text: text(rng, 1 + Math.floor(rng.next() * 12)), layers, heads },
          {
            onProgress: (p: AttentionProgress) => {
              if (p.type === 'layer') maps++;
            },
          },
        );
        assert.ok(maps > 0);
      } else if (kind === 'generate') {
        await sup.request(Rpc.generate, {
          prompt: text(rng, 1),
          maxNewTokens: 4 + Math.floor(rng.next() * 12),
          temperature: rng.next() < 0.5 ? 0 : 0.8,
          seed: i,
        });
      } else if (kind === 'cancel') {
        const { token, cancel } = cancellation();
        const req =
          rng.next() < 0.5
            ? sup.request(
                Rpc.attention,
                { text: text(rng, 30) },
                {
                  cancel: token,
                  onProgress: (p: AttentionProgress) => {
                    if (p.type === 'layer') cancel();
                  },
                },
              )
            : sup.request(Rpc.generate, { prompt: text(rng, 2), maxNewTokens: 200 }, { cancel: token, onProgress: () => undefined });
        if (!token.isCancellationRequested) setTimeout(cancel, 30);
        await req.then(
          () => undefined,
          (e: Error) => assert.match(e.message, /cancelled/),
        );
      } else if (kind === 'reload') {
        await sup.request(Rpc.loadModel, current);
      } else if (kind === 'swap') {
        current =
          current.adapters[0].label === 'A'
            ? { model: MODEL, adapters: [{ label: 'B', path: adapters.b }] }
            : { model: MODEL, adapters: [{ label: 'A', path: adapters.a }] };
        await sup.request(Rpc.loadModel, current);
      } else {
        const c = await sup.connection();
        const pending = sup.request(
          Rpc.attention,
          { text: text(rng, 30) },
          {
            onProgress: () => {
              try {
                process.kill(c.pid!, 'SIGKILL');
              } catch {
                /* already gone */
              }
            },
          },
        );
        await assert.rejects(pending, (e: Error) => e instanceof EngineStoppedError);
        crashed = true;
        // The supervisor restarts it and loads the models again.
        for (
          let tries = 0;
          !(await sup.connection().then(
            (x) => x.alive && x.pid !== c.pid,
            () => false,
          ));
          tries++
        ) {
          assert.ok(tries < 100, 'the engine was not restarted');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const s = await checkBaseline(`request ${i} (${kind})`);
      if (i === Math.min(9, REQUESTS - 1)) rssAfterWarmup = s.rssBytes;
      rssMax = Math.max(rssMax, s.rssBytes);
      if ((i + 1) % 50 === 0) rssTrace.push(`${i + 1}: ${(s.rssBytes / 2 ** 20).toFixed(0)}`);
    }
    const last = await status();
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;
    console.log(
      `soak: ${REQUESTS} requests (${Object.entries(counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `tensors ${first.numTensors} -> ${last.numTensors}; RSS start ${mb(first.rssBytes)}, after 10 requests ${mb(rssAfterWarmup)}, max ${mb(rssMax)}, end ${mb(last.rssBytes)}; RSS MB by request ${rssTrace.join(', ') || '-'}`,
    );
    assert.ok(crashed);
    // wasm's heap grows to its high-water mark and stays; beyond that nothing may pile up.
    assert.ok(rssMax < rssAfterWarmup * 1.5 + 64 * 2 ** 20, `RSS grew from ${mb(rssAfterWarmup)} to ${mb(rssMax)}`);
  });

  it('restarting the engine many times leaves no extra handles or child processes in the client', async () => {
    await sup.connection();
    const handles = handleCounts();
    const children = childCount();
    for (let i = 0; i < 8; i++) await sup.restart();
    await sup.request(Rpc.status, {});
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(childCount(), children, 'engine processes left behind');
    const grown = [...handleCounts()].filter(([k, n]) => n > (handles.get(k) ?? 0)).map(([k, n]) => `${k} +${n - (handles.get(k) ?? 0)}`);
    assert.deepEqual(grown, [], `handles grew over 8 restarts: ${grown.join(', ')}`);
  });
});
