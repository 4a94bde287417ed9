"""Canonical, versioned encoding of an object graph as data only (the snapshot byte layer).

A snapshot is a graph: arrays and objects shared by two variables, closures sharing cells,
cycles. The encoder numbers every shareable node (lists, dicts, and instances of registered record
classes) in breadth-first order from the root and writes each node once; references are node
numbers. Because the traversal order, the field order and msgpack's encoding are all fixed, equal
states give equal bytes, so the SHA-256 of the bytes is a content address.

Decoding never runs code from the data: it only builds lists, dicts, and instances of the record
classes named in the registry (created with `object.__new__` and filled field by field), and it
checks everything: the magic and version, node tags, field counts, references in range, sizes.
Anything else is rejected with a `CodecError`.

Layout (msgpack): ["SHAPE-SNAP", VERSION, root, nodes] where each node is
  ["L", [item…]]            list
  ["D", [k, v, k, v…]]      dict (insertion order kept)
  ["R", "ClassName", [field…]]  registered record
and every item is an inline scalar (None, bool, int, float, str), ["T", [item…]] for a tuple,
["C", "name"] for a registered constant, ["I", "digits"] for an int beyond 64 bits, or
["@", n] for a reference to node n.
"""
from __future__ import annotations

import gc
import hashlib
import math
import re
import struct
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import msgpack

MAGIC = "SHAPE-SNAP"
VERSION = 1
MAX_NODES = 50_000_000
MAX_BYTES = 2 * 1024 ** 3

_CANON_NAN = struct.unpack(">d", bytes.fromhex("7ff8000000000000"))[0]


class CodecError(Exception):
    """The bytes are not a valid snapshot encoding (corrupt, truncated, tampered or too new)."""


@dataclass(frozen=True)
class RecordType:
    name: str
    cls: type
    fields: tuple[str, ...]


class Registry:
    """What the codec may build: record classes (by name) and constants (singletons, builtins)."""

    def __init__(self) -> None:
        self.by_name: dict[str, RecordType] = {}
        self.by_class: dict[type, RecordType] = {}
        self.constants: dict[str, Any] = {}
        self.constant_ids: dict[int, str] = {}

    def record(self, cls: type, fields: Iterable[str], name: Optional[str] = None) -> None:
        rt = RecordType(name or cls.__name__, cls, tuple(fields))
        if rt.name in self.by_name:
            raise ValueError(f"record name {rt.name} registered twice")
        self.by_name[rt.name] = rt
        self.by_class[cls] = rt

    def constant(self, name: str, value: Any) -> None:
        if type(value) in (list, dict):
            # The encoder's fast path takes every list and dict for a graph node.
            raise ValueError("lists and dicts cannot be registered constants")
        self.constants[name] = value
        self.constant_ids[id(value)] = name


def _scalar_ok(v: Any) -> bool:
    t = type(v)
    return v is None or t is bool or t is str or t is float or (t is int and -2**63 <= v < 2**64)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Encoding and decoding allocate one small container per node and free nothing until the
    end, which makes the cyclic GC run (and now and then traverse the whole heap) in the middle
    of them; what they build holds no garbage cycles, so the collector waits until they finish."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Encoder:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    def encode(self, root: Any) -> bytes:
        with _gc_paused():
            return self._encode(root)

    def _encode(self, root: Any) -> bytes:
        index: dict[int, int] = {}
        order: list[Any] = []
        queue: deque = deque()
        by_class = self.reg.by_class
        const_ids = self.reg.constant_ids
        # Scalars are by far the most common items: keep their path short (this loop is the
        # whole cost of taking a snapshot; msgpack itself is C).
        plain = _PLAIN

        def item(v: Any) -> Any:
            t = type(v)
            if t in plain:
                return v
            if t is int:
                return v if -9223372036854775808 <= v < 18446744073709551616 else ["I", str(v)]
            if t is float:
                return v if v == v else _CANON_NAN
            vid = id(v)
            cname = const_ids.get(vid)
            if cname is not None:
                return ["C", cname]
            if t is tuple:
                return ["T", [item(x) for x in v]]
            n = index.get(vid)
            if n is None:
                if t is not list and t is not dict and t not in by_class:
                    raise CodecError(f"cannot encode a value of Python type {t.__name__}")
                n = len(order)
                index[vid] = n
                order.append(v)
                queue.append(v)
            return ("@", n)

        root_item = item(root)
        nodes: list = []
        append = nodes.append
        popleft = queue.popleft
        lo, hi = -9223372036854775808, 18446744073709551616
        while queue:
            v = popleft()
            t = type(v)
            if t is list:
                out: list = []
                push = out.append
                for x in v:
                    tx = type(x)
                    if tx in plain or (tx is int and lo <= x < hi) or (tx is float and x == x):
                        push(x)
                    elif tx is dict or tx is list:
                        n = index.get(id(x))
                        if n is None:
                            n = len(order)
                            index[id(x)] = n
                            order.append(x)
                            queue.append(x)
                        push(("@", n))
                    else:
                        push(item(x))
                append(("L", out))
            elif t is dict:
                # Inline checks for the common scalars: a function call per field would be most
                # of the cost of snapshotting an array of records.
                flat: list = []
                push = flat.append
                for k, x in v.items():
                    push(k if type(k) is str else item(k))
                    tx = type(x)
                    if tx in plain or (tx is int and lo <= x < hi) or (tx is float and x == x):
                        push(x)
                    else:
                        push(item(x))
                append(("D", flat))
            else:
                rt = by_class[t]
                append(["R", rt.name, [item(getattr(v, f)) for f in rt.fields]])
        return msgpack.packb([MAGIC, VERSION, root_item, nodes], use_bin_type=True)


