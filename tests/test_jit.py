"""The JIT tier (vm/jit/): compiled code gives the VM's results, and at every safepoint the VM's
state, byte for byte.

Each program runs on the plain VM and with the JIT forced on (every function compiled at its
first call, every loop when it is entered) and, for the step-budget checks, is cut after every
k steps: the two machines must stop in states whose snapshot encodings are identical.
"""
from __future__ import annotations

import time

import pytest

from shapelang import api
from shapelang.vm import jit as J
from shapelang.vm.compiler import compile_source
from shapelang.vm.jit import codegen as CG
from shapelang.vm.jit.flow import Unsupported
from shapelang.vm.machine import STOPPED, Machine

PROGRAMS = {
    "recursion": """
fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
fn fact(n) { if n <= 1 { 1 } else { n * fact(n - 1) } }
print(fib(15), fact(25), fact(20))
""",
    "loops": """
let mut total = 0
for i in 0..30 { for j in 0..=i { if j % 3 == 0 { continue }; total = total + i * j } }
let mut k = 0
while k < 200 { total += k % 7; k += 1; if total > 100000 { break } }
let v = loop { k -= 3; if k < 10 { break k * 2 } }
for c in "héllo" { total += c.length }
for {x, y} in [{x: 1, y: 2}, {x: 3, y: 4}] { total += x * y }
print(total, v, k)
""",
    "callbacks": """
fn make_adder(n) { |x| x + n }
let add3 = make_adder(3)
let xs = [i for i in 0..40 if i % 2 == 0]
let ys = xs.map(add3).filter(|x| x % 4 == 1).map(|x, i| x * i)
let total = ys.reduce(|a, b| a + b, 0)
let sorted = xs.slice(0, 12).sort(|a, b| (b % 5) - (a % 5))
let mut count = 0
let bump = || { count += 1; count }
xs.forEach(|x| { if x % 6 == 0 { bump() } })
print(total, sorted, count, xs.find(|x| x > 30), xs.some(|x| x == 8), xs.every(|x| x < 100),
      xs.findIndex(|x| x == 10), xs.map(to_string).join("-"))
""",
    "match": """
enum Shape { Circle(number), Rect { w: number, h: number }, Dot }
fn area(s) {
  match s {
    Shape::Circle(r) where r > 10 => 0 - 1,
    Shape::Circle(r) => 3 * r * r,
    Shape::Rect { w, h } => w * h,
    Shape::Dot => 0,
  }
}
fn classify(v) {
  match v {
    0 => "zero", 1 => "small", 2 => "small", [a, b, ...rest] => f"list {a} {b} {rest.length}",
    {x, y: 5} => f"obj {x}", Some(n) where n == "s" => "ess", None => "none", _ => "other"
  }
}
let shapes = [Shape::Circle(2), Shape::Rect { w: 3, h: 4 }, Shape::Dot, Shape::Circle(11)]
let mut out = []
for s in shapes { out.push(area(s)) }
for v in [0, 2, [1, 2, 3, 4], {x: 9, y: 5}, "s", None, 7.5] { out.push(classify(v)) }
print(out)
""",
    "structs": """
type Vec { x: number, y: number }
type Particle { pos: Vec, mass: number = 1.0, tag: string = "p" + to_string(2) }
extend Vec {
  method add(o) { Vec { x: self.x + o.x, y: self.y + o.y } }
  method scale(k) { Vec { x: self.x * k, y: self.y * k } }
}
let mut acc = Vec { x: 0, y: 0 }
for i in 0..50 { acc = acc.add(Vec { x: 1, y: i }.scale(0.5)) }
let ps = [Particle { pos: acc }, Particle { pos: acc, mass: 2 }]
print(acc.x, acc.y, ps[0].tag, ps[1].mass, ps.map(|p| p.mass).sum())
""",
    "refs-and-spreads": """
fn inc(&x) { x = x + 1 }
fn sum3(a, b, c) { a + b + c }
fn opt(a, b = 10) { a * b }
let mut n = 0
for i in 0..20 { inc(&n); n += sum3(...[i, 1, 2]) }
let args = [4, 5, 6]
let mut t = 0
for i in 0..10 { t += sum3(...args) + opt(i) + opt(i, 2) }
print(n, t)
""",
    "strings": """
let mut s = ""
let parts = []
for i in 0..60 {
  let w = f"item{i % 7}"
  if i % 3 == 0 { s = s + w.toUpperCase() } else { s = s + w }
  if i % 10 == 0 { parts.push(w.padStart(8, "*")) }
}
print(s.length, parts.join(","), s.substring(0, 12), f"{3.14159:.2f}")
""",
    "try-and-results": """
fn parse(s) { if s == "x" { Err("bad " + s) } else { Ok(s.length) } }
fn total(xs) {
  let mut t = 0
  for x in xs { t += parse(x)? }
  Ok(t)
}
let m = HashMap().set("a", 1).set("b", 2)
print(total(["ab", "cde"]), total(["ab", "x", "q"]), m.get("b"), m.get("z") ?? 7)
""",
    "async-annotations": """
annotation twice() { before(args, ctx) { [args[0] * 2] } after(args, result, ctx) { result + 1 } }
@twice fn sq(x) { x * x }
async fn work(n) { n + 1 }
let mut t = 0
for i in 0..10 { t += sq(i) + await work(i) }
print(t)
""",
    "snapshots": """
fn step(base) {
  let doubled = base * 2
  let s = snapshot()
  let bonus = match s { Snapshot::Hash(_) => 0, Snapshot::Resumed => 100 }
  doubled + bonus
}
let mut acc = 0
for i in 0..4 { acc += step(i) }
let probe = |x| { snapshot(); x > 2 }
// a callee inlined up to its call: the snapshots are taken in the call it makes
let mark = |x| if x % 2 == 0 { step(x) } else { x }
print(acc, [1, 2, 3, 4].filter(probe), [1, 2, 3, 4].map(mark))
""",
    "inlined-callees": """
fn apply(f, n) { let mut t = 0; let mut i = 0; while i < n { t += f(i); i += 1 }; t }
let mut k = 3
let add_k = |x| x + k
let mut out = [apply(add_k, 100)]
k = 0.5
out.push(apply(add_k, 3))
out.push(apply(|x| x * 4611686018427387904, 5))
out.push(apply(|x| { let y = x * 2; y - 1 }, 50))
out.push([1, 2, 3, 4].filter(|x| x > 2))
// one call site, two closures with the same number of cells: only the one it was compiled
// with may run inlined (the fuzzer's first 150 programs of seed 1 never do this)
out.push([1, 2, 3].map(|x| x + 1), [1, 2, 3].map(|x| x * 2))
out.push([1, 2, 3].map(|x| "n" + to_string(x)).map(|s| s + "!"))
// arguments of unknown kinds: the copy of the body for ints, its overflow, and the other copy
out.push([1, 2, 3].map(|x| x * 4611686018427387904), [1.5, 2].map(|x| x * 2 - 1))
let late = || later + 1
let later = 41
out.push(apply(|x| late() + x, 2))
print(out)
""",
    "branching-callees": """
// callees with branches, inlined up to their first call (where a path reaches one, the call
// of the callee is made), in map/filter/forEach and at a call of a register
let mut count = 0
let bump = || { count += 1; count }
let xs = [i for i in 0..120]
xs.forEach(|x| { if x % 6 == 0 { bump() } })
let hs = xs.map(|x, i| if i % 2 == 0 { x } else { bump() })
let fs = xs.filter(|x| if x > 100 { true } else if x % 5 == 0 { bump() > 0 } else { false })
let big = xs.map(|x| if x > 60 { x * 4611686018427387904 } else { x - 1.5 })
let words = xs.slice(0, 6).map(|x| if x % 2 == 0 { "e" + to_string(x) } else { to_string(x).padStart(3, "0") })
// paths that meet with a value on the callee's stack, called where the caller has one on its own
let g = |x| (if x > 2 { 1 } else { 2 }) + x
let mut t = 0
for x in xs { t += (if x > 1 { 10 } else { 20 }) + g(x) }
print(count, hs.slice(0, 6), fs.length, big[61], big[3], words, t)
""",
    "counted-loops": """
fn count_to(i, n) { let mut k = i; while k < n { k += 1 }; k }
fn sum_until(xs, limit) {
  let n = xs.length
  let mut i = 0
  let mut t = 0
  while i < n && t < limit { t += xs[i]; i += 1 }
  [i, t]
}
fn snaps(n) {
  let mut got = 0
  let mut i = 0
  while i < n { got += match snapshot() { Snapshot::Hash(_) => 1, Snapshot::Resumed => 10 }; i += 1 }
  for q in 0..n { if q == 1 { continue }; got += match snapshot() { Snapshot::Hash(_) => 2, _ => 20 } }
  for x in [5, 6] { got += match snapshot() { Snapshot::Hash(_) => x, _ => 0 } }
  [got, i]
}
let grow = [1, 2, 3]
let mut seen = 0
for x in grow { if grow.length < 6 { grow.push(x * 10) }; seen += x }
let shrink = [1, 2, 3, 4, 5]
let mut got = []
for x in shrink { got.push(x); if x == 2 { shrink.pop(); shrink.pop() } }
let mut chars = ""
for c in "héllo" { chars = c + chars }
let mut hits = []
let mut j = 0
while j < 6 { if j == 2 { j += 1; continue }; hits.push(j); j += 1 }
let mut i = 10
while i < 5 { i += 1 }
let mut m = 0
while m < 8 { if m == 5 { break }; m += 1 }
let mut s = 0
for a in 3..3 { s += 100 }
for a in 0..5 { if a == 1 { continue }; for b in a..4 { s += a * b } }
let mut w = 0
let mut lim = 10
while w < lim { lim -= 1; w += 1 }
print(count_to(0, 7), count_to(9, 3), sum_until([5, 6, 7, 8], 12), sum_until([1, 2], 100))
print(hits, i, m, s, w, lim, snaps(3), seen, got, chars)
""",
}

