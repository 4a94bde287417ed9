"""`shape worker`: run "continue snapshot S" jobs from PostgreSQL queues, one resumed VM per job.

The worker is a procrastinate worker. Each job runs on its own thread: the snapshot is loaded
from the shared store, the machine continues it with its output captured, and the result (the
output, the exit code or the error) is recorded once in the job's record (see vm/store/jobs.py). A
program's `exit()`, an error or a stop end the job, never the worker.

Failures, and what this module adds to procrastinate for them:
- a worker that dies (SIGKILL, a lost machine) stops sending heartbeats; every worker runs a
  sweeper that finds jobs whose worker's heartbeat is older than the stall timeout and puts
  them back in the queue, so another worker continues the same snapshot again; after
  `max_attempts` starts a job is failed instead (a job that keeps killing its workers);
- SIGTERM (or Ctrl+C) preempts: every running machine stops at its next safepoint, its state is
  saved as a snapshot, and a continuation job is enqueued in the same transaction that closes the
  job as `preempted`; then the worker exits. No work is lost and none is repeated;
- a lost database connection (a PostgreSQL restart) is reconnected by the store, the job
  records (jobs.Link) and the queue's pool; procrastinate's loop, which ends when a fetch fails,
  is started again once the database answers; the sweeper leaves the jobs this process holds
  alone, and judges nobody for a stall timeout after an outage (every heartbeat is as old as
  the outage then); a job whose store work fails anyway is retried, up to `max_attempts`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from shapelang.vm.store import jobs as records
from shapelang.runtime.errors import ShapeError, ShapeExit
from shapelang.runtime.stdlib.remote import CALLEE, CALLER
from shapelang.vm.store.postgres import connect
from shapelang.vm.store.url import StoreURL, scrub

DEFAULT_QUEUE = "default"


class RetryableJobError(Exception):
    """The job could not run for a reason outside the program (the store was unreachable)."""


@dataclass
class WorkerSettings:
    url: StoreURL
    queues: list[str] = field(default_factory=lambda: [DEFAULT_QUEUE])
    concurrency: int = 1
    heartbeat: float = 10.0        # seconds between heartbeats; stalled after 3 missed
    max_attempts: int = 3
    burst: bool = False            # exit when the queues are empty (tests, benchmarks)
    # A notification can arrive while the worker is between two fetches and be lost (procrastinate
    # clears its new-job event after each fetch): the poll bounds the delay that costs.
    poll: float = 0.2
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    log: Callable[[str], Any] = field(default=lambda text: None)

    @property
    def stall_timeout(self) -> float:
        return 3 * self.heartbeat


class Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        from procrastinate import App, PsycopgConnector, RetryStrategy
        self.s = settings
        self.stopping = threading.Event()
        self.running: dict[int, Any] = {}       # job id -> the machine running it
        # Jobs this process has taken and not yet let go of (from the task's start: before its
        # machine is running). They are alive whatever their heartbeat says (the sweeper).
        self.held: set[int] = set()
        self.lock = threading.Lock()
        self.preempted = 0
        self.app = App(connector=PsycopgConnector(
            conninfo=settings.url.target, min_size=1, max_size=settings.concurrency + 4,
            kwargs={"connect_timeout": 10}))
        self.deferrer = records.deferrer()
        retry = RetryStrategy(max_attempts=settings.max_attempts, wait=1,
                              retry_exceptions={RetryableJobError})

        @self.app.task(name=records.TASK_RESUME, pass_context=True, retry=retry)
        def resume_job(context: Any, snapshot: str, role: str = CALLER,
                       reply: Optional[str] = None, result: Optional[str] = None) -> None:
            with self.lock:
                self.held.add(context.job.id)
            try:
                self.run_job(context.job.id, context.job.queue, snapshot, role, reply, result)
            finally:
                with self.lock:
                    self.held.discard(context.job.id)

    # ------------------------------------------------------------ one job (on its own thread)

    def run_job(self, job_id: int, queue: str, snapshot: str, role: str = CALLER,
                reply: Optional[str] = None, result: Optional[str] = None) -> None:
        """Continue `snapshot`. A @remote call's job (spec/remote.md) resumes it as the callee
        (`role`), which makes the call; its outcome goes on to the caller's queue `reply` as
        a job that resumes the caller with it (`result`), or is recorded for a caller that
        waits in its own process (no `reply`)."""
        from shapelang.runtime.stdlib import remote as hooks
        from shapelang.runtime.stdlib.context import running
        from shapelang.vm import remote
        from shapelang.vm import snapshot as S
        from shapelang.vm.machine import STOPPED
        try:
            link = records.Link(self.s.url)
        except ShapeError as e:
            raise RetryableJobError(e.message) from None
        try:
            if not link.call(records.start, job_id, self.s.name):
                return  # a second delivery of a job whose result is recorded: nothing to do
            attempt = link.call(records.get, job_id).attempts
            out: list[str] = []
            resumed = None
            how = {"role": role, "reply": reply, "result": result}
            try:
                ctx = hooks.RemoteContext(self.s.url.target, role,
                                          None if result is None else remote.decode_outcome(result))
                resumed = S.restore(snapshot, out.append, store=self.s.url.target)
                with self.lock:
                    self.running[job_id] = resumed.machine
                if self.stopping.is_set():
                    resumed.machine.request_stop()
                link.call(records.first_step, job_id, time.time())
                try:
                    with running(resumed.io), hooks.driving(ctx):
                        value = resumed.machine.run()
                except (ShapeExit, ShapeError) as e:   # RemoteSignal is a ShapeExit
                    if (role != CALLEE or isinstance(e, (hooks.HandOff, hooks.RemoteCall))
                            or getattr(e, "kind", None) == "StoreError"):
                        raise
                    self._return(link, job_id, out, reply, snapshot,
                                 e.value if isinstance(e, hooks.RemoteReturn) else e)
                    return
                if value is STOPPED:   # preempted (SIGTERM): hand the rest on
                    sid = resumed.save_interrupt()
                    nxt = link.call(records.hand_on, self.deferrer, job_id, sid, queue,
                                    "preempted", "".join(out), **how)
                    self.preempted += 1
                    self.s.log(f"job {job_id}: preempted, continues as job {nxt} "
                               f"(snapshot {sid[:12]})")
                    return
                self._finish(link, job_id, "succeeded", 0, out, None)
            except hooks.HandOff as h:
                nxt = link.call(records.hand_on, self.deferrer, job_id, h.snapshot, h.queue,
                                "handed-off", "".join(out))
                self.s.log(f"job {job_id}: handed off to queue {h.queue}: "
                           + (f"job {nxt}" if nxt else "already recorded by another attempt"))
            except hooks.RemoteCall as c:
                # The caller's job ends here (a worker never waits on a call it made): the call
                # runs as the next job, and the caller continues after it on this queue.
                nxt = link.call(records.hand_on, self.deferrer, job_id, c.snapshot, c.queue,
                                "handed-off", "".join(out), role=CALLEE, reply=queue)
                self.s.log(f"job {job_id}: @remote call on queue {c.queue}: "
                           + (f"job {nxt}" if nxt else "already recorded by another attempt"))
            except ShapeExit as e:
                self._finish(link, job_id, "succeeded" if e.code == 0 else "failed", e.code, out, None)
            except ShapeError as e:
                if e.kind == "StoreError" and attempt < self.s.max_attempts:
                    self.s.log(f"job {job_id}: attempt {attempt} failed, retrying: {e.message}")
                    raise RetryableJobError(e.message) from None
                if e.file is None and e.phase != "resume" and resumed is not None:
                    e.file = resumed.script
                if role == CALLEE:   # the caller still gets its outcome (and goes on)
                    self._return(link, job_id, out, reply, snapshot, e)
                    return
                self._finish(link, job_id, "failed", 1, out, e.render())
            except RetryableJobError:
                raise
            except Exception as e:  # an engine bug: the job fails, the worker goes on
                if role == CALLEE:
                    self._return(link, job_id, out, reply, snapshot, e)
                    return
                self._finish(link, job_id, "failed", 1, out,
                             f"Error: internal error: {type(e).__name__}: {e}")
            finally:
                with self.lock:
                    self.running.pop(job_id, None)
                if resumed is not None:
                    resumed.close()
        finally:
            link.close()

    def _return(self, link: records.Link, job_id: int, out: list[str], reply: Optional[str],
                snapshot: str, outcome: Any) -> None:
        """A callee job made its @remote call: the outcome goes back to the caller."""
        from shapelang.runtime.values import Err, Ok
        from shapelang.vm import remote
        value = remote.failed_call(outcome) if isinstance(outcome, BaseException) else Ok(outcome)
        encoded = remote.encode_outcome(value)
        status = "succeeded" if not isinstance(value, Err) else "failed"
        if reply is None:   # the caller waits in its own process and reads the record
            self._finish(link, job_id, status, 0, out, None, encoded)
            return
        nxt = link.call(records.hand_on, self.deferrer, job_id, snapshot, reply, "handed-off",
                        "".join(out), result=encoded)
        self.s.log(f"job {job_id}: @remote call done ({status}); the caller continues as "
                   + (f"job {nxt}" if nxt else "already recorded by another attempt"))

    def _finish(self, link: records.Link, job_id: int, status: str, code: int, out: list[str],
                error: Optional[str], result: Optional[str] = None) -> None:
        recorded = link.call(records.finish, job_id, status, code, "".join(out), error, result)
        self.s.log(f"job {job_id}: {status} (exit {code})"
                   + ("" if recorded else ", result already recorded by another attempt"))

    # ------------------------------------------------------------ the worker process

    def preempt(self) -> None:
        """SIGTERM / Ctrl+C: stop every running job at its next safepoint, then stop."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.s.log("stopping: running jobs are snapshotted and re-enqueued")
        with self.lock:
            for machine in self.running.values():
                machine.request_stop()
        if self._task is not None:
            self._task.cancel()

    _task: Optional[asyncio.Task] = None

    async def serve(self) -> None:
        await asyncio.to_thread(self._prepare)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.preempt)
        async with self.app.open_async():
            sweeper = asyncio.create_task(self.sweep_forever())
            self.s.log(f"worker {self.s.name}: queues {', '.join(self.s.queues)}, "
                       f"concurrency {self.s.concurrency}, heartbeat {self.s.heartbeat:g} s")
            try:
                await self._take_jobs()
            finally:
                sweeper.cancel()

    async def _take_jobs(self) -> None:
        """Run procrastinate's worker loop until the queues are empty (burst) or a stop. A loop
        that a lost database connection ended (a PostgreSQL restart: a fetch that fails ends it,
        once its running jobs are done) starts again when the database answers; only a database
        that stays away for RECONNECT_SECONDS, or loops that keep failing at once, end the
        worker with the error."""
        from shapelang.vm.store.postgres import MAX_RECONNECTS
        quick_failures = 0
        while True:
            started = time.monotonic()
            self._task = asyncio.create_task(self.app.run_worker_async(
                queues=self.s.queues, concurrency=self.s.concurrency, wait=not self.s.burst,
                name=self.s.name, install_signal_handlers=False, listen_notify=True,
                update_heartbeat_interval=self.s.heartbeat,
                stalled_worker_timeout=self.s.stall_timeout, fetch_job_polling_interval=self.s.poll))
            try:
                await self._task
            except asyncio.CancelledError:
                if not self.stopping.is_set():
                    raise
                return
            except Exception as e:
                if self.stopping.is_set() or not _connection_lost(e):
                    raise
                quick = time.monotonic() - started < self.s.stall_timeout
                quick_failures = quick_failures + 1 if quick else 0
                if quick_failures > MAX_RECONNECTS:
                    raise
                self.s.log(f"the job loop lost the database ({_first_line(e, self.s.url)}); "
                           "reconnecting")
            else:
                if self.s.burst or self.stopping.is_set():
                    return
                # procrastinate stops its loop when one of its side tasks (heartbeat, listener)
                # failed: that is a lost database too.
                self.s.log("the job loop stopped (a side task lost the database); starting again")
            await asyncio.to_thread(self._reachable)
            if self.stopping.is_set():
                return

    def _reachable(self) -> None:
        """Return once the database accepts a connection (or the worker is stopping); a
        StoreError when it does not for RECONNECT_SECONDS."""
        from shapelang.vm.store.postgres import RECONNECT_SECONDS
        deadline = time.monotonic() + RECONNECT_SECONDS
        while not self.stopping.is_set():
            try:
                connect(self.s.url).close()
                return
            except ShapeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def _prepare(self) -> None:
        records.open_queue(self.s.url).close()

    async def sweep_forever(self) -> None:
        while True:
            began = time.monotonic()
            try:
                await self.sweep()
                outage = time.monotonic() - began > self.s.heartbeat
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is away: try again at the next beat
                self.s.log(f"sweeper: {type(e).__name__}: {_first_line(e, self.s.url)}")
                outage = True
            # After the database was away (a sweep that failed, or that waited for a connection
            # longer than a beat), every live worker's last heartbeat is as old as the outage:
            # judge nobody until each has had a stall timeout to beat again.
            await asyncio.sleep(self.s.stall_timeout if outage else self.s.heartbeat)

    async def sweep(self) -> None:
        """Put the jobs of workers whose heartbeat stopped back in their queue, or fail them
        once they have used up their attempts. Jobs this process holds are alive, whatever
        the heartbeat of the procrastinate worker that took them says."""
        from procrastinate import exceptions, jobs
        stalled = await self.app.job_manager.get_stalled_jobs(
            task_name=records.TASK_RESUME, seconds_since_heartbeat=self.s.stall_timeout)
        with self.lock:
            stalled = [job for job in stalled if job.id not in self.held]
        for job in stalled:
            rec = await asyncio.to_thread(self._record, job.id)
            try:
                if rec is not None and rec.attempts >= self.s.max_attempts:
                    await asyncio.to_thread(self._fail_lost, job.id, rec.attempts)
                    await self.app.job_manager.finish_job_by_id_async(
                        job.id, status=jobs.Status.FAILED, delete_job=False)
                else:
                    await self.app.job_manager.retry_job(job)
                    self.s.log(f"job {job.id}: its worker stopped answering; back in queue "
                               f"{job.queue}")
            except exceptions.ConnectorException:
                pass  # another worker's sweeper got there first

    def _record(self, job_id: int) -> Optional[records.JobRecord]:
        conn = connect(self.s.url)
        try:
            return records.get(conn, job_id)
        finally:
            conn.close()

    def _fail_lost(self, job_id: int, attempts: int) -> None:
        conn = connect(self.s.url)
        try:
            records.finish(conn, job_id, "failed", 1, "",
                           f"Error: job {job_id}: its worker was lost {attempts} time(s); "
                           "not retried again")
        finally:
            conn.close()
        self.s.log(f"job {job_id}: failed after {attempts} lost attempt(s)")


def _connection_lost(e: BaseException) -> bool:
    """Whether `e` (out of procrastinate, which wraps driver errors) is a lost connection."""
    import psycopg
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, psycopg.OperationalError):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _first_line(e: BaseException, url: StoreURL) -> str:
    """The error's first line (the driver's, under procrastinate's wrapper), password masked."""
    cause = e.__cause__ or e
    lines = [ln.strip() for ln in str(cause).splitlines() if ln.strip()]
    return scrub(lines[0] if lines else type(cause).__name__, url)


def run_worker(settings: WorkerSettings) -> int:
    """Run until the queues are empty (burst) or until SIGTERM / Ctrl+C; returns an exit code."""
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    worker = Worker(settings)
    asyncio.run(worker.serve())
    if worker.preempted:
        settings.log(f"worker {settings.name}: stopped; {worker.preempted} job(s) re-enqueued")
    return 0
