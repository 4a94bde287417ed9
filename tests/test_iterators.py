"""Lazy iterators (spec/iterators.md, runtime/iterators.py): their state is plain data that
survives a stop at any instruction boundary and the codec, a forged iterator or walk is refused
or ends in a Shape error, and `for` over an iterator runs its callbacks in frames."""
from __future__ import annotations

import contextlib
import io

import pytest

from shapelang.cli import main
from shapelang.fuzz.forge import StateDoc
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.iteration import DONE, PULL, for_item, for_start
from shapelang.runtime.builtins import BUILTINS
from shapelang.runtime.iterators import IteratorValue, IterLoop, open_walk, source_next
from shapelang.runtime.values import RangeValue
from shapelang.vm import STOPPED, Machine, compile_source, run_source
from shapelang.vm import snapshot as S
from shapelang.vm.codec import Decoder, Encoder
from shapelang.vm.snapshot import registry
from shapelang.vm.state_check import check_state
from shapelang.vm.store import open_store

# Every adapter, every terminal, loops and comprehensions over iterators, an iterator kept in a
# variable and walked twice, a chain of chains.
PROGRAM = """
let xs = [1, 2, 3, 4, 5, 6]
let evens = xs.iter().filter(|x| x % 2 == 0)
let pairs = evens.enumerate().map(|p| p[0] * 100 + p[1])
print(pairs.collect(), evens.count(), evens == evens, evens == xs.iter())
print(xs.iter().skip(1).take(3).flatMap(|x| [x, -x]).collect())
print("ab".iter().chain((7..=8).iter().chain([9])).collect())
print(HashMap().set("k", 1).iter().map(|e| e[0] + e[1]).collect())
let mut total = 0
for x in (0..1000000000).iter().map(|x| x * 3).filter(|x| x % 2 == 1).take(4) {
  total += x
  for y in evens.take(2) { total += y }
}
print(total, [x + y for x in (1..3).iter() for y in evens.skip(2)])
print(xs.iter().reduce(|a, x| a + x, 0), xs.iter().any(|x| x > 5), xs.iter().all(|x| x > 5))
print(xs.iter().find(|x| x > 3), xs.iter().toArray().length)
xs.iter().take(2).forEach(|x| print("each", x))
total
"""

WANT = ("[2, 104, 206] 3 true false\n"
        "[2, -2, 3, -3, 4, -4]\n"
        "[a, b, 7, 8, 9]\n"
        "[k1]\n"
        "72 [7, 8]\n"
        "21 true false\n"
        "4 6\n"
        "each 1\n"
        "each 2\n")


def run(src: str):
    out: list[str] = []
    value = run_source(src, "t.shape", out)
    return "".join(out), value


def test_the_program_runs_on_both_engines():
    from shapelang import api
    assert run(PROGRAM) == (WANT, 72)
    r = api.run(PROGRAM, engine="ref")
    assert r.stdout == WANT and r.error is None


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8, 13, 40])
def test_stops_anywhere_survive_the_codec_and_the_state_check(steps):
    """Stop every `steps` units (inside callbacks, inside pulls, between a loop's pull and its
    body), encode, decode, check and continue on a new machine: same output, same value."""
    program = compile_source(PROGRAM, "t.shape")
    out: list[str] = []
    m = Machine(program, out=out)
    stops = 0
    while (r := m.run(max_steps=steps)) is STOPPED:
        stops += 1
        data = Encoder(registry()).encode(m.export_state())
        state = Decoder(registry()).decode(data)
        assert Encoder(registry()).encode(state) == data
        check_state(state, program.entry, program.blobs, registry(), lambda w: AssertionError(w))
        m = Machine.from_state(program, state, out=out)
    assert "".join(out) == WANT and r == 72
    assert stops > 20


def test_an_iterator_keeps_its_identity_through_a_snapshot(tmp_path):
    src = ("let it = [1, 2].iter().map(|x| x + 1)\nlet same = it\nlet other = [1, 2].iter()\n"
           "snapshot()\nprint(it == same, it == other, it.collect(), same.count())\n")
    path = tmp_path / "p.shape"
    path.write_text(src)
    store = str(tmp_path / "s.db")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["run", "--store", store, str(path)]) == 0
    st = open_store(store)
    [info] = st.list()
    sid = info.id
    st.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["--resume", sid, "--store", store]) == 0
    assert out.getvalue() == "true false [2, 3] 2\n"


# ---------------------------------------------------------------- forged states

LOOP = """
let mut seen = []
let it = [1, 2, 3].iter().map(|x| { if x == 2 { snapshot() }; x * 10 })
for x in it {
  seen.push(x)
}
print(seen, it.count())
"""


