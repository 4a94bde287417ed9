"""The fuzzer's adapter layer: the only module that knows how to drive the engines.

Each capability is discovered at run time, so the harness keeps working while the VM and the
snapshot layer are still being built: a check whose capability is missing reports itself as
skipped with the reason, and starts running as soon as the API lands.

Capabilities
- ref            the reference evaluator (`shapelang.api.run(engine="ref")`) and its
                 resume oracle (`resume_at=k`).
- vm             `shapelang.vm.run_source` (check a).
- machine        the in-process VM machine: `Machine.run(max_steps)` stops at a safepoint,
                 `export_state()` / `Machine.from_state()` continue a state, and `on_snapshot`
                 sees every `snapshot()` event (checks b, c, d run in process).
- codec          an encoder/decoder for machine states (`state_codec()` below; check f, and the
                 state round trip used by b, c, d). Until it exists the round trip is a deep copy.
- cli            the real `shape` command with a store (`--snapshot-at`, `--resume`; the
                 fresh-process share of check b).
- recompile      recompile-and-resume with a new source and the reference oracle for it (check e).

Every result is normalised into an `Outcome`: stdout with snapshot ids masked, value (type and
display), error (kind, phase, message, line and column), exit code.
"""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

ID_RE = re.compile(r"[0-9a-f]{64}")
MASK = "<id>"
HANG_STEPS = 20_000_000     # an in-process VM run longer than this is reported as a `Hang`
HANG_SECONDS = 30.0         # the same for a run without a step budget (wall-clock)


def mask_ids(text: str) -> str:
    return ID_RE.sub(MASK, text)


@dataclass(frozen=True)
class Outcome:
    """What a run did. Every field is compared: an error's message and position are part of
    the language (the same mistake must be reported the same way by both engines)."""
    stdout: str
    value: Optional[tuple[str, str]]       # (type, display), None after an error or exit()
    error: Optional[tuple[str, str]]       # (kind, phase)
    message: str = ""
    exit_code: int = 0
    line: Optional[int] = None
    col: Optional[int] = None
    # The error's Shape call stack ((name, line, col), outermost first); None where the engine
    # reports none, or for a stack overflow (as deep as each engine's own limit). Compared by
    # diff_outcomes when both sides have one.
    stack: Optional[tuple] = field(default=None, compare=False)
    # The files the run left in its directory ((name, bytes), sorted by name), for programs of
    # the file family only (generator/files.py); None for every other run. Compared by
    # diff_outcomes when both sides have them: exactly-once outputs across a resume.
    files: Optional[tuple] = None

    @staticmethod
    def from_json(result: dict) -> "Outcome":
        value = result.get("value")
        err = result.get("error")
        return Outcome(
            stdout=mask_ids(result.get("stdout", "")),
            value=None if value is None else (value["type"], mask_ids(value["display"])),
            error=None if err is None else (err["kind"], err["phase"]),
            message="" if err is None else mask_ids(str(err.get("message", ""))),
            exit_code=int(result.get("exit_code", 0)),
            line=None if err is None else err.get("line"),
            col=None if err is None else err.get("col"),
            stack=None if err is None or err.get("stack") is None or err["kind"] == "StackOverflow"
            else tuple((f["name"], f["line"], f["col"]) for f in err["stack"]),
        )

    @property
    def position(self) -> str:
        if self.line is None:
            return "no position"
        return f"{self.line}:{self.col}"

    def describe(self) -> str:
        parts = []
        if self.error:
            parts.append(f"error {self.error[0]} ({self.error[1]}) at {self.position}: {self.message}")
        if self.value is not None:
            parts.append(f"value {self.value[0]} {self.value[1]}")
        parts.append(f"exit {self.exit_code}")
        return ", ".join(parts)


