"""Run a deeply recursive tree walk (the reference evaluator, the printer) on a thread with a large
C stack, so Shape-level depth limits are reached long before Python's own.

The work runs on another thread, but it can still be interrupted as Python code is: an exception
that reaches the caller while it waits (KeyboardInterrupt from a signal handler) is passed on to
the working thread, which unwinds normally, and `interrupt()` raises an exception in the thread
doing the work for a given caller (a run's timeout, from any thread).
"""
from __future__ import annotations

import contextvars
import sys
import threading
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

class _Worker:
    """The deep-stack thread working for a caller. An interrupt that comes before the thread
    runs is kept `pending` and raised by the thread as it starts, so none is lost or hits the
    caller instead (which would leave the worker running)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ident: Optional[int] = None
        self.pending: Optional[type[BaseException]] = None

    def begin(self) -> None:
        with self.lock:
            self.ident = threading.get_ident()
            pending, self.pending = self.pending, None
        if pending is not None:
            raise pending

    def interrupt(self, exc_type: type[BaseException]) -> None:
        with self.lock:
            if self.ident is None:
                self.pending = exc_type
                return
            ident = self.ident
        _raise_in(ident, exc_type)


_WORKERS: dict[int, _Worker] = {}   # caller thread id -> the deep-stack thread working for it


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
    worker = _Worker()
    # A new thread starts with empty context variables; the caller's (the run's I/O context)
    # must be seen by `fn`.
    context = contextvars.copy_context()

    def target() -> None:
        try:
            worker.begin()
            result["value"] = context.run(fn)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    new_limit = max(old_limit, recursion)
    sys.setrecursionlimit(new_limit)
    caller = threading.get_ident()
    previous = _WORKERS.get(caller)
    _WORKERS[caller] = worker
    try:
        try:
            threading.stack_size(stack_mb * 1024 * 1024)
            t = threading.Thread(target=target, name="shape-deep-stack")
        except (RuntimeError, ValueError, MemoryError):
            return False, None  # type: ignore[return-value]  # no room for this stack
        try:
            t.start()
        except (RuntimeError, ValueError, MemoryError):
            return False, None  # type: ignore[return-value]
        except BaseException as exc:  # interrupted while starting: the worker stops too
            if t.ident is None:
                raise
            worker.interrupt(type(exc))
        _join(t, worker)
    finally:
        if previous is None:
            _WORKERS.pop(caller, None)
        else:
            _WORKERS[caller] = previous
        threading.stack_size(old_size)
        # Restore only what this call changed (another thread may have raised it since).
        if sys.getrecursionlimit() == new_limit:
            sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return True, result["value"]


def _join(t: threading.Thread, worker: _Worker) -> None:
    """Wait for `t`; an exception raised in the waiting thread meanwhile (a signal handler's) is
    raised in `t` instead, and the wait goes on until `t` has unwound."""
    while True:
        try:
            t.join()
            return
        except BaseException as exc:  # noqa: B902 - KeyboardInterrupt and the like, passed on
            if not t.is_alive():
                raise
            worker.interrupt(type(exc))


def interrupt(thread_id: int, exc_type: type[BaseException]) -> None:
    """Raise `exc_type` at the next Python instruction of the thread doing the work that thread
    `thread_id` started (that thread itself when no deep stack is in use), the way Ctrl+C raises
    KeyboardInterrupt in the main thread."""
    worker = _WORKERS.get(thread_id)
    while worker is not None and worker.ident is not None and worker.ident in _WORKERS:
        worker = _WORKERS[worker.ident]     # a walk on a deep stack that started another one
    if worker is None:
        _raise_in(thread_id, exc_type)
    else:
        worker.interrupt(exc_type)


def _raise_in(thread_id: int, exc_type: type[BaseException]) -> None:
    import ctypes  # only when interrupting: it costs start-up time
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))
