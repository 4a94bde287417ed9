"""Exactly-once outputs across several resumes of one run (issue 16, spec/io.md "Outputs are
exactly-once"): the run takes snapshot S1 (a `snapshot()` call) and goes on to S2 (an interrupt,
where it stops); a resume of S1 runs past S2's point to the end, changing files S2's run never
touched; then S2 is resumed. The resume of S2 must find what the resume of S1 did after S2's
point (its journal hangs under S1, after S1's link to S2: a store query over the journal's links)
and put those files back, so the files end as an uninterrupted run leaves them. On both stores."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from shapelang import api

# What the run does only after S2's point: each to a file it never touched before.
AFTER = {
    "create": 'file.append("new.txt", f"total {t}\\n")?',
    "append": 'file.append("old.txt", f"total {t}\\n")?',
    "overwrite": 'file.write_text("old.txt", f"total {t}\\n")?',
    "create-written": 'file.write_text("new.txt", f"total {t}")?\n'
                      'file.append("new.txt", "!")?',
}

PROGRAM = """\
use std::core::file
let mut t = 0
for i in 1..=3 {{
  t += i
  file.append("log.txt", f"step {{i}}\\n")?
  match snapshot() {{
    Snapshot::Resumed => {{ {resumed} }},
    Snapshot::Hash(_) => {{}},
  }}
}}
for j in 1..=3000 {{ t += j }}
{after}
print(t)
"""
# A resume of a snapshot() call may do what the first run did not (here: create a file): the
# later snapshot's resume must undo that too.
RESUMED = {"same": "", "branch": 'file.append("branch.txt", "resumed\\n")?'}

OLD = b"kept line\n"
CUT = 400        # steps: after the three snapshot() calls, inside the long loop


def _store(kind: str, request, tmp_path: Path) -> str:
    return str(tmp_path / "s.db") if kind == "sqlite" else request.getfixturevalue("pg_url")


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "old.txt").write_bytes(OLD)
    return d


def _uninterrupted(tmp_path: Path, source: str) -> tuple[str, dict]:
    d = _dir(tmp_path, "whole")
    r = api.run(source, path="p.shape", store=str(tmp_path / "whole.db"), cwd=str(d))
    assert r.ok, r.error
    return r.stdout, _files(d)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("resumed", sorted(RESUMED))
@pytest.mark.parametrize("after", sorted(AFTER))
def test_resuming_a_later_snapshot_after_an_earlier_one_ran_past_it(
        tmp_path, request, kind, after, resumed):
    source = PROGRAM.format(after=AFTER[after], resumed=RESUMED[resumed])
    stdout, files = _uninterrupted(tmp_path, source)
    store = _store(kind, request, tmp_path)
    d = _dir(tmp_path, "run")
    first = api.run(source, path="p.shape", store=store, cwd=str(d), snapshot_at=CUT)
    assert first.interrupt and len(first.snapshots) == 3, first
    s1, s2 = first.snapshots[0], first.interrupt
    assert _files(d)["old.txt"] == OLD and "new.txt" not in _files(d)
    # The resume of S1 runs past S2's point to the end (twice: the second is a resume of the
    # same snapshot after a run that already went past S2).
    for _ in range(2):
        r1 = api.resume(s1, store=store, cwd=str(d))
        assert r1.ok and r1.stdout == stdout, r1
    assert (_files(d).get("branch.txt") is not None) == (resumed == "branch")
    r2 = api.resume(s2, store=store, cwd=str(d))
    assert r2.ok and r2.stdout == stdout, r2
    assert _files(d) == files
    # And once more the other way round: the earlier snapshot, then the later one again.
    assert api.resume(s1, store=store, cwd=str(d)).ok
    r2 = api.resume(s2, store=store, cwd=str(d))
    assert r2.ok and _files(d) == files


def test_a_branch_of_a_branch_is_undone_too(tmp_path):
    """S1 -> S2 (interrupt) in the first run; a resume of S1 stops at a later interrupt S3;
    a resume of S3 finishes. Resuming S2 must undo what the runs from S1 and S3 did after S2's
    point: S3's journal is reached from S1's, after S1's link to S2."""
    source = PROGRAM.format(after=AFTER["create"], resumed=RESUMED["branch"])
    stdout, files = _uninterrupted(tmp_path, source)
    store = str(tmp_path / "s.db")
    d = _dir(tmp_path, "run")
    first = api.run(source, path="p.shape", store=store, cwd=str(d), snapshot_at=CUT)
    s1, s2 = first.snapshots[0], first.interrupt
    second = api.resume(s1, store=store, cwd=str(d), snapshot_at=CUT)
    assert second.interrupt and second.interrupt != s2
    assert api.resume(second.interrupt, store=store, cwd=str(d)).ok
    assert "new.txt" in _files(d) and "branch.txt" in _files(d)
    r2 = api.resume(s2, store=store, cwd=str(d))
    assert r2.ok and r2.stdout == stdout and _files(d) == files


