"""`std::core::remote`: the builtins behind `@handoff(queue)` and `@remote(queue)`.

The annotations themselves are Shape code (remote.shape, spliced into a program that imports
them by ref/modules.py). Their hooks take an ordinary `snapshot()` and then ask the run's driver
to carry on elsewhere, by raising one of the signals below out of the machine:

- `HandOff(queue, snapshot)`: submit "resume `snapshot`" to `queue` and end this run with exit
  code 0 (`@handoff` on an await; the awaited expression and the rest run on the worker);
- `RemoteCall(queue, snapshot)`: run the annotated function's call on a worker of `queue` (the
  worker resumes `snapshot` as the *callee*: the hook then calls the function and ends with
  `RemoteReturn(value)`), then resume `snapshot` again as the *caller*, where the hook returns
  `{ result: Ok(value) }` (or `Err(message)` when the call failed).

Who drives is told by `RemoteContext`, a context variable the driver sets around the machine:
the shared store's URL (None when the run's store is not a shared PostgreSQL store: the hooks
then stop with a clear error instead of taking a snapshot), the role and the call's result.
The reference evaluator never sets it: it stores no snapshots, so nothing can be handed off.
See spec/remote.md.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from shapelang.runtime.arguments import argc as check_count
from shapelang.runtime.errors import ShapeError, ShapeExit
from shapelang.runtime.values import BuiltinFunction

CALLER, CALLEE = "caller", "callee"


@dataclass
class RemoteContext:
    store: Optional[str]          # the shared store's URL, or None (not a PostgreSQL store)
    role: str = CALLER            # CALLEE: this run resumed a @remote call to make it
    result: Any = None            # what a resumed caller's @remote call gives (Ok / Err)


_CURRENT: ContextVar[Optional[RemoteContext]] = ContextVar("shape_remote", default=None)


def current() -> Optional[RemoteContext]:
    return _CURRENT.get()


@contextlib.contextmanager
def driving(ctx: Optional[RemoteContext]) -> Iterator[None]:
    """Make `ctx` the remote context of the code run inside."""
    token = _CURRENT.set(ctx)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class RemoteSignal(ShapeExit):
    """A request to the run's driver; a driver that does not know it sees `exit(0)`."""


class HandOff(RemoteSignal):
    def __init__(self, queue: str, snapshot: str) -> None:
        super().__init__(0)
        self.queue, self.snapshot = queue, snapshot


class RemoteCall(RemoteSignal):
    def __init__(self, queue: str, snapshot: str) -> None:
        super().__init__(0)
        self.queue, self.snapshot = queue, snapshot


class RemoteReturn(RemoteSignal):
    def __init__(self, value: Any) -> None:
        super().__init__(0)
        self.value = value


def remote_error(message: str) -> ShapeError:
    return ShapeError("RuntimeError", message)


def needs_shared_store(what: str) -> ShapeError:
    return remote_error(f"@{what} needs a shared PostgreSQL store: run the program on the VM "
                        "with --store postgresql://… (or SHAPE_STORE), and a `shape worker` "
                        "on the same store")


def snapshot_in_remote_call() -> ShapeError:
    return remote_error("snapshot() is not allowed inside a @remote function (its call runs on "
                        "a worker and returns a value; nothing can resume it)")


def _check(args: list) -> Any:
    what, queue = args
    if not isinstance(queue, str) or not queue:
        from shapelang.runtime.display import type_name
        raise ShapeError("TypeError", f"@{what} expects a queue name (a non-empty string), "
                         f"got {type_name(queue)}")
    ctx = current()
    if ctx is None or ctx.store is None:
        raise needs_shared_store(what)
    return None


def _driven(what: str, queue: Any) -> str:
    """The hooks' signals are raised only under a driver that can answer them."""
    _check([what, queue])
    return queue


def _handoff(args: list) -> Any:
    raise HandOff(_driven("handoff", args[0]), str(args[1]))


def _call(args: list) -> Any:
    raise RemoteCall(_driven("remote", args[0]), str(args[1]))


def _is_callee(args: list) -> Any:
    ctx = current()
    return ctx is not None and ctx.role == CALLEE


def _return(args: list) -> Any:
    if not _is_callee([]):
        raise remote_error("__remote_return() is only for a @remote call running on a worker")
    raise RemoteReturn(args[0])


def _result(args: list) -> Any:
    ctx = current()
    if ctx is None or ctx.result is None:
        # Only a driver that resumes a caller gives it a result; a snapshot of the hook resumed
        # by hand (`shape --resume`) has none.
        raise remote_error("This @remote call has no result: its snapshot was resumed by hand, "
                           "or __remote_result() was called outside @remote's hook (a call's "
                           "result comes with the job chain of `shape worker`)")
    return ctx.result


def _builtin(name: str, fn: Callable[[list], Any], argc: int) -> BuiltinFunction:
    def call(args: list) -> Any:
        check_count(f"{name}()", args, argc)
        return fn(args)
    return BuiltinFunction(name, call)


# The hooks' builtins; `__` names, like the prelude's helpers.
BUILTINS: dict[str, BuiltinFunction] = {
    name: _builtin(name, fn, argc) for name, fn, argc in (
        ("__remote_check", _check, 2),
        ("__remote_handoff", _handoff, 2),
        ("__remote_call", _call, 2),
        ("__remote_is_callee", _is_callee, 0),
        ("__remote_return", _return, 1),
        ("__remote_result", _result, 0))}

SOURCE = "remote.shape"
ANNOTATIONS = ("handoff", "remote")
