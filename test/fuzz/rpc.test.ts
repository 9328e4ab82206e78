/**
 * Fuzzing the engine server's RPC parameters: a real `difflora serve --stdio` process driven through
 * the extension's own client (extension/engine/connection.ts), sent generated garbage for every method
 * of protocol/engine.ts (keys missing, of the wrong type, out of range; real and bogus paths), and good
 * parameters with one of them missing or replaced (so that garbage reaches past the first check and
 * some requests do real work: training steps, generation, HumanEval), a tiny model loaded most of the
 * time. Bounded: ~100 requests in CI (DIFFLORA_FUZZ_RUNS raises it).
 *
 * Hard (the suite fails): every request is answered, with a result or a JSON-RPC error, within seconds
 * (a long one is cancelled and must then stop), the engine answers engine/status after each and never
 * dies, and the test process keeps no handle (engine disposed); every error is an input error naming
 * the parameter, never an internal error (-32603) or JavaScript's own words.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { ResponseError } from 'vscode-jsonrpc';
import { EngineConnection, Endpoint } from '../../extension/engine/connection';
import { ErrorCodes, Methods, Rpc, type RpcRequest } from '../../protocol/engine';
import { fuzzParams } from '../helpers/fuzz';
import { makeCheckpoint, ROOT, tempDir } from '../helpers/reference';
import { taskData, tinyModel } from '../helpers/train-fixture';

const CLI = path.join(ROOT, 'bin', 'difflora.js');
/** A request not answered within this is cancelled; it must then be answered within CANCEL_MS. */
const ANSWER_MS = 4000;
const CANCEL_MS = 15_000;

const dir = tempDir('fuzz-rpc');
const cwd = process.cwd();
// The engine inherits this working folder: relative paths in generated params land in the temp folder.
process.chdir(dir);

const PROBLEM = {
  task_id: 'T/0',
  prompt: 'def f(x):\n',
  entry_point: 'f',
  canonical_solution: '    return x\n',
  test: 'def check(c):\n    assert c(1) == 1\n',
};
let model = '',
  adapter = '',
  data = '',
  problems = '';

/** Strings that never name a path outside the temp folder (the tests run as root here). */
const safeString = fc.string({ maxLength: 10 }).map((s) => s.replace(/^[/~]+/, '').replace(/\.\./g, '_'));
const pathArb = fc.oneof(fc.constantFrom('MODEL', 'ADAPTER', 'DATA', 'PROBLEMS', 'missing', 'missing/deeper', '', '.', 'out'), safeString);
const numberArb = fc.oneof(
  fc.integer({ min: -3, max: 12 }),
  fc.constantFrom(0.5, -0, 1e9, 1e300, 2 ** 53, -1e9, 31, 32, 100),
  fc.double({ noNaN: true }),
);
/** Anything JSON holds, leaning to the types the parameters expect. */
const anyArb = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: numberArb },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      '',
      'x',
      [],
      {},
      ['base'],
      ['nope'],
      [0],
      [0, 1, 99],
      [-1],
      ['0'],
      'bos',
      'needle',
      'u16',
      'f32',
      'f64',
    ),
  },
);
const textArb = fc.oneof(fc.constantFrom('def f(x):\n    return x\n', 'a', ' ', ''), fc.string({ maxLength: 12 }));

