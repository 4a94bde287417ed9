"""The interactive prompt: `shape` with no arguments on a terminal, or `shape repl`.

Each entry runs on the VM as the continuation of everything entered before, the way
recompile-and-resume continues a snapshot in edited source (spec/snapshots.md): the session is one
program, the entries in order, each followed by a boundary `snapshot()` call. After an entry,
the machine stops at its boundary and its state is kept (encoded, as a snapshot is); the next
entry is appended to the program, which is compiled again and continued from that state at the
boundary, with every binding carried over. So an entry that fails, or is interrupted with Ctrl+C,
leaves the session exactly as it was before it.

A `snapshot()` the user calls is stored in the snapshot store like any other, with the script
`<repl>`; `shape --resume ID` on it reopens the prompt with every binding restored, after running
the rest of the entry that took it. The value of an entry that ends in an expression (not an
assignment) is printed as `print` shows it, unless it is `None` or `()`. `exit()` leaves, with
its code; so do Ctrl+D and `exit`. History is kept in `$XDG_DATA_HOME/shape/repl_history`.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, Optional

from shapelang import api
from shapelang.runtime.errors import ShapeError, ShapeExit

SCRIPT = "<repl>"
BOUNDARY = "snapshot()  // shape repl: end of entry"
VALUE = "__repl_value"
PROMPT, MORE = ">>> ", "... "
BANNER = ("Shape {version} on the VM. Enter statements or expressions; an unfinished entry "
          "continues on the next line.\nexit() or Ctrl+D leaves; Ctrl+C abandons an entry.\n")


def incomplete(text: str) -> bool:
    """True when `text` is the start of an entry that more lines could finish."""
    from shapelang.ref.parser import parse
    try:
        parse(text, SCRIPT)
    except ShapeError as e:
        return e.kind == "SyntaxError" and (e.message.startswith("Unexpected end of input")
                                            or e.message.startswith("Unterminated"))
    except RecursionError:
        return False
    return False


ECHO = f"let {VALUE} = ("


def with_echo(text: str) -> tuple[str, Optional[tuple[int, int]]]:
    """`text` with its last statement's value printed when it is an expression (the echo runs
    in Shape, so its output comes in order with the entry's own), and where the echo was put:
    (line, col) of the expression, which moved right by len(ECHO) on that line."""
    from shapelang.ref import ast as A
    from shapelang.ref.parser import parse
    try:
        program = parse(text, SCRIPT)
    except (ShapeError, RecursionError):
        return text, None                 # the error is reported when the entry is compiled
    if not program.body:
        return text, None
    last = program.body[-1]
    if type(last) is not A.ExprStmt or type(last.expr) is A.Assign:
        return text, None
    start = _statement_start(text, last.line, last.col)
    expr = text[start:].rstrip().rstrip(";")
    echoed = (f"{text[:start]}{ECHO}{expr}\n)\n"
              f"if {VALUE} != None && {VALUE} != () {{ print({VALUE}) }}")
    return echoed, (last.line, last.col)


def _statement_start(text: str, line: int, col: int) -> int:
    """Where the last statement of `text`, whose expression is at (line, col), begins: the
    parser places a parenthesized expression inside its parentheses (`(2 + 3) * 2` at column 2),
    so the echo starts at the first of the `(` tokens right before it."""
    from shapelang.ref.lexer import tokenize
    toks = tokenize(text)
    k = next(i for i, t in enumerate(toks) if (t.line, t.col) >= (line, col))
    while k > 0 and toks[k - 1].type == "LPAREN":
        k -= 1
    return toks[k].lexpos


def assemble(entries: list[str]) -> tuple[str, set[int]]:
    """The session's program and the lines of its boundaries."""
    lines: list[str] = []
    boundaries: set[int] = set()
    for text in entries:
        lines.extend(text.split("\n"))
        lines.append(BOUNDARY)
        boundaries.add(len(lines))
    return "\n".join(lines) + "\n", boundaries


def split_entries(source: str) -> list[str]:
    """The entries of a session's program (the inverse of `assemble`)."""
    entries, current = [], []
    for line in source.split("\n"):
        if line == BOUNDARY:
            entries.append("\n".join(current))
            current = []
        else:
            current.append(line)
    return entries


