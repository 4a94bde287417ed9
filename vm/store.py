"""The snapshot store: content-addressed blobs and snapshot metadata in an embedded SQLite file.

Everything stored is addressed by the SHA-256 of its bytes, so storing is idempotent, a second
snapshot of the same program adds only its new state (function blobs are already there), and
every load can check that the bytes still hash to their id. The store is reached only through
the `SnapshotStore` interface, so a shared server-backed store for distributed workers can be
added beside `SQLiteStore` without touching the VM.

Location: `--store PATH`, else `$SHAPE_STORE`, else `$XDG_DATA_HOME/shape/snapshots.db`, else
`~/.local/share/shape/snapshots.db`.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Protocol

from shapelang.runtime.errors import ShapeError

SCHEMA_VERSION = 1


def default_store_path() -> str:
    env = os.environ.get("SHAPE_STORE")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "shape", "snapshots.db")


def store_error(message: str) -> ShapeError:
    return ShapeError("StoreError", message, phase="resume")


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
    def has_blob(self, blob_id: str) -> bool: ...
    def put_blobs(self, blobs: dict[str, bytes]) -> int: ...
    def get_blob(self, blob_id: str) -> bytes: ...
    def put_snapshot(self, state: bytes, blob_ids: Iterable[str], script: Optional[str],
                     kind: str, parent: Optional[str],
                     blobs: Optional[dict[str, bytes]] = None) -> str: ...
    def get_snapshot(self, snap_id: str) -> tuple[SnapshotInfo, bytes]: ...
    def resolve(self, prefix: str) -> str: ...
    def list(self) -> list[SnapshotInfo]: ...
    def delete(self, snap_id: str) -> None: ...
    def gc(self, keep: Iterable[str] = ()) -> int: ...
    def verify(self) -> list[str]: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SQLiteStore:
    """The default store: one SQLite file in WAL mode, safe for several writing processes."""

    def __init__(self, path: Optional[str] = None, timeout: float = 60.0) -> None:
        import sqlite_utils
        if path == "":
            # sqlite3 would open a private temporary database: every snapshot would vanish.
            raise store_error("The snapshot store path is empty")
        self.path = path or default_store_path()
        try:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            # A damaged text cell that is not UTF-8 would otherwise fail every query that reads
            # it (and with it `list` and `verify` of the whole store).
            conn.text_factory = lambda b: b.decode("utf-8", "replace")
            self.db = sqlite_utils.Database(conn)
            self._init_schema()
        except sqlite3.DatabaseError as e:
            raise store_error(f"Cannot open snapshot store {self.path}: {e}") from None
        except OSError as e:
            raise store_error(f"Cannot open snapshot store {self.path}: {e.strerror}") from None

    # ------------------------------------------------------------ schema

    def _init_schema(self) -> None:
        conn = self.db.conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._tx():
            if "blobs" not in self.db.table_names():
                self.db["blobs"].create({"id": str, "size": int, "data": bytes}, pk="id",
                                        if_not_exists=True)
            if "snapshots" not in self.db.table_names():
                self.db["snapshots"].create(
                    {"id": str, "created": float, "script": str, "kind": str, "parent": str,
                     "state_size": int, "blob_ids": str}, pk="id", if_not_exists=True)
            if "meta" not in self.db.table_names():
                self.db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
                self.db["meta"].insert({"key": "schema", "value": str(SCHEMA_VERSION)},
                                       replace=True)
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise store_error(f"Snapshot store {self.path} has an unknown schema version")

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self):
            # IMMEDIATE takes the write lock up front, so concurrent writers queue on the busy
            # timeout instead of failing half-way through.
            self.conn.execute("BEGIN IMMEDIATE")
            return self

        def __exit__(self, exc_type, exc, tb):
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
            return False

    def _tx(self) -> "_Tx":
        return SQLiteStore._Tx(self.db.conn)

    def _guard(self, what: str):
        store = self

        class Guard:
            def __enter__(self):
                return self

            def __exit__(self, exc_type, exc, tb):
                if exc_type is not None and issubclass(exc_type, sqlite3.DatabaseError):
                    raise store_error(f"Snapshot store {store.path}: {what} failed: {exc}") from None
                return False
        return Guard()

    # ------------------------------------------------------------ blobs

    def has_blob(self, blob_id: str) -> bool:
        with self._guard("lookup"):
            return self.db.conn.execute("SELECT 1 FROM blobs WHERE id=?", (blob_id,)).fetchone() is not None

    def put_blobs(self, blobs: dict[str, bytes]) -> int:
        """Store blobs not yet present; returns how many bytes were new."""
        added = 0
        with self._guard("write"), self._tx():
            for blob_id, data in blobs.items():
                if sha256_hex(data) != blob_id:
                    raise store_error(f"Blob {blob_id[:12]} does not match its content")
                cur = self.db.conn.execute(
                    "INSERT OR IGNORE INTO blobs (id, size, data) VALUES (?, ?, ?)",
                    (blob_id, len(data), data))
                if cur.rowcount:
                    added += len(data)
        return added

    def get_blob(self, blob_id: str) -> bytes:
        with self._guard("read"):
            row = self.db.conn.execute("SELECT data FROM blobs WHERE id=?", (blob_id,)).fetchone()
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
                     blobs: Optional[dict[str, bytes]] = None) -> str:
        """Store a snapshot whose code is `blob_ids`. `blobs` are stored in the same transaction:
        stored separately, a concurrent `gc` could delete them before the snapshot refers to them."""
        snap_id = sha256_hex(state)
        ids = sorted(set(blob_ids))
        with self._guard("write"), self._tx():
            for blob_id, data in (blobs or {}).items():
                if sha256_hex(data) != blob_id:
                    raise store_error(f"Blob {blob_id[:12]} does not match its content")
                self.db.conn.execute("INSERT OR IGNORE INTO blobs (id, size, data) VALUES (?, ?, ?)",
                                     (blob_id, len(data), data))
            missing = [b for b in ids
                       if self.db.conn.execute("SELECT 1 FROM blobs WHERE id=?", (b,)).fetchone() is None]
            if missing:
                raise store_error(f"Snapshot refers to blob {missing[0][:12]} which is not stored")
            self.db.conn.execute("INSERT OR IGNORE INTO blobs (id, size, data) VALUES (?, ?, ?)",
                                 (snap_id, len(state), state))
            self.db.conn.execute(
                "INSERT OR IGNORE INTO snapshots (id, created, script, kind, parent, state_size, blob_ids)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (snap_id, time.time(), script, kind, parent, len(state), json.dumps(ids)))
        return snap_id

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

    def get_snapshot(self, snap_id: str) -> tuple[SnapshotInfo, bytes]:
        with self._guard("read"):
            row = self.db.conn.execute(
                "SELECT id, created, script, kind, parent, state_size, blob_ids FROM snapshots WHERE id=?",
                (snap_id,)).fetchone()
        if row is None:
            raise ShapeError("ResumeError", f"No snapshot {snap_id} in store {self.path}")
        try:
            info = self._info(row)
        except ValueError:
            raise store_error(f"Snapshot {snap_id[:12]} has corrupt metadata (its blob list)") from None
        return info, self.get_blob(snap_id)

    def resolve(self, prefix: str) -> str:
        p = prefix.strip().lower()
        if not p or any(c not in "0123456789abcdef" for c in p):
            raise ShapeError("ResumeError", f"'{prefix}' is not a snapshot id (hex digits expected)")
        with self._guard("lookup"):
            rows = self.db.conn.execute("SELECT id FROM snapshots WHERE id >= ? AND id < ? LIMIT 2",
                                        (p, p + "g")).fetchall()
        if not rows:
            raise ShapeError("ResumeError", f"No snapshot {prefix} in store {self.path}")
        if len(rows) > 1:
            raise ShapeError("ResumeError", f"Snapshot prefix {prefix} is ambiguous")
        return rows[0][0]

    def list(self) -> list[SnapshotInfo]:
        with self._guard("read"):
            rows = self.db.conn.execute(
                "SELECT id, created, script, kind, parent, state_size, blob_ids FROM snapshots "
                "ORDER BY created, id").fetchall()
        out = []
        for r in rows:
            # One damaged row must not hide the others: it is listed with its problem.
            try:
                out.append(self._info(r))
            except ValueError:
                info = self._info(r[:6] + ("[]",))
                info.problem = "corrupt metadata"
                out.append(info)
        return out

    def delete(self, snap_id: str) -> None:
        with self._guard("write"), self._tx():
            self.db.conn.execute("DELETE FROM snapshots WHERE id=?", (snap_id,))
            self.db.conn.execute("DELETE FROM blobs WHERE id=?", (snap_id,))

    def gc(self, keep: Iterable[str] = ()) -> int:
        """Delete blobs no snapshot refers to (and not in `keep`); returns how many were removed."""
        with self._guard("write"), self._tx():
            live: set[str] = set(keep)
            for sid, ids in self.db.conn.execute("SELECT id, blob_ids FROM snapshots"):
                live.add(sid)
                try:
                    live.update(_blob_ids(ids))
                except ValueError:
                    raise store_error(f"Snapshot {sid[:12]} has corrupt metadata; gc stopped, "
                                      "nothing was deleted") from None
            dead = [r[0] for r in self.db.conn.execute("SELECT id FROM blobs") if r[0] not in live]
            for b in dead:
                self.db.conn.execute("DELETE FROM blobs WHERE id=?", (b,))
        return len(dead)

    def verify(self) -> list[str]:
        """Check every blob against its hash and every snapshot's references; returns problems."""
        problems = []
        with self._guard("read"):
            for blob_id, data in self.db.conn.execute("SELECT id, data FROM blobs"):
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    problems.append(f"blob {blob_id}: content is not binary data")
                elif sha256_hex(bytes(data)) != blob_id:
                    problems.append(f"blob {blob_id}: content does not match its hash")
            ids = {r[0] for r in self.db.conn.execute("SELECT id FROM blobs")}
            for sid, refs in self.db.conn.execute("SELECT id, blob_ids FROM snapshots"):
                if sid not in ids:
                    problems.append(f"snapshot {sid}: state blob missing")
                try:
                    for b in _blob_ids(refs):
                        if b not in ids:
                            problems.append(f"snapshot {sid}: blob {b} missing")
                except ValueError:
                    problems.append(f"snapshot {sid}: corrupt metadata")
        return problems

    def stats(self) -> dict:
        with self._guard("read"):
            n_blobs, size = self.db.conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs").fetchone()
            n_snaps = self.db.conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
        return {"blobs": n_blobs, "bytes": size, "snapshots": n_snaps}

    def close(self) -> None:
        try:
            self.db.conn.close()
        except Exception:
            pass


def _blob_ids(text: object) -> list[str]:
    """The blob list of a metadata row; ValueError unless it is a JSON list of blob ids."""
    try:
        ids = json.loads(text) if isinstance(text, str) else None
    except RecursionError:  # "[[[[…" nested deeper than the JSON decoder goes
        raise ValueError("corrupt blob list") from None
    if type(ids) is not list or not all(type(b) is str and len(b) == 64 for b in ids):
        raise ValueError("corrupt blob list")
    return ids


def open_store(path: Optional[str] = None) -> SQLiteStore:
    return SQLiteStore(path)
