"""The shared store: the same tables in a PostgreSQL database, for workers on several machines.

The tables live in their own PostgreSQL schema, `shape`, so they sit beside others (the job
queue's) without clashing, and every query is the shared SQL of `base.py`. Writers that only add
(blobs, snapshots) hold a shared advisory lock and run side by side; `delete` and `gc` hold it
exclusively, so gc never removes a blob that a concurrent snapshot is about to refer to. Schema
creation and migrations run under the same exclusive lock, on the first write.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import schema
from shapelang.vm.store.base import SQLStore, store_error
from shapelang.vm.store.url import StoreURL, scrub

PG_SCHEMA = "shape"
# pg_advisory_*lock key of the store: writers share it, gc/delete/migrations take it alone.
_LOCK_KEY = 0x5348_4150_4531   # "SHAPE1"
CONNECT_TIMEOUT = 10           # seconds; a server that does not answer is an error, not a hang
RECONNECT_SECONDS = 30.0       # how long a lost connection is retried (a server restart)
MAX_RECONNECTS = 10            # per store object: a server that keeps dropping us is an error
CODE_CACHE_BYTES = 32 << 20    # verified code blobs a process keeps (a worker loads the same code
                               # for every job; each would otherwise be a round trip)

_code_cache: "OrderedDict[str, bytes]" = OrderedDict()
_code_cache_lock = threading.Lock()
_code_cache_size = 0


def connect(url: StoreURL, **kwargs: Any) -> Any:
    """A psycopg connection (autocommit) to the store's database, with the store's schema first
    on the search path. Errors are StoreErrors that never show the password."""
    import psycopg
    try:
        conn = psycopg.connect(url.target, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               **kwargs)
    except psycopg.Error as e:
        raise store_error(f"Cannot connect to snapshot store {url.shown}: "
                          f"{_first_line(e, url)}") from None
    except Exception as e:  # a malformed URL: libpq's parser says what is wrong
        raise store_error(f"Cannot connect to snapshot store {url.shown}: "
                          f"{_first_line(e, url)}") from None
    try:
        conn.execute(f"SET search_path TO {PG_SCHEMA}, public")
    except psycopg.Error as e:
        conn.close()
        raise store_error(f"Snapshot store {url.shown}: {_first_line(e, url)}") from None
    return conn


def _first_line(e: BaseException, url: StoreURL) -> str:
    """libpq's message on one line (it spreads "connection to server … failed: Connection
    refused" and its hint over several), with the password scrubbed."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return scrub(" ".join(lines) if lines else type(e).__name__, url)


class PostgresStore(SQLStore):
    def __init__(self, url: StoreURL, create: bool = True) -> None:
        import psycopg
        self._db_errors = (psycopg.Error,)
        self.url = url
        self.conn = connect(url)
        self._reconnects = 0

    def _reconnected(self, error: BaseException) -> bool:
        """After a lost connection (a server restart, a dropped link), connect again for up to
        RECONNECT_SECONDS; the caller then runs its work again."""
        if not (self.conn.broken or self.conn.closed) or self._reconnects >= MAX_RECONNECTS:
            return False
        self._reconnects += 1
        self.close()
        deadline = time.monotonic() + RECONNECT_SECONDS
        while time.monotonic() < deadline:
            try:
                self.conn = connect(self.url)
                return True
            except ShapeError:
                time.sleep(0.25)
        return False

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), params)

    def get_blob(self, blob_id: str) -> bytes:
        """As every store's, with a process-wide cache of blobs already read and verified: a
        blob's id is the hash of its bytes, so a cached blob is exactly what the store holds
        under that id. Snapshot states (read once, by `get_snapshot`) do not go through it."""
        global _code_cache_size
        with _code_cache_lock:
            data = _code_cache.get(blob_id)
            if data is not None:
                _code_cache.move_to_end(blob_id)
                return data
        data = self._read_blob(blob_id)
        with _code_cache_lock:
            if blob_id not in _code_cache and len(data) <= CODE_CACHE_BYTES // 4:
                _code_cache[blob_id] = data
                _code_cache_size += len(data)
                while _code_cache_size > CODE_CACHE_BYTES:
                    _, old = _code_cache.popitem(last=False)
                    _code_cache_size -= len(old)
        return data

    @contextmanager
    def _write(self, exclusive: bool = False) -> Iterator[None]:
        with self.conn.transaction():
            lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            self.conn.execute(f"SELECT {lock}(%s)", (_LOCK_KEY,))
            yield

    def _schema_version(self) -> int:
        row = self.conn.execute("SELECT to_regclass(%s)", (f"{PG_SCHEMA}.meta",)).fetchone()
        if row[0] is None:
            return 0
        row = self.conn.execute(f"SELECT value FROM {PG_SCHEMA}.meta WHERE key='schema'").fetchone()
        try:
            return int(row[0]) if row is not None else 0
        except (TypeError, ValueError):
            raise store_error(f"Snapshot store {self.location} has an unknown schema version") from None

    def _migrate(self, migrations: list) -> None:
        with self._write(exclusive=True):
            # Another process may have migrated between our check and the lock.
            done = self._schema_version()
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
            for m in migrations:
                if m.version <= done:
                    continue
                for step in m.steps:
                    self.conn.execute(schema.postgres_ddl(step))
                self.conn.execute(
                    f"INSERT INTO {PG_SCHEMA}.meta (key, value) VALUES ('schema', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(m.version),))

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
