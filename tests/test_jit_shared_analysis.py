"""What the JIT reads of a blob is computed once per blob id and shared by every region, variant
and specialisation generated from it (vm/threader.py `units_of`, vm/jit/flow.py `flow_of`, the
region layouts in Flow.regions), and generated region code is compiled once per text: none of
this may change the code generated, or where an error is reported."""
from shapelang import api
from shapelang.ref.parser import parse
from shapelang.vm import jit as J
from shapelang.vm import threader as T
from shapelang.vm.compiler import compile_program
from shapelang.vm.jit import codegen as CG
from shapelang.vm.jit import flow as FL

# g has a loop (an osr region) and an inner branch; f and g differ only in their names and
# line tables, so their regions generate the same text. A list keeps them from being inlined.
SOURCE = """fn f(x) {
  let mut s = 0
  for i in 0..3 {
    if i % 2 == 0 { s = s + 10 / x } else { s = s - 1 }
  }
  s
}
fn g(x) {
  let mut s = 0
  for i in 0..3 {
    if i % 2 == 0 { s = s + 10 / x } else { s = s - 1 }
  }
  s
}
let h = [f, g]
print(h[0](1))
print(h[1](2))
print(h[1](0))
"""


def _program():
    return compile_program(parse(SOURCE, "t.shape"), "t.shape")


def _blob(program, name):
    return next(b for b in program.blobs.values() if b.name == name)


def _regions(blob):
    heads = [pc for pc, (op, a, b) in enumerate(blob.code) if op == T.O.FOR_NEXT]
    assert heads, "the test program's function has a loop"
    out = []
    for counting in (False, True):
        for spec in ((), ((0, "int"),)):
            out.append((CG.Region("entry", blob.entries[-1], spec), counting))
        out.append((CG.Region("osr", heads[0], ((0, "int"), (1, "int"))), counting))
    return out


def _forget_everything():
    CG._CACHE.clear()
    FL._FLOWS.clear()
    T._UNITS.clear()
    T._CACHE.clear()
    T._BY_TEXT.clear()


def _generate_all(program, blob, order):
    regions = _regions(blob)
    out = {}
    for i in order:
        region, counting = regions[i]
        CG._CACHE.clear()           # the generated code, not the analyses
        out[i] = CG.compile_region(blob, program.blobs, region, counting).source
    return out


def test_every_region_of_a_blob_reads_one_analysis():
    _forget_everything()
    program = _program()
    g = _blob(program, "g")
    fl = FL.flow_of(g, program.blobs)
    assert FL.flow_of(g, program.blobs) is fl
    assert T.units_of(g) is fl.units is T.units_of(g)
    gens = [CG.JitGen(g, program.blobs, counting) for counting in (False, True)]
    assert all(gen.flow is fl and gen.lead_set is fl.units.lead_set for gen in gens)
    _generate_all(program, g, range(len(_regions(g))))
    laid = set(fl.regions)
    assert {(r.kind, r.entry) for r, _ in _regions(g)} == laid
    assert len(laid) == 2          # one layout per region, whatever its variant or spec


def test_shared_analyses_generate_the_code_a_fresh_analysis_does():
    program = _program()
    g = _blob(program, "g")
    n = len(_regions(g))
    fresh = {}
    for i in range(n):
        _forget_everything()
        fresh.update(_generate_all(program, g, [i]))
    _forget_everything()
    assert _generate_all(program, g, range(n)) == fresh
    assert _generate_all(program, g, reversed(range(n))) == fresh
    # and the threaded code of the blob, from the analysis the JIT shared
    shared = T.compile_blob(g, program.blobs).source
    _forget_everything()
    assert T.compile_blob(g, program.blobs).source == shared


def test_regions_with_one_text_share_code_under_their_own_names():
    _forget_everything()
    program = _program()
    f, g = _blob(program, "f"), _blob(program, "g")
    for region, counting in _regions(f):
        a = CG.compile_region(f, program.blobs, region, counting)
        b = CG.compile_region(g, program.blobs, region, counting)
        assert a.source == b.source and a.code.co_code == b.code.co_code
        assert f.id in a.code.co_filename and g.id in b.code.co_filename
        stack = [b.code]
        while stack:
            code = stack.pop()
            assert code.co_filename == b.code.co_filename
            stack.extend(c for c in code.co_consts if hasattr(c, "co_filename"))


def test_an_error_in_shared_compiled_code_is_reported_in_its_own_function():
    _forget_everything()
    with J.jit_mode("off"):
        vm = api.run(SOURCE, path="t.shape", engine="vm").to_json()
    with J.jit_mode("force"):
        jit = api.run(SOURCE, path="t.shape", engine="vm").to_json()
    assert vm["stdout"] == "19\n9\n"
    assert vm["error"]["line"] == 11 and [s["name"] for s in vm["error"]["stack"]] == ["<main>", "g"]
    assert jit == vm


class _RepeatOnAnyChange(CG.JitGen):
    """The rule before: the generation is repeated whenever any block's assumption narrows,
    also one not emitted yet."""
    builds = 0

    def arrive(self, t, stack):
        before = self.assume.get(t)
        super().arrive(t, stack)
        if before is not None and self.assume[t] is not before:
            self.changed = True

    def build(self, region):
        type(self).builds += 1
        return super().build(region)


class _Counted(CG.JitGen):
    builds = 0

    def build(self, region):
        type(self).builds += 1
        return super().build(region)


# A forward merge whose arms disagree on a register's kind (x: int or string), inside and
# outside a loop; a loop that changes a kind (t) on its back edge; recursion.
MERGES = """fn f(n) {
  let mut x = 0
  if n > 2 { x = "big" } else { x = n }
  let mut t = 0
  for i in 0..n {
    let mut y = i
    if i % 2 == 0 { y = "even" }
    t = t + 1
    if i == 3 { t = 1.5 }
  }
  [x, t]
}
fn g(n) { if n < 1 { 0 } else { g(n - 1) + 1 } }
print(f(5), f(1), g(4))
"""


def test_a_block_not_emitted_yet_narrows_without_repeating_the_generation():
    program = compile_program(parse(MERGES, "t.shape"), "t.shape")
    for name in ("f", "g"):
        blob = _blob(program, name)
        heads = [pc for pc, (op, a, b) in enumerate(blob.code) if op == T.O.FOR_NEXT]
        regions = [CG.Region("entry", blob.entries[-1], ((0, "int"),)),
                   CG.Region("entry", blob.entries[-1], ())]
        regions += [CG.Region("osr", h, ((0, "int"),)) for h in heads]
        for region in regions:
            for counting in (False, True):
                _Counted.builds = _RepeatOnAnyChange.builds = 0
                new = _Counted(blob, program.blobs, counting).function(region, "fn")
                old = _RepeatOnAnyChange(blob, program.blobs, counting).function(region, "fn")
                assert new == old
                assert _Counted.builds <= _RepeatOnAnyChange.builds
                if name == "f" and region.kind == "entry" and region.spec:
                    # the merges before the loop no longer cost a generation
                    assert _Counted.builds < _RepeatOnAnyChange.builds
    with J.jit_mode("off"):
        vm = api.run(MERGES, path="t.shape", engine="vm").to_json()
    with J.jit_mode("force"):
        assert api.run(MERGES, path="t.shape", engine="vm").to_json() == vm
