"""How an error is shown to a person: the one-line `Error: FILE:LINE:COL: KIND: message` first
(scripts grep it), then, as Python 3.11 and rustc do, the source line with a caret under the
column and the Shape call stack, most recent call last, with long recursions folded.
Colour only when asked (the CLI asks on a terminal without NO_COLOR)."""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional, Sequence

from shapelang.api import Error, Frame
from shapelang.runtime.errors import ShapeError

RED, BOLD, DIM, RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
FOLD_AFTER = 3      # a frame repeated more often than this is folded into one line
SHOW_ENDS = 10      # a deeper call stack shows this many outermost and innermost calls
WIDTH = 100         # a longer source line is shown as a window around the column


def for_stderr(error: Error, source: Optional[str] = None) -> str:
    """`render`, coloured when stderr is a terminal and NO_COLOR is not set."""
    return render(error, source, color=use_color(sys.stderr))


def use_color(stream: object) -> bool:
    """Colour only on a terminal, and never with NO_COLOR (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except Exception:
        return False


def render(error: Error, source: Optional[str] = None, color: bool = False) -> str:
    first = error.render()
    lines = [f"{BOLD}{RED}{first}{RESET}" if color else first]
    excerpt = source_excerpt(error, source, color)
    if excerpt:
        lines.append(excerpt)
    if len(error.stack) > 1:
        lines.append(call_stack(error.stack, error.file, error.stack_omitted))
    if error.note:
        lines.append(f"note: {error.note}")
    return "\n".join(lines)


def source_excerpt(error: Error, source: Optional[str], color: bool = False) -> str:
    """The line the error points at with a caret under its column (rustc's layout)."""
    if source is None or error.line is None or error.line < 1:
        return ""
    text_lines = source.splitlines()
    if error.line > len(text_lines):
        return ""
    raw = text_lines[error.line - 1]
    text = raw.expandtabs(4).rstrip()
    if not text.strip():
        return ""
    col = None
    if error.col is not None and 1 <= error.col <= len(raw) + 1:
        col = len(raw[:error.col - 1].expandtabs(4))
    if len(text) > WIDTH:
        start = max(0, min((col or 0) - WIDTH // 2, len(text) - WIDTH))
        shown = text[start:start + WIDTH]
        if start > 0:
            shown = "…" + shown[1:]
        if start + WIDTH < len(text):
            shown = shown[:-1] + "…"
        text = shown
        if col is not None:
            col -= start
    number = str(error.line)
    pad = " " * len(number)
    shown = text
    if color:
        from shapelang.highlight import highlight_line
        shown = highlight_line(text)
    out = [f"{pad} |", f"{number} | {shown}"]
    if col is not None:
        caret = "^"
        out.append(f"{pad} | {' ' * col}{RED + caret + RESET if color else caret}")
    return "\n".join(out)


def call_stack(stack: Sequence[Frame], file: Optional[str], omitted: int = 0) -> str:
    """`Call stack (most recent call last):` with runs of one repeated frame folded (as
    Python does); a deep stack shows its SHOW_ENDS outermost and innermost entries only.
    `omitted` entries were already left out in the middle of `stack` (Error.of)."""
    where = file or "<input>"
    out = ["Call stack (most recent call last):"]
    if len(stack) > 2 * SHOW_ENDS:
        omitted += len(stack) - 2 * SHOW_ENDS
        stack = list(stack[:SHOW_ENDS]) + list(stack[-SHOW_ENDS:])
    if omitted:
        half = len(stack) // 2
        _fold(stack[:half], where, out)
        out.append(f"  [{_times(omitted, 'more call')} not shown]")
        _fold(stack[half:], where, out)
    else:
        _fold(stack, where, out)
    return "\n".join(out)


def _fold(stack: Sequence[Frame], where: str, out: list[str]) -> None:
    i = 0
    while i < len(stack):
        j = i
        while j + 1 < len(stack) and stack[j + 1] == stack[i]:
            j += 1
        run = j - i + 1
        for _ in range(min(run, FOLD_AFTER)):
            out.append(_frame_line(stack[i], where))
        if run > FOLD_AFTER:
            out.append(f"  [previous line repeated {_times(run - FOLD_AFTER, 'more time')}]")
        i = j + 1


def _times(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _frame_line(f: Frame, where: str) -> str:
    where = f.file or where
    pos = where if f.line is None else f"{where}:{f.line}" + ("" if f.col is None else f":{f.col}")
    return f"  {pos} in {f.name}"


def command_errors(command: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Errors of `shape COMMAND` (a store that is not there, an unknown snapshot id) name the
    command where a source file would be named: `Error: shape snapshot info: ResumeError: …`."""
    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except ShapeError as e:
                if e.file is None:
                    e.file = f"shape {command}"
                raise
        run.__doc__ = main.__doc__
        return run
    return wrap
