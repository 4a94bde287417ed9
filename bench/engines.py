"""`shape bench`: the benchmark programs on the reference evaluator, the VM, the JIT and CPython.

Each program in bench/programs/ exists as NAME.shape and as an equivalent plain-Python NAME.py,
scaled so that CPython needs at least 0.3 s for it (start-up and compile time count, but do not
decide). Every measurement runs in a fresh child process (so one engine's caches and memory do
not affect another's); the child times the whole run (parse, compile and execute for the Shape
engines) and reports its CPU time (robust on a busy machine) and peak resident set size, and for
the JIT how many regions it compiled ("tier-ups") and the time that took; the parent also takes
the CPU time of the whole child process (interpreter start-up and imports included: what a user
waits for), shown in a second table. The best time over --repeat runs is kept. Outputs of the engines are compared, so a benchmark that computes
something different is reported, not timed. The reference evaluator needs minutes for the whole
set at this scale, so it runs only when asked for (`--engines ref,vm,jit,py`).

    shape bench [NAMES…] [--repeat N] [--engines vm,jit,py] [--json]
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import time
from typing import Optional

BENCH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
ENGINES = ("ref", "vm", "jit", "py")
DEFAULT_ENGINES = "vm,jit,py"


def programs() -> list[str]:
    return sorted(os.path.basename(p)[:-6] for p in glob.glob(os.path.join(BENCH_DIR, "*.shape")))


def _peak_rss_mb() -> float:
    try:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 if sys.platform != "darwin" else kb / (1024 * 1024)
    except Exception:  # pragma: no cover - not on Unix
        return float("nan")


def child(engine: str, name: str) -> dict:
    """Run one program once in this process; returns time, output digest and peak RSS."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    if engine == "py":
        path = os.path.join(BENCH_DIR, name + ".py")
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        buf = io.StringIO()
        saved = sys.stdout
        sys.stdout = buf
        try:
            t0 = time.process_time()
            exec(code, {"__name__": "__main__"})
            t = time.process_time() - t0
        finally:
            sys.stdout = saved
        out = buf.getvalue()
    else:
        path = os.path.join(BENCH_DIR, name + ".shape")
        with open(path, encoding="utf-8") as f:
            source = f.read()
        chunks: list[str] = []
        from shapelang import api
        t0 = time.process_time()
        result = api.run(source, path=path, engine=engine, write=chunks.append)
        t = time.process_time() - t0
        if not result.ok:
            raise RuntimeError(f"{engine} {name}: {result.error.render() if result.error else result.exit_code}")
        out = "".join(chunks)
    row = {"seconds": t, "output": hashlib.sha256(out.encode()).hexdigest()[:16],
           "peak_mb": _peak_rss_mb()}
    if engine == "jit":
        from shapelang.vm.jit.tier import TOTALS
        row.update(TOTALS)
    return row


def _children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(engine: str, name: str) -> dict:
    cmd = [sys.executable, "-m", "shapelang.bench.engines", "--child", engine, name]
    before = _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    spent = _children_cpu() - before
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} {name} failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_seconds"] = spent
    return row


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def run_bench(names: list[str], engines: list[str], repeat: int, show: bool = True) -> dict:
    from shapelang.report import Progress
    results: dict = {}
    with Progress(len(names) * len(engines) * repeat, "bench runs", enabled=show) as progress:
        for name in names:
            row: dict = {}
            for engine in engines:
                best: Optional[dict] = None
                for _ in range(repeat):
                    r = measure(engine, name)
                    progress.advance(program=name)
                    if best is None or r["seconds"] < best["seconds"]:
                        r["process_seconds"] = min(r["process_seconds"],
                                                   best["process_seconds"] if best else math.inf)
                        best = r
                    best["peak_mb"] = max(best["peak_mb"], r["peak_mb"])
                    best["process_seconds"] = min(best["process_seconds"], r["process_seconds"])
                row[engine] = best
            outs = {row[e]["output"] for e in engines}
            row["agree"] = len(outs) == 1
            results[name] = row
    return results


