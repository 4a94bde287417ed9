"""The fuzz harness: generator validity, printer round trip, the checks on a fixed seed, shrinking,
the campaign driver and the CLI. Budget: well under a minute in total."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from shapelang import api
from shapelang.fuzz import engines as E
from shapelang.fuzz import harness as H
from shapelang.fuzz.generator import GeneratedProgram, features, generate, programs, to_source
from shapelang.ref.parser import parse

SEED = 20240601


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(programs())
def test_generated_programs_parse_and_round_trip(prog):
    source = prog.source
    assert parse(source, "gen.shape") == prog.ast


def test_seeded_programs_round_trip_and_are_reproducible():
    for seed in range(60):
        a, b = generate(seed), generate(seed)
        assert a.source == b.source
        assert parse(a.source, "gen.shape") == a.ast
    c1, _ = H.make_case(SEED, 5)
    c2, _ = H.make_case(SEED, 5)
    assert c1.source == c2.source and c1.params == c2.params


def test_share_of_programs_without_harness_errors():
    n = 200
    problems = []
    planted = 0
    for k in range(n):
        case, _ = H.make_case(SEED, k)
        why = case.harness_error()
        if why:
            problems.append((k, why))
        if case.ref.error is not None:
            planted += 1
    share_ok = 1 - len(problems) / n
    assert share_ok >= 0.99, problems[:5]
    # errors are planted on purpose, but only in a minority of programs
    assert 0 < planted < n // 4


def test_choices_replay_to_the_same_case():
    case, choices = H.make_case(SEED, 11)
    again = H.case_from_choices(choices)
    assert again.source == case.source
    assert again.params == case.params


def test_cuts_of_one_run_are_the_cuts_of_fresh_runs():
    """Check b cuts one run at every point (a stopped machine continues); each cut must give the
    output and the state bytes that a fresh run stopped there gives."""
    compared = 0
    for k in range(8):
        case, _ = H.make_case(SEED, k, cuts=12)
        _, steps = case.full
        points = H.cut_points(case, steps)
        assert len(points) == len(set(points)) and points == sorted(points)
        session = case.session
        # another session: this one keeps its cuts (the next test), and must not answer
        fresh = E.MachineSession(case.source, case.path, case.ast, case.files)
        for n, out, state in session.cuts(points):
            one_run = session.last_bytes if state is not None else None
            fresh_out, fresh_state = fresh.cut(n)
            assert out == fresh_out, (k, n)
            assert (state is None) == (fresh_state is None), (k, n)
            if state is not None:
                assert one_run == fresh.last_bytes, (k, n)
                compared += 1
    assert compared >= 40


def test_a_cut_made_before_is_decoded_not_run_again(monkeypatch):
    """Checks f, g, h and j cut where check b did: the session gives the state b's run left
    there (a fresh copy of it), the same output and bytes, without running a machine."""
    case, _ = H.make_case(SEED, 3, cuts=6)
    _, steps = case.full
    session = case.session
    made = list(session.cuts(H.cut_points(case, steps)))
    assert sum(st is not None for _, _, st in made) >= 3

    def no_run(*args, **kwargs):
        raise AssertionError("a cut made before ran again")
    monkeypatch.setattr(session, "_run", no_run)
    for n, out, state in made:
        again, copy = session.cut(n)
        assert again == out
        if state is None:
            assert copy is None
            continue
        assert copy is not state and session.encode(copy) == session.last_bytes
    monkeypatch.undo()
    # a cut at another point, or on the JIT, runs
    n = made[0][0] + 1
    out, _ = session.cut(n)
    assert out == E.MachineSession(case.source, case.path, case.ast).cut(n)[0]


def test_more_cuts_resume_more_continuations(capsys):
    from shapelang.fuzz.cli import main
    counts = []
    for cuts in ("3", "20"):
        assert main(["--seed", str(SEED), "--programs", "4", "--check", "b", "--cuts", cuts,
                     "--no-save", "--quiet"]) == 0
        out = capsys.readouterr().out
        counts.append(int(out.split("check b cut anywhere and resume")[1].split("(")[1]
                          .split()[0].replace(",", "")))
    assert counts[1] > 3 * counts[0], counts


def test_check_a_against_a_second_reference_run():
    for k in range(6):
        case, _ = H.make_case(SEED, k)
        v = H.check_a(case, other="ref")
        assert v.status == "pass", v.detail


AVAILABLE = H.available_checks()


@pytest.mark.parametrize("check", list(H.CHECK_NAMES))
def test_each_available_check_on_a_fixed_seed(check):
    if AVAILABLE[check]:
        v = H.run_case(H.make_case(SEED, 0)[0], check)[0]
        assert v.status == "skip"
        pytest.skip(AVAILABLE[check])
    failures = []
    for k in range(6):
        case, _ = H.make_case(SEED, k)
        for v in H.run_case(case, check):
            if v.failed:
                failures.append((k, v.reason, v.detail[:2000]))
    assert not failures, failures


def _annotation_async_cases(n: int, scan: int = 120) -> list:
    out = []
    for k in range(scan):
        case, _ = H.make_case(SEED, k)
        if features(case.prog.ast) & {"annotated-fn", "await-annotation", "hook-snapshot", "async-fn"}:
            out.append((k, case))
            if len(out) == n:
                break
    return out


@functools.lru_cache(maxsize=None)
def _feature_counts(n: int) -> Counter:
    """Features of the first n programs of SEED (generated once for the tests that share them)."""
    counts: Counter = Counter()
    for k in range(n):
        counts.update(features(H.make_case(SEED, k)[0].prog.ast))
    return counts


def test_generator_emits_annotations_and_async():
    n = 150
    counts = _feature_counts(n)
    # each feature shows up in a useful share of programs (seeded, so these numbers are fixed)
    assert counts["annotation"] >= n // 5, counts
    assert counts["annotated-fn"] >= n // 10, counts
    assert counts["stacked"] >= n // 20, counts
    assert counts["await"] >= n // 5, counts
    assert counts["await-annotation"] >= n // 10, counts
    assert counts["async-fn"] >= n // 10, counts
    assert counts["hook-snapshot"] >= n // 30, counts


def test_generator_emits_issue_12_constructs():
    # P7 of issue 12: the differential, cut-anywhere and recompile checks see these too.
    n = 150
    counts = _feature_counts(n)
    for feature, share in [("bitwise", 5), ("fuzzy", 5), ("context", 10), ("iterator", 4),
                           ("typed-let", 4), ("width", 20), ("typed-fn", 10),
                           ("fn-expression", 20), ("trait", 10)]:
        assert counts[feature] >= n // share, (feature, counts)


def test_generator_emits_the_edge_cases_the_mutants_need():
    # The rare bugs of fuzz/mutants.py need these in a useful share of programs: a `[h, ...rest]`
    # arm, int overflow (the accumulator loop crosses ±2**63), closures kept from a loop and
    # called after it, snapshot() in a top-level `for` (recompile-and-resume inside a loop).
    n = 150
    counts = _feature_counts(n)
    assert counts["match-rest"] >= n // 5, counts
    assert counts["int-overflow"] >= n // 5, counts
    assert counts["closure-kept-from-loop"] >= n // 6, counts
    assert counts["top-level-loop-snapshot"] >= n // 7, counts


def test_generator_calls_one_site_with_several_closures():
    # issue 11's hole in the net: one call site (the prelude's callback loop, a function taking
    # a callback) called with different closures, where a site that remembers what it called
    # (the JIT inlines the closure it was compiled with) must call the one it is given
    n = 150
    counts = _feature_counts(n)
    assert counts["shared-call-site"] >= n // 6, counts


SHARED_SITE = """let xs = [1, 2, 3]
let ap = |g, v| g(v) + 1
for i in 0..3 { print(xs.map(|x| x + i), xs.map(|x| x * i), ap(|x| x - i, i), ap(|x| x * 2, i)) }
"""


@pytest.mark.skipif(AVAILABLE["j"] is not None, reason="no VM machine API")
def test_check_j_runs_the_code_the_jit_runs_in_production(monkeypatch):
    # Check j's uninterrupted run has no step budget, as `shape run` has none: under a budget
    # the JIT runs its step-counting variant, which never inlines a callee, so a bug in
    # inlining (mutant jit-inline-any-callee) could not show.
    from shapelang.vm.jit import codegen
    inlined: list = []
    real = codegen.JitGen.inline_call

    def spy(self, *args):
        done = real(self, *args)
        inlined.append(done)
        return done
    monkeypatch.setattr(codegen.JitGen, "inline_call", spy)
    prog = GeneratedProgram(parse(SHARED_SITE, "fuzz.shape"))
    case = H.Case(prog, H.CheckParams(cut=500, events=[0] * 3, chain=[300] * 4, edits=[0] * 6))
    assert H.check_j(case).status == "pass"
    assert any(inlined)


@pytest.mark.skipif(AVAILABLE["j"] is not None, reason="no VM machine API")
def test_a_run_without_a_step_budget_is_stopped_by_the_clock(monkeypatch):
    monkeypatch.setattr(E, "HANG_SECONDS", 0.3)
    session = E.MachineSession("let mut i = 0\nwhile true { i += 1 }\n")
    out, _ = session.full(jit="force", budget=False)
    assert out.error == ("Hang", "runtime") and out.message == "no end after 0.3 s"


def test_all_checks_on_annotated_and_async_programs():
    cases = _annotation_async_cases(12)
    assert len(cases) == 12
    failures = []
    passed = 0
    for k, case in cases:
        assert case.harness_error() is None, (k, case.harness_error())
        for v in H.run_case(case, H.CHECK_NAMES):
            if v.failed:
                failures.append((k, v.check, v.reason, v.detail[:2000]))
            passed += v.status == "pass"
    assert not failures, failures
    assert passed >= 6 * len(cases) - 8


SNAPSHOT_IN_HOOK = """\
annotation mark(tag) {
  before(args) {
    match snapshot() {
      Snapshot::Hash(_) => print(tag, "taken"),
      Snapshot::Resumed => print(tag, "resumed")
    };
  }
  after(args, result) { result * 10 }
}
@mark("sq") fn sq(n) { n * n }
print(sq(2))
print(await @mark("aw") sq(3))
"""


def test_snapshot_inside_a_hook_resumes_there_and_refuses_recompile():
    prog = GeneratedProgram(parse(SNAPSHOT_IN_HOOK, "fuzz.shape"), snapshot_sites=1)
    # events: sq's before (inside a call), the await's before (before `sq(3)` runs), sq's before
    for event in (0, 1, 2):
        # cli=0: the first one also cuts through the real CLI and store (fresh processes)
        case = H.Case(prog, H.CheckParams(cut=500, cli=0 if event == 0 else 99, events=[event] * 3,
                                          chain=[300] * 4, edits=[1, 0, 0, 0, 0, 0]))
        assert case.ref.stdout == "sq taken\n40\naw taken\nsq taken\n900\n"
        for v in H.run_case(case, H.CHECK_NAMES):
            assert v.status in ("pass", "skip"), (event, v.check, v.detail)
        if E.has_recompile():
            # recompile-and-resume from a hook frame is refused; the oracle says so too
            expected = E.ref_recompile(case.source, event, case.source)
            assert expected.error == ("ResumeError", "resume")
            assert "call stack is non-empty" in expected.message


@pytest.mark.skipif(AVAILABLE["f"] is not None, reason="no state codec")
def test_check_f_loads_the_stored_code_back():
    prog = GeneratedProgram(parse("fn f(n) { n + 1 }\nprint(f(snapshot() == 1))\n", "fuzz.shape"),
                            snapshot_sites=1)
    case = H.Case(prog, H.CheckParams(cut=500, events=[0] * 3, chain=[300] * 4, edits=[0] * 6))
    assert H.check_f(case).status == "pass"
    # code the store would refuse (here: the last instruction of f dropped) fails check f
    import dataclasses
    blobs = case.session.program.blobs
    bid = next(i for i, b in blobs.items() if getattr(b, "name", None) == "f")
    old = blobs.pop(bid)
    blob = dataclasses.replace(old, code=old.code[:-1], _id=None)   # a new blob, its own id
    blobs[blob.id] = blob
    v = H.check_f(case)
    assert v.failed and v.reason == "stored-code", v.detail
    assert "(f)" in v.detail and "transfer" in v.detail, v.detail


def test_outcomes_mask_snapshot_ids_and_compare_fields():
    a = E.Outcome.from_json({"stdout": "Hash(" + "ab" * 32 + ")\n", "value": None,
                             "error": {"kind": "TypeError", "phase": "runtime", "message": "m",
                                       "line": 1, "col": 2}, "exit_code": 1})
    b = E.Outcome.from_json({"stdout": "Hash(" + "cd" * 32 + ")\n", "value": None,
                             "error": {"kind": "TypeError", "phase": "runtime", "message": "other",
                                       "line": 3, "col": 4}, "exit_code": 1})
    assert a.stdout == "Hash(<id>)\n" == b.stdout
    # the message is part of the error; the position is compared when the error is the same
    assert [d.split(" ")[0] for d in E.diff_outcomes(a, b)] == ["error"]
    moved = dataclasses.replace(a, line=1, col=7)
    diffs = E.diff_outcomes(a, moved)
    assert [d.split(" ")[0] for d in diffs] == ["position"]
    assert "at 1:2" in diffs[0] and "at 1:7" in diffs[0]
    assert E.diff_outcomes(a, dataclasses.replace(a)) == []
    c = E.Outcome("x\n", None, ("ValueError", "runtime"), "", 1)
    fields = [d.split(" ")[0] for d in E.diff_outcomes(a, c)]
    assert fields == ["stdout", "error"]


def _prints_snapshot_and_a_loop(case: H.Case) -> bool:
    src = case.source
    return "snapshot()" in src and ("for " in src or "while " in src)


def test_python_exceptions_end_a_run_as_the_api_reports_them():
    """The in-process VM runs turn a Python exception into the error `api.run` gives (the
    reference side goes through the API): out of memory is a RuntimeError, not an engine bug."""
    for exc, kind, message in ((MemoryError(), "RuntimeError", "Out of memory"),
                               (RecursionError(), "CompileError",
                                "Program is nested too deeply to compile"),
                               (KeyError("x"), "InternalError", "KeyError: 'x'")):
        def boom(chunks: list, exc: Exception = exc) -> None:
            raise exc
        out, _ = E._outcome_of(boom)
        assert (out.error, out.message, out.exit_code) == ((kind, out.error[1]), message, 1)


def test_shrinking_with_hypothesis_finds_a_smaller_program():
    for k in range(200):
        case, choices = H.make_case(SEED, k)
        if _prints_snapshot_and_a_loop(case) and len(case.source) > 600:
            break
    else:
        pytest.fail("no suitable program")
    # the Hypothesis engine itself (H.shrink would fall back silently if it were unusable)
    best = H._shrink_hypothesis(choices, _prints_snapshot_and_a_loop, seconds=6)
    small = H.case_from_choices(best)
    assert _prints_snapshot_and_a_loop(small)
    assert len(best) < len(choices)
    assert len(small.source) < len(case.source) // 2


def test_builtin_shrinker_fallback():
    for k in range(200):
        case, choices = H.make_case(SEED, k)
        if _prints_snapshot_and_a_loop(case):
            break
    best = H._shrink_simple(choices, _prints_snapshot_and_a_loop, seconds=4)
    assert _prints_snapshot_and_a_loop(H.case_from_choices(best))
    assert len(best) <= len(choices)


def test_regression_case_text_uses_reference_expectations(tmp_path):
    case = H.case_from_choices([])
    path = H.save_regression(case, H.Verdict("a", "fail", "stdout"), "found by a test: note",
                             str(tmp_path))
    text = open(path, encoding="utf-8").read()
    assert text.startswith("// features: fuzz-regression\n")
    assert "// stdout:\n" in text
    assert text.endswith(case.source)
    for line in case.ref.stdout.splitlines():
        assert ("// | " + line).rstrip() in text


def test_campaign_in_process_and_its_summary():
    cfg = H.CampaignConfig(seconds=30, seed=SEED, checks="a", ref_vs="ref", save_dir=None,
                           max_programs=8)
    events = []
    s = H.campaign(cfg, lambda kind, payload: events.append(kind), processes=False)
    assert s.programs == 8
    assert s.failure_count == 0
    assert s.stats.get("a:pass") == 8
    assert "progress" in events
    assert "programs: 8" in s.render()


def test_cli_campaign_with_worker_processes(capsys):
    from shapelang.fuzz.cli import main
    code = main(["--seconds", "20", "--seed", str(SEED), "--jobs", "2", "--check", "a",
                 "--ref-vs", "ref", "--no-save", "--programs", "6", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "programs: 6" in out
    assert "check a ref vs VM: 6 passed, 0 failed" in out


def test_cli_progress_is_the_shared_helper_and_saves_under_the_current_directory(
        capsys, monkeypatch, tmp_path):
    """issue 14 items 7 and 8: regression cases go under the current directory by default (never
    into the installed package), and the progress line is shapelang.report.Progress's."""
    from shapelang import report
    from shapelang.fuzz import cli
    assert cli.Progress is report.Progress
    args = cli.build_parser().parse_args([])
    assert args.save_dir == H.REGRESSION_DIR == H.CampaignConfig().save_dir == "fuzz-regressions"
    lines = []
    monkeypatch.setattr(report.Progress, "_line", lambda self: lines.append((self.done, self.fields)))
    monkeypatch.setattr(report.Progress, "__init__", _every_step(report.Progress.__init__))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--seconds", "20", "--seed", str(SEED), "--check", "a", "--ref-vs", "ref",
                     "--programs", "3", "--no-save"]) == 0
    assert lines and lines[-1][0] == 3 and lines[-1][1]["failures"] == 0
    assert "programs: 3" in capsys.readouterr().out and os.listdir(tmp_path) == []


