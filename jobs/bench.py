"""`shape bench handoff`: how fast a continuation moves to a worker, how many continuations a few
workers run, and how long a killed worker's job waits before it runs again.

- latency: a program takes a snapshot and exits; the snapshot is submitted; one idle worker
  (woken by LISTEN/NOTIFY, or its 0.2 s poll) claims it and runs its first instruction. Measured
  per run from the moment the program calls snapshot() (saved to PostgreSQL) to the claim and to
  the first instruction on the worker; p50 and p95 over `--runs` runs (one at a time);
- throughput: `--jobs` continuations (a small loop each) enqueued in one transaction while
  1, 2 and 4 worker processes (concurrency 1 each) wait; jobs per second from the commit to the
  last recorded result;
- recovery: a worker is killed (SIGKILL) in the middle of a long job while another waits; the
  time from the kill to the job's second start (heartbeat `--heartbeat`, stalled after 3).

Everything runs against a throwaway PostgreSQL server started from the machine's binaries
(`jobs/pgserver.py`) unless `--store` names a database. All processes share this machine's
cores: the throughput figures measure contention as much as scaling.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

from shapelang.report import table
from shapelang.vm.store import jobs as records
from shapelang.vm.store.url import parse_store_url

TAKE = 'let s = snapshot()\nmatch s {{ Snapshot::Hash(_) => exit(0), Snapshot::Resumed => () }}\n'
SMALL = TAKE + "let mut acc = 0\nfor i in 0..{n} {{ acc = acc + i }}\nprint(acc)\n"


def _take(url: str, source: str) -> tuple[str, float, float]:
    """Run `source` on the VM against `url` until it exits after its snapshot(); returns the id,
    when snapshot() was called and when the snapshot was saved (time.time())."""
    from shapelang.runtime.errors import ShapeExit
    from shapelang.vm import snapshot as S
    from shapelang.vm.compiler import compile_source
    from shapelang.vm.machine import Machine
    session = S.SnapshotSession(url, "bench.shape", source)
    taken: list = []

    def on_snapshot(machine: Any) -> str:
        called = time.time()
        sid = session.on_snapshot(machine)
        taken.append((sid, called, time.time()))
        return sid
    machine = Machine(compile_source(source, "bench.shape"), out=lambda s: None,
                      on_snapshot=on_snapshot)
    try:
        machine.run()
    except ShapeExit:
        pass
    finally:
        session.close()
    return taken[-1]


def _worker(url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shapelang", "worker", "--store", url, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _registered(conn: Any) -> int:
    return conn.execute("SELECT COUNT(*) FROM procrastinate_workers").fetchone()[0]


def _until(pred, timeout: float, what: str, every: float = 0.005) -> None:
    """Poll `pred` every `every` seconds (the times measured come from the job records, so the
    poll only has to be cheap, not fast)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))]


def latency(url: str, runs: int) -> dict:
    """Per run: snapshot saved -> claimed -> first instruction on the worker (milliseconds)."""
    u = parse_store_url(url)
    link = records.Link(u)
    records.open_queue(u).close()
    w = _worker(url, "--heartbeat", "5")
    try:
        _until(lambda: _registered(link.conn) >= 1, 60, "the worker to start")
        snap, claim, first, total = [], [], [], []
        deferrer = records.deferrer()
        for i in range(runs):
            sid, t0, t1 = _take(url, SMALL.format(n=10 + i))   # a new state (and id) every run
            job = records.enqueue(link.conn, deferrer, sid, "default")
            _until(lambda: (r := records.get(link.conn, job)) is not None and r.finished is not None,
                   60, f"job {job}")
            r = records.get(link.conn, job)
            snap.append((t1 - t0) * 1000)
            claim.append((r.started - t1) * 1000)
            first.append((r.first_step - r.started) * 1000)
            total.append((r.first_step - t0) * 1000)
    finally:
        _stop([w])
        link.close()
    return {name: {"p50": round(statistics.median(xs), 2), "p95": round(_pct(xs, 95), 2)}
            for name, xs in (("snapshot", snap), ("submit_to_claim", claim),
                             ("claim_to_first_instruction", first),
                             ("snapshot_to_first_instruction", total))}


