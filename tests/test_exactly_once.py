"""Exactly-once outputs with real kills (issue 16 item 3, spec/io.md): a program that appends,
overwrites appended files, and creates files after its snapshots is killed with SIGKILL at
random moments, again and again, each time resumed from the latest snapshot of the store (the
resumed runs' own snapshots included, so a resume of a resume is killed too, sometimes in its
rewind); when it finally finishes, every file it wrote is byte for byte what an uninterrupted
run leaves."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import open_store

PROGRAM = """\
use std::core::file
use std::core::env
let n = env.args()[1].toInt()
file.write_text("log.txt", "")?
file.write_text("scratch.txt", "")?
let mut total = 0
for i in 0..n {
  total += i
  file.append("log.txt", f"{i} {total}\\n")?
  if i % 7 == 0 { file.write_text("state.txt", f"at {i}: {total}\\n")? }
  if i % 11 == 0 { file.append("scratch.txt", f"+{i}")? }
  if i % 13 == 0 { file.write_text("scratch.txt", f"reset {i}")? }
  if i % 17 == 0 { file.append(f"part-{i % 3}.txt", f"{i}\\n")? }
  if i % 5 == 0 { snapshot() }
}
file.write_text("done.txt", f"{total}")?
print(total)
"""
N = 400
FILES = ("log.txt", "scratch.txt", "state.txt", "part-0.txt", "part-1.txt", "part-2.txt",
         "done.txt")


def _shape(work: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shapelang", "--store", str(work / "s.db"),
                             *args], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _files(work: Path) -> dict:
    return {n: (work / n).read_bytes() if (work / n).exists() else None for n in FILES}


def _latest(work: Path) -> str | None:
    if not (work / "s.db").exists():
        return None
    try:
        st = open_store(str(work / "s.db"), create=False)
        try:
            snaps = st.list()
        finally:
            st.close()
    except ShapeError:
        return None            # killed while it was creating the store: nothing stored yet
    return max(snaps, key=lambda s: s.created).id if snaps else None


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    work = tmp_path_factory.mktemp("once-ref")
    (work / "p.shape").write_text(PROGRAM)
    t0 = time.monotonic()
    out, err = _shape(work, "p.shape", str(N)).communicate()
    assert err == "" and out == f"{sum(range(N))}\n"
    files = _files(work)
    assert all(v is not None for v in files.values())
    return files, out, time.monotonic() - t0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_again_and_again_then_resumed_writes_each_output_once(tmp_path, reference, seed):
    files, out, took = reference
    rnd = random.Random(seed)
    (tmp_path / "p.shape").write_text(PROGRAM)
    history = []
    p = _shape(tmp_path, "p.shape", str(N))
    for _ in range(5):
        time.sleep(rnd.uniform(0.1 * took, took))
        if p.poll() is not None:
            break
        p.send_signal(signal.SIGKILL)
        p.communicate()
        sid = _latest(tmp_path)
        history.append(sid and sid[:12])
        if sid is None:     # killed before the first snapshot: start again, in a clean directory
            for name in FILES:
                (tmp_path / name).unlink(missing_ok=True)
            p = _shape(tmp_path, "p.shape", str(N))
        else:
            p = _shape(tmp_path, "--resume", sid)
    stdout, err = p.communicate()
    assert p.returncode == 0, f"{history}: {err}"
    assert _files(tmp_path) == files, history
    assert stdout == out, history               # the last run, resumed or not, prints the total
