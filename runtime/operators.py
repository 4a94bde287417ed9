"""Operators: truthiness, equality, ordering and arithmetic (brief §3)."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from shapelang.runtime import durations
from shapelang.runtime.display import display_concat
from shapelang.runtime.durations import Duration
from shapelang.runtime.errors import ShapeError, division_by_zero, stack_overflow, type_error
from shapelang.runtime.numbers import check_int, wrap_int
from shapelang.runtime.values import (INT_MIN, UNIT, EnumValue, Err, HashMapValue, Ok, RangeValue,
                                      StructValue, TypeValue, Unit, is_type_value, type_name)

INF = math.inf
NAN = math.nan


def truthy(v: Any) -> bool:
    if v is True:
        return True
    if v is False or v is None or v is UNIT:
        return False
    t = type(v)
    if t is int or t is float or t is str or t is list or t is dict:
        return bool(v)  # NaN is truthy, as a non-zero number
    if t is HashMapValue:
        return bool(v.entries)
    if t is Duration:
        return durations.truthy(v)
    return True


_SCALARS = frozenset({int, float, str, bool, type(None), Unit, Duration})


def equals(a: Any, b: Any) -> bool:
    """Shape `==`: numbers across int/number, containers by value, functions by identity."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta in _SCALARS:
            return a == b
    elif (ta is int and tb is float) or (ta is float and tb is int):
        return a == b
    else:
        # A type value and the struct or enum type it names are equal (spec/types.md §7).
        return is_type_value(a) and is_type_value(b) and a.name == b.name
    try:
        return _eq(a, b, None)
    except RecursionError:
        raise stack_overflow() from None


def _eq(a: Any, b: Any, seen: Optional[set]) -> bool:
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if (ta is int and tb is float) or (ta is float and tb is int):
            return a == b
        return is_type_value(a) and is_type_value(b) and a.name == b.name
    if ta in _SCALARS:
        return a == b
    if a is b and ta is not float:
        return True
    if ta is list or ta is dict or ta is StructValue:
        # Two containers already being compared are assumed equal (coinductive equality), so
        # cyclic structures terminate.
        key = (id(a), id(b))
        if seen is None:
            seen = set()
        elif key in seen:
            return True
        seen.add(key)
        if ta is list:
            if len(a) != len(b):
                return False
            for x, y in zip(a, b):
                if not _eq(x, y, seen):
                    return False
            return True
        if ta is StructValue:
            if a.type_name != b.type_name:
                return False
            a, b = a.fields, b.fields
        return _eq_fields(a, b, seen)
    if ta is Ok or ta is Err:
        return _eq(a.value, b.value, seen)
    if ta is EnumValue:
        if a.enum != b.enum or a.variant != b.variant:
            return False
        pa, pb = a.payload, b.payload
        if pa is None or pb is None:
            return pa is pb
        if type(pa) is not type(pb):
            return False
        if type(pa) is dict:
            return _eq_fields(pa, pb, seen)
        return len(pa) == len(pb) and all(_eq(x, y, seen) for x, y in zip(pa, pb))
    if ta is RangeValue:
        return a.start == b.start and a.end == b.end and a.inclusive == b.inclusive
    if ta is HashMapValue:
        return _eq_fields(a.entries, b.entries, seen)
    if ta is TypeValue or is_type_value(a):
        return a.name == b.name
    return a is b


def _eq_fields(a: dict, b: dict, seen: Optional[set]) -> bool:
    if len(a) != len(b):
        return False
    for k, x in a.items():
        if k not in b:
            return False
        if not _eq(x, b[k], seen):
            return False
    return True


def compare(a: Any, b: Any) -> int:
    """Ordering for `< <= > >=` and `sort()`: numbers with numbers, strings with strings."""
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        if a < b:
            return -1
        if a > b:
            return 1
        return 0
    return _order(a, b)


def _order(a: Any, b: Any) -> int:
    """The order of two values `compare` and `<` … do not order themselves: durations, else
    the TypeError of operands that have no order."""
    c = durations.compare(a, b)
    if c is None:
        raise type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")
    return c


