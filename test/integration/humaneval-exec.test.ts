/**
 * HumanEval execution in the sandbox: the canonical solutions pass and empty completions fail; hostile
 * completions (endless loop, fork bomb, 10 GB, 1 GB of output, writing and deleting files, killing or stopping the
 * parent, a hidden daemon, exiting before check(), monkeypatching, looking for the nonce, the network) are failed or
 * timed out, leave no process behind and change no file outside their temporary folder. A program over the memory
 * limit fails and the next one in the same warm sandbox passes; nothing of a program is left for the next one.
 * With bubblewrap when it works here, and in the fallback (rlimits, process group, scrubbed env,
 * unprivileged uid as root), with and without the guard.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { executeSamples, SANDBOX_UIDS, Sandbox, SampleRecord, SandboxOptions } from '../../engine/humaneval/execute';
import { Problem, readProblems } from '../../engine/humaneval/problems';
import { ROOT, tempDir } from '../helpers/reference';
import { sharedDataFile } from '../helpers/shared-data';

const HUMANEVAL = sharedDataFile('humaneval', 'HumanEval.jsonl.gz');
const noData = HUMANEVAL ? false : 'HumanEval.jsonl.gz not found beside the project (../shared/data/humaneval) nor in $DIFFLORA_SHARED';
const isRoot = process.getuid?.() === 0;

/** Processes of sandboxed programs still alive: a sandbox uid, or a runner / sandbox folder in the command line. */
function sandboxProcesses(): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (
        (uid >= SANDBOX_UIDS.first && uid < SANDBOX_UIDS.first + SANDBOX_UIDS.count) ||
        /runner\.py|forkserver\.py|difflora-sandbox-/.test(cmd)
      )
        out.push(`${name} uid ${uid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

const leftoverFolders = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('difflora-sandbox-'));

describe('HumanEval execution', () => {
  let info: Awaited<ReturnType<typeof Sandbox.open>>['info'] | undefined;

  test('the 164 canonical solutions pass and 164 empty completions fail (default sandbox)', { skip: noData }, async () => {
    const problems = readProblems(HUMANEVAL as string);
    assert.equal(problems.length, 164);
    const samples: SampleRecord[] = [
      ...problems.map((p) => ({ task_id: p.task_id, completion: p.canonical_solution, kind: 'canonical' })),
      ...problems.map((p) => ({ task_id: p.task_id, completion: '', kind: 'empty' })),
    ];
    const t0 = Date.now();
    const r = await executeSamples(problems, samples);
    info = r.sandbox;
    const secs = (Date.now() - t0) / 1000;
    console.log(
      `sandbox ${r.sandbox.mode}${r.sandbox.warning ? ` (${r.sandbox.warning})` : ''}: ${samples.length} programs in ${secs.toFixed(1)} s`,
    );
    const failedCanonical = r.results
      .slice(0, 164)
      .filter((x) => !x!.passed)
      .map((x) => `${x!.task_id}: ${x!.result}`);
    assert.deepEqual(failedCanonical, []);
    assert.equal(r.results.slice(164).filter((x) => x!.passed).length, 0);
    // Empty bodies fail in check() (an IndentationError or a wrong answer), not by a sandbox fault.
    for (const x of r.results.slice(164)) {
      assert.match(x!.result, /^failed: \w+/, x!.task_id);
      assert.doesNotMatch(x!.result, /before check\(\) completed/, x!.task_id);
    }
    const first = r.results[0]!;
    assert.deepEqual(Object.keys(first).slice(0, 2), ['task_id', 'completion']);
    assert.equal(first.kind, 'canonical');
    assert.equal(first.result, 'passed');
    assert.equal(first.passed, true);
    assert.deepEqual(sandboxProcesses(), []);
    assert.deepEqual(leftoverFolders(), []);
  });

  // --------------------------------------------------------------------------------------------- hostile

  const problem: Problem = {
    task_id: 'Hostile/0',
    prompt: 'def square(x):\n    """x * x"""\n',
    entry_point: 'square',
    canonical_solution: '    return x * x\n',
    test: 'def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n',
  };
  const victimDir = tempDir('he-victim');
  fs.chmodSync(victimDir, 0o755);
  const victim = path.join(victimDir, 'keep.txt');
  fs.writeFileSync(victim, 'precious\n');
  const tag = `difflora-evil-${process.pid}-${Date.now()}`;
  const sentinels = [path.join(os.tmpdir(), tag), path.join(victimDir, 'new.txt'), path.join(ROOT, tag), `/root/${tag}`, `/var/tmp/${tag}`];
  after(() => {
    fs.rmSync(victimDir, { recursive: true, force: true });
    for (const s of sentinels) fs.rmSync(s, { force: true });
  });

  const py = (s: string) => JSON.stringify(s);
  const hostile = (port: number, allowKillAll: boolean): Record<string, string> => ({
    'endless loop': '    while True:\n        pass\n',
    'fork bomb': '    return 0\nimport os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass\n',
    'allocate 10 GB': '    return 0\nhoard = bytearray(10 * 2**30)\n',
    'print 1 GB': '    return 0\nimport sys\nchunk = "x" * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n',
    'write and delete files':
      '    return 0\nimport os, shutil\n' +
      [
        `open(${py(victim)}, "w").write("pwned")`,
        `os.remove(${py(victim)})`,
        `os.chmod(${py(victimDir)}, 0o777)`,
        ...sentinels.map((s) => `open(${py(s)}, "w").write("x")`),
        `shutil.rmtree(${py(victimDir)})`,
      ]
        .map((a) => `try:\n    ${a}\nexcept Exception:\n    pass\n`)
        .join(''),
    'stop the parent (SIGSTOP), then wait':
      '    return 0\nimport os, signal, time\ntry:\n    os.kill(os.getppid(), signal.SIGSTOP)\nexcept Exception:\n    pass\ntime.sleep(10)\n',
    'kill the parent and the engine': `    return 0\nimport os, signal\nfor pid in (os.getppid(), ${process.pid}):\n    try:\n        os.kill(pid, signal.SIGKILL)\n    except Exception:\n        pass\nimport time\ntime.sleep(0.5)\n`,
    ...(allowKillAll
      ? {
          'kill every process it can':
            '    return 0\nimport os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept Exception:\n    pass\n',
        }
      : {}),
    'a hidden daemon (new session, not dumpable)':
      '    return 0\nimport os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n' +
      '        try:\n            import ctypes\n            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n        except Exception:\n            pass\n' +
      '        time.sleep(60)\n    os._exit(0)\ntime.sleep(0.3)\n',
    'sys.exit(0) before check() (correct answer)': '    return x * x\nimport sys\nsys.exit(0)\n',
    'os._exit(0) before check() (correct answer)': '    return x * x\nimport os\nos._exit(0)\n',
    'exit from an atexit handler': '    return 0\nimport atexit, os\natexit.register(lambda: os._exit(0))\n',
    'monkeypatching builtins and forging the marker':
      '    return 0\nimport builtins, os, sys\n' +
      'for fd in range(1, 20):\n    try:\n        os.write(fd, b"PASS 0123456789abcdef0123456789abcdef\\n")\n    except Exception:\n        pass\n' +
      'os.write = lambda fd, data: len(data)\nos._exit = lambda code=0: None\nsys.exit = lambda code=0: None\n' +
      'builtins.type = lambda *a: int\nbuiltins.str = lambda *a: "passed"\nbuiltins.AssertionError = type("Fine", (Exception,), {})\n',
    "look for the nonce (fds, the parent's /proc files and memory) and forge the marker":
      '    return 0\nimport os, re\nfound = set()\n' +
      'for f in ("/proc/%d/environ" % os.getppid(), "/proc/%d/cmdline" % os.getppid(), "/proc/self/environ", "/proc/self/cmdline"):\n' +
      '    try:\n        found.update(re.findall(rb"[0-9a-f]{32}", open(f, "rb").read()))\n    except Exception:\n        pass\n' +
      'for fd in range(0, 20):\n    try:\n        found.update(re.findall(rb"[0-9a-f]{32}", os.read(fd, 4096)))\n    except Exception:\n        pass\n' +
      'try:\n    mem = open("/proc/%d/mem" % os.getppid(), "rb")\n    for line in open("/proc/%d/maps" % os.getppid()):\n' +
      '        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))\n        try:\n            mem.seek(lo)\n' +
      '            found.update(re.findall(rb"[0-9a-f]{32}", mem.read(min(hi - lo, 1 << 24))))\n        except Exception:\n            pass\nexcept Exception:\n    pass\n' +
      'for n in found:\n    for fd in range(1, 20):\n        try:\n            os.write(fd, b"PASS " + n + b"\\n")\n        except Exception:\n            pass\n',
    'network socket': `    return 0\nimport socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=1).sendall(b"leak")\nexcept Exception:\n    pass\n`,
  });

  const variants: { name: string; opts: SandboxOptions; skip?: string | false; isolatedNet: boolean }[] = [
    { name: 'default sandbox', opts: {}, isolatedNet: true },
    { name: 'fallback with the guard', opts: { sandbox: 'none' }, isolatedNet: true },
    // Without the guard the fallback leans on the unprivileged uid, which only a root engine can switch to.
    {
      name: 'fallback without the guard (root: unprivileged uid)',
      opts: { sandbox: 'none', guard: false },
      skip: isRoot ? false : 'not root: no uid to drop to',
      isolatedNet: false,
    },
  ];

  for (const v of variants) {
    test(`hostile completions are contained: ${v.name}`, { skip: v.skip }, async () => {
      let connections = 0;
      const server = net.createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const box = await Sandbox.open({ ...v.opts, workers: 2 });
        const mode = box.info;
        await box.close();
        const programs = hostile(port, mode.mode === 'bwrap' || mode.uidDrop);
        const names = Object.keys(programs);
        const samples = names.map((name) => ({ task_id: problem.task_id, completion: programs[name], name }));
        const t0 = Date.now();
        const r = await executeSamples([problem], samples, { ...v.opts, workers: 2 });
        console.log(
          `${v.name}: ${r.sandbox.mode}${r.sandbox.guard ? ' + guard' : ''}, ${names.length} hostile programs in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        names.forEach((name, i) => {
          const o = r.outcomes[i]!;
          console.log(`  ${name}: ${o.result} (${o.seconds.toFixed(2)} s, ${o.killed} processes killed afterwards)`);
          assert.ok(!o.passed, `${name} passed`);
          assert.ok(o.status === 'failed' || o.status === 'timed out', `${name}: ${o.status}`);
          assert.equal(o.survivors, 0, `${name}: processes outlived the run`);
          assert.ok(o.stdout.length <= 65536 && o.stderr.length <= 65536, `${name}: output not capped`);
        });
        const printed = r.outcomes[names.indexOf('print 1 GB')]!;
        if (printed.status === 'failed') assert.deepEqual(printed.truncated, ['stdout']);
        // The host: files, processes, the network (isolated with bubblewrap; the guard blocks sockets).
        assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
        assert.equal(fs.statSync(victimDir).mode & 0o777, 0o755);
        for (const s of sentinels) assert.ok(!fs.existsSync(s), `${s} was created`);
        if (v.isolatedNet) assert.equal(connections, 0, 'a program reached the host network');
        assert.deepEqual(sandboxProcesses(), []);
        assert.deepEqual(leftoverFolders(), []);
      } finally {
        server.close();
      }
    });
  }

  test('memory is limited per program: one over the limit fails, the next in the same warm sandbox passes', async () => {
    const limit = 256 * 2 ** 20;
    const lines: string[] = [];
    const box = await Sandbox.open({ workers: 1, memoryBytes: limit, log: (l) => lines.push(l) });
    try {
      const m = box.info.memoryLimit;
      console.log(`memory limit: ${m.kind} ${m.bytes} bytes${m.why ? ` (no cgroup: ${m.why})` : ''}; limits: ${box.info.limits}`);
      assert.equal(m.bytes, limit);
      assert.match(
        box.info.limits,
        m.kind === 'cgroup' ? /memory 256 MiB per program \(cgroup v2 memory\.max/ : /memory 256 MiB per process \(RLIMIT_AS; no cgroup: /,
      );
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^HumanEval sandbox: (bwrap|none), 1 worker: .*(cgroup v2 memory\.max|RLIMIT_AS)/);
      const run = (completion: string) => box.run(`${problem.prompt}${completion}\n${problem.test}\ncheck(${problem.entry_point})`);
      // Touched pages (not just reserved address space): a cgroup counts these.
      const fine = await run('    return x * x\nhoard = b"\\x01" * (64 << 20)\n');
      assert.equal(fine.result, 'passed', 'a program well under the limit');
      const over = await run('    return x * x\nhoard = b"\\x01" * (512 << 20)\n');
      console.log(`  512 MiB: ${over.result} (${over.seconds.toFixed(2)} s)`);
      assert.equal(over.passed, false);
      assert.match(over.result, /^failed: (MemoryError|killed by the memory limit)/);
      assert.equal(over.survivors, 0);
      const next = await run(problem.canonical_solution);
      assert.equal(next.result, 'passed');
      if (box.info.mode === 'bwrap') assert.equal(next.warm, over.warm! + 1, 'the next program ran in the same warm sandbox');
    } finally {
      await box.close();
    }
    assert.deepEqual(sandboxProcesses(), []);
    assert.deepEqual(leftoverFolders(), []);
  });

  test('a program in a warm sandbox sees nothing of the previous one (files, processes, IPC, its own limits) nor takes over its server', async () => {
    const box = await Sandbox.open({ workers: 1, log: () => undefined });
    try {
      const run = (code: string) => box.run(`${problem.prompt}    return x * x\n${code}\n${problem.test}\ncheck(${problem.entry_point})`);
      const first = await run(
        'import os, subprocess, sys, resource\n' +
          'open("/tmp/left-behind", "w").write("x")\nos.makedirs("/tmp/d/e")\nos.chmod("/tmp/d", 0)\n' +
          'try:\n    open("/dev/shm/left-behind", "w").write("x")\nexcept OSError:\n    pass\n' +
          'subprocess.Popen([sys.executable, "-c", "import os, time\\nos.setsid()\\ntime.sleep(30)"], start_new_session=True)\n' +
          'resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))\n' +
          'import ctypes\nlibc = ctypes.CDLL(None)\nassert libc.shmget(0, 1 << 20, 0o1600) >= 0\n' +
          '# POSIX message queues would outlive it unseen: none may be made (bubblewrap only)\n' +
          'if os.getppid() == 1:\n    assert libc.mq_open(b"/left-behind", os.O_CREAT | os.O_RDWR, 0o600, None) == -1\n',
      );
      assert.equal(first.result, 'passed', first.stderr);
      const second = await run(
        'import os\nassert sorted(os.listdir("/tmp")) == [], os.listdir("/tmp")\n' +
          'assert not os.path.exists("/dev/shm/left-behind")\n' +
          'others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]\n' +
          'assert others == [], others\n' +
          'import resource\nassert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 16\n' +
          'assert open("/proc/sysvipc/shm").read().count("\\n") <= 1, open("/proc/sysvipc/shm").read()\n',
      );
      if (box.info.mode === 'bwrap') {
        assert.equal(second.result, 'passed', second.stderr);
        assert.equal(second.warm, first.warm! + 1);
        assert.ok(first.killed >= 1, 'the daemon was found and killed');
        // The one process that outlives programs, the fork server (the namespace's init), cannot be taken over
        // (ptrace, its memory) nor killed or stopped from inside.
        const third = await run(
          'import ctypes, os, signal\nlibc = ctypes.CDLL(None, use_errno=True)\n' +
            'assert os.getppid() == 1 or os.getpid() != 1\n' +
            'assert libc.ptrace(16, 1, 0, 0) == -1, "ptrace attached to the fork server"\n' +
            'try:\n    open("/proc/1/mem", "rb")\n    raise AssertionError("read the fork server\'s memory")\nexcept PermissionError:\n    pass\n' +
            'for s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):\n    os.kill(1, s)\n',
        );
        assert.equal(third.result, 'passed', third.stderr);
        const fourth = await run('');
        assert.equal(fourth.result, 'passed');
        assert.equal(fourth.warm, third.warm! + 1, 'the fork server survived');
      }
    } finally {
      await box.close();
    }
    assert.deepEqual(sandboxProcesses(), []);
  });

  test('the cgroup v2 group is made only inside a subtree that delegates the memory controller (a fake tree)', () => {
    const dir = tempDir('he-cgroup');
    try {
      const mnt = path.join(dir, 'cg');
      fs.mkdirSync(path.join(mnt, 'app.slice', 'engine.scope'), { recursive: true });
      fs.mkdirSync(path.join(mnt, 'app.slice', 'difflora-sandbox-999999999-abc')); // left by a killed launcher
      fs.writeFileSync(path.join(mnt, 'cgroup.controllers'), 'cpu memory pids\n');
      fs.writeFileSync(path.join(mnt, 'app.slice', 'cgroup.subtree_control'), 'memory pids\n');
      fs.writeFileSync(path.join(mnt, 'app.slice', 'engine.scope', 'cgroup.subtree_control'), '\n'); // has processes
      fs.writeFileSync(path.join(dir, 'mountinfo'), `30 25 0:26 / ${mnt} rw,relatime shared:4 - cgroup2 cgroup2 rw\n`);
      fs.writeFileSync(path.join(dir, 'cgroup'), '0::/app.slice/engine.scope\n');
      const script = [
        'import json, sys',
        'sys.path.insert(0, sys.argv[1])',
        'import sandbox',
        'c, why = sandbox.Cgroup.create(1 << 28, 24, sys.argv[2], sys.argv[3])',
        'print(json.dumps({"path": c and c.path, "why": why, "max": c and open(c.path + "/memory.max").read()}))',
      ].join('\n');
      const py = path.join(ROOT, 'engine', 'humaneval', 'py');
      const run = () =>
        JSON.parse(
          execFileSync('python3', ['-I', '-B', '-c', script, py, path.join(dir, 'mountinfo'), path.join(dir, 'cgroup')], {
            encoding: 'utf8',
          }),
        );
      const made = run();
      assert.equal(made.why, null);
      assert.match(
        made.path,
        new RegExp(`^${mnt}/app\\.slice/difflora-sandbox-\\d+-[0-9a-f]+$`),
        'beside our group, in the delegated parent',
      );
      assert.equal(made.max, String(1 << 28));
      assert.ok(!fs.existsSync(path.join(mnt, 'app.slice', 'difflora-sandbox-999999999-abc')), "a dead launcher's group is swept");
      fs.writeFileSync(path.join(mnt, 'cgroup.controllers'), 'cpu\n');
      const none = run();
      assert.equal(none.path, null);
      assert.match(none.why, /offers no memory controller/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a correct program still passes after all that, and the sandbox reports what it is', async () => {
    const r = await executeSamples([problem], [{ task_id: problem.task_id, completion: problem.canonical_solution }], { workers: 1 });
    assert.equal(r.results[0]!.result, 'passed');
    if (info) assert.equal(r.sandbox.mode, info.mode);
    // A machine with bubblewrap installed must use it (CI installs it: scripts/setup.sh --test).
    const hasBwrap = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'].some((p) => fs.existsSync(p));
    if (hasBwrap && r.sandbox.mode !== 'bwrap') console.log(`bwrap is installed but unusable here: ${r.sandbox.warning}`);
    if (r.sandbox.mode === 'none')
      assert.match(r.sandbox.warning ?? '', /without bubblewrap.*no file system, network or pid namespace isolation/);
    else assert.equal(r.sandbox.warning, null);
  });

  test('cancel stops between programs; nothing is left running', async () => {
    const samples = Array.from({ length: 4 }, () => ({
      task_id: problem.task_id,
      completion: '    import time\n    time.sleep(0.5)\n    return x * x\n',
    }));
    let done = 0;
    const r = await executeSamples(
      [problem],
      samples,
      { workers: 1 },
      {
        onResult: () => {
          done++;
        },
        isCancelled: () => done >= 1,
      },
    );
    assert.equal(r.cancelled, true);
    assert.equal(r.results[0]!.passed, true);
    assert.deepEqual(r.results.slice(1), [undefined, undefined, undefined]);
    assert.deepEqual(sandboxProcesses(), []);
  });
});
