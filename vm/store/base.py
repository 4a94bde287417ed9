"""What every snapshot store guarantees, written once over a small SQL connection interface.

Everything stored is addressed by the SHA-256 of its bytes, so storing is idempotent, a second
snapshot of the same program adds only its new state (function blobs are already there), and
every load checks that the bytes still hash to their id. A backend (SQLite, PostgreSQL) supplies
a connection, its transactions and its schema steps; the rules (hash checks, what a damaged
metadata row means, what gc may delete, what verify reports) live here, so a snapshot id and
everything said about it are the same whatever the store.
"""
from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol, TypeVar

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import schema
from shapelang.vm.store.url import StoreURL, scrub


def store_error(message: str) -> ShapeError:
    return ShapeError("StoreError", message, phase="resume")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class SnapshotInfo:
    id: str
    created: float
    script: Optional[str]
    kind: str                      # "call" (snapshot()) or "interrupt" (Ctrl+C, --snapshot-at)
    parent: Optional[str]          # the snapshot this run was resumed from, if any
    state_size: int
    blob_ids: list[str] = field(default_factory=list)
    problem: Optional[str] = None  # set by list() for a row whose metadata is corrupt


class SnapshotStore(Protocol):
    location: str
    def has_blob(self, blob_id: str) -> bool: ...
    def put_blobs(self, blobs: dict[str, bytes]) -> int: ...
    def get_blob(self, blob_id: str) -> bytes: ...
    def put_snapshot(self, state: bytes, blob_ids: Iterable[str], script: Optional[str],
                     kind: str, parent: Optional[str],
                     blobs: Optional[dict[str, bytes]] = None,
                     created: Optional[float] = None) -> str: ...
    def get_snapshot(self, snap_id: str) -> tuple[SnapshotInfo, bytes]: ...
    def resolve(self, prefix: str) -> str: ...
    def list(self, script: Optional[str] = None, limit: Optional[int] = None) -> list[SnapshotInfo]: ...
    def delete(self, snap_id: str) -> None: ...
    def gc(self, keep: Iterable[str] = ()) -> int: ...
    def verify(self) -> list[str]: ...
    def stats(self) -> dict: ...
    def close(self) -> None: ...


T = TypeVar("T")
_COLUMNS = "id, created, script, kind, parent, state_size, blob_ids"
_IDS_PER_QUERY = 500     # ids bound in one `IN (…)` (SQLite's limit is 999 in old builds)
_LINK_PREFIX = json.dumps({"next": ""}, sort_keys=True)[:-2]   # '{"next": ' of a link record


