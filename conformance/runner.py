"""`shape conformance`: run the conformance corpus on one or more engines.

    shape conformance [PATHS] [--engine ref|vm|all|cmd:"COMMAND"]... [--jobs N] [--json]
                      [--junit FILE] [--contexts] [--filter SUBSTR] [--timeout S]
                      [--features A,B] [--exclude-features A,B] [--resume-cmd TEMPLATE]

Cases run in a pool of worker processes (one case at a time per worker), so an engine that
crashes, calls exit() or loops forever costs one case, never the run: a worker that dies is
replaced, and a worker that exceeds the per-case timeout is killed and replaced.

The `ref` and `vm` engines run in-process inside the worker through the engine API
(`shapelang.api.run(...).to_json()` is the --json contract); `cmd:COMMAND` runs any
external implementation as `COMMAND PROGRAM.shape`, and `py:MODULE:FUNCTION` calls a Python
implementation in-process (see conformance/README.md).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import importlib.util
import io
import json
import math
import multiprocessing
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence
from xml.etree import ElementTree as ET

from shapelang.conformance import fixtures
from shapelang.conformance.caseformat import (CASES_DIR, Case, CaseFormatError, ExpectedError,
                                              ResumeExpectation, discover, load_case, mask_ids)

CONTEXTS = ("main", "fn", "loop")
DEFAULT_TIMEOUT = 10.0
SLOW_FACTOR = 5          # `slow` cases get this many times the timeout
# A worker is replaced after this many runs, so state an engine leaks between runs (caches,
# memory) cannot build up and make a case's result depend on which cases ran before it.
WORKER_MAX_RUNS = 100
CONTRACT_KEYS = frozenset({"stdout", "value", "error", "exit_code"})

# The phase each kind implies (spec/implementation-contracts.md); used when an external engine
# only reports `Error: FILE:LINE:COL: KIND: MESSAGE` on stderr. StoreError has two possible
# phases, so its phase is left unknown.
KIND_PHASE = {
    "SyntaxError": "parse", "NameError": "compile", "AssignmentError": "compile",
    "CompileError": "compile", "TypeError": "runtime", "ArithmeticError": "runtime",
    "IndexError": "runtime", "MatchError": "runtime", "ValueError": "runtime",
    "UnwrapError": "runtime", "StackOverflow": "runtime", "RuntimeError": "runtime",
    "ResumeError": "resume", "IOError": "runtime",
}
_STDERR_ERROR_RE = re.compile(r"^Error: (?:(?P<loc>.*?): )?(?P<kind>[A-Z][A-Za-z]*): (?P<msg>.*)$")


# ---------------------------------------------------------------- engines

GENERIC = ("generic",)   # Engine.command of the VM run with its generic templates only
JIT = ("jit",)           # Engine.command of the VM with every function and loop compiled


@dataclass(frozen=True)
class Engine:
    """An engine to measure: `ref`, `vm`, or an external command (`cmd:…`)."""
    name: str                                  # column label
    kind: str                                  # "ref" | "vm" | "cmd" | "py"
    command: tuple[str, ...] = ()              # cmd: argv; py: (module or file, function)
    resume_command: tuple[str, ...] = ()       # cmd: the --resume-cmd template ({id}, {store}, {file})

    @staticmethod
    def parse(spec: str) -> list["Engine"]:
        spec = spec.strip()
        if spec == "all":
            return [Engine("ref", "ref"), Engine("vm", "vm"), Engine("vm-generic", "vm", GENERIC),
                    Engine("jit", "vm", JIT)]
        if spec in ("ref", "vm"):
            return [Engine(spec, spec)]
        if spec == "vm-generic":
            # The VM with every fast path off (vm/threader.py generic_mode).
            return [Engine(spec, "vm", GENERIC)]
        if spec == "jit":
            # The JIT forced on: every function compiled at its first call, every loop when it
            # is entered (vm/jit/), so that compiled code runs the whole corpus.
            return [Engine(spec, "vm", JIT)]
        if spec.startswith("py:"):
            # py:MODULE:FUNCTION or py:FILE.py:FUNCTION, FUNCTION(source, path) -> contract dict:
            # a Python implementation measured in-process (also how the runner tests itself).
            target, sep, func = spec[3:].rpartition(":")
            if not sep or not target or not func:
                raise ValueError("py: needs MODULE:FUNCTION or FILE.py:FUNCTION")
            label = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
            return [Engine(f"py:{label}", "py", (target, func))]
        if spec.startswith("cmd:"):
            text = spec[4:].strip()
            # Accept the quotes being passed through literally (`cmd:"my-shape --x"` in a
            # Makefile or CI file that does not strip them).
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
                text = text[1:-1]
            argv = tuple(shlex.split(text))
            if not argv:
                raise ValueError("cmd: needs a command, e.g. --engine cmd:\"my-shape run\"")
            label = " ".join(argv)
            if len(label) > 40:
                label = Path(argv[0]).name + " …"
            return [Engine("cmd:" + label, "cmd", argv)]
        raise ValueError(f"unknown engine {spec!r} (expected ref, vm, vm-generic, jit, all or "
                         "cmd:COMMAND)")


def engine_unavailable(engine: Engine) -> Optional[str]:
    """Why `engine` cannot run in this installation, or None if it can."""
    if engine.kind == "cmd":
        exe = engine.command[0]
        if os.sep in exe or (os.altsep and os.altsep in exe):
            return None if os.path.exists(exe) else f"command not found: {exe}"
        return None if shutil.which(exe) else f"command not found: {exe}"
    if engine.kind == "py":
        try:
            load_py_engine(engine)
        except Exception as e:
            return f"cannot load {engine.command[0]}:{engine.command[1]} ({type(e).__name__}: {e})"
        return None
    if engine.kind in ("ref", "vm"):
        return None    # in-process, through shapelang.api
    return f"unknown engine kind {engine.kind}"


_PY_ENGINES: dict[tuple[str, ...], Callable[[str, str], dict]] = {}


def load_py_engine(engine: Engine) -> Callable[[str, str], dict]:
    fn = _PY_ENGINES.get(engine.command)
    if fn is None:
        target, func = engine.command
        if target.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"_shape_py_engine_{len(_PY_ENGINES)}",
                                                          target)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {target}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        fn = getattr(module, func)
        _PY_ENGINES[engine.command] = fn
    return fn


def _error_result(kind: str, phase: str, message: str) -> dict:
    return {"stdout": "", "value": None, "exit_code": 1,
            "error": {"kind": kind, "phase": phase, "message": message, "line": None,
                      "col": None}}


def _internal_error(message: str) -> dict:
    return _error_result("InternalError", "runtime", message)


def run_engine(engine: str, source: str, path: str, cwd: Optional[str] = None,
               args: Sequence[str] = (), env: Optional[dict] = None) -> dict:
    """Run `source` on the in-process engine `ref` or `vm` in directory `cwd`, with the program
    arguments `args` and the environment variables `env` added; returns the --json contract
    dict."""
    from shapelang import api
    return api.run(source, path=path, engine=engine, cwd=cwd, argv=[path, *args],
                   environ=environment(env)).to_json()


def environment(env: Optional[dict]) -> Optional[dict]:
    """The process's environment with a case's variables added (None: nothing to add)."""
    return {**os.environ, **env} if env else None


def _program_file(source: str, path: str, tmpdir: Optional[str]) -> tuple[str, Optional[str]]:
    """A file holding `source`: `path` itself when it already does, else a temporary file
    (returned second, for the caller to delete)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() == source:
                return path, None
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(suffix=".shape", prefix=Path(path).stem + ".", dir=tmpdir)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(source)
    return tmp, tmp


