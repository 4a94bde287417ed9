"""Ranges and iteration: what `a..b` builds and what `for` walks."""
from __future__ import annotations

from typing import Any, Iterable

from shapelang.runtime.errors import type_error
from shapelang.runtime.values import HashMapValue, RangeValue, type_name


def make_range(start: Any, end: Any, inclusive: bool) -> RangeValue:
    """`a..b` / `a..=b`: both bounds must be ints."""
    if type(start) is not int or type(end) is not int:
        raise type_error(f"Range bounds must be int, got {type_name(start)} and {type_name(end)}")
    return RangeValue(start, end, inclusive)


def range_values(r: RangeValue) -> range:
    return range(r.start, r.end + 1 if r.inclusive else r.end)


def range_len(r: RangeValue) -> int:
    # len(range) raises OverflowError beyond sys.maxsize, which an int64 range can reach.
    n = (r.end + 1 if r.inclusive else r.end) - r.start
    return n if n > 0 else 0


def iterate(v: Any) -> Iterable:
    """`for x in v`. A list iterator reads by position, so elements pushed during the loop are seen."""
    t = type(v)
    if t is list or t is str:
        return iter(v)
    if t is RangeValue:
        return iter(range_values(v))
    if t is HashMapValue:
        return iter(v.keys_list())
    raise type_error(f"{type_name(v)} is not iterable")
