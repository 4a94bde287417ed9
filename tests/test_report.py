"""shapelang.report: the one table format and the one progress display of the tools."""
from __future__ import annotations

import io

from shapelang import report


def test_table_aligns_columns_and_rules_the_header_and_total():
    text = report.table(["area", "ref", "vm"], [["arrays", "80/0/0", "80/0/0"], ["x", "1/0/0", "10/0/0"]],
                        right=(1, 2), total=["total", "81/0/0", "90/0/0"])
    assert text.splitlines() == [
        "area       ref      vm",
        "----------------------",
        "arrays  80/0/0  80/0/0",
        "x        1/0/0  10/0/0",
        "----------------------",
        "total   81/0/0  90/0/0",
    ]


def test_table_without_total():
    assert report.table(["a", "b"], [["1", "22"]]).splitlines() == ["a  b", "-----", "1  22"]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_off_a_terminal_prints_a_line_every_period(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(report.time, "monotonic", clock)
    out = io.StringIO()
    with report.Progress(10, "runs", stream=out, every=30) as p:
        for i in range(10):
            clock.t += 10
            p.advance(failed=0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "runs: 3/10 (30%), failed 0 after 30 s"
    assert lines[-1] == "runs: 10/10 (100%), failed 0 after 100 s"     # and a last line
    assert len(lines) == 4


def test_progress_disabled_or_quick_prints_nothing(monkeypatch):
    out = io.StringIO()
    with report.Progress(5, "runs", stream=out, enabled=False) as p:
        p.advance(5)
    with report.Progress(5, "runs", stream=out) as p:    # done before the first period
        p.advance(5)
    assert out.getvalue() == ""
