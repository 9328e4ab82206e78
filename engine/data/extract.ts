/**
 * HumanEval-style (signature + docstring -> body) pairs from Python code, through py/extract_functions.py
 * (python3's own `ast` parses the code; stdlib only). The script runs as a child process with a time limit.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';

export interface PythonOptions {
  /** The Python 3.8+ executable; default $DIFFLORA_PYTHON, else python3. */
  python?: string;
  /** Kill the script after this many ms; default 10 minutes. */
  timeoutMs?: number;
}

export interface ExtractOptions extends PythonOptions {
  /** Bodies longer than this many lines (after the docstring) are skipped; default 60. */
  maxLines?: number;
  /** More folder names to leave out (besides the defaults: hidden folders, __pycache__, node_modules,
   * site-packages, dist-packages). */
  exclude?: string[];
  /** Also walk the default-excluded and hidden folders. */
  includeAll?: boolean;
  /** Worker processes for parsing; default the CPU count, at most 8. The output does not depend on it. */
  jobs?: number;
}

export interface ExtractReport {
  /** Pairs written to the output JSONL. */
  pairs: number;
  /** .py files seen. */
  files: number;
  /** Files that could not be read, decoded or parsed (relative path and reason); never fatal. */
  filesSkipped: { path: string; reason: string }[];
  /** Functions and methods found, and how many of them had no docstring. */
  functions: number;
  noDocstring: number;
  /** Functions with a docstring that gave no pair. */
  skipped: { trivial: number; tooLong: number; duplicate: number; layout: number };
  seconds: number;
}

const SCRIPT = 'extract_functions.py';

/** The extractor script: next to this module (a bundle copies it to <bundle dir>/py/), or in the source tree. */
export function extractorScript(): string {
  const candidates = [
    path.join(__dirname, 'py', SCRIPT), // ts-node, or a bundle with the script copied beside it
    path.join(__dirname, '..', '..', '..', 'engine', 'data', 'py', SCRIPT), // out/engine/data/extract.js
    path.join(__dirname, '..', '..', 'engine', 'data', 'py', SCRIPT), // dist/engine/cli.js in the repository
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`${SCRIPT} not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Runs the extractor script with `args`, feeding `input` on stdin; resolves with its stdout. */
export function runExtractor(args: string[], input: string | undefined, opts: PythonOptions = {}): Promise<string> {
  const python = opts.python ?? process.env.DIFFLORA_PYTHON ?? 'python3';
  const timeoutMs = opts.timeoutMs ?? 10 * 60 * 1000;
  const script = extractorScript();
  return new Promise((resolve, reject) => {
    // Its own process group, so a time-out also ends the script's worker processes.
    const child = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (process.platform !== 'win32' && child.pid) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT'
          ? new Error(`${python} not found: the Python extractor needs Python 3.8+ (set DIFFLORA_PYTHON to its path)`)
          : new Error(`cannot run ${python} ${SCRIPT}: ${e.message}`),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (timedOut) reject(new Error(`${SCRIPT} ${args[0]} timed out after ${Math.round(timeoutMs / 1000)} s`));
      else if (code !== 0) {
        const last = stderr.split('\n').filter(Boolean).pop() ?? `exit ${code ?? signal}`;
        reject(new Error(`${SCRIPT} ${args[0]} failed: ${last}`));
      } else resolve(Buffer.concat(out).toString('utf8'));
    });
    child.stdin.on('error', () => undefined); // EPIPE when the script dies early: reported by 'close'
    child.stdin.end(input ?? '');
  });
}

function checkOutFile(outFile: string): void {
  const dir = path.dirname(path.resolve(outFile));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InputError(outFile, `cannot write: folder ${dir} does not exist`);
  if (fs.existsSync(outFile) && fs.statSync(outFile).isDirectory()) throw new InputError(outFile, 'is a folder, expected a file name');
}

/**
 * Every function and method with a docstring in the .py files under `folder` (sorted relative paths) becomes
 * {"prompt", "completion", "source": "relpath:line"} in `outFile` (JSONL; written to outFile.part, then renamed).
 * prompt = the def line(s) without decorators + the docstring, dedented to column 0; completion = the rest of
 * the body, ending with a newline. See py/extract_functions.py for the rules.
 */
export async function extractFunctionPairs(folder: string, outFile: string, opts: ExtractOptions = {}): Promise<ExtractReport> {
  if (!fs.existsSync(folder)) throw new InputError(folder, 'not found');
  if (!fs.statSync(folder).isDirectory()) throw new InputError(folder, 'is not a folder');
  checkOutFile(outFile);
  const maxLines = opts.maxLines ?? 60;
  if (!Number.isInteger(maxLines) || maxLines < 1) throw new InputError('maxLines', `must be an integer >= 1, got ${maxLines}`);
  const args = ['folder', folder, outFile, '--max-lines', String(maxLines)];
  for (const name of opts.exclude ?? []) args.push('--exclude', name);
  if (opts.includeAll) args.push('--no-default-excludes');
  if (opts.jobs !== undefined) args.push('--jobs', String(Math.max(1, Math.floor(opts.jobs))));
  const t0 = Date.now();
  let stdout: string;
  try {
    stdout = await runExtractor(args, undefined, opts);
  } catch (e) {
    fs.rmSync(`${outFile}.part`, { force: true }); // left behind when the script was killed
    throw e;
  }
  let summary: Omit<ExtractReport, 'seconds'>;
  try {
    summary = JSON.parse(stdout.trim().split('\n').pop() ?? '');
  } catch {
    throw new Error(`${SCRIPT} folder: unexpected output ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return { ...summary, seconds: (Date.now() - t0) / 1000 };
}

export interface SplitRequest {
  id: string | number;
  /** Python module text holding the function. */
  code: string;
  /** The top-level function to split; when absent, the first function defined in `code` that `example` calls. */
  name?: string;
  /** Docstring text; with `example`, replaces the function's own docstring. */
  doc?: string;
  /** One Python statement shown in the docstring (as a doctest when it is `assert call == value`). */
  example?: string;
}

export type SplitResult =
  { id: string | number; name: string; prompt: string; completion: string } | { id: string | number; error: string };

/** Splits functions into prompt (rest of the module, then signature + docstring) and completion (body),
 * all in one python3 run. */
export async function splitFunctions(items: SplitRequest[], opts: PythonOptions = {}): Promise<SplitResult[]> {
  if (items.length === 0) return [];
  const stdout = await runExtractor(['split'], items.map((i) => JSON.stringify(i)).join('\n') + '\n', opts);
  const results = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SplitResult);
  if (results.length !== items.length) throw new Error(`${SCRIPT} split: ${results.length} results for ${items.length} functions`);
  return results;
}

/** CLI hook: extracts pairs and returns the report with a one-line summary to print. */
export async function extractFolder(
  folder: string,
  outFile: string,
  opts: ExtractOptions = {},
): Promise<ExtractReport & { summary: string }> {
  const r = await extractFunctionPairs(folder, outFile, opts);
  const s = r.skipped;
  const summary =
    `${r.pairs} pairs from ${r.files} files in ${r.seconds.toFixed(1)} s -> ${outFile} ` +
    `(${r.functions} functions, ${r.noDocstring} without docstring; skipped: ${s.trivial} trivial, ${s.tooLong} too long, ` +
    `${s.duplicate} duplicate, ${s.layout} odd layout; ${r.filesSkipped.length} files unreadable or unparsable)`;
  return { ...r, summary };
}