def diff_outcomes(expected: Outcome, actual: Outcome, names: tuple[str, str] = ("ref", "vm")) -> list[str]:
    """The fields that differ ("stdout", "value", "error" (kind, phase, message), "position",
    "exit") with a readable account."""
    out = []
    if expected.stdout != actual.stdout:
        import difflib
        d = difflib.unified_diff(expected.stdout.splitlines(), actual.stdout.splitlines(),
                                 names[0], names[1], lineterm="", n=2)
        out.append("stdout differs:\n" + "\n".join(list(d)[:60]))
    if expected.value != actual.value:
        out.append(f"value differs: {names[0]} {expected.value} vs {names[1]} {actual.value}")
    if (expected.error, expected.message) != (actual.error, actual.message):
        out.append(f"error differs: {names[0]} {expected.error} {expected.message!r} vs "
                   f"{names[1]} {actual.error} {actual.message!r}")
    elif (expected.line, expected.col) != (actual.line, actual.col):
        out.append(f"position differs: {names[0]} {expected.error[0] if expected.error else ''} "
                   f"at {expected.position} vs {names[1]} at {actual.position} "
                   f"({expected.message!r})")
    elif expected.stack is not None and actual.stack is not None and expected.stack != actual.stack:
        show = lambda st: ", ".join(f"{n} {ln}:{c}" for n, ln, c in st)  # noqa: E731
        out.append(f"call stack differs: {names[0]} {show(expected.stack)} vs {names[1]} "
                   f"{show(actual.stack)} ({expected.message!r})")
    if expected.exit_code != actual.exit_code:
        out.append(f"exit code differs: {names[0]} {expected.exit_code} vs {names[1]} {actual.exit_code}")
    if expected.files is not None and actual.files is not None and expected.files != actual.files:
        out.append("files differ:\n" + files_diff(expected.files, actual.files, names))
    return out


def files_diff(expected: tuple, actual: tuple, names: tuple[str, str]) -> str:
    """The files two runs left that differ, each with a unified diff of its text."""
    import difflib
    a, b = dict(expected), dict(actual)
    lines = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) == b.get(name):
            continue
        if name not in a or name not in b:
            lines.append(f"{name}: only in {names[0] if name in a else names[1]}")
            continue
        d = difflib.unified_diff(a[name].decode("utf-8", "replace").splitlines(),
                                 b[name].decode("utf-8", "replace").splitlines(),
                                 f"{names[0]} {name}", f"{names[1]} {name}", lineterm="", n=2)
        lines.append("\n".join(list(d)[:40]) or f"{name}: differs in line ends")
    return "\n".join(lines)


# ---------------------------------------------------------------- capabilities

class Unavailable(Exception):
    """A capability the harness needs is not in this build (the check is skipped)."""


def has_vm() -> bool:
    try:
        from shapelang import vm
        return callable(getattr(vm, "run_source", None))
    except Exception:
        return False


def has_machine() -> bool:
    try:
        from shapelang.vm.machine import Machine
        from shapelang.vm import compile_source  # noqa: F401
        return all(hasattr(Machine, a) for a in ("run", "export_state", "from_state"))
    except Exception:
        return False


def state_codec() -> Optional[tuple[Callable[..., bytes], Callable[[bytes], Any]]]:
    """(encode, decode) for machine states, through the snapshot layer's codec and registry, or
    None while that layer is missing. The document is the one a stored snapshot holds
    (SnapshotSession.encode): `encode(state, entry, prelude, source_id, io ledger)`; `decode`
    gives the whole document back."""
    try:
        from shapelang.vm import snapshot as S
        from shapelang.vm.codec import Decoder, Encoder
        reg = S.registry()
        version = S.STATE_VERSION
    except Exception:
        return None

    def encode(state: Any, entry: str = "", prelude: str = "", source: Optional[str] = None,
               io: Optional[dict] = None) -> bytes:
        doc = {"v": version, "entry": entry, "prelude": prelude, "source": source,
               "machine": state}
        if io is not None:
            doc["io"] = io
        return Encoder(reg).encode(doc)

    def decode(data: bytes) -> Any:
        return Decoder(reg).decode(data)

    return encode, decode


def has_codec() -> bool:
    return state_codec() is not None


def has_cli_resume() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("shapelang.cli") is not None
    except Exception:
        return False


def has_recompile() -> bool:
    try:
        import importlib.util
        return (importlib.util.find_spec("shapelang.vm.recompile") is not None
                and importlib.util.find_spec("shapelang.ref.oracle") is not None)
    except Exception:
        return False


def capabilities() -> dict[str, bool]:
    return {"ref": True, "vm": has_vm(), "machine": has_machine(), "codec": has_codec(),
            "cli": has_cli_resume(), "recompile": has_recompile()}


# ---------------------------------------------------------------- running programs

def run_json(source: str, engine: str, path: str = "fuzz.shape",
             options: Optional[dict] = None, files: bool = False) -> Outcome:
    """One run through the --json contract (in process); with `files`, in a fresh directory
    holding the fixtures (the reference side's room), with the files it left."""
    from shapelang import api
    if engine == "vm" and not has_vm():
        raise Unavailable("shapelang.vm.run_source is missing")
    return _in_room(files, lambda cwd: api.run(source, path=path, engine=engine, cwd=cwd,
                                                **(options or {})))


