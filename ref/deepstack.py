"""Run a deeply recursive tree walk (the reference evaluator, the printer) on a thread with a large
C stack, so Shape-level depth limits are reached long before Python's own."""
from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def on_deep_stack(fn: Callable[[], T], stack_mb: int = 1024, recursion: int = 400_000) -> T:
    """Run `fn` on a thread with a `stack_mb` C stack and a recursion limit to match. Where the
    address space is limited (`ulimit -v`, containers) a smaller stack is tried, with a
    proportionally lower recursion limit, down to 16 MB; below that `fn` runs on the calling
    thread with the limit it has (deep programs then end in the engines' stack overflow error)."""
    size = stack_mb
    while size >= 16:
        ran, value = _run_on_thread(fn, size, max(1000, recursion * size // stack_mb))
        if ran:
            return value
        size //= 4
    return fn()


def on_front_end_stack(fn: Callable[[], T]) -> T:
    """Run a recursive front-end walk (resolver, compiler) with room for deeply nested source,
    unless already on a deep stack (the evaluator's, which is larger)."""
    if sys.getrecursionlimit() >= 100_000:
        return fn()
    return on_deep_stack(fn, stack_mb=512, recursion=200_000)


def _run_on_thread(fn: Callable[[], T], stack_mb: int, recursion: int) -> tuple[bool, T]:
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    new_limit = max(old_limit, recursion)
    sys.setrecursionlimit(new_limit)
    try:
        try:
            threading.stack_size(stack_mb * 1024 * 1024)
            t = threading.Thread(target=target, name="shape-deep-stack")
            t.start()
        except (RuntimeError, ValueError, MemoryError):
            return False, None  # type: ignore[return-value]  # no room for this stack
        t.join()
    finally:
        threading.stack_size(old_size)
        # Restore only what this call changed (another thread may have raised it since).
        if sys.getrecursionlimit() == new_limit:
            sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return True, result["value"]
