"""Soak test of resumable ingestion (issue 16, spec/io.md): kill `ingest.shape` with SIGKILL at a
random moment, resume its last snapshot (or start again when the kill came before the first),
and check that the output file and the final result are byte-identical to an uninterrupted run;
then the same with Ctrl+C (SIGINT) and the interrupt snapshot it saves.

    python examples/ingest/soak.py --rows 1000000 --runs 20            # the issue's soak
    python examples/ingest/soak.py --rows 20000 --every 2000 --runs 2  # a quick look

Everything happens in a fresh temporary directory; each run has its own store. Exit status 0
when every run matched.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "ingest.shape"
CATEGORIES = ("north", "south", "east", "west", "online")


def make_rows(path: Path, rows: int, seed: int = 16) -> None:
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,category,amount\n")
        for i in range(rows):
            f.write(f"{i},{rnd.choice(CATEGORIES)},{rnd.randint(1, 99999) / 100}\n")


def shape(*args: str, cwd: Path, store: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shapelang", "--store", str(store), *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def finish(p: subprocess.Popen) -> tuple[int, str, str]:
    out, err = p.communicate()
    return p.returncode, out, err


def last_snapshot(store: Path) -> str | None:
    if not store.exists():
        return None
    from shapelang.vm.store import open_store
    st = open_store(str(store), create=False)
    try:
        snaps = st.list()
    finally:
        st.close()
    return max(snaps, key=lambda s: s.created).id if snaps else None


def one_run(work: Path, args: argparse.Namespace, signum: int, delay: float,
            expected: tuple[bytes, str]) -> tuple[bool, str]:
    store = work / f"store-{time.monotonic_ns()}.db"
    out = work / "progress.txt"
    if out.exists():
        out.unlink()
    p = shape(str(PROGRAM), "rows.csv", "progress.txt", str(args.every), cwd=work, store=store)
    time.sleep(delay)
    if p.poll() is None:
        p.send_signal(signum)
    code, stdout, stderr = finish(p)
    how = "finished before the signal"
    if code != 0:
        sid = last_snapshot(store)
        if sid is None:
            how = "killed before the first snapshot: started again"
            code, stdout, stderr = finish(shape(str(PROGRAM), "rows.csv", "progress.txt",
                                                str(args.every), cwd=work, store=store))
        else:
            how = f"resumed {sid[:12]}"
            code, stdout, stderr = finish(shape("--resume", sid, cwd=work, store=store))
    if code != 0:
        return False, f"{how}; exit {code}: {stderr.strip()[-300:]}"
    same = out.read_bytes() == expected[0] and stdout == expected[1]
    store.unlink(missing_ok=True)
    return same, how


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--every", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20, help="SIGKILL runs (and as many Ctrl+C runs)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rnd = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="shape-soak-"))
    try:
        make_rows(work / "rows.csv", args.rows)
        t0 = time.monotonic()
        code, stdout, stderr = finish(shape(str(PROGRAM), "rows.csv", "progress.txt",
                                            str(args.every), cwd=work, store=work / "ref.db"))
        took = time.monotonic() - t0
        if code != 0:
            print(f"uninterrupted run failed: {stderr}", file=sys.stderr)
            return 1
        expected = ((work / "progress.txt").read_bytes(), stdout)
        print(f"{args.rows} rows, uninterrupted run {took:.1f} s: {stdout.strip()}")
        failures = 0
        for name, signum in (("SIGKILL", signal.SIGKILL), ("Ctrl+C", signal.SIGINT)):
            for i in range(args.runs):
                delay = rnd.uniform(0.05, took)
                ok, how = one_run(work, args, signum, delay, expected)
                failures += not ok
                print(f"{name} run {i + 1}/{args.runs} at {delay:.1f} s: {how}: "
                      f"{'identical' if ok else 'DIFFERENT'}", flush=True)
        print(f"{'OK' if failures == 0 else 'FAILED'}: {2 * args.runs - failures}/{2 * args.runs} "
              "runs byte-identical to the uninterrupted run")
        return 0 if failures == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
