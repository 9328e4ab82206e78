/** Parsing of option values given as text (CLI flags, the training form's key=value pairs): one reading, one message per flag. */
import { InputError } from '../errors';

/** "0,2,5-7" -> [0, 2, 5, 6, 7], each checked against [0, limit). */
export function parseIndexList(flag: string, spec: string, limit: number): number[] {
  const out = new Set<number>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new InputError(flag, `'${part}' is not an index or a range like 2-5`);
    const a = Number(m[1]),
      b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new InputError(flag, `range '${part}' is reversed`);
    if (b >= limit) throw new InputError(flag, `${b} is out of range (the model has ${limit})`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (out.size === 0) throw new InputError(flag, 'is empty');
  return [...out].sort((x, y) => x - y);
}

export function parseIds(spec: string): number[] {
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new InputError('--ids', 'empty: give token ids like 1,2,3');
  return parts.map((p, i) => {
    if (!/^\d+$/.test(p)) throw new InputError('--ids', `'${p}' at position ${i} is not a non-negative integer`);
    // Beyond 2^53 the digits would silently become another id: no vocabulary is that large anyway.
    if (!Number.isSafeInteger(Number(p))) throw new InputError('--ids', `'${p}' at position ${i} is far beyond any vocabulary`);
    return Number(p);
  });
}

export function parseNumber(flag: string, value: string, min: number, max = Infinity): number {
  const v = value.trim() === '' ? NaN : Number(value); // Number('') is 0
  if (!Number.isFinite(v) || v < min || v > max) throw new InputError(flag, `'${value}' must be a number in [${min}, ${max}]`);
  return v;
}

export function parseInteger(flag: string, value: string, min: number): number {
  const v = parseNumber(flag, value, min);
  if (!Number.isInteger(v)) throw new InputError(flag, `'${value}' must be an integer`);
  if (!Number.isSafeInteger(v)) throw new InputError(flag, `'${value}' is too large (at most ${Number.MAX_SAFE_INTEGER})`);
  return v;
}
