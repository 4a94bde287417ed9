"""The Shape value model, shared by the reference evaluator and the bytecode VM.

Everything about what a value *is* lives here: display, truthiness, equality, ordering,
arithmetic, indexing, properties, the non-callback methods and the pure builtins. Engines only
decide *when* these run, so both engines agree by construction. See spec/implementation-contracts.md
for the Python representation of each Shape type.

Hot-path functions test `type(x) is int` rather than `isinstance`, because `bool` subclasses
`int` in Python but is never a number in Shape. No Python exception other than ShapeError may
escape any public function for any Shape input.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import cmp_to_key
from typing import Any, Callable, Iterable, Optional

from shapelang.runtime.errors import ShapeError

INT_MIN = -(2 ** 63)
INT_MAX = 2 ** 63 - 1
_INF = math.inf
_NAN = math.nan

# Upper bound on the length of strings and arrays a single builtin may build (repeat, padStart,
# range with a step). Beyond it Python would exhaust memory instead of raising a Shape error.
MAX_BUILD = 100_000_000


# ---------------------------------------------------------------- value classes

class Unit:
    """The unit value `()`; only the singleton UNIT exists."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNIT"

    def __reduce__(self):
        # Unpickling must give back the singleton, so `v is UNIT` keeps working after a resume.
        return (_unit, ())


def _unit() -> "Unit":
    return UNIT


UNIT = Unit()


class StructValue:
    __slots__ = ("type_name", "fields")

    def __init__(self, type_name: str, fields: dict) -> None:
        self.type_name = type_name
        self.fields = fields

    def __repr__(self) -> str:
        return f"StructValue({self.type_name!r}, {self.fields!r})"


class EnumValue:
    """payload: None (unit variant), tuple (tuple variant) or dict (struct variant)."""
    __slots__ = ("enum", "variant", "payload")

    def __init__(self, enum: str, variant: str, payload: Any = None) -> None:
        self.enum = enum
        self.variant = variant
        self.payload = payload

    def __repr__(self) -> str:
        return f"EnumValue({self.enum!r}, {self.variant!r}, {self.payload!r})"


class Ok:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Ok({self.value!r})"


class Err:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Err({self.value!r})"


class RangeValue:
    __slots__ = ("start", "end", "inclusive")

    def __init__(self, start: int, end: int, inclusive: bool) -> None:
        self.start = start
        self.end = end
        self.inclusive = inclusive

    def __repr__(self) -> str:
        return f"RangeValue({self.start!r}, {self.end!r}, {self.inclusive!r})"


class _BoolKey:
    """How a bool key is stored in a HashMap's dict.

    Python treats True == 1 and hash(True) == hash(1), so a plain dict cannot hold both `true`
    and `1` as distinct keys, yet Shape says a bool never equals an int. Bool keys are therefore
    wrapped; use `HashMapValue.keys_list()` / `items_list()` to see the Shape keys.
    """
    __slots__ = ("b",)

    def __init__(self, b: bool) -> None:
        self.b = b

    def __eq__(self, other: object) -> bool:
        return type(other) is _BoolKey and other.b is self.b

    def __hash__(self) -> int:
        return hash(("shape-bool-key", self.b))

    def __repr__(self) -> str:
        return f"_BoolKey({self.b})"

    def __reduce__(self):
        return (_bool_key, (self.b,))


_BOOL_KEYS = {True: _BoolKey(True), False: _BoolKey(False)}


def _bool_key(b: bool) -> _BoolKey:
    return _BOOL_KEYS[b]


def hashmap_key(k: Any) -> Any:
    """The dict key under which Shape key `k` is stored in HashMapValue.entries."""
    t = type(k)
    if t is str or t is int or k is None:
        return k
    if t is float:
        # 1 == 1.0 in Shape, and Python's dict already treats them as one key.
        return k
    if t is bool:
        return _BOOL_KEYS[k]
    if k is UNIT:
        return k
    raise ShapeError("TypeError", f"HashMap key must be a string, number, bool or None, not {type_name(k)}")


def _shape_key(k: Any) -> Any:
    return k.b if type(k) is _BoolKey else k


class HashMapValue:
    """An immutable map; `entries` must never be mutated after construction (set/delete copy)."""
    __slots__ = ("entries",)

    def __init__(self, entries: Optional[dict] = None) -> None:
        self.entries = {} if entries is None else entries

    def keys_list(self) -> list:
        return [_shape_key(k) for k in self.entries]

    def items_list(self) -> list:
        return [(_shape_key(k), v) for k, v in self.entries.items()]

    def get(self, key: Any) -> Any:
        return self.entries.get(hashmap_key(key))

    def __repr__(self) -> str:
        return f"HashMapValue({self.entries!r})"


class FunctionValue:
    """Base of every callable Shape value. `name is None` means a lambda (displays `[Closure]`)."""
    __slots__ = ("name",)

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name


class BuiltinFunction(FunctionValue):
    """A builtin implemented in Python: `fn(args: list)` returns a Shape value."""
    __slots__ = ("fn",)

    def __init__(self, name: str, fn: Callable[[list], Any]) -> None:
        self.name = name
        self.fn = fn

    def __repr__(self) -> str:
        return f"BuiltinFunction({self.name!r})"


SNAPSHOT_RESUMED = EnumValue("Snapshot", "Resumed", None)


def snapshot_hash(id: str) -> EnumValue:
    return EnumValue("Snapshot", "Hash", (id,))


# ---------------------------------------------------------------- errors

def _type_error(msg: str) -> ShapeError:
    return ShapeError("TypeError", msg)