# Loops that get hot with one kind of value in a register and then see another: the compiled
# loop's speculation fails half-way (mode "on") and it is compiled again without it.
KIND_CHANGES = """
let mut x = 0
let mut out = []
for i in 0..300 { x = if i < 150 { i } else { "s" + to_string(i) }; if i % 50 == 0 { out.push(x) } }
let rows = [{a: 1}, {a: 2}]
let mut i = 0
while i < 400 { rows.push(if i < 200 { {a: i} } else { [i] }); i += 1 }
let mut t = 0
for r in rows { let v = r; t += match v { [n] => n, _ => v.a } }
let mut best = rows[0]
for r in rows { best = match r { [n] => n, _ => r } }
enum E { A(int), B }
type P { x: int }
let es = []
for i in 0..300 { es.push(if i < 150 { E::A(i) } else { E::B }) }
let mut en = 0
for e in es { let v = match e { E::B => 7, _ => e }; en += match v { E::A(n) => n, _ => 1 } }
let mut px = 0
for i in 0..300 { let p = if i < 150 { P { x: i } } else { {x: i * 2} }; px += p.x }
print(out, t, best, en, px)
"""

ERRORS = {
    "division": "fn f(a, b) { a / b }\nlet mut t = 0\nfor i in 0..5 { t += f(10, 3 - i) }\n",
    "method": "fn g(x) { x.nosuch() }\nfor i in 0..3 { g(i) }\n",
    "callback": "let xs = [1, 2, 0]\nprint(xs.map(|x| 10 / x))\n",
    "match": "fn h(v) { match v { 1 => 2 } }\nfor i in 1..4 { h(i) }\n",
    "index": "let a = [1]\nfor i in 0..4 { a[i + 2] = i }\n",
    "uninit": "fn f() { later }\nlet g = f\nprint(g())\nlet later = 1\n",
    "overflow": "fn down(n) { down(n + 1) }\ndown(0)\n",
    "callback-none": "fn f(x) { x + 1 }\nlet xs = [1, 2]\nprint(xs.map(f))\nprint(xs.map(None))\n",
    "call-none": "fn g(f, x) { f(x) }\nprint(g(|x| x, 1))\nprint(g(None, 2))\n",
    "struct-field": "type P { x: number }\nfn f(p) { p.x + p.y }\nfor i in 0..3 { f(P { x: i }) }\n",
    "inlined-callee": "let k = [1]\nlet xs = [1, 2, 3]\nprint(xs.map(|x| x + 1))\n"
                      "print(xs.map(|x| x - k))\n",
    "inlined-uninit": "let f = |x| x + later\nprint([1, 2].map(f))\nlet later = 1\n",
    "branching-uninit": "let f = |x| if x > 1 { later } else { x }\nprint([1, 2].map(f))\n"
                        "let later = 1\n",
    "branching-error": "let f = |x| if x > 1 { 10 / (x - 2) } else { to_string(x) }\n"
                       "print([1, 3, 2].map(f))\n",
}