/** Per method: its parameters, each plausible, garbage or absent, plus stray keys. */
const fieldArbs: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
  [Methods.initialize]: { protocolVersion: fc.oneof(fc.constant(1), anyArb), client: fc.oneof(fc.constant('fuzz'), anyArb) },
  [Methods.status]: {},
  [Methods.loadModel]: {
    model: fc.oneof(pathArb, anyArb),
    adapters: fc.oneof(
      fc.array(
        fc.record({ label: fc.oneof(fc.constantFrom('A', 'B', 'base'), anyArb), path: fc.oneof(pathArb, anyArb) }, { requiredKeys: [] }),
        { maxLength: 2 },
      ),
      anyArb,
    ),
  },
  [Methods.attention]: {
    text: fc.oneof(textArb, anyArb),
    models: anyArb,
    layers: fc.oneof(fc.array(numberArb, { maxLength: 3 }), anyArb),
    heads: fc.oneof(fc.array(numberArb, { maxLength: 3 }), anyArb),
    encoding: anyArb,
  },
  [Methods.analyze]: {
    kind: fc.oneof(fc.constantFrom('bos', 'needle'), anyArb),
    models: anyArb,
    text: fc.oneof(textArb, anyArb),
    needle: fc.oneof(
      fc.record(
        { length: fc.oneof(fc.integer({ min: 0, max: 80 }), numberArb, anyArb), depth: fc.oneof(numberArb, anyArb) },
        { requiredKeys: [] },
      ),
      anyArb,
    ),
  },
  [Methods.train]: {
    model: fc.oneof(pathArb, anyArb),
    method: fc.oneof(fc.constantFrom('lora', 'difflora', 'nope'), anyArb),
    data: fc.oneof(pathArb, anyArb),
    out: fc.oneof(pathArb, anyArb),
    resume: anyArb,
    options: fc.oneof(
      fc.dictionary(
        fc.constantFrom('lr', 'epochs', 'maxSteps', 'batchSize', 'r', 'layers', 'maxLength', 'onBadLine', 'seed', 'bogus'),
        fc.oneof(fc.constantFrom('1', '2', '0', '-1', 'x', '1e300', ''), anyArb),
        { maxKeys: 4 },
      ),
      anyArb,
    ),
  },
  [Methods.generate]: {
    prompt: fc.oneof(textArb, anyArb),
    models: anyArb,
    maxNewTokens: fc.oneof(fc.integer({ min: -1, max: 6 }), numberArb, anyArb),
    temperature: fc.oneof(numberArb, anyArb),
    topP: fc.oneof(numberArb, anyArb),
    seed: fc.oneof(numberArb, anyArb),
    stop: anyArb,
  },
  [Methods.problems]: { path: fc.oneof(pathArb, anyArb) },
  [Methods.dataSummary]: {
    data: fc.oneof(pathArb, anyArb),
    options: fc.oneof(
      fc.dictionary(
        fc.constantFrom('maxLength', 'onTooLong', 'onBadLine', 'bogus'),
        fc.oneof(fc.constantFrom('1', '16', '0', 'skip', 'x', ''), anyArb),
        { maxKeys: 3 },
      ),
      anyArb,
    ),
  },
  [Methods.dataExtract]: { folder: fc.oneof(pathArb, anyArb), out: fc.oneof(fc.constantFrom('out/pairs.jsonl'), pathArb, anyArb) },
  [Methods.compare]: {
    problem: fc.oneof(
      fc.record(
        {
          task_id: fc.oneof(fc.constant('T/0'), anyArb),
          prompt: fc.oneof(textArb, anyArb),
          entry_point: fc.oneof(fc.constant('f'), anyArb),
          test: fc.oneof(fc.constant(PROBLEM.test), anyArb),
        },
        { requiredKeys: [] },
      ),
      anyArb,
    ),
    models: anyArb,
    maxNewTokens: fc.oneof(fc.integer({ min: -1, max: 6 }), numberArb, anyArb),
    execute: anyArb,
    timeoutSec: fc.oneof(numberArb, anyArb),
  },
  [Methods.humanEval]: {
    problemsPath: fc.oneof(pathArb, anyArb),
    outDir: fc.oneof(pathArb, anyArb),
    n: fc.oneof(fc.integer({ min: -1, max: 3 }), numberArb, anyArb),
    k: anyArb,
    temperature: anyArb,
    topP: anyArb,
    seed: anyArb,
    maxNewTokens: fc.oneof(fc.integer({ min: -1, max: 4 }), numberArb, anyArb),
    limit: fc.oneof(fc.integer({ min: -1, max: 2 }), anyArb),
    chat: anyArb,
    timeoutSec: anyArb,
    execute: anyArb,
  },
};

interface Req {
  method: string;
  params: Record<string, unknown>;
}

/** A method by its name, its parameters unchecked: this test sends garbage on purpose. */
const unchecked = (method: string): RpcRequest<object, unknown, unknown> => ({ method, title: method });

/**
 * Requests that killed the engine once: the needle analysis built a prompt of 4 x needle.length
 * characters with no upper bound, and V8 aborted the process at about 1e8 (now bounded by the context).
 */
