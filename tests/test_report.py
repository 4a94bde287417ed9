"""shapelang.report: the one table format and the one progress display of the tools."""
from __future__ import annotations

import io
import json

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


def test_bench_snapshot_prints_its_rows_with_the_table_helper(capsys):
    from shapelang.bench import snapshot as bench_snapshot
    assert bench_snapshot.main(["--max", "1 KB", "--repeat", "1", "--json"]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["label"] == "1 KB" and r["encoded_bytes"] > 0 and r["snapshot_ms"] > 0
    assert bench_snapshot.main(["--max", "1 KB", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["state", "rows", "raw", "encoded", "ratio", "snapshot",
                                "best/median", "resume", "best/median", "2nd", "snap", "adds"]
    assert set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].split()[:2] == ["1", "KB"] and lines[2].endswith("B")
    assert len(lines[2]) == len(lines[0])          # right-aligned under its header


def test_bench_handoff_prints_its_rows_with_the_table_helper():
    from shapelang.jobs import bench as bench_handoff
    result = {"latency_ms": {"snapshot": {"p50": 1.5, "p95": 2.25},
                             "submit_to_claim": {"p50": 10.0, "p95": 120.5}},
              "throughput": [{"jobs": 100, "workers": 1, "seconds": 12.5, "jobs_per_second": 8.0},
                             {"jobs": 1000, "workers": 4, "seconds": 90.0,
                              "jobs_per_second": 11.1}],
              "recovery": {"heartbeat_s": 1.0, "stalled_after_s": 3.0,
                           "kill_to_restart_s": [3.5], "median_s": 3.5}}
    assert bench_handoff.render(result, 200).splitlines() == [
        "hand-off latency over 200 runs (ms):",
        "step               p50     p95",
        "------------------------------",
        "snapshot          1.50    2.25",
        "submit_to_claim  10.00  120.50",
        "throughput (continuations of a 1,000-step loop; workers of concurrency 1):",
        "jobs  workers  seconds  jobs/s",
        "------------------------------",
        " 100        1    12.50     8.0",
        "1000        4    90.00    11.1",
        "recovery after SIGKILL (heartbeat 1 s, stalled after 3 s): median 3.5 s, runs [3.5]",
    ]
