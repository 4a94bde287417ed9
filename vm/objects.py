"""Runtime objects of the VM that are not plain Shape values (those live in runtime/values.py).

Every class here is plain data: its fields are values, strings and lists, never Python functions
or iterators, so the snapshot codec can register each one as a record (fields listed in
`RECORDS`). A closure names its code by blob id; the machine finds the threaded code through its
own table, so nothing derived is reachable from the state.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.runtime import builtins as B, stdlib, values as V
from shapelang.runtime.iterators import IteratorValue, IterLoop
from shapelang.runtime.durations import Duration


class Uninit:
    """Marks a cell whose variable has not been initialised yet (read → NameError)."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNINIT"


UNINIT = Uninit()


class Cell:
    """A variable shared by closures or passed by `&` reference."""
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __repr__(self) -> str:
        return f"Cell({self.v!r})"


class TypedCell(Cell):
    """The cell of a variable declared with a type that is passed by `&` reference: a write
    through the reference checks the type (slot descriptor `t`, runtime/types.py) too."""
    __slots__ = ("t",)

    def __init__(self, v: Any, t: list) -> None:
        self.v = v
        self.t = t

    def __repr__(self) -> str:
        return f"TypedCell({self.v!r}, {self.t[1]!r})"


CELL_TYPES = (Cell, TypedCell)


class Closure(V.FunctionValue):
    """A Shape function value: the code (by blob id) and the cells it captured."""
    __slots__ = ("bid", "cells")

    def __init__(self, name: Optional[str], bid: str, cells: list) -> None:
        self.name = name
        self.bid = bid
        self.cells = cells

    def __repr__(self) -> str:
        return f"Closure({self.name!r}, {self.bid[:12]})"


class EnumType:
    """The value an `enum` declaration binds: it names and constructs variants, and as a value
    it is the enum's type value. variants: name -> [kind, payload slots (a slot descriptor of
    runtime/types.py, or None), field names] (kind: unit, tuple, struct)."""
    __slots__ = ("name", "variants")
    SHAPE_TYPE = "type"

    def __init__(self, name: str, variants: dict) -> None:
        self.name = name
        self.variants = variants


class StructType(V.StructTypeValue):
    """The value a `type` declaration binds (as a value, the struct's type value). fields:
    [name, slot descriptor or None, mode, constant] where mode is 0 (required), 1 (constant
    default) or 2 (default computed by the `defaults` closure)."""
    __slots__ = ("name", "fields", "defaults")
    SHAPE_TYPE = "type"

    def __init__(self, name: str, fields: list, defaults: Optional[Closure]) -> None:
        self.name = name
        self.fields = fields
        self.defaults = defaults


class VariantConstructor(V.FunctionValue):
    """`Shape::Circle` before it is applied: calling it builds the variant. types: the payload
    slots (slot descriptors or None)."""
    __slots__ = ("enum", "kind", "types")

    def __init__(self, enum: str, name: str, kind: str, types: list) -> None:
        self.name = name
        self.enum = enum
        self.kind = kind
        self.types = types


class Task:
    """The value of an `async fn` call. Async is deterministic: the body runs at the call, in
    source order, and the task holds the result until it is awaited."""
    __slots__ = ("result",)
    SHAPE_TYPE = "task"

    def __init__(self, result: Any) -> None:
        self.result = result


class BoundMethod(V.FunctionValue):
    """A method with its receiver, as annotation hooks see the function they wrap."""
    __slots__ = ("fn", "receiver")

    def __init__(self, fn: Any, receiver: Any) -> None:
        self.name = fn.name
        self.fn = fn
        self.receiver = receiver


class AnnotatedFunction(V.FunctionValue):
    """A function declared with `@ann` uses. Calling it calls `wrapper(fn, args)`, a compiled
    thunk that evaluates the annotation's arguments, builds its hooks and runs the prelude's
    `__ann_call`; `fn` is the next layer (another AnnotatedFunction, or the function itself)."""
    __slots__ = ("fn", "wrapper")

    def __init__(self, name: Optional[str], fn: Any, wrapper: Closure) -> None:
        self.name = name
        self.fn = fn
        self.wrapper = wrapper


# ---------------------------------------------------------------- builtin values

# The values builtin names are bound to (LOAD_BUILTIN); the engine builtins (print, exit,
# snapshot, __arity) are placeholders whose calls the machine runs itself.
VM_BUILTINS: dict[str, V.BuiltinFunction] = B.ENGINE_PLACEHOLDERS
SNAPSHOT_ENUM = EnumType("Snapshot", {"Hash": ["tuple", [None], []],
                                      "Resumed": ["unit", [], []]})
# The std modules' values are builtins under qualified names that only an import reaches
# (`std::core::file`, `std::core::json::parse`; spec/io.md).
BUILTIN_NAMES = set(B.BUILTINS) | set(VM_BUILTINS) | {"Snapshot"} | set(stdlib.BUILTIN_VALUES)


def builtin_value(name: str) -> Any:
    if name in VM_BUILTINS:
        return VM_BUILTINS[name]
    if name == "Snapshot":
        return SNAPSHOT_ENUM
    std = stdlib.BUILTIN_VALUES.get(name)
    return B.BUILTINS[name] if std is None else std


# Record classes of the machine state and their fields, for the snapshot codec.
RECORDS: list[tuple[type, tuple[str, ...]]] = [
    (Cell, ("v",)),
    (TypedCell, ("v", "t")),
    (Closure, ("name", "bid", "cells")),
    (EnumType, ("name", "variants")),
    (StructType, ("name", "fields", "defaults")),
    (VariantConstructor, ("name", "enum", "kind", "types")),
    (Task, ("result",)),
    (BoundMethod, ("name", "fn", "receiver")),
    (AnnotatedFunction, ("name", "fn", "wrapper")),
    (V.StructValue, ("type_name", "fields")),
    (V.EnumValue, ("enum", "variant", "payload")),
    (V.Ok, ("value",)),
    (V.Err, ("value",)),
    (V.RangeValue, ("start", "end", "inclusive")),
    (V.HashMapValue, ("entries",)),
    (IteratorValue, ("source", "stages")),
    (IterLoop, ("walk",)),
    (Duration, ("ms",)),
    (V.TypeValue, ("name",)),
]
