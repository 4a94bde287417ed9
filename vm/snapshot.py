"""Snapshots of the VM: what a snapshot is, how it is stored, and how a run continues from one.

A snapshot is the document
    {"v": STATE_VERSION, "entry": module blob id, "prelude": prelude blob id,
     "source": id of the source-text blob or None, "machine": Machine.export_state(),
     "io": the run's I/O ledger (only for a run that did I/O; spec/io.md)}
encoded by `vm/codec.py`; its id is the SHA-256 of those bytes. The function blobs it runs and the
source text are stored beside it, content-addressed, so a second snapshot of the same program adds
only its state. Loading checks every hash (the store), decodes strictly (the codec), re-validates
every blob (`Blob.from_bytes`) and checks the state against its code (`vm/state_check.py`: the
call stack, what each register holds at its frame's position, the form of every value), before a
machine is built from it. Nothing in a snapshot is ever executed as Python.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from shapelang.runtime import stdlib, values as V
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.context import IOContext
from shapelang.vm import frame as F
from shapelang.vm import objects as O
from shapelang.vm.blob import Blob, BlobError, Program
from shapelang.vm.bounded import Bounded
from shapelang.vm.machine import DEFAULT_MAX_DEPTH, Machine
from shapelang.vm.objects import BUILTIN_NAMES, builtin_value
from shapelang.vm.state_check import check_state
from shapelang.vm.verify import check_program

# The codec (msgpack) and the store (sqlite-utils, psycopg) are imported when a snapshot is first
# taken or loaded: most runs take none, and `shape hello.shape` should start quickly.
if TYPE_CHECKING:
    from shapelang.runtime.stdlib.context import Checkpoint
    from shapelang.runtime.stdlib.ledger import Ledger
    from shapelang.vm.codec import Registry
    from shapelang.vm.store import SnapshotStore

STATE_VERSION = 1

_REGISTRY: Optional[Registry] = None


def registry() -> Registry:
    """What a snapshot may contain: the machine's record types and its fixed singletons."""
    global _REGISTRY
    if _REGISTRY is None:
        from shapelang.vm.codec import Registry
        reg = Registry()
        for cls, fields in O.RECORDS + stdlib.records():
            reg.record(cls, fields)
        reg.constant("unit", V.UNIT)
        reg.constant("uninit", O.UNINIT)
        reg.constant("boolkey:true", V._bool_key(True))
        reg.constant("boolkey:false", V._bool_key(False))
        for name in sorted(BUILTIN_NAMES):
            reg.constant("builtin:" + name, builtin_value(name))
        _REGISTRY = reg
    return _REGISTRY


def resume_error(message: str) -> ShapeError:
    return ShapeError("ResumeError", message, phase="resume")


# ---------------------------------------------------------------- taking snapshots

class SnapshotSession:
    """Saves the snapshots of one run into a store (opened on first use, so a program that never
    snapshots never creates a store file)."""

    def __init__(self, store_path: Optional[str], script: Optional[str],
                 source: Optional[str], parent: Optional[str] = None,
                 source_id: Optional[str] = None, io: Optional[IOContext] = None) -> None:
        self.store_path = store_path
        self.script = script
        self.parent = parent
        self._store: Optional[SnapshotStore] = None
        # The run's I/O (spec/io.md): its ledger goes into each snapshot, its pinned inputs and
        # saved outputs into the store.
        self.use_io(io if io is not None else IOContext(argv=[script] if script else []))
        self._source_bytes = source.encode("utf-8") if source is not None else None
        self._source_id = source_id
        self._blob_cache: dict[int, dict[str, bytes]] = {}

    @property
    def source_id(self) -> Optional[str]:
        if self._source_id is None and self._source_bytes is not None:
            from shapelang.vm.codec import content_id
            self._source_id = content_id(self._source_bytes)
        return self._source_id

    def use_io(self, io: IOContext) -> None:
        self.io = io
        io.fetch_blob = lambda blob_id: self.store.get_blob(blob_id)
        io.journal = self._journal

    def _journal(self, base: str, record: dict, blobs: dict) -> None:
        """The output journal of snapshot `base` (spec/io.md), in the store: the content first,
        then the record naming it, so a record never names missing data."""
        store = self.store
        if blobs:
            store.put_blobs(blobs)
        store.journal_add(base, record, blobs.keys())

    @property
    def store(self) -> SnapshotStore:
        if self._store is None:
            from shapelang.vm.store import open_store
            self._store = open_store(self.store_path)
        return self._store

    def on_snapshot(self, machine: Machine) -> str:
        from shapelang.runtime.stdlib import remote
        ctx = remote.current()
        if ctx is not None and ctx.role == remote.CALLEE:
            raise remote.snapshot_in_remote_call()
        return self.save(machine, "call")

    def encode(self, machine: Machine, io: Optional[Checkpoint] = None) -> bytes:
        state = {"v": STATE_VERSION, "entry": machine.program.entry,
                 "prelude": machine.program.prelude, "source": self.source_id,
                 "machine": machine.export_state()}
        if io is not None:
            state["io"] = io.ledger
        from shapelang.vm.codec import CodecError, Encoder
        try:
            return Encoder(registry()).encode(state)
        except CodecError as e:
            raise ShapeError("RuntimeError", f"Cannot snapshot this state: {e}") from None

    def save(self, machine: Machine, kind: str) -> str:
        io = self.io.checkpoint()
        data = self.encode(machine, io)
        program = machine.program
        blobs = self._blob_cache.get(id(program))
        if blobs is None:
            blobs = program.blob_bytes()
            self._blob_cache[id(program)] = blobs
        to_store = dict(blobs)
        if self._source_bytes is not None:
            to_store[self.source_id] = self._source_bytes
        ids = list(to_store)
        if io is not None:
            to_store.update(io.new_blobs)
            ids.extend(io.blob_ids)
        store = self.store
        sid = store.put_snapshot(data, ids, self.script, kind, self.parent, blobs=to_store)
        self.io.after_snapshot(sid)
        return sid

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


