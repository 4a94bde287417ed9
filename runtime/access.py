"""Indexing (`a[i]`, `a[i] = v`, slices) and properties (`o.f`, `o.f = v`)."""
from __future__ import annotations

from typing import Any, Optional

from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.types import Declarations, check_slot
from shapelang.runtime.values import (EnumValue, HashMapValue, RangeValue, StructValue, hashmap_key,
                                      type_name)


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
    raise type_error(f"Cannot index {what} with {type_name(index)}")


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
        j = to_index(len(container), i)
        return None if j is None else container[j]
    if t is dict:
        if type(index) is str:
            return container.get(index)
        raise type_error(f"Cannot index object with {type_name(index)}")
    if t is HashMapValue:
        return container.entries.get(hashmap_key(index))
    if isinstance(container, StructValue):
        if type(index) is str:
            return container.fields.get(index)
        raise type_error(f"Cannot index {container.type_name} with {type_name(index)}")
    if isinstance(container, EnumValue) and type(container.payload) is dict and type(index) is str:
        return container.payload.get(index)
    raise type_error(f"Cannot index {type_name(container)}")


def index_set(container: Any, index: Any, value: Any,
              decls: Optional[Declarations] = None) -> Any:
    """`a[i] = v`; returns the value stored (a struct field's declared type may convert it)."""
    t = type(container)
    if t is list:
        i = index if type(index) is int else _int_index(index, "array")
        j = to_index(len(container), i)
        if j is not None:
            container[j] = value
            return value
        raise ShapeError("IndexError", f"Index {i} out of bounds for array of length "
                                       f"{len(container)}")
    if t is dict:
        if type(index) is str:
            container[index] = value
            return value
        raise type_error(f"Cannot index object with {type_name(index)}")
    if isinstance(container, StructValue):
        if type(index) is str:
            return set_property(container, index, value, decls)
        raise type_error(f"Cannot index {container.type_name} with {type_name(index)}")
    if t is str:
        raise type_error("Strings are immutable")
    if t is HashMapValue:
        raise type_error("HashMap is immutable; use set(), which returns a new map")
    raise type_error(f"Cannot assign to an index of {type_name(container)}")


def get_property(v: Any, name: str) -> Any:
    t = type(v)
    if t is dict:
        return v.get(name)
    if t is list or t is str:
        if name == "length":
            return len(v)
        raise type_error(f"Unknown property '{name}' on {type_name(v)}")
    if isinstance(v, StructValue):
        f = v.fields
        if name in f:
            return f[name]
        raise type_error(f"Struct '{v.type_name}' has no field '{name}'")
    if isinstance(v, EnumValue) and type(v.payload) is dict:
        if name in v.payload:
            return v.payload[name]
        raise type_error(f"Variant '{v.variant}' has no field '{name}'")
    if t is HashMapValue and name == "length":
        return len(v.entries)
    if t is RangeValue:
        if name == "start":
            return v.start
        if name == "end":
            return v.end
    if v is None:
        raise type_error(f"Cannot read property '{name}' of None")
    # Objects of the std modules (a module's functions) answer their own fields.
    own = getattr(type(v), "shape_property", None)
    if own is not None:
        return own(v, name)
    raise type_error(f"Unknown property '{name}' on {type_name(v)}")


def set_property(obj: Any, name: str, value: Any, decls: Optional[Declarations] = None) -> Any:
    """`o.f = v`; returns the value stored: a struct field declared with a type checks and
    converts it as every slot does (runtime/types.py; language.md §9.2)."""
    t = type(obj)
    if t is dict:
        obj[name] = value
        return value
    if isinstance(obj, StructValue):
        # A struct has the fields its type declares; adding one is almost surely a typo.
        if name not in obj.fields:
            raise type_error(f"Struct '{obj.type_name}' has no field '{name}'")
        slot = decls.field_slot(obj.type_name, name) if decls is not None else None
        if slot is not None:
            value = check_slot(value, slot, decls)
        obj.fields[name] = value
        return value
    if obj is None:
        raise type_error(f"Cannot set property '{name}' of None")
    raise type_error(f"Cannot set property '{name}' on {type_name(obj)}")
