"""`std::core::json`: parse JSON text into Shape values and serialize Shape values as JSON.

Upstream's functions (crates/shape-runtime/src/stdlib/json.rs). The mapping, as upstream's
untyped path maps it, with its integer rule:

| JSON | Shape |
|---|---|
| `null` | `None` |
| `true` / `false` | bool |
| a number without `.` or exponent that fits in 64 bits | `int` (`-0` is the number `-0.0`) |
| any other number | `number` (out of the double range: an error) |
| string | string |
| array | array |
| object | `HashMap` with string keys, in the order of the text (a repeated key keeps its first place and its last value) |

`stringify` writes what serde_json writes: no spaces (or two-space indentation when `pretty`),
numbers in Rust's shortest form (`1.0`, `1e16`, `1e-7`), `NaN` and infinities as `null`.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.checks import at_most, optional_bool, string_arg
from shapelang.runtime.stdlib.json_syntax import MAX_DEPTH, first_error
from shapelang.runtime.values import UNIT, Err, HashMapValue, Ok, StructValue, type_name

INT_MIN, INT_MAX = -2 ** 63, 2 ** 63 - 1
# Texts that Python's parser takes but serde_json may refuse: they go to the slow path.
_SUSPECT = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    """Python's parser accepted something serde_json does not."""


def _parse_int(s: str) -> Any:
    if s == "-0":
        return -0.0
    n = int(s)
    if INT_MIN <= n <= INT_MAX:
        return n
    try:
        return float(n)
    except OverflowError:
        raise _Refused() from None


def _parse_float(s: str) -> float:
    x = float(s)
    if math.isinf(x):
        raise _Refused()
    return x


def _parse_constant(s: str) -> Any:
    raise _Refused()


def _map(pairs: list) -> HashMapValue:
    return HashMapValue(dict(pairs))


def decode(text: str) -> Any:
    """The Shape value of a JSON text; ValueError with serde_json's message if it is invalid."""
    suspect = _SUSPECT.search(text) is not None or (
        text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(text))
    if not suspect:
        try:
            return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                              parse_constant=_parse_constant, object_pairs_hook=_map)
        except (_Refused, ValueError, RecursionError):
            pass
    message = first_error(text)
    if message is None:  # only lone surrogates send a valid text here: Python decodes it
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          object_pairs_hook=_map)
    raise ValueError(message)


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _too_deep(text: str) -> bool:
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c in "]}":
            depth -= 1
    return False


# ---------------------------------------------------------------- serializing

def format_number(x: float) -> str:
    """A double as serde_json writes it (Rust's ryu / zmij shortest form)."""
    if x != x or x in (math.inf, -math.inf):
        return "null"
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    k = (int(exp) if exp else 0) - len(frac)   # value = int(whole + frac) * 10**k
    if not digits:
        return sign + "0.0"
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k                              # 10**(kk-1) <= value < 10**kk
    if 0 <= k and kk <= 16:
        return sign + digits + "0" * k + ".0"
    if 0 < kk <= 16:
        return sign + digits[:kk] + "." + digits[kk:]
    if -5 < kk <= 0:
        return sign + "0." + "0" * (-kk) + digits
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


_STR = json.encoder.encode_basestring  # serde_json's escapes: \" \\ \b \f \n \r \t \u00XX


def encode(value: Any, pretty: bool) -> str:
    """The JSON text of a Shape value; ValueError if the value contains itself."""
    out: list[str] = []
    active: set[int] = set()
    # Work items: a value to write, or a literal string (closing brackets, separators).
    stack: list[tuple[bool, Any, int]] = [(False, value, 0)]
    indent = "  " if pretty else None
    while stack:
        literal, v, depth = stack.pop()
        if literal:
            if type(v) is int:          # leaving a container: it may appear again elsewhere
                active.discard(v)
            else:
                out.append(v)
            continue
        t = type(v)
        if t is str:
            out.append(_STR(v))
        elif t is bool:
            out.append("true" if v else "false")
        elif t is int:
            out.append(str(v))
        elif t is float:
            out.append(format_number(v))
        elif v is None or v is UNIT:
            out.append("null")
        elif t is list or t is dict or t is HashMapValue or isinstance(v, StructValue) \
                or t is Ok or t is Err:
            if t is Ok or t is Err:
                items = [("status", "ok" if t is Ok else "error"), ("value", v.value)]
                keyed = True
            elif t is list:
                items, keyed = v, False
            elif t is HashMapValue:
                items = [(k if type(k) is str else display(k), x) for k, x in v.items_list()]
                keyed = True
            else:
                fields = v if t is dict else v.fields
                items, keyed = list(fields.items()), True
            if not items:
                out.append("{}" if keyed else "[]")
                continue
            if id(v) in active:
                raise ValueError("the value contains itself")
            if t is not Ok and t is not Err:
                active.add(id(v))
            open_, close = ("{", "}") if keyed else ("[", "]")
            inner = "\n" + indent * (depth + 1) if pretty else ""
            sep = "," + inner
            colon = ": " if pretty else ":"
            out.append(open_ + inner)
            todo: list[tuple[bool, Any, int]] = [(True, id(v), 0)]
            todo.append((True, ("\n" + indent * depth if pretty else "") + close, 0))
            for n in range(len(items) - 1, -1, -1):
                if keyed:
                    k, x = items[n]
                    todo.append((False, x, depth + 1))
                    todo.append((True, _STR(k) + colon, 0))
                else:
                    todo.append((False, items[n], depth + 1))
                if n:
                    todo.append((True, sep, 0))
            stack.extend(todo)
        else:
            out.append(_STR(f"<{type_name(v)}>"))
    return "".join(out)


# ---------------------------------------------------------------- the module

def _parse(args: list) -> Any:
    at_most("json.parse()", args, 1)
    text = string_arg("json.parse()", args, 0, "text")
    try:
        return Ok(decode(text))
    except ValueError as e:
        return Err(f"json.parse() failed: {e}")


def _stringify(args: list) -> Any:
    at_most("json.stringify()", args, 2)
    if not args:
        raise ShapeError("TypeError", "json.stringify() requires a value argument")
    pretty = optional_bool("json.stringify()", args, 1, "pretty")
    try:
        return Ok(encode(args[0], pretty))
    except ValueError as e:
        return Err(f"json.stringify() failed: {e}")


def _is_valid(args: list) -> Any:
    at_most("json.is_valid()", args, 1)
    text = string_arg("json.is_valid()", args, 0, "text")
    try:
        decode(text)
    except ValueError:
        return False
    return True


FUNCTIONS: dict[str, Callable[[list], Any]] = {
    "parse": _parse, "stringify": _stringify, "is_valid": _is_valid,
}
