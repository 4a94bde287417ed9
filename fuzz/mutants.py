"""Mutation score: how many plausible VM / codec / snapshot bugs the fuzzer catches.

Each mutant is one textual patch to the VM, the codec, the recompiler or a shared rule of
runtime/ (never the reference evaluator alone). For every mutant the package is copied to a
temporary directory, the patch is applied to the copy only, and `shape fuzz` runs from the copy on
a fixed budget: the first N programs of a fixed seed (deterministic, and independent of machine
load), with a wall-clock cap. A mutant is *caught* when the campaign reports a failure. A mutant of
a shared rule (runtime/) changes both engines at once, which no differential check can see where
both take the rule, so for those the conformance corpus also runs from the copy (`shape
conformance --engine ref --engine vm`); a case that fails there catches the mutant too.

    python -m shapelang.fuzz.mutants [--programs N] [--seconds CAP] [--seed S] [--only NAME,...]
                                     [--parallel P] [--json FILE] [--list]
                                     [--from-worktree | --fuzzer-from-worktree]

The score reported in fuzz/README.md uses the default budget, the same for every mutant: the
first 150 programs of seed 1, checks a-f and j (the JIT's); g forges snapshots and h compares
the VM with itself, neither is aimed at these bugs.

The unmutated copy is run first on the same budget; a mutant is caught only by a failing
(program, check) pair that the unmutated copy does not have, so a bug already present in the
engine is never credited to a mutant. A patch whose text is no longer in the file is `stale`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_dirs() -> tuple[str, dict[str, str]]:
    """(folder of `shapelang` itself, {subpackage: folder}) from pyproject.toml's package-dir."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    top = mapping.get("shapelang", "shapelang")
    subs = {k.split(".", 1)[1]: v for k, v in mapping.items() if k.startswith("shapelang.")}
    return top, subs


TOP_DIR, PACKAGE_DIRS = package_dirs()


@dataclass
class Mutant:
    name: str
    file: str            # path in the checkout, e.g. "vm/threader.py"
    old: str
    new: str
    what: str
    count: int = 1       # occurrences of `old` to replace (0: all of them)
    extra: list[tuple[str, str, str]] = field(default_factory=list)   # more (file, old, new), once each

    @property
    def shared(self) -> bool:
        """A bug in a rule both engines share (runtime/): differential checks cannot see it when
        both engines take the rule, so the conformance corpus runs too."""
        return self.file.startswith("runtime/")


