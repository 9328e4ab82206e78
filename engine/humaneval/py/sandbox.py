#!/usr/bin/env python3
"""Executes untrusted HumanEval programs, one at a time, each isolated (stdlib only, Linux/POSIX).

    python3 -I sandbox.py CONFIG_JSON

CONFIG_JSON: {"python": "/usr/bin/python3", "sandbox": "auto"|"bwrap"|"none", "memory_bytes": 2147483648,
"file_bytes": 16777216, "tmpfs_bytes": 67108864, "nproc": 16, "output_bytes": 65536, "guard": null|true|false,
"cgroup": true}

Prints one line {"ready": true, "mode": "bwrap"|"none", "uid_drop": bool, "warning": str|null, "limits": str,
"memory_limit": {"kind": "cgroup"|"rlimit", "bytes", "why"}} and then answers each job line on stdin,
{"id", "program", "timeout"}, with one line on stdout: {"id", "status": "passed"|"failed"|"timed out", "reason",
"stdout", "stderr", "truncated", "exit", "seconds", "killed" (processes left when the program ended, then
killed), "survivors" (still alive after 2 s: 0), "warm" (bubblewrap: programs its sandbox ran before)}.

With bubblewrap ("bwrap"), one sandbox per launcher (WarmSandbox): new user, pid, network, ipc, uts and cgroup
namespaces (no network at all), a read-only view of the file system, a small private /tmp and /dev/shm, a
private read-only /run holding only forkserver.py and runner.py, dying with the launcher; as root it runs as a
fresh unprivileged uid (random, from a reserved range of 2^24; one per sandbox). Inside, forkserver.py, a warm
interpreter, forks each program with its own session, rlimits, pipes and nonce, kills every process it left
(the pid namespace holds them all) and wipes /tmp, /dev/shm and System V IPC before the next; see that file. A
sandbox whose server dies, stops answering or keeps a process alive is killed whole and replaced.

Without bubblewrap (not installed, or user namespaces disabled; "none"), each program runs in a fresh
interpreter in a fresh temporary directory (removed afterwards), as a new session, with a scrubbed environment
and rlimits; as root as a fresh unprivileged uid per program so that rlimits on processes apply and it cannot
touch root's files nor signal other processes, every process of that uid killed afterwards. The launcher says
what is missing in "warning", and by default also installs the runner's guard (see runner.py). The launcher is
a child subreaper: orphans of a program come back to it and are killed, so no process outlives its run.

Memory per program: where a cgroup v2 subtree we may write to already enables the memory controller (root, or
a delegated subtree), one group per launcher with memory.max = memory_bytes, memory.swap.max = 0 and pids.max;
its programs run one at a time, so the limit is per program (the warm server's few MiB included). Otherwise
RLIMIT_AS = memory_bytes per process. The system's cgroup configuration itself is never changed.
"""
import atexit
import ctypes
import errno
import fcntl
import json
import os
import random
import resource
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # -I leaves the script's folder out
sys.dont_write_bytecode = True  # no __pycache__ beside the scripts (an installed extension's folder)

from forkserver import collect, final_drain, verdict  # noqa: E402

RUNNER = os.path.join(HERE, 'runner.py')
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
UID_BASE = 1_500_000_000  # fresh uids for programs when running as root: [UID_BASE, UID_BASE + 2^24)
UID_SPAN = 1 << 24
SAFE_PATH = '/usr/local/bin:/usr/bin:/bin'
GRACE = 1.0  # seconds between the program's timer and the launcher's kill (Python start-up included)

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option, arg):
    if hasattr(_libc, 'prctl'):  # Linux only
        _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


class Terminated(BaseException):
    """SIGTERM (the engine cancels, or died: PR_SET_PDEATHSIG): clean up the current run and leave."""


def on_term(*_):
    raise Terminated()


