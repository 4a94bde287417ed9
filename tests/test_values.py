"""Unit tests of the shared value model (runtime/: values, display, operators, access,
methods, builtins): §3 and §4 of the brief."""
from __future__ import annotations

import math

import pytest

from shapelang.runtime import (access as Acc, builtins as B, display as D, iteration as It,
                               methods as Me, numbers as N, operators as Op, snapshots as Snap,
                               values as V)
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.prelude import CALLBACK_METHODS

INF = math.inf
NAN = math.nan


def err_kind(fn, *args) -> str:
    with pytest.raises(ShapeError) as ei:
        fn(*args)
    return ei.value.kind


def err(fn, *args) -> ShapeError:
    with pytest.raises(ShapeError) as ei:
        fn(*args)
    return ei.value


def same(a, b) -> bool:
    """Strict comparison for tests: type and value (so 1 vs 1.0 and True vs 1 differ)."""
    if type(a) is not type(b):
        return False
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) in (V.Ok, V.Err):
        return same(a.value, b.value)
    if type(a) is V.HashMapValue:
        return same(dict(a.items_list()), dict(b.items_list()))
    if type(a) is V.RangeValue:
        return (a.start, a.end, a.inclusive) == (b.start, b.end, b.inclusive)
    if type(a) in (V.StructValue, V.EnumValue):
        return Op.equals(a, b)
    return a == b


def m(recv, name, *args):
    return Me.call_method(recv, name, list(args))


def b(name, *args):
    return B.BUILTINS[name].fn(list(args))


class Fn(V.FunctionValue):
    def __init__(self, name):
        self.name = name


# ---------------------------------------------------------------- display

@pytest.mark.parametrize("value, text", [
    (3, "3"), (-3, "-3"), (0, "0"), (2 ** 63 - 1, "9223372036854775807"),
    (3.0, "3.0"), (-3.0, "-3.0"), (2.5, "2.5"), (0.0, "0.0"), (-0.0, "0.0"),
    (0.1 + 0.2, "0.30000000000000004"), (1e-7, "0.0000001"), (1.5e-10, "0.00000000015"),
    (-1e-7, "-0.0000001"), (1e-5, "0.00001"), (0.0001, "0.0001"), (123.456, "123.456"),
    (1e14, "100000000000000.0"), (999999999999999.0, "999999999999999.0"),
    (1e15, "1000000000000000"), (-1e15, "-1000000000000000"), (1e21, "1000000000000000000000"),
    (2.0 ** 63, "9223372036854776000"), (1e16, "10000000000000000"),
    (1.7976931348623157e308, "17976931348623157" + "0" * 292),
    (5e-324, "0." + "0" * 323 + "5"),
    (NAN, "NaN"), (INF, "Infinity"), (-INF, "-Infinity"),
    (True, "true"), (False, "false"), (None, "None"), (V.UNIT, "()"),
    ("hi", "hi"), ("", ""), ("héllo ✓", "héllo ✓"),
])
def test_display_scalars(value, text):
    assert D.display(value) == text


def test_display_containers():
    assert D.display([1, 2.5, "a"]) == "[1, 2.5, a]"
    assert D.display([]) == "[]"
    assert D.display([[1, 2.0], ["x", None, True]]) == "[[1, 2.0], [x, None, true]]"
    assert D.display({"x": 1, "y": 2}) == "{ x: 1, y: 2 }"
    assert D.display({}) == "{}"
    assert D.display({"s": "q", "a": [1], "o": {"k": "v"}}) == "{ s: q, a: [1], o: { k: v } }"
    assert D.display(V.StructValue("Point", {"x": 1.0, "y": 2})) == "{ x: 1.0, y: 2 }"
    assert D.display(V.StructValue("Empty", {})) == "{}"


def test_display_results_enums_ranges():
    assert D.display(V.Ok(42)) == "Ok(42)"
    assert D.display(V.Err("boom")) == "Err(boom)"
    assert D.display(V.Ok(V.UNIT)) == "Ok(())"
    assert D.display(V.Ok([1, "a"])) == "Ok([1, a])"
    assert D.display(V.EnumValue("Color", "Red", None)) == "Red"
    assert D.display(V.EnumValue("Shape", "Circle", (5.0,))) == "Circle(5.0)"
    assert D.display(V.EnumValue("P", "Pair", (1, "b"))) == "Pair(1, b)"
    assert D.display(V.EnumValue("Shape", "Rect", {"w": 3.0, "h": 4.0})) == "Rect { w: 3.0, h: 4.0 }"
    h = "ab" * 32
    assert D.display(Snap.snapshot_hash(h)) == f"Hash({h})"
    assert D.display(Snap.SNAPSHOT_RESUMED) == "Resumed"
    assert D.display(V.RangeValue(1, 5, False)) == "1..5"
    assert D.display(V.RangeValue(1, 5, True)) == "1..=5"
    assert D.display(V.RangeValue(-3, -1, False)) == "-3..-1"


def test_display_functions_and_hashmaps():
    assert D.display(Fn("add")) == "[Function add]"
    assert D.display(Fn(None)) == "[Closure]"
    assert D.display(B.BUILTINS["len"]) == "[Function len]"
    assert D.display(V.HashMapValue({})) == "HashMap {}"
    mp = m(m(V.HashMapValue(), "set", "a", 1), "set", "b", 2)
    assert D.display(mp) == "HashMap { a: 1, b: 2 }"
    mp = m(m(V.HashMapValue(), "set", True, 1), "set", 1, "x")
    assert D.display(mp) == "HashMap { true: 1, 1: x }"


def test_display_cycles():
    a = [1]
    a.append(a)
    assert D.display(a) == "[1, [...]]"
    o = {"x": 1}
    o["self"] = o
    assert D.display(o) == "{ x: 1, self: {...} }"
    # The same container twice, not nested, is not a cycle.
    inner = [1]
    assert D.display([inner, inner]) == "[[1], [1]]"
    s = V.StructValue("N", {"v": 1})
    s.fields["next"] = [s]
    assert D.display(s) == "{ v: 1, next: [{...}] }"


def test_display_deep_nesting_is_a_shape_error():
    v: list = []
    for _ in range(100_000):
        v = [v]
    assert err_kind(D.display, v) == "StackOverflow"


def test_display_concat():
    assert D.display_concat(2.0) == "2"
    assert D.display_concat(1.5) == "1.5"
    assert D.display_concat(-0.0) == "0"
    assert D.display_concat(-3.0) == "-3"
    assert D.display_concat(1e15) == "1000000000000000"
    assert D.display_concat(1e-7) == "0.0000001"
    assert D.display_concat(NAN) == "NaN"
    assert D.display_concat(INF) == "Infinity"
    assert D.display_concat(3) == "3"
    assert D.display_concat([2.0]) == "[2.0]"
    assert D.display_concat(None) == "None"


# ---------------------------------------------------------------- type names, truthiness

def test_type_name():
    cases = [(1, "int"), (1.0, "number"), ("s", "string"), (True, "bool"), (None, "None"),
             (V.UNIT, "unit"), ([], "array"), ({}, "object"), (V.RangeValue(0, 1, False), "range"),
             (Fn("f"), "function"), (B.BUILTINS["len"], "function"),
             (V.HashMapValue(), "HashMap"), (V.Ok(1), "Result"), (V.Err(1), "Result"),
             (V.StructValue("Point", {}), "Point"), (V.EnumValue("Color", "Red"), "Color"),
             (Snap.SNAPSHOT_RESUMED, "Snapshot")]
    for v, n in cases:
        assert V.type_name(v) == n


