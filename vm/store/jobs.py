"""The job records: what `shape jobs` and `shape wait` show, kept beside the queue.

(Below the API layer, in the store package, because a run's own `@handoff` / `@remote` hooks
enqueue jobs too: vm/remote.py.)

procrastinate delivers jobs (queues, locks, retries, worker heartbeats) in its own tables; this
table, `shape.jobs`, says what each job did: its snapshot, attempts, worker, times, captured
output, exit code or error, and the snapshot and job it handed on to. The id is procrastinate's
job id. Every change that enqueues a job writes its record in the same transaction, and a result
is recorded only while the job has none (`finished IS NULL`): a job may run more than once (a
worker that vanished mid-job is retried: at-least-once execution), but one result is recorded
and a job hands on to at most one continuation.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Iterator, Optional

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store.postgres import PG_SCHEMA, connect
from shapelang.vm.store.url import StoreURL, scrub

JOBS_SCHEMA_VERSION = 2      # 2: `result` (a @remote call's value)
TASK_RESUME = "shape.resume"     # the procrastinate task: continue snapshot `snapshot`

# Final statuses; a job that is `handed-off` or `preempted` continues as its `next_job`.
FINAL = ("succeeded", "failed", "handed-off", "preempted")

_DDL = f"""
CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.jobs (
    id bigint PRIMARY KEY,
    snapshot text COLLATE "C" NOT NULL,
    queue text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    created double precision NOT NULL,
    started double precision,
    first_step double precision,
    finished double precision,
    exit_code integer,
    stdout text,
    error text,
    next_snapshot text COLLATE "C",
    next_job bigint,
    parent_job bigint UNIQUE
);
ALTER TABLE {PG_SCHEMA}.jobs ADD COLUMN IF NOT EXISTS result text"""

_LOCK_KEY = 0x5348_4150_4532   # schema set-up of the queue (procrastinate's and ours)


@dataclass
class JobRecord:
    id: int
    snapshot: str
    queue: str
    status: str
    attempts: int
    worker: Optional[str]
    created: float
    started: Optional[float]
    first_step: Optional[float]
    finished: Optional[float]
    exit_code: Optional[int]
    stdout: Optional[str]
    error: Optional[str]
    next_snapshot: Optional[str]
    next_job: Optional[int]
    parent_job: Optional[int]
    # A @remote call's outcome, for a caller that waits in its own process: the codec's
    # encoding of Ok(value) / Err(message), base64 (vm/remote.py).
    result: Optional[str] = None


_COLS = ", ".join(f.name for f in fields(JobRecord))


class Link:
    """A connection to the queue's database that survives a server restart: a call whose
    connection was lost reconnects (for up to RECONNECT_SECONDS) and runs again. Every record
    change here may run twice safely: results are guarded by `finished IS NULL`, and an
    enqueue that already happened is refused by its parent's guard and rolled back."""

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.conn = connect(url)

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import psycopg
        from shapelang.runtime.errors import ShapeError
        from shapelang.vm.store.postgres import RECONNECT_SECONDS
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                return fn(self.conn, *args, **kwargs)
            except psycopg.OperationalError:
                if not (self.conn.broken or self.conn.closed) or time.monotonic() > deadline:
                    raise
            while True:
                try:
                    self.conn.close()
                    self.conn = connect(self.url)
                    break
                except ShapeError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.25)

    def close(self) -> None:
        self.conn.close()


@contextmanager
def database_errors(url: StoreURL) -> Iterator[None]:
    """Driver and queue errors as one clean StoreError line (password masked)."""
    import psycopg
    from procrastinate import exceptions
    try:
        yield
    except (psycopg.Error, exceptions.ProcrastinateException) as e:
        cause = e.__cause__ if isinstance(e, exceptions.ConnectorException) and e.__cause__ else e
        lines = [ln for ln in str(cause).strip().splitlines() if ln.strip()]
        raise ShapeError("StoreError", f"Job queue in {url.shown}: "
                         f"{scrub(lines[0] if lines else type(cause).__name__, url)}") from None


def deferrer() -> Any:
    """A procrastinate App that only enqueues, always on a connection it is given (so the job
    and its record are written in one transaction); it never opens a pool of its own."""
    from procrastinate import App, SyncPsycopgConnector
    return App(connector=SyncPsycopgConnector())


# The databases (URL targets) whose queue this process has set up or found in place: the set-up
# (an advisory lock, procrastinate's schema, our table and its version) runs once per process,
# not on every enqueue.
_QUEUE_READY: set[str] = set()


