"""The I/O state of one run: where the std modules read and write, and what they record.

Every run has one `IOContext` (an engine makes it current with `running(ctx)` for as long as the
program runs). The module functions reach it through `current()`, so they stay ordinary builtin
values that any engine calls like `len` or `print`, and that a snapshot names as constants.

The context keeps the run's `Ledger` (ledger.py) up to date as the program reads inputs and
writes outputs, plus what only this process needs: the running fingerprints of outputs, the
contents of overwritten outputs, the bytes of pinned inputs, the blobs already handed to the
store. `checkpoint()` turns it into what a snapshot stores; `resume.restore` builds the context
of a resumed run from a snapshot's ledger.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional

from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.ledger import InputRecord, Ledger, OutputRecord, short
from shapelang.runtime.stdlib.messages import not_found

CHUNK = 1 << 20  # bytes hashed or read at a time


def new_hash(data: bytes = b"") -> Any:
    """A running SHA-256 (hashlib is imported on first use: most runs never fingerprint)."""
    import hashlib
    return hashlib.sha256(data)


def sha256_hex(data: bytes) -> str:
    return new_hash(data).hexdigest()


def hash_file(path: str, limit: Optional[int] = None) -> tuple[Any, int]:
    """(running SHA-256, size) of the file's bytes, or of its first `limit` bytes."""
    h = new_hash()
    n = 0
    with open(path, "rb") as f:
        while limit is None or n < limit:
            want = CHUNK if limit is None else min(CHUNK, limit - n)
            block = f.read(want)
            if not block:
                break
            h.update(block)
            n += len(block)
    return h, n


def replace_file(path: str, data: bytes) -> None:
    """Give the file `data` as its whole content, atomically where the directory allows it (a
    temporary file beside it, then a rename): a run killed in the middle leaves the file as it
    was or as written, never cut short, so a resume can tell what it holds (spec/io.md)."""
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.shape-{os.getpid()}.tmp")
    try:
        f = open(tmp, "xb")
    except OSError:
        # No new file can be made beside it (or the name is taken): write it in place.
        with open(path, "wb") as g:
            g.write(data)
        return
    try:
        with f:
            f.write(data)
        try:
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass
class LiveOutput:
    """An output file as this process knows it between snapshots.

    `append`: `size` bytes, and `hasher` the running SHA-256 of them (None until a snapshot
    first needs it: a run that never snapshots never hashes its outputs). `write`: the run last
    overwrote it with `content`."""
    kind: str
    size: int
    hasher: Any = None
    content: Optional[bytes] = None
    _fingerprint: Optional[str] = None

    def fingerprint(self) -> str:
        if self.kind == "write":
            if self._fingerprint is None:
                self._fingerprint = sha256_hex(self.content or b"")
            return self._fingerprint
        return self.hasher.hexdigest()


@dataclass
class Checkpoint:
    """What a snapshot stores for the I/O of the run: the ledger (plain data), the ids of every
    store blob it refers to, and the bytes of those not handed to the store before."""
    ledger: dict
    blob_ids: list
    new_blobs: dict = field(default_factory=dict)


