/** `difflora train` as a process: each method learns, a killed run resumes on the same curve, outputs load back. */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runCli, runCliOk } from '../helpers/cli';
import { nativeSkip } from '../helpers/native';
import { ROOT, tempDir } from '../helpers/reference';
import { taskData, tinyModel } from '../helpers/train-fixture';

const dir = tempDir('train');
let model = '',
  data = '',
  heldOut = '';

const common = (out: string, extra: string[] = []) => [
  'train',
  '--model',
  model,
  '--data',
  data,
  '--out',
  out,
  '--batch-size',
  '4',
  '--effective-batch',
  '8',
  '--quiet',
  ...extra,
];

const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('training', () => {
  before(() => {
    model = tinyModel(path.join(dir, 'model'));
    data = taskData(path.join(dir, 'train.jsonl'), 0, 48);
    heldOut = taskData(path.join(dir, 'held.jsonl'), 100, 8);
  });

  for (const method of ['lora', 'lora-matched', 'difflora-64', 'difflora-32']) {
    test(`${method}: a short run lowers the held-out loss and saves a loadable adapter`, () => {
      const out = path.join(dir, method);
      runCliOk([...common(out, ['--method', method, '--lr', '5e-3', '--max-steps', '12', '--warmup-ratio', '0', '--eval-data', heldOut])]);
      const evals = readJsonl(path.join(out, 'eval.jsonl'));
      assert.equal(evals.length, 2);
      assert.ok(evals[1].eval_loss < evals[0].eval_loss - 0.05, `held-out loss ${evals[0].eval_loss} -> ${evals[1].eval_loss}`);
      const metrics = readJsonl(path.join(out, 'metrics.jsonl'));
      assert.deepEqual(
        metrics.map((m) => m.step),
        [...Array(12).keys()].map((i) => i + 1),
      );
      for (const m of metrics) assert.ok(Number.isFinite(m.loss) && Number.isFinite(m.grad_norm) && m.tokens_per_sec > 0);
      if (method.startsWith('difflora')) assert.equal(metrics[0].lambda.length, 2);
      // The saved adapter runs through the engine like any downloaded one.
      runCliOk(['attention', '--model', model, '--adapter', out, '--text', 'def f(x):', '--quiet', '--out', path.join(out, 'maps.json')]);
      const maps = JSON.parse(fs.readFileSync(path.join(out, 'maps.json'), 'utf8'));
      assert.equal(maps.layers[0].heads[0].differential !== undefined, method.startsWith('difflora'));
    });
  }

  test('a LoRA we train is a PEFT folder with the names and shapes PEFT expects', () => {
    const out = path.join(dir, 'lora');
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.deepEqual(cfg.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
    assert.equal(cfg.r, 16);
    assert.equal(cfg.lora_alpha, 32);
    const info = JSON.parse(runCliOk(['info', '--model', model, '--adapter', out]).stdout);
    // q: A [16, 32] + B [32, 16]; k, v: B [16, 16]; o: [16, 32] + [32, 16]; two layers.
    assert.equal(info.adapter.parameters, 2 * (16 * 32 * 2 * 2 + (16 * 32 + 16 * 16) * 2));
  });

  // native steps are about ten times faster than cpu's: more of them leave time to kill the run mid-way.
  const killRuns: { backend: string; steps: number }[] = [
    { backend: 'cpu', steps: 10 },
    ...(nativeSkip() ? [] : [{ backend: 'native', steps: 40 }]),
  ];
  for (const { backend, steps } of killRuns) {
    test(`kill -9 mid-run, then --resume: the same loss curve and the same adapter as an uninterrupted run (${backend})`, async () => {
      const args = (out: string) =>
        common(out, [
          '--method',
          'difflora-32',
          '--learn-lambda',
          '--lr',
          '3e-3',
          '--max-steps',
          String(steps),
          '--checkpoint-every',
          '2',
          '--backend',
          backend,
        ]);
      const full = path.join(dir, `full-${backend}`);
      runCliOk(args(full));
      const cut = path.join(dir, `cut-${backend}`);
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'difflora.js'), ...args(cut)], { stdio: 'ignore' });
      const metrics = path.join(cut, 'metrics.jsonl');
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          const n = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length : 0;
          if (n >= 5) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        }, 20);
        child.on('exit', () => {
          clearInterval(timer);
          reject(new Error('the run ended before it could be killed'));
        });
      });
      await new Promise((r) => child.on('exit', r));
      assert.ok(!fs.existsSync(path.join(cut, 'adapter_config.json')) && !fs.existsSync(path.join(cut, 'model.safetensors')));
      runCliOk([...args(cut), '--resume']);
      const a = readJsonl(path.join(full, 'metrics.jsonl')),
        b = readJsonl(metrics);
      assert.deepEqual(
        b.map((m) => m.step),
        a.map((m) => m.step),
      );
      a.forEach((m, i) => {
        assert.ok(Math.abs(m.loss - b[i].loss) <= 1e-5, `step ${m.step}: ${m.loss} vs ${b[i].loss}`);
        m.lambda.forEach((l: number, j: number) => assert.ok(Math.abs(l - b[i].lambda[j]) <= 1e-5));
      });
      assert.deepEqual(fs.readFileSync(path.join(cut, 'model.safetensors')), fs.readFileSync(path.join(full, 'model.safetensors')));
    });
  }

  test('bad data: a broken line stops with file:line, or is skipped and counted', () => {
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(
      bad,
      `${fs.readFileSync(data, 'utf8').trim().split('\n').slice(0, 6).join('\n')}\n{"prompt": "x", "completion": \n{"text": ""}\n`,
    );
    const r = runCli([
      'train',
      '--model',
      model,
      '--data',
      bad,
      '--out',
      path.join(dir, 'bad-out'),
      '--method',
      'lora',
      '--max-steps',
      '1',
      '--quiet',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), new RegExp(`^difflora: error: .*bad\\.jsonl:7`));
    const skip = runCli([
      'train',
      '--model',
      model,
      '--data',
      bad,
      '--out',
      path.join(dir, 'bad-skip'),
      '--method',
      'lora',
      '--max-steps',
      '1',
      '--on-bad-line',
      'skip',
    ]);
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stderr, /6 examples .* 2 bad lines skipped \(first: .*bad\.jsonl:7/);
  });

  test('an empty dataset and a too-long example are clear errors', () => {
    const empty = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(empty, '\n\n');
    const e = runCli(['train', '--model', model, '--data', empty, '--out', path.join(dir, 'e-out'), '--method', 'lora', '--quiet']);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /empty\.jsonl/);
    const long = runCli([
      'train',
      '--model',
      model,
      '--data',
      data,
      '--out',
      path.join(dir, 'l-out'),
      '--method',
      'lora',
      '--max-length',
      '8',
      '--on-too-long',
      'error',
      '--quiet',
    ]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /train\.jsonl:1.*8/);
  });
});