def test_type_name_engine_objects():
    class Task:
        pass

    class Typed:
        SHAPE_TYPE = "custom"
    assert V.type_name(Task()) == "task"
    assert V.type_name(Typed()) == "custom"


@pytest.mark.parametrize("v", [False, 0, 0.0, -0.0, None, V.UNIT, "", [], {}, V.HashMapValue()])
def test_falsy(v):
    assert Op.truthy(v) is False
    assert Op.unary_op("!", v) is True


@pytest.mark.parametrize("v", [True, 1, -1, 0.5, NAN, INF, "0", " ", [0], {"a": None},
                               V.HashMapValue({"a": 1}), V.Ok(None), V.Err(0),
                               V.StructValue("E", {}), V.EnumValue("C", "Red"),
                               V.RangeValue(0, 0, False), Fn(None)])
def test_truthy(v):
    assert Op.truthy(v) is True
    assert Op.unary_op("!", v) is False


# ---------------------------------------------------------------- equality and ordering

def test_equals_numbers_and_bools():
    assert Op.equals(1, 1.0) and Op.equals(1.0, 1)
    assert not Op.equals(True, 1) and not Op.equals(1, True)
    assert not Op.equals(False, 0) and not Op.equals(0.0, False)
    assert Op.equals(True, True)
    assert not Op.equals(NAN, NAN)
    assert Op.equals(0.0, -0.0)
    assert not Op.equals("1", 1)
    assert Op.equals(None, None) and not Op.equals(None, 0) and not Op.equals(None, V.UNIT)
    assert Op.equals(V.UNIT, V.UNIT)
    assert Op.equals(2 ** 53 + 1, 2 ** 53 + 1)
    assert not Op.equals(2 ** 53 + 1, float(2 ** 53))  # exact comparison, as upstream i64 vs f64


def test_equals_containers():
    assert Op.equals([1, [2, "a"]], [1.0, [2, "a"]])
    assert not Op.equals([1, 2], [1, 2, 3])
    assert not Op.equals([True], [1])
    assert Op.equals({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not Op.equals({"a": 1}, {"a": 1, "b": None})
    assert not Op.equals({"a": 1}, {"b": 1})
    assert not Op.equals([], {})
    assert Op.equals(V.StructValue("P", {"x": 1}), V.StructValue("P", {"x": 1.0}))
    assert not Op.equals(V.StructValue("P", {"x": 1}), V.StructValue("Q", {"x": 1}))
    assert not Op.equals(V.StructValue("P", {"x": 1}), {"x": 1})
    assert Op.equals(V.Ok([1]), V.Ok([1]))
    assert not Op.equals(V.Ok(1), V.Err(1))
    assert Op.equals(V.EnumValue("C", "Red"), V.EnumValue("C", "Red"))
    assert not Op.equals(V.EnumValue("C", "Red"), V.EnumValue("D", "Red"))
    assert not Op.equals(V.EnumValue("C", "Red"), V.EnumValue("C", "Green"))
    assert Op.equals(V.EnumValue("S", "C", (1,)), V.EnumValue("S", "C", (1.0,)))
    assert not Op.equals(V.EnumValue("S", "C", (1,)), V.EnumValue("S", "C", (2,)))
    assert Op.equals(V.EnumValue("S", "R", {"w": 1}), V.EnumValue("S", "R", {"w": 1}))
    assert not Op.equals(V.EnumValue("S", "R", None), V.EnumValue("S", "R", (1,)))
    assert Op.equals(Snap.snapshot_hash("x"), Snap.snapshot_hash("x"))
    assert not Op.equals(Snap.snapshot_hash("x"), Snap.SNAPSHOT_RESUMED)
    assert Op.equals(V.RangeValue(1, 5, False), V.RangeValue(1, 5, False))
    assert not Op.equals(V.RangeValue(1, 5, False), V.RangeValue(1, 5, True))
    m1 = m(V.HashMapValue(), "set", "a", 1)
    m2 = m(V.HashMapValue(), "set", "a", 1.0)
    assert Op.equals(m1, m2)
    assert not Op.equals(m1, m(m1, "set", "b", 2))


def test_equals_functions_by_identity():
    f, g = Fn("f"), Fn("f")
    assert Op.equals(f, f) and not Op.equals(f, g)


def test_equals_cycles_terminate():
    a = [1]
    a.append(a)
    b2 = [1]
    b2.append(b2)
    assert Op.equals(a, a)
    assert Op.equals(a, b2)
    c = [2]
    c.append(c)
    assert not Op.equals(a, c)


def test_eq_ne_ops():
    assert Op.binary_op("==", 1, 1.0) is True
    assert Op.binary_op("!=", 1, 1.0) is False
    assert Op.binary_op("==", True, 1) is False
    assert Op.binary_op("!=", "a", "b") is True
    assert Op.binary_op("==", [1, 2], [1, 2]) is True


def test_compare():
    assert Op.compare(1, 2) == -1 and Op.compare(2, 1) == 1 and Op.compare(2, 2.0) == 0
    assert Op.compare("a", "b") == -1 and Op.compare("b", "a") == 1 and Op.compare("a", "a") == 0
    assert Op.compare("Z", "a") == -1  # code point order
    assert Op.compare("ab", "abc") == -1
    e = err(Op.compare, 1, "a")
    assert e.kind == "TypeError" and e.message == "Cannot compare int and string"
    assert err_kind(Op.compare, True, False) == "TypeError"
    assert err_kind(Op.compare, [1], [2]) == "TypeError"
    assert err_kind(Op.compare, None, 1) == "TypeError"


def test_comparison_ops():
    assert Op.binary_op("<", 1, 2.5) is True
    assert Op.binary_op("<=", 2, 2.0) is True
    assert Op.binary_op(">", "b", "a") is True
    assert Op.binary_op(">=", 1, 2) is False
    assert Op.binary_op("<", NAN, 1) is False
    assert Op.binary_op("<", 2 ** 53 + 1, float(2 ** 53)) is False
    for op in ("<", "<=", ">", ">="):
        e = err(Op.binary_op, op, 1, "a")
        assert e.kind == "TypeError" and "Cannot compare" in e.message
        assert err_kind(Op.binary_op, op, True, 1) == "TypeError"


# ---------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("op, a, b2, want", [
    ("+", 1, 2, 3), ("+", 1, 2.0, 3.0), ("+", 1.5, 1, 2.5), ("-", 5, 7, -2), ("-", 5.0, 7, -2.0),
    ("*", 3, 4, 12), ("*", 3, 0.5, 1.5), ("/", 7, 2, 3), ("/", -7, 2, -3), ("/", 7, -2, -3),
    ("/", -7, -2, 3), ("/", 7.0, 2, 3.5), ("/", 7, 2.0, 3.5), ("/", 1, 3, 0),
    ("%", 7, 3, 1), ("%", -7, 3, -1), ("%", 7, -3, 1), ("%", -7, -3, -1),
    ("%", -7.5, 2, -1.5), ("%", 7.5, -2, 1.5), ("%", 5, 2.5, 0.0),
    ("**", 2, 10, 1024), ("**", 2, 0, 1), ("**", 0, 0, 1), ("**", -2, 3, -8),
    ("**", 2, -1, 0.5), ("**", 2.0, 3, 8.0), ("**", 4, 0.5, 2.0), ("**", -2, 63, -(2 ** 63)),
    ("**", -1, 10 ** 18, 1), ("**", -1, 10 ** 18 + 1, -1), ("**", 1, 10 ** 18, 1),
    ("**", 0, 10 ** 18, 0),
])
def test_arithmetic(op, a, b2, want):
    assert same(Op.binary_op(op, a, b2), want)


