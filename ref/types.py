"""Type annotations: the one reader of their canonical text, and the names built into the language.

The parser keeps every annotation as canonical text (`int`, `Array<int>?`, `[string]`, `()`,
`dyn Show + Eq`); the printer, the resolver and the engines read it back with `parse_type`, so the
text is also what a compiled program stores (spec/types.md says what each form means).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, Optional

# Types every program can name (spec/types.md, "Type names").
SCALAR_TYPES = ("int", "number", "string", "bool", "None", "duration")
WIDTH_TYPES = ("i8", "u8", "i16", "u16", "i32", "u32")
CONTAINER_TYPES = ("array", "Array", "Vec", "object", "HashMap", "Option", "Result", "range",
                   "Iterator")
OTHER_TYPES = ("any", "function", "fn", "type")
BUILTIN_TYPES = frozenset(SCALAR_TYPES + WIDTH_TYPES + CONTAINER_TYPES + OTHER_TYPES)

# How many type arguments a built-in generic takes (a name not listed takes none).
BUILTIN_ARITY = {"Array": (1, 1), "Vec": (1, 1), "HashMap": (2, 2), "Option": (1, 1),
                 "Result": (1, 2), "Iterator": (1, 1)}

# Traits the language gives a meaning to without a declaration (spec/traits.md): the operator
# traits (`impl Add for V` makes `a + b` call `a.add(b)`), Display (`to_string()` gives
# `display()`), and the conversions of `as T` / `as T?` (Into<T>, TryInto<T>).
OPERATOR_TRAITS = {"Add": ("+", "add"), "Sub": ("-", "sub"), "Mul": ("*", "mul"),
                   "Div": ("/", "div"), "Neg": ("-", "neg")}
CONVERSION_TRAITS = {"Into": "into", "TryInto": "tryInto"}
BUILTIN_TRAITS = frozenset(OPERATOR_TRAITS) | {"Display"} | frozenset(CONVERSION_TRAITS)
# The methods each built-in trait requires, with their parameter count (without `self`).
BUILTIN_TRAIT_METHODS = {**{t: {m: (0 if t == "Neg" else 1)} for t, (_, m) in OPERATOR_TRAITS.items()},
                         "Display": {"display": 0},
                         **{t: {m: 0} for t, m in CONVERSION_TRAITS.items()}}
# How many type arguments a built-in trait takes.
BUILTIN_TRAIT_ARITY = {"Into": 1, "TryInto": 1}


@dataclass(frozen=True)
class TypeRef:
    """A parsed type. `kind` is "name" (`int`, `Point`, `Array<int>`: `name` and `args`),
    "array" (`[T]`: `args` = (T,)), "optional" (`T?`: `args` = (T,)), "unit" (`()`), "group"
    (`(T)` or `(A, B)`: `args`) or "dyn" (`dyn A + B`: `traits`)."""
    kind: str
    name: str = ""
    args: tuple = ()
    traits: tuple = ()


class TypeTextError(ValueError):
    pass


_TOK = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[<>\[\](),?+])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@lru_cache(maxsize=4096)
def parse_type(text: str) -> TypeRef:
    """The TypeRef of canonical type text; raises TypeTextError for anything else."""
    if not isinstance(text, str):
        raise TypeTextError(f"not a type: {text!r}")
    toks: list[str] = []
    pos = 0
    body = text.rstrip()
    while pos < len(body):
        m = _TOK.match(body, pos)
        if not m:
            raise TypeTextError(f"malformed type {text!r}")
        toks.append(m.group(1))
        pos = m.end()
    reader = _Reader(toks, text)
    t = reader.type_()
    if reader.i != len(toks):
        raise TypeTextError(f"malformed type {text!r}")
    if type_text(t) != text:
        raise TypeTextError(f"type {text!r} is not in canonical form ({type_text(t)!r})")
    return t


class _Reader:
    def __init__(self, toks: list[str], text: str) -> None:
        self.toks, self.text, self.i = toks, text, 0

    def peek(self) -> Optional[str]:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, tok: Optional[str] = None) -> str:
        t = self.peek()
        if t is None or (tok is not None and t != tok):
            raise TypeTextError(f"malformed type {self.text!r}")
        self.i += 1
        return t

    def type_(self) -> TypeRef:
        t = self.atom()
        while self.peek() == "?":
            self.take("?")
            t = TypeRef("optional", args=(t,))
        return t

    def type_list(self) -> tuple:
        items = [self.type_()]
        while self.peek() == ",":
            self.take(",")
            items.append(self.type_())
        return tuple(items)

    def atom(self) -> TypeRef:
        t = self.take()
        if t == "[":
            elem = self.type_()
            self.take("]")
            return TypeRef("array", args=(elem,))
        if t == "(":
            if self.peek() == ")":
                self.take(")")
                return TypeRef("unit")
            items = self.type_list()
            self.take(")")
            return TypeRef("group", args=items)
        if t == "dyn":
            traits = [self.name()]
            while self.peek() == "+":
                self.take("+")
                traits.append(self.name())
            return TypeRef("dyn", traits=tuple(traits))
        if not _IDENT.match(t):
            raise TypeTextError(f"malformed type {self.text!r}")
        args: tuple = ()
        if self.peek() == "<":
            self.take("<")
            args = self.type_list()
            self.take(">")
        return TypeRef("name", t, args)

    def name(self) -> str:
        t = self.take()
        if not _IDENT.match(t):
            raise TypeTextError(f"malformed type {self.text!r}")
        return t


def type_text(t: TypeRef) -> str:
    """The canonical text of `t` (what the parser stores)."""
    if t.kind == "name":
        return t.name + (f"<{', '.join(type_text(a) for a in t.args)}>" if t.args else "")
    if t.kind == "array":
        return f"[{type_text(t.args[0])}]"
    if t.kind == "optional":
        return type_text(t.args[0]) + "?"
    if t.kind == "unit":
        return "()"
    if t.kind == "group":
        return f"({', '.join(type_text(a) for a in t.args)})"
    if t.kind == "dyn":
        return "dyn " + " + ".join(t.traits)
    raise TypeTextError(f"unknown type kind {t.kind!r}")


def type_source(t: TypeRef) -> str:
    """Source text that parses back to `t`: the canonical text, except that `??` (the `??`
    operator) is written `? ?`."""
    if t.kind == "optional":
        inner = type_source(t.args[0])
        return inner + (" ?" if inner.endswith("?") else "?")
    if t.kind == "name":
        return t.name + (f"<{', '.join(type_source(a) for a in t.args)}>" if t.args else "")
    if t.kind == "array":
        return f"[{type_source(t.args[0])}]"
    if t.kind == "group":
        return f"({', '.join(type_source(a) for a in t.args)})"
    return type_text(t)


def named_types(t: TypeRef) -> Iterator[TypeRef]:
    """Every "name" node of `t` (the names the resolver must find), outermost first."""
    if t.kind == "name":
        yield t
    for a in t.args:
        yield from named_types(a)


def groups(t: TypeRef) -> Iterator[TypeRef]:
    """Every "group" node of `t` (`(T)`, and `(A, B)`, which is not a type)."""
    if t.kind == "group":
        yield t
    for a in t.args:
        yield from groups(a)


def element_type(t: TypeRef) -> Optional[TypeRef]:
    """The element type of an array type (`[T]`, `Array<T>`, `Vec<T>`), else None."""
    if t.kind == "array" or (t.kind == "name" and t.name in ("Array", "Vec") and t.args):
        return t.args[0]
    return None


def trait_names(t: TypeRef) -> Iterator[str]:
    """The trait names `t` mentions (`dyn A + B`), at any depth."""
    if t.kind == "dyn":
        yield from t.traits
    for a in t.args:
        yield from trait_names(a)


# Built-in type names and the run-time kind each stands for (runtime/types.py, "Types").
_BUILTIN_KINDS = {"int": "int", "number": "number", "string": "string", "bool": "bool",
                  "None": "None", "duration": "duration", "array": "array", "Array": "array",
                  "Vec": "array", "object": "object", "HashMap": "HashMap", "Result": "Result",
                  "range": "range", "Iterator": "Iterator", "function": "function",
                  "fn": "function", "type": "type", "any": "any",
                  **{w: w for w in WIDTH_TYPES}}


def stype(t: TypeRef, meaning: Callable[[str], Optional[str]]) -> list:
    """What annotation `t` accepts at run time, as runtime/types.py describes it (an "stype").
    `meaning(name)` says what a type name stands for: "struct", "enum", "trait", "param" (a
    generic parameter), the list of a generic parameter's bounds (trait names) when it has any,
    or None (a built-in type). The resolver has checked every name."""
    if t.kind == "name":
        m = meaning(t.name)
        if m == "param":
            return ["any"]
        if type(m) is list:     # a generic parameter with bounds: the traits its values need
            return ["dyn", m]
        if m == "struct":
            return ["s", t.name]
        if m == "enum":
            return ["e", t.name]
        if m == "trait":
            return ["dyn", [t.name]]
        if t.name == "Option":
            return _optional(stype(t.args[0], meaning))
        return [_BUILTIN_KINDS[t.name]]
    if t.kind == "array":
        return ["array"]
    if t.kind == "optional":
        return _optional(stype(t.args[0], meaning))
    if t.kind == "unit":
        return ["unit"]
    if t.kind == "group" and len(t.args) == 1:
        return stype(t.args[0], meaning)
    if t.kind == "dyn":
        return ["dyn", list(t.traits)]
    raise TypeTextError(f"not a type: {type_text(t)}")


def _optional(inner: list) -> list:
    # `any?` is `any`, and `T??` is `T?`: both accept exactly the same values.
    return inner if inner[0] in ("any", "?") else ["?", inner]