def parse_plain_result(stdout: str, stderr: str, code: int) -> dict:
    """The contract dict of an engine that only speaks `stdout + exit code` (+ the documented
    `Error: FILE:LINE:COL: KIND: MESSAGE` stderr line). The value is unknown (absent key)."""
    error = None
    for line in reversed(stderr.splitlines()):
        m = _STDERR_ERROR_RE.match(line.strip())
        if m:
            kind = m.group("kind")
            error = {"kind": kind, "phase": KIND_PHASE.get(kind), "message": m.group("msg"),
                     "line": None, "col": None}
            break
    return {"stdout": stdout, "error": error, "exit_code": code, "stderr": stderr}


def _run_command(argv: list[str], timeout: Optional[float], env: Optional[dict] = None,
                 cwd: Optional[str] = None) -> dict:
    """The contract dict of one external command: its JSON object when it prints one, else its
    stdout, exit code and `Error:` line."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=None if env is None else {**os.environ, **env}, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {"timeout": True, "stdout": "", "error": None, "exit_code": None}
    except OSError as e:
        return _internal_error(f"cannot run {argv[0]}: {e}")
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if isinstance(data, dict) and CONTRACT_KEYS <= data.keys():
        data["exit_code"] = proc.returncode if data.get("exit_code") is None else data["exit_code"]
        return data
    return parse_plain_result(out, err, proc.returncode)


def _run_subprocess_json(argv: list[str], source: str, path: str, timeout: Optional[float],
                         tmpdir: Optional[str] = None, env: Optional[dict] = None,
                         cwd: Optional[str] = None, args: Sequence[str] = ()) -> dict:
    prog, tmp = _program_file(source, path, tmpdir)
    try:
        return _run_command(argv + [os.path.abspath(prog), *args], timeout, env, cwd)
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class Unsupported(Exception):
    """A check this engine cannot perform (reported as a note, not a failure)."""


def run_resume(engine: Engine, case: Case, exp: ResumeExpectation, tmpdir: Optional[str],
               timeout: Optional[float] = None, workdir: Optional[list] = None) -> dict:
    """The contract dict of resuming `case` from snapshot event `exp.event` (recompiled with
    `exp.source_file` when set); only stdout and error are meaningful. The directory holding the
    resumed run's files is appended to `workdir` (the caller compares and removes it)."""
    new_source = new_path = None
    if exp.source_file is not None:
        new_path = str(Path(case.path).parent / exp.source_file)
        try:
            with open(new_path, encoding="utf-8", newline="") as f:
                new_source = f.read()
        except OSError as e:
            raise CaseFormatError(case.path, 1, f"cannot read {exp.label} source: {e}") from None
    from shapelang import api
    invocation = {"argv": [case.path, *case.args], "environ": environment(case.env)}
    if engine.kind == "ref":
        if new_source is None:
            # The oracle counts events over the whole replay: the J-th snapshot event of a run
            # resumed from event e is event e + 1 + J.
            events = [exp.event]
            for j in exp.then:
                events.append(events[-1] + 1 + j)
            at = events[0] if len(events) == 1 else tuple(events)
            if case.uses_files and exp.then:
                raise Unsupported("the oracle follows files through one resume, not a chain")
            first = None
            if case.uses_files:
                # The files decide whether the resume may run at all (spec/io.md): the first
                # run in a directory of its own, checked as a resume checks it (which leaves it
                # as the resume finds it); the replay then runs in a directory as the first run
                # started, which takes those files when the replay reaches the snapshot.
                first = _workdir(case, tmpdir, workdir)
                refused = api.resume_io_check(case.source, exp.event, path=case.path, cwd=first,
                                              changes=exp.changes, **invocation)
                if refused is not None:
                    # A refused resume touches no file: the first run's files are what is left.
                    return api.Result(error=refused, exit_code=1).to_json()
            d = _workdir(case, tmpdir, workdir)
            return api.run(case.source, path=case.path, engine="ref", resume_at=at, cwd=d,
                           resume_files=first, **invocation).to_json()
        d = _workdir(case, tmpdir, workdir)
        # A chain after a recompile counts events in the recompiled run, from the resume on.
        return api.run(new_source, path=new_path, engine="ref",
                       recompile_from=(case.source, exp.event), resume_at=exp.then or None,
                       cwd=d, **invocation).to_json()
    if engine.kind == "vm":
        return _vm_resume(case, exp.event, new_source, new_path, tmpdir, exp.then,
                          _workdir(case, tmpdir, workdir), exp.changes)
    if engine.kind == "cmd" and engine.resume_command:
        return _cmd_resume(engine, case, exp, new_path, tmpdir, timeout)
    if engine.kind == "cmd":
        raise Unsupported("no --resume-cmd template was given for it")
    raise Unsupported(f"{engine.name} has no resume contract")


