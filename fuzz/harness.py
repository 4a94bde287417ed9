"""The fuzz checks, shrinking, regression cases, and the campaign driver behind `shape fuzz`.

A *case* is one generated program plus a fixed set of check parameters (cut positions, which
snapshot events to resume, edits), all drawn from the same choice sequence as the program, so a
case is fully determined by its choices and Hypothesis can shrink program and parameters together.

Checks (each returns a `Verdict`; a check whose engine capability is missing is `skip`ped):
  a  ref vs VM: same stdout (snapshot ids masked), value, error kind and phase, exit code.
  b  cut anywhere: stop the VM after a random number of steps, round-trip the state, resume; the
     output before plus the output after equals the uninterrupted run. A share of the cases goes
     through the real CLI and store in fresh processes once `--snapshot-at`/`--resume` exist.
  c  resume from snapshot() events: resuming event k on the VM equals the reference oracle
     (`resume_at=k`).
  d  chains: cut and resume at least three times in one run; equals the uninterrupted run.
  e  recompile-and-resume with the same source and with edits after the boundary equals the
     reference oracle (needs the snapshot layer's recompile API); then a snapshot the recompiled
     run took is resumed, and equals the oracle too.
  f  codec round trip: decode(encode(state)) re-encodes to identical bytes, for every snapshot()
     state and a cut state; and every code blob of the program loads back through the store's
     validation (what `shape --resume` does) to the same bytes.

The campaign runs programs `k = 0, 1, 2, …` of a seed (program k is generated from
`sha256(f"{seed}:{k}")`, so it does not depend on the number of jobs), in worker processes with a
watchdog, shrinks each new failure with Hypothesis' shrinker, prints it with the command that
reproduces it, and saves it as a conformance case under `conformance/cases/regressions/`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import os
import pickle
import random
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from shapelang.fuzz import engines as E
from shapelang.fuzz.processes import commands_cpu
from shapelang.fuzz.reduce import reduce_program
from shapelang.fuzz.generator import (ChoiceSource, GeneratedProgram, ProgramBuilder,
                                      RandomChoiceSource)
from shapelang.fuzz.generator.files import FIXTURES, uses_files

CHECK_NAMES = "abcdefghj"
CHECK_TITLES = {
    "a": "ref vs VM",
    "b": "cut anywhere and resume",
    "c": "resume from snapshot() events vs the reference oracle",
    "d": "chains of cuts",
    "e": "recompile-and-resume vs the reference oracle",
    "f": "codec round trip",
    "g": "forged snapshots resumed through the store",
    "h": "VM fast paths vs generic templates",
    "j": "JIT (every function and loop compiled) vs VM, cut inside compiled code",
}
# What one run of a check counts (`units` in the summary): resumed continuations compared with
# the uninterrupted run or the oracle (b, c, d, e), forged snapshots resumed (g).
CHECK_UNITS = {"b": "resumed continuations", "c": "resumed continuations",
               "d": "resumed continuations", "e": "recompiled continuations",
               "g": "forged snapshots", "h": "resumed continuations",
               "j": "resumed continuations"}
MAX_RESUMED_EVENTS = 3     # snapshot events resumed per case (check c)
CHAIN_CUTS = 4             # cuts per chain (check d); the brief asks for at least 3
CLI_SHARE = 2              # percent of cases that check b also runs through the real CLI
CUT_POINTS = 3             # cuts per case (check b), spread over the run (`shape fuzz --cuts N`)
FORGERIES = 4              # forged snapshots per case (check g)
FORGED_BUDGET = 2_000      # steps a forged snapshot may run (`--snapshot-at`; each snapshot() it
                           # takes is a store write, so the budget stays small)


# ---------------------------------------------------------------- verdicts and cases

@dataclass
class Verdict:
    check: str
    status: str                      # "pass", "fail" or "skip"
    reason: str = ""                 # fail: a short category; skip: why
    detail: str = ""
    resume: Optional[tuple[int, Optional[str]]] = None   # the failing resume: (event, new source)
    family: str = ""                 # which error message it is about (see _message_family)
    units: int = 0                   # what the check did, counted (see CHECK_UNITS)

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def signature(self) -> str:
        """What makes two failures the same bug for shrinking and counting repeats: the check,
        the reason and, for errors, the message without its particulars."""
        sig = f"{self.check}:{self.reason}"
        return f"{sig}:{self.family}" if self.family else sig


@dataclass
class CheckParams:
    """Everything a check chooses at random, drawn right after the program (always the same
    number of draws, so the choice sequence lines up whichever checks run)."""
    cut: int = 0                                  # per mille of the run's steps (check b)
    cli: int = 0                                  # < CLI_SHARE: also through the CLI (check b)
    events: list[int] = field(default_factory=list)   # check c (and e): which events
    chain: list[int] = field(default_factory=list)    # check d: per mille of steps per leg
    edits: list[int] = field(default_factory=list)    # check e: edit choices
    forge: int = 0                                # check g: seed of the forgeries
    cuts: int = CUT_POINTS                        # check b: how many cuts (not drawn: a setting of
                                                  # the campaign, `--cuts`)

    @staticmethod
    def draw(c: ChoiceSource) -> "CheckParams":
        return CheckParams(
            cut=c.int(0, 1000),
            cli=c.int(0, 99),
            events=[c.int(0, 63) for _ in range(MAX_RESUMED_EVENTS)],
            chain=[c.int(0, 1000) for _ in range(CHAIN_CUTS)],
            edits=[c.int(0, 99) for _ in range(6)],
            forge=c.int(0, 2**30),
        )


class Case:
    """A program, its check parameters, and the runs several checks share (computed once)."""

    def __init__(self, prog: GeneratedProgram, params: CheckParams, path: str = "fuzz.shape") -> None:
        self.prog = prog
        self.params = params
        self.path = path
        self.source = prog.source
        self._ast: Any = None
        self._ref: Optional[E.Outcome] = None
        self._session: Any = None
        self._full: Optional[tuple[E.Outcome, int]] = None
        self._cut: Optional[tuple[int, E.Outcome, Optional[bytes]]] = None
        # a program of the file family: every run in a fresh directory with the fixtures, and
        # the files it leaves compared (generator/files.py, engines.FileRoom)
        self.files = uses_files(prog.ast)

    def with_ast(self, tree: Any) -> "Case":
        """The same case with another program (the test-case reducer's edits)."""
        return Case(dataclasses.replace(self.prog, ast=tree), self.params, self.path)

    @staticmethod
    def build(choices: ChoiceSource, errors: bool = False) -> "Case":
        prog = ProgramBuilder(choices, errors).program()
        return Case(prog, CheckParams.draw(choices))

    @property
    def ast(self) -> Any:
        """The program parsed from its source (once; every run of every check shares it, and
        none changes it). Raises NoSession when the source does not parse."""
        if self._ast is None:
            try:
                self._ast = E.parse(self.source, self.path)
            except Exception as e:
                self._ast = NoSession(E.error_outcome(e))
        if isinstance(self._ast, NoSession):
            raise self._ast
        return self._ast

    def copy_ast(self) -> Any:
        """A copy of the parsed program to edit (pickling copies a tree faster than parsing)."""
        return pickle.loads(pickle.dumps(self.ast, pickle.HIGHEST_PROTOCOL))

    @property
    def ref(self) -> E.Outcome:
        if self._ref is None:
            try:
                self._ref = E.ref_run(self.source, self.path, self.ast, self.files)
            except NoSession as e:
                self._ref = e.outcome
        return self._ref

    @property
    def session(self) -> Any:
        """The program compiled for the in-process machine. Raises `NoSession` (with the outcome
        the VM gives instead) when it does not compile there."""
        if self._session is None:
            try:
                self._session = E.MachineSession(self.source, self.path, self.ast, self.files)
            except E.Unavailable:
                raise
            except Exception as e:
                self._session = NoSession(E.error_outcome(e))
        if isinstance(self._session, NoSession):
            raise self._session
        return self._session

    @property
    def full(self) -> tuple[E.Outcome, int]:
        """The uninterrupted VM run (in process) and its step count."""
        if self._full is None:
            try:
                self._full = self.session.full()
            except NoSession as e:
                self._full = (e.outcome, 0)
        return self._full

    @property
    def cut(self) -> tuple[int, E.Outcome, Optional[bytes]]:
        """The VM run cut at the drawn position (checks f, g and h share it): the number of steps,
        the outcome so far, and the state there as a store holds it (None when the program ended
        first). `session.decode` gives a fresh copy of the state to run."""
        if self._cut is None:
            _, steps = self.full
            n = _steps(self.params.cut, steps)
            before, state = self.session.cut(n)
            self._cut = (n, before, self.session.last_bytes if state is not None else None)
        return self._cut

    def harness_error(self) -> Optional[str]:
        """Why the reference run is not what the generator intended, or None."""
        r = self.ref
        if r.error is not None and r.error[0] not in self.prog.planted:
            return f"{r.error[0]}: {r.message}"
        if r.error is None and r.exit_code != 0 and not self.prog.planted_exit:
            return f"exit code {r.exit_code}"
        return None


class NoSession(Exception):
    """The program does not compile on the VM (check a reports how that differs from the ref)."""

    def __init__(self, outcome: E.Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


def _steps(per_mille: int, total: int) -> int:
    return (per_mille * max(total, 1)) // 1000


_PARTICULARS = re.compile(r"'[^']*'|\"[^\"]*\"|[0-9a-f]{12,}|-?[0-9]+(\.[0-9]+)?")


def _message_family(out: E.Outcome) -> str:
    """An error's kind and message with names, numbers and ids taken out: `TypeError: Unknown
    property _ on array` for every unknown property of an array."""
    if out.error is None:
        return ""
    return f"{out.error[0]}: {_PARTICULARS.sub('_', out.message)}"


def _compare(check: str, expected: E.Outcome, actual: E.Outcome, names: tuple[str, str],
             context: str = "") -> Verdict:
    diffs = E.diff_outcomes(expected, actual, names)
    if not diffs:
        return Verdict(check, "pass")
    reason = diffs[0].split(" ", 1)[0]
    if actual.error and actual.error[0] == "InternalError":
        reason = "crash"
    if actual.error and actual.error[0] == "Hang":
        reason = "hang"
    head = (context + "\n") if context else ""
    family = _message_family(expected) or _message_family(actual)
    return Verdict(check, "fail", reason, head + "\n".join(diffs), family=family)


# ---------------------------------------------------------------- the checks

def check_a(case: Case, other: str = "vm") -> Verdict:
    """Reference vs VM (or vs a second reference run, `other="ref"`, to test the harness)."""
    if other == "vm" and not E.has_vm():
        return Verdict("a", "skip", "shapelang.vm.run_source is missing")
    if other == "vm" and E.has_machine():
        actual, _ = case.full     # the same as vm.run_source, with a step cap against hangs
    else:
        actual = E.run_json(case.source, other, case.path, files=case.files)
    return _compare("a", case.ref, actual, ("ref", other))


def cut_points(case: Case, steps: int) -> list[int]:
    """Where check b cuts the run: at the drawn position and at `cuts - 1` more spread evenly
    over the run from there (steps from the start; distinct)."""
    cuts = case.params.cuts
    marks = [(case.params.cut + i * 1000 // cuts) % 1000 for i in range(cuts)]
    return sorted({_steps(m, steps) for m in marks})


def check_b(case: Case) -> Verdict:
    if not E.has_machine():
        return Verdict("b", "skip", "VM machine API (run(max_steps)/export_state/from_state) missing")
    full, steps = case.full
    resumed = 0
    v = Verdict("b", "pass")
    # Every cut is taken before any is resumed (the run stops at the last one); each resume
    # continues in the run's directory, whose outputs hold what the run or the resumes before
    # it wrote after that cut, and must rewind them. A program of the file family resumes its
    # cuts earliest first: a resume of an earlier cut runs past the later ones, and the resume
    # of a later one must undo what it did after that point (spec/io.md); then latest first,
    # as every program does (each resume undoes what the later cut's resume did after its own).
    taken = [(n, before, state, case.session.last_bytes if state is not None else None)
             for n, before, state in case.session.cuts(cut_points(case, steps))]
    order = [(n, before, state, "latest first") for n, before, state, _ in reversed(taken)]
    if case.files:
        order = [(n, before, state, "earliest first") for n, before, state, _ in taken] + [
            (n, before, None if data is None else case.session.decode(data),
             "latest first, after the earliest-first resumes")
            for n, before, _, data in reversed(taken)]
    for n, before, state, how in order:
        if state is None:
            total = before
        else:
            after, _ = case.session.resume(state)
            total = E.concat(before, after)
            resumed += 1
        v = _compare("b", full, total, ("uninterrupted", "cut+resume"),
                     f"cut after {n} of {steps} steps (resumed {how})")
        if v.failed:
            break
    v.units = resumed
    if v.failed or case.params.cli >= CLI_SHARE or not E.has_cli_resume():
        return v
    cli = check_b_cli(case, _steps(case.params.cut, steps))
    cli.units += v.units
    return cli


def check_b_cli(case: Case, n: int) -> Verdict:
    """The same cut through the real CLI and store, in fresh processes."""
    import tempfile
    full, _ = case.full
    with tempfile.TemporaryDirectory(prefix="shape-fuzz-") as tmp:
        src = os.path.join(tmp, "case.shape")
        with open(src, "w", encoding="utf-8") as f:
            f.write(case.source)
        env = {"SHAPE_STORE": os.path.join(tmp, "store.db")}
        # the run's working directory: the fixtures only, for a program of the file family
        cwd = os.path.join(tmp, "run")
        os.mkdir(cwd)
        if case.files:
            for name, data in FIXTURES.items():
                with open(os.path.join(cwd, name), "wb") as f:
                    f.write(data)
        first = E.cli_run(["run", "--snapshot-at", str(max(n, 1)), src], env, cwd=cwd)
        m = re.search(r"Snapshot saved: ([0-9a-f]{64})", first.stderr)
        stdout = first.stdout
        code = first.code
        err = first.stderr
        resumed = 0
        if m:
            resumed = 1
            second = E.cli_run(["--resume", m.group(1)], env, cwd=cwd)
            stdout += second.stdout
            code = second.code
            err = second.stderr
        left = E.FileRoom.listing(cwd) if case.files else None
    if E.mask_ids(stdout) != full.stdout:
        import difflib
        d = "\n".join(difflib.unified_diff(full.stdout.splitlines(), E.mask_ids(stdout).splitlines(),
                                           "in-process", "cli", lineterm="", n=2))
        return Verdict("b", "fail", "cli-stdout", f"CLI cut after {n} steps\n{d}", units=resumed)
    if code != full.exit_code:
        return Verdict("b", "fail", "cli-exit", f"CLI cut after {n} steps: exit {code} vs "
                                                 f"{full.exit_code}\n{err[-2000:]}", units=resumed)
    if left is not None and full.files is not None and left != full.files:
        return Verdict("b", "fail", "cli-files", f"CLI cut after {n} steps\n" +
                       E.files_diff(full.files, left, ("in-process", "cli")), units=resumed)
    return Verdict("b", "pass", units=resumed)


def _events_to_resume(case: Case, available: int) -> list[int]:
    seen: list[int] = []
    for e in case.params.events:
        k = e % available
        if k not in seen:
            seen.append(k)
    return seen


def check_c(case: Case) -> Verdict:
    if not E.has_machine():
        return Verdict("c", "skip", "VM machine API missing")
    if case.prog.snapshot_sites == 0:
        return Verdict("c", "pass", "no snapshot() sites")
    _, events = case.session.snapshots()
    if not events:
        return Verdict("c", "pass", "no snapshot() events")
    resumed = _events_to_resume(case, events)
    if case.files:
        # Earliest first: a resume continues in the directory the run, or the resume of an
        # earlier event that ran on past this one, left, and must undo what that resume did
        # after this event (spec/io.md). Only while the resumes write what the run wrote: a
        # program that branches on Snapshot::Resumed may append other bytes to an output a
        # later event recorded by length, which that event's resume rightly refuses (spec/io.md,
        # what cannot be rewound); the next state then gets the files at its export.
        resumed.sort()
        uninterrupted = case.session.snapshots()[0].files
    try:
        for k in resumed:
            expected = E.ref_resume(case.source, k, case.path, case.ast, case.files)
            actual, _ = case.session.resume(case.session.event_state(k))
            v = _compare("c", expected, actual, ("ref-oracle", "vm-resume"),
                         f"resuming snapshot event #{k}")
            if v.failed:
                v.resume = (k, None)
                return v
            if case.files and actual.files != uninterrupted:
                E.ROOMS["vm"].spoil()
    finally:
        if case.files:
            # the last resume may have written what the run did not: a later state resumed
            # in the room gets the files at its export first
            E.ROOMS["vm"].spoil()
    return Verdict("c", "pass", units=len(resumed))


def check_d(case: Case) -> Verdict:
    if not E.has_machine():
        return Verdict("d", "skip", "VM machine API missing")
    full, steps = case.full
    legs = [max(1, _steps(p, steps)) for p in case.params.chain]
    before, state = case.session.cut(legs[0])
    out = before
    cuts = [legs[0]]
    resumed = 0
    for n in legs[1:]:
        if state is None:
            break
        part, state = case.session.resume(state, n)
        resumed += 1
        out = E.concat(out, part)
        cuts.append(n)
    if state is not None:
        rest, _ = case.session.resume(state)
        resumed += 1
        out = E.concat(out, rest)
    v = _compare("d", full, out, ("uninterrupted", "chain"),
                 f"chain of legs {cuts} (steps) out of {steps}")
    v.units = resumed
    return v


def _snapshot_sites(program: Any) -> list[tuple[int, int]]:
    """Positions of the snapshot() call sites in source order (their ordinals are the indices)."""
    from shapelang.ref import ast as A
    return sorted((n.line, n.col) for n in A.walk(program)
                  if isinstance(n, A.Call) and isinstance(n.callee, A.Name)
                  and n.callee.name == "snapshot")


def edit_after_boundary(case: Case, ordinal: int, edits: list[int]) -> tuple[str, str]:
    """An edited copy of the case's source for recompile-and-resume from the site with
    `ordinal`: edits only touch top-level statements after the one holding the site (the upstream
    guidance: keep the boundary and what precedes it stable). Returns (new source, description)."""
    from shapelang.ref import ast as A
    from shapelang.fuzz.generator import to_source
    source = case.source
    kind = edits[0] % 5
    if kind == 0:
        return source, "same source"
    sites = _snapshot_sites(case.ast)
    if ordinal >= len(sites):
        return source, "unchanged (site not found)"
    if kind == 4 and not (ordinal == len(sites) - 1 and edits[4] % 4 == 0):
        return source, "same source"
    pos = sites[ordinal]
    prog = case.copy_ast()       # the edits change this copy only
    body = prog.body
    boundary = max((i for i, st in enumerate(body) if (st.line, st.col) <= pos), default=0)
    after = list(range(boundary + 1, len(body) + 1))
    where = after[edits[1] % len(after)]
    if kind == 1:
        body.insert(where, A.ExprStmt(A.Call(A.Name("print"), [A.Literal("edited"), A.Literal(edits[2])]), True))
        return to_source(prog), f"inserted a print before top-level statement {where}"
    if kind == 2:
        lits = [n for st in body[boundary + 1:] for n in A.walk(st)
                if isinstance(n, A.Literal) and type(n.value) is int]
        if not lits:
            return source, "same source (no literal after the boundary)"
        lit = lits[edits[2] % len(lits)]
        lit.value = lit.value + 1
        return to_source(prog), f"changed a literal after the boundary to {lit.value}"
    if kind == 3 and len(after) > 1:
        victim = after[edits[3] % (len(after) - 1)]
        del body[victim]
        return to_source(prog), f"deleted top-level statement {victim}"
    if kind == 4:
        # drop the boundary statement: the saved ordinal no longer exists (a documented error)
        del body[boundary]
        return to_source(prog), f"deleted the boundary statement {boundary} (ordinal #{ordinal} is gone)"
    return source, "same source"


def check_e(case: Case) -> Verdict:
    if not E.has_recompile():
        return Verdict("e", "skip", "recompile-and-resume API (shapelang.vm.recompile) or its "
                                    "reference oracle is missing")
    if case.prog.snapshot_sites == 0:
        return Verdict("e", "pass", "no snapshot() sites")
    _, events = case.session.snapshots()
    if not events:
        return Verdict("e", "pass", "no snapshot() events")
    k = case.params.events[0] % events
    ordinal = case.session.event_ordinals[k]
    try:
        new_source, what = edit_after_boundary(case, ordinal, case.params.edits)
    except ValueError as e:   # the printer refused the edited tree
        return Verdict("e", "skip", f"edit not printable: {e}")
    # the oracle reads both programs parsed (the old one is the case's tree; an edited one is
    # parsed from its printed source, which gives the positions a user's edited file has)
    expected = E.ref_recompile(case.ast, k, case.ast if new_source == case.source else new_source,
                               case.path, case.files)
    actual, taken, store = E.vm_recompile_run(case.session, k, new_source)
    if expected.error is not None and expected.error[1] != "runtime":
        # a refused resume (or an edit that does not compile) touches no file: the directory is
        # as each side's first run left it (the oracle's stops at the event, the VM's ran to its
        # end), so only the error counts
        expected = dataclasses.replace(expected, files=None)
    context = f"recompile-and-resume from event #{k} (site #{ordinal}), {what}"
    if what != "same source":
        context += "\n--- edited source ---\n" + new_source
    v = _compare("e", expected, actual, ("ref-oracle", "vm-recompile"), context)
    v.resume = (k, new_source)
    v.units = 1
    if v.failed or not taken or case.files:
        # (the file family's rooms follow one lineage of resumes; a snapshot of a recompiled run
        # would need the oracle's directory at its export, which the rooms do not keep)
        return v
    # A snapshot the recompiled run took is resumed in turn, on the code stored with it: the
    # recompiled run's registers and loop states must resume like any other run's.
    j = case.params.edits[5] % len(taken)
    expected = E.ref_recompile(case.ast, k, case.ast if new_source == case.source else new_source,
                               case.path, then=j)
    actual = E.vm_resume_stored(taken[j], store, case.path)
    v = _compare("e", expected, actual, ("ref-oracle", "vm-resume"),
                 context + f"\nthen resuming snapshot #{j} of the recompiled run")
    v.resume = (k, new_source)
    v.units = 2
    return v


def check_f(case: Case) -> Verdict:
    if not E.has_machine():
        return Verdict("f", "skip", "VM machine API missing")
    if not E.has_codec():
        return Verdict("f", "skip", "no state codec (shapelang.vm.snapshot.registry + vm/codec.py)")
    session = case.session
    encoded: list[tuple[str, bytes]] = []
    if case.prog.snapshot_sites:
        session.snapshots()
        encoded += [(f"snapshot event #{i}", b) for i, b in enumerate(session.event_bytes)]
    n, _, cut_bytes = case.cut
    if cut_bytes is not None:
        encoded.append((f"cut after {n} steps", cut_bytes))
    for what, first in encoded:
        try:
            second = session.reencode(first)
        except Exception as e:  # the codec must never fail on bytes it produced itself
            return Verdict("f", "fail", "crash", f"{what}: {type(e).__name__}: {e}")
        if first != second:
            return Verdict("f", "fail", "bytes", f"{what}: decode + encode changed the bytes "
                                                 f"({len(first)} -> {len(second)} bytes)")
    # the code a stored snapshot holds must load back the way `shape --resume` loads it
    try:
        problems = session.stored_code_problems()
    except E.Unavailable:
        problems = []
    if problems:
        return Verdict("f", "fail", "stored-code", "the compiled program's code does not load back "
                       "from its stored form (shape --resume would refuse it):\n" + "\n".join(problems))
    return Verdict("f", "pass")


def judge_resumed(result: Any, escaped: str) -> Optional[str]:
    """What is wrong with resuming a forged snapshot through the engine API, or None: it may end
    cleanly (with the program's own exit code), stop at the step budget (an interrupt snapshot),
    or fail with an error of a Shape kind (which the CLI shows as one `Error:` line, exit code
    1); never with an internal error, and no exception may escape the API."""
    if result is None:
        return "traceback"
    if result.error is not None and result.error.kind == "InternalError":
        return "internal"
    if result.error is not None and result.exit_code != 1:
        return "exit"
    return None


def judge_stored_run(done: Any) -> Optional[str]:
    """What is wrong with the outcome of `shape --resume` (a fresh process) on a forged snapshot,
    or None: as `judge_resumed`, seen from outside: a clean run, the step budget (exit 130, the
    interrupt snapshot saved), or exactly one `Error:` line and exit code 1; never an internal
    error or a traceback."""
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    if "Traceback (most recent call last)" in done.stderr:
        return "traceback"
    if any("internal error" in ln for ln in errors):
        return "internal"
    if done.timed_out:
        return "timeout"
    if len(errors) > 1:
        return "error-lines"
    if errors and done.code != 1:
        return "exit"
    if done.code == 130 and "Snapshot saved:" not in done.stderr:
        return "exit"
    return None


def check_g(case: Case) -> Verdict:
    """Forged snapshots: states and code of this program, edited (forge.py), re-hashed, stored
    and resumed through the store with a step budget."""
    from shapelang.fuzz.forge import forge
    if not (E.has_machine() and E.has_codec() and E.has_cli_resume()):
        return Verdict("g", "skip", "needs the VM machine, the state codec and shape --resume")
    session = case.session
    states: list[bytes] = []
    if case.prog.snapshot_sites:
        session.snapshots()
        states = list(session.event_bytes)
    if not states:
        cut_bytes = case.cut[2]
        if cut_bytes is None:
            return Verdict("g", "pass", "no state to forge")
        states = [cut_bytes]
    program = session.program
    blobs = program.blob_bytes()
    # a share of the cases (as for check b) resume through the real CLI in a fresh process; a
    # program of the file family resumes in process, in its room (its forged ledger may name
    # the room's files; a continuation without a ledger writes into the working directory);
    # every second forgery resumes with the JIT compiling every function and loop it reaches
    # (the forged code runs compiled; a snapshot or an error deoptimises to the VM)
    through_cli = case.params.cli < CLI_SHARE and not case.files
    cwd = E.ROOMS["vm"].spoil() if case.files else None
    for i in range(FORGERIES):
        seed = case.params.forge * FORGERIES + i
        state = states[seed % len(states)]
        f = forge(state, blobs, program.entry, program.prelude, seed)
        path, sid = E.SCRATCH.put(f.state, f.blobs, data=session.io_blobs)
        jit = i % 2 == 1
        if through_cli:
            done = E.cli_run(["--resume", sid, "--store", path, "--snapshot-at", str(FORGED_BUDGET)]
                             + (["--engine", "jit"] if jit else []),
                             {"SHAPE_JIT": "force"} if jit else None)
            problem = judge_stored_run(done)
            account = f"exit code {done.code}\n--- stderr ---\n{done.stderr[-3000:]}"
        else:
            result, escaped = E.resume_stored(path, sid, FORGED_BUDGET, cwd,
                                              jit="force" if jit else None)
            problem = judge_resumed(result, escaped)
            account = escaped or (result.error.render() if result.error else "no error")
        if problem is not None:
            on = " on the JIT (SHAPE_JIT=force)" if jit else ""
            return Verdict("g", "fail", problem,
                           f"forgery {i} (seed {seed}){on}: {f.what}\n{account}", units=i + 1)
    return Verdict("g", "pass", units=FORGERIES)


def check_h(case: Case) -> Verdict:
    """The VM with every unit threaded by the generic templates (each operation calls its rule
    in runtime/; the switch of issue 11 item 5) must do exactly what the fast paths do: the
    whole run, and the second half of a cut run resumed with the generic templates."""
    if not E.has_machine():
        return Verdict("h", "skip", "VM machine API missing")
    fast, steps = case.full
    generic, _ = case.session.full(generic=True)
    v = _compare("h", fast, generic, ("vm", "vm-generic"))
    if v.failed:
        return v
    n, before, state = case.cut
    if state is None:
        return v
    after, _ = case.session.resume(case.session.decode(state), generic=True)
    v = _compare("h", fast, E.concat(before, after), ("vm", "vm, then vm-generic"),
                 f"cut after {n} of {steps} steps, resumed with the generic templates")
    v.units = 1
    return v


def check_j(case: Case) -> Verdict:
    """The JIT tier with every function and loop compiled at first use (vm/jit/, issue 15) must
    do exactly what the VM does: the whole run (output, error, position, call stack), run with
    no step budget as `shape run` runs it (a budget switches the JIT to its step-counting
    variant, which never inlines a callee); and a cut after n steps, which stops inside
    compiled code (the counting variant), must leave the VM's state byte for byte (the snapshot
    a store would hold), whose continuation, run with the JIT again, gives the rest of the
    uninterrupted run."""
    if not E.has_machine():
        return Verdict("j", "skip", "VM machine API missing")
    full, steps = case.full
    jit, _ = case.session.full(jit="force", budget=False)
    v = _compare("j", full, jit, ("vm", "jit"))
    if v.failed:
        return v
    resumed = 0
    for n in cut_points(case, steps):
        _, vm_state = case.session.cut(n)
        vm_bytes = case.session.last_bytes
        before, state = case.session.cut(n, jit="force")
        if (state is None) != (vm_state is None) or case.session.last_bytes != vm_bytes:
            return Verdict("j", "fail", "state",
                           f"cut after {n} of {steps} steps: the JIT's state is not the VM's",
                           units=resumed)
        if state is None:
            continue
        after, _ = case.session.resume(state, jit="force")
        resumed += 1
        v = _compare("j", full, E.concat(before, after), ("vm", "jit, cut and resumed"),
                     f"cut after {n} of {steps} steps, on the JIT")
        if v.failed:
            break
    v.units = resumed
    return v


CHECKS: dict[str, Callable[[Case], Verdict]] = {
    "a": check_a, "b": check_b, "c": check_c, "d": check_d, "e": check_e, "f": check_f,
    "g": check_g, "h": check_h, "j": check_j,
}


def available_checks() -> dict[str, Optional[str]]:
    """Check name -> None if it can run in this build, else the reason it is skipped."""
    caps = E.capabilities()
    return {
        "a": None if caps["vm"] else "shapelang.vm.run_source is missing",
        "b": None if caps["machine"] else "VM machine API missing",
        "c": None if caps["machine"] else "VM machine API missing",
        "d": None if caps["machine"] else "VM machine API missing",
        "e": None if caps["recompile"] else "recompile-and-resume API missing",
        "f": None if caps["machine"] and caps["codec"] else "state codec API missing",
        "g": None if caps["machine"] and caps["codec"] and caps["cli"] else
             "needs the VM machine, the state codec and shape --resume",
        "h": None if caps["machine"] else "VM machine API missing",
        "j": None if caps["machine"] else "VM machine API missing",
    }


# Divergences that are understood and reported, so a long campaign keeps looking for new ones:
# (checks, text that appears in the failure detail, text that appears in the program, explanation).
# `shape fuzz --strict` counts them as failures again.
# Example: ("abcdef", "capture analysis missed", "await @", "VM: …"). Empty at the moment: the
# VM bugs listed here before (fuzz/README.md, Findings) are fixed.
KNOWN_DIVERGENCES: list[tuple[str, str, str, str]] = [
]


def known_divergence(v: Verdict, source: str = "") -> Optional[str]:
    for checks, text, in_source, why in KNOWN_DIVERGENCES:
        if v.check in checks and text in v.detail and in_source in source:
            return why
    return None


def run_case(case: Case, checks: str, ref_vs: str = "vm", strict: bool = False) -> list[Verdict]:
    out = []
    for name in checks:
        try:
            if name == "a":
                v = check_a(case, ref_vs)
            else:
                v = CHECKS[name](case)
        except E.Unavailable as e:
            v = Verdict(name, "skip", str(e))
        except NoSession as e:
            v = Verdict(name, "skip", f"does not compile on the VM: {e}")
        except Exception as e:  # a harness bug must not end a campaign; report it as a failure
            v = Verdict(name, "fail", "harness-exception",
                        f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}")
        if v.failed and not strict:
            why = known_divergence(v, case.source)
            if why is not None:
                v = Verdict(name, "known", v.reason, f"known divergence: {why}\n{v.detail}")
        out.append(v)
    return out


# ---------------------------------------------------------------- choices: record, replay

class RecordingChoiceSource(RandomChoiceSource):
    """Random decisions, recorded as the choice sequence Hypothesis would have drawn."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.trace: list[int] = []

    def int(self, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        v = super().int(lo, hi)
        self.trace.append(v)
        return v

    def pick(self, seq: list) -> Any:
        return seq[self.int(0, len(seq) - 1)]

    def chance(self, percent: int) -> bool:
        return self.int(0, 99) >= 100 - percent


class ReplayChoiceSource(ChoiceSource):
    """Replays a choice sequence; past its end every choice is the simplest (its lower bound)."""

    def __init__(self, choices: list[int]) -> None:
        self.choices = list(choices)
        self.i = 0

    def int(self, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        v = self.choices[self.i] if self.i < len(self.choices) else lo
        self.i += 1
        return min(max(v, lo), hi)

    def pick(self, seq: list) -> Any:
        return seq[self.int(0, len(seq) - 1)]

    def chance(self, percent: int) -> bool:
        return self.int(0, 99) >= 100 - percent


def program_seed(seed: int, k: int, errors: bool = False) -> int:
    key = f"{seed}:{k}:errors" if errors else f"{seed}:{k}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def make_case(seed: int, k: int, errors: bool = False, cuts: int = CUT_POINTS
              ) -> tuple[Case, list[int]]:
    """Program k of a campaign seed (of its error-path mode with `errors`), with its choice
    sequence; check b cuts it `cuts` times."""
    src = RecordingChoiceSource(program_seed(seed, k, errors))
    case = Case.build(src, errors)
    case.params.cuts = cuts
    return case, src.trace


def case_from_choices(choices: list[int], errors: bool = False) -> Case:
    return Case.build(ReplayChoiceSource(choices), errors)


# ---------------------------------------------------------------- shrinking

def shrink(choices: list[int], still_fails: Callable[[Case], bool], seconds: float = 60.0,
           log: Optional[Callable[[str], None]] = None, errors: bool = False) -> list[int]:
    """A shorter/simpler choice sequence whose case still fails, found by Hypothesis' shrinker
    (its engine, started from our recorded sequence). Falls back to a plain delta-debugging
    shrinker over the sequence if that engine cannot be driven. `errors`: the choices are those
    of an error-path program."""
    try:
        return _shrink_hypothesis(choices, still_fails, seconds, errors)
    except _EngineUnusable as e:
        if log:
            log(f"Hypothesis shrinker unavailable ({e}); using the built-in shrinker")
        return _shrink_simple(choices, still_fails, seconds, errors)


class _EngineUnusable(Exception):
    pass


class _BudgetSpent(KeyboardInterrupt):
    """The shrink budget is spent (a KeyboardInterrupt so that Hypothesis does not record the
    interrupted call; it is caught in _shrink_hypothesis and never reaches the user)."""


def _shrink_hypothesis(choices: list[int], still_fails: Callable[[Case], bool],
                       seconds: float, errors: bool = False) -> list[int]:
    try:
        from hypothesis import HealthCheck, Phase, settings
        from hypothesis.internal.conjecture.engine import ConjectureRunner
        from hypothesis.internal.escalation import InterestingOrigin
    except Exception as e:
        raise _EngineUnusable(f"import: {e}")
    deadline = time.monotonic() + seconds
    origin = InterestingOrigin.from_exception(AssertionError("fuzz failure"))

    def test_function(data: Any) -> None:
        if time.monotonic() > deadline:
            # Stop the engine. Any other exception (or mark_invalid before drawing) would be
            # recorded as a test case that stopped drawing early, which Hypothesis then
            # reports as flaky; a KeyboardInterrupt is not recorded.
            raise _BudgetSpent
        case = Case.build(ChoiceSource(data.draw), errors)
        if still_fails(case):
            data.mark_interesting(origin)

    s = settings(database=None, deadline=None, phases=[Phase.shrink], max_examples=10**9,
                 suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    try:
        runner = ConjectureRunner(test_function, settings=s, random=random.Random(0))
        first = runner.cached_test_function(list(choices))
    except _BudgetSpent:
        return list(choices)
    except Exception as e:
        raise _EngineUnusable(f"engine: {type(e).__name__}: {e}")
    # Hypothesis renamed these internals (interesting_examples -> interesting_test_cases in
    # 6.16x); accept either, and fall back to the built-in shrinker if neither exists.
    found = _first_attr(runner, "interesting_test_cases", "interesting_examples")
    shrink_all = _first_attr(runner, "shrink_interesting_test_cases", "shrink_interesting_examples")
    if found is None or shrink_all is None:
        raise _EngineUnusable("this Hypothesis version has no interesting-case table")
    if not found:
        # not reproducible from the sequence (flaky, or an engine API mismatch): keep it as is
        if getattr(first, "status", None) is None:
            raise _EngineUnusable("replay returned no status")
        return list(choices)
    try:
        shrink_all()
    except _BudgetSpent:
        pass            # the smallest failing program found so far stays in the table
    except Exception as e:
        raise _EngineUnusable(f"shrink: {type(e).__name__}: {e}")
    best = min(found.values(), key=lambda d: (len(d.choices), list(d.choices)))
    return [int(c) for c in best.choices]


def _first_attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _shrink_simple(choices: list[int], still_fails: Callable[[Case], bool], seconds: float,
                   errors: bool = False) -> list[int]:
    deadline = time.monotonic() + seconds
    best = list(choices)

    def ok(cand: list[int]) -> bool:
        return time.monotonic() < deadline and still_fails(case_from_choices(cand, errors))

    size = max(1, len(best) // 2)
    while size >= 1 and time.monotonic() < deadline:
        i = 0
        changed = False
        while i < len(best) and time.monotonic() < deadline:
            cand = best[:i] + best[i + size:]
            if ok(cand):
                best, changed = cand, True
            else:
                i += size
        if not changed:
            size //= 2
    for i in range(len(best)):
        if time.monotonic() >= deadline:
            break
        for v in (0, best[i] // 2):
            if v < best[i]:
                cand = best[:i] + [v] + best[i + 1:]
                if ok(cand):
                    best = cand
                    break
    return best


# ---------------------------------------------------------------- regression cases

# Under the current directory (a non-editable install must never write into site-packages); in a
# checkout, `--save-dir conformance/cases/regressions` adds the cases to the corpus.
REGRESSION_DIR = "fuzz-regressions"


def _stdout_block(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return ["// |" + ((" " + ln) if ln else "") for ln in lines]


def _error_line(key: str, out: E.Outcome, shift: int = 0) -> str:
    """The `error:`-style line of an expected error; `shift` moves its line number (the case's
    header lines come before the program)."""
    assert out.error is not None
    msg = out.message
    quoted = f" {json.dumps(msg, ensure_ascii=False)}" if msg and "\n" not in msg else ""
    at = (f" at {out.line + shift}:{out.col}" if out.line is not None and out.col is not None
          else "")
    return f"// {key}: {out.error[0]} {out.error[1]}{quoted}{at}"


def _files_lines(key: str, out: E.Outcome) -> list[str]:
    """`file NAME: "…"` lines (or `resume-file K NAME:`) for the files a run of the file family
    left that are not the fixtures as they were."""
    return [f"// {key} {n}: {json.dumps(d.decode('utf-8', 'replace'), ensure_ascii=False)}"
            for n, d in (out.files or ()) if FIXTURES.get(n) != d]


def conformance_case_text(case: Case, note: str, resume: Optional[tuple[int, Optional[str]]] = None,
                          edit_file: Optional[str] = None) -> str:
    """A conformance case (format: conformance/caseformat.py) whose expectations all come from
    the reference engine: the first run, and the failing resume when there is one. Positions are
    those of the case file, whose header comes before the program."""
    header = _case_header(case, note, resume, edit_file, 0)
    return "\n".join(_case_header(case, note, resume, edit_file, len(header))) + "\n" + case.source


def _case_header(case: Case, note: str, resume: Optional[tuple[int, Optional[str]]],
                 edit_file: Optional[str], shift: int) -> list[str]:
    r = case.ref
    lines = ["// features: fuzz-regression", "// flags: no-wrap"]
    if case.files:
        lines += [f"// fixture {n}: {json.dumps(d.decode('utf-8'), ensure_ascii=False)}"
                  for n, d in FIXTURES.items()]
    lines.append("// stdout:")
    lines += _stdout_block(r.stdout)
    if r.value is not None:
        lines.append(f"// value: {r.value[0]} {r.value[1]}")
    if r.error is not None:
        lines.append(_error_line("error", r, shift))
    elif r.exit_code != 0:
        lines.append(f"// exit: {r.exit_code}")
    lines += _files_lines("file", r)
    if resume is not None:
        k, new_source = resume
        if new_source is None:
            exp = E.ref_resume(case.source, k, case.path, files=case.files)
            if exp.error is not None:
                lines.append(_error_line(f"resume-error {k}", exp, shift))
            else:
                lines.append(f"// resume {k}:")
                lines += _stdout_block(exp.stdout)
                lines += _files_lines(f"resume-file {k}", exp)
        else:
            assert edit_file is not None
            exp = E.ref_recompile(case.source, k, new_source, case.path)
            if exp.error is not None:   # positions in the edited file, which has no header
                lines.append(_error_line(f"recompile-error {k} {edit_file}", exp))
            else:
                lines.append(f"// recompile {k} {edit_file}:")
                lines += _stdout_block(exp.stdout)
    for n in note.splitlines():
        lines.append("/// " + n)
    return lines


def save_regression(case: Case, verdict: Verdict, note: str, directory: Optional[str] = None) -> str:
    directory = directory or REGRESSION_DIR
    os.makedirs(directory, exist_ok=True)
    digest = hashlib.sha256(case.source.encode()).hexdigest()[:10]
    name = f"fuzz-{verdict.check}-{verdict.reason}-{digest}"
    edit_file = None
    if verdict.resume is not None and verdict.resume[1] is not None:
        # the edited source of a recompile expectation lives beside the case ("_" = not a case)
        edit_file = f"_{name}.edited.shape"
        with open(os.path.join(directory, edit_file), "w", encoding="utf-8") as f:
            f.write(verdict.resume[1])
    path = os.path.join(directory, name + ".shape")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conformance_case_text(case, note, verdict.resume, edit_file))
    return path


# ---------------------------------------------------------------- failures

@dataclass
class Failure:
    check: str
    reason: str
    seed: int
    program: int
    detail: str
    source: str
    minimal_source: str = ""
    minimal_detail: str = ""
    choices: int = 0
    minimal_choices: int = 0
    saved: str = ""
    shrunk: bool = False
    errors: bool = False             # found by an error-path campaign
    cuts: int = CUT_POINTS           # check b's cuts per program in that campaign

    def reproduce(self) -> str:
        mode = " --errors" if self.errors else ""
        if self.cuts != CUT_POINTS:
            mode += f" --cuts {self.cuts}"
        return f"shape fuzz --seed {self.seed}{mode} --replay {self.program} --check {self.check}"

    def render(self) -> str:
        src = self.minimal_source or self.source
        detail = self.minimal_detail or self.detail
        lines = [f"FAIL check {self.check} ({CHECK_TITLES.get(self.check, '')}): {self.reason}",
                 f"  seed {self.seed}, program {self.program}; reproduce with: {self.reproduce()}"]
        if self.shrunk:
            lines.append(f"  shrunk from {self.choices} to {self.minimal_choices} choices "
                         f"({len(self.source.splitlines())} -> {len(src.splitlines())} lines)")
        if self.saved:
            lines.append(f"  saved as {self.saved}")
        lines.append("  --- program ---")
        lines += ["  " + ln for ln in src.rstrip("\n").splitlines()]
        lines.append("  --- what differs ---")
        lines += ["  " + ln for ln in detail.rstrip("\n").splitlines()]
        return "\n".join(lines)


def investigate(seed: int, k: int, case: Case, choices: list[int], verdict: Verdict, ref_vs: str,
                shrink_seconds: float, save_dir: Optional[str],
                log: Optional[Callable[[str], None]] = None) -> Failure:
    """Shrink a failure to a minimal case with the same check and reason, and save it."""
    errors = case.prog.errors
    f = Failure(verdict.check, verdict.reason, seed, k, verdict.detail, case.source,
                choices=len(choices), errors=errors, cuts=case.params.cuts)
    if shrink_seconds > 0:
        sig = verdict.signature

        def still_fails(c: Case) -> bool:
            c.params.cuts = case.params.cuts      # a campaign setting, not a choice
            try:
                c.source
            except ValueError:   # the printer refused this tree
                return False
            return any(v.failed and v.signature == sig for v in run_case(c, verdict.check, ref_vs))
        # First the generator's decisions (the program stays well formed), then the program
        # itself (reduce.py), each with half of the time.
        best = shrink(choices, still_fails, shrink_seconds / 2, log, errors)
        small = case_from_choices(best, errors)
        if not still_fails(small):
            small = case
        def tree_fails(tree: Any) -> bool:
            try:
                return still_fails(small.with_ast(tree))
            except (ValueError, RecursionError):    # not printable
                return False
        tree, _ = reduce_program(small.prog.ast, tree_fails, shrink_seconds / 2)
        smaller = small.with_ast(tree)
        vs = [v for v in run_case(smaller, verdict.check, ref_vs)
              if v.failed and v.signature == sig]
        if vs:
            f.minimal_source = smaller.source
            f.minimal_detail = vs[0].detail
            f.minimal_choices = len(best)
            f.shrunk = True
            case, verdict = smaller, vs[0]
    if save_dir is not None:
        note = (f"found by shape fuzz (check {verdict.check}, {verdict.reason}); "
                f"reproduce with {f.reproduce()}")
        try:
            f.saved = save_regression(case, verdict, note, save_dir)
        except OSError as e:
            f.saved = f"(not saved: {e})"
    return f


# ---------------------------------------------------------------- the campaign

@dataclass
class CampaignConfig:
    seconds: float = 60.0
    seed: int = 0
    jobs: int = 1
    checks: str = CHECK_NAMES
    ref_vs: str = "vm"                 # "ref" drives check a against a second reference run
    shrink_seconds: float = 120.0
    shrinks_per_signature: int = 1     # further failures with the same signature are only counted
    save_dir: Optional[str] = REGRESSION_DIR
    program_timeout: float = 120.0
    max_programs: Optional[int] = None
    start: int = 0                     # first program index
    strict: bool = False               # known divergences count as failures
    errors: bool = False               # error-path programs (generator/mistakes.py)
    cuts: int = CUT_POINTS             # cuts per program of check b


# Python's full (generation 2) collections: by default one after every 10 collections of
# generation 1, and each walks every cache of the engines (threaded and JIT code, validated
# blobs, parsed trees: hundreds of thousands of objects). Measured in process on 200 programs of
# seed 11, all checks: 21 full collections took 2.8 s of 28.8 s CPU; one every 100 generation-1
# collections: 3 took 1.0 s, and the peak memory went from 164 to 170 MB. Generations 0 and 1,
# which free the cycles of dead machines, run as usual.
FULL_COLLECTION_EVERY = 100


@contextlib.contextmanager
def _campaign_gc() -> Any:
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], max(old[2], FULL_COLLECTION_EVERY))
    try:
        yield
    finally:
        gc.set_threshold(*old)


def worker_loop(wid: int, cfg: CampaignConfig, deadline: float, emit: Callable[[tuple], None],
                start_k: int, progress: Any = None) -> None:
    """Run programs start_k, start_k + jobs, … until the deadline; report through emit()."""
    with _campaign_gc():
        _worker_loop(wid, cfg, deadline, emit, start_k, progress)


def _worker_loop(wid: int, cfg: CampaignConfig, deadline: float, emit: Callable[[tuple], None],
                 start_k: int, progress: Any = None) -> None:
    stats: dict[str, int] = {}
    cpu0 = time.process_time()
    sig_seen: dict[str, int] = {}
    last = 0.0
    k = start_k

    def bump(key: str, n: int = 1) -> None:
        stats[key] = stats.get(key, 0) + n

    def cpu_used() -> float:
        # this worker, and the fresh `shape` processes it ran (check b's CLI share)
        return time.process_time() - cpu0 + commands_cpu()

    while time.time() < deadline:
        if cfg.max_programs is not None and k >= cfg.start + cfg.max_programs:
            break
        if progress is not None:
            progress.started(wid, k)
        case, choices = make_case(cfg.seed, k, cfg.errors, cfg.cuts)
        try:
            problem = case.harness_error()
        except ValueError as e:     # the printer refused the tree: a generator/printer issue
            problem = f"unprintable program: {e}"
            bump("unprintable")
        if problem is not None:
            bump("harness_errors")
            if stats["harness_errors"] <= 3:
                emit(("harness_error", wid, {"program": k, "problem": problem}))
            if "unprintable" in problem:
                k += cfg.jobs
                continue
        verdicts = run_case(case, cfg.checks, cfg.ref_vs, cfg.strict)
        if progress is not None:
            progress.finished(wid)
        bump("programs")
        if case._full is not None:     # the VM steps of the uninterrupted run (program size)
            bump("steps", case._full[1])
        for v in verdicts:
            bump(f"{v.check}:{v.status}")
            if v.units:
                bump(f"{v.check}:units", v.units)
        for v in verdicts:
            if not v.failed:
                continue
            bump("failures")
            sig_seen[v.signature] = sig_seen.get(v.signature, 0) + 1
            if sig_seen[v.signature] <= cfg.shrinks_per_signature:
                emit(("shrinking", wid, {"program": k, "signature": v.signature}))
                f = investigate(cfg.seed, k, case, choices, v, cfg.ref_vs, cfg.shrink_seconds,
                                cfg.save_dir)
                emit(("failure", wid, f))
            else:
                emit(("repeat", wid, {"program": k, "signature": v.signature}))
            break       # one investigation per program is enough
        now = time.time()
        if now - last > 0.5:
            last = now
            emit(("stats", wid, dict(stats), cpu_used()))
        k += cfg.jobs
    emit(("done", wid, dict(stats), cpu_used()))


class _SharedProgress:
    """What each worker is running right now (for the watchdog in the parent)."""

    def __init__(self, ctx: Any, jobs: int) -> None:
        self.started_at = ctx.Array("d", jobs, lock=False)
        self.program = ctx.Array("q", jobs, lock=False)

    def started(self, wid: int, k: int) -> None:
        self.program[wid] = k
        self.started_at[wid] = time.time()

    def finished(self, wid: int) -> None:
        self.started_at[wid] = 0.0


def _process_main(wid: int, cfg: CampaignConfig, deadline: float, queue: Any, start_k: int,
                  progress: Any) -> None:
    try:
        worker_loop(wid, cfg, deadline, queue.put, start_k, progress)
    except KeyboardInterrupt:
        pass


@dataclass
class Summary:
    config: CampaignConfig
    wall: float = 0.0
    cpu: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    harness_examples: list[dict] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    first_failure: Optional[float] = None    # seconds into the campaign
    failing: list[tuple[int, str]] = field(default_factory=list)   # (program, check:reason)

    @property
    def programs(self) -> int:
        return self.stats.get("programs", 0)

    @property
    def checks_run(self) -> int:
        return sum(v for k, v in self.stats.items() if k.endswith(":pass") or k.endswith(":fail"))

    @property
    def failure_count(self) -> int:
        return self.stats.get("failures", 0)

    def harness_error_share(self) -> float:
        n = self.programs + self.stats.get("unprintable", 0)
        return self.stats.get("harness_errors", 0) / n if n else 0.0

    def progress_line(self) -> str:
        rate = self.programs / self.wall if self.wall else 0.0
        return (f"[{self.wall:6.1f}s] programs {self.programs} ({rate:.1f}/s) | checks "
                f"{self.checks_run} | failures {self.failure_count} | harness errors "
                f"{self.stats.get('harness_errors', 0)}")

    def render(self) -> str:
        cfg = self.config
        mode = " (error-path programs)" if cfg.errors else ""
        lines = [f"shape fuzz: seed {cfg.seed}{mode}, {cfg.jobs} job(s), checks {cfg.checks}, "
                 f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU"]
        per_cpu = self.programs / self.cpu if self.cpu else 0.0
        lines.append(f"  programs: {self.programs} ({self.programs / max(self.wall, 1e-9):.1f}/s wall, "
                     f"{per_cpu:.1f}/s per CPU-second)")
        steps = self.stats.get("steps", 0)
        if steps:
            lines.append(f"  VM steps of the uninterrupted runs: {steps:,} "
                         f"({steps / max(self.programs, 1):.0f} per program, "
                         f"{steps / self.cpu if self.cpu else 0.0:,.0f} per CPU-second)")
        lines.append(f"  harness errors: {self.stats.get('harness_errors', 0)} "
                     f"({100 * self.harness_error_share():.2f}% of programs; target < 1%)")
        for c in cfg.checks:
            p, fl, sk, kn = (self.stats.get(f"{c}:{s}", 0) for s in ("pass", "fail", "skip", "known"))
            why = f" (skipped: {self.skipped[c]})" if sk and c in self.skipped else ""
            known = f", {kn} known divergences" if kn else ""
            units = self.stats.get(f"{c}:units", 0)
            counted = f" ({units:,} {CHECK_UNITS[c]})" if units else ""
            lines.append(f"  check {c} {CHECK_TITLES[c]}: {p} passed, {fl} failed{known}, "
                         f"{sk} skipped{why}{counted}")
        lines.append(f"  failures: {self.failure_count} ({len(self.failures)} investigated)")
        for ex in self.harness_examples[:3]:
            lines.append(f"  harness error in program {ex['program']}: {ex['problem']}")
        return "\n".join(lines)


def campaign(cfg: CampaignConfig, on_event: Optional[Callable[[str, Any], None]] = None,
             processes: bool = True) -> Summary:
    """Run a campaign; on_event("progress"|"failure"|"note", payload) is called as it goes."""
    notify = on_event or (lambda kind, payload: None)
    summary = Summary(cfg)
    avail = available_checks()
    summary.skipped = {c: avail[c] for c in cfg.checks if avail.get(c)}
    if cfg.ref_vs == "ref":
        summary.skipped.pop("a", None)
    t0 = time.time()
    deadline = t0 + cfg.seconds
    per_worker: dict[int, dict] = {}
    cpu: dict[int, float] = {}

    def absorb(msg: tuple) -> None:
        kind, wid = msg[0], msg[1]
        if kind in ("stats", "done"):
            per_worker[wid] = msg[2]
            cpu[wid] = msg[3]
            merged: dict[str, int] = {}
            for st in per_worker.values():
                for key, n in st.items():
                    merged[key] = merged.get(key, 0) + n
            summary.stats = merged
            if merged.get("failures") and summary.first_failure is None:
                summary.first_failure = time.time() - t0
            summary.cpu = sum(cpu.values())
            summary.wall = time.time() - t0
            notify("progress", summary)
        elif kind == "failure":
            if summary.first_failure is None:
                summary.first_failure = time.time() - t0
            summary.failures.append(msg[2])
            notify("failure", msg[2])
        elif kind == "harness_error":
            summary.harness_examples.append(msg[2])
        elif kind in ("shrinking", "repeat"):
            summary.failing.append((msg[2]["program"], msg[2]["signature"]))
            notify("note", f"worker {wid}: {kind} {msg[2]['signature']} (program {msg[2]['program']})")

    if not processes:
        worker_loop(0, cfg, deadline, absorb, cfg.start)
        summary.wall = time.time() - t0
        return summary

    import multiprocessing as mp
    import queue as queue_mod
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    q = ctx.Queue()
    progress = _SharedProgress(ctx, cfg.jobs)
    procs: dict[int, Any] = {}
    finished: set[int] = set()
    timeouts: dict[int, int] = {}

    def start(wid: int, k: int) -> None:
        progress.started_at[wid] = 0.0
        p = ctx.Process(target=_process_main, args=(wid, cfg, deadline, q, k, progress), daemon=True)
        p.start()
        procs[wid] = p

    for w in range(cfg.jobs):
        start(w, cfg.start + w)
    # the grace period leaves room for a shrink that started just before the deadline
    hard_stop = deadline + cfg.shrink_seconds + cfg.program_timeout + 30
    try:
        while len(finished) < cfg.jobs and time.time() < hard_stop:
            try:
                msg = q.get(timeout=0.25)
                absorb(msg)
                if msg[0] == "done":
                    finished.add(msg[1])
                continue
            except queue_mod.Empty:
                pass
            summary.wall = time.time() - t0
            notify("progress", summary)
            for w, p in list(procs.items()):
                if w in finished:
                    continue
                began = progress.started_at[w]
                if began and time.time() - began > cfg.program_timeout:
                    k = progress.program[w]
                    p.kill()
                    p.join()
                    case, _ = make_case(cfg.seed, k, cfg.errors, cfg.cuts)
                    f = Failure("timeout", "timeout", cfg.seed, k,
                                f"program {k} ran longer than {cfg.program_timeout:.0f} s "
                                f"(checks {cfg.checks})", case.source, errors=cfg.errors,
                                cuts=cfg.cuts)
                    summary.failures.append(f)
                    summary.failing.append((k, "timeout:timeout"))
                    if summary.first_failure is None:
                        summary.first_failure = time.time() - t0
                    summary.stats["failures"] = summary.stats.get("failures", 0) + 1
                    timeouts[w] = timeouts.get(w, 0) + 1
                    notify("failure", f)
                    # the killed worker's counts are lost; restart it after the program that hung
                    start(w, k + cfg.jobs)
                elif not p.is_alive() and w not in finished:
                    # died without saying goodbye (a crash in the interpreter): note and move on
                    p.join()
                    k = progress.program[w]
                    notify("note", f"worker {w} died (exit code {p.exitcode}) at program {k}")
                    start(w, k + cfg.jobs)
    finally:
        for p in procs.values():
            if p.is_alive():
                p.kill()
            p.join()
    summary.wall = time.time() - t0
    return summary


def replay(seed: int, k: int, checks: str, ref_vs: str = "vm", shrink_seconds: float = 0.0,
           save_dir: Optional[str] = None, strict: bool = False, errors: bool = False,
           cuts: int = CUT_POINTS) -> tuple[Case, list[Verdict], Optional[Failure]]:
    """Run program k of a seed again (and optionally shrink its first failure)."""
    case, choices = make_case(seed, k, errors, cuts)
    verdicts = run_case(case, checks, ref_vs, strict)
    failure = None
    bad = [v for v in verdicts if v.failed]
    if bad and (shrink_seconds > 0 or save_dir):
        failure = investigate(seed, k, case, choices, bad[0], ref_vs, shrink_seconds, save_dir)
    return case, verdicts, failure