def run(source: str, jit: str) -> dict:
    with J.jit_mode(jit):
        return api.run(source, path="t.shape", engine="vm").to_json()


def states(program, jit: str, stride: int, limit: int) -> list:
    """The encoded state of a fresh machine cut after k steps, for k = 0, stride, …"""
    session = api.Session(program, path="t.shape")
    out = []
    for k in range(0, limit, stride):
        out_text: list[str] = []
        m = Machine(session.program, out=out_text, jit=jit)
        try:
            r = m.run(max_steps=k)
        except Exception as e:  # the program's error, the same on both
            out.append(("error", type(e).__name__, str(e)))
            break
        if r is not STOPPED:
            out.append(("done", "".join(out_text)))
            break
        out.append(session.encode_state(m.export_state()))
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("mode", ["force", "on"])
def test_same_results(name, mode):
    want = run(PROGRAMS[name], "off")
    assert want["error"] is None
    assert run(PROGRAMS[name], mode) == want


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_same_errors_and_positions(name):
    want = run(ERRORS[name], "off")
    assert want["error"] is not None
    got = run(ERRORS[name], "force")
    assert got == want


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_cut_anywhere_gives_the_vm_state(name):
    vm = states(PROGRAMS[name], "off", 13, 4000)
    jit = states(PROGRAMS[name], "force", 13, 4000)
    assert len(vm) == len(jit)
    for k, (a, b) in enumerate(zip(vm, jit)):
        assert a == b, f"state differs after {13 * k} steps"


