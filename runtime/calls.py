"""Calls: which method a call `obj.name(…)` runs, and the errors of calls and variables."""
from __future__ import annotations

from typing import Any, Optional

from shapelang.runtime import traits as Tr
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.methods import has_builtin_method
from shapelang.runtime.prelude import PRELUDE_TABLES, prelude_label, prelude_method
from shapelang.runtime.values import EnumValue, FunctionValue, StructValue, type_name

# What `method_target` finds, in the order the language looks.
EXTEND, FIELD, PRELUDE, BUILTIN, TYPE, IMPL = "extend", "field", "prelude", "builtin", "type", \
    "impl"


def method_target(obj: Any, name: str, argc: int, methods: dict) -> tuple[str, Any]:
    """The method a call `obj.name(…argc arguments)` runs, in the language's lookup order:

    0. TYPE: `type()` of a struct instance or enum value (every value has it, before its type's
       own methods; types.type_of, which for a generic struct needs the program's
       declarations; other values' `type()` is a built-in method);
    1. EXTEND: a method declared with `extend` on the struct's or enum's type (`methods` maps
       type names to the engine's method tables);
    2. FIELD: an object's field that holds a function;
    3. PRELUDE: a method that calls back into Shape, of an array, a HashMap or an iterator (the
       prelude function's name: runtime/prelude.py);
    4. BUILTIN: a built-in method of a built-in type (runtime/methods.py `call_method`);
    5. IMPL: a method an impl of a trait gives the value's type (runtime/traits.py; the impl's
       own method, else the trait's default; `to_string` of a type implementing Display is its
       `display`, before any other `to_string`);
    6. BUILTIN again, which reports the unknown method.
    IMPL and EXTEND targets are called with the value as `self`.
    """
    t = type(obj)
    if name == "to_string":
        fn = Tr.impl_method(obj, name, methods)
        if fn is not None:
            return IMPL, fn
    if t is StructValue or t is EnumValue:
        if name == "type":
            return TYPE, None
        table = methods.get(obj.type_name if t is StructValue else obj.enum)
        if table is not None and name in table:
            return EXTEND, table[name]
    elif t is dict:
        f = obj.get(name)
        if isinstance(f, FunctionValue):
            return FIELD, f
    elif t in PRELUDE_TABLES:
        fn = prelude_method(t, name, argc)
        if fn is not None:
            return PRELUDE, fn
    if t is StructValue or t is EnumValue or not has_builtin_method(obj, name):
        fn = Tr.impl_method(obj, name, methods)
        if fn is not None:
            return IMPL, fn
    return BUILTIN, None


def function_label(name: Optional[str], annotation: bool = False) -> str:
    if annotation:
        return f"Annotation @{name}"
    return f"Function '{name}'" if name else "Closure"


def arity_error(name: Optional[str], expected: int, got: int,
                annotation: bool = False) -> ShapeError:
    """A Shape function (or an annotation's parameter list) called with the wrong number of
    arguments."""
    method = prelude_label(name) if not annotation and name else None
    if method is not None:
        # A prelude method: count the arguments the user wrote (the receiver is not one).
        return type_error(f"{method[0]} method {method[1]}() expects {expected - 1} "
                          f"argument(s), got {got - 1}")
    return type_error(f"{function_label(name, annotation)} expects {expected} argument(s), "
                      f"got {got}")


def not_callable(v: Any) -> ShapeError:
    return type_error(f"Cannot call a value of type {type_name(v)}")


def snapshot_arguments() -> ShapeError:
    return type_error("snapshot() takes no arguments")


def uninitialised(name: str) -> ShapeError:
    """A variable read (or assigned through a closure) before its declaration ran."""
    return ShapeError("NameError", f"Variable '{name}' is used before it is initialised",
                      phase="runtime")
