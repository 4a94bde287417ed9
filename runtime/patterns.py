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

from typing import Any, Callable

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError, type_error
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
    "h_bad_pattern": h_bad_pattern,
}


def _store(bind: list, v: str) -> str:
    slot, cell = bind[1], bind[2]
    return f"R[{slot}].v = {v}" if cell else f"R[{slot}] = {v}"


def strict_code(d: list, v: str, dp: str) -> tuple[list[str], list[str]]:
    """The strict match of descriptor `d` as Python code: (tests, bindings). `v` is a Python
    expression for the value (evaluated more than once, so it must be cheap and pure), `dp` one
    for the descriptor (literals, keys and names are read from it, never spliced into code);
    slot numbers are ints and are written as such. The tests are in the order a reader would
    check them, and a failing test stops the rest (`and`)."""
    tag = d[0]
    if tag == "_":
        return [], []
    if tag == "b":
        return [], [_store(d, v)]
    if tag == "l":
        lit = d[1]
        if lit is None:
            return [f"{v} is None"], []
        if type(lit) is bool:
            return [f"{v} is {lit!r}"], []
        if type(lit) is int:
            return [f"(type({v}) is int or type({v}) is float)", f"{v} == ({lit!r})"], []
        if type(lit) is float:
            return [f"(type({v}) is int or type({v}) is float)", f"{v} == {dp}[1]"], []
        return [f"type({v}) is str", f"{v} == {dp}[1]"], []
    if tag in ("some", "ok", "err"):
        if tag == "some":
            tests, inner = [f"{v} is not None"], v
        else:
            tests, inner = [f"type({v}) is {'Ok' if tag == 'ok' else 'Err'}"], f"{v}.value"
        sub = strict_code(d[1], inner, f"{dp}[1]")
        return tests + sub[0], sub[1]
    if tag == "a":
        items = d[1]
        n = len(items)
        tests = [f"type({v}) is list", f"len({v}) {'>=' if d[2] else '=='} {n}"]
        binds: list[str] = []
        for i, sub_d in enumerate(items):
            sub = strict_code(sub_d, f"{v}[{i}]", f"{dp}[1][{i}]")
            tests += sub[0]
            binds += sub[1]
        if d[3] is not None:
            binds.append(_store(d[3], f"list({v}[{n}:])"))
        return tests, binds
    if tag == "o":
        # An object's own fields, or a struct instance's.
        fields = f"({v} if type({v}) is dict else {v}.fields)"
        tests = [f"(type({v}) is dict or type({v}) is StructValue)"]
        return _fields_code(d[1], fields, f"{dp}[1]", tests)
    if tag == "s":
        tests = [f"type({v}) is StructValue", f"{v}.type_name == {dp}[1]"]
        return _fields_code(d[2], f"{v}.fields", f"{dp}[2]", tests)
    if tag == "v":
        tests = [f"type({v}) is EnumValue", f"{v}.enum == {dp}[1]", f"{v}.variant == {dp}[2]"]
        payload = f"{v}.payload"
        if d[3] is not None:
            n = len(d[3])
            if n:
                tests += [f"type({payload}) is tuple", f"len({payload}) == {n}"]
            else:
                tests.append(f"(type({payload}) is not tuple or not {payload})")
            binds = []
            for i, sub_d in enumerate(d[3]):
                sub = strict_code(sub_d, f"{payload}[{i}]", f"{dp}[3][{i}]")
                tests += sub[0]
                binds += sub[1]
            return tests, binds
        if d[4]:
            tests.append(f"type({payload}) is dict")
            return _fields_code(d[4], payload, f"{dp}[4]", tests)
        return tests, []
    if tag == "x":
        return [f"h_bad_pattern({dp})"], []
    raise ValueError(f"bad pattern tag {tag!r}")


def _fields_code(fields: list, container: str, fp: str, tests: list) -> tuple[list, list]:
    binds: list[str] = []
    for j, (_, sub_d) in enumerate(fields):
        key = f"{fp}[{j}][0]"
        tests.append(f"{key} in {container}")
        sub = strict_code(sub_d, f"{container}[{key}]", f"{fp}[{j}][1]")
        tests += sub[0]
        binds += sub[1]
    return tests, binds


_CODE_CACHE: dict[str, Any] = {}
CODE_CACHE_LIMIT = 4096


def strict(desc: list) -> Matcher:
    """The strict matcher of `desc` (`match` arms): binds into R and returns True, or returns
    False, binding nothing."""
    tests, binds = strict_code(desc, "v", "D")
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
    return ns["make"](desc)


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
