"""Deeply nested patterns match in time and code linear in their size, on every engine.

runtime/patterns.py turns a pattern into Python code (the matcher both engines run, and that the
VM's threader inlines). Nested object patterns used to repeat their value's expression twice per
level, so the code doubled with each level (`{a: {a: … x …}}` took 1.6 s at 12 levels and 24 GB
at 17). Every kind of pattern that holds sub-patterns is nested here to the language's limit
(100 levels, spec/implementation-contracts.md), alone and mixed, in `match` and in `let`, at top
level and in a function's hot code, and must give the same outcome on the reference, the VM and
the generic VM.
"""
from __future__ import annotations

import itertools

import pytest

from shapelang import api
from shapelang.runtime import patterns as P
from shapelang.vm.threader import generic_mode

DECLS = "type B { a: any }\nenum E { T(any), S { a: any } }\n"

# kind -> (value wrapper, pattern wrapper), each taking the inner text.
KINDS = {
    "object": (lambda s: f"{{a: {s}}}", lambda s: f"{{a: {s}}}"),
    "array": (lambda s: f"[0, {s}]", lambda s: f"[_, {s}]"),
    "array-rest": (lambda s: f"[{s}, 7]", lambda s: f"[{s}, ...r]"),
    "struct": (lambda s: f"B {{ a: {s} }}", lambda s: f"B {{ a: {s} }}"),
    "tuple-variant": (lambda s: f"E::T({s})", lambda s: f"E::T({s})"),
    "struct-variant": (lambda s: f"E::S {{ a: {s} }}", lambda s: f"E::S {{ a: {s} }}"),
    "ok": (lambda s: f"Ok({s})", lambda s: f"Ok({s})"),
    "err": (lambda s: f"Err({s})", lambda s: f"Err({s})"),
    "some": (lambda s: f"Some({s})", lambda s: f"Some({s})"),
}


def nest(kinds: list[str], inner_value: str, inner_pattern: str) -> tuple[str, str]:
    value, pattern = inner_value, inner_pattern
    for kind in reversed(kinds):
        wrap_value, wrap_pattern = KINDS[kind]
        value, pattern = wrap_value(value), wrap_pattern(pattern)
    return value, pattern


def programs(kinds: list[str]) -> list[tuple[str, str]]:
    """(source, expected stdout): a match that binds at the bottom, one that fails at the
    bottom (a literal differs), a `let` destructuring, all at top level; then the same match
    in a function called in a loop (the VM threads hot code with its inlined matchers)."""
    value, pattern = nest(kinds, "1", "x")
    _, literal = nest(kinds, "1", "2")
    out = []
    out.append((f"{DECLS}let v = {value}\nmatch v {{ {pattern} => print(x), _ => print(0) }}\n",
                "1\n"))
    out.append((f"{DECLS}let v = {value}\nmatch v {{ {literal} => print(2), _ => print(0) }}\n",
                "0\n"))
    if all(k in ("object", "array", "array-rest") for k in kinds):
        out.append((f"{DECLS}let {pattern} = {value}\nprint(x)\n", "1\n"))
    out.append((f"{DECLS}fn f(v) {{ match v {{ {pattern} => x, _ => 0 }} }}\n"
                f"let mut s = 0\nfor i in 0..3 {{ s = s + f({value}) }}\nprint(s)\n", "3\n"))
    return out


def outcome(source: str, engine: str) -> dict:
    r = api.run(source, path="t.shape", engine=engine)
    e = r.error
    return {"stdout": r.stdout, "error": None if e is None else (e.kind, e.message),
            "exit_code": r.exit_code}


def check(kinds: list[str]) -> None:
    for source, stdout in programs(kinds):
        expected = {"stdout": stdout, "error": None, "exit_code": 0}
        assert outcome(source, "ref") == expected, source
        assert outcome(source, "vm") == expected, source
        with generic_mode(True):
            assert outcome(source, "vm") == expected, source


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("depth", [3, 99])
def test_one_kind_nested(kind, depth):
    check([kind] * depth)


def test_every_kind_nested_in_every_other():
    cycle = itertools.cycle(sorted(KINDS))
    check([next(cycle) for _ in range(99)])


def code_size(desc: list) -> int:
    names = (f"t{i}" for i in itertools.count())
    tests, binds, _ = P.strict_code(desc, "v", names.__next__, "D")
    return sum(map(len, tests)) + sum(map(len, binds))


@pytest.mark.parametrize("tag", ["o", "a", "ok", "s", "v"])
def test_matcher_code_grows_linearly_with_depth(tag):
    def desc(depth: int) -> list:
        d: list = ["b", 0, 0]
        for _ in range(depth):
            d = {"o": lambda d: ["o", [["a", d]]], "a": lambda d: ["a", [["_"], d], 0, None],
                 "ok": lambda d: ["ok", d], "s": lambda d: ["s", "B", [["a", d]]],
                 "v": lambda d: ["v", "E", "T", [d], None]}[tag](d)
        return d
    # Twice as deep: about twice the code (temporaries have longer names past t9, t99).
    assert code_size(desc(200)) < 2.3 * code_size(desc(100))
