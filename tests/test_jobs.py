"""Jobs through a real PostgreSQL server and real `shape worker` processes: submit, run, wait,
the exit code and error of a job, SIGKILL (retried once the heartbeat stops), SIGTERM
(preempted at a safepoint and continued), a PostgreSQL restart, bounded attempts. Every output
is compared with the same snapshot resumed from a SQLite store (the uninterrupted run)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from shapelang import cli
from shapelang.vm.store import copy_snapshot, open_store

HEARTBEAT = "0.5"     # seconds: a killed worker is taken for dead after 1.5 s


def shape(*args: str):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def handoff_program(n: int, every: int, tail: str = "") -> str:
    """A program that snapshots, exits on the taking run, and on resume counts to n."""
    return f"""let s = snapshot()
match s {{
  Snapshot::Hash(id) => {{ print("taken"); exit(0) }}
  Snapshot::Resumed => print("resumed")
}}
let mut acc = 0
for i in 0..{n} {{
  acc = (acc + i * i) % 1000003
  if i % {every} == 0 {{ print("at", i, acc) }}
}}
print("done", acc)
{tail}
"""


def take(url: str, source: str, tmp_path, name: str = "job.shape") -> str:
    prog = tmp_path / name
    prog.write_text(source)
    r = shape("run", "--store", url, str(prog))
    assert r.returncode == 0 and r.stdout == "taken\n", r.stderr
    store = open_store(url, create=False)
    try:
        return [s.id for s in store.list(script=str(prog))][-1]
    finally:
        store.close()


def uninterrupted(url: str, sid: str, tmp_path) -> tuple[int, str]:
    """The snapshot resumed in one go from a SQLite copy of it."""
    lite = str(tmp_path / "reference.db")
    src, dst = open_store(url, create=False), open_store(lite)
    try:
        copy_snapshot(src, dst, sid)
    finally:
        src.close()
        dst.close()
    r = subprocess.run([sys.executable, "-m", "shapelang", "--resume", sid, "--store", lite],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout


def submit(url: str, sid: str, queue: str = "default") -> int:
    r = shape("submit", sid, "--queue", queue, "--store", url)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def worker(url: str, *args: str, log=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shapelang", "worker", "--store", url,
                             "--heartbeat", HEARTBEAT, *args],
                            stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)


def record(url: str, job: int) -> dict:
    r = shape("jobs", "--json", "--store", url)
    assert r.returncode == 0, r.stderr
    return next(j for j in json.loads(r.stdout) if j["id"] == job)


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def finish(proc: subprocess.Popen, timeout: float = 60) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_submit_run_wait_equals_the_uninterrupted_run(pg_url, tmp_path):
    sid = take(pg_url, handoff_program(3000, 1000), tmp_path)
    job = submit(pg_url, sid[:12])
    assert record(pg_url, job)["status"] == "queued"
    assert finish(worker(pg_url, "--burst")) == 0
    r = shape("wait", str(job), "--timeout", "30", "--store", pg_url)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, sid, tmp_path)
    assert r.stdout.startswith("resumed\nat 0 0\n") and r.stdout.endswith("\n")
    rec = record(pg_url, job)
    assert rec["status"] == "succeeded" and rec["attempts"] == 1 and rec["exit_code"] == 0
    assert rec["snapshot"] == sid and rec["worker"] and rec["started"].endswith("Z")
    r = shape("jobs", "--store", pg_url)
    assert r.stdout.splitlines()[0].split()[:5] == ["ID", "SNAPSHOT", "QUEUE", "STATUS", "ATTEMPTS"]
    assert r.stdout.splitlines()[2].split()[:5] == [str(job), sid[:12], "default", "succeeded", "1"]


def test_exit_code_error_and_queues(pg_url, tmp_path):
    exits = take(pg_url, handoff_program(10, 5, "exit(3)"), tmp_path, "exits.shape")
    fails = take(pg_url, handoff_program(10, 5, "print(1 / 0)"), tmp_path, "fails.shape")
    j_exit, j_fail = submit(pg_url, exits, "q1"), submit(pg_url, fails, "q2")
    other = submit(pg_url, exits, "elsewhere")
    assert finish(worker(pg_url, "--burst", "--queue", "q1", "--queue", "q2")) == 0
    r = shape("wait", str(j_exit), "--store", pg_url)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, exits, tmp_path) and r.returncode == 3
    r = shape("wait", str(j_fail), "--store", pg_url)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, fails, tmp_path) and r.returncode == 1
    assert r.stderr.startswith("Error: ") and "fails.shape:12:7: ArithmeticError: Division by zero" in r.stderr
    rec = record(pg_url, j_fail)
    assert rec["status"] == "failed" and rec["attempts"] == 1   # a program error is not retried
    assert record(pg_url, other)["status"] == "queued"          # nobody took that queue
    r = shape("wait", str(other), "--timeout", "0.3", "--store", pg_url)
    assert r.returncode == 1 and "JobError: Job" in r.stderr and "did not end in time" in r.stderr


def test_a_sqlite_store_is_refused_at_once(tmp_path):
    lite = str(tmp_path / "s.db")
    for argv in (["submit", "abc"], ["worker"], ["jobs"], ["wait", "1"]):
        r = shape(*argv, "--store", lite)
        assert r.returncode == 1 and "needs a shared PostgreSQL store" in r.stderr, r.stderr
    assert not os.path.exists(lite)


@pytest.mark.parametrize("argv, message", [
    (["submit", "ab12", "--queue", ""], "argument --queue: a queue name is a non-empty string"),
    (["worker", "--queue", " "], "argument --queue: a queue name is a non-empty string"),
    (["jobs", "--status", "done"], "argument --status: invalid choice: 'done'"),
])
def test_queue_names_and_statuses_are_checked_before_the_store(argv, message):
    # a job submitted to the queue "" was one no worker would ever take; an unknown status
    # listed nothing, as if there were no such jobs
    r = shape(*argv, "--store", "postgresql://nobody@127.0.0.1:1/x")
    assert r.returncode == 2 and r.stderr.startswith(f"Error: shape {argv[0]}: {message}")


def test_unknown_job_and_a_database_without_a_queue(pg_url, tmp_path):
    r = shape("jobs", "--store", pg_url)
    assert r.returncode == 1 and "has no job queue yet" in r.stderr
    sid = take(pg_url, handoff_program(10, 5), tmp_path)
    submit(pg_url, sid)
    r = shape("wait", "99", "--store", pg_url)
    assert r.returncode == 1 and "JobError: No job 99" in r.stderr
    r = shape("submit", "ffff", "--store", pg_url)
    assert r.returncode == 1 and "ResumeError" in r.stderr


LONG = handoff_program(1_000_000, 200_000)


def test_sigkill_mid_job_is_retried_once_the_heartbeat_stops(pg_url, tmp_path):
    sid = take(pg_url, LONG, tmp_path)
    job = submit(pg_url, sid)
    a = worker(pg_url)
    wait_for(lambda: record(pg_url, job)["first_step"] is not None, what="the job to start")
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    assert record(pg_url, job)["status"] == "running"       # nothing recorded by the dead worker
    b = worker(pg_url)
    try:
        r = shape("wait", str(job), "--timeout", "90", "--store", pg_url)
    finally:
        b.send_signal(signal.SIGTERM)
        finish(b)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, sid, tmp_path)
    rec = record(pg_url, job)
    assert rec["status"] == "succeeded" and rec["attempts"] == 2
    assert rec["stdout"].count("done") == 1                  # recorded once


def test_sigterm_preempts_at_a_safepoint_and_the_continuation_finishes(pg_url, tmp_path):
    sid = take(pg_url, LONG, tmp_path)
    job = submit(pg_url, sid)
    log = open(tmp_path / "worker.log", "w")
    a = worker(pg_url, log=log)
    wait_for(lambda: record(pg_url, job)["first_step"] is not None, what="the job to start")
    time.sleep(0.3)
    a.send_signal(signal.SIGTERM)
    assert finish(a, 30) == 0
    rec = record(pg_url, job)
    assert rec["status"] == "preempted" and rec["next_job"] and rec["next_snapshot"]
    assert "re-enqueued" in (tmp_path / "worker.log").read_text()
    assert finish(worker(pg_url, "--burst")) == 0
    r = shape("wait", str(job), "--timeout", "60", "--store", pg_url)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, sid, tmp_path)
    nxt = record(pg_url, rec["next_job"])
    assert nxt["status"] == "succeeded" and nxt["snapshot"] == rec["next_snapshot"]
    r = shape("snapshot", "info", rec["next_snapshot"], "--json", "--store", pg_url)
    assert json.loads(r.stdout)["kind"] == "interrupt" and json.loads(r.stdout)["parent"] == sid


def test_workers_carry_on_across_a_postgresql_restart(pg_server, pg_url, tmp_path):
    sid = take(pg_url, handoff_program(400_000, 100_000, "let t = snapshot()\nprint(\"again\")"), tmp_path)
    first = submit(pg_url, sid)
    log = open(tmp_path / "worker.log", "w")
    a = worker(pg_url, "--concurrency", "2", log=log)
    try:
        wait_for(lambda: record(pg_url, first)["first_step"] is not None, what="the job to start")
        # Down for longer than the stall timeout (3 heartbeats): when it is back, the worker's
        # last heartbeat is stale, yet the job it still runs is not taken for lost.
        pg_server.restart(down=3 * float(HEARTBEAT) + 1)
        second = submit(pg_url, sid)
        for job in (first, second):
            r = shape("wait", str(job), "--timeout", "90", "--store", pg_url)
            assert (r.returncode, r.stdout) == uninterrupted(pg_url, sid, tmp_path), \
                (r.stderr, (tmp_path / "worker.log").read_text())
        assert a.poll() is None, (tmp_path / "worker.log").read_text()   # still serving
        assert record(pg_url, first)["attempts"] == 1, (tmp_path / "worker.log").read_text()
    finally:
        a.send_signal(signal.SIGTERM)
        finish(a)


def test_a_worker_never_takes_a_job_it_still_runs_for_lost(pg_url, tmp_path):
    """A worker's heartbeat can look stale while the worker is alive (the database was away,
    or slow): its own sweeper must not put the jobs it is running back in the queue."""
    import psycopg
    sid = take(pg_url, LONG, tmp_path)
    job = submit(pg_url, sid)
    log = open(tmp_path / "worker.log", "w")
    a = worker(pg_url, log=log)
    try:
        wait_for(lambda: record(pg_url, job)["first_step"] is not None, what="the job to start")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            until = time.monotonic() + 12 * float(HEARTBEAT)     # several sweeps see it stale
            while time.monotonic() < until and record(pg_url, job)["finished"] is None:
                conn.execute("UPDATE procrastinate_workers "
                             "SET last_heartbeat = now() - interval '1 hour'")
                time.sleep(0.05)
        r = shape("wait", str(job), "--timeout", "90", "--store", pg_url)
    finally:
        a.send_signal(signal.SIGTERM)
        finish(a)
    assert (r.returncode, r.stdout) == uninterrupted(pg_url, sid, tmp_path)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        events = [t for (t,) in conn.execute("SELECT type::text FROM procrastinate_events "
                                             "WHERE job_id = %s ORDER BY id", (job,))]
    assert events == ["deferred", "started", "succeeded"], (tmp_path / "worker.log").read_text()
    assert record(pg_url, job)["attempts"] == 1


def test_a_job_loop_ended_by_a_lost_connection_starts_again(pg_url, monkeypatch):
    """procrastinate's worker loop ends when a fetch fails (the server went down during the
    query): the worker runs it again once the database answers, instead of exiting."""
    import asyncio
    import psycopg
    from procrastinate import exceptions
    from shapelang.jobs.worker import Worker, WorkerSettings
    from shapelang.vm.store.url import parse_store_url
    lines: list[str] = []
    w = Worker(WorkerSettings(parse_store_url(pg_url), burst=True, log=lines.append))
    calls = []

    async def loop(**options):
        calls.append(options)
        if len(calls) == 1:
            try:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            except psycopg.OperationalError as e:
                raise exceptions.ConnectorException() from e
    monkeypatch.setattr(w.app, "run_worker_async", loop)
    asyncio.run(w._take_jobs())
    assert len(calls) == 2 and calls[1]["wait"] is False
    assert any("lost the database (server closed the connection unexpectedly)" in ln for ln in lines)

    calls.clear()

    async def broken(**options):
        calls.append(options)
        raise exceptions.ConnectorException("a programming error, not a lost connection")
    monkeypatch.setattr(w.app, "run_worker_async", broken)
    with pytest.raises(exceptions.ConnectorException):
        asyncio.run(w._take_jobs())
    assert len(calls) == 1


def test_attempts_are_bounded(pg_url, tmp_path):
    sid = take(pg_url, LONG, tmp_path)
    job = submit(pg_url, sid)
    a = worker(pg_url)
    wait_for(lambda: record(pg_url, job)["first_step"] is not None, what="the job to start")
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    b = worker(pg_url, "--max-attempts", "1")
    try:
        r = shape("wait", str(job), "--timeout", "60", "--store", pg_url)
    finally:
        b.send_signal(signal.SIGTERM)
        finish(b)
    assert r.returncode == 1 and "its worker was lost 1 time(s)" in r.stderr
    assert record(pg_url, job)["status"] == "failed"


# ---------------------------------------------------------------- the corpus through workers

def _snapshot_events(url: str, case) -> list[str]:
    """Run a corpus case on the VM against `url`; the ids of its snapshot() events, in order."""
    from shapelang.runtime.errors import ShapeError, ShapeExit
    from shapelang.vm import snapshot as S
    from shapelang.vm.compiler import compile_source
    ids: list[str] = []
    run = S.start(compile_source(case.source, case.path), case.source, lambda s: None,
                  store=url, on_saved=ids.append)
    try:
        run.machine.run()
    except (ShapeError, ShapeExit):
        pass
    finally:
        run.close()
    return ids


def test_every_corpus_resume_runs_the_same_on_a_worker(pg_url):
    """Each `resume K:` expectation of the conformance corpus, continued by a worker through
    PostgreSQL instead of `shape --resume`: the job's output is the expected resume output."""
    from shapelang.conformance.caseformat import discover, load_case, mask_ids
    expected: dict[int, tuple[str, str]] = {}
    for path in discover():
        case = load_case(path)
        plain = [r for r in case.resumes
                 if r.source_file is None and r.stdout is not None and not r.then]
        if not plain or case.uses_files or case.args or case.env:
            # Cases with files need their fixture directory, and cases with program arguments
            # or environment variables their invocation: the conformance runner's job.
            continue
        ids = _snapshot_events(pg_url, case)
        for r in plain:
            expected[submit(pg_url, ids[r.event])] = (case.id, r.stdout)
    assert len(expected) > 50
    workers = [worker(pg_url, "--burst", "--concurrency", "2") for _ in range(2)]
    for w in workers:
        assert finish(w, 600) == 0
    r = shape("jobs", "--json", "--store", pg_url)
    results = {j["id"]: j for j in json.loads(r.stdout)}
    wrong = [(case_id, results[job]["status"], results[job]["error"])
             for job, (case_id, stdout) in expected.items()
             if mask_ids(results[job]["stdout"] or "") != mask_ids(stdout)]
    assert wrong == []


