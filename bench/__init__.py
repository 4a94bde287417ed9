"""`shape bench`: benchmarks, measured side by side in one run.

    shape bench [NAMES…] [--repeat N] [--engines ref,vm,py] [--json]   the engines (engines.py)
    shape bench snapshot [--json] …                                     snapshot/resume (snapshot.py)
    shape bench io [--rows N] [--json] …                                std-module reading (io.py)
    shape bench startup [--repeat N] [--json] [--baseline PYTHON]       `shape FILE` start-up (startup.py)

The benchmark driver runs both engines, so it lives above them, beside the other tools.
"""
from __future__ import annotations

from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(argv or [])
    if argv[:1] == ["snapshot"]:
        from shapelang.bench import snapshot
        return snapshot.main(argv[1:]) or 0
    if argv[:1] == ["io"]:
        from shapelang.bench import io
        return io.main(argv[1:]) or 0
    if argv[:1] == ["startup"]:
        from shapelang.bench import startup
        return startup.main(argv[1:]) or 0
    from shapelang.bench import engines
    return engines.main(argv) or 0
