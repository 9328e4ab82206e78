/**
 * Checks of request parameters at the engine server's edge: a wrong type or an out-of-range value is an
 * InputError naming the parameter and what it takes, never a raw JavaScript error deep in the engine
 * (or a 4-billion-character prompt that aborts the process).
 */
import { InputError } from '../errors';

function fail(where: string, wants: string, v: unknown): never {
  throw new InputError(where, `expected ${wants}, got ${JSON.stringify(v) ?? typeof v}`);
}

export function optNumber(where: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(where, `a number in [${min}, ${max}]`, v);
  return v;
}

export function optInt(where: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) fail(where, `an integer in [${min}, ${max}]`, v);
  return v as number;
}

export function optIntList(where: string, v: unknown, min: number, max: number): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length === 0) fail(where, `a non-empty list of integers in [${min}, ${max}]`, v);
  return v.map((x, i) => optInt(`${where}[${i}]`, x, min, max) ?? fail(`${where}[${i}]`, 'an integer', x));
}

export function optStringList(where: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(where, 'a list of strings', v);
  return v as string[];
}

export function optBoolean(where: string, v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(where, 'true or false', v);
  return v;
}

export function optChoice<T extends string>(where: string, v: unknown, choices: readonly T[]): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (!choices.includes(v as T)) fail(where, `one of ${choices.join(', ')}`, v);
  return v as T;
}