MUTANTS: list[Mutant] = [
    Mutant("int-division-floors", "vm/threader.py",
           'L(f"if type({x}) is float and type({y}) is float and {y}: {t} = {x} / {y}")',
           'L(f"if type({x}) is int and type({y}) is int and {y}: {t} = {x} // {y}")\n'
           '            L(f"elif type({x}) is float and type({y}) is float and {y}: {t} = {x} / {y}")',
           "int / int on the fast path floors (Python //) instead of truncating toward zero"),
    Mutant("negative-modulo", "vm/threader.py",
           "{x} >= 0 and {y} > 0: {t} = {x} % {y}",
           "{y} > 0: {t} = {x} % {y}",
           "% on the fast path takes the sign of the divisor (Python %) for negative dividends"),
    Mutant("negative-index-off-by-one", "vm/threader.py",
           'L(f"if type({x}) is list and type({i}) is int and 0 <= {i} < len({x}): {t} = {x}[{i}]")',
           'L(f"if type({x}) is list and type({i}) is int and -len({x}) <= {i} < len({x}): '
           '{t} = {x}[{i} - 1 if {i} < 0 else {i}]")',
           "reading a[-k] returns a[-k-1]"),
    Mutant("negative-overflow-kept-int", "vm/threader.py",
           "if {t} > IMAX or {t} < IMIN: {t} = float({t})",
           "if {t} > IMAX: {t} = float({t})",
           "an int result below -2**63 stays an int instead of becoming a number", count=0),
    Mutant("closure-cell-copied", "vm/threader.py",
           "[{', '.join(f'R[{s}]' for s in caps)}]",
           "[{', '.join(f'(Cell(R[{s}].v) if type(R[{s}]) is Cell else R[{s}])' for s in caps)}]",
           "a closure gets a copy of each captured cell instead of sharing it"),
    Mutant("string-length-in-bytes", "vm/threader.py",
           'L(f"if type({x}) is list or type({x}) is str: {t} = len({x})")',
           'L(f"if type({x}) is list: {t} = len({x})")\n'
           '                L(f"elif type({x}) is str: {t} = len({x}.encode())")',
           "string length on the fast path counts UTF-8 bytes"),
    Mutant("loop-variable-shared", "vm/compiler/control.py",
           "        fc.mark(nxt)\n        fc.emit_jump(O.FOR_NEXT, exit_, it)\n"
           "        self.enter_scope(e)\n",
           "        self.enter_scope(e)\n        fc.mark(nxt)\n"
           "        fc.emit_jump(O.FOR_NEXT, exit_, it)\n",
           "a `for` loop variable captured by a closure gets one cell for the whole loop instead of "
           "a fresh one per iteration (closures made in the loop all see the last value)"),
    Mutant("constant-fold-floors", "ref/constants.py",
           "return _fold(lambda: Op.binary_op(e.op, left[0], right[0]))",
           "return _fold(lambda: (left[0] // right[0]) if e.op == '/' and type(left[0]) is int "
           "and type(right[0]) is int and right[0] else Op.binary_op(e.op, left[0], right[0]))",
           "constant folding of int / int floors"),
    Mutant("array-rest-off-by-one", "runtime/patterns.py",
           'binds.append(_store(d[3], f"list({v}[{n}:])", self.reg))',
           'binds.append(_store(d[3], f"list({v}[{n} + 1:])", self.reg))',
           "the ...rest of an array pattern in match skips one element (the one definition of "
           "matching is shared by both engines since issue 11: only the corpus can catch this)"),
    Mutant("frame-local-not-saved", "vm/machine.py",
           '"frames": [stored(f) for f in self.frames],',
           '"frames": [stored(f if f is self.frames[-1] else f[:REGS] + [[None] + f[REGS][1:]] '
           '+ f[REGS + 1:]) for f in self.frames],',
           "the snapshot drops the first register of every frame but the innermost"),
    Mutant("resumed-not-delivered", "vm/machine.py",
           "self.frames[-1][REGS].append(Snap.SNAPSHOT_RESUMED)",
           'self.frames[-1][REGS].append(Snap.snapshot_hash("0" * 64))',
           "the pending snapshot() returns Hash instead of Resumed after a resume"),
    Mutant("interrupt-position-lost", "vm/machine.py",
           "if steps >= max_steps:\n                        FR[-1][PC] = pc\n",
           "if steps >= max_steps:\n",
           "a cut does not record the instruction position of the top frame"),
    Mutant("codec-sharing-lost", "vm/codec.py",
           "n = index.get(vid)",
           "n = index.get(vid) if t is not list else None",
           "the encoder writes an array once per reference (aliases split after resume)",
           # arrays held by arrays (frame registers, for one) take the encoder's inlined path
           extra=[("vm/codec.py", "n = index.get(id(x))",
                   "n = index.get(id(x)) if tx is not list else None")]),
    Mutant("codec-dict-order", "vm/codec.py",
           "for k, x in v.items():",
           "for k, x in sorted(v.items(), key=lambda kv: repr(kv[0])):",
           "the encoder sorts object keys (field order changes after resume)"),
    Mutant("codec-single-float", "vm/codec.py",
           "msgpack.packb([MAGIC, VERSION, root_item, nodes], use_bin_type=True)",
           "msgpack.packb([MAGIC, VERSION, root_item, nodes], use_bin_type=True, use_single_float=True)",
           "floats are encoded as 32-bit"),
    Mutant("codec-tuple-as-list", "vm/codec.py",
           "return tuple(item(x, where) for x in arg)",
           "return [item(x, where) for x in arg]",
           "the decoder builds lists for tuples (enum payloads, loop state)"),
    Mutant("recompile-ordinal-off-by-one", "vm/recompile.py",
           "sites = [pc for pc, o in new_blob.snapshots if o == k]",
           "sites = [pc for pc, o in new_blob.snapshots if o == k + 1] or "
           "[pc for pc, o in new_blob.snapshots if o == k]",
           "recompile-and-resume continues at the next snapshot() site when there is one"),
    Mutant("annotation-stack-reversed", "vm/compiler/annotations.py",
           "for ann in reversed(decl.annotations or []):",
           "for ann in (decl.annotations or []):",
           "stacked `@outer @inner fn` wraps in the wrong order (inner's hooks run outside)"),
    Mutant("await-layers-reversed", "vm/compiler/annotations.py",
           "hooks = self.emit_hooks(anns[k])",
           "hooks = self.emit_hooks(anns[len(anns) - 1 - k])",
           "`await @a @b e` runs b's hooks outside a's"),
    Mutant("async-call-returns-value", "vm/machine.py",
           'return self.push_frame(rb, fn, args, nxt, "async" if b.is_async else None)',
           "return self.push_frame(rb, fn, args, nxt, None)",
           "an async fn call returns its value instead of a task"),
    # ---- shared rules (runtime/): both engines call them; the corpus has to catch these
    Mutant("range-inclusive-end-dropped", "runtime/iteration.py",
           "return range(r.start, r.end + 1 if r.inclusive else r.end)",
           "return range(r.start, r.end)",
           "`a..=b` walks like `a..b` where a range is iterated as values (spread, comprehension, "
           "methods)"),
    Mutant("for-range-inclusive-end-dropped", "runtime/iteration.py",
           "return (v.end + 1 if v.inclusive else v.end), v.start",
           "return v.end, v.start",
           "a `for` loop over `a..=b` stops before b"),
    Mutant("modulo-sign-of-divisor", "runtime/operators.py",
           "r = abs(a) % abs(b)  # sign of the dividend\n        return -r if a < 0 else r",
           "return a % b",
           "int % takes the sign of the divisor (Python's %) instead of the dividend's"),
    Mutant("number-slot-kept-int", "runtime/types.py",
           "return float(v) if tv is int else _NO",
           "return v if tv is int else _NO",
           "a slot declared `number` (a field, variable, parameter) keeps an int (displays 1, "
           "not 1.0)"),
    Mutant("context-message-swapped", "runtime/results.py",
           'return Err(f"{display(context)}: {display(left.value)}")',
           'return Err(f"{display(left.value)}: {display(context)}")',
           "`Err(e) !! c` puts the error before its context"),
    Mutant("negative-index-reads-none", "runtime/access.py",
           "    if i < 0:\n        i += container_len\n    if 0 <= i < container_len:",
           "    if 0 <= i < container_len:",
           "a negative index reads None instead of counting from the end"),
    Mutant("inclusive-slice-end-dropped", "runtime/access.py",
           "    if r.inclusive:\n        e += 1\n",
           "",
           "`a[1..=2]` slices like `a[1..2]`"),
    Mutant("whole-float-without-point", "runtime/display.py",
           '            return f"{int(x)}.0"',
           '            return f"{int(x)}"',
           "a whole number displays without `.0` (3.0 shows as 3)"),
    Mutant("index-of-missing-is-none", "runtime/methods.py",
           "            return i\n    return -1",
           "            return i\n    return None",
           "`indexOf` of a missing element gives None instead of -1"),
    Mutant("empty-object-truthy", "runtime/operators.py",
           "    if t is int or t is float or t is str or t is list or t is dict:",
           "    if t is int or t is float or t is str or t is list:",
           "an empty object `{}` is truthy"),
    Mutant("recompile-loop-index-reset", "vm/recompile.py",
           "R[nw], R[nw + 1] = old_R[o], old_R[o + 1]",
           "R[nw], R[nw + 1] = old_R[o], 0",
           "recompile-and-resume restarts the enclosing for loops"),
    # The JIT tier (vm/jit/): caught by check j, which runs every program compiled.
    Mutant("jit-overflow-unchecked", "vm/jit/codegen.py",
           'return f"not {INT_LO} <= {t} <= {INT_HI}"', 'return "False"',
           "compiled int * (or + - of two variables) never leaves the 64-bit range for the VM's "
           "rule, so a result beyond it stays an int instead of becoming a number"),
    Mutant("jit-for-skips-last", "vm/jit/codegen.py",
           '"cond": f"{i} >= {end}"', '"cond": f"{i} >= {end} - 1"',
           "a compiled `for` loop stops before its last item"),
    Mutant("jit-return-address-forwarded", "vm/jit/codegen.py",
           "ret = nxt + 1 if drop else nxt", "ret = cont",
           "a caller frame rebuilt from compiled code returns past the jumps after the call (the "
           "VM's return address is the instruction right after it): cut states differ"),
    Mutant("jit-walk-skips-one", "vm/jit/tier.py",
           "it.__setstate__(i)", "it.__setstate__(i + 1)",
           "a compiled `for x in xs` walks the array from one past the VM's index"),
    Mutant("jit-budget-miscounted", "vm/jit/codegen.py",
           'self.line("_L[0] -= 1")', 'self.line("_L[0] -= 2")',
           "compiled code counts two steps per VM dispatch on the way between blocks, so a step "
           "budget (--snapshot-at, a cut) stops it earlier than the VM"),
    Mutant("jit-inline-any-callee", "vm/jit/codegen.py",
           'self.line(f"if {f} is {seen} or (type({f}) is Closure and {f}.bid == {bid!r}"',
           'self.line(f"if {f} is {seen} or (type({f}) is Closure"',
           "a call site inlines the closure its region was compiled with whatever closure it "
           "calls (the test of the callee's blob is gone)"),
    Mutant("jit-counted-loop-exit-unfixed", "vm/jit/codegen.py",
           'fix = Line(0, f"if {i} < {n}: {i} = {n}", test.pc)', 'fix = Line(0, "pass", test.pc)',
           "a counted loop `while i < n { …; i += 1 }` compiled as a Python for loop leaves i at "
           "n - 1 when it runs out, not n as the VM does"),
    Mutant("jit-branching-call-skipped", "vm/jit/codegen.py",
           '        self.res = self.tmp()\n        self.line("break")',
           '        self.res = self.tmp()\n        self.line(f"{self.result} = UNIT")\n'
           '        self.line("break")',
           "a callee with branches inlined up to its first call returns unit where a path "
           "reaches a call, instead of leaving for the call of the callee"),
    # Issue 12's rules (P7): bitwise shifts, width slots, iterators, trait method lookup.
    Mutant("shl-overflow-unwrapped", "vm/threader.py",
           "if {t} > IMAX or {t} < IMIN: {t} = shl({x}, {y})", "pass",
           "the VM's inline `x << n` keeps bits past bit 63 (a big int) instead of wrapping",
           count=0),
    Mutant("wrap-ignores-sign", "runtime/numbers.py",
           "    if signed and x >> (bits - 1):", "    if False:",
           "wrapping to a width never reads the top bit as the sign (`200 as i8` is 200, "
           "`1 << 63` is 2**63)"),
    Mutant("iterator-for-skips-fetch", "vm/machine.py",
           'return self.push_frame(self.rblob(fn.bid), fn, [loop.walk], pc, "drop")',
           'return self.push_frame(self.rblob(fn.bid), fn, [loop.walk], pc + 1, "drop")',
           "after pulling the next element of a `for` over an iterator, the VM returns past the "
           "loop's FOR_NEXT (the element is never fetched into the loop variable)"),
    Mutant("iterator-take-one-more", "runtime/prelude.shape",
           "    if s[2] >= s[1] { return false }", "    if s[2] > s[1] { return false }",
           "an iterator's `take(n)` lets n + 1 elements through"),
    Mutant("impl-replaces-builtin-method", "runtime/calls.py",
           "    if t is StructValue or t is EnumValue or not has_builtin_method(obj, name):",
           "    if True:",
           "an impl's method of a built-in type's method name replaces the built-in method"),
]


