"""The values `snapshot()` returns, and the ids a run without a store reports."""
from __future__ import annotations

from shapelang.runtime.values import EnumValue

SNAPSHOT_RESUMED = EnumValue("Snapshot", "Resumed", None)


def snapshot_hash(id: str) -> EnumValue:
    return EnumValue("Snapshot", "Hash", (id,))


def placeholder_id(event: int) -> str:
    """The id a run without a store reports for its k-th snapshot event (both engines report the
    same one; it is not a content hash, and the conformance runner masks ids)."""
    import hashlib    # on use: start-up (vm/codecache.py)
    return hashlib.sha256(f"shape-ref-snapshot-{event}".encode()).hexdigest()
