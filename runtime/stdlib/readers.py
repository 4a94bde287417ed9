"""The lazy line reader `file.lines(path)`: a text file, one line at a time, in little memory.

A reader is plain data: the absolute path, the fingerprint of the file it reads, the byte offset
of its next line, how many lines it has returned and whether it is done. That is all a snapshot
keeps of it (`FIELDS`), so a resumed run continues at the same line, after the resume has checked
the file's fingerprint (or reads the pinned bytes from the store). What the reader has read ahead
lives in attributes the codec never sees and is rebuilt from the offset.

Lines are split as `file.read_lines` splits them (Rust's `str::lines`): at `\n`, with a `\r`
before it dropped; a last line without `\n` is returned as it is.
"""
from __future__ import annotations

import os
import re
from typing import Any, Optional

from shapelang.runtime.arguments import argc
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.stdlib.context import CHUNK, current
from shapelang.runtime.stdlib.messages import os_error_text, utf8_error_text


_HEX64 = re.compile(r"[0-9a-f]{64}")


class LineReader:
    __slots__ = ("path", "fingerprint", "offset", "line", "done", "_lines", "_sizes", "_i")
    SHAPE_TYPE = "LineReader"
    FIELDS = ("path", "fingerprint", "offset", "line", "done")

    def __init__(self, path: str, fingerprint: str, offset: int = 0, line: int = 0,
                 done: bool = False) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.offset = offset
        self.line = line
        self.done = done

    def __repr__(self) -> str:
        return f"LineReader({self.path!r}, offset={self.offset}, line={self.line})"

    def well_formed(self) -> bool:
        """Whether the fields are what a reader can hold (a snapshot's may be forged)."""
        return (type(self.path) is str and os.path.isabs(self.path) and "\x00" not in self.path
                and type(self.fingerprint) is str and _HEX64.fullmatch(self.fingerprint) is not None
                and type(self.offset) is int and 0 <= self.offset < 2 ** 63
                and type(self.line) is int and 0 <= self.line < 2 ** 63
                and type(self.done) is bool)

    def shape_display(self) -> str:
        return f"[LineReader {self.path}]"

    def next_line(self) -> Optional[str]:
        """The next line, or None once the file is exhausted (and from then on)."""
        if self.done:
            return None
        try:
            i = self._i
            lines = self._lines
        except AttributeError:   # a reader made by the codec has read nothing ahead
            i, lines = 0, None
        if lines is None or i >= len(lines):
            if not self._refill():
                return None
            i, lines = 0, self._lines
        self._i = i + 1
        self.offset += self._sizes[i]
        self.line += 1
        return lines[i]

    def _refill(self) -> bool:
        ctx = current()
        data = b""
        while True:
            try:
                block = ctx.read_block(self.path, self.fingerprint, self.offset + len(data), CHUNK)
            except OSError as e:
                raise ShapeError("IOError", f"Cannot read {self.path}: {os_error_text(e)}") from None
            data += block
            cut = data.rfind(b"\n")
            if cut >= 0 or len(block) < CHUNK:
                break
        if not data:
            self.done = True
            self._lines, self._sizes, self._i = None, None, 0
            return False
        if cut >= 0:
            parts = data[:cut].split(b"\n")
            sizes = [len(p) + 1 for p in parts]
            parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
        else:
            parts, sizes = [data], [len(data)]   # the last line, without a newline
        try:
            self._lines = [p.decode("utf-8") for p in parts]
        except UnicodeDecodeError:
            # The lines before the bad one are returned; the error comes when it is reached
            # (the next refill starts there).
            bad = next(n for n, p in enumerate(parts) if not _is_utf8(p))
            if bad == 0:
                self._lines = None
                try:
                    parts[0].decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ShapeError("IOError", f"{self.path}: line {self.line + 1} is not "
                                                f"valid UTF-8 ({utf8_error_text(e)})") from None
            self._lines = [p.decode("utf-8") for p in parts[:bad]]
            sizes = sizes[:bad]
        self._sizes = sizes
        self._i = 0
        return True

    def shape_call_method(self, name: str, args: list) -> Any:
        if name == "next":
            argc("next()", args, 0)
            return self.next_line()
        raise type_error(f"Unknown method '{name}' on LineReader")


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
