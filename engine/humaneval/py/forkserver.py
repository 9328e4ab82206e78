"""A warm interpreter inside one bubblewrap sandbox that forks once per HumanEval program (stdlib only).

    python3 -I forkserver.py CONFIG_JSON        (started by sandbox.py inside bwrap, as pid 1 of its pid namespace)

CONFIG_JSON: {"memory_bytes": int (RLIMIT_AS per program, 0: none, a cgroup limits the sandbox instead),
"cpu_grace": float, "file_bytes": int, "nproc": int, "nofile": int, "output_bytes": int, "guard": bool,
"grace": float}.

Prints {"ready": true, ...} on stdout, then takes jobs on stdin, each a JSON line {"id", "timeout", "length"}
followed by `length` bytes of program source, and answers each with one JSON line: {"id", "status", "reason",
"stdout", "stderr", "truncated", "exit", "seconds", "killed", "survivors"} (the shape sandbox.py documents).

Per program: fork (the parent has imported only the standard library, holds no secret and no descriptor the
child keeps); the child starts a new session (its own process group), gets its own rlimits (address space
unless a cgroup limits the sandbox, CPU time, file size, open files, processes, no core file), /dev/null as
stdin, pipes for stdout and stderr (read here, capped), the result pipe, and the run's nonce through a pipe
written only after the fork (the nonce is never in the child's memory image), then runs the program with
runner.run(). After the program, or at its deadline, every other process of the pid namespace (this one is
its init) is killed (kill(-1) until /proc is empty of them: the program cannot leave the namespace), and
/tmp, /dev/shm and System V IPC objects are wiped, so the next program starts from the same state.

This process is not dumpable: a program (same uid) can neither ptrace it nor open its /proc files or
descriptors; as the namespace's init it ignores SIGKILL and SIGSTOP from inside, so the only process of the
sandbox that outlives a program cannot be taken over by one. (Were it to die or stop answering anyway,
sandbox.py fails the program and starts a new sandbox.)
"""
import json
import os
import resource
import select
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import runner  # noqa: E402  (binds os.write and os._exit before any program runs)

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def read_status(pid):
    """(state, ppid) of a process, or None when it is gone."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            rest = f.read().rsplit(b')', 1)[1].split()
        return rest[0], int(rest[1])
    except (OSError, IndexError, ValueError):
        return None


def is_zombie(pid):
    st = read_status(pid)
    return st is None or st[0] in (b'Z', b'X')


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def collect(pid, deadline, streams, output_bytes, wake_r):
    """Waits for `pid` until `deadline`, reading its pipes (capped at output_bytes each). Returns (wait status,
    timed out, {name: bytes}, truncated names, drain, open fds); at the deadline the process group is killed."""
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
        room = output_bytes - len(bufs[name])
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
        ready, _, _ = select.select(list(open_fds) + [wake_r], [], [], min(left, 0.5))
        for fd in ready:
            if fd == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                drain(fd)
    if status is None:
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
    return status, timed_out, bufs, truncated, drain, open_fds


def final_drain(drain, open_fds):
    """What is left in the pipes once every writer is dead: at most a pipe buffer each."""
    for fd in list(open_fds):
        os.set_blocking(fd, False)
        for _ in range(1024):  # 64 MiB at most, even if a writer somehow survived
            if fd not in open_fds or not select.select([fd], [], [], 0)[0]:
                break
            drain(fd)


def no_marker_reason(code, stderr):
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    tail = f' ({lines[-1].strip()[:200]})' if lines else ''
    if code is not None and code < 0:
        sig = -code
        name = {signal.SIGXCPU: 'SIGXCPU, CPU time limit', signal.SIGXFSZ: 'SIGXFSZ, file size limit',
                signal.SIGKILL: 'SIGKILL'}.get(sig, signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig))
        return f'killed by {name} before check() completed{tail}'
    if code is not None and code > 128 and code - 128 in signal.Signals._value2member_map_:
        return f'killed by {signal.Signals(code - 128).name} before check() completed{tail}'
    return f'exited with code {code} before check() completed{tail}'


def verdict(nonce, status, timed_out, bufs, truncated, seconds):
    """The run's outcome from its result pipe (a line with this run's nonce), exit status and streams."""
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
        out.update(status='failed', reason=no_marker_reason(out.get('exit'), out['stderr']))
    return out


def remove_tree(top, keep_top=True):
    """Removes everything under `top` (and `top` unless keep_top), getting through folders a program made
    unreadable; never follows a symbolic link out of it."""
    try:
        entries = list(os.scandir(top))
    except PermissionError:
        try:
            os.chmod(top, 0o700)
            entries = list(os.scandir(top))
        except OSError:
            entries = []
    except OSError:
        entries = []
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                remove_tree(e.path, keep_top=False)
            else:
                os.unlink(e.path)
        except PermissionError:
            try:
                os.chmod(top, 0o700)
                os.unlink(e.path)
            except OSError:
                pass
        except OSError:
            pass
    if not keep_top:
        try:
            os.rmdir(top)
        except OSError:
            pass


class Server:
    def __init__(self, cfg):
        self.memory = int(cfg.get('memory_bytes', 0))
        self.cpu_grace = float(cfg.get('cpu_grace', 2.0))
        self.file_bytes = int(cfg.get('file_bytes', 16 << 20))
        self.nofile = int(cfg.get('nofile', 256))
        self.output_bytes = int(cfg.get('output_bytes', 64 << 10))
        self.guard = bool(cfg.get('guard', False))
        self.grace = float(cfg.get('grace', 1.0))
        self.wipe = [d for d in cfg.get('wipe', ['/tmp', '/dev/shm']) if os.path.isdir(d)]
        self.me = os.getpid()
        self.keep = {1, self.me, os.getppid()}
        # RLIMIT_NPROC counts this uid's tasks in the namespace: this server (its init), then the program's.
        self.nproc = int(cfg.get('nproc', 16)) + len(self.live_others(include_kept=True))
        ctl = getattr(__import__('ctypes').CDLL(None, use_errno=True), 'prctl', None)
        if ctl is not None:
            ctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            ctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.libc = __import__('ctypes').CDLL(None, use_errno=True)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        # As the namespace's init, a signal from inside reaches this process only if it has a handler: none but
        # SIGCHLD's (a wake-up). The launcher ends it from outside (SIGKILL, or its death: PR_SET_PDEATHSIG).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        self.inbox = bytearray()
        try:
            import gc
            gc.collect()
            gc.freeze()  # fewer pages copied into each child
        except (ImportError, AttributeError):
            pass

    # ---------------------------------------------------------------------------------------- processes

    def live_others(self, include_kept=False):
        out = []
        for name in os.listdir('/proc'):
            if name.isdigit():
                pid = int(name)
                if (include_kept or pid not in self.keep) and not is_zombie(pid):
                    out.append(pid)
        return out

    def cleanup(self):
        """Kills every process of the namespace but its init and this one. Returns (found, survivors)."""
        found = len(self.live_others())
        targets = []
        end = time.monotonic() + 2.0
        attempt = 0
        while True:
            if found or attempt:
                try:
                    os.kill(-1, signal.SIGKILL)  # everything we may signal but ourselves and the namespace's init
                except OSError:
                    pass
            reap_all()
            targets = self.live_others()
            if not targets or time.monotonic() > end:
                break
            time.sleep(0.002 if attempt < 20 else 0.02)
            attempt += 1
        reap_all()
        return found, len(targets)

    def wipe_state(self):
        for d in self.wipe:
            remove_tree(d)
        # System V IPC objects outlive their processes: remove the program's.
        for kind, rm in (('shm', lambda i: self.libc.shmctl(i, 0, None)), ('sem', lambda i: self.libc.semctl(i, 0, 0)),
                         ('msg', lambda i: self.libc.msgctl(i, 0, None))):
            try:
                with open(f'/proc/sysvipc/{kind}', 'rb') as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                try:
                    rm(int(line.split()[1]))
                except (ValueError, IndexError):
                    pass

    # ---------------------------------------------------------------------------------------- one program

    def run_one(self, source, timeout):
        t0 = time.monotonic()
        nonce_r, nonce_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        limits = [(resource.RLIMIT_CPU, int(timeout + self.cpu_grace) + 1), (resource.RLIMIT_FSIZE, self.file_bytes),
                  (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, self.nofile), (resource.RLIMIT_NPROC, self.nproc)]
        if self.memory:
            limits.append((resource.RLIMIT_AS, self.memory))
        if hasattr(resource, 'RLIMIT_MSGQUEUE'):
            # POSIX message queues would outlive the program in the sandbox's ipc namespace (no mqueue file system
            # here to list and remove them): none may be made.
            limits.append((resource.RLIMIT_MSGQUEUE, 0))
        pid = os.fork()
        if pid == 0:
            self.child(source, timeout, limits, nonce_r, res_w, out_w, err_w)
        for fd in (nonce_r, res_w, out_w, err_w):
            os.close(fd)
        # The nonce exists only from now on, and only here and in the pipe the child reads.
        nonce = os.urandom(16).hex()
        try:
            os.write(nonce_w, nonce.encode())
        except OSError:
            pass
        os.close(nonce_w)
        fds = [res_r, out_r, err_r]
        try:
            status, timed_out, bufs, truncated, drain, open_fds = collect(
                pid, t0 + timeout + self.grace, {res_r: 'result', out_r: 'stdout', err_r: 'stderr'}, self.output_bytes, self.wake_r)
            killed, survivors = self.cleanup()
            final_drain(drain, open_fds)
            r = verdict(nonce, status, timed_out, bufs, truncated, time.monotonic() - t0)
            r.update(killed=killed, survivors=survivors)
            return r
        finally:
            for fd in fds:
                os.close(fd)
            self.wipe_state()

    def child(self, source, timeout, limits, nonce_r, res_w, out_w, err_w):
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            import fcntl
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (nonce_r, res_w, out_w, err_w)]
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            for target, fd in zip((3, 4, 1, 2), high):
                os.dup2(fd, target)
            os.closerange(5, 1 << 16)
            for lim, value in limits:
                resource.setrlimit(lim, (value, value))
            self.inbox = None
            os.chdir('/tmp')
        except BaseException as e:
            try:
                os.write(2, f'sandbox: cannot start the program: {e}\n'.encode())
            finally:
                os._exit(127)
        runner.run(source, 3, 4, self.guard, timeout)
        os._exit(127)  # never reached: run() ends the process

    # ---------------------------------------------------------------------------------------- the loop

    def read_exactly(self, n):
        while len(self.inbox) < n:
            chunk = os.read(0, max(1 << 16, n - len(self.inbox)))
            if not chunk:
                return None
            self.inbox += chunk
        data = bytes(self.inbox[:n])
        del self.inbox[:n]
        return data

    def read_line(self):
        while True:
            nl = self.inbox.find(b'\n')
            if nl >= 0:
                line = bytes(self.inbox[:nl])
                del self.inbox[:nl + 1]
                return line
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return None
            self.inbox += chunk

    def serve(self):
        send(json.dumps({'ready': True, 'pid': self.me, 'nproc': self.nproc}))
        while True:
            line = self.read_line()
            if line is None:
                return
            if not line.strip():
                continue
            job = json.loads(line)
            data = self.read_exactly(int(job['length']))
            if data is None:
                return
            try:
                r = self.run_one(data.decode('utf-8', 'surrogatepass'), float(job.get('timeout', 3.0)))
            except Exception as e:  # a fault of this server, not of the program: reported, the loop goes on
                r = {'status': 'error', 'reason': f'{type(e).__name__}: {e}', 'stdout': '', 'stderr': '', 'seconds': 0, 'killed': 0, 'survivors': 0}
            r['id'] = job.get('id')
            send(json.dumps(r))


def send(text):
    data = (text + '\n').encode()
    while data:
        n = os.write(1, data)
        data = data[n:]


def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    Server(cfg).serve()


if __name__ == '__main__':
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
