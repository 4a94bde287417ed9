"""`shape bench startup` (issue 14): it runs each row as a real process and reports wall and CPU
times side by side; whether the target is met is the benchmark's business (run it under the
suite lock on a quiet machine), not a timed test's."""
from __future__ import annotations

import json
import os
import sys

import pytest

from shapelang import cli
from shapelang.bench import startup


def test_bench_startup_measures_every_row(capsys):
    assert cli.main(["bench", "startup", "--repeat", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["repeat"] == 1 and r["target_s"] == 0.1
    assert list(r["rows"]) == ["python -c pass", "shape FILE (warm code cache)",
                               "shape FILE (code cache off)"]
    for row in r["rows"].values():
        assert 0 < row["wall_min_s"] <= row["wall_median_s"]
        assert 0 < row["cpu_min_s"] <= row["cpu_median_s"]
    text = startup.render(r).splitlines()
    assert text[1].split()[:3] == ["run", "wall", "median"] and set(text[2]) == {"-"}
    assert text[3].startswith("python -c pass") and text[-1].startswith("target: warm median")


def test_a_baseline_tree_is_measured_in_the_same_rounds(capsys):
    # This tree's interpreter stands in for another tree's; its `shape` is the one beside it.
    assert cli.main(["bench", "startup", "--repeat", "1", "--json",
                     "--baseline", sys.executable]) == 0
    r = json.loads(capsys.readouterr().out)
    command = r["baseline"]
    assert command == " ".join(startup._shape()) and command.split()[0].startswith(
        os.path.dirname(sys.executable))
    assert list(r["rows"])[3:] == ["baseline: shape FILE (warm code cache)",
                                   "baseline: shape FILE (code cache off)"]
    text = startup.render(r).splitlines()
    assert f"baseline `{command}`" in text[0] and text[6].startswith("baseline: shape FILE (warm")


def test_a_baseline_that_is_not_an_interpreter_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["bench", "startup", "--baseline", str(tmp_path / "nothing")]) == 2
    assert "--baseline" in capsys.readouterr().err


def test_a_failing_row_is_an_error_not_a_number(monkeypatch):
    monkeypatch.setattr(startup, "PROGRAM", "print(\n")
    with pytest.raises(RuntimeError, match="SyntaxError"):
        startup.measure(1)