_PLAIN = frozenset({str, bool, type(None)})
# ASCII digits only: str.isdigit() also accepts "²" and "--5", which int() then rejects.
_BIG_INT = re.compile(r"-?[0-9]+")
_PLAIN_DECODED = frozenset({str, bool, type(None), float})


class Decoder:
    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    def decode(self, data: bytes) -> Any:
        with _gc_paused():
            return self._decode(data)

    def _decode(self, data: bytes) -> Any:
        if not isinstance(data, (bytes, bytearray)):
            raise CodecError("snapshot data must be bytes")
        if len(data) > MAX_BYTES:
            raise CodecError("snapshot is larger than the decoder accepts")
        try:
            doc = msgpack.unpackb(bytes(data), raw=False, strict_map_key=True, use_list=True)
        except Exception as e:  # msgpack raises several types for malformed input
            raise CodecError(f"not a valid msgpack document ({type(e).__name__})") from None
        if not isinstance(doc, list) or len(doc) != 4 or doc[0] != MAGIC:
            raise CodecError("not a Shape snapshot (bad magic)")
        # `type` check: True == 1 and 1.0 == 1 would otherwise pass as version 1.
        if type(doc[1]) is not int or doc[1] != VERSION:
            raise CodecError(f"unsupported snapshot format version {doc[1]!r} (this build reads {VERSION})")
        root_item, nodes = doc[2], doc[3]
        if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
            raise CodecError("bad node table")
        # First build every node empty, so references (including cycles) can point anywhere.
        shells: list = []
        for i, node in enumerate(nodes):
            if not isinstance(node, list) or not node:
                raise CodecError(f"node {i}: malformed")
            tag = node[0]
            if tag == "L" and len(node) == 2 and isinstance(node[1], list):
                shells.append([])
            elif tag == "D" and len(node) == 2 and isinstance(node[1], list) and len(node[1]) % 2 == 0:
                shells.append({})
            elif tag == "R" and len(node) == 3 and isinstance(node[2], list):
                rt = self.reg.by_name.get(node[1]) if isinstance(node[1], str) else None
                if rt is None:
                    raise CodecError(f"node {i}: unknown record type {node[1]!r}")
                if len(node[2]) != len(rt.fields):
                    raise CodecError(f"node {i}: {rt.name} needs {len(rt.fields)} fields, "
                                     f"got {len(node[2])}")
                shells.append(object.__new__(rt.cls))
            else:
                raise CodecError(f"node {i}: unknown node tag {tag!r}")
        count = len(shells)
        plain = _PLAIN_DECODED

        def item(v: Any, where: str) -> Any:
            t = type(v)
            if t in plain or (t is int and -2**63 <= v < 2**64):
                return v
            if isinstance(v, list) and len(v) == 2:
                tag, arg = v
                if tag == "@":
                    if type(arg) is not int or not 0 <= arg < count:
                        raise CodecError(f"{where}: reference {arg!r} out of range")
                    return shells[arg]
                if tag == "T" and isinstance(arg, list):
                    return tuple(item(x, where) for x in arg)
                if tag == "C" and isinstance(arg, str):
                    if arg not in self.reg.constants:
                        raise CodecError(f"{where}: unknown constant {arg!r}")
                    return self.reg.constants[arg]
                if tag == "I" and isinstance(arg, str) and len(arg) < 400 and _BIG_INT.fullmatch(arg):
                    return int(arg)
            raise CodecError(f"{where}: malformed item")

        for i, node in enumerate(nodes):
            shell = shells[i]
            where = "node"
            if node[0] == "L":
                shell.extend([x if type(x) in plain else item(x, where) for x in node[1]])
            elif node[0] == "D":
                flat = node[1]
                for j in range(0, len(flat), 2):
                    k = flat[j]
                    if type(k) is not str:
                        k = item(k, where)
                    x = flat[j + 1]
                    try:
                        shell[k] = x if type(x) in plain else item(x, where)
                    except TypeError:
                        raise CodecError(f"node {i}: unhashable dict key") from None
            else:
                rt = self.reg.by_name[node[1]]
                for f, x in zip(rt.fields, node[2]):
                    object.__setattr__(shell, f, item(x, where))
        if not nodes and isinstance(root_item, list) and root_item[:1] == ["@"]:
            raise CodecError("reference into an empty node table")
        return item(root_item, "root")


def content_id(data: bytes) -> str:
    """The content address of encoded bytes: lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()