def throughput(url: str, jobs: int, workers: int) -> dict:
    u = parse_store_url(url)
    records.open_queue(u).close()
    sid = _take(url, SMALL.format(n=1000))[0]
    link = records.Link(u)
    before = _registered(link.conn)
    procs = [_worker(url, "--heartbeat", "5") for _ in range(workers)]
    try:
        _until(lambda: _registered(link.conn) >= before + workers, 60, "the workers to start")
        deferrer = records.deferrer()
        with link.conn.transaction():
            ids = [records.enqueue(link.conn, deferrer, sid, "default") for _ in range(jobs)]
        t0 = time.time()
        last = max(ids)

        def done() -> bool:
            n = link.conn.execute(f"SELECT COUNT(*) FROM shape.jobs WHERE id >= %s AND id <= %s "
                                  "AND finished IS NOT NULL", (min(ids), last)).fetchone()[0]
            return n == jobs
        _until(done, 600, f"{jobs} jobs", every=0.1)
        end = link.conn.execute("SELECT MAX(finished) FROM shape.jobs WHERE id >= %s AND id <= %s",
                                (min(ids), last)).fetchone()[0]
    finally:
        _stop(procs)
        link.close()
    seconds = end - t0
    return {"jobs": jobs, "workers": workers, "seconds": round(seconds, 3),
            "jobs_per_second": round(jobs / seconds, 1)}


def recovery(url: str, heartbeat: float, repeat: int) -> dict:
    u = parse_store_url(url)
    records.open_queue(u).close()
    sid = _take(url, SMALL.format(n=3_000_000))[0]
    link = records.Link(u)
    times = []
    try:
        for _ in range(repeat):
            job = records.enqueue(link.conn, records.deferrer(), sid, "default")
            a = _worker(url, "--heartbeat", str(heartbeat))
            _until(lambda: (r := records.get(link.conn, job)).first_step is not None, 60, "start")
            b = _worker(url, "--heartbeat", str(heartbeat))
            time.sleep(0.5)   # b is up and idle
            a.send_signal(signal.SIGKILL)
            killed = time.time()
            a.wait()
            _until(lambda: records.get(link.conn, job).attempts >= 2, 120, "the retry")
            times.append(records.get(link.conn, job).started - killed)
            _stop([b])
            link.conn.execute("SELECT procrastinate_cancel_job_v1(%s, true, false)", (job,))
    finally:
        link.close()
    return {"heartbeat_s": heartbeat, "stalled_after_s": 3 * heartbeat,
            "kill_to_restart_s": [round(t, 2) for t in times],
            "median_s": round(statistics.median(times), 2)}


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="shape bench handoff", description=__doc__.split("\n\n")[0])
    p.add_argument("--store", help="a PostgreSQL database to use (default: a throwaway server)")
    p.add_argument("--runs", type=int, default=200, help="latency runs (default 200)")
    p.add_argument("--jobs", type=int, action="append", help="throughput batch sizes "
                                                            "(default 100 and 1000)")
    p.add_argument("--workers", type=int, action="append", help="worker counts (default 1 2 4)")
    p.add_argument("--heartbeat", type=float, default=1.0, help="recovery heartbeat (default 1 s)")
    p.add_argument("--recoveries", type=int, default=3, help="recovery runs (default 3)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = p.parse_args(argv)
    server = None
    if args.store is None:
        from shapelang.jobs.pgserver import PostgresServer
        server = PostgresServer().start()
    try:
        def fresh() -> str:
            return args.store or server.create_database()
        result: dict = {"latency_ms": latency(fresh(), args.runs), "throughput": []}
        for n in args.jobs or [100, 1000]:
            for w in args.workers or [1, 2, 4]:
                result["throughput"].append(throughput(fresh(), n, w))
        result["recovery"] = recovery(fresh(), args.heartbeat, args.recoveries)
    finally:
        if server is not None:
            server.destroy()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(render(result, args.runs))
    return 0


def render(result: dict, runs: int) -> str:
    """The results of main() as text: a table each for latency and throughput."""
    r = result["recovery"]
    return "\n".join([
        f"hand-off latency over {runs} runs (ms):",
        table(["step", "p50", "p95"], [[name, f"{v['p50']:.2f}", f"{v['p95']:.2f}"]
                                        for name, v in result["latency_ms"].items()],
              right=(1, 2)),
        "throughput (continuations of a 1,000-step loop; workers of concurrency 1):",
        table(["jobs", "workers", "seconds", "jobs/s"],
              [[t["jobs"], t["workers"], f"{t['seconds']:.2f}", f"{t['jobs_per_second']:.1f}"]
               for t in result["throughput"]], right=range(4)),
        f"recovery after SIGKILL (heartbeat {r['heartbeat_s']:g} s, stalled after "
        f"{r['stalled_after_s']:g} s): median {r['median_s']} s, runs {r['kill_to_restart_s']}"])