def _every_step(init):
    def patched(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "every": 0.0, "live": False})
    return patched


def test_cli_show_and_replay(capsys):
    from shapelang.fuzz.cli import main
    assert main(["--seed", str(SEED), "--show", "3"]) == 0
    shown = capsys.readouterr().out
    assert shown == H.make_case(SEED, 3)[0].source
    assert main(["--seed", str(SEED), "--replay", "3", "--check", "a", "--ref-vs", "ref",
                 "--no-save"]) == 0
    assert "check a (ref vs VM): pass" in capsys.readouterr().out


def test_cli_rejects_unknown_checks():
    from shapelang.fuzz.cli import main
    with pytest.raises(SystemExit):
        main(["--check", "z"])


# ---------------------------------------------------------------- error-path programs

def test_error_mode_programs_are_other_programs_and_reproducible():
    a, choices = H.make_case(SEED, 4, errors=True)
    b, _ = H.make_case(SEED, 4, errors=True)
    assert a.source == b.source and a.prog.errors
    assert a.source != H.make_case(SEED, 4)[0].source
    assert H.case_from_choices(choices, errors=True).source == a.source
    assert parse(a.source, "gen.shape") == a.prog.ast


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(programs(errors=True))
def test_error_mode_programs_round_trip_through_the_printer(prog):
    assert parse(prog.source, "gen.shape") == prog.ast