# ---------------------------------------------------------------- loading snapshots

class Loaded:
    def __init__(self, sid: str, program: Program, state: dict, source: Optional[str],
                 source_id: Optional[str], script: Optional[str],
                 ledger: Optional[Ledger] = None) -> None:
        self.sid = sid
        self.program = program
        self.state = state
        self.ledger = ledger      # the run's I/O (spec/io.md), None if it did none
        self.source = source
        self.source_id = source_id
        self.script = script


# Blobs already validated in this process, by id: a blob is named by the hash of its content, so
# the same id is the same valid blob (a process that resumes many snapshots of one program, or
# the fuzzer, validates the prelude's and the program's blobs once). Blobs are never changed
# after loading.
_VALIDATED = Bounded()
# Blob ids whose closures `check_program` checked in a program that was loaded (a store's ids
# name content, children included): resuming many snapshots of one program, or of programs
# sharing the prelude, does not scan their code again.
_LINKED: set[str] = set()


def validated_blob(bid: str, data: bytes) -> Blob:
    """The blob named `bid`, from its stored bytes, validated (`Blob.from_bytes`) the first time
    this process sees the id. Raises BlobError."""
    blob = _VALIDATED.get(bid)
    if blob is None:
        blob = _VALIDATED.put(bid, Blob.from_bytes(data, bid))
    return blob


def load(store: SnapshotStore, sid: str) -> Loaded:
    from shapelang.vm.codec import CodecError, Decoder
    info, data = store.get_snapshot(sid)
    try:
        state = Decoder(registry()).decode(data)
    except CodecError as e:
        raise resume_error(f"Snapshot {sid[:12]} is corrupt: {e}") from None
    if not isinstance(state, dict) or type(state.get("v")) is not int or state["v"] != STATE_VERSION:
        raise resume_error(f"Snapshot {sid[:12]} has an unsupported state version")
    entry, prelude, source_id = state.get("entry"), state.get("prelude"), state.get("source")
    if not (isinstance(entry, str) and isinstance(prelude, str)
            and (source_id is None or isinstance(source_id, str))
            and isinstance(state.get("machine"), dict)):
        raise resume_error(f"Snapshot {sid[:12]} is malformed")
    ledger = None
    data_ids: set[str] = set()   # pinned inputs and saved outputs: data, not code
    if "io" in state:
        from shapelang.runtime.stdlib.resume import load_ledger
        ledger = load_ledger(state["io"], sid)
        data_ids = set(ledger.blob_ids())
        if not data_ids <= set(info.blob_ids):
            raise resume_error(f"Snapshot {sid[:12]} is malformed (its I/O ledger refers to "
                               "data the snapshot does not list)")
    blobs: dict[str, Blob] = {}
    for bid in info.blob_ids:
        if bid == source_id or bid in data_ids:
            continue
        stored = store.get_blob(bid)        # checks that the content matches the id
        try:
            blobs[bid] = validated_blob(bid, stored)
        except BlobError as e:
            raise resume_error(f"Snapshot {sid[:12]}: stored code is invalid: {e}") from None
    if entry not in blobs or prelude not in blobs:
        raise resume_error(f"Snapshot {sid[:12]} does not include its program's code")
    try:
        if len(_LINKED) >= _VALIDATED.limit:
            _LINKED.clear()
        check_program(blobs, _LINKED)   # what spans blobs: children present, closures' cell counts
    except BlobError as e:
        raise resume_error(f"Snapshot {sid[:12]}: stored code is invalid: {e}") from None
    source = None
    if source_id is not None and (source_id in info.blob_ids or store.has_blob(source_id)):
        # Snapshots taken in resumed runs by earlier versions do not list their source; it is
        # used when present (`gc` keeps it) and only recompile-and-resume needs it.
        try:
            source = store.get_blob(source_id).decode("utf-8")
        except UnicodeDecodeError:
            raise resume_error(f"Snapshot {sid[:12]}: stored source is not text") from None
    program = Program(blobs, entry, prelude, info.script)
    check_state(state["machine"], entry, blobs, registry(),
                lambda what: resume_error(f"Snapshot {sid[:12]} is malformed ({what})"))
    return Loaded(sid, program, state, source, source_id, info.script, ledger)