@pytest.mark.parametrize("mode", ["force", "on"])
def test_speculation_that_fails_gives_the_vms_results_and_states(mode):
    want = run(KIND_CHANGES, "off")
    assert want["error"] is None
    assert run(KIND_CHANGES, mode) == want
    assert states(KIND_CHANGES, mode, 97, 20000) == states(KIND_CHANGES, "off", 97, 20000)


def test_every_step_of_a_call_heavy_program():
    source = PROGRAMS["recursion"].replace("fib(15)", "fib(6)").replace("fact(25), ", "")
    vm = states(source, "off", 1, 100000)
    assert vm[-1][0] == "done"
    assert states(source, "force", 1, 100000) == vm


def test_snapshots_taken_in_compiled_code_are_the_vms():
    def taken(jit: str) -> list[bytes]:
        session = api.Session(PROGRAMS["snapshots"], path="t.shape")
        got: list[bytes] = []

        def on_snapshot(m: Machine) -> str:
            got.append(session.encode_state(m.export_state()))
            return f"{len(got):064x}"
        Machine(session.program, out=[], on_snapshot=on_snapshot, jit=jit).run()
        return got
    vm = taken("off")
    assert len(vm) == 10
    assert taken("force") == vm
    assert taken("on") == vm


def test_counted_loops_are_python_for_loops_and_snapshot_as_the_vm():
    # `while i < n { …; i += 1 }` and `for x in a..b` become `for … in range(…)` in the plain
    # variant, `for x in xs` a walk of Python's iterator; snapshots taken inside them are the
    # VM's (the counting variant keeps `while`).
    session = api.Session(PROGRAMS["counted-loops"], path="t.shape")

    def taken(jit: str) -> tuple:
        got: list[bytes] = []

        def on_snapshot(m: Machine) -> str:
            got.append(session.encode_state(m.export_state()))
            return f"{len(got):064x}"
        m = Machine(session.program, out=[], on_snapshot=on_snapshot, jit=jit)
        m.run()
        return got, m
    vm, _ = taken("off")
    assert len(vm) == 7
    got, m = taken("force")
    assert got == vm
    plain = [jc.source for jc in m.jit.codes.values() if not jc.counting]
    assert any(" in range(" in src for src in plain)
    assert any(" in walk(" in src for src in plain)
    assert taken("on")[0] == vm


