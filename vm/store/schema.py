"""The store's schema, declared once for every backend, and its migrations.

Version N of the schema is what migrations 1..N build, in order. The version is kept in the
`meta` table; a store is migrated on its first write (reading never changes a store), and a
store with a newer version than this code knows is refused rather than guessed at.

Column types are Python types (as sqlite-utils takes them), plus `ID` for content addresses:
64 hex digits, compared byte by byte on every backend (prefix lookups are range scans).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

ID = "id"                    # a content address (text, bytewise order)
ColumnType = Union[type, str]


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, ColumnType]
    pk: Union[str, tuple[str, ...]]

    def columns_for_sqlite(self) -> dict[str, type]:
        return {n: (str if t == ID else t) for n, t in self.columns.items()}


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class Migration:
    version: int
    why: str
    steps: tuple = field(default_factory=tuple)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "content-addressed blobs, snapshot metadata, the schema version", (
        Table("blobs", {"id": ID, "size": int, "data": bytes}, pk="id"),
        Table("snapshots", {"id": ID, "created": float, "script": str, "kind": str,
                            "parent": ID, "state_size": int, "blob_ids": str}, pk="id"),
        Table("meta", {"key": str, "value": str}, pk="key"),
    )),
    Migration(2, "newest-first listings and --limit read an index, not the whole table", (
        Index("snapshots", ("created", "id"), "snapshots_by_created"),
    )),
    Migration(3, "the output journal of a snapshot (records of outputs a resumed run must see)", (
        Table("journal", {"base": ID, "seq": int, "record": str, "blob_ids": str},
              pk=("base", "seq")),
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version

# Every table this code reads; a store must have them all to be read.
TABLES = tuple(step.name for m in MIGRATIONS for step in m.steps if isinstance(step, Table))


def pending(version: int) -> list[Migration]:
    """The migrations a store at `version` (0: no schema yet) still needs, in order."""
    return [m for m in MIGRATIONS if m.version > version]


_PG_TYPES = {int: "bigint", float: "double precision", str: "text", bytes: "bytea",
             ID: 'text COLLATE "C"'}


def postgres_ddl(step: object) -> str:
    """The PostgreSQL statement of one migration step (sqlite-utils builds the SQLite ones)."""
    if isinstance(step, Table):
        cols = [f"{name} {_PG_TYPES[t]}" for name, t in step.columns.items()]
        keys = (step.pk,) if isinstance(step.pk, str) else step.pk
        return (f"CREATE TABLE IF NOT EXISTS {step.name} ({', '.join(cols)}, "
                f"PRIMARY KEY ({', '.join(keys)}))")
    if isinstance(step, Index):
        return (f"CREATE INDEX IF NOT EXISTS {step.name} ON {step.table} "
                f"({', '.join(step.columns)})")
    raise TypeError(f"unknown migration step {step!r}")
