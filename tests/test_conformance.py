"""The conformance runner (conformance/runner.py, caseformat.py) and the corpus itself.

Part 1 tests the case parser and the runner against a fake engine (a tiny Python script that
obeys directive lines instead of running Shape), so the runner is tested independently of the
engines. Part 2 is the CI hook: one test per case file and available engine, run in-process, so
`pytest -n auto` spreads the corpus over all cores.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from shapelang.conformance import caseformat as C
from shapelang.conformance import runner as R

# ---------------------------------------------------------------- the fake engine

FAKE_ENGINE = r'''
"""A fake Shape implementation: ignores Shape and obeys one directive per line."""
import json, os, sys, time


def run(source, path):
    out, error, code = [], None, 0
    value = {"type": "None", "display": "None", "json": None}
    wrapped = "__conformance_wrap" in source or "__conformance_i" in source
    for line in source.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "say":
            out.append(rest + "\n")
        elif word == "say-unwrapped":
            if not wrapped:
                out.append(rest + "\n")
        elif word == "snapshot-id":
            out.append("Hash(" + os.urandom(32).hex() + ")\n")
        elif word == "value":
            t, _, d = rest.partition(" ")
            value = {"type": t, "display": d, "json": None}
        elif word == "fail":
            kind, phase, msg = rest.split(" ", 2)
            error = {"kind": kind, "phase": phase, "message": msg, "line": 1, "col": 1}
            value, code = None, 1
            break
        elif word == "exit":
            value, code = None, int(rest)
            break
        elif word == "hang":
            while True:
                time.sleep(0.01)
        elif word == "die":
            os._exit(7)
        elif word == "raise":
            raise RuntimeError("fake engine bug")
    return {"stdout": "".join(out), "value": value, "error": error, "exit_code": code}


def main(argv):
    path = argv[-1]
    with open(path, encoding="utf-8") as f:
        r = run(f.read(), path)
    if argv[0] == "--json":
        print(json.dumps(r))
    else:
        sys.stdout.write(r["stdout"])
        if r["error"]:
            e = r["error"]
            sys.stderr.write(f"Error: {path}:1:1: {e['kind']}: {e['message']}\n")
    return r["exit_code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    p = tmp_path / "fake_engine.py"
    p.write_text(FAKE_ENGINE)
    return p


def cmd_engine(fake: Path, json_mode: bool = False) -> R.Engine:
    extra = " --json" if json_mode else ""
    return R.Engine.parse(f'cmd:"{sys.executable} {fake}{extra}"')[0]


def py_engine(fake: Path) -> R.Engine:
    return R.Engine.parse(f"py:{fake}:run")[0]


def make_case(text: str, path: str = "t/case.shape") -> C.Case:
    return C.parse_case(textwrap.dedent(text).lstrip("\n"), path, "t/case", "t")


def write_cases(root: Path, cases: dict[str, str]) -> Path:
    for rel, text in cases.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


# ---------------------------------------------------------------- case format

def test_full_header() -> None:
    c = make_case('''
        // id: arith/int-division-truncates
        // features: arithmetic, int
        // flags: ref-only, no-wrap
        // stdout:
        // | 3
        // |
        // | -3
        // value: int 3
        // error: ArithmeticError runtime "Division by zero"
        // exit: 3
        print(7 / 2)
        ''')
    assert c.id == "arith/int-division-truncates"
    assert c.features == ("arithmetic", "int")
    assert c.flags == {"ref-only", "no-wrap"}
    assert c.stdout == "3\n\n-3\n"
    assert c.value == C.ExpectedValue("int", "3")
    assert c.error == C.ExpectedError("ArithmeticError", "runtime", "Division by zero")
    assert c.exit == 3 and c.expected_exit == 3
    assert c.body == "print(7 / 2)\n"
    assert not c.wrappable


def test_defaults() -> None:
    c = make_case('''
        // features: x
        print(1)
        ''')
    assert c.id == "t/case" and c.area == "t"
    assert c.stdout is None and c.value is None and c.error is None
    assert c.expected_exit == 0 and c.wrappable and not c.checks_stdout
    e = make_case('''
        // error: TypeError runtime
        1 + true
        ''')
    assert e.error == C.ExpectedError("TypeError", "runtime", None)
    assert e.expected_exit == 1


def test_stdout_block_details() -> None:
    # Zero `// |` lines: empty stdout; one space after `|` is syntax, the rest (trailing spaces
    # too) is output; CRLF files read the same as LF files.
    assert make_case("// stdout:\n// value: int 1\n1\n").stdout == ""
    c = C.parse_case("// stdout:\r\n// |  two leading, trailing  \r\n// |x\r\nprint(1)\r\n", "a.shape")
    assert c.stdout == " two leading, trailing  \nx\n"
    v = make_case("// value: string a  b \n")
    assert v.value == C.ExpectedValue("string", "a  b ")
    assert make_case("// value: string\n").value == C.ExpectedValue("string", "")


def test_header_ends_at_first_non_comment_line() -> None:
    c = make_case('''
        // stdout:
        // | a
        /// doc comment: free text
        //

        // stdout: this is a comment in the body, not a second key
        print("a")
        ''')
    assert c.stdout == "a\n"
    assert c.body.startswith("\n// stdout: this is")


def test_error_message_escapes() -> None:
    c = make_case('// error: ValueError runtime "can\'t parse \\"abc\\""\n')
    assert c.error is not None and c.error.message == 'can\'t parse "abc"'


def test_error_position_expectation() -> None:
    c = make_case('// error: TypeError runtime "max() expects" at 2:7\n')
    assert c.error == C.ExpectedError("TypeError", "runtime", "max() expects", 2, 7)
    assert c.error.describe() == 'TypeError runtime "max() expects" at 2:7'
    err = {"kind": "TypeError", "phase": "runtime", "message": "max() expects numbers, got array",
           "line": 2, "col": 7}
    assert R.compare(c, _result(value=None, error=err, exit_code=1), "main", "x")[0] == []
    d, _ = R.compare(c, _result(value=None, error=dict(err, col=17), exit_code=1), "main", "x")
    assert "position differs" in d[0] and "at 2:17" in d[0]
    # an engine that only speaks stdout and stderr (phase None) reports no positions
    plain = dict(err, phase=None, line=None, col=None)
    assert R.compare(c, _result(value=None, error=plain, exit_code=1), "main", "x")[0] == []
    with pytest.raises(C.CaseFormatError):
        make_case('// error: TypeError runtime at 2\n')


def test_resume_expectations() -> None:
    c = make_case('''
        // stdout:
        // | first
        // resume 0:
        // | again
        // |
        // resume-error 2: ResumeError resume "fewer than"
        // recompile 1 _edited.shape:
        // | edited
        // recompile-error 0 _other.shape: ResumeError resume "call stack is non-empty"
        // resume 3:
        ''')
    assert c.stdout == "first\n"
    assert c.resumes == [
        C.ResumeExpectation(0, "again\n\n"),
        C.ResumeExpectation(2, None, C.ExpectedError("ResumeError", "resume", "fewer than")),
        C.ResumeExpectation(1, "edited\n", None, "_edited.shape"),
        C.ResumeExpectation(0, None, C.ExpectedError("ResumeError", "resume",
                                                     "call stack is non-empty"), "_other.shape"),
        C.ResumeExpectation(3, ""),
    ]
    assert c.resumes[2].label == "recompile 1 _edited.shape"


def test_resume_chain_expectations() -> None:
    c = make_case('''
        // resume 0/2/1:
        // | third worker
        // resume-error 1/5: ResumeError resume
        ''')
    assert c.resumes == [
        C.ResumeExpectation(0, "third worker\n", None, None, (2, 1)),
        C.ResumeExpectation(1, None, C.ExpectedError("ResumeError", "resume", None), None, (5,)),
    ]
    assert c.resumes[0].label == "resume 0/2/1"


def test_recompile_chain_expectations() -> None:
    c = make_case('''
        // recompile 0/1 _edited.shape:
        // | on the recompiled run's second snapshot
        // recompile-error 2/0/3 _edited.shape: ResumeError resume "fewer than"
        ''')
    assert c.resumes == [
        C.ResumeExpectation(0, "on the recompiled run's second snapshot\n", None, "_edited.shape",
                            (1,)),
        C.ResumeExpectation(2, None, C.ExpectedError("ResumeError", "resume", "fewer than"),
                            "_edited.shape", (0, 3)),
    ]
    assert c.resumes[0].label == "recompile 0/1 _edited.shape"


@pytest.mark.parametrize("header, message", [
    ("// stdot:\n", "unknown header key"),
    ("// flags: ref-only, wrapless\n", "unknown flag"),
    ("// | orphan\n", "outside"),
    ("// stdout:\n// stdout:\n", "duplicate"),
    ("// exit: three\n", "integer"),
    ("// resume 0/x:\n", "integer"),
    ("// resume 0/-1:\n", "count from 0"),
    ("// error: TypeError\n", "KIND PHASE"),
    ("// stdout: 3\n", "'// | text' lines"),
    ("// resume:\n", "resume K"),
    ("// value:\n", "TYPE DISPLAY"),
    ("// flags: ref-only, vm-only\n", "both"),
    ("// Just a sentence without a blank line after it\n", "not a header line"),
])
def test_malformed_headers(header: str, message: str) -> None:
    with pytest.raises(C.CaseFormatError, match=message):
        C.parse_case(header + "print(1)\n", "bad.shape")


def test_mask_ids() -> None:
    h = "ab" * 32
    assert C.mask_ids(f"Hash({h})\n{h}x") == "Hash(<id>)\n<id>x"
    assert C.mask_ids("a" * 65) == "a" * 65          # not an id: too long
    assert C.mask_ids(("AB" * 32)) == "AB" * 32      # ids are lowercase


def test_discovery_skips_private_names(tmp_path: Path) -> None:
    write_cases(tmp_path, {"a/one.shape": "print(1)\n", "a/_aux.shape": "print(2)\n",
                           "_private/two.shape": "print(3)\n", "a/notes.txt": "x"})
    assert [p.name for p in C.discover(None, tmp_path)] == ["one.shape"]
    assert [p.name for p in C.discover([str(tmp_path / "_private")], tmp_path)] == ["two.shape"]
    assert len(C.discover(None, tmp_path, include_private=True)) == 2
    c = C.load_case(tmp_path / "a" / "one.shape", tmp_path)
    assert (c.id, c.area) == ("a/one", "a")


def test_whole_corpus_is_well_formed() -> None:
    paths = C.discover(include_private=True)
    assert len(paths) >= 600
    ids: dict[str, Path] = {}
    for p in paths:
        case = C.load_case(p)   # raises CaseFormatError on a malformed header
        assert case.id not in ids, f"duplicate id {case.id}: {p} and {ids[case.id]}"
        ids[case.id] = p
        for r in case.resumes:
            if r.source_file is not None:
                assert (p.parent / r.source_file).is_file(), f"{p}: missing {r.source_file}"


# ---------------------------------------------------------------- judging results

def _result(stdout: str = "", value: tuple[str, str] | None = ("None", "None"),
            error: dict | None = None, exit_code: int = 0) -> dict:
    return {"stdout": stdout, "error": error, "exit_code": exit_code,
            "value": None if value is None else {"type": value[0], "display": value[1], "json": None}}


def test_compare_stdout_diff_and_masking() -> None:
    c = make_case("// stdout:\n// | Hash(<id>)\n// | b\n")
    ok, _ = R.compare(c, _result(f"Hash({'0' * 64})\nb\n"), "main", "x")
    assert ok == []
    bad, _ = R.compare(c, _result("Hash(<id>)\nc \n"), "main", "x")
    assert len(bad) == 1 and "-b" in bad[0] and "+c ⏎" in bad[0]
    nd = make_case("// flags: non-deterministic\n// stdout:\n// | b\n")
    assert R.compare(nd, _result("anything\n"), "main", "x")[0] == []


def test_compare_errors_values_exit() -> None:
    c = make_case('// error: TypeError runtime "bad operand"\n')
    err = {"kind": "TypeError", "phase": "runtime", "message": "a bad operand here", "line": 1, "col": 3}
    assert R.compare(c, _result(value=None, error=err, exit_code=1), "main", "x")[0] == []
    wrong = dict(err, kind="ValueError")
    d, _ = R.compare(c, _result(value=None, error=wrong, exit_code=1), "main", "x")
    assert "kind differs" in d[0]
    d, _ = R.compare(c, _result(), "main", "x")
    assert any("got no error" in x for x in d) and any("exit code" in x for x in d)
    # A plain-contract engine cannot tell the phase (None): not held against it.
    assert R.compare(c, _result(value=None, error=dict(err, phase=None), exit_code=1), "main", "x")[0] == []

    v = make_case("// value: number 2.0\n")
    assert R.compare(v, _result(value=("number", "2.0")), "main", "x")[0] == []
    d, _ = R.compare(v, _result(value=("int", "2")), "main", "x")
    assert "value: expected number '2.0', got int '2'" in d[0]
    plain = {"stdout": "", "error": None, "exit_code": 0}   # no "value" key at all
    d, notes = R.compare(v, plain, "main", "x")
    assert d == [] and "value not checked" in notes[0]

    u = make_case("// stdout:\n")
    d, _ = R.compare(u, _result(value=None, error=err, exit_code=1), "main", "x")
    assert any("unexpected error: TypeError runtime at 1:3" in x for x in d)


def test_derived_sources() -> None:
    c = make_case("// stdout:\n// | 1\nprint(1)\n")
    assert R.derive_source(c, "fn") == "fn __conformance_wrap() {\nprint(1)\n\n}\n__conformance_wrap()\n"
    assert R.derive_source(c, "loop") == "for __conformance_i in 0..1 {\nprint(1)\n\n}\n"
    assert R.derive_source(c, "main") == c.source


def test_skip_reasons() -> None:
    ref, vm = R.Engine("ref", "ref"), R.Engine("vm", "vm")
    c = make_case("// flags: ref-only\n")
    assert R.skip_reason(c, ref, "main") is None and R.skip_reason(c, vm, "main") == "ref-only"
    c = make_case("// flags: vm-only\n")
    assert R.skip_reason(c, ref, "main") == "vm-only"
    assert R.skip_reason(make_case("// flags: no-wrap\n"), ref, "fn") == "no-wrap"
    assert R.skip_reason(make_case("// exit: 0\n"), ref, "loop") is not None
    assert R.skip_reason(make_case("// stdout:\n"), ref, "loop") is None


def test_engine_specs() -> None:
    assert [e.name for e in R.Engine.parse("all")] == ["ref", "vm", "vm-generic", "jit"]
    generic = R.Engine.parse("vm-generic")[0]
    assert generic.kind == "vm" and generic.command == R.GENERIC
    jit = R.Engine.parse("jit")[0]
    assert jit.kind == "vm" and jit.command == R.JIT
    e = R.Engine.parse('cmd:"my-shape run --json"')[0]
    assert e.kind == "cmd" and e.command == ("my-shape", "run", "--json")
    assert R.engine_unavailable(R.Engine.parse("cmd:/no/such/shape")[0]) is not None
    with pytest.raises(ValueError):
        R.Engine.parse("turbo")


# ---------------------------------------------------------------- running with the fake engine

PASSING = '''
    // stdout:
    // | hello
    // | Hash(<id>)
    // value: int 3
    say hello
    snapshot-id
    value int 3
    '''


@pytest.mark.parametrize("json_mode", [False, True])
def test_cmd_engine(fake: Path, json_mode: bool) -> None:
    eng = cmd_engine(fake, json_mode)
    r = R.check_case(make_case(PASSING), eng, timeout=30)
    # Only the JSON contract reports values: the value expectation of a plain engine cannot be
    # checked, so the case is skipped with the reason, never passed (issue 14).
    assert r.status == ("pass" if json_mode else "skip"), r.details
    assert bool(r.notes) is (not json_mode)
    if not json_mode:
        assert r.reason.startswith("not fully checked: value not checked")
    err = make_case('''
        // stdout:
        // | partial
        // error: ValueError runtime "bad value"
        say partial
        fail ValueError runtime a bad value here
        ''')
    r = R.check_case(err, eng, timeout=30)
    assert r.status == "pass", r.details
    ex = make_case("// exit: 4\nexit 4\n")
    assert R.check_case(ex, eng, timeout=30).status == "pass"
    wrong = make_case("// stdout:\n// | yes\nsay no\n")
    r = R.check_case(wrong, eng, timeout=30)
    assert r.status == "fail" and "-yes" in r.details[0] and "+no" in r.details[0]


def test_contexts_catch_a_context_dependent_engine(fake: Path) -> None:
    c = make_case("// stdout:\n// | a\n// | b\nsay a\nsay-unwrapped b\n")
    eng = py_engine(fake)
    assert R.check_case(c, eng, "main").status == "pass"
    for ctx in ("fn", "loop"):
        r = R.check_case(c, eng, ctx)
        assert r.status == "fail" and "-b" in r.details[0]


def test_pool_survives_hangs_crashes_and_exceptions(fake: Path) -> None:
    eng = py_engine(fake)
    cases = [make_case(f"// stdout:\n// | {i}\nsay {i}\n", f"t/ok{i}.shape") for i in range(6)]
    cases[1] = make_case("// stdout:\n// | x\nhang\n", "t/hang.shape")
    cases[3] = make_case("// stdout:\n// | x\ndie\n", "t/die.shape")
    cases[4] = make_case("// stdout:\n// | x\nraise\n", "t/raise.shape")
    tasks = [R.Task(c, eng, "main", 2.0) for c in cases]
    results = R.run_tasks(tasks, jobs=2)
    status = [(r.path, r.status, r.reason) for r in results]
    assert status == [
        ("t/ok0.shape", "pass", ""), ("t/hang.shape", "fail", "timeout"),
        ("t/ok2.shape", "pass", ""), ("t/die.shape", "fail", "crash"),
        ("t/raise.shape", "fail", "crash"), ("t/ok5.shape", "pass", ""),
    ]
    assert "exit code 7" in results[3].details[0]
    assert "fake engine bug" in results[4].details[0]


def test_inline_mode(fake: Path) -> None:
    eng = py_engine(fake)
    results = R.run_tasks([R.Task(make_case(PASSING), eng, "main", 5.0)], jobs=0)
    assert [r.status for r in results] == ["pass"]


def test_main_end_to_end(fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_cases(tmp_path / "cases", {
        "alpha/good.shape": PASSING,
        "alpha/bad.shape": "// stdout:\n// | yes\nsay no\n",
        "beta/err.shape": '// error: TypeError runtime "boom"\nfail TypeError runtime boom\n',
        "beta/wrapped.shape": "// stdout:\n// | a\nsay a\n",
        "beta/ref-only.shape": "// flags: ref-only\n// stdout:\n// | a\nsay a\n",
        "beta/malformed.shape": "// stdot:\nsay a\n",
    })
    engine = f'cmd:"{sys.executable} {fake} --json"'
    junit = tmp_path / "report.xml"
    code = R.main([str(root), "--engine", engine, "--contexts", "--jobs", "2",
                   "--junit", str(junit), "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL cmd:" in out and "alpha/bad" in out and "-yes" in out
    assert "MALFORMED" in out and "unknown header key 'stdot'" in out
    # The table comes last; wrapped contexts are separate columns.
    tail = out.strip().splitlines()
    assert tail[-1] == "cells: passed/failed/skipped" and tail[-2].startswith("total")
    assert any(line.startswith("FAILED: ") for line in tail)
    header = next(line for line in tail if line.startswith("area"))
    assert " fn " in header and header.rstrip().endswith("loop")
    assert any(line.startswith("alpha ") for line in tail)
    tree = ET.parse(junit).getroot()
    assert tree.tag == "testsuites"
    suites = {s.get("name"): s for s in tree}
    main_suite = suites[next(n for n in suites if n.startswith("cmd:") and not n.endswith(("fn", "loop")))]
    assert main_suite.get("tests") == "5" and main_suite.get("failures") == "1"
    assert main_suite.get("skipped") == "1"
    assert suites["case-format"].get("errors") == "1"

    code = R.main([str(root), "--engine", engine, "--json", "--filter", "good", "--jobs", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"]
    assert report["summary"] == {"passed": 1, "failed": 0, "skipped": 0, "malformed": 0}
    assert report["table"] == {"alpha": {report["columns"][0]: {"passed": 1, "failed": 0, "skipped": 0}}}
    assert report["results"][0]["id"].endswith("good.shape"[:-6])


def test_unavailable_engine_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_cases(tmp_path / "cases", {"a/one.shape": "// stdout:\n"})
    code = R.main([str(root), "--engine", "cmd:/no/such/engine", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["summary"]["skipped"] == 1
    assert "command not found" in report["results"][0]["reason"]


def test_shape_conformance_command(fake: Path, tmp_path: Path) -> None:
    """`shape conformance` reaches this runner through the CLI."""
    root = write_cases(tmp_path / "cases", {"a/one.shape": "// stdout:\n// | hi\nsay hi\n"})
    proc = subprocess.run([sys.executable, "-m", "shapelang", "conformance", str(root),
                           "--engine", f"py:{fake}:run", "--jobs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: 1 passed, 0 failed, 0 skipped" in proc.stdout.splitlines()
    assert proc.stdout.strip().splitlines()[-1] == "cells: passed/failed/skipped"


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "inf"], "--timeout must be a positive number of seconds, got inf"),
    (["--timeout", "nan"], "--timeout must be a positive number of seconds, got nan"),
    (["--timeout", "0"], "--timeout must be a positive number of seconds, got 0"),
    (["--jobs", "-1"], "--jobs must be 0 or more, got -1"),
    (["--engine", "nosuch"], "unknown engine 'nosuch'"),
    (["--filter", "no case has this"], "no cases selected"),
    (["no/such/dir"], "no such case file or directory"),
    (["--junit", "/no/such/dir/report.xml"], "--junit /no/such/dir/report.xml: is in a directory that does not exist"),
])
def test_usage_errors_are_reported_as_every_command_reports_them(tmp_path: Path, argv, message
                                                                  ) -> None:
    # inf and nan ended in a traceback inside the worker pool; 0 failed every case.
    root = write_cases(tmp_path / "cases", {"a/one.shape": "// stdout:\n"})
    proc = subprocess.run([sys.executable, "-m", "shapelang", "conformance", str(root), *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    first, usage = proc.stderr.splitlines()[:2]
    assert first.startswith(f"Error: shape conformance: {message}"), proc.stderr
    assert first.endswith("(see shape conformance --help)") and usage.startswith("usage: ")


def test_selftest_cases_through_the_pool() -> None:
    """The _selftest cases (masking, blank and trailing-space lines, values, errors, exit codes,
    resume and recompile expectations) on the real engines, through the worker pool."""
    engines = [R.Engine(n, n) for n in ("ref", "vm") if R.engine_unavailable(R.Engine(n, n)) is None]
    cases, errors = R.load_cases([str(C.CASES_DIR / "_selftest")])
    assert not errors and len(cases) >= 10
    assert any(c.resumes for c in cases)
    results = R.run_tasks(R.build_tasks(cases, engines, R.CONTEXTS, 60.0), jobs=2)
    failed = [R.format_failure(r) for r in results if r.status == "fail"]
    assert not failed, "\n".join(failed)
    assert {r.context for r in results if r.status == "pass"} == set(R.CONTEXTS)
    assert not [r for r in results if r.notes], "resume checks must run on ref and vm"


# ---------------------------------------------------------------- the corpus (CI hook)

CORPUS_TIMEOUT = 120  # generous: xdist workers share the machine; the runner's default is 10 s


def _corpus_params() -> list:
    engines = [R.Engine(n, n) for n in ("ref", "vm") if R.engine_unavailable(R.Engine(n, n)) is None]
    params = []
    for p in C.discover():
        case_id = C.case_id_for(p)[0]
        for e in engines:
            params.append(pytest.param(p, e, id=f"{e.name}:{case_id}"))
    return params


@pytest.fixture
def private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # VM runs that take snapshots must not write into the user's store.
    store = tmp_path / "store.db"
    monkeypatch.setenv("SHAPE_STORE", str(store))
    return store


def _alarm(seconds: int):
    """A per-test time limit where SIGALRM exists (a hung case fails instead of hanging CI)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return None

    def on_alarm(signum, frame):
        raise TimeoutError(f"case did not finish within {seconds} s")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    return previous


