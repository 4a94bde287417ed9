"""`shape snapshot list | info ID | delete ID | gc | verify | copy ID --to STORE` — look after
a snapshot store (a SQLite file or a PostgreSQL database; see vm/store).

Read-only commands (list, info, verify) and the ones that only remove (delete, gc) never create
a store: on a path or database with nothing stored they say so and leave it as it was.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from shapelang.diagnostics import command_errors
from shapelang.report import UNKNOWN_TIME, iso_utc, table
from shapelang.runtime.errors import ShapeError
from shapelang.vm import snapshot as S
from shapelang.vm.store import (SnapshotInfo, SnapshotStore, copy_snapshot, default_store_path,
                                mask_url, open_store)



def _row_json(s: SnapshotInfo) -> dict:
    return {"id": s.id, "created": None if iso_utc(s.created) == UNKNOWN_TIME else iso_utc(s.created),
            "kind": s.kind, "state_size": s.state_size, "code_blobs": len(s.blob_ids),
            "script": s.script, "parent": s.parent, "problem": s.problem}


def parent_chain(store: SnapshotStore, s: SnapshotInfo, limit: int = 1000) -> list[str]:
    """The ids of the snapshots `s` was resumed from, nearest first; a parent that is not in
    this store ends the chain as `<id> (not in this store)`."""
    chain: list[str] = []
    seen = {s.id}
    parent = s.parent
    while parent is not None and len(chain) < limit:
        if parent in seen:  # only a forged store can loop; show where, and stop
            chain.append(f"{parent} (loop)")
            break
        seen.add(parent)
        info = store.info(parent)
        if info is None:
            chain.append(f"{parent} (not in this store)")
            break
        chain.append(parent)
        parent = info.parent
    return chain


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shape snapshot",
                                description="Inspect and manage stored snapshots.")
    where = (f"snapshot store: a path, sqlite:///PATH or postgresql://… "
             f"(default: $SHAPE_STORE or {default_store_path()})")
    p.add_argument("--store", help=where)
    sub = p.add_subparsers(dest="cmd", required=True)
    lst = sub.add_parser("list", help="list snapshots, oldest first")
    lst.add_argument("--json", action="store_true", help="print a JSON array of snapshots")
    lst.add_argument("--script", help="only the snapshots of this script (as it was run)")
    lst.add_argument("--limit", type=_limit, help="only the newest N snapshots")
    info = sub.add_parser("info", help="show one snapshot and its parent chain "
                                       "(a unique id prefix is enough)")
    info.add_argument("id", help="the snapshot id or a unique prefix of it")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    delete = sub.add_parser("delete", help="delete one snapshot (its code blobs stay until gc)")
    delete.add_argument("id", help="the snapshot id or a unique prefix of it")
    verify = sub.add_parser("verify", help="check every stored blob against its hash")
    verify.add_argument("--deep", action="store_true",
                        help="also load every snapshot: decode its state and validate its code")
    copy = sub.add_parser("copy", help="copy snapshots (state, code, source, metadata) to "
                                       "another store; their ids stay the same")
    copy.add_argument("id", nargs="+", help="snapshot ids or unique prefixes")
    copy.add_argument("--to", required=True, metavar="STORE", help="the store to copy into")
    cmds = [lst, info, delete, sub.add_parser("gc", help="delete blobs that no snapshot refers to"),
            verify, copy]
    # The usage line puts --store last (`shape snapshot list --store PATH`): accept it there too.
    for c in cmds:
        c.add_argument("--store", dest="sub_store", help=where)
    return p


@command_errors("snapshot")
def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    location = args.sub_store if args.sub_store is not None else args.store
    store = open_store(location, create=False)
    try:
        return _run(args, store)
    finally:
        store.close()


def _run(args: argparse.Namespace, store: SnapshotStore) -> int:
    out = sys.stdout
    if args.cmd == "list":
        snaps = store.list(script=args.script, limit=args.limit)
        if args.json:
            out.write(json.dumps([_row_json(s) for s in snaps], indent=1) + "\n")
        elif not snaps:
            out.write(f"No snapshots in {store.location}"
                      f"{' for ' + args.script if args.script is not None else ''}\n")
        else:
            rows = []
            for s in snaps:
                rows.append([s.id, iso_utc(s.created), s.kind, f"{s.state_size} B",
                             s.parent[:12] if s.parent else "-",
                             (s.script or "-") + (f"  ({s.problem})" if s.problem else "")])
            out.write(table(["ID", "CREATED (UTC)", "KIND", "STATE", "PARENT", "SCRIPT"], rows,
                            right=(3,)) + "\n")
    elif args.cmd == "info":
        sid = store.resolve(args.id)
        s, state = store.get_snapshot(sid)
        chain = parent_chain(store, s)
        try:
            ledger, source_id = S.state_summary(state, sid)
            unreadable = ""
        except ShapeError as e:     # metadata is still worth showing (verify says more)
            ledger, source_id, unreadable = None, None, f" ({e.message})"
        inputs = [] if ledger is None else [
            {"path": p, "sha256": r.fingerprint, "size": r.size, "pinned": r.pinned}
            for p, r in sorted(ledger.inputs.items()) if p not in ledger.outputs]
        outputs = [] if ledger is None else [
            {"path": p, "kind": r.kind, "size": r.size, "sha256": r.fingerprint}
            for p, r in sorted(ledger.outputs.items())]
        data = set() if ledger is None else set(ledger.blob_ids())
        code = len([b for b in s.blob_ids if b not in data and b != source_id])
        if args.json:
            out.write(json.dumps({**_row_json(s), "code_blobs": code, "parents": chain,
                                  "inputs": inputs, "outputs": outputs,
                                  "resume": f"shape --resume {s.id}"}, indent=1) + "\n")
        else:
            out.write(f"id:       {s.id}\ncreated:  {iso_utc(s.created)}\nkind:     {s.kind}\n"
                      f"script:   {s.script or '-'}\nparent:   {chain[0] if chain else '-'}\n")
            for pid in chain[1:]:  # the parent's parent and on, nearest first
                out.write(f"          {pid}\n")
            out.write(f"state:    {len(state)} bytes{unreadable}\n"
                      f"code:     {code} function blob(s)\n")
            for n, i in enumerate(inputs):
                out.write(f"{'inputs:' if n == 0 else '':<10}{i['path']}  sha256 {i['sha256'][:12]}"
                          f"  {i['size']} bytes  {'pinned' if i['pinned'] else 'not pinned'}\n")
            for n, o in enumerate(outputs):
                out.write(f"{'outputs:' if n == 0 else '':<10}{o['path']}  {o['kind']}"
                          f"  {o['size']} bytes\n")
            out.write(f"resume:   shape --resume {s.id}\n")
    elif args.cmd == "delete":
        sid = store.resolve(args.id)
        store.delete(sid)
        out.write(f"Deleted snapshot {sid}\n")
    elif args.cmd == "gc":
        n = S.collect(store)
        out.write(f"Removed {n} unreferenced blob(s)\n")
    elif args.cmd == "verify":
        problems = S.verify(store, deep=args.deep)
        stats = store.stats()
        for prob in problems:
            out.write(f"BAD  {prob}\n")
        out.write(f"Checked {stats['blobs']} blob(s) in {stats['snapshots']} snapshot(s): "
                  f"{'OK' if not problems else f'{len(problems)} problem(s)'}\n")
        if problems:
            raise ShapeError("StoreError", f"{len(problems)} problem(s) found in {store.location}")
    elif args.cmd == "copy":
        ids = [store.resolve(i) for i in args.id]
        target = open_store(args.to, create=True)
        try:
            for sid in ids:
                copy_snapshot(store, target, sid)
                out.write(f"Copied snapshot {sid} to {target.location}\n")
        finally:
            target.close()
    return 0
