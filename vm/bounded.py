"""A per-process cache keyed by content (a blob id, a generated text).

An id names its content, so an entry never goes stale; but a long-lived process (the conformance
runner, the fuzzer) sees many programs, so a cache that is full forgets its oldest half. Reads are
plain dict reads (the hot paths call `get`)."""
from __future__ import annotations

from typing import Any


class Bounded(dict):
    """A dict that holds at most `limit` entries, filled with `put`."""

    def __init__(self, limit: int = 4096) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> Any:
        """Store `value` under `key` (first forgetting the oldest half when full); returns it."""
        if len(self) >= self.limit:
            for old in list(self)[:self.limit // 2]:
                del self[old]
        self[key] = value
        return value