def _op_error(op: str, a: Any, b: Any) -> ShapeError:
    return type_error(f"Cannot apply '{op}' to {type_name(a)} and {type_name(b)}")


def _others(op: str, a: Any, b: Any) -> Any:
    """`a op b` for the operand kinds the arithmetic above does not take: durations (their
    table, runtime/durations.py), else the operator's TypeError."""
    if type(a) is Duration or type(b) is Duration:
        r = durations.binary(op, a, b)
        if r is not None:
            return r
    raise _op_error(op, a, b)


def add(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a + b
        if -0x8000000000000000 <= r <= 0x7FFFFFFFFFFFFFFF:
            return r
        return float(r)
    if ta is float:
        if tb is float or tb is int:
            return a + b
    elif ta is int:
        if tb is float:
            return a + b
    if ta is str:
        if tb is str:
            return a + b
        return a + display_concat(b)
    if tb is str:
        return display_concat(a) + b
    if ta is list and tb is list:
        return a + b
    if ta is dict and tb is dict:
        # object merge, as upstream's `a + b` on objects: a new object, b's value for a shared
        # field (the rule of `{ ...a, ...b }`)
        return {**a, **b}
    return _others("+", a, b)


def sub(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a - b
        if -0x8000000000000000 <= r <= 0x7FFFFFFFFFFFFFFF:
            return r
        return float(r)
    if (ta is float or ta is int) and (tb is float or tb is int):
        return a - b
    return _others("-", a, b)


def mul(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a * b
        if -0x8000000000000000 <= r <= 0x7FFFFFFFFFFFFFFF:
            return r
        return float(r)
    if (ta is float or ta is int) and (tb is float or tb is int):
        return a * b
    return _others("*", a, b)


def div(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            raise division_by_zero()
        q = abs(a) // abs(b)  # truncate toward zero
        if (a < 0) != (b < 0):
            q = -q
        if -0x8000000000000000 <= q <= 0x7FFFFFFFFFFFFFFF:
            return q
        return float(q)
    if (ta is float or ta is int) and (tb is float or tb is int):
        if b == 0:
            raise division_by_zero()
        return a / b
    return _others("/", a, b)


def mod(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            raise division_by_zero()
        r = abs(a) % abs(b)  # sign of the dividend
        return -r if a < 0 else r
    if (ta is float or ta is int) and (tb is float or tb is int):
        if b == 0:
            raise division_by_zero()
        try:
            return math.fmod(a, b)
        except ValueError:  # fmod(inf, x), fmod(nan, x)
            return NAN
    raise _op_error("%", a, b)


def _float_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        if a < 0 and b.is_integer() and int(b) % 2 == 1:
            return -INF
        return INF
    except ValueError:
        if a == 0:  # 0 ** negative: IEEE gives infinity
            if math.copysign(1.0, a) < 0 and b.is_integer() and int(b) % 2 == 1:
                return -INF
            return INF
        return NAN  # negative base, fractional exponent


def pow_(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b < 0:
            return _float_pow(float(a), float(b))
        if a in (0, 1) or b <= 64:
            return check_int(a ** b)
        if a == -1:
            return 1 if b % 2 == 0 else -1
        # |a| >= 2 and b > 64: the result leaves int64 for sure; never build a gigantic int.
        return _float_pow(float(a), float(b))
    if (ta is float or ta is int) and (tb is float or tb is int):
        return _float_pow(float(a), float(b))
    raise _op_error("**", a, b)


def lt(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a < b
    return _order(a, b) < 0


def le(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a <= b
    return _order(a, b) <= 0


def gt(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a > b
    return _order(a, b) > 0


def ge(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a >= b
    return _order(a, b) >= 0


eq = equals


def ne(a: Any, b: Any) -> bool:
    return not equals(a, b)


# Bitwise operators and shifts (spec/bitwise.md): ints only (bool and whole numbers are not),
# computed on the 64-bit two's-complement pattern, so the result is always an int.

def bit_and(a: Any, b: Any) -> int:
    if type(a) is int and type(b) is int:
        return a & b
    raise _op_error("&", a, b)


def bit_or(a: Any, b: Any) -> int:
    if type(a) is int and type(b) is int:
        return a | b
    raise _op_error("|", a, b)


def bit_xor(a: Any, b: Any) -> int:
    if type(a) is int and type(b) is int:
        return a ^ b
    raise _op_error("^", a, b)


def shift_count_out_of_range(n: int) -> ShapeError:
    return ShapeError("ArithmeticError", f"Shift count out of range: {n} (must be 0 to 63)")


def shl(a: Any, b: Any) -> int:
    if type(a) is int and type(b) is int:
        if 0 <= b <= 63:
            return wrap_int(a << b)   # bits moved past bit 63 are lost
        raise shift_count_out_of_range(b)
    raise _op_error("<<", a, b)


def shr(a: Any, b: Any) -> int:
    if type(a) is int and type(b) is int:
        if 0 <= b <= 63:
            return a >> b   # arithmetic: Python's >> copies the sign in
        raise shift_count_out_of_range(b)
    raise _op_error(">>", a, b)


def bit_not(v: Any) -> int:
    if type(v) is int:
        return ~v   # never leaves int64: ~INT_MIN is INT_MAX
    raise _unary_error("~", v)


# Fuzzy comparison (spec/smaller-items.md §1): `a ~= b`, `a ~< b`, `a ~> b`, optionally
# `within t` (absolute) or `within p%` (relative to the operands' mean magnitude).

FUZZY_DEFAULT = (2, True)   # no `within`: 2% (upstream's FuzzyTolerance::Percentage(0.02))


def fuzzy(op: str, a: Any, b: Any, tolerance: Any = None, percent: bool = False) -> bool:
    ta = type(a)
    tb = type(b)
    if not ((ta is int or ta is float) and (tb is int or tb is float)):
        raise _op_error(op, a, b)
    if (op == "~<" and a < b) or (op == "~>" and a > b):
        return True
    return close(a, b, tolerance, percent)


def close(a: Any, b: Any, tolerance: Any, percent: bool) -> bool:
    """Whether two ints/numbers are within the tolerance (None: the default) of each other."""
    if a == b:
        return True   # even `0 ~= 0`, where the relative formula divides zero by zero
    if a != a or b != b:
        return False  # NaN is close to nothing
    if tolerance is None:
        tolerance, percent = FUZZY_DEFAULT
    diff = abs(a - b)
    if percent:
        return diff / ((abs(a) + abs(b)) / 2) <= tolerance / 100
    return diff <= tolerance


BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": add, "-": sub, "*": mul, "/": div, "%": mod, "**": pow_,
    "==": eq, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge,
    "&": bit_and, "|": bit_or, "^": bit_xor, "<<": shl, ">>": shr,
}


def binary_op(op: str, a: Any, b: Any) -> Any:
    f = BINARY_OPS.get(op)
    if f is None:
        raise unknown_operator(op)
    return f(a, b)


def neg(v: Any) -> Any:
    t = type(v)
    if t is int:
        return -v if v != INT_MIN else float(-v)
    if t is float:
        return -v
    if t is Duration:
        return durations.neg(v)
    raise _unary_error("-", v)


def _unary_error(op: str, v: Any) -> ShapeError:
    return type_error(f"Cannot apply '{op}' to {type_name(v)}")


def not_(v: Any) -> bool:
    return not truthy(v)


def unary_op(op: str, v: Any) -> Any:
    if op == "-":
        return neg(v)
    if op == "!":
        return not truthy(v)
    if op == "~":
        return bit_not(v)
    raise unknown_operator(op)


def unknown_operator(op: str) -> ShapeError:
    return ShapeError("RuntimeError", f"Unknown operator '{op}'")


def min_max(items: list, want: int) -> Any:
    if not items:
        return None
    best = items[0]
    for x in items[1:]:
        if compare(x, best) == want:
            best = x
    return best