@pytest.mark.parametrize("path, engine", _corpus_params())
def test_corpus(path: Path, engine: R.Engine, private_store: Path, tmp_path: Path) -> None:
    case = C.load_case(path)
    previous = _alarm(CORPUS_TIMEOUT * (R.SLOW_FACTOR if "slow" in case.flags else 1))
    try:
        result = R.check_case(case, engine, "main", tmpdir=str(tmp_path))
        # The generated contexts (body wrapped in a function, in a one-iteration loop) must
        # not change the outcome; cases flagged `no-wrap` are skipped by the runner.
        derived = [R.check_case(case, engine, ctx, tmpdir=str(tmp_path))
                   for ctx in R.CONTEXTS if ctx != "main"] if result.status == "pass" else []
    finally:
        if previous is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    if result.status == "skip":
        pytest.skip(result.reason)
    assert result.status == "pass", R.format_failure(result)
    for r in derived:
        assert r.status in ("pass", "skip"), R.format_failure(r)


# ---------------------------------------------------------------- selection and external resumes

FEATURED = {
    "a.shape": "// features: async, closures\n// stdout:\n// | a\nprint(\"a\")\n",
    "b.shape": "// features: closures\n// stdout:\n// | b\nprint(\"b\")\n",
    "c.shape": "// features: strings\n// stdout:\n// | c\nprint(\"c\")\n",
}