def parse(source: str, path: str = "fuzz.shape") -> Any:
    """The program's syntax tree. The checks parse each program once and hand the tree to every
    run (the engines only read it)."""
    from shapelang.ref.parser import parse as parse_source
    return parse_source(source, path)


def ref_run(source: str, path: str = "fuzz.shape", program: Any = None,
            files: bool = False) -> Outcome:
    """A run on the reference evaluator; `program` is the parsed `source` when the caller has
    it (the same run as `shape run --engine ref`, without parsing again). With `files` (a
    program of the file family) it runs in a fresh directory holding the fixtures, and the
    outcome has the files it left there."""
    return ref_resume(source, None, path, program, files)


def ref_resume(source: str, k: Optional[int], path: str = "fuzz.shape",
               program: Any = None, files: bool = False) -> Outcome:
    """The reference oracle: what resuming the k-th snapshot() event must print (and, with
    `files`, leave in the run's directory: the replay of the part before the event writes what
    the first run had written by then)."""
    from shapelang import api
    return _in_room(files, lambda cwd: api.run(source if program is None else program, path=path,
                                                engine="ref", resume_at=k, cwd=cwd))


def ref_recompile(old: Any, k: int, new: Any, path: str = "fuzz.shape",
                  files: bool = False, then: Optional[int] = None) -> Outcome:
    """The reference oracle for `shape --resume <event k of old> path` with the program `new`
    (each is source text or the parsed program); with `then=j`, for resuming the j-th snapshot
    that recompiled run takes."""
    from shapelang import api
    return _in_room(files, lambda cwd: api.run(new, path=path, engine="ref",
                                                recompile_from=(old, k), resume_at=then, cwd=cwd))


def _in_room(files: bool, run: Callable[[Optional[str]], Any]) -> Outcome:
    """`run(cwd)`'s outcome; with `files`, run in the reference side's room, made afresh, with
    the files it left there."""
    if not files:
        return Outcome.from_json(run(None).to_json())
    room = ROOMS["ref"]
    out = Outcome.from_json(run(room.fresh()).to_json())
    return dataclasses.replace(out, files=room.files())


# ---------------------------------------------------------------- the file family's directories

class FileRoom:
    """The directory where the runs of one side (the reference evaluator, the VM) of a program
    of the file family happen (generator/files.py). A run from the start gets it afresh, holding
    the fixtures only; a resumed run continues in it, as a resume on the same machine does. Made
    on first use (a campaign without such programs never makes one), one per worker process.

    `lineage` names the run from the start whose files the room holds now (a resumed run
    continues its lineage): a state can be resumed in the room as the run left it only when it
    comes from that lineage; else the room is first put back to the files at the state's export
    (MachineSession)."""

    def __init__(self) -> None:
        self.tmp: Any = None
        self.lineage = 0
        self._made = 0

    @property
    def path(self) -> str:
        if self.tmp is None:
            import tempfile
            self.tmp = tempfile.TemporaryDirectory(prefix="shape-fuzz-files-")
        return self.tmp.name

    def put(self, files: Iterable[tuple[str, bytes]]) -> str:
        """Make the room hold exactly `files`; returns its path."""
        from shapelang.ref.oracle import clear_directory
        root = self.path
        clear_directory(root)
        for name, data in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        return root

    def fresh(self) -> str:
        """The room with the fixtures only (a new lineage); returns its path."""
        from shapelang.fuzz.generator.files import FIXTURES
        self._made += 1
        self.lineage = self._made
        return self.put(FIXTURES.items())

    def spoil(self) -> str:
        """The room, for runs that may leave anything there (forged snapshots): no state is
        resumed in it as it is afterwards. Returns its path."""
        self.lineage = 0
        return self.path

    def files(self) -> tuple:
        return self.listing(self.path)

    @staticmethod
    def listing(root: str) -> tuple:
        """What a directory holds: (name, bytes) of every file, sorted by name (a directory or
        anything else a run made is listed with empty content, so it still shows)."""
        out = []
        for name in sorted(os.listdir(root)):
            p = os.path.join(root, name)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out.append((name, f.read()))
            else:
                out.append((name + "/", b""))
        return tuple(out)


ROOMS = {"ref": FileRoom(), "vm": FileRoom()}


