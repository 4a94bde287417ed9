"""Types at run time: what a declared type accepts, converts and wraps; `as`; type values.

A *slot* is a place whose type is declared (spec/types.md §2): a variable, a parameter, a return
value, a struct field, an enum payload. The front end reads each annotation once (ref/types.py
`parse_type`), the resolver ties its names to declarations and turns it into a *slot
descriptor*, plain data that both engines hand to `check_slot` at every store (the VM keeps it
in its constant table, so it is part of a blob):

    [label, text, type]     label: what the slot is, for messages ("parameter 'x' of f");
                            text: the declared type in canonical form ("int?", "[string]");
                            type: what the type accepts, below.

Types (a *stype*), plain lists:

    ["any"]                         every value (`any`, a generic parameter)
    ["int"]                         ints (never bools)
    ["number"]                      numbers, and ints, which are stored as numbers
    ["i8"] ["u8"] ["i16"] ["u16"] ["i32"] ["u32"]
                                    ints, stored wrapped into the width (two's complement)
    ["string"] ["bool"] ["None"] ["unit"] ["array"] ["object"] ["HashMap"] ["Result"]
    ["range"] ["Iterator"] ["function"] ["type"] ["duration"]
                                    the values whose type has that name (values.type_name)
    ["?", t]                        None, or what t accepts (with t's conversion)
    ["s", name] / ["e", name]       the instances of struct `name` / the values of enum `name`
    ["dyn", [trait, …]]             values whose type implements every trait named

Element types (`[int]`), map types and type arguments are not checked at run time (the static
pass of ref/typecheck.py checks what it can see); a slot checks the kind of container only.

Typed patterns (`n: int => …`) test the same stypes without converting (`is_instance`); `as`
converts by the table of spec/types.md §5 (`convert`, `try_convert`). Type values are
`values.TypeValue`; `type_of` gives a value's. `Declarations` holds what the rules need to know
about a program's struct types by name (field slots for field assignment, generic parameters for
`.type()`); each engine builds it from the program's declarations.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable, Optional

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.values import (INT_MAX, INT_MIN, UNIT, EnumValue, Err, Ok, StructValue,
                                      TypeValue, is_type_value, type_name)

# Width integers: name -> (bits, signed).
WIDTHS: dict[str, tuple[int, bool]] = {"i8": (8, True), "u8": (8, False), "i16": (16, True),
                                      "u16": (16, False), "i32": (32, True), "u32": (32, False)}
# Kinds tested by the value's type name alone.
NAMED_KINDS = frozenset(("string", "bool", "None", "unit", "array", "object", "HashMap",
                         "Result", "range", "Iterator", "function", "type", "duration"))
SIMPLE_KINDS = NAMED_KINDS | {"any", "int", "number"} | frozenset(WIDTHS)
# Conversion targets of `as T?` (and the sources it accepts).
FALLIBLE = ("int", "number", "string", "bool")

_NO = object()    # "does not conform"


# ---------------------------------------------------------------- descriptors

def is_stype(t: Any, depth: int = 0) -> bool:
    """Whether `t` is a well-formed stype (stored code and state are untrusted input)."""
    if type(t) is not list or not t or type(t[0]) is not str or depth > 100:
        return False
    k = t[0]
    if k in SIMPLE_KINDS:
        return len(t) == 1
    if k == "?":
        return len(t) == 2 and is_stype(t[1], depth + 1)
    if k in ("s", "e"):
        return len(t) == 2 and type(t[1]) is str
    if k == "dyn":
        return (len(t) == 2 and type(t[1]) is list and len(t[1]) > 0
                and all(type(x) is str for x in t[1]))
    return False


def is_slot(s: Any) -> bool:
    """Whether `s` is a well-formed slot descriptor [label, text, stype]."""
    return (type(s) is list and len(s) == 3 and type(s[0]) is str and type(s[1]) is str
            and is_stype(s[2]))


def is_target(t: Any) -> bool:
    """Whether `t` is a well-formed `as` target [text, stype]."""
    return type(t) is list and len(t) == 2 and type(t[0]) is str and is_stype(t[1])


# ---------------------------------------------------------------- conformance

def wrap(v: int, width: str) -> int:
    """`v` wrapped into a width: its low bits, the top one read as the sign for i8/i16/i32
    (upstream's IntWidth::truncate)."""
    bits, signed = WIDTHS[width]
    v &= (1 << bits) - 1
    if signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def in_width(v: int, width: str) -> bool:
    bits, signed = WIDTHS[width]
    if signed:
        return -(1 << (bits - 1)) <= v < 1 << (bits - 1)
    return 0 <= v < 1 << bits


def implements(v: Any, trait: str, decls: Optional["Declarations"]) -> bool:
    """Whether the type of `v` implements `trait` (spec/traits.md §4)."""
    return decls is not None and trait in decls.impls.get(type_name(v), ())


def conform(v: Any, t: list, decls: Optional["Declarations"] = None) -> Any:
    """What a slot of type `t` stores for `v` (converted and wrapped), or _NO."""
    k = t[0]
    if k == "any":
        return v
    if k == "int":
        return v if type(v) is int else _NO
    if k == "number":
        tv = type(v)
        if tv is float:
            return v
        return float(v) if tv is int else _NO
    if k in NAMED_KINDS:
        return v if type_name(v) == k else _NO
    if k == "?":
        return None if v is None else conform(v, t[1], decls)
    if k in WIDTHS:
        return wrap(v, k) if type(v) is int else _NO
    if k == "s":
        return v if type(v) is StructValue and v.type_name == t[1] else _NO
    if k == "e":
        return v if type(v) is EnumValue and v.enum == t[1] else _NO
    if k == "dyn":
        return v if all(implements(v, trait, decls) for trait in t[1]) else _NO
    raise ShapeError("RuntimeError", f"malformed type descriptor {t!r}")


def mismatch(label: str, text: str, found: str, missing: Iterable[str] = ()) -> ShapeError:
    """A value of type `found` stored in a slot of type `text`; `missing`: the traits the slot
    needs (`dyn`, generic bounds) that type does not implement."""
    why = f" (which does not implement {', '.join(missing)})" if missing else ""
    return type_error(f"Type mismatch for {label}: expected {text}, found {found}{why}")


def missing_traits(found: str, t: list, has: Callable[[str, str], bool]) -> list:
    """The traits a slot of stype `t` requires that values of type `found` lack (`has(type,
    trait)` says whether one is implemented)."""
    if t[0] == "?":
        t = t[1]
    return [trait for trait in t[1] if not has(found, trait)] if t[0] == "dyn" else []


def does_not_fit(label: str, text: str, width: str, value: int) -> ShapeError:
    """A constant outside `width` stored in a slot of type `text` (found before the run)."""
    bits, signed = WIDTHS[width]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return type_error(f"Value {value} does not fit in {text} ({lo} to {hi}) for {label}")


def check_slot(v: Any, slot: list, decls: Optional["Declarations"] = None) -> Any:
    """Store `v` into a slot: the value the slot holds (an int in a `number` slot becomes a
    number, one in a width slot is wrapped), or a TypeError naming the slot."""
    r = conform(v, slot[2], decls)
    if r is _NO:
        found = type_name(v)
        raise mismatch(slot[0], slot[1], found, missing_traits(
            found, slot[2], lambda ty, trait: decls is not None and trait in decls.impls.get(ty, ())))
    return r


def is_instance(v: Any, t: list, decls: Optional["Declarations"] = None) -> bool:
    """A typed pattern's test (spec/types.md §8): the value's own type, converting nothing: an
    int is an `int` and each width whose range holds it, never a `number`."""
    k = t[0]
    if k == "int":
        return type(v) is int
    if k == "number":
        return type(v) is float
    if k in WIDTHS:
        return type(v) is int and in_width(v, k)
    if k == "?":
        return v is None or is_instance(v, t[1], decls)
    return conform(v, t, decls) is not _NO


# ---------------------------------------------------------------- `as`

def _to_int(v: Any) -> Any:
    t = type(v)
    if t is int:
        return v
    if t is bool:
        return 1 if v else 0
    return _NO


def _to_number(v: Any) -> Any:
    t = type(v)
    if t is float:
        return v
    if t is int or t is bool:
        return float(v)
    return _NO


def _to_string(v: Any) -> Any:
    t = type(v)
    if t is str:
        return v
    if t is int or t is float or t is bool:
        return display(v)
    return _NO


def _to_bool(v: Any) -> Any:
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    return _NO


_AS = {"int": _to_int, "number": _to_number, "string": _to_string, "bool": _to_bool}


def convert(v: Any, target: list, decls: Optional["Declarations"] = None) -> Any:
    """`v as T` (spec/types.md §5.1): converts between int, number, string and bool as the
    table says, wraps ints into widths, and for any other T returns `v` unchanged if it
    conforms to T."""
    text, t = target
    k = t[0]
    f = _AS.get(k)
    if f is not None:
        r = f(v)
    elif k in WIDTHS:
        r = wrap(v, k) if type(v) is int else _NO
    else:
        r = v if conform(v, t, decls) is not _NO else _NO
    if r is _NO:
        raise cannot_convert(type_name(v), text)
    return r


def cannot_convert(found: str, text: str) -> ShapeError:
    """`e as T` for a value that `as T` cannot convert."""
    if text in FALLIBLE and found in FALLIBLE:
        return type_error(f"Cannot convert {found} to {text} with 'as'; 'as {text}?' converts "
                          f"it or says why not")
    return type_error(f"Cannot convert {found} to {text}")


def cannot_try_convert(found: str, text: str) -> ShapeError:
    """`e as T?` where T or the value's type is not one of int, number, string and bool."""
    return type_error(f"Cannot convert {found} to {text} with 'as {text}?': it converts between "
                      "int, number, string and bool only")


_RUST_INT = re.compile(r"[+-]?[0-9]+\Z")
# f64::from_str: an optional sign, then digits with an optional point (digits on at least one
# side), an optional exponent; or inf, infinity, nan in any case.
_RUST_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                         r"|(?i:inf|infinity|nan))\Z")


