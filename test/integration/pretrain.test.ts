/** `difflora pretrain` end to end on a small corpus: tokenizer, model, HF folder the engine loads back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli, runCliOk } from '../helpers/cli';
import { tempDir } from '../helpers/reference';

test('pretrain writes an HF folder (config, weights, tokenizer) that info and generate load; resume continues', () => {
  const dir = tempDir('pretrain');
  const corpus = path.join(dir, 'corpus');
  fs.mkdirSync(path.join(corpus, 'pkg'), { recursive: true });
  for (let i = 0; i < 12; i++) {
    fs.writeFileSync(
      path.join(corpus, 'pkg', `m${i}.py`),
      `def f${i}(x, y=${i}):\n    """Scale x."""\n    return [v * y for v in x]\n\nclass C${i}:\n    def g(self):\n        return ${i}\n`,
    );
  }
  fs.writeFileSync(path.join(corpus, 'pkg', 'empty.py'), '');
  const out = path.join(dir, 'model');
  const args = [
    'pretrain',
    '--corpus',
    corpus,
    '--out',
    out,
    '--vocab',
    '300',
    '--hidden',
    '32',
    '--layers',
    '1',
    '--heads',
    '4',
    '--kv-heads',
    '2',
    '--intermediate',
    '64',
    '--seq-len',
    '32',
    '--batch-size',
    '2',
    '--warmup',
    '1',
    '--checkpoint-every',
    '2',
    '--held-out',
    '0.2',
    '--backend',
    'wasm',
    '--quiet',
  ];
  runCliOk([...args, '--max-steps', '4']);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'pretrain_summary.json'])
    assert.ok(fs.existsSync(path.join(out, f)), f);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'pretrain_summary.json'), 'utf8'));
  assert.equal(summary.steps, 4);
  assert.ok(Number.isFinite(summary.heldOutLoss) && summary.heldOutLoss > 0);
  const info = JSON.parse(runCliOk(['info', '--model', out]).stdout);
  assert.equal(info.architecture.kvHeads, 2);
  assert.equal(info.parameters, summary.parameters);
  runCliOk(['generate', '--model', out, '--prompt', 'def f(x):', '--max-new-tokens', '5', '--quiet', '--out', path.join(dir, 'g.json')]);
  // Resuming with more steps continues from the final checkpoint instead of starting over.
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'run', 'checkpoint', 'state.json'), 'utf8')).step, 4);
  runCliOk([...args, '--max-steps', '6', '--resume']);
  const metrics = fs
    .readFileSync(path.join(out, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    metrics.map((m) => m.step),
    [1, 2, 3, 4, 5, 6],
  );
});

test('pretrain on a missing or empty corpus is a clear error', () => {
  const dir = tempDir('pretrain-bad');
  const r = runCli(['pretrain', '--corpus', path.join(dir, 'nope'), '--out', path.join(dir, 'm'), '--quiet', '--backend', 'wasm']);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /^difflora: error: .*nope: corpus folder not found$/);
  fs.mkdirSync(path.join(dir, 'empty'));
  const e = runCli(['pretrain', '--corpus', path.join(dir, 'empty'), '--out', path.join(dir, 'm'), '--quiet', '--backend', 'wasm']);
  assert.match(e.stderr.trim(), /empty: no \.py files/);
});