def test_error_mode_makes_mistakes_in_hot_contexts():
    n = 60
    failing = in_functions = 0
    for k in range(n):
        case, _ = H.make_case(SEED, k, errors=True)
        r = case.ref
        assert r.error is None or r.error[1] == "runtime", (k, r.describe())
        if r.error is not None:
            failing += 1
            line = case.source.splitlines()[r.line - 1] if r.line else ""
            # reported inside a function, method, lambda or loop body (indented code)
            in_functions += line.startswith("  ")
    assert failing >= n * 2 // 5, failing
    assert in_functions >= failing // 2, (in_functions, failing)


def test_error_mode_declares_struct_types_with_methods():
    sources = [H.make_case(SEED, k, errors=True)[0].source for k in range(30)]
    assert sum("extend S0" in src for src in sources) >= 10


def test_outcomes_of_a_position_divergence_fail_check_a_with_its_family():
    ref = E.Outcome("", None, ("TypeError", "runtime"), "max() expects numbers, got array", 1, 2, 7)
    vm = dataclasses.replace(ref, col=17)
    v = H._compare("a", ref, vm, ("ref", "vm"))
    assert v.failed and v.reason == "position"
    assert v.signature == "a:position:TypeError: max() expects numbers, got array"
    other = dataclasses.replace(ref, message="abs() expects a number, got string")
    assert H._compare("a", other, dataclasses.replace(other, col=9), ("ref", "vm")).signature != \
        v.signature


