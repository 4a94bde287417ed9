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
evaluator's `match_pattern` / `_bind_loose` exactly.
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.runtime import display as D, operators as Op, values as V
from shapelang.runtime.errors import KINDS, ShapeError
from shapelang.vm import opcodes as O

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


# ---------------------------------------------------------------- validation of constant operands

def _valid_pattern(d: Any, nlocals: int, depth: int = 0) -> bool:
    if depth > 200 or type(d) is not list or not d or type(d[0]) is not str:
        return False
    tag = d[0]
    if tag == "_":
        return len(d) == 1
    if tag == "b":
        return len(d) == 3 and type(d[1]) is int and 0 <= d[1] < nlocals and d[2] in (0, 1) \
            and type(d[2]) is int
    if tag == "l":
        return len(d) == 2 and (d[1] is None or type(d[1]) in (int, float, str, bool))
    if tag == "a":
        return (len(d) == 4 and type(d[1]) is list
                and all(_valid_pattern(x, nlocals, depth + 1) for x in d[1])
                and d[2] in (0, 1) and type(d[2]) is int
                and (d[3] is None or (_valid_pattern(d[3], nlocals, depth + 1) and d[3][0] == "b")))
    if tag == "o":
        return len(d) == 2 and _valid_fields(d[1], nlocals, depth)
    if tag in ("some", "ok", "err"):
        return len(d) == 2 and _valid_pattern(d[1], nlocals, depth + 1)
    if tag == "s":
        return len(d) == 3 and type(d[1]) is str and _valid_fields(d[2], nlocals, depth)
    if tag == "v":
        return (len(d) == 5 and type(d[1]) is str and type(d[2]) is str
                and (d[3] is None or (type(d[3]) is list
                                      and all(_valid_pattern(x, nlocals, depth + 1) for x in d[3])))
                and (d[4] is None or _valid_fields(d[4], nlocals, depth)))
    if tag == "x":
        return len(d) == 3 and d[1] in KINDS and type(d[2]) is str
    return False


def _valid_fields(fields: Any, nlocals: int, depth: int) -> bool:
    return type(fields) is list and all(
        type(f) is list and len(f) == 2 and type(f[0]) is str
        and _valid_pattern(f[1], nlocals, depth + 1) for f in fields)


def _str_list(x: Any, allow_none: bool = False) -> bool:
    return type(x) is list and all(type(s) is str or (allow_none and s is None) for s in x)


def _valid_type_name(x: Any) -> bool:
    return x is None or type(x) is str


def validate_consts(b: Any, need: Callable[[bool, str], None]) -> None:
    """Check the structured constant operands of every instruction of blob `b`."""
    from shapelang.vm.machine import BUILTIN_NAMES
    K = b.consts
    n = b.nlocals
    for pc, (op, a, c) in enumerate(b.code):
        where = f"operand of {O.NAMES[op]} at {pc}"
        if op == O.MATCH:
            d = K[a]
            need(type(d) is list and len(d) == 2 and type(d[0]) is int and 0 <= d[0] < n
                 and _valid_pattern(d[1], n), where)
        elif op == O.DESTRUCTURE:
            need(_valid_pattern(K[a], n), where)
        elif op in (O.LOAD_BUILTIN, O.CALL_BUILTIN):
            need(type(K[a]) is str and K[a] in BUILTIN_NAMES, where)
        elif op == O.LOAD_PRELUDE:
            need(type(K[a]) is str and K[a].startswith("__"), where)
        elif op == O.MAKE_ANNOTATED:
            need(K[a] is None or type(K[a]) is str, where)
        elif op in (O.GET_ATTR, O.SET_ATTR, O.FORMAT_SPEC, O.CALL_METHOD, O.CALL_METHOD_VAR):
            need(type(K[a]) is str, where)
        elif op == O.GET_VARIANT:
            need(_str_list(K[a]) and len(K[a]) == 2, where)
        elif op == O.BUILD_OBJECT:
            need(_str_list(K[a], allow_none=True), where)
        elif op == O.BUILD_LIST_SPREAD:
            need(type(K[a]) is list and all(type(x) is int and x in (0, 1) for x in K[a]), where)
        elif op in (O.STRUCT_LITERAL, O.BUILD_STRUCT):
            d = K[a]
            need(type(d) is list and len(d) == 2 and _str_list(d[0]) and 1 <= len(d[0]) <= 2
                 and _str_list(d[1]) and len(d[1]) == c, where)
        elif op == O.BUILD_RECORD:
            d = K[a]
            need(type(d) is list and len(d) == 4 and d[0] in ("struct", "variant")
                 and type(d[1]) is str and type(d[2]) is str and type(d[3]) is list
                 and all(type(f) is list and len(f) == 4 and type(f[0]) is str
                         and f[1] in (0, 1) and type(f[1]) is int and type(f[2]) is int
                         and -1 <= f[2] < c and (f[3] is None or type(f[3]) in (int, float, str, bool))
                         for f in d[3]), where)
        elif op == O.MAKE_VARIANT:
            need(_str_list(K[a]) and len(K[a]) == 2, where)
        elif op == O.BUILD_VARIANT:
            d = K[a]
            need(type(d) is list and len(d) == 3 and type(d[0]) is str and type(d[1]) is str
                 and type(d[2]) is list and all(_valid_type_name(t) for t in d[2]), where)
        elif op == O.MAKE_ENUM_TYPE:
            d = K[a]
            need(type(d) is list and len(d) == 2 and type(d[0]) is str and type(d[1]) is list
                 and all(type(v) is list and len(v) == 4 and type(v[0]) is str
                         and v[1] in ("unit", "tuple", "struct")
                         and type(v[2]) is list and all(_valid_type_name(t) for t in v[2])
                         and _str_list(v[3]) for v in d[1]), where)
        elif op == O.MAKE_STRUCT_TYPE:
            d = K[a]
            need(type(d) is list and len(d) == 2 and type(d[0]) is str and type(d[1]) is list
                 and all(type(f) is list and len(f) == 4 and type(f[0]) is str
                         and _valid_type_name(f[1]) and f[2] in (0, 1, 2) and type(f[2]) is int
                         and (f[3] is None or type(f[3]) in (int, float, str, bool))
                         for f in d[1]) and c in (0, 1), where)
        elif op == O.DEFINE_METHOD:
            need(_str_list(K[a]) and len(K[a]) == 2, where)
        elif op == O.CALL_REF:
            need(type(K[c]) is list and all(type(i) is int and 0 <= i < a for i in K[c]), where)
        elif op == O.RAISE:
            need(type(K[a]) is list and len(K[a]) == 2 and K[a][0] in KINDS
                 and type(K[a][1]) is str, where)