def _cmd_resume(engine: Engine, case: Case, exp: ResumeExpectation, new_path: Optional[str],
                tmpdir: Optional[str], timeout: Optional[float]) -> dict:
    """Resume checks on an external implementation: the case runs with a private store
    (SHAPE_STORE and `{store}`), the ids of its snapshots come from the `snapshots` list of its
    --json result, and each resume runs the --resume-cmd template with `{id}` (and `{file}`, the
    edited source of a recompile; appended when the template does not place it)."""
    fd, store = tempfile.mkstemp(suffix=".db", prefix="resume-", dir=tmpdir)
    os.close(fd)
    os.unlink(store)
    env = {"SHAPE_STORE": store}

    def resume(sid: str, file: Optional[str]) -> dict:
        argv = [a.replace("{id}", sid).replace("{store}", store).replace("{file}", file or "")
                for a in engine.resume_command]
        if file is not None and not any("{file}" in a for a in engine.resume_command):
            argv.append(file)
        return _run_command(argv, timeout, env)

    def ids_of(result: dict, what: str) -> list:
        if result.get("timeout"):
            raise Unsupported(f"{what} did not end within {timeout} s")
        ids = result.get("snapshots")
        if not isinstance(ids, list):
            raise Unsupported(f"{what} reports no `snapshots` list (the --json contract)")
        return ids
    try:
        ids = ids_of(_run_subprocess_json(list(engine.command), case.source, case.path, timeout,
                                          tmpdir, {**case.env, **env}, args=case.args),
                     "its run")
        if exp.event >= len(ids):
            return _fewer_snapshots(exp.event + 1)
        sid, event, file = ids[exp.event], exp.event, new_path   # a recompile goes first
        for j in exp.then:
            saved = ids_of(resume(sid, file), "a resumed run")
            event, file = event + 1 + j, None
            if j >= len(saved):
                return _fewer_snapshots(event + 1)
            sid = saved[j]
        return resume(sid, file)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(store + suffix)
            except OSError:
                pass


def _fewer_snapshots(n: int) -> dict:
    return _error_result("ResumeError", "resume", f"The program takes fewer than {n} snapshot(s)")


def _workdir(case: Case, tmpdir: Optional[str], keep: Optional[list]) -> str:
    d = fixtures.run_dir(case, tmpdir)
    if keep is not None:
        keep.append(d)
    return d


def _vm_resume(case: Case, k: int, new_source: Optional[str], new_path: Optional[str],
               tmpdir: Optional[str], then: tuple[int, ...] = (),
               cwd: Optional[str] = None, changes: tuple = ()) -> dict:
    """Run the case on the VM with a private store, note the id of each snapshot event, then
    resume event k (full resume, or recompile-and-resume with new_source); for a chain, resume
    the then[0]-th snapshot of that resumed (or recompiled) run, and so on (through the store
    each time)."""
    from shapelang import api
    fd, store = tempfile.mkstemp(suffix=".db", prefix="resume-", dir=tmpdir)
    os.close(fd)
    os.unlink(store)  # the store creates its own file
    try:
        # Whatever the first run does after its snapshots (even failing) does not matter here.
        # The resumes are started as `shape --resume ID` is, without the case's arguments and
        # variables, in the first run's directory (where a snapshot that recorded no directory
        # of its own continues).
        ids = api.run(case.source, path=case.path, store=store, cwd=cwd,
                      argv=[case.path, *case.args], environ=environment(case.env)).snapshots
        if k >= len(ids):
            return _fewer_snapshots(k + 1)
        if cwd is not None:
            from shapelang.ref.oracle import apply_changes
            apply_changes(cwd, changes)
        sid, event, source = ids[k], k, new_source      # a recompile goes first
        for j in then:
            saved = api.resume(sid, source, path=None if source is None else new_path, store=store,
                               cwd=cwd).snapshots
            event, source = event + 1 + j, None   # counted over the whole run, as the oracle counts
            if j >= len(saved):
                return _fewer_snapshots(event + 1)
            sid = saved[j]
        return api.resume(sid, source, path=None if source is None else new_path, store=store,
                          cwd=cwd).to_json()
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(store + suffix)
            except OSError:
                pass