def test_int_overflow_becomes_number():
    r = Op.binary_op("+", 2 ** 63 - 1, 1)
    assert type(r) is float and D.display(r) == "9223372036854776000"
    assert same(Op.binary_op("-", -(2 ** 63), 1), -9.223372036854775809e18)
    assert type(Op.binary_op("*", 2 ** 62, 4)) is float
    assert same(Op.binary_op("*", 2 ** 62, -2), -(2 ** 63))
    assert same(Op.binary_op("/", -(2 ** 63), -1), 9.223372036854775808e18)
    assert same(Op.binary_op("%", -(2 ** 63), -1), 0)
    assert same(Op.binary_op("**", 2, 63), 9.223372036854775808e18)
    assert same(Op.binary_op("**", 2, 62), 2 ** 62)
    assert same(Op.binary_op("**", 10, 400), INF)
    assert same(Op.binary_op("**", -10, 401), -INF)
    assert same(Op.binary_op("**", 3, 10 ** 18), INF)
    assert same(N.check_int(2 ** 63), 9.223372036854775808e18)
    assert same(N.check_int(-(2 ** 63)), -(2 ** 63))
    assert same(N.check_int(10 ** 400), INF)
    assert same(N.check_int(-(10 ** 400)), -INF)


def test_float_edge_arithmetic():
    assert same(Op.binary_op("**", 10.0, 400), INF)
    assert same(Op.binary_op("**", -10.0, 401), -INF)
    assert same(Op.binary_op("**", -8.0, 1 / 3), NAN)
    assert same(Op.binary_op("**", 0, -1), INF)
    assert same(Op.binary_op("**", 0.0, -1.0), INF)
    assert same(Op.binary_op("*", 1e308, 10), INF)
    assert same(Op.binary_op("%", INF, 2), NAN)
    assert same(Op.binary_op("%", 5.0, INF), 5.0)
    assert same(Op.binary_op("-", INF, INF), NAN)
    assert same(Op.binary_op("/", 1e308, 1e-10), INF)


@pytest.mark.parametrize("op, a, b2", [
    ("/", 1, 0), ("/", 1.0, 0), ("/", 1, 0.0), ("/", 0.0, -0.0), ("%", 1, 0), ("%", 1.5, 0.0),
])
def test_division_by_zero(op, a, b2):
    e = err(Op.binary_op, op, a, b2)
    assert e.kind == "ArithmeticError" and e.message == "Division by zero"


def test_string_concat():
    assert Op.binary_op("+", "a", 1) == "a1"
    assert Op.binary_op("+", 1, "a") == "1a"
    assert Op.binary_op("+", "x", 2.0) == "x2"
    assert Op.binary_op("+", "x", 1.5) == "x1.5"
    assert Op.binary_op("+", 2.0, "x") == "2x"
    assert Op.binary_op("+", "a", "b") == "ab"
    assert Op.binary_op("+", "v=", None) == "v=None"
    assert Op.binary_op("+", "v=", True) == "v=true"
    assert Op.binary_op("+", "v=", [1, 2.0]) == "v=[1, 2.0]"
    assert Op.binary_op("+", "r=", V.Ok(1)) == "r=Ok(1)"
    assert Op.binary_op("+", "é", "✓") == "é✓"


def test_array_concat_op():
    a, c = [1], [2, 3]
    r = Op.binary_op("+", a, c)
    assert r == [1, 2, 3] and r is not a and a == [1]


@pytest.mark.parametrize("op, a, b2, msg", [
    ("+", True, 1, "Cannot apply '+' to bool and int"),
    ("+", 1, True, "Cannot apply '+' to int and bool"),
    ("-", "a", 1, "Cannot apply '-' to string and int"),
    ("*", "a", 3, "Cannot apply '*' to string and int"),
    ("/", [1], 1, "Cannot apply '/' to array and int"),
    ("%", None, 1, "Cannot apply '%' to None and int"),
    ("**", 2, False, "Cannot apply '**' to int and bool"),
    ("+", [1], 1, "Cannot apply '+' to array and int"),
    ("+", {}, [1], "Cannot apply '+' to object and array"),
    ("+", None, None, "Cannot apply '+' to None and None"),
])
def test_arithmetic_type_errors(op, a, b2, msg):
    e = err(Op.binary_op, op, a, b2)
    assert e.kind == "TypeError" and e.message == msg


def test_specialised_ops_match_binary_op():
    pairs = [(7, 2), (-7, 2), (7.5, 2), (2, 0.5), ("a", 1), (3, "b")]
    for f, op in [(Op.add, "+"), (Op.sub, "-"), (Op.mul, "*"), (Op.div, "/"), (Op.mod, "%"),
                  (Op.pow_, "**"), (Op.lt, "<"), (Op.le, "<="), (Op.gt, ">"), (Op.ge, ">="),
                  (Op.eq, "=="), (Op.ne, "!=")]:
        for a, b2 in pairs:
            try:
                want = Op.binary_op(op, a, b2)
            except ShapeError as e:
                assert err_kind(f, a, b2) == e.kind
            else:
                assert same(f(a, b2), want)


def test_unary():
    assert same(Op.unary_op("-", 5), -5)
    assert same(Op.unary_op("-", 0), 0)
    assert same(Op.unary_op("-", 2.5), -2.5)
    assert D.display(Op.unary_op("-", 0.0)) == "0.0"
    assert same(Op.unary_op("-", -(2 ** 63)), 9.223372036854775808e18)
    assert same(Op.unary_op("-", 2 ** 63 - 1), -(2 ** 63) + 1)
    e = err(Op.unary_op, "-", True)
    assert e.kind == "TypeError"
    assert err_kind(Op.unary_op, "-", "a") == "TypeError"
    assert Op.unary_op("!", True) is False and Op.unary_op("!", None) is True
    assert Op.neg(3) == -3 and Op.not_(0) is True


def test_unknown_operator():
    assert err_kind(Op.binary_op, "<>", 1, 2) == "RuntimeError"
    assert err_kind(Op.unary_op, "+", 1) == "RuntimeError"


# ---------------------------------------------------------------- bitwise (spec/bitwise.md)

IMIN, IMAX = -(2 ** 63), 2 ** 63 - 1


@pytest.mark.parametrize("op, a, b2, want", [
    ("&", 12, 10, 8), ("|", 12, 10, 14), ("^", 12, 10, 6), ("&", -1, 0xFF, 0xFF),
    ("&", IMIN, -1, IMIN), ("|", IMIN, IMAX, -1), ("^", IMAX, -1, IMIN),
    ("<<", 1, 10, 1024), ("<<", 1, 62, 2 ** 62), ("<<", 1, 63, IMIN), ("<<", 3, 62, -(2 ** 62)),
    ("<<", -1, 63, IMIN), ("<<", IMAX, 1, -2), ("<<", 5, 0, 5),
    (">>", -8, 1, -4), (">>", -1, 5, -1), (">>", IMIN, 63, -1), (">>", IMAX, 63, 0),
    (">>", 0xABCD, 8, 0xAB),
])
def test_bitwise_results_are_ints(op, a, b2, want):
    got = Op.binary_op(op, a, b2)
    assert type(got) is int and got == want


def test_bitwise_not():
    assert Op.unary_op("~", 12) == -13 and Op.unary_op("~", -1) == 0
    assert Op.bit_not(IMAX) == IMIN and Op.bit_not(IMIN) == IMAX


