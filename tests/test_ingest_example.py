"""The README's ingestion example (examples/ingest), CI-sized: killed with SIGKILL, interrupted
with Ctrl+C, resumed with its input pinned from another directory where the input is gone; its
output file and final result are byte-identical to an uninterrupted run every time. The
million-row version with 20 random kills is examples/ingest/soak.py."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ingest"
sys.path.insert(0, str(EXAMPLE))
import soak  # noqa: E402  (examples/ingest/soak.py: rows, runs and the store's last snapshot)

ROWS, EVERY = 6000, 500


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    work = tmp_path_factory.mktemp("ingest-ref")
    soak.make_rows(work / "rows.csv", ROWS)
    code, out, err = soak.finish(soak.shape(str(soak.PROGRAM), "rows.csv", "progress.txt",
                                            str(EVERY), cwd=work, store=work / "s.db"))
    assert code == 0, err
    assert out == f"{ROWS} rows, total {_total(work / 'rows.csv')}\n"
    progress = (work / "progress.txt").read_bytes()
    assert progress.count(b"\n") == ROWS // EVERY + 1
    return work, progress, out


def _total(rows: Path) -> str:
    lines = rows.read_text().splitlines()[1:]
    return f"{sum(float(ln.split(',')[2]) for ln in lines):.2f}"


def _workdir(tmp_path: Path, reference) -> Path:
    shutil.copy(reference[0] / "rows.csv", tmp_path / "rows.csv")
    return tmp_path


def _start(work: Path, store: Path, *options: str) -> subprocess.Popen:
    return soak.shape(*options, str(soak.PROGRAM), "rows.csv", "progress.txt", str(EVERY),
                      cwd=work, store=store)


def _wait_for_lines(work: Path, p: subprocess.Popen, n: int) -> None:
    """Until the run has appended n progress lines (so it is well inside its loop)."""
    deadline = time.monotonic() + 120
    out = work / "progress.txt"
    while time.monotonic() < deadline and p.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.005)
    pytest.fail("the run ended or stalled before it was interrupted")


def _resume_last(work: Path, store: Path, *options: str, cwd: Path | None = None) -> tuple:
    sid = soak.last_snapshot(store)
    assert sid is not None
    return soak.finish(soak.shape(*options, "--resume", sid, cwd=cwd or work, store=store))


def test_sigkill_at_random_moments_then_resume(tmp_path, reference):
    _, progress, out = reference
    rnd = random.Random(16)
    for trial in range(3):
        sub = tmp_path / f"t{trial}"
        sub.mkdir()
        work = _workdir(sub, reference)
        store = work / "s.db"
        p = _start(work, store)
        _wait_for_lines(work, p, rnd.randint(1, ROWS // EVERY - 2))
        time.sleep(rnd.uniform(0, 0.05))
        p.send_signal(signal.SIGKILL)
        p.wait()
        code, stdout, err = _resume_last(work, store)
        assert code == 0, err
        assert stdout == out
        assert (work / "progress.txt").read_bytes() == progress


def test_kill_before_the_first_snapshot_then_start_again(tmp_path, reference):
    _, progress, out = reference
    work = _workdir(tmp_path, reference)
    p = _start(work, work / "s.db")
    _wait_for_lines(work, p, 0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # Whatever the killed run wrote, a fresh run starts a fresh output.
    (work / "progress.txt").write_text("half a line from the killed run")
    code, stdout, err = soak.finish(_start(work, work / "s2.db"))
    assert code == 0, err
    assert stdout == out and (work / "progress.txt").read_bytes() == progress


def test_ctrl_c_then_resume(tmp_path, reference):
    _, progress, out = reference
    work = _workdir(tmp_path, reference)
    store = work / "s.db"
    p = _start(work, store)
    _wait_for_lines(work, p, ROWS // EVERY // 2)
    p.send_signal(signal.SIGINT)
    code, _, err = soak.finish(p)
    assert code == 130, err
    sid = err.split("Snapshot saved: ")[1].split()[0]
    assert soak.last_snapshot(store) == sid
    code, stdout, err = soak.finish(soak.shape("--resume", sid, cwd=work, store=store))
    assert code == 0, err
    assert stdout == out and (work / "progress.txt").read_bytes() == progress


def test_pinned_input_resumes_elsewhere_without_the_input(tmp_path, reference):
    _, progress, out = reference
    work = _workdir(tmp_path, reference)
    store = work / "s.db"
    p = _start(work, store, "--pin-inputs")
    _wait_for_lines(work, p, 3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    os.remove(work / "rows.csv")                 # the input is gone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, stdout, err = _resume_last(work, store, cwd=elsewhere)
    assert code == 0, err
    assert stdout == out and (work / "progress.txt").read_bytes() == progress
    assert not (elsewhere / "progress.txt").exists()


def test_changed_input_stops_the_resume(tmp_path, reference):
    work = _workdir(tmp_path, reference)
    store = work / "s.db"
    p = _start(work, store)
    _wait_for_lines(work, p, 2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = (work / "progress.txt").read_bytes()
    with open(work / "rows.csv", "a") as f:
        f.write("999999,north,1.00\n")
    code, _, err = _resume_last(work, store)
    assert code == 1
    assert "ResumeError" in err and "rows.csv changed since the snapshot" in err
    assert (work / "progress.txt").read_bytes() == before      # a refused resume touches nothing