# ---------------------------------------------------------------- checking one case

@dataclass
class CaseResult:
    id: str
    path: str
    area: str
    engine: str
    context: str                      # main | fn | loop
    status: str                       # pass | fail | skip
    reason: str = ""                  # short: why skipped, or the failure category
    details: list[str] = field(default_factory=list)   # mismatch explanations and diffs
    notes: list[str] = field(default_factory=list)     # checks that could not be made
    duration: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def derive_source(case: Case, context: str) -> str:
    body = case.body
    if context == "fn":
        return f"fn __conformance_wrap() {{\n{body}\n}}\n__conformance_wrap()\n"
    if context == "loop":
        return f"for __conformance_i in 0..1 {{\n{body}\n}}\n"
    return case.source


def skip_reason(case: Case, engine: Engine, context: str) -> Optional[str]:
    if "ref-only" in case.flags and engine.kind != "ref":
        return "ref-only"
    if "vm-only" in case.flags and engine.kind != "vm":
        return "vm-only"
    if context != "main":
        if "no-wrap" in case.flags:
            return "no-wrap"
        if case.error is not None or case.exit is not None:
            return "expects an error or exit code"
    return None


def _diff(expected: str, actual: str, label: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                 "expected", f"actual ({label})", n=2)
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of output\n"
        # Make trailing whitespace visible: it is a frequent cause of a confusing diff.
        if line[:1] in "+- " and line.rstrip("\n") != line.rstrip("\n").rstrip(" \t"):
            line = line.rstrip("\n") + "⏎\n"
        out.append(line)
    return "".join(out).rstrip("\n")


def _describe_error(err: Optional[dict]) -> str:
    if not err:
        return "no error"
    pos = ""
    if err.get("line") is not None:
        pos = f" at {err['line']}:{err.get('col')}"
    phase = err.get("phase") or "?"
    return f"{err.get('kind')} {phase}{pos}: {err.get('message')!r}"


def _describe_stack(stack) -> str:
    return ", ".join(name if line is None else f"{name} {line}:{col}" for name, line, col in stack)


def _error_mismatch(expected: Optional[ExpectedError], actual: Optional[dict]) -> Optional[str]:
    if expected is None:
        return f"unexpected error: {_describe_error(actual)}" if actual else None
    if not actual:
        return f"expected error {expected.describe()}, got no error"
    problems = []
    if actual.get("kind") != expected.kind:
        problems.append("kind")
    # A phase of None means the engine could not tell us (plain stdout/stderr contract).
    if actual.get("phase") is not None and actual.get("phase") != expected.phase:
        problems.append("phase")
    if expected.message is not None and expected.message not in (actual.get("message") or ""):
        problems.append("message")
    # A line of None from an engine that reports none is a difference; a plain stdout/stderr
    # engine (phase None) cannot report positions, so they are not checked there.
    if expected.line is not None and actual.get("phase") is not None \
            and (actual.get("line"), actual.get("col")) != (expected.line, expected.col):
        problems.append("position")
    if problems:
        return (f"error {'/'.join(problems)} differs: expected {expected.describe()}, "
                f"got {_describe_error(actual)}")
    return None


def compare(case: Case, result: dict, context: str, engine_label: str) -> tuple[list[str], list[str]]:
    """(mismatches, notes) between the case's expectations and an engine's contract dict."""
    details: list[str] = []
    notes: list[str] = []
    err = result.get("error")
    if err and err.get("kind") == "InternalError":
        details.append(f"engine internal error: {err.get('message')}")
        return details, notes
    if case.checks_stdout:
        want = mask_ids(case.stdout or "")
        got = mask_ids(result.get("stdout") or "")
        if want != got:
            details.append("stdout differs:\n" + _diff(want, got, engine_label))
    if context == "main":
        m = _error_mismatch(case.error, err)
        if m:
            details.append(m)
        elif case.stack is not None:
            got = err.get("stack")
            if got is None:
                notes.append("stack not checked (the engine does not report call stacks)")
            else:
                entries = [(f.get("name"), f.get("line"), f.get("col")) for f in got]
                if entries != list(case.stack):
                    details.append(f"stack differs: expected {_describe_stack(case.stack)}, "
                                   f"got {_describe_stack(entries)}")
        if result.get("exit_code") != case.expected_exit:
            details.append(f"exit code: expected {case.expected_exit}, got {result.get('exit_code')}")
        if case.value is not None and case.error is None:
            if "value" not in result:
                notes.append("value not checked (the engine does not report values)")
            else:
                v = result.get("value")
                if not v:
                    details.append(f"value: expected {case.value.type} {case.value.display!r}, got none")
                elif v.get("type") != case.value.type or v.get("display") != case.value.display:
                    details.append(f"value: expected {case.value.type} {case.value.display!r}, "
                                   f"got {v.get('type')} {v.get('display')!r}")
    else:
        if err:
            details.append(f"unexpected error in the derived context: {_describe_error(err)}")
        elif result.get("exit_code") != 0:
            details.append(f"exit code: expected 0, got {result.get('exit_code')}")
    return details, notes