@pytest.fixture
def stored(tmp_path):
    """(store path, state bytes, blob bytes by id) of LOOP's snapshot: a loop over an iterator
    with the prelude's pull and the callback on the stack."""
    path = str(tmp_path / "store.db")
    program = compile_source(LOOP, "p.shape")
    session = S.SnapshotSession(path, "p.shape", LOOP)
    ids = []

    def on(m):
        ids.append(session.on_snapshot(m))
        return ids[-1]
    Machine(program, out=lambda s: None, on_snapshot=on).run()
    session.close()
    st = open_store(path)
    _, data = st.get_snapshot(ids[0])
    st.close()
    return path, data, program.blob_bytes()


def resume(path: str, state: bytes, blobs: dict) -> tuple[int, str, str]:
    st = open_store(path)
    sid = st.put_snapshot(state, blobs.keys(), "p.shape", "call", None, blobs=blobs)
    st.close()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--resume", sid, "--store", path])
    return code, out.getvalue(), err.getvalue()


def records(doc: StateDoc, name: str) -> list:
    return [n for n in doc.nodes if n[0] == "R" and n[1] == name]


def test_the_real_snapshot_resumes(stored):
    code, out, _ = resume(*stored)
    assert (code, out) == (0, "[10, 20, 30] 3\n")


def test_an_iterator_with_an_unknown_adapter_is_refused(stored):
    path, data, blobs = stored
    doc = StateDoc(data)
    [it] = records(doc, "IteratorValue")
    it[2][1][1][0][1][0] = "sum"          # stages: ["T", [["T", ["map", f]]]]
    code, _, err = resume(path, doc.bytes(), blobs)
    assert code == 1 and "an iterator is malformed" in err, err


def test_an_iterator_over_an_object_is_refused(stored):
    path, data, blobs = stored
    doc = StateDoc(data)
    [it] = records(doc, "IteratorValue")
    doc.nodes.append(["D", ["a", 1]])
    it[2][0] = ["@", len(doc.nodes) - 1]
    code, _, err = resume(path, doc.bytes(), blobs)
    assert code == 1 and "an iterator is malformed" in err, err


def test_a_loop_whose_walk_is_not_an_array_is_refused(stored):
    path, data, blobs = stored
    doc = StateDoc(data)
    [loop] = records(doc, "IterLoop")
    loop[2][0] = 5
    code, _, err = resume(path, doc.bytes(), blobs)
    assert code == 1 and "a loop over an iterator is malformed" in err, err


def test_a_walk_with_a_forged_source_is_a_shape_error(stored):
    path, data, blobs = stored
    doc = StateDoc(data)
    [loop] = records(doc, "IterLoop")
    walk = doc.node(loop[2][0])
    walk[1][3] = "not a position"
    code, _, err = resume(path, doc.bytes(), blobs)
    assert code == 1 and "an iterator's walk is corrupt" in err and "internal" not in err, err


def test_walk_helpers_refuse_what_the_prelude_never_makes():
    with pytest.raises(ShapeError, match="walk is corrupt"):
        source_next([[None, None, {"a": 1}, 0]])
    with pytest.raises(ShapeError, match="walk is corrupt"):
        source_next([[None, None]])
    with pytest.raises(ShapeError, match="expects an iterator"):
        open_walk([[1, 2]])
    with pytest.raises(ShapeError, match="any\\(\\) expects a function, got int"):
        open_walk([IteratorValue([1]), "any", 5])


def test_a_loop_state_pulls_then_takes_the_element():
    walked, index = for_start(IteratorValue([7], (("map", BUILTINS["len"]),)))
    assert type(walked) is IterLoop and index == 0
    assert for_item(walked, 0) is PULL
    walked.walk[0], walked.walk[1] = 7, True         # what __iter_for leaves after a pull
    assert for_item(walked, 0) == 7
    assert for_item(walked, 0) is PULL
    walked.walk[1] = False
    assert for_item(walked, 0) is DONE
    walked.walk[1] = "forged"
    with pytest.raises(ShapeError, match="walk is corrupt"):
        for_item(walked, 0)


def test_a_loop_over_an_iterator_without_adapters_pulls_its_source_directly():
    # Nothing can call back, so no prelude frame: for_item gives the elements themselves.
    walked, index = for_start(IteratorValue(RangeValue(3, 5, True)))
    assert [for_item(walked, index) for _ in range(4)] == [3, 4, 5, DONE]
    walked, _ = for_start(IteratorValue(["a"]))
    walked.walk[3] = "forged"
    with pytest.raises(ShapeError, match="walk is corrupt"):
        for_item(walked, 0)


def test_for_over_a_line_reader_walks_the_reader_itself(tmp_path):
    from shapelang import api
    (tmp_path / "in.txt").write_text("a\nb\nc\n")
    src = ('use std::core::file\nlet r = file.lines("in.txt")?\n'
           'for line in r { print(line); break }\nprint(r.next(), r.count(), r.next())\n')
    for engine in ("ref", "vm"):
        res = api.run(src, engine=engine, cwd=str(tmp_path), store=str(tmp_path / "s.db"))
        assert (res.stdout, res.error) == ("a\nb 1 None\n", None), engine