const KNOWN_CRASHES: Req[] = [{ method: Methods.analyze, params: { kind: 'needle', needle: { length: 1e9 } } }];

/** Per method: good parameters (small, so that the work is quick on the tiny model). */
const validArbs: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  [Methods.initialize]: fc.constant({ protocolVersion: 1, client: 'fuzz' }),
  [Methods.status]: fc.constant({}),
  [Methods.loadModel]: fc.constantFrom({ model: 'MODEL', adapters: [] }, { model: 'MODEL', adapters: [{ label: 'D', path: 'ADAPTER' }] }),
  [Methods.attention]: fc.record(
    {
      text: fc.constantFrom('def f(x):\n    return x\n', 'a b c'),
      layers: fc.subarray([0, 1], { minLength: 1 }),
      heads: fc.subarray([0, 1, 2, 3], { minLength: 1 }),
      encoding: fc.constantFrom('u16', 'f32'),
      models: fc.constant(['base']),
    },
    { requiredKeys: ['text'] },
  ),
  [Methods.analyze]: fc.oneof(
    fc.record({ kind: fc.constant('bos'), text: fc.constantFrom('def f(x):\n    return x\n', 'a b c') }, { requiredKeys: ['kind'] }),
    fc.record({
      kind: fc.constant('needle'),
      needle: fc.record({ length: fc.integer({ min: 32, max: 48 }), depth: fc.double({ min: 0, max: 1, noNaN: true }) }),
    }),
  ),
  [Methods.train]: fc.record({
    model: fc.constant('MODEL'),
    method: fc.constantFrom('lora', 'difflora'),
    data: fc.constant('DATA'),
    out: fc.constantFrom('train-out', 'train-out2'),
    options: fc.record({ maxSteps: fc.constantFrom('1', '2'), batchSize: fc.constantFrom('2', '4'), checkpointEvery: fc.constant('1') }),
  }),
  [Methods.generate]: fc.record(
    {
      prompt: fc.constantFrom('def f(x):', 'a'),
      maxNewTokens: fc.integer({ min: 1, max: 4 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      topP: fc.double({ min: 0.05, max: 1, noNaN: true }),
      seed: fc.nat({ max: 1000 }),
      stop: fc.constantFrom([], ['\n']),
    },
    { requiredKeys: ['prompt'] },
  ),
  [Methods.problems]: fc.constantFrom({ path: 'PROBLEMS' }, {}),
  [Methods.compare]: fc.record({
    problem: fc.constant(PROBLEM),
    maxNewTokens: fc.integer({ min: 1, max: 4 }),
    execute: fc.constant(false),
  }),
  [Methods.humanEval]: fc.record({
    outDir: fc.constantFrom('he-out', 'he-out2'),
    n: fc.constant(1),
    maxNewTokens: fc.integer({ min: 1, max: 3 }),
    limit: fc.constant(1),
    execute: fc.constant(false),
  }),
  [Methods.dataSummary]: fc.record({
    data: fc.constant('DATA'),
    options: fc.record({ maxLength: fc.constantFrom('8', '64'), onTooLong: fc.constantFrom('truncate', 'skip') }, { requiredKeys: [] }),
  }),
  [Methods.dataExtract]: fc.record({ folder: fc.constantFrom('.', 'MODEL'), out: fc.constant('out/pairs.jsonl') }),
};

const requestArb: fc.Arbitrary<Req> = fc.constantFrom(...Object.keys(fieldArbs)).chain((method) => {
  const fields = fieldArbs[method];
  const known = fc.record(fields, { requiredKeys: [] });
  const stray = fc.dictionary(fc.string({ maxLength: 6 }), anyArb, { maxKeys: 2 });
  const names = Object.keys(fields);
  // Good parameters with at most one of them missing or replaced: garbage that gets past the first check.
  const nearlyValid = fc
    .tuple(validArbs[method], names.length ? fc.constantFrom(...names) : fc.constant(''), fc.option(anyArb, { freq: 3 }), fc.boolean())
    .map(([v, key, value, edit]) => {
      if (!edit || !key) return v;
      const out = { ...v };
      if (value === null) delete out[key];
      else out[key] = value;
      return out;
    });
  return fc
    .oneof(
      { weight: 4, arbitrary: nearlyValid },
      { weight: 4, arbitrary: fc.tuple(known, stray).map(([k, s]) => ({ ...s, ...k })) },
      // What the client's spread makes of a non-object: {} for null, index keys for a string or an array.
      {
        weight: 1,
        arbitrary: fc
          .oneof(fc.constant(null), fc.string({ maxLength: 3 }), fc.array(anyArb, { maxLength: 2 }), numberArb)
          .map((v) => ({ ...(v as object) })),
      },
    )
    .map((params) => ({ method, params }));
});

/** Real paths for the placeholders. */
function resolvePaths(v: unknown): unknown {
  if (typeof v === 'string') return ({ MODEL: model, ADAPTER: adapter, DATA: data, PROBLEMS: problems } as Record<string, string>)[v] ?? v;
  if (Array.isArray(v)) return v.map(resolvePaths);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolvePaths(x)]));
  return v;
}

