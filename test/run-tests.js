#!/usr/bin/env node
// Runs every compiled test file (out/test/**/*.test.js), one process per file, one after the other.
// A file that has not exited within its time limit (its tests finished or not: an open handle keeps
// a process alive for ever) is a named failure: its process group is stopped, the file's own process
// prints the handles it still held (test/helpers/hang-report), and the run goes on with the next file.
//   node test/run-tests.js [substring ...]      only the files whose path contains one of them
//   DIFFLORA_TEST_FILE_TIMEOUT_S=N               the per-file limit (default 600 s; 1200 s for test/vscode)
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', 'out', 'test');
const hangReport = path.join(root, 'helpers', 'hang-report.js');
const only = process.argv.slice(2);
function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.test.js') ? [p] : [];
  });
}
const files = fs.existsSync(root)
  ? walk(root)
      .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
      .sort()
  : [];
if (files.length === 0 || !fs.existsSync(hangReport)) {
  console.error('no test files found under out/test: run "npm run build" first');
  process.exit(1);
}

function limitSeconds(file) {
  const set = Number(process.env.DIFFLORA_TEST_FILE_TIMEOUT_S);
  if (set > 0) return set;
  return file.includes(`${path.sep}vscode${path.sep}`) ? 1200 : 600;
}

/** Runs one file; resolves to { file, status: 'passed' | 'failed' | 'hung', pass, fail, seconds }. */
function runFile(file) {
  const rel = path.relative(path.join(__dirname, '..'), file);
  const limit = limitSeconds(file);
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so that a hang stops the engines, browsers and servers it started too.
    const child = spawn(process.execPath, ['--test-reporter=spec', '--require', hangReport, file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    let tail = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-4000);
    });
    let hung = false;
    const signalGroup = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      hung = true;
      console.log(`\n✖ ${rel} has not exited after ${limit} s: stopping it (the handles it still held follow)`);
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), 5000).unref();
    }, limit * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      signalGroup('SIGKILL'); // nothing of this file may outlive it
      const count = (what) => Number(new RegExp(`ℹ ${what} (\\d+)`).exec(tail)?.[1] ?? 0);
      const status = hung ? 'hung' : code === 0 ? 'passed' : 'failed';
      resolve({ rel, status, pass: count('pass'), fail: count('fail'), seconds: (Date.now() - started) / 1000 });
    });
  });
}

(async () => {
  const results = [];
  for (const file of files) results.push(await runFile(file));
  const sum = (k) => results.reduce((a, r) => a + r[k], 0);
  console.log(`\n${results.length} test files, ${sum('pass')} tests passed, ${sum('fail')} failed, ${Math.round(sum('seconds'))} s`);
  for (const r of results) console.log(`  ${r.status.padEnd(6)} ${r.seconds.toFixed(0).padStart(5)} s  ${r.rel}`);
  const bad = results.filter((r) => r.status !== 'passed');
  if (bad.length) console.log(`\nnot passed: ${bad.map((r) => `${r.rel} (${r.status})`).join(', ')}`);
  process.exit(bad.length ? 1 : 0);
})();
