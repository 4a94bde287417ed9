"""`shape bench`: the benchmark programs on the reference evaluator, the VM, the JIT and CPython.

Each program in bench/programs/ exists as NAME.shape and as an equivalent plain-Python NAME.py,
scaled so that CPython needs at least 0.3 s for it (start-up and compile time count, but do not
decide). Every measurement runs in a fresh child process (so one engine's caches and memory do
not affect another's); the child times the whole run of the program (parse, compile and execute for the Shape
engines, after an untimed one-line program has imported the engine and loaded its prelude) and reports its CPU time (robust on a busy machine) and peak resident set size, and for
the JIT how many regions it compiled ("tier-ups") and the time that took; the parent also takes
the CPU time of the whole child process (interpreter start-up and imports included: what a user
waits for), shown in a second table. The children run with Python's bytecode cache, as an
installed copy does (compiling the implementation's own modules is not what is measured: with
PYTHONDONTWRITEBYTECODE set, the cache goes to a directory of its own, so no tree is written to),
warmed before the first run. The best time over --repeat runs is kept. Outputs of the engines
are compared, so a benchmark that computes something different is reported, not timed. The reference evaluator needs minutes for the whole
set at this scale, so it runs only when asked for (`--engines ref,vm,jit,py`).

    shape bench [NAMES…] [--repeat N] [--engines vm,jit,py] [--json]

Side by side with another tree (`--baseline PYTHON`: the interpreter of a virtualenv holding
that tree, e.g. the project before a change): the same program files run on the baseline's
engines and on this tree's, one baseline run and one run of this tree in turn (which goes first
alternates), so both see the same machine; the best of --repeat runs of each is kept. Rows:
program, engine, baseline s, this tree s, ratio; a program the baseline cannot run (a feature it
lacks) shows "-" there.

    shape bench [NAMES…] --baseline PYTHON [--repeat N] [--engines vm,jit] [--json]
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
import tempfile
import time
from typing import Optional

BENCH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the tree (bench/..)
ENGINES = ("ref", "vm", "jit", "py")
DEFAULT_ENGINES = "vm,jit,py"
BASELINE_ENGINES = "vm,jit"


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
        # Untimed: a one-line program on the same engine first, so the engine's modules are
        # imported and its prelude is loaded before the clock starts, as CPython's own start-up
        # is outside the py row's time. Which modules `import api` loads differs between trees
        # (lazy imports), so without it a --baseline comparison would time imports on one side
        # only. Start-up is what the second table and `shape bench startup` measure.
        api.run("print(0)", path=os.path.join(BENCH_DIR, "warm.shape"), engine=engine,
                write=lambda text: None)
        t0 = time.process_time()
        result = api.run(source, path=path, engine=engine, write=chunks.append)
        t = time.process_time() - t0
        if not result.ok:
            raise RuntimeError(f"{engine} {name}: {result.error.render() if result.error else result.exit_code}")
        out = "".join(chunks)
    row = {"seconds": t, "output": hashlib.sha256(out.encode()).hexdigest()[:16],
           "peak_mb": _peak_rss_mb()}
    if engine == "jit":
        try:
            from shapelang.vm.jit.tier import TOTALS
        except ImportError:      # a --baseline tree from before the JIT counted its work
            TOTALS = {"tier_ups": 0, "compile_seconds": 0.0}
        row.update(TOTALS)
    return row


def _children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# How a --baseline interpreter runs this file's child (`child`) on its own shapelang: by path,
# with nothing of this tree on sys.path (-P: not even the current directory).
_BASELINE_CHILD = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"


def child_command(engine: str, name: str, python: Optional[str] = None) -> list[str]:
    """The command of one measured run: this tree's child, or the same child run by the
    interpreter `python` of a baseline tree (its engines, this tree's program files)."""
    if python is None:
        return [sys.executable, "-m", "shapelang.bench.engines", "--child", engine, name]
    return [python, "-P", "-c", _BASELINE_CHILD, os.path.abspath(__file__), "--child", engine,
            name]


def child_env() -> dict[str, str]:
    """The environment of the measured children: Python's bytecode cache on (see the module
    docstring)."""
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) and not env.get("PYTHONPYCACHEPREFIX"):
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "shape-bench-pycache")
    return env


def warm_bytecode(python: str, root: str) -> None:
    """Compile the modules of the tree at `root` into the children's bytecode cache, so that no
    measured run pays for it (up to date files are skipped: fast after the first time)."""
    subprocess.run([python, "-P", "-m", "compileall", "-q", root], env=child_env(),
                   capture_output=True)


def measure(engine: str, name: str, python: Optional[str] = None) -> dict:
    cmd = child_command(engine, name, python)
    before = _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
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