# ---------------------------------------------------------------- running

def make_copy(dest: str, from_worktree: bool = False, fuzzer_from_worktree: bool = False) -> str:
    """A copy of the `shapelang` package laid out for plain PYTHONPATH imports: dest/shapelang.

    By default the copy is the last commit (`git archive HEAD`): other people edit the working
    tree all the time, and a half-edited file would make every mutant look caught. With
    `fuzzer_from_worktree`, the engine comes from the last commit and the fuzzer (`fuzz/`) from
    the working tree: for measuring a generator change before committing it."""
    pkg = os.path.join(dest, "shapelang")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "cases")
    if from_worktree:
        src_root = ROOT
    else:
        src_root = os.path.join(dest, "_head")
        os.makedirs(src_root)
        paths = [TOP_DIR] + sorted(set(PACKAGE_DIRS.values()))
        archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", "HEAD", "--", *paths,
                                  ":(exclude)conformance/cases"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", src_root], input=archive.stdout, check=True)
    shutil.copytree(os.path.join(src_root, TOP_DIR), pkg, ignore=ignore)
    for sub, src in PACKAGE_DIRS.items():
        shutil.copytree(os.path.join(src_root, src), os.path.join(pkg, sub), ignore=ignore)
    if not from_worktree:
        shutil.rmtree(src_root)
    if fuzzer_from_worktree and not from_worktree:
        fuzz = os.path.join(pkg, "fuzz")
        shutil.rmtree(fuzz)
        shutil.copytree(os.path.join(ROOT, PACKAGE_DIRS["fuzz"]), fuzz, ignore=ignore)
    return dest


