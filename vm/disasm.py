"""`shape dis FILE`: print the compiled blobs of a program, in the spirit of Python's `dis`.

For each blob (the module first, then the functions it contains, depth first): its id, name,
kind, parameters, register layout (which slots are parameters, captured cells, locals, hidden
temporaries, and which hold cells) and snapshot call sites; then one line per instruction with the
source line (where it changes), `>>` on jump targets, the offset, the opcode name, its operands and
what they mean (constants, slot names, targets, child blobs, snapshot ordinals).
"""
from __future__ import annotations


from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob, Program, reachable
from shapelang.vm.verify import BlobSite


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
    targets = set(blob.entries)
    for op, a, b in blob.code:
        targets.update(O.jump_targets(op, a, b))
    site = BlobSite(blob, ids)
    last_line = None
    for pc, (op, a, b) in enumerate(blob.code):
        line, col = blob.line_at(pc)
        shown = f"{line}:{col}" if line is not None and (line, col) != last_line else ""
        last_line = (line, col)
        mark = ">>" if pc in targets else "  "
        opnd = O.operands_text(op, a, b, site.at(pc, a, b))
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
