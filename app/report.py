"""What the tools show while and after they work: one progress display and one table format for
`shape conformance`, `shape fuzz` and `shape bench`, and the store and job listings (with their
times in UTC).

Progress is live on a terminal (a rich progress bar on stderr, gone when done) and a plain line
every `every` seconds otherwise, so a CI log shows a run is alive without filling up. Tables are
plain text (no colour, no box drawing): they end up in logs, READMEs and test assertions.
Rich is imported only when a table or a live bar is drawn. A report file named on the command
line is checked before the work starts (`report_path_problem`), not when it is written at the end.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional, Sequence, TextIO


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = (),
          total: Optional[Sequence[Any]] = None) -> str:
    """The rows under the header, columns two spaces apart, the columns in `right` (by index)
    right-aligned; a `total` row comes last, under a rule."""
    from rich.box import Box
    from rich.console import Console
    from rich.table import Table
    rules = Box("    \n    \n -- \n    \n -- \n    \n    \n    \n", ascii=True)   # header and total rules
    t = Table(box=rules, show_edge=False, pad_edge=False, padding=(0, 1),
              show_footer=False, collapse_padding=True)
    for i, name in enumerate(header):
        t.add_column(str(name), justify="right" if i in right else "left", no_wrap=True)
    for n, row in enumerate(rows):
        t.add_row(*(str(c) for c in row), end_section=(total is not None and n == len(rows) - 1))
    if total is not None:
        t.add_row(*(str(c) for c in total))
    console = Console(width=10_000, color_system=None, force_terminal=False, record=False,
                      file=_Null(), highlight=False, emoji=False, markup=False)
    with console.capture() as captured:
        console.print(t)
    lines = [line.rstrip() for line in captured.get().splitlines() if line.strip()]
    # rich leaves one column of edge padding before every line; only that column goes (a
    # right-aligned first column keeps the spaces that align it)
    if all(line.startswith(" ") for line in lines):
        lines = [line[1:] for line in lines]
    return "\n".join(lines)


UNKNOWN_TIME = "????-??-??T??:??:??Z"


def iso_utc(ts: float) -> str:
    """A stored time as UTC ISO 8601 (`2026-11-27T09:15:02Z`); UNKNOWN_TIME for a damaged one."""
    import datetime
    try:
        if ts > 0:
            return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError, TypeError):
        pass
    return UNKNOWN_TIME


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class Progress:
    """Progress through `total` units of work.

        with Progress(len(tasks), "runs") as p:
            for t in tasks:
                ...
                p.advance(failed=n_failed)

    On a terminal: a live bar (rich) on `stream`. Elsewhere: `label: done/total (pct), key=value…`
    every `every` seconds and once at the end. `enabled=False` shows nothing."""

    def __init__(self, total: Optional[int], label: str, stream: Optional[TextIO] = None,
                 enabled: bool = True, every: float = 30.0, live: Optional[bool] = None) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.every = every
        self.done = 0
        self.fields: dict[str, Any] = {}
        self.started = self.last = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        if live is None:
            try:
                live = self.stream.isatty()
            except Exception:
                live = False
        self.live = live and enabled

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                       TextColumn, TimeElapsedColumn)
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("{task.fields[extra]}"),
                            console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, extra="")
        return self

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.done += n
        self.fields.update(fields)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=n, extra=self._extra())
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def _extra(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.fields.items())

    def _line(self) -> None:
        if self.total:
            head = f"{self.label}: {self.done}/{self.total} ({100 * self.done // self.total}%)"
        else:
            head = f"{self.label}: {self.done}"
        extra = self._extra()
        elapsed = time.monotonic() - self.started
        try:
            self.stream.write(f"{head}{', ' + extra if extra else ''} after {elapsed:.0f} s\n")
            self.stream.flush()
        except Exception:  # a closed stderr must not stop the work
            pass

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.enabled and time.monotonic() - self.started >= self.every:
            self._line()     # a periodic log gets its last line too

    def __exit__(self, *exc: Any) -> None:
        self.close()


def report_path_problem(path: str) -> Optional[str]:
    """Why a tool could not write its report to `path` at the end of a long run (a directory,
    or in a directory that does not exist), or None."""
    if os.path.isdir(path):
        return "is a directory"
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return "is in a directory that does not exist"
    return None
