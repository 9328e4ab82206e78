/**
 * The CLI (as a process) fed bad input: each case exits non-zero with exactly one line
 * "difflora: error: ..." on stderr naming what is wrong and where (file, tensor, key, flag,
 * position), leaves no --out file (nor a .partial) behind, and never touches its input files.
 * Needs the build (`npm run build`).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensorsHeader, readTensorFloat32, writeSafetensors } from '../../engine/formats/safetensors';
import type { CliResult } from '../helpers/cli';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';

/** runCli, but without blocking: the cases of one test run side by side. */
function runCliAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'difflora.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs with a fixed backend and --quiet (so stderr holds only the error) unless `raw`. */
const QUIET = ['--backend', 'wasm', '--quiet'];

/** sha1 of every file under `dir`, to prove a failed run left its inputs alone. */
function snapshot(dirs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (p: string) => {
    if (!fs.existsSync(p)) return;
    if (fs.statSync(p).isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else m.set(p, createHash('sha1').update(fs.readFileSync(p)).digest('hex'));
  };
  dirs.forEach(walk);
  return m;
}

interface Expect {
  /** Substrings the single error line must contain. */
  parts: string[];
  /** The --out file that must not exist afterwards. */
  out?: string;
  /** Folders whose files must be byte-identical afterwards. */
  inputs?: string[];
}

/** Runs the CLI and checks the failure contract; returns the message after "difflora: error: ". */
async function expectFailure(args: string[], e: Expect): Promise<string> {
  const before = snapshot(e.inputs ?? []);
  const r = await runCliAsync(args);
  const cmd = `difflora ${args.join(' ')}`;
  assert.notEqual(r.code, 0, `${cmd} succeeded`);
  assert.equal(r.code, 1, `${cmd}: exit code ${r.code}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${cmd}: expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^difflora: error: /);
  assert.ok(!/^\s+at /m.test(r.stderr), 'no stack trace');
  for (const p of e.parts) assert.ok(lines[0].includes(p), `${cmd}: error lacks ${JSON.stringify(p)}:\n${lines[0]}`);
  if (e.out) {
    assert.ok(!fs.existsSync(e.out), `${e.out} was left behind`);
    assert.ok(!fs.existsSync(`${e.out}.partial`), `${e.out}.partial was left behind`);
  }
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.deepEqual(snapshot(e.inputs ?? []), before, 'input files changed');
  return lines[0].slice('difflora: error: '.length);
}

function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(j);
  fs.writeFileSync(file, JSON.stringify(j, null, 2));
}

function copyDir(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Sum of shape products over every tensor of the given safetensors files, read by hand. */
function tensorElements(files: string[]): number {
  let n = 0;
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    for (const [name, t] of Object.entries(header)) {
      if (name !== '__metadata__') n += (t as { shape: number[] }).shape.reduce((a, b) => a * b, 1);
    }
  }
  return n;
}

describe('difflora CLI: bad input gives one clear error line and loses nothing', () => {
  const dir = tempDir('cli-errors');
  const out = (name: string) => path.join(dir, 'out', `${name}.json`);
  /** attention on `model` with ids 1,2 unless overridden, writing to out(name). */
  const attention = (name: string, model: string, extra: string[]) => [
    'attention',
    '--model',
    model,
    ...(extra.some((a) => ['--ids', '--text', '--file'].includes(a)) ? [] : ['--ids', '1,2']),
    ...extra,
    '--out',
    out(name),
    ...QUIET,
  ];
  let base = '';
  let base48 = '';
  let sharded = '';
  let lora = '';
  let diff = '';

  before(() => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'engine', 'cli.js')), 'build first: npm run build');
    base = makeCheckpoint('base', path.join(dir, 'base'), [
      '--seed',
      '1',
      '--layers',
      '2',
      '--hidden',
      '64',
      '--heads',
      '4',
      '--kv-heads',
      '2',
      '--vocab',
      '101',
    ]);
    base48 = makeCheckpoint('base', path.join(dir, 'base48'), [
      '--seed',
      '2',
      '--layers',
      '2',
      '--hidden',
      '48',
      '--heads',
      '4',
      '--kv-heads',
      '2',
      '--vocab',
      '101',
    ]);
    sharded = makeCheckpoint('base', path.join(dir, 'sharded'), [
      '--seed',
      '3',
      '--layers',
      '2',
      '--hidden',
      '32',
      '--heads',
      '2',
      '--kv-heads',
      '1',
      '--dtype',
      'BF16',
      '--shards',
      '3',
      '--tie',
    ]);
    lora = makeCheckpoint('lora', path.join(dir, 'lora'), [
      '--base',
      base,
      '--seed',
      '4',
      '--r',
      '4',
      '--targets',
      'q_proj,v_proj,down_proj',
    ]);
    diff = makeCheckpoint('difflora', path.join(dir, 'diff'), ['--base', base, '--seed', '5', '--learn-lambda', '--groupnorm', '--lora-o']);
    fs.mkdirSync(path.join(dir, 'out'));
  });

  describe('model folder', () => {
    test('model folder missing', async () => {
      const missing = path.join(dir, 'no-such-model');
      await expectFailure(attention('nomodel', missing, []), { parts: [missing, 'model folder not found'], out: out('nomodel') });
    });

    test('config.json without hidden_size', async () => {
      const m = copyDir(base, path.join(dir, 'nohidden'));
      editJson(path.join(m, 'config.json'), (j) => delete j.hidden_size);
      await expectFailure(attention('nohidden', m, []), {
        parts: [path.join(m, 'config.json'), "'hidden_size'", 'missing'],
        out: out('nohidden'),
        inputs: [m],
      });
    });

    test('a tensor whose shape disagrees with config.json', async () => {
      const m = copyDir(base, path.join(dir, 'wrongshape'));
      editJson(path.join(m, 'config.json'), (j) => {
        j.intermediate_size = 128;
      });
      await expectFailure(attention('wrongshape', m, []), {
        parts: [path.join(m, 'model.safetensors'), "tensor 'model.layers.0.mlp.gate_proj.weight'", 'shape [96, 64]', '[128, 64]'],
        out: out('wrongshape'),
        inputs: [m],
      });
    });

    test('a missing tensor', async () => {
      const m = path.join(dir, 'missing-tensor');
      fs.mkdirSync(m);
      fs.copyFileSync(path.join(base, 'config.json'), path.join(m, 'config.json'));
      const gone = 'model.layers.1.self_attn.v_proj.weight';
      const src = readSafetensorsHeader(path.join(base, 'model.safetensors')).tensors;
      const kept = [...src.values()]
        .filter((e) => e.name !== gone)
        .map((e) => ({ name: e.name, shape: e.shape, data: readTensorFloat32(e) }));
      assert.equal(kept.length, src.size - 1);
      writeSafetensors(path.join(m, 'model.safetensors'), kept, 'F32');
      await expectFailure(attention('missing-tensor', m, []), {
        parts: [path.join(m, 'model.safetensors'), `missing tensor '${gone}'`],
        out: out('missing-tensor'),
        inputs: [m],
      });
    });

    test('a truncated model.safetensors (data cut; header cut)', async () => {
      const cut = (name: string, size: (full: number) => number) => {
        const m = copyDir(base, path.join(dir, name));
        const file = path.join(m, 'model.safetensors');
        fs.truncateSync(file, size(fs.statSync(file).size));
        return m;
      };
      const data = cut('truncated', (n) => n - 1000);
      const header = cut('truncated-header', () => 100);
      await Promise.all([
        expectFailure(attention('truncated', data, []), {
          parts: [path.join(data, 'model.safetensors'), "tensor '", 'run past the end', 'truncated'],
          out: out('truncated'),
          inputs: [data],
        }),
        expectFailure(attention('truncated-header', header, []), {
          parts: [path.join(header, 'model.safetensors'), 'header length', 'beyond the end of the file'],
          out: out('truncated-header'),
          inputs: [header],
        }),
      ]);
    });

    test('a sharded model missing a shard', async () => {
      const m = copyDir(sharded, path.join(dir, 'noshard'));
      fs.rmSync(path.join(m, 'model-00002-of-00003.safetensors'));
      await expectFailure(attention('noshard', m, []), {
        parts: [path.join(m, 'model.safetensors.index.json'), 'model-00002-of-00003.safetensors', 'not found'],
        out: out('noshard'),
        inputs: [m],
      });
    });
  });

  describe('adapter folder', () => {
    test('a LoRA and a DiffLoRA made for another base model (hidden 48 on a hidden 64 base)', async () => {
      const a = makeCheckpoint('lora', path.join(dir, 'lora48'), ['--base', base48, '--seed', '6', '--targets', 'q_proj,v_proj']);
      const d = makeCheckpoint('difflora', path.join(dir, 'diff48'), ['--base', base48, '--seed', '7']);
      await Promise.all([
        expectFailure(attention('lora48', base, ['--adapter', a]), {
          parts: [
            path.join(a, 'adapter_model.safetensors'),
            "tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'",
            '[4, 48]',
            '[4, 64]',
          ],
          out: out('lora48'),
          inputs: [a, base],
        }),
        expectFailure(attention('diff48', base, ['--adapter', d]), {
          parts: [path.join(d, 'model.safetensors'), "tensor 'model.layers.0.self_attn.wq_lora_A1.weight'", '48]', '64]'],
          out: out('diff48'),
          inputs: [d],
        }),
      ]);
    });

    test('an adapter folder with neither adapter_config.json nor a DiffLoRA config.json', async () => {
      const a = path.join(dir, 'empty-adapter');
      fs.mkdirSync(a);
      fs.copyFileSync(path.join(lora, 'adapter_model.safetensors'), path.join(a, 'adapter_model.safetensors'));
      const missing = path.join(dir, 'no-such-adapter');
      await Promise.all([
        expectFailure(attention('empty-adapter', base, ['--adapter', a]), {
          parts: [a, 'not an adapter folder', 'adapter_config.json'],
          out: out('empty-adapter'),
          inputs: [a],
        }),
        // a base model folder passed as the adapter
        expectFailure(attention('base-as-adapter', base, ['--adapter', base]), {
          parts: [path.join(base, 'config.json'), 'model_type "llama" is not an adapter'],
          out: out('base-as-adapter'),
          inputs: [base],
        }),
        expectFailure(attention('no-adapter', base, ['--adapter', missing]), {
          parts: [missing, 'adapter folder not found'],
          out: out('no-adapter'),
        }),
      ]);
    });

    test('adapter config and weights disagree: extra tensors, and a configured module without tensors', async () => {
      const extra = copyDir(lora, path.join(dir, 'lora-extra'));
      editJson(path.join(extra, 'adapter_config.json'), (j) => {
        j.target_modules = ['q_proj', 'v_proj'];
      });
      const lacking = copyDir(lora, path.join(dir, 'lora-lacking'));
      editJson(path.join(lacking, 'adapter_config.json'), (j) => {
        j.target_modules = ['q_proj', 'v_proj', 'down_proj', 'k_proj'];
      });
      await Promise.all([
        expectFailure(attention('lora-extra', base, ['--adapter', extra]), {
          parts: [extra, "4 tensor(s) that the adapter's config does not use", 'down_proj.lora_A.weight'],
          out: out('lora-extra'),
          inputs: [extra],
        }),
        // names the tensor as PEFT saves it (not a ".default" name that never was in the file)
        expectFailure(attention('lora-lacking', base, ['--adapter', lacking]), {
          parts: [
            path.join(lacking, 'adapter_model.safetensors'),
            "missing tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'",
          ],
          out: out('lora-lacking'),
          inputs: [lacking],
        }),
      ]);
    });

    test('a DiffLoRA per-layer lambda list shorter than the model', async () => {
      const d = copyDir(diff, path.join(dir, 'diff-lambda'));
      editJson(path.join(d, 'config.json'), (j) => {
        j.diff_attn_lambda = [0.1];
      });
      await expectFailure(attention('diff-lambda', base, ['--adapter', d]), {
        parts: [path.join(d, 'config.json'), "'diff_attn_lambda'", 'layer 1'],
        out: out('diff-lambda'),
        inputs: [d],
      });
    });
  });

  describe('flags', () => {
    test('empty input: --ids, --text, an empty --file, --prompt', async () => {
      const f = path.join(dir, 'empty.txt');
      fs.writeFileSync(f, '');
      await Promise.all([
        expectFailure(attention('e1', base, ['--ids', ' , ']), { parts: ['--ids', 'empty'], out: out('e1') }),
        expectFailure(attention('e2', base, ['--text', '']), { parts: ['--text', 'empty text'], out: out('e2') }),
        expectFailure(attention('e3', base, ['--file', f]), { parts: [f, 'empty text'], out: out('e3') }),
        expectFailure(['generate', '--model', base, '--prompt', '', '--out', out('e4'), ...QUIET], {
          parts: ['--prompt', 'empty text'],
          out: out('e4'),
        }),
      ]);
    });

    test('text without a tokenizer; two inputs at once', async () => {
      await Promise.all([
        expectFailure(attention('t1', base, ['--text', 'hi']), { parts: [base, 'no tokenizer.json', '--ids'], out: out('t1') }),
        expectFailure(attention('t2', base, ['--text', 'hi', '--ids', '1']), {
          parts: ['exactly one of --text, --file, --ids'],
          out: out('t2'),
        }),
      ]);
    });

    test('--ids with an id >= the vocabulary size (names the id and its position); --ids with garbage', async () => {
      await Promise.all([
        expectFailure(attention('i1', base, ['--ids', '1,2,101,3']), { parts: ['token id 101', 'position 2', '[0, 101)'], out: out('i1') }),
        expectFailure(attention('i2', base, ['--ids', '1,x']), { parts: ['--ids', "'x'", 'position 1'], out: out('i2') }),
      ]);
    });

    test('--layers out of range, --heads "3-1", an empty --layers', async () => {
      await Promise.all([
        expectFailure(attention('l1', base, ['--layers', '0,2']), { parts: ['--layers', '2 is out of range', 'has 2'], out: out('l1') }),
        expectFailure(attention('l2', base, ['--heads', '3-1']), { parts: ['--heads', "'3-1'", 'reversed'], out: out('l2') }),
        expectFailure(attention('l3', base, ['--layers', '']), { parts: ['--layers', 'empty'], out: out('l3') }),
      ]);
    });

    test('--backend tensorflow when tfjs-node is not installed', async (t) => {
      for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
        try {
          require.resolve(pkg, { paths: [ROOT] });
          t.skip(`${pkg} is installed`);
          return;
        } catch {
          // not installed: the case under test
        }
      }
      const args = attention('tensorflow', base, []).filter((a) => a !== 'wasm' && a !== '--backend');
      await expectFailure([...args, '--backend', 'tensorflow'], {
        parts: ['tensorflow', '@tensorflow/tfjs-node', 'install'],
        out: out('tensorflow'),
      });
    });

    test('generate with --top-p 2; an empty --seed', async () => {
      const gen = (name: string, extra: string[]) => ['generate', '--model', base, '--ids', '1,2', ...extra, '--out', out(name), ...QUIET];
      await Promise.all([
        expectFailure(gen('g1', ['--top-p', '2']), { parts: ['--top-p', "'2'", '[0, 1]'], out: out('g1') }),
        expectFailure(gen('g2', ['--seed', '']), { parts: ['--seed', "''"], out: out('g2') }),
      ]);
    });

    test('a failed run leaves an existing --out file as it was', async () => {
      const o = out('existing');
      fs.writeFileSync(o, 'previous result\n');
      const r = await runCliAsync(attention('existing', base, ['--heads', '9']));
      assert.equal(r.code, 1);
      assert.equal(fs.readFileSync(o, 'utf8'), 'previous result\n');
      assert.ok(!fs.existsSync(`${o}.partial`));
    });

    test('an unknown flag: exit code 2 and the usage; a missing required option', async () => {
      const [bogus, required] = await Promise.all([
        runCliAsync([...attention('unknown', base, []), '--bogus']),
        runCliAsync(['attention', '--ids', '1', '--out', out('unknown')]),
      ]);
      assert.equal(bogus.code, 2);
      assert.match(bogus.stderr, /unknown option '--bogus'/);
      assert.match(bogus.stderr, /Usage: difflora attention \[options\]/);
      assert.equal(required.code, 2);
      assert.match(required.stderr, /required option '--model <dir>' not specified/);
      assert.ok(!fs.existsSync(out('unknown')));
    });
  });

  describe('good input', () => {
    test('info on a good model and adapter: parameter counts are the sums of the tensor sizes', async () => {
      const [withLora, withDiff, shardedInfo] = (
        await Promise.all([
          runCliAsync(['info', '--model', base, '--adapter', lora]),
          runCliAsync(['info', '--model', base, '--adapter', diff]),
          runCliAsync(['info', '--model', sharded]),
        ])
      ).map((r) => {
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout);
      });
      const baseParams = tensorElements([path.join(base, 'model.safetensors')]);
      for (const [j, adapter, file] of [
        [withLora, lora, 'adapter_model.safetensors'],
        [withDiff, diff, 'model.safetensors'],
      ]) {
        assert.equal(j.parameters, baseParams);
        assert.equal(j.architecture.hidden, 64);
        assert.equal(j.architecture.kvHeads, 2);
        assert.equal(j.adapter.parameters, tensorElements([path.join(adapter, file)]));
      }
      assert.equal(withLora.adapter.kind, 'lora');
      assert.equal(withDiff.adapter.kind, 'difflora');
      // by formula too: base = 2 V D + D + L (2D + D*qd + 2 D*kvd + qd*D + 3 D I), LoRA = sum of r (in + out)
      const [V, D, L, I, qd, kvd, r] = [101, 64, 2, 96, 64, 32, 4];
      assert.equal(baseParams, 2 * V * D + D + L * (2 * D + D * qd + 2 * D * kvd + qd * D + 3 * D * I));
      assert.equal(withLora.adapter.parameters, L * r * (D + qd + (D + kvd) + (I + D)));
      // a sharded, tied model: every shard counted
      const shards = fs
        .readdirSync(sharded)
        .filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f))
        .map((f) => path.join(sharded, f));
      assert.equal(shards.length, 3);
      assert.equal(shardedInfo.parameters, tensorElements(shards));
      assert.equal(shardedInfo.architecture.tiedEmbeddings, true);
    });

    test('attention writes --out into a folder that does not exist yet, and leaves no .partial', async () => {
      const o = path.join(dir, 'new', 'sub', 'maps.json');
      const r = await runCliAsync([
        'attention',
        '--model',
        base,
        '--adapter',
        diff,
        '--ids',
        '1,2,3',
        '--layers',
        '1',
        '--heads',
        '0-1',
        '--out',
        o,
        ...QUIET,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(fs.readFileSync(o, 'utf8'));
      assert.deepEqual(j.ids, [1, 2, 3]);
      assert.deepEqual(
        j.layers.map((l: { layer: number }) => l.layer),
        [1],
      );
      assert.deepEqual(
        j.layers[0].heads.map((h: { head: number }) => h.head),
        [0, 1],
      );
      assert.ok(!fs.existsSync(`${o}.partial`));
    });
  });
});
