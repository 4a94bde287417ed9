"""Shape values: the Python class of each Shape type, and the name each type has in messages.

The Python representation of every Shape type is listed in spec/implementation-contracts.md:
int, float, str, bool and None stand for themselves, arrays are lists and objects are dicts;
the classes below are the rest. Both engines use exactly these classes, so a value built by one
is a value of the other (the snapshot codec stores them as records).

Hot-path code tests `type(x) is int` rather than `isinstance`, because `bool` subclasses `int`
in Python but is never a number in Shape.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from shapelang.runtime.errors import ShapeError

INT_MIN = -(2 ** 63)
INT_MAX = 2 ** 63 - 1


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


class StructTypeValue:
    """Base of the engines' struct type objects (the value a `type` declaration binds; each
    engine has its own class): what the shared rules need to know of one, its `name`."""
    __slots__ = ()
    name: str


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


class TypeValue:
    """A type as a value: what `.type()` returns (spec/types.md §7). `name` is the type's name
    as it displays (`int`, `Point`, `Box<string>`); type values are equal when their names are.
    The engines' struct and enum type objects (what `Point` evaluates to) are type values too:
    they have a `name` and `SHAPE_TYPE = "type"`."""
    __slots__ = ("name",)
    SHAPE_TYPE = "type"

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"TypeValue({self.name!r})"


def is_type_value(v: Any) -> bool:
    """A type value, or an engine's struct or enum type object."""
    return getattr(type(v), "SHAPE_TYPE", None) == "type"


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


# ---------------------------------------------------------------- type names

_TYPE_NAMES: dict = {
    int: "int", float: "number", str: "string", bool: "bool", type(None): "None", Unit: "unit",
    list: "array", dict: "object", RangeValue: "range", HashMapValue: "HashMap",
    Ok: "Result", Err: "Result", BuiltinFunction: "function", TypeValue: "type",
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
