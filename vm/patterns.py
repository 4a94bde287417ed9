"""Pattern descriptors (constant data in blobs) and the matchers the machine builds from them.

A descriptor is a nested list:

    ["_"]                              wildcard
    ["b", slot, cell]                  bind to register `slot` (cell=1: store into the cell there)
    ["l", value]                       literal (int, number, string, bool, None)
    ["a", [item…], has_rest, rest]     array; rest is a bind descriptor or null
    ["o", [[key, pattern]…]]           object / struct fields
    ["some", p] ["ok", p] ["err", p]   Option and Result
    ["s", TypeName, [[key, pattern]…]] struct instance of a named type
    ["v", Enum, Variant, args|null, fields|null]   enum variant
    ["x", Kind, message]               an invalid pattern: raises when tried

MATCH uses strict matching (`match` arms); DESTRUCTURE uses the lenient rules of `let`,
parameters and `for` (missing elements and fields bind None). Both follow the reference
evaluator's `match_pattern` / `_bind_loose` exactly. The verifier checks stored descriptors
against the same grammar, declared as `PATTERN` in vm/operands.py.
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.runtime import display as D, operators as Op, values as V
from shapelang.runtime.errors import ShapeError

Matcher = Callable[[Any, list], bool]

_StructValue = V.StructValue
_EnumValue = V.EnumValue
_Ok = V.Ok
_Err = V.Err
_equals = Op.equals


def _binder(slot: int, cell: int) -> Callable[[Any, list], None]:
    if cell:
        def bind(v: Any, R: list) -> None:
            R[slot].v = v
    else:
        def bind(v: Any, R: list) -> None:
            R[slot] = v
    return bind


def strict(desc: list) -> Matcher:
    tag = desc[0]
    if tag == "_":
        return lambda v, R: True
    if tag == "b":
        slot, cell = desc[1], desc[2]
        if cell:
            def m_bind_cell(v: Any, R: list) -> bool:
                R[slot].v = v
                return True
            return m_bind_cell

        def m_bind(v: Any, R: list) -> bool:
            R[slot] = v
            return True
        return m_bind
    if tag == "l":
        lit = desc[1]
        if lit is None:
            return lambda v, R: v is None
        lit_is_bool = type(lit) is bool

        def m_lit(v: Any, R: list) -> bool:
            tv = type(v)
            if v is None or tv is list or tv is dict:
                return False
            if (tv is bool) != lit_is_bool:
                return False
            return (tv is int or tv is float or tv is str or tv is bool) and _equals(v, lit)
        return m_lit
    if tag == "a":
        items = [strict(d) for d in desc[1]]
        n = len(items)
        has_rest = bool(desc[2])
        rest = _binder(desc[3][1], desc[3][2]) if desc[3] is not None else None

        def m_array(v: Any, R: list) -> bool:
            if type(v) is not list:
                return False
            if len(v) < n or (not has_rest and len(v) != n):
                return False
            for i in range(n):
                if not items[i](v[i], R):
                    return False
            if rest is not None:
                rest(list(v[n:]), R)
            return True
        return m_array
    if tag == "o":
        fields = [(k, strict(d)) for k, d in desc[1]]

        def m_object(v: Any, R: list) -> bool:
            tv = type(v)
            if tv is dict:
                f = v
            elif tv is _StructValue:
                f = v.fields
            else:
                return False
            for k, m in fields:
                if k not in f or not m(f[k], R):
                    return False
            return True
        return m_object
    if tag == "some":
        sub = strict(desc[1])
        return lambda v, R: v is not None and sub(v, R)
    if tag == "ok" or tag == "err":
        sub = strict(desc[1])
        cls = _Ok if tag == "ok" else _Err
        return lambda v, R: type(v) is cls and sub(v.value, R)
    if tag == "s":
        tname = desc[1]
        fields = [(k, strict(d)) for k, d in desc[2]]

        def m_struct(v: Any, R: list) -> bool:
            if type(v) is not _StructValue or v.type_name != tname:
                return False
            f = v.fields
            for k, m in fields:
                if k not in f or not m(f[k], R):
                    return False
            return True
        return m_struct
    if tag == "v":
        enum, variant = desc[1], desc[2]
        args = None if desc[3] is None else [strict(d) for d in desc[3]]
        fields = None if desc[4] is None else [(k, strict(d)) for k, d in desc[4]]

        def m_variant(v: Any, R: list) -> bool:
            if type(v) is not _EnumValue or v.enum != enum or v.variant != variant:
                return False
            if args is not None:
                payload = v.payload if type(v.payload) is tuple else ()
                if len(payload) != len(args):
                    return False
                for m, x in zip(args, payload):
                    if not m(x, R):
                        return False
                return True
            if fields is not None:
                payload = v.payload if type(v.payload) is dict else {}
                for k, m in fields:
                    if k not in payload or not m(payload[k], R):
                        return False
            return True
        return m_variant
    if tag == "x":
        kind, msg = desc[1], desc[2]

        def m_error(v: Any, R: list) -> bool:
            raise ShapeError(kind, msg)
        return m_error
    raise ValueError(f"bad pattern tag {tag!r}")


def _field_or_none(value: Any, key: str) -> Any:
    t = type(value)
    if t is dict:
        return value.get(key)
    if t is _StructValue:
        return value.fields.get(key)
    if t is _EnumValue and type(value.payload) is dict:
        return value.payload.get(key)
    if t is V.HashMapValue:
        return value.entries.get(key)
    raise ShapeError("TypeError", f"Cannot destructure {V.type_name(value)} as an object")


def loose(desc: list) -> Callable[[Any, list], None]:
    """Lenient destructuring (let, parameters, for): never fails except on a type mismatch."""
    tag = desc[0]
    if tag == "b":
        return _binder(desc[1], desc[2])
    if tag == "_":
        return lambda v, R: None
    if tag == "a":
        items = [loose(d) for d in desc[1]]
        n = len(items)
        rest = _binder(desc[3][1], desc[3][2]) if desc[2] and desc[3] is not None else None

        def d_array(v: Any, R: list) -> None:
            if type(v) is not list:
                raise ShapeError("TypeError", f"Cannot destructure {V.type_name(v)} as an array")
            m = len(v)
            for i in range(n):
                items[i](v[i] if i < m else None, R)
            if rest is not None:
                rest(list(v[n:]), R)
        return d_array
    if tag == "o":
        fields = [(k, loose(d)) for k, d in desc[1]]

        def d_object(v: Any, R: list) -> None:
            for k, d in fields:
                d(_field_or_none(v, k), R)
        return d_object
    m = strict(desc)

    def d_other(v: Any, R: list) -> None:
        if not m(v, R):
            raise ShapeError("MatchError", f"Value {D.display(v)} does not match the pattern")
    return d_other
