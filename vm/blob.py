"""Function blobs: the immutable, content-addressed unit of compiled code.

Each Shape function, lambda, method, struct-defaults thunk and each module top level compiles to
one `Blob`. A blob's id is the lowercase hex SHA-256 of its canonical encoding (msgpack of a list
in a fixed field order), and a parent names its children by id, so equal code has equal ids and a
program is a Merkle tree of blobs. Blobs hold only data (ints, floats, strings, bools, None and
lists of those); the machine derives its fast threaded code from them and never stores that.

`Blob.from_bytes` is the strict decoder used when bytecode comes back from a snapshot store: it
re-checks the hash and runs the verifier (vm/verify.py) before anything else may use the blob.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from shapelang.vm.verify import BlobError, validate

BLOB_MAGIC = "shape-blob"
BLOB_VERSION = 1
__all__ = ["BLOB_MAGIC", "BLOB_VERSION", "Blob", "BlobError", "Program", "reachable"]


@dataclass
class Blob:
    name: Optional[str]          # function name; None for lambdas and the module
    kind: str                    # one of verify.KINDS
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
    # Calls compiled into this blob's own code: [start, end, name, line, col] says instructions
    # start..end-1 run the body of function `name`, called at line:col (ranges nest, outer
    # first). Call stacks show them as frames. Encoded only when there are some.
    inlined: list[list[Any]] = field(default_factory=list)
    source: Optional[str] = None  # path of the source file (not part of the id)
    _id: Optional[str] = field(default=None, repr=False, compare=False)
    # The encoding, kept once the id is taken: from then on the blob is not changed (its id
    # names its content; a changed copy is made with dataclasses.replace, which drops both).
    _bytes: Optional[bytes] = field(default=None, init=False, repr=False, compare=False)

    @property
    def argc(self) -> int:
        return self.params + (1 if self.has_self else 0)

    def encoding(self) -> list:
        out = [BLOB_MAGIC, BLOB_VERSION, self.name, self.kind, self.params, self.has_self,
               self.min_args, self.entries, self.ref_params, self.is_async, self.annotated,
               self.nfree, self.nlocals, self.code, self.consts, self.lines, self.children,
               self.snapshots, self.local_names, self.cells]
        if self.inlined:
            # Optional, so that code without inlined calls keeps its id (and old stores load).
            out.append(self.inlined)
        return out

    def to_bytes(self) -> bytes:
        if self._bytes is not None:
            return self._bytes
        import msgpack      # on use: a run whose code comes from the code cache encodes none
        return msgpack.packb(self.encoding(), use_bin_type=True)

    @property
    def id(self) -> str:
        if self._id is None:
            import hashlib  # on use (hashlib loads OpenSSL: start-up, vm/codecache.py)
            data = self.to_bytes()
            self._id = hashlib.sha256(data).hexdigest()
            self._bytes = data
        return self._id

    def inlined_at(self, pc: int) -> list[list[Any]]:
        """The inlined calls instruction `pc` runs inside, outermost first."""
        return [r for r in self.inlined if r[0] <= pc < r[1]]

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
        import hashlib
        import msgpack
        if not isinstance(data, (bytes, bytearray)):
            raise BlobError("blob data must be bytes")
        data = bytes(data)
        if expect_id is not None and hashlib.sha256(data).hexdigest() != expect_id:
            raise BlobError(f"blob {expect_id[:16]}… does not match its hash")
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except Exception as e:
            raise BlobError(f"blob is not valid msgpack ({type(e).__name__})") from None
        if not isinstance(doc, list) or len(doc) not in (20, 21) or doc[0] != BLOB_MAGIC:
            raise BlobError("not a function blob (bad magic)")
        if doc[1] != BLOB_VERSION:
            raise BlobError(f"unsupported blob version {doc[1]!r}")
        blob = Blob(*doc[2:])
        validate(blob)
        if blob.to_bytes() != data:
            raise BlobError("blob encoding is not canonical")
        if expect_id is not None:     # checked above: these bytes hash to it
            blob._id, blob._bytes = expect_id, data
        return blob


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