def open_queue(url: StoreURL) -> Any:
    """A connection to the store's database with the queue's tables in place (created on first
    use, by whichever process gets there first)."""
    if url.target in _QUEUE_READY:
        return connect(url)
    from procrastinate.schema import SchemaManager
    from shapelang.vm.store.postgres import PostgresStore
    store = PostgresStore(url)
    try:
        store._check_writable()        # the store's schema (`shape`), which holds our table
    finally:
        store.close()
    conn = connect(url)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if conn.execute("SELECT to_regclass('public.procrastinate_jobs')").fetchone()[0] is None:
                # procrastinate's own connections use the default search path: its tables go to
                # `public`, not to the store's schema that heads ours.
                conn.execute("SET LOCAL search_path TO public")
                conn.execute(SchemaManager.get_schema())
                conn.execute(f"SET LOCAL search_path TO {PG_SCHEMA}, public")
            conn.execute(_DDL)
            conn.execute(f"INSERT INTO {PG_SCHEMA}.meta (key, value) VALUES ('jobs_schema', %s) "
                         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         (str(JOBS_SCHEMA_VERSION),))
    except BaseException:
        conn.close()
        raise
    _QUEUE_READY.add(url.target)
    return conn


def enqueue(conn: Any, app: Any, snapshot: str, queue: str, parent: Optional[int] = None,
            parent_status: Optional[str] = None, parent_stdout: Optional[str] = None,
            **how: Any) -> Optional[int]:
    """Enqueue "resume `snapshot`" on `queue` and write its record, in one transaction. With
    `parent`, the parent job is closed as `parent_status` (handed-off or preempted) pointing at
    the new job; if the parent already has a result (another attempt got there first) nothing
    is enqueued and None is returned. `how` are the task's other arguments (a @remote call's
    role, reply queue and result: vm/remote.py), carried by the queue with the job."""
    how = {k: v for k, v in how.items() if v is not None}
    with conn.transaction():
        job_id = app.configure_task(TASK_RESUME, queue=queue, connection=conn).defer(
            snapshot=snapshot, **how)
        conn.execute(f"INSERT INTO {PG_SCHEMA}.jobs (id, snapshot, queue, status, created, parent_job) "
                     "VALUES (%s, %s, %s, 'queued', %s, %s)", (job_id, snapshot, queue, time.time(), parent))
        if parent is not None:
            cur = conn.execute(
                f"UPDATE {PG_SCHEMA}.jobs SET status=%s, finished=%s, stdout=%s, exit_code=0, "
                "next_snapshot=%s, next_job=%s WHERE id=%s AND finished IS NULL",
                (parent_status, time.time(), parent_stdout, snapshot, job_id, parent))
            if cur.rowcount != 1:
                raise _AlreadyFinished()
    return job_id


class _AlreadyFinished(Exception):
    pass


def hand_on(conn: Any, app: Any, parent: int, snapshot: str, queue: str, status: str,
            stdout: str, **how: Any) -> Optional[int]:
    """Close job `parent` as handed on to a new job that continues `snapshot`; None when the
    parent already has a result (the transaction is rolled back: nothing is enqueued)."""
    try:
        return enqueue(conn, app, snapshot, queue, parent, status, stdout, **how)
    except _AlreadyFinished:
        return None


def start(conn: Any, job_id: int, worker: str) -> bool:
    """Mark an attempt as started; False when the job already has its result."""
    cur = conn.execute(f"UPDATE {PG_SCHEMA}.jobs SET status='running', attempts=attempts+1, "
                       "worker=%s, started=%s, first_step=NULL WHERE id=%s AND finished IS NULL",
                       (worker, time.time(), job_id))
    return cur.rowcount == 1


def first_step(conn: Any, job_id: int, when: float) -> None:
    conn.execute(f"UPDATE {PG_SCHEMA}.jobs SET first_step=%s WHERE id=%s", (when, job_id))


def finish(conn: Any, job_id: int, status: str, exit_code: int, stdout: str,
           error: Optional[str], result: Optional[str] = None) -> bool:
    """Record the result, unless one is recorded already; True if this call recorded it."""
    cur = conn.execute(f"UPDATE {PG_SCHEMA}.jobs SET status=%s, exit_code=%s, stdout=%s, error=%s, "
                       "result=%s, finished=%s WHERE id=%s AND finished IS NULL",
                       (status, exit_code, stdout, error, result, time.time(), job_id))
    return cur.rowcount == 1


def get(conn: Any, job_id: int) -> Optional[JobRecord]:
    row = conn.execute(f"SELECT {_COLS} FROM {PG_SCHEMA}.jobs WHERE id=%s", (job_id,)).fetchone()
    return JobRecord(*row) if row else None


def recent(conn: Any, limit: Optional[int] = None, status: Optional[str] = None) -> list[JobRecord]:
    """Jobs oldest first (the newest `limit` of them)."""
    where, params = ("WHERE status=%s", [status]) if status else ("", [])
    sql = f"SELECT {_COLS} FROM {PG_SCHEMA}.jobs {where} ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return [JobRecord(*r) for r in conn.execute(sql, params).fetchall()][::-1]


def has_queue(conn: Any) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (f"{PG_SCHEMA}.jobs",)).fetchone()[0] is not None


def require_queue(conn: Any, url: StoreURL) -> None:
    """For commands that only read jobs: a database without the queue is an error, and they
    create nothing in it."""
    if not has_queue(conn):
        raise ShapeError("StoreError", f"{url.shown} has no job queue yet (nothing was submitted "
                         "there; it was left unchanged)")