def test_regression_cases_expect_the_error_position(tmp_path):
    # the position in the case file: the header's lines come before the program
    case = H.case_from_choices([])
    case._ref = E.Outcome("", None, ("TypeError", "runtime"), "boom", 1, 3, 5)
    path = H.save_regression(case, H.Verdict("a", "fail", "position"), "note", str(tmp_path))
    text = open(path, encoding="utf-8").read()
    header = text[:len(text) - len(case.source)].count("\n")
    assert f'// error: TypeError runtime "boom" at {3 + header}:5\n' in text


def test_a_saved_error_case_passes_on_the_reference_engine(tmp_path):
    from shapelang.conformance import caseformat as C, runner as R
    case = H.case_from_choices([])
    case = case.with_ast(parse("let xs = [1]\nprint(xs[0])\nprint(xs.len)\n", "p.shape"))
    path = H.save_regression(case, H.Verdict("a", "fail", "position"), "note", str(tmp_path))
    assert "at " in open(path, encoding="utf-8").read()
    result = R.check_case(C.load_case(path), R.Engine("ref", "ref", ()), "main")
    assert result.status == "pass", result.details


# ---------------------------------------------------------------- test-case reduction

def test_reducer_keeps_only_what_the_failure_needs():
    from shapelang.fuzz.reduce import reduce_program
    for k in range(100):
        case, _ = H.make_case(SEED, k)
        if len(case.source) > 800 and "print(" in case.source:
            break

    def prints_a_division(tree):
        src = to_source(tree)
        return "print(" in src and " / " in src
    if not prints_a_division(case.prog.ast):
        pytest.skip("no program with a division")
    tree, tries = reduce_program(case.prog.ast, prints_a_division, seconds=20)
    small = to_source(tree)
    assert prints_a_division(tree) and tries > 0
    assert len(small) < 80, small
    assert case.source == to_source(case.prog.ast)        # the original is left alone