class Session:
    """A REPL session: the entries so far and the machine state at the last boundary."""

    def __init__(self, store: Optional[str] = None, write: Callable[[str], Any] = None) -> None:
        self.store = store
        self.write = write or sys.stdout.write
        self.entries: list[str] = []            # as run (with the echo)
        self.texts: list[str] = []              # as typed
        self.echoes: list[Optional[tuple[int, int]]] = []
        self.state: Optional[bytes] = None       # encoded machine state at the last boundary
        self.program: Any = None                 # the compiled program that state belongs to
        self.source: Optional[str] = None

    # ------------------------------------------------------------ running entries

    def run(self, text: str, control: Optional[api.Control] = None) -> None:
        """Run one entry. Raises ShapeError (the session is unchanged), ShapeExit (`exit()`), or
        KeyboardInterrupt when `control` stopped it (the session is unchanged)."""
        self.check(text)
        echoed, echo = with_echo(text)
        entries = self.entries + [echoed]
        source, boundaries = assemble(entries)
        try:
            machine, session = self._machine(source)
            try:
                self._go(machine, session, source, boundaries, control)
            finally:
                session.close()
        except ShapeError as e:
            raise self.locate(e, text, echo) from None
        self.entries = entries
        self.texts.append(text)
        self.echoes.append(echo)

    def check(self, text: str) -> None:
        """Raise the syntax error of an entry that does not parse on its own, in the entry's
        lines: in the session's program an unfinished entry would run on into the boundary
        after it, and its error would name lines of the whole session."""
        from shapelang.ref.parser import parse
        try:
            parse(text, SCRIPT)
        except ShapeError as e:
            if e.file in (None, SCRIPT):
                e.file = f"<entry {len(self.texts) + 1}>"
            raise

    def locate(self, e: ShapeError, text: str, echo: Optional[tuple[int, int]]) -> ShapeError:
        """Point an error at the entry it is in (`<entry N>`, lines counted in the entry, as
        typed) rather than at the session's program."""
        if e.line is None or (e.file not in (None, SCRIPT)):
            return e
        placed = self._place(text, echo)(e.line, e.col)
        if placed is not None:
            e.file, e.line, e.col = placed
        return e

    def error_of(self, e: ShapeError, text: str) -> api.Error:
        """The Error of `e` (raised by `run(text)`), each frame of its call stack placed in the
        entry it is in, as `locate` placed the error (a function of an earlier entry runs
        there)."""
        error = api.Error.of(e)
        if not error.stack or error.file is None or not error.file.startswith("<entry "):
            return error
        place = self._place(text, with_echo(text)[1])
        frames = []
        for f in error.stack:
            placed = place(f.line, f.col) if f.line is not None else None
            frames.append(f if placed is None else api.Frame(f.name, placed[1], placed[2],
                                                             placed[0]))
        return dataclasses.replace(error, stack=tuple(frames))

    def _place(self, text: str, echo: Optional[tuple[int, int]]
               ) -> Callable[[int, Optional[int]], Optional[tuple[str, int, Optional[int]]]]:
        """(line, col) of the session's program, with `text` run as its last entry -> the
        entry it is in and the place there, as typed; None on a boundary line."""
        texts, echoes = self.texts + [text], self.echoes + [echo]
        runs = self.entries + [with_echo(text)[0]]

        def place(at: int, col: Optional[int]) -> Optional[tuple[str, int, Optional[int]]]:
            first = 1
            for n, (typed, run, where) in enumerate(zip(texts, runs, echoes), start=1):
                size = run.count("\n") + 1
                if first <= at < first + size:
                    line = at - first + 1
                    if where is not None and line == where[0] and col is not None \
                            and col > where[1]:
                        col = max(where[1], col - len(ECHO))
                    if line > typed.count("\n") + 1:   # inside the echo: the expression's place
                        line, col = where if where is not None else (line, col)
                    return f"<entry {n}>", line, col
                first += size + 1                      # and the boundary line
            return None
        return place

    def _machine(self, source: str) -> tuple[Any, Any]:
        from shapelang.vm import snapshot as S
        if self.state is None:
            from shapelang.vm.compiler import compile_source
            program = compile_source(source, SCRIPT)
            run = S.start(program, source, self.write, self.store)
            return run.machine, run.session
        from shapelang.vm.recompile import prepare
        state = api.decode_state(self.state)
        loaded = S.Loaded(None, self.program, {"machine": state}, self.source, None, SCRIPT)
        return prepare(loaded, source, SCRIPT, self.write, self.store)

    def _go(self, machine: Any, session: Any, source: str, boundaries: set[int],
            control: Optional[api.Control]) -> None:
        """Run `machine` to the boundary at the end of its program's last entry."""
        from shapelang.vm.machine import STOPPED
        program = machine.program
        ends = boundary_ordinals(program, boundaries)
        captured: dict = {}

        def on_snapshot(m: Any) -> str:
            if m.pending_ordinal in ends:
                captured["state"] = api.encode_state(program, m.export_state())
                m.request_stop()
                return "0" * 64
            return session.on_snapshot(m)
        machine.on_snapshot = on_snapshot
        if control is not None:
            control._attach(machine.request_stop)
        try:
            result = machine.run()
        finally:
            if control is not None:
                control._detach()
        if "state" not in captured:
            if result is STOPPED:
                raise KeyboardInterrupt
            return      # the program ended without reaching the boundary (cannot happen)
        self.state = captured["state"]
        self.program = program
        self.source = source

    def typed(self, file: Optional[str], current: str) -> Optional[str]:
        """The text of `<entry N>` as typed (`current` is the entry being run)."""
        texts = self.texts + [current]
        if file and file.startswith("<entry ") and file.endswith(">"):
            n = int(file[7:-1])
            if 1 <= n <= len(texts):
                return texts[n - 1]
        return None

    # ------------------------------------------------------------ resuming a REPL snapshot

    @classmethod
    def resume(cls, snapshot: str, store: Optional[str] = None,
               write: Callable[[str], Any] = None,
               control: Optional[api.Control] = None,
               stderr: Optional[Callable[[str], Any]] = None) -> "Session":
        """The session a stored REPL snapshot belongs to, after running the rest of the entry
        that took it (raises ShapeError when the snapshot cannot be resumed)."""
        from shapelang.vm import snapshot as S
        self = cls(store, write)
        try:
            run = S.restore(snapshot, self.write, store)
        except ShapeError as e:     # named as `shape --resume` names what it cannot load
            if e.file is None:
                e.file = "--resume"
            raise
        if stderr is not None:
            stderr(f"Resuming from snapshot: {run.resumed_from}\n")
        try:
            if run.source is None:
                raise ShapeError("ResumeError", "The snapshot does not include its session",
                                 phase="resume")
            self.entries = split_entries(run.source)
            self.texts = list(self.entries)
            self.echoes = [None] * len(self.entries)
            _, boundaries = assemble(self.entries)
            self._go(run.machine, run.session, run.source, boundaries, control)
        finally:
            run.close()
        return self


