"""Runs one HumanEval program inside the sandbox that sandbox.py set up (stdlib only, Python 3.8+).

    python3 -I runner.py PROGRAM NONCE_FD RESULT_FD GUARD TIMEOUT     (a fresh interpreter per program)
    runner.run(source, nonce_fd, result_fd, guard, timeout)            (in a child of forkserver.py)

Reads the run's nonce from NONCE_FD (a pipe the launcher filled; closed at once), executes PROGRAM
(prompt + completion + test + `check(entry_point)`) as __main__, and writes exactly one line to RESULT_FD:
"PASS <nonce>" when the whole program ran to its end, "FAIL <nonce> <reason>" when it raised anything,
SystemExit and KeyboardInterrupt included, or "TIMEOUT <nonce>" when TIMEOUT seconds pass first (an
interval timer started just before the program, as openai/human-eval does; the launcher's own deadline, a
second later, kills what blocks the timer). The launcher counts a sample as passed only on the PASS line
with its nonce: a program that exits early (sys.exit, os._exit, a signal) never writes it, and the nonce
is in neither the program's text, files, argv nor environment. (Code that deliberately walks the
runner's frames could still find it: the process is shared. The launcher's isolation, not this file,
is the security boundary.) GUARD=1 disables the easy ways to harm the host (kill, fork, exec, file
removal, sockets, ...) for runs without bubblewrap; it is not a sandbox either, only defence in depth.
"""
import builtins
import os
import signal
import sys

# Bound before the program runs: it may monkeypatch builtins, os or sys.
_write = os.write
_exit = os._exit
_type = type
_str = str
_len = len
_setitimer = signal.setitimer
_ITIMER_REAL = signal.ITIMER_REAL


def _describe(exc):
    try:
        name = _type(exc).__name__
    except BaseException:
        name = 'exception'
    try:
        msg = _str(exc)
    except BaseException:
        msg = ''
    if _type(name) is not _str:
        name = 'exception'
    if _type(msg) is not _str:
        msg = ''
    text = name + (': ' + msg if msg else '')
    text = ' '.join(text.split())
    return (text[:500] if _len(text) > 500 else text).encode('utf-8', 'replace')


def _guard():
    def disabled(*_args, **_kwargs):
        raise PermissionError('disabled by the HumanEval sandbox guard (no bubblewrap on this machine)')

    import shutil
    import socket
    import subprocess
    for name in ('kill', 'killpg', 'fork', 'forkpty', 'system', 'popen', 'putenv', 'unsetenv',
                 'remove', 'unlink', 'rmdir', 'removedirs', 'rename', 'renames', 'replace', 'truncate',
                 'chmod', 'fchmod', 'lchmod', 'chown', 'fchown', 'lchown', 'chroot', 'chflags', 'lchflags',
                 'setuid', 'seteuid', 'setreuid', 'setresuid', 'setgid', 'setegid', 'setregid', 'setresgid',
                 'setsid', 'setpgid', 'setpgrp', 'link', 'symlink', 'mkfifo', 'mknod',
                 'execv', 'execve', 'execl', 'execle', 'execlp', 'execlpe', 'execvp', 'execvpe',
                 'spawnv', 'spawnve', 'spawnl', 'spawnle', 'spawnlp', 'spawnlpe', 'spawnvp', 'spawnvpe',
                 'posix_spawn', 'posix_spawnp'):
        if hasattr(os, name):
            setattr(os, name, disabled)
    for name in ('rmtree', 'move', 'chown'):
        setattr(shutil, name, disabled)
    subprocess.Popen = disabled
    for name in ('run', 'call', 'check_call', 'check_output', 'getoutput', 'getstatusoutput'):
        setattr(subprocess, name, disabled)
    socket.socket = disabled
    socket.create_connection = disabled
    socket.socketpair = disabled
    for mod in ('multiprocessing', 'ctypes', 'resource', 'psutil'):
        sys.modules[mod] = None  # `import ctypes` now raises ImportError


class _Timeout(BaseException):
    """Raised in the program when its time is up: a BaseException, so `except Exception` does not swallow it."""


def _on_alarm(*_):
    raise _Timeout()


def _flush():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass


def run(source, nonce_fd, result_fd, guard, timeout):
    """Runs one program in this process and ends it (never returns): the fork server's child calls this
    directly (the source is already in memory), a fresh interpreter through main()."""
    nonce = os.read(nonce_fd, 256).strip()
    os.close(nonce_fd)

    def report(line):
        try:
            _write(result_fd, line + b'\n')
        except BaseException:
            pass

    sys.argv = ['program.py']
    namespace = {'__name__': '__main__', '__builtins__': builtins, '__file__': 'program.py'}
    if guard:
        _guard()
    code = None
    try:
        code = compile(source, 'program.py', 'exec')
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        exec(code, namespace)
        _setitimer(_ITIMER_REAL, 0)
    except _Timeout:
        report(b'TIMEOUT ' + nonce)
        _exit(1)
    except BaseException as e:  # noqa: B036 - SystemExit and KeyboardInterrupt are failures too
        _setitimer(_ITIMER_REAL, 0)
        report(b'FAIL ' + nonce + b' ' + _describe(e))
        _flush()
        _exit(1)
    report(b'PASS ' + nonce)
    _flush()
    _exit(0)


def main():
    program, nonce_fd, result_fd, guard, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', float(sys.argv[5])
    with open(program, encoding='utf-8') as f:
        source = f.read()
    run(source, nonce_fd, result_fd, guard, timeout)


if __name__ == '__main__':
    main()
