/**
 * The native backend's fault paths and settings, through the CLI as a process: an addon that is
 * missing or cannot load makes `--backend auto` say why and use wasm, and `--backend native` fail
 * with that reason on one line; --threads and DIFFLORA_THREADS reach OpenBLAS.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../helpers/cli';
import { nativeSkip } from '../helpers/native';
import { makeCheckpoint, tempDir } from '../helpers/reference';

const dir = tempDir('native-fallback');
let model = '';

function attention(backend: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  return runCli(
    ['attention', '--model', model, '--ids', '1,2,3', '--backend', backend, '--out', path.join(dir, 'out.json'), ...extra],
    env,
  );
}

describe('native backend fault paths', () => {
  before(() => {
    model = makeCheckpoint('base', path.join(dir, 'model'), [
      '--seed',
      '1',
      '--layers',
      '1',
      '--hidden',
      '16',
      '--heads',
      '2',
      '--kv-heads',
      '1',
      '--inter',
      '24',
      '--vocab',
      '11',
    ]);
  });

  const bogus = () => {
    const file = path.join(dir, 'bogus.node');
    fs.writeFileSync(file, 'not a shared object');
    return file;
  };

  test('a missing addon: auto logs the reason once and uses wasm', () => {
    const r = attention('auto', { DIFFLORA_NATIVE_PATH: path.join(dir, 'missing.node') });
    assert.equal(r.code, 0, r.stderr);
    const reasons = r.stderr.split('\n').filter((l) => l.includes('the native backend cannot load'));
    assert.equal(reasons.length, 1, r.stderr);
    assert.match(
      reasons[0],
      /^backend auto: the native backend cannot load, using wasm instead: native: no addon binary for .*missing\.node.*npm run build:native/,
    );
    assert.match(r.stderr, /^backend: wasm \(/m);
  });

  test('an addon that cannot be loaded: auto uses wasm; --backend native fails with the reason on one line', () => {
    const file = bogus();
    const auto = attention('auto', { DIFFLORA_NATIVE_PATH: file });
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(
      auto.stderr,
      /native backend cannot load, using wasm instead: native: cannot load .*bogus\.node: .*(invalid ELF header|too short)/,
    );
    assert.match(auto.stderr, /^backend: wasm \(/m);

    const explicit = attention('native', { DIFFLORA_NATIVE_PATH: file }, ['--quiet']);
    assert.equal(explicit.code, 1);
    const lines = explicit.stderr.trim().split('\n');
    assert.equal(lines.length, 1, explicit.stderr);
    assert.match(lines[0], /^difflora: error: native: cannot load .*bogus\.node: /);
  });

  test(
    '--threads and DIFFLORA_THREADS set the OpenBLAS threads, reported in the backend line; no tfjs-node banner',
    { skip: nativeSkip() },
    () => {
      const flag = attention('native', {}, ['--threads', '2']);
      assert.equal(flag.code, 0, flag.stderr);
      assert.match(flag.stderr, /^backend: native \(OpenBLAS .*, 2 BLAS threads \(--threads\), addon /m);
      assert.doesNotMatch(flag.stderr, /tfjs-node/, 'no cpu backend banner');
      const env = attention('native', { DIFFLORA_THREADS: '1' });
      assert.equal(env.code, 0, env.stderr);
      assert.match(env.stderr, /, 1 BLAS thread \(DIFFLORA_THREADS\)/);
      const auto = attention('auto', {});
      assert.match(auto.stderr, /^backend auto: native/m);
      const bad = attention('native', {}, ['--threads', '0', '--quiet']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--threads/);
    },
  );
});
