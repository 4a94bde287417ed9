"""`shape bench startup`: how long `shape FILE` takes for a small program (issue 14: at most
0.1 s wall on an installed package), side by side with the interpreter's own start-up.

Rows, run interleaved `--repeat` times each (one process at a time):
- `python -c pass`: the floor, Python starting and exiting;
- `shape FILE`, warm: the same unchanged file run again (its compiled code, and the prelude's,
  come from the code cache, vm/codecache.py; a fresh cache directory warmed by one run first);
- `shape FILE`, cache off (`SHAPE_CACHE_DIR=`): parsed and compiled on every run;
- with `--baseline PYTHON` (the interpreter of a virtualenv holding another tree, e.g. the
  project before a change, as for `shape bench --baseline`), the same two rows for it, in the
  same interleaved rounds: a comparison that the machine's load of the moment shifts for both
  sides alike.
Per row: wall time (median and best) and the CPU time of the child (user + system). The best
is the machine's speed; the median shows the load of the moment (other processes share the
cores): judge the target by the median on a machine otherwise idle.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

from shapelang.report import table

TARGET_SECONDS = 0.1
PROGRAM = 'print("hello")\n'
WARM = "shape FILE (warm code cache)"
COLD = "shape FILE (code cache off)"
BASELINE = "baseline: "       # the prefix of the baseline's rows


def _shape(python: str = sys.executable) -> list[str]:
    """The installed `shape` command beside `python`, else `python -m shapelang`."""
    script = os.path.join(os.path.dirname(python), "shape")
    return [script] if os.access(script, os.X_OK) else [python, "-m", "shapelang"]


def _child(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `argv` (which must succeed)."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(repeat: int, baseline: Optional[str] = None) -> dict:
    """The rows, run `repeat` times each in interleaved rounds; `baseline` is the interpreter of
    another tree's virtualenv."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        program = os.path.join(tmp, "hello.shape")
        with open(program, "w", encoding="utf-8") as f:
            f.write(PROGRAM)
        rows = {"python -c pass": ([sys.executable, "-c", "pass"], base)}
        sides = [("", _shape())] + ([(BASELINE, _shape(baseline))] if baseline else [])
        for prefix, shape in sides:
            warm = dict(base, SHAPE_CACHE_DIR=os.path.join(tmp, f"cache-{len(rows)}"))
            rows[prefix + WARM] = (shape + [program], warm)
            rows[prefix + COLD] = (shape + [program], dict(base, SHAPE_CACHE_DIR=""))
            _child(*rows[prefix + WARM])        # fills the cache
        walls: dict[str, list[float]] = {name: [] for name in rows}
        cpus: dict[str, list[float]] = {name: [] for name in rows}
        loads = []
        for _ in range(repeat):
            for name, (argv, env) in rows.items():
                wall, cpu = _child(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
            loads.append(os.getloadavg()[0])
    return {"repeat": repeat, "target_s": TARGET_SECONDS, "command": " ".join(_shape()),
            "baseline": " ".join(_shape(baseline)) if baseline else None,
            "load": [round(min(loads), 2), round(max(loads), 2)],
            "rows": {name: {"wall_median_s": round(statistics.median(walls[name]), 4),
                            "wall_min_s": round(min(walls[name]), 4),
                            "cpu_median_s": round(statistics.median(cpus[name]), 4),
                            "cpu_min_s": round(min(cpus[name]), 4)} for name in rows}}


def render(result: dict) -> str:
    rows = [[name, f"{r['wall_median_s']:.3f}", f"{r['wall_min_s']:.3f}",
             f"{r['cpu_median_s']:.3f}", f"{r['cpu_min_s']:.3f}"]
            for name, r in result["rows"].items()]
    warm = result["rows"][WARM]["wall_median_s"]
    against = f"; baseline `{result['baseline']}`" if result.get("baseline") else ""
    return "\n".join([
        f"start-up of `{result['command']} FILE` ({PROGRAM.strip()}){against}, "
        f"{result['repeat']} runs each, interleaved; 1-min load "
        f"{result['load'][0]}-{result['load'][1]}",
        table(["run", "wall median s", "wall best s", "CPU median s", "CPU best s"], rows,
              right=range(1, 5)),
        f"target: warm median wall <= {result['target_s']} s on an otherwise idle machine: "
        f"{'met' if warm <= result['target_s'] else 'not met'} at this load ({warm:.3f} s)"])


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="shape bench startup", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=20, help="runs of each row (default 20)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--baseline", metavar="PYTHON",
                   help="the interpreter of a virtualenv holding another tree (e.g. the project "
                        "before a change): its `shape` measured in the same rounds, side by side")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.baseline is not None and not (os.path.isfile(args.baseline)
                                          and os.access(args.baseline, os.X_OK)):
        p.error(f"--baseline {args.baseline}: not an executable file")
    result = measure(args.repeat, args.baseline)
    print(json.dumps(result, indent=1) if args.json else render(result))
    return 0