def test_snapshot_in_jit_mode_resumes_on_the_vm(tmp_path):
    store = str(tmp_path / "s.db")
    with J.jit_mode("force"):
        first = api.run(PROGRAMS["snapshots"], path="t.shape", engine="jit", store=store)
    plain = api.run(PROGRAMS["snapshots"], path="t.shape", engine="vm", store=store)
    assert first.stdout == plain.stdout
    assert first.snapshots == plain.snapshots      # the same states: the same ids
    for sid in first.snapshots:
        a = api.resume(sid, store=store)
        b = api.resume(sid, store=store, engine="jit")
        assert a.ok and a.stdout == b.stdout and a.snapshots == b.snapshots


def test_interrupt_inside_compiled_loop_resumes_with_the_uninterrupted_output(tmp_path):
    source = """
fn spin(n) { let mut t = 0; let mut i = 0; while i < n { t = (t + i * 7) % 1000003; i += 1 }; t }
let mut total = 0
for r in 0..400 { total = (total + spin(5000)) % 1000003; if r % 100 == 0 { print(r) } }
print(total)
"""
    store = str(tmp_path / "s.db")
    t0 = time.perf_counter()
    want = api.run(source, engine="jit", store=store).stdout
    took = time.perf_counter() - t0
    # The timeout stops the run as Ctrl+C does, from another thread, inside compiled code (a
    # third of the uninterrupted run's time: the compiled loop runs most of it, however fast).
    r = api.run(source, engine="jit", store=store, timeout=took / 3)
    assert r.exit_code == 130 and r.interrupt is not None
    rest = api.resume(r.interrupt, store=store, engine="jit")
    assert rest.ok and r.stdout + rest.stdout == want
    again = api.resume(r.interrupt, store=store)            # and on the plain VM
    assert again.stdout == rest.stdout


def test_step_budget_after_a_stop_continues_exactly(tmp_path):
    # Cut, export, continue in a new machine, cut again: the fuzzer's chain check.
    source = PROGRAMS["callbacks"]
    session = api.Session(source, path="t.shape")

    def chain(jit: str) -> list:
        seen = []
        state = None
        for _ in range(60):
            m = (Machine(session.program, out=[], jit=jit) if state is None
                 else Machine.from_state(session.program, state, out=[], jit=jit))
            if m.run(max_steps=37) is not STOPPED:
                seen.append("done")
                break
            data = session.encode_state(m.export_state())
            seen.append(data)
            state = session.decode_state(data)
        return seen
    assert chain("force") == chain("off")


def compiled_codes_with(name: str, marker: str) -> list:
    """The JIT codes of test program `name` (PROGRAMS), run with every function compiled, whose generated
    source holds `marker`."""
    m = Machine(compile_source(PROGRAMS[name], "t.shape"), out=[], jit="force")
    m.run()
    return [jc for jc in m.jit.codes.values() if marker in jc.source]


def test_small_pure_callees_are_inlined_where_they_are_called():
    inlined = compiled_codes_with("inlined-callees", ".bid == ")
    assert inlined, "no call site was inlined"
    # the counting variant (runs with a step budget) never inlines
    assert not any(jc.counting for jc in inlined)


def test_branching_callees_are_inlined_up_to_their_first_call():
    partly = compiled_codes_with("branching-callees", " is NO_VALUE:")
    assert partly, "no branching callee was inlined"
    assert not any(jc.counting for jc in partly)


def test_unrolled_recursion_overflows_at_the_vms_depth():
    # fib-like functions run one level of their body in place at each recursive call: the
    # depth limit must still count every level, so the same depths fail on both.
    source = "fn d(n) {{ if n == 0 {{ 0 }} else {{ 1 + d(n - 1) }} }}\nprint(d({n}))\n"

    def outcome(n: int, jit: str) -> str:
        out: list[str] = []
        m = Machine(compile_source(source.format(n=n), "t.shape"), out=out, max_depth=200,
                    jit=jit)
        try:
            m.run()
        except Exception as e:
            return f"{type(e).__name__}: {e}"
        return "".join(out)
    got = {n: outcome(n, "force") for n in range(192, 202)}
    assert got == {n: outcome(n, "off") for n in range(192, 202)}
    assert "StackOverflow" in got[201] or "overflow" in got[201]
    program = compile_source(source.format(n=50), "t.shape")
    m = Machine(program, out=[], jit="force")
    m.run()
    assert any("_d - 2" in jc.source for jc in m.jit.codes.values())