def vm_run(source: str, path: str = "fuzz.shape") -> Outcome:
    return run_json(source, "vm", path)


# ---------------------------------------------------------------- the in-process machine

def _outcome_of(run: Callable[[list], Any]) -> tuple[Outcome, Any]:
    """Run `run(chunks)` and turn its value or exception into an Outcome (like `api.run`)."""
    from shapelang.api import value_json
    from shapelang.runtime.errors import ShapeError, ShapeExit
    try:
        from shapelang.vm.machine import STOPPED
    except Exception:
        STOPPED = object()
    chunks: list[str] = []
    result: dict = {"stdout": "", "value": None, "error": None, "exit_code": 0}
    ret: Any = None
    try:
        ret = run(chunks)
        if ret is not STOPPED:
            result["value"] = value_json(ret)
    except ShapeExit as e:
        result["exit_code"] = e.code
    except ShapeError as e:
        result["error"] = e.to_json()
        result["exit_code"] = 1
    except Exception as e:     # as `api.run` reports it (memory, Python stack, engine bugs)
        from shapelang.api import Error
        result["error"] = Error.of_host(e).to_json()
        result["exit_code"] = 1
    result["stdout"] = "".join(chunks)
    return Outcome.from_json(result), ret


def error_outcome(e: BaseException) -> Outcome:
    """The Outcome of a run that raised `e` before producing output (e.g. while compiling)."""
    def boom(chunks: list) -> Any:
        raise e
    if isinstance(e, Exception):
        return _outcome_of(boom)[0]
    return Outcome("", None, ("InternalError", "runtime"), f"{type(e).__name__}: {e}", 1)


@dataclass
class Resumable:
    """A decoded state of a program of the file family: the machine's state, the I/O ledger
    exported with it (None when the run had done no I/O yet) and the id a store gives it (the
    SHA-256 of its bytes), which names its output journal."""
    machine: Any
    io: Optional[dict]
    base: str


