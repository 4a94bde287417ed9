"""The Python API (`shapelang.api`): the examples of spec/api.md run as doctests, plus what a
doctest cannot show (threads, streaming output, the caller's own write failing)."""
from __future__ import annotations

import doctest
import threading
from pathlib import Path

import pytest

import shapelang
from shapelang import api

SPEC = Path(__file__).resolve().parent.parent / "spec" / "api.md"


def test_spec_api_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHAPE_STORE", str(tmp_path / "default.db"))
    failures, tried = doctest.testfile(str(SPEC), module_relative=False, report=True,
                                       optionflags=doctest.ELLIPSIS)
    assert tried > 30
    assert failures == 0


def test_the_package_exports_the_api_lazily():
    assert shapelang.run is api.run and shapelang.Store is api.Store
    with pytest.raises(AttributeError):
        shapelang.no_such_name  # noqa: B018
    assert {"run", "resume", "Store", "Result", "__version__"} <= set(dir(shapelang))


@pytest.mark.parametrize("engine", api.ENGINES)
def test_write_streams_output_and_stdout_stays_empty(engine):
    seen: list[str] = []
    r = api.run('print(1)\nprint("two")', engine=engine, write=seen.append)
    assert seen == ["1\n", "two\n"] and r.stdout == "" and r.ok


@pytest.mark.parametrize("engine", api.ENGINES)
def test_a_failing_write_is_the_callers_exception(engine):
    def broken(text: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")
    with pytest.raises(BrokenPipeError):
        api.run("print(1)", engine=engine, write=broken)


@pytest.mark.parametrize("engine", api.ENGINES)
def test_timeout_works_from_another_thread(engine, tmp_path):
    results: list[api.Result] = []
    t = threading.Thread(target=lambda: results.append(
        api.run("while true { }", engine=engine, timeout=0.2, store=str(tmp_path / "s.db"))))
    t.start()
    t.join(60)
    assert not t.is_alive()
    (r,) = results
    assert r.exit_code == 130 and r.interrupted
    assert (r.interrupt is not None) == (engine != "ref")   # the VM and the JIT store one


def test_control_stop_before_the_run_stops_it_at_once(tmp_path):
    control = api.Control()
    control.stop(143)
    r = api.run("print(1)", control=control, store=str(tmp_path / "s.db"))
    assert r.exit_code == 143 and r.interrupted and r.stdout == ""


@pytest.mark.parametrize("bad", [dict(engine="js"), dict(snapshot_at=-1), dict(timeout=-2)])
def test_misuse_raises(bad):
    with pytest.raises(ValueError):
        api.run("1", **bad)


def test_a_program_must_be_text_a_path_or_a_parsed_program():
    with pytest.raises(TypeError):
        api.run(b"print(1)")  # type: ignore[arg-type]


@pytest.mark.parametrize("snapshot", [None, b"ab12", 12])
def test_a_snapshot_to_resume_must_be_an_id(snapshot, tmp_path):
    # None ended as an InternalError result (AttributeError: no attribute 'strip')
    with pytest.raises(TypeError, match="snapshot must be a snapshot id"):
        api.resume(snapshot, store=str(tmp_path / "s.db"))  # type: ignore[arg-type]


def test_a_parsed_program_runs_on_both_engines():
    from shapelang.ref.parser import parse
    prog = parse("let xs = [1, 2, 3]\nxs.map(|x| x * 2)", "p.shape")
    for engine in api.ENGINES:
        assert api.run(prog, engine=engine).value["display"] == "[2, 4, 6]"


def test_a_refused_recompile_says_where_the_snapshot_was_taken(tmp_path):
    store = str(tmp_path / "s.db")
    first = api.run("fn f() {\n  let s = snapshot()\n  1\n}\nf()\n", path="job.shape", store=store)
    r = api.resume(first.snapshots[0], "print(1)\n", path="job.shape", store=store)
    assert r.error.kind == "ResumeError" and "non-empty" in r.error.message
    assert r.error.note == f"snapshot {first.snapshots[0][:12]} was taken in job.shape, line 2"
    from shapelang.diagnostics import render
    assert render(r.error).splitlines()[-1] == f"note: {r.error.note}"
