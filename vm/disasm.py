"""`shape dis FILE`: print the compiled blobs of a program, in the spirit of Python's `dis`.

For each blob (the module first, then the functions it contains, depth first): its id, name,
kind, parameters, register layout (which slots are parameters, captured cells, locals, hidden
temporaries, and which hold cells) and snapshot call sites; then one line per instruction with the
source line (where it changes), `>>` on jump targets, the offset, the opcode name, its operands and
what they mean (constants, slot names, targets, child blobs, snapshot ordinals).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob, Program, reachable


def _short(v: Any, limit: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 1] + "…"


def _operands(blob: Blob, op: int, a: int, b: int, ids: int) -> str:
    name = O.NAMES[op]
    K = blob.consts
    slot = lambda s: blob.local_names[s] if 0 <= s < len(blob.local_names) else "?"  # noqa: E731
    if name in ("NOP", "LOAD_UNIT", "POP", "DUP", "DUP2", "UNARY_NEG", "UNARY_NOT", "TO_BOOL",
                "GET_INDEX", "FORMAT", "STRUCT_FINISH", "ATTACH_CONTEXT", "RETURN", "HALT",
                "TRY", "TRY_TOP", "AWAIT", "CALL_VAR"):
        if name == "SET_INDEX":
            return ""
        return ""
    if name == "LOAD_CONST":
        return f"{a} ({_short(K[a])})"
    if op in O.SLOT_A and name not in ("FOR_SETUP", "FOR_NEXT"):
        return f"{a} ({slot(a)})"
    if name in ("FOR_SETUP",):
        return f"{a} ({slot(a)}, {slot(a + 1)})"
    if name == "FOR_NEXT":
        return f"{a} ({slot(a)}), exit to {b}"
    if op in O.JUMP_A:
        return f"to {a}"
    if name == "MATCH":
        subj, desc = K[a]
        return f"{subj} ({slot(subj)}) against {_short(desc, 60)}, else to {b}"
    if name == "BINARY":
        return f"{a} ({O.BINOPS[a]})"
    if name == "MAKE_CLOSURE":
        cid = blob.children[a]
        caps = ", ".join(f"{s}:{slot(s)}" for s in K[b])
        return f"{a} ({cid[:ids]}) capturing [{caps}]"
    if name == "SNAPSHOT":
        return f"#{a}"
    if name in ("CALL",):
        return f"{a} arg(s)"
    if name == "CALL_REF":
        return f"{a} arg(s), by reference {K[b]}"
    if name in ("CALL_BUILTIN", "CALL_METHOD"):
        return f"{_short(K[a])}, {b} arg(s)"
    if name in ("SET_ATTR", "SET_INDEX"):
        base = f"{_short(K[a])}" if name == "SET_ATTR" else ""
        return (base + (", keep" if b else "")).lstrip(", ")
    if name == "POP_N":
        return f"{a}"
    if name in ("BUILD_LIST", "BUILD_STRING"):
        return f"{a} item(s)"
    if name == "SPREAD_COPY":
        return "object" if a else "array"
    if name in ("MAKE_RANGE",):
        return "inclusive" if a else "exclusive"
    if name in ("STRUCT_LITERAL", "BUILD_STRUCT", "BUILD_VARIANT"):
        return f"{_short(K[a], 60)}, {b} value(s)"
    if name == "MAKE_STRUCT_TYPE":
        return f"{_short(K[a], 60)}" + (", with defaults thunk" if b else "")
    if op in O.CONST_A:
        return f"{a} ({_short(K[a], 60)})"
    return f"{a} {b}"


def disassemble_blob(blob: Blob, ids: int = 12) -> str:
    out: list[str] = []
    title = blob.name or ("<module>" if blob.kind == "module" else f"<{blob.kind}>")
    out.append(f"Blob {blob.id[:ids]}  {title}  ({blob.kind})"
               + (f"  {blob.source}" if blob.source else ""))
    argc = blob.argc
    info = [f"params {blob.params}"]
    if blob.has_self:
        info.append("method (slot 0 is self)")
    if blob.min_args != blob.params:
        info.append(f"required {blob.min_args}, entries {blob.entries}")
    if blob.ref_params:
        info.append(f"by-reference params {blob.ref_params}")
    if blob.is_async:
        info.append("async")
    info.append(f"registers {blob.nlocals}")
    out.append("  " + ", ".join(info))
    cells = set(blob.cells)
    regs = []
    for i, n in enumerate(blob.local_names):
        role = "param" if i < argc else ("free" if i < argc + blob.nfree else "")
        tag = ",".join(x for x in (role, "cell" if i in cells else "") if x)
        regs.append(f"{i}:{n}" + (f"[{tag}]" if tag else ""))
    if regs:
        out.append("  slots: " + " ".join(regs))
    if blob.children:
        out.append("  children: " + " ".join(f"{i}:{c[:ids]}" for i, c in enumerate(blob.children)))
    if blob.snapshots:
        out.append("  snapshot sites: " + ", ".join(f"#{o} at {pc}" for pc, o in blob.snapshots))
    targets = set()
    for op, a, b in blob.code:
        if op in O.JUMP_A:
            targets.add(a)
        if op in O.JUMP_B:
            targets.add(b)
    targets.update(blob.entries)
    last_line = None
    for pc, (op, a, b) in enumerate(blob.code):
        line, col = blob.line_at(pc)
        shown = f"{line}:{col}" if line is not None and (line, col) != last_line else ""
        last_line = (line, col)
        mark = ">>" if pc in targets else "  "
        opnd = _operands(blob, op, a, b, ids)
        out.append(f"{shown:>9} {mark}{pc:5d}  {O.NAMES[op]:<18} {opnd}".rstrip())
    return "\n".join(out)


def disassemble(program: Program, prelude: bool = False, ids: int = 12) -> str:
    """The whole program: user blobs (and the prelude's with prelude=True)."""
    parts = [disassemble_blob(program.blobs[bid], ids) for bid in reachable(program.blobs, program.entry)]
    if prelude:
        parts += [disassemble_blob(program.blobs[bid], ids)
                  for bid in reachable(program.blobs, program.prelude)]
    sites = program.snapshot_sites()
    if sites:
        parts.append("snapshot() call sites: " + ", ".join(
            f"#{o} in {bid[:ids]} at {pc}" for o, bid, pc in sites))
    return "\n\n".join(parts) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    from shapelang.cli import read_source
    from shapelang.vm.compiler import compile_source
    p = argparse.ArgumentParser(prog="shape dis", description="Disassemble a Shape program.")
    p.add_argument("file")
    p.add_argument("--prelude", action="store_true", help="also show the prelude's blobs")
    p.add_argument("--full-ids", action="store_true", help="print blob ids in full")
    args = p.parse_args(argv)
    source = read_source(args.file)
    program = compile_source(source, args.file)
    sys.stdout.write(disassemble(program, prelude=args.prelude, ids=64 if args.full_ids else 12))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
