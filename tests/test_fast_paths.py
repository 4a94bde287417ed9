"""The VM's fast paths agree with its generic path and with the reference evaluator.

The threader inlines the common case of many operations in hot code (function bodies, loops);
every other case must reach the rule's one function in runtime/. These programs put a constant
of each kind in each operand position of each operation, inside a loop in a function, so every
template meets operands it does not expect (issue 11: `3.bid` was not Python, and `a.len` was
read like `a.length`). The outcome (stdout, error kind, message, position, exit code) must be the
same on the reference, the VM and the generic VM (vm/threader.py generic_mode).
"""
from __future__ import annotations

import pytest

from shapelang import api
from shapelang.vm.threader import generic_mode

LITERALS = ["3", "-3", "2.5", "-0.0", '"s"', "None", "true", "()", "[1, 2]", "{a: 1}",
            "Ok(1)", "Err(1)", "1..3"]

# `L` is the constant, `x` the loop variable (an int).
SHAPES = [
    "L(x)", "x |> L", "x |> L(1)", "L.foo", "L.length", "L.len", "L.a", "L[0]", "L[x]", "x[L]",
    "L.foo()", "L.length()", "L.len()", "L.push(x)", "L.map(|v| v)", "L.sort()", "L + x",
    "x + L", "L - x", "L * x", "L / x", "x % L", "L ** x", "L == x", "x != L", "L < x",
    "x >= L", "-L", "!L", "L?", "[...L]", "{...L}", "L !! x", "L ?? x", "L && x", "L || x",
    "f\"{L}\"", "f\"{L:.2f}\"", "L..x", "{ let [p, q] = L; p }", "{ let {a} = L; a }",
    "match L { 3 => 1, [p, q] => p, {a} => a, Ok(v) => v, _ => 0 }",
    "{ let mut s = 0; for y in L { s = s + 1 }; s }", "len(L)", "print(L)", "to_string(L)",
    "{ let t = L; t.a = x; t }", "{ let t = L; t[0] = x; t }", "(L ? 1 : 2)",
    "if L { 1 } else { 2 }",
    "L & x", "x | L", "L ^ x", "L << x", "x >> L", "~L", "L << 62", "L & 255",
    "{ let mut t = x; t <<= L; t }", "{ let mut t = L; t ^= x; t }",
    "L ~= x", "x ~< L within 2", "L ~> x within 5%",
    # the in-place string append (threader append_in_place): locals, an alias, a typed
    # variable, a captured one (a cell)
    "{ let mut t = L; t = t + x; t }", "{ let mut t = L; let u = t; t += \"z\"; [t, u] }",
    "{ let mut t = \"s\"; t = t + L; t }", "{ let mut t: string = \"s\"; t += L; t }",
    "{ let mut t: int = 1; t += L; t }", "{ let mut t = L; let g = || t; t = t + \"z\"; [t, g()] }",
]


def program(shape: str, literal: str) -> str:
    expr = shape.replace("L", f"({literal})") if literal.startswith("-") else \
        shape.replace("L", literal)
    return (f"fn f(xs) {{\n  let mut out = []\n  for x in xs {{\n    out.push({expr})\n  }}\n"
            f"  out\n}}\nprint(f([1, 2]))\n")


def outcome(source: str, engine: str) -> dict:
    r = api.run(source, path="t.shape", engine=engine)
    e = r.error
    error = None if e is None else (e.kind, e.phase, e.message, e.line, e.col)
    return {"stdout": r.stdout, "error": error, "exit_code": r.exit_code}


@pytest.mark.parametrize("shape", SHAPES)
def test_fast_and_generic_paths_agree_with_the_reference(shape):
    for literal in LITERALS:
        src = program(shape, literal)
        ref = outcome(src, "ref")
        fast = outcome(src, "vm")
        with generic_mode(True):
            generic = outcome(src, "vm")
        assert fast == ref, f"vm vs ref for:\n{src}"
        assert generic == ref, f"generic vm vs ref for:\n{src}"
