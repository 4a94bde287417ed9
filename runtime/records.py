"""Structs and enum variants: how they are built from fields and arguments, and their errors.

Each engine has its own type objects (what `type` and `enum` declarations bind); both hand the
declared fields to these functions, so the checks, the conversions and the messages are the same.
A field or payload declared with a type has a slot descriptor (runtime/types.py): its value is
checked and converted by `check_slot`, in declaration order, once every value is known.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.access import get_property
from shapelang.runtime.types import Declarations, check_slot
from shapelang.runtime.values import EnumValue, StructTypeValue, StructValue


def fields_of(label: str, declared: Sequence[Sequence[Any]], given: dict,
              default: Optional[Callable[[int], Any]] = None,
              decls: Optional[Declarations] = None) -> dict:
    """The fields of a struct or struct variant named `label`, in declaration order.

    `declared[i]` starts with (name, slot descriptor or None, has default); `given` maps the
    names written in the literal to their values (it is consumed); `default(i)` computes the
    default of field i when the literal leaves it out."""
    fields = {}
    for i, entry in enumerate(declared):
        name = entry[0]
        if name in given:
            v = given.pop(name)
        elif entry[2] and default is not None:
            v = default(i)
        else:
            raise type_error(f"Missing field '{name}' for {label}")
        slot = entry[1]
        fields[name] = v if slot is None else check_slot(v, slot, decls)
    if given:
        raise type_error(f"Unknown field '{next(iter(given))}' for {label}")
    return fields


def build_struct(type_name: str, declared: Sequence[Sequence[Any]], given: dict,
                 default: Optional[Callable[[int], Any]] = None,
                 decls: Optional[Declarations] = None) -> StructValue:
    """`TypeName { … }`."""
    return StructValue(type_name, fields_of(type_name, declared, given, default, decls))


def build_struct_variant(enum: str, variant: str, declared: Sequence[Sequence[Any]],
                         given: dict, decls: Optional[Declarations] = None) -> EnumValue:
    """`Enum::Variant { … }` for a struct variant (its fields have no defaults)."""
    return EnumValue(enum, variant, fields_of(f"{enum}::{variant}", declared, given, None, decls))


def build_tuple_variant(enum: str, variant: str, slots: Sequence[Optional[list]],
                        args: list, decls: Optional[Declarations] = None) -> EnumValue:
    """`Enum::Variant(a, b)` for a tuple variant; `slots` are its payloads' slot descriptors."""
    if len(args) != len(slots):
        raise type_error(f"{enum}::{variant} expects {len(slots)} argument(s), got {len(args)}")
    return EnumValue(enum, variant, tuple([a if s is None else check_slot(a, s, decls)
                                           for s, a in zip(slots, args)]))


def not_a_tuple_variant(enum: str, variant: str) -> ShapeError:
    return type_error(f"{enum}::{variant} is not a tuple variant")


def not_a_struct_variant(path: str) -> ShapeError:
    return type_error(f"{path} is not a struct variant")


def not_a_type(path: str) -> ShapeError:
    return type_error(f"{path} is not a type")


def no_such_variant(enum: str, variant: str) -> ShapeError:
    return type_error(f"Enum {enum} has no variant {variant}")


def unresolved_path(path: str) -> ShapeError:
    return type_error(f"Cannot resolve path {path}")


def constructed_with_braces(type_name: str) -> ShapeError:
    """Calling a struct type as a function."""
    return type_error(f"Type {type_name} is constructed with {type_name} {{ … }}")


# Comptime fields (spec/smaller-items.md §4): values of the type, listed by ref/comptime.py as
# field name -> [[type name, value], …].

def comptime_of(type_name: str, owners: Sequence[Sequence[Any]]) -> tuple:
    """(value,) of the comptime field that type `type_name` declares among `owners`, else ()."""
    for owner, value in owners:
        if owner == type_name:
            return (value,)
    return ()


def comptime_get(v: Any, name: str, owners: Sequence[Sequence[Any]]) -> Any:
    """`v.name` where some type declares `comptime name`: the type itself (`Type.name`) and its
    instances read the type's value; anything else reads `name` as usual."""
    if isinstance(v, StructValue):
        if name in v.fields:
            return v.fields[name]
        found = comptime_of(v.type_name, owners)
    elif isinstance(v, StructTypeValue):
        found = comptime_of(v.name, owners)
    else:
        found = ()
    return found[0] if found else get_property(v, name)
