/** HumanEval problems from a JSONL or JSONL.GZ file (task_id, prompt, entry_point, canonical_solution, test), validated. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
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
  // fs.readFileSync(4) reads file descriptor 4: a number from a request would block on a pipe for ever.
  if (typeof file !== 'string' || file === '')
    throw new InputError('problems', `expected the path of a .jsonl or .jsonl.gz file, got ${JSON.stringify(file) ?? typeof file}`);
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
      if (typeof rec?.[f] !== 'string' || (rec[f] as string).length === 0)
        throw new InputError(`${where}${id}`, `field '${f}' is missing or not a non-empty string`);
    }
    const p = rec as unknown as Problem;
    // The entry point is spliced into `check(<entry_point>)`: it must be a plain name.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.entry_point))
      throw new InputError(`${where}${id}`, `entry_point ${JSON.stringify(p.entry_point.slice(0, 60))} is not a Python identifier`);
    if (seen.has(p.task_id)) throw new InputError(`${where}${id}`, 'duplicate task_id');
    seen.add(p.task_id);
    problems.push({
      task_id: p.task_id,
      prompt: p.prompt,
      entry_point: p.entry_point,
      canonical_solution: p.canonical_solution,
      test: p.test,
    });
  });
  if (problems.length === 0) throw new InputError(file, 'no problems in the file');
  return problems;
}

/** Where the official HumanEval data set is published (openai/human-eval, MIT). */
export const HUMANEVAL_URL = 'https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz';

export interface ProblemsSource {
  /** A JSONL or JSONL.GZ file the user gave: used as is. */
  file?: string;
  /** Where a downloaded copy is kept; default $DIFFLORA_CACHE/humaneval, else ~/.cache/difflora/humaneval. */
  cacheDir?: string;
  /** Default HUMANEVAL_URL. */
  url?: string;
  /** Give up on the download after this many ms; default 60 s. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export function defaultCacheDir(): string {
  return path.join(process.env.DIFFLORA_CACHE ?? path.join(os.homedir(), '.cache', 'difflora'), 'humaneval');
}

/**
 * The problems file to read: `file` when given; else the cached download, fetched once (validated
 * before it is kept, so a broken download is never cached).
 */
export async function resolveProblemsFile(src: ProblemsSource = {}): Promise<string> {
  if (src.file !== undefined) {
    if (typeof src.file !== 'string' || src.file === '')
      throw new InputError(
        'problems',
        `expected the path of a .jsonl or .jsonl.gz file, got ${JSON.stringify(src.file) ?? typeof src.file}`,
      );
    return src.file;
  }
  const url = src.url ?? HUMANEVAL_URL;
  const dir = src.cacheDir ?? defaultCacheDir();
  const file = path.join(dir, path.basename(new URL(url).pathname) || 'HumanEval.jsonl.gz');
  if (fs.existsSync(file)) return file;
  src.log?.(`downloading ${url} -> ${file}`);
  let body: Buffer;
  try {
    const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(src.timeoutMs ?? 60_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    throw new InputError(
      '--problems',
      `not given, and the download of ${url} failed (${(e as Error).message}): pass the HumanEval file with --problems`,
    );
  }
  fs.mkdirSync(dir, { recursive: true });
  const part = `${file}.${process.pid}.part`;
  fs.writeFileSync(part, body);
  try {
    readProblems(part);
  } catch (e) {
    fs.rmSync(part, { force: true });
    throw new InputError(url, `the downloaded file is not a HumanEval problem set (${(e as Error).message})`);
  }
  fs.renameSync(part, file);
  return file;
}

/** readProblems on the user's file or the cached download. */
export async function loadProblems(src: ProblemsSource = {}): Promise<Problem[]> {
  return readProblems(await resolveProblemsFile(src));
}