@pytest.mark.parametrize("op, a, b2, msg", [
    ("&", 1.5, 1, "Cannot apply '&' to number and int"),
    ("|", 2.0, 1, "Cannot apply '|' to number and int"),
    ("^", True, False, "Cannot apply '^' to bool and bool"),
    ("<<", 1, 2.0, "Cannot apply '<<' to int and number"),
    (">>", "a", 1, "Cannot apply '>>' to string and int"),
])
def test_bitwise_operands_must_be_ints(op, a, b2, msg):
    e = err(Op.binary_op, op, a, b2)
    assert e.kind == "TypeError" and e.message == msg


@pytest.mark.parametrize("v", [2.0, 1.5, True, "a", None, [1]])
def test_bitwise_not_needs_an_int(v):
    assert err(Op.unary_op, "~", v).kind == "TypeError"


@pytest.mark.parametrize("op, count", [("<<", 64), ("<<", -1), (">>", 64), (">>", -1),
                                       ("<<", 2 ** 70)])
def test_shift_count_out_of_range(op, count):
    e = err(Op.binary_op, op, 1, count)
    assert e.kind == "ArithmeticError" and e.message.startswith("Shift count out of range")


@pytest.mark.parametrize("x, bits, signed, want", [
    (400, 8, False, 144), (128, 8, True, -128), (-1, 16, False, 65535), (2 ** 63, 64, True, IMIN),
    (2 ** 64 + 5, 64, True, 5), (-129, 8, True, 127), (255, 8, True, -1),
])
def test_wrap_int(x, bits, signed, want):
    assert N.wrap_int(x, bits, signed) == want


# ---------------------------------------------------------------- indexing

def test_to_index():
    assert Acc.to_index(3, 0) == 0 and Acc.to_index(3, 2) == 2 and Acc.to_index(3, -1) == 2
    assert Acc.to_index(3, -3) == 0 and Acc.to_index(3, 3) is None and Acc.to_index(3, -4) is None
    assert Acc.to_index(0, 0) is None


def test_index_get_arrays_and_strings():
    a = [10, 20, 30]
    assert Acc.index_get(a, 0) == 10 and Acc.index_get(a, -1) == 30 and Acc.index_get(a, -3) == 10
    assert Acc.index_get(a, 3) is None and Acc.index_get(a, -4) is None
    assert Acc.index_get([], 0) is None
    assert Acc.index_get(a, 1.0) == 20
    assert err_kind(Acc.index_get, a, 1.5) == "TypeError"
    assert err_kind(Acc.index_get, a, True) == "TypeError"
    assert err_kind(Acc.index_get, a, "0") == "TypeError"
    s = "héllo✓"
    assert Acc.index_get(s, 1) == "é" and Acc.index_get(s, -1) == "✓" and Acc.index_get(s, 6) is None


def test_index_get_slices():
    a = [0, 1, 2, 3, 4]
    R = V.RangeValue
    assert Acc.index_get(a, R(1, 3, False)) == [1, 2]
    assert Acc.index_get(a, R(1, 3, True)) == [1, 2, 3]
    assert Acc.index_get(a, R(-2, 5, False)) == [3, 4]
    assert Acc.index_get(a, R(1, -1, False)) == [1, 2, 3]
    assert Acc.index_get(a, R(1, -1, True)) == [1, 2, 3, 4]
    assert Acc.index_get(a, R(-100, 100, False)) == a
    assert Acc.index_get(a, R(3, 1, False)) == []
    assert Acc.index_get(a, R(7, 9, False)) == []
    s = Acc.index_get(a, R(0, 5, False))
    assert s is not a
    assert Acc.index_get("héllo", R(1, 3, False)) == "él"
    assert Acc.index_get("héllo", R(1, 3, True)) == "éll"
    assert Acc.index_get("héllo", R(-3, -1, False)) == "ll"


def test_index_get_objects():
    o = {"a": 1}
    assert Acc.index_get(o, "a") == 1 and Acc.index_get(o, "b") is None
    assert err_kind(Acc.index_get, o, 1) == "TypeError"
    st = V.StructValue("P", {"x": 1})
    assert Acc.index_get(st, "x") == 1 and Acc.index_get(st, "y") is None
    mp = m(m(V.HashMapValue(), "set", "a", 1), "set", 2, "two")
    assert Acc.index_get(mp, "a") == 1 and Acc.index_get(mp, 2) == "two" and Acc.index_get(mp, "z") is None
    assert Acc.index_get(mp, 2.0) == "two"
    for bad in (1, None, True, V.UNIT, V.Ok(1), V.RangeValue(0, 1, False)):
        assert err_kind(Acc.index_get, bad, 0) == "TypeError"


def test_index_set():
    a = [1, 2, 3]
    Acc.index_set(a, 0, "x")
    Acc.index_set(a, -1, "z")
    Acc.index_set(a, 1.0, "y")
    assert a == ["x", "y", "z"]
    e = err(Acc.index_set, a, 3, 0)
    assert e.kind == "IndexError"
    assert err_kind(Acc.index_set, a, -4, 0) == "IndexError"
    assert err_kind(Acc.index_set, [], 0, 0) == "IndexError"
    assert err_kind(Acc.index_set, a, "0", 0) == "TypeError"
    o = {"a": 1}
    Acc.index_set(o, "a", 2)
    Acc.index_set(o, "b", 3)
    assert o == {"a": 2, "b": 3} and list(o) == ["a", "b"]
    assert err_kind(Acc.index_set, o, 1, 0) == "TypeError"
    st = V.StructValue("P", {"x": 1})
    Acc.index_set(st, "x", 5)
    assert st.fields == {"x": 5}
    assert err_kind(Acc.index_set, st, "nope", 1) == "TypeError"
    assert err_kind(Acc.index_set, "abc", 0, "x") == "TypeError"
    assert err_kind(Acc.index_set, V.HashMapValue(), "a", 1) == "TypeError"
    assert err_kind(Acc.index_set, None, 0, 1) == "TypeError"


# ---------------------------------------------------------------- properties

def test_get_property():
    assert Acc.get_property({"a": 1}, "a") == 1
    assert Acc.get_property({"a": 1}, "b") is None
    assert Acc.get_property([1, 2], "length") == 2
    assert Acc.get_property("héllo", "length") == 5
    assert Acc.get_property("", "length") == 0
    st = V.StructValue("Point", {"x": 1})
    assert Acc.get_property(st, "x") == 1
    e = err(Acc.get_property, st, "z")
    assert e.kind == "TypeError" and "no field" in e.message
    ev = V.EnumValue("S", "Rect", {"w": 3.0})
    assert Acc.get_property(ev, "w") == 3.0
    assert err_kind(Acc.get_property, ev, "h") == "TypeError"
    assert err_kind(Acc.get_property, [1], "size") == "TypeError"
    assert err_kind(Acc.get_property, V.HashMapValue(), "size") == "TypeError"
    assert Acc.get_property(V.HashMapValue({"length": 9}), "length") == 1
    assert err_kind(Acc.get_property, None, "x") == "TypeError"
    assert err_kind(Acc.get_property, 5, "x") == "TypeError"
    assert err_kind(Acc.get_property, V.EnumValue("C", "Red"), "x") == "TypeError"


def test_set_property():
    o = {}
    Acc.set_property(o, "a", 1)
    Acc.set_property(o, "a", 2)
    assert o == {"a": 2}
    st = V.StructValue("P", {"x": 1})
    Acc.set_property(st, "x", 9)
    assert st.fields["x"] == 9
    assert err_kind(Acc.set_property, st, "y", 1) == "TypeError"
    for bad in ([], "s", None, 1, V.HashMapValue()):
        assert err_kind(Acc.set_property, bad, "a", 1) == "TypeError"


