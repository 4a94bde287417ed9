"""The default store: one SQLite file in WAL mode, safe for several writing processes.

sqlite-utils builds its schema from the declaration in `schema.py`; every query is the shared
SQL of `base.py`. Reading never creates or changes the file: a missing file or one without a
schema is reported, and the file, its directory and the WAL mode appear with the first write.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from shapelang.vm.store import schema
from shapelang.vm.store.base import SQLStore, store_error
from shapelang.vm.store.url import StoreURL, parse_store_url


class SQLiteStore(SQLStore):
    _db_errors = (sqlite3.DatabaseError,)

    def __init__(self, path: Optional[str] = None, timeout: float = 60.0,
                 create: bool = True) -> None:
        """Open the store at `path` (the default location when None). With `create` false a
        missing file is an error and nothing is created (read-only commands)."""
        if path == "":
            # sqlite3 would open a private temporary database: every snapshot would vanish.
            raise store_error("The snapshot store path is empty")
        url = parse_store_url(path)
        if url.kind != "sqlite":
            raise store_error(f"{url.shown} is not a SQLite store")
        self.url = url
        self.path = url.target
        self.timeout = timeout
        self.db: Any = None
        if not create and not os.path.lexists(self.path):
            raise store_error(f"No snapshot store at {self.path} (nothing was stored there; "
                              "nothing was created)")
        self._connect(create)

    def _connect(self, create: bool) -> None:
        import sqlite_utils
        try:
            if create:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            # A damaged text cell that is not UTF-8 would otherwise fail every query that reads
            # it (and with it `list` and `verify` of the whole store).
            conn.text_factory = lambda b: b.decode("utf-8", "replace")
            self.db = sqlite_utils.Database(conn)
            # Reading a file that is not a database fails here, before anything is written.
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:
            raise store_error(f"Cannot open snapshot store {self.path}: {e}") from None
        except OSError as e:
            raise store_error(f"Cannot open snapshot store {self.path}: {e.strerror}") from None

    # ------------------------------------------------------------ backend hooks

    def _execute(self, sql: str, params: tuple = ()) -> Any:
        return self.db.conn.execute(sql, params)

    @contextmanager
    def _write(self, exclusive: bool = False) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so concurrent writers queue on the busy
        # timeout instead of failing half-way through. SQLite has one writer at a time, so
        # `exclusive` needs nothing more.
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        try:
            return int(row[0]) if row is not None else 0
        except (TypeError, ValueError):
            raise store_error(f"Snapshot store {self.path} has an unknown schema version") from None

    def _migrate(self, migrations: list) -> None:
        conn = self.db.conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._write():
            # Another process may have migrated between our check and the lock.
            done = self._schema_version()
            for m in migrations:
                if m.version <= done:
                    continue
                for step in m.steps:
                    if isinstance(step, schema.Table):
                        self.db[step.name].create(step.columns_for_sqlite(), pk=step.pk,
                                                  if_not_exists=True)
                    else:
                        self.db[step.table].create_index(list(step.columns), index_name=step.name,
                                                         if_not_exists=True)
                self.db["meta"].insert({"key": "schema", "value": str(m.version)}, replace=True)

    def close(self) -> None:
        try:
            if self.db is not None:
                self.db.conn.close()
        except Exception:
            pass