def _ratio(row: dict, a: str, b: str, key: str = "seconds") -> float:
    if a in row and b in row and row[b][key] > 0:
        return row[a][key] / row[b][key]
    return float("nan")


HEADER = ["program", "ref s", "vm s", "jit s", "python s", "ref/vm", "vm/py", "jit/py", "jit/vm",
          "tier-ups", "compile s", "peak MB ref/vm/jit/py", ""]
RATIOS = (("ref", "vm"), ("vm", "py"), ("jit", "py"), ("jit", "vm"))


def table_row(name: str, row: dict) -> list[str]:
    def t(e: str) -> str:
        return f"{row[e]['seconds']:.3f}" if e in row else "-"

    def m(e: str) -> str:
        return f"{row[e]['peak_mb']:.0f}" if e in row else "-"
    jit = row.get("jit", {})
    return [name, t("ref"), t("vm"), t("jit"), t("py")] + \
        [_x(_ratio(row, a, b)) for a, b in RATIOS] + \
        [str(jit["tier_ups"]) if jit else "-",
         f"{jit['compile_seconds']:.3f}" if jit else "-",
         "/".join(m(e) for e in ("ref", "vm", "jit", "py")),
         "" if row["agree"] else "OUTPUTS DIFFER"]


PROCESS_HEADER = ["program", "ref s", "vm s", "jit s", "python s", "vm/py", "jit/py", "jit/vm"]
PROCESS_RATIOS = (("vm", "py"), ("jit", "py"), ("jit", "vm"))


def process_row(name: str, row: dict) -> list[str]:
    def t(e: str) -> str:
        return f"{row[e]['process_seconds']:.3f}" if e in row else "-"
    return [name, t("ref"), t("vm"), t("jit"), t("py")] + \
        [_x(_ratio(row, a, b, "process_seconds")) for a, b in PROCESS_RATIOS]


def _x(r: float) -> str:
    return f"{r:.1f}x" if math.isfinite(r) else "-"


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], argv[2])))
        return 0
    p = argparse.ArgumentParser(prog="shape bench", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help=f"programs (default: all of {', '.join(programs())})")
    p.add_argument("--repeat", type=int, default=3, help="runs per engine; the best is kept")
    p.add_argument("--engines", default=DEFAULT_ENGINES,
                   help=f"comma-separated: ref, vm, jit, py (default {DEFAULT_ENGINES})")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    names = args.names or programs()
    unknown = [n for n in names if n not in programs()]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(programs())})")
    engines = [e for e in args.engines.split(",") if e]
    if any(e not in ENGINES for e in engines):
        p.error("engines are ref, vm, jit and py")
    results = run_bench(names, engines, args.repeat, show=not args.json)
    means = {f"{a}/{b}": geomean([_ratio(r, a, b) for r in results.values()]) for a, b in RATIOS}
    process_means = {f"{a}/{b}": geomean([_ratio(r, a, b, "process_seconds")
                                          for r in results.values()]) for a, b in PROCESS_RATIOS}
    if not args.json:
        from shapelang.report import table
        print(f"Python {sys.version.split()[0]}, best of {args.repeat}; CPU seconds including "
              f"parse and compile for the Shape engines; peak MB is the child process's max RSS; "
              f"tier-ups: regions the JIT compiled, compile s: the time that took")
        print(table(HEADER, [table_row(n, r) for n, r in results.items()],
                    right=range(1, 11), total=["geomean", "", "", "", ""]
                    + [_x(means[f"{a}/{b}"]) for a, b in RATIOS] + ["", "", "", ""]))
        print("Whole processes (CPU seconds of the child, interpreter start-up and imports "
              "included):")
        print(table(PROCESS_HEADER, [process_row(n, r) for n, r in results.items()],
                    right=range(1, 8), total=["geomean", "", "", "", ""]
                    + [_x(process_means[f"{a}/{b}"]) for a, b in PROCESS_RATIOS]))
    else:
        print(json.dumps({"results": results, "geomean": means,
                          "geomean_whole_process": process_means}, indent=2))
    return 0 if all(r["agree"] for r in results.values()) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
