"""Function blobs: the immutable, content-addressed unit of compiled code.

Each Shape function, lambda, method, struct-defaults thunk and each module top level compiles to
one `Blob`. A blob's id is the lowercase hex SHA-256 of its canonical encoding (msgpack of a list
in a fixed field order), and a parent names its children by id, so equal code has equal ids and a
program is a Merkle tree of blobs. Blobs hold only data (ints, floats, strings, bools, None and
lists of those); the machine derives its fast threaded code from them and never stores that.

`Blob.from_bytes` is the strict decoder used when bytecode comes back from a snapshot store: it
re-checks the hash and validates every field and operand before anything else may use the blob.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

import msgpack

from shapelang.vm import opcodes as O

BLOB_MAGIC = "shape-blob"
BLOB_VERSION = 1
KINDS = ("module", "function", "lambda", "method", "defaults", "annotation", "wrapper", "thunk")
MAX_CODE = 10_000_000


class BlobError(Exception):
    """Bytes that are not a valid function blob (corrupt, tampered, wrong version)."""


@dataclass
class Blob:
    name: Optional[str]          # function name; None for lambdas and the module
    kind: str                    # one of KINDS
    params: int                  # declared parameters (excluding `self`)
    has_self: bool               # a method: slot 0 is `self`
    min_args: int                # arguments required (the rest have defaults)
    entries: list[int]           # entry pc when k = min_args.. params arguments are supplied
    ref_params: list[int]        # indices of `&x` parameters
    is_async: bool
    annotated: bool              # declared with @annotations
    nfree: int                   # captured cells, in slots argc .. argc+nfree-1
    nlocals: int                 # total register slots (params, free cells, locals, temps)
    code: list[list[int]]        # [op, a, b]
    consts: list[Any]
    lines: list[list[int]]       # runs [pc, line, col]: instructions from pc on are at line:col
    children: list[str]          # child blob ids (MAKE_CLOSURE's `a` indexes this)
    snapshots: list[list[int]]   # [pc, ordinal] of each snapshot() call site in this blob
    local_names: list[str]       # slot names (binding uids; `$…` for hidden temporaries)
    cells: list[int]             # slots that hold cells (captured or by-reference variables)
    source: Optional[str] = None  # path of the source file (not part of the id)
    _id: Optional[str] = field(default=None, repr=False, compare=False)

    @property
    def argc(self) -> int:
        return self.params + (1 if self.has_self else 0)

    def encoding(self) -> list:
        return [BLOB_MAGIC, BLOB_VERSION, self.name, self.kind, self.params, self.has_self,
                self.min_args, self.entries, self.ref_params, self.is_async, self.annotated,
                self.nfree, self.nlocals, self.code, self.consts, self.lines, self.children,
                self.snapshots, self.local_names, self.cells]

    def to_bytes(self) -> bytes:
        return msgpack.packb(self.encoding(), use_bin_type=True)

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = hashlib.sha256(self.to_bytes()).hexdigest()
        return self._id

    def line_at(self, pc: int) -> tuple[Optional[int], Optional[int]]:
        line = col = None
        for start, ln, c in self.lines:
            if start > pc:
                break
            line, col = ln, c
        return (line or None, col or None)

    @staticmethod
    def from_bytes(data: bytes, expect_id: Optional[str] = None) -> "Blob":
        """Decode and validate; raises BlobError for anything that is not a well-formed blob."""
        if not isinstance(data, (bytes, bytearray)):
            raise BlobError("blob data must be bytes")
        data = bytes(data)
        if expect_id is not None and hashlib.sha256(data).hexdigest() != expect_id:
            raise BlobError(f"blob {expect_id[:16]}… does not match its hash")
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except Exception as e:
            raise BlobError(f"blob is not valid msgpack ({type(e).__name__})") from None
        if not isinstance(doc, list) or len(doc) != 20 or doc[0] != BLOB_MAGIC:
            raise BlobError("not a function blob (bad magic)")
        if doc[1] != BLOB_VERSION:
            raise BlobError(f"unsupported blob version {doc[1]!r}")
        blob = Blob(*doc[2:])
        validate(blob)
        if blob.to_bytes() != data:
            raise BlobError("blob encoding is not canonical")
        return blob


def _is_int(v: Any) -> bool:
    return type(v) is int


def _check_const(v: Any, depth: int = 0) -> None:
    if depth > 64:
        raise BlobError("constant nested too deeply")
    t = type(v)
    if v is None or t in (bool, int, float, str):
        return
    if t is list:
        for x in v:
            _check_const(x, depth + 1)
        return
    raise BlobError(f"bad constant of type {t.__name__}")


def validate(b: Blob) -> None:
    """Check every field and operand, so the threader can trust the blob completely."""
    def need(cond: bool, what: str) -> None:
        if not cond:
            raise BlobError(f"invalid blob: {what}")

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
    for c in b.consts:
        _check_const(c)
    last = -1
    for run in b.lines:
        need(type(run) is list and len(run) == 3 and all(_is_int(x) for x in run), "lines")
        need(last < run[0] < n, "line table order")
        last = run[0]
    for s in b.snapshots:
        need(type(s) is list and len(s) == 2 and all(_is_int(x) for x in s), "snapshots")
        need(0 <= s[0] < n and s[1] >= 0 and b.code[s[0]][0] == O.SNAPSHOT, "snapshot site")
    nops = len(O.NAMES)
    nconst = len(b.consts)
    for pc, ins in enumerate(b.code):
        need(type(ins) is list and len(ins) == 3 and all(_is_int(x) for x in ins),
             f"instruction {pc}")
        op, a, c = ins
        need(0 <= op < nops, f"opcode at {pc}")
        need(0 <= a < 2 ** 31 and 0 <= c < 2 ** 31, f"operand at {pc}")
        if op in O.JUMP_A:
            need(a < n, f"jump target at {pc}")
        if op in O.JUMP_B:
            need(c < n, f"jump target at {pc}")
        if op in O.CONST_A:
            need(a < nconst, f"constant at {pc}")
        if op in O.CONST_B:
            need(c < nconst, f"constant at {pc}")
        if op in O.SLOT_A:
            need(a < b.nlocals, f"slot at {pc}")
        if op == O.FOR_SETUP or op == O.FOR_NEXT:
            need(a + 1 < b.nlocals, f"loop slots at {pc}")
        if op == O.MAKE_CLOSURE:
            need(a < len(b.children), f"child at {pc}")
            caps = b.consts[c] if c < nconst else None
            need(type(caps) is list and all(_is_int(s) and 0 <= s < b.nlocals for s in caps),
                 f"captures at {pc}")
        if op == O.BINARY:
            need(a < len(O.BINOPS), f"operator at {pc}")
        if op == O.BUILD_STRING:
            need(a >= 1, f"string part count at {pc}")
        if op == O.SPREAD_COPY:
            need(a in (0, 1), f"spread kind at {pc}")
        if op == O.SNAPSHOT:
            need([pc, a] in b.snapshots, f"snapshot ordinal at {pc}")
    need(O.CLASS[b.code[-1][0]] == "U", "code must end in a transfer")
    from shapelang.vm.patterns import validate_consts
    validate_consts(b, need)
    stack_depths(b)


def stack_depths(b: Blob) -> list[Optional[int]]:
    """The operand-stack depth before each instruction (None where unreachable), found by
    following every path from the entries, as a JVM-style verifier does. Raises BlobError when
    an instruction could pop an empty stack or two paths meet with different depths: the
    threaded code trusts both, so stored code that breaks them is refused at load time."""
    n = len(b.code)
    depth: list[Optional[int]] = [None] * n
    work = [(e, 0) for e in b.entries]
    jump_keeps = (O.JUMP_IF_NOT_NONE, O.JUMP_IF_NONE, O.JUMP_UNLESS_FAILURE, O.JUMP)
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
            pops, pushes = O.stack_effect(op, a, c, b.consts)
            if d < pops:
                raise BlobError(f"invalid blob: stack underflow at {pc}")
            if op in O.JUMP_A:
                # Conditional jumps that test a kept value branch with it still on the stack.
                work.append((a, d if op in jump_keeps else d - pops))
            elif op in O.JUMP_B:
                work.append((c, d))
            if O.CLASS[op] == "U":
                break
            d += pushes - pops
            pc += 1
    return depth


@dataclass
class Program:
    """A compiled program: its blobs (user code and the prelude), by id."""
    blobs: dict[str, Blob]
    entry: str                   # the module blob of the program
    prelude: str                 # the module blob of the prelude
    path: Optional[str] = None

    def blob_bytes(self) -> dict[str, bytes]:
        return {bid: b.to_bytes() for bid, b in self.blobs.items()}

    def snapshot_sites(self) -> list[tuple[int, str, int]]:
        """(ordinal, blob id, pc) of every snapshot() call site in the user program."""
        out = []
        for bid in reachable(self.blobs, self.entry):
            for pc, ordinal in self.blobs[bid].snapshots:
                out.append((ordinal, bid, pc))
        return sorted(out)


def reachable(blobs: dict[str, Blob], root: str) -> list[str]:
    """Blob ids reachable from `root`, parents before children, in a fixed order."""
    seen: dict[str, None] = {}
    stack = [root]
    while stack:
        bid = stack.pop()
        if bid in seen:
            continue
        seen[bid] = None
        stack.extend(reversed(blobs[bid].children))
    return list(seen)
