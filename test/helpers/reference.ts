/** The independent numpy reference (test/reference/*.py) and checkpoint maker, called from tests. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const REF = path.join(ROOT, 'test', 'reference');

let pythonExe: string | undefined;

/** The first Python 3 here that has numpy (DIFFLORA_PYTHON wins when set). */
export function pythonWithNumpy(): string {
  if (pythonExe) return pythonExe;
  const candidates = [process.env.DIFFLORA_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  pythonExe = candidates.find((p) => spawnSync(p, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0);
  if (!pythonExe) throw new Error(`no python3 with numpy found (tried ${candidates.join(', ')}): run "bash scripts/setup.sh --test"`);
  return pythonExe;
}

function python(script: string, args: string[]): string {
  const r = spawnSync(pythonWithNumpy(), [path.join(REF, script), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `difflora-${prefix}-`));
}

/** Writes a random checkpoint: kind 'base' | 'lora' | 'difflora' with make_checkpoint.py flags. */
export function makeCheckpoint(kind: 'base' | 'lora' | 'difflora', out: string, args: string[]): string {
  python('make_checkpoint.py', [kind, '--out', out, ...args]);
  return out;
}

export interface AttentionJson {
  ids: number[];
  tokens?: string[];
  logits?: number[][];
  generated?: number[];
  layers: {
    layer: number;
    lambda?: number;
    heads: { head: number; positive: number[][]; negative?: number[][]; differential?: number[][] }[];
  }[];
}

/** The reference's maps (all, or with `only` those of the first layers and some heads, without logits) and logits. */
export function reference(
  model: string,
  adapter: string | undefined,
  ids: number[],
  generate = 0,
  only?: { firstLayers: number; heads: number[] },
): AttentionJson {
  const out = path.join(tempDir('ref'), 'ref.json');
  const args = ['--model', model, '--ids', ids.join(','), '--out', out];
  if (adapter) args.push('--adapter', adapter);
  if (generate) args.push('--generate', String(generate));
  if (only) args.push('--first-layers', String(only.firstLayers), '--heads', only.heads.join(','));
  python('llama_ref.py', args);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

export function maxAbsDiff(a: number[][], b: number[][]): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return Infinity;
    for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  }
  return m;
}

export interface GradReference {
  loss: number;
  grads: Record<string, { shape: number[]; indices: number[]; values: number[] }>;
}

/** Float64 central differences of the reference loss for sampled elements of the named tensors. */
export function gradReference(
  model: string,
  adapter: string | undefined,
  ids: number[][],
  masks: number[][],
  tensors: string[],
  samples = 12,
): GradReference {
  const out = path.join(tempDir('gradref'), 'grads.json');
  const args = [
    '--model',
    model,
    '--ids',
    ids.map((r) => r.join(',')).join(';'),
    '--mask',
    masks.map((r) => r.join(',')).join(';'),
    '--tensors',
    tensors.join(','),
    '--samples',
    String(samples),
    '--out',
    out,
  ];
  if (adapter) args.push('--adapter', adapter);
  python('grad_ref.py', args);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}
