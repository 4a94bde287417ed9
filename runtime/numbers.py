"""Numbers: the int64 range, and conversions between strings, ints and numbers."""
from __future__ import annotations

import math
import re
from typing import Any

from shapelang.runtime.display import format_float
from shapelang.runtime.errors import type_error, value_error
from shapelang.runtime.values import INT_MAX, INT_MIN, type_name

INF = math.inf


def check_int(x: int) -> Any:
    """An int result that leaves the signed 64-bit range becomes a number."""
    if -0x8000000000000000 <= x <= 0x7FFFFFFFFFFFFFFF:
        return x
    try:
        return float(x)
    except OverflowError:
        return INF if x > 0 else -INF


def wrap_int(x: int, bits: int = 64, signed: bool = True) -> int:
    """The int whose low `bits` bits are those of `x` (two's complement when signed): what a
    shift left keeps of its result, and what a width-typed slot (u8, i32, …) stores."""
    x &= (1 << bits) - 1
    if signed and x >> (bits - 1):
        x -= 1 << bits
    return x


_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def parse_number(s: str) -> Any:
    """Decimal int or float syntax; an int outside 64 bits becomes a number. None if invalid."""
    s = s.strip()
    if _INT_RE.fullmatch(s):
        if len(s) > 30:
            # Beyond int64 anyway; int() would also refuse very long digit strings.
            return float(s)
        return check_int(int(s))
    if _NUMBER_RE.fullmatch(s):
        return float(s)
    return None


def to_number(x: Any, what: str) -> Any:
    t = type(x)
    if t is int or t is float:
        return x
    if t is str:
        r = parse_number(x)
        if r is None:
            raise value_error(f"Cannot convert '{x}' to a number")
        return r
    raise type_error(f"{what} expects a string or number, got {type_name(x)}")


def to_int(x: Any, what: str) -> int:
    t = type(x)
    if t is str:
        r = parse_number(x)
        if r is None:
            raise value_error(f"Cannot convert '{x}' to an int")
        x = r
        t = type(x)
    if t is int:
        return x
    if t is float:
        if x != x or x in (INF, -INF):
            raise value_error(f"Cannot convert {format_float(x)} to an int")
        r = int(x)  # truncates toward zero
        if INT_MIN <= r <= INT_MAX:
            return r
        raise value_error(f"{format_float(x)} is out of the int range")
    raise type_error(f"{what} expects a string or number, got {type_name(x)}")


def _round_half_away(x: float) -> Any:
    if x != x or x in (INF, -INF):
        return x
    a = abs(x)
    f = math.floor(a)
    if a - f >= 0.5:
        f += 1
    return check_int(-f if x < 0 else f)


def floor_num(x: Any) -> Any:
    if type(x) is int:
        return x
    if x != x or x in (INF, -INF):
        return x
    return check_int(math.floor(x))


def ceil_num(x: Any) -> Any:
    if type(x) is int:
        return x
    if x != x or x in (INF, -INF):
        return x
    return check_int(math.ceil(x))


def round_num(x: Any) -> Any:
    if type(x) is int:
        return x
    return _round_half_away(x)


def abs_num(x: Any) -> Any:
    if type(x) is int:
        return check_int(abs(x))
    return abs(x)