def baseline_root(python: str) -> str:
    """Where the baseline interpreter's shapelang lives; ValueError with the reason when it
    cannot run the benchmarks."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ValueError(f"--baseline {python}: not an executable file")
    proc = subprocess.run([python, "-P", "-c", "import os, shapelang.api as a; "
                           "print(os.path.dirname(os.path.dirname(a.__file__)))"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"--baseline {python} cannot import shapelang ({last})")
    return proc.stdout.strip()


def run_side_by_side(names: list[str], engines: list[str], repeat: int, python: str,
                     show: bool = True) -> dict:
    """Each program on each engine, the baseline (`python`) and this tree in turn, best of
    `repeat` each: {name: {engine: {"base": row or None, "new": row, "agree": bool}}}."""
    from shapelang.report import Progress
    results: dict = {}
    with Progress(len(names) * len(engines) * repeat * 2, "bench runs", enabled=show) as progress:
        for name in names:
            results[name] = {}
            for engine in engines:
                best: dict = {"base": None, "new": None}
                base_fails = False
                for i in range(repeat):
                    order = ("base", "new") if i % 2 == 0 else ("new", "base")
                    for side in order:
                        progress.advance(program=name)
                        if side == "base" and base_fails:
                            continue
                        try:
                            r = measure(engine, name, python if side == "base" else None)
                        except RuntimeError:
                            if side == "new":
                                raise
                            base_fails = True    # e.g. the program uses what the baseline lacks
                            continue
                        if best[side] is None or r["seconds"] < best[side]["seconds"]:
                            best[side] = r
                if base_fails:
                    best["base"] = None
                best["agree"] = best["base"] is None or \
                    best["base"]["output"] == best["new"]["output"]
                results[name][engine] = best
    return results


SIDE_HEADER = ["program", "engine", "baseline s", "this tree s", "this/baseline", ""]


def side_rows(results: dict) -> tuple[list[list[str]], dict[str, float]]:
    """The table rows and, per engine, the geometric mean of this/baseline."""
    rows = []
    ratios: dict[str, list[float]] = {}
    for name, by_engine in results.items():
        for engine, r in by_engine.items():
            base, new = r["base"], r["new"]
            ratio = new["seconds"] / base["seconds"] if base and base["seconds"] > 0 else math.nan
            if math.isfinite(ratio):
                ratios.setdefault(engine, []).append(ratio)
            rows.append([name, engine, f"{base['seconds']:.3f}" if base else "-",
                         f"{new['seconds']:.3f}", f"{ratio:.3f}" if math.isfinite(ratio) else "-",
                         "" if r["agree"] else "OUTPUTS DIFFER"])
    return rows, {e: geomean(xs) for e, xs in ratios.items()}


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
    p.add_argument("--engines", default=None,
                   help=f"comma-separated: ref, vm, jit, py (default {DEFAULT_ENGINES}; "
                        f"{BASELINE_ENGINES} with --baseline)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--baseline", metavar="PYTHON",
                   help="also run every program on the engines of the tree that the interpreter "
                        "PYTHON imports shapelang from, in turn with this tree's (side by side)")
    args = p.parse_args(argv)
    names = args.names or programs()
    unknown = [n for n in names if n not in programs()]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(programs())})")
    chosen = args.engines or (BASELINE_ENGINES if args.baseline is not None else DEFAULT_ENGINES)
    engines = [e for e in chosen.split(",") if e]
    if any(e not in ENGINES for e in engines):
        p.error("engines are ref, vm, jit and py")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.baseline is not None:
        return side_by_side(names, engines, args.repeat, args.baseline, args.json)
    warm_bytecode(sys.executable, ROOT)
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


def side_by_side(names: list[str], engines: list[str], repeat: int, python: str,
                 as_json: bool) -> int:
    """`shape bench --baseline PYTHON`: print the side-by-side table (or JSON); 1 when the
    baseline cannot run at all or an output differs."""
    try:
        root = baseline_root(python)
    except ValueError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    warm_bytecode(python, root)
    warm_bytecode(sys.executable, ROOT)
    results = run_side_by_side(names, engines, repeat, python, show=not as_json)
    rows, means = side_rows(results)
    if as_json:
        print(json.dumps({"baseline": {"python": python, "tree": root}, "results": results,
                          "geomean": means}, indent=2))
    else:
        from shapelang.report import table
        print(f"Side by side, best of {repeat}, runs of the two trees in turn; CPU seconds of the "
              f"run including parse and compile; baseline: {root} ({python}), this tree: {ROOT}")
        print(table(SIDE_HEADER, rows, right=range(2, 5)))
        if means:
            print("geomean this/baseline: "
                  + ", ".join(f"{e} {m:.3f}" for e, m in means.items()))
    return 0 if all(r["agree"] for by in results.values() for r in by.values()) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
