"""Durations (spec/smaller-items.md §2): `5s`, `1h30m`, an exact whole number of milliseconds.

A duration is immutable and compares by value. Its arithmetic is the table of the spec: with
another duration (`+ - /` and the comparisons), with an int or number (`* /`), and `-d`; the
operators of runtime/operators.py come here only once their int/number cases did not apply.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from shapelang.runtime.errors import ShapeError, division_by_zero

# Milliseconds per unit of a duration literal (upstream's `ast_duration_to_chrono`: a month is
# 30 days, a year 365).
_DAY = 86_400_000
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": _DAY, "w": 7 * _DAY, "M": 30 * _DAY,
           "y": 365 * _DAY}

MS_MIN = -0x8000000000000000   # a duration holds a 64-bit count of milliseconds, as ints do
MS_MAX = 0x7FFFFFFFFFFFFFFF


class Duration:
    """A duration value: `ms` milliseconds (an int in the 64-bit range)."""
    __slots__ = ("ms",)
    SHAPE_TYPE = "duration"   # values.type_name

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __eq__(self, other: Any) -> bool:
        return type(other) is Duration and other.ms == self.ms

    def __hash__(self) -> int:
        # Hashable like the other immutable values; still not a HashMap key (values.hashmap_key
        # refuses it by type, as spec/smaller-items.md §2 says).
        return hash((Duration, self.ms))

    def __repr__(self) -> str:
        return f"Duration({self.ms})"


def out_of_range() -> ShapeError:
    return ShapeError("ArithmeticError", "Duration out of range")


def make(ms: Any) -> Duration:
    """The duration of `ms` milliseconds (an int, or a number rounded toward zero)."""
    if type(ms) is float:
        if not math.isfinite(ms):
            raise out_of_range()
        ms = int(ms)
    if not MS_MIN <= ms <= MS_MAX:
        raise out_of_range()
    return Duration(ms)


def literal_ms(parts: list[tuple[Any, str]]) -> int:
    """The milliseconds a literal names (`1.5s` is 1500; anything finer than 1 ms is dropped).
    Decimal arithmetic, so `1.001s` is 1001 ms and not 1000.999…"""
    from decimal import Decimal     # on use: literals are compiled, rarely at start-up
    total = sum(Decimal(repr(amount)) * UNIT_MS[unit] for amount, unit in parts)
    return int(total)


def literal(parts: list[tuple[Any, str]]) -> Duration:
    return make(literal_ms(parts))


def text(d: Duration) -> str:
    """Display: days, hours, minutes and seconds, largest first, zero parts left out, the
    seconds carrying the milliseconds as a fraction (`1h30m`, `1.5s`, `0s`, `-2h`)."""
    ms = d.ms
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    days, ms = divmod(ms, _DAY)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, millis = divmod(ms, 1000)
    out = [sign]
    for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")):
        if n:
            out.append(f"{n}{unit}")
    if millis:
        out.append(f"{seconds}.{millis:03d}".rstrip("0") + "s")
    elif seconds:
        out.append(f"{seconds}s")
    return "".join(out)


def truthy(d: Duration) -> bool:
    return d.ms != 0


def _is_num(x: Any) -> bool:
    t = type(x)
    return t is int or t is float


def binary(op: str, a: Any, b: Any) -> Optional[Any]:
    """`a op b` when a duration takes part (the result of the spec's table), or None when the
    table has no row for these operands (the caller raises its TypeError)."""
    ta, tb = type(a), type(b)
    if ta is Duration and tb is Duration:
        if op == "+":
            return make(a.ms + b.ms)
        if op == "-":
            return make(a.ms - b.ms)
        if op == "/":
            if b.ms == 0:
                raise division_by_zero()
            return a.ms / b.ms
        return None
    if op == "*":
        if ta is Duration and _is_num(b):
            return _scale(a.ms, b)
        if tb is Duration and _is_num(a):
            return _scale(b.ms, a)
        return None
    if op == "/" and ta is Duration and _is_num(b):
        if b == 0:
            raise division_by_zero()
        if type(b) is int:
            q = abs(a.ms) // abs(b)   # toward zero
            return make(-q if (a.ms < 0) != (b < 0) else q)
        return make(a.ms / b)
    return None


def _scale(ms: int, n: Any) -> Duration:
    return make(ms * n)


def compare(a: Any, b: Any) -> Optional[int]:
    """-1, 0 or 1 for two durations; None when the operands are not both durations."""
    if type(a) is Duration and type(b) is Duration:
        return (a.ms > b.ms) - (a.ms < b.ms)
    return None


def neg(d: Duration) -> Duration:
    return make(-d.ms)
