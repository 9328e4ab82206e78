/**
 * Training under faults. A run killed with SIGKILL at random moments (several seeds, checkpoints every
 * step, so kills land inside checkpoint writes and swaps too) and resumed each time ends on exactly
 * the curve and the adapter of an uninterrupted run. A checkpoint write that fails (disk full at open
 * or in the middle of a file, permission denied, I/O error) stops the run with a clear error, leaves
 * the last complete checkpoint in place and nothing half-written, and --resume continues the curve.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
// The module object itself (not a namespace copy): patching it reaches every reader of `fs`.
import nodeFs from 'fs';
import * as path from 'path';
import { BackendInfo, initBackend } from '../../engine/backend';
import { trainAdapter, TrainAdapterOptions } from '../../engine/api';
import { loadModel } from '../../engine/model/load';
import { Rng } from '../../engine/util/rng';
import { runCliOk } from '../helpers/cli';
import { ROOT, tempDir } from '../helpers/reference';
import { taskData, tinyModel } from '../helpers/train-fixture';

const dir = tempDir('train-faults');
let model = '',
  data = '';
const STEPS = 10;

const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss: number });
const trainArgs = (out: string) => [
  'train',
  '--model',
  model,
  '--data',
  data,
  '--out',
  out,
  '--method',
  'difflora-32',
  '--learn-lambda',
  '--lr',
  '3e-3',
  '--batch-size',
  '4',
  '--effective-batch',
  '8',
  '--max-steps',
  String(STEPS),
  '--checkpoint-every',
  '1',
  '--warmup-ratio',
  '0',
  '--backend',
  'cpu',
  '--quiet',
];

function assertSameRun(out: string, reference: string): void {
  const a = readJsonl(path.join(reference, 'metrics.jsonl')),
    b = readJsonl(path.join(out, 'metrics.jsonl'));
  assert.deepEqual(
    b.map((m) => m.step),
    a.map((m) => m.step),
  );
  a.forEach((m, i) => assert.ok(Math.abs(m.loss - b[i].loss) <= 1e-5, `step ${m.step}: ${m.loss} vs ${b[i].loss}`));
  assert.deepEqual(fs.readFileSync(path.join(out, 'model.safetensors')), fs.readFileSync(path.join(reference, 'model.safetensors')));
}

/** Steps the run in `out` has written to metrics.jsonl (a line torn by a kill does not count). */
function metricsCount(out: string): number {
  const f = path.join(out, 'metrics.jsonl');
  return fs.existsSync(f)
    ? fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}')).length
    : 0;
}

const hasCheckpoint = (out: string) => ['checkpoint', 'checkpoint.old'].some((c) => fs.existsSync(path.join(out, c, 'state.json')));

