"""The Python API of Shape, and the one way every tool reaches the engines.

    import shapelang
    r = shapelang.run('print("hi")\n1 + 2')
    r.stdout, r.value["display"], r.exit_code        # 'hi\n', '3', 0

`run` and `resume` never raise for what a program does: its errors, `exit()` and interrupts
are in the returned `Result`; only misuse of the API itself (an unknown engine, a bad argument
type) raises. The CLI, the conformance runner, the fuzzer and the benchmarks all go through this
module; the engines below it (`shapelang.ref.evaluator`, `shapelang.vm`) are internal. The full
reference, with examples that run as tests, is spec/api.md.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

from shapelang.runtime.errors import ShapeError, ShapeExit

if TYPE_CHECKING:  # only for annotations: importing the engines costs start-up time
    from shapelang.ref import ast as A
    from shapelang.vm.machine import Machine

ENGINES = ("vm", "jit", "ref")
DEFAULT_ENGINE = "vm"
INTERRUPT_EXIT = 130          # Ctrl+C, and a run's timeout
TERMINATE_EXIT = 143          # SIGTERM

Program = Union[str, "os.PathLike[str]", "A.Program"]
Write = Callable[[str], Any]


# ---------------------------------------------------------------- results

@dataclass(frozen=True)
class Frame:
    """One entry of a Shape call stack; `file` where it is not the error's own (at the prompt,
    a function entered earlier: shapelang.repl)."""
    name: str
    line: Optional[int] = None
    col: Optional[int] = None
    file: Optional[str] = None

    def to_json(self) -> dict:
        return {"name": self.name, "line": self.line, "col": self.col}


STACK_ENDS = 100     # a longer call stack keeps this many outermost and innermost entries


@dataclass(frozen=True)
class Error:
    """Why a run failed: `kind` and `phase` as in spec/implementation-contracts.md."""
    kind: str
    phase: str
    message: str
    file: Optional[str] = None
    line: Optional[int] = None
    col: Optional[int] = None
    stack: tuple[Frame, ...] = ()     # the Shape call stack, most recent call last
    note: Optional[str] = None        # more context for a person (where a snapshot was taken)
    stack_omitted: int = 0            # entries left out of the middle of a very deep stack
    # The text of `file` as the run had it (the program's source; in a resumed run, the source
    # stored with the snapshot), for a source excerpt; None: not known to the run.
    source: Optional[str] = field(default=None, repr=False, compare=False)

    @staticmethod
    def of(e: ShapeError, path: Optional[str] = None,
           sources: Optional[Mapping[str, str]] = None) -> "Error":
        """The Error of `e` (in file `path` unless it names its own); `sources` are the texts
        of the files the run compiled, by name."""
        stack = e.stack or []
        omitted = max(0, len(stack) - 2 * STACK_ENDS)
        if omitted:
            # A stack overflow is 10^4-10^5 calls deep: its two ends tell the story.
            stack = stack[:STACK_ENDS] + stack[-STACK_ENDS:]
        file = e.file if e.file is not None else path
        return Error(e.kind, e.phase, e.message, file, e.line, e.col,
                     tuple(Frame(*f) for f in stack), getattr(e, "note", None), omitted,
                     (sources or {}).get(file or ""))

    @staticmethod
    def internal(exc: BaseException) -> "Error":
        """An engine bug: still a structured answer, never a traceback."""
        return Error("InternalError", "runtime", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def of_host(exc: Exception, path: Optional[str] = None) -> "Error":
        """The error of a run that a Python exception (not a Shape error) ended: the host's
        memory running out, a front end out of Python stack, or else an engine bug."""
        if isinstance(exc, RecursionError):
            # The engines turn deep Shape recursion into StackOverflow themselves; what is left
            # is a front end (resolver, compiler) walking source nested beyond Python's limits.
            return Error("CompileError", "compile", "Program is nested too deeply to compile",
                         path)
        if isinstance(exc, MemoryError):
            return Error("RuntimeError", "runtime", "Out of memory", path)
        return Error.internal(exc)

    def location(self) -> str:
        return ":".join([self.file or "<input>"]
                        + ([str(self.line)] if self.line is not None else [])
                        + ([str(self.col)] if self.line is not None and self.col is not None else []))

    def render(self) -> str:
        """The one-line form: `Error: FILE:LINE:COL: KIND: message`."""
        if self.kind == "InternalError":
            return f"Error: internal error: {self.message}"
        return f"Error: {self.location()}: {self.kind}: {self.message}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "phase": self.phase, "message": self.message,
                "line": self.line, "col": self.col, "file": self.file,
                "stack": [f.to_json() for f in self.stack], "stack_omitted": self.stack_omitted,
                "note": self.note}


@dataclass
class Result:
    """What a run did. `value` is `{"type", "display", "json"}` (None after an error, `exit()`
    or an interrupt); `snapshots` are the ids of the `snapshot()` calls the run stored, in order;
    `interrupt` is the id of the snapshot an interrupt stored (then `exit_code` is 130, or 143
    for SIGTERM)."""
    stdout: str = ""
    value: Optional[dict] = None
    exit_code: int = 0
    error: Optional[Error] = None
    snapshots: list[str] = field(default_factory=list)
    interrupt: Optional[str] = None
    interrupted: bool = False         # stopped by timeout or signal (with or without a snapshot)
    resumed_from: Optional[str] = None
    handoff_job: Optional[int] = None  # the job a `@handoff` enqueued (spec/remote.md)

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0

    def to_json(self) -> dict:
        """The object `shape run --json` prints (spec/implementation-contracts.md)."""
        return {"stdout": self.stdout, "value": self.value,
                "error": None if self.error is None else self.error.to_json(),
                "exit_code": self.exit_code, "snapshots": list(self.snapshots),
                "interrupt": self.interrupt}


def value_json(v: Any) -> dict:
    """`{type, display, json}` of a Shape value: `json` is the native value for int, number
    (finite), string, bool and None, else None."""
    from shapelang.runtime import display as D, values as V
    t = V.type_name(v)
    native: Any = None
    if t in ("int", "string", "bool"):
        native = v
    elif t == "number" and math.isfinite(v):
        native = v
    return {"type": t, "display": D.display(v), "json": native}


def read_source(path: Union[str, "os.PathLike[str]"]) -> str:
    """The text of a source file; a missing or unreadable file is an IOError ShapeError."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ShapeError("IOError", f"No such file: {path}", file=path) from None
    except IsADirectoryError:
        raise ShapeError("IOError", f"Is a directory: {path}", file=path) from None
    except UnicodeDecodeError:
        raise ShapeError("IOError", f"File is not valid UTF-8: {path}", file=path) from None
    except OSError as e:
        raise ShapeError("IOError", f"Cannot read {path}: {e.strerror}", file=path) from None


