"""`std::core::file`: read and write whole files, and read them lazily line by line.

Upstream's functions, names and `Result` convention (crates/shape-runtime/src/stdlib/file.rs):
a failure of the file system is an `Err(message)` value in upstream's words; an argument of the
wrong type is a TypeError. Every read goes through the run's I/O context (context.py), which
fingerprints it as an input; every write is recorded as an output, so a resumed run neither
reads different bytes unnoticed nor writes anything twice (spec/io.md).
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.stdlib.checks import array_arg, at_most, string_arg
from shapelang.runtime.stdlib.context import current
from shapelang.runtime.stdlib.messages import os_error_text, utf8_error_text
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.values import UNIT, Err, Ok, type_name


def _failed(what: str, e: BaseException) -> Err:
    return Err(f"{what} failed: {os_error_text(e)}")


def read_input_text(what: str, path: str) -> Any:
    """Ok(text) of an input file, or the Err upstream gives for a missing file or bad UTF-8."""
    try:
        data = current().read_input(path)
    except (OSError, ValueError) as e:
        return _failed(what, e)
    try:
        return Ok(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        return Err(f"{what} invalid UTF-8: {utf8_error_text(e)}")


def split_lines(text: str) -> list:
    """Rust's `str::lines`: split at `\\n`, drop a `\\r` before it, no empty last line."""
    parts = text.split("\n")
    last = parts.pop()
    out = [p[:-1] if p.endswith("\r") else p for p in parts]
    if last:
        out.append(last)
    return out


def _read_text(args: list) -> Any:
    at_most("file.read_text()", args, 1)
    return read_input_text("file.read_text()", string_arg("file.read_text()", args, 0, "path"))


def _read_lines(args: list) -> Any:
    at_most("file.read_lines()", args, 1)
    r = read_input_text("file.read_lines()", string_arg("file.read_lines()", args, 0, "path"))
    return Ok(split_lines(r.value)) if type(r) is Ok else r


def _write(what: str, path: str, data: bytes, append: bool) -> Any:
    ctx = current()
    try:
        if append:
            ctx.append_output(path, data)
        else:
            ctx.write_output(path, data)
    except (OSError, ValueError) as e:
        return _failed(what, e)
    return Ok(UNIT)


def _write_text(args: list) -> Any:
    at_most("file.write_text()", args, 2)
    path = string_arg("file.write_text()", args, 0, "path")
    content = string_arg("file.write_text()", args, 1, "content")
    return _write("file.write_text()", path, content.encode("utf-8"), False)


def _append(args: list) -> Any:
    at_most("file.append()", args, 2)
    path = string_arg("file.append()", args, 0, "path")
    content = string_arg("file.append()", args, 1, "content")
    return _write("file.append()", path, content.encode("utf-8"), True)


def _read_bytes(args: list) -> Any:
    at_most("file.read_bytes()", args, 1)
    path = string_arg("file.read_bytes()", args, 0, "path")
    try:
        data = current().read_input(path)
    except (OSError, ValueError) as e:
        return _failed("file.read_bytes()", e)
    return Ok(list(data))


def _write_bytes(args: list) -> Any:
    at_most("file.write_bytes()", args, 2)
    path = string_arg("file.write_bytes()", args, 0, "path")
    out = bytearray()
    for i, b in enumerate(array_arg("file.write_bytes()", args, 1, "a data array")):
        t = type(b)
        if t is not int and t is not float:
            raise type_error(f"file.write_bytes() element {i} is not a number "
                             f"(got {type_name(b)})")
        if not (0 <= b <= 255) or b != int(b):
            raise ShapeError("ValueError", f"file.write_bytes() element {i} is not a valid "
                                           f"byte (0-255): {b}")
        out.append(int(b))
    return _write("file.write_bytes()", path, bytes(out), False)


def _lines(args: list) -> Any:
    at_most("file.lines()", args, 1)
    path = string_arg("file.lines()", args, 0, "path")
    try:
        key, fingerprint, _ = current().open_input(path)
    except (OSError, ValueError) as e:
        return _failed("file.lines()", e)
    return Ok(LineReader(key, fingerprint))


FUNCTIONS: dict[str, Callable[[list], Any]] = {
    "read_text": _read_text,
    "write_text": _write_text,
    "read_lines": _read_lines,
    "append": _append,
    "read_bytes": _read_bytes,
    "write_bytes": _write_bytes,
    "lines": _lines,
}