class MachineSession:
    """One program compiled once for the in-process VM checks (cut, resume, chains, codec,
    recompile, forged states). `program` is the parsed source when the caller has it.

    With `files` (a program of the file family, generator/files.py) every run happens in the VM
    side's room (`ROOMS["vm"]`): a run from the start in a fresh one holding the fixtures, with
    its own I/O context current while it runs; its outcome has the files it left. Wherever a
    state is exported (a cut, a snapshot() event) the I/O context is checkpointed as a stored
    snapshot checkpoints it (its ledger goes into the state's document, the contents of
    overwritten outputs and the output journal stay in the session: the store's part), and a
    resumed state first gets its I/O back through `runtime/stdlib/resume` (files checked against
    the ledger, outputs rewound), as `shape --resume` does. So a resume from any cut must leave
    the same files as the uninterrupted run: exactly-once."""

    def __init__(self, source: str, path: str = "fuzz.shape", program: Any = None,
                 files: bool = False) -> None:
        if not has_machine():
            raise Unavailable("the VM machine API (run(max_steps), export_state, from_state) is missing")
        from shapelang.vm.compiler import compile_program
        self.source = source
        self.path = path
        self.program = compile_program(program if program is not None else parse(source, path), path)
        self.codec = state_codec()
        self.files = files and self.codec is not None
        self.last_bytes: Optional[bytes] = None
        self._events: Optional[Outcome] = None
        self.event_ordinals: list[int] = []
        self.event_bytes: list[bytes] = []
        # the store's part of the file family's snapshots: blobs (overwritten outputs' contents,
        # journalled contents) and the output journal, by snapshot id
        self.io_blobs: dict[str, bytes] = {}
        self.journals: dict[str, list] = {}
        self._lineage_of: dict[str, int] = {}     # snapshot id -> the room's lineage then
        self._room_at: dict[str, tuple] = {}      # snapshot id -> the room's files then
        # VM runs from the start stopped after n steps (`cut`, `cuts`): n -> (the outcome so
        # far, the state's bytes, or None when the program ended first). A cut at the same n
        # gives the same output and bytes however it is run (a test checks `cuts` against
        # fresh `cut`s), so checks that cut where another check did (b, then f, g, h, j) decode
        # that state instead of running again. Not in files mode: there a run's room matters.
        self._cut_at: dict[int, tuple[Outcome, Optional[bytes]]] = {}

    @property
    def source_id(self) -> str:
        from shapelang.vm.codec import content_id
        return content_id(self.source.encode("utf-8"))

    # A state leaves the machine through the same path a stored snapshot takes: encoded as the
    # document a store holds (vm/snapshot.py, SnapshotSession.encode) and decoded by the codec.
    # Without a codec it is deep-copied, which still checks that export_state/from_state capture
    # everything and share nothing with the live machine.
    def encode(self, state: Any, io: Optional[dict] = None) -> bytes:
        assert self.codec is not None
        enc, _ = self.codec
        if isinstance(state, Resumable):
            state, io = state.machine, state.io
        return enc(state, self.program.entry, self.program.prelude, self.source_id, io)

    def decode(self, data: bytes) -> Any:
        assert self.codec is not None
        doc = self.codec[1](data)
        if not self.files:
            return doc["machine"]
        from shapelang.runtime.stdlib.context import sha256_hex
        return Resumable(doc["machine"], doc.get("io"), sha256_hex(data))

    def export(self, machine: Any, io: Any = None) -> bytes:
        """The state of `machine` as a store holds it; in files mode with its I/O context `io`
        checkpointed there (and the snapshot's id made the base of its output journal)."""
        if not self.files:
            return self.encode(machine.export_state())
        from shapelang.runtime.stdlib.context import sha256_hex
        cp = io.checkpoint()
        ledger = None
        if cp is not None:
            self.io_blobs.update(cp.new_blobs)
            ledger = cp.ledger
        data = self.encode(machine.export_state(), ledger)
        base = sha256_hex(data)
        room = ROOMS["vm"]
        self._lineage_of[base] = room.lineage
        self._room_at[base] = room.files()
        io.after_snapshot(base)
        return data

    def _keep(self, machine: Any, io: Any) -> Any:
        """The state of a stopped machine, round-tripped (check f re-encodes `last_bytes`)."""
        if self.codec is not None:
            self.last_bytes = self.export(machine, io)
            return self.decode(self.last_bytes)
        self.last_bytes = None
        return copy.deepcopy(machine.export_state())

    def _journal(self, base: str, record: dict, blobs: dict) -> None:
        self.io_blobs.update(blobs)
        self.journals.setdefault(base, []).append(record)

    def _fetch(self, blob_id: str) -> bytes:
        from shapelang.runtime.errors import ShapeError
        data = self.io_blobs.get(blob_id)
        if data is None:
            raise ShapeError("StoreError", f"Blob {blob_id[:12]} was never stored")
        return data

    def prepare_room(self, base: str) -> str:
        """Make the room fit a resume of snapshot `base`: as the run left it when the room still
        holds that run's lineage (the outputs then hold what it wrote after the snapshot, which
        the resume must rewind), else the files at the snapshot. Returns the room's path."""
        room = ROOMS["vm"]
        lineage = self._lineage_of.get(base)
        if lineage is not None and lineage != room.lineage:
            room.put(self._room_at[base])
            room.lineage = lineage
        return room.path

    def _io_for(self, state: Any) -> Any:
        """The I/O context of a run from the start (state None: a fresh room) or of a resumed
        state (its I/O restored from its ledger and journal, the outputs rewound)."""
        from shapelang.runtime.stdlib.context import IOContext
        from shapelang.runtime.stdlib.resume import (links_in, load_ledger, resume_context,
                                                      walk_journal)
        room = ROOMS["vm"]
        if state is None:
            io = IOContext(cwd=room.fresh(), argv=[self.path])
        else:
            cwd = self.prepare_room(state.base)
            ledger = None if state.io is None else load_ledger(state.io, state.base)
            io = resume_context(ledger, self._fetch,
                                walk_journal(state.base, lambda b: self.journals.get(b, []),
                                             lambda: links_in(self.journals)),
                                argv=[self.path], cwd=cwd)
            io.after_snapshot(state.base)
        io.journal = self._journal
        return io

    def _machine(self, out: list, state: Any = None, on_snapshot: Any = None,
                 generic: bool = False, jit: Optional[str] = None) -> Any:
        """A machine for the program (or continuing `state`); `generic` threads its code with the
        generic templates only (the VM's switch that checks its fast paths, issue 11 item 5);
        `jit` is the JIT tier's mode (vm/jit/: "off", "on", "force"; None: the default)."""
        from shapelang.vm.machine import Machine
        if state is None:
            return Machine(self.program, out=out, on_snapshot=on_snapshot, generic=generic,
                           jit=jit)
        if isinstance(state, Resumable):
            state = state.machine
        return Machine.from_state(self.program, state, out=out, on_snapshot=on_snapshot,
                                  generic=generic, jit=jit)

    @staticmethod
    def _go(machine: Any, budget: int, io: Any) -> Any:
        """Run `machine` for at most `budget` steps, with `io` current when there is one."""
        if io is None:
            return machine.run(budget)
        from shapelang.runtime.stdlib.context import running
        with running(io):
            return machine.run(budget)

    def _with_files(self, out: Outcome) -> Outcome:
        return dataclasses.replace(out, files=ROOMS["vm"].files()) if self.files else out

    def _run(self, state: Any, stop_after: Optional[int], on_snapshot: Any = None,
             generic: bool = False, jit: Optional[str] = None,
             budget: bool = True) -> tuple[Outcome, Any, Any]:
        """Run from the start (state None) or from a state. With stop_after, stop after that many
        steps; without it, run to the end, where a run longer than HANG_STEPS is a `Hang` (with
        `budget=False`, one longer than HANG_SECONDS: no step budget at all)."""
        from shapelang.vm.machine import STOPPED
        box: dict = {}

        def go(chunks: list) -> Any:
            io = box["io"] = self._io_for(state) if self.files else None
            m = self._machine(chunks, state=state, on_snapshot=on_snapshot, generic=generic,
                              jit=jit)
            box["m"] = m
            if budget or stop_after is not None:
                return self._go(m, HANG_STEPS if stop_after is None else stop_after, io)
            timer = threading.Timer(HANG_SECONDS, m.request_stop)
            timer.start()
            try:
                return self._go(m, None, io)
            finally:
                timer.cancel()
        out, ret = _outcome_of(go)
        m = box.get("m")
        if ret is STOPPED and stop_after is None:
            limit = f"{HANG_STEPS} steps" if budget else f"{HANG_SECONDS:g} s"
            out = Outcome(out.stdout, None, ("Hang", "runtime"), f"no end after {limit}", 1)
            return self._with_files(out), None, m
        if ret is STOPPED:
            return out, self._keep(m, box.get("io")), m
        return self._with_files(out), None, m

    def full(self, on_snapshot: Any = None, generic: bool = False,
             jit: Optional[str] = None, budget: bool = True) -> tuple[Outcome, int]:
        """Uninterrupted run; also returns the number of steps it took. `budget=False` runs with
        no step budget, as `shape run` does: the JIT then runs the code it runs in production
        (inlined callees, unrolled calls), not the variant that counts steps for a budget."""
        out, _, m = self._run(None, None, on_snapshot, generic, jit, budget)
        return out, (m.steps if m is not None else 0)

    def snapshots(self, limit: int = 64) -> tuple[Outcome, int]:
        """The uninterrupted run, keeping the encoded state of every snapshot() event (at most
        `limit`): `event_bytes[k]` is what a store holds for event k. Run once per program; the
        outcome and the number of events kept are returned."""
        if self._events is not None:
            return self._events, len(self.event_bytes)
        from shapelang.runtime.stdlib.context import current

        def hook(machine: Any) -> str:
            from shapelang.runtime.snapshots import placeholder_id
            k = machine.snapshot_count
            if len(self.event_bytes) < limit:
                self.event_bytes.append(self.export(machine, current() if self.files else None))
                self.event_ordinals.append(machine.pending_ordinal)
            return placeholder_id(k)
        self._events, _ = self.full(on_snapshot=hook)
        return self._events, len(self.event_bytes)

    def event_state(self, k: int) -> Any:
        """A fresh decoded copy of the state of snapshot() event k (a run consumes the copy)."""
        return self.decode(self.event_bytes[k])

    def resume(self, state: Any, stop_after: Optional[int] = None,
               generic: bool = False, jit: Optional[str] = None) -> tuple[Outcome, Any]:
        """Continue a state; with stop_after, stop there and also return the new state (None when
        the program ended first)."""
        out, st, _ = self._run(state, stop_after, generic=generic, jit=jit)
        return out, st

    def cut(self, steps: int, jit: Optional[str] = None) -> tuple[Outcome, Any]:
        """Run from the start for `steps` steps: the output so far and the state (None when the
        program ended first). On the VM (`jit` None), a cut made before at `steps` is not run
        again: its state is decoded afresh (and is `last_bytes` again)."""
        if jit is None and steps in self._cut_at:
            out, data = self._cut_at[steps]
            if data is None:
                return out, None
            self.last_bytes = data
            return out, self.decode(data)
        out, st, _ = self._run(None, steps, jit=jit)
        if jit is None:
            self._remember_cut(steps, out, st)
        return out, st

    def _remember_cut(self, steps: int, out: Outcome, state: Any) -> None:
        if not self.files and self.codec is not None:
            self._cut_at[steps] = (out, None if state is None else self.last_bytes)

    def cuts(self, points: list[int]) -> Iterator[tuple[int, Outcome, Any]]:
        """One run from the start, stopped after each of `points` steps (ascending): yields
        (n, the outcome so far, the round-tripped state there, or None when the program ended
        first). The same as `cut(n)` for each n, in one run: a stopped machine continues where it
        stopped, and exporting a state does not disturb it. (In files mode the run's files are
        in the room: take every cut before resuming one.)"""
        from shapelang.vm.machine import STOPPED
        box: dict = {}
        so_far: list[str] = []
        done = 0
        for n in points:
            if box.get("ended") is not None:
                yield n, box["ended"], None
                continue

            def go(chunks: list, budget: int = n - done) -> Any:
                chunks.extend(so_far)
                m = box.get("m")
                if m is None:
                    box["io"] = self._io_for(None) if self.files else None
                    m = box["m"] = self._machine(chunks)
                else:
                    m.out = chunks
                return self._go(m, budget, box["io"])
            out, ret = _outcome_of(go)
            so_far = [out.stdout] if out.stdout else []
            done = n
            if ret is STOPPED:
                state = self._keep(box["m"], box["io"])
                self._remember_cut(n, out, state)
                yield n, out, state
            else:
                box["ended"] = out = self._with_files(out)
                self._remember_cut(n, out, None)
                yield n, out, None

    def store_event(self, k: int) -> tuple[str, str]:
        """Store snapshot() event k the way a run with a store does (SnapshotSession.save: the
        state, the program's blobs and its source) in the scratch store: (store path, id)."""
        blobs = dict(self.program.blob_bytes())
        blobs[self.source_id] = self.source.encode("utf-8")
        state = self.decode(self.event_bytes[k])
        if isinstance(state, Resumable) and state.io is not None:
            # the contents its I/O ledger names belong to the snapshot (SnapshotSession.save)
            from shapelang.runtime.stdlib.ledger import Ledger
            for bid in Ledger.load(state.io).blob_ids():
                blobs[bid] = self.io_blobs[bid]
        path, sid = SCRATCH.put(self.event_bytes[k], blobs, self.path, self.io_blobs)
        for base, records in self.journals.items():
            for rec in records:
                SCRATCH.store.journal_add(base, rec, [rec["pre"]] if rec.get("pre") else [])
        return path, sid

    def stored_code_problems(self) -> list[str]:
        """The program's code as a stored snapshot holds it: every blob must load back through
        the store's validation (`snapshot.validated_blob`, what `shape --resume` runs) to the
        same bytes. The in-process checks never load code that way. (A blob id validated once
        in this process, such as the prelude's, is not validated again: the id names the
        content.)"""
        from shapelang.vm import snapshot as S
        from shapelang.vm.blob import BlobError
        problems = []
        for bid, b in self.program.blobs.items():
            data = b.to_bytes()
            try:
                again = S.validated_blob(bid, data).to_bytes()
            except BlobError as e:
                problems.append(f"blob {bid[:12]} ({getattr(b, 'name', None) or 'module'}): "
                                f"{type(e).__name__}: {e}")
                continue
            if again != data:
                problems.append(f"blob {bid[:12]}: loading changed its bytes")
        return problems

    def reencode(self, data: bytes) -> bytes:
        """encode(decode(data)): check f wants it to equal `data`."""
        if self.codec is None:
            raise Unavailable("no state codec (shapelang.vm.snapshot registry / vm.codec)")
        return self.encode(self.decode(data))


