"""The interactive prompt (`shape repl`, or `shape` alone on a terminal): bindings carry over,
values are shown as `print` shows them, a failed or interrupted entry is undone, `exit()` works,
and a snapshot taken at the prompt reopens it with every binding restored."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shapelang import api, repl
from shapelang.runtime.errors import ShapeError, ShapeExit

SHAPE = [sys.executable, "-m", "shapelang"]


@pytest.fixture
def session(tmp_path):
    out: list[str] = []
    s = repl.Session(str(tmp_path / "store.db"), out.append)
    s.out = out
    return s


def said(s) -> str:
    text = "".join(s.out)
    s.out.clear()
    return text


def test_bindings_functions_and_types_carry_over(session):
    session.run("let mut n = 20")
    session.run("fn twice(x) { x * 2 }")
    session.run("type P { x: int }")
    session.run("n += 1")
    assert said(session) == ""
    session.run("print(twice(n), P { x: 1 }.x)")
    assert said(session) == "42 1\n"


def test_an_expression_entry_shows_its_value_as_print_does(session):
    session.run('"hi"')
    session.run("[1, 2.5]")
    session.run("None")
    session.run("print(3)")          # print's own None is not shown
    session.run("let mut a = 5")
    session.run("a = 6")             # nor is an assignment's value
    assert said(session) == "hi\n[1, 2.5]\n3\n"


def test_a_failing_entry_is_undone(session):
    session.run("let xs = [1, 2]")
    with pytest.raises(ShapeError) as e:
        session.run("xs.push(3)\nprint(1 / 0)")
    assert e.value.kind == "ArithmeticError"
    assert (e.value.file, e.value.line, e.value.col) == ("<entry 2>", 2, 7)
    session.run("xs")
    assert said(session) == "[1, 2]\n"      # the push of the failed entry is gone too


def test_errors_in_the_echoed_expression_point_into_the_entry(session):
    with pytest.raises(ShapeError) as e:
        session.run("1 + nope")
    assert (e.value.kind, e.value.file, e.value.line, e.value.col) == ("NameError", "<entry 1>", 1, 5)


@pytest.mark.parametrize("entry, shown", [("(2 + 3) * 2", "10"), ("( (a))", "1"),
                                          ("(|x| x * 3)(a)", "3"), ("(\n  a + 1\n) * 2", "4")])
def test_an_expression_that_starts_with_a_parenthesis_is_shown(session, entry, shown):
    # The parser places a parenthesized expression inside its parentheses; the echo must
    # still take the whole statement.
    session.run("let a = 1")
    session.run(entry)
    assert said(session) == shown + "\n"


def test_an_entry_that_does_not_parse_is_reported_in_its_own_lines(session):
    session.run("let a = 1\nlet b = 2")
    with pytest.raises(ShapeError) as e:
        session.run("fn f(")           # unfinished: at the end of a piped session
    assert (e.value.kind, e.value.file, e.value.line, e.value.col) == \
        ("SyntaxError", "<entry 2>", 1, 6)
    assert "opened at 1:5" in e.value.message      # the entry's lines, not the session's
    session.run("a + b")
    assert said(session) == "3\n"


def test_exit_leaves_with_its_code(session):
    with pytest.raises(ShapeExit) as e:
        session.run("exit(3)")
    assert e.value.code == 3


def test_an_interrupted_entry_is_undone(session):
    session.run("let mut i = 0")
    control = api.Control()
    control.stop()
    with pytest.raises(KeyboardInterrupt):
        session.run("while true { i += 1 }", control)
    session.run("i")
    assert said(session) == "0\n"


def test_a_snapshot_at_the_prompt_reopens_it(session, tmp_path):
    session.run("let mut total = 10\nfn add(x) { total += x }")
    session.run("let s = snapshot()\nadd(5)\nprint(s)")
    first = said(session)
    assert first.startswith("Hash(")
    sid = first[5:69]
    out: list[str] = []
    again = repl.Session.resume(sid, str(tmp_path / "store.db"), out.append)
    assert "".join(out) == "Resumed\n"           # the rest of the entry ran
    out.clear()
    again.run("add(1)\ntotal")
    assert "".join(out) == "16\n"
    with api.Store(str(tmp_path / "store.db")) as store:
        assert store.info(sid).script == repl.SCRIPT


def test_a_snapshot_after_a_finished_loop_reopens_the_prompt(session, tmp_path):
    # Each entry is a recompile-and-resume: the finished loop's registers were left None and
    # the snapshot was refused as malformed ("must hold a loop's sequence").
    session.run("let mut n = 0\nfor i in 0..3 { n += i }")
    session.run("let ys = [x for x in [1, 2]]")
    session.run("let s = snapshot()\nprint(s)")
    sid = said(session)[5:69]
    out: list[str] = []
    again = repl.Session.resume(sid, str(tmp_path / "store.db"), out.append)
    again.run("print(n, ys)")
    assert "".join(out) == "Resumed\n3 [1, 2]\n"


def test_a_repl_snapshot_that_cannot_be_loaded_is_named_as_resume_names_it(session, tmp_path):
    import sqlite3
    session.run("let s = snapshot()\nprint(s)")
    sid = said(session)[5:69]
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("DELETE FROM blobs")
    with pytest.raises(ShapeError) as e:
        repl.Session.resume(sid, str(tmp_path / "store.db"), print)
    assert (e.value.kind, e.value.file) == ("StoreError", "--resume")   # it said <input>


def test_incomplete_entries_continue_on_the_next_line():
    assert repl.incomplete("fn f(x) {")
    assert repl.incomplete("let a = [1,")
    assert not repl.incomplete("let a = [1]")
    assert not repl.incomplete("let a = ]")


def run_repl(lines: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SHAPE_STORE=str(tmp_path / "store.db"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    return subprocess.run(SHAPE + ["repl", *args], input=lines, capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_repl_command_reads_entries_from_a_pipe(tmp_path):
    r = run_repl("let a = 2\nfn f(x) {\n  x * a\n}\nf(21)\nprint(1 / 0)\nf(1)\n", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(">>> ", "").replace("... ", "") == "42\n2\n"
    assert r.stderr.startswith("Error: <entry 4>:1:7: ArithmeticError: Division by zero")


def test_an_unfinished_last_entry_is_an_error_in_that_entry(tmp_path):
    r = run_repl("let a = 2\na\nprint(a,\n", tmp_path)
    assert r.returncode == 0
    assert r.stderr.startswith("Error: <entry 3>:1:9: SyntaxError: Unexpected end of input")


def test_a_call_stack_names_the_entry_of_each_frame(tmp_path):
    # every frame was shown in the error's entry, at the session program's line numbers
    r = run_repl("fn f(x) {\n  1 / x\n}\nlet a = 1\nfn g(y) { f(y) }\ng(0)\n", tmp_path)
    assert r.stderr.splitlines()[4:] == ["Call stack (most recent call last):",
                                         "  <entry 4>:1:1 in <main>",
                                         "  <entry 3>:1:11 in g",
                                         "  <entry 1>:2:3 in f"]


def test_exit_in_the_repl_command_sets_the_exit_code(tmp_path):
    assert run_repl("print(1)\nexit(4)\nprint(2)\n", tmp_path).returncode == 4


def test_shape_resume_of_a_repl_snapshot_reopens_the_prompt(tmp_path):
    r = run_repl('let who = "world"\nlet s = snapshot()\n', tmp_path)
    with api.Store(str(tmp_path / "store.db")) as store:
        (info,) = store.list()
    env = dict(os.environ, SHAPE_STORE=str(tmp_path / "store.db"))
    r = subprocess.run(SHAPE + ["--resume", info.id], input='print(f"hi {who} {s}")\n',
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "hi world Resumed\n" in r.stdout
    # options of a run have no meaning at the prompt: a usage error, not silently dropped
    r = subprocess.run(SHAPE + ["--resume", info.id, "--json"], input="print(1)\n",
                       capture_output=True, text=True, env=env, timeout=120)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: shape: --json: snapshot {info.id} was taken at the prompt")
