"""The snapshot store: content-addressed blobs and snapshot metadata.

Two backends implement one interface (`SnapshotStore`) with the same guarantees, over the same
SQL (`base.py`): an embedded SQLite file (the default, for everything on one machine) and a
shared PostgreSQL database (for continuations that move between machines). A snapshot's id is
the SHA-256 of its state, so it is the same in every store and `copy_snapshot` keeps it.

Location: `--store PATH-OR-URL`, else `$SHAPE_STORE`, else `$XDG_DATA_HOME/shape/snapshots.db`,
else `~/.local/share/shape/snapshots.db` (see `url.py` for the URL forms).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Optional

from shapelang.vm.store.url import StoreURL, default_store_path, mask_url, parse_store_url

if TYPE_CHECKING:
    from shapelang.vm.store.base import (SnapshotInfo, SnapshotStore, SQLStore, copy_snapshot,
                                         sha256_hex, store_error)
    from shapelang.vm.store.schema import SCHEMA_VERSION
    from shapelang.vm.store.sqlite import SQLiteStore

# The rest of the package's names load on first use (PEP 562): a run that stores nothing (and
# the code that only parses a store location, as every VM run does) does not import sqlite3,
# the SQL and the schema at start-up.
_LAZY = {"SnapshotInfo": "base", "SnapshotStore": "base", "SQLStore": "base",
         "copy_snapshot": "base", "sha256_hex": "base", "store_error": "base",
         "SCHEMA_VERSION": "schema", "SQLiteStore": "sqlite"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = ["SCHEMA_VERSION", "SnapshotInfo", "SnapshotStore", "SQLStore", "SQLiteStore",
           "StoreURL", "copy_snapshot", "default_store_path", "mask_url", "open_store",
           "parse_store_url", "sha256_hex", "store_error"]


def open_store(location: Optional[str] = None, create: bool = True) -> SQLStore:
    """The store at a path or URL (the default location when None). With `create` false, a
    store that does not exist yet is an error and nothing is created."""
    url = parse_store_url(location)
    if url.kind == "postgresql":
        from shapelang.vm.store.postgres import PostgresStore
        return PostgresStore(url, create=create)
    from shapelang.vm.store.sqlite import SQLiteStore
    return SQLiteStore(url.target, create=create)