# ---------------------------------------------------------------- stopping a run

class _Interrupted(BaseException):
    """Stops a run: raised inside the reference evaluator, and by the VM's driver when a stop
    comes while it waits for a @remote call (a BaseException, so no `except Exception` in an
    engine can swallow it, as KeyboardInterrupt)."""


class Control:
    """Stops a run from another thread or a signal handler: `stop()` makes the VM stop at its
    next safepoint and store an interrupt snapshot, and the reference evaluator stop where it
    is; the result then has `interrupted` set and `exit_code` the code given to `stop`.

        control = Control()
        threading.Timer(5, control.stop).start()
        shapelang.run(source, control=control)

    A stop requested before the run starts takes effect as soon as it does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: Optional[Callable[[], None]] = None
        self.exit_code: Optional[int] = None

    @property
    def stopped(self) -> bool:
        return self.exit_code is not None

    def stop(self, exit_code: int = INTERRUPT_EXIT) -> None:
        with self._lock:
            if self.exit_code is None:
                self.exit_code = exit_code
            target = self._target
        if target is not None:
            target()

    def _attach(self, target: Callable[[], None]) -> None:
        with self._lock:
            self._target = target
            pending = self.exit_code is not None
        if pending:
            target()

    def _detach(self) -> None:
        with self._lock:
            self._target = None


class _Timeout:
    """`timeout=` seconds: a timer that stops the run like Ctrl+C."""

    def __init__(self, seconds: Optional[float], control: Control) -> None:
        self.timer: Optional[threading.Timer] = None
        if seconds is not None:
            if not (isinstance(seconds, (int, float)) and seconds >= 0):
                raise ValueError(f"timeout must be a number of seconds >= 0, got {seconds!r}")
            # Beyond TIMEOUT_MAX (about 292 years; `inf` too) the timer thread would fail on its
            # wait: such a timeout never comes, so there is no timer.
            if seconds <= threading.TIMEOUT_MAX:
                self.timer = threading.Timer(seconds, control.stop)
                self.timer.daemon = True

    def __enter__(self) -> "_Timeout":
        if self.timer is not None:
            self.timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()


# ---------------------------------------------------------------- running

@dataclass(frozen=True)
class Invocation:
    """How a program was started: its command line (`argv[0]` is the script), the directory
    its relative paths start from and its environment variables (None: the process's)."""
    argv: tuple[str, ...]
    cwd: str
    environ: Optional[Mapping[str, str]] = None

    @staticmethod
    def of(argv: Optional[Sequence[str]], cwd: Optional[str], path: Optional[str],
           environ: Optional[Mapping[str, str]] = None) -> "Invocation":
        if argv is not None and (isinstance(argv, str) or not all(isinstance(a, str) for a in argv)):
            raise TypeError("argv must be a sequence of strings")
        if environ is not None and not all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in environ.items()):
            raise TypeError("environ must map strings to strings")
        return Invocation(tuple(argv) if argv is not None else (path or "<input>",),
                          cwd if cwd is not None else os.getcwd(), environ)

    def io(self, pin_inputs: bool = False) -> Any:
        """The run's I/O context, through which the std modules read it (spec/io.md)."""
        from shapelang.runtime.stdlib.context import IOContext
        return IOContext(cwd=self.cwd, argv=self.argv, environ=self.environ,
                         pin_inputs=pin_inputs)


