"""Shape call stacks in runtime errors, and how errors are shown (issue 14, diagnostics).

Both engines attach `ShapeError.stack` when a runtime error escapes: the reference evaluator as
the error unwinds its calls, the VM from its frames (and the calls it inlined, Blob.inlined)
once, when the error leaves the machine. They must agree (spec/implementation-contracts.md,
"Error kinds and phases"); the CLI prints the stack below the error line, folded.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Callable, Optional

import msgpack
import pytest

from shapelang import api
from shapelang.conformance.caseformat import discover, load_case
from shapelang.conformance.fixtures import run_dir
from shapelang.diagnostics import render, use_color
from shapelang.vm.blob import Blob, BlobError
from shapelang.vm.compiler import compile_source
from shapelang.vm.threader import generic_mode

ENV = {**os.environ, "NO_COLOR": "1"}


def stack_of(source: str, engine: str, path: str = "t.shape",
             cwd: Optional[Callable[[], str]] = None) -> list[tuple]:
    error = api.run(source, path=path, engine=engine, cwd=cwd() if cwd else None).error
    assert error is not None, source
    return [(f.name, f.line, f.col) for f in error.stack]


def every_engine(source: str, cwd: Optional[Callable[[], str]] = None) -> list[tuple]:
    """The stack, after checking that the reference, the VM and the generic VM agree (each run
    in the directory `cwd()` gives, when given)."""
    ref = stack_of(source, "ref", cwd=cwd)
    assert stack_of(source, "vm", cwd=cwd) == ref, source
    with generic_mode(True):
        assert stack_of(source, "vm", cwd=cwd) == ref, source
    return ref


RUNTIME_ERROR_CASES = [c for c in map(load_case, discover())
                       if c.error is not None and c.error.phase == "runtime"
                       and c.error.kind != "StackOverflow"
                       and not ({"ref-only", "vm-only"} & c.flags)]


def test_the_corpus_has_runtime_errors_to_compare():
    assert len(RUNTIME_ERROR_CASES) > 100


@pytest.mark.parametrize("case", RUNTIME_ERROR_CASES, ids=lambda c: c.id)
def test_every_engine_gives_the_same_stack_for_each_corpus_error(case, tmp_path):
    # Each run in a fresh directory with the case's fixtures, as the conformance runner runs
    # it (a case may read and write files).
    def fresh() -> str:
        return run_dir(case, str(tmp_path))
    r = api.run(case.source, path=case.path, engine="ref", cwd=fresh())
    stack = every_engine(case.source, cwd=fresh)
    assert stack[0][0] == "<main>"
    # The last entry is where the error happened.
    assert stack[-1][1:] == (r.error.line, r.error.col)


def test_each_running_call_is_an_entry_at_the_call_it_is_making():
    src = ("fn div(a, b) {\n"           # 1
           "  a / b\n"                   # 2
           "}\n"                         # 3
           "fn mean(xs) { div(xs.sum(), len(xs)) }\n"   # 4
           "fn all(groups) { groups.map(|g| mean(g)) }\n"  # 5
           "print(all([[1], []]))\n")   # 6
    assert every_engine(src) == [("<main>", 6, 7), ("all", 5, 18), ("<lambda>", 5, 33),
                                 ("mean", 4, 15), ("div", 2, 3)]


def test_a_call_the_vm_inlines_is_still_an_entry():
    src = "fn div(a, b) { a / b }\nfn f(n) { div(n, 0) }\nf(1)\n"
    blobs = compile_source(src).blobs.values()
    assert any(r[2] == "div" for b in blobs for r in b.inlined)
    assert every_engine(src) == [("<main>", 3, 1), ("f", 2, 11), ("div", 1, 16)]


def test_prelude_code_is_not_shown_and_code_that_is_no_call_lends_its_position():
    # sort's comparator is called by prelude code; a struct default runs inside the literal.
    src = ("fn bad() { [1, 2].sort(|a, b| a.x) }\n"
           "type T { v: int = bad() }\n"
           "fn make() { T {} }\n"
           "make()\n")
    assert every_engine(src) == [("<main>", 4, 1), ("make", 2, 19), ("bad", 1, 12),
                                 ("<lambda>", 1, 31)]


def test_hooks_and_methods_are_named():
    src = ("annotation guard() { before(args, ctx) { args[0].nope } }\n"
           "type P { x: int }\n"
           "extend P { method go() { inner(self.x) } }\n"
           "@guard\nfn inner(n) { n }\n"
           "P { x: 1 }.go()\n")
    assert every_engine(src) == [("<main>", 6, 1), ("go", 3, 26), ("before", 1, 42)]


def test_an_error_at_top_level_has_only_the_main_entry():
    assert every_engine("let x = 1\nx / 0\n") == [("<main>", 2, 1)]


def test_a_resumed_run_reports_the_frames_it_restored(tmp_path):
    store = str(tmp_path / "s.db")
    src = ("fn step(n) {\n"
           "  let s = snapshot()\n"
           "  match s { Snapshot::Hash(_) => n, Snapshot::Resumed => n / 0 }\n"
           "}\n"
           "fn outer() { step(1) + 1 }\n"
           "print(outer())\n")
    first = api.run(src, path="job.shape", store=store)
    assert first.stdout == "2\n"
    resumed = api.resume(first.snapshots[0], store=store)
    expected = [("<main>", 6, 7), ("outer", 5, 14), ("step", 3, 58)]
    assert [(f.name, f.line, f.col) for f in resumed.error.stack] == expected
    # What the reference says resuming it does (ref/oracle.py) has the same stack.
    oracle = api.run(src, path="job.shape", engine="ref", resume_at=0)
    assert [(f.name, f.line, f.col) for f in oracle.error.stack] == expected


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_a_stack_overflow_keeps_both_ends_of_its_stack(engine):
    r = api.run("fn f(n) { f(n + 1) + 1 }\nf(0)\n", engine=engine)
    e = r.error
    assert e.kind == "StackOverflow" and e.stack_omitted > 9_000
    assert len(e.stack) == 2 * api.STACK_ENDS
    assert (e.stack[0].name, e.stack[0].line) == ("<main>", 2)
    assert {f.name for f in e.stack[1:]} == {"f"}
    assert r.to_json()["error"]["stack_omitted"] == e.stack_omitted
    text = render(e)
    assert f"[{e.stack_omitted + 2 * api.STACK_ENDS - 20} more calls not shown]" in text
    assert text.count(" in f") == 6      # 10 at each end, folded to 3 + "repeated" each


def script(tmp_path, source: str) -> str:
    p = tmp_path / "prog.shape"
    p.write_text(source)
    return str(p)


def shape(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shapelang", *args], capture_output=True,
                          text=True, env=ENV, timeout=120, **kw)


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_the_cli_prints_the_stack_below_the_error_line_with_recursion_folded(tmp_path, engine):
    path = script(tmp_path, "fn down(n) {\n  if n == 0 { [1][5].x } else { down(n - 1) }\n}\n"
                            "down(6)\n")
    r = shape("run", path, "--engine", engine)
    lines = r.stderr.splitlines()
    assert r.returncode == 1
    assert lines[0] == f"Error: {path}:2:15: TypeError: Cannot read property 'x' of None"
    at = lines.index("Call stack (most recent call last):")
    assert lines[at + 1:] == [
        f"  {path}:4:1 in <main>",
        f"  {path}:2:33 in down",
        f"  {path}:2:33 in down",
        f"  {path}:2:33 in down",
        "  [previous line repeated 3 more times]",
        f"  {path}:2:15 in down",
    ]


def test_json_errors_carry_the_stack(tmp_path):
    path = script(tmp_path, "fn f() { 1 / 0 }\nf()\n")
    for engine in ("ref", "vm"):
        data = json.loads(shape("run", "--json", path, "--engine", engine).stdout)
        assert data["error"]["stack"] == [{"name": "<main>", "line": 2, "col": 1},
                                          {"name": "f", "line": 1, "col": 10}]
        assert data["error"]["stack_omitted"] == 0


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    error = api.run("fn f() { 1 / 0 }\nf()\n", path="c.shape").error

    class Tty:
        def isatty(self) -> bool:
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty()) and not use_color(sys.stdout if not sys.stdout.isatty() else None)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())
    coloured = render(error, "fn f() { 1 / 0 }\nf()\n", color=True)
    plain = render(error, "fn f() { 1 / 0 }\nf()\n")
    assert "\x1b[" in coloured and "\x1b[" not in plain
    assert plain.splitlines()[0] == "Error: c.shape:1:10: ArithmeticError: Division by zero"


# ---------------------------------------------------------------- the blob's record of inlining

def test_blobs_without_inlined_calls_keep_their_encoding():
    b = next(b for b in compile_source("fn f(x) { x }\nprint(f)\n").blobs.values() if b.name == "f")
    assert b.inlined == [] and len(b.encoding()) == 20
    assert Blob.from_bytes(b.to_bytes(), b.id).id == b.id


def test_inlined_ranges_are_validated():
    b = next(b for b in compile_source("fn d(a) { a / 2 }\nfn f(n) { d(n) }\n").blobs.values()
             if b.name == "f")
    assert b.inlined and len(b.encoding()) == 21
    assert Blob.from_bytes(b.to_bytes(), b.id).inlined == b.inlined
    start, end = b.inlined[0][:2]
    for bad in ([[start, len(b.code) + 1, "d", 1, 1]],           # past the code
                [[end, start, "d", 1, 1]],                         # empty or reversed
                [[0, 2, "x", 1, 1], [1, 3, "y", 1, 1]],            # overlapping, not nested
                [[1, 2, "x", 1, 1], [0, 3, "y", 1, 1]],            # not sorted by start
                [[start, end, 3, 1, 1]]):                          # a name that is no string
        forged = Blob(**{**{f.name: getattr(b, f.name) for f in dataclasses.fields(b)
                            if f.init and f.name != "_id"},
                         "inlined": bad})
        with pytest.raises(BlobError):
            Blob.from_bytes(forged.to_bytes())
    # An empty list is encoded by leaving the field out, so spelling it out is not canonical.
    doc = b.encoding()[:20] + [[]]
    with pytest.raises(BlobError, match="canonical"):
        Blob.from_bytes(msgpack.packb(doc, use_bin_type=True))
