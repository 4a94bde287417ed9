"""`std::core::csv`: parse CSV text into rows or records and write rows or records as CSV.

Upstream's functions (crates/shape-runtime/src/stdlib/csv_module.rs), which use Rust's `csv`
crate with its defaults. That dialect, which this module keeps:

- fields are separated by `,`; records end at `\\n`, `\\r\\n` or `\\r`; empty lines are skipped;
- a field may be quoted with `"`, and `""` inside quotes is one `"`; a quote inside an unquoted
  field is an ordinary character; nothing is trimmed;
- every record must have as many fields as the first (the header for `parse_records`); a record
  that does not is an error naming its position, in the crate's words;
- writing quotes a field only when it holds the delimiter, a quote, `\\r` or `\\n` (or when it is
  the only field of its record and empty), and ends every record with `\\n`.

Reading uses Python's `csv` module, whose reading of this dialect is the same once empty lines
are dropped; errors and writing are done here, to match the crate's words and quoting.
"""
from __future__ import annotations

import csv
import gc
import io
import sys
from typing import Any, Callable, Iterator

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.stdlib.checks import array_arg, at_most, string_arg
from shapelang.runtime.stdlib.context import current
from shapelang.runtime.stdlib.messages import os_error_text
from shapelang.runtime.values import Err, HashMapValue, Ok, StructValue

# The crate has no limit on the length of a field; Python's default is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))


class CsvError(ValueError):
    """A record whose length differs from the first record's (the crate's UnequalLengths)."""


def parse_rows(text: str) -> list:
    """Every record of `text` as a list of strings; CsvError for a record of the wrong length."""
    # Lists of strings hold no cycles: the cyclic collector, which would otherwise go over
    # every row made so far again and again while they pile up, is paused while they are made.
    paused = gc.isenabled()
    gc.disable()
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    finally:
        if paused:
            gc.enable()
    if rows and len({len(r) for r in rows}) > 1:
        raise CsvError(_first_unequal(text))
    return rows


def _first_unequal(text: str) -> str:
    """The crate's message for the first record of another length, with its position (record
    number from 0, line from 1, byte offset of the record's start)."""
    state = {"bytes": 0, "lines": 0}

    def lines() -> Iterator[str]:
        for ln in io.StringIO(text, newline=""):
            state["bytes"] += len(ln.encode("utf-8"))
            state["lines"] += ln.count("\n")
            yield ln

    start_bytes, start_lines, expected, record = 0, 0, None, 0
    for row in csv.reader(lines()):
        if row:
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                return (f"CSV error: record {record} (line: {start_lines + 1}, byte: "
                        f"{start_bytes}): found record with {len(row)} fields, but the "
                        f"previous record has {expected} fields")
            record += 1
        start_bytes, start_lines = state["bytes"], state["lines"]
    raise AssertionError("no record of another length")  # pragma: no cover


def write_rows(rows: list, delimiter: str = ",") -> str:
    special = (delimiter, '"', "\r", "\n")
    out: list[str] = []
    for row in rows:
        if len(row) == 1 and row[0] == "":
            out.append('""\n')   # an empty line would be skipped when read back
            continue
        fields = []
        for f in row:
            if any(c in f for c in special):
                f = '"' + f.replace('"', '""') + '"'
            fields.append(f)
        out.append(delimiter.join(fields) + "\n")
    return "".join(out)


def _field(v: Any) -> str:
    return v if type(v) is str else display(v)


# ---------------------------------------------------------------- the module

def _parse(args: list) -> Any:
    at_most("csv.parse()", args, 1)
    text = string_arg("csv.parse()", args, 0, "text")
    try:
        return parse_rows(text)
    except CsvError as e:
        raise ShapeError("ValueError", f"csv.parse() failed: {e}") from None


def records(rows: list) -> list:
    if not rows:
        return []
    headers = rows[0]
    return [HashMapValue(dict(zip(headers, r))) for r in rows[1:]]


def _parse_records(args: list) -> Any:
    at_most("csv.parse_records()", args, 1)
    text = string_arg("csv.parse_records()", args, 0, "text")
    try:
        return records(parse_rows(text))
    except CsvError as e:
        raise ShapeError("ValueError", f"csv.parse_records() failed: {e}") from None


def _delimiter(what: str, args: list) -> str:
    if len(args) < 2:
        return ","
    d = args[1]
    if type(d) is not str:
        raise type_error(f"{what} delimiter must be a string")
    if d == "":
        return ","   # upstream: no first byte, so the default
    if not d[0].isascii():
        raise ShapeError("ValueError", f"{what} delimiter must be an ASCII character")
    return d[0]


def _stringify(args: list) -> Any:
    at_most("csv.stringify()", args, 2)
    data = array_arg("csv.stringify()", args, 0, "an Array<Array<string>> argument")
    delimiter = _delimiter("csv.stringify()", args)
    rows = []
    for row in data:
        if type(row) is not list:
            raise type_error("csv.stringify() each row must be an Array<string>")
        rows.append([_field(f) for f in row])
    return write_rows(rows, delimiter)


def _record_items(what: str, rec: Any) -> dict:
    t = type(rec)
    if t is HashMapValue:
        return {k: v for k, v in rec.items_list()}
    if t is dict:
        return rec
    if isinstance(rec, StructValue):
        return rec.fields
    raise type_error(f"{what} each element must be a HashMap")


def _stringify_records(args: list) -> Any:
    what = "csv.stringify_records()"
    at_most(what, args, 2)
    data = array_arg(what, args, 0, "an Array<HashMap<string, string>> argument")
    headers: list = []
    if len(args) > 1 and type(args[1]) is list:
        headers = [h for h in args[1] if type(h) is str]
    elif len(args) > 1 and args[1] is not None:
        raise type_error(f"{what} headers must be an Array<string>")
    if not headers:
        if not data:
            return ""
        headers = [k for k in _record_items(what, data[0]) if type(k) is str]
    rows = [headers]
    for rec in data:
        items = _record_items(what, rec)
        rows.append([_field(items[h]) if h in items else "" for h in headers])
    return write_rows(rows)


def _read_file(args: list) -> Any:
    at_most("csv.read_file()", args, 1)
    path = string_arg("csv.read_file()", args, 0, "path")
    try:
        data = current().read_input(path)
    except (OSError, ValueError) as e:
        return Err(f"csv.read_file() failed to read '{path}': {os_error_text(e)}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Err(f"csv.read_file() failed to read '{path}': stream did not contain valid UTF-8")
    try:
        return Ok(parse_rows(text))
    except CsvError as e:
        return Err(f"csv.read_file() parse error: {e}")


def _is_valid(args: list) -> Any:
    at_most("csv.is_valid()", args, 1)
    text = string_arg("csv.is_valid()", args, 0, "text")
    try:
        parse_rows(text)
    except CsvError:
        return False
    return True


FUNCTIONS: dict[str, Callable[[list], Any]] = {
    "parse": _parse, "parse_records": _parse_records, "stringify": _stringify,
    "stringify_records": _stringify_records, "read_file": _read_file, "is_valid": _is_valid,
}
