#!/usr/bin/env python3
"""Executes untrusted HumanEval programs, one at a time, each in a fresh sandbox (stdlib only, Linux/POSIX).

    python3 -I sandbox.py CONFIG_JSON

CONFIG_JSON: {"python": "/usr/bin/python3", "sandbox": "auto"|"bwrap"|"none", "memory_bytes": 2147483648,
"file_bytes": 16777216, "tmpfs_bytes": 67108864, "nproc": 16, "output_bytes": 65536, "guard": null|true|false}

Prints one line {"ready": true, "mode": "bwrap"|"none", "uid_drop": bool, "warning": str|null} and then
answers each job line on stdin, {"id", "program", "timeout"}, with one line on stdout:
{"id", "status": "passed"|"failed"|"timed out", "reason", "stdout", "stderr", "truncated", "exit", "seconds",
"killed" (processes left when the program ended, then killed), "survivors" (still alive after 2 s: 0)}.

Each program runs in a fresh temporary directory (removed afterwards) as a new session (its own process
group), with a scrubbed environment and rlimits: address space (memory_bytes), CPU time (timeout + 2 s),
file size, no core files, a process count. When the launcher runs as root, the program runs as a fresh
unprivileged uid (random, from a reserved range of 2^24) so that rlimits on processes apply and it cannot touch root's files nor
signal other processes; afterwards every process of that uid is killed. With bubblewrap ("bwrap") the
program also gets new user, pid, network, ipc, uts and cgroup namespaces (no network at all), a read-only
view of the file system with a small private /tmp as its working directory, and dies with its launcher;
the whole pid namespace goes when its first process does. Without bubblewrap (not installed, or user
namespaces disabled) the launcher says what is missing in "warning", and by default also installs the
runner's guard (see runner.py). The launcher is a child subreaper: orphans of a program come back to it
and are killed, so no process outlives its run.
"""
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
            r = self.run_one('', 10.0, mode='none', guard=False)
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

    # ------------------------------------------------------------------------------------------ probing

    def probe_bwrap(self):
        if not self.bwrap:
            return 'bwrap is not installed: apt-get install bubblewrap'
        last = None
        for extra in (['--disable-userns'], []):
            self.bwrap_extra = extra
            r = self.run_one('', 10.0, mode='bwrap', guard=False)
            if r['status'] == 'passed':
                return None
            last = r['reason'] or r['stderr'].strip().splitlines()[-1:] or 'unknown'
        return f'a bwrap test run failed: {(" ".join(last) if isinstance(last, list) else last)[:300]}'

    # ------------------------------------------------------------------------------------------ one run

    def pick_uid(self):
        """A random uid of the reserved range: 2^24 of them, so two runs at once all but never share one (a
        scan of /proc to prove it would cost more than the program)."""
        return self.uid_base + random.randrange(UID_SPAN)

    def argv(self, mode, job_dir, guard, timeout):
        runner_args = ['3', '4', '1' if guard else '0', repr(float(timeout))]
        if mode != 'bwrap':
            return [self.python, '-I', os.path.join(job_dir, 'runner.py'), os.path.join(job_dir, 'program.py')] + runner_args
        return [self.bwrap, '--unshare-all', '--unshare-user', *self.bwrap_extra, '--die-with-parent', '--new-session',
                '--ro-bind', '/', '/',
                '--dev', '/dev', '--size', str(1 << 20), '--tmpfs', '/dev/shm', '--remount-ro', '/dev',
                '--proc', '/proc',
                '--size', str(self.tmpfs_bytes), '--tmpfs', '/tmp', '--ro-bind', job_dir, '/tmp/job', '--chdir', '/tmp',
                '--clearenv', '--setenv', 'PATH', SAFE_PATH, '--setenv', 'HOME', '/tmp', '--setenv', 'TMPDIR', '/tmp',
                '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'PYTHONIOENCODING', 'utf-8',
                '--', self.python, '-I', '/tmp/job/runner.py', '/tmp/job/program.py'] + runner_args

    def run_one(self, program, timeout, mode=None, guard=None):
        mode = mode or self.mode
        self.mode_of_run = mode
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
            argv = self.argv(mode, job_dir, guard, timeout)
            nproc = self.nproc if uid is not None else user_tasks(os.getuid()) + self.nproc
            limits = [(resource.RLIMIT_AS, self.memory), (resource.RLIMIT_CPU, int(timeout + GRACE) + 1),
                      (resource.RLIMIT_FSIZE, self.file_bytes), (resource.RLIMIT_CORE, 0),
                      (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, nproc)]
            self.times_before = self.folder_times() if uid is not None and mode == 'none' else {}
            pid = os.fork()
            if pid == 0:  # the child: never returns
                self.exec_child(argv, env, job_dir if mode != 'bwrap' else '/', uid, limits, [nonce_r, res_w, out_w, err_w])
            for fd in (nonce_r, res_w, out_w, err_w):
                os.close(fd)
            fds = [res_r, out_r, err_r]
            try:
                # The runner's own timer starts the program's clock as it starts; this deadline kills what blocks it.
                status, timed_out, bufs, truncated, drain, open_fds = self.wait(pid, t0 + timeout + GRACE, {res_r: 'result', out_r: 'stdout', err_r: 'stderr'})
            except BaseException:  # Terminated: no program outlives its launcher either
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                self.cleanup(pid, uid)
                raise
            killed, survivors = self.cleanup(pid, uid)
            self.final_drain(drain, open_fds)
            r = self.verdict(nonce, status, timed_out, bufs, truncated, time.monotonic() - t0)
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

    def wait(self, pid, deadline, streams):
        bufs = {name: bytearray() for name in streams.values()}
        truncated = set()
        open_fds = set(streams)
        status = None
        timed_out = False

        def drain(fd):
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b''
            if not chunk:
                open_fds.discard(fd)
                return
            name = streams[fd]
            room = self.output_bytes - len(bufs[name])
            if room > 0:
                bufs[name] += chunk[:room]
            if len(chunk) > room:
                truncated.add(name)

        while status is None:
            try:
                got, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                got, st = pid, 0
            if got == pid:
                status = st
                break
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(list(open_fds) + [self.wake_r], [], [], min(left, 0.5))
            for fd in ready:
                if fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    drain(fd)
        if status is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                status = 0
        return status, timed_out, bufs, truncated, drain, open_fds

    def final_drain(self, drain, open_fds):
        """What is left in the pipes once every writer is dead: at most a pipe buffer each."""
        for fd in list(open_fds):
            os.set_blocking(fd, False)
            for _ in range(1024):  # 64 MiB at most, even if a writer somehow survived
                if fd not in open_fds or not select.select([fd], [], [], 0)[0]:
                    break
                drain(fd)


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
        if uid is not None and (found or self.mode_of_run != 'bwrap'):
            # Without bubblewrap, unconditionally: a program can hide from the /proc scan (a non-dumpable
            # process's entry is root's). With it, every process of the program was in the pid namespace, which
            # the kernel empties when its first process ends.
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
        if uid is not None and self.mode_of_run == 'none':
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

    def verdict(self, nonce, status, timed_out, bufs, truncated, seconds):
        out = {'stdout': bufs['stdout'].decode('utf-8', 'replace'), 'stderr': bufs['stderr'].decode('utf-8', 'replace'),
               'truncated': sorted(truncated), 'seconds': round(seconds, 4)}
        if os.WIFEXITED(status):
            out['exit'] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            out['exit'] = -os.WTERMSIG(status)
        passed, failure, timer = False, None, False
        for line in bytes(bufs['result']).split(b'\n'):
            parts = line.split(b' ', 2)
            if len(parts) >= 2 and parts[1] == nonce.encode():
                if parts[0] == b'PASS':
                    passed = True
                elif parts[0] == b'FAIL':
                    failure = parts[2].decode('utf-8', 'replace') if len(parts) > 2 else 'exception'
                elif parts[0] == b'TIMEOUT':
                    timer = True
                break
        if passed:
            out.update(status='passed', reason=None)
        elif failure is not None:
            out.update(status='failed', reason=failure)
        elif timed_out or timer:
            out.update(status='timed out', reason=None)
        else:
            out.update(status='failed', reason=self.no_marker_reason(out.get('exit'), out['stderr']))
        return out

    @staticmethod
    def no_marker_reason(code, stderr):
        lines = [l for l in stderr.strip().splitlines() if l.strip()]
        tail = f' ({lines[-1].strip()[:200]})' if lines else ''
        if code is not None and code < 0:
            sig = -code
            name = {signal.SIGXCPU: 'SIGXCPU, CPU time limit', signal.SIGXFSZ: 'SIGXFSZ, file size limit',
                    signal.SIGKILL: 'SIGKILL'}.get(sig, signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig))
            return f'killed by {name} before check() completed{tail}'
        if code is not None and code > 128 and code - 128 in signal.Signals._value2member_map_:
            return f'killed by {signal.Signals(code - 128).name} before check() completed{tail}'
        return f'exited with code {code} before check() completed{tail}'


def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    launcher = Launcher(cfg)
    out = sys.stdout
    out.write(json.dumps({'ready': True, 'mode': launcher.mode, 'uid_drop': launcher.root, 'guard': launcher.guard,
                          'python': launcher.python, 'note': launcher.python_note, 'warning': launcher.warning}) + '\n')
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            r = launcher.run_one(job['program'], float(job.get('timeout', 3.0)))
        except Exception as e:  # a launcher fault, not the program's: reported, the loop goes on
            r = {'status': 'error', 'reason': f'{type(e).__name__}: {e}', 'stdout': '', 'stderr': '', 'seconds': 0, 'killed': 0, 'survivors': 0}
        r['id'] = job.get('id')
        out.write(json.dumps(r) + '\n')
        out.flush()


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