def _check_resumes(case: Case, engine: Engine, tmpdir: Optional[str],
                   timeout: Optional[float] = None) -> tuple[list[str], list[str]]:
    details: list[str] = []
    notes: list[str] = []
    for exp in case.resumes:
        dirs: list[str] = []
        try:
            result = run_resume(engine, case, exp, tmpdir, timeout, dirs)
        except Unsupported as e:
            notes.append(f"{exp.label}: not checked ({e})")
            continue
        finally:
            files = fixtures.file_mismatches(exp.files, dirs[-1], exp.label) if dirs else []
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
        if exp.files and not dirs:
            notes.append(f"{exp.label}: files not checked (the engine runs elsewhere)")
        details += files
        err = result.get("error")
        if err and err.get("kind") == "InternalError":
            details.append(f"{exp.label}: engine internal error: {err.get('message')}")
            continue
        m = _error_mismatch(exp.error, err)
        if m:
            details.append(f"{exp.label}: {m}")
        if exp.stdout is not None:
            want, got = mask_ids(exp.stdout), mask_ids(result.get("stdout") or "")
            if want != got:
                details.append(f"{exp.label}: stdout differs:\n" + _diff(want, got, engine.name))
    return details, notes


def case_timeout(case: Case, base: float) -> float:
    t = base * (1 + len(case.resumes))
    return t * SLOW_FACTOR if "slow" in case.flags else t


def check_case(case: Case, engine: Engine, context: str = "main", timeout: Optional[float] = None,
               tmpdir: Optional[str] = None) -> CaseResult:
    """Run one case on one engine in one context, in this process, and judge it.

    `timeout` only bounds external commands; in-process engines are bounded by the worker pool."""
    start = time.monotonic()
    res = CaseResult(case.id, case.path, case.area, engine.name, context, "pass")
    reason = skip_reason(case, engine, context)
    if reason:
        res.status, res.reason = "skip", reason
        return res
    if engine.kind == "vm" and engine.command == GENERIC:
        from shapelang.vm.threader import generic_mode
        with generic_mode(True):
            return check_case(case, Engine(engine.name, "vm"), context, timeout, tmpdir)
    if engine.kind == "vm" and engine.command == JIT:
        from shapelang.vm.jit import jit_mode
        with jit_mode("force"):
            return check_case(case, Engine(engine.name, "vm"), context, timeout, tmpdir)
    source = derive_source(case, context)
    path = case.path if context == "main" else f"{Path(case.path).with_suffix('')}.{context}.shape"
    workdir = None
    if engine.kind in ("ref", "vm") or (engine.kind == "cmd" and case.uses_files):
        workdir = fixtures.run_dir(case, tmpdir)
    try:
        return _check_in(case, engine, context, timeout, tmpdir, res, start, source, path, workdir)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _check_in(case: Case, engine: Engine, context: str, timeout: Optional[float],
              tmpdir: Optional[str], res: CaseResult, start: float, source: str, path: str,
              workdir: Optional[str]) -> CaseResult:
    if engine.kind == "cmd":
        result = _run_subprocess_json(list(engine.command), source, path, timeout, tmpdir,
                                      env=case.env or None, cwd=workdir, args=case.args)
        if result.get("timeout"):
            res.status, res.reason = "fail", "timeout"
            res.details.append(f"no result within {timeout:.0f} s")
            res.duration = time.monotonic() - start
            return res
    elif engine.kind == "py":
        result = load_py_engine(engine)(source, path)
    else:
        result = run_engine(engine.kind, source, path, workdir, case.args, case.env)
    details, notes = compare(case, result, context, engine.name)
    if context == "main" and case.files:
        if workdir is None:
            notes.append("files not checked (the engine runs elsewhere)")
        else:
            details += fixtures.file_mismatches(case.files.items(), workdir)
    if context == "main" and case.resumes:
        d, n = _check_resumes(case, engine, tmpdir, timeout)
        details += d
        notes += n
    res.details, res.notes = details, notes
    if details:
        res.status = "fail"
        res.reason = "internal error" if any("internal error" in d for d in details) else "mismatch"
    elif notes:
        # An expectation this engine cannot be checked against is not a pass (issue 14).
        res.status, res.reason = "skip", "not fully checked: " + "; ".join(notes)
    res.duration = time.monotonic() - start
    return res


# ---------------------------------------------------------------- the worker pool

@dataclass
class Task:
    case: Case
    engine: Engine
    context: str
    timeout: float


def _worker_main(conn: Any, tmpdir: str) -> None:
    # Each worker has its own snapshot store, so VM runs never touch the user's store and
    # workers never contend for one file.
    os.environ["SHAPE_STORE"] = os.path.join(tmpdir, f"store-{os.getpid()}.db")
    try:
        sys.stdin = open(os.devnull)
    except OSError:
        pass
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = check_case(task.case, task.engine, task.context, task.timeout, tmpdir)
        except BaseException as e:  # SystemExit/KeyboardInterrupt from engine code included
            result = CaseResult(task.case.id, task.case.path, task.case.area, task.engine.name,
                                task.context, "fail", "crash",
                                [f"the engine raised {type(e).__name__}: {e}"])
        conn.send(result)


