"""The fuzzer's file family (issue 16 item 5): programs that read fixtures and write outputs run in
a fresh directory, and every check compares the files they leave (exactly-once across resumes)."""
from __future__ import annotations

import os

import pytest

from shapelang.fuzz import engines as E
from shapelang.fuzz import harness as H
from shapelang.fuzz.generator import GeneratedProgram, generate, to_source
from shapelang.fuzz.generator.files import FILES_CHANCE, FIXTURES, uses_files
from shapelang.ref.parser import parse

pytestmark = pytest.mark.skipif(not E.has_machine(), reason="needs the VM machine")

# A reader open across snapshots (inside its loop), appends, an overwrite of an appended output,
# an output read back: the uninterrupted run leaves these files.
FILE_PROGRAM = """use std::core::file
use std::core::csv
file.append("out.txt", "start\\n")
let rd = file.lines("in.txt")?
print("next", rd.next())
for l in rd {
  file.append("out.txt", l + "\\n")
  snapshot()
}
print("back", file.read_text("out.txt"))
file.write_text("w.txt", "one")
let rows = csv.read_file("t.csv")?
for row in rows {
  file.append("log.txt", row.join("|") + "\\n")
}
snapshot()
file.write_text("out.txt", "replaced")
file.append("out.txt", "+tail")
print("done")
"""
FILES_LEFT = {
    "out.txt": b"replaced+tail",
    "w.txt": b"one",
    "log.txt": 'name|n\nann|1\nb, c|22\nq"uote|3\n'.encode(),
}


def file_case(source: str = FILE_PROGRAM, cut: int = 500, cli: int = 99) -> H.Case:
    prog = GeneratedProgram(parse(source, "fuzz.shape"), snapshot_sites=source.count("snapshot()"))
    return H.Case(prog, H.CheckParams(cut=cut, cli=cli, events=[0, 3, 5], chain=[150, 400, 600, 850],
                                      edits=[0] * 6))


def test_a_share_of_generated_programs_is_of_the_file_family():
    family = [p for p in (generate(seed) for seed in range(400)) if uses_files(p.ast)]
    assert 0.4 * FILES_CHANCE <= len(family) / 4 <= 2.5 * FILES_CHANCE
    sources = "\n".join(to_source(p.ast) for p in family)
    for call in ("file.append(", "file.write_text(", "file.read_text(", "file.lines(",
                 "file.read_lines(", "csv.read_file("):
        assert call in sources, call
    # error-path programs stay without files
    assert not any(uses_files(generate(seed, errors=True).ast) for seed in range(100))


def test_runs_of_the_family_leave_their_files_and_every_check_passes():
    case = file_case(cli=0)            # cli=0: check b also cuts through the CLI and store
    assert case.files
    expected = dict(FIXTURES, **FILES_LEFT)
    assert dict(case.ref.files) == expected
    full, _ = case.full
    assert dict(full.files) == expected
    for v in H.run_case(case, H.CHECK_NAMES):
        assert v.status in ("pass", "skip"), (v.check, v.detail)
    # the snapshot() events resumed (check c) have the reader open and outputs to rewind
    assert case.session.snapshots()[1] == 5


def test_programs_without_files_have_no_files_in_their_outcomes():
    case = file_case("print(1)\nsnapshot()\nprint(2)\n")
    assert not case.files
    assert case.ref.files is None and case.full[0].files is None
    assert all(v.status in ("pass", "skip") for v in H.run_case(case, "abcd"))


APPENDS = """use std::core::file
let rd = file.lines("in.txt")?
for l in rd {
  file.append("out.txt", l + "\\n")
  snapshot()
}
print("done")
"""


@pytest.mark.parametrize("check", ["b", "c"])
def test_a_resume_that_does_not_rewind_the_outputs_fails_on_the_files(check, monkeypatch):
    """Exactly-once is what the checks see: with the rewind of appended outputs disabled, a
    continuation appends again what the run had appended after the cut, and the files differ
    (stdout alone would not show it)."""
    case = file_case(APPENDS)
    assert H.CHECKS[check](case).status == "pass"
    monkeypatch.setattr(os, "truncate", lambda path, size: None)
    v = H.CHECKS[check](file_case(APPENDS))
    assert v.failed and v.reason == "files", (v.reason, v.detail)
    assert "out.txt" in v.detail


def test_the_room_of_a_resumed_state_is_put_back_when_another_run_used_it():
    case = file_case()
    session = case.session
    _, steps = case.full
    _, state = session.cut(steps // 2)
    assert state is not None
    cut_files = dict(E.ROOMS["vm"].files())
    session.full()                               # another run from the start, to its end
    assert dict(E.ROOMS["vm"].files()) != cut_files
    after, _ = session.resume(state)
    assert dict(after.files) == dict(FIXTURES, **FILES_LEFT)


def test_saved_regression_cases_of_the_family_have_fixtures_and_files(tmp_path):
    from shapelang.conformance import caseformat as C, runner as R
    case = file_case()
    v = H.Verdict("c", "fail", "files", "detail")
    v.resume = (2, None)
    path = H.save_regression(case, v, "note", str(tmp_path))
    text = open(path, encoding="utf-8").read()
    assert '// fixture in.txt: "alpha\\nbeta\\n\\ngamma delta\\nlast\\n"' in text
    assert '// file out.txt: "replaced+tail"' in text and "// resume-file 2 log.txt:" in text
    loaded = C.load_case(path)
    assert loaded.fixtures == {n: d.decode() for n, d in FIXTURES.items()}
    for engine in (R.Engine("ref", "ref", ()), R.Engine("vm", "vm", ())):
        result = R.check_case(loaded, engine, "main")
        assert result.status == "pass", (engine, result.details)
