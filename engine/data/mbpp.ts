/**
 * MBPP (mbpp.jsonl: text, code, task_id, test_list, test_setup_code, challenge_test_list) to HumanEval-style
 * {"prompt", "completion", "task_id"} JSONL for fine-tuning.
 *
 * prompt = the rest of the solution module (imports, constants, helper functions, in their order; helpers
 * written after the function move above it) + the function's decorators and def line(s) + a docstring made of
 * the task text and the first test as an example (">>> call" / "expected" when the test is `assert call ==
 * expected`, else ">>> <the statement>"); completion = the function body. The function is the first one of the
 * code that the first test calls. prompt + completion + test_setup_code + the tests run and pass for all 974
 * problems (see test/integration/data-mbpp.test.ts). The split into signature/docstring and body is done by
 * python3's `ast` (py/extract_functions.py, split mode).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { PythonOptions, splitFunctions } from './extract';
import { readLines } from './jsonl';

export type MbppSplit = 'train' | 'validation' | 'test' | 'prompt' | 'all';

/** task_id ranges (inclusive) of the splits in the MBPP paper. */
export const MBPP_SPLITS: Record<MbppSplit, [number, number]> = {
  prompt: [1, 10],
  test: [11, 510],
  validation: [511, 600],
  train: [601, 974],
  all: [1, Number.MAX_SAFE_INTEGER],
};

export interface MbppProblem {
  task_id: number;
  text: string;
  code: string;
  test_list: string[];
  test_setup_code: string;
  challenge_test_list: string[];
}

export interface MbppReport {
  split: MbppSplit;
  /** Problems of the file in the split's task_id range. */
  selected: number;
  written: number;
  /** Problems whose code could not be split (none in the published file). */
  skipped: { task_id: number; reason: string }[];
}

/** Reads and checks every line of mbpp.jsonl; a malformed line is an InputError naming file:line. */
export function readMbpp(file: string): MbppProblem[] {
  const out: MbppProblem[] = [];
  for (const { line, text } of readLines(file)) {
    const where = `${file}:${line}`;
    if (text === undefined) throw new InputError(where, 'not valid UTF-8');
    if (text.trim() === '') continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text);
    } catch (e) {
      throw new InputError(where, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InputError(where, 'expected a JSON object (an MBPP problem)');
    const strList = (k: string) => Array.isArray(o[k]) && (o[k] as unknown[]).every((x) => typeof x === 'string');
    if (!Number.isInteger(o.task_id)) throw new InputError(where, "'task_id' must be an integer");
    for (const k of ['text', 'code'])
      if (typeof o[k] !== 'string' || (o[k] as string).trim() === '') throw new InputError(where, `'${k}' must be a non-empty string`);
    if (!strList('test_list') || (o.test_list as string[]).length === 0)
      throw new InputError(where, "'test_list' must be a non-empty list of strings");
    if (o.test_setup_code !== undefined && typeof o.test_setup_code !== 'string')
      throw new InputError(where, "'test_setup_code' must be a string");
    if (o.challenge_test_list !== undefined && !strList('challenge_test_list'))
      throw new InputError(where, "'challenge_test_list' must be a list of strings");
    out.push({
      task_id: o.task_id as number,
      text: o.text as string,
      code: o.code as string,
      test_list: o.test_list as string[],
      test_setup_code: (o.test_setup_code as string | undefined) ?? '',
      challenge_test_list: (o.challenge_test_list as string[] | undefined) ?? [],
    });
  }
  if (out.length === 0) throw new InputError(file, 'no MBPP problem in the file');
  return out;
}

export function isMbppSplit(s: string): s is MbppSplit {
  return Object.prototype.hasOwnProperty.call(MBPP_SPLITS, s);
}

/** Converts the problems of one split of `inFile` to {"prompt", "completion", "task_id"} lines in `outFile`. */
export async function mbppToJsonl(inFile: string, outFile: string, split: MbppSplit, opts: PythonOptions = {}): Promise<MbppReport> {
  const [lo, hi] = MBPP_SPLITS[split];
  const problems = readMbpp(inFile)
    .filter((p) => p.task_id >= lo && p.task_id <= hi)
    .sort((a, b) => a.task_id - b.task_id);
  if (problems.length === 0) throw new InputError(inFile, `no problem with a task_id in ${lo}-${hi} (split '${split}')`);
  const dir = path.dirname(path.resolve(outFile));
  if (!fs.existsSync(dir)) throw new InputError(outFile, `cannot write: folder ${dir} does not exist`);
  const results = await splitFunctions(
    problems.map((p) => ({ id: p.task_id, code: p.code, doc: p.text, example: p.test_list[0] })),
    opts,
  );
  const report: MbppReport = { split, selected: problems.length, written: 0, skipped: [] };
  const lines: string[] = [];
  for (const r of results) {
    if ('error' in r) report.skipped.push({ task_id: Number(r.id), reason: r.error });
    else lines.push(JSON.stringify({ prompt: r.prompt, completion: r.completion, task_id: r.id }));
  }
  report.written = lines.length;
  const part = `${outFile}.part`;
  try {
    fs.writeFileSync(part, lines.length ? lines.join('\n') + '\n' : '');
    fs.renameSync(part, outFile);
  } catch (e) {
    fs.rmSync(part, { force: true });
    throw new InputError(outFile, `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return report;
}

/** CLI hook: `split` as typed by the user; returns the report with a one-line summary to print. */
export async function convertMbpp(
  inFile: string,
  outFile: string,
  split: string,
  opts: PythonOptions = {},
): Promise<MbppReport & { summary: string }> {
  if (!isMbppSplit(split)) throw new InputError('--split', `'${split}' is not one of ${Object.keys(MBPP_SPLITS).join(', ')}`);
  const r = await mbppToJsonl(inFile, outFile, split, opts);
  const [lo, hi] = MBPP_SPLITS[split];
  const range = split === 'all' ? 'all task ids' : `task ids ${lo}-${hi}`;
  const skipped = r.skipped.length ? `; ${r.skipped.length} skipped (first: task ${r.skipped[0].task_id}: ${r.skipped[0].reason})` : '';
  return { ...r, summary: `MBPP ${split} (${range}): ${r.written} of ${r.selected} problems -> ${outFile}${skipped}` };
}
