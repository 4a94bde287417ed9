"""Display: what `print`, f-strings, `to_string` and string concatenation show (brief §4)."""
from __future__ import annotations

import math
import re
from typing import Any

from shapelang.runtime import durations
from shapelang.runtime.durations import Duration
from shapelang.runtime.errors import stack_overflow, type_error, value_error
from shapelang.runtime.values import (UNIT, EnumValue, Err, FunctionValue, HashMapValue, Ok,
                                      RangeValue, StructValue, is_type_value, type_name)

INF = math.inf


def format_float(x: float) -> str:
    if x != x:
        return "NaN"
    if x == INF:
        return "Infinity"
    if x == -INF:
        return "-Infinity"
    if x == 0.0:
        return "0.0"  # also -0.0
    if x.is_integer():
        if -1e15 < x < 1e15:
            return f"{int(x)}.0"
        # Large whole floats: shortest round-trip digits padded with zeros, as upstream (Rust)
        # prints them: 2.0 ** 64 -> 18446744073709552000, not its exact binary value.
        return _without_exponent(repr(x)).split(".")[0]
    r = repr(x)
    if "e" in r:
        # Shortest round-trip digits, written out without an exponent.
        return _without_exponent(r)
    return r


def _without_exponent(digits: str) -> str:
    """A float's repr written out in full (`1e+16` -> `10000000000000000`)."""
    from decimal import Decimal     # imported on use: most runs print no such float (start-up)
    return format(Decimal(digits), "f")


def _format_float_concat(x: float) -> str:
    if x.is_integer():
        if -1e15 < x < 1e15:
            return str(int(x))  # -0.0 gives "0"
    return format_float(x)


def display(v: Any) -> str:
    """What `print`, f-strings and `to_string` show."""
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    if t is float:
        return format_float(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "None"
    try:
        return _display(v, set())
    except RecursionError:
        raise stack_overflow() from None


def _display(v: Any, active: set) -> str:
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    if t is float:
        return format_float(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "None"
    if t is list:
        if not v:
            return "[]"
        i = id(v)
        if i in active:
            return "[...]"
        active.add(i)
        try:
            return "[" + ", ".join([_display(x, active) for x in v]) + "]"
        finally:
            active.discard(i)
    if t is dict:
        return _display_fields(v, v, active)
    if v is UNIT:
        return "()"
    if t is StructValue:
        return _display_fields(v, v.fields, active)
    if t is Ok:
        return "Ok(" + _display(v.value, active) + ")"
    if t is Err:
        return "Err(" + _display(v.value, active) + ")"
    if t is EnumValue:
        p = v.payload
        if p is None:
            return v.variant
        if type(p) is dict:
            return v.variant + " " + _display_fields(v, p, active)
        return v.variant + "(" + ", ".join([_display(x, active) for x in p]) + ")"
    if t is RangeValue:
        return f"{v.start}..={v.end}" if v.inclusive else f"{v.start}..{v.end}"
    if t is Duration:
        return durations.text(v)
    if t is HashMapValue:
        if not v.entries:
            return "HashMap {}"
        return "HashMap { " + ", ".join(
            [_display(k, active) + ": " + _display(x, active) for k, x in v.items_list()]) + " }"
    if isinstance(v, FunctionValue):
        return "[Closure]" if v.name is None else f"[Function {v.name}]"
    if isinstance(v, StructValue):
        return _display_fields(v, v.fields, active)
    if isinstance(v, EnumValue):
        return _display(EnumValue(v.enum, v.variant, v.payload), active)
    if is_type_value(v):
        return v.name
    custom = getattr(v, "shape_display", None)
    if callable(custom):
        return custom()
    return f"[{type_name(v)}]"


def _display_fields(owner: Any, fields: dict, active: set) -> str:
    if not fields:
        return "{}"
    i = id(owner)
    if i in active:
        return "{...}"
    active.add(i)
    try:
        return "{ " + ", ".join([f"{k}: {_display(x, active)}" for k, x in fields.items()]) + " }"
    finally:
        active.discard(i)


def display_concat(v: Any) -> str:
    """What `string + v` appends: display, except a whole number drops its `.0`."""
    t = type(v)
    if t is str:
        return v
    if t is float:
        if v != v or v in (INF, -INF):
            return format_float(v)
        return _format_float_concat(v)
    return display(v)


def fixed(x: Any, n: int) -> str:
    if n < 0 or n > 100:
        raise value_error(f"fixed decimals must be between 0 and 100, got {n}")
    x = float(x)
    if x != x or x in (INF, -INF):
        return format_float(x)
    return format(x, f".{n}f")


# ---------------------------------------------------------------- f-string specs

_SPEC_DOT = re.compile(r"\.([0-9]+)f")
_SPEC_FIXED = re.compile(r"fixed\(\s*([0-9]+)\s*\)")


def format_spec(v: Any, spec: str) -> str:
    """`f"{x:.2f}"` / `f"{x:fixed(2)}"`: fixed decimals for an int or number."""
    spec = spec.strip()
    m = _SPEC_DOT.fullmatch(spec) or _SPEC_FIXED.fullmatch(spec)
    if m is None:
        raise value_error(f"Unknown format spec '{spec}'")
    t = type(v)
    if t is not int and t is not float:
        raise type_error(f"Format spec '{spec}' needs a number, got {type_name(v)}")
    return fixed(v, int(m.group(1)))
