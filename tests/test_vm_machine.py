"""VM machine: deep recursion, depth limit, safepoints, plain-data state, snapshot hook, errors."""
from __future__ import annotations

import pytest

from shapelang.runtime import values as V
from shapelang.runtime.errors import ShapeError, ShapeExit
from shapelang.vm import STOPPED, Machine, compile_source, run_source
from shapelang.vm.objects import Cell, Closure

PROGRAM = """
type Point { x: number, y: number = 0 }
extend Point { method norm2() { self.x * self.x + self.y * self.y } }
enum Shape { Circle(number), Rect { w: number, h: number } }
fn area(s) {
  match s {
    Shape::Circle(r) => 3 * r * r,
    Shape::Rect { w, h } => w * h,
  }
}
fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
let mut total = 0
let fs = []
for i in 0..6 {
  fs.push(|| i * 10)
  total += fib(i)
}
print("total", total, fs.map(|f| f()))
let pts = [Point { x: 3, y: 4 }, Point { x: 1 }]
print(pts.map(|p| p.norm2()).sort(|a, b| b - a))
print([Shape::Circle(2), Shape::Rect { w: 2, h: 3 }].map(area))
let m = HashMap().set("a", 1).set("b", 2)
for k in m { print(k, m.get(k)) }
let mut s = ""
let mut j = 0
while j < 5 { s = s + j; j += 1 }
print(s, [x * x for x in 0..5 if x % 2 == 0])
fn inc(&v) { v += 1 }
let mut c = 1
inc(&c)
inc(&c)
print(c)
total
"""


def run(src: str, **kw):
    out: list[str] = []
    value = run_source(src, "t.shape", out, **kw)
    return "".join(out), value


def test_program_runs():
    out, value = run(PROGRAM)
    assert out.splitlines() == [
        "total 12 [0, 10, 20, 30, 40, 50]",
        "[25.0, 1.0]",
        "[12.0, 6.0]",
        "a 1", "b 2",
        "01234 [0, 4, 16]",
        "3",
    ]
    assert value == 12


def test_deep_recursion_100000():
    out, value = run("fn d(n) { if n == 0 { 0 } else { 1 + d(n - 1) } }\nd(100000)\n")
    assert value == 100000


def test_depth_limit_is_a_shape_error():
    with pytest.raises(ShapeError) as e:
        run("fn f(n) { f(n + 1) + 1 }\nf(0)\n", max_depth=1000)
    assert e.value.kind == "StackOverflow" and e.value.message == "stack overflow"
    assert e.value.line == 1


def test_default_limit_allows_deep_recursion_and_still_stops_infinite_recursion():
    with pytest.raises(ShapeError) as e:
        run("fn f(n) { f(n + 1) }\nf(0)\n")
    assert e.value.kind == "StackOverflow"


def _stepped(src: str, steps: int) -> tuple[str, object, int]:
    out: list[str] = []
    m = Machine(compile_source(src, "t.shape"), out=out)
    stops = 0
    while True:
        r = m.run(max_steps=steps)
        if r is not STOPPED:
            return "".join(out), r, stops
        stops += 1


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 50, 333])
def test_stop_and_continue_gives_the_same_output(steps):
    want_out, want_value = run(PROGRAM)
    out, value, stops = _stepped(PROGRAM, steps)
    assert out == want_out and value == want_value
    if steps < 50:
        assert stops > 10


def test_request_stop_from_output_callback_stops_at_a_boundary():
    src = "let mut i = 0\nwhile i < 20 { print(i); i += 1 }\ni\n"
    out: list[str] = []
    holder: dict = {}

    def write(s: str) -> None:
        out.append(s)
        if s == "5\n":
            holder["m"].request_stop()

    m = Machine(compile_source(src), out=write)
    holder["m"] = m
    assert m.run() is STOPPED
    assert "".join(out).split() == [str(k) for k in range(6)]
    assert m.run() == 20
    assert "".join(out).split() == [str(k) for k in range(20)]


