"""`shape bench --baseline PYTHON`: the benchmark programs on another tree's engines and on this
tree's, in turn. Whether a program got slower is the benchmark's business (run it under the suite
lock), not a timed test's; these tests check what it runs and reports."""
from __future__ import annotations

import json
import os
import sys

from shapelang import cli
from shapelang.bench import engines

HERE = os.path.dirname(os.path.dirname(os.path.abspath(engines.__file__)))


def test_side_by_side_runs_both_trees_on_the_same_program(capsys):
    # This tree's own interpreter as the baseline: both sides run, agree, and are named.
    assert cli.main(["bench", "strings", "--baseline", sys.executable, "--repeat", "1",
                     "--engines", "vm", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["baseline"] == {"python": sys.executable, "tree": HERE}
    row = r["results"]["strings"]["vm"]
    assert row["agree"] and row["base"]["output"] == row["new"]["output"]
    assert row["base"]["seconds"] > 0 and row["new"]["seconds"] > 0
    assert set(r["geomean"]) == {"vm"} and r["geomean"]["vm"] > 0


def test_the_baseline_child_is_this_file_run_by_the_other_interpreter():
    cmd = engines.child_command("vm", "fib", "/other/bin/python")
    assert cmd[:3] == ["/other/bin/python", "-P", "-c"]
    assert cmd[4:] == [os.path.abspath(engines.__file__), "--child", "vm", "fib"]
    assert engines.child_command("vm", "fib")[:3] == [sys.executable, "-m",
                                                     "shapelang.bench.engines"]


def fake_measure(base_output="same", base_fails=False):
    calls = []

    def measure(engine, name, python=None):
        calls.append((engine, name, "base" if python else "new"))
        if python and base_fails:
            raise RuntimeError("vm iterators failed: Unknown method 'iter'")
        seconds = {"base": 2.0, "new": 1.0}["base" if python else "new"] + len(calls) / 100
        return {"seconds": seconds, "output": base_output if python else "same", "peak_mb": 1.0}
    return measure, calls


def test_runs_alternate_and_keep_the_best_of_each_side(monkeypatch):
    measure, calls = fake_measure()
    monkeypatch.setattr(engines, "measure", measure)
    results = engines.run_side_by_side(["fib"], ["vm", "jit"], 3, "/base/python", show=False)
    assert [side for _, _, side in calls] == ["base", "new", "new", "base", "base", "new"] * 2
    vm = results["fib"]["vm"]
    assert vm["base"]["seconds"] == 2.01 and vm["new"]["seconds"] == 1.02 and vm["agree"]
    rows, means = engines.side_rows(results)
    assert rows[0] == ["fib", "vm", "2.010", "1.020", "0.507", ""]
    assert set(means) == {"vm", "jit"}


def test_a_program_the_baseline_cannot_run_has_no_baseline_column(monkeypatch):
    measure, calls = fake_measure(base_fails=True)
    monkeypatch.setattr(engines, "measure", measure)
    results = engines.run_side_by_side(["iterators"], ["vm"], 3, "/base/python", show=False)
    assert [side for _, _, side in calls] == ["base", "new", "new", "new"]   # tried once
    rows, means = engines.side_rows(results)
    assert rows == [["iterators", "vm", "-", "1.020", "-", ""]] and means == {}


def test_different_outputs_are_reported_and_fail_the_run(monkeypatch, capsys):
    measure, _ = fake_measure(base_output="other")
    monkeypatch.setattr(engines, "measure", measure)
    monkeypatch.setattr(engines, "baseline_root", lambda python: "/base")
    monkeypatch.setattr(engines, "warm_bytecode", lambda python, root: None)
    assert cli.main(["bench", "fib", "--baseline", "/base/python", "--repeat", "1",
                     "--engines", "vm"]) == 1
    out = capsys.readouterr().out
    assert "OUTPUTS DIFFER" in out and "geomean this/baseline: vm 0.507" in out


def test_a_baseline_that_cannot_run_is_an_error(tmp_path, capsys):
    assert cli.main(["bench", "fib", "--baseline", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == f"Error: --baseline {tmp_path / 'nope'}: not an executable file\n"
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'shapelang'\" >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    assert cli.main(["bench", "fib", "--baseline", str(fake)]) == 1
    err = capsys.readouterr().err
    assert err == (f"Error: --baseline {fake} cannot import shapelang "
                   f"(ModuleNotFoundError: No module named 'shapelang')\n")


def test_children_run_with_a_bytecode_cache_outside_the_tree(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = engines.child_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"].endswith("shape-bench-pycache")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE")
    assert "PYTHONPYCACHEPREFIX" not in engines.child_env()    # the usual place, as installed
