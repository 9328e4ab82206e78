/**
 * The engine server stays live while it computes: training progress arrives step by step (the client
 * sees step N while the metrics file holds N lines, not after the run), a status request sent during a
 * run is answered before the run ends, and cancelling stops a training run within one step (leaving a
 * checkpoint that resumes), a long attention request and a HumanEval run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ResponseError } from 'vscode-jsonrpc';
import { EngineConnection, Endpoint } from '../../extension/engine/connection';
import { AttentionProgress, Methods, Rpc, StatusResult } from '../../protocol/engine';
import type { TrainOptionValues } from '../../protocol/training';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';
import { sharedDataFile } from '../helpers/shared-data';
import { taskData, tinyModel } from '../helpers/train-fixture';

const local: Endpoint = {
  kind: 'local',
  node: process.execPath,
  script: path.join(ROOT, 'bin', 'difflora.js'),
  args: ['--backend', 'wasm'],
};
const DEFAULT_MODEL = path.join(ROOT, 'media', 'default-model');

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

function metricsLines(out: string): number {
  const f = path.join(out, 'metrics.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe('a live engine: progress per step, requests answered during a run, cancellation', () => {
  const dir = tempDir('live');
  let conn: EngineConnection;
  let model: string;
  let data: string;

  before(async () => {
    model = tinyModel(path.join(dir, 'model'));
    data = taskData(path.join(dir, 'task.jsonl'), 0, 64);
    conn = await EngineConnection.open(local, () => undefined);
  });
  after(async () => {
    await conn?.shutdown();
  });

  it('streams each training step as it happens, answers a status request mid-run, and cancels within one step', async () => {
    const tensorsBefore = (await conn.request(Rpc.status, {})).numTensors;
    const out = path.join(dir, 'run');
    const options = { maxSteps: '400', batchSize: '4', effectiveBatch: '8', checkpointEvery: '1000', lr: '1e-3', warmupRatio: '0' };
    const { token, cancel } = cancellation();
    const seen: { step: number; fileLines: number }[] = [];
    let status: Promise<StatusResult> | undefined;
    let finished = false;
    const run = conn
      .request(
        Rpc.train,
        { model, method: 'difflora-32', data, out, options },
        {
          cancel: token,
          onProgress: (e) => {
            if (e.type !== 'step') return;
            seen.push({ step: e.step, fileLines: metricsLines(out) });
            if (e.step === 3) status = conn.request(Rpc.status, {});
            if (e.step === 6) cancel();
          },
        },
      )
      .finally(() => {
        finished = true;
      });
    // The status request is answered while the run goes on.
    while (!status && !finished) await new Promise((r) => setTimeout(r, 20));
    assert.ok(status, 'the run ended before its third step was reported');
    const s = await status;
    assert.equal(finished, false, 'the status answer waited for the end of the run');
    assert.equal(s.busy?.method, Methods.train);
    assert.ok(s.numTensors > 0 && s.rssBytes > 0);
    const r = await run;
    assert.equal(r.cancelled, true);
    assert.ok(r.steps >= 6 && r.steps <= 7, `cancelled at step 6, stopped at ${r.steps}`);
    // Each step reached the client while the file held about as many lines: live, not in a burst at the end.
    for (const x of seen)
      assert.ok(x.fileLines - x.step <= 1, `step ${x.step} arrived when metrics.jsonl already had ${x.fileLines} lines`);
    assert.deepEqual(
      seen.map((x) => x.step),
      [...Array(r.steps).keys()].map((i) => i + 1),
    );
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    assert.equal(state.step, r.steps);

    // Resume continues from the checkpoint to the end.
    const resumedSteps: number[] = [];
    const resumed = await conn.request(
      Rpc.train,
      { model, method: 'difflora-32', data, out, resume: true, options: { ...options, maxSteps: String(r.steps + 3) } },
      {
        onProgress: (e) => {
          if (e.type === 'step') resumedSteps.push(e.step);
        },
      },
    );
    assert.equal(resumed.cancelled, false);
    assert.deepEqual(resumedSteps, [r.steps + 1, r.steps + 2, r.steps + 3]);
    assert.equal(metricsLines(out), r.steps + 3);
    // Two runs later the engine holds no tensor of theirs (each used to leave its adapter behind).
    assert.equal((await conn.request(Rpc.status, {})).numTensors, tensorsBefore);
  });

  it('refuses an unknown or bad training option by name, and summarises a dataset before training', async () => {
    await conn.request(Rpc.loadModel, { model, adapters: [] });
    const out = path.join(dir, 'typo');
    // A typo is a compile error for a TypeScript client; the engine refuses it from any other.
    const typo = { maxStep: '2' } as unknown as TrainOptionValues;
    await assert.rejects(
      conn.request(Rpc.train, { model, method: 'lora', data, out, options: typo }),
      (e: Error) => e instanceof ResponseError && /options\.maxStep: unknown option "maxStep" \(did you mean maxSteps\?\)/.test(e.message),
    );
    await assert.rejects(
      conn.request(Rpc.train, { model, method: 'lora', data, out, options: { schedule: 'sometimes' } }),
      /options\.schedule: schedule must be one of linear, cosine, constant/,
    );
    assert.ok(!fs.existsSync(out), 'a refused run wrote nothing');
    const bad = path.join(dir, 'mixed.jsonl');
    fs.writeFileSync(bad, `${fs.readFileSync(data, 'utf8').split('\n').slice(0, 4).join('\n')}\n{"prompt": 1}\nnot json\n`);
    const s = await conn.request(Rpc.dataSummary, { data: bad, options: { maxLength: '16' } });
    assert.equal(s.kept, 4);
    assert.equal(s.truncated, 4);
    assert.equal(s.skipped, 2);
    assert.match(s.skippedFirst.map((x) => `${x.where}: ${x.reason}`).join('\n'), /mixed\.jsonl:5: .*\n.*mixed\.jsonl:6: not valid JSON/);
  });

  it('cancels a long attention request after its first layer', async () => {
    const adapter = makeCheckpoint('difflora', path.join(dir, 'dl'), ['--base', DEFAULT_MODEL, '--seed', '1']);
    await conn.request(Rpc.loadModel, { model: DEFAULT_MODEL, adapters: [{ label: 'DiffLoRA', path: adapter }] });
    const text = Array.from({ length: 60 }, (_, i) => `def f_${i}(x):\n    return x * ${i} + ${i * 7}\n`).join('\n');
    const { token, cancel } = cancellation();
    let layers = 0,
      total = 0;
    const t0 = Date.now();
    await assert.rejects(
      conn.request(
        Rpc.attention,
        { text },
        {
          cancel: token,
          onProgress: (p: AttentionProgress) => {
            if (p.type === 'model') total += p.numLayers;
            else if (++layers === 1) cancel();
          },
        },
      ),
      (e: Error) => e instanceof ResponseError && /cancelled/.test(e.message),
    );
    assert.ok(layers < 8, `cancelled after the first of 8 layers, yet ${layers} arrived (${Date.now() - t0} ms)`);
    assert.ok(total <= 8);
    // The engine is free again at once.
    const s = await conn.request(Rpc.status, {});
    assert.equal(s.busy, undefined);
  });

  it(
    'cancels a HumanEval run during generation',
    { skip: !sharedDataFile('humaneval', 'HumanEval.jsonl.gz') && 'no HumanEval data beside the project' },
    async () => {
      const { token, cancel } = cancellation();
      let generated = 0;
      const r = await conn.request(
        Rpc.humanEval,
        {
          outDir: path.join(dir, 'he'),
          problemsPath: sharedDataFile('humaneval', 'HumanEval.jsonl.gz'),
          limit: 20,
          n: 1,
          k: [1],
          maxNewTokens: 64,
          execute: false,
        },
        {
          cancel: token,
          onProgress: (e) => {
            if (e.type === 'generate' && e.done > 0 && ++generated === 1) cancel();
          },
        },
      );
      assert.equal(r.cancelled, true);
      const done = r.models.reduce((a, m) => a + m.samples, 0);
      assert.ok(done < 20 * 2, `a cancelled run still generated ${done} of 40 samples`);
    },
  );
});