def _mp_context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that already imported the engines: a new worker (also a
        # replacement after a timeout) is ready in milliseconds.
        ctx.set_forkserver_preload(["shapelang.conformance.runner", "shapelang.api",
                                    "shapelang.ref.evaluator", "shapelang.vm",
                                    "shapelang.vm.snapshot", "shapelang.vm.recompile"])
        return ctx
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, ctx: Any, tmpdir: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, tmpdir), daemon=True)
        self.proc.start()
        child.close()
        self.runs = 0

    def run(self, task: Task) -> tuple[Optional[CaseResult], str]:
        """(result, "") or (None, "timeout" | "crash: …")."""
        try:
            self.conn.send(task)
        except (OSError, EOFError) as e:
            return None, f"crash: the worker is gone ({e})"
        # External commands enforce their own timeout; the margin lets them report it.
        if not self.conn.poll(task.timeout + (5 if task.engine.kind == "cmd" else 0)):
            return None, "timeout"
        try:
            return self.conn.recv(), ""
        except (EOFError, OSError):
            self.proc.join(1)
            return None, f"crash: the worker died (exit code {self.proc.exitcode})"

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, EOFError):
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1)
        self.conn.close()


def run_tasks(tasks: list[Task], jobs: int, progress: Optional[Callable[[CaseResult], None]] = None
              ) -> list[CaseResult]:
    """Run tasks on `jobs` isolated worker processes (jobs <= 0: serially in this process, for
    debugging). Results come back in task order."""
    results: list[Optional[CaseResult]] = [None] * len(tasks)
    tmpdir = tempfile.mkdtemp(prefix="shape-conformance-")
    try:
        if jobs <= 0:
            os.environ.setdefault("SHAPE_STORE", os.path.join(tmpdir, "store.db"))
            for i, t in enumerate(tasks):
                results[i] = check_case(t.case, t.engine, t.context, t.timeout, tmpdir)
                if progress:
                    progress(results[i])  # type: ignore[arg-type]
            return results  # type: ignore[return-value]
        ctx = _mp_context()
        pending: "queue.Queue[int]" = queue.Queue()
        # Long cases first, so the run does not end with one worker busy and the others idle.
        for i in sorted(range(len(tasks)), key=lambda i: "slow" not in tasks[i].case.flags):
            pending.put(i)
        lock = threading.Lock()

        def drive() -> None:
            worker: Optional[_Worker] = None
            try:
                while True:
                    try:
                        i = pending.get_nowait()
                    except queue.Empty:
                        return
                    task = tasks[i]
                    if worker is not None and worker.runs >= WORKER_MAX_RUNS:
                        worker.stop()
                        worker = None
                    if worker is None:
                        worker = _Worker(ctx, tmpdir)
                    start = time.monotonic()
                    result, problem = worker.run(task)
                    worker.runs += 1
                    if result is None:
                        worker.stop(kill=True)
                        worker = None
                        reason = "timeout" if problem == "timeout" else "crash"
                        detail = (f"no result within {task.timeout:g} s (worker killed)"
                                  if problem == "timeout" else problem)
                        result = CaseResult(task.case.id, task.case.path, task.case.area,
                                            task.engine.name, task.context, "fail", reason,
                                            [detail], duration=time.monotonic() - start)
                    results[i] = result
                    if progress:
                        with lock:
                            progress(result)
            finally:
                if worker is not None:
                    worker.stop()

        threads = [threading.Thread(target=drive, daemon=True) for _ in range(min(jobs, len(tasks)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results  # type: ignore[return-value]
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- reports

def column_name(engine: str, context: str) -> str:
    return engine if context == "main" else f"{engine} {context}"


def tabulate(results: list[CaseResult]) -> tuple[list[str], dict[str, dict[str, dict[str, int]]]]:
    """(columns, {area: {column: {"passed", "failed", "skipped"}}}) in first-seen order."""
    columns: list[str] = []
    table: dict[str, dict[str, dict[str, int]]] = {}
    for r in results:
        col = column_name(r.engine, r.context)
        if col not in columns:
            columns.append(col)
        area = r.area or "(other)"
        cell = table.setdefault(area, {}).setdefault(col, {"passed": 0, "failed": 0, "skipped": 0})
        cell[{"pass": "passed", "fail": "failed", "skip": "skipped"}[r.status]] += 1
    return columns, dict(sorted(table.items()))


def format_table(results: list[CaseResult], format_errors: list[CaseFormatError]) -> tuple[str, str]:
    """(the per-area table with its legend, the one-line verdict)."""
    columns, table = tabulate(results)
    totals = {c: {"passed": 0, "failed": 0, "skipped": 0} for c in columns}
    for cells in table.values():
        for c, cell in cells.items():
            for k, v in cell.items():
                totals[c][k] += v

    def cell_text(cell: Optional[dict[str, int]]) -> str:
        if not cell:
            return "-"
        return f"{cell['passed']}/{cell['failed']}/{cell['skipped']}"

    from shapelang.report import table as text_table
    rows = [[area] + [cell_text(cells.get(c)) for c in columns] for area, cells in table.items()]
    lines = [text_table(["area"] + columns, rows, right=range(1, len(columns) + 1),
                        total=["total"] + [cell_text(totals[c]) for c in columns]),
             "cells: passed/failed/skipped"]
    failed = sum(t["failed"] for t in totals.values())
    passed = sum(t["passed"] for t in totals.values())
    skipped = sum(t["skipped"] for t in totals.values())
    summary = f"{passed} passed, {failed} failed, {skipped} skipped"
    if format_errors:
        summary += f", {len(format_errors)} malformed case file(s)"
    ok = not failed and not format_errors
    return "\n".join(lines), ("OK: " if ok else "FAILED: ") + summary


def format_failure(r: CaseResult) -> str:
    where = f" [{r.context}]" if r.context != "main" else ""
    head = f"FAIL {r.engine}{where} {r.id} ({r.reason})  {r.path}"
    body = "\n".join(r.details)
    return head + ("\n" + _indent(body) if body else "")


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def json_report(results: list[CaseResult], format_errors: list[CaseFormatError],
                engines: list[Engine], contexts: list[str], unavailable: dict[str, str]) -> dict:
    columns, table = tabulate(results)
    summary = {"passed": 0, "failed": 0, "skipped": 0}
    for r in results:
        summary[{"pass": "passed", "fail": "failed", "skip": "skipped"}[r.status]] += 1
    summary["malformed"] = len(format_errors)
    return {
        "engines": [e.name for e in engines],
        "unavailable": unavailable,
        "contexts": contexts,
        "columns": columns,
        "summary": summary,
        "ok": summary["failed"] == 0 and not format_errors,
        "table": table,
        "results": [r.to_json() for r in results],
        "format_errors": [{"path": e.path, "line": e.line, "message": e.message} for e in format_errors],
    }


def junit_xml(results: list[CaseResult], format_errors: list[CaseFormatError]) -> bytes:
    """JUnit XML: one <testsuite> per engine column, one <testcase> per case."""
    root = ET.Element("testsuites", name="shape-conformance")
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, Any]] = {}

    def suite(name: str) -> ET.Element:
        if name not in suites:
            suites[name] = ET.SubElement(root, "testsuite", name=name)
            counts[name] = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0, "time": 0.0}
        return suites[name]

    for r in results:
        name = column_name(r.engine, r.context)
        tc = ET.SubElement(suite(name), "testcase", name=r.id,
                           classname=f"{name}.{r.area or 'other'}".replace(" ", "."),
                           file=r.path, time=f"{r.duration:.3f}")
        c = counts[name]
        c["tests"] += 1
        c["time"] += r.duration
        if r.status == "fail":
            c["failures"] += 1
            f = ET.SubElement(tc, "failure", message=r.reason, type=r.reason)
            f.text = _xml_safe("\n".join(r.details))
        elif r.status == "skip":
            c["skipped"] += 1
            ET.SubElement(tc, "skipped", message=r.reason)
        if r.notes:
            out = ET.SubElement(tc, "system-out")
            out.text = _xml_safe("\n".join(r.notes))
    for e in format_errors:
        tc = ET.SubElement(suite("case-format"), "testcase", name=e.path, classname="case-format")
        counts["case-format"]["tests"] += 1
        counts["case-format"]["errors"] += 1
        err = ET.SubElement(tc, "error", message="malformed case", type="CaseFormatError")
        err.text = _xml_safe(str(e))
    for name, el in suites.items():
        for k, v in counts[name].items():
            el.set(k, f"{v:.3f}" if k == "time" else str(v))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_safe(text: str) -> str:
    # XML 1.0 cannot carry most control characters, which engine output may contain.
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: f"\\x{ord(m.group()):02x}", text)


