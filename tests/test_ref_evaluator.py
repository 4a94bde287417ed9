"""Reference evaluator: scoping, closures, control flow and error rules (the value model's own rules
are tested in test_values.py, and the conformance corpus covers the language broadly)."""
from __future__ import annotations

import pytest

from shapelang import api


def run(src: str) -> dict:
    return api.run(src, path="t.shape", engine="ref").to_json()


def out(src: str) -> str:
    r = run(src)
    assert r["error"] is None, r["error"]
    return r["stdout"]


def err(src: str) -> dict:
    r = run(src)
    assert r["error"] is not None, r
    return r["error"]


PROGRAMS = [
    # closures share captured variables
    ("let mut n = 0\nlet inc = || { n += 1; n }\ninc()\ninc()\nprint(n, inc())", "2 3\n"),
    ("fn counter() { let mut c = 0; || { c += 1; c } }\nlet a = counter()\nlet b = counter()\n"
     "a(); a()\nprint(a(), b())", "3 1\n"),
    # per-iteration loop variables
    ("let fs = []\nfor i in 0..3 { fs.push(|| i) }\nprint(fs.map(|f| f()))", "[0, 1, 2]\n"),
    ("let fs = []\nlet mut i = 0\nwhile i < 3 { let j = i; fs.push(|| j); i += 1 }\n"
     "print(fs.map(|f| f()))", "[0, 1, 2]\n"),
    # same-scope shadowing makes a new variable; earlier closures keep the old one
    ("let x = 1\nlet f = || x\nlet x = 2\nprint(f(), x)", "1 2\n"),
    ("let x = 1\n{ let x = 5; print(x) }\nprint(x)", "5\n1\n"),
    ("let x = 1\n{ print(x); let x = 2; print(x) }", "1\n2\n"),
    # hoisting, and module functions reading module variables declared later
    ("print(f(2))\nfn f(x) { x * 10 }", "20\n"),
    ("fn show() { print(config.name) }\nlet config = { name: \"app\" }\nshow()", "app\n"),
    ("fn even(n) { if n == 0 { true } else { odd(n - 1) } }\n"
     "fn odd(n) { if n == 0 { false } else { even(n - 1) } }\nprint(even(10), odd(7))", "true true\n"),
    # reference parameters
    ("fn inc(&x) { x = x + 1 }\nlet mut a = 1\ninc(&a)\ninc(&a)\nprint(a)", "3\n"),
    ("fn swap(&a, &mut b) { let t = a; a = b; b = t }\nlet mut x = 1\nlet mut y = 2\n"
     "swap(&x, &y)\nprint(x, y)", "2 1\n"),
    # let keeps values mutable
    ("let a = []\na.push(1)\nlet p = { x: 1 }\np.x = 2\np.y = 3\nprint(a, p)", "[1] { x: 2, y: 3 }\n"),
    # blocks, if, loop values
    ("let v = { let a = 2; a * 3 }\nprint(v)", "6\n"),
    ("let v = loop { break 7 }\nprint(v)", "7\n"),
    ("let s = if 1 > 2 { \"a\" } else if 2 > 1 { \"b\" } else { \"c\" }\nprint(s)", "b\n"),
    ("fn f(x) { if x > 0 { return \"pos\" }\n\"non-pos\" }\nprint(f(1), f(-1))", "pos non-pos\n"),
    ("let mut s = 0\nfor i in 0..10 { if i % 2 == 0 { continue }\nif i > 7 { break }\ns += i }\nprint(s)",
     "16\n"),
    # match
    ("fn d(v) { match v { 0 => \"zero\", n where is_number(n) && n < 0 => \"neg\", [a, ...r] => f\"arr {a} {r}\", "
     "{x, y: 2} => f\"obj {x}\", _ => \"other\" } }\n"
     "print(d(0), d(-3), d([1, 2, 3]), d({x: 9, y: 2}), d(\"s\"))", "zero neg arr 1 [2, 3] obj 9 other\n"),
    ("enum Shape { Circle(number), Rect { w: number, h: number }, Empty }\n"
     "fn area(s) { match s { Shape::Circle(r) => r * r, Shape::Rect { w, h } => w * h, Shape::Empty => 0 } }\n"
     "print(area(Shape::Circle(2)), area(Shape::Rect { w: 2, h: 3 }), area(Shape::Empty))\n"
     "print(Shape::Circle(5), Shape::Rect { w: 3, h: 4 })", "4.0 6.0 0\nCircle(5.0) Rect { w: 3.0, h: 4.0 }\n"),
    ("print(match Some(42) { Some(v) => v + 1, None => 0 }, match None { Some(v) => v, None => \"none\" })",
     "43 none\n"),
    # types and extend
    ("type Point { x: number, y: number = 0 }\nextend Point { method norm() { sqrt(self.x * self.x + self.y * self.y) } }\n"
     "let p = Point { x: 3, y: 4 }\nprint(p, p.norm(), Point { x: 1 })", "{ x: 3.0, y: 4.0 } 5.0 { x: 1.0, y: 0.0 }\n"),
    # Result and ?
    ("fn half(n) { if n % 2 == 0 { Ok(n / 2) } else { Err(\"odd\") } }\n"
     "fn q(n) { let h = half(n)?; Ok(h + 1) }\nprint(q(4), q(3))", "Ok(3) Err(odd)\n"),
    ("print(None ?? 5, 3 ?? 5, Err(\"x\") !! \"ctx\", None !! \"missing\")", "5 3 Err(ctx: x) Err(missing)\n"),
    # pipe, comprehension, destructuring
    ("fn add(a, b) { a + b }\nprint(5 |> add(1), [1, 2, 3] |> len)", "6 3\n"),
    ("print([x * 2 for x in [1, 2, 3] if x > 1])", "[4, 6]\n"),
    ("let [a, b] = [1, 2]\nlet [h, ...t] = [1, 2, 3]\nlet {x, y} = {x: 1, y: 2}\nprint(a, b, h, t, x, y)",
     "1 2 1 [2, 3] 1 2\n"),
    ("for {x, y} in [{x: 1, y: 2}, {x: 3, y: 4}] { print(x + y) }", "3\n7\n"),
    ("fn f({x, y}) { x * y }\nprint(f({x: 3, y: 4}))", "12\n"),
    # defaults
    ("fn f(a, b = 10) { a + b }\nprint(f(1), f(1, 2))", "11 3\n"),
    # callbacks through the prelude
    ("print([3, 1, 2].sort(|a, b| a - b), [1, 2, 3].reduce(|acc, x| acc + x, 0), [1, 2].map(|x, i| x * i))",
     "[1, 2, 3] 6 [0, 2]\n"),
    ("print([1, 2, 3].find(|x| x > 5), [1, 2, 3].findIndex(|x| x == 2), [1, 2].some(|x| x > 1), [].every(|x| false))",
     "None 1 true true\n"),
    # print interpolation quirk and f-strings
    ("let name = \"w\"\nprint(\"hello {name}\")\nprint(f\"{1 + 1} {{x}} {3.14159:.2f}\")", "hello w\n2 {x} 3.14\n"),
    # deep recursion within the limit
    ("fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\nprint(depth(10000))", "10000\n"),
]


