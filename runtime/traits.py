"""Traits at run time (spec/traits.md): where the methods of a type's impls are kept, and which
traits a type implements.

Both engines keep the methods of `extend` blocks in a table `methods` (type name -> method name
-> function), part of the machine state. The methods an `impl` gives (its own, and the trait's
default methods it does not override) go into the same table under the key `impl_key(type)`
(a name no type can have), so they are saved and resumed with the state like `extend` methods;
a conversion impl (`impl Into<int> for Money`) gives its method under the trait's text
(`Into<int>`), which no call `v.m()` can name, so only `as` reaches it (`conversion`). Impls are
hoisted: each engine fills the table when the program starts, before any other statement runs.

Which traits a type implements (`dyn Trait` slots and generic bounds ask, runtime/types.py
`implements`) is a declaration, read from the program's code by each engine into
`types.Declarations.impls` (the VM from its IMPL instructions, the reference from the resolver's
impls). Named impls (`impl T for X as Name`) give no methods and implement nothing here, except
the conversions (upstream writes those named).

Method lookup (runtime/calls.py `method_target`) asks `impl_method` after a value's own methods:
the `extend` methods of a struct or enum type, the built-in methods of a built-in type.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.runtime.values import EnumValue, StructValue, type_name

# The run-time type name of each built-in type name an impl may be written for.
IMPL_TYPE_NAMES = {"Array": "array", "Vec": "array", "fn": "function"}


def impl_type(target: str) -> str:
    """The type name whose values an impl for `target` (a type name, without type arguments)
    applies to: the one `values.type_name` gives them."""
    return IMPL_TYPE_NAMES.get(target, target)


def impl_key(type_name: str) -> str:
    """The key of the impl methods of type `type_name` in an engine's method table."""
    return "impl " + type_name


def impl_method(obj: Any, name: str, methods: dict) -> Optional[Any]:
    """The function an impl of the type of `obj` gives for method `name`, or None."""
    table = methods.get(impl_key(type_name(obj)))
    return None if table is None else table.get(name)


# The operators an impl of Add, Sub, Mul, Div or Neg decides (spec/traits.md §5), and the key of
# the method in the impl table ("op -" is Sub's `sub`, "op neg" Neg's `neg`): no call `v.m()`
# can name these keys.
OPERATOR_KEYS = {"Add": "op +", "Sub": "op -", "Mul": "op *", "Div": "op /", "Neg": "op neg"}


def operator_method(x: Any, op: str, methods: dict) -> Optional[Any]:
    """The method that decides `x op y` (or, op "neg", `-x`): the impl's method when `x` is a
    struct instance or an enum value whose type implements the operator's trait, else None
    (the operator keeps its core meaning, runtime/operators.py)."""
    t = type(x)
    if t is not StructValue and t is not EnumValue:
        return None
    table = methods.get(impl_key(x.type_name if t is StructValue else x.enum))
    return None if table is None else table.get("op " + op)


def conversion_trait(target: str, fallible: bool) -> str:
    """The conversion trait whose impl `v as target` (fallible: `v as target?`) calls."""
    return f"{'TryInto' if fallible else 'Into'}<{target}>"


def conversion(obj: Any, target: str, fallible: bool, methods: dict) -> Optional[Any]:
    """The `into`/`tryInto` method that `obj as target` (or `as target?`) calls: the one of the
    impl of the conversion trait for the type of `obj`, or None (then the built-in conversions
    of runtime/types.py apply)."""
    return impl_method(obj, conversion_trait(target, fallible), methods)
