"""Forged snapshots: what someone with write access to a store could put there.

A stored snapshot is a state document (the codec's msgpack layout, vm/codec.py) and the function
blobs it runs (vm/blob.py), each stored under the SHA-256 of its bytes. `forge()` takes a real
snapshot and changes it the way an attacker or a broken disk would, then re-hashes everything,
so the store's hash checks pass and the change reaches the decoder, the loader and the machine:

- bytes: flips, deletions, insertions and truncation anywhere in the state;
- values: a slot of the state document (a register, a record field, a frame entry, a table
  value) replaced by a value of another type or an out-of-range number, a reference to another
  node, a list made shorter or longer;
- frames: frames dropped, duplicated or swapped, a position moved, a frame pointed at other code,
  registers removed or added, task marks and the pending call changed;
- code: a blob's fields (instructions and their operands, slot counts, entry points, constants,
  children, cells, line table) changed or its bytes flipped, re-encoded and re-hashed, with every
  parent and the state pointing at the new id.

Every decision comes from one `random.Random`, so a forgery is reproducible from its seed.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Optional

import msgpack

# Values that have the wrong type or range almost anywhere in a state or a blob.
WRONG_VALUES: list[Any] = [None, True, False, 0, -1, 1, 7, 255, 65536, 2**31, 2**63 - 1, -2**63,
                           1.5, float("nan"), "", "x", "snapshot", "0" * 64, [], [None],
                           ["@", 0], ["@", 10**6], ["C", "unit"], ["C", "nosuch"], ["T", []],
                           ["I", "123456789012345678901234567890"], {}, ["L", []]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Forgery:
    what: str                         # a one-line account of the change
    state: bytes                      # the forged state document
    blobs: dict[str, bytes]           # every blob the forged snapshot runs, by (new) id
    entry_changed: bool = False


def _pack(doc: Any) -> bytes:
    return msgpack.packb(doc, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


# ---------------------------------------------------------------- the state document

class StateDoc:
    """The raw (msgpack) layout of a state: [magic, version, root, nodes], references
    ["@", n] left unresolved so any of them can be rewired."""

    def __init__(self, data: bytes) -> None:
        self.doc = _unpack(data)
        self.nodes: list = self.doc[3]

    def node(self, item: Any) -> Optional[list]:
        if isinstance(item, list) and len(item) == 2 and item[0] == "@" \
                and type(item[1]) is int and 0 <= item[1] < len(self.nodes):
            return self.nodes[item[1]]
        return None

    def dict_get(self, node: list, key: str) -> tuple[Optional[list], int]:
        """(the flat [k, v, …] list of a "D" node, index of key's value), or (None, -1)."""
        if node is None or node[0] != "D":
            return None, -1
        flat = node[1]
        for i in range(0, len(flat) - 1, 2):
            if flat[i] == key:
                return flat, i + 1
        return None, -1

    def machine(self) -> Optional[list]:
        top = self.node(self.doc[2])
        flat, i = self.dict_get(top, "machine")
        return self.node(flat[i]) if flat is not None else None

    def frames(self) -> Optional[list]:
        """The list node of the call stack: ["L", [["@", frame]…]]."""
        m = self.machine()
        flat, i = self.dict_get(m, "frames")
        return self.node(flat[i]) if flat is not None else None

    def slots(self) -> list[tuple[list, int]]:
        """Every place that holds an item: (container list, index)."""
        out: list[tuple[list, int]] = [(self.doc, 2)]
        for node in self.nodes:
            if node[0] == "L":
                out += [(node[1], i) for i in range(len(node[1]))]
            elif node[0] == "D":
                out += [(node[1], i) for i in range(1, len(node[1]), 2)]
            elif node[0] == "R":
                out += [(node[2], i) for i in range(len(node[2]))]
        return out

    def replace_strings(self, old: str, new: str) -> None:
        def walk(x: Any) -> None:
            if isinstance(x, list):
                for i, v in enumerate(x):
                    if v == old:
                        x[i] = new
                    else:
                        walk(v)
        walk(self.doc)

    def bytes(self) -> bytes:
        return _pack(self.doc)


# ---------------------------------------------------------------- forging

class Forger:
    def __init__(self, state: bytes, blobs: dict[str, bytes], entry: str, prelude: str,
                 rnd: random.Random) -> None:
        self.state = state
        self.blobs = blobs
        self.entry = entry
        self.prelude = prelude
        self.r = rnd

    def forge(self) -> Forgery:
        kind = self.r.choices(["bytes", "value", "frame", "blob"], [2, 4, 4, 3])[0]
        return getattr(self, "forge_" + kind)()

    def wrong_value(self, nodes: int) -> Any:
        r = self.r
        if r.random() < 0.3:
            return ["@", r.randrange(max(nodes, 1) + 2)]     # another node, or one past the end
        v = r.choice(WRONG_VALUES)
        return list(v) if isinstance(v, list) else (dict(v) if isinstance(v, dict) else v)

    # ------------------------------------------------------------ bytes

    def forge_bytes(self) -> Forgery:
        r = self.r
        data = bytearray(self.state)
        op = r.choice(["flip", "delete", "insert", "truncate"])
        at = r.randrange(len(data))
        if op == "flip":
            for _ in range(r.randint(1, 3)):
                i = r.randrange(len(data))
                data[i] ^= 1 << r.randrange(8)
        elif op == "delete":
            del data[at:at + r.randint(1, 8)]
        elif op == "insert":
            data[at:at] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        else:
            del data[at:]
        return Forgery(f"state bytes: {op} at byte {at}", bytes(data), dict(self.blobs))

    # ------------------------------------------------------------ values

    def forge_value(self) -> Forgery:
        r = self.r
        sd = StateDoc(self.state)
        slots = sd.slots()
        container, i = r.choice(slots)
        op = r.choice(["replace", "replace", "replace", "shorten", "lengthen"])
        if op == "replace":
            old = container[i]
            container[i] = self.wrong_value(len(sd.nodes))
            what = f"value {_short(old)} -> {_short(container[i])}"
        elif op == "shorten" and container:
            del container[r.randrange(len(container))]
            what = "an item removed"
        else:
            container.insert(r.randrange(len(container) + 1), self.wrong_value(len(sd.nodes)))
            what = "an item inserted"
        return Forgery(f"state {what}", sd.bytes(), dict(self.blobs))

    # ------------------------------------------------------------ frames

    def forge_frame(self) -> Forgery:
        r = self.r
        sd = StateDoc(self.state)
        frames = sd.frames()
        if frames is None or frames[0] != "L" or not frames[1]:
            return self.forge_value()
        items = frames[1]
        op = r.choice(["drop", "dup", "swap", "pc", "code", "regs", "reg", "task", "pending",
                       "methods"])
        what = op
        fr = sd.node(r.choice(items))
        if op == "drop":
            del items[r.randrange(len(items))]
        elif op == "dup":
            i = r.randrange(len(items))
            items.insert(i, items[i])
        elif op == "swap" and len(items) > 1:
            i, j = r.sample(range(len(items)), 2)
            items[i], items[j] = items[j], items[i]
        elif op in ("pc", "code", "task") and fr is not None and fr[0] == "L" and len(fr[1]) == 4:
            if op == "pc":
                fr[1][1] = r.choice([0, 1, fr[1][1] + 1, fr[1][1] - 1, r.randrange(200), 10**6, -1])
                what = f"pc -> {fr[1][1]}"
            elif op == "code":
                fr[1][0] = r.choice(sorted(self.blobs))
            else:
                fr[1][3] = r.choice([None, "async", "drop", "x", 0])
        elif op in ("regs", "reg") and fr is not None and fr[0] == "L" and len(fr[1]) == 4:
            regs = sd.node(fr[1][2])
            if regs is not None and regs[0] == "L":
                R = regs[1]
                if op == "regs":
                    if R and r.random() < 0.5:
                        del R[r.randrange(len(R)):]
                    else:
                        R.extend(self.wrong_value(len(sd.nodes)) for _ in range(r.randint(1, 3)))
                elif R:
                    i = r.randrange(len(R))
                    what = f"register {i}: {_short(R[i])} -> "
                    R[i] = self.wrong_value(len(sd.nodes))
                    what += _short(R[i])
        elif op in ("pending", "methods"):
            m = sd.machine()
            flat, i = sd.dict_get(m, "pending" if op == "pending" else "methods")
            if flat is not None:
                flat[i] = (r.choice(["snapshot", None, "other", 1]) if op == "pending"
                           else self.wrong_value(len(sd.nodes)))
        return Forgery(f"frames: {what}", sd.bytes(), dict(self.blobs))

    # ------------------------------------------------------------ code

    def forge_blob(self) -> Forgery:
        r = self.r
        own = [b for b in self.blobs if b != self.prelude]
        bid = r.choice(own if own and r.random() < 0.8 else sorted(self.blobs))
        data = self.blobs[bid]
        if r.random() < 0.2:
            buf = bytearray(data)
            i = r.randrange(len(buf))
            buf[i] ^= 1 << r.randrange(8)
            new = bytes(buf)
            what = f"blob bytes flipped at {i}"
        else:
            new, what = data, "unchanged"
            for _ in range(8):          # a change that leaves the bytes as they were is no test
                doc = _unpack(data)
                what = self.mutate_blob(doc)
                new = _pack(doc)
                if new != data:
                    break
        state, blobs, renames = replace_blob(self.state, self.blobs, bid, new)
        return Forgery(f"code of blob {bid[:8]}: {what}", state, blobs,
                       entry_changed=self.entry in renames)

    def mutate_blob(self, doc: list) -> str:
        """Change one field of a blob's encoding (see Blob.encoding for the layout)."""
        r = self.r
        if not (isinstance(doc, list) and len(doc) in (20, 21)):   # 21: with Blob.inlined
            doc.append(0)
            return "field added"
        names = ["name", "kind", "params", "has_self", "min_args", "entries", "ref_params",
                 "is_async", "annotated", "nfree", "nlocals", "code", "consts", "lines",
                 "children", "snapshots", "local_names", "cells"]
        weights = [1, 1, 2, 1, 2, 2, 1, 1, 1, 2, 4, 12, 5, 2, 2, 2, 1, 3]
        field = r.choices(range(len(names)), weights)[0]
        i = field + 2
        nlocals = doc[12] if type(doc[12]) is int else 8
        number = lambda: r.choice([0, 1, -1, nlocals, nlocals + 1, nlocals - 1, 2**31,  # noqa: E731
                                   r.randrange(64), len(doc[13]) if isinstance(doc[13], list) else 3])
        if names[field] == "code" and isinstance(doc[i], list) and doc[i]:
            k = r.randrange(len(doc[i]))
            ins = doc[i][k]
            if isinstance(ins, list) and ins:
                j = r.randrange(len(ins))
                old = ins[j]
                ins[j] = r.randrange(120) if j == 0 and r.random() < 0.5 else number()
                return f"instruction {k} field {j}: {_short(old)} -> {_short(ins[j])}"
            doc[i][k] = number()
            return f"instruction {k} replaced"
        if isinstance(doc[i], list) and doc[i] and r.random() < 0.7:
            k = r.randrange(len(doc[i]))
            old = doc[i][k]
            doc[i][k] = number() if r.random() < 0.6 else r.choice(WRONG_VALUES)
            return f"{names[field]}[{k}]: {_short(old)} -> {_short(doc[i][k])}"
        old = doc[i]
        doc[i] = number() if r.random() < 0.6 else r.choice(WRONG_VALUES)
        return f"{names[field]}: {_short(old)} -> {_short(doc[i])}"


def replace_blob(state: bytes, blobs: dict[str, bytes], bid: str, new: bytes
                 ) -> tuple[bytes, dict[str, bytes], dict[str, str]]:
    """Put `new` in place of blob `bid` the way a forger with write access would: under the
    hash of its bytes, with every parent re-pointed and re-hashed, children first, up to the
    module, and the state pointing at the new ids. Returns (state, blobs, old id -> new id)."""
    out = dict(blobs)
    del out[bid]
    renames = {bid: sha(new)}
    out[renames[bid]] = new
    for pid in _children_first(blobs):      # each original blob is rewritten at most once
        if pid == bid:
            continue
        pdoc = _unpack(blobs[pid])
        if any(c in renames for c in pdoc[16]):
            pdoc[16] = [renames.get(c, c) for c in pdoc[16]]
            pnew = _pack(pdoc)
            del out[pid]
            renames[pid] = sha(pnew)
            out[renames[pid]] = pnew
    sd = StateDoc(state)
    for old, newer in renames.items():
        sd.replace_strings(old, newer)
    return sd.bytes(), out, renames


def _children_first(blobs: dict[str, bytes]) -> list[str]:
    """The blob ids ordered so that every blob comes after the blobs it names as children."""
    children = {bid: [c for c in _unpack(data)[16] if c in blobs] for bid, data in blobs.items()}
    order: list[str] = []
    seen: set[str] = set()
    for root in sorted(blobs):
        stack = [(root, iter(children[root]))]
        if root in seen:
            continue
        seen.add(root)
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                order.append(node)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(children[child])))
    return order


def forge(state: bytes, blobs: dict[str, bytes], entry: str, prelude: str, seed: int) -> Forgery:
    """One forgery of a stored snapshot (state bytes and its blobs), reproducible from seed."""
    return Forger(state, blobs, entry, prelude, random.Random(seed)).forge()


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
