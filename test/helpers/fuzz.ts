/**
 * The fuzz tier's one setting: a fixed seed and a bounded number of runs per property in CI, more with
 * DIFFLORA_FUZZ_RUNS (`npm run fuzz`). DIFFLORA_FUZZ_SEED explores other inputs; a failure prints the
 * seed and the path fast-check needs to replay the counterexample.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${v}: expected a positive integer`);
  return n;
}

export const FUZZ_SEED = envInt('DIFFLORA_FUZZ_SEED') ?? 20261203;
const RUNS = envInt('DIFFLORA_FUZZ_RUNS');

/** Runs of one property: `ci` by default; DIFFLORA_FUZZ_RUNS (never fewer than `ci`), at most `max` for costly ones. */
export function fuzzRuns(ci: number, max = Infinity): number {
  return RUNS === undefined ? ci : Math.min(Math.max(RUNS, ci), Math.max(max, ci));
}

/** fast-check parameters for one property: the fixed seed and fuzzRuns(ci, max) runs. */
export function fuzzParams<T = unknown>(ci: number, max = Infinity): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: fuzzRuns(ci, max) };
}

/** JavaScript's own errors: a parser that lets one of these out has crashed instead of saying what is wrong. */
const RAW = [TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError];

/**
 * Runs `fn`: it returns (the value is returned), or throws an error of class `expected` (e.g. InputError)
 * whose message is one line and contains every part (the file, the key...). Anything else (a TypeError,
 * RangeError, a plain Error, an error of another class) fails the property with what was thrown.
 */
export function valueOrError<T>(
  fn: () => T,
  expected: abstract new (...a: never[]) => Error,
  ...parts: (string | RegExp)[]
): { value?: T; error?: Error } {
  try {
    return { value: fn() };
  } catch (e) {
    assertCleanError(e, expected, ...parts);
    return { error: e as Error };
  }
}

/** Async valueOrError. */
export async function valueOrErrorAsync<T>(
  fn: () => Promise<T>,
  expected: abstract new (...a: never[]) => Error,
  ...parts: (string | RegExp)[]
): Promise<{ value?: T; error?: Error }> {
  try {
    return { value: await fn() };
  } catch (e) {
    assertCleanError(e, expected, ...parts);
    return { error: e as Error };
  }
}

export function assertCleanError(e: unknown, expected: abstract new (...a: never[]) => Error, ...parts: (string | RegExp)[]): void {
  const raw = RAW.find((C) => e instanceof C);
  if (raw || !(e instanceof expected)) {
    const stack = e instanceof Error ? e.stack : String(e);
    assert.fail(`expected a ${expected.name} or a value, got: ${stack}`);
  }
  const msg = (e as Error).message;
  assert.ok(!msg.includes('\n'), `message is not one line: ${JSON.stringify(msg)}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(msg.includes(p), `message lacks ${JSON.stringify(p)}: ${msg}`);
    else assert.match(msg, p);
  }
}
