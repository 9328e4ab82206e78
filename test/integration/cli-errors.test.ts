/**
 * The CLI (as a process) fed bad input: each case exits non-zero with exactly one line
 * "difflora: error: ..." on stderr naming what is wrong and where (file, tensor, key, flag,
 * position), leaves no --out file (nor a .partial) behind, and never touches its input files.
 * Needs the build (`npm run build`).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensorsHeader, readTensorFloat32, writeSafetensors } from '../../engine/formats/safetensors';
import { runCli } from '../helpers/cli';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';

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
function expectFailure(args: string[], e: Expect): string {
  const before = snapshot(e.inputs ?? []);
  const r = runCli(args);
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
  let base = '';
  let base48 = '';
  let sharded = '';
  let lora = '';
  let diff = '';

  before(() => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'engine', 'cli.js')), 'build first: npm run build');
    base = makeCheckpoint('base', path.join(dir, 'base'), ['--seed', '1', '--layers', '2', '--hidden', '64', '--heads', '4', '--kv-heads', '2', '--vocab', '101']);
    base48 = makeCheckpoint('base', path.join(dir, 'base48'), ['--seed', '2', '--layers', '2', '--hidden', '48', '--heads', '4', '--kv-heads', '2', '--vocab', '101']);
    sharded = makeCheckpoint('base', path.join(dir, 'sharded'), ['--seed', '3', '--layers', '2', '--hidden', '32', '--heads', '2', '--kv-heads', '1', '--dtype', 'BF16', '--shards', '3', '--tie']);
    lora = makeCheckpoint('lora', path.join(dir, 'lora'), ['--base', base, '--seed', '4', '--r', '4', '--targets', 'q_proj,v_proj,down_proj']);
    diff = makeCheckpoint('difflora', path.join(dir, 'diff'), ['--base', base, '--seed', '5', '--learn-lambda', '--groupnorm', '--lora-o']);
    fs.mkdirSync(path.join(dir, 'out'));
  });

  describe('model folder', () => {
    test('model folder missing', () => {
      const o = out('nomodel');
      const missing = path.join(dir, 'no-such-model');
      expectFailure(['attention', '--model', missing, '--ids', '1,2', '--out', o, ...QUIET], { parts: [missing, 'model folder not found'], out: o });
      expectFailure(['info', '--model', missing], { parts: [missing, 'not found'] });
    });

    test('config.json without hidden_size', () => {
      const m = copyDir(base, path.join(dir, 'nohidden'));
      editJson(path.join(m, 'config.json'), (j) => delete j.hidden_size);
      const o = out('nohidden');
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], { parts: [path.join(m, 'config.json'), "'hidden_size'", 'missing'], out: o, inputs: [m] });
    });

    test('a tensor whose shape disagrees with config.json', () => {
      const m = copyDir(base, path.join(dir, 'wrongshape'));
      editJson(path.join(m, 'config.json'), (j) => { j.intermediate_size = 128; });
      const o = out('wrongshape');
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(m, 'model.safetensors'), "tensor 'model.layers.0.mlp.gate_proj.weight'", 'shape [96, 64]', '[128, 64]'], out: o, inputs: [m],
      });
    });

    test('a missing tensor', () => {
      const m = path.join(dir, 'missing-tensor');
      fs.mkdirSync(m);
      fs.copyFileSync(path.join(base, 'config.json'), path.join(m, 'config.json'));
      const gone = 'model.layers.1.self_attn.v_proj.weight';
      const src = readSafetensorsHeader(path.join(base, 'model.safetensors')).tensors;
      const kept = [...src.values()].filter((e) => e.name !== gone).map((e) => ({ name: e.name, shape: e.shape, data: readTensorFloat32(e) }));
      assert.equal(kept.length, src.size - 1);
      writeSafetensors(path.join(m, 'model.safetensors'), kept, 'F32');
      const o = out('missing-tensor');
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], { parts: [path.join(m, 'model.safetensors'), `missing tensor '${gone}'`], out: o, inputs: [m] });
    });

    test('a truncated model.safetensors (data cut, then header cut)', () => {
      const m = copyDir(base, path.join(dir, 'truncated'));
      const file = path.join(m, 'model.safetensors');
      fs.truncateSync(file, fs.statSync(file).size - 1000);
      const o = out('truncated');
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], { parts: [file, "tensor '", 'run past the end', 'truncated'], out: o, inputs: [m] });
      fs.truncateSync(file, 100);
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], { parts: [file, 'header length', 'beyond the end of the file'], out: o, inputs: [m] });
      fs.truncateSync(file, 3);
      expectFailure(['info', '--model', m], { parts: [file, 'shorter than the 8-byte header length'], inputs: [m] });
    });

    test('a sharded model missing a shard', () => {
      const m = copyDir(sharded, path.join(dir, 'noshard'));
      fs.rmSync(path.join(m, 'model-00002-of-00003.safetensors'));
      const o = out('noshard');
      expectFailure(['attention', '--model', m, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(m, 'model.safetensors.index.json'), 'model-00002-of-00003.safetensors', 'not found'], out: o, inputs: [m],
      });
    });
  });

  describe('adapter folder', () => {
    test('a LoRA made for another base model (hidden 48 on a hidden 64 base)', () => {
      const a = makeCheckpoint('lora', path.join(dir, 'lora48'), ['--base', base48, '--seed', '6', '--targets', 'q_proj,v_proj']);
      const o = out('lora48');
      expectFailure(['attention', '--model', base, '--adapter', a, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(a, 'adapter_model.safetensors'), "tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'", '[4, 48]', '[4, 64]'], out: o, inputs: [a, base],
      });
    });

    test('a DiffLoRA made for another base model', () => {
      const a = makeCheckpoint('difflora', path.join(dir, 'diff48'), ['--base', base48, '--seed', '7']);
      const o = out('diff48');
      expectFailure(['attention', '--model', base, '--adapter', a, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(a, 'model.safetensors'), "tensor 'model.layers.0.self_attn.wq_lora_A1.weight'", '48', '64'], out: o, inputs: [a],
      });
    });

    test('an adapter folder with neither adapter_config.json nor a DiffLoRA config.json', () => {
      const a = path.join(dir, 'empty-adapter');
      fs.mkdirSync(a);
      fs.copyFileSync(path.join(lora, 'adapter_model.safetensors'), path.join(a, 'adapter_model.safetensors'));
      const o = out('empty-adapter');
      expectFailure(['attention', '--model', base, '--adapter', a, '--ids', '1,2', '--out', o, ...QUIET], { parts: [a, 'not an adapter folder', 'adapter_config.json'], out: o, inputs: [a] });
      // a base model folder passed as the adapter
      expectFailure(['attention', '--model', base, '--adapter', base, '--ids', '1,2', '--out', o, ...QUIET], { parts: [path.join(base, 'config.json'), 'model_type "llama" is not an adapter'], out: o, inputs: [base] });
      const missing = path.join(dir, 'no-such-adapter');
      expectFailure(['attention', '--model', base, '--adapter', missing, '--ids', '1,2', '--out', o, ...QUIET], { parts: [missing, 'adapter folder not found'], out: o });
    });

    test('adapter config and weights disagree: extra tensors', () => {
      const a = copyDir(lora, path.join(dir, 'lora-extra'));
      editJson(path.join(a, 'adapter_config.json'), (j) => { j.target_modules = ['q_proj', 'v_proj']; });
      const o = out('lora-extra');
      expectFailure(['attention', '--model', base, '--adapter', a, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [a, '4 tensor(s) that the adapter\'s config does not use', 'down_proj.lora_A.weight'], out: o, inputs: [a],
      });
      const d = copyDir(diff, path.join(dir, 'diff-extra'));
      editJson(path.join(d, 'config.json'), (j) => { j.lora_o = false; });
      expectFailure(['attention', '--model', base, '--adapter', d, '--ids', '1,2', '--out', o, ...QUIET], { parts: [d, 'does not use', 'wo_lora_'], out: o, inputs: [d] });
    });

    test('adapter config and weights disagree: a configured module has no tensors', () => {
      const a = copyDir(lora, path.join(dir, 'lora-missing'));
      editJson(path.join(a, 'adapter_config.json'), (j) => { j.target_modules = ['q_proj', 'v_proj', 'down_proj', 'k_proj']; });
      const o = out('lora-missing');
      // names the tensor as PEFT saves it (not a ".default" name that never was in the file)
      expectFailure(['attention', '--model', base, '--adapter', a, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(a, 'adapter_model.safetensors'), "missing tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'"], out: o, inputs: [a],
      });
    });

    test('a DiffLoRA per-layer lambda list shorter than the model', () => {
      const d = copyDir(diff, path.join(dir, 'diff-lambda'));
      editJson(path.join(d, 'config.json'), (j) => { j.learn_lambda = false; j.diff_attn_lambda = [0.1]; });
      const o = out('diff-lambda');
      // learn_lambda false: the lambda_* tensors are now extra, but the lambda list is checked first
      expectFailure(['attention', '--model', base, '--adapter', d, '--ids', '1,2', '--out', o, ...QUIET], {
        parts: [path.join(d, 'config.json'), "'diff_attn_lambda'", 'layer 1'], out: o, inputs: [d],
      });
    });
  });

  describe('flags', () => {
    test('empty --ids', () => {
      const o = out('emptyids');
      expectFailure(['attention', '--model', base, '--ids', '', '--out', o, ...QUIET], { parts: ['--ids', 'empty'], out: o });
      expectFailure(['attention', '--model', base, '--ids', ' , ', '--out', o, ...QUIET], { parts: ['--ids', 'empty'], out: o });
    });

    test('empty --text, an empty --file, an empty --prompt', () => {
      const o = out('emptytext');
      expectFailure(['attention', '--model', base, '--text', '', '--out', o, ...QUIET], { parts: ['--text', 'empty text'], out: o });
      const f = path.join(dir, 'empty.txt');
      fs.writeFileSync(f, '');
      expectFailure(['attention', '--model', base, '--file', f, '--out', o, ...QUIET], { parts: [f, 'empty text'], out: o });
      expectFailure(['generate', '--model', base, '--prompt', '', '--out', o, ...QUIET], { parts: ['--prompt', 'empty text'], out: o });
      expectFailure(['attention', '--model', base, '--file', path.join(dir, 'no.txt'), '--out', o, ...QUIET], { parts: [path.join(dir, 'no.txt'), 'cannot read'], out: o });
    });

    test('text without a tokenizer, and two inputs at once', () => {
      const o = out('notok');
      expectFailure(['attention', '--model', base, '--text', 'hi', '--out', o, ...QUIET], { parts: [base, 'no tokenizer.json', '--ids'], out: o });
      expectFailure(['attention', '--model', base, '--text', 'hi', '--ids', '1', '--out', o, ...QUIET], { parts: ['exactly one of --text, --file, --ids'], out: o });
    });

    test('--ids with an id >= the vocabulary size names the id and its position', () => {
      const o = out('bigid');
      expectFailure(['attention', '--model', base, '--ids', '1,2,101,3', '--out', o, ...QUIET], { parts: ['token id 101', 'position 2', '[0, 101)'], out: o });
      expectFailure(['generate', '--model', base, '--ids', '100000', '--out', o, ...QUIET], { parts: ['token id 100000', 'position 0'], out: o });
    });

    test('--ids with garbage', () => {
      const o = out('garbage');
      expectFailure(['attention', '--model', base, '--ids', '1,x', '--out', o, ...QUIET], { parts: ['--ids', "'x'", 'position 1'], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1,-2', '--out', o, ...QUIET], { parts: ['--ids', "'-2'"], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1.5', '--out', o, ...QUIET], { parts: ['--ids', "'1.5'", 'position 0'], out: o });
    });

    test('--layers out of range, --heads reversed, empty lists', () => {
      const o = out('layers');
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--layers', '0,2', '--out', o, ...QUIET], { parts: ['--layers', '2 is out of range', 'has 2'], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--heads', '3-1', '--out', o, ...QUIET], { parts: ['--heads', "'3-1'", 'reversed'], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--heads', '0-4', '--out', o, ...QUIET], { parts: ['--heads', '4 is out of range', 'has 4'], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--layers', 'a', '--out', o, ...QUIET], { parts: ['--layers', "'a'"], out: o });
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--layers', '', '--out', o, ...QUIET], { parts: ['--layers', 'empty'], out: o });
    });

    test('--backend tensorflow when tfjs-node is not installed', (t) => {
      for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
        try {
          require.resolve(pkg, { paths: [ROOT] });
          t.skip(`${pkg} is installed`);
          return;
        } catch {
          // not installed: the case under test
        }
      }
      const o = out('tensorflow');
      expectFailure(['attention', '--model', base, '--ids', '1,2', '--out', o, '--backend', 'tensorflow', '--quiet'], { parts: ['tensorflow', '@tensorflow/tfjs-node', 'install'], out: o });
    });

    test('generate with --top-p 2 and other bad numbers', () => {
      const o = out('topp');
      expectFailure(['generate', '--model', base, '--ids', '1,2', '--top-p', '2', '--out', o, ...QUIET], { parts: ['--top-p', "'2'", '[0, 1]'], out: o });
      expectFailure(['generate', '--model', base, '--ids', '1,2', '--temperature', 'hot', '--out', o, ...QUIET], { parts: ['--temperature', "'hot'"], out: o });
      expectFailure(['generate', '--model', base, '--ids', '1,2', '--max-new-tokens', '2.5', '--out', o, ...QUIET], { parts: ['--max-new-tokens', "'2.5'", 'integer'], out: o });
      expectFailure(['generate', '--model', base, '--ids', '1,2', '--seed', '', '--out', o, ...QUIET], { parts: ['--seed', "''"], out: o });
    });

    test('a failed run leaves an existing --out file as it was', () => {
      const o = out('existing');
      fs.writeFileSync(o, 'previous result\n');
      const r = runCli(['attention', '--model', base, '--ids', '1,2', '--heads', '9', '--out', o, ...QUIET]);
      assert.equal(r.code, 1);
      assert.equal(fs.readFileSync(o, 'utf8'), 'previous result\n');
      assert.ok(!fs.existsSync(`${o}.partial`));
      fs.rmSync(o);
    });

    test('an unknown flag: exit code 2 and the usage', () => {
      const o = out('unknown');
      const r = runCli(['attention', '--model', base, '--ids', '1', '--out', o, '--bogus', ...QUIET]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown option '--bogus'/);
      assert.match(r.stderr, /Usage: difflora attention \[options\]/);
      assert.ok(!fs.existsSync(o));
      const c = runCli(['frobnicate']);
      assert.equal(c.code, 2);
      assert.match(c.stderr, /unknown command 'frobnicate'/);
      const m = runCli(['attention', '--ids', '1', '--out', o]);
      assert.equal(m.code, 2);
      assert.match(m.stderr, /required option '--model <dir>' not specified/);
    });
  });

  describe('good input', () => {
    test('info on a good model and adapter: parameter counts are the sums of the tensor sizes', () => {
      for (const [model, adapter, adapterFile] of [[base, lora, 'adapter_model.safetensors'], [base, diff, 'model.safetensors']]) {
        const r = runCli(['info', '--model', model, '--adapter', adapter]);
        assert.equal(r.code, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.equal(j.parameters, tensorElements([path.join(model, 'model.safetensors')]));
        assert.equal(j.architecture.hidden, 64);
        assert.equal(j.architecture.kvHeads, 2);
        assert.equal(j.adapter.parameters, tensorElements([path.join(adapter, adapterFile)]));
      }
      // by formula too: base = 2 V D + D + L (2D + D*qd + 2 D*kvd + qd*D + 3 D I), LoRA = sum r (in + out)
      const j = JSON.parse(runCli(['info', '--model', base, '--adapter', lora]).stdout);
      const [V, D, L, I, qd, kvd, r] = [101, 64, 2, 96, 64, 32, 4];
      assert.equal(j.parameters, 2 * V * D + D + L * (2 * D + D * qd + 2 * D * kvd + qd * D + 3 * D * I));
      assert.equal(j.adapter.kind, 'lora');
      assert.equal(j.adapter.parameters, L * r * ((D + qd) + (D + kvd) + (I + D)));
      // a sharded, tied model: all shards counted
      const s = JSON.parse(runCli(['info', '--model', sharded]).stdout);
      const shards = fs.readdirSync(sharded).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)).map((f) => path.join(sharded, f));
      assert.equal(shards.length, 3);
      assert.equal(s.parameters, tensorElements(shards));
      assert.equal(s.architecture.tiedEmbeddings, true);
    });

    test('attention writes --out into a folder that does not exist yet, and leaves no .partial', () => {
      const o = path.join(dir, 'new', 'sub', 'maps.json');
      const r = runCli(['attention', '--model', base, '--adapter', diff, '--ids', '1,2,3', '--layers', '1', '--heads', '0-1', '--out', o, ...QUIET]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(fs.readFileSync(o, 'utf8'));
      assert.deepEqual(j.ids, [1, 2, 3]);
      assert.deepEqual(j.layers.map((l: { layer: number }) => l.layer), [1]);
      assert.deepEqual(j.layers[0].heads.map((h: { head: number }) => h.head), [0, 1]);
      assert.ok(!fs.existsSync(`${o}.partial`));
    });
  });
});
