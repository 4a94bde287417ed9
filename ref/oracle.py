"""The snapshot oracle: what resuming a snapshot must print, computed by the reference evaluator.

The reference evaluator keeps no serialisable state, so it answers by replaying. Its hook for
`snapshot()` calls (ref/evaluator.py `SnapshotEvents`) is replaced here:

- Full resume. With `resume_at=k` the program is replayed deterministically with its output
  suppressed until the k-th `snapshot()` event (events count calls in execution order, from 0),
  which returns `Snapshot::Resumed`; the output from there on is what resuming the k-th snapshot
  must print. A chain of resumes (resume event k, then a snapshot the resumed run takes, …) is
  `resume_at=(k, k2, …)` in absolute event numbers: each of those events returns `Resumed`, and
  output starts at the last.
- Recompile-and-resume. With `recompile_from=(old_source, k)`, the old program runs until its
  k-th event and is captured there (call site ordinal, occurrence, the cells of the top-level
  variables visible at the site, the state of the enclosing top-level `for` loops); after the
  shared rules of ref/resume.py accept the edit, the new program is replayed silently until the
  same site's same occurrence, where the captured cells and loop states are put in place and the
  call returns `Resumed`. Adding `resume_at=j` resumes, in turn, the j-th snapshot that this
  recompiled run takes (counted from 0 after the point it continues from): output starts there;
  `resume_at=(j, j2, …)` goes on as a chain of resumes does (conformance: `recompile K/J/…`).

Files (spec/io.md): the replay writes its files as the first run did, in a directory as the
first run started. Whether the files allow a resume at all is `resume_io_check`'s answer, which
also leaves the first run's directory as the resume finds it (someone else's changes made,
outputs rewound); `at_resume`, called when the replay reaches the point it continues from, is
where the replay's directory takes those files (`take_files`).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

from shapelang.ref import ast as A
from shapelang.ref.evaluator import (DEFAULT_MAX_DEPTH, Env, Interpreter, SnapshotEvents, check,
                                     run_deep)
from shapelang.ref.parser import parse
from shapelang.ref.resolver import Binding, Resolution
from shapelang.ref.resume import NON_EMPTY_STACK, plan
from shapelang.runtime.errors import ShapeError, ShapeExit
from shapelang.runtime.snapshots import SNAPSHOT_RESUMED
from shapelang.runtime.stdlib.context import current as current_io


def fewer_snapshots(n: int) -> ShapeError:
    """Asked to resume the snapshot event n - 1 of a program that takes fewer than n."""
    return ShapeError("ResumeError", f"The program takes fewer than {n} snapshot(s)",
                      phase="resume")


class Captured(Exception):
    """The run reached the snapshot event it was asked to capture."""

    def __init__(self, ordinal: int, occurrence: int, depth: int, values: dict) -> None:
        self.ordinal = ordinal
        self.occurrence = occurrence
        self.depth = depth
        self.values = values


class OracleEvents(SnapshotEvents):
    """Snapshot events of a replay: suppresses output until the run reaches the point it
    continues from, and captures or restores the state at a call site."""

    def __init__(self, write: Callable[[str], None], resume_at: tuple[int, ...] = (),
                 capture_at: Optional[int] = None, replay: Optional[Captured] = None,
                 at_resume: Optional[Callable[[], None]] = None,
                 then_resume: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.at_resume = at_resume
        self.resume_events = frozenset(resume_at)
        self.resume_last = resume_at[-1] if resume_at else None
        self.capture_at = capture_at
        self.replay = replay
        # after the replay: the snapshot event of the recompiled run to resume, counted from 0
        # at the point the replay continues from (the events before it are the old run's), then
        # the one of that resumed run, and so on (a chain of workers)
        self.then_resume = then_resume
        self.suppress = bool(resume_at) or replay is not None
        self.ordinal_counts: dict[int, int] = {}
        self.for_states: list[list] = []   # [walked, index] of the active top-level for loops
        self._write = write

    def write(self, text: str) -> None:
        if not self.suppress:
            self._write(text)

    def loop_started(self, interp: Interpreter, state: list) -> None:
        if interp.depth == 0:
            self.for_states.append(state)

    def loop_ended(self, interp: Interpreter, state: list) -> None:
        if interp.depth == 0:
            self.for_states.pop()

    def snapshot(self, interp: Interpreter, ordinal: int, call: Any, env: Env) -> Any:
        k = self.events
        self.events += 1
        occurrence = self.ordinal_counts.get(ordinal, 0)
        self.ordinal_counts[ordinal] = occurrence + 1
        if k == self.capture_at:
            values = frame_cells(interp, call, env) if interp.depth == 0 else {}
            values["$for"] = [list(st) for st in self.for_states] if interp.depth == 0 else []
            raise Captured(ordinal, occurrence, interp.depth, values)
        replay = self.replay
        if replay is not None and replay.ordinal == ordinal and replay.occurrence == occurrence:
            saved_loops = replay.values.get("$for", [])
            if len(saved_loops) == len(self.for_states):
                for st, saved in zip(self.for_states, saved_loops):
                    st[0], st[1] = saved[0], saved[1]
            restore_frame_cells(interp, call, env, replay.values)
            self.replay = None
            if not self.then_resume:
                self.resumed()
                return SNAPSHOT_RESUMED
            chain = [k + 1 + self.then_resume[0]]
            for j in self.then_resume[1:]:
                chain.append(chain[-1] + 1 + j)
            self.resume_events, self.resume_last = frozenset(chain), chain[-1]
            return SNAPSHOT_RESUMED
        if k in self.resume_events:
            if k == self.resume_last:
                self.resumed()
            return SNAPSHOT_RESUMED
        return self.taken(k)

    def resumed(self) -> None:
        """The replay is where the resumed run continues: its output counts from here."""
        self.suppress = False
        if self.at_resume is not None:
            self.at_resume()


def frame_cells(interp: Interpreter, call: Any, env: Env) -> dict:
    """The cells of the top-level variables visible at a snapshot site, by resume key."""
    out = {}
    for key, b in interp.main_res.frame_variables(call).items():
        c = env.cell(b)
        if c is not None:
            out[key] = c
    return out


def restore_frame_cells(interp: Interpreter, call: Any, env: Env, cells: dict) -> None:
    # Variables of the saved run keep their cells (closures of the saved run still share them);
    # variables only the new source has are uninitialised (the VM cannot run the new code before
    # the boundary either).
    for key, b in interp.main_res.frame_variables(call).items():
        holder = env
        while holder is not None and b not in holder.vars:
            holder = holder.parent
        target = holder if holder is not None else _env_of_scope(env, b)
        if key in cells:
            if target is not None:
                target.vars[b] = cells[key]
        elif holder is not None:
            del holder.vars[b]


def _env_of_scope(env: Env, b: Binding) -> Optional[Env]:
    # A variable the new code has not initialised yet has no entry; its scope's env is the one
    # at the same depth of the chain as the scope is below the module.
    depth, scope = 0, b.scope
    while scope.kind != "module":
        depth += 1
        scope = scope.parent
    chain = []
    while env is not None:
        chain.append(env)
        env = env.parent
    chain.reverse()
    return chain[depth] if depth < len(chain) else None


def _run(program: A.Program, res: Resolution, path: Optional[str], max_depth: int,
         events: OracleEvents) -> Any:
    interp = Interpreter(events.write, path, max_depth, events)
    return run_deep(lambda: interp.run(program, res))


def run_source(source: str, write: Callable[[str], None], path: Optional[str] = None,
               max_depth: int = DEFAULT_MAX_DEPTH,
               resume_at: Optional[int | tuple[int, ...]] = None,
               recompile_from: Optional[tuple[str | A.Program, int]] = None,
               at_resume: Optional[Callable[[], None]] = None) -> Any:
    """The output of a resume: `resume_at=k` (or a chain `(k, k2, …)`) gives what resuming the
    program's k-th snapshot event prints; `recompile_from=(old_source, k)` what `shape --resume
    <k-th snapshot of old_source> path` prints with this source (recompile-and-resume);
    `old_source` may be given parsed. With both, `resume_at=j` (or `(j, j2, …)`) goes on from
    the recompiled run: what resuming its j-th snapshot event (counted from the resume, as a
    `shape --resume` chain counts) prints. `at_resume` is called when the replay reaches the
    point the resumed run continues from."""
    return run_program(parse(source, path), write, path, max_depth, resume_at, recompile_from,
                       at_resume)


def run_program(program: A.Program, write: Callable[[str], None], path: Optional[str] = None,
                max_depth: int = DEFAULT_MAX_DEPTH,
                resume_at: Optional[int | tuple[int, ...]] = None,
                recompile_from: Optional[tuple[str | A.Program, int]] = None,
                at_resume: Optional[Callable[[], None]] = None) -> Any:
    """`run_source` for a parsed program."""
    if recompile_from is None:
        chain = (resume_at,) if isinstance(resume_at, int) else tuple(resume_at or ())
        events = OracleEvents(write, resume_at=chain, at_resume=at_resume)
        try:
            return _run(program, check(program, path), path, max_depth, events)
        finally:
            if chain and events.events <= chain[-1]:
                # Asked to resume a snapshot this program never takes.
                raise fewer_snapshots(chain[-1] + 1)
    old_source, k = recompile_from
    old = old_source if isinstance(old_source, A.Program) else parse(old_source, path)
    old_res = check(old, path)
    try:
        _capture(old, old_res, path, max_depth, k)
    except Captured as c:
        captured = c
    else:
        raise fewer_snapshots(k + 1)
    if captured.depth > 0:
        raise ShapeError("ResumeError", NON_EMPTY_STACK, phase="resume")
    res = check(program, path)
    plan(old, old_res, program, res, captured.ordinal)
    then = (resume_at,) if isinstance(resume_at, int) else tuple(resume_at or ())
    events = OracleEvents(write, replay=captured, at_resume=at_resume, then_resume=then)
    value = _run(program, res, path, max_depth, events)
    if events.replay is not None:
        raise ShapeError("ResumeError", f"Recompiled source never reaches snapshot "
                         f"#{captured.ordinal} the way the saved run did; cannot continue safely",
                         phase="resume")
    if then and events.events <= events.resume_last:
        raise fewer_snapshots(then[-1] + 1)
    return value


def _capture(old: A.Program, old_res: Resolution, path: Optional[str], max_depth: int,
             k: int) -> None:
    """Run `old` to its k-th snapshot event (raises Captured there), then put every file the run
    changed on the way back as it was before the run: the replay of the recompiled program that
    follows writes them again, as the first run did (else its writes were made twice)."""
    from shapelang.runtime.stdlib.context import IOContext, running
    from shapelang.runtime.stdlib.ledger import Ledger
    from shapelang.runtime.stdlib.resume import restore
    outer = current_io()
    io = IOContext(cwd=outer.ledger.cwd, argv=outer.ledger.argv, environ=outer.environ)
    records: list[dict] = []
    blobs: dict[str, bytes] = {}

    def note(base: str, record: dict, data: dict) -> None:
        blobs.update(data)
        records.append(record)
    io.journal = note
    io.after_snapshot("start")    # every first change of a file is journalled under the start
    try:
        with running(io):
            _run(old, old_res, path, max_depth, OracleEvents(lambda s: None, capture_at=k))
    finally:
        restore(Ledger(cwd=io.ledger.cwd), blobs.__getitem__, journal=records)


# ---------------------------------------------------------------- I/O across a resume

class _LedgerAt(SnapshotEvents):
    """A first run that keeps its I/O checkpoint at snapshot event `at`, with every blob its
    checkpoints handed over until then (what the store would hold)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.checkpoint: Any = None
        self.blobs: dict[str, bytes] = {}
        self.journals: dict[str, list] = {}      # the output journal, by snapshot event

    def note(self, base: str, record: dict, blobs: dict) -> None:
        self.blobs.update(blobs)
        self.journals.setdefault(base, []).append(record)

    def snapshot(self, interp: Interpreter, ordinal: int, call: Any, env: Env) -> Any:
        k = self.events
        value = super().snapshot(interp, ordinal, call, env)
        io = current_io()
        io.journal = self.note
        cp = io.checkpoint()
        if cp is not None:
            self.blobs.update(cp.new_blobs)
        if k == self.at:
            self.checkpoint = cp
        io.after_snapshot(f"event {k}")
        return value


def resume_io_check(program: A.Program, path: Optional[str], event: int,
                    max_depth: int = DEFAULT_MAX_DEPTH,
                    changes: Sequence[tuple[str, Optional[str]]] = ()) -> None:
    """What the files say about resuming snapshot event `event` (spec/io.md): the program runs
    to its end as the run that took the snapshot does (output discarded, in the current I/O
    context's directory), then its files are checked against its I/O ledger at that event as a
    resume checks them, raising the ResumeError that resume would end with. The outputs are left
    rewound, as the resume leaves them. (What the resumed run then prints and writes is the
    replay's: `run_program(resume_at=event)` in a directory as the first run started.)"""
    from shapelang.runtime.stdlib.ledger import Ledger
    from shapelang.runtime.stdlib.resume import resume_context, walk_journal
    events = _LedgerAt(event)
    interp = Interpreter(lambda s: None, path, max_depth, events)
    res = check(program, path)
    try:
        run_deep(lambda: interp.run(program, res))
    except (ShapeError, ShapeExit):
        pass  # the first run's own end does not matter, only what it left
    apply_changes(current_io().ledger.cwd, changes)
    if events.events <= event:
        return      # the replay reports that the program takes fewer snapshots

    def fetch(blob_id: str) -> bytes:
        if blob_id not in events.blobs:
            raise ShapeError("StoreError", f"The first run kept no data {blob_id[:12]}")
        return events.blobs[blob_id]
    cp = events.checkpoint
    resume_context(None if cp is None else Ledger.load(cp.ledger), fetch,
                   walk_journal(f"event {event}", lambda b: events.journals.get(b, [])),
                   allow_changed_inputs=current_io().allow_changed_inputs)


def take_files(directory: str, source: str) -> None:
    """Make `directory` hold what `source` holds: its files are removed, `source`'s copied in."""
    import shutil
    clear_directory(directory)
    shutil.copytree(source, directory, symlinks=True, dirs_exist_ok=True)


def clear_directory(directory: str) -> None:
    """Remove everything `directory` holds (not the directory)."""
    import shutil
    for name in os.listdir(directory):
        p = os.path.join(directory, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)


def apply_changes(directory: str, changes: Sequence[tuple[str, Optional[str]]]) -> None:
    """What someone else does to a run's directory between a snapshot and its resume: write each
    file (name relative to `directory`, UTF-8 text), or delete it (None)."""
    for name, content in changes:
        target = os.path.join(directory, name)
        if content is None:
            if os.path.lexists(target):
                os.remove(target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(content.encode("utf-8"))