def test_an_unreachable_database_is_one_clean_line_without_the_password():
    url = "postgresql://bob:pa55word-xyz@127.0.0.1:1/shape"   # nothing listens on port 1
    for argv in (["worker"], ["submit", "abcd"], ["jobs"], ["wait", "1"]):
        r = shape(*argv, "--store", url)
        assert r.returncode == 1 and r.stderr.startswith(f"Error: shape {argv[0]}: StoreError: ")
        assert "pa55word" not in r.stdout + r.stderr and "bob:***@127.0.0.1:1" in r.stderr
        assert "Connection refused" in r.stderr and "Traceback" not in r.stderr


def test_the_queue_is_set_up_once_per_process(pg_url, tmp_path):
    """Enqueueing sets up the queue's tables (under an advisory lock) the first time only: a
    later submit of the same process neither takes that lock nor runs the DDL again."""
    import threading
    import psycopg
    from shapelang.vm.store import jobs
    sid = take(pg_url, handoff_program(10, 5), tmp_path)
    submit(pg_url, sid)
    done: list[int] = []
    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (jobs._LOCK_KEY,))
        t = threading.Thread(target=lambda: done.append(submit(pg_url, sid)), daemon=True)
        t.start()
        t.join(20)
        finished_while_locked = not t.is_alive()
        holder.execute("SELECT pg_advisory_unlock(%s)", (jobs._LOCK_KEY,))
    t.join(20)
    assert finished_while_locked and len(done) == 1
