"""Threaded code is compiled once per generated text (vm/threader.py `_compile`): blobs that
differ only in their tables share the code, re-labelled with their own filename, so an error in
either is still reported at its own instruction."""
from shapelang import api
from shapelang.vm import threader as T
from shapelang.vm.compiler import compile_program
from shapelang.ref.parser import parse

# f and g thread to the same text (their names and line tables are data); a list keeps the
# compiler from inlining them.
SOURCE = """fn f(x) {
  let mut s = 0
  for i in 0..2 { s = s + x }
  s
}
fn g(x) {
  let mut s = 0
  for i in 0..2 { s = s + x }
  s
}
let h = [f, g]
print(h[0](1))
print(h[1](true))
"""


def _blob(program, name):
    return next(b for b in program.blobs.values() if b.name == name)


def test_two_blobs_with_one_text_share_code_under_their_own_names():
    program = compile_program(parse(SOURCE, "t.shape"), "t.shape")
    f, g = _blob(program, "f"), _blob(program, "g")
    assert f.id != g.id
    cf = T.compile_blob(f, program.blobs)
    cg = T.compile_blob(g, program.blobs)
    assert cf.source == cg.source
    assert cf.code.co_filename == T.filename_for(f.id)
    assert cg.code.co_filename == T.filename_for(g.id)
    # every nested code object (the factories and their units) carries the blob's own name
    stack = [cg.code]
    while stack:
        code = stack.pop()
        assert code.co_filename == T.filename_for(g.id)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_filename"))


def test_an_error_in_the_second_blob_is_reported_there():
    ref = api.run(SOURCE, path="t.shape", engine="ref").to_json()
    vm = api.run(SOURCE, path="t.shape", engine="vm").to_json()
    assert ref["error"]["line"] == 8 and [s["name"] for s in ref["error"]["stack"]] == ["<main>", "g"]
    assert vm == ref