def _value_error(msg: str) -> ShapeError:
    return ShapeError("ValueError", msg)


def _div_zero() -> ShapeError:
    return ShapeError("ArithmeticError", "Division by zero")


def _too_deep() -> ShapeError:
    # A RecursionError here means either a value nested tens of thousands deep or an engine that
    # is already near the Python stack limit; both are reported as the Shape stack overflow.
    return ShapeError("StackOverflow", "stack overflow")


# ---------------------------------------------------------------- type names

_TYPE_NAMES: dict = {
    int: "int", float: "number", str: "string", bool: "bool", type(None): "None", Unit: "unit",
    list: "array", dict: "object", RangeValue: "range", HashMapValue: "HashMap",
    Ok: "Result", Err: "Result", BuiltinFunction: "function",
}


def type_name(v: Any) -> str:
    n = _TYPE_NAMES.get(type(v))
    if n is not None:
        return n
    if isinstance(v, StructValue):
        return v.type_name
    if isinstance(v, EnumValue):
        return v.enum
    if isinstance(v, FunctionValue):
        return "function"
    # Engine-owned runtime objects (tasks, type objects) may name themselves.
    n = getattr(type(v), "SHAPE_TYPE", None)
    if type(n) is str:
        return n
    return type(v).__name__.lower()


# ---------------------------------------------------------------- numbers

def check_int(x: int) -> Any:
    """An int result that leaves the signed 64-bit range becomes a number."""
    if -0x8000000000000000 <= x <= 0x7FFFFFFFFFFFFFFF:
        return x
    try:
        return float(x)
    except OverflowError:
        return _INF if x > 0 else -_INF


def _format_float(x: float) -> str:
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    if x == 0.0:
        return "0.0"  # also -0.0
    if x.is_integer():
        if -1e15 < x < 1e15:
            return f"{int(x)}.0"
        # Large whole floats: shortest round-trip digits padded with zeros, as upstream (Rust)
        # prints them: 2.0 ** 64 -> 18446744073709552000, not its exact binary value.
        return format(Decimal(repr(x)), "f").split(".")[0]
    r = repr(x)
    if "e" in r:
        # Shortest round-trip digits, written out without an exponent.
        return format(Decimal(r), "f")
    return r


def _format_float_concat(x: float) -> str:
    if x.is_integer():
        if -1e15 < x < 1e15:
            return str(int(x))  # -0.0 gives "0"
    return _format_float(x)