# ---------------------------------------------------------------- command line

def load_cases(paths: Optional[list[str]], filter_text: Optional[str] = None,
               cases_dir: Path = CASES_DIR, features: Iterable[str] = (),
               exclude_features: Iterable[str] = ()) -> tuple[list[Case], list[CaseFormatError]]:
    """The cases under `paths` (default: the corpus), those whose id or path contains
    `filter_text`, that have one of `features` (when given) and none of `exclude_features`."""
    wanted, unwanted = set(features), set(exclude_features)
    cases: list[Case] = []
    errors: list[CaseFormatError] = []
    cwd = Path.cwd()
    # Ids and areas are relative to the corpus; for a suite elsewhere, to the directory named.
    roots = [cases_dir.resolve()] + [Path(r).resolve() for r in (paths or []) if Path(r).is_dir()]
    for p in discover(paths, cases_dir):
        full = p.resolve()
        base = next((r for r in roots if full.is_relative_to(r)), cases_dir)
        # Show paths relative to where the user stands, when the case is below it.
        try:
            p = full.relative_to(cwd)
        except ValueError:
            pass
        try:
            case = load_case(p, base)
        except CaseFormatError as e:
            if not filter_text or filter_text in str(p):
                errors.append(e)
            continue
        except (OSError, UnicodeDecodeError) as e:
            errors.append(CaseFormatError(str(p), 0, f"cannot read: {e}"))
            continue
        if filter_text and filter_text not in case.id and filter_text not in str(p):
            continue
        if (wanted and not wanted & set(case.features)) or unwanted & set(case.features):
            continue
        cases.append(case)
    return cases, errors


