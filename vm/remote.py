"""Driving `std::core::remote`: what a run does when its hooks hand off or call remotely.

The hooks (runtime/stdlib/remote.shape) take a snapshot and raise a signal out of the machine
(runtime/stdlib/remote.py); the driver of the run answers it here, with the job queue of the
shared PostgreSQL store (vm/store/jobs.py):

- `HandOff(queue, S)`: enqueue "resume S" on `queue` (in a job: close the job as handed off to
  it, in the same transaction); the run ends with exit code 0.
- `RemoteCall(queue, S)`: enqueue "resume S as the callee" on `queue`. The worker that takes it
  resumes S with the callee role: the hook calls the function there and raises
  `RemoteReturn(value)` (or the call fails with an error), and that outcome, Ok(value) or
  Err(message), is encoded with the snapshot codec (data only). Then the caller continues: in a
  job, a new job "resume S as the caller, with this result" goes to the caller's queue (so a
  single worker never waits on itself); in a process of its own (`shape run`), the caller
  waits for the call's job and resumes S in place with the result.

See spec/remote.md.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable, Optional

from shapelang.runtime.errors import ShapeError
from shapelang.runtime.stdlib.remote import CALLEE, CALLER, RemoteContext, remote_error
from shapelang.runtime.values import Err, Ok
from shapelang.vm.store.url import StoreURL, parse_store_url

POLL_SECONDS = 0.05


def context_for(store: Optional[str], role: str = CALLER, result: Any = None) -> RemoteContext:
    """The remote context of a run whose snapshots go to `store` (a path or URL, None for the
    default): hooks may hand off only when it is a shared PostgreSQL store."""
    url = parse_store_url(store)
    return RemoteContext(url.target if url.kind == "postgresql" else None, role, result)


# ---------------------------------------------------------------- outcomes of calls

def encode_outcome(outcome: Any) -> str:
    """Ok(value) / Err(message) as text a job can carry (the snapshot codec's bytes, base64)."""
    from shapelang.vm.codec import CodecError, Encoder
    from shapelang.vm.snapshot import registry
    try:
        data = Encoder(registry()).encode(outcome)
    except CodecError as e:
        data = Encoder(registry()).encode(Err(f"The @remote function's result cannot be sent: {e}"))
    import base64      # on use (start-up: every run's driver imports this module)
    return base64.b64encode(data).decode("ascii")


def decode_outcome(text: str) -> Any:
    import base64
    from shapelang.vm.codec import CodecError, Decoder
    from shapelang.vm.snapshot import registry
    try:
        value = Decoder(registry()).decode(base64.b64decode(text.encode("ascii"), validate=True))
    except (CodecError, ValueError, TypeError) as e:
        raise remote_error(f"The result of a @remote call is unreadable ({type(e).__name__})") \
            from None
    if not isinstance(value, (Ok, Err)):
        raise remote_error("The result of a @remote call is unreadable (not Ok or Err)")
    return value


def failed_call(e: BaseException) -> Any:
    """The Err a caller gets when its @remote function failed on the worker."""
    from shapelang.runtime.errors import ShapeExit
    if isinstance(e, ShapeExit):
        return Err(f"The @remote function called exit({e.code})")
    if isinstance(e, ShapeError):
        return Err(f"{e.kind}: {e.message}")
    return Err(f"internal error: {type(e).__name__}: {e}")


# ---------------------------------------------------------------- the queue

def submit(store: str, snapshot: str, queue: str, **how: Any) -> int:
    """Enqueue "resume `snapshot`" on `queue` of the shared store at URL `store`."""
    from shapelang.vm.store import jobs
    url = StoreURL("postgresql", store)
    with jobs.database_errors(url):
        conn = jobs.open_queue(url)
        try:
            return jobs.enqueue(conn, jobs.deferrer(), snapshot, queue, **how)
        finally:
            conn.close()


def wait(store: str, job: int, stopped: Callable[[], bool],
         printed: Optional[Callable[[str], None]] = None) -> Any:
    """Wait for job `job` to end, following the jobs it handed on to (a hand-off, or the
    continuation of a worker preempted by SIGTERM): returns the last job's record, its `stdout`
    joined over the chain. Each job's output goes to `printed` as soon as that job ends (`shape
    wait` shows a long chain as it goes). When `stopped()` turns true first, returns the record
    last read, unfinished (`finished` is None). `shape wait` and a `shape run` that waits for its
    @remote call both wait here; a database restart meanwhile is reconnected (jobs.Link)."""
    from shapelang.vm.store import jobs
    url = StoreURL("postgresql", store)
    joined: list[str] = []
    with jobs.database_errors(url):
        link = jobs.Link(url)
        try:
            link.call(jobs.require_queue, url)
            while True:
                rec = link.call(jobs.get, job)
                if rec is None:
                    raise ShapeError("JobError", f"No job {job} in {url.shown}")
                if rec.finished is not None:
                    joined.append(rec.stdout or "")
                    if rec.stdout and printed is not None:
                        printed(rec.stdout)
                    if rec.status in ("preempted", "handed-off") and rec.next_job is not None:
                        job = rec.next_job
                        continue
                    rec.stdout = "".join(joined)
                    return rec
                if stopped():
                    return rec
                time.sleep(POLL_SECONDS)
        finally:
            link.close()


def call_result(rec: Any) -> Any:
    """The outcome a finished callee job recorded (Err when it recorded none)."""
    if rec.result:
        return decode_outcome(rec.result)
    if rec.error:
        # "Error: FILE:LINE:COL: Kind: message" -> "Kind: message" (no position, as spec §6.2)
        first = rec.error.strip().splitlines()[0]
        m = re.search(r"(?:^|: )([A-Z][A-Za-z]*(?:Error|Overflow)): (.*)$", first)
        return Err(f"{m.group(1)}: {m.group(2)}" if m else first.removeprefix("Error: "))
    return Err(f"The @remote call's job {rec.id} ended without a result ({rec.status})")


__all__ = ["CALLEE", "CALLER", "call_result", "context_for", "decode_outcome", "encode_outcome",
           "failed_call", "submit", "wait"]