# ---------------------------------------------------------------- iteration

def test_iterate():
    assert list(It.iterate([1, 2])) == [1, 2]
    assert list(It.iterate("hé✓")) == ["h", "é", "✓"]
    assert list(It.iterate(V.RangeValue(1, 4, False))) == [1, 2, 3]
    assert list(It.iterate(V.RangeValue(1, 4, True))) == [1, 2, 3, 4]
    assert list(It.iterate(V.RangeValue(4, 1, False))) == []
    mp = m(m(V.HashMapValue(), "set", "b", 1), "set", True, 2)
    assert list(It.iterate(mp)) == ["b", True]
    for bad in (1, None, {}, V.Ok(1), True):
        e = err(lambda x: list(It.iterate(x)), bad)
        assert e.kind == "TypeError" and "not iterable" in e.message
    assert It.range_values(V.RangeValue(0, 3, True)) == range(0, 4)


def test_make_range():
    assert same(It.make_range(1, 3, True), V.RangeValue(1, 3, True))
    e = err(It.make_range, 1, 2.5, False)
    assert e.kind == "TypeError" and e.message == "Range bounds must be int, got int and number"
    assert err_kind(It.make_range, True, 2, False) == "TypeError"


def test_iterate_array_by_position():
    a = [1, 2]
    seen = []
    for x in It.iterate(a):
        seen.append(x)
        if x == 1:
            a.append(3)
    assert seen == [1, 2, 3]


# ---------------------------------------------------------------- array methods

def test_array_basic_methods():
    a = [1, 2, 3]
    assert m(a, "length") == 3 and m(a, "len") == 3 and m([], "length") == 0
    r = m(a, "push", 4)
    assert r is a and a == [1, 2, 3, 4]
    r = m(a, "pop")
    assert r is a and a == [1, 2, 3]
    e: list = []
    assert m(e, "pop") is e and e == []
    rev = m(a, "reverse")
    assert rev == [3, 2, 1] and a == [1, 2, 3]
    assert m(a, "join") == "1,2,3"
    assert m(a, "join", "-") == "1-2-3"
    assert m(["a", 2.0, None, [1]], "join", " ") == "a 2.0 None [1]"
    assert m([], "join", ",") == ""
    assert m(a, "first") == 1 and m(a, "last") == 3
    assert m([], "first") is None and m([], "last") is None
    assert m(a, "isEmpty") is False and m([], "isEmpty") is True
    assert err_kind(m, a, "push") == "TypeError"
    assert err_kind(m, a, "join", 1) == "TypeError"


def test_array_slice_concat():
    a = [0, 1, 2, 3, 4]
    assert m(a, "slice", 1, 3) == [1, 2]
    assert m(a, "slice", 2) == [2, 3, 4]
    assert m(a, "slice", -2) == [3, 4]
    assert m(a, "slice", 1, -1) == [1, 2, 3]
    assert m(a, "slice", -100, 100) == a
    assert m(a, "slice", 4, 1) == []
    assert m(a, "slice", 0) is not a
    assert m(a, "slice") == a
    assert err_kind(m, a, "slice", "1") == "TypeError"
    c = m(a, "concat", [5, 6])
    assert c == [0, 1, 2, 3, 4, 5, 6] and a == [0, 1, 2, 3, 4]
    assert m([], "concat", []) == []
    assert m([1], "concat", 2) == [1, 2]


def test_array_search():
    a = [1, "a", [2], 1.0]
    assert m(a, "indexOf", 1) == 0 and m(a, "indexOf", [2]) == 2 and m(a, "indexOf", "z") == -1
    assert m(a, "indexOf", True) == -1
    assert m(a, "includes", "a") is True and m(a, "includes", True) is False
    assert m([], "includes", None) is False
    assert m([None], "includes", None) is True


def test_array_flatten_unique():
    assert m([[1, 2], 3, [[4]], []], "flatten") == [1, 2, 3, [4]]
    assert m([], "flatten") == []
    u = m([1, 1.0, "1", 2, True, 1, [1], [1]], "unique")
    assert same(u, [1, "1", 2, True, [1]])
    assert m([], "unique") == []


def test_array_aggregates():
    assert same(m([1, 2, 3], "sum"), 6)
    assert same(m([1, 2.5], "sum"), 3.5)
    assert same(m([], "sum"), 0)
    assert same(m([2 ** 63 - 1, 1], "sum"), 9.223372036854775808e18)
    assert err_kind(m, [1, "a"], "sum") == "TypeError"
    assert err_kind(m, [True], "sum") == "TypeError"
    assert same(m([1, 2], "avg"), 1.5)
    assert same(m([2, 2], "avg"), 2.0)
    assert m([], "avg") is None
    assert same(m([3, 1.5, 2], "min"), 1.5) and same(m([3, 1.5, 2], "max"), 3)
    assert m([], "min") is None and m([], "max") is None
    assert m(["b", "a"], "min") == "a"
    assert err_kind(m, [1, "a"], "max") == "TypeError"
    assert m([1, 2, 3], "count") == 3 and m([], "count") == 0


def test_array_zip_take_skip():
    assert m([1, 2, 3], "zip", ["a", "b"]) == [[1, "a"], [2, "b"]]
    assert m([], "zip", [1]) == []
    assert err_kind(m, [1], "zip", 1) == "TypeError"
    a = [1, 2, 3]
    assert m(a, "take", 2) == [1, 2] and m(a, "take", 10) == a and m(a, "take", -1) == []
    assert m(a, "skip", 1) == [2, 3] and m(a, "skip", 10) == [] and m(a, "skip", -1) == a
    assert m(a, "take", 0) == []


def test_array_sort_natural():
    a = [3, 1.5, 2, -1]
    s = m(a, "sort")
    assert same(s, [-1, 1.5, 2, 3]) and a == [3, 1.5, 2, -1]
    assert m(["b", "B", "a", "é"], "sort") == ["B", "a", "b", "é"]
    assert same(m([1.0, 1, 0], "sort"), [0, 1.0, 1])  # stable
    assert m([], "sort") == []
    assert err_kind(m, [1, "a"], "sort") == "TypeError"
    assert err_kind(m, [[1], [2]], "sort") == "TypeError"


def test_array_callback_methods_not_here():
    assert "map" in CALLBACK_METHODS and "sort" in CALLBACK_METHODS
    assert {"map", "filter", "reduce", "forEach", "find", "findIndex", "some", "every",
            "flatMap", "sort", "count", "groupBy", "where", "select", "any", "all", "takeWhile",
            "skipWhile", "single", "distinctBy", "orderBy"} == set(CALLBACK_METHODS)
    f = Fn(None)
    for name in ("map", "filter", "reduce", "forEach", "find", "flatMap", "groupBy", "where",
                 "orderBy", "single"):
        assert err_kind(m, [1], name, f) == "TypeError"
    for name in ("map", "filter", "reduce", "forEach", "groupBy"):
        assert err_kind(m, V.HashMapValue({"a": 1}), name, f) == "TypeError"
    assert err_kind(m, [1], "sort", f) == "TypeError"
    assert err_kind(m, [1], "count", f) == "TypeError"


def test_unknown_methods():
    e = err(m, [1], "frobnicate")
    assert e.kind == "TypeError" and e.message == "Unknown method 'frobnicate' on array"
    assert err(m, "s", "nope").message == "Unknown method 'nope' on string"
    assert err_kind(m, None, "length") == "TypeError"
    assert err_kind(m, True, "abs") == "TypeError"
    assert err_kind(m, {}, "keys") == "TypeError"


