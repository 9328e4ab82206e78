/** HumanEval problems from a JSONL or JSONL.GZ file (task_id, prompt, entry_point, canonical_solution, test), validated. */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { InputError } from '../errors';

export interface Problem {
  task_id: string;
  prompt: string;
  entry_point: string;
  canonical_solution: string;
  test: string;
}

const FIELDS = ['task_id', 'prompt', 'entry_point', 'canonical_solution', 'test'] as const;

export function readProblems(file: string): Problem[] {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot read (${(e as Error).message})`);
  }
  let text: string;
  try {
    text = (file.endsWith('.gz') || (raw[0] === 0x1f && raw[1] === 0x8b) ? zlib.gunzipSync(raw) : raw).toString('utf8');
  } catch (e) {
    throw new InputError(file, `not a valid gzip file (${(e as Error).message})`);
  }
  const problems: Problem[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new InputError(where, `not valid JSON (${(e as Error).message})`);
    }
    const id = typeof rec?.task_id === 'string' ? ` (${rec.task_id})` : '';
    for (const f of FIELDS) {
      if (typeof rec?.[f] !== 'string' || (rec[f] as string).length === 0) throw new InputError(`${where}${id}`, `field '${f}' is missing or not a non-empty string`);
    }
    const p = rec as unknown as Problem;
    if (seen.has(p.task_id)) throw new InputError(`${where}${id}`, 'duplicate task_id');
    seen.add(p.task_id);
    problems.push({ task_id: p.task_id, prompt: p.prompt, entry_point: p.entry_point, canonical_solution: p.canonical_solution, test: p.test });
  });
  if (problems.length === 0) throw new InputError(file, 'no problems in the file');
  return problems;
}
