"""scripts/upstream-fidelity: extracting tests from Rust source and checking expectations as
upstream's ShapeTest does. The Rust snippets here are written for this test (no upstream test
program is copied); the measurement itself needs the upstream mirror and is not run here."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "upstream-fidelity")


@pytest.fixture(scope="module")
def uf():
    loader = importlib.machinery.SourceFileLoader("upstream_fidelity", SCRIPT)
    spec = importlib.util.spec_from_loader("upstream_fidelity", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["upstream_fidelity"] = module       # dataclasses look their module up
    loader.exec_module(module)
    yield module
    del sys.modules["upstream_fidelity"]


RUST = r'''
use shape_test::shape_test::ShapeTest;

/// raw string, trailing comma, two expectations
#[test]
fn adds() {
    ShapeTest::new(
        r#"
        let a = 2
        print(a + 1)
        a * 21
    "#,
    )
    .expect_output("3")
    .expect_number(42.0);
}

#[test]
fn escaped_and_bound() {
    let code = "let s = \"x\\ty\"\n\
                s";
    ShapeTest::new(code).with_stdlib().expect_string("x\ty");
}

#[test]
fn constant_expected_value() {
    ShapeTest::new("1 << 4").expect_number((1i64 << 4) as f64);
}

#[test]
#[should_panic]
fn wrong_on_purpose() {
    ShapeTest::new("1 + 1").expect_number(3.0);
}

#[test]
#[ignore = "not today"]
fn ignored() {
    ShapeTest::new("1").expect_number(1.0);
}

#[test]
fn lsp_only() {
    ShapeTest::new("let x = 1").at(pos(0, 4)).expect_hover_contains("int");
}

#[test]
fn built_with_format() {
    let n = 3;
    ShapeTest::new(&format!("{}", n)).expect_number(3.0);
}

#[test]
fn fails_to_run() {
    ShapeTest::new("1 / 0").expect_run_err_contains("Division by zero");
}
'''


def _by_name(uf):
    return {t.name: t for t in uf.extract("tools/shape-test/tests/demo/x.rs", "demo", RUST)}


def test_extraction(uf):
    t = _by_name(uf)
    adds = t["adds"]
    assert adds.chains[0].program.split() == ["let", "a", "=", "2", "print(a", "+", "1)", "a",
                                              "*", "21"]
    assert [(e.method, e.arg) for e in adds.chains[0].expectations] == [
        ("expect_output", "3"), ("expect_number", 42.0)]
    assert adds.ident == "demo/x.rs::adds"
    bound = t["escaped_and_bound"].chains[0]
    assert bound.program == 'let s = "x\\ty"\ns'          # `\` + newline drops the indentation
    assert bound.expectations[0].arg == "x\ty"
    assert t["constant_expected_value"].chains[0].expectations[0].arg == 16.0
    assert t["wrong_on_purpose"].should_panic and t["ignored"].ignored
    assert not t["lsp_only"].runtime and t["lsp_only"].problem is None
    assert "not a literal" in t["built_with_format"].problem


def test_judging_on_both_engines(uf, tmp_path):
    t = _by_name(uf)
    for engine in ("ref", "vm"):
        for name in ("adds", "escaped_and_bound", "constant_expected_value", "wrong_on_purpose",
                     "fails_to_run"):
            assert uf.judge(t[name], engine, 10, str(tmp_path)) is None, (engine, name)


def test_failures_say_why(uf, tmp_path):
    E, C = uf.Expectation, uf.Chain
    test = uf.UpstreamTest("demo", "x.rs", "t", [C("print(1)\n2", [E("expect_output", "1"),
                                                                 E("expect_number", 3.0)])])
    assert uf.judge(test, "vm", 10, str(tmp_path)) == \
        "expect_number: expected number 3, got int '2'"
    test.chains = [C("1 +", [E("expect_run_ok")])]
    assert uf.judge(test, "ref", 10, str(tmp_path)).startswith(
        "expect_run_ok: error: SyntaxError:")
    test.chains = [C("1", [E("expect_run_err")])]
    assert "expected an error, ran ok" in uf.judge(test, "vm", 10, str(tmp_path))
    test.chains = [C("let x = ", [E("expect_parse_err")]), C("None", [E("expect_none")])]
    assert uf.judge(test, "vm", 10, str(tmp_path)) is None
    test.should_panic = True
    assert uf.judge(test, "vm", 10, str(tmp_path)) == "should_panic test: every expectation held"


def test_table_counts_areas_and_total(uf):
    m = {"engines": ["ref", "vm"],
         "results": [{"test": "a", "directory": "operators", "ref": None, "vm": "x"},
                     {"test": "b", "directory": "operators", "ref": None, "vm": None},
                     {"test": "c", "directory": "traits", "ref": "y", "vm": "y"}],
         "skipped": [{"test": "d", "directory": "hashmap", "why": "lsp-only"}]}
    lines = uf.table(m).splitlines()
    assert lines[2].split() == ["operators", "2", "2", "1", "100.0", "50.0", "0", "0", "0"]
    assert lines[3].split()[:2] == ["hash", "maps"]
    assert lines[4].split()[:2] == ["traits", "1"]               # outside the areas
    assert lines[-1].split()[-8:] == ["2", "2", "1", "100.0", "50.0", "1", "0", "0"]