def test_to_string_on_anything():
    for v in (None, True, [1, 2.0], {"a": "b"}, V.Ok(1), V.UNIT, V.EnumValue("C", "Red"),
              Fn("f"), V.RangeValue(1, 2, True), V.HashMapValue(), 2.0, 3, "s"):
        assert m(v, "toString") == D.display(v)


# ---------------------------------------------------------------- string methods

def test_string_case_trim():
    assert m("HeLLo é", "toUpperCase") == "HELLO É"
    assert m("HeLLo É", "toLowerCase") == "hello é"
    assert m("  a b \n\t", "trim") == "a b"
    assert m("  a ", "trimStart") == "a " and m("  a ", "trimEnd") == "  a"
    assert m("", "trim") == ""
    assert m("héllo", "length") == 5 and m("héllo", "len") == 5


def test_string_split_replace():
    assert m("a,b,,c", "split", ",") == ["a", "b", "", "c"]
    assert m("abc", "split", "") == ["a", "b", "c"]
    assert m("", "split", ",") == [""]
    assert m("", "split", "") == []
    assert m("a--b", "split", "--") == ["a", "b"]
    assert m("hé✓", "split", "") == ["h", "é", "✓"]
    assert err_kind(m, "a", "split", 1) == "TypeError"
    assert err_kind(m, "a", "split") == "TypeError"
    assert m("a.b.c", "replace", ".", "/") == "a/b/c"
    assert m("aaa", "replace", "a", "bb") == "bbbbbb"
    assert m("abc", "replace", "z", "y") == "abc"
    assert err_kind(m, "a", "replace", "a") == "TypeError"


def test_string_substring_charat():
    s = "héllo"
    assert m(s, "substring", 1, 3) == "él"
    assert m(s, "substring", 2) == "llo"
    assert m(s, "substring", 0, 100) == s
    assert m(s, "substring", -5, 2) == "hé"
    assert m(s, "substring", 4, 2) == ""
    assert m(s, "substring", 10) == ""
    assert m(s, "charAt", 1) == "é" and m(s, "charAt", 5) == "" and m(s, "charAt", -1) == ""
    assert err_kind(m, s, "charAt", "1") == "TypeError"


def test_string_repeat_reverse_pad():
    assert m("ab", "repeat", 3) == "ababab" and m("ab", "repeat", 0) == ""
    assert err_kind(m, "ab", "repeat", -1) == "ValueError"
    assert err_kind(m, "ab", "repeat", 10 ** 12) == "ValueError"
    assert m("hé✓", "reverse") == "✓éh"
    assert m("5", "padStart", 3) == "  5" and m("5", "padStart", 3, "0") == "005"
    assert m("5", "padEnd", 3, "ab") == "5ab" and m("5", "padEnd", 4, "ab") == "5aba"
    assert m("abc", "padStart", 2) == "abc" and m("abc", "padEnd", 3, "x") == "abc"
    assert m("a", "padStart", 3, "") == "a"


def test_string_predicates():
    s = "hello world"
    assert m(s, "startsWith", "hell") is True and m(s, "startsWith", "world") is False
    assert m(s, "endsWith", "world") is True and m(s, "endsWith", "") is True
    assert m(s, "contains", "o w") is True and m(s, "includes", "xyz") is False
    assert m(s, "indexOf", "o") == 4 and m(s, "indexOf", "z") == -1
    assert m("héllo", "indexOf", "l") == 2
    assert m("", "isEmpty") is True and m(" ", "isEmpty") is False
    assert m("hé", "chars") == ["h", "é"]
    assert m("x", "toString") == "x"
    assert err_kind(m, s, "contains", 1) == "TypeError"


def test_string_conversions():
    assert same(m("42", "toInt"), 42)
    assert same(m(" -7 ", "toInt"), -7)
    assert same(m("3.9", "toInt"), 3)
    assert same(m("-3.9", "toInt"), -3)
    assert same(m("42", "toNumber"), 42)
    assert same(m("1.5", "toNumber"), 1.5)
    assert same(m("1e3", "toNumber"), 1000.0)
    assert same(m(".5", "toNumber"), 0.5)
    for bad in ("abc", "", "1_000", "inf", "nan", "0x10", "1.2.3", "٣"):
        assert err_kind(m, bad, "toNumber") == "ValueError"
        assert err_kind(m, bad, "toInt") == "ValueError"
    assert same(m("99999999999999999999", "toNumber"), 1e20)
    assert same(m("1" * 5000, "toNumber"), INF)
    assert same(m("-" + "1" * 5000, "toNumber"), -INF)
    assert err_kind(m, "1" * 5000, "toInt") == "ValueError"
    assert err_kind(m, "99999999999999999999", "toInt") == "ValueError"


# ---------------------------------------------------------------- number methods

def test_number_methods():
    assert m(2.0, "toString") == "2.0" and m(2, "toString") == "2"
    assert m(3.14159, "toFixed", 2) == "3.14" and m(2, "toFixed", 1) == "2.0"
    assert m(2.5, "toFixed", 0) == "2"
    assert m(NAN, "toFixed", 2) == "NaN" and m(-INF, "toFixed", 2) == "-Infinity"
    assert err_kind(m, 1.0, "toFixed", -1) == "ValueError"
    assert same(m(-3, "abs"), 3) and same(m(-2.5, "abs"), 2.5)
    assert same(m(-(2 ** 63), "abs"), 9.223372036854775808e18)
    assert same(m(2.7, "floor"), 2) and same(m(-2.2, "floor"), -3)
    assert same(m(2.2, "ceil"), 3) and same(m(-2.7, "ceil"), -2)
    assert same(m(2.5, "round"), 3) and same(m(-2.5, "round"), -3) and same(m(2.4, "round"), 2)
    assert same(m(0.49999999999999994, "round"), 0)
    assert same(m(5, "floor"), 5)
    assert same(m(1e300, "floor"), 1e300)
    assert same(m(NAN, "floor"), NAN) and same(m(INF, "round"), INF)
    assert same(m(3.9, "toInt"), 3) and same(m(-3.9, "toInt"), -3) and same(m(4, "toInt"), 4)
    assert err_kind(m, NAN, "toInt") == "ValueError"
    assert err_kind(m, 1e300, "toInt") == "ValueError"
    assert same(m(3, "toNumber"), 3.0)


# ---------------------------------------------------------------- HashMap

def test_hashmap_immutable():
    empty = b("HashMap")
    m1 = m(empty, "set", "a", 1)
    assert m(empty, "size") == 0 and m(m1, "size") == 1
    assert m(m1, "get", "a") == 1 and m(m1, "get", "z") is None
    assert m(m1, "has", "a") is True and m(m1, "has", "b") is False
    m2 = m(m1, "set", "a", 2)
    assert m(m1, "get", "a") == 1 and m(m2, "get", "a") == 2
    m3 = m(m2, "delete", "a")
    assert m(m2, "has", "a") is True and m(m3, "has", "a") is False
    assert m(m3, "size") == 0
    assert m(m1, "delete", "zzz") is m1 or Op.equals(m(m1, "delete", "zzz"), m1)
    m4 = m(m(m(empty, "set", "x", 1), "set", "y", [2]), "set", "x", 3)
    assert m(m4, "keys") == ["x", "y"] and m(m4, "values") == [3, [2]]
    assert err_kind(m, empty, "set", [1], 2) == "TypeError"
    assert err_kind(m, empty, "get") == "TypeError"
    assert err_kind(b, "HashMap", 1) == "TypeError"