def test_the_store_lists_the_journal_links(tmp_path, request):
    """journal_links: (base, seq, next, last seq of base) of every link record, one query."""
    from shapelang.vm.store import open_store
    for kind in ("sqlite", "postgresql"):
        st = open_store(str(tmp_path / "links.db") if kind == "sqlite"
                        else request.getfixturevalue("pg_url"))
        try:
            a, b, c = ("a" * 64, "b" * 64, "c" * 64)
            st.journal_add(a, {"path": "/x", "pre": None})
            st.journal_add(a, {"next": b})
            st.journal_add(a, {"path": "/y", "pre": None})
            st.journal_add(a, {"next": c})
            st.journal_add(b, {"next": c})
            assert sorted(st.journal_links()) == [(a, 1, b, 3), (a, 3, c, 3), (b, 0, c, 0)]
        finally:
            st.close()


def test_an_appended_output_overwritten_by_a_later_branch_comes_back(tmp_path):
    """S2 (the interrupt) records log.txt by length: the run overwrote it, then appended. The
    resume of S1 does the same, runs past S2's point and overwrites it again: what it held then
    (S2's bytes) is journalled at that overwrite too, and the resume of S2 takes it from there."""
    source = """\
use std::core::file
let mut t = 0
for i in 1..=3 {
  t += i
  snapshot()
  file.write_text("log.txt", f"reset {i}\\n")?
  file.append("log.txt", f"step {i}\\n")?
}
for j in 1..=3000 { t += j }
file.write_text("log.txt", f"total {t}\\n")?
file.append("log.txt", "end\\n")?
print(t)
"""
    stdout, files = _uninterrupted(tmp_path, source)
    store = str(tmp_path / "s.db")
    d = _dir(tmp_path, "run")
    first = api.run(source, path="p.shape", store=store, cwd=str(d), snapshot_at=CUT)
    assert first.interrupt and (d / "log.txt").read_bytes() == b"reset 3\nstep 3\n"
    assert api.resume(first.snapshots[0], store=store, cwd=str(d)).ok
    assert (d / "log.txt").read_bytes() == files["log.txt"]
    r2 = api.resume(first.interrupt, store=store, cwd=str(d))
    assert r2.ok and r2.stdout == stdout and _files(d) == files, r2


def test_a_branch_that_appended_other_bytes_is_refused_not_guessed(tmp_path):
    """The exception (spec/io.md, what cannot be rewound): the resume of S1 appends to log.txt
    what the first run did not (it branches on Snapshot::Resumed); S2 kept log.txt's length and
    fingerprint only, so its resume is a ResumeError naming the file, and changes no file."""
    source = PROGRAM.format(after=AFTER["create"],
                            resumed='file.append("log.txt", "resumed\\n")?')
    store = str(tmp_path / "s.db")
    d = _dir(tmp_path, "run")
    first = api.run(source, path="p.shape", store=store, cwd=str(d), snapshot_at=CUT)
    assert api.resume(first.snapshots[0], store=store, cwd=str(d)).ok
    left = _files(d)
    r2 = api.resume(first.interrupt, store=store, cwd=str(d))
    assert r2.error is not None and r2.error.kind == "ResumeError", r2
    assert str(d / "log.txt") in r2.error.message and "changed since the snapshot" in r2.error.message
    assert _files(d) == left
