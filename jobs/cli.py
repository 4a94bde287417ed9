"""`shape submit | worker | jobs | wait` — distributed continuations through a shared
PostgreSQL store (see jobs/worker.py for the worker, vm/store/jobs.py for what a job records).

    shape submit ID [--queue Q]             enqueue "continue snapshot ID"; prints the job id
    shape worker [--queue Q …] [--concurrency N] [--heartbeat S] [--max-attempts N] [--burst]
    shape jobs [--limit N] [--status S] [--json]
    shape wait JOB [--timeout S]            the job's output (following hand-offs), its exit code

Each takes `--store URL` (default `$SHAPE_STORE`); the store must be PostgreSQL, which the
queue lives in: with a SQLite store they say so at once.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from shapelang.diagnostics import command_errors
from shapelang.runtime.errors import ShapeError
from shapelang.vm.store.jobs import FINAL, database_errors
from shapelang.vm.store.url import StoreURL, parse_store_url


def queue_store(location: Optional[str], command: str) -> StoreURL:
    url = parse_store_url(location)
    if url.kind != "postgresql":
        raise ShapeError("StoreError", f"shape {command} needs a shared PostgreSQL store "
                         f"(--store postgresql://… or SHAPE_STORE); {url.shown} is a SQLite file")
    return url


def _positive(kind: type):
    def parse(text: str):
        try:
            n = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if not n > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return n
    return parse


def _queue_name(text: str) -> str:
    # A job on the queue "" is one no worker takes (`--queue ""` is no queue to it).
    if not text.strip():
        raise argparse.ArgumentTypeError("a queue name is a non-empty string")
    return text


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="the shared store: postgresql://… (default: $SHAPE_STORE)")


def _when(ts: Optional[float]) -> str:
    from shapelang.report import iso_utc
    return "-" if ts is None else iso_utc(ts)


# ---------------------------------------------------------------- submit

def submit_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape submit", description="Enqueue a job that continues a "
                                "stored snapshot on a worker; prints the job id.")
    p.add_argument("id", help="snapshot id or unique prefix")
    p.add_argument("--queue", type=_queue_name, default="default",
                   help="queue name (default: default)")
    _store_option(p)
    return p


@command_errors("submit")
def submit_main(argv: Optional[list[str]] = None) -> int:
    args = submit_parser().parse_args(argv)
    url = queue_store(args.store, "submit")
    print(submit(url, args.id, args.queue))
    return 0


def submit(url: StoreURL, snapshot: str, queue: str) -> int:
    """Enqueue "continue `snapshot`" (an id or unique prefix) on `queue`; returns the job id."""
    from shapelang.vm.store import jobs as records
    from shapelang.vm.store.postgres import PostgresStore
    store = PostgresStore(url, create=False)
    try:
        sid = store.resolve(snapshot)
    finally:
        store.close()
    with database_errors(url):
        conn = records.open_queue(url)
        try:
            return records.enqueue(conn, records.deferrer(), sid, queue)
        finally:
            conn.close()


# ---------------------------------------------------------------- worker

def worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape worker", description="Run jobs from PostgreSQL queues, "
                                "one resumed VM per job, until SIGTERM or Ctrl+C (which snapshot "
                                "the running jobs and re-enqueue them).")
    p.add_argument("--queue", action="append", dest="queues", metavar="Q", type=_queue_name,
                   help="a queue to take jobs from (repeatable; default: default)")
    p.add_argument("--concurrency", type=_positive(int), default=1,
                   help="jobs run at once (default 1)")
    p.add_argument("--heartbeat", type=_positive(float), default=10.0, metavar="S",
                   help="seconds between heartbeats; a worker silent for 3 beats is taken for "
                        "dead and its jobs are retried (default 10)")
    p.add_argument("--max-attempts", type=_positive(int), default=3, metavar="N",
                   help="starts of a job before it is failed (default 3)")
    p.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    _store_option(p)
    return p


@command_errors("worker")
def worker_main(argv: Optional[list[str]] = None) -> int:
    from shapelang.jobs.worker import WorkerSettings, run_worker
    args = worker_parser().parse_args(argv)
    url = queue_store(args.store, "worker")

    def log(text: str) -> None:
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        sys.stderr.flush()
    settings = WorkerSettings(url, queues=args.queues or ["default"], concurrency=args.concurrency,
                              heartbeat=args.heartbeat, max_attempts=args.max_attempts,
                              burst=args.burst, log=log)
    with database_errors(url):
        return run_worker(settings)


# ---------------------------------------------------------------- jobs

def jobs_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape jobs", description="List jobs, oldest first.")
    p.add_argument("--limit", type=_positive(int), help="only the newest N jobs")
    statuses = ("queued", "running") + FINAL
    p.add_argument("--status", choices=statuses, metavar="STATUS",
                   help=f"only jobs with this status: {', '.join(statuses)}")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    _store_option(p)
    return p


@command_errors("jobs")
def jobs_main(argv: Optional[list[str]] = None) -> int:
    from shapelang.report import table
    from shapelang.vm.store import jobs as records
    args = jobs_parser().parse_args(argv)
    url = queue_store(args.store, "jobs")
    with database_errors(url), _queue_connection(url) as conn:
        rows = records.recent(conn, args.limit, args.status)
    if args.json:
        print(json.dumps([_job_json(r) for r in rows], indent=1))
    elif not rows:
        print(f"No jobs in {url.shown}")
    else:
        listed = []
        for r in rows:
            listed.append([str(r.id), r.snapshot[:12], r.queue, r.status, str(r.attempts),
                           r.worker or "-", _when(r.started), _when(r.finished),
                           f"{r.next_snapshot[:12]} -> job {r.next_job}" if r.next_job else "-"])
        print(table(["ID", "SNAPSHOT", "QUEUE", "STATUS", "ATTEMPTS", "WORKER", "STARTED (UTC)",
                     "FINISHED (UTC)", "NEXT"], listed, right=(0, 4)))
    return 0


def _job_json(r: Any) -> dict:
    from dataclasses import asdict
    d = asdict(r)
    for key in ("created", "started", "first_step", "finished"):
        d[key] = None if d[key] is None else _when(d[key])
    return d


@contextmanager
def _queue_connection(url: StoreURL) -> Iterator[Any]:
    """A connection to a database whose queue exists (read-only commands create nothing)."""
    from shapelang.vm.store import jobs as records
    from shapelang.vm.store.postgres import connect
    conn = connect(url)
    try:
        records.require_queue(conn, url)
        yield conn
    finally:
        conn.close()


# ---------------------------------------------------------------- wait

def wait_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape wait", description="Wait for a job to end, following "
                                "its hand-offs; print its output and exit with its exit code.")
    p.add_argument("job", type=_positive(int), help="job id")
    p.add_argument("--timeout", type=_positive(float), metavar="S",
                   help="give up after S seconds (exit 1)")
    _store_option(p)
    return p


@command_errors("wait")
def wait_main(argv: Optional[list[str]] = None) -> int:
    from shapelang.vm import remote
    args = wait_parser().parse_args(argv)
    url = queue_store(args.store, "wait")
    deadline = None if args.timeout is None else time.monotonic() + args.timeout

    def printed(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
    r = remote.wait(url.target, args.job,
                    lambda: deadline is not None and time.monotonic() >= deadline, printed)
    if r.finished is None:
        raise ShapeError("JobError", f"Job {r.id} did not end in time (status: {r.status})")
    if r.error:
        sys.stderr.write(r.error.rstrip("\n") + "\n")
    return r.exit_code if r.exit_code is not None else 1
