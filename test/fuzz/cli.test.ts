/**
 * Fuzzing the CLI: its list and number parsers (parseIndexList, parseIds, parseNumber, parseInteger)
 * on any string, against a reference reading; then `difflora` itself as a process, with fuzzed flag
 * values, fuzzed model and adapter folders (config.json edited, weights cut or bytes changed) and
 * fuzzed HumanEval problem / samples files for `humaneval-exec`. A run ends with exit 0, or exit 1 and
 * exactly one line "difflora: error: ..." (never a stack trace, a TypeError or a RangeError), or exit 2
 * with the usage (commander's own refusals). Needs the build (`npm run build`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { InputError, oneLine } from '../../engine/errors';
import { parseIds, parseIndexList, parseInteger, parseNumber } from '../../engine/api/parse';
import { fuzzParams, valueOrError } from '../helpers/fuzz';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';
import { tinyModel } from '../helpers/train-fixture';

/** Pieces CLI values are made of: digits, separators, signs, exponents, words, whitespace. */
const valueArb = fc.oneof(
  fc
    .array(fc.constantFrom('0', '1', '2', '3', '7', '9', ',', '-', ' ', '.', 'e', '+', 'x', 'a', '\t', '٣', '１'), { maxLength: 10 })
    .map((p) => p.join('')),
  fc.constantFrom(
    '',
    ' ',
    ',',
    '-',
    '0-',
    '-1',
    '1-',
    '2-1',
    '0-0',
    '0,,1',
    '1e3',
    '1e400',
    '0x10',
    '0b1',
    'Infinity',
    'NaN',
    '99999999999999999999',
    '9007199254740993',
    '1_000',
    '.5',
    '5.',
    '+3',
    '-0',
  ),
  fc.string({ maxLength: 8 }),
);

/** parseIndexList as specified: comma-separated indices or ranges a-b, in [0, limit), sorted and unique. */
function referenceIndexList(spec: string, limit: number): number[] | undefined {
  const out = new Set<number>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]),
      b = Number(m[2] ?? m[1]);
    if (b < a || b >= limit) return undefined;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return out.size ? [...out].sort((x, y) => x - y) : undefined;
}

describe('fuzz: CLI value parsers', () => {
  test('parseIndexList (--layers, --heads): the reference reading, or an InputError naming the flag', () => {
    fc.assert(
      fc.property(
        valueArb,
        fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 2 ** 20)),
        fc.constantFrom('--layers', '--heads'),
        (spec, limit, flag) => {
          const r = valueOrError(() => parseIndexList(flag, spec, limit), InputError, new RegExp(`^${flag}: `));
          assert.deepEqual(r.value, referenceIndexList(spec, limit));
        },
      ),
      fuzzParams(2000),
    );
  });

  test('parseIds (--ids): safe non-negative integers in order, or an InputError naming the position', () => {
    fc.assert(
      fc.property(
        fc.array(valueArb, { maxLength: 5 }).map((a) => a.join(',')),
        (spec) => {
          const r = valueOrError(() => parseIds(spec), InputError, /^--ids: /);
          if (r.value) {
            assert.deepEqual(
              r.value.map(String),
              spec
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
                .map((s) => String(Number(s))),
            );
            assert.ok(r.value.length > 0 && r.value.every((v) => Number.isSafeInteger(v) && v >= 0));
          } else {
            assert.match(r.error!.message, /position \d+|empty/);
          }
        },
      ),
      fuzzParams(2000),
    );
  });

  test('parseNumber / parseInteger: a finite number in [min, max] (a safe integer), or an InputError naming the flag', () => {
    const boundArb = fc.oneof(fc.constantFrom(0, 1, -10, 0.1), fc.double({ min: -1e6, max: 1e6, noNaN: true }));
    fc.assert(
      fc.property(valueArb, boundArb, fc.option(boundArb, { nil: undefined }), fc.boolean(), (v, min, maxOpt, integer) => {
        const max = maxOpt === undefined ? Infinity : Math.max(min, maxOpt);
        const r = integer
          ? valueOrError(() => parseInteger('--n', v, min), InputError, /^--n: /, oneLine(`'${v}'`))
          : valueOrError(() => parseNumber('--t', v, min, max), InputError, /^--t: /, oneLine(`'${v}'`));
        if (r.error) return;
        const n = r.value!;
        assert.ok(Number.isFinite(n) && n >= min && (integer || n <= max), `${v} -> ${n}`);
        if (integer) assert.ok(Number.isSafeInteger(n), `${v} -> ${n}`);
        assert.ok(v.trim() !== '', 'an empty value is not 0');
      }),
      fuzzParams(2000),
    );
  });
});