/** A JSON-RPC error that says what is wrong: not an internal error, not JavaScript's own words. */
const RAW =
  /Cannot read propert|Cannot destructure|is not a function|is not iterable|is not a constructor|Invalid (typed )?array length|Array buffer allocation|Maximum call stack|undefined is not|null is not|\bNaN\b/;
function unclear(e: ResponseError<unknown>): string | undefined {
  if (e.code === -32603) return `internal error: ${e.message}`;
  if (RAW.test(e.message)) return `raw message: ${e.message}`;
  if (e.message.includes('\n')) return `message of several lines: ${JSON.stringify(e.message)}`;
  return undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const unclearFindings: string[] = [];

describe('fuzz: RPC parameters of the engine server', () => {
  let conn: EngineConnection;
  const log: string[] = [];

  before(async () => {
    model = tinyModel(path.join(dir, 'model'));
    adapter = makeCheckpoint('difflora', path.join(dir, 'difflora'), ['--base', model, '--seed', '3', '--lambda', '0.3']);
    data = taskData(path.join(dir, 'data.jsonl'), 0, 8);
    // The problem set the engine finds in its cache when a request names none (no download here).
    problems = path.join(dir, 'cache', 'humaneval', 'HumanEval.jsonl.gz');
    fs.mkdirSync(path.dirname(problems), { recursive: true });
    fs.writeFileSync(problems, zlib.gzipSync(`${JSON.stringify(PROBLEM)}\n`));
    const local: Endpoint = {
      kind: 'local',
      node: process.execPath,
      script: CLI,
      args: ['--backend', 'wasm'],
      env: { DIFFLORA_CACHE: path.join(dir, 'cache') },
    };
    conn = await EngineConnection.open(local, (l) => {
      log.push(l);
      if (log.length > 200) log.shift();
    });
  });

  after(async () => {
    await conn?.shutdown();
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('garbage parameters for every method: always an answer, a living engine that keeps serving', async () => {
    // Cases found before, first, then the generated ones. The first two hung the engine (a number
    // taken for a file descriptor: fixed in engine/humaneval/problems.ts); the others get unclear errors.
    const found: Req[] = [
      { method: Methods.problems, params: { path: 4 } },
      { method: Methods.humanEval, params: { problemsPath: 0, outDir: 'out', n: 1, execute: false } },
      { method: Methods.attention, params: { text: 'a b', heads: [99] } },
      { method: Methods.attention, params: { text: 'a b', layers: 3 } },
      { method: Methods.generate, params: { prompt: 'a', maxNewTokens: 'x' } },
      { method: Methods.generate, params: { prompt: 'a', models: 'base' } },
      { method: Methods.humanEval, params: { outDir: 'out', k: 5, limit: 1, n: 1, maxNewTokens: 1, execute: false } },
    ];
    const requests = [...found, ...fc.sample(requestArb, fuzzParams(100, 2000))];
    const counts: Record<string, { ok: number; error: number; cancelled: number }> = {};
    for (const [i, r] of requests.entries()) {
      // Most requests find the model loaded (with an adapter), so that they get past "no model loaded".
      if (i % 10 === 0) {
        const st = await withTimeout(conn.request(Rpc.status, {}), 5000, 'engine/status');
        if (st.model !== model || i % 20 === 0)
          await conn.request(Rpc.loadModel, { model, adapters: i % 20 === 0 ? [{ label: 'D', path: adapter }] : [] });
      }
      const params = resolvePaths(r.params) as Record<string, unknown>;
      const what = `#${i} ${r.method} ${JSON.stringify(params).slice(0, 300)}`;
      const c = (counts[r.method] ??= { ok: 0, error: 0, cancelled: 0 });
      const listeners: (() => void)[] = [];
      const token = {
        isCancellationRequested: false,
        onCancellationRequested: (l: () => void) => {
          listeners.push(l);
          return { dispose: () => undefined };
        },
      };
      const cancel = () => {
        token.isCancellationRequested = true;
        listeners.forEach((l) => l());
      };
      const answer = conn.request(unchecked(r.method), params, { cancel: token }).then(
        () => 'ok' as const,
        (e: unknown) => e,
      );
      let timer: NodeJS.Timeout | undefined;
      const first = await Promise.race([
        answer,
        new Promise<'late'>((res) => {
          timer = setTimeout(() => res('late'), ANSWER_MS);
        }),
      ]);
      clearTimeout(timer);
      let outcome = first;
      if (first === 'late') {
        cancel();
        outcome = await withTimeout(answer, CANCEL_MS, `${what}: cancelled, but`);
      }
      assert.ok(conn.alive, `${what}: the engine died\n${log.slice(-15).join('\n')}`);
      if (outcome === 'ok') c.ok++;
      else {
        assert.ok(
          outcome instanceof ResponseError,
          `${what}: failed without a JSON-RPC error: ${(outcome as Error)?.stack ?? String(outcome)}`,
        );
        if (outcome.code === -32800) c.cancelled++;
        else {
          c.error++;
          const why = unclear(outcome);
          if (why) unclearFindings.push(`${r.method}: ${why}  <- ${JSON.stringify(params).slice(0, 200)}`);
          else assert.ok(Object.values(ErrorCodes).includes(outcome.code as never) || outcome.code < 0, `${what}: code ${outcome.code}`);
        }
      }
      // Still serving: the status request is answered at once.
      const st = await withTimeout(conn.request(Rpc.status, {}), 5000, `engine/status after ${what}`);
      assert.equal(st.busy, undefined, `${what}: still busy after its answer`);
    }
    console.log(
      `requests per method (ok / error / cancelled): ${Object.entries(counts)
        .map(([m, x]) => `${m} ${x.ok}/${x.error}/${x.cancelled}`)
        .join(', ')}`,
    );
    const st = await conn.request(Rpc.status, {});
    console.log(`engine after ${requests.length} requests: ${st.numTensors} tensors, rss ${(st.rssBytes / 2 ** 20).toFixed(0)} MiB`);
  });

  test('requests that once crashed the engine: each on a fresh engine, which survives it with a clear error', async () => {
    const failures: string[] = [];
    for (const r of KNOWN_CRASHES) {
      const fresh = await EngineConnection.open(
        { kind: 'local', node: process.execPath, script: CLI, args: ['--backend', 'wasm'] },
        () => undefined,
      );
      try {
        await fresh.request(Rpc.loadModel, { model, adapters: [] });
        const e = await withTimeout(
          fresh.request(unchecked(r.method), r.params).then(
            () => undefined,
            (x: unknown) => x,
          ),
          20_000,
          r.method,
        );
        if (!fresh.alive) failures.push(`${r.method} ${JSON.stringify(r.params)}: the engine died`);
        else if (!(e instanceof ResponseError) || unclear(e))
          failures.push(`${r.method} ${JSON.stringify(r.params)}: ${e instanceof ResponseError ? unclear(e) : 'no error'}`);
      } catch (e) {
        failures.push(`${r.method} ${JSON.stringify(r.params)}: ${(e as Error).message}`);
      } finally {
        await fresh.shutdown();
      }
    }
    for (const f of failures) console.log(`known crash: ${f}`);
    assert.deepEqual(failures, []);
  });

  test('every error says what is wrong', () => {
    const distinct = [...new Set(unclearFindings.map((f) => f.split('  <- ')[0]))];
    for (const f of distinct) console.log(`unclear: ${f}  <- ${unclearFindings.find((x) => x.startsWith(f))!.split('  <- ')[1]}`);
    assert.deepEqual(distinct, []);
  });
});