def test_bounded_gives_up_on_a_predicate_that_runs_forever():
    from shapelang.fuzz.processes import bounded

    def forever() -> bool:
        while True:
            pass
    assert bounded(lambda: True, 5) is True
    assert bounded(lambda: False, 5) is False
    assert bounded(forever, 0.5) is None


# ---------------------------------------------------------------- fresh processes

def test_zygote_runs_each_command_in_a_fresh_process(tmp_path):
    from shapelang.fuzz.processes import Zygote
    src = tmp_path / "p.shape"
    src.write_text("print(1 + 1)\nlet mut i = 0\nwhile true { i = i + 1 }\n")
    z = Zygote()
    try:
        done = z.run(["run", "--snapshot-at", "50", str(src)],
                     env={"SHAPE_STORE": str(tmp_path / "s.db")})
        assert done.code == 130 and done.stdout == "2\n" and "Snapshot saved:" in done.stderr
        sid = done.stderr.split("Snapshot saved: ")[1].split()[0]
        again = z.run(["--resume", sid, "--snapshot-at", "10"],
                      env={"SHAPE_STORE": str(tmp_path / "s.db")})
        assert again.code == 130 and again.stdout == ""
        hang = z.run(["run", str(src)], timeout=1)
        assert hang.timed_out
        assert z.cpu > 0
    finally:
        z.close()