def state_summary(state: bytes, sid: str) -> tuple[Optional[Ledger], Optional[str]]:
    """The I/O ledger of a stored state (spec/io.md; None for a run that did no I/O) and the id
    of its source text, for `shape snapshot info`."""
    from shapelang.vm.codec import CodecError, Decoder
    try:
        doc = Decoder(registry()).decode(state)
    except CodecError as e:
        raise resume_error(f"Snapshot {sid[:12]} is corrupt: {e}") from None
    if type(doc) is not dict:
        raise resume_error(f"Snapshot {sid[:12]} is malformed")
    source = doc.get("source") if type(doc.get("source")) is str else None
    if "io" not in doc:
        return None, source
    from shapelang.runtime.stdlib.resume import load_ledger
    return load_ledger(doc["io"], sid), source


def boundary(loaded: Loaded) -> str:
    """Where a loaded snapshot was taken, for messages: `job.shape, line 12` (the line of the
    innermost frame's instruction before the boundary; the script alone when unknown)."""
    script = loaded.script or "an unnamed script"
    try:
        top = loaded.state["machine"]["frames"][-1]
        blob = loaded.program.blobs[top[F.STORED_BID]]
        line, _ = blob.line_at(max(top[F.STORED_PC] - 1, 0))
    except (KeyError, IndexError, TypeError, AttributeError):
        return script
    return script if line is None else f"{script}, line {line}"


# ---------------------------------------------------------------- looking after a store

def verify(store: SnapshotStore, deep: bool = False) -> list[str]:
    """Problems in a store: blobs that do not match their hashes, missing references, and with
    `deep` also snapshots that cannot be loaded (nothing is run)."""
    problems = store.verify()
    if deep:
        problems += _unloadable(store, problems)
    return problems


def collect(store: SnapshotStore) -> int:
    """Delete the blobs no snapshot needs; returns how many. Every snapshot's blob list must be
    right first (each snapshot loads with exactly its listed blobs): a damaged store is left as
    it is, for `verify(deep=True)` to report and `delete` to clear."""
    bad = store.verify()
    sources: set[str] = set()
    bad += _unloadable(store, bad, sources)
    if bad:
        raise ShapeError("StoreError", f"gc stopped, nothing was deleted: {len(bad)} "
                         "problem(s) in the store (see `shape snapshot verify --deep`)")
    return store.gc(keep=sources)


def _unloadable(store: SnapshotStore, known: list[str], sources: Optional[set] = None) -> list[str]:
    """Snapshots whose hashes are fine but which still cannot be loaded (a state or code blob that
    does not decode, a state that does not fit its code). Nothing is run. The source ids the
    loadable snapshots use are added to `sources` (older snapshots may not list theirs)."""
    flagged = " ".join(known)
    out = []
    for info in store.list():
        if info.id in flagged:
            continue
        try:
            loaded = load(store, info.id)
        except ShapeError as e:
            out.append(f"snapshot {info.id}: {e.message}")
            continue
        if sources is not None and loaded.source is not None:
            sources.add(loaded.source_id)
    return out


# ---------------------------------------------------------------- running with snapshots

