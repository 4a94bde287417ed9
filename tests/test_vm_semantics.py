"""The VM gives the reference evaluator's results (stdout, value, error kind and message).

The conformance corpus is the main guard; these cases target what the VM implements itself:
cells and per-iteration variables, register reuse, hoisting, `&` parameters, defaults, patterns,
struct defaults that run code, annotations, async, spread calls, safepoint-free error paths."""
from __future__ import annotations

import re

import pytest

from shapelang import api

_ID = re.compile(r"[0-9a-f]{64}")

CASES = [
    "let fs = []\nfor i in 0..3 { let j = i * 2\n fs.push(|| i + j) }\nprint(fs.map(|f| f()))",
    "let fs = []\nlet mut i = 0\nwhile i < 3 { fs.push(|| i); i += 1 }\nprint(fs.map(|f| f()))",
    "let x = 1\nlet f = || x\nlet x = 2\nprint(f(), x)",
    "fn show() { print(cfg.name) }\nlet cfg = { name: \"app\" }\nshow()",
    "fn even(n) { if n == 0 { true } else { odd(n - 1) } }\nfn odd(n) { if n == 0 { false } else { even(n - 1) } }\nprint(even(10), odd(7))",
    "fn swap(&a, &mut b) { let t = a; a = b; b = t }\nlet mut x = 1\nlet mut y = 2\nswap(&x, &y)\nprint(x, y)",
    "fn f(a, b = a_default(), c = 3) { [a, b, c] }\nfn a_default() { print(\"called\"); 2 }\nprint(f(1), f(1, 5), f(1, 5, 6))",
    "fn f(a, b) { a + b }\nf(1)",
    "fn f(a) { a }\nf(1, 2)",
    "let k = 10\ntype T { a: number, b = k * 2, c: number = 1 }\nprint(T { a: 1 }, T { a: 1, b: 5 })",
    "type T { a: number }\nT { b: 1 }",
    "enum E { A, B(number, string), C { x: number } }\nlet vs = [E::A, E::B(1, \"s\"), E::C { x: 2 }]\nfor v in vs { print(match v { E::A => \"a\", E::B(n, s) => f\"b{n}{s}\", E::C { x } => f\"c{x}\" }) }",
    "let [a, b, ...rest] = [1, 2, 3, 4]\nlet {x, y} = { x: 1 }\nprint(a, b, rest, x, y)",
    "fn f({x, y}, [p, q]) { x + y + p + q }\nprint(f({x: 1, y: 2}, [3, 4]))",
    "let v = match [1, 2, 3] { [a, ...r] where a > 5 => \"big\", [a, ...r] => f\"{a} {r}\", _ => \"none\" }\nprint(v)",
    "match 5 { 1 => print(1) }",
    "let r = Err(\"boom\")\nr?",
    "fn g(x) { let v = x?\n v + 1 }\nprint(g(Ok(1)), g(Err(\"e\")), g(None))",
    "print(None ?? 3, 4 ?? 5, Err(\"x\") !! \"ctx\", None !! \"c\", 7 !! \"c\")",
    "let o = None\nprint(o?.x, o?.f(1))",
    "let a = [3, 1, 2]\nprint(a.sort(), a.sort(|x, y| y - x), a, a.map(|x, i| x * i), a.filter(|x| x > 1))",
    "print([1, 2, 3].reduce(|acc, x| acc + x, 10), [[1], [2, 3]].flatMap(|x| x), [1, 2, 3].find(|x| x > 5))",
    "fn sum(...xs) { xs }\nfn add(a, b, c) { a + b + c }\nlet xs = [1, 2]\nprint(add(...xs, 3), add(0, ...[4, 5]), max(...[1, 9, 3]))",
    "async fn f(x) { print(\"run\", x); x * 2 }\nlet t = f(2)\nprint(\"after\")\nprint(await t, await 5)",
    "annotation tr(tag) { before(args, ctx) { print(\"b\", tag, args) } after(args, r, ctx) { print(\"a\", tag, r); r } }\n@tr(1) @tr(2) fn f(x) { x + 1 }\nprint(f(1))",
    "annotation sk { before(args, ctx) { { result: 99 } } }\n@sk fn f(x) { print(\"no\"); x }\nprint(f(1))",
    "annotation w(n) { targets: [await_expr]\n before(args, ctx) { { state: n } } after(args, r, ctx) { r + ctx.state } }\nasync fn g() { 1 }\nprint(await @w(10) @w(100) g())",
    "let mut n = 0\nlet v = loop { n += 1; if n > 3 { break n * 10 } }\nprint(v)",
    "let mut out = []\nfor i in 0..5 { if i == 1 { continue }\n if i == 4 { break }\n out.push(i) }\nprint(out)",
    "for x in 5 { print(x) }",
    "let s = \"héllo\"\nfor c in s { print(c) }",
    "let a = [1]\nfor x in a { if a.length < 4 { a.push(x + 1) } }\nprint(a)",
    "let p = { x: 1 }\np.x += 5\np[\"y\"] = 2\nlet arr = [1, 2]\narr[0] *= 10\nprint(p, arr)",
    "let arr = [1]\narr[5] = 1",
    "print(1 + true)",
    "print(\"x\" + 2.0, 7 / 2, -7 % 3, 2 ** 10, 9223372036854775807 + 1)",
    "let x = 5 |> |v| v * 2\nfn add(a, b) { a + b }\nprint(x, 3 |> add(4), [1, 2] |> len)",
    "fn f() { return }\nprint(f())",
    "print(if false { 1 })",
    "let x = { let a = 1\n a + 1 }\nx",
    "fn outer() { let mut c = 0\n fn inner() { c += 1\n c }\n inner()\n inner() }\nprint(outer())",
    "extend Point { method len() { sqrt(self.x * self.x) } }\ntype Point { x: number }\nprint(Point { x: -3 }.len())",
    "let m = { f: |x| x * 2 }\nprint(m.f(4))",
    "let xs = [1, 2, 3]\nprint(xs.nosuch())",
    "let f = 5\nf(1)",
    "print(__arity(|a, b| a), __arity(print))",
    "fn f(n) { if n > 0 { f(n - 1) } else { snapshot() } }\nprint(f(3))",
    # small functions are inlined: returns, loops, captures, nesting, errors keep their meaning
    "fn first_neg(xs) { for x in xs { if x < 0 { return x } }\n None }\nprint(first_neg([3, -2, -5]), first_neg([1]))",
    "fn sq(x) { x * x }\nprint(sq(sq(3)), sq(2) + sq(4), [1, 2].map(|v| sq(v)))",
    "fn show() { print(later) }\nshow()\nlet later = 1",
    "let mut hits = 0\nfn hit(k) { hits += k\n hits }\nprint(hit(2), hit(3), hits)",
    "fn bump(x) { let mut y = x\n fn_inc(&y)\n y }\nfn fn_inc(&v) { v += 1 }\nprint(bump(4))",
    "fn even(n) { if n == 0 { true } else { odd(n - 1) } }\nfn odd(n) { if n == 0 { false } else { even(n - 1) } }\nprint(even(7))",
    "fn bad(x) {\n  x + true\n}\nfn go(y) { bad(y) }\ngo(1)",
    "fn deep() { snapshot() }\nfn mid() { deep() }\nprint(mid())",
    "fn pick(v) { match v { [a, b] => a + b, _ => 0 } }\nprint(pick([1, 2]), pick(3))",
    "fn w(n) { let mut i = 0\n while true { i += 1\n if i >= n { break } }\n i }\nprint(w(5))",
    "fn inc(&v) { v += 1 }\nfn f() { inc(&later) }\nf()\nlet mut later = 1",
    "let xs = [1, 9, 3]\nprint(max(...xs), len(...[\"ab\"]), ...xs)\nprint(...[])",
    "fn inc(&v) { v += 1 }\nfn f() { inc(&later)\n later }\nlet mut later = 1\nprint(f(), later)",
]


def norm(r: dict) -> dict:
    r = dict(r)
    r.pop("snapshots")   # the reference evaluator stores none
    r["stdout"] = _ID.sub("<id>", r["stdout"])
    if r["value"]:
        r["value"] = {k: _ID.sub("<id>", v) if isinstance(v, str) else v for k, v in r["value"].items()}
    if r["error"]:
        r["error"] = {k: r["error"][k] for k in ("kind", "phase", "message", "line")}
    return r


@pytest.mark.parametrize("src", CASES)
def test_vm_matches_reference(src):
    ref = norm(api.run(src, path="t.shape", engine="ref").to_json())
    vm = norm(api.run(src, path="t.shape", engine="vm", store=":memory:").to_json())
    if ref["error"] and ref["error"]["line"] is None:
        vm["error"]["line"] = None   # the reference has no position for some statement errors
    assert vm == ref