class SQLStore:
    """The store rules over SQL. Statements use `?` placeholders; a backend whose driver wants
    another style rewrites them in `_sql`.

    Subclasses provide: `url` (a StoreURL), `_db_errors` (the driver's exception classes),
    `_execute(sql, params)` returning a cursor, `_write(exclusive)` (a transaction holding the
    write lock: shared for adding, exclusive for deleting), `_schema_version()` (0 when the
    store has no schema), `_migrate(migrations)` and `close()`."""

    url: StoreURL
    _db_errors: tuple = ()
    _ready = False           # the schema is known to be current (checked once per connection)
    _version_read = schema.SCHEMA_VERSION   # the version a read found (older stores lack tables)

    # ------------------------------------------------------------ backend hooks

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        raise NotImplementedError

    @contextmanager
    def _write(self, exclusive: bool = False) -> Iterator[None]:
        raise NotImplementedError
        yield

    def _schema_version(self) -> int:
        raise NotImplementedError

    def _migrate(self, migrations: list) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ shared plumbing

    @property
    def location(self) -> str:
        return self.url.shown

    def _op(self, what: str, work: Callable[[], T]) -> T:
        """Run `work` (queries, or one transaction). A driver error becomes a StoreError; a
        lost connection is re-opened and the work run again if the backend can (every write
        here is idempotent: content-addressed rows inserted unless present)."""
        while True:
            try:
                return work()
            except self._db_errors as e:
                if not self._reconnected(e):
                    raise store_error(f"Snapshot store {self.location}: {what} failed: "
                                      f"{self._reason(e)}") from None

    def _reconnected(self, error: BaseException) -> bool:
        return False

    def _reason(self, e: BaseException) -> str:
        text = str(e).strip().splitlines()
        return scrub(text[0] if text else type(e).__name__, self.url)

    def _one(self, sql: str, params: tuple = ()) -> Any:
        return self._execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list:
        return self._execute(sql, params).fetchall()

    def _check_readable(self) -> None:
        """Reading needs the schema; a store without one is said to be empty, and left alone."""
        if self._ready:
            return
        version = self._op("open", self._schema_version)
        self._version_read = version
        if version == 0:
            raise store_error(f"{self.location} has no snapshot store yet (nothing was stored "
                              "there; it was left unchanged)")
        if version > schema.SCHEMA_VERSION:
            raise store_error(f"Snapshot store {self.location} has schema version {version}; "
                              f"this shape knows versions up to {schema.SCHEMA_VERSION}")
        if version == schema.SCHEMA_VERSION:
            self._ready = True

    def _check_writable(self) -> None:
        """The first write creates or migrates the schema (a backend serialises this)."""
        if self._ready:
            return
        version = self._op("open", self._schema_version)
        if version > schema.SCHEMA_VERSION:
            self._check_readable()  # raises the "newer version" error
        if version < schema.SCHEMA_VERSION:
            self._op("schema update", lambda: self._migrate(schema.pending(version)))
        self._ready = True
        self._version_read = schema.SCHEMA_VERSION

    def _insert_blob(self, blob_id: str, data: bytes) -> bool:
        if sha256_hex(data) != blob_id:
            raise store_error(f"Blob {blob_id[:12]} does not match its content")
        cur = self._execute("INSERT INTO blobs (id, size, data) VALUES (?, ?, ?) "
                            "ON CONFLICT (id) DO NOTHING", (blob_id, len(data), data))
        return cur.rowcount == 1

    # ------------------------------------------------------------ blobs

    def has_blob(self, blob_id: str) -> bool:
        self._check_readable()
        return self._op("lookup", lambda: self._one("SELECT 1 FROM blobs WHERE id=?",
                                                     (blob_id,)) is not None)

    def put_blobs(self, blobs: dict[str, bytes]) -> int:
        """Store blobs not yet present; returns how many bytes were new."""
        self._check_writable()

        def work() -> int:
            with self._write():
                return sum(len(data) for blob_id, data in blobs.items()
                           if self._insert_blob(blob_id, data))
        return self._op("write", work)

    def get_blob(self, blob_id: str) -> bytes:
        return self._read_blob(blob_id)

    def _read_blob(self, blob_id: str) -> bytes:
        self._check_readable()
        row = self._op("read", lambda: self._one("SELECT data FROM blobs WHERE id=?", (blob_id,)))
        if row is None:
            raise store_error(f"Blob {blob_id[:12]} is missing from the store")
        if not isinstance(row[0], (bytes, bytearray, memoryview)):
            # bytes(None) fails and bytes(5) is five zero bytes: neither is stored content.
            raise store_error(f"Blob {blob_id[:12]} is corrupt (its content is not binary data)")
        data = bytes(row[0])
        if sha256_hex(data) != blob_id:
            raise store_error(f"Blob {blob_id[:12]} is corrupt (its content does not match its hash)")
        return data

    # ------------------------------------------------------------ snapshots

    def put_snapshot(self, state: bytes, blob_ids: Iterable[str], script: Optional[str] = None,
                     kind: str = "call", parent: Optional[str] = None,
                     blobs: Optional[dict[str, bytes]] = None,
                     created: Optional[float] = None) -> str:
        """Store a snapshot whose code is `blob_ids`. `blobs` are stored in the same transaction:
        stored separately, a concurrent `gc` could delete them before the snapshot refers to them.
        `created` keeps the original time when a snapshot is copied from another store."""
        self._check_writable()
        snap_id = sha256_hex(state)
        ids = sorted(set(blob_ids))
        when = time.time() if created is None else created

        def work() -> None:
            with self._write():
                for blob_id, data in (blobs or {}).items():
                    self._insert_blob(blob_id, data)
                missing = self._missing_blobs(ids)
                if missing:
                    raise store_error(f"Snapshot refers to blob {missing[0][:12]} which is not stored")
                self._insert_blob(snap_id, state)
                self._execute(f"INSERT INTO snapshots ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (id) DO NOTHING",
                              (snap_id, when, script, kind, parent, len(state), json.dumps(ids)))
        self._op("write", work)
        return snap_id

    def _missing_blobs(self, ids: list[str]) -> list[str]:
        """Which of `ids` (sorted) are not stored: one query per chunk of ids, not one per id."""
        present: set[str] = set()
        for i in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[i:i + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            present.update(row[0] for row in self._all(f"SELECT id FROM blobs WHERE id IN ({marks})",
                                                       tuple(chunk)))
        return [b for b in ids if b not in present]

    def _info(self, row) -> SnapshotInfo:
        """A metadata row as a SnapshotInfo; raises ValueError if the blob list is unusable.

        Every other column is only shown to people, so a damaged value there is replaced by a
        neutral one instead of making the whole snapshot unreadable."""
        sid, created, script, kind, parent, size, ids = row
        if not (type(created) in (int, float) and 0 <= created < 1e11):
            created = 0.0
        return SnapshotInfo(str(sid), float(created), script if type(script) is str else None,
                            kind if type(kind) is str else "?",
                            parent if type(parent) is str else None,
                            size if type(size) is int else 0, _blob_ids(ids))

    def _no_snapshot(self, what: str) -> ShapeError:
        return ShapeError("ResumeError", f"No snapshot {what} in store {self.location}")

    def _row(self, snap_id: str) -> Any:
        return self._op("read", lambda: self._one(f"SELECT {_COLUMNS} FROM snapshots WHERE id=?",
                                                  (snap_id,)))

    def get_snapshot(self, snap_id: str) -> tuple[SnapshotInfo, bytes]:
        self._check_readable()
        row = self._row(snap_id)
        if row is None:
            raise self._no_snapshot(snap_id)
        try:
            info = self._info(row)
        except ValueError:
            raise store_error(f"Snapshot {snap_id[:12]} has corrupt metadata (its blob list)") from None
        return info, self._read_blob(snap_id)

    def info(self, snap_id: str) -> Optional[SnapshotInfo]:
        """The metadata of one snapshot (None if absent), for listings: a damaged blob list is
        reported in `problem`, not raised."""
        self._check_readable()
        row = self._row(snap_id)
        return None if row is None else self._listed(row)

    def resolve(self, prefix: str) -> str:
        p = prefix.strip().lower()
        if not p or any(c not in "0123456789abcdef" for c in p):
            raise ShapeError("ResumeError", f"'{prefix}' is not a snapshot id (hex digits expected)")
        self._check_readable()
        rows = self._op("lookup", lambda: self._all(
            "SELECT id FROM snapshots WHERE id >= ? AND id < ? LIMIT 2", (p, p + "g")))
        if not rows:
            raise self._no_snapshot(prefix)
        if len(rows) > 1:
            raise ShapeError("ResumeError", f"Snapshot prefix {prefix} is ambiguous")
        return rows[0][0]

    def _listed(self, row) -> SnapshotInfo:
        # One damaged row must not hide the others: it is listed with its problem.
        try:
            return self._info(row)
        except ValueError:
            info = self._info(tuple(row[:6]) + ("[]",))
            info.problem = "corrupt metadata"
            return info

    def list(self, script: Optional[str] = None, limit: Optional[int] = None) -> list[SnapshotInfo]:
        """Snapshots oldest first; with `limit`, the newest `limit` of them (still oldest first)."""
        self._check_readable()
        where, params = ("WHERE script=?", (script,)) if script is not None else ("", ())
        if limit is None:
            rows = self._op("read", lambda: self._all(
                f"SELECT {_COLUMNS} FROM snapshots {where} ORDER BY created, id", params))
        else:
            rows = self._op("read", lambda: self._all(
                f"SELECT {_COLUMNS} FROM snapshots {where} ORDER BY created DESC, id DESC LIMIT ?",
                params + (limit,)))[::-1]
        return [self._listed(r) for r in rows]

    # ------------------------------------------------------------ the output journal

    def journal_add(self, base: str, record: dict, blob_ids: Iterable[str] = ()) -> int:
        """Append `record` (JSON data) to the journal of snapshot `base`; returns its sequence
        number (0, 1, … per base). The blobs it names must be stored already; `gc` keeps them
        while `base` exists, and deleting `base` drops its journal."""
        self._check_writable()
        ids = sorted(set(blob_ids))
        text = json.dumps(record, sort_keys=True)

        def work() -> int:
            # Exclusive: two appends to one journal must not pick the same number.
            with self._write(exclusive=True):
                missing = self._missing_blobs(ids)
                if missing:
                    raise store_error(f"Journal record refers to blob {missing[0][:12]} which "
                                      "is not stored")
                seq = self._one("SELECT COALESCE(MAX(seq), -1) + 1 FROM journal WHERE base=?",
                                (base,))[0]
                self._execute("INSERT INTO journal (base, seq, record, blob_ids) VALUES (?, ?, ?, ?)",
                              (base, seq, text, json.dumps(ids)))
                return int(seq)
        return self._op("write", work)

    def journal(self, base: str) -> list[dict]:
        """The journal of snapshot `base`, in order (empty when it has none)."""
        self._check_readable()
        if self._version_read < 3:
            return []   # a store from before the journal: nothing was journalled
        rows = self._op("read", lambda: self._all(
            "SELECT seq, record FROM journal WHERE base=? ORDER BY seq", (base,)))
        out = []
        for seq, text in rows:
            try:
                out.append(json.loads(text))
            except (TypeError, ValueError, RecursionError):
                raise store_error(f"Journal record {seq} of snapshot {base[:12]} is corrupt") from None
        return out

    def journal_links(self) -> list[tuple[str, int, str, int]]:
        """Every link of the journals, in one query: (base, seq, the snapshot the record
        `{"next": …}` names, the last seq of base's journal). A resume walks them backwards to
        the runs that branched off before the resumed snapshot (runtime/stdlib/resume.py)."""
        self._check_readable()
        if self._version_read < 3:
            return []
        # The text of a link record is fixed (journal_add writes sorted keys), so it is matched
        # as text; the pattern is a parameter (a literal % would be a placeholder to psycopg).
        rows = self._op("read", lambda: self._all(
            "SELECT j.base, j.seq, j.record, m.last FROM journal j JOIN "
            "(SELECT base, MAX(seq) AS last FROM journal GROUP BY base) m ON m.base = j.base "
            "WHERE j.record LIKE ?", (_LINK_PREFIX + "%",)))
        out = []
        for base, seq, text, last in rows:
            try:
                nxt = json.loads(text).get("next")
            except (TypeError, ValueError, AttributeError, RecursionError):
                nxt = None
            if type(nxt) is not str:
                raise store_error(f"Journal record {seq} of snapshot {base[:12]} is corrupt")
            out.append((base, int(seq), nxt, int(last)))
        return out

    def delete(self, snap_id: str) -> None:
        self._check_writable()

        def work() -> None:
            with self._write(exclusive=True):
                self._execute("DELETE FROM snapshots WHERE id=?", (snap_id,))
                self._execute("DELETE FROM blobs WHERE id=?", (snap_id,))
                self._execute("DELETE FROM journal WHERE base=?", (snap_id,))
        self._op("write", work)

    def gc(self, keep: Iterable[str] = ()) -> int:
        """Delete blobs no snapshot refers to (and not in `keep`); returns how many were removed."""
        self._check_writable()
        keep = set(keep)

        def work() -> int:
            with self._write(exclusive=True):
                live = set(keep)
                for sid, ids in self._all("SELECT id, blob_ids FROM snapshots"):
                    live.add(sid)
                    try:
                        live.update(_blob_ids(ids))
                    except ValueError:
                        raise store_error(f"Snapshot {sid[:12]} has corrupt metadata; gc stopped, "
                                          "nothing was deleted") from None
                snapshots = {r[0] for r in self._all("SELECT id FROM snapshots")}
                for base, ids in self._all("SELECT base, blob_ids FROM journal"):
                    if base in snapshots:
                        try:
                            live.update(_blob_ids(ids))
                        except ValueError:
                            raise store_error(f"A journal record of snapshot {base[:12]} is "
                                              "corrupt; gc stopped, nothing was deleted") from None
                dead = [r[0] for r in self._all("SELECT id FROM blobs") if r[0] not in live]
                for b in dead:
                    self._execute("DELETE FROM blobs WHERE id=?", (b,))
                return len(dead)
        return self._op("write", work)

    def verify(self) -> list[str]:
        """Check every blob against its hash and every snapshot's references; returns problems."""
        self._check_readable()

        def work() -> list[str]:
            problems = []
            for blob_id, data in self._all("SELECT id, data FROM blobs"):
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    problems.append(f"blob {blob_id}: content is not binary data")
                elif sha256_hex(bytes(data)) != blob_id:
                    problems.append(f"blob {blob_id}: content does not match its hash")
            ids = {r[0] for r in self._all("SELECT id FROM blobs")}
            for sid, refs in self._all("SELECT id, blob_ids FROM snapshots"):
                if sid not in ids:
                    problems.append(f"snapshot {sid}: state blob missing")
                try:
                    for b in _blob_ids(refs):
                        if b not in ids:
                            problems.append(f"snapshot {sid}: blob {b} missing")
                except ValueError:
                    problems.append(f"snapshot {sid}: corrupt metadata")
            journal = self._all("SELECT base, seq, blob_ids FROM journal") if self._version_read >= 3 else []
            for base, seq, refs in journal:
                try:
                    for b in _blob_ids(refs):
                        if b not in ids:
                            problems.append(f"journal {base} #{seq}: blob {b} missing")
                except ValueError:
                    problems.append(f"journal {base} #{seq}: corrupt blob list")
            return problems
        return self._op("read", work)

    def stats(self) -> dict:
        self._check_readable()

        def work() -> dict:
            n_blobs, size = self._one("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs")
            n_snaps = self._one("SELECT COUNT(*) FROM snapshots")[0]
            return {"blobs": int(n_blobs), "bytes": int(size), "snapshots": int(n_snaps)}
        return self._op("read", work)


def _blob_ids(text: object) -> list[str]:
    """The blob list of a metadata row; ValueError unless it is a JSON list of blob ids."""
    try:
        ids = json.loads(text) if isinstance(text, str) else None
    except RecursionError:  # "[[[[…" nested deeper than the JSON decoder goes
        raise ValueError("corrupt blob list") from None
    if type(ids) is not list or not all(type(b) is str and len(b) == 64 for b in ids):
        raise ValueError("corrupt blob list")
    return ids


def copy_snapshot(source: SnapshotStore, target: SnapshotStore, snap_id: str) -> str:
    """Copy one snapshot (its state, code and source blobs, and its metadata) between stores.
    Every blob is verified as it is read; the id is the same in both stores, since it is the
    hash of the state."""
    info, state = source.get_snapshot(snap_id)
    blobs = {b: source.get_blob(b) for b in info.blob_ids}
    return target.put_snapshot(state, info.blob_ids, info.script, info.kind, info.parent,
                               blobs=blobs, created=info.created)
