"""Tiering up and down: when the VM runs compiled code, and how it gets back.

One `JitRuntime` per machine. When the machine threads a blob (`threaded`), the units at the
function's entry and at each loop head are wrapped in counters. A counter that runs out
compiles its region (vm/jit/codegen.py) and replaces itself with an entry into compiled code:

- a *trampoline* at the function's entry: the VM has pushed the callee's frame as it always does
  (so the caller's return address and the frame's result kind are the VM's); the trampoline
  calls the compiled function with the frame's parameters and cells, and returns its result as
  RETURN would (`Machine.ret`);
- a *loop entry* at a loop head: the compiled loop takes the frame's registers, runs, and on
  leaving the loop puts them back and returns the pc to continue at.

Compiled code calls compiled code directly; a callee not compiled yet is compiled on its first
such call (`tier`). Both entries catch `Deopt` (the frames are rebuilt, vm/jit/deopt.py, and the
VM continues; when the VM must continue in the middle of a dispatch unit, the threader's side
entry for that instruction runs the rest of the unit exactly as the unit would) and errors (the
frames are rebuilt so the error gets the VM's position). A region that keeps deoptimising at
calls it cannot make goes back to the VM for good; code the JIT does not compile stays there.

Python recursion: compiled calls nest Python frames, so a chain of compiled calls is capped at
PYTHON_DEPTH; past it the VM makes the call (and the callee's trampoline starts a new chain),
which keeps deep Shape recursion off the Python stack. The VM's own depth limit counts compiled
activations too.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Optional

from shapelang.runtime import values as V
from shapelang.runtime.errors import ShapeError, ShapeExit, stack_overflow
from shapelang.vm import opcodes as O
from shapelang.vm import threader as T
from shapelang.vm.bounded import Bounded
from shapelang.vm.frame import PC, REGS
from shapelang.vm.jit.codegen import (FACTORY_ARGS, JitCode, Region, compile_region, inlinable,
                                       kind_of)
from shapelang.vm.jit.deopt import Deopt, GuardFailed, activations, error_pc, rebuild
from shapelang.vm.jit.flow import Unsupported
from shapelang.vm.objects import VM_BUILTINS, Closure

CALLS_HOT = 2            # calls before a function is compiled ("on")
LOOPS_HOT = 50           # runs of a loop head before the loop is compiled ("on")
PYTHON_DEPTH = 1000      # compiled activations on the Python stack per VM entry
DEOPT_LIMIT = 50         # deoptimisations at calls or snapshots before a region stays on the VM
_TRACE = os.environ.get("SHAPE_JIT_TRACE", "") not in ("", "0")   # deopts on stderr

_NO_VALUE = object()     # what a cache in compiled code holds before its first use

# What every machine of this process did (`shape bench` reports it for its child processes).
TOTALS = {"tier_ups": 0, "compile_seconds": 0.0, "deopts": 0}


class StopFlag:
    """The machine's stop request (`flag[0]`, as Machine.request_stop sets it), seen by compiled
    code as the closure cell `S` of each factory it instantiated: setting the flag sets every
    cell, so a poll is `if S:` (one load and one test). Safe from a signal handler and from
    another thread (api's timeout): a factory registers its cell before it reads the flag, and
    looks again after."""
    __slots__ = ("value", "cells")

    def __init__(self) -> None:
        self.value = False
        self.cells: list = []

    def __getitem__(self, i: int) -> bool:
        return self.value

    def __setitem__(self, i: int, value: bool) -> None:
        self.value = value
        for c in list(self.cells):
            c.cell_contents = value

    def register(self, fn: Any) -> None:
        """Follow the flag in the cell `S` of compiled function fn (if it polls)."""
        code = fn.__code__
        if "S" not in code.co_freevars:
            return
        cell = fn.__closure__[code.co_freevars.index("S")]
        self.cells.append(cell)
        cell.cell_contents = self.value
        if self.value and not cell.cell_contents:
            cell.cell_contents = True


class JitRuntime:
    def __init__(self, machine: Any, mode: str, helpers: dict) -> None:
        self.m = machine
        self.mode = mode
        self.ns = dict(helpers)
        self.ns["__builtins__"] = dict(helpers["__builtins__"], bool=bool, IndexError=IndexError,
                                     KeyError=KeyError, Exception=Exception, range=range)
        self.ns.update({"Deopt": Deopt, "GuardFailed": GuardFailed, "walk": _walk,
                        "BuiltinFunction": V.BuiltinFunction, "VM_BUILTINS": VM_BUILTINS,
                        "NO_VALUE": _NO_VALUE})
        self.stop = StopFlag()
        force = mode == "force"
        self.calls_hot = 1 if force else CALLS_HOT
        self.loops_hot = 1 if force else LOOPS_HOT
        self.orig: dict[tuple[str, int], Any] = {}     # (bid, pc) -> the unit a wrapper replaced
        self.sides: dict[tuple[str, int], Any] = {}    # (bid, pc) -> side entry unit
        self.codes: dict[str, JitCode] = {}            # file name -> code this machine runs
        self.loop_fns: dict[tuple, Any] = {}           # (bid, head, counting) -> compiled loop
        self.generic: set = set()                      # regions whose guards failed: unspecialised
        self.deopts: dict[str, int] = {}               # blob id -> deopts at calls, snapshots
        self.tier_ups = 0
        self.compile_seconds = 0.0
        self.deopt_count = 0
        writer = machine._writer

        def OUT(s: str, _w: list = writer) -> None:
            _w[0](s)
        self.OUT = OUT

    def stats(self) -> dict:
        return {"tier_ups": self.tier_ups, "compile_seconds": self.compile_seconds,
                "deopts": self.deopt_count}

    # ------------------------------------------------------------ counters

    def threaded(self, rb: Any) -> None:
        """A blob was threaded: count the runs of its entry and of its loop heads."""
        blob = rb.blob
        heads = _loop_heads(blob, self.m.program.blobs)
        if blob.kind != "module":
            self._wrap(rb, rb.start, self.calls_hot, self._fire_entry)
        for h in heads:
            if h != rb.start or blob.kind == "module":
                self._wrap(rb, h, self.loops_hot, self._fire_loop)

    def _install(self, rb: Any, pc: int, unit: Any) -> None:
        rb.code[pc] = unit
        rb.units[pc] = unit

    def _wrap(self, rb: Any, pc: int, hot: int, fire: Callable) -> None:
        orig = rb.units[pc]
        if orig is None:
            return
        self.orig[(rb.bid, pc)] = orig
        left = [hot]

        def counter(R: list) -> int:
            left[0] -= 1
            if left[0] <= 0:
                return fire(rb, pc, R)
            return orig(R)
        self._install(rb, pc, counter)

    def _restore(self, rb: Any, pc: int) -> Any:
        orig = self.orig[(rb.bid, pc)]
        self._install(rb, pc, orig)
        return orig

    def _fire_entry(self, rb: Any, pc: int, R: list) -> int:
        if not self.tier(rb, self.m._left is not None, R[:rb.blob.argc]):
            return self._restore(rb, pc)(R)
        return rb.units[pc](R)

    def _fire_loop(self, rb: Any, pc: int, R: list) -> int:
        if not self._loop_fn(rb, pc, self.m._left is not None, R):
            return self._restore(rb, pc)(R)
        self._install(rb, pc, self._loop_entry(rb, pc))
        return rb.units[pc](R)

    def _loop_fn(self, rb: Any, head: int, counting: bool, R: list) -> Any:
        """The compiled loop at `head` (specialised for what R holds now, unless its guards
        have failed before), or False."""
        key = (rb.bid, head, counting)
        fn = self.loop_fns.get(key)
        if fn is None:
            spec = () if (rb.bid, head) in self.generic else _spec(R[:rb.blob.nlocals], self.m.rblobs)
            fn = self.loop_fns[key] = self._compile(rb, Region("osr", head, spec), counting) or False
        return fn

    # ------------------------------------------------------------ compiling

    def _compile(self, rb: Any, region: Region, counting: bool) -> Optional[Callable]:
        """The compiled function of a region of rb's blob for this machine, or None."""
        t0 = time.perf_counter()
        try:
            jc = compile_region(rb.blob, self.m.program.blobs, region, counting)
        except Unsupported:
            return None
        finally:
            spent = time.perf_counter() - t0
            self.compile_seconds += spent
            TOTALS["compile_seconds"] += spent
        fn = self._instantiate(rb, jc)
        self.tier_ups += 1
        TOTALS["tier_ups"] += 1
        return fn

    def _instantiate(self, rb: Any, jc: JitCode) -> Callable:
        m = self.m
        ns = dict(self.ns)
        exec(jc.code, ns)   # defines __factory from the generated template code
        env = jc.env
        fn = ns["__factory"](m, m.frames, m.rblobs, m.max_depth, self.OUT, m.methods, m.prelude,
                             env["K"], env["LN"], env["CH"], env["CN"], env["BI"], env["BF"],
                             env["MT"], env["MC"], env["DS"], env["PN"], False,
                             self.tier, rb.bid)
        self.stop.register(fn)
        self.codes[fn.__code__.co_filename] = jc
        return fn

    def tier(self, rb: Any, counting: bool, args: Any = ()) -> Any:
        """The compiled entry of rb's function (compiled now, specialised for the kinds of
        `args`, if it was not), or False. Compiled code calls this for a callee it has no code
        for yet."""
        attr = "jitc" if counting else "jit"
        fn = getattr(rb, attr)
        if fn is None:
            if self.deopts.get(rb.bid, 0) >= DEOPT_LIMIT:
                fn = False
            else:
                spec = () if (rb.bid, rb.start) in self.generic else _spec(args, self.m.rblobs)
                fn = self._compile(rb, Region("entry", rb.start, spec), counting) or False
            setattr(rb, attr, fn)
            if fn and self.orig.get((rb.bid, rb.start)) is not None:
                self._install(rb, rb.start, self._trampoline(rb))
        return fn

    # ------------------------------------------------------------ entries from the VM

    def _trampoline(self, rb: Any) -> Callable[[list], int]:
        m = self.m
        FR = m.frames
        LIMIT = m.max_depth
        b = rb.blob
        argc, k, n = b.argc, b.argc + b.nfree, b.nlocals
        start = rb.start
        orig = self.orig[(rb.bid, start)]
        # Frames may reach the entry with more than their arguments set (after evaluating
        # default arguments, or on a jump back to it): those run on the VM.
        check = len(b.entries) > 1 or start in _jump_targets(b)
        tier = self.tier

        def trampoline(R: list) -> int:
            if check and (len(R) != n or any(x is not None for x in R[k:])):
                return orig(R)
            counting = m._left is not None
            fn = rb.jitc if counting else rb.jit
            if not fn:
                fn = tier(rb, counting, R[:argc])
                if not fn:
                    return orig(R)
            f = FR[-1]
            d = LIMIT - len(FR)
            try:
                v = fn(d if d < PYTHON_DEPTH else PYTHON_DEPTH, R[argc:k], *R[:argc])
            except Deopt as e:
                return self.deoptimise(e, f)
            except ShapeError as e:
                self.fail(e, f)
                raise
            except RecursionError:
                raise self.overflow(f) from None
            return m.ret(v)
        return trampoline

    def _loop_entry(self, rb: Any, head: int) -> Callable[[list], int]:
        m = self.m
        FR = m.frames
        LIMIT = m.max_depth
        orig = self.orig[(rb.bid, head)]
        loop_fn = self._loop_fn

        def loop_entry(R: list) -> int:
            fn = loop_fn(rb, head, m._left is not None, R)
            if not fn:
                return orig(R)
            f = FR[-1]
            d = LIMIT - len(FR)
            try:
                return fn(R, d if d < PYTHON_DEPTH else PYTHON_DEPTH)
            except Deopt as e:
                return self.deoptimise(e, f)
            except ShapeError as e:
                self.fail(e, f)
                raise
            except RecursionError:
                raise self.overflow(f) from None
        return loop_entry

    # ------------------------------------------------------------ back to the VM

    def deoptimise(self, e: Deopt, frame: list) -> int:
        """Compiled code left for the VM (see vm/jit/deopt.py): rebuild the frames, and run
        the innermost one's unit at its pc — the original unit there, or the threader's side
        entry when pc is inside a unit — as the dispatch loop would have."""
        m = self.m
        acts = activations(e.__traceback__, self.codes)
        rebuild(m, frame, acts, e.pc, list(e.stack))
        self.deopt_count += 1
        TOTALS["deopts"] += 1
        jc = acts[-1][0]
        rb = m.rblobs[jc.bid]
        top = m.frames[-1]
        pc = top[PC]
        if _TRACE:
            b = rb.blob
            print(f"[jit] deopt {b.name or b.kind} at {pc} {O.NAMES[b.code[pc][0]]}",
                  file=sys.stderr)
        lead = pc in jc.leaders
        if type(e) is GuardFailed:
            self._generalise(jc)
        if not e.counted or (lead and self.stop[0]):
            # The step budget ran out before this unit, or a stop was asked for: the dispatch
            # loop stops here.
            return -1
        if lead:
            unit = self.orig.get((rb.bid, pc)) or rb.units[pc]
        else:
            # In the middle of a unit: at a call the VM makes itself, or at snapshot().
            unit = self._side(rb, pc)
            n = self.deopts[jc.bid] = self.deopts.get(jc.bid, 0) + 1
            if n == DEOPT_LIMIT:
                self._retire(jc)
        nxt = unit(top[REGS])
        if nxt >= 0:
            m.frames[-1][PC] = nxt
            return -1
        return nxt

    def _side(self, rb: Any, pc: int) -> Any:
        unit = self.sides.get((rb.bid, pc))
        if unit is None:
            m = self.m
            cb = T.side_entry(rb.blob, m.program.blobs, pc)
            ns = dict(self.ns)
            exec(cb.code, ns)   # the side entry's factory, from the threader's templates
            env = cb.env
            unit = ns["__side"](m, m.frames, m.rblobs, m.max_depth, self.OUT, m.methods, m.prelude,
                                env["K"], env["LN"], env["CH"], env["CN"], env["BI"], env["BF"],
                                env["MT"], env["MC"], env["DS"], env["PN"],
                                rb.code)
            self.sides[(rb.bid, pc)] = unit
        return unit

    def _generalise(self, jc: JitCode) -> None:
        """Entry guards failed: the region is compiled again without assumptions."""
        rb = self.m.rblobs[jc.bid]
        region = jc.region
        self.generic.add((jc.bid, region.entry))
        if region.kind == "entry":
            rb.jit = rb.jitc = None
        else:
            for counting in (False, True):
                self.loop_fns.pop((jc.bid, region.entry, counting), None)

    def _retire(self, jc: JitCode) -> None:
        """A region that keeps leaving for the VM runs on the VM from now on."""
        rb = self.m.rblobs[jc.bid]
        if jc.region.kind == "entry":
            rb.jit = rb.jitc = False
        key = (jc.bid, jc.region.entry)
        if key in self.orig:
            self._restore(rb, jc.region.entry)

    def fail(self, e: ShapeError, frame: list) -> None:
        """An error in compiled code: rebuild the frames so that it is reported where the VM
        reports it."""
        acts = activations(e.__traceback__, self.codes)
        if not acts:
            return
        pc = error_pc(acts)
        rebuild(self.m, frame, acts, pc, [])
        e.jit_pc = pc          # the machine locates the error there (Machine._frame_pcs)

    def overflow(self, frame: list) -> ShapeError:
        """Python's recursion limit hit inside compiled code (a value nested too deeply for
        display or ==): the VM reports it as a stack overflow at the unit that was running."""
        err = stack_overflow()
        tb = sys.exc_info()[2]
        acts = activations(tb, self.codes)
        if acts:
            pc = error_pc(acts)
            rebuild(self.m, frame, acts, pc, [])
            jc = acts[-1][0]
            start = max((x for x in jc.leaders if x <= pc), default=pc)
            err.jit_pc = start
        return err


def _walk(seq: Any, i: int) -> Any:
    """Python's iterator of an array or string from index i (a compiled `for x in xs`)."""
    it = iter(seq)
    it.__setstate__(i)
    return it


# What a machine's JIT reads of each blob it threads, by blob id (an id names its content):
# computed once per process instead of once per machine.
_HEADS = Bounded()      # blob id -> loop heads
_TARGETS = Bounded()    # blob id -> jump targets


def _jump_targets(blob: Any) -> frozenset:
    """Every pc some instruction of the blob jumps to."""
    found = _TARGETS.get(blob.id)
    if found is None:
        found = _TARGETS.put(blob.id, frozenset(
            t for op, a, b in blob.code for t in O.jump_targets(op, a, b)))
    return found


def _loop_heads(blob: Any, blobs: dict) -> tuple:
    """The unit leaders a later instruction jumps back to (loop heads), ascending."""
    found = _HEADS.get(blob.id)
    if found is None:
        leaders = set(T.compile_blob(blob, blobs).leaders)
        heads = set()
        for pc, (op, a, b) in enumerate(blob.code):
            for t in O.jump_targets(op, a, b):
                if t <= pc and t in leaders:
                    heads.add(t)
        found = _HEADS.put(blob.id, tuple(sorted(heads)))
    return found


def _spec(values: Any, rblobs: dict) -> tuple:
    """The (slot, kind) pairs of the values a region is specialised for; a closure that the
    region may inline where it calls it is (slot, "fn <blob id>")."""
    out = []
    for i, v in enumerate(values):
        k = kind_of(v)
        if k is not None:
            out.append((i, k))
        elif type(v) is Closure:
            rb = rblobs.get(v.bid)
            if rb is not None and inlinable(rb.blob):
                out.append((i, "fn " + v.bid))
    return tuple(out)


__all__ = ["JitRuntime", "ShapeExit", "FACTORY_ARGS"]