def test_hashmap_bool_and_int_keys_are_distinct():
    mp = m(m(m(V.HashMapValue(), "set", 1, "one"), "set", True, "yes"), "set", 1.0, "uno")
    assert m(mp, "size") == 2
    assert m(mp, "get", 1) == "uno" and m(mp, "get", True) == "yes"
    assert m(mp, "get", False) is None and m(mp, "has", 0) is False
    assert m(mp, "keys") == [1, True]
    assert m(m(V.HashMapValue(), "set", None, 1), "get", None) == 1


def test_hashmap_library_methods():
    mp = m(m(m(V.HashMapValue(), "set", "a", 1), "set", True, None), "set", 2, "two")
    assert m(mp, "len") == 3 and m(mp, "length") == 3 and m(V.HashMapValue(), "len") == 0
    assert m(mp, "isEmpty") is False and m(V.HashMapValue(), "isEmpty") is True
    assert m(mp, "entries") == [["a", 1], [True, None], [2, "two"]]
    assert m(mp, "toArray") == m(mp, "entries")
    assert m(mp, "getOrDefault", True, 5) is None and m(mp, "getOrDefault", 2.0, 5) == "two"
    assert m(mp, "getOrDefault", 1, 5) == 5
    assert err_kind(m, mp, "getOrDefault", [1], 5) == "TypeError"
    assert err(m, mp, "getOrDefault", "a").message == "getOrDefault() expects 2 arguments, got 1"
    other = m(m(V.HashMapValue(), "set", 2.0, "deux"), "set", "z", 0)
    merged = m(mp, "merge", other)
    assert m(merged, "entries") == [["a", 1], [True, None], [2, "deux"], ["z", 0]]
    assert m(mp, "get", 2) == "two"  # the receiver is unchanged
    assert err(m, mp, "merge", {}).message == "merge() expects a HashMap, got object"


def test_hashmap_callback_helpers():
    # What the prelude's __map_map/__map_filter and __map_groupBy end with.
    assert m(Me.hashmap_of(["a", True, 1.0], [1, 2, 3]), "entries") == [["a", 1], [True, 2],
                                                                        [1.0, 3]]
    g = Me.group_entries(["a", "b", "c", "d"], [1, 2, 3, 4], [1, True, 1.0, None])
    assert m(g, "keys") == [1, True, None]
    assert m(m(g, "get", 1), "entries") == [["a", 1], ["c", 3]]
    assert m(m(g, "get", None), "entries") == [["d", 4]]
    e = err(Me.group_entries, ["a"], [1], [[1]])
    assert e.kind == "TypeError" and e.message.startswith("HashMap key must be")


def test_order_by():
    xs = ["a", "b", "c", "d"]
    assert Me.order_by(xs, [2, 1, 2, 0], False) == ["d", "b", "a", "c"]
    for desc in (True, "desc", "DESC", "Desc"):
        assert Me.order_by(xs, [2, 1, 2, 0], desc) == ["a", "c", "b", "d"]  # stable
    for asc in ("asc", "down", 1, None, False):
        assert Me.order_by(xs, [2, 1, 2, 0], asc) == ["d", "b", "a", "c"]
    assert Me.order_by([1, 2], [1.5, 1], False) == [2, 1]
    e = err(Me.order_by, [1, 2], [1, "a"], False)
    assert e.kind == "TypeError" and e.message == "Cannot compare string and int"
    assert Me.order_by([], [], True) == []


def test_array_query_methods_without_callbacks():
    xs = [1, 2, 2.0, 3, 1]
    assert m(xs, "distinct") == [1, 2, 3] and m(xs, "drop", 3) == [3, 1]
    assert m(xs, "drop", -2) == xs and m(xs, "drop", 9) == []
    assert err(m, xs, "drop", "1").message == "drop() expects an int, got string"
    assert m(xs, "union", [4, 1, 4]) == [1, 2, 3, 4]
    assert m(xs, "intersect", [3, 2.0, 7]) == [2, 3]
    assert m(xs, "except", [2]) == [1, 3]
    assert m([[1], {"a": 1}], "except", [{"a": 1}]) == [[1]]
    for name in ("union", "intersect", "except"):
        assert err(m, xs, name, 1).message == f"{name}() expects an array, got int"
        assert err_kind(m, xs, name) == "TypeError"
    assert xs == [1, 2, 2.0, 3, 1]


def test_string_character_methods():
    assert m("0189", "isDigit") is True and m("", "isDigit") is False
    assert m("٣", "isDigit") is False and m("1.5", "isDigit") is False
    assert m("azAZ", "isAlpha") is True and m("é", "isAlpha") is False
    assert m("", "isAlpha") is False and m("a_", "isAlpha") is False
    assert m("a€", "codePointAt", 1) == 8364 and m("a€", "codePointAt", 2.0) == -1
    assert m("a", "codePointAt", -1) == -1 and m("", "codePointAt", 0) == -1
    assert err(m, "a", "codePointAt", "0").message == "codePointAt() expects an int, got string"
    assert err_kind(m, "a", "isDigit", 1) == "TypeError"


# ---------------------------------------------------------------- Result and range

def test_result_methods():
    ok, er = V.Ok(1), V.Err("boom")
    assert m(ok, "isOk") is True and m(ok, "isErr") is False
    assert m(er, "isOk") is False and m(er, "isErr") is True
    assert m(ok, "unwrap") == 1
    e = err(m, er, "unwrap")
    assert e.kind == "UnwrapError" and "boom" in e.message
    assert m(ok, "unwrapOr", 5) == 1 and m(er, "unwrapOr", 5) == 5


def test_range_methods():
    r = V.RangeValue(1, 5, False)
    assert m(r, "length") == 4 and m(V.RangeValue(1, 5, True), "len") == 5
    assert m(V.RangeValue(5, 1, False), "length") == 0
    assert m(r, "contains", 4) is True and m(r, "contains", 5) is False
    assert m(V.RangeValue(1, 5, True), "contains", 5) is True
    assert m(r, "toArray") == [1, 2, 3, 4]
    assert m(V.RangeValue(-(2 ** 63), 2 ** 63 - 1, True), "length") == 2 ** 64
    assert Acc.get_property(r, "start") == 1 and Acc.get_property(r, "end") == 5


# ---------------------------------------------------------------- builtins

def test_builtin_len_range():
    assert b("len", "héllo") == 5 and b("len", [1, 2]) == 2 and b("len", {"a": 1}) == 1
    assert b("len", V.HashMapValue()) == 0 and b("len", V.RangeValue(0, 3, True)) == 4
    assert err_kind(b, "len", 5) == "TypeError"
    assert err_kind(b, "len") == "TypeError"
    assert same(b("range", 5), V.RangeValue(0, 5, False))
    assert same(b("range", 2, 5), V.RangeValue(2, 5, False))
    assert same(b("range", 2, 5, 1), V.RangeValue(2, 5, False))
    assert b("range", 0, 10, 3) == [0, 3, 6, 9]
    assert b("range", 5, 0, -2) == [5, 3, 1]
    assert err_kind(b, "range", 0, 5, 0) == "ValueError"
    assert err_kind(b, "range", "a") == "TypeError"
    assert err_kind(b, "range", 0, 2 ** 62, 2) == "ValueError"
    assert err_kind(b, "range") == "TypeError"