@pytest.mark.parametrize("src,expected", PROGRAMS, ids=[f"p{i}" for i in range(len(PROGRAMS))])
def test_program_output(src: str, expected: str) -> None:
    assert out(src) == expected


def test_program_value_is_last_expression() -> None:
    r = run("let x = 2\nx * 21")
    assert r["value"] == {"type": "int", "display": "42", "json": 42}
    assert run("let x = 1")["value"]["type"] == "None"


@pytest.mark.parametrize("src,kind,phase,fragment", [
    ("let x = 1\nx = 2", "AssignmentError", "compile", "immutable"),
    ("const X = 1\nX += 1", "AssignmentError", "compile", "immutable"),
    ("fn f() {}\nf = 1", "AssignmentError", "compile", "immutable"),
    ("fn inc(&x) { x += 1 }\nlet a = 1\ninc(&a)", "AssignmentError", "compile", "immutable"),
    ("print(y)", "NameError", "compile", "y"),
    ("print(y)\nlet y = 1", "NameError", "compile", "y"),
    ("fn f() { z }\nf()\nlet z = 1", "NameError", "runtime", "z"),
    ("1 / 0", "ArithmeticError", "runtime", "Division by zero"),
    ("match 3 { 1 => 1 }", "MatchError", "runtime", None),
    ("let r = Err(\"boom\")?", "UnwrapError", "runtime", "boom"),
    ("fn f() { f() }\nf()", "StackOverflow", "runtime", "stack overflow"),
    ("let f = 5\nf()", "TypeError", "runtime", None),
    ("fn f(a) { a }\nf(1, 2)", "TypeError", "runtime", None),
    ("let x = (1", "SyntaxError", "parse", None),
])
def test_errors(src: str, kind: str, phase: str, fragment) -> None:
    e = err(src)
    assert (e["kind"], e["phase"]) == (kind, phase)
    if fragment:
        assert fragment in e["message"]
    assert e["line"] is not None


def test_error_position_points_at_expression() -> None:
    e = err("let a = 1\nlet b = 2\nprint(a + b / 0)")
    assert e["line"] == 3


def test_output_before_error_is_kept() -> None:
    r = run("print(1)\nprint(1 / 0)")
    assert r["stdout"] == "1\n" and r["exit_code"] == 1


def test_exit_code() -> None:
    r = run("print(\"a\")\nexit(3)\nprint(\"b\")")
    assert (r["stdout"], r["exit_code"], r["error"]) == ("a\n", 3, None)


def test_snapshot_oracle_replays_from_kth_event() -> None:
    src = ("let mut total = 0\nfor i in 0..3 { total = total + i }\nlet s = snapshot()\n"
           "total = total * 10\nprint(total)")
    first = run(src)
    assert first["stdout"] == "30\n"
    resumed = api.run(src, path="t.shape", engine="ref", resume_at=0).to_json()
    assert resumed["stdout"] == "30\n"
    src2 = ("fn step(base) {\n  let doubled = base * 2\n  let s = snapshot()\n"
            "  let bonus = match s { Snapshot::Hash(_) => 0, Snapshot::Resumed => 100 }\n"
            "  doubled + bonus\n}\nprint(step(21))")
    assert run(src2)["stdout"] == "42\n"
    assert api.run(src2, path="t.shape", engine="ref", resume_at=0).stdout == "142\n"
