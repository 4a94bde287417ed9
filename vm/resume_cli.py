"""`shape --resume ID [FILE] [--store PATH] [--snapshot-at N]`."""
from __future__ import annotations

import argparse
import sys
from typing import Optional

from shapelang.cli import step_count
from shapelang.runtime.errors import ShapeError


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="shape --resume",
                                description="Continue a stored snapshot (full resume), or continue it "
                                            "in the recompiled FILE (recompile-and-resume).")
    p.add_argument("--resume", required=True, metavar="ID", help="snapshot id or unique prefix")
    p.add_argument("file", nargs="?", help="recompile this source and continue in it")
    p.add_argument("--store", help="snapshot store file")
    p.add_argument("--snapshot-at", type=step_count, help="interrupt after N steps")
    args = p.parse_args(argv)
    from shapelang.vm import snapshot as S
    write = sys.stdout.write
    try:
        if args.file:
            from shapelang.cli import read_source
            from shapelang.vm.recompile import recompile_resume
            source = read_source(args.file)
            recompile_resume(args.resume, source, args.file, write, store=args.store,
                             snapshot_at=args.snapshot_at)
        else:
            S.resume(args.resume, write, store=args.store, snapshot_at=args.snapshot_at)
    except ShapeError as e:
        if e.file is None and args.file and e.phase != "resume":
            e.file = args.file
        if e.file is None and e.phase == "resume":
            e.file = "--resume"
        raise
    finally:
        sys.stdout.flush()
    return 0