class _CallerError(BaseException):
    """An exception raised by the caller's own `write` (a closed stdout, a broken pipe): it
    passes through the engine untouched and is raised again from `run` as it was."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class _Outcome:
    """Collects a run's output and turns how it ended into a Result."""

    def __init__(self, write: Optional[Write], path: Optional[str]) -> None:
        self.chunks: list[str] = []
        self.write: Write = self.chunks.append if write is None else self._guard(write)
        self.path = path
        self.result = Result()
        self.stderr: Optional[Write] = None
        self.sources: dict[str, str] = {}    # file name -> the text the run compiled

    def note(self, text: str) -> None:
        """A line for a person, on the caller's stderr (when it gave one)."""
        if self.stderr is not None:
            self.stderr(text + "\n")

    @staticmethod
    def _guard(write: Write) -> Write:
        def guarded(text: str) -> Any:
            try:
                return write(text)
            except Exception as e:
                raise _CallerError(e) from None
        return guarded

    def finish(self, run: Callable[[], Any], control: Control) -> Result:
        r = self.result
        try:
            value = run()
        except _CallerError as e:
            raise e.error from None
        except ShapeExit as e:
            r.exit_code = e.code
        except ShapeError as e:
            r.error = Error.of(e, self.path, self.sources)
            r.exit_code = 1
        except _Interrupted:
            r.interrupted = True
            r.exit_code = control.exit_code or INTERRUPT_EXIT
        except Exception as e:  # never a traceback (Error.of_host)
            r.error = Error.of_host(e, self.path)
            r.exit_code = 1
        else:
            if value is _STOPPED_MARK:
                r.interrupted = True
                r.exit_code = control.exit_code or INTERRUPT_EXIT
            else:
                r.value = value_json(value)
        r.stdout = "".join(self.chunks)
        return r