def _failed(what: str) -> Err:
    return Err(f"cannot convert {what}")


def try_convert(v: Any, target: list) -> Any:
    """`v as T?` (spec/types.md §5.2): Ok(converted) or Err(why not), between int, number,
    string and bool."""
    text, t = target
    k = t[0]
    tv = type(v)
    if k not in FALLIBLE or tv not in (int, float, str, bool):
        raise cannot_try_convert(type_name(v), text)
    if k == "int":
        if tv is float:
            if not math.isfinite(v):
                return _failed("non-finite number to int")
            if not v.is_integer() or not INT_MIN <= v <= INT_MAX or v == 2.0 ** 63:
                return _failed(f"non-integer number '{display(v)}' to int")
            return Ok(int(v))
        if tv is str:
            if _RUST_INT.match(v):
                n = int(v)
                if INT_MIN <= n <= INT_MAX:
                    return Ok(n)
            return _failed(f"string '{v}' to int")
        return Ok(_to_int(v))
    if k == "number":
        if tv is str:
            if _RUST_FLOAT.match(v):
                return Ok(float(v))
            return _failed(f"string '{v}' to number")
        return Ok(_to_number(v))
    if k == "bool":
        if tv is str:
            word = v.strip().lower()
            if word in ("true", "1"):
                return Ok(True)
            if word in ("false", "0"):
                return Ok(False)
            return _failed(f"string '{v}' to bool")
        return Ok(_to_bool(v))
    return Ok(_to_string(v))


