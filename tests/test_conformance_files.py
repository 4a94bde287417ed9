"""Case files with fixtures and expected files (conformance/caseformat.py keys `fixture`, `file`,
`resume-file`; conformance/fixtures.py), and how the runner judges them on both engines."""
from __future__ import annotations

import os

import pytest

from shapelang.conformance import fixtures
from shapelang.conformance.caseformat import CaseFormatError, parse_case
from shapelang.conformance.runner import Engine, check_case

HEADER = """// fixture in/data.txt:
// | a
// | b
// fixture raw.bin: "no newline"
// file out.txt:
// | x
// file gone.txt: absent
// resume 0:
// | r
// resume-file 0 out.txt: "x\\ny\\n"
// resume-error 1: ResumeError resume
// resume-file 1 gone.txt: absent
print(1)
"""


def test_file_keys_parse():
    case = parse_case(HEADER, "c.shape")
    assert case.fixtures == {"in/data.txt": "a\nb\n", "raw.bin": "no newline"}
    assert case.files == {"out.txt": "x\n", "gone.txt": None}
    assert case.resumes[0].files == (("out.txt", "x\ny\n"),) and case.resumes[0].stdout == "r\n"
    assert case.resumes[1].files == (("gone.txt", None),)
    assert case.uses_files


@pytest.mark.parametrize("header, message", [
    ("// fixture /etc/passwd: \"x\"\n", "relative path"),
    ("// fixture ../up.txt: \"x\"\n", "relative path"),
    ("// fixture a.txt: absent\n", "JSON string"),
    ("// file a.txt: 3\n", "JSON string"),
    ("// file a.txt: \"x\"\n// file a.txt: \"y\"\n", "duplicate file a.txt"),
    ("// resume-file 0 a.txt: \"x\"\n", "no 'resume 0:'"),
    ("// fixture: \"x\"\n", "expected 'fixture NAME:'"),
])
def test_malformed_file_keys(header, message):
    with pytest.raises(CaseFormatError) as e:
        parse_case(header + "print(1)\n", "c.shape")
    assert message in e.value.message


def test_run_dir_and_mismatches(tmp_path):
    case = parse_case(HEADER, "c.shape")
    d = fixtures.run_dir(case, str(tmp_path))
    assert open(os.path.join(d, "in", "data.txt")).read() == "a\nb\n"
    assert fixtures.file_mismatches([("raw.bin", "no newline"), ("none", None)], d) == []
    out = fixtures.file_mismatches([("raw.bin", "other"), ("none", "x"), ("in/data.txt", None)],
                                   d, "resume 0")
    assert out == ["resume 0: file raw.bin: expected 'other', got 'no newline'",
                   "resume 0: file none: missing (expected 'x')",
                   "resume 0: file in/data.txt: should not exist, holds 'a\\nb\\n'"]


CASE = """// fixture in.txt: "v1"
// fixture log.txt: "start\\n"
// stdout:
// | v1
// file log.txt:
// | start
// | a
// | b
// resume 0:
// | v1
// resume-file 0 in.txt: "v2"
// resume-file 0 log.txt:
// | start
// | a
// | b
// resume-error 1: ResumeError resume "changed since the snapshot"
// resume-change 1 in.txt: "edited"
// resume-file 1 in.txt: "edited"
// resume-file 1 log.txt: "start\\na\\nb\\n"
use std::core::file
file.append("log.txt", "a\\n")
snapshot()
let t = file.read_text("in.txt")?
file.append("log.txt", "b\\n")
snapshot()
print(t)
file.write_text("in.txt", "v2")
"""


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_engines_pass_a_case_with_files(tmp_path, engine):
    case = parse_case(CASE, str(tmp_path / "case.shape"))
    r = check_case(case, Engine(engine, engine), tmpdir=str(tmp_path))
    assert r.status == "pass", r.details + r.notes
    assert os.listdir(tmp_path) == [] or all(not n.startswith("case-") for n in os.listdir(tmp_path))


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_engines_fail_a_wrong_file_expectation(tmp_path, engine):
    case = parse_case(CASE.replace("// | b\n// resume-error", "// | B\n// resume-error"),
                      str(tmp_path / "case.shape"))
    r = check_case(case, Engine(engine, engine), tmpdir=str(tmp_path))
    assert r.status == "fail"
    assert r.details == ["resume 0: file log.txt: expected 'start\\na\\nB\\n', got "
                         "'start\\na\\nb\\n'"]


