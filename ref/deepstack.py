"""Run a deeply recursive tree walk (the reference evaluator, the printer) on a thread with a large
C stack, so Shape-level depth limits are reached long before Python's own."""
from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def on_deep_stack(fn: Callable[[], T], stack_mb: int = 1024, recursion: int = 400_000) -> T:
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, recursion))
    try:
        threading.stack_size(stack_mb * 1024 * 1024)
        t = threading.Thread(target=target, name="shape-deep-stack")
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        # Restore only what this call changed (another thread may have raised it since).
        if sys.getrecursionlimit() == max(old_limit, recursion):
            sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result["value"]
