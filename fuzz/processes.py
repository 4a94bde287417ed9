"""Fresh `shape` processes without Python's start-up cost: a zygote.

Checks that go through the real command line (`shape run --snapshot-at`, `shape --resume`) want a
fresh process per command, so that nothing but the store carries state from one command to the
next. Starting Python and importing the engines takes about 0.3 s, which made those checks the
most expensive part of a campaign. Instead, each worker starts one zygote: a fresh interpreter
(`python -m shapelang.fuzz.processes`) that imports the modules a command needs and then runs
nothing itself (it builds the prelude's code tables, which depend on nothing but the code).
Every command is a fork of it, so every command starts from the state of a process that has only
imported and prepared the code, as `python -m shapelang` is before it reads its arguments, at the
cost of a fork.

Protocol: one JSON request per line on the zygote's stdin (`argv`, `env`, `timeout`, `memory_mb`),
one JSON answer per line on its stdout (`code`, `stdout`, `stderr`, `timeout`). The zygote exits
when its stdin closes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

# What a command needs, imported once by the zygote (importing runs no Shape code).
PRELOAD = ("shapelang.cli", "shapelang.api", "shapelang.vm.snapshot", "shapelang.vm.recompile",
           "shapelang.vm.compiler", "shapelang.vm.machine", "shapelang.ref.evaluator",
           "shapelang.ref.parser", "shapelang.vm.store", "shapelang.vm.codec", "shapelang.vm.remote",
           "shapelang.runtime.stdlib.resume", "shapelang.repl", "sqlite_utils")


@dataclass
class Completed:
    code: int                # exit code (-signal when killed)
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu: float = 0.0         # CPU seconds of the command's process (and the fork that made it)


class Zygote:
    """Runs `shape` command lines, each in a fresh fork of one clean interpreter."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.cpu = 0.0          # CPU seconds of every command run so far (campaign accounting)
        self.cache: Optional[tempfile.TemporaryDirectory] = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            # the commands keep their compiled code (vm/codecache.py) as `shape` does, but in a
            # directory of their own: thousands of generated programs do not belong in the
            # user's cache
            if self.cache is None:
                self.cache = tempfile.TemporaryDirectory(prefix="shape-fuzz-cache-")
            env["SHAPE_CACHE_DIR"] = self.cache.name
            self.proc = subprocess.Popen([sys.executable, "-m", "shapelang.fuzz.processes"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, env=env)
        return self.proc

    def run(self, argv: list[str], env: Optional[dict] = None, timeout: float = 60.0,
            memory_mb: int = 0, cwd: Optional[str] = None) -> Completed:
        """`shape ARGV` in a fresh process with `env` added to the environment, in the directory
        `cwd` (default: this one); killed after `timeout` seconds; with `memory_mb`, its address
        space is limited to that."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        request = {"argv": argv, "env": env or {}, "timeout": timeout, "memory_mb": memory_mb,
                   "cwd": cwd}
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the fuzz zygote process died")
        answer = json.loads(line)
        self.cpu += answer["cpu"]
        return Completed(answer["code"], answer["stdout"], answer["stderr"], answer["timeout"],
                         answer["cpu"])

    def close(self) -> None:
        if self.proc is not None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.cache is not None:
            self.cache.cleanup()
            self.cache = None


_ZYGOTE: Optional[Zygote] = None


def zygote() -> Zygote:
    """This process's zygote (started on first use)."""
    global _ZYGOTE
    if _ZYGOTE is None:
        _ZYGOTE = Zygote()
    return _ZYGOTE


def commands_cpu() -> float:
    """CPU seconds spent by the commands this process ran through its zygote."""
    return _ZYGOTE.cpu if _ZYGOTE is not None else 0.0


def bounded(test: Callable[[], bool], seconds: float) -> Optional[bool]:
    """`test()` in a forked child of this process, given `seconds`: its answer, or None when it
    did not answer in time (the child is killed) or crashed. For predicates that may not end,
    such as the test-case reducer's candidates (an edit can remove a loop's exit)."""
    import select
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            answer = b"1" if test() else b"0"
        except BaseException:
            answer = b"?"
        os.write(w, answer)
        os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], seconds)
        answer = os.read(r, 1) if ready else b""
    finally:
        os.close(r)
        if not answer:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
    return {b"1": True, b"0": False}.get(answer)


# ---------------------------------------------------------------- the zygote process itself

def _child(argv: list[str], env: dict, out_fd: int, err_fd: int, memory_mb: int,
           cwd: Optional[str] = None) -> None:
    """In the forked child: become `shape ARGV` and exit with its code (never returns)."""
    code = 1
    try:
        os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)         # stdin is the zygote's request pipe
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        if memory_mb:
            import resource
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # exactly what `python -m shapelang ARGV` runs (the CLI is started, not imported: the
        # fuzzer sits below the CLI in the layers)
        import runpy
        sys.argv = ["shape"] + argv
        runpy.run_module("shapelang", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        # what Python does with an exception that escapes `python -m shapelang`
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code & 0xFF if code >= 0 else 1)


def _serve_one(request: dict) -> dict:
    cpu0 = time.process_time()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["env"], out.fileno(), err.fileno(),
                   request.get("memory_mb", 0), request.get("cwd"))
        deadline = time.monotonic() + request["timeout"]
        timed_out = False
        delay = 0.0005
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                _, status, usage = os.wait4(pid, 0)
                timed_out = True
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime + time.process_time() - cpu0
        return {"code": code, "timeout": timed_out, "cpu": cpu,
                "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")}


def _warm_up() -> None:
    """Build the tables every command builds first and that depend on nothing but the code: the
    prelude's compiled blobs, their threaded code, and their validation as stored code (what a
    resume checks of every blob it reads; content-addressed caches: a blob read from a store
    under a prelude id has exactly these bytes, the store checks the hash); and the store
    driver's plugin table (sqlite_utils scans the installed packages once per process). No
    Shape code runs. A command forked from here starts where a fresh process would be after
    those steps."""
    import sqlite_utils
    from shapelang.vm import snapshot, threader
    from shapelang.vm.compiler import prelude_blobs
    blobs, _ = prelude_blobs()
    for bid, blob in blobs.items():
        threader.compile_blob(blob, blobs)
        snapshot.validated_blob(bid, blob.to_bytes())
    sqlite_utils.Database(memory=True).close()


def serve() -> None:
    import importlib
    for module in PRELOAD:
        importlib.import_module(module)
    _warm_up()
    answers = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        answers.write(json.dumps(_serve_one(json.loads(line))) + "\n")
        answers.flush()


if __name__ == "__main__":  # pragma: no cover - the zygote process
    serve()