def concat(before: Outcome, after: Outcome) -> Outcome:
    """The outcome of a run cut in two: output of both parts, the end (and the files) of the
    second."""
    return Outcome(before.stdout + after.stdout, after.value, after.error, after.message,
                   after.exit_code, after.line, after.col, after.stack, after.files)


# ---------------------------------------------------------------- recompile-and-resume (store based)

def vm_recompile(session: MachineSession, k: int, new_source: str) -> Outcome:
    """Recompile-and-resume of the program's k-th snapshot() event (stored as a run with a store
    stores it) in new_source, through the engine API (`api.resume(id, source)`). The output is
    that of the resumed run only (what the oracle predicts)."""
    return vm_recompile_run(session, k, new_source)[0]


def vm_recompile_run(session: MachineSession, k: int, new_source: str) -> tuple[Outcome, list, str]:
    """`vm_recompile`'s outcome, with the ids of the snapshots the recompiled run stored (in
    order) and the store that holds them."""
    from shapelang import api
    session.snapshots()
    if k >= len(session.event_bytes):
        return Outcome("", None, ("ResumeError", "resume"),
                       f"The program takes fewer than {k + 1} snapshot(s)", 1), [], ""
    store, sid = session.store_event(k)
    cwd = session.prepare_room(sid) if session.files else None
    result = api.resume(sid, new_source, path=session.path, store=store, cwd=cwd)
    out = session._with_files(Outcome.from_json(result.to_json()))
    if session.files:
        ROOMS["vm"].spoil()     # the edited program wrote what the run did not
    return out, list(result.snapshots), store