def proc_uids():
    """{pid: (real uid, ppid)} of every process we can see."""
    out = {}
    try:
        names = os.listdir('/proc')
    except OSError:  # no /proc (not Linux): nothing to sweep but the process group
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/status', 'rb') as f:
                uid = ppid = None
                for line in f:
                    if line.startswith(b'Uid:'):
                        uid = int(line.split()[1])
                    elif line.startswith(b'PPid:'):
                        ppid = int(line.split()[1])
            if uid is not None:
                out[int(name)] = (uid, ppid)
        except (OSError, ValueError, IndexError):
            pass
    return out


def pids_of_uid(uid):
    """Processes whose /proc entry belongs to `uid` (their effective uid): one stat each, no file read."""
    out = []
    try:
        names = os.listdir('/proc')
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            try:
                if os.stat(f'/proc/{name}').st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


def user_tasks(uid):
    """Threads of `uid` on the machine: RLIMIT_NPROC counts them all."""
    n = 0
    for pid, (u, _) in proc_uids().items():
        if u == uid:
            try:
                n += len(os.listdir(f'/proc/{pid}/task'))
            except OSError:
                n += 1
    return n


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Launcher:
    def __init__(self, cfg):
        self.python = shutil.which(cfg.get('python') or 'python3', path=os.environ.get('PATH', SAFE_PATH)) or cfg.get('python')
        self.memory = int(cfg.get('memory_bytes', 2 << 30))
        self.file_bytes = int(cfg.get('file_bytes', 16 << 20))
        self.tmpfs_bytes = int(cfg.get('tmpfs_bytes', 64 << 20))
        self.nproc = int(cfg.get('nproc', 16))
        self.output_bytes = int(cfg.get('output_bytes', 64 << 10))
        self.root = os.geteuid() == 0
        self.uid_base = int(cfg.get('uid_base', UID_BASE))
        self.tmp_parent = tempfile.gettempdir()
        with open(RUNNER, 'rb') as f:
            self.runner_source = f.read()
        self.bwrap = shutil.which('bwrap', path=SAFE_PATH)
        self.bwrap_extra = ['--disable-userns']
        self.warm = None
        self.warm_guard = bool(cfg.get('guard'))  # with bubblewrap the guard is off unless asked for
        self.cgroup, self.cgroup_why = None, None
        if cfg.get('cgroup', True):
            self.cgroup, self.cgroup_why = Cgroup.create(self.memory, self.nproc + 8)
        else:
            self.cgroup_why = 'cgroups not requested'
        atexit.register(self.close)  # also when the start fails (SystemExit)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the engine went away: clean up and leave
        signal.signal(signal.SIGTERM, on_term)
        # SIGCHLD wakes select() up as soon as a program ends.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)

        # The program's Python must be usable by the unprivileged uid (a pyenv under /root is not): the
        # configured one, else the system's.
        self.python_note = None
        wanted = self.python
        for candidate in dict.fromkeys([wanted, '/usr/bin/python3']):
            if not candidate or not os.path.exists(candidate):
                continue
            self.python = candidate
            r = self.run_one('', 10.0, guard=False)
            if r['status'] == 'passed':
                break
            self.python_note = f'{candidate}: {r["reason"]}'
        else:
            raise SystemExit(f'no Python the sandbox can run ({self.python_note or wanted + ": not found"})')
        if self.python != wanted:
            self.python_note = f'programs run with {self.python}: {wanted} cannot be run by the sandbox user'
        else:
            self.python_note = None

        requested = cfg.get('sandbox', 'auto')
        self.mode, why = 'none', None
        if requested != 'none':
            why = self.probe_bwrap()
            if why is None:
                self.mode = 'bwrap'
            elif requested == 'bwrap':
                raise SystemExit(f'bubblewrap sandbox requested but unavailable: {why}')
        elif requested == 'none':
            why = 'sandbox "none" requested'
        guard = cfg.get('guard')
        self.guard = (self.mode == 'none') if guard is None else bool(guard)
        self.warning = None
        if self.mode == 'none':
            has = ['rlimits', 'its own process group', 'a scrubbed environment']
            if self.root:
                has.append('an unprivileged uid')
            if self.guard:
                has.append('a guard disabling kill/fork/exec/file removal/sockets (bypassable)')
            self.warning = (f'HumanEval programs run without bubblewrap ({why}): {", ".join(has)}, '
                            'but no file system, network or pid namespace isolation'
                            + ('' if self.root else ', and with your user\'s rights on your files'))
        if self.cgroup:
            pids = f', pids.max {self.cgroup.pids}' if self.cgroup.pids else ''
            memory = (f'memory {fmt_bytes(self.memory)} per program (cgroup v2 memory.max on a group that runs one program at a time, '
                      f'swap 0{pids}: {self.cgroup.path})')
        else:
            memory = f'memory {fmt_bytes(self.memory)} per process (RLIMIT_AS; no cgroup: {self.cgroup_why})'
        how = ('a warm interpreter in a bubblewrap sandbox forks each program' if self.mode == 'bwrap'
               else 'a fresh interpreter per program, no bubblewrap')
        self.limits = (f'{how}; {memory}; per program: {self.nproc} processes (RLIMIT_NPROC), CPU timeout + {GRACE + 1:g} s '
                       f'(RLIMIT_CPU), killed at timeout + {GRACE:g} s, files {fmt_bytes(self.file_bytes)} (RLIMIT_FSIZE), 256 open files, '
                       f'output {fmt_bytes(self.output_bytes)} per stream'
                       + (f', /tmp {fmt_bytes(self.tmpfs_bytes)} (wiped between programs)' if self.mode == 'bwrap' else ''))
        self.memory_limit = {'kind': 'cgroup' if self.cgroup else 'rlimit', 'bytes': self.memory, 'why': self.cgroup_why}

    # ------------------------------------------------------------------------------------------ probing

    def probe_bwrap(self):
        """Starts the warm sandbox and runs an empty program in it; None when that works, else why not."""
        if not self.bwrap:
            return 'bwrap is not installed: apt-get install bubblewrap'
        last = None
        for extra in (['--disable-userns'], []):
            self.bwrap_extra = extra
            try:
                self.warm = WarmSandbox(self)
                r = self.warm.run('', 10.0)
                if r['status'] == 'passed':
                    return None
                last = r['reason'] or ' '.join(r['stderr'].strip().splitlines()[-1:]) or 'unknown'
            except WarmStartError as e:
                last = str(e)
            if self.warm:
                self.warm.stop()
                self.warm = None
        return f'a bwrap test run failed: {last[:300]}'

    def run_program(self, program, timeout):
        if self.mode == 'bwrap':
            if self.warm is None:
                self.warm = WarmSandbox(self)
            r = self.warm.run(program, timeout)
            if not self.warm.alive:
                self.warm = None
            return r
        return self.run_one(program, timeout)

    def close(self):
        if self.warm:
            self.warm.stop()
            self.warm = None
        if self.cgroup:
            self.cgroup.remove()
            self.cgroup = None

    # ------------------------------------------------------------------------------------------ one run

    def pick_uid(self):
        """A random uid of the reserved range: 2^24 of them, so two runs at once all but never share one (a
        scan of /proc to prove it would cost more than the program)."""
        return self.uid_base + random.randrange(UID_SPAN)

    def argv(self, job_dir, guard, timeout):
        """A fresh interpreter per program, without bubblewrap (the fallback)."""
        runner_args = ['3', '4', '1' if guard else '0', repr(float(timeout))]
        return [self.python, '-I', os.path.join(job_dir, 'runner.py'), os.path.join(job_dir, 'program.py')] + runner_args

    def run_one(self, program, timeout, guard=None):
        """One program in a fresh interpreter, without bubblewrap: the fallback, and the probe of the Python."""
        guard = self.guard if guard is None else guard
        t0 = time.monotonic()
        uid = self.pick_uid() if self.root else None
        job_dir = tempfile.mkdtemp(prefix='difflora-sandbox-', dir=self.tmp_parent)
        fds = []
        try:
            for name, data in (('runner.py', self.runner_source), ('program.py', program.encode('utf-8', 'surrogatepass'))):
                with open(os.path.join(job_dir, name), 'wb') as f:
                    f.write(data)
            if uid is not None:
                for name in ('', 'runner.py', 'program.py'):
                    os.chown(os.path.join(job_dir, name), uid, uid)
            nonce = secrets.token_hex(16)
            nonce_r, nonce_w = os.pipe()
            os.write(nonce_w, nonce.encode())
            os.close(nonce_w)
            res_r, res_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            fds = [nonce_r, res_w, out_w, err_w, res_r, out_r, err_r]
            env = {'PATH': SAFE_PATH, 'HOME': job_dir, 'TMPDIR': job_dir, 'LANG': 'C.UTF-8', 'PYTHONIOENCODING': 'utf-8'}
            argv = self.argv(job_dir, guard, timeout)
            nproc = self.nproc if uid is not None else user_tasks(os.getuid()) + self.nproc
            limits = ([] if self.cgroup else [(resource.RLIMIT_AS, self.memory)]) + [(resource.RLIMIT_CPU, int(timeout + GRACE) + 1),
                      (resource.RLIMIT_FSIZE, self.file_bytes), (resource.RLIMIT_CORE, 0),
                      (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, nproc)]
            self.times_before = self.folder_times() if uid is not None else {}
            pid = os.fork()
            if pid == 0:  # the child: never returns
                self.exec_child(argv, env, job_dir, uid, limits, [nonce_r, res_w, out_w, err_w])
            for fd in (nonce_r, res_w, out_w, err_w):
                os.close(fd)
            fds = [res_r, out_r, err_r]
            try:
                # The runner's own timer starts the program's clock as it starts; this deadline kills what blocks it.
                status, timed_out, bufs, truncated, drain, open_fds = collect(
                    pid, t0 + timeout + GRACE, {res_r: 'result', out_r: 'stdout', err_r: 'stderr'}, self.output_bytes, self.wake_r)
            except BaseException:  # Terminated: no program outlives its launcher either
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                self.cleanup(pid, uid)
                raise
            killed, survivors = self.cleanup(pid, uid)
            final_drain(drain, open_fds)
            r = verdict(nonce, status, timed_out, bufs, truncated, time.monotonic() - t0)
            r.update(killed=killed, survivors=survivors)
            return r
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.remove(job_dir)

    def exec_child(self, argv, env, cwd, uid, limits, fds):
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]  # out of the way of 0..4
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            for target, fd in zip((3, 4, 1, 2), high):
                os.dup2(fd, target)
            os.closerange(5, 1 << 16)
            if self.cgroup:
                self.cgroup.join()
            for lim, value in limits:
                resource.setrlimit(lim, (value, value))
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        except BaseException as e:
            try:
                os.write(2, f'sandbox: cannot start {argv[0]}: {e}\n'.encode())
            finally:
                os._exit(127)

    def cleanup(self, pid, uid):
        """Kills whatever the program left: its process group, every process of its uid, orphans handed to us
        (the subreaper). Returns (processes found after the program ended, processes still alive after 2 s)."""
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        me = os.getpid()

        def live():
            if uid is not None:  # as root every process of the program has its uid: a stat per process
                return [p for p in pids_of_uid(uid) if p != me and not self.is_zombie(p)]
            return [p for p, (u, ppid) in proc_uids().items() if p != me and ppid == me and not self.is_zombie(p)]

        found = len(live())
        if uid is not None:
            # Unconditionally: a program can hide from the /proc scan (a non-dumpable process's entry is root's).
            self.kill_uid(uid)
            reap_all()
        end = time.monotonic() + 2.0
        attempt = 0
        while True:
            targets = live()
            if not targets or time.monotonic() > end:
                break
            if uid is not None:
                self.kill_uid(uid)
            for p in targets:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            reap_all()
            time.sleep(0.002 if attempt < 20 else 0.02)
            attempt += 1
        reap_all()
        if uid is not None:
            self.sweep_files(uid, self.times_before)
        return found, len(targets)

    def shared_folders(self):
        return list(dict.fromkeys(['/tmp', '/var/tmp', '/dev/shm', self.tmp_parent]))

    def folder_times(self):
        out = {}
        for folder in self.shared_folders():
            try:
                out[folder] = os.stat(folder).st_mtime_ns
            except OSError:
                pass
        return out

    def sweep_files(self, uid, before):
        """Without bubblewrap a program can create files in world-writable folders: its uid is fresh, so
        whatever that uid owns there is the program's, and goes. A folder whose mtime did not change since
        the program started got no new entry and is not scanned."""
        now = self.folder_times()
        for folder in self.shared_folders():
            if folder in before and now.get(folder) == before[folder]:
                continue
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if e.is_dir(follow_symlinks=False):
                        self.remove(e.path)
                    else:
                        os.unlink(e.path)
                except OSError:
                    pass

    @staticmethod
    def is_zombie(pid):
        try:
            with open(f'/proc/{pid}/stat', 'rb') as f:
                return f.read().rsplit(b')', 1)[1].split()[0] in (b'Z', b'X')
        except (OSError, IndexError):
            return True

    @staticmethod
    def kill_uid(uid):
        """kill(-1, SIGKILL) as `uid`: every process of that uid at once, even those forking."""
        helper = os.fork()
        if helper == 0:
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                pass
            os._exit(0)
        try:
            os.waitpid(helper, 0)
        except ChildProcessError:
            pass

    @staticmethod
    def remove(path):
        """rmtree that also gets through folders a program made unreadable (non-root runs), and never touches
        anything outside `path`."""
        top = os.path.abspath(path)

        def inside(p):
            return os.path.commonpath([os.path.abspath(p), top]) == top

        def fix(func, p, exc_info):
            if isinstance(exc_info[1], FileNotFoundError):
                return
            try:
                parent = os.path.dirname(os.path.abspath(p))
                if inside(parent):
                    os.chmod(parent, 0o700)
                if inside(p) and os.path.isdir(p) and not os.path.islink(p):
                    os.chmod(p, 0o700)
                func(p)
            except OSError:
                pass
        shutil.rmtree(top, onerror=fix)


