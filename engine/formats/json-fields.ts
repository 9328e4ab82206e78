/** Typed reads of JSON config fields that name the file and key when something is wrong. */
import * as fs from 'fs';
import { InputError } from '../errors';

export type Json = Record<string, unknown>;

export function readJsonFile(file: string): Json {
  // A number would be read as a file descriptor (and block for ever on a pipe).
  if (typeof file !== 'string') throw new InputError(String(file), 'expected a file path');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(file, code === 'ENOENT' ? 'not found' : `cannot read (${code ?? (e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InputError(file, 'expected a JSON object');
  return json as Json;
}

export class Fields {
  constructor(
    readonly file: string,
    readonly json: Json,
  ) {}

  private fail(key: string, what: string): never {
    throw new InputError(this.file, `'${key}' ${what}`);
  }

  int(key: string, dflt?: number, min = 0): number {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt ?? this.fail(key, 'is required but missing');
    // Safe integers only: beyond 2^53 a JSON integer is not the number written, and no size is that large.
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
      this.fail(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, dflt?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt ?? this.fail(key, 'is required but missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string, dflt?: string): string {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt ?? this.fail(key, 'is required but missing');
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** An optional list of integers (null or absent gives undefined). */
  intList(key: string): number[] | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return [v];
    if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x)))
      this.fail(key, `must be a list of integers, got ${JSON.stringify(v)}`);
    return v as number[];
  }

  strList(key: string): string[] | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(key, `must be a list of strings, got ${JSON.stringify(v)}`);
    return v as string[];
  }

  numOrList(key: string, dflt: number): number | number[] {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number') return v;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number'))
      this.fail(key, `must be a number or a list of numbers, got ${JSON.stringify(v)}`);
    return v as number[];
  }

  object(key: string): Fields | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'must be an object');
    return new Fields(`${this.file} (${key})`, v as Json);
  }

  failWith(key: string, what: string): never {
    return this.fail(key, what);
  }
}