def test_args_and_env_keys_parse():
    case = parse_case('// args: in.csv "two words" --n=3\n// env APP_MODE: "fast"\n'
                      '// env EMPTY: ""\nprint(1)\n', "c.shape")
    assert case.args == ("in.csv", "two words", "--n=3")
    assert case.env == {"APP_MODE": "fast", "EMPTY": ""}
    assert not case.uses_files


@pytest.mark.parametrize("header, message", [
    ('// args: "unclosed\n', "No closing quotation"),
    ("// args: a\n// args: b\n", "duplicate key 'args'"),
    ('// env 1BAD: "x"\n', "expected 'env NAME:"),
    ("// env A: fast\n", "must be a JSON string"),
    ('// env A: "x"\n// env A: "y"\n', "duplicate env A"),
])
def test_malformed_args_and_env_keys(header, message):
    with pytest.raises(CaseFormatError) as e:
        parse_case(header + "print(1)\n", "c.shape")
    assert message in e.value.message


INVOCATION_CASE = """// args: a "b c"
// env SHAPE_TEST_CASE_VAR: "set for the run"
// stdout:
// | [a, b c] set for the run
// resume 0:
// | [a, b c] set for the run None
use std::core::env
let v = env.get("SHAPE_TEST_CASE_VAR")
snapshot()
if env.args().length == 3 { print(env.args().slice(1), v) } else { print(env.args().slice(1), v, env.get("SHAPE_TEST_CASE_OTHER")) }
"""


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_engines_get_the_case_arguments_and_variables(tmp_path, engine, monkeypatch):
    monkeypatch.delenv("SHAPE_TEST_CASE_VAR", raising=False)
    # The first run sees its arguments and variables; the resume (started without them) sees
    # the recorded ones. The `else` branch is what a resume that lost them would print.
    case = parse_case(INVOCATION_CASE.replace("// | [a, b c] set for the run None\n",
                                              "// | [a, b c] set for the run\n"),
                      str(tmp_path / "case.shape"))
    r = check_case(case, Engine(engine, engine), tmpdir=str(tmp_path))
    assert r.status == "pass", r.details + r.notes
    assert "SHAPE_TEST_CASE_VAR" not in os.environ


def test_cmd_engine_gets_the_case_arguments_and_variables(tmp_path):
    import sys
    case = parse_case(INVOCATION_CASE.split("// resume 0:")[0]
                      + INVOCATION_CASE.split("// | [a, b c] set for the run None\n")[1],
                      str(tmp_path / "case.shape"))
    engine = Engine.parse(f'cmd:{sys.executable} -m shapelang run --json')[0]
    r = check_case(case, engine, tmpdir=str(tmp_path), timeout=60)
    assert r.status == "pass", r.details + r.notes


FIRST_READ_AFTER_SNAPSHOT = """// fixture in.txt: "old"
// stdout:
// | Ok(old)
// resume 0:
// | Ok(new)
// resume-change 0 in.txt: "new"
// resume-file 0 out.txt: "new"
use std::core::file
snapshot()
let t = file.read_text("in.txt")
print(t)
file.write_text("out.txt", t?)
"""


@pytest.mark.parametrize("engine", ["ref", "vm"])
def test_resume_of_a_snapshot_without_io_runs_in_the_case_directory(tmp_path, engine,
                                                                    monkeypatch):
    # The snapshot recorded no directory (no I/O before it): the resume continues where it is
    # started, which the runner makes the first run's directory, never its own cwd.
    monkeypatch.chdir(tmp_path)
    case = parse_case(FIRST_READ_AFTER_SNAPSHOT, str(tmp_path / "case.shape"))
    r = check_case(case, Engine(engine, engine), tmpdir=str(tmp_path))
    assert r.status == "pass", r.details + r.notes
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "in.txt").exists()