def test_builtin_math():
    assert same(b("abs", -3), 3) and same(b("abs", -3.5), 3.5)
    assert err_kind(b, "abs", "x") == "TypeError"
    assert same(b("min", 3, 1, 2), 1) and same(b("max", 3, 1.5, 2), 3)
    assert same(b("min", [4, 2.5]), 2.5) and b("max", []) is None
    assert same(b("max", 7), 7)
    assert err_kind(b, "min") == "TypeError"
    assert err_kind(b, "min", 1, "a") == "TypeError"
    assert same(b("sqrt", 16), 4.0) and same(b("sqrt", -1), NAN)
    assert same(b("pow", 2, 10), 1024) and same(b("pow", 2.0, 0.5), math.sqrt(2))
    assert same(b("floor", 2.7), 2) and same(b("ceil", 2.1), 3) and same(b("round", 2.5), 3)
    assert same(b("round", -0.5), -1) and same(b("floor", 3), 3)
    assert same(b("exp", 0), 1.0) and same(b("exp", 1000), INF)
    assert same(b("ln", 1), 0.0) and same(b("ln", 0), -INF) and same(b("ln", -1), NAN)
    assert same(b("log", 1000), 3.0) and same(b("log", 8, 2), 3.0)
    assert same(b("log", 0), -INF) and same(b("log", -1), NAN)
    assert same(b("sin", 0), 0.0) and same(b("cos", 0), 1.0) and same(b("tan", 0), 0.0)
    assert same(b("sin", INF), NAN)
    assert err_kind(b, "sqrt", True) == "TypeError"


def test_builtin_conversions():
    assert b("to_string", 2.0) == "2.0" and b("to_string", [1, "a"]) == "[1, a]"
    assert same(b("to_number", "42"), 42) and same(b("to_number", "1.5"), 1.5)
    assert same(b("to_number", 7), 7) and same(b("to_number", 7.5), 7.5)
    assert err_kind(b, "to_number", "abc") == "ValueError"
    assert err_kind(b, "to_number", [1]) == "TypeError"
    assert b("is_number", 1) is True and b("is_number", 1.5) is True
    assert b("is_number", True) is False and b("is_number", "1") is False


def test_builtin_wrappers():
    x = [1]
    assert b("Some", x) is x
    assert same(b("Ok", 1), V.Ok(1)) and same(b("Err", "e"), V.Err("e"))
    # Ok, Err and Some take exactly one argument (spec/smaller-items.md §6).
    for name in ("Ok", "Err", "Some"):
        with pytest.raises(ShapeError, match=r"expects 1 argument, got 0"):
            b(name)
    assert type(b("HashMap")) is V.HashMapValue
    assert set(B.BUILTINS) >= {"len", "range", "abs", "min", "max", "sqrt", "pow", "floor", "ceil",
                               "round", "exp", "ln", "log", "sin", "cos", "tan", "to_string",
                               "to_number", "is_number", "Some", "Ok", "Err", "HashMap", "format"}
    assert not {"print", "exit", "snapshot"} & set(B.BUILTINS)
    for name, f in B.BUILTINS.items():
        assert isinstance(f, V.BuiltinFunction) and isinstance(f, V.FunctionValue)
        assert f.name == name


def test_builtin_format():
    assert b("format", "{} + {} = {}", 1, 2.0, "three") == "1 + 2.0 = three"
    assert b("format", "none") == "none"
    assert b("format", "{} and {}", 1) == "1 and {}"
    assert b("format", "{}", [1, None]) == "[1, None]"
    assert err_kind(b, "format") == "TypeError"
    assert err_kind(b, "format", 1) == "TypeError"


def test_format_spec():
    assert D.format_spec(3.14159, ".2f") == "3.14"
    assert D.format_spec(3, ".2f") == "3.00"
    assert D.format_spec(2.5, "fixed(0)") == "2"
    assert D.format_spec(1.005, "fixed(2)") == "1.00"  # the double is below 1.005
    assert D.format_spec(-1.5, ".1f") == "-1.5"
    assert D.format_spec(NAN, ".2f") == "NaN"
    assert err_kind(D.format_spec, "x", ".2f") == "TypeError"
    assert err_kind(D.format_spec, True, ".2f") == "TypeError"
    assert err_kind(D.format_spec, 1.0, "bogus") == "ValueError"


# ---------------------------------------------------------------- robustness

def test_snapshot_helpers():
    h = Snap.snapshot_hash("00" * 32)
    assert h.enum == "Snapshot" and h.variant == "Hash" and h.payload == ("00" * 32,)
    assert Snap.SNAPSHOT_RESUMED.variant == "Resumed" and Snap.SNAPSHOT_RESUMED.payload is None
    assert V.type_name(h) == "Snapshot"


def test_unit_singleton_survives_pickle():
    import pickle
    assert pickle.loads(pickle.dumps(V.UNIT)) is V.UNIT
    mp = m(V.HashMapValue(), "set", True, 1)
    mp2 = pickle.loads(pickle.dumps(mp))
    assert m(mp2, "get", True) == 1


SAMPLE_VALUES = [0, 1, -1, 2 ** 63 - 1, -(2 ** 63), 0.0, -0.0, 1.5, NAN, INF, -INF, 1e308, 5e-324,
                 True, False, None, V.UNIT, "", "abc", "é✓", [], [1, "a"], {}, {"a": 1},
                 V.StructValue("P", {"x": 1}), V.EnumValue("C", "Red"),
                 V.EnumValue("S", "R", {"w": 1.0}), V.Ok(1), V.Err("e"),
                 V.RangeValue(0, 3, False), V.HashMapValue(), Fn("f"), Fn(None)]


def test_no_python_exception_escapes():
    """Every binary op, index, property and method on every pair of sample values either
    returns or raises ShapeError."""
    ops = list(Op.BINARY_OPS)
    for a in SAMPLE_VALUES:
        D.display(a)
        D.display_concat(a)
        V.type_name(a)
        Op.truthy(a)
        for op in ("-", "!"):
            try:
                Op.unary_op(op, a)
            except ShapeError:
                pass
        for x in SAMPLE_VALUES:
            for op in ops:
                try:
                    Op.binary_op(op, a, x)
                except ShapeError:
                    pass
            try:
                Acc.index_get(a, x)
            except ShapeError:
                pass
            try:
                D.format_spec(a, ".2f")
            except ShapeError:
                pass
        for name in ("length", "x", "start"):
            try:
                Acc.get_property(a, name)
            except ShapeError:
                pass
        try:
            list(It.iterate(a))
        except ShapeError:
            pass


def test_no_python_exception_escapes_methods_and_builtins():
    names = set()
    for table in (Me._ARRAY_METHODS, Me._STRING_METHODS, Me._NUMBER_METHODS, Me._HASHMAP_METHODS,
                  Me._RESULT_METHODS, Me._RANGE_METHODS):
        names |= set(table)
    arg_lists = [[], [0], [-1], [1.5], ["a"], [""], [None], [[1]], [NAN], [INF], [2 ** 63 - 1],
                 [True], [1, 2], ["a", "b"], [-5, 100], [V.UNIT, V.UNIT], [1, 2, 3]]
    for recv in SAMPLE_VALUES:
        for name in sorted(names) + ["toString"]:
            for args in arg_lists:
                r = recv
                if type(recv) in (list, dict):
                    r = type(recv)(recv)  # push/pop mutate
                try:
                    Me.call_method(r, name, list(args))
                except ShapeError:
                    pass
    for f in B.BUILTINS.values():
        for args in arg_lists + [[x] for x in SAMPLE_VALUES]:
            try:
                f.fn(list(args))
            except ShapeError:
                pass
