"""Pattern matching: one definition of what each pattern tests and binds, used by both engines.

A pattern is matched through its *descriptor*, constant data built from the AST by
ref/patterns.py `describe` (the VM stores it in its blobs):

    ["_"]                              wildcard
    ["b", slot, cell]                  bind to slot `slot` (cell=1: the slot holds a cell, and
                                       the value goes into the cell)
    ["l", value]                       literal (int, number, string, bool, None)
    ["a", [item…], has_rest, rest]     array; rest is a bind descriptor or None
    ["o", [[key, pattern]…]]           object (or struct instance) fields
    ["some", p] ["ok", p] ["err", p]   Option and Result
    ["s", TypeName, [[key, pattern]…]] struct instance of a named type
    ["v", Enum, Variant, args|None, fields|None]   enum variant
    ["x", Kind, message]               an invalid pattern: raises when it is tried
    ["t", stype, p]                    a typed pattern `n: T`: the value's own type is T
                                       (runtime/types.py is_instance), and it matches p (a
                                       bind or "_")

Strict matching (`match` arms) is defined once, by `strict_code`: for each tag, the Python tests
the value must pass, and the bindings done when all tests pass (no binding happens before every
test of the whole pattern has passed). `strict(desc)` compiles that code into a matcher
`m(value, R) -> bool` binding into the slot list `R`; the VM's threader inlines the very same
code into its hot units. Destructuring (`let`, parameters, `for`) is lenient, `loose(desc)`:
missing array elements and object fields bind None, and only a value of the wrong shape fails.

Slots: the VM binds into its registers; the reference evaluator numbers a pattern's bindings
0, 1, … and binds into a scratch list (see ref/evaluator.py `pattern`).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.types import is_instance
from shapelang.runtime.values import EnumValue, Err, HashMapValue, Ok, StructValue, type_name

Matcher = Callable[[Any, list], bool]
Binder = Callable[[Any, list], None]


def no_arm_matched(subject: Any) -> ShapeError:
    return ShapeError("MatchError", f"No match arm matched the value {display(subject)}")


# ---------------------------------------------------------------- strict matching, as code

def h_bad_pattern(desc: list) -> bool:
    raise ShapeError(desc[1], desc[2])


# The names the code of `strict_code` uses; every namespace that runs it includes these.
CODE_NAMES: dict[str, Any] = {
    "StructValue": StructValue, "EnumValue": EnumValue, "Ok": Ok, "Err": Err,
    "h_bad_pattern": h_bad_pattern, "is_instance": is_instance,
}


Reg = Callable[[int], str]


def _slot(slot: int) -> str:
    return f"R[{slot}]"


def _store(bind: list, v: str, reg: Reg = _slot) -> str:
    slot, cell = bind[1], bind[2]
    return f"{reg(slot)}.v = {v}" if cell else f"{reg(slot)} = {v}"


class _Code:
    """What one `strict_code` call accumulates: the tests, the bindings, and the constants the
    code reads (`{consts}[i]`: literals, keys, names and descriptors are never spliced in)."""

    def __init__(self, tmp: Callable[[], str], consts: str, reg: Reg) -> None:
        self.reg = reg
        self.tests: list[str] = []
        self.binds: list[str] = []
        self.values: list[Any] = []
        self.tmp = tmp
        self.name = consts

    def const(self, x: Any) -> str:
        self.values.append(x)
        return f"{self.name}[{len(self.values) - 1}]"

    def sub(self, d: list, expr: str) -> None:
        """Match sub-pattern `d` against the value of `expr`. A pattern that tests its value
        reads it through a temporary, assigned (`:=`) at its first test: every sub-value is
        computed once, and the code stays linear in the size of the pattern, however deep."""
        if d[0] in ("_", "b", "x"):
            self.match(d, expr, expr)
        else:
            t = self.tmp()
            self.match(d, t, f"({t} := {expr})")

    def match(self, d: list, v: str, first: str) -> None:
        """`v` names the value; `first` is what its first use in a test says (it may assign
        `v`, so it comes first in the tests, which run in order and stop at a failure)."""
        tag = d[0]
        tests = self.tests
        if tag == "_":
            return
        if tag == "b":
            self.binds.append(_store(d, first, self.reg))
            return
        if tag == "l":
            lit = d[1]
            if lit is None:
                tests.append(f"{first} is None")
            elif type(lit) is bool:
                tests.append(f"{first} is {lit!r}")
            elif type(lit) is int:
                tests += [f"(type({first}) is int or type({v}) is float)", f"{v} == ({lit!r})"]
            elif type(lit) is float:
                tests += [f"(type({first}) is int or type({v}) is float)",
                          f"{v} == {self.const(lit)}"]
            else:
                tests += [f"type({first}) is str", f"{v} == {self.const(lit)}"]
            return
        if tag == "some":
            tests.append(f"{first} is not None")
            self.match(d[1], v, v)
            return
        if tag in ("ok", "err"):
            tests.append(f"type({first}) is {'Ok' if tag == 'ok' else 'Err'}")
            self.sub(d[1], f"{v}.value")
            return
        if tag == "a":
            items = d[1]
            n = len(items)
            tests += [f"type({first}) is list", f"len({v}) {'>=' if d[2] else '=='} {n}"]
            for i, sub_d in enumerate(items):
                self.sub(sub_d, f"{v}[{i}]")
            if d[3] is not None:
                self.binds.append(_store(d[3], f"list({v}[{n}:])", self.reg))
            return
        if tag == "o":
            # An object's own fields, or a struct instance's.
            tests.append(f"(type({first}) is dict or type({v}) is StructValue)")
            self.fields(d[1], f"({v} if type({v}) is dict else {v}.fields)")
            return
        if tag == "s":
            tests += [f"type({first}) is StructValue", f"{v}.type_name == {self.const(d[1])}"]
            self.fields(d[2], f"{v}.fields")
            return
        if tag == "v":
            tests += [f"type({first}) is EnumValue", f"{v}.enum == {self.const(d[1])}",
                      f"{v}.variant == {self.const(d[2])}"]
            payload = f"{v}.payload"
            if d[3] is not None:
                n = len(d[3])
                if n:
                    tests += [f"type({payload}) is tuple", f"len({payload}) == {n}"]
                else:
                    tests.append(f"(type({payload}) is not tuple or not {payload})")
                for i, sub_d in enumerate(d[3]):
                    self.sub(sub_d, f"{payload}[{i}]")
            elif d[4]:
                tests.append(f"type({payload}) is dict")
                self.fields(d[4], payload)
            return
        if tag == "x":
            tests.append(f"h_bad_pattern({self.const(d)})")
            return
        if tag == "t":
            tests.append(f"is_instance({first}, {self.const(d[1])})")
            self.match(d[2], v, v)
            return
        raise ValueError(f"bad pattern tag {tag!r}")

    def fields(self, fields: list, container: str) -> None:
        if not fields:
            return
        c = self.tmp()
        first = f"({c} := {container})"
        for key, sub_d in fields:
            k = self.const(key)
            self.tests.append(f"{k} in {first}")
            first = c
            self.sub(sub_d, f"{c}[{k}]")


def strict_code(d: list, v: str, tmp: Callable[[], str], consts: str,
                reg: Reg = _slot) -> tuple[list[str], list[str], list[Any]]:
    """The strict match of descriptor `d` as Python code: (tests, bindings, constants). `v` is
    a local variable holding the value; `tmp()` gives a fresh local name for each temporary;
    the code reads constant `i` as `{consts}[i]`. The tests are in the order a reader would
    check them, and a failing test stops the rest (`and`); the bindings run after all of them
    passed (they read the temporaries the tests assigned). `reg(slot)` is the expression of a
    slot a binding stores into (`R[slot]`; the JIT's locals)."""
    code = _Code(tmp, consts, reg)
    code.match(d, v, v)
    return code.tests, code.binds, code.values


_CODE_CACHE: dict[str, Any] = {}
CODE_CACHE_LIMIT = 4096


def strict(desc: list) -> Matcher:
    """The strict matcher of `desc` (`match` arms): binds into R and returns True, or returns
    False, binding nothing."""
    names = (f"t{i}" for i in itertools.count())
    tests, binds, consts = strict_code(desc, "v", names.__next__, "D")
    lines = ["def make(D):", "    def match(v, R):"]
    if tests:
        lines.append(f"        if not ({' and '.join(tests)}):")
        lines.append("            return False")
    lines += [f"        {b}" for b in binds]
    lines += ["        return True", "    return match"]
    src = "\n".join(lines) + "\n"
    code = _CODE_CACHE.get(src)
    if code is None:
        if len(_CODE_CACHE) >= CODE_CACHE_LIMIT:
            _CODE_CACHE.clear()
        code = _CODE_CACHE[src] = compile(src, "<shape pattern>", "exec")
    ns = dict(CODE_NAMES)
    exec(code, ns)
    return ns["make"](tuple(consts))


# ---------------------------------------------------------------- lenient destructuring

def _binder(bind: list) -> Binder:
    slot = bind[1]
    if bind[2]:
        def bind_cell(v: Any, R: list) -> None:
            R[slot].v = v
        return bind_cell

    def bind_slot(v: Any, R: list) -> None:
        R[slot] = v
    return bind_slot


def field_or_none(value: Any, key: str) -> Any:
    """What `{key}` destructures from `value` (None when it has no such field)."""
    t = type(value)
    if t is dict:
        return value.get(key)
    if t is StructValue:
        return value.fields.get(key)
    if t is EnumValue and type(value.payload) is dict:
        return value.payload.get(key)
    if t is HashMapValue:
        return value.entries.get(key)
    raise type_error(f"Cannot destructure {type_name(value)} as an object")


def loose(desc: list) -> Binder:
    """Lenient destructuring (`let`, parameters, `for`): binds into R, or raises (a value of
    the wrong type, or a pattern that can fail, such as a literal, that does not match)."""
    tag = desc[0]
    if tag == "b":
        return _binder(desc)
    if tag == "_":
        return lambda v, R: None
    if tag == "a":
        items = [loose(d) for d in desc[1]]
        n = len(items)
        rest = _binder(desc[3]) if desc[2] and desc[3] is not None else None

        def d_array(v: Any, R: list) -> None:
            if type(v) is not list:
                raise type_error(f"Cannot destructure {type_name(v)} as an array")
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
                d(field_or_none(v, k), R)
        return d_object
    m = strict(desc)

    def d_other(v: Any, R: list) -> None:
        if not m(v, R):
            raise ShapeError("MatchError", f"Value {display(v)} does not match the pattern")
    return d_other