def clone(pristine: str, dest: str) -> str:
    shutil.copytree(os.path.join(pristine, "shapelang"), os.path.join(dest, "shapelang"))
    return dest


def _patch(dest: str, file: str, old: str, new: str, count: int) -> bool:
    folder, rest = file.split("/", 1)
    sub = {v: k for k, v in PACKAGE_DIRS.items()}[folder]   # checkout folder -> subpackage
    path = os.path.join(dest, "shapelang", sub, rest)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    n = text.count(old)
    if n == 0 or (count and n < count):
        return False
    text = text.replace(old, new, count if count else -1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def stale(m: Mutant, root: str = ROOT) -> Optional[str]:
    """Why the mutant's patch no longer applies to the checkout at `root` (its text is not, or not
    often enough, in its file), or None."""
    for file, old, count in [(m.file, m.old, m.count)] + [(f, o, 1) for f, o, _ in m.extra]:
        try:
            with open(os.path.join(root, file), encoding="utf-8") as f:
                n = f.read().count(old)
        except OSError as e:
            return f"{file}: {e.strerror}"
        if n == 0 or (count and n < count):
            return f"patch text not found in {file}"
    return None


def apply(m: Mutant, dest: str) -> bool:
    """Patch the copy; False when a patch text is not (or not often enough) in its file."""
    if not _patch(dest, m.file, m.old, m.new, m.count):
        return False
    return all(_patch(dest, file, old, new, 1) for file, old, new in m.extra)


@dataclass
class Result:
    name: str
    status: str                 # caught, missed, stale, broken (the copy does not even start)
    what: str = ""
    seconds: float = 0.0
    programs: int = 0
    first_failure: Optional[float] = None
    checks: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    failing: list = field(default_factory=list)    # [program, "check:reason"] beyond the baseline
    corpus: list = field(default_factory=list)     # conformance cases failing beyond the baseline


def _env(dest: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = dest + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_fuzz(dest: str, programs: int, seconds: float, seed: int, checks: str) -> tuple[Optional[dict], str, float]:
    out_json = os.path.join(dest, "summary.json")
    cmd = [sys.executable, "-c", "import sys; from shapelang.fuzz.cli import main; sys.exit(main())",
           "--seconds", str(seconds), "--seed", str(seed), "--jobs", "1", "--check", checks,
           "--programs", str(programs), "--no-save", "--shrink-seconds", "0", "--quiet",
           "--timeout", "60", "--json", out_json]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=dest, env=_env(dest), capture_output=True, text=True,
                       timeout=seconds + 300)
    took = time.time() - t0
    if not os.path.exists(out_json):
        return None, (p.stdout + p.stderr)[-3000:], took
    with open(out_json, encoding="utf-8") as f:
        return json.load(f), p.stdout[-4000:], took


CASES = os.path.join(ROOT, "conformance", "cases")


def run_corpus(dest: str, seconds: float) -> tuple[Optional[set], str]:
    """The conformance corpus on ref and vm, run from the copy (the cases are the checkout's):
    the set of (engine, case) that fail, or None and the output when the run itself broke."""
    out_json = os.path.join(dest, "corpus.json")
    cmd = [sys.executable, "-m", "shapelang", "conformance", CASES, "--engine", "ref",
           "--engine", "vm", "--jobs", "1", "--json", "--quiet"]
    with open(out_json, "w", encoding="utf-8") as f:
        p = subprocess.run(cmd, cwd=dest, env=_env(dest), stdout=f, stderr=subprocess.PIPE,
                           text=True, timeout=seconds + 600)
    try:
        with open(out_json, encoding="utf-8") as f:
            report = json.load(f)
    except ValueError:
        return None, p.stderr[-2000:]
    return {(r["engine"], r["id"]) for r in report.get("results", [])
            if r.get("status") == "fail"}, ""


def imported_from(dest: str) -> str:
    p = subprocess.run([sys.executable, "-c", "import shapelang.vm as v; print(v.__file__)"],
                       cwd=dest, env=_env(dest), capture_output=True, text=True)
    return p.stdout.strip()


def evaluate(m: Optional[Mutant], pristine: str, programs: int, seconds: float, seed: int,
             checks: str, baseline: Optional[set] = None,
             corpus_baseline: Optional[set] = None) -> Result:
    """Run the campaign on a mutated copy (and the corpus for a shared rule's mutant, or for the
    unmutated copy). With `baseline` (the failing (program, check:reason) pairs of the unmutated
    copy) and `corpus_baseline` (its failing cases), only failures the unmutated code does not
    have count."""
    name = m.name if m else "(unmutated)"
    corpus_failing: Optional[set] = set()
    corpus_out = ""
    with tempfile.TemporaryDirectory(prefix="shape-mutant-") as tmp:
        dest = clone(pristine, tmp)
        if m is not None and not apply(m, dest):
            return Result(name, "stale", m.what, detail=f"patch text not found in {m.file}")
        where = imported_from(dest)
        if not where.startswith(dest):
            return Result(name, "broken", m.what if m else "",
                          detail=f"the copy is not what gets imported ({where or 'import failed'})")
        summary, out, took = run_fuzz(dest, programs, seconds, seed, checks)
        if m is None or m.shared:
            t0 = time.time()
            corpus_failing, corpus_out = run_corpus(dest, seconds)
            took += time.time() - t0
    if summary is None or corpus_failing is None:
        # the campaign could not even run: the mutant breaks everything, which any test sees
        return Result(name, "caught", m.what if m else "", took, 0, None, {},
                      "campaign crashed: " + (out + corpus_out)[-500:])
    failing = {(k, sig) for k, sig in summary.get("failing_programs", [])}
    if baseline:
        failing -= baseline
    corpus = sorted(corpus_failing - (corpus_baseline or set()))
    fails: dict[str, int] = {}
    for _, sig in failing:
        fails[sig[0]] = fails.get(sig[0], 0) + 1
    if corpus:
        fails["corpus"] = len(corpus)
    status = "caught" if failing or corpus else "missed"
    if m is None:
        status = "failing" if failing or corpus else "clean"
    first = summary.get("first_failure_seconds")
    example = ""
    if failing:
        k, sig = min(failing)
        example = f"program {k} fails {sig}: shape fuzz --seed {seed} --replay {k} --check {sig[0]}"
    if corpus and not example:
        example = f"corpus case {corpus[0][1]} fails on {corpus[0][0]}"
    return Result(name, status, m.what if m else "", took, summary["programs"], first, fails,
                  example if failing or corpus else out[-300:],
                  sorted([k, sig] for k, sig in failing), [list(c) for c in corpus])


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shapelang.fuzz.mutants", description=__doc__.split("\n\n")[0])
    p.add_argument("--programs", type=int, default=150, help="budget: programs per mutant (default 150)")
    p.add_argument("--seconds", type=float, default=600, help="wall-clock cap per mutant (default 600)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check", default="abcdefj")
    p.add_argument("--only", help="comma-separated mutant names")
    p.add_argument("--parallel", type=int, default=1, help="mutants evaluated at once")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--from-worktree", action="store_true",
                   help="mutate a copy of the working tree instead of the last commit")
    p.add_argument("--fuzzer-from-worktree", action="store_true",
                   help="the engine from the last commit, the fuzzer (fuzz/) from the working tree")
    args = p.parse_args(argv)
    chosen = MUTANTS
    if args.only:
        names = set(args.only.split(","))
        chosen = [m for m in MUTANTS if m.name in names]
    if args.list:
        for m in chosen:
            print(f"{m.name:32} {m.file:18} {m.what}")
        return 0
    print(f"budget: the first {args.programs} programs of seed {args.seed}, checks {args.check}, "
          f"cap {args.seconds:.0f} s per mutant", flush=True)
    pristine_dir = tempfile.TemporaryDirectory(prefix="shape-pristine-")
    pristine = make_copy(pristine_dir.name, args.from_worktree, args.fuzzer_from_worktree)
    base = evaluate(None, pristine, args.programs, args.seconds, args.seed, args.check)
    baseline = {(k, sig) for k, sig in base.failing}
    corpus_baseline = {tuple(c) for c in base.corpus}
    print(f"baseline (unmutated copy): {base.programs} programs in {base.seconds:.1f} s, "
          + ("no failures" if base.status == "clean" else
             f"{len(baseline)} failing program/check pairs ({base.detail}); a mutant counts as "
             "caught only by failures beyond these"), flush=True)
    results: list[Result] = []

    def one(m: Mutant) -> Result:
        r = evaluate(m, pristine, args.programs, args.seconds, args.seed, args.check, baseline,
                     corpus_baseline)
        checks = ",".join(f"{c}:{n}" for c, n in sorted(r.checks.items())) or "-"
        first = f"{r.first_failure:.1f}s" if r.first_failure is not None else "-"
        print(f"{r.status:7} {r.name:32} programs {r.programs:4}  first failure {first:>7}  "
              f"failed checks {checks}  ({r.seconds:.0f} s)", flush=True)
        return r
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as ex:
        results = list(ex.map(one, chosen))
    pristine_dir.cleanup()
    scored = [r for r in results if r.status in ("caught", "missed")]
    caught = [r for r in scored if r.status == "caught"]
    score = len(caught) / len(scored) if scored else 0.0
    print(f"mutation score: {len(caught)}/{len(scored)} caught ({100 * score:.0f}%)"
          + (f"; stale: {', '.join(r.name for r in results if r.status == 'stale')}"
             if any(r.status == "stale" for r in results) else ""))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"baseline": base.__dict__, "results": [r.__dict__ for r in results],
                       "score": score, "programs": args.programs, "seed": args.seed},
                      f, indent=2)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