class IOContext:
    def __init__(self, cwd: Optional[str] = None, argv: Any = (),
                 environ: Optional[Mapping[str, str]] = None, *, pin_inputs: bool = False,
                 allow_changed_inputs: bool = False,
                 fetch_blob: Optional[Callable[[str], bytes]] = None,
                 ledger: Optional[Ledger] = None) -> None:
        if ledger is None:
            ledger = Ledger(cwd=os.path.abspath(cwd or os.getcwd()),
                            argv=[str(a) for a in argv], pin=pin_inputs)
            # Program arguments are part of the run from the start: a resumed run must see
            # them even if it first asks for them after the snapshot.
            self.used = len(ledger.argv) > 1
        else:
            ledger.pin = ledger.pin or pin_inputs
            self.used = True
        self.ledger = ledger
        self.environ = os.environ if environ is None else environ
        self.allow_changed_inputs = allow_changed_inputs
        self.fetch_blob = fetch_blob
        self.outputs: dict[str, LiveOutput] = {}
        # Fingerprints this process has seen for input files (checked at resume or read here):
        # a reader that continues after a resume compares its own with these.
        self.seen: dict[str, str] = {}
        self.handed: set[str] = set()             # blob ids the store already has
        self.pinned: dict[str, bytes] = {}        # pinned bytes by fingerprint
        self._pending_pins: dict[str, bytes] = {}  # bytes read in pin mode, not yet stored
        # The output journal (spec/io.md): before the run first changes a file after its last
        # snapshot `base` in a way that snapshot cannot undo, what the file held is noted in the
        # journal of `base` (`journal(base, record, blobs)`, the store's), so resuming `base`
        # can put it back.
        self.base: Optional[str] = None
        self.journal: Optional[Callable[[str, dict, dict], Any]] = None
        self._noted: set[str] = set()              # outputs noted since `base`

    # ------------------------------------------------------------ paths

    def resolve(self, path: str) -> str:
        """The absolute path a program's path names: relative to the run's working directory."""
        if path == "":
            raise not_found()
        return os.path.normpath(os.path.join(self.ledger.cwd, path))

    # ------------------------------------------------------------ inputs

    def read_input(self, path: str) -> bytes:
        """All bytes of an input file (OSError as the system reports it). A pinned input gives
        the pinned bytes, whatever the file holds now."""
        key = self.resolve(path)
        self.used = True
        rec = self.ledger.inputs.get(key)
        if rec is not None and rec.pinned and key not in self.outputs:
            return self.pinned_bytes(rec.fingerprint, key)
        with open(key, "rb") as f:
            data = f.read()
        if key not in self.outputs:
            fp = sha256_hex(data)
            self.ledger.inputs[key] = InputRecord(fp, len(data), False)
            self.seen[key] = fp
            if self.ledger.pin:
                self._pending_pins[fp] = data
        return data

    def open_input(self, path: str) -> tuple[str, str, int]:
        """(absolute path, fingerprint, size) of an input a reader will read lazily."""
        key = self.resolve(path)
        self.used = True
        rec = self.ledger.inputs.get(key)
        if rec is not None and rec.pinned and key not in self.outputs:
            return key, rec.fingerprint, rec.size
        h, size = hash_file(key)
        fp = h.hexdigest()
        if key not in self.outputs:
            self.ledger.inputs[key] = InputRecord(fp, size, False)
        self.seen[key] = fp
        return key, fp, size

    def read_block(self, key: str, fingerprint: str, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of the input a reader opened with `fingerprint`."""
        rec = self.ledger.inputs.get(key)
        if rec is not None and rec.pinned and rec.fingerprint == fingerprint:
            data = self.pinned_bytes(fingerprint, key)
            return data[offset:offset + size]
        if self.seen.get(key) != fingerprint:
            # First read of this reader in this process (a resumed run): the file must still
            # be the one the reader was reading.
            now = hash_file(key)[0].hexdigest()
            if now != fingerprint and not self.allow_changed_inputs:
                raise ShapeError("IOError", f"Input {key} changed while the program was "
                                            f"reading it (sha256 {short(fingerprint)} when "
                                            f"opened, {short(now)} now)")
            self.seen[key] = fingerprint
        with open(key, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def pinned_bytes(self, fingerprint: str, key: str) -> bytes:
        data = self.pinned.get(fingerprint)
        if data is None:
            data = self._pending_pins.get(fingerprint)
        if data is None:
            if self.fetch_blob is None:
                raise ShapeError("IOError", f"Pinned input {key} is not available (no store)")
            data = self.fetch_blob(fingerprint)
            if sha256_hex(data) != fingerprint:
                raise ShapeError("StoreError", f"Pinned input {key} is corrupt in the store")
        self.pinned[fingerprint] = data
        return data

    # ------------------------------------------------------------ outputs

    def _live(self, key: str) -> Optional[LiveOutput]:
        live = self.outputs.get(key)
        if live is None:
            # A file the run writes is its output from now on, not an input.
            self.ledger.inputs.pop(key, None)
            self.seen.pop(key, None)
        return live

    def _note(self, key: str, overwrite: bool) -> None:
        """Journal what `key` holds before the run first changes it after its last snapshot,
        unless that snapshot can restore it itself: an output it recorded whole (`write`), or
        one it recorded by length (`append`) that is only appended to. (Each overwrite after a
        snapshot is journalled too, by fingerprint: `write_output`.)

        An overwrite of a file the run appended to since it last overwrote it is journalled
        each time, content included: what it held then may be the state that a snapshot
        recorded by length only, and that snapshot may belong to another branch of the run's
        history (a resume of an earlier snapshot runs past it; resume.restore looks for it)."""
        if self.base is None or self.journal is None:
            return
        live = self.outputs.get(key)
        if not (overwrite and live is not None and live.kind == "append"):
            if key in self._noted:
                return
            rec = self.ledger.outputs.get(key)
            if rec is not None and (rec.kind == "write" or not overwrite):
                return
        try:
            with open(key, "rb") as f:
                data: Optional[bytes] = f.read()
        except FileNotFoundError:
            data = None
        if data is None:
            self.journal(self.base, {"path": key, "pre": None}, {})
        else:
            fp = sha256_hex(data)
            self.journal(self.base, {"path": key, "pre": fp, "size": len(data)}, {fp: data})
        self._noted.add(key)

    def after_snapshot(self, snapshot: str) -> None:
        """The run took (or resumed from) `snapshot`: later changes are journalled under it, and
        the journal of the previous one points to it (a resume of that one walks on to it)."""
        # Linked even when the run has done no I/O yet: a resume of an earlier snapshot must
        # walk on to where a later run (this one, or a resume of a later snapshot) notes the
        # files it first creates (conformance io/resume-before-any-io-rewinds-later-outputs).
        if self.base is not None and self.journal is not None:
            self.journal(self.base, {"next": snapshot}, {})
        self.base = snapshot
        self._noted = set()

    def append_output(self, path: str, data: bytes) -> None:
        key = self.resolve(path)
        self.used = True
        self._note(key, overwrite=False)
        live = self._live(key)
        if live is None:
            try:
                size = os.stat(key).st_size
            except FileNotFoundError:
                size = 0
            live = LiveOutput("append", size, new_hash() if size == 0 else None)
        with open(key, "ab") as f:
            f.write(data)
        if live.kind == "write":
            h = new_hash(live.content or b"")
            live = LiveOutput("append", live.size, h)
        if live.hasher is not None:
            live.hasher.update(data)
        live.size += len(data)
        self.outputs[key] = live

    def write_output(self, path: str, data: bytes) -> None:
        key = self.resolve(path)
        self.used = True
        self._note(key, overwrite=True)
        self._live(key)
        live = LiveOutput("write", len(data), content=data)
        if self.base is not None and self.journal is not None:
            # What the run writes, so a resume can tell the run's own writes after the snapshot
            # from someone else's: journalled before the file changes, which it does at once.
            self.journal(self.base, {"path": key, "wrote": live.fingerprint(), "size": len(data)},
                         {})
        replace_file(key, data)
        self.outputs[key] = live

    # ------------------------------------------------------------ environment

    def getenv(self, name: str) -> Optional[str]:
        self.used = True
        env = self.ledger.env
        if name in env:
            return env[name]
        if self.ledger.env_all:
            return None
        value = self.environ.get(name)
        env[name] = value
        return value

    def all_env(self) -> dict:
        """Every environment variable, by name in sorted order."""
        self.used = True
        if not self.ledger.env_all:
            for k, v in self.environ.items():
                self.ledger.env.setdefault(k, v)
            self.ledger.env_all = True
        env = self.ledger.env
        return {k: env[k] for k in sorted(env) if env[k] is not None}

    def argv(self) -> list:
        self.used = True
        return list(self.ledger.argv)

    def cwd(self) -> str:
        self.used = True
        return self.ledger.cwd

    def system(self, key: str) -> str:
        self.used = True
        value = self.ledger.system.get(key)
        if value is None:
            value = _SYSTEM[key]()
            self.ledger.system[key] = value
        return value

    # ------------------------------------------------------------ snapshots

    def checkpoint(self) -> Optional[Checkpoint]:
        """The I/O part of a snapshot taken now, or None when the run did no I/O (its snapshot
        is then the same as that of a program without the std modules)."""
        if not self.used:
            return None
        ledger = self.ledger
        blobs: dict[str, bytes] = {}
        for key, live in self.outputs.items():
            if live.kind == "append":
                self._refresh(key, live)
            fp = live.fingerprint()
            ledger.outputs[key] = OutputRecord(live.kind, live.size, fp)
            if live.kind == "write":
                blobs[fp] = live.content or b""
        if ledger.pin:
            for key, rec in ledger.inputs.items():
                if not rec.pinned and key not in self.outputs:
                    blobs[rec.fingerprint] = self._bytes_to_pin(key, rec)
                    rec.pinned = True
        for fp in [fp for fp in self._pending_pins if fp in blobs or fp in self.handed]:
            self.pinned[fp] = self._pending_pins.pop(fp)
        new = {i: b for i, b in blobs.items() if i not in self.handed}
        self.handed.update(new)
        return Checkpoint(ledger.export(), ledger.blob_ids(), new)

    def _refresh(self, key: str, live: LiveOutput) -> None:
        """Make the running fingerprint of an appended output true to the file: computed the
        first time a snapshot needs it, and again if the file's size is not what the run wrote
        (someone else changed it)."""
        try:
            size = os.stat(key).st_size
        except OSError:
            size = -1
        if live.hasher is None or size != live.size:
            try:
                live.hasher, live.size = hash_file(key)
            except OSError as e:
                raise ShapeError("IOError", f"Cannot fingerprint output {key}: "
                                            f"{e.strerror or e}") from None

    def _bytes_to_pin(self, key: str, rec: InputRecord) -> bytes:
        data = self._pending_pins.get(rec.fingerprint)
        if data is not None:
            return data
        try:
            with open(key, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ShapeError("IOError", f"Cannot pin input {key}: {e.strerror or e}") from None
        if sha256_hex(data) != rec.fingerprint:
            raise ShapeError("IOError", f"Cannot pin input {key}: it changed after the program "
                                        f"read it (sha256 {short(rec.fingerprint)} then, "
                                        f"{short(sha256_hex(data))} now)")
        self.pinned[rec.fingerprint] = data
        return data


def _os_name() -> str:
    return {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)


def _arch_name() -> str:
    import platform
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


_SYSTEM: dict[str, Callable[[], str]] = {"os": _os_name, "arch": _arch_name}


# ---------------------------------------------------------------- the current context

_CURRENT: ContextVar[IOContext] = ContextVar("shape_io_context")


def current() -> IOContext:
    """The I/O context of the running program. A caller that runs Shape code without making a
    context current gets one of its own for the process's working directory."""
    ctx = _CURRENT.get(None)
    if ctx is None:
        ctx = IOContext()
        _CURRENT.set(ctx)
    return ctx


@contextmanager
def running(ctx: IOContext) -> Iterator[IOContext]:
    """Make `ctx` the current I/O context while a program runs."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
