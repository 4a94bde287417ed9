"""The snapshot codec: canonical bytes, sharing and cycles kept, strict rejection of bad input."""
from __future__ import annotations

import math

import msgpack
import pytest

from shapelang.vm.codec import CodecError, Decoder, Encoder, Registry, content_id


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x, self.y = x, y


class Marker:
    pass


MARK = Marker()


@pytest.fixture
def reg() -> Registry:
    r = Registry()
    r.record(Point, ["x", "y"])
    r.constant("MARK", MARK)
    return r


def roundtrip(reg, value):
    data = Encoder(reg).encode(value)
    back = Decoder(reg).decode(data)
    assert Encoder(reg).encode(back) == data  # decode(encode(s)) re-encodes to identical bytes
    return back


def test_scalars_and_containers(reg):
    v = [None, True, False, 0, -1, 2**63 - 1, -2**63, 1.5, -0.0, "héllo ✓", (1, "a"), {"k": [1, 2]},
         {1: "int key", None: "none key", 2.5: "float"}, MARK, 10**30]
    back = roundtrip(reg, v)
    assert back[:10] == v[:10] and back[10] == (1, "a") and back[11] == {"k": [1, 2]}
    assert back[12] == v[12] and back[13] is MARK and back[14] == 10**30


def test_nan_is_canonical(reg):
    a = Encoder(reg).encode([float("nan")])
    b = Encoder(reg).encode([-float("nan")])
    assert a == b and math.isnan(Decoder(reg).decode(a)[0])


def test_sharing_and_cycles_preserved(reg):
    shared = [1, 2]
    p = Point(shared, None)
    root = {"a": shared, "b": shared, "p": p}
    p.y = root                      # a cycle through a record
    cyc = []
    cyc.append(cyc)
    root["cyc"] = cyc
    back = roundtrip(reg, root)
    assert back["a"] is back["b"] and back["p"].x is back["a"]
    assert back["p"].y is back and back["cyc"][0] is back["cyc"]
    back["a"].append(3)
    assert back["b"] == [1, 2, 3]


def test_equal_states_give_equal_ids(reg):
    def make():
        s = [1, 2]
        return {"x": s, "y": [s, Point(1, "z")]}
    assert content_id(Encoder(reg).encode(make())) == content_id(Encoder(reg).encode(make()))
    other = make()
    other["y"][1].x = 2
    assert content_id(Encoder(reg).encode(other)) != content_id(Encoder(reg).encode(make()))


def test_sharing_changes_the_id(reg):
    s = [1]
    shared = Encoder(reg).encode([s, s])
    unshared = Encoder(reg).encode([[1], [1]])
    assert shared != unshared


def test_deep_nesting_is_not_recursive(reg):
    v: list = []
    cur = v
    for _ in range(200_000):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    back = roundtrip(reg, v)
    depth = 0
    while back:
        back = back[0]
        depth += 1
    assert depth == 200_000


def test_unregistered_types_are_refused(reg):
    with pytest.raises(CodecError):
        Encoder(reg).encode([object()])
    with pytest.raises(CodecError):
        Encoder(reg).encode(lambda: 1)


@pytest.mark.parametrize("doc", [
    ["NOPE", 1, None, []],
    ["SHAPE-SNAP", 99, None, []],
    ["SHAPE-SNAP", 1, ["@", 0], []],
    ["SHAPE-SNAP", 1, ["@", 5], [["L", []]]],
    ["SHAPE-SNAP", 1, None, [["X", []]]],
    ["SHAPE-SNAP", 1, None, [["R", "os.system", []]]],
    ["SHAPE-SNAP", 1, None, [["R", "Point", [1]]]],
    ["SHAPE-SNAP", 1, None, [["D", [1]]]],
    ["SHAPE-SNAP", 1, ["C", "__import__"], []],
    ["SHAPE-SNAP", 1, ["Z", 1], []],
    ["SHAPE-SNAP", 1, None, [["D", [["@", 0], 1]]]],
    "just a string",
])
def test_malformed_documents_are_rejected(reg, doc):
    with pytest.raises(CodecError):
        Decoder(reg).decode(msgpack.packb(doc))


def test_truncated_and_garbage_bytes_are_rejected(reg):
    data = Encoder(reg).encode({"a": [1, 2, 3], "p": Point(1, 2)})
    for cut in range(0, len(data) - 1, 3):
        with pytest.raises(CodecError):
            Decoder(reg).decode(data[:cut])
    with pytest.raises(CodecError):
        Decoder(reg).decode(b"\xc1\xc1\xc1")