# ---------------------------------------------------------------- type values

def type_of(v: Any, decls: Optional["Declarations"] = None) -> TypeValue:
    """`v.type()` (spec/types.md §7): the type value of `v`; of a type value, itself."""
    if type(v) is TypeValue:
        return v
    if is_type_value(v):
        return TypeValue(v.name)
    if type(v) is StructValue and decls is not None:
        return TypeValue(decls.instance_type(v, set()))
    return TypeValue(type_name(v))


# ---------------------------------------------------------------- declarations

_CONFLICT = ["conflict"]


class Declarations:
    """What the run-time rules need to know about a program's types, by type name: the slot of
    each struct field (assigning to a field checks it, language.md §9.2), the generic parameters
    of struct types (the type arguments `.type()` names) and which traits each type implements.

    A struct name declared more than once (in different scopes) keeps what its declarations
    agree on: a field whose declarations disagree about its type is not checked on assignment,
    and `.type()` names no type arguments if they disagree about the parameters."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, Any]] = {}
        self.params: dict[str, Any] = {}
        self.impls: dict[str, set] = {}

    def add_struct(self, name: str, fields: Iterable[tuple[str, Optional[list]]],
                   params: list) -> None:
        """A struct declaration: (field, slot or None) in order, and its generic parameters as
        [name, default type text or None, the first field declared exactly that type or None]."""
        known = self.fields.setdefault(name, {})
        for fname, slot in fields:
            old = known.get(fname, slot)
            known[fname] = slot if old == slot else _CONFLICT
        old = self.params.get(name, params)
        self.params[name] = params if old == params else _CONFLICT

    def add_impl(self, type_name: str, trait: str) -> None:
        """`impl trait for type_name` (runtime/traits.py: named impls are not added)."""
        self.impls.setdefault(type_name, set()).add(trait)

    def field_slot(self, type_name: str, field: str) -> Optional[list]:
        slot = self.fields.get(type_name, {}).get(field)
        return None if slot is _CONFLICT else slot

    def instance_type(self, v: StructValue, active: set) -> str:
        """The type name of a struct instance, with its type arguments unless they are all the
        defaults (spec/types.md §7)."""
        params = self.params.get(v.type_name)
        if not params or params is _CONFLICT or id(v) in active:
            return v.type_name
        active.add(id(v))
        args = []
        given = False
        for _, default, field in params:
            if field is not None and field in v.fields:
                x = v.fields[field]
                arg = self.instance_type(x, active) if type(x) is StructValue \
                    else type_of(x).name
            else:
                arg = default if default is not None else "any"
            if default is None or arg != default:
                given = True
            args.append(arg)
        active.discard(id(v))
        return f"{v.type_name}<{', '.join(args)}>" if given else v.type_name
