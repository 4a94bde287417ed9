"""VM compiler: content-addressed blobs, snapshot ordinals, constant folding, cells, validation."""
from __future__ import annotations

import pytest

from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob, BlobError, reachable
from shapelang.vm.compiler import compile_source


def module(src: str) -> Blob:
    p = compile_source(src, "t.shape")
    return p.blobs[p.entry]


def ops(blob: Blob) -> list[str]:
    return [O.NAMES[op] for op, _, _ in blob.code]


def test_blob_ids_are_stable_across_compiles():
    src = "fn f(x) { x * 2 }\nlet y = f(3)\nprint(y)\n"
    a, b = compile_source(src, "a.shape"), compile_source(src, "b.shape")
    assert a.entry == b.entry
    assert set(reachable(a.blobs, a.entry)) == set(reachable(b.blobs, b.entry))
    assert all(len(bid) == 64 and bid == a.blobs[bid].id for bid in a.blobs)


def test_equal_code_has_equal_ids_and_different_code_differs():
    p1 = compile_source("fn f(x) { x + 1 }\nprint(f(1))\n")
    p2 = compile_source("fn f(x) { x + 1 }\nprint(f(2))\n")
    p3 = compile_source("fn f(x) { x + 2 }\nprint(f(1))\n")
    f1 = p1.blobs[p1.entry].children[0]
    f2 = p2.blobs[p2.entry].children[0]
    f3 = p3.blobs[p3.entry].children[0]
    assert f1 == f2                     # the function is the same code
    assert p1.entry != p2.entry         # the modules differ
    assert f1 != f3


def test_id_is_sha256_of_canonical_bytes_and_roundtrips():
    import hashlib
    p = compile_source("let a = [1, 2.5, \"s\", true, None]\nfor x in a { print(x) }\n")
    for bid, blob in p.blobs.items():
        data = blob.to_bytes()
        assert hashlib.sha256(data).hexdigest() == bid
        back = Blob.from_bytes(data, bid)
        assert back.to_bytes() == data and back.id == bid


def test_decoder_rejects_tampered_and_invalid_blobs():
    p = compile_source("let x = 1\nprint(x + 2)\n")
    blob = p.blobs[p.entry]
    data = blob.to_bytes()
    with pytest.raises(BlobError):
        Blob.from_bytes(data, "0" * 64)               # hash mismatch
    with pytest.raises(BlobError):
        Blob.from_bytes(data[:-3])                    # truncated
    import dataclasses
    bad = dataclasses.replace(blob, code=[[O.LOAD_LOCAL, 999, 0], [O.HALT, 0, 0]], lines=[],
                              _id=None)
    with pytest.raises(BlobError):
        Blob.from_bytes(bad.to_bytes())               # slot out of range
    bad2 = dataclasses.replace(blob, code=[[O.JUMP, 50, 0]], lines=[], _id=None)
    with pytest.raises(BlobError):
        Blob.from_bytes(bad2.to_bytes())              # jump out of range


def test_snapshot_ordinals_in_source_order_over_the_whole_program():
    src = """
fn a() { snapshot() }
let x = snapshot()
fn b() {
  let y = snapshot()
  y
}
for i in 0..2 { snapshot() }
"""
    p = compile_source(src)
    sites = p.snapshot_sites()
    assert [o for o, _, _ in sites] == [0, 1, 2, 3]
    fa = p.blobs[p.entry].children[0]
    assert sites[0][1] == fa                  # ordinal 0 is inside fn a
    assert sites[1][1] == p.entry             # ordinal 1 is the top-level let
    for o, bid, pc in sites:
        op, a, _ = p.blobs[bid].code[pc]
        assert op == O.SNAPSHOT and a == o


def test_constant_folding():
    b = module("let x = 2 * 3 + 1\nlet s = \"a\" + \"b\" + 1\nlet n = -(4 - 6)\nprint(x, s, n)\n")
    assert "BINARY" not in ops(b) and "UNARY_NEG" not in ops(b)
    assert 7 in b.consts and "ab1" in b.consts and 2 in b.consts
    # Folding never hides a runtime error.
    b2 = module("let z = 1 / 0\n")
    assert "BINARY" in ops(b2)
    # Conditions on constants compile to straight-line code.
    b3 = module("if 1 < 2 { print(\"yes\") } else { print(\"no\") }\n")
    assert "JUMP_IF_FALSE" not in ops(b3)


def test_cells_only_for_captured_and_reference_variables():
    b = module("let a = 1\nlet b = 2\nlet mut c = 3\nlet f = || a\n"
               "fn inc(&x) { x += 1 }\ninc(&c)\nprint(b)\n")
    names = {b.local_names[s] for s in b.cells}
    assert "a" in names and "c" in names and "inc" not in names
    assert "b" not in names and "f" not in names


def test_tail_calls_return_directly_and_loops_keep_state_in_registers():
    b = module("fn f(n) { if n < 2 { n } else { f(n - 1) } }\nfor i in 0..3 { print(i) }\n")
    f = compile_source("fn f(n) { if n < 2 { n } else { f(n - 1) } }\n")
    fb = f.blobs[f.blobs[f.entry].children[0]]
    assert ops(fb).count("RETURN") == 2
    assert "FOR_SETUP" in ops(b) and "FOR_NEXT" in ops(b)


def test_compile_errors_are_shape_errors():
    from shapelang.runtime.errors import ShapeError
    with pytest.raises(ShapeError) as e:
        compile_source("print(nope)\n")
    assert e.value.kind == "NameError"
    with pytest.raises(ShapeError) as e:
        compile_source("let x = 1\nx = 2\n")
    assert e.value.kind == "AssignmentError"