def vm_resume_stored(sid: str, store: str, path: str) -> Outcome:
    """`shape --resume sid` (a full resume, on the code stored with it) through the engine
    API."""
    from shapelang import api
    return Outcome.from_json(api.resume(sid, path=path, store=store).to_json())


# ---------------------------------------------------------------- the real CLI (fresh processes)

def cli_run(args: list[str], env: Optional[dict] = None, timeout: float = 60,
            cwd: Optional[str] = None) -> "Completed":
    """`shape ARGS` in a fresh process (a fork of this worker's zygote, processes.py), in the
    directory `cwd` (default: this process's)."""
    from shapelang.fuzz.processes import zygote
    return zygote().run(args, env, timeout, cwd=cwd)


# ---------------------------------------------------------------- stored snapshots

class ScratchStore:
    """A snapshot store for the checks that go through one (recompile, forged states). Stores are
    content-addressed, so the programs of a worker share one, kept open for its writes (the
    resumes open it by path, as `shape --resume --store` does); it is started afresh every
    `RENEW` uses so that it does not grow without bound."""

    RENEW = 500

    def __init__(self) -> None:
        self.tmp: Any = None
        self.store: Any = None
        self.uses = 0
        self.stored: set[str] = set()     # blob ids already put into the current store

    def _open(self) -> tuple[str, Any]:
        import tempfile
        from shapelang.vm.store import open_store
        if self.tmp is None or self.uses >= self.RENEW:
            self.close()
            self.tmp = tempfile.TemporaryDirectory(prefix="shape-fuzz-store-")
            self.store = open_store(os.path.join(self.tmp.name, "store.db"))
            self.uses = 0
            self.stored = set()
        self.uses += 1
        return os.path.join(self.tmp.name, "store.db"), self.store

    def put(self, state: bytes, blobs: dict[str, bytes], script: str = "fuzz.shape",
            data: Optional[dict[str, bytes]] = None) -> tuple[str, str]:
        """Store a snapshot (its state bytes and every blob it runs; `data`: blobs stored beside
        it, such as the contents its I/O ledger and output journal name); returns (store path,
        id)."""
        path, store = self._open()
        if data:
            store.put_blobs(data)
        # the programs of a worker share most blobs (the prelude's, and forged snapshots share
        # the program's): only new ones are written; the store still checks that every blob the
        # snapshot lists is there
        new = {bid: code for bid, code in blobs.items() if bid not in self.stored}
        sid = store.put_snapshot(state, blobs.keys(), script, "call", None, blobs=new)
        self.stored.update(new)
        return path, sid

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


SCRATCH = ScratchStore()


def resume_stored(store: str, sid: str, budget: int,
                  cwd: Optional[str] = None,
                  jit: Optional[str] = None) -> tuple[Optional[Any], str]:
    """Resume a stored snapshot through the engine API (what `shape --resume ID --snapshot-at
    BUDGET` runs), output discarded: (the api.Result, or None when an exception escaped the API;
    the traceback text then). `jit`: the JIT's mode for the resumed run (None: the VM alone)."""
    import traceback
    from shapelang import api
    from shapelang.vm.jit import jit_mode
    try:
        if jit is None:
            return api.resume(sid, store=store, snapshot_at=budget, write=lambda s: None,
                              cwd=cwd), ""
        with jit_mode(jit):
            return api.resume(sid, store=store, snapshot_at=budget, engine="jit",
                              write=lambda s: None, cwd=cwd), ""
    except Exception:
        return None, traceback.format_exc()
