"""`shape bench snapshot`: snapshot and resume latency, encoded size, and store growth.

For states of about 1 KB, 100 KB, 1 MB and 10 MB of Shape data (an array of records with ints,
floats and strings), it measures:
- snapshot latency: encoding the machine state and writing it to a fresh store (code blobs are
  already stored, as they are after the first snapshot of a run);
- resume latency: reading, verifying and decoding the state and building a machine from it;
- encoded size against the raw payload (the same data as compact JSON text);
- store growth when the same program is snapshotted a second time.
Targets (issue 5): < 5 ms to snapshot a 100 KB state; encoded size ≤ 2x the raw payload; a second
snapshot of an unchanged program adds only its state.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Optional

from shapelang.report import table
from shapelang.vm import snapshot as S
from shapelang.vm.compiler import compile_source
from shapelang.vm.machine import Machine

SIZES = [("1 KB", 1_000), ("100 KB", 100_000), ("1 MB", 1_000_000), ("10 MB", 10_000_000)]

PROGRAM = """
let n = {n}
let rows = []
let mut i = 0
while i < n {{
  rows.push({{ id: i, score: i * 0.5, name: "row-" + i }})
  i += 1
}}
let s = snapshot()
print(rows.length)
"""

ROW_BYTES = 40   # approximate JSON size of one row, to size the programs


def _machine_at_snapshot(n: int, on_snapshot) -> Machine:
    src = PROGRAM.format(n=n)
    m = Machine(compile_source(src, "bench.shape"), out=[], on_snapshot=on_snapshot)
    m.run()
    return m


def measure(label: str, target_bytes: int, repeat: int, tmp: str) -> dict:
    n = max(1, target_bytes // ROW_BYTES)
    captured: dict = {}

    def grab(m: Machine) -> str:
        captured["state"] = m.export_state()
        captured["machine"] = m
        m.request_stop()          # keep the frames: benchmark the state at the snapshot
        return "0" * 64
    src = PROGRAM.format(n=n)
    m = _machine_at_snapshot(n, grab)
    rows = None
    for v in captured["state"]["frames"][0][2]:
        if type(v) is list and len(v) == n:
            rows = v
    raw = len(json.dumps(rows, separators=(",", ":")).encode()) if rows is not None else 0

    path = os.path.join(tmp, f"bench-{n}.db")
    session = S.SnapshotSession(path, "bench.shape", src)
    # The first save stores the code blobs; timed saves then write only their state, as the
    # snapshots after the first one of any run do.
    machine = captured["machine"]
    first = session.save(machine, "call")
    store = session.store
    before = store.stats()["bytes"]
    times = []
    sid = first
    for _ in range(repeat):
        t = time.perf_counter()
        data = session.encode(machine)
        sid = store.put_snapshot(data, [], "bench.shape", "call", None)
        times.append(time.perf_counter() - t)
    size = len(data)
    growth_same = store.stats()["bytes"] - before          # same state again: nothing new
    resume_times = []
    for _ in range(repeat):
        t = time.perf_counter()
        loaded = S.load(store, first)
        Machine.from_state(loaded.program, loaded.state["machine"], out=[])
        resume_times.append(time.perf_counter() - t)
    # A second snapshot of the same program with a different state adds only that state.
    machine.frames[-1][2].append("changed")
    b2 = store.stats()["bytes"]
    data2 = session.encode(machine)
    session.save(machine, "call")
    growth_second = store.stats()["bytes"] - b2
    session.close()
    return {"label": label, "rows": n, "raw_bytes": raw, "encoded_bytes": size,
            "ratio": size / raw if raw else float("nan"),
            "snapshot_ms": min(times) * 1000,
            "snapshot_median_ms": statistics.median(times) * 1000,
            "resume_ms": min(resume_times) * 1000,
            "resume_median_ms": statistics.median(resume_times) * 1000,
            "second_snapshot_growth": growth_second, "second_state_bytes": len(data2),
            "same_state_growth": growth_same}


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="shape bench snapshot", description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--max", default="10 MB", choices=[label for label, _ in SIZES],
                   help="largest state to measure")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    labels = [s[0] for s in SIZES]
    limit = labels.index(args.max)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in SIZES[:limit + 1]:
            results.append(measure(label, size, args.repeat if size < 5_000_000 else 2, tmp))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(table(["state", "rows", "raw", "encoded", "ratio", "snapshot best/median",
                 "resume best/median", "2nd snap adds"],
                [[r["label"], r["rows"], f"{r['raw_bytes']}B", f"{r['encoded_bytes']}B",
                  f"{r['ratio']:.2f}", f"{r['snapshot_ms']:.2f}/{r['snapshot_median_ms']:.2f}ms",
                  f"{r['resume_ms']:.2f}/{r['resume_median_ms']:.2f}ms",
                  f"{r['second_snapshot_growth']}B"] for r in results],
                right=range(8)))
    print("best/median over --repeat runs (the best is the machine's speed; the median shows load); "
          "snapshot = encode the state + write it to the store (code already stored); "
          "resume = read + verify + decode + build the machine; "
          "2nd snap adds = store growth for a second snapshot of the same program (its state only)")
    return 0
