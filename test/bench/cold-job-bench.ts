/**
 * `npm run bench:cold`: the paper's setting as one cold job, against PyTorch doing the same job.
 *
 *   node out/test/bench/cold-job-bench.js [--runs N] [--layer L] [--heads 0,13,31] [--torch-threads 1:2]
 *
 * The job: a fresh process loads the Llama-3.2-1B-shaped bf16 checkpoint (2.47 GB, written once into
 * .cache/bench/) with a DiffLoRA-32 adapter on all 16 layers (authors' format, made once with
 * test/reference/make_checkpoint.py), runs 512 tokens and writes layer L's positive, negative and
 * differential maps of the given heads as JSON, then exits.
 *   ours   `difflora attention --model M --adapter A --ids ... --layers L --heads ... --out F` (bin/difflora.js,
 *          the default backend: native where its addon loads);
 *   torch  test/bench/torch_peer.py --cold-job (Debian's python3-torch): the same files, ids and output.
 * Both stop after layer L (its maps need only layers 0..L; without --logits our CLI does so, and the
 * peer is told to). Wall time of the whole process (start-up, imports, load, forward, JSON), median of
 * --runs (default 3), alternating between the two, after one untimed run each (page cache warm for
 * both); the two outputs' maps are compared, so both did the same job.
 * Figures only, no thresholds. Results: stdout and .cache/bench/cold-job-results.json.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { BENCH_SRC, CACHE, MAKE_CKPT, median, PY, ROOT, run, TORCH_PY } from './common';
import { llama1b } from '../helpers/llama-1b';

interface Options {
  runs: number;
  layer: number;
  heads: string;
  torchThreads: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 3, layer: 0, heads: '0,13,31', torchThreads: '1:2' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    if (argv[i] === '--runs') o.runs = Number(v);
    else if (argv[i] === '--layer') o.layer = Number(v);
    else if (argv[i] === '--heads') o.heads = v;
    else if (argv[i] === '--torch-threads') o.torchThreads = v;
    else throw new Error(`unknown option ${argv[i]} (see the header of test/bench/cold-job-bench.ts)`);
    i++;
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs: expected an integer >= 1');
  return o;
}

const ADAPTER = path.join(CACHE, 'llama-3.2-1b-shape-difflora-32');

function adapter(model: string): string {
  if (!fs.existsSync(path.join(ADAPTER, 'model.safetensors'))) {
    fs.rmSync(ADAPTER, { recursive: true, force: true });
    const args = ['difflora', '--base', model, '--out', ADAPTER, '--seed', '3', '--r', '32', '--alpha', '64', '--lambda', '0.1'];
    run(PY, [MAKE_CKPT, ...args], 'make_checkpoint.py difflora (1B shape)');
  }
  return ADAPTER;
}

/** Wall seconds of one process; throws with its stderr's tail if it fails. */
function timed(cmd: string, args: string[], what: string): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const s = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr?.toString().slice(-600)}`);
  return s;
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const model = llama1b(PY);
  const adapterDir = adapter(model);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflora-cold-'));
  const idsFile = path.join(tmp, 'ids.txt');
  let seed = 7;
  const ids = Array.from({ length: 512 }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % 128256;
  });
  fs.writeFileSync(idsFile, ids.join(','));
  const oursOut = path.join(tmp, 'ours.json'),
    torchOut = path.join(tmp, 'torch.json');
  const ours = (): number =>
    timed(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'difflora.js'),
        'attention',
        '--model',
        model,
        '--adapter',
        adapterDir,
        '--ids',
        ids.join(','),
        '--layers',
        String(o.layer),
        '--heads',
        o.heads,
        '--out',
        oursOut,
      ],
      'difflora attention',
    );
  const torch = (): number =>
    timed(
      TORCH_PY,
      [
        path.join(BENCH_SRC, 'torch_peer.py'),
        '--cold-job',
        '--model',
        model,
        '--adapter',
        adapterDir,
        '--ids',
        idsFile,
        '--layer',
        String(o.layer),
        '--heads',
        o.heads,
        '--threads',
        o.torchThreads,
        '--out',
        torchOut,
      ],
      'torch_peer.py --cold-job',
    );
  process.stderr.write('warming the page cache (one untimed run each)\n');
  ours();
  torch();
  const times = { ours: [] as number[], torch: [] as number[] };
  for (let i = 0; i < o.runs; i++) {
    times.ours.push(ours());
    times.torch.push(torch());
    process.stderr.write(`run ${i + 1}: ours ${times.ours[i].toFixed(1)} s, torch ${times.torch[i].toFixed(1)} s\n`);
  }
  // The two outputs hold the same maps: a job that computed something else would not be comparable.
  const a = JSON.parse(fs.readFileSync(oursOut, 'utf8')),
    b = JSON.parse(fs.readFileSync(torchOut, 'utf8'));
  let maxDiff = 0;
  for (const [h, head] of a.layers[0].heads.entries()) {
    for (const kind of ['positive', 'negative', 'differential'] as const) {
      const x = head[kind] as number[][],
        y = b.layers[0].heads[h][kind] as number[][];
      for (let r = 0; r < y.length; r++) for (let c = 0; c < y[r].length; c++) maxDiff = Math.max(maxDiff, Math.abs(x[r][c] - y[r][c]));
    }
  }
  const m = { ours: median(times.ours), torch: median(times.torch) };
  const result = {
    date: new Date().toISOString(),
    host: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, loadavg: os.loadavg() },
    job: `1B shape (bf16) + DiffLoRA-32, 512 tokens, layer ${o.layer} heads ${o.heads} to JSON`,
    torch_threads: o.torchThreads,
    runs: times,
    median_s: m,
    ours_over_torch: m.torch / m.ours,
    max_abs_diff_maps: maxDiff,
  };
  fs.writeFileSync(path.join(CACHE, 'cold-job-results.json'), JSON.stringify(result, null, 2));
  console.log(`\nCold job: ${result.job}; wall time of the whole process, median of ${o.runs}`);
  console.log(`  ours   ${m.ours.toFixed(1)} s  (${times.ours.map((t) => t.toFixed(1)).join(', ')})`);
  console.log(`  torch  ${m.torch.toFixed(1)} s  (${times.torch.map((t) => t.toFixed(1)).join(', ')}; threads ${o.torchThreads})`);
  console.log(`  ours/torch ${result.ours_over_torch.toFixed(2)}x (> 1: we are faster); maps agree within ${maxDiff.toExponential(1)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main();