def _num_pair(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    return (ta is int or ta is float) and (tb is int or tb is float)


# ---------------------------------------------------------------- display

def display(v: Any) -> str:
    """What `print`, f-strings and `to_string` show."""
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    if t is float:
        return _format_float(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "None"
    try:
        return _display(v, set())
    except RecursionError:
        raise _too_deep() from None


def _display(v: Any, active: set) -> str:
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    if t is float:
        return _format_float(v)
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
    if t is HashMapValue:
        if not v.entries:
            return "HashMap {}"
        return "HashMap { " + ", ".join(
            [_display(_shape_key(k), active) + ": " + _display(x, active)
             for k, x in v.entries.items()]) + " }"
    if isinstance(v, FunctionValue):
        return "[Closure]" if v.name is None else f"[Function {v.name}]"
    if isinstance(v, StructValue):
        return _display_fields(v, v.fields, active)
    if isinstance(v, EnumValue):
        return _display(EnumValue(v.enum, v.variant, v.payload), active)
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
        if v != v or v in (_INF, -_INF):
            return _format_float(v)
        return _format_float_concat(v)
    return display(v)


# ---------------------------------------------------------------- truthiness and equality

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
    return True


_SCALARS = frozenset({int, float, str, bool, type(None), Unit})


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
        return False
    try:
        return _eq(a, b, None)
    except RecursionError:
        raise _too_deep() from None


def _eq(a: Any, b: Any, seen: Optional[set]) -> bool:
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if (ta is int and tb is float) or (ta is float and tb is int):
            return a == b
        return False
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
    raise _type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")


# ---------------------------------------------------------------- arithmetic

def _op_error(op: str, a: Any, b: Any) -> ShapeError:
    return _type_error(f"Cannot apply '{op}' to {type_name(a)} and {type_name(b)}")


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
    raise _op_error("+", a, b)


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
    raise _op_error("-", a, b)


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
    raise _op_error("*", a, b)


def div(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            raise _div_zero()
        q = abs(a) // abs(b)  # truncate toward zero
        if (a < 0) != (b < 0):
            q = -q
        if -0x8000000000000000 <= q <= 0x7FFFFFFFFFFFFFFF:
            return q
        return float(q)
    if (ta is float or ta is int) and (tb is float or tb is int):
        if b == 0:
            raise _div_zero()
        return a / b
    raise _op_error("/", a, b)


def mod(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        if b == 0:
            raise _div_zero()
        r = abs(a) % abs(b)  # sign of the dividend
        return -r if a < 0 else r
    if (ta is float or ta is int) and (tb is float or tb is int):
        if b == 0:
            raise _div_zero()
        try:
            return math.fmod(a, b)
        except ValueError:  # fmod(inf, x), fmod(nan, x)
            return _NAN
    raise _op_error("%", a, b)


def _float_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        if a < 0 and b.is_integer() and int(b) % 2 == 1:
            return -_INF
        return _INF
    except ValueError:
        if a == 0:  # 0 ** negative: IEEE gives infinity
            if math.copysign(1.0, a) < 0 and b.is_integer() and int(b) % 2 == 1:
                return -_INF
            return _INF
        return _NAN  # negative base, fractional exponent


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
    raise _type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")


def le(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a <= b
    raise _type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")


def gt(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a > b
    raise _type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")


def ge(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        return a >= b
    raise _type_error(f"Cannot compare {type_name(a)} and {type_name(b)}")


eq = equals


def ne(a: Any, b: Any) -> bool:
    return not equals(a, b)


BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": add, "-": sub, "*": mul, "/": div, "%": mod, "**": pow_,
    "==": eq, "!=": ne, "<": lt, "<=": le, ">": gt, ">=": ge,
}


def binary_op(op: str, a: Any, b: Any) -> Any:
    f = BINARY_OPS.get(op)
    if f is None:
        raise ShapeError("RuntimeError", f"Unknown operator '{op}'")
    return f(a, b)


def neg(v: Any) -> Any:
    t = type(v)
    if t is int:
        return -v if v != INT_MIN else float(-v)
    if t is float:
        return -v
    raise _type_error(f"Cannot apply '-' to {type_name(v)}")


def not_(v: Any) -> bool:
    return not truthy(v)


def unary_op(op: str, v: Any) -> Any:
    if op == "-":
        return neg(v)
    if op == "!":
        return not truthy(v)
    raise ShapeError("RuntimeError", f"Unknown operator '{op}'")


# ---------------------------------------------------------------- indexing

def to_index(container_len: int, i: int) -> Optional[int]:
    """Normalise a possibly negative index; None when out of range."""
    if i < 0:
        i += container_len
    if 0 <= i < container_len:
        return i
    return None


def _int_index(index: Any, what: str) -> int:
    t = type(index)
    if t is int:
        return index
    if t is float and index.is_integer():
        return int(index)
    raise _type_error(f"Cannot index {what} with {type_name(index)}")


def _slice_bounds(n: int, r: RangeValue) -> tuple[int, int]:
    s, e = r.start, r.end
    if s < 0:
        s += n
    if e < 0:
        e += n
    if r.inclusive:
        e += 1
    s = 0 if s < 0 else (n if s > n else s)
    e = 0 if e < 0 else (n if e > n else e)
    if e < s:
        e = s
    return s, e


def index_get(container: Any, index: Any) -> Any:
    t = type(container)
    if t is list or t is str:
        ti = type(index)
        if ti is int:
            i = index
        elif ti is RangeValue:
            s, e = _slice_bounds(len(container), index)
            return container[s:e]
        else:
            i = _int_index(index, type_name(container))
        n = len(container)
        if i < 0:
            i += n
        if 0 <= i < n:
            return container[i]
        return None
    if t is dict:
        if type(index) is str:
            return container.get(index)
        raise _type_error(f"Cannot index object with {type_name(index)}")
    if t is HashMapValue:
        return container.entries.get(hashmap_key(index))
    if isinstance(container, StructValue):
        if type(index) is str:
            return container.fields.get(index)
        raise _type_error(f"Cannot index {container.type_name} with {type_name(index)}")
    if isinstance(container, EnumValue) and type(container.payload) is dict and type(index) is str:
        return container.payload.get(index)
    raise _type_error(f"Cannot index {type_name(container)}")


def index_set(container: Any, index: Any, value: Any) -> None:
    t = type(container)
    if t is list:
        i = index if type(index) is int else _int_index(index, "array")
        n = len(container)
        j = i + n if i < 0 else i
        if 0 <= j < n:
            container[j] = value
            return
        raise ShapeError("IndexError", f"Index {i} out of bounds for array of length {n}")
    if t is dict:
        if type(index) is str:
            container[index] = value
            return
        raise _type_error(f"Cannot index object with {type_name(index)}")
    if isinstance(container, StructValue):
        if type(index) is str:
            set_property(container, index, value)
            return
        raise _type_error(f"Cannot index {container.type_name} with {type_name(index)}")
    if t is str:
        raise _type_error("Strings are immutable")
    if t is HashMapValue:
        raise _type_error("HashMap is immutable; use set(), which returns a new map")
    raise _type_error(f"Cannot assign to an index of {type_name(container)}")


# ---------------------------------------------------------------- properties

def get_property(v: Any, name: str) -> Any:
    t = type(v)
    if t is dict:
        return v.get(name)
    if t is list or t is str:
        if name == "length":
            return len(v)
        raise _type_error(f"Unknown property '{name}' on {type_name(v)}")
    if isinstance(v, StructValue):
        f = v.fields
        if name in f:
            return f[name]
        raise _type_error(f"Struct '{v.type_name}' has no field '{name}'")
    if isinstance(v, EnumValue) and type(v.payload) is dict:
        if name in v.payload:
            return v.payload[name]
        raise _type_error(f"Variant '{v.variant}' has no field '{name}'")
    if t is RangeValue:
        if name == "start":
            return v.start
        if name == "end":
            return v.end
    if v is None:
        raise _type_error(f"Cannot read property '{name}' of None")
    raise _type_error(f"Unknown property '{name}' on {type_name(v)}")


def set_property(obj: Any, name: str, value: Any) -> None:
    t = type(obj)
    if t is dict:
        obj[name] = value
        return
    if isinstance(obj, StructValue):
        # A struct has the fields its type declares; adding one is almost surely a typo.
        if name not in obj.fields:
            raise _type_error(f"Struct '{obj.type_name}' has no field '{name}'")
        obj.fields[name] = value
        return
    if obj is None:
        raise _type_error(f"Cannot set property '{name}' of None")
    raise _type_error(f"Cannot set property '{name}' on {type_name(obj)}")


# ---------------------------------------------------------------- iteration

def make_range(start: Any, end: Any, inclusive: bool) -> RangeValue:
    """`a..b` / `a..=b`: both bounds must be ints."""
    if type(start) is not int or type(end) is not int:
        raise _type_error(f"Range bounds must be int, got {type_name(start)} and {type_name(end)}")
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
    raise _type_error(f"{type_name(v)} is not iterable")


# ---------------------------------------------------------------- argument helpers

def _argc(what: str, args: list, lo: int, hi: Optional[int] = None) -> None:
    n = len(args)
    if hi is None:
        hi = lo
    if n < lo or (hi >= 0 and n > hi):
        if lo == hi:
            want = f"{lo} argument" + ("" if lo == 1 else "s")
        elif hi < 0:
            want = f"at least {lo} argument" + ("" if lo == 1 else "s")
        else:
            want = f"{lo} to {hi} arguments"
        raise _type_error(f"{what} expects {want}, got {n}")


def _int_arg(what: str, x: Any) -> int:
    t = type(x)
    if t is int:
        return x
    if t is float and x.is_integer():
        return int(x)
    raise _type_error(f"{what} expects an int, got {type_name(x)}")


def _num_arg(what: str, x: Any) -> Any:
    t = type(x)
    if t is int or t is float:
        return x
    raise _type_error(f"{what} expects a number, got {type_name(x)}")


def _str_arg(what: str, x: Any) -> str:
    if type(x) is str:
        return x
    raise _type_error(f"{what} expects a string, got {type_name(x)}")


def _list_arg(what: str, x: Any) -> list:
    if type(x) is list:
        return x
    raise _type_error(f"{what} expects an array, got {type_name(x)}")


def _check_size(n: int) -> None:
    if n > MAX_BUILD:
        raise _value_error(f"result too large ({n} elements)")


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


def _to_number(x: Any, what: str) -> Any:
    t = type(x)
    if t is int or t is float:
        return x
    if t is str:
        r = parse_number(x)
        if r is None:
            raise _value_error(f"Cannot convert '{x}' to a number")
        return r
    raise _type_error(f"{what} expects a string or number, got {type_name(x)}")


def _to_int(x: Any, what: str) -> int:
    t = type(x)
    if t is str:
        r = parse_number(x)
        if r is None:
            raise _value_error(f"Cannot convert '{x}' to an int")
        x = r
        t = type(x)
    if t is int:
        return x
    if t is float:
        if x != x or x in (_INF, -_INF):
            raise _value_error(f"Cannot convert {_format_float(x)} to an int")
        r = int(x)  # truncates toward zero
        if INT_MIN <= r <= INT_MAX:
            return r
        raise _value_error(f"{_format_float(x)} is out of the int range")
    raise _type_error(f"{what} expects a string or number, got {type_name(x)}")


def _round_half_away(x: float) -> Any:
    if x != x or x in (_INF, -_INF):
        return x
    a = abs(x)
    f = math.floor(a)
    if a - f >= 0.5:
        f += 1
    return check_int(-f if x < 0 else f)


def _floor(x: Any) -> Any:
    if type(x) is int:
        return x
    if x != x or x in (_INF, -_INF):
        return x
    return check_int(math.floor(x))


def _ceil(x: Any) -> Any:
    if type(x) is int:
        return x
    if x != x or x in (_INF, -_INF):
        return x
    return check_int(math.ceil(x))


def _round(x: Any) -> Any:
    if type(x) is int:
        return x
    return _round_half_away(x)


def _abs(x: Any) -> Any:
    if type(x) is int:
        return check_int(abs(x))
    return abs(x)


def _fixed(x: Any, n: int) -> str:
    if n < 0 or n > 100:
        raise _value_error(f"fixed decimals must be between 0 and 100, got {n}")
    x = float(x)
    if x != x or x in (_INF, -_INF):
        return _format_float(x)
    return format(x, f".{n}f")


def _min_max(items: list, want: int) -> Any:
    if not items:
        return None
    best = items[0]
    for x in items[1:]:
        if compare(x, best) == want:
            best = x
    return best


# ---------------------------------------------------------------- array methods

def _arr_length(a: list, args: list) -> Any:
    _argc("length()", args, 0)
    return len(a)


def _arr_push(a: list, args: list) -> Any:
    _argc("push()", args, 1, -1)
    a.extend(args)
    return a


def _arr_pop(a: list, args: list) -> Any:
    _argc("pop()", args, 0)
    if a:
        a.pop()
    return a  # as upstream: pop returns the array, not the element


def _arr_reverse(a: list, args: list) -> Any:
    _argc("reverse()", args, 0)
    return a[::-1]


def _arr_join(a: list, args: list) -> Any:
    _argc("join()", args, 0, 1)
    sep = _str_arg("join()", args[0]) if args else ","
    return sep.join([display(x) for x in a])


def _slice_range(n: int, args: list, what: str) -> tuple[int, int]:
    s = _int_arg(what, args[0]) if args else 0
    e = _int_arg(what, args[1]) if len(args) > 1 and args[1] is not None else n
    if s < 0:
        s = max(0, s + n)
    if e < 0:
        e = max(0, e + n)
    s = min(s, n)
    e = min(e, n)
    return s, max(s, e)


def _arr_slice(a: list, args: list) -> Any:
    _argc("slice()", args, 0, 2)
    s, e = _slice_range(len(a), args, "slice()")
    return a[s:e]


def _arr_concat(a: list, args: list) -> Any:
    # As JavaScript: array arguments are spread, anything else is appended as one element.
    out = list(a)
    for x in args:
        if type(x) is list:
            out.extend(x)
        else:
            out.append(x)
    return out


def _arr_first(a: list, args: list) -> Any:
    _argc("first()", args, 0)
    return a[0] if a else None


def _arr_last(a: list, args: list) -> Any:
    _argc("last()", args, 0)
    return a[-1] if a else None


def _arr_index_of(a: list, args: list) -> Any:
    _argc("indexOf()", args, 1)
    x = args[0]
    for i, y in enumerate(a):
        if equals(y, x):
            return i
    return -1


def _arr_includes(a: list, args: list) -> Any:
    _argc("includes()", args, 1)
    x = args[0]
    for y in a:
        if equals(y, x):
            return True
    return False


def _arr_flatten(a: list, args: list) -> Any:
    _argc("flatten()", args, 0)
    out: list = []
    for x in a:
        if type(x) is list:
            out.extend(x)
        else:
            out.append(x)
    return out


def _arr_unique(a: list, args: list) -> Any:
    _argc("unique()", args, 0)
    out: list = []
    for x in a:
        for y in out:
            if equals(x, y):
                break
        else:
            out.append(x)
    return out


def _arr_sum(a: list, args: list) -> Any:
    _argc("sum()", args, 0)
    total: Any = 0
    for x in a:
        t = type(x)
        if t is not int and t is not float:
            raise _type_error(f"sum() expects an array of numbers, found {type_name(x)}")
        total = add(total, x)
    return total


def _arr_avg(a: list, args: list) -> Any:
    _argc("avg()", args, 0)
    if not a:
        return None
    total = _arr_sum(a, [])
    return total / len(a)


def _arr_min(a: list, args: list) -> Any:
    _argc("min()", args, 0)
    return _min_max(a, -1)


def _arr_max(a: list, args: list) -> Any:
    _argc("max()", args, 0)
    return _min_max(a, 1)


def _arr_count(a: list, args: list) -> Any:
    if args:
        raise _type_error("count() with a predicate is a callback method; the engine runs it")
    return len(a)


def _arr_zip(a: list, args: list) -> Any:
    _argc("zip()", args, 1)
    b = _list_arg("zip()", args[0])
    return [[x, y] for x, y in zip(a, b)]


def _arr_take(a: list, args: list) -> Any:
    _argc("take()", args, 1)
    n = _int_arg("take()", args[0])
    return a[:max(0, n)]


def _arr_skip(a: list, args: list) -> Any:
    _argc("skip()", args, 1)
    n = _int_arg("skip()", args[0])
    return a[max(0, n):]


_COMPARE_KEY = cmp_to_key(compare)


def _arr_sort(a: list, args: list) -> Any:
    if args:
        raise _type_error("sort() with a comparator is a callback method; the engine runs it")
    return sorted(a, key=_COMPARE_KEY)  # stable


def _arr_is_empty(a: list, args: list) -> Any:
    _argc("isEmpty()", args, 0)
    return not a


_ARRAY_METHODS: dict[str, Callable[[list, list], Any]] = {
    "length": _arr_length, "len": _arr_length, "push": _arr_push, "pop": _arr_pop,
    "reverse": _arr_reverse, "join": _arr_join, "slice": _arr_slice, "concat": _arr_concat,
    "first": _arr_first, "last": _arr_last, "indexOf": _arr_index_of, "includes": _arr_includes,
    "contains": _arr_includes, "flatten": _arr_flatten, "unique": _arr_unique, "sum": _arr_sum,
    "avg": _arr_avg, "min": _arr_min, "max": _arr_max, "count": _arr_count, "zip": _arr_zip,
    "take": _arr_take, "skip": _arr_skip, "sort": _arr_sort, "isEmpty": _arr_is_empty,
}


# ---------------------------------------------------------------- string methods

def _str_length(s: str, args: list) -> Any:
    _argc("length()", args, 0)
    return len(s)


def _str_upper(s: str, args: list) -> Any:
    _argc("toUpperCase()", args, 0)
    return s.upper()


def _str_lower(s: str, args: list) -> Any:
    _argc("toLowerCase()", args, 0)
    return s.lower()


def _str_trim(s: str, args: list) -> Any:
    _argc("trim()", args, 0)
    return s.strip()


def _str_trim_start(s: str, args: list) -> Any:
    _argc("trimStart()", args, 0)
    return s.lstrip()


def _str_trim_end(s: str, args: list) -> Any:
    _argc("trimEnd()", args, 0)
    return s.rstrip()


def _str_split(s: str, args: list) -> Any:
    _argc("split()", args, 1)
    sep = _str_arg("split()", args[0])
    if sep == "":
        return list(s)
    return s.split(sep)


def _str_replace(s: str, args: list) -> Any:
    _argc("replace()", args, 2)
    a = _str_arg("replace()", args[0])
    b = _str_arg("replace()", args[1])
    if a == "":
        _check_size(len(s) + (len(s) + 1) * len(b))
    return s.replace(a, b)


def _str_substring(s: str, args: list) -> Any:
    # Indices clamp to [0, length]; a start past the end gives "" (no swapping, unlike JS).
    _argc("substring()", args, 1, 2)
    n = len(s)
    start = _int_arg("substring()", args[0])
    end = _int_arg("substring()", args[1]) if len(args) > 1 and args[1] is not None else n
    start = min(max(start, 0), n)
    end = min(max(end, 0), n)
    if end <= start:
        return ""
    return s[start:end]


def _str_char_at(s: str, args: list) -> Any:
    _argc("charAt()", args, 1)
    i = _int_arg("charAt()", args[0])
    if 0 <= i < len(s):
        return s[i]
    return ""


def _str_repeat(s: str, args: list) -> Any:
    _argc("repeat()", args, 1)
    n = _int_arg("repeat()", args[0])
    if n < 0:
        raise _value_error(f"repeat() count must be non-negative, got {n}")
    _check_size(len(s) * n)
    return s * n


def _str_reverse(s: str, args: list) -> Any:
    _argc("reverse()", args, 0)
    return s[::-1]


def _pad(s: str, args: list, what: str) -> str:
    _argc(what, args, 1, 2)
    n = _int_arg(what, args[0])
    fill = _str_arg(what, args[1]) if len(args) > 1 else " "
    missing = n - len(s)
    if missing <= 0 or fill == "":
        return ""
    _check_size(n)
    return (fill * (missing // len(fill) + 1))[:missing]


def _str_pad_start(s: str, args: list) -> Any:
    return _pad(s, args, "padStart()") + s


def _str_pad_end(s: str, args: list) -> Any:
    return s + _pad(s, args, "padEnd()")


def _str_starts_with(s: str, args: list) -> Any:
    _argc("startsWith()", args, 1)
    return s.startswith(_str_arg("startsWith()", args[0]))


def _str_ends_with(s: str, args: list) -> Any:
    _argc("endsWith()", args, 1)
    return s.endswith(_str_arg("endsWith()", args[0]))


def _str_contains(s: str, args: list) -> Any:
    _argc("contains()", args, 1)
    return _str_arg("contains()", args[0]) in s


def _str_index_of(s: str, args: list) -> Any:
    _argc("indexOf()", args, 1)
    return s.find(_str_arg("indexOf()", args[0]))


def _str_to_string(s: str, args: list) -> Any:
    _argc("toString()", args, 0)
    return s


def _str_to_int(s: str, args: list) -> Any:
    _argc("toInt()", args, 0)
    return _to_int(s, "toInt()")


def _str_to_number(s: str, args: list) -> Any:
    _argc("toNumber()", args, 0)
    return _to_number(s, "toNumber()")


def _str_chars(s: str, args: list) -> Any:
    _argc("chars()", args, 0)
    return list(s)


def _str_is_empty(s: str, args: list) -> Any:
    _argc("isEmpty()", args, 0)
    return s == ""


_STRING_METHODS: dict[str, Callable[[str, list], Any]] = {
    "length": _str_length, "len": _str_length, "toUpperCase": _str_upper,
    "toLowerCase": _str_lower, "trim": _str_trim, "trimStart": _str_trim_start,
    "trimEnd": _str_trim_end, "split": _str_split, "replace": _str_replace,
    "substring": _str_substring, "charAt": _str_char_at, "repeat": _str_repeat,
    "reverse": _str_reverse, "padStart": _str_pad_start, "padEnd": _str_pad_end,
    "startsWith": _str_starts_with, "endsWith": _str_ends_with, "contains": _str_contains,
    "includes": _str_contains, "indexOf": _str_index_of, "toString": _str_to_string,
    "toInt": _str_to_int, "toNumber": _str_to_number, "chars": _str_chars,
    "isEmpty": _str_is_empty,
}


# ---------------------------------------------------------------- number methods

def _num_to_string(x: Any, args: list) -> Any:
    _argc("toString()", args, 0)
    return display(x)


def _num_to_fixed(x: Any, args: list) -> Any:
    _argc("toFixed()", args, 1)
    return _fixed(x, _int_arg("toFixed()", args[0]))


def _num_abs(x: Any, args: list) -> Any:
    _argc("abs()", args, 0)
    return _abs(x)


def _num_floor(x: Any, args: list) -> Any:
    _argc("floor()", args, 0)
    return _floor(x)


def _num_ceil(x: Any, args: list) -> Any:
    _argc("ceil()", args, 0)
    return _ceil(x)


def _num_round(x: Any, args: list) -> Any:
    _argc("round()", args, 0)
    return _round(x)


def _num_to_int(x: Any, args: list) -> Any:
    _argc("toInt()", args, 0)
    return _to_int(x, "toInt()")


def _num_to_number(x: Any, args: list) -> Any:
    _argc("toNumber()", args, 0)
    return float(x)


_NUMBER_METHODS: dict[str, Callable[[Any, list], Any]] = {
    "toString": _num_to_string, "toFixed": _num_to_fixed, "abs": _num_abs,
    "floor": _num_floor, "ceil": _num_ceil, "round": _num_round, "toInt": _num_to_int,
    "toNumber": _num_to_number,
}


# ---------------------------------------------------------------- HashMap methods

def _map_set(m: HashMapValue, args: list) -> Any:
    _argc("set()", args, 2)
    entries = dict(m.entries)
    entries[hashmap_key(args[0])] = args[1]
    return HashMapValue(entries)


def _map_get(m: HashMapValue, args: list) -> Any:
    _argc("get()", args, 1)
    return m.entries.get(hashmap_key(args[0]))


def _map_has(m: HashMapValue, args: list) -> Any:
    _argc("has()", args, 1)
    return hashmap_key(args[0]) in m.entries


def _map_delete(m: HashMapValue, args: list) -> Any:
    _argc("delete()", args, 1)
    k = hashmap_key(args[0])
    if k not in m.entries:
        return m  # immutable, so sharing is safe
    entries = dict(m.entries)
    del entries[k]
    return HashMapValue(entries)


def _map_keys(m: HashMapValue, args: list) -> Any:
    _argc("keys()", args, 0)
    return m.keys_list()


def _map_values(m: HashMapValue, args: list) -> Any:
    _argc("values()", args, 0)
    return list(m.entries.values())


def _map_size(m: HashMapValue, args: list) -> Any:
    _argc("size()", args, 0)
    return len(m.entries)


_HASHMAP_METHODS: dict[str, Callable[[HashMapValue, list], Any]] = {
    "set": _map_set, "get": _map_get, "has": _map_has, "delete": _map_delete,
    "keys": _map_keys, "values": _map_values, "size": _map_size,
}


# ---------------------------------------------------------------- Result and range methods

def _res_is_ok(r: Any, args: list) -> Any:
    _argc("isOk()", args, 0)
    return type(r) is Ok


def _res_is_err(r: Any, args: list) -> Any:
    _argc("isErr()", args, 0)
    return type(r) is Err


def _res_unwrap(r: Any, args: list) -> Any:
    _argc("unwrap()", args, 0)
    if type(r) is Ok:
        return r.value
    raise ShapeError("UnwrapError", f"called unwrap() on Err({display(r.value)})")


def _res_unwrap_or(r: Any, args: list) -> Any:
    _argc("unwrapOr()", args, 1)
    return r.value if type(r) is Ok else args[0]


_RESULT_METHODS: dict[str, Callable[[Any, list], Any]] = {
    "isOk": _res_is_ok, "isErr": _res_is_err, "unwrap": _res_unwrap, "unwrapOr": _res_unwrap_or,
}


def _range_length(r: RangeValue, args: list) -> Any:
    _argc("length()", args, 0)
    return range_len(r)


def _range_contains(r: RangeValue, args: list) -> Any:
    _argc("contains()", args, 1)
    x = args[0]
    if type(x) is not int and type(x) is not float:
        return False
    return r.start <= x <= r.end if r.inclusive else r.start <= x < r.end


def _range_to_array(r: RangeValue, args: list) -> Any:
    _argc("toArray()", args, 0)
    _check_size(range_len(r))
    return list(range_values(r))


_RANGE_METHODS: dict[str, Callable[[RangeValue, list], Any]] = {
    "length": _range_length, "len": _range_length, "contains": _range_contains,
    "includes": _range_contains, "toArray": _range_to_array,
}


_METHOD_TABLES: dict = {
    list: _ARRAY_METHODS, str: _STRING_METHODS, int: _NUMBER_METHODS, float: _NUMBER_METHODS,
    HashMapValue: _HASHMAP_METHODS, Ok: _RESULT_METHODS, Err: _RESULT_METHODS,
    RangeValue: _RANGE_METHODS,
}

# Array methods that call back into Shape code: engines run them through the Shape prelude
# (`sort` and `count` only when given an argument).
CALLBACK_METHODS: frozenset = frozenset({
    "map", "filter", "reduce", "forEach", "find", "findIndex", "some", "every", "flatMap",
    "sort", "count", "groupBy",
})


def call_method(receiver: Any, name: str, args: list) -> Any:
    """Every non-callback built-in method; unknown methods are a TypeError."""
    table = _METHOD_TABLES.get(type(receiver))
    if table is not None:
        f = table.get(name)
        if f is not None:
            return f(receiver, args)
    if name == "toString":
        _argc("toString()", args, 0)
        return display(receiver)
    if type(receiver) is list and name in CALLBACK_METHODS:
        raise _type_error(f"'{name}' with a callback is run by the engine, not call_method")
    raise _type_error(f"Unknown method '{name}' on {type_name(receiver)}")


# ---------------------------------------------------------------- builtins

def _b_len(args: list) -> Any:
    _argc("len()", args, 1)
    x = args[0]
    t = type(x)
    if t is str or t is list or t is dict:
        return len(x)
    if t is HashMapValue:
        return len(x.entries)
    if t is RangeValue:
        return range_len(x)
    if isinstance(x, StructValue):
        return len(x.fields)
    raise _type_error(f"len() expects a string, array, object, HashMap or range, got {type_name(x)}")


def _b_range(args: list) -> Any:
    _argc("range()", args, 1, 3)
    if len(args) == 1:
        return RangeValue(0, _int_arg("range()", args[0]), False)
    a = _int_arg("range()", args[0])
    b = _int_arg("range()", args[1])
    if len(args) == 2:
        return RangeValue(a, b, False)
    step = _int_arg("range()", args[2])
    if step == 0:
        raise _value_error("range() step must not be zero")
    if step == 1:
        return RangeValue(a, b, False)
    r = range(a, b, step)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_BUILD + 1
    _check_size(n)
    return list(r)


def _b_abs(args: list) -> Any:
    _argc("abs()", args, 1)
    return _abs(_num_arg("abs()", args[0]))


def _min_max_args(what: str, args: list, want: int) -> Any:
    _argc(what, args, 1, -1)
    items = args[0] if len(args) == 1 and type(args[0]) is list else args
    for x in items:
        if type(x) is not int and type(x) is not float:
            raise _type_error(f"{what} expects numbers, got {type_name(x)}")
    return _min_max(items, want)


def _b_min(args: list) -> Any:
    return _min_max_args("min()", args, -1)


def _b_max(args: list) -> Any:
    return _min_max_args("max()", args, 1)


def _math1(name: str, f: Callable[[float], float], domain: Callable[[float], float]) -> BuiltinFunction:
    what = f"{name}()"

    def call(args: list) -> Any:
        _argc(what, args, 1)
        x = float(_num_arg(what, args[0]))
        try:
            return f(x)
        except (ValueError, OverflowError):
            return domain(x)
    return BuiltinFunction(name, call)


def _sqrt_domain(x: float) -> float:
    return _NAN


def _exp_domain(x: float) -> float:
    return _INF if x > 0 else (0.0 if x < 0 else _NAN)


def _log_domain(x: float) -> float:
    if x == 0:
        return -_INF
    return _NAN


def _trig_domain(x: float) -> float:
    return _NAN


def _b_log(args: list) -> Any:
    # log(x) is base 10 (calculator convention, since `ln` is the natural log); log(x, b) is
    # base b.
    _argc("log()", args, 1, 2)
    x = float(_num_arg("log()", args[0]))
    if len(args) == 1:
        try:
            return math.log10(x)
        except ValueError:
            return _log_domain(x)
    base = float(_num_arg("log()", args[1]))
    try:
        lx = math.log(x)
    except ValueError:
        lx = _log_domain(x)
    try:
        lb = math.log(base)
    except ValueError:
        lb = _log_domain(base)
    if lb == 0:
        return _NAN if lx == 0 or lx != lx else math.copysign(_INF, lx)
    try:
        return lx / lb
    except ZeroDivisionError:
        return _NAN


def _b_pow(args: list) -> Any:
    _argc("pow()", args, 2)
    return pow_(_num_arg("pow()", args[0]), _num_arg("pow()", args[1]))


def _b_floor(args: list) -> Any:
    _argc("floor()", args, 1)
    return _floor(_num_arg("floor()", args[0]))


def _b_ceil(args: list) -> Any:
    _argc("ceil()", args, 1)
    return _ceil(_num_arg("ceil()", args[0]))


def _b_round(args: list) -> Any:
    _argc("round()", args, 1)
    return _round(_num_arg("round()", args[0]))


def _b_to_string(args: list) -> Any:
    _argc("to_string()", args, 1)
    return display(args[0])


def _b_to_number(args: list) -> Any:
    _argc("to_number()", args, 1)
    return _to_number(args[0], "to_number()")


def _b_is_number(args: list) -> Any:
    _argc("is_number()", args, 1)
    t = type(args[0])
    return t is int or t is float


def _b_some(args: list) -> Any:
    _argc("Some()", args, 1)
    return args[0]  # Option is value-or-None: Some(x) is just x


def _b_ok(args: list) -> Any:
    _argc("Ok()", args, 0, 1)
    return Ok(args[0] if args else UNIT)


def _b_err(args: list) -> Any:
    _argc("Err()", args, 0, 1)
    return Err(args[0] if args else UNIT)


def _b_hashmap(args: list) -> Any:
    _argc("HashMap()", args, 0)
    return HashMapValue({})


def _b_format(args: list) -> Any:
    # Each `{}` takes the display of the next argument; `{}` left over when the arguments run
    # out stay as they are, and surplus arguments are ignored.
    _argc("format()", args, 1, -1)
    template = _str_arg("format()", args[0])
    parts = template.split("{}")
    out = [parts[0]]
    rest = args[1:]
    for i, p in enumerate(parts[1:]):
        out.append(display(rest[i]) if i < len(rest) else "{}")
        out.append(p)
    return "".join(out)


BUILTINS: dict[str, BuiltinFunction] = {
    "len": BuiltinFunction("len", _b_len),
    "range": BuiltinFunction("range", _b_range),
    "abs": BuiltinFunction("abs", _b_abs),
    "min": BuiltinFunction("min", _b_min),
    "max": BuiltinFunction("max", _b_max),
    "sqrt": _math1("sqrt", math.sqrt, _sqrt_domain),
    "pow": BuiltinFunction("pow", _b_pow),
    "floor": BuiltinFunction("floor", _b_floor),
    "ceil": BuiltinFunction("ceil", _b_ceil),
    "round": BuiltinFunction("round", _b_round),
    "exp": _math1("exp", math.exp, _exp_domain),
    "ln": _math1("ln", math.log, _log_domain),
    "log": BuiltinFunction("log", _b_log),
    "sin": _math1("sin", math.sin, _trig_domain),
    "cos": _math1("cos", math.cos, _trig_domain),
    "tan": _math1("tan", math.tan, _trig_domain),
    "to_string": BuiltinFunction("to_string", _b_to_string),
    "to_number": BuiltinFunction("to_number", _b_to_number),
    "is_number": BuiltinFunction("is_number", _b_is_number),
    "Some": BuiltinFunction("Some", _b_some),
    "Ok": BuiltinFunction("Ok", _b_ok),
    "Err": BuiltinFunction("Err", _b_err),
    "HashMap": BuiltinFunction("HashMap", _b_hashmap),
    "format": BuiltinFunction("format", _b_format),
}


# ---------------------------------------------------------------- f-string specs

_SPEC_DOT = re.compile(r"\.([0-9]+)f")
_SPEC_FIXED = re.compile(r"fixed\(\s*([0-9]+)\s*\)")


def format_spec(v: Any, spec: str) -> str:
    """`f"{x:.2f}"` / `f"{x:fixed(2)}"`: fixed decimals for an int or number."""
    spec = spec.strip()
    m = _SPEC_DOT.fullmatch(spec) or _SPEC_FIXED.fullmatch(spec)
    if m is None:
        raise _value_error(f"Unknown format spec '{spec}'")
    t = type(v)
    if t is not int and t is not float:
        raise _type_error(f"Format spec '{spec}' needs a number, got {type_name(v)}")
    return _fixed(v, int(m.group(1)))
