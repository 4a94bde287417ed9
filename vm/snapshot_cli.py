"""`shape snapshot list | info ID | delete ID | gc | verify` — look after the snapshot store."""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from typing import Optional

from shapelang.runtime.errors import ShapeError
from shapelang.vm.store import SQLiteStore, default_store_path


def _when(ts: float) -> str:
    try:
        if ts > 0:
            return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        pass
    return "????-??-?? ??:??:??"  # a damaged creation time (see the store's metadata rows)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="shape snapshot", description="Inspect and manage stored snapshots.")
    p.add_argument("--store", help=f"store file (default {default_store_path()})")
    sub = p.add_subparsers(dest="cmd", required=True)
    cmds = [sub.add_parser("list", help="list snapshots, oldest first")]
    info = sub.add_parser("info", help="show one snapshot (a unique id prefix is enough)")
    info.add_argument("id")
    delete = sub.add_parser("delete", help="delete one snapshot (its code blobs stay until gc)")
    delete.add_argument("id")
    verify = sub.add_parser("verify", help="check every stored blob against its hash")
    verify.add_argument("--deep", action="store_true",
                        help="also load every snapshot: decode its state and validate its code")
    cmds += [info, delete, sub.add_parser("gc", help="delete blobs that no snapshot refers to"),
             verify]
    # The usage line puts --store last (`shape snapshot list --store PATH`): accept it there too.
    for c in cmds:
        c.add_argument("--store", dest="sub_store", help="store file")
    args = p.parse_args(argv)
    store = SQLiteStore(args.sub_store if args.sub_store is not None else args.store)
    out = sys.stdout
    try:
        if args.cmd == "list":
            snaps = store.list()
            if not snaps:
                out.write(f"No snapshots in {store.path}\n")
            for s in snaps:
                out.write(f"{s.id}  {_when(s.created)}  {s.kind:<9}  {s.state_size:>9} B  "
                          f"{s.script or '-'}{'  (' + s.problem + ')' if s.problem else ''}\n")
        elif args.cmd == "info":
            sid = store.resolve(args.id)
            s, state = store.get_snapshot(sid)
            out.write(f"id:       {s.id}\ncreated:  {_when(s.created)}\nkind:     {s.kind}\n"
                      f"script:   {s.script or '-'}\nparent:   {s.parent or '-'}\n"
                      f"state:    {len(state)} bytes\ncode:     {len(s.blob_ids)} function blob(s)\n"
                      f"resume:   shape --resume {s.id}\n")
        elif args.cmd == "delete":
            sid = store.resolve(args.id)
            store.delete(sid)
            out.write(f"Deleted snapshot {sid}\n")
        elif args.cmd == "gc":
            # gc deletes what no snapshot's blob list names, so it first makes sure every list
            # is right (each snapshot loads with exactly its listed blobs); a damaged store is
            # left as it is, for `verify --deep` to report and `delete` to clear.
            bad = store.verify()
            sources: set[str] = set()
            bad += _unloadable(store, bad, sources)
            if bad:
                raise ShapeError("StoreError", f"gc stopped, nothing was deleted: {len(bad)} "
                                 "problem(s) in the store (see `shape snapshot verify --deep`)")
            n = store.gc(keep=sources)
            out.write(f"Removed {n} unreferenced blob(s)\n")
        elif args.cmd == "verify":
            problems = store.verify()
            if args.deep:
                problems += _unloadable(store, problems)
            stats = store.stats()
            for prob in problems:
                out.write(f"BAD  {prob}\n")
            out.write(f"Checked {stats['blobs']} blob(s) in {stats['snapshots']} snapshot(s): "
                      f"{'OK' if not problems else f'{len(problems)} problem(s)'}\n")
            if problems:
                raise ShapeError("StoreError", f"{len(problems)} problem(s) found in {store.path}")
    finally:
        store.close()
    return 0


def _unloadable(store: SQLiteStore, known: list[str], sources: Optional[set] = None) -> list[str]:
    """Snapshots whose hashes are fine but which still cannot be loaded (a state or code blob that
    does not decode, a state that does not fit its code). Nothing is run. The source ids the
    loadable snapshots use are added to `sources` (older snapshots may not list theirs)."""
    from shapelang.vm import snapshot as S
    flagged = " ".join(known)
    out = []
    for info in store.list():
        if info.id in flagged:
            continue
        try:
            loaded = S.load(store, info.id)
        except ShapeError as e:
            out.append(f"snapshot {info.id}: {e.message}")
            continue
        if sources is not None and loaded.source is not None:
            sources.add(loaded.source_id)
    return out
