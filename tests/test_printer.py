"""AST printer: `parse(to_source(tree)) == tree` for every tree the parser produces.

Covered three ways: hand-written programs aimed at each construct and each lexer hazard, every
`.shape` file under conformance/cases and every ```shape block in
spec/*.md (globbed when the tests are collected; sources that do not parse are skipped), and
trees built directly, including ones no parser output looks like, where the printer must either
round-trip or raise ValueError.
A small seeded random-tree test guards the hazards the hand-written cases might miss.
"""
from __future__ import annotations

import glob
import os
import random
import re
import sys
import threading

import pytest

from shapelang.ref import ast as A
from shapelang.ref.parser import parse
from shapelang.ref.printer import to_source
from shapelang.runtime.errors import ShapeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, Lit = A.Name, A.Literal


def roundtrip(tree) -> str:
    """Print, re-parse, compare; printing the re-parsed tree gives the same text."""
    src = to_source(tree)
    back = parse(src)
    if isinstance(tree, A.Program):
        assert back == tree, src
    else:
        assert back == A.Program([tree if _is_stmt(tree) else A.ExprStmt(tree)]), src
    assert to_source(back) == (src if isinstance(tree, A.Program) else src + "\n")
    return src


def roundtrip_source(src: str) -> str:
    tree = parse(src)
    out = to_source(tree)
    assert parse(out) == tree, out
    assert to_source(parse(out)) == out
    return out


def _is_stmt(node) -> bool:
    return isinstance(node, (A.ExprStmt, A.Let, A.Return, A.Break, A.Continue, A.FnDecl,
                             A.EnumDecl, A.TypeDecl, A.ExtendDecl, A.AnnotationDecl, A.Import))


def prog(*stmts) -> A.Program:
    return A.Program([s if _is_stmt(s) else A.ExprStmt(s) for s in stmts])


def blk(*stmts) -> A.Block:
    return A.Block([s if _is_stmt(s) else A.ExprStmt(s) for s in stmts])


# ================================================================ hand-written programs