_STOPPED_MARK = object()


def _source_of(program: Program, path: Optional[str]) -> tuple[Any, Optional[str], Optional[str]]:
    """(source text or AST, source text or None, path) of what `run` was given."""
    if isinstance(program, str):
        return program, program, path
    if isinstance(program, os.PathLike):
        p = os.fspath(program)
        text = read_source(p)
        return text, text, path if path is not None else p
    from shapelang.ref import ast as A
    if isinstance(program, A.Program):
        return program, None, path
    raise TypeError("program must be source text (str), a path (os.PathLike) or a parsed "
                    f"shapelang.ref.ast.Program, not {type(program).__name__}")


def run(program: Program, *, path: Optional[str] = None, engine: str = DEFAULT_ENGINE,
        store: Optional[str] = None, snapshot_at: Optional[int] = None,
        timeout: Optional[float] = None, argv: Optional[Sequence[str]] = None,
        cwd: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
        write: Optional[Write] = None, stderr: Optional[Write] = None,
        control: Optional[Control] = None,
        resume_at: Optional[Union[int, tuple[int, ...]]] = None,
        recompile_from: Optional[tuple[Union[str, A.Program], int]] = None,
        resume_files: Optional[str] = None, pin_inputs: bool = False,
        cache: bool = False) -> Result:
    """Run a program to its end (or to an interrupt) and return its Result.

    `program` is source text, a path (`pathlib.Path`: the file is read) or a parsed
    `shapelang.ref.ast.Program`; `path` names it in messages. `engine` is "vm" (stores
    snapshots in `store`, a file path; default $SHAPE_STORE or the user data directory), "jit"
    (the VM with hot code compiled to Python, vm/jit/: the same snapshots and results) or
    "ref" (the reference evaluator: its snapshot ids are not stored). `snapshot_at=N` stops the
    VM after N steps as an interrupt does; `timeout` seconds stops either engine as Ctrl+C does
    (from any thread); `control` stops it on demand. Printed text is collected in
    `Result.stdout`, or passed to `write` as it is printed when given (then `stdout` stays
    empty). `stderr` receives diagnostics meant for a person (the reference engine's snapshot
    note). `argv` is the program's command line as `sys.argv` is Python's (the script's path
    first; default `[path]`) and `cwd` the directory its relative paths start from (default: the
    current directory) and `environ` the environment variables it sees (default: the process's);
    all three are carried to the engines for the std modules that read them (spec/io.md).
    `pin_inputs` copies the input files the program reads into the store with its snapshots.
    `resume_at` and `recompile_from` ask the reference engine for what resuming a snapshot must
    print (the conformance oracle); `recompile_from=(old program, k)` takes the old program as
    source text or parsed, and with `resume_at=j` (or a chain `(j, j2, …)`) beside it, the j-th
    snapshot the recompiled run takes is resumed in turn (ref/oracle.py); with `resume_files`, a
    directory holding the files as that resume finds them (checked and rewound:
    `resume_io_check`), the run's directory takes its contents when the replay reaches the
    resumed snapshot (spec/io.md). `cache` keeps the VM's compiled
    code of source text in the local code cache and takes it from there the next time
    (vm/codecache.py; the `shape` command does so for program files)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (expected one of {', '.join(ENGINES)})")
    if snapshot_at is not None and (type(snapshot_at) is not int or snapshot_at < 0):
        raise ValueError(f"snapshot_at must be a whole number of steps >= 0, got {snapshot_at!r}")
    control = control or Control()
    out = _Outcome(write, path)
    out.stderr = stderr
    try:
        code, source, out.path = _source_of(program, path)
    except ShapeError as e:
        out.result.error, out.result.exit_code = Error.of(e), 1
        return out.result
    if source is not None and out.path is not None:
        out.sources[out.path] = source
    with _Timeout(timeout, control):
        if engine == "ref":
            if snapshot_at is not None:
                raise ValueError("snapshot_at needs the VM engine (the reference evaluator "
                                 "stores no snapshots)")
            inv = Invocation.of(argv, cwd, out.path, environ)
            at_resume = None
            if resume_files is not None:
                def at_resume() -> None:
                    from shapelang.ref.oracle import take_files
                    take_files(inv.cwd, resume_files)
            return out.finish(lambda: _run_ref(code, out.path, out.write, stderr, control,
                                               resume_at, recompile_from, inv.io(pin_inputs),
                                               at_resume),
                              control)
        if resume_at is not None or recompile_from is not None:
            raise ValueError("resume_at and recompile_from are reference-engine oracles "
                             "(use resume() on the VM)")
        with _jit(engine):
            return out.finish(lambda: _run_vm(code, source, out, store, snapshot_at, control,
                                               Invocation.of(argv, cwd, out.path, environ)
                                               .io(pin_inputs), cache),
                              control)


def _jit(engine: str) -> Any:
    """The JIT mode machines of this run use: on for "jit" (unless a mode is already chosen,
    e.g. "force" by SHAPE_JIT or the conformance runner), as set otherwise."""
    from shapelang.vm import jit as J
    if engine == "jit" and J.jit_default() == "off":
        return J.jit_mode("on")
    return contextlib.nullcontext()


def resume(snapshot: str, source: Optional[Union[str, "os.PathLike[str]"]] = None, *,
           path: Optional[str] = None, store: Optional[str] = None, engine: str = DEFAULT_ENGINE,
           snapshot_at: Optional[int] = None, timeout: Optional[float] = None,
           argv: Optional[Sequence[str]] = None, cwd: Optional[str] = None,
           environ: Optional[Mapping[str, str]] = None, write: Optional[Write] = None,
           stderr: Optional[Write] = None, control: Optional[Control] = None,
           allow_changed_inputs: bool = False, pin_inputs: bool = False) -> Result:
    """Continue a stored snapshot (an id or a unique prefix of one) on the VM.

    Without `source` the snapshot continues on its stored code (full resume); with it (text, or
    a path that is read) the source is compiled and the run continues in it at the same
    `snapshot()` call (recompile-and-resume, spec/snapshots.md). `engine` "jit" compiles the
    resumed run's hot code again (it resumes on the VM either way). Other arguments as for `run`;
    `stderr` is told `Resuming from snapshot: ID` once the snapshot is known to fit its code.
    Before the run continues, its files are checked against the snapshot's I/O ledger and its
    outputs rewound (spec/io.md): a changed input stops the resume unless
    `allow_changed_inputs`; `pin_inputs` pins what the continuation reads. A resumed run keeps
    the command line, directory and environment variables of the run that took the snapshot
    as far as that run had used them (its I/O ledger); what it had not used comes from `argv`,
    `cwd` and `environ` (defaults as for `run`, the script being the snapshot's)."""
    if not isinstance(snapshot, str):
        raise TypeError(f"snapshot must be a snapshot id (str), not {type(snapshot).__name__}")
    if snapshot_at is not None and (type(snapshot_at) is not int or snapshot_at < 0):
        raise ValueError(f"snapshot_at must be a whole number of steps >= 0, got {snapshot_at!r}")
    if engine not in ("vm", "jit"):
        raise ValueError(f"resume runs on the VM: engine must be vm or jit, not {engine!r}")
    control = control or Control()
    out = _Outcome(write, path)
    out.stderr = stderr
    # Checked now; used where the snapshot recorded no invocation of its own.
    fresh = Invocation.of(argv, cwd, path, environ)
    fresh_argv = None if argv is None else fresh.argv
    text: Optional[str] = None
    if isinstance(source, os.PathLike):
        out.path = path if path is not None else os.fspath(source)
        try:
            text = read_source(source)
        except ShapeError as e:
            out.result.error, out.result.exit_code = Error.of(e), 1
            return out.result
    elif source is not None:
        text = source
        out.path = path if path is not None else "<input>"
    if text is not None:
        out.sources[out.path] = text

    def go() -> Any:
        from shapelang.vm import snapshot as S
        on_saved = out.result.snapshots.append
        try:
            if text is None:
                r = S.restore(snapshot, out.write, store, on_saved,
                              allow_changed_inputs=allow_changed_inputs, pin_inputs=pin_inputs,
                              argv=fresh_argv, cwd=fresh.cwd, environ=environ)
            else:
                from shapelang.vm.recompile import recompile
                r = recompile(snapshot, text, out.path or "<input>", out.write, store, on_saved,
                              allow_changed_inputs=allow_changed_inputs, pin_inputs=pin_inputs,
                              argv=fresh_argv, cwd=fresh.cwd, environ=environ)
        except ShapeError as e:
            if e.file is None and e.phase == "resume":
                e.file = "--resume"
            elif e.file is None:
                e.file = out.path
            raise
        out.result.resumed_from = r.resumed_from
        if r.script is not None and r.source is not None:
            out.sources.setdefault(r.script, r.source)
        if stderr is not None:
            for note in r.notes:
                stderr(f"Warning: {note}\n")
            stderr(f"Resuming from snapshot: {r.resumed_from}\n")
        try:
            return _drive(r, out, snapshot_at, control)
        except ShapeError as e:
            if e.file is None and e.phase != "resume":
                e.file = r.script   # positions refer to the program the snapshot came from
            raise

    with _Timeout(timeout, control), _jit(engine):
        return out.finish(go, control)


def resume_io_check(program: Program, event: int, *, path: Optional[str] = None,
                    argv: Optional[Sequence[str]] = None, cwd: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None,
                    changes: Sequence[tuple[str, Optional[str]]] = ()) -> Optional[Error]:
    """The reference engine's answer to what the files say about resuming snapshot event
    `event` of `program` (spec/io.md): the program runs in `cwd` to its end, as the run that
    took the snapshot does, and its files are then checked against its I/O ledger at that event
    as a resume checks them (after `changes`: (name, content or None to delete) pairs that
    someone else makes in between). Returns the error that resume would end with (a changed input, a
    changed or missing output), or None; the outputs in `cwd` are left rewound, as a resume
    finds them. With `run(…, engine="ref", resume_at=event)` in a directory as the first run
    started (its prefix writes what the first run had written by then), this is the conformance
    oracle for resumes of programs that read and write files."""
    try:
        code, _, path = _source_of(program, path)
        io = Invocation.of(argv, cwd, path, environ).io()

        def go() -> None:
            from shapelang.ref import oracle
            from shapelang.ref.parser import parse
            from shapelang.runtime.stdlib.context import running
            parsed = parse(code, path) if isinstance(code, str) else code
            with running(io):
                oracle.resume_io_check(parsed, path, event, changes=changes)
        go()
    except ShapeError as e:
        return Error.of(e, path)
    return None


def _run_vm(code: Any, source: Optional[str], out: _Outcome, store: Optional[str],
            snapshot_at: Optional[int], control: Control, io: Any, cache: bool = False) -> Any:
    from shapelang.vm import snapshot as S
    compiled = _compiled(code, out.path, cache)
    r = S.start(compiled, source, out.write, store, out.result.snapshots.append, io=io)
    return _drive(r, out, snapshot_at, control)


def _compiled(code: Any, path: Optional[str], cache: bool) -> Any:
    """`code` (source text or a parsed program) compiled for the VM; with `cache`, source text
    goes through the local code cache, so a cached run never loads the front end."""
    if cache and isinstance(code, str):
        from shapelang.vm import codecache
        program = codecache.load_program(code, path)
        if program is not None:
            return program
    from shapelang.vm.compiler import compile_program, compile_source
    if not isinstance(code, str):
        return compile_program(code, path)
    program = compile_source(code, path)
    if cache:
        codecache.save_program(code, program)
    return program


def _drive(r: Any, out: _Outcome, snapshot_at: Optional[int], control: Control) -> Any:
    """Run a VM run to its end; when it stops at a safepoint (interrupt, timeout, snapshot_at)
    store an interrupt snapshot and report it in the result. A `@handoff` hook ends the run
    with its continuation enqueued; a `@remote` call waits here for the worker's result and the
    run continues from the hook's snapshot with it (spec/remote.md)."""
    from shapelang.runtime.stdlib import remote as hooks
    from shapelang.runtime.stdlib.context import running
    from shapelang.vm import remote
    from shapelang.vm import snapshot as S
    from shapelang.vm.machine import STOPPED
    ctx = remote.context_for(r.session.store_path)
    while True:
        control._attach(r.machine.request_stop)
        try:
            with running(r.io), hooks.driving(ctx):
                value = r.machine.run(max_steps=snapshot_at)
            if value is STOPPED:
                out.result.interrupt = r.save_interrupt()
                return _STOPPED_MARK
            return value
        except hooks.HandOff as h:
            out.result.handoff_job = remote.submit(ctx.store, h.snapshot, h.queue)
            out.note(f"Handed off to queue {h.queue}: job {out.result.handoff_job}")
            raise ShapeExit(0) from None
        except hooks.RemoteCall as c:
            job = remote.submit(ctx.store, c.snapshot, c.queue, role=hooks.CALLEE)
            rec = remote.wait(ctx.store, job, lambda: control.stopped)
            if rec.finished is None:
                out.note(f"The @remote call goes on as job {job}; its result is not awaited")
                raise _Interrupted() from None
            if rec.stdout:
                out.write(rec.stdout)
            ctx = hooks.RemoteContext(ctx.store, hooks.CALLER, remote.call_result(rec))
            store, continuation = r.session.store_path, c.snapshot
        finally:
            control._detach()
            r.close()
        r = S.restore(continuation, out.write, store, out.result.snapshots.append)


def _run_ref(code: Any, path: Optional[str], write: Write, stderr: Optional[Write],
             control: Control, resume_at: Any, recompile_from: Any, io: Any,
             at_resume: Optional[Callable[[], None]] = None) -> Any:
    from shapelang.ref import deepstack
    from shapelang.ref import evaluator as Ev
    from shapelang.ref import oracle
    note = None
    if stderr is not None:
        def note() -> None:
            stderr("Note: the reference evaluator does not store snapshots; the ids it returns "
                   "cannot be resumed (run on the VM to store them)\n")
    caller = threading.get_ident()
    control._attach(lambda: deepstack.interrupt(caller, _Interrupted))
    try:
        if resume_at is not None or recompile_from is not None:
            # What resuming prints: the snapshot oracle replays the program.
            from shapelang.runtime.stdlib.context import running
            with running(io):
                if isinstance(code, str):
                    return oracle.run_source(code, write, path, resume_at=resume_at,
                                             recompile_from=recompile_from, at_resume=at_resume)
                return oracle.run_program(code, write, path, resume_at=resume_at,
                                          recompile_from=recompile_from, at_resume=at_resume)
        if isinstance(code, str):
            return Ev.run_source(code, write, path, on_first_snapshot=note, io=io)
        return Ev.run_program(code, write, path, on_first_snapshot=note, io=io)
    finally:
        control._detach()


# ---------------------------------------------------------------- stores

class Store:
    """A snapshot store that exists: `Store()` is the default one ($SHAPE_STORE or the user data
    directory), `Store(location)` a file path or a `postgresql://` URL. Opening one that does not
    exist is a StoreError, and nothing is created. Use it as a context manager, or `close()` it.

        with shapelang.Store("snaps.db") as store:
            for info in store.list(): print(info.id, info.script, info.kind)
    """

    def __init__(self, url: Optional[str] = None) -> None:
        from shapelang.vm.store import open_store
        self._store = open_store(url, create=False)
        self.location = self._store.location

    def list(self, script: Optional[str] = None, limit: Optional[int] = None) -> list:
        """Every snapshot's metadata (`id`, `created`, `script`, `kind`, `parent`, …), oldest
        first; `script` keeps those of one script, `limit` the newest ones."""
        return self._store.list(script=script, limit=limit)

    def resolve(self, prefix: str) -> str:
        """The full id of a snapshot from an id or a unique prefix (ResumeError otherwise)."""
        return self._store.resolve(prefix)

    def info(self, snapshot: str) -> Any:
        """The metadata of one snapshot (id or unique prefix)."""
        return self._store.get_snapshot(self.resolve(snapshot))[0]

    def delete(self, snapshot: str) -> str:
        """Delete one snapshot (its code stays until `gc`); returns its full id."""
        sid = self.resolve(snapshot)
        self._store.delete(sid)
        return sid

    def gc(self) -> int:
        """Delete the code and source blobs no snapshot needs; returns how many."""
        from shapelang.vm import snapshot as S
        return S.collect(self._store)

    def verify(self, deep: bool = False) -> list[str]:
        """Problems found (empty when the store is sound); `deep` also loads every snapshot."""
        from shapelang.vm import snapshot as S
        return S.verify(self._store, deep=deep)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------- step-level access

class Session:
    """One program compiled once for the VM, for tools that run it in steps (the fuzzer's
    cut-and-resume checks): `machine()` starts it, `machine(state)` continues an exported state;
    a machine's `run(max_steps)` returns `STOPPED` at a safepoint and `export_state()` gives the
    state there. `encode_state` / `decode_state` pass a state through the snapshot codec, the
    path a stored snapshot takes."""

    def __init__(self, program: Program, path: Optional[str] = None) -> None:
        from shapelang.vm.compiler import compile_program, compile_source
        code, self.source, self.path = _source_of(program, path)
        self.program = (compile_source(code, self.path) if isinstance(code, str)
                        else compile_program(code, self.path))

    @property
    def STOPPED(self) -> Any:
        from shapelang.vm.machine import STOPPED
        return STOPPED

    def machine(self, state: Any = None, *, write: Any = None,
                on_snapshot: Optional[Callable[["Machine"], str]] = None) -> "Machine":
        from shapelang.vm.machine import Machine
        if state is None:
            return Machine(self.program, out=write, on_snapshot=on_snapshot)
        return Machine.from_state(self.program, state, out=write, on_snapshot=on_snapshot)

    def encode_state(self, state: Any) -> bytes:
        return encode_state(self.program, state)

    @staticmethod
    def decode_state(data: bytes) -> Any:
        return decode_state(data)


def encode_state(program: Any, state: Any) -> bytes:
    """A machine state of a compiled VM program as the bytes a snapshot stores."""
    from shapelang.vm import snapshot as S
    from shapelang.vm.codec import Encoder
    return Encoder(S.registry()).encode({"v": S.STATE_VERSION, "entry": program.entry,
                                         "prelude": program.prelude, "source": None,
                                         "machine": state})


def decode_state(data: bytes) -> Any:
    """The machine state in the bytes `encode_state` made (the codec validates them)."""
    from shapelang.vm import snapshot as S
    from shapelang.vm.codec import Decoder
    return Decoder(S.registry()).decode(data)["machine"]


def disassemble(program: Program, *, path: Optional[str] = None, prelude: bool = False,
                full_ids: bool = False) -> str:
    """The VM bytecode of a program as text (`shape dis`)."""
    from shapelang.vm.disasm import disassemble as dis
    return dis(Session(program, path).program, prelude=prelude, ids=64 if full_ids else 12)