# ------------------------------------------------------------------------------------------------ cgroups

def fmt_bytes(n):
    for unit, size in (('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if n >= size:
            return f'{n / size:g} {unit}'
    return f'{n} B'


class Cgroup:
    """A cgroup v2 group of our own for one launcher's programs (they run one at a time), with memory.max and,
    when the pids controller is there, pids.max. Only made inside a subtree whose cgroup.subtree_control already
    enables the memory controller and that we may write to (root, or a delegated subtree): the system's cgroup
    configuration itself is never changed."""

    PREFIX = 'difflora-sandbox-'

    def __init__(self, path, memory, pids):
        self.path, self.memory, self.pids = path, memory, pids

    @classmethod
    def create(cls, memory, pids, mountinfo='/proc/self/mountinfo', own_cgroup='/proc/self/cgroup'):
        """(Cgroup, None) or (None, why not). The two files can be others for a test."""
        try:
            mounts = []
            with open(mountinfo) as f:
                for line in f:
                    left, _, right = line.partition(' - ')
                    if right.split()[:1] == ['cgroup2']:
                        mounts.append(left.split()[4])
            if not mounts:
                return None, 'no cgroup v2 file system is mounted'
            rel = None
            with open(own_cgroup) as f:
                for line in f:
                    if line.startswith('0::'):
                        rel = line[3:].strip()
            if rel is None:
                return None, 'this process is in no cgroup v2 group'
            why = None
            for mnt in mounts:
                own = os.path.normpath(mnt + '/' + rel)
                if not os.path.isdir(own):
                    own = mnt  # a cgroup namespace: our group is its root
                if 'memory' not in read_words(os.path.join(mnt, 'cgroup.controllers')) and 'memory' not in read_words(os.path.join(own, 'cgroup.controllers')):
                    why = f'cgroup v2 at {mnt} offers no memory controller (not enabled, or the cgroup v1 hierarchy holds it)'
                    continue
                bases = [own] + ([os.path.dirname(own)] if own != mnt else [])
                for base in bases:
                    if 'memory' not in read_words(os.path.join(base, 'cgroup.subtree_control')):
                        why = f'{base}: the memory controller is not enabled for its children (no delegated subtree)'
                        continue
                    if not os.access(base, os.W_OK):
                        why = f'{base}: not writable (no delegated subtree)'
                        continue
                    cls.sweep(base)
                    path = os.path.join(base, f'{cls.PREFIX}{os.getpid()}-{secrets.token_hex(3)}')
                    try:
                        os.mkdir(path)
                        write(os.path.join(path, 'memory.max'), str(memory))
                        if os.path.exists(os.path.join(path, 'memory.swap.max')):
                            write(os.path.join(path, 'memory.swap.max'), '0')
                        has_pids = os.path.exists(os.path.join(path, 'pids.max'))
                        if has_pids:
                            write(os.path.join(path, 'pids.max'), str(pids))
                        if read_words(os.path.join(path, 'memory.max')) != [str(memory)]:
                            raise OSError('memory.max did not take the value')
                        return cls(path, memory, pids if has_pids else None), None
                    except OSError as e:
                        why = f'{path}: {e}'
                        try:
                            os.rmdir(path)
                        except OSError:
                            pass
            return None, why
        except (OSError, ValueError, IndexError) as e:
            return None, f'cgroup v2: {e}'

    @classmethod
    def sweep(cls, base):
        """Removes our groups left by launchers that were killed (empty ones only: rmdir refuses the others)."""
        try:
            names = os.listdir(base)
        except OSError:
            return
        for name in names:
            if name.startswith(cls.PREFIX):
                try:
                    pid = int(name[len(cls.PREFIX):].split('-')[0])
                    if not os.path.exists(f'/proc/{pid}'):
                        os.rmdir(os.path.join(base, name))
                except (ValueError, OSError):
                    pass

    def join(self):
        """Moves the calling process into the group (a child before its exec)."""
        write(os.path.join(self.path, 'cgroup.procs'), '0')

    def oom_kills(self):
        for line in read_lines(os.path.join(self.path, 'memory.events')):
            if line.startswith('oom_kill '):
                return int(line.split()[1])
        return 0

    def kill_all(self):
        try:
            write(os.path.join(self.path, 'cgroup.kill'), '1')
        except OSError:
            pass

    def remove(self):
        self.kill_all()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                reap_all()
                time.sleep(0.01)


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def read_words(path):
    return ' '.join(read_lines(path)).split()


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


# ------------------------------------------------------------------------------------------- warm sandbox

class WarmStartError(Exception):
    pass


class WarmSandbox:
    """One bubblewrap sandbox holding forkserver.py, a warm interpreter that forks once per program. As root it
    runs as a fresh unprivileged uid (one per sandbox); it gets new user, pid, network, ipc, uts and cgroup
    namespaces, a read-only view of the file system with a private /tmp and /dev/shm (wiped after every
    program), a private /run holding only its two scripts, and dies with this launcher. A sandbox whose fork
    server dies, stops answering or cannot kill what a program left is killed whole (the kernel empties its pid
    namespace) and the next program gets a new one."""

    def __init__(self, launcher):
        L = self.L = launcher
        self.alive = False
        self.pid = None
        self.fds = []
        self.programs = 0
        self.inbox = bytearray()
        self.uid = L.pick_uid() if L.root else None
        self.dir = tempfile.mkdtemp(prefix='difflora-sandbox-', dir=L.tmp_parent)
        try:
            os.chmod(self.dir, 0o755)  # root's and read-only for the sandbox uid
            for name in ('runner.py', 'forkserver.py'):
                shutil.copyfile(os.path.join(HERE, name), os.path.join(self.dir, name))
                os.chmod(os.path.join(self.dir, name), 0o644)
            cfg = {'memory_bytes': 0 if L.cgroup else L.memory, 'cpu_grace': GRACE, 'grace': GRACE, 'file_bytes': L.file_bytes,
                   'nproc': L.nproc, 'output_bytes': L.output_bytes, 'guard': L.warm_guard, 'wipe': ['/tmp', '/dev/shm']}
            # --as-pid-1: the fork server is the namespace's init, so no other process of the sandbox uid outlives a
            # program (bwrap's own init would be one a program could ptrace and keep), and signals from inside
            # (SIGKILL, SIGSTOP) do not reach it.
            argv = [L.bwrap, '--unshare-all', '--unshare-user', *L.bwrap_extra, '--as-pid-1', '--die-with-parent', '--new-session',
                    '--ro-bind', '/', '/',
                    '--dev', '/dev', '--size', str(1 << 20), '--tmpfs', '/dev/shm', '--remount-ro', '/dev',
                    '--proc', '/proc',
                    '--size', str(L.tmpfs_bytes), '--tmpfs', '/tmp',
                    '--tmpfs', '/run', '--ro-bind', self.dir, '/run/difflora', '--remount-ro', '/run', '--chdir', '/tmp',
                    '--clearenv', '--setenv', 'PATH', SAFE_PATH, '--setenv', 'HOME', '/tmp', '--setenv', 'TMPDIR', '/tmp',
                    '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'PYTHONIOENCODING', 'utf-8',
                    '--', L.python, '-I', '/run/difflora/forkserver.py', json.dumps(cfg)]
            nproc = L.nproc + 8 if self.uid is not None else user_tasks(os.getuid()) + L.nproc + 8
            limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, nproc)]
            env = {'PATH': SAFE_PATH, 'LANG': 'C.UTF-8'}
            to_r, to_w = os.pipe()
            from_r, from_w = os.pipe()
            err_r, err_w = os.pipe()
            self.fds = [to_r, to_w, from_r, from_w, err_r, err_w]
            pid = os.fork()
            if pid == 0:
                self.exec_server(argv, env, limits, (to_r, from_w, err_w))
            self.pid = pid
            for fd in (to_r, from_w, err_w):
                os.close(fd)
            self.fds = [to_w, from_r, err_r]
            self.to_w, self.from_r, self.err_r = to_w, from_r, err_r
            os.set_blocking(err_r, False)
            line = self.read_line(time.monotonic() + 20.0)
            msg = None
            try:
                msg = json.loads(line) if line else None
            except ValueError:
                pass
            if not msg or not msg.get('ready'):
                raise WarmStartError(f'the fork server did not start: {self.server_stderr() or (line or b"").decode("utf-8", "replace")[:200] or "no answer"}')
            self.alive = True
        except BaseException:
            self.stop()
            raise

    def exec_server(self, argv, env, limits, fds):
        """The forked child: its own session, the cgroup, rlimits, the sandbox uid, then bwrap. Never returns."""
        L = self.L
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
            for target, fd in zip((0, 1, 2), high):
                os.dup2(fd, target)
            os.closerange(3, 1 << 16)
            if L.cgroup:
                L.cgroup.join()
            for lim, value in limits:
                resource.setrlimit(lim, (value, value))
            if self.uid is not None:
                os.setgroups([])
                os.setresgid(self.uid, self.uid, self.uid)
                os.setresuid(self.uid, self.uid, self.uid)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
            os.chdir('/')
            os.execve(argv[0], argv, env)
        except BaseException as e:
            try:
                os.write(2, f'sandbox: cannot start {argv[0]}: {e}\n'.encode())
            finally:
                os._exit(127)

    def server_stderr(self):
        try:
            return os.read(self.err_r, 1 << 16).decode('utf-8', 'replace').strip()[-400:]
        except OSError:
            return ''

    def read_line(self, deadline):
        """The server's next line, or None when it closed its end or the deadline passed (self.late)."""
        self.late = False
        while True:
            nl = self.inbox.find(b'\n')
            if nl >= 0:
                line = bytes(self.inbox[:nl])
                del self.inbox[:nl + 1]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                self.late = True
                return None
            ready, _, _ = select.select([self.from_r], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.from_r, 1 << 20)
                if not chunk:
                    return None
                self.inbox += chunk

    def run(self, program, timeout):
        if not self.alive and self.programs:
            raise WarmStartError('the sandbox is not running')
        t0 = time.monotonic()
        index = self.programs
        self.programs += 1
        data = program.encode('utf-8', 'surrogatepass')
        oom_before = self.L.cgroup.oom_kills() if self.L.cgroup else 0
        line = None
        try:
            msg = json.dumps({'id': self.programs, 'timeout': timeout, 'length': len(data)}).encode() + b'\n' + data
            view = memoryview(msg)
            while view:
                view = view[os.write(self.to_w, view):]
            # The server kills the program at timeout + GRACE and cleans up within 2 s: more means it is stuck.
            line = self.read_line(t0 + timeout + GRACE + 5.0)
        except OSError:  # EPIPE: the server is gone
            pass
        r = None
        if line:
            try:
                r = json.loads(line)
            except ValueError:
                r = None
        if r is None:
            late = getattr(self, 'late', False)
            why = self.server_stderr()
            self.stop()
            r = {'status': 'timed out' if late else 'failed',
                 'reason': None if late else 'the sandbox ended before check() completed (its fork server was killed)' + (f' ({why})' if why else ''),
                 'stdout': '', 'stderr': '', 'truncated': [], 'seconds': round(time.monotonic() - t0, 4), 'killed': 0, 'survivors': 0}
        elif r.get('survivors'):
            uid = self.uid
            self.stop()  # something resisted kill(-1): the whole namespace goes, and the next program gets a new one
            left = []
            end = time.monotonic() + 2.0
            while uid is not None and time.monotonic() < end:
                left = [p for p in pids_of_uid(uid) if not Launcher.is_zombie(p)]
                if not left:
                    break
                Launcher.kill_uid(uid)
                reap_all()
                time.sleep(0.01)
            r['survivors'] = len(left)
        if self.L.cgroup and r.get('status') != 'passed' and self.L.cgroup.oom_kills() > oom_before:
            r['status'] = 'failed'
            r['reason'] = f'killed by the memory limit (cgroup memory.max {fmt_bytes(self.L.cgroup.memory)}) before check() completed'
        r['warm'] = index
        return r

    def stop(self):
        """Kills the sandbox (its pid namespace goes with it), removes its folder."""
        self.alive = False
        if self.pid:
            for kill in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = None
            if self.uid is not None:
                Launcher.kill_uid(self.uid)
            if self.L.cgroup:
                self.L.cgroup.kill_all()
            reap_all()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        Launcher.remove(self.dir)



def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    launcher = Launcher(cfg)
    try:
        out = sys.stdout
        out.write(json.dumps({'ready': True, 'mode': launcher.mode, 'uid_drop': launcher.root, 'guard': launcher.guard,
                              'python': launcher.python, 'note': launcher.python_note, 'warning': launcher.warning,
                              'limits': launcher.limits, 'memory_limit': launcher.memory_limit}) + '\n')
        out.flush()
        for line in sys.stdin:
            if not line.strip():
                continue
            job = json.loads(line)
            try:
                r = launcher.run_program(job['program'], float(job.get('timeout', 3.0)))
            except Exception as e:  # a launcher fault, not the program's: reported, the loop goes on
                r = {'status': 'error', 'reason': f'{type(e).__name__}: {e}', 'stdout': '', 'stderr': '', 'seconds': 0, 'killed': 0, 'survivors': 0}
            r['id'] = job.get('id')
            out.write(json.dumps(r) + '\n')
            out.flush()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        launcher.close()


if __name__ == '__main__':
    try:
        main()
    except BrokenPipeError:
        pass
    except (KeyboardInterrupt, Terminated):
        pass
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