def build_tasks(cases: list[Case], engines: list[Engine], contexts: Iterable[str],
                timeout: float) -> list[Task]:
    return [Task(c, e, ctx, case_timeout(c, timeout))
            for e in engines for ctx in contexts for c in cases]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shape conformance",
        description="Run the Shape conformance corpus. Exit status 0 only when nothing failed.")
    p.add_argument("paths", nargs="*", help="case files or directories (default: the whole corpus; "
                                            "directories starting with _ only when named)")
    p.add_argument("--engine", action="append", default=None,
                   help="ref, vm, vm-generic, jit (every function and loop compiled), all "
                        "(default: those four), or cmd:\"COMMAND\" (an external implementation, "
                        "run as COMMAND PROGRAM.shape); may be repeated")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: CPU count; 0 = run in this process, no isolation)")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of the table")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    p.add_argument("--contexts", action="store_true",
                   help="also run eligible cases wrapped in a function and in a one-iteration loop")
    p.add_argument("--filter", metavar="SUBSTR", help="only cases whose id or path contains SUBSTR")
    p.add_argument("--features", type=_names, default=(), metavar="A,B",
                   help="only cases whose `features:` header names one of these")
    p.add_argument("--exclude-features", type=_names, default=(), metavar="A,B",
                   help="leave out cases whose `features:` header names one of these")
    p.add_argument("--resume-cmd", metavar="TEMPLATE",
                   help="how a cmd: engine resumes a snapshot, e.g. \"my-shape --resume {id} "
                        "--json\" ({id}; {file}: the edited source of a recompile, appended when "
                        "absent; {store}: the run's store, also in $SHAPE_STORE). Without it, "
                        "resume expectations on cmd: engines are reported as skipped")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds per case and per resume check in it (default {DEFAULT_TIMEOUT:g}; "
                        f"x{SLOW_FACTOR} for slow cases)")
    p.add_argument("--max-failures", type=int, default=100, metavar="N",
                   help="print the details of at most N failures (reports always hold all)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    from shapelang.report import report_path_problem
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # A timeout must be a time a case can take (inf and nan failed inside the worker pool, 0 or
    # less failed every case); --jobs 0 is the documented in-process run.
    if not 0 < args.timeout < math.inf:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.jobs < 0:
        parser.error(f"--jobs must be 0 or more, got {args.jobs}")
    if args.junit is not None and (problem := report_path_problem(args.junit)):
        parser.error(f"--junit {args.junit}: {problem}")
    try:
        engines: list[Engine] = []
        template = tuple(shlex.split(args.resume_cmd)) if args.resume_cmd else ()
        for spec in args.engine or ["all"]:
            for e in Engine.parse(spec):
                if e.kind == "cmd" and template:
                    e = Engine(e.name, e.kind, e.command, template)
                if e not in engines:
                    engines.append(e)
    except ValueError as e:
        parser.error(str(e))
    try:
        cases, format_errors = load_cases(args.paths or None, args.filter,
                                          features=args.features,
                                          exclude_features=args.exclude_features)
    except FileNotFoundError as e:
        parser.error(str(e))
    if not cases and not format_errors:
        parser.error("no cases selected")
    contexts = list(CONTEXTS) if args.contexts else ["main"]

    unavailable = {e.name: r for e in engines if (r := engine_unavailable(e))}
    runnable = [e for e in engines if e.name not in unavailable]
    tasks = build_tasks(cases, runnable, contexts, args.timeout)
    from shapelang.report import Progress
    failures = [0]

    def progress(r: CaseResult) -> None:
        failures[0] += r.status == "fail"
        bar.advance(failed=failures[0])

    started = time.monotonic()
    with Progress(len(tasks), "conformance runs", enabled=not args.quiet and not args.json) as bar:
        results = run_tasks(tasks, args.jobs, progress)
    # An engine that cannot run here: every case is reported as skipped, with the reason.
    for e in engines:
        if e.name in unavailable:
            for ctx in contexts:
                for c in cases:
                    results.append(CaseResult(c.id, c.path, c.area, e.name, ctx, "skip",
                                              f"engine unavailable: {unavailable[e.name]}"))
    elapsed = time.monotonic() - started
    failed = [r for r in results if r.status == "fail"]
    ok = not failed and not format_errors

    if args.junit:
        Path(args.junit).write_bytes(junit_xml(results, format_errors))
    if args.json:
        report = json_report(results, format_errors, engines, contexts, unavailable)
        report["seconds"] = round(elapsed, 3)
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0 if ok else 1

    # Details first, table last: the table is what a person (and the README's main job) ends on.
    out: list[str] = []
    for e in format_errors:
        out.append(f"MALFORMED {e}")
    for r in failed[:max(args.max_failures, 0)]:
        out.append(format_failure(r))
    if len(failed) > args.max_failures:
        out.append(f"... and {len(failed) - args.max_failures} more failures "
                   "(--max-failures, --json or --junit show all)")
    for name, reason in unavailable.items():
        out.append(f"SKIPPED engine {name}: {reason}")
    if out:
        out.append("")
    table, verdict = format_table(results, format_errors)
    out.append(f"{len(cases)} cases, {len(tasks)} runs in {elapsed:.1f} s "
               f"on {max(args.jobs, 1)} worker(s)")
    out.append(verdict)
    out.append("")
    out.append(table)
    print("\n".join(out))
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
