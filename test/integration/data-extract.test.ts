/** The Python function extractor (engine/data/extract.ts + py/extract_functions.py). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../../engine/errors';
import { extractFolder, extractFunctionPairs, splitFunctions } from '../../engine/data/extract';
import { tempDir } from '../helpers/reference';

const PY = process.env.DIFFLORA_PYTHON ?? 'python3';

const MOD = `import functools


def add(a, b):
    """Return a + b."""
    return a + b


class Box:
    """A box."""

    def area(self, scale=1):
        """Area of the box,
        times scale.
        """
        # width times height
        return self.w * self.h * scale

    @property
    def name(self):
        """The name."""
        return self._name

    @functools.lru_cache(maxsize=None)
    def slow(
        self,
        n: int,
    ) -> int:
        """Slow thing."""
        s = """multi
    line"""
        return n + len(s)


def outer(x):
    """Outer."""
    def inner(y):
        """Inner."""
        return y * 2
    return inner(x)


async def fetch(url):
    """Fetch it."""
    return await get(url)


def todo():
    """Not yet."""
    raise NotImplementedError("later")


def stub():
    """Stub."""
    ...


def passes():
    """Nothing."""
    pass


def one(): """Docstring on the def line."""; return 1


def nodoc():
    return 1
`;

function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
}

function fixture(): string {
  const root = tempDir('pysrc');
  const long =
    'def long_one(n):\n    """Too long."""\n' + Array.from({ length: 61 }, (_, i) => `    n += ${i}\n`).join('') + '    return n\n';
  writeTree(root, {
    'a/mod.py': MOD,
    'b/bad.py': 'def broken(:\n    """Nope."""\n    return 1\n',
    'b/latin.py': Buffer.from('# -*- coding: latin-1 -*-\ndef cafe():\n    """Caf\xe9 au lait."""\n    return "\xe9"\n', 'latin1'),
    'b/latin_no_cookie.py': Buffer.from('def cafe2():\n    """Caf\xe9."""\n    return "\xe9"\n', 'latin1'),
    'c/dup.py': 'def add(a, b):\n    """Return a + b."""\n    return a + b\n',
    'long.py': long,
    'notes.txt': 'def not_python():\n    """x"""\n    return 1\n',
    '.hidden/h.py': 'def hidden():\n    """Hidden."""\n    return 1\n',
    '__pycache__/p.py': 'def cached():\n    """Cached."""\n    return 1\n',
    'venv/lib/site-packages/pkg.py': 'def installed():\n    """Installed."""\n    return 1\n',
  });
  return root;
}

const EXPECTED = [
  { source: 'a/mod.py:4', prompt: 'def add(a, b):\n    """Return a + b."""\n', completion: '    return a + b\n' },
  {
    source: 'a/mod.py:12',
    prompt: 'def area(self, scale=1):\n    """Area of the box,\n    times scale.\n    """\n',
    completion: '    # width times height\n    return self.w * self.h * scale\n',
  },
  { source: 'a/mod.py:20', prompt: 'def name(self):\n    """The name."""\n', completion: '    return self._name\n' },
  {
    source: 'a/mod.py:25',
    prompt: 'def slow(\n    self,\n    n: int,\n) -> int:\n    """Slow thing."""\n',
    // The string's second line keeps its original indentation: its value does not change.
    completion: '    s = """multi\n    line"""\n    return n + len(s)\n',
  },
  {
    source: 'a/mod.py:35',
    prompt: 'def outer(x):\n    """Outer."""\n',
    completion: '    def inner(y):\n        """Inner."""\n        return y * 2\n    return inner(x)\n',
  },
  { source: 'a/mod.py:37', prompt: 'def inner(y):\n    """Inner."""\n', completion: '    return y * 2\n' },
  { source: 'a/mod.py:43', prompt: 'async def fetch(url):\n    """Fetch it."""\n', completion: '    return await get(url)\n' },
  { source: 'b/latin.py:2', prompt: 'def cafe():\n    """Café au lait."""\n', completion: '    return "é"\n' },
];

function readPairs(f: string): { prompt: string; completion: string; source: string }[] {
  return fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

test('extractor: exactly the expected pairs from hand-written files; bad files counted, never fatal', async () => {
  const root = fixture();
  const out = path.join(tempDir('pairs'), 'pairs.jsonl');
  const r = await extractFolder(root, out);
  const pairs = readPairs(out);
  assert.deepEqual(
    pairs.map((p) => ({ source: p.source, prompt: p.prompt, completion: p.completion })),
    EXPECTED,
  );
  assert.ok(pairs.every((p) => Object.keys(p).join() === 'prompt,completion,source'));
  assert.equal(r.pairs, EXPECTED.length);
  assert.equal(r.files, 6); // .hidden, __pycache__ and site-packages are left out; notes.txt is not Python
  assert.deepEqual(
    r.filesSkipped.map((f) => f.path),
    ['b/bad.py', 'b/latin_no_cookie.py'],
  );
  assert.match(r.filesSkipped[0].reason, /^SyntaxError: /);
  assert.match(r.filesSkipped[1].reason, /^UnicodeDecodeError: /);
  assert.deepEqual(r.skipped, { trivial: 3, tooLong: 1, duplicate: 1, layout: 1 });
  assert.equal(r.functions, 15);
  assert.equal(r.noDocstring, 1);
  assert.match(r.summary, /^8 pairs from 6 files in [\d.]+ s -> /);
  assert.ok(!fs.existsSync(`${out}.part`));

  // Every pair is valid Python on its own.
  const check = spawnSync(PY, ['-c', 'import ast,json,sys\nfor l in sys.stdin: r=json.loads(l); ast.parse(r["prompt"]+r["completion"])'], {
    input: fs.readFileSync(out),
    timeout: 20_000,
  });
  assert.equal(check.status, 0, check.stderr?.toString());

  // Options: a larger line limit keeps the long function; includeAll walks the excluded folders; the order
  // does not depend on the number of worker processes.
  const r2 = await extractFunctionPairs(root, out, { maxLines: 100, includeAll: true, jobs: 1 });
  assert.deepEqual(
    readPairs(out).map((p) => p.source),
    ['.hidden/h.py:1', '__pycache__/p.py:1', ...EXPECTED.slice(0, 8).map((e) => e.source), 'long.py:1', 'venv/lib/site-packages/pkg.py:1'],
  );
  assert.equal(r2.files, 9);
  const one = path.join(tempDir('pairs'), 'one.jsonl');
  const two = path.join(tempDir('pairs'), 'two.jsonl');
  await extractFunctionPairs(root, one, { jobs: 1, exclude: ['c'] });
  await extractFunctionPairs(root, two, { jobs: 2, exclude: ['c'] });
  assert.deepEqual(fs.readFileSync(one), fs.readFileSync(two));
});

test('extractor: missing folder, missing output folder, missing python, time-out', async () => {
  const root = fixture();
  const nowhere = path.join(tempDir('pairs'), 'nope');
  await assert.rejects(
    extractFunctionPairs(nowhere, path.join(tempDir('pairs'), 'o.jsonl')),
    (e: unknown) => e instanceof InputError && (e as Error).message === `${nowhere}: not found`,
  );
  await assert.rejects(
    extractFunctionPairs(path.join(root, 'long.py'), path.join(tempDir('pairs'), 'o.jsonl')),
    (e: unknown) => e instanceof InputError && /is not a folder/.test((e as Error).message),
  );
  await assert.rejects(
    extractFunctionPairs(root, path.join(nowhere, 'o.jsonl')),
    (e: unknown) => e instanceof InputError && /cannot write: folder .* does not exist/.test((e as Error).message),
  );
  await assert.rejects(extractFunctionPairs(root, path.join(tempDir('pairs'), 'o.jsonl'), { python: '/no/such/python3' }), (e: unknown) =>
    /\/no\/such\/python3 not found/.test((e as Error).message),
  );
  const out = path.join(tempDir('pairs'), 't.jsonl');
  await assert.rejects(extractFunctionPairs(root, out, { timeoutMs: 1 }), (e: unknown) => /timed out/.test((e as Error).message));
  assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.part`));
});

test('split mode: signature + docstring / body of one function, given code and name', async () => {
  const res = await splitFunctions([
    {
      id: 1,
      code: 'import re\ndef helper(x):\n    return x\n\n@dec\ndef f(a,\n      b):  # sum\n    """Old doc."""\n    return helper(a) + b\n\nK = 2\n',
      name: 'f',
      doc: 'Add them.',
      example: 'assert f(1, 2) == 3',
    },
    { id: 2, code: 'def g(x): return x * 2', doc: 'Double.', example: 'assert g(2) == 4' },
    { id: 3, code: 'def h(s):\n\treturn s + "\\\\"\n', doc: 'Backslash.', example: 'assert h("a") == "a\\\\"' },
    { id: 4, code: 'def k(x):\n    return x\n', name: 'k' },
    { id: 5, code: 'def k(x):\n    return x\n', name: 'missing' },
    { id: 6, code: 'def k(x:\n', name: 'k' },
    { id: 7, code: 'def k(x):\n    return x\n', example: 'assert other(1)' },
  ]);
  assert.deepEqual(res[0], {
    id: 1,
    name: 'f',
    // The rest of the module (helpers before and after) goes above; decorators stay with the function.
    prompt:
      'import re\ndef helper(x):\n    return x\n\n\nK = 2\n\n\n@dec\ndef f(a,\n      b):  # sum\n    """Add them.\n    >>> f(1, 2)\n    3\n    """\n',
    completion: '    return helper(a) + b\n',
  });
  assert.deepEqual(res[1], {
    id: 2,
    name: 'g',
    prompt: 'def g(x):\n    """Double.\n    >>> g(2)\n    4\n    """\n',
    completion: '    return x * 2\n',
  });
  // Backslashes: a raw docstring keeps the example's text as written.
  assert.deepEqual(res[2], {
    id: 3,
    name: 'h',
    prompt: 'def h(s):\n\tr"""Backslash.\n\t>>> h("a")\n\t"a\\\\"\n\t"""\n',
    completion: '\treturn s + "\\\\"\n',
  });
  assert.deepEqual(res[3], { id: 4, name: 'k', prompt: 'def k(x):\n', completion: '    return x\n' });
  assert.deepEqual(res[4], { id: 5, error: "ValueError: no top-level function named 'missing'" });
  assert.equal(res[5].id, 6);
  assert.match((res[5] as { error: string }).error, /^SyntaxError: /);
  assert.deepEqual(res[6], { id: 7, error: 'ValueError: the example calls no function defined in the code' });
});

test('extractor on the Python standard library: pairs and time', async (t) => {
  const stdlib = spawnSync(PY, ['-c', "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], { encoding: 'utf8' }).stdout.trim();
  assert.ok(fs.existsSync(stdlib), stdlib);
  const out = path.join(tempDir('pairs'), 'stdlib.jsonl');
  const r = await extractFolder(stdlib, out);
  t.diagnostic(`stdlib ${stdlib}: ${r.summary}`);
  // Here (pyenv 3.11.7, tests included): 1790 files, 7744 pairs; Debian's python3.11 (no test suite): 668, 5275.
  assert.ok(r.files > 300, `${r.files} files`);
  assert.ok(r.pairs > 3000, `${r.pairs} pairs`);
  assert.equal(readPairs(out).length, r.pairs);
  // The stdlib's test data holds files that are not Python 3 on purpose (9 here): listed, not fatal.
  assert.ok(r.filesSkipped.length < 50);
  assert.ok(r.filesSkipped.every((f) => f.reason.length > 0 && !path.isAbsolute(f.path)));
});