def test_deep_recursion_runs_past_pythons_stack():
    source = "fn depth(n) { if n == 0 { 0 } else { 1 + depth(n - 1) } }\nprint(depth(30000))\n"
    assert run(source, "force")["stdout"] == "30000\n"


def test_hot_code_tiers_up_and_cold_code_does_not():
    program = compile_source(PROGRAMS["recursion"], "t.shape")
    m = Machine(program, out=[], jit="on")
    m.run()
    assert m.jit.stats()["tier_ups"] >= 2          # fib and fact
    once = compile_source("fn f(x) { x + 1 }\nprint(f(1))\n", "t.shape")
    m = Machine(once, out=[], jit="on")
    m.run()
    assert m.jit.stats()["tier_ups"] == 0


def test_generated_code_is_cached_per_blob_and_variant():
    program = compile_source(PROGRAMS["recursion"], "t.shape")
    blob = next(b for b in program.blobs.values() if b.name == "fib")
    region = CG.Region("entry", blob.entries[-1])
    a = CG.compile_region(blob, program.blobs, region, False)
    assert CG.compile_region(blob, program.blobs, region, False) is a
    c = CG.compile_region(blob, program.blobs, region, True)
    assert c is not a and "_L[0]" in c.source and "_L[0]" not in a.source
    assert blob.id in a.code.co_filename and "counting" in c.code.co_filename


def test_a_loop_head_that_is_no_loop_is_not_compiled():
    program = compile_source("let x = 1\nprint(x)\n", "t.shape")
    blob = program.blobs[program.entry]
    with pytest.raises(Unsupported):
        CG.compile_region(blob, program.blobs, CG.Region("osr", 0), False)


def test_jit_modes():
    assert J.parse_mode("") == "off" and J.parse_mode("1") == "on"
    assert J.parse_mode("force") == "force"
    with pytest.raises(ValueError):
        J.parse_mode("fast")
    with J.jit_mode("force"):
        assert J.jit_default() == "force"
        with J.jit_mode("off"):
            assert J.jit_default() == "off"
    with pytest.raises(ValueError):
        with J.jit_mode("maybe"):
            pass


def test_jit_mode_is_per_thread(monkeypatch):
    import threading
    monkeypatch.delenv(J.JIT_ENV, raising=False)
    seen = []
    with J.jit_mode("force"):
        t = threading.Thread(target=lambda: seen.append(J.jit_default()))
        t.start()
        t.join()
        assert J.jit_default() == "force"
    assert seen == ["off"]


def test_cli_snapshot_at_inside_compiled_code_resumes_with_the_uninterrupted_output(tmp_path):
    import re
    import subprocess
    import sys
    prog = tmp_path / "p.shape"
    prog.write_text(PROGRAMS["recursion"].replace("fib(15)", "fib(18)"))
    env = dict(__import__("os").environ, SHAPE_STORE=str(tmp_path / "s.db"))

    def shape(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "shapelang", *args], capture_output=True,
                              text=True, env=env, timeout=120)
    want = shape("run", str(prog)).stdout
    cut = shape("run", "--engine", "jit", "--snapshot-at", "3000", str(prog))
    assert cut.returncode == 130, cut.stderr
    sid = re.search(r"Snapshot saved: ([0-9a-f]{64})", cut.stderr).group(1)
    # the same state as the VM's at that step: the same snapshot id
    vm_cut = shape("run", "--snapshot-at", "3000", str(prog))
    assert sid in vm_cut.stderr
    for engine in ("vm", "jit"):
        rest = shape("--resume", sid, "--engine", engine)
        assert rest.returncode == 0, rest.stderr
        assert cut.stdout + rest.stdout == want
