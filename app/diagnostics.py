"""How an error is shown to a person: the one-line `Error: FILE:LINE:COL: KIND: message` first
(scripts grep it), then, as Python 3.11 and rustc do, the source line with a caret under the
column and the Shape call stack, most recent call last, with long recursions folded.
Colour only when asked (the CLI asks on a terminal without NO_COLOR)."""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from shapelang.api import Error, Frame

RED, BOLD, DIM, RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
FOLD_AFTER = 3      # a frame repeated more often than this is folded into one line
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
        lines.append(call_stack(error.stack, error.file))
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


def call_stack(stack: Sequence[Frame], file: Optional[str]) -> str:
    """`Call stack (most recent call last):` with runs of one repeated frame folded."""
    where = file or "<input>"
    out = ["Call stack (most recent call last):"]
    i = 0
    while i < len(stack):
        j = i
        while j + 1 < len(stack) and stack[j + 1] == stack[i]:
            j += 1
        run = j - i + 1
        for _ in range(min(run, FOLD_AFTER)):
            out.append(_frame_line(stack[i], where))
        if run > FOLD_AFTER:
            out.append(f"  [previous line repeated {run - FOLD_AFTER} more times]")
        i = j + 1
    return "\n".join(out)


def _frame_line(f: Frame, where: str) -> str:
    pos = where if f.line is None else f"{where}:{f.line}" + ("" if f.col is None else f":{f.col}")
    return f"  {pos} in {f.name}"