// ------------------------------------------------------------------------------------------------ processes

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  args: string[];
}

function runCli(args: string[], timeoutMs = 60_000): Promise<Run> {
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
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : -2), stdout, stderr, args });
    });
  });
}

/** The CLI's failure contract; returns the outcome for the callers' counts. */
function checkRun(r: Run): 'ok' | 'error' | 'usage' {
  const cmd = `difflora ${r.args.map((a) => JSON.stringify(a)).join(' ')}`;
  assert.ok(!/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr), `${cmd}: a stack trace on stderr:\n${r.stderr}`);
  assert.doesNotMatch(
    r.stderr,
    /\b(TypeError|RangeError|ReferenceError)\b|Cannot read propert|is not a function|is not iterable|Maximum call stack/,
    `${cmd}: a raw JavaScript error:\n${r.stderr}`,
  );
  if (r.code === 0) return 'ok';
  if (r.code === 2) return 'usage';
  assert.equal(r.code, 1, `${cmd}: exit code ${r.code} (killed or crashed?)\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('warning: '));
  assert.equal(lines.length, 1, `${cmd}: expected one error line, got:\n${r.stderr}`);
  assert.match(lines[0], /^difflora: error: \S/);
  return 'error';
}

/** Runs the commands two at a time (this machine has 2 cores). */
async function runAll(argsList: string[][]): Promise<Run[]> {
  const out: Run[] = new Array(argsList.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < argsList.length; i = next++) out[i] = await runCli(argsList[i]);
  };
  await Promise.all([worker(), worker()]);
  return out;
}

/** `n` samples of `arb` from the fixed seed (the processes then run outside fast-check, in parallel). */
function samples<T>(arb: fc.Arbitrary<T>, ci: number, max: number): T[] {
  return fc.sample(arb, fuzzParams(ci, max));
}

describe('fuzz: difflora as a process', () => {
  const dir = tempDir('fuzz-cli');
  let model: string;
  let adapter: string;
  before(() => {
    model = tinyModel(path.join(dir, 'model'));
    adapter = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', model, '--seed', '3', '--lambda', '0.3']);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const QUIET = ['--backend', 'wasm', '--quiet'];

  test('attention and generate with fuzzed flag values', async () => {
    const flagsArb = fc.record({
      cmd: fc.constantFrom('attention', 'generate'),
      ids: fc.oneof(fc.constantFrom('1,2,3', '5', '383', '384', '0,1'), valueArb),
      layers: fc.option(valueArb, { nil: undefined }),
      heads: fc.option(valueArb, { nil: undefined }),
      maxNew: fc.oneof(
        fc.constantFrom('1', '3'),
        valueArb.filter((v) => !(Number(v) > 8)),
      ),
      temperature: fc.option(valueArb, { nil: undefined }),
      topP: fc.option(valueArb, { nil: undefined }),
      seed: fc.option(valueArb, { nil: undefined }),
      threads: fc.option(valueArb, { nil: undefined, freq: 6 }),
      withAdapter: fc.boolean(),
    });
    const argsList = samples(flagsArb, 14, 200).map((f, i) => {
      const out = path.join(dir, `out${i}.json`);
      const a = [f.cmd, '--model', model, '--ids', f.ids, '--out', out, ...QUIET];
      if (f.withAdapter) a.push('--adapter', adapter);
      if (f.threads !== undefined) a.push('--threads', f.threads);
      if (f.cmd === 'attention') {
        if (f.layers !== undefined) a.push('--layers', f.layers);
        if (f.heads !== undefined) a.push('--heads', f.heads);
      } else {
        a.push('--max-new-tokens', f.maxNew);
        if (f.temperature !== undefined) a.push('--temperature', f.temperature);
        if (f.topP !== undefined) a.push('--top-p', f.topP);
        if (f.seed !== undefined) a.push('--seed', f.seed);
      }
      return a;
    });
    const outcomes = (await runAll(argsList)).map(checkRun);
    assert.ok(outcomes.includes('ok') && outcomes.includes('error'), outcomes.join(' '));
  });

  test('model and adapter folders with config.json edited and weights cut or changed', async () => {
    const editArb = fc.record({
      target: fc.constantFrom('model', 'adapter'),
      configKey: fc.option(
        fc.constantFrom(
          'hidden_size',
          'num_attention_heads',
          'num_key_value_heads',
          'head_dim',
          'vocab_size',
          'num_hidden_layers',
          'intermediate_size',
          'tie_word_embeddings',
          'rope_scaling',
          'attention_lora_r',
          'diff_attn_lambda',
          'layers_to_transform',
          'model_type',
        ),
        { nil: undefined },
      ),
      configValue: fc.oneof(fc.integer({ min: -1, max: 70 }), fc.constantFrom<unknown>(null, 'x', [], {}, 0.5, [0.1], [0, 5], true)),
      cut: fc.option(fc.nat(), { nil: undefined }),
      edits: fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
      cmd: fc.constantFrom('info', 'attention'),
    });
    const argsList = samples(editArb, 10, 150).map((e, i) => {
      const m = path.join(dir, `m${i}`),
        a = path.join(dir, `a${i}`);
      fs.cpSync(model, m, { recursive: true });
      fs.cpSync(adapter, a, { recursive: true });
      const folder = e.target === 'model' ? m : a;
      if (e.configKey !== undefined) {
        const file = path.join(folder, 'config.json');
        const j = JSON.parse(fs.readFileSync(file, 'utf8'));
        j[e.configKey] = e.configValue;
        fs.writeFileSync(file, JSON.stringify(j));
      }
      const weights = path.join(folder, 'model.safetensors');
      const bytes = fs.readFileSync(weights);
      for (const { at, byte } of e.edits) bytes[at % Math.min(bytes.length, 400)] = byte; // mostly the header
      fs.writeFileSync(weights, e.cut === undefined ? bytes : bytes.subarray(0, e.cut % (bytes.length + 1)));
      return e.cmd === 'info'
        ? ['info', '--model', m, '--adapter', a]
        : ['attention', '--model', m, '--adapter', a, '--ids', '1,2,3', '--out', path.join(dir, `o${i}.json`), ...QUIET];
    });
    (await runAll(argsList)).forEach(checkRun);
  });

  test('humaneval-exec with fuzzed problem and samples files and flags', async () => {
    const problem = {
      task_id: 'T/0',
      prompt: 'def f(x):\n',
      entry_point: 'f',
      canonical_solution: '    return x\n',
      test: 'def check(c):\n    assert c(1) == 1\n',
    };
    const lineArb = fc.oneof(
      fc.constantFrom(
        JSON.stringify(problem),
        JSON.stringify({ ...problem, entry_point: 'f(' }),
        JSON.stringify({ task_id: 'T/0', completion: 'nope' }),
        '{',
        '',
        'null',
        '[1]',
      ),
      fc.json({ maxDepth: 1 }),
      fc.string({ maxLength: 10, unit: 'binary' }).map((s) => s.replace(/\n/g, '')),
    );
    const runArb = fc.record({
      problems: fc.array(lineArb, { maxLength: 3 }),
      samples: fc.array(lineArb, { maxLength: 3 }),
      k: fc.oneof(fc.constant('1'), valueArb),
      timeout: fc.oneof(fc.constant('5'), valueArb),
      workers: fc.option(valueArb, { nil: undefined }),
      gzip: fc.boolean(),
    });
    const argsList = samples(runArb, 10, 150).map((r, i) => {
      const p = path.join(dir, `p${i}.jsonl${r.gzip ? '.gz' : ''}`),
        s = path.join(dir, `s${i}.jsonl`);
      fs.writeFileSync(p, r.problems.join('\n'));
      fs.writeFileSync(s, r.samples.join('\n'));
      const a = [
        'humaneval-exec',
        '--problems',
        p,
        '--samples',
        s,
        '--out',
        path.join(dir, `r${i}.jsonl`),
        '--k',
        r.k,
        '--timeout',
        r.timeout,
        '--quiet',
      ];
      if (r.workers !== undefined) a.push('--workers', r.workers);
      return a;
    });
    (await runAll(argsList)).forEach(checkRun);
  });
});
