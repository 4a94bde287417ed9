"""The blob verifier: what a function blob must satisfy before the threader may compile it.

Bytecode comes back from a snapshot store, which is untrusted input, and the threaded code
trusts its blob completely (register numbers, jump targets and constant indices are spliced into
generated Python). So `validate` checks every field of a blob, then every instruction against the
opcode record (vm/opcodes.py): each operand against its declared kind, structured constants
against their declared shapes (vm/operands.py), and finally the operand stack along every path
(`stack_depths`), as a JVM-style verifier does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from shapelang.ref.deepstack import on_front_end_stack
from shapelang.vm import opcodes as O
from shapelang.vm.operands import MAX_OPERAND

if TYPE_CHECKING:
    from shapelang.vm.blob import Blob

KINDS = ("module", "function", "lambda", "method", "defaults", "annotation", "wrapper", "thunk")
MAX_CODE = 10_000_000
SHALLOW_CONST = 64      # constants nested deeper than this are checked on a deep stack


class BlobError(Exception):
    """Bytes that are not a valid function blob (corrupt, tampered, wrong version)."""


class BlobSite:
    """One instruction of a blob, as the operand kinds of the record see it (vm/operands.Site)."""

    def __init__(self, blob: "Blob", ids: int = 12) -> None:
        self.nlocals = blob.nlocals
        self.consts = blob.consts
        self.children = blob.children
        self.code_len = len(blob.code)
        self.snapshots = blob.snapshots
        self.local_names = blob.local_names
        self.ids = ids
        self.pc = self.a = self.b = 0

    def at(self, pc: int, a: int, b: int) -> "BlobSite":
        self.pc, self.a, self.b = pc, a, b
        return self


def _is_int(v: Any) -> bool:
    return type(v) is int


def _const_depth(v: Any) -> int:
    """How deeply a constant nests (0 for a scalar); BlobError unless it is plain data."""
    deepest = 0
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        t = type(x)
        if t is list:
            deepest = max(deepest, d + 1)
            stack.extend((y, d + 1) for y in x)
        elif not (x is None or t in (bool, int, float, str)):
            raise BlobError(f"bad constant of type {t.__name__}")
    return deepest


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise BlobError(f"invalid blob: {what}")


def validate(b: "Blob") -> None:
    """Check every field and operand, so the threader can trust the blob completely."""
    need = _need
    need(b.name is None or type(b.name) is str, "name")
    need(b.kind in KINDS, "kind")
    for f in ("params", "min_args", "nfree", "nlocals"):
        v = getattr(b, f)
        need(_is_int(v) and 0 <= v <= 1_000_000, f)
    for f in ("has_self", "is_async", "annotated"):
        need(type(getattr(b, f)) is bool, f)
    need(b.min_args <= b.params, "min_args")
    need(b.argc + b.nfree <= b.nlocals, "nlocals")
    for f in ("entries", "ref_params", "code", "consts", "lines", "children", "snapshots",
              "local_names", "cells"):
        need(type(getattr(b, f)) is list, f)
    n = len(b.code)
    need(0 < n <= MAX_CODE, "code length")
    need(len(b.entries) == b.params - b.min_args + 1, "entries")
    need(all(_is_int(e) and 0 <= e < n for e in b.entries), "entry pcs")
    need(all(_is_int(i) and 0 <= i < b.params for i in b.ref_params), "ref_params")
    need(len(b.local_names) == b.nlocals and all(type(s) is str for s in b.local_names),
         "local_names")
    need(all(_is_int(s) and 0 <= s < b.nlocals for s in b.cells), "cells")
    need(all(type(c) is str and len(c) == 64 for c in b.children), "children")
    depth = max((_const_depth(c) for c in b.consts), default=0)
    last = -1
    for run in b.lines:
        need(type(run) is list and len(run) == 3 and all(_is_int(x) for x in run), "lines")
        need(last < run[0] < n, "line table order")
        last = run[0]
    for s in b.snapshots:
        need(type(s) is list and len(s) == 2 and all(_is_int(x) for x in s), "snapshots")
        need(0 <= s[0] < n and s[1] >= 0 and b.code[s[0]][0] == O.SNAPSHOT, "snapshot site")
    # The shape checks recurse into structured constants (patterns nest as deeply as the
    # source does, up to what msgpack decodes), so deep ones are checked on a deep stack.
    try:
        if depth > SHALLOW_CONST:
            on_front_end_stack(lambda: _check_code(b))
        else:
            _check_code(b)
    except RecursionError:
        raise BlobError("invalid blob: constant nested too deeply") from None
    need(O.CLASS[b.code[-1][0]] == "U", "code must end in a transfer")
    stack_depths(b)


def _check_code(b: "Blob") -> None:
    nops = len(O.INFO)
    site = BlobSite(b)
    for pc, ins in enumerate(b.code):
        _need(type(ins) is list and len(ins) == 3 and all(_is_int(x) for x in ins),
              f"instruction {pc}")
        op, a, c = ins
        _need(0 <= op < nops, f"opcode at {pc}")
        _need(0 <= a < MAX_OPERAND and 0 <= c < MAX_OPERAND, f"operand at {pc}")
        check_operands(op, a, c, site.at(pc, a, c))


def check_operands(op: int, a: int, b: int, site: Any) -> None:
    """Check one instruction's operands against the kinds its opcode declares."""
    info = O.INFO[op]
    if not info.a.check(a, site):
        raise BlobError(f"invalid blob: operand a ({info.a.name}) of {info.name} at {site.pc}")
    if not info.b.check(b, site):
        raise BlobError(f"invalid blob: operand b ({info.b.name}) of {info.name} at {site.pc}")


def stack_depths(b: "Blob") -> list[Optional[int]]:
    """The operand-stack depth before each instruction (None where unreachable), found by
    following every path from the entries. Raises BlobError when an instruction could pop an
    empty stack or two paths meet with different depths: the threaded code trusts both, so
    stored code that breaks them is refused at load time."""
    n = len(b.code)
    depth: list[Optional[int]] = [None] * n
    work = [(e, 0) for e in b.entries]
    consts = b.consts
    info = O.INFO
    while work:
        pc, d = work.pop()
        while True:
            if not 0 <= pc < n:
                raise BlobError("invalid blob: code runs past its end")
            if depth[pc] is not None:
                if depth[pc] != d:
                    raise BlobError(f"invalid blob: stack depth {depth[pc]} or {d} at {pc}")
                break
            depth[pc] = d
            op, a, c = b.code[pc]
            pops, pushes = O.stack_effect(op, a, c, consts)
            if d < pops:
                raise BlobError(f"invalid blob: stack underflow at {pc}")
            for target in O.jump_targets(op, a, c):
                jpops, jpushes = info[op].jump
                work.append((target, d - jpops + jpushes))
            if O.CLASS[op] == "U":
                break
            d += pushes - pops
            pc += 1
    return depth
