"""`shape dis`: blob ids, offsets, line numbers, opcode names, operands, snapshot ordinals."""
from __future__ import annotations

from shapelang.vm.compiler import compile_source
from shapelang import cli
from shapelang.vm.disasm import disassemble

SRC = """fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
let mut total = 0
for i in 0..3 { total += fib(i) }
let s = snapshot()
print(total, s)
"""


def test_disassembly_lists_every_blob_with_ids_lines_and_ordinals():
    p = compile_source(SRC, "t.shape")
    text = disassemble(p)
    entry = p.blobs[p.entry]
    fib = entry.children[0]
    assert f"Blob {p.entry[:12]}" in text and f"Blob {fib[:12]}  fib  (function)" in text
    assert "SNAPSHOT           #0" in text
    assert "snapshot() call sites: #0" in text
    assert "FOR_NEXT" in text and "exit to" in text
    assert "CALL_BUILTIN       'print', 2 arg(s)" in text
    # line:col appears where it changes, and jump targets are marked
    assert "      3:1" in text and ">>" in text
    # one line per instruction of every user blob
    for bid in (p.entry, fib):
        for pc in range(len(p.blobs[bid].code)):
            assert f"{pc:5d}  " in text


def test_prelude_is_optional():
    p = compile_source("print(1)\n")
    assert "__array_map" not in disassemble(p)
    assert "__array_map" in disassemble(p, prelude=True)


def test_shape_dis_prints_to_stdout(tmp_path, capsys):
    f = tmp_path / "p.shape"
    f.write_text(SRC)
    assert cli.main(["dis", str(f), "--full-ids"]) == 0
    out = capsys.readouterr().out
    p = compile_source(SRC, str(f))
    assert p.entry in out


def test_shape_dis_shows_the_source_lines(tmp_path, capsys):
    f = tmp_path / "p.shape"
    f.write_text("fn f(x) {\n  x * 2\n}\nprint(f(21))\n")
    assert cli.main(["dis", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "        4 | print(f(21))" in out and "        2 | x * 2" in out
    i = out.index("        2 | x * 2")
    assert "LOAD_LOCAL" in out[i + 1]          # the line's instructions follow it
    assert cli.main(["dis", str(f), "--no-source"]) == 0
    assert " | " not in capsys.readouterr().out
