"""Errors a Shape program can cause, shared by every engine.

A ShapeError is always reported to the user as `Error: file:line:col: Kind: message`; the kind
and phase are part of the conformance contract (see spec/errors.md), so both engines must raise
the same kind for the same fault.
"""
from __future__ import annotations

# The closed set of error kinds. Conformance cases name these, so adding one is a spec change.
KINDS = {
    "SyntaxError",      # parse: lexer or parser rejected the source
    "NameError",        # compile: a name that no scope declares
    "AssignmentError",  # compile: assignment to an immutable binding (message says "immutable")
    "CompileError",     # compile: other static errors (await outside async, annotation target)
    "TypeError",        # runtime: operation on values of the wrong type, bad call, unknown method
    "ArithmeticError",  # runtime: "Division by zero"
    "IndexError",       # runtime: assignment to an index outside an array
    "MatchError",       # runtime: no arm of a match matched
    "ValueError",       # runtime: a well-typed argument with a bad value (e.g. "abc".toInt())
    "UnwrapError",      # runtime: `?` on Err/None at top level
    "StackOverflow",    # runtime: call depth beyond the engine's limit ("stack overflow")
    "RuntimeError",     # runtime: anything else
    "ResumeError",      # resume: snapshot cannot be resumed (missing, corrupt, bad mapping)
    "StoreError",       # resume/runtime: the snapshot store failed
    "IOError",          # the CLI could not read a file
    "JobError",         # jobs: an unknown job, a `shape wait` that timed out
}

PHASES = {"parse", "compile", "runtime", "resume"}

_DEFAULT_PHASE = {
    "SyntaxError": "parse",
    "NameError": "compile",
    "AssignmentError": "compile",
    "CompileError": "compile",
    "ResumeError": "resume",
}


class ShapeError(Exception):
    """An error the user caused; carries kind, phase and source position."""

    def __init__(self, kind: str, message: str, line: int | None = None, col: int | None = None,
                 phase: str | None = None, file: str | None = None) -> None:
        assert kind in KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.col = col
        self.phase = phase or _DEFAULT_PHASE.get(kind, "runtime")
        self.file = file
        # The Shape call stack, most recent call last: [(function name, line, col), …], the
        # last entry where the error happened, each other one at the call it was making. Set
        # by the engine a runtime error escapes from; None before. The program's top level is
        # MAIN_FRAME, a lambda LAMBDA_FRAME; prelude code is not shown (its errors are the
        # user's call, as their positions are).
        self.stack: list[tuple[str, int | None, int | None]] | None = None

    def at(self, line: int | None, col: int | None) -> "ShapeError":
        """Fill in a position if none is known yet (inner helpers raise without one)."""
        if self.line is None and line is not None:
            self.line, self.col = line, col
        return self

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def render(self) -> str:
        return f"Error: {self.location()}: {self.kind}: {self.message}"

    def to_json(self) -> dict:
        out = {"kind": self.kind, "phase": self.phase, "message": self.message,
               "line": self.line, "col": self.col}
        if self.stack is not None:
            out["stack"] = [{"name": n, "line": ln, "col": c} for n, ln, c in self.stack]
        return out


class ShapeExit(Exception):
    """`exit(code)`: unwinds everything and ends the process with `code`."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def exit_with(args: list) -> Exception:
    """The builtin `exit([code])`, shared by both engines: a process exit status is one byte,
    so a code outside 0..255 is refused rather than silently truncated (exit(256) would be 0)."""
    if len(args) > 1:
        return ShapeError("TypeError", f"exit() expects at most 1 argument, got {len(args)}")
    code = args[0] if args else 0
    if type(code) is not int:
        return ShapeError("TypeError", "exit() expects an int exit code")
    if not 0 <= code <= 255:
        return ShapeError("ValueError", f"exit code must be between 0 and 255, got {code}")
    return ShapeExit(code)


# How a call stack names the program's top level and a function without a name.
MAIN_FRAME = "<main>"
LAMBDA_FRAME = "<lambda>"


def call_stack(frames: list) -> list:
    """The call stack of an error from its entries (name, line, col), most recent call FIRST
    (as both engines collect them), returned most recent call last (ShapeError.stack). The
    innermost calls the error has no position in are left out: a function whose code it never
    reached, because the call itself failed when checking the function's declared parameter
    or return types (spec/types.md §2; reported at the call, as a wrong argument count is)."""
    k = 0
    while k < len(frames) - 1 and frames[k][1] is None:
        k += 1
    return frames[k:][::-1]


def type_error(message: str) -> ShapeError:
    return ShapeError("TypeError", message)


def value_error(message: str) -> ShapeError:
    return ShapeError("ValueError", message)


def division_by_zero() -> ShapeError:
    return ShapeError("ArithmeticError", "Division by zero")


def stack_overflow() -> ShapeError:
    # Deep Shape recursion, or a value nested so deep that walking it (display, ==) would exhaust
    # the Python stack: both are the Shape stack overflow.
    return ShapeError("StackOverflow", "stack overflow")


def program_too_deep(path: str | None = None) -> ShapeError:
    # The front end (resolver, compiler) walking source nested beyond Python's limits.
    return ShapeError("CompileError", "Program is nested too deeply to compile", file=path)