PROGRAMS = [
    # issue 12 syntax (spec/grammar.md)
    "let a = 1 & 2 | 3 ^ 4 << 1 >> 2\nlet b = ~a\nlet c = !!a\na &= 1; a |= 2; a ^= 3; a <<= 1; a >>= 1",
    "fn mk() {\n  let k = 2\n  |x| x | k\n}\nlet g = (|x| x) | 1\nlet h = x? | y",
    "f(&x, a & b)\nlet y = x as int? ?? 0\nlet z = (x as int?)?\nlet w = (x as int) < 3\nlet v = -x as number",
    "let m: Map<string, Box<Box<int>>> = x\nlet n = x as Box<Box<int>>\nfn f(x: dyn Show + Eq) -> A<B<C<int>>>? {}",
    "print(a ~= b, a ~< b within 0.5, a ~> b within 2%, 5s, 1h30m, 1.5d, x.type(), Point.type())",
    'print(f$"a {b} ${c}", f#"#{x} {y}", f$"$${x}", "\\$ \\#")',
    "match v {\n  n: int => n,\n  _: string? => 0,\n  [a: int, b] => a,\n  Some(x: [Foo]) where x => 1,\n  {f: n: int} => n\n}",
    "fn pick<T: Show + Eq, U = Box<int>>(a: T, b: U) -> T { a }\ntype Box<T> { v: T }\nenum Opt<T> { Some(T), Nothing }",
    "trait Shape<T> {\n  area(self): number\n  scale(self, k: T): T\n  method describe() { self.area() }\n}\ntrait Marker {}",
    "impl Shape<int> for Point {\n  method area() { 1 }\n}\nimpl Into<int> for Box<T> as Unboxed {}\nimpl Marker for int {}",
    'enum Side { Buy = "buy", Sell = -1, Hold = 2.5, Flat, Limit { price: number }, M(int, Pair<a, b>) }',
    'type Cur { comptime symbol: string = "$", amount: number, comptime k: int }',
    "pub fn f() {}\nlet g = fn(x) { x * 2 }\nlet h = function(a, b) -> int { a + b }\nfn(x) { x }(5)",
    # bindings and assignment
    "let x = 1\nlet mut y = 2\nvar z = 3\nconst K = 4\nlet w: int = 5\nlet v\nvar u: [str]",
    "let [a, b] = xs\nlet [h, ...rest] = xs\nlet [_, ..._] = xs\nlet {x, y: [p, q]} = o",
    "x = 1; o.f = 2; a[i] = 3\nx += 1; x -= 1; x *= 2; x /= 2; x %= 3; x **= 2\nx = y = z",
    "let m: Map<str, [int]>? = None\nlet f: fn = g\nlet t: (int, str)? = x\nlet u: () = ()",
    "let n: int? ? = None",
    # functions and lambdas
    "fn add(a, b: int, c = 5) -> int { a + b + c }\nfunction g() {}",
    "fn inc(&x) { x = x + 1 }\nfn inc2(&mut y: int) { y += 1 }\ninc(&a)\ninc2(&mut b)",
    "fn f({x, y}, [a, ...b]) { x + a }\nfn outer() {\n  fn inner() { 1 }\n  inner()\n}",
    "fn f() {\n  if c { return }\n  return 1\n}\nfn g() { return }\nfn h() { loop { break } }",
    "let f = |x| x + 1\nlet g = |a, b| a + b\nlet h = || 42\nlet k = |x| { let y = x; y }",
    "let f = |x: int, y = 2| x * y\nlet g = |{x}, [a]| x\nlet h = |x = -1| x\nlet k = |&r| r",
    "xs.map(|x| x * 2).filter(|x| x > 1)\nf(|| { 1 }, || 2)\nlet mut n = 0\n|| { n }",
    "x |> f(a) |> g\nlet y = x |> (|v| v + 1)\nf(...xs, 1)",
    # control flow
    "if a { 1 } else if b { 2 } else { 3 }\nlet v = if c { 1 } else { 2 }",
    "while i < 3 { i += 1 }\nfor x in xs { print(x) }\nfor {x, y} in pts {}\nfor [a, b] in ps {}",
    "loop { break 5 }\nwhile true { continue }\nfor i in 0..10 { if i > 2 { break } }",
    "for i in 1..=n { }\nlet r = a..b\nlet s = xs[1..3]\nlet t = -1..1",
    "c ? a : b\nc ? a : d ? e : f\n(c ? a : b) ? d : e\nlet t = c ? -1 : [1]",
    # match and patterns
    "match v {\n  1 => a\n  2 => b,\n  x where x > 2 => c,\n  _ => d,\n}",
    'match v { 42 => 0, -1 => 1, 2.5 => 2, -0.5 => 3, "s" => 4, true => 5, false => 6, None => 7 }',
    "match r { Some(x) => x, Ok(_) => 1, Err(e) => e, Color::Red => 2, Shape::Circle(r) => r }",
    "match s { Shape::Rect { w, h: 2 } => w, Point { x } => x, [a, b, ...rest] => a, [] => 0 }",
    "match o { {x, y: Some(p)} => p, {} => 0 }\nmatch v {}",
    "match snapshot() { Snapshot::Hash(id) => id, Snapshot::Resumed => 0 }",
    # declarations
    "enum Shape { Circle(number), Rect { w: number, h: number }, Empty }\nenum E { A }",
    "enum T { Pair(int, str), Nested(Map<int, str>), Opt(int?) }",
    "type Point { x: number, y: number = 0, tag }\ntype Empty {}",
    "extend Point {\n  method norm() { self.x }\n  fn twice(k) { k * 2 }\n}\nextend Empty {}",
    "use std::core::x\nfrom std::core::snapshot use { Snapshot, x }",
    "annotation trace(label) {\n  targets: [function, await_expr]\n"
    "  before(args, ctx) { args }\n  after(args, result, ctx) { result }\n}",
    "annotation log { after(a, r, c) { r } }\nannotation none {}\nannotation t { targets: [fn] }",
    "@outer\n@inner(1, 2)\nasync fn f() { await g() }\nlet r = await @handoff(\"gpu\") heavy(12)",
    "let r = await @log @time(1) f()\nlet s = await @a() (1 + 2)\nlet t = await -x",
    # collections and postfix
    "[1, 2, ...xs];\n[];\n{}\n{ a: 1, \"b c\": 2, ...o, type: 3, \"let\": 4 }",
    "[x * 2 for x in xs if x > 1 for y in ys];\n[[a, b] for [a, b] in ps]",
    'o.f\no["f"]\no?.f\na.b[c](d)?.e\no.type\no.match\no.in',
    "Color::Red\n()\nNone\ntrue\nfalse\nPoint { x: 1, y }\nShape::Rect { w: 1, h: 2 }\nP {}",
    "f()?\nf()?.x\nlet v = a? + 1\nlet w = (a?)[0]\nlet z = (f?)(1)",
    # literals
    "-5\n-(5)\n-(-5)\n- x\n2 - -3\n-2 ** 2\n(-5).abs()\n-(a ** 2)\n!(!x)",
    "0x1F + 0b101 + 0o17\n1.5e-3\n2e300\n0.1 + 0.2\n9223372036854775807\n-9223372036854775807",
    r'"a\nb\tc\rd\0e\\f\"g\'h\{i\}"' + '\n"""\n    raw\n      text\n    """',
    'f"a{x}b{y:.2f}c{z:fixed(3)}"\nf"{{literal}} {x}"\nf"{ {a: 1}.a }"\nf"{m["k"]}"',
    'print("v={x}")\nprint("\\{x}")\nprint("{not valid}")\nprint(f"{c ? a : b}")',
    # precedence
    "a = b |> c\na |> b ? c : d\na ?? b ? c : d\na ? b : c ?? d\na ?? b !! c\na !! b || c",
    "a || b && c\na or b and c\na && b == c\na == b..c\na..b + c\na + b * c\na * b ** c",
    "a - b - c\na - (b - c)\na ** b ** c\n(a ** b) ** c\na < b < c\n(a + b) * c\n!a.b\n-a[0]",
    # layout hazards the printer must keep
    "if c { 1 }\n[1, 2]\n{ x }\n(y)\nloop { break }\n|| 1\nwhile c {}\n-1",
    "let mut n = 0\n|| { n }\na\n| | 42\nf()?\ng()\nx ?\n  y",
    "let x = 1;\n(y)\nlet z = 2;\n[3]\nlet w = 4;\n-5\nreturn;\nx",
    "p { x: 1 }\n(Foo) { x }\n(Foo) {}\nextend /**/ Foo {}",
    "if x == B { f(); g() }\nif (c == Color::Red) { y } else { z }\nmatch (Foo) {}",
    "fn f(p) -> Point {\n  let q = p\n  q\n}\nfn g() -> Point {;}\nfn h() -> Point {;\n  p\n}",
    "if c { 1 } else { 2 } + 3\nmatch x { _ => [1] }.len()\n(if c { f } else { g })(1)",
    "(if c { 1 } else { 2 }) - 3\n({ x })[0]\nx\n(loop { break 1 }) || y",
    "for method /**/ in (x) {}\n[a for method /**/ in (x)]",
    "a? /**/ - b\nx? ?\na? .b\n(a?)?.b\nc? ? a : b",
    "a\nb;\n{ a: 1 }.a\nlet o = {}\nlet b = {;}",
]


