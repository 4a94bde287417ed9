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
    __slots__ = ("path", "fingerprint", "done", "_offset", "_line", "_lines", "_i", "_chunk",
                 "_tail")
    SHAPE_TYPE = "LineReader"
    FIELDS = ("path", "fingerprint", "offset", "line", "done")

    # What is read ahead: `_lines`, the lines of `_chunk` (the bytes at `_offset`, without the
    # newline after its last line when `_tail` is 1), of which `_i` are returned. `offset` and
    # `line` are worked out from them when asked (a snapshot asks), so returning a line only
    # moves `_i`.

    def __init__(self, path: str, fingerprint: str, offset: int = 0, line: int = 0,
                 done: bool = False) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.offset = offset
        self.line = line
        self.done = done

    def __repr__(self) -> str:
        return f"LineReader({self.path!r}, offset={self.offset}, line={self.line})"

    @property
    def offset(self) -> int:
        """The byte offset of the next line."""
        try:
            i, lines, chunk, offset = self._i, self._lines, self._chunk, self._offset
        except AttributeError:          # a reader the codec is filling in
            return getattr(self, "_offset", 0)
        if not i or lines is None:
            return offset
        parts = chunk.split(b"\n", i)
        if len(parts) <= i:             # every line of the chunk is returned
            return offset + len(chunk) + self._tail
        return offset + len(chunk) - len(parts[i])

    @offset.setter
    def offset(self, value: int) -> None:
        self._settle()
        self._offset = value

    @property
    def line(self) -> int:
        """How many lines the reader has returned."""
        try:
            line, lines = self._line, self._lines
        except AttributeError:          # a reader the codec is filling in
            return getattr(self, "_line", 0)
        return line if lines is None else line + self._i

    @line.setter
    def line(self, value: int) -> None:
        self._settle()
        self._line = value

    def _settle(self) -> None:
        """Fold what was returned of the lines read ahead into `_offset` and `_line`, and drop
        the rest (it is read again from there)."""
        if getattr(self, "_lines", None) is not None:
            self._offset, self._line = self.offset, self.line
        self._lines, self._i, self._chunk, self._tail = None, 0, b"", 0

    def well_formed(self) -> bool:
        """Whether the fields are what a reader can hold (a snapshot's may be forged)."""
        offset, line = self.offset, self.line
        return (type(self.path) is str and os.path.isabs(self.path) and "\x00" not in self.path
                and type(self.fingerprint) is str and _HEX64.fullmatch(self.fingerprint) is not None
                and type(offset) is int and 0 <= offset < 2 ** 63
                and type(line) is int and 0 <= line < 2 ** 63
                and type(self.done) is bool)

    def shape_display(self) -> str:
        return f"[LineReader {self.path}]"

    def next_line(self) -> Optional[str]:
        """The next line, or None once the file is exhausted (and from then on)."""
        try:
            i = self._i
            line = self._lines[i]
        except (AttributeError, TypeError, IndexError):
            # Nothing read ahead (a new reader, one made by the codec), the lines read ahead
            # are used up, or the reader is done.
            if self.done or not self._refill():
                return None
            i, line = 0, self._lines[0]
        self._i = i + 1
        return line

    def _refill(self) -> bool:
        self._settle()
        ctx = current()
        data = b""
        while True:
            try:
                block = ctx.read_block(self.path, self.fingerprint, self._offset + len(data),
                                       CHUNK)
            except OSError as e:
                raise ShapeError("IOError", f"Cannot read {self.path}: {os_error_text(e)}") from None
            data += block
            cut = data.rfind(b"\n")
            if cut >= 0 or len(block) < CHUNK:
                break
        if not data:
            self.done = True
            return False
        if cut >= 0:
            chunk, tail = data[:cut], 1
        else:
            chunk, tail = data, 0                # the last line, without a newline
        try:
            text = chunk.decode("utf-8")         # valid as a whole iff every line is
        except UnicodeDecodeError:
            lines = self._valid_lines(chunk)
        else:
            lines = text.split("\n")
            if tail and "\r" in text:
                lines = [p[:-1] if p.endswith("\r") else p for p in lines]
        self._lines, self._i, self._chunk, self._tail = lines, 0, chunk, tail
        return True

    def _valid_lines(self, chunk: bytes) -> list:
        """The lines of `chunk` before its first one that is not UTF-8: the error comes when
        that line is reached (the next refill starts there)."""
        parts = [p[:-1] if p.endswith(b"\r") else p for p in chunk.split(b"\n")]
        bad = next(n for n, p in enumerate(parts) if not _is_utf8(p))
        if bad == 0:
            try:
                parts[0].decode("utf-8")
            except UnicodeDecodeError as e:
                raise ShapeError("IOError", f"{self.path}: line {self.line + 1} is not "
                                            f"valid UTF-8 ({utf8_error_text(e)})") from None
        return [p.decode("utf-8") for p in parts[:bad]]

    def shape_call_method(self, name: str, args: list) -> Any:
        if name == "next":
            return reader_next(self, args)
        raise type_error(f"Unknown method '{name}' on LineReader")


def reader_next(reader: LineReader, args: list) -> Optional[str]:
    """`reader.next()`: the next line, or None once the file is exhausted. Also in the reader's
    method table (runtime/methods.py), so the VM calls it as directly as an array's methods."""
    if args:
        argc("next()", args, 0)
    return reader.next_line()


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