# ---------------------------------------------------------------- forged snapshots

def test_judging_what_a_forged_snapshot_did():
    from shapelang.fuzz.processes import Completed
    ok = [Completed(0, "x\n", "Resuming from snapshot: abc\n"),
          Completed(3, "", ""),                               # the program's own exit(3)
          Completed(130, "", "Snapshot saved: abc\nResume with: …\n"),
          Completed(1, "", "Resuming from snapshot: a\nError: --resume: ResumeError: bad\n")]
    assert [H.judge_stored_run(c) for c in ok] == [None] * 4
    assert H.judge_stored_run(Completed(1, "", "Error: internal error: TypeError: x\n")) == "internal"
    assert H.judge_stored_run(Completed(1, "", "Traceback (most recent call last):\n")) == "traceback"
    assert H.judge_stored_run(Completed(1, "", "Error: a\nError: b\n")) == "error-lines"
    assert H.judge_stored_run(Completed(0, "", "Error: a\n")) == "exit"


def test_forgeries_are_reproducible_and_rehash_code():
    from shapelang.fuzz.forge import forge
    case, _ = H.make_case(SEED, 0)
    s = case.session
    _, steps = case.full
    s.cut(steps // 2)
    blobs = s.program.blob_bytes()
    kinds = set()
    for seed in range(40):
        f = forge(s.last_bytes, blobs, s.program.entry, s.program.prelude, seed)
        g = forge(s.last_bytes, blobs, s.program.entry, s.program.prelude, seed)
        assert (f.what, f.state, f.blobs) == (g.what, g.state, g.blobs)
        kinds.add(f.what.split(":")[0])
        for bid, data in f.blobs.items():
            assert hashlib.sha256(data).hexdigest() == bid
    assert {"state bytes", "frames", "state value"} <= {k.split(" ")[0] + (" " + k.split(" ")[1] if
                                                        k.startswith("state") else "") for k in kinds}
    assert any(k.startswith("code of blob") for k in kinds)


# ---------------------------------------------------------------- mutation score

def test_every_mutant_still_applies():
    # When code moves, its mutants move with it (issue 11 item 9: 0 stale); names stay unique.
    from shapelang.fuzz import mutants as M
    assert [m.name for m in M.MUTANTS if M.stale(m)] == []
    assert len({m.name for m in M.MUTANTS}) == len(M.MUTANTS)
    assert any(m.shared for m in M.MUTANTS) and any(not m.shared for m in M.MUTANTS)


# ---------------------------------------------------------------- long campaigns (opt-in)
# `SHAPE_FUZZ_SECONDS=3600 SHAPE_FUZZ_SHARDS=16 pytest tests/test_fuzz.py -k campaign_shard -n 16`
# runs 16 shards of one campaign, one per xdist worker (add `--tx ssh=host//python=python3
# --rsyncdir .` to spread them over machines). Shard i fuzzes programs i*10**8, i*10**8 + 1, …
# of the seed, so shards never overlap and any failure is reproducible with
# `shape fuzz --seed S --replay K`.
import os  # noqa: E402

_SHARDS = int(os.environ.get("SHAPE_FUZZ_SHARDS", "1"))


@pytest.mark.parametrize("shard", range(_SHARDS))
def test_campaign_shard(shard):
    seconds = float(os.environ.get("SHAPE_FUZZ_SECONDS", "0"))
    if seconds <= 0:
        pytest.skip("set SHAPE_FUZZ_SECONDS to run a fuzz campaign shard")
    cfg = H.CampaignConfig(
        seconds=seconds, seed=int(os.environ.get("SHAPE_FUZZ_SEED", "1")),
        checks=os.environ.get("SHAPE_FUZZ_CHECKS", H.CHECK_NAMES),
        errors=bool(os.environ.get("SHAPE_FUZZ_ERRORS")),
        start=shard * 10**8,
        shrink_seconds=float(os.environ.get("SHAPE_FUZZ_SHRINK_SECONDS", "120")),
        save_dir=os.environ.get("SHAPE_FUZZ_SAVE_DIR") or None)
    s = H.campaign(cfg, processes=False)
    print(s.render())
    assert not s.failures, "\n\n".join(f.render() for f in s.failures)


RECOMPILED_THEN_RESUMED = """let xs = [1, 2]
for x in xs { print("x", x) }
let mut n = 0
while n < 2 {
  n += 1
  snapshot()
  print("n", n)
}
print("end")
"""


def test_oracle_resumes_a_snapshot_of_a_recompiled_run():
    # recompile from event 0 (n = 1), then resume the first snapshot that run takes (n = 2)
    out = api.run(RECOMPILED_THEN_RESUMED, path="fuzz.shape", engine="ref",
                  recompile_from=(RECOMPILED_THEN_RESUMED, 0), resume_at=0)
    assert (out.stdout, out.error) == ("n 2\nend\n", None)
    beyond = api.run(RECOMPILED_THEN_RESUMED, path="fuzz.shape", engine="ref",
                     recompile_from=(RECOMPILED_THEN_RESUMED, 0), resume_at=1)
    assert beyond.error.kind == "ResumeError" and "fewer than 2" in beyond.error.message


@pytest.mark.skipif(not E.has_recompile(), reason="no recompile API")
def test_check_e_resumes_a_snapshot_the_recompiled_run_took():
    # the for loop ended before the site: its registers must still resume (they once held None)
    prog = GeneratedProgram(parse(RECOMPILED_THEN_RESUMED, "fuzz.shape"), snapshot_sites=1)
    case = H.Case(prog, H.CheckParams(cut=500, events=[0] * 3, chain=[300] * 4, edits=[0] * 6))
    v = H.check_e(case)
    assert (v.status, v.units) == ("pass", 2), v.detail


@pytest.mark.parametrize("option", ["--timeout", "--seconds", "--shrink-seconds"])
def test_a_time_that_is_not_a_number_is_a_usage_error(option, capsys):
    # nan passed the `< 0` check: a campaign of 0 programs that exited 1 with no reason given
    from shapelang.fuzz import cli
    with pytest.raises(SystemExit) as e:
        cli.main([option, "nan", "--programs", "1"])
    assert e.value.code == 2
    assert f"{option} must be at least 0, got nan" in capsys.readouterr().err


def test_a_report_file_that_cannot_be_written_is_a_usage_error_before_the_campaign(capsys):
    from shapelang.fuzz import cli
    with pytest.raises(SystemExit) as e:
        cli.main(["--json", "/no/such/dir/summary.json", "--programs", "1"])
    assert e.value.code == 2
    assert "--json /no/such/dir/summary.json: is in a directory that does not exist" in \
        capsys.readouterr().err