describe('training under faults', () => {
  let reference = '';
  let fullMs = 0;

  before(() => {
    model = tinyModel(path.join(dir, 'model'));
    data = taskData(path.join(dir, 'train.jsonl'), 0, 48);
    reference = path.join(dir, 'reference');
    const t0 = Date.now();
    runCliOk(trainArgs(reference));
    fullMs = Date.now() - t0;
  });

  for (const seed of [1, 2, 3]) {
    test(`kill -9 at random moments (seed ${seed}), resumed each time: the same curve and adapter`, async () => {
      const rng = new Rng(seed);
      const out = path.join(dir, `killed-${seed}`);
      const kills: string[] = [];
      for (let attempt = 0; ; attempt++) {
        const args = [...trainArgs(out), ...(hasCheckpoint(out) ? ['--resume'] : [])];
        const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'difflora.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d) => {
          stderr += d;
        });
        // After a few kills the run is left to finish. A kill comes once the run has written a random
        // step's metrics, plus a random part of a step's time: in a step, in a checkpoint, in its swap.
        const done = metricsCount(out);
        const at =
          attempt < 5 && done < STEPS - 1
            ? { step: done + 1 + Math.floor(rng.next() * (STEPS - 1 - done)), extraMs: Math.round((rng.next() * fullMs) / STEPS) }
            : undefined;
        const watch =
          at &&
          setInterval(() => {
            if (metricsCount(out) < at.step) return;
            clearInterval(watch);
            setTimeout(() => child.kill('SIGKILL'), at.extraMs);
          }, 10);
        const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.on('exit', (c, s) => resolve({ code: c, signal: s })),
        );
        clearInterval(watch);
        if (signal === 'SIGKILL') {
          kills.push(`step ${at!.step} + ${at!.extraMs} ms`);
          continue;
        }
        assert.equal(code, 0, `run ${attempt} failed: ${stderr}`);
        break;
      }
      console.log(`seed ${seed}: killed at ${kills.join(', ')} (an uninterrupted run takes ${fullMs} ms)`);
      assert.ok(kills.length > 0);
      assertSameRun(out, reference);
      assert.ok(!fs.existsSync(path.join(out, 'checkpoint.partial')) && !fs.existsSync(path.join(out, 'checkpoint.old')));
    });
  }

  describe('a checkpoint write that fails', () => {
    let backend: BackendInfo;
    before(async () => {
      backend = await initBackend('cpu', () => undefined);
    });

    const flags = (out: string, resume = false): TrainAdapterOptions => ({
      model,
      method: 'difflora-32',
      data,
      out,
      learnLambda: true,
      lr: 3e-3,
      epochs: 1,
      maxSteps: STEPS,
      batchSize: 4,
      effectiveBatch: 8,
      warmupRatio: 0,
      schedule: 'linear',
      weightDecay: 0,
      maxGradNorm: 1,
      seed: 0,
      maxLength: 512,
      onBadLine: 'stop',
      onTooLong: 'truncate',
      checkpointEvery: 1,
      resume,
    });

    /** Makes the file system fail inside checkpoint.partial once the run has reported `atStep`. */
    async function trainWithFault(out: string, atStep: number, fault: { code: string; on: 'open' | 'second-write' }): Promise<Error> {
      const realOpen = fs.openSync,
        realWrite = fs.writeSync;
      let armed = false;
      let partialFd = -1,
        writes = 0;
      const err = () => Object.assign(new Error(`${fault.code}: simulated fault`), { code: fault.code });
      nodeFs.openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
        const fd = (realOpen as (...a: unknown[]) => number)(p, ...rest);
        if (armed && String(p).includes('checkpoint.partial')) {
          if (fault.on === 'open') {
            fs.closeSync(fd);
            throw err();
          }
          partialFd = fd;
        }
        return fd;
      }) as typeof fs.openSync;
      nodeFs.writeSync = ((fd: number, ...rest: unknown[]) => {
        if (fd === partialFd && ++writes === 2) throw err();
        return (realWrite as (...a: unknown[]) => number)(fd, ...rest);
      }) as typeof fs.writeSync;
      const m = loadModel(model, backend);
      try {
        await trainAdapter(m, flags(out), {
          onEvent: (e) => {
            if (e.type === 'train' && e.event.type === 'step' && e.event.step === atStep) armed = true;
          },
        });
        throw new Error('the run did not stop');
      } catch (e) {
        return e as Error;
      } finally {
        nodeFs.openSync = realOpen;
        nodeFs.writeSync = realWrite;
        m.model.dispose();
      }
    }

    for (const fault of [
      { code: 'ENOSPC', on: 'second-write' as const, what: 'disk full in the middle of a file' },
      { code: 'ENOSPC', on: 'open' as const, what: 'disk full' },
      { code: 'EACCES', on: 'open' as const, what: 'permission denied' },
      { code: 'EIO', on: 'second-write' as const, what: 'an I/O error' },
    ]) {
      test(`${fault.what} (${fault.code}): a clear error, the last checkpoint kept, and --resume continues the curve`, async () => {
        const out = path.join(dir, `fault-${fault.code}-${fault.on}`);
        const e = await trainWithFault(out, 4, fault);
        assert.match(
          e.message,
          new RegExp(
            `checkpoint: cannot write the checkpoint of step 4 \\(${fault.code}: simulated fault\\); the last complete checkpoint is kept`,
          ),
        );
        const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
        assert.equal(state.step, 3);
        assert.ok(!fs.existsSync(path.join(out, 'checkpoint.partial')), 'a half-written checkpoint was left behind');
        const m = loadModel(model, backend);
        try {
          await trainAdapter(m, flags(out, true));
        } finally {
          m.model.dispose();
        }
        assertSameRun(out, reference);
      });
    }
  });
});