def boundary_ordinals(program: Any, boundaries: set[int]) -> set[int]:
    """The snapshot ordinals of the boundary calls (top-level calls on boundary lines)."""
    entry = program.blobs[program.entry]
    return {o for o, bid, pc in program.snapshot_sites()
            if bid == program.entry and entry.line_at(pc)[0] in boundaries}


# ---------------------------------------------------------------- the prompt

def _history_file() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "shape", "repl_history")


class _Lines:
    """Reads the lines of entries: prompt_toolkit on a terminal (history, editing, Shape
    highlighting), plain `input()` otherwise."""

    def __init__(self, interactive: bool) -> None:
        self.session: Any = None
        if interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory
            from prompt_toolkit.lexers import PygmentsLexer
            from shapelang.highlight import ShapeLexer
            path = _history_file()
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                history: Any = FileHistory(path)
            except OSError:
                from prompt_toolkit.history import InMemoryHistory
                history = InMemoryHistory()
            self.session = PromptSession(history=history, lexer=PygmentsLexer(ShapeLexer))

    def read(self, prompt: str) -> str:
        if self.session is not None:
            return self.session.prompt(prompt)
        return input(prompt)


def read_entry(lines: _Lines) -> Optional[str]:
    """One entry (several lines while it is unfinished); None at end of input."""
    try:
        text = lines.read(PROMPT)
    except EOFError:
        return None
    while incomplete(text):
        try:
            text += "\n" + lines.read(MORE)
        except EOFError:
            break
    return text


def main(store: Optional[str] = None, resume: Optional[str] = None,
         interactive: Optional[bool] = None) -> int:
    """Run the prompt until `exit()`, `exit` or end of input; returns the exit code."""
    from shapelang import __version__
    from shapelang.diagnostics import for_stderr
    interactive = sys.stdin.isatty() if interactive is None else interactive
    write = sys.stdout.write
    lines = _Lines(interactive)
    control = api.Control()
    try:
        if resume is not None:
            session = Session.resume(resume, store, write, control, sys.stderr.write)
        else:
            session = Session(store, write)
            if interactive:
                write(BANNER.format(version=__version__))
    except ShapeExit as e:
        return e.code
    while True:
        sys.stdout.flush()
        try:
            text = read_entry(lines)
        except KeyboardInterrupt:       # Ctrl+C at the prompt: a fresh line
            write("\n")
            continue
        if text is None:
            if interactive:
                write("\n")
            return 0
        if not text.strip():
            continue
        if text.strip() == "exit":
            return 0
        control = api.Control()
        try:
            session.run(text, control)
        except ShapeExit as e:
            return e.code
        except ShapeError as e:
            sys.stdout.flush()
            error = session.error_of(e, text)
            sys.stderr.write(for_stderr(error, session.typed(error.file, text)) + "\n")
        except KeyboardInterrupt:
            sys.stdout.flush()
            sys.stderr.write("Interrupted (the entry was undone)\n")