def test_state_is_plain_data_that_survives_the_codec():
    from shapelang.vm.codec import Decoder, Encoder
    from shapelang.vm.snapshot import registry
    want_out, want_value = run(PROGRAM)
    for steps in (5, 40, 120, 400):
        out: list[str] = []
        program = compile_source(PROGRAM, "t.shape")
        m = Machine(program, out=out)
        if m.run(max_steps=steps) is not STOPPED:
            continue
        data = Encoder(registry()).encode(m.export_state())
        state = Decoder(registry()).decode(data)
        assert Encoder(registry()).encode(state) == data
        m2 = Machine.from_state(program, state, out=out)
        assert m2.run() == want_value
        assert "".join(out) == want_out


def test_aliasing_and_shared_cells_survive_export():
    src = ("let a = [1]\nlet b = a\nlet mut n = 0\nlet inc = || { n += 1; n }\n"
           "let s = snapshot()\nb.push(2)\ninc()\nprint(a, n, inc())\n")
    from shapelang.vm.codec import Decoder, Encoder
    from shapelang.vm.snapshot import registry
    saved: dict = {}

    def hook(m: Machine) -> str:
        saved["state"] = Encoder(registry()).encode(m.export_state())
        return "f" * 64

    program = compile_source(src)
    out1: list[str] = []
    Machine(program, out=out1, on_snapshot=hook).run()
    assert "".join(out1) == "[1, 2] 1 2\n"
    out2: list[str] = []
    m = Machine.from_state(program, Decoder(registry()).decode(saved["state"]), out=out2)
    m.run()
    assert "".join(out2) == "[1, 2] 1 2\n"


def test_snapshot_hook_and_resumed_value():
    src = ("fn step(base) {\n  let doubled = base * 2\n  let s = snapshot()\n"
           "  let bonus = match s { Snapshot::Hash(_) => 0, Snapshot::Resumed => 100 }\n"
           "  doubled + bonus\n}\nprint(step(21))\n")
    program = compile_source(src)
    seen: dict = {}

    def hook(m: Machine) -> str:
        assert m.pending == "snapshot" and m.pending_ordinal == 0
        seen["frames"] = len(m.frames)
        seen["state"] = m.export_state()
        return "a" * 64

    out: list[str] = []
    Machine(program, out=out, on_snapshot=hook).run()
    assert "".join(out) == "42\n" and seen["frames"] == 2
    # A machine restored in the pending state returns Resumed from the call.
    import copy
    state = copy.deepcopy(seen["state"])
    state["pending"] = "snapshot"
    out2: list[str] = []
    Machine.from_state(program, state, out=out2).run()
    assert "".join(out2) == "142\n"


def test_snapshot_value_is_a_hash_variant():
    out, value = run("let s = snapshot()\nprint(match s { Snapshot::Hash(h) => h.length, _ => 0 })\ns\n")
    assert out == "64\n"
    assert isinstance(value, V.EnumValue) and value.variant == "Hash"


def test_runtime_errors_carry_positions():
    with pytest.raises(ShapeError) as e:
        run("let a = 1\nlet b = [a]\nprint(b[0] + true)\n")
    assert (e.value.kind, e.value.line) == ("TypeError", 3)
    with pytest.raises(ShapeError) as e:
        run("fn f(x) {\n  x / 0\n}\nf(1)\n")
    assert (e.value.kind, e.value.line, e.value.col) == ("ArithmeticError", 2, 3)
    with pytest.raises(ShapeError) as e:
        run("fn show() { print(later) }\nshow()\nlet later = 1\n")
    assert e.value.kind == "NameError" and "initialised" in e.value.message


def test_exit_raises_shape_exit():
    with pytest.raises(ShapeExit) as e:
        run("print(1)\nexit(3)\nprint(2)\n")
    assert e.value.code == 3


def test_closures_are_plain_records():
    program = compile_source("let k = 5\nlet f = |x| x + k\nlet s = snapshot()\n")
    seen: dict = {}
    Machine(program, out=[], on_snapshot=lambda m: seen.setdefault("s", m.export_state()) and "b" * 64).run()
    R = seen["s"]["frames"][0][2]
    closures = [v for v in R if isinstance(v, Closure)]
    assert closures and all(type(c.bid) is str and all(type(x) is Cell for x in c.cells)
                            for c in closures)