def test_cases_are_selected_by_features(tmp_path: Path) -> None:
    root = write_cases(tmp_path, FEATURED)

    def ids(**kw) -> list[str]:
        cases, errors = R.load_cases([str(root)], **kw)
        assert errors == []
        return sorted(Path(c.path).name for c in cases)
    assert ids() == ["a.shape", "b.shape", "c.shape"]
    assert ids(features=["closures"]) == ["a.shape", "b.shape"]
    assert ids(features=["strings", "async"]) == ["a.shape", "c.shape"]
    assert ids(exclude_features=["async"]) == ["b.shape", "c.shape"]
    assert ids(features=["closures"], exclude_features=["async"]) == ["b.shape"]


RESUMING = """
    // stdout:
    // | 0
    // | Hash(<id>)
    // | 1
    // resume 0:
    // | Resumed
    // | 1
    // recompile 0 _edit.shape:
    // | Resumed
    // | 10
    let mut n = 0
    print(n)
    let s = snapshot()
    n += 1
    print(s)
    print(n)
    """


def test_external_engines_check_resumes_with_a_template(tmp_path: Path) -> None:
    case_dir = tmp_path / "t"
    case_dir.mkdir()
    (case_dir / "_edit.shape").write_text(
        "let mut n = 0\nprint(n)\nlet s = snapshot()\nn += 10\nprint(s)\nprint(n)\n")
    path = case_dir / "case.shape"
    path.write_text(textwrap.dedent(RESUMING).lstrip("\n"))
    case = C.load_case(path, tmp_path)
    shape = f"{sys.executable} -m shapelang"
    plain = R.Engine.parse(f'cmd:"{shape} run --json"')[0]
    r = R.check_case(case, plain, timeout=60, tmpdir=str(tmp_path))
    assert r.status == "skip" and "--resume-cmd" in r.reason, (r.status, r.reason)
    templated = R.Engine(plain.name, "cmd", plain.command,
                         tuple(f"{shape} --resume {{id}} --json".split()))
    r = R.check_case(case, templated, timeout=60, tmpdir=str(tmp_path))
    assert (r.status, r.details, r.notes) == ("pass", [], [])
    # and a wrong expectation is found on the external engine too
    path.write_text(textwrap.dedent(RESUMING).lstrip("\n").replace("// | Resumed\n// | 1\n",
                                                                     "// | Resumed\n// | 2\n"))
    r = R.check_case(C.load_case(path, tmp_path), templated, timeout=60, tmpdir=str(tmp_path))
    assert r.status == "fail" and "resume 0: stdout differs" in r.details[0]


def test_external_engines_follow_a_chain_after_a_recompile(tmp_path: Path) -> None:
    case = C.load_case(C.CASES_DIR / "regressions" /
                       "recompile-then-resume-after-finished-loops.shape")
    assert [r.then for r in case.resumes if r.source_file] == [(), (0,), (1,)]
    shape = f"{sys.executable} -m shapelang"
    engine = R.Engine(f'cmd:"{shape} run --json"', "cmd", tuple(f"{shape} run --json".split()),
                      tuple(f"{shape} --resume {{id}} --json".split()))
    r = R.check_case(case, engine, timeout=60, tmpdir=str(tmp_path))
    assert (r.status, r.details, r.notes) == ("pass", [], [])
