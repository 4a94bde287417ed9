"""Where a JSON text goes wrong, in the words of upstream's parser (serde_json).

Python's `json` module parses valid JSON fast but accepts texts serde_json refuses (`NaN`,
`1e400`, lone surrogate escapes, nesting deeper than 127) and words its errors differently. This
module is the slow path, used only when a text is or may be invalid: it walks the text the way
serde_json does and reports the first error with serde_json's message and position, for example
`expected value at line 1 column 1` or `EOF while parsing a list at line 1 column 2`. The
column counts bytes after the last newline, as serde_json counts them.
"""
from __future__ import annotations

from typing import Optional

MAX_DEPTH = 127   # serde_json's recursion limit: the 128th nested array or object is refused

_WS = b" \t\n\r"
_HEX = b"0123456789abcdefABCDEF"


class _Fail(Exception):
    def __init__(self, message: str, index: int) -> None:
        self.message = message
        self.index = index


def first_error(text: str) -> Optional[str]:
    """serde_json's message for the first error in `text`, or None if it accepts it."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        _Walker(data).document()
    except _Fail as f:
        return f"{f.message} at {_position(data, f.index)}"
    return None


def _position(data: bytes, index: int) -> str:
    line = data.count(b"\n", 0, index) + 1
    start = data.rfind(b"\n", 0, index) + 1
    return f"line {line} column {index - start}"


class _Walker:
    """serde_json's deserializer, reduced to finding errors. `self.i` is its read index; an
    error at the current position uses `err` (serde's `error`), one at the next byte `peek_err`
    (serde's `peek_error`, one byte further on unless at the end)."""

    def __init__(self, data: bytes) -> None:
        self.d = data
        self.i = 0
        self.n = len(data)

    def err(self, message: str) -> _Fail:
        return _Fail(message, self.i)

    def peek_err(self, message: str) -> _Fail:
        return _Fail(message, min(self.n, self.i + 1))

    def ws(self) -> Optional[int]:
        d, i, n = self.d, self.i, self.n
        while i < n and d[i] in _WS:
            i += 1
        self.i = i
        return d[i] if i < n else None

    def document(self) -> None:
        self.value(0)
        if self.ws() is not None:
            raise self.peek_err("trailing characters")

    def value(self, depth: int) -> None:
        # Arrays and objects are walked with an explicit stack: nesting is bounded by
        # MAX_DEPTH, but a text may hold a long run of brackets before the limit is checked.
        stack: list[tuple[int, bool]] = []   # (closing byte, first element still to come)
        while True:
            c = self.ws()
            if c is None:
                raise self.peek_err("EOF while parsing a value")
            if c == 0x5B or c == 0x7B:        # [ {
                if depth + len(stack) + 1 > MAX_DEPTH:
                    raise self.peek_err("recursion limit exceeded")
                self.i += 1
                close = 0x5D if c == 0x5B else 0x7D
                stack.append((close, True))
                if not self.open_next(stack):
                    continue
            else:
                self.scalar(c)
            # A value is complete: close containers until one wants another element.
            while stack:
                if self.after_element(stack):
                    break
            else:
                return

    def open_next(self, stack: list) -> bool:
        """At the start of a container (or after its comma): True if it closed at once."""
        close, first = stack[-1]
        c = self.ws()
        if c == close and first:
            self.i += 1
            stack.pop()
            return True
        stack[-1] = (close, False)
        if close == 0x5D:
            if c is None:
                raise self.peek_err("EOF while parsing a list")
            return False
        if c is None:
            raise self.peek_err("EOF while parsing an object")
        if c != 0x22:
            raise self.peek_err("key must be a string")
        self.i += 1
        self.string()
        c = self.ws()
        if c == 0x3A:
            self.i += 1
            return False
        if c is None:
            raise self.peek_err("EOF while parsing an object")
        raise self.peek_err("expected `:`")

    def after_element(self, stack: list) -> bool:
        """After an element: True if another element follows (the caller parses it)."""
        close, _ = stack[-1]
        c = self.ws()
        if c == close:
            self.i += 1
            stack.pop()
            return False
        if c == 0x2C:
            self.i += 1
            c = self.ws()
            if c == close:
                raise self.peek_err("trailing comma")
            if close == 0x5D:
                if c is None:
                    raise self.peek_err("EOF while parsing a value")
                return True
            if c is None:
                raise self.peek_err("EOF while parsing a value")
            if c != 0x22:
                raise self.peek_err("key must be a string")
            self.i += 1
            self.string()
            c = self.ws()
            if c == 0x3A:
                self.i += 1
                return True
            if c is None:
                raise self.peek_err("EOF while parsing an object")
            raise self.peek_err("expected `:`")
        if c is None:
            raise self.peek_err("EOF while parsing a list" if close == 0x5D
                                else "EOF while parsing an object")
        raise self.peek_err("expected `,` or `]`" if close == 0x5D else "expected `,` or `}`")

    def scalar(self, c: int) -> None:
        if c == 0x22:
            self.i += 1
            self.string()
        elif c == 0x6E:
            self.i += 1
            self.ident(b"ull")
        elif c == 0x74:
            self.i += 1
            self.ident(b"rue")
        elif c == 0x66:
            self.i += 1
            self.ident(b"alse")
        elif c == 0x2D:
            self.i += 1
            self.number()
        elif 0x30 <= c <= 0x39:
            self.number()
        else:
            raise self.peek_err("expected value")

    def ident(self, rest: bytes) -> None:
        for want in rest:
            if self.i >= self.n:
                raise self.err("EOF while parsing a value")
            got = self.d[self.i]
            self.i += 1
            if got != want:
                raise self.err("expected ident")

    def digits(self) -> int:
        start = self.i
        while self.i < self.n and 0x30 <= self.d[self.i] <= 0x39:
            self.i += 1
        return self.i - start

    def number(self) -> None:
        d, start = self.d, self.i
        if self.i >= self.n:
            raise self.err("EOF while parsing a value")
        first = d[self.i]
        self.i += 1
        if first == 0x30:
            if self.i < self.n and 0x30 <= d[self.i] <= 0x39:
                raise self.peek_err("invalid number")
        elif 0x31 <= first <= 0x39:
            self.digits()
        else:
            raise self.err("invalid number")
        is_float = False
        if self.i < self.n and d[self.i] == 0x2E:
            is_float = True
            self.i += 1
            if self.digits() == 0:
                if self.i < self.n:
                    raise self.peek_err("invalid number")
                raise self.peek_err("EOF while parsing a value")
        if self.i < self.n and d[self.i] in b"eE":
            is_float = True
            self.i += 1
            if self.i < self.n and d[self.i] in b"+-":
                self.i += 1
            if self.i >= self.n:
                raise self.err("EOF while parsing a value")
            c = d[self.i]
            self.i += 1
            if not 0x30 <= c <= 0x39:
                raise self.err("invalid number")
            self.digits()
        text = d[start:self.i].decode("ascii")
        if is_float or len(text) > 18:
            try:
                out_of_range = float(text) in (float("inf"), float("-inf"))
            except (ValueError, OverflowError):
                out_of_range = True
            if out_of_range:
                raise self.err("number out of range")

    def string(self) -> None:
        d, n = self.d, self.n
        while True:
            i = self.i
            while i < n and d[i] != 0x22 and d[i] != 0x5C and d[i] >= 0x20:
                i += 1
            if i >= n:
                self.i = n
                raise self.err("EOF while parsing a string")
            c = d[i]
            self.i = i + 1
            if c == 0x22:
                return
            if c != 0x5C:
                raise self.err("control character (\\u0000-\\u001F) found while parsing a string")
            self.escape()

    def escape(self) -> None:
        if self.i >= self.n:
            raise self.err("EOF while parsing a string")
        c = self.d[self.i]
        self.i += 1
        if c in b"\"\\/bfnrt":
            return
        if c != 0x75:
            raise self.err("invalid escape")
        n = self.hex4()
        if 0xDC00 <= n <= 0xDFFF:
            raise self.err("lone leading surrogate in hex escape")
        if not 0xD800 <= n <= 0xDBFF:
            return
        for want in b"\\u":
            if self.i >= self.n:
                raise self.err("EOF while parsing a string")
            got = self.d[self.i]
            self.i += 1
            if got != want:
                raise self.err("unexpected end of hex escape")
        n2 = self.hex4()
        if not 0xDC00 <= n2 <= 0xDFFF:
            raise self.err("lone leading surrogate in hex escape")

    def hex4(self) -> int:
        if self.i + 4 > self.n:
            self.i = self.n
            raise self.err("EOF while parsing a string")
        h = self.d[self.i:self.i + 4]
        self.i += 4
        if any(b not in _HEX for b in h):
            raise self.err("invalid escape")
        return int(h, 16)