def test_code_that_cannot_be_threaded_is_a_clean_error(monkeypatch):
    # Stored code passes structural validation; if the threader still cannot turn a blob into
    # Python, the run must end in a Shape error, never a Python SyntaxError.
    from shapelang.vm import threader

    def broken(*args, **kwargs):
        raise SyntaxError("invalid syntax")
    program = compile_source("print(1)\n", "t.shape")
    monkeypatch.setattr(threader, "compile_blob", broken)
    with pytest.raises(ShapeError) as e:
        Machine(program, out=[]).run()
    assert e.value.kind == "RuntimeError" and "cannot be run" in e.value.message


def test_forged_operands_are_refused_when_code_is_loaded():
    from shapelang.vm import opcodes as O
    from shapelang.vm.blob import Blob, BlobError
    program = compile_source('let x = 41\nprint(f"{x}!")\nprint([1].map(|v| v))\n', "t.shape")
    entry = program.blobs[program.entry]
    for op, forged in ((O.BUILD_STRING, lambda ins: [ins[0], 0, ins[2]]),
                       (O.CALL_METHOD, None)):
        code = [list(i) for i in entry.code]
        pc = next(i for i, ins in enumerate(code) if ins[0] == op)
        consts = list(entry.consts)
        if forged is None:           # the method name constant becomes a list
            consts.append(["map"])
            code[pc] = [op, len(consts) - 1, code[pc][2]]
        else:
            code[pc] = forged(code[pc])
        bad = Blob(**{**{f: getattr(entry, f) for f in entry.__dataclass_fields__
                         if not f.startswith("_")}, "code": code, "consts": consts})
        with pytest.raises(BlobError):
            Blob.from_bytes(bad.to_bytes(), bad.id)


def test_threaded_code_names_every_prelude_receiver_type():
    # vm/threader.py's CALL_METHOD template tests `type(x) is not <Name>` for the receiver types
    # whose prelude has the method (runtime/prelude.py PRELUDE_TABLES).
    from shapelang.runtime.prelude import PRELUDE_TABLES
    from shapelang.vm.machine import _G
    for t in PRELUDE_TABLES:
        assert t is list or _G.get(t.__name__) is t


def test_hashmap_callback_methods_run_the_prelude_on_every_path():
    src = ('let m = HashMap().set("a", 1).set("b", 2)\n'
           'let r = []\n'
           'for i in 0..3 { r.push(m.map(|k, v| v + i).values()) }\n'
           'print(r, m.filter(|k, v| v > 1), m.reduce(|acc, k, v| acc + v, 0))\n')
    out = []
    run_source(src, out=out.append)
    assert "".join(out) == "[[1, 2], [2, 3], [3, 4]] HashMap { b: 2 } 3\n"


def test_prelude_table_is_built_once_per_prelude_and_shared():
    """The prelude's closures hold no state, so a machine of a program with the same prelude
    takes the table the first one built instead of running the prelude's module code again;
    programs still run, and resume, as before."""
    a = compile_source("print([1, 2].map(|x| x + 1))\n")
    b = compile_source("let s = snapshot()\nprint([3, 4].filter(|x| x > 3), [5].reduce(|p, q| p + q, 1))\n")
    assert a.prelude == b.prelude
    first = Machine(a, out=[])
    out: list = []
    second = Machine(b, out=out)
    assert second.prelude.keys() == first.prelude.keys() and len(first.prelude) > 10
    assert all(second.prelude[k] is first.prelude[k] for k in first.prelude)
    assert second.rblobs[b.prelude].code is None      # its module code did not run
    second.on_snapshot = lambda m: "id"
    assert second.run(3) is STOPPED
    state = second.export_state()
    assert state["prelude"] is None
    resumed_out: list = []
    resumed = Machine.from_state(b, state, out=resumed_out)
    resumed.run()
    assert "".join(out + resumed_out) == "[4] 6\n"
    first.run()
    assert first.out == ["[2, 3]\n"]