class Run:
    """A machine ready to run, with the store session its snapshots go to. Running it, stopping it
    (signals, timeouts) and reporting are the engine API's job (`shapelang.api`)."""

    def __init__(self, machine: Machine, session: SnapshotSession,
                 resumed_from: Optional[str] = None, script: Optional[str] = None,
                 source: Optional[str] = None, notes: Optional[list] = None) -> None:
        self.machine = machine
        self.session = session
        self.resumed_from = resumed_from
        self.script = script
        self.source = source
        self.notes = notes or []   # for a person: inputs that changed (--allow-changed-inputs)

    @property
    def io(self) -> IOContext:
        """The run's I/O context, current while the machine runs (spec/io.md)."""
        return self.session.io

    def save_interrupt(self) -> str:
        """Store the state of a machine that stopped at a safepoint; returns the snapshot id."""
        return self.session.save(self.machine, "interrupt")

    def close(self) -> None:
        self.session.close()


def recording(session: SnapshotSession, on_saved: Optional[Callable[[str], Any]]
               ) -> Callable[[Machine], str]:
    if on_saved is None:
        return session.on_snapshot

    def on_snapshot(machine: Machine) -> str:
        sid = session.on_snapshot(machine)
        on_saved(sid)
        return sid
    return on_snapshot


def start(program: Program, source: Optional[str], write: Callable[[str], Any],
          store: Optional[str] = None, on_saved: Optional[Callable[[str], Any]] = None,
          max_depth: int = DEFAULT_MAX_DEPTH, io: Optional[IOContext] = None) -> Run:
    """A run of a compiled program whose snapshot() calls are stored (`on_saved` is told each
    id). `source` is stored beside the snapshots (recompile-and-resume needs it) when given.
    `io` is the run's I/O context (command line, working directory, pinning)."""
    session = SnapshotSession(store, program.path, source, io=io)
    machine = Machine(program, out=write, max_depth=max_depth,
                      on_snapshot=recording(session, on_saved))
    return Run(machine, session, script=program.path, source=source)


def resume_io(loaded: Loaded, session: SnapshotSession, allow_changed_inputs: bool = False,
              pin_inputs: bool = False, argv: Optional[list] = None, cwd: Optional[str] = None,
              environ: Optional[Mapping[str, str]] = None) -> list[str]:
    """Give a resumed run its I/O: the files are checked against the snapshot's ledger and its
    output journal, and the outputs rewound (runtime/stdlib/resume.py). `argv`, `cwd` and
    `environ` are the resuming invocation's, for what the snapshot did not record. Returns notes
    for a person (inputs that changed, when that is allowed)."""
    from shapelang.runtime.stdlib import resume as io_resume
    notes: list[str] = []
    session.use_io(io_resume.resume_context(
        loaded.ledger, session.store.get_blob,
        io_resume.walk_journal(loaded.sid, session.store.journal, session.store.journal_links),
        argv=argv if argv is not None else ([loaded.script] if loaded.script else []),
        cwd=cwd, environ=environ,
        allow_changed_inputs=allow_changed_inputs, pin_inputs=pin_inputs, notes=notes))
    session.io.after_snapshot(loaded.sid)
    return notes


def restore(sid_or_prefix: str, write: Callable[[str], Any], store: Optional[str] = None,
            on_saved: Optional[Callable[[str], Any]] = None,
            max_depth: int = DEFAULT_MAX_DEPTH, allow_changed_inputs: bool = False,
            pin_inputs: bool = False, **invocation: Any) -> Run:
    """Full resume: a run that continues a stored snapshot on its stored code (no source is
    read). Raises ResumeError when the snapshot is missing or does not fit its code, or when its
    files do not fit its I/O ledger; otherwise the outputs are rewound to the snapshot.
    `invocation` (argv, cwd, environ) is the resuming one, for `resume_io`."""
    from shapelang.vm.store import open_store
    st = open_store(store, create=False)
    try:
        sid = st.resolve(sid_or_prefix)
        loaded = load(st, sid)
    finally:
        st.close()
    # The resumed run's snapshots list (and so keep) the same source as the one resumed.
    session = SnapshotSession(store, loaded.script, loaded.source, parent=sid,
                              source_id=loaded.source_id)
    try:
        machine = Machine.from_state(loaded.program, loaded.state["machine"], out=write,
                                     max_depth=max_depth,
                                     on_snapshot=recording(session, on_saved))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise resume_error(f"Snapshot {sid[:12]} is malformed ({type(e).__name__})") from None
    except ShapeError as e:
        raise resume_error(f"Snapshot {sid[:12]} is malformed: {e.message}") from None
    notes = resume_io(loaded, session, allow_changed_inputs, pin_inputs, **invocation)
    return Run(machine, session, resumed_from=sid, script=loaded.script, source=loaded.source,
               notes=notes)
