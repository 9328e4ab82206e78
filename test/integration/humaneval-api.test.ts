/**
 * runHumanEval in-process, as the engine server calls it: a model and an adapter the caller already loaded
 * (used, never disposed), plain-JSON progress events, cancel then resume, generation without execution.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { BackendInfo, initBackend } from '../../engine/backend';
import { loadAdapter } from '../../engine/model/adapter-weights';
import { loadModel, LoadedModel } from '../../engine/model/load';
import { HumanEvalProgress, runHumanEval } from '../../engine/humaneval/run';
import { Problem } from '../../engine/humaneval/problems';
import { makeCheckpoint, tempDir } from '../helpers/reference';
import { tinyModel } from '../helpers/train-fixture';

const dir = tempDir('he-api');
let backend: BackendInfo;
let m: LoadedModel;
let loraDir = '';

const problems: Problem[] = Array.from({ length: 4 }, (_, i) => ({
  task_id: `Tiny/${i}`,
  prompt: `def scale_${i}(values):\n    """Multiply every value by ${i}."""\n`,
  entry_point: `scale_${i}`,
  canonical_solution: `    return [v * ${i} for v in values]\n`,
  test: `def check(candidate):\n    assert candidate([1, 2]) == [${i}, ${2 * i}]\n`,
}));

describe('runHumanEval (the programmatic API)', () => {
  before(async () => {
    backend = await initBackend('cpu', () => {});
    const modelDir = tinyModel(path.join(dir, 'model'));
    loraDir = makeCheckpoint('lora', path.join(dir, 'lora'), ['--base', modelDir, '--seed', '5']);
    m = loadModel(modelDir, backend);
  });

  test('preloaded model and adapter, JSON progress, cancel, resume', async () => {
    const adapter = loadAdapter(loraDir, m.config);
    const events: HumanEvalProgress[] = [];
    const opts = {
      models: [
        { model: m.dir, loaded: m },
        { model: m.dir, adapter: loraDir, adapterWeights: adapter, loaded: m },
      ],
      problems,
      outDir: path.join(dir, 'out'),
      n: 2,
      k: [1, 2],
      temperature: 0.7,
      maxNewTokens: 12,
      backendInfo: backend,
      workers: 2,
    };
    let generated = 0;
    const first = await runHumanEval(opts, {
      onProgress: (e) => {
        events.push(e);
        if (e.type === 'generate' && e.done > 0) generated++;
      },
      isCancelled: () => generated >= 3,
    });
    assert.equal(first.cancelled, true);
    assert.equal(events.at(-1)?.type, 'done');
    for (const e of events) assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
    assert.ok(events.some((e) => e.type === 'sandbox'));

    const again: HumanEvalProgress[] = [];
    const r = await runHumanEval(opts, { onProgress: (e) => again.push(e) });
    assert.equal(r.cancelled, false);
    assert.deepEqual(
      r.models.map((x) => [x.label, x.samples]),
      [
        ['base', 8],
        ['lora', 8],
      ],
    );
    assert.deepEqual(Object.keys(r.models[1].passAtK), ['pass@1', 'pass@2']);
    assert.equal(r.models[0].results.length, 8);
    const resumed = again.find((e) => e.type === 'generate' && e.model === 'base');
    assert.ok(resumed && resumed.type === 'generate' && resumed.done >= 3, 'the second run starts from the samples of the first');
    assert.deepEqual(
      again.filter((e) => e.type === 'model-done').map((e) => e.type === 'model-done' && e.model),
      ['base', 'lora'],
    );
    // The caller's model and adapter are still usable: nothing of theirs was disposed.
    const logits = m.model.forward([[1, 2, 3]], adapter, { lastOnly: true });
    assert.equal((await logits.data()).length, m.config.vocabSize);
    logits.dispose();
  });

  test('execute: false makes the samples only', async () => {
    const out = path.join(dir, 'gen-only');
    const r = await runHumanEval({
      models: [{ model: m.dir, loaded: m }],
      problems,
      outDir: out,
      n: 1,
      maxNewTokens: 8,
      execute: false,
      backendInfo: backend,
    });
    assert.equal(r.sandbox, null);
    assert.equal(
      fs
        .readFileSync(path.join(out, 'base', 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n').length,
      4,
    );
    assert.ok(!fs.existsSync(path.join(out, 'base', 'results.jsonl')));
    assert.deepEqual(r.models[0].passAtK, {});
  });
});