@pytest.mark.parametrize("src", PROGRAMS, ids=range(len(PROGRAMS)))
def test_handwritten_programs_round_trip(src):
    roundtrip_source(src)


# ================================================================ corpus


def _corpus() -> list:
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "conformance", "cases", "**", "*.shape"),
                                 recursive=True)):
        out.append(pytest.param(path, None, id=os.path.relpath(path, ROOT)))
    for path in sorted(glob.glob(os.path.join(ROOT, "spec", "*.md"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, m in enumerate(re.finditer(r"```shape[^\n]*\n(.*?)```", text, re.S)):
            out.append(pytest.param(path, m.group(1), id=f"{os.path.relpath(path, ROOT)}#{i}"))
    return out


@pytest.mark.parametrize("path,block", _corpus())
def test_corpus_round_trips(path, block):
    if block is None:
        with open(path, encoding="utf-8") as f:
            block = f.read()
    try:
        tree = parse(block, path)
    except ShapeError:
        pytest.skip("does not parse (an error case, or work in progress)")
    out = to_source(tree)
    assert parse(out) == tree, out
    assert to_source(parse(out)) == out


def test_the_corpus_is_not_empty():
    assert len(_corpus()) > 0


# ================================================================ exact output


@pytest.mark.parametrize("tree,text", [
    (Lit(-5), "-5"),
    (Lit(-1.5), "-1.5"),
    (Lit(1e16), "1e+16"),
    (Lit(-0.0), "-0.0"),
    (A.Unary("-", Lit(5)), "-(5)"),
    (A.Unary("-", Lit(-5)), "-(-5)"),
    (A.Unary("-", A.Unary("-", N("x"))), "--x"),
    (A.Unary("!", A.Unary("!", N("x"))), "! !x"),
    (A.Binary("-", N("a"), Lit(-5)), "a - -5"),
    (A.Binary("**", Lit(-2), Lit(2)), "-2 ** 2"),
    (A.Binary("**", N("a"), Lit(-2)), "a ** -2"),
    (A.Unary("-", A.Binary("**", N("a"), Lit(2))), "-(a ** 2)"),
    (A.Member(Lit(-5), "abs"), "(-5).abs"),
    (A.Member(Lit(5), "abs"), "5.abs"),
    (A.RangeExpr(Lit(1), Lit(-1)), "1..-1"),
    (A.Binary("-", N("a"), A.Binary("-", N("b"), N("c"))), "a - (b - c)"),
    (A.Binary("**", A.Binary("**", N("a"), N("b")), N("c")), "(a ** b) ** c"),
    (A.Binary("+", A.Lambda([], N("x")), N("y")), "(|| x) + y"),
    (A.Binary("||", N("a"), A.ObjectLit([("k", Lit(1))])), "a || ({ k: 1 })"),
    (A.Binary("||", N("a"), A.Block([A.ExprStmt(N("k"))])), "a || ({\n  k\n})"),
    (A.Ternary(N("c"), A.Lambda([A.Param(A.PBind("x"))], N("x")), N("y")), "c ? (|x| x) : y"),
    (A.Ternary(N("c"), A.Block([A.ExprStmt(N("k"))]), N("y")), "c ? ({\n  k\n}) : y"),
    (A.Ternary(N("c"), A.ObjectLit([("k", Lit(1))]), N("y")), "c ? ({ k: 1 }) : y"),
    (A.Lambda([], Lit(1)), "| | 1"),
    (A.Call(N("f"), [A.Lambda([], Lit(1))]), "f(|| 1)"),
    (A.Lambda([], A.Block([A.ExprStmt(Lit(1))])), "|| {\n  1\n}"),
    (A.Block([]), "{;}"),
    (A.ObjectLit([]), "{}"),
    (A.ObjectLit([("let", Lit(1)), ("type", Lit(2)), ("a b", Lit(3))]),
     '{ "let": 1, type: 2, "a b": 3 }'),
    (A.Try(A.Try(N("x"))), "x? ?"),
    (A.Call(N("f"), [A.Try(A.Try(N("x")))]), "f((x?)?)"),
    (A.Binary("-", A.Try(N("a")), N("b")), "a? /**/ - b"),
    (A.Call(N("f"), [A.Binary("-", A.Try(N("a")), N("b"))]), "f((a?) - b)"),
    (A.Binary("+", A.Try(N("a")), N("b")), "a? + b"),
    (A.Index(A.Try(N("a")), Lit(0)), "a? /**/[0]"),
    (A.Member(A.Try(N("a")), "b"), "a? .b"),
    (A.Member(A.Try(N("a")), "b", True), "a? ?.b"),
    (A.Ternary(A.Try(N("c")), N("a"), N("b")), "c? ? a : b"),
    (A.If(A.Try(N("c")), A.Block([])), "if (c?) {}"),
    (A.Call(A.If(N("c"), A.Block([A.ExprStmt(N("f"))])), []), "(if c {\n  f\n})()"),
    (A.Binary("+", A.If(N("c"), A.Block([])), Lit(1)), "if c {} + 1"),
    (A.If(A.Path(["Color", "Red"]), A.Block([A.ExprStmt(N("y"))])), "if Color::Red {;\n  y\n}"),
    (A.If(A.Path(["Color", "Red"]), A.Block([])), "if Color::Red {;}"),
    (A.If(A.Binary("==", N("x"), Lit(None)), A.Block([])), "if x == None {}"),
    (A.Match(N("Foo"), []), "match (Foo) {}"),
    (A.Match(N("foo"), []), "match foo {}"),
    (A.Await(A.Binary("+", N("a"), N("b")), [A.AnnotationUse("a")]), "await @a() (a + b)"),
    (A.Await(N("x"), [A.AnnotationUse("a"), A.AnnotationUse("b", [Lit(1)])]), "await @a @b(1) x"),
    (A.Await(A.ObjectLit([("k", Lit(1))]), [A.AnnotationUse("Foo")]), "await @Foo() { k: 1 }"),
    (Lit("{x}"), r'"\{x\}"'),
    (Lit('q"\\\n\t\r\0'), r'"q\"\\\n\t\r\0"'),
    (Lit("\x01\x7f é"), '"\x01\x7f é"'),
    (A.FString(["{", A.FPart(N("x"), ".2f"), '}"']), r'f"{{{x:.2f}}}\""'),
    (A.FString([A.FPart(A.ObjectLit([("a", Lit(1))]))]), 'f"{({ a: 1 })}"'),
    (A.FString([A.FPart(A.Ternary(N("c"), N("a"), A.Call(N("fixed"), [Lit(2)])))]),
     'f"{(c ? a : fixed(2))}"'),
    (A.FString([A.FPart(A.Lambda([], Lit(1)))]), 'f"{| | 1}"'),
    (A.Call(N("print"), [Lit("{x}")]), r'print("\{x\}")'),
    (A.Comprehension(A.Try(N("x")), [A.CompFor(A.PBind("x"), A.Try(N("xs")))]),
     "[(x?) for x in (xs?)]"),
    (A.Comprehension(N("extend"), [A.CompFor(A.PBind("y"), A.ObjectLit([]))]),
     "[extend for y in {}]"),
    (A.Comprehension(N("x"), [A.CompFor(A.PBind("method"), A.UnitLit())]),
     "[x for method /**/ in ()]"),
    (A.Lambda([A.Param(A.PBind("x"), None, A.Binary("||", N("a"), N("b")))], N("x")),
     "|x = (a || b)| x"),
    (A.StructLit(["Point"], [("x", N("x")), ("y", Lit(2))]), "Point { x, y: 2 }"),
    (A.Let(A.PBind("x"), Lit(None), type="int??"), "let x: int? ? = None"),
    (A.Let(A.PBind("x"), None, "var", True, "Map<a, [b]>"), "var x: Map<a, [b]>"),
    (A.FnDecl("f", [A.Param(A.PBind("p"))], A.Block([A.ExprStmt(N("p"))]), "Point"),
     "fn f(p) -> Point {;\n  p\n}"),
    (A.FnDecl("f", [], A.Block([]), "Point"), "fn f() -> Point {;}"),
    (A.FnDecl("f", [], A.Block([]), "int?"), "fn f() -> int? {}"),
    (A.EnumDecl("T", [A.Variant("M", "tuple", ["Map<a, b>"])]), "enum T { M(Map<a, b>) }"),
    (A.Import(["a", "extend"], ["X"]), "from a::extend /**/ use { X }"),
])
def test_exact_output(tree, text):
    assert to_source(tree) == text
    roundtrip(tree)


@pytest.mark.parametrize("stmts,text", [
    # A bare return/break would take the next statement's expression as its value.
    ([A.Return(), A.ExprStmt(N("x"))], "return;\nx"),
    ([A.Break(), A.ExprStmt(A.If(N("c"), A.Block([])))], "break;\nif c {}"),
    # Non-expression statements get a `;` (not recorded in the tree) where the next could glue.
    # (a `(` or `[` line after a line ending in a name, number, `)`, `]`, `}` or `"` starts a
    # statement by itself: spec/grammar.md §2.16)
    ([A.Let(A.PBind("x"), Lit(1)), A.ExprStmt(A.ArrayLit([Lit(1)]))], "let x = 1\n[1]"),
    ([A.Let(A.PBind("x"), A.Try(N("a"))), A.ExprStmt(A.ArrayLit([Lit(1)]))],
     "let x = a?;\n[1]"),
    ([A.Let(A.PBind("x"), None), A.ExprStmt(N("y"))], "let x\ny"),
    ([A.Let(A.PBind("x"), None), A.ExprStmt(A.UnitLit())], "let x\n()"),
    ([A.Return(N("a")), A.ExprStmt(Lit(-1))], "return a;\n-1"),
    ([A.Let(A.PBind("x"), N("extend")), A.ExprStmt(A.Loop(A.Block([])))],
     "let x = extend;\nloop {}"),
    ([A.Let(A.PBind("x"), N("Foo")), A.ExprStmt(A.ObjectLit([]))], "let x = Foo;\n{}"),
    ([A.Let(A.PBind("x"), None, type="Foo"), A.ExprStmt(A.Block([A.ExprStmt(N("y"))]))],
     "let x: Foo;\n{\n  y\n}"),
    ([A.Let(A.PBind("x"), N("extend")), A.Continue(), A.ExprStmt(A.ObjectLit([]))],
     "let x = extend;\ncontinue\n{}"),
    # An expression statement cannot take a `;`: a line comment stops the lexer's look-ahead.
    ([A.ExprStmt(N("Foo")), A.ExprStmt(A.ObjectLit([("a", Lit(1))]))], "Foo //\n{ a: 1 }"),
    ([A.ExprStmt(N("method")), A.ExprStmt(A.Call(N("f"), []))], "method //\nf()"),
    ([A.ExprStmt(N("method")), A.ExprStmt(N("f"))], "method\nf"),
    ([A.ExprStmt(N("method")), A.Return(A.UnitLit())], "method //\nreturn ()"),
    ([A.ExprStmt(N("x")), A.ExprStmt(A.Lambda([], Lit(1)))], "x\n| | 1"),
    # Block-like statements end by themselves.
    ([A.ExprStmt(A.Loop(A.Block([A.Break()]))), A.ExprStmt(Lit(-1))], "loop {\n  break\n}\n-1"),
    ([A.ExprStmt(N("x"), True), A.ExprStmt(A.UnitLit())], "x;\n()"),
])
def test_statement_separation(stmts, text):
    tree = A.Program(stmts)
    assert to_source(tree) == text + "\n"
    roundtrip(tree)


def test_nested_blocks_are_indented():
    src = to_source(prog(A.FnDecl("f", [], blk(A.If(N("c"), blk(Lit(1)), blk(Lit(2)))))))
    assert src == "fn f() {\n  if c {\n    1\n  } else {\n    2\n  }\n}\n"


def test_match_arms_are_comma_separated():
    tree = A.Match(N("v"), [A.MatchArm(A.PLit(1), None, N("a")),
                            A.MatchArm(A.PLit(-1), N("g"), N("b"))])
    assert to_source(tree) == "match v {\n  1 => a,\n  -1 where g => b\n}"
    roundtrip(tree)


def test_annotation_declaration_layout():
    tree = A.AnnotationDecl("h", [A.Param(A.PBind("p"))], ["await_expr"],
                            A.FnDecl("before", [A.Param(A.PBind("a"))], A.Block([])))
    assert to_source(tree) == "annotation h(p) {\n  targets: [await_expr]\n  before(a) {}\n}"
    roundtrip(tree)


def test_pattern_and_statement_entry_points():
    assert to_source(A.PVariant(["Shape", "Rect"], None, [("w", A.PBind("w"))])) == \
        "Shape::Rect { w }"
    assert to_source(A.Let(A.PArray([A.PBind("h")], "t", True), N("xs"))) == "let [h, ...t] = xs"
    assert to_source(A.Program([])) == ""


def test_deep_trees_round_trip():
    # The LALR parser builds these without recursion; the printer must not give up on them.
    # (Comparing such trees recurses too, hence the big stack for the check itself.)
    src = " + ".join(["1"] * 5000) + ";\n" + "[" * 1500 + "]" * 1500
    tree = parse(src)
    out = to_source(tree)
    assert out == src + "\n"
    assert _on_big_stack(lambda: parse(out) == tree)


def _on_big_stack(fn):
    result: list = []
    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 100_000))
    try:
        threading.stack_size(256 * 1024 * 1024)
        t = threading.Thread(target=lambda: result.append(fn()))
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    return result[0]


# ================================================================ unprintable trees


@pytest.mark.parametrize("tree", [
    Lit(float("inf")), Lit(float("nan")), Lit(-float("inf")),
    Lit(2**63), Lit(-(2**63)), Lit(object()),
    N("let"), N("a-b"), N(""), A.Path(["A"]), A.Path(["A", "fn"]),
    A.StructLit(["point"], []), A.StructLit(["P"], [("let", Lit(1))]),
    A.Member(N("o"), "let"), A.Unary("+", N("x")), A.Binary("<>", N("a"), N("b")),
    A.Assign(A.Call(N("f"), []), "=", Lit(1)), A.Assign(N("x"), "//=", Lit(1)),
    A.Spread(N("x")), A.RefArg("x"), A.FPart(N("x")),
    A.FString(["a", "b"]), A.FString([""]), A.FString([A.FPart(N("x"), "%d")]),
    A.Comprehension(N("x"), [A.CompIf(N("c"))]), A.Comprehension(N("x"), []),
    A.If(N("c"), N("x")), A.Lambda([A.Param(A.PArray([]), None, None, True)], N("x")),
    A.Let(A.PBind("x"), Lit(1), "var", False), A.Let(A.PBind("x"), None, "const"),
    A.Let(A.PBind("x"), Lit(1), "let", False, "Map<"), A.Let(A.PBind("x"), Lit(1), "val"),
    A.Let(A.PBind("_"), Lit(1)), A.Let(A.PVariant(["Foo"]), Lit(1)),
    A.Let(A.PArray([], "r", False), Lit(1)), A.Let(A.PArray([], None, True), Lit(1)),
    A.Let(A.PVariant(["a", "b"], [], []), Lit(1)), A.Let(A.PVariant(["foo"], None, []), Lit(1)),
    A.EnumDecl("E", [A.Variant("A", "tuple", [])]),
    A.EnumDecl("E", [A.Variant("a", "struct", [""], ["x"])]),
    A.EnumDecl("E", [A.Variant("A", "tuple", ["Map<a"])]), A.EnumDecl("E", []),
    A.TypeDecl("T", [A.FieldDecl("x", None, Lit(1))]),
    A.AnnotationDecl("a", [], ["fn"]),
    A.AnnotationDecl("a", [], [], A.FnDecl("after", [], A.Block([]))),
    A.Import([], ["X"]),
    A.Program([A.ExprStmt(N("a")), A.ExprStmt(A.Unary("-", N("b")))]),
    # a line starting with `[` or `(` continues one that ends in `?` (after a name it would
    # start a new statement: spec/grammar.md §2.16)
    A.Program([A.ExprStmt(A.Try(N("a"))), A.ExprStmt(A.ArrayLit([]))]),
    A.Program([A.ExprStmt(A.Try(N("a"))), A.ExprStmt(A.Call(A.If(N("c"), A.Block([])), []))]),
    "not a node",
])
def test_unprintable_trees_raise_value_error(tree):
    with pytest.raises(ValueError):
        to_source(tree)


def test_adjacent_statements_are_fine_with_a_semicolon():
    roundtrip(A.Program([A.ExprStmt(N("a"), True), A.ExprStmt(A.Unary("-", N("b")))]))


# ================================================================ seeded random trees

_NAMES = ["x", "y", "f", "Foo", "Bar", "extend", "method", "_", "self", "print", "None_",
          "trait", "impl", "dyn", "within", "comptime"]
_IDENTS = [n for n in _NAMES if n != "_"]
_TYPES = ["int", "Foo", "[int]", "int?", "int??", "Map<int, Foo>", "()", "(int, str)", "fn",
          "Box<Box<int>>", "Map<Box<int>, [Box<Foo>]>?", "dyn Show + Eq", "A<B<C<D>>>"]
_ATOM_TYPES = ["int", "Foo", "[int?]", "Box<Box<int>>", "dyn Show", "()", "(int?)"]
_STRS = ["", "a", "{x}", "}", '"q"', "a\\b", "\n\t\r\0", "\x01z", "{{", "x:.2f"]
_NUMS = [0, 1, -1, -5, 2**63 - 1, -(2**63 - 1), 1.5, -1.5, -0.0, 1e16, 1e-7, 123456789.125]
_OPS = ["??", "!!", "||", "&&", "==", "!=", "<", "+", "-", "*", "/", "%", "**",
        "&", "|", "^", "<<", ">>", ">"]

# The only reasons a generated tree may be unprintable (no source parses back to it).
_EXPECTED_REFUSALS = ("expression statement without ';'", "f-string hole", "tuple variant types")


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, xs):
        return self.r.choice(xs)

    def pat(self, d: int):
        k = self.r.randrange(7 if d > 0 else 3)
        if k == 0:
            return A.PWild()
        if k == 1:
            return A.PLit(self.pick(_NUMS + _STRS + [True, None]))
        if k == 2:
            return A.PBind(self.pick(_IDENTS))
        if k == 3:
            rest = self.r.random() < 0.3
            return A.PArray([self.pat(d - 1) for _ in range(self.r.randrange(3))],
                            self.pick(["r", "_"]) if rest else None, rest)
        if k == 4:
            return A.PObject([(self.pick(_IDENTS), self.pat(d - 1)) for _ in range(2)])
        if k == 5:
            return A.PVariant(self.pick([["Some"], ["Color", "Red"], ["ok"]]), [self.pat(d - 1)])
        return A.PVariant(self.pick([["Rect"], ["Shape", "Rect"]]), None,
                          [(self.pick(_IDENTS), self.pat(d - 1))])

    def tpat(self):
        """A typed pattern, alone or inside an array or variant pattern (match arms only)."""
        typed = A.PTyped(self.pick([None, "n", "trait"]), self.pick(_TYPES))
        return self.pick([typed, A.PArray([typed, A.PBind("b")]), A.PVariant(["Some"], [typed])])

    def bpat(self, d: int):
        """A binding pattern (`let`, parameters, `for`): names, `_` and destructuring only."""
        k = self.r.randrange(4 if d > 0 else 2)
        if k == 0:
            return A.PWild()
        if k == 1:
            return A.PBind(self.pick(_IDENTS))
        if k == 2:
            rest = self.r.random() < 0.3
            return A.PArray([self.bpat(d - 1) for _ in range(self.r.randrange(3))],
                            self.pick(["r", "_"]) if rest else None, rest)
        return A.PObject([(self.pick(_IDENTS), self.bpat(d - 1)) for _ in range(2)])

    def param(self, d: int):
        if self.r.random() < 0.15:
            return A.Param(A.PBind(self.pick(_IDENTS)), None, None, True)
        return A.Param(self.bpat(1), self.pick([None, None, self.pick(_TYPES)]),
                       self.expr(d - 1) if self.r.random() < 0.2 else None)

    def block(self, d: int):
        return A.Block([self.stmt(d - 1) for _ in range(self.r.randrange(3))])

    def expr(self, d: int):
        r, e = self.r, (lambda: self.expr(d - 1))
        if d <= 0:
            return self.pick([Lit(self.pick(_NUMS + _STRS)), N(self.pick(_NAMES)), A.UnitLit(),
                              A.Path(["Color", self.pick(["Red", "extend"])])])
        k = r.randrange(30)
        if k == 0:
            return Lit(self.pick(_NUMS + _STRS + [True, None]))
        if k == 1:
            parts: list = []
            for _ in range(r.randrange(4)):
                if r.random() < 0.5 and not (parts and isinstance(parts[-1], str)):
                    parts.append(self.pick([s for s in _STRS if s]))
                else:
                    parts.append(A.FPart(e(), self.pick([None, ".2f", "fixed(3)"])))
            return A.FString(parts)
        if k == 2:
            return A.ArrayLit([A.Spread(e()) if r.random() < 0.2 else e() for _ in range(2)])
        if k == 3:
            return A.ObjectLit([A.Spread(e()) if r.random() < 0.2 else
                                (self.pick(["a", "type", "let", "a b", "Foo"]), e())
                                for _ in range(r.randrange(3))])
        if k == 4:
            return A.StructLit(self.pick([["Foo"], ["Shape", "Rect"]]),
                               [(self.pick(_IDENTS), self.pick([e(), N("x")]))])
        if k in (5, 6):
            return A.Unary(self.pick("-!~"), e())
        if k in (7, 8, 9):
            return A.Binary(self.pick(_OPS), e(), e())
        if k == 10:
            return A.Pipe(e(), e())
        if k == 11:
            return A.Ternary(e(), e(), e())
        if k == 12:
            target = self.pick([N(self.pick(_IDENTS)), A.Member(e(), "f"), A.Index(e(), e())])
            return A.Assign(target, self.pick(["=", "-=", "**=", "&=", "|=", "<<=", ">>="]), e())
        if k == 13:
            return A.Call(e(), [self.pick([A.RefArg("x"), A.Spread(e()), e()]) for _ in range(2)])
        if k == 14:
            return A.Member(e(), self.pick(["f", "type", "Foo", "extend", "method"]),
                            r.random() < 0.3)
        if k == 15:
            return A.Index(e(), e())
        if k in (16, 17):
            return A.Try(e())
        if k == 18:
            return A.Lambda([self.param(d) for _ in range(r.randrange(3))], e())
        if k == 19:
            return self.block(d)
        if k == 20:
            return A.If(e(), self.block(d), self.pick([None, self.block(d),
                                                       A.If(e(), self.block(d))]))
        if k == 21:
            return A.Match(e(), [A.MatchArm(self.pick([self.pat(2), self.tpat()]),
                                            self.pick([None, e()]), e())
                                 for _ in range(r.randrange(3))])
        if k == 22:
            return A.While(e(), self.block(d))
        if k == 23:
            return A.For(self.bpat(1), e(), self.block(d))
        if k == 24:
            return A.Loop(self.block(d))
        if k == 25:
            return A.RangeExpr(e(), e(), r.random() < 0.5)
        if k == 26:
            return A.Comprehension(e(), [A.CompFor(self.bpat(1), e()),
                                         self.pick([A.CompFor(self.bpat(1), e()), A.CompIf(e())])])
        if k == 27:
            return A.Await(e(), [A.AnnotationUse(self.pick(["a", "Foo", "method"]),
                                                 self.pick([[], [e()]]))
                                 for _ in range(r.randrange(3))])
        if k == 28:
            return self.pick([
                A.Fuzzy(self.pick(["~=", "~<", "~>"]), e(), e(),
                        self.pick([None, 0, 2, 0.5]), False),
                A.Fuzzy("~=", e(), e(), self.pick([1, 2.5]), True),
                A.As(e(), self.pick(_ATOM_TYPES), r.random() < 0.5),
                A.DurationLit(self.pick([[(5, "s")], [(1, "h"), (30, "m")], [(1.5, "d")]]))])
        if k == 29:
            return A.FnExpr([self.param(d) for _ in range(r.randrange(3))], self.block(d),
                            self.pick([None, self.pick(_TYPES)]))
        return self.pick([Lit(self.pick(_NUMS)), A.Path(["Color", "Red"]), A.UnitLit()])

    def fn(self, d: int, name=None, plain=False):
        return A.FnDecl(name or self.pick(_IDENTS), [self.param(d) for _ in range(2)],
                        self.block(d), None if plain else self.pick([None, self.pick(_TYPES)]),
                        False if plain else self.r.random() < 0.2,
                        [] if plain else [A.AnnotationUse(self.pick(["memo", "Foo"]))],
                        [] if plain else self.type_params())

    def type_params(self):
        return self.pick([[], [A.TypeParam("T")],
                          [A.TypeParam("T", ["Show", "Eq"]), A.TypeParam("U", [], "Box<Box<int>>")]])

    def stmt(self, d: int):
        r = self.r
        k = r.randrange(19) if d > 0 else 0
        if k <= 5:
            return A.ExprStmt(self.expr(d), r.random() < 0.6)
        if k == 6:
            kind = self.pick(["let", "var", "const"])
            value = self.expr(d) if kind == "const" or r.random() < 0.8 else None
            mutable = kind == "var" or (kind == "let" and r.random() < 0.5)
            return A.Let(self.bpat(2), value, kind, mutable, self.pick([None, self.pick(_TYPES)]))
        if k == 7:
            return A.Return(self.pick([None, self.expr(d)]))
        if k == 8:
            return A.Break(self.pick([None, self.expr(d)]))
        if k == 9:
            return A.Continue()
        if k == 10:
            return self.fn(d)
        if k == 11:
            return A.EnumDecl(self.pick(["Color", "e"]), [
                A.Variant("A", value=self.pick([None, 1, -2, "a", 1.5])),
                A.Variant("B", "tuple", [self.pick(_TYPES), self.pick(_TYPES)][:r.randrange(1, 3)]),
                A.Variant("C", "struct", ["", "int"], ["w", "h"])], self.type_params())
        if k == 12:
            fields: list = [A.FieldDecl("x"), A.FieldDecl("y", "Foo", self.expr(d - 1))]
            if r.random() < 0.4:
                fields.append(A.ComptimeField("k", self.pick(_TYPES),
                                              self.pick([None, self.expr(d - 1)])))
            return A.TypeDecl(self.pick(["Point", "p"]), fields, self.type_params())
        if k == 13:
            return A.ExtendDecl(self.pick(["Point", "p"]), [self.fn(d - 1)])
        if k == 14:
            return A.AnnotationDecl(self.pick(_IDENTS), [self.param(d)],
                                    self.r.sample(["function", "await_expr"], r.randrange(3)),
                                    self.pick([None, self.fn(d - 1, "before", True)]),
                                    self.pick([None, self.fn(d - 1, "after", True)]))
        if k == 15:
            members: list = [A.TraitMethodSig(self.pick(["area", "f"]), [self.param(d)],
                                              self.pick([None, self.pick(_TYPES)]))]
            if r.random() < 0.5:
                members.append(self.fn(d - 1, "g"))
            return A.TraitDecl(self.pick(["Show", "t"]), self.type_params(), members)
        if k == 16:
            return A.ImplDecl(self.pick(["Show", "Into<int>", "A<B<C>>"]),
                              self.pick(_ATOM_TYPES[:4]),
                              [self.fn(d - 1, "show")][:r.randrange(2)],
                              self.pick([None, "Named"]))
        return A.Import(self.pick([["std", "core"], ["a", "extend"], ["x", "Foo"]]),
                        self.r.sample(["Snapshot", "x", "Foo"], r.randrange(3)))


@pytest.mark.parametrize("seed", range(8))
def test_random_trees_round_trip_or_are_refused(seed):
    gen = _Gen(seed)
    printed = 0
    for _ in range(80):
        tree = A.Program([gen.stmt(3) for _ in range(gen.r.randrange(1, 5))])
        try:
            src = to_source(tree)
        except ValueError as e:
            assert any(reason in str(e) for reason in _EXPECTED_REFUSALS), e
            continue
        back = parse(src)
        assert back == tree, src
        assert to_source(back) == src
        printed += 1
    assert printed >= 40
