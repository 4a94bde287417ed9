"""The bytecode machine: explicit frames, register lists, no Python recursion for Shape calls.

State (everything a snapshot must hold; all plain data, see `export_state`):

- `frames`: the call stack, a list of frames; a frame's fields (code, pc, registers, blob id,
  result kind) are named in vm/frame.py. The code is derived from the blob id, never stored.
- `methods`: `extend` methods by type name, `prelude`: the prelude's functions by name.
- `pending`: "snapshot" while a `snapshot()` call is being taken; a machine restored in that
  state pushes `Snapshot::Resumed` as the call's result when it runs.

Loop state is ordinary data in registers (a `for` loop keeps the sequence, or a range's end, and
an index in two hidden slots); there are no Python iterators, generators or closures in the
state. A Shape call pushes a frame and returns to the dispatch loop, so recursion depth is
limited only by `max_depth` (default 200,000), past which a `StackOverflow` error is raised.

Safepoints: `run(max_steps=N)` stops after N dispatch units; `request_stop()` (safe to call from
a signal handler) makes the running loop stop at the next unit boundary by swapping every unit
of the threaded code for a stub, so the fast loop pays nothing for it. Either way `run` returns
`STOPPED`, the state is consistent, and calling `run()` again continues exactly where it left off.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from shapelang.runtime import (access as Acc, builtins as B, calls as Calls, display as D,
                               durations as Dur, iteration as It, methods as Me, operators as Op,
                               patterns as P, records as Rec, results as Res, snapshots as Snap,
                               traits as Tr, types as Ty, values as V)
from shapelang.runtime.errors import (LAMBDA_FRAME, MAIN_FRAME, ShapeError, ShapeExit,
                                      call_stack, exit_with, stack_overflow)
from shapelang.runtime.iterators import IteratorValue, IterLoop
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.vm import jit as J
from shapelang.vm import opcodes as O
from shapelang.vm import threader as T
from shapelang.vm.blob import Blob, Program, reachable
from shapelang.vm.frame import (BID, CODE, KIND, PC, REGS, STORED_BID, STORED_KIND, STORED_PC,
                                STORED_REGS, STORED_SIZE, new_frame, stored)
from shapelang.vm.frame import KINDS as FRAME_KINDS
from shapelang.vm.objects import (CELL_TYPES, UNINIT, VM_BUILTINS, AnnotatedFunction, BoundMethod,
                                  Cell, Closure, EnumType, StructType, Task, TypedCell,
                                  VariantConstructor)

DEFAULT_MAX_DEPTH = 200_000
VALUE_RECURSION_LIMIT = 30_000
# Blobs that are frames of a call stack; the others (struct defaults, annotation wrappers and
# handlers, await thunks) run code of the frame that made them, as the reference evaluates it.
STACK_KINDS = {"module": MAIN_FRAME, "function": None, "method": None, "lambda": LAMBDA_FRAME}

class _Stopped:
    __slots__ = ()

    def __repr__(self) -> str:
        return "STOPPED"


STOPPED = _Stopped()


# ---------------------------------------------------------------- helpers used by threaded code
# The rules themselves are in runtime/; these adapt them to the machine's type objects (an
# EnumType's variants are [kind, payload slots, field names]; a StructType's fields are
# [name, slot, mode, constant], mode 1 being a constant default).

def h_uninit(name: str) -> None:
    raise Calls.uninitialised(name)


def h_overflow() -> None:
    raise stack_overflow()


def h_spread_obj(out: dict, v: Any) -> None:
    out.update(It.spread_object(v))


def h_spread_copy(v: Any, to_object: int) -> Any:
    # A spread is taken when it is evaluated (as in the reference): later items of the same
    # literal or call may mutate the spread value or raise.
    return It.spread_object(v) if to_object else It.spread_array(v)


def h_match_error(v: Any) -> None:
    raise P.no_arm_matched(v)


def h_get_variant(head: Any, desc: list) -> Any:
    name, full = desc
    if type(head) is EnumType:
        variant = head.variants.get(name)
        if variant is None:
            raise Rec.no_such_variant(head.name, name)
        if variant[0] == "unit":
            return V.EnumValue(head.name, name, None)
        return VariantConstructor(head.name, name, variant[0], list(variant[1]))
    raise Rec.unresolved_path(full)


def h_make_enum(desc: list) -> EnumType:
    return EnumType(desc[0], {v[0]: [v[1], list(v[2]), list(v[3])] for v in desc[1]})


def h_make_struct_type(desc: list, defaults: Optional[Closure]) -> StructType:
    return StructType(desc[0], [list(f) for f in desc[1]], defaults)


def h_build_variant(desc: list, args: list, decls: Ty.Declarations) -> V.EnumValue:
    enum, name, slots = desc
    return Rec.build_tuple_variant(enum, name, slots, args, decls)


def construct_struct(st: StructType, given: dict, decls: Ty.Declarations) -> V.StructValue:
    fields = st.fields
    declared = [(name, slot, mode == 1) for name, slot, mode, _ in fields]
    return Rec.build_struct(st.name, declared, given, lambda i: fields[i][3], decls)


def h_struct_literal(head: Any, desc: list, vals: list, decls: Ty.Declarations) -> Any:
    path, names = desc
    given = dict(zip(names, vals))
    if type(head) is StructType and len(path) == 1:
        return construct_struct(head, given, decls)
    if type(head) is EnumType and len(path) == 2:
        variant = head.variants.get(path[1])
        if variant is None or variant[0] != "struct":
            raise Rec.not_a_struct_variant("::".join(path))
        declared = [(fname, slot, False) for fname, slot in zip(variant[2], variant[1])]
        return Rec.build_struct_variant(head.name, path[1], declared, given, decls)
    raise Rec.not_a_type("::".join(path))


def h_struct_finish(st: StructType, given: dict, decls: Ty.Declarations) -> V.StructValue:
    return construct_struct(st, dict(given), decls)


_DECLS: dict[str, Ty.Declarations] = {}


def declarations(program: Program) -> Ty.Declarations:
    """What the run-time type rules need to know about the program's struct types, read from
    the struct declarations in its code (MAKE_STRUCT_TYPE; the reference evaluator reads the
    same declarations from the AST). Cached by the program's module blob, which names all of
    its code."""
    decls = _DECLS.get(program.entry)
    if decls is None:
        decls = Ty.Declarations()
        for bid in reachable(program.blobs, program.entry):
            blob = program.blobs[bid]
            for op, a, _ in blob.code:
                if op == O.MAKE_STRUCT_TYPE:
                    name, fields, params = blob.consts[a]
                    decls.add_struct(name, [(f[0], f[1]) for f in fields], params)
                elif op == O.IMPL:
                    decls.add_impl(*blob.consts[a])
        if len(_DECLS) > 256:
            _DECLS.clear()
        _DECLS[program.entry] = decls
    return decls


_G: dict[str, Any] = {
    "__builtins__": {"type": type, "len": len, "float": float, "int": int, "bool": bool,
                     "list": list, "dict": dict, "str": str, "tuple": tuple,
                     "isinstance": isinstance},
    "Cell": Cell, "TypedCell": TypedCell, "Closure": Closure, "AnnotatedFunction": AnnotatedFunction, "Task": Task,
    "UNINIT": UNINIT, "UNIT": V.UNIT,
    "StructValue": V.StructValue, "EnumValue": V.EnumValue, "Ok": V.Ok, "Err": V.Err,
    "RangeValue": V.RangeValue, "HashMapValue": V.HashMapValue, "ShapeError": ShapeError,
    "IMIN": V.INT_MIN, "IMAX": V.INT_MAX,
    "SCALARS": frozenset({int, float, str, bool, type(None)}),
    "add": Op.add, "sub": Op.sub, "mul": Op.mul, "div": Op.div, "mod": Op.mod, "pow_": Op.pow_,
    "eq": Op.eq, "ne": Op.ne, "lt": Op.lt, "le": Op.le, "gt": Op.gt, "ge": Op.ge, "neg": Op.neg,
    "bit_and": Op.bit_and, "bit_or": Op.bit_or, "bit_xor": Op.bit_xor, "shl": Op.shl, "shr": Op.shr,
    "bit_not": Op.bit_not, "fuzzy": Op.fuzzy, "make_duration": Dur.make,
    "comptime_get": Rec.comptime_get,
    "truthy": Op.truthy, "display": D.display, "format_spec": D.format_spec,
    "get_property": Acc.get_property, "set_property": Acc.set_property,
    "index_get": Acc.index_get, "index_set": Acc.index_set, "call_method": Me.call_method,
    "make_range": It.make_range, "spread_array": It.spread_array, "for_start": It.for_start,
    "for_item": It.for_item, "DONE": It.DONE, "PULL": It.PULL, "loop_item": It.loop_item,
    "IteratorValue": IteratorValue, "IterLoop": IterLoop, "LineReader": LineReader,
    "attach_context": Res.attach_context, "try_top": Res.try_top, "is_failure": Res.is_failure,
    "unwrap_ok": Res.unwrap_ok, "check_slot": Ty.check_slot, "print_line": B.print_line,
    "h_uninit": h_uninit, "h_overflow": h_overflow,
    "h_spread_obj": h_spread_obj, "h_spread_copy": h_spread_copy,
    "h_match_error": h_match_error,
    "h_get_variant": h_get_variant, "h_make_enum": h_make_enum,
    "h_make_struct_type": h_make_struct_type, "h_build_variant": h_build_variant,
    "h_struct_literal": h_struct_literal, "h_struct_finish": h_struct_finish,
    **P.CODE_NAMES,
}


# ---------------------------------------------------------------- runtime blobs

class RBlob:
    """A blob as one machine runs it: the blob, its threaded code (lazily built), the values
    the inline call path needs, and its JIT-compiled entries (vm/jit/: `jit` for plain runs,
    `jitc` for runs with a step budget; None when not compiled)."""
    __slots__ = ("blob", "bid", "code", "units", "start", "fast", "fastm", "blank", "jit", "jitc")

    def __init__(self, blob: Blob) -> None:
        self.blob = blob
        self.bid = blob.id
        self.code: Optional[list] = None
        self.units: Optional[list] = None
        self.start = blob.entries[-1]
        self.fast = -1            # set to the arity once threaded, for plain functions
        self.fastm = -1           # likewise for methods (self not counted)
        self.blank = [None] * (blob.nlocals - blob.argc - blob.nfree)
        self.jit: Any = None
        self.jitc: Any = None


_PRELUDE_BLOBS: dict[str, frozenset] = {}   # prelude id -> the blob ids reachable from it
_PRELUDE_TABLES: dict[str, dict] = {}       # prelude id -> its table (Machine._init_prelude)


def _prelude_blobs(program: Program) -> frozenset:
    """The blobs of the program's prelude. Ids are content hashes and a blob names its children
    by id, so the set depends on the prelude's id alone: computed once per id."""
    if program.prelude not in program.blobs:
        return frozenset()
    found = _PRELUDE_BLOBS.get(program.prelude)
    if found is None:
        found = frozenset(reachable(program.blobs, program.prelude))
        if len(_PRELUDE_BLOBS) >= 64:
            _PRELUDE_BLOBS.clear()
        _PRELUDE_BLOBS[program.prelude] = found
    return found


def arity_error(blob: Blob, got: int) -> ShapeError:
    return Calls.arity_error(blob.name, blob.params, got, annotation=blob.kind == "annotation")


class Machine:
    def __init__(self, program: Program, out: Any = None, max_depth: int = DEFAULT_MAX_DEPTH,
                 on_snapshot: Optional[Callable[["Machine"], str]] = None,
                 start: bool = True, generic: Optional[bool] = None,
                 jit: Optional[str] = None) -> None:
        self.program = program
        # Thread with the generic templates only (no inline fast paths; see vm/threader.py).
        self.generic = T.generic_default() if generic is None else generic
        self.max_depth = max_depth
        self._writer = [self._resolve_out(out)]
        self._out = out
        self.frames: list = []
        self.rblobs: dict[str, RBlob] = {bid: RBlob(b) for bid, b in program.blobs.items()}
        # Errors inside prelude code are reported at the user's call, as the reference does.
        self._internal = _prelude_blobs(program)
        self.methods: dict[str, dict[str, Closure]] = {}
        self.prelude: dict[str, Closure] = {}
        self.decls = declarations(program)
        self.pending: Optional[str] = None
        self.pending_ordinal: Optional[int] = None
        self.result: Any = None
        self.status = "ready"
        self.snapshot_count = 0
        self.steps = 0
        self.on_snapshot: Callable[["Machine"], str] = on_snapshot or Machine.default_snapshot
        self._stop_requested = False
        self._factories: dict[str, Any] = {}
        # The JIT tier (vm/jit/): hot code compiled to Python functions; "off", "on", "force".
        self.jit: Any = None
        self._left: Optional[list] = None      # the step budget of a run(max_steps), shared
        jit_mode = J.jit_default() if jit is None else jit
        if jit_mode != "off" and not self.generic:
            from shapelang.vm.jit.tier import JitRuntime
            self.jit = JitRuntime(self, jit_mode, _G)
        if start:
            self._init_prelude()
            self.push_module(program.entry)

    # ------------------------------------------------------------ output

    @staticmethod
    def _resolve_out(out: Any) -> Callable[[str], Any]:
        if out is None:
            return lambda s: sys.stdout.write(s)
        if isinstance(out, list):
            return out.append
        if hasattr(out, "write"):
            return out.write
        if callable(out):
            return out
        raise TypeError("out must be a list, a stream or a callable")

    @property
    def out(self) -> Any:
        return self._out

    @out.setter
    def out(self, out: Any) -> None:
        self._out = out
        self._writer[0] = self._resolve_out(out)

    def write(self, text: str) -> None:
        self._writer[0](text)

    # ------------------------------------------------------------ code

    def rblob(self, bid: str) -> RBlob:
        rb = self.rblobs.get(bid)
        if rb is None:
            raise ShapeError("RuntimeError", f"unknown function blob {bid[:16]}")
        if rb.code is None:
            self._thread(rb)
        return rb

    def _thread(self, rb: RBlob) -> None:
        try:
            cb = T.compile_blob(rb.blob, self.program.blobs, self.generic)
            ns = dict(_G)
            exec(cb.code, ns)   # defines the unit factories from template code (see threader.py)
        except Exception as e:
            # Blob validation checks structure and stack depths, not every operand's meaning;
            # stored code that still cannot be threaded is refused here, never run.
            raise ShapeError("RuntimeError", f"Code blob {rb.bid[:12]} cannot be run: it is "
                             f"invalid ({type(e).__name__})") from None
        writer = self._writer

        def OUT(s: str, _w=writer) -> None:
            _w[0](s)

        env = cb.env
        code: list = [None] * len(rb.blob.code)
        for factory in ns["__factories"]:
            units = factory(self, self.frames, self.rblobs, self.max_depth, OUT, self.methods,
                            self.prelude, env["K"], env["LN"], env["CH"], env["CN"], env["BI"],
                            env["BF"], env["MT"], env["MC"], env["DS"], env["PN"], code)
            for pc, fn in units:
                code[pc] = fn
        rb.units = list(code)
        rb.code = code
        b = rb.blob
        if not b.is_async and not b.annotated:
            if b.has_self:
                rb.fastm = b.params
            else:
                rb.fast = b.params
        if self.jit is not None:
            self.jit.threaded(rb)
        if self._stop_requested:
            self._patch(rb)

    def _init_prelude(self) -> None:
        """Fill the prelude table: run the prelude's module code, which binds its functions.
        Its closures hold no state (nothing assigns to them once bound; snapshots leave them
        out), so the table is built once per prelude id and then shared by every machine of
        the process that runs that prelude with all of its code."""
        prog = self.program
        table = _PRELUDE_TABLES.get(prog.prelude)
        if (table is not None and prog.prelude in prog.blobs
                and all(c.bid in prog.blobs for c in table.values())):
            self.prelude.update(table)
            return
        self._run_prelude()
        if len(_PRELUDE_TABLES) >= 64:
            _PRELUDE_TABLES.clear()
        _PRELUDE_TABLES[prog.prelude] = dict(self.prelude)

    def _run_prelude(self) -> None:
        prog = self.program
        rb = self.rblob(prog.prelude)
        R = [None] * rb.blob.nlocals
        self.frames.append(new_frame(rb.code, rb.start, R, rb.bid, None))
        self._loop(None)
        for slot, name in enumerate(rb.blob.local_names):
            v = R[slot]
            if type(v) in CELL_TYPES:
                v = v.v
            if type(v) is Closure and name.startswith("__"):
                self.prelude[name] = v
        self.status = "ready"
        self.result = None

    def push_module(self, bid: str) -> None:
        rb = self.rblob(bid)
        R = [None] * rb.blob.nlocals
        self.frames.append(new_frame(rb.code, rb.start, R, rb.bid, None))

    # ------------------------------------------------------------ running

    def run(self, max_steps: Optional[int] = None) -> Any:
        """Run until the program ends (returns its value) or a stop (returns STOPPED)."""
        if not self.frames:
            return self.result
        if self.pending == "snapshot":
            # Restored from a snapshot taken inside snapshot(): that call now returns Resumed.
            self.pending = None
            self.frames[-1][REGS].append(Snap.SNAPSHOT_RESUMED)
        self.status = "running"
        # Shape calls never recurse in Python, but value operations on deeply nested data
        # (display, ==) do; give them room (Python 3.11 runs them without C recursion).
        old_limit = sys.getrecursionlimit()
        if old_limit < VALUE_RECURSION_LIMIT:
            sys.setrecursionlimit(VALUE_RECURSION_LIMIT)
        try:
            return self._loop(max_steps)
        finally:
            # Restore only what this call changed (another engine may have raised it since).
            if old_limit < VALUE_RECURSION_LIMIT and sys.getrecursionlimit() == VALUE_RECURSION_LIMIT:
                sys.setrecursionlimit(old_limit)

    def _loop(self, max_steps: Optional[int]) -> Any:
        FR = self.frames
        steps = 0
        f = FR[-1]
        code = f[CODE]
        R = f[REGS]
        pc = f[PC]
        try:
            # A unit returns the next pc in its frame, or -1 after pushing or popping a frame
            # (the loop then switches to the new top frame), or -2 (stop) / -3 (program end).
            if max_steps is None:
                while True:
                    pc = code[pc](R)
                    if pc < 0:
                        if pc != -1:
                            break
                        f = FR[-1]
                        code = f[CODE]
                        R = f[REGS]
                        pc = f[PC]
            elif self.jit is None:
                while True:
                    if steps >= max_steps:
                        FR[-1][PC] = pc
                        self.steps += steps
                        self.status = "stopped"
                        return STOPPED
                    pc = code[pc](R)
                    steps += 1
                    if pc < 0:
                        if pc != -1:
                            break
                        f = FR[-1]
                        code = f[CODE]
                        R = f[REGS]
                        pc = f[PC]
            else:
                # Compiled code counts its steps on the same budget (vm/jit/).
                left = self._left = [max_steps]
                try:
                    while True:
                        if left[0] <= 0:
                            FR[-1][PC] = pc
                            self.steps += max_steps
                            self.status = "stopped"
                            return STOPPED
                        left[0] -= 1
                        pc = code[pc](R)
                        if pc < 0:
                            if pc != -1:
                                break
                            f = FR[-1]
                            code = f[CODE]
                            R = f[REGS]
                            pc = f[PC]
                finally:
                    steps = max_steps - left[0]
                    self._left = None
        except ShapeError as e:
            self.status = "error"
            self._escaping(e, pc)
            raise
        except ShapeExit:
            self.status = "exit"
            raise
        except RecursionError:
            self.status = "error"
            err = stack_overflow()
            self._escaping(err, pc)
            raise err from None
        self.steps += steps
        if pc == -3:
            self.status = "done"
            return self.result
        if pc == -2:
            self._unpatch()
            self.status = "stopped"
            return STOPPED
        raise AssertionError(f"bad unit result {pc}")

    def _escaping(self, e: ShapeError, pc: int) -> None:
        """`e` escapes the program: give it its position and the Shape call stack. Only here,
        never while running, are positions looked up (the frames are still all there)."""
        if not self.frames:
            return
        pcs = self._frame_pcs(e, pc)
        self._locate(e, pcs)
        e.stack = self._call_stack(pcs)

    def _frame_pcs(self, e: ShapeError, pc: int) -> list[int]:
        """The instruction each frame is at: the one that raised for the top frame (from the
        traceback of the threaded code), the call that made the frame above for the others."""
        FR = self.frames
        # An error in JIT-compiled code comes with the pc the JIT rebuilt its frames at.
        top = getattr(e, "jit_pc", None)
        if top is None:
            top = T.pc_from_traceback(e.__traceback__, FR[-1][BID], self.generic)
        if top is None:
            top = pc if pc >= 0 else FR[-1][PC]
        return [self._call_pc(FR[i], FR[i + 1][KIND]) for i in range(len(FR) - 1)] + [top]

    def _call_pc(self, frame: list, callee_kind: Optional[str]) -> int:
        """The call a frame is making. Its pc is its return address: after the call, or after
        the call and the POP of a call statement, whose frame the callee's kind "drop" marks —
        but the pull of a loop over an iterator (iter_for) returns to the loop's FOR_NEXT
        itself, and is the loop's: its call is the FOR_SETUP just before."""
        pc = frame[PC]
        if callee_kind != "drop":
            return pc - 1
        blob = self.program.blobs.get(frame[BID])
        if blob is not None and 0 <= pc < len(blob.code) and blob.code[pc][0] == O.FOR_NEXT:
            return pc - 1
        return pc - 2

    def _position(self, i: int, pc: int) -> tuple[Optional[int], Optional[int]]:
        """Where frame i's instruction pc is in the source; prelude code has no position."""
        bid = self.frames[i][BID]
        blob = self.program.blobs.get(bid)
        if blob is None or bid in self._internal or not 0 <= pc < len(blob.code):
            return None, None
        return blob.line_at(pc)

    def _locate(self, e: ShapeError, pcs: list[int]) -> None:
        """Give `e` the source position of the instruction that raised it. Code without a
        position of its own (prelude functions, annotation wrappers, the checks of a function's
        declared types) reports its caller's call, which for code inlined into a frame is the
        inlined call (Blob.inlined)."""
        for i in range(len(pcs) - 1, -1, -1):
            line, col = self._position(i, pcs[i])
            if line is None:
                blob = self.program.blobs.get(self.frames[i][BID])
                if blob is not None and self.frames[i][BID] not in self._internal:
                    for _, _, _, ln, c in reversed(blob.inlined_at(pcs[i])):
                        if ln:
                            line, col = ln, c or None
                            break
            if line is not None or i == 0:
                e.at(line, col)
                return

    def _call_stack(self, pcs: list[int]) -> list[tuple[str, Optional[int], Optional[int]]]:
        """The Shape call stack, most recent call last (ShapeError.stack): an entry per running
        function and per call inlined into it (Blob.inlined). Prelude frames are left out, and
        code that is no call of its own (not in STACK_KINDS: struct defaults, annotation
        wrappers and handlers, await thunks) lends its position to the frame that made it, as
        the reference evaluator shows it."""
        out: list[tuple[str, Optional[int], Optional[int]]] = []
        here: Optional[tuple[Optional[int], Optional[int]]] = None
        seen: dict[tuple[str, int], tuple] = {}   # deep recursions repeat the same few frames
        for i in range(len(pcs) - 1, -1, -1):
            bid = self.frames[i][BID]
            if bid in self._internal or bid not in self.program.blobs:
                continue
            key = (bid, pcs[i])
            if key not in seen:
                blob = self.program.blobs[bid]
                seen[key] = (blob, self._position(i, pcs[i]), blob.inlined_at(pcs[i]))
            blob, pos, inlined = seen[key]
            if here is not None:
                pos, here = here, None
            for _, _, name, line, col in reversed(inlined):
                out.append((name, *pos))
                pos = (line or None, col or None)
            if blob.kind in STACK_KINDS:
                out.append((STACK_KINDS[blob.kind] or blob.name or LAMBDA_FRAME, *pos))
            elif pos[0] is not None:
                here = pos
        return call_stack(out)

    # ------------------------------------------------------------ safepoints

    def request_stop(self) -> None:
        """Stop at the next unit boundary (safe from a signal handler)."""
        self._stop_requested = True
        if self.jit is not None:
            self.jit.stop[0] = True       # compiled code polls it at loop heads and calls
        for rb in list(self.rblobs.values()):
            if rb.code is not None:
                self._patch(rb)

    def _patch(self, rb: RBlob) -> None:
        code = rb.code
        FR = self.frames
        for i, u in enumerate(rb.units):
            if u is not None:
                code[i] = _stub(FR, i)

    def _unpatch(self) -> None:
        self._stop_requested = False
        if self.jit is not None:
            self.jit.stop[0] = False
        for rb in self.rblobs.values():
            if rb.code is not None:
                rb.code[:] = rb.units

    # ------------------------------------------------------------ calls (slow paths)

    def push_frame(self, rb: RBlob, fn: Closure, args: list, nxt: int,
                   task: Optional[str] = None) -> int:
        """Push a frame for `fn` (args already checked; self first for methods)."""
        FR = self.frames
        if len(FR) >= self.max_depth:
            h_overflow()
        b = rb.blob
        given = len(args) - (1 if b.has_self else 0)
        pc = b.entries[given - b.min_args]
        missing = b.params - given
        R = list(args)
        if missing:
            R.extend([None] * missing)
        R += fn.cells
        R += rb.blank
        FR[-1][PC] = nxt
        FR.append(new_frame(rb.code, pc, R, rb.bid, task))
        return -1

    def iter_for(self, loop: IterLoop, pc: int) -> int:
        """A `for` loop over an iterator needs its next element (runtime/iteration.py PULL):
        run the prelude's `__iter_for(walk)` in a frame of its own, whose result is dropped,
        and come back to the loop's FOR_NEXT at `pc`, which then finds the element in the walk
        (so a snapshot inside an adapter's callback is an ordinary frame)."""
        fn = self.prelude["__iter_for"]
        return self.push_frame(self.rblob(fn.bid), fn, [loop.walk], pc, "drop")

    def call_closure(self, fn: Closure, args: list, nxt: int, self_value: Any = UNINIT) -> int:
        rb = self.rblob(fn.bid)
        b = rb.blob
        n = len(args)
        if n > b.params or n < b.min_args:
            raise arity_error(b, n)
        if b.has_self:
            args = [None if self_value is UNINIT else self_value] + args
        # An async call runs now; its frame's result is wrapped in a Task on return.
        return self.push_frame(rb, fn, args, nxt, "async" if b.is_async else None)

    def call(self, fn: Any, args: list, nxt: int) -> int:
        t = type(fn)
        if t is Closure:
            return self.call_closure(fn, args, nxt)
        if t is AnnotatedFunction:
            return self.call_closure(fn.wrapper, [fn.fn, list(args)], nxt)
        if t is BoundMethod:
            inner = fn.fn
            if type(inner) is AnnotatedFunction:
                return self.call(_bind_annotated(inner, fn.receiver), args, nxt)
            return self.call_closure(inner, args, nxt, fn.receiver)
        R = self.frames[-1][REGS]
        if t is V.BuiltinFunction:
            vm = VM_BUILTINS.get(fn.name)
            if vm is fn:
                if fn.name == "snapshot":
                    return self.snapshot(-1, nxt)
                R.append(self.vm_builtin(fn.name, args))
            else:
                R.append(fn.fn(args))
            return nxt
        if t is VariantConstructor:
            if fn.kind != "tuple":
                raise Rec.not_a_tuple_variant(fn.enum, fn.name)
            R.append(Rec.build_tuple_variant(fn.enum, fn.name, fn.types, args, self.decls))
            return nxt
        if t is StructType:
            raise Rec.constructed_with_braces(fn.name)
        raise Calls.not_callable(fn)

    def call_var(self, fn: Any, args: list, nxt: int) -> int:
        """A call whose arguments were spread into one list (it may hold `&x` cells)."""
        if any(type(a) in CELL_TYPES for a in args):
            return self.call_ref(fn, args, [i for i, a in enumerate(args)
                                            if type(a) in CELL_TYPES], nxt)
        return self.call(fn, args, nxt)

    def call_ref(self, fn: Any, args: list, refs: list, nxt: int) -> int:
        """A call with `&x` arguments: cells go to by-reference parameters, values elsewhere."""
        byref: set = set()
        if type(fn) is Closure:
            b = self.program.blobs[fn.bid]
            if not b.is_async:
                byref = set(b.ref_params)
        args = list(args)
        for i in refs:
            if i not in byref and type(args[i]) in CELL_TYPES:
                v = args[i].v
                if v is UNINIT:
                    h_uninit("?")
                args[i] = v
        return self.call(fn, args, nxt)

    def call_method(self, obj: Any, name: str, args: list, nxt: int) -> int:
        kind, target = Calls.method_target(obj, name, len(args), self.methods)
        if kind == Calls.TYPE:
            self.frames[-1][REGS].append(Me.call_method(obj, name, args) if args
                                         else Ty.type_of(obj, self.decls))
            return nxt
        if kind == Calls.EXTEND or kind == Calls.IMPL:
            if type(target) is AnnotatedFunction:
                return self.call(_bind_annotated(target, obj), args, nxt)
            return self.call_closure(target, args, nxt, obj)
        if kind == Calls.FIELD:
            return self.call(target, args, nxt)
        if kind == Calls.PRELUDE:
            return self.call_closure(self.prelude[target], [obj] + args, nxt)
        self.frames[-1][REGS].append(Me.call_method(obj, name, args))
        return nxt

    def build_struct(self, head: Any, desc: list, vals: list, nxt: int) -> int:
        if type(head) is StructType and head.defaults is not None and len(desc[0]) == 1:
            names = desc[1]
            if any(mode == 2 and fname not in names for fname, _, mode, _ in head.fields):
                return self.call_closure(head.defaults, [head, dict(zip(names, vals))], nxt)
        self.frames[-1][REGS].append(h_struct_literal(head, desc, vals, self.decls))
        return nxt

    def convert(self, value: Any, target: list, fallible: int, nxt: int) -> int:
        """`value as T` (or `as T?`: fallible): an impl's conversion method (runtime/traits.py),
        else runtime/types.py convert / try_convert."""
        fn = Tr.conversion(value, target[0], fallible, self.methods)
        if fn is not None:
            if type(fn) is AnnotatedFunction:
                return self.call(_bind_annotated(fn, value), [], nxt)
            return self.call_closure(fn, [], nxt, value)
        self.frames[-1][REGS].append(Ty.try_convert(value, target) if fallible
                                     else Ty.convert(value, target, self.decls))
        return nxt

    def operator(self, op: int, binary: int, x: Any, y: Any, nxt: int) -> int:
        """OPERATOR_TRAIT: `x op y` (binary) or `-x`, by the method of an impl of the operator's
        trait when x's type has one (runtime/traits.py), else as BINARY / UNARY_NEG."""
        name = O.BINOPS[op] if binary else "neg"
        fn = Tr.operator_method(x, name, self.methods)
        if fn is not None:
            args = [y] if binary else []
            if type(fn) is AnnotatedFunction:
                return self.call(_bind_annotated(fn, x), args, nxt)
            return self.call_closure(fn, args, nxt, x)
        self.frames[-1][REGS].append(Op.binary_op(name, x, y) if binary
                                     else Op.unary_op("-", x))
        return nxt

    def ret(self, value: Any) -> int:
        f = self.frames.pop()
        if f[KIND] is None:
            self.frames[-1][REGS].append(value)
            return -1
        return self.ret_task(f, value)

    def ret_task(self, f: list, value: Any) -> int:
        kind = f[KIND]
        if kind == "async":
            # The frame of an async call: its value becomes a Task.
            self.frames[-1][REGS].append(Task(value))
        elif kind != "drop":
            raise ShapeError("RuntimeError", f"bad frame kind {kind!r}")
        # "drop": the caller discards the result (a call statement), so nothing is pushed.
        return -1

    def halt(self, value: Any) -> int:
        self.result = value
        self.frames.pop()
        return -3

    def prelude_fn(self, name: str) -> Closure:
        return self.prelude[name]

    def define_method(self, type_name: str, name: str, fn: Closure, impl: int = 0) -> None:
        """An `extend` method of `type_name`, or (impl) one an impl gives it (runtime/traits.py)."""
        key = Tr.impl_key(type_name) if impl else type_name
        self.methods.setdefault(key, {})[name] = fn

    def arity(self, f: Any) -> int:
        while type(f) is AnnotatedFunction or type(f) is BoundMethod:
            f = f.fn
        if type(f) is Closure:
            return self.program.blobs[f.bid].params
        return 1

    def vm_builtin(self, name: str, args: list) -> Any:
        pure = B.BUILTINS.get(name)
        if pure is not None:
            return pure.fn(args)
        if name == "print":
            self.write(B.print_line(args))
            return None
        if name == "exit":
            raise exit_with(args)
        if name == "__arity":
            return self.arity(B.one_argument("__arity", args))
        raise ShapeError("RuntimeError", f"unknown builtin {name}")

    # ------------------------------------------------------------ snapshots

    @staticmethod
    def default_snapshot(machine: "Machine") -> str:
        return Snap.placeholder_id(machine.snapshot_count)

    def snapshot(self, ordinal: int, nxt: int) -> int:
        """snapshot(): the state is consistent here (the call is pending on the top frame)."""
        self.frames[-1][PC] = nxt
        self.pending = "snapshot"
        self.pending_ordinal = ordinal
        try:
            sid = self.on_snapshot(self)
        finally:
            self.pending = None
            self.pending_ordinal = None
        self.snapshot_count += 1
        self.frames[-1][REGS].append(Snap.snapshot_hash(sid))
        return nxt

    def export_state(self) -> dict:
        """The machine state as plain data (shared with the live machine, not copied)."""
        return {
            "frames": [stored(f) for f in self.frames],
            "methods": self.methods,
            # The prelude's closures are rebuilt from its code on resume (they hold no state),
            # which keeps about 1.6 KB of fixed overhead out of every snapshot.
            "prelude": None,
            "pending": self.pending,
            "pending_ordinal": self.pending_ordinal,
        }

    @classmethod
    def from_state(cls, program: Program, state: dict, out: Any = None,
                   max_depth: int = DEFAULT_MAX_DEPTH,
                   on_snapshot: Optional[Callable[["Machine"], str]] = None,
                   generic: Optional[bool] = None, jit: Optional[str] = None) -> "Machine":
        """A machine continuing `state` (as produced by export_state) on `program`."""
        m = cls(program, out, max_depth, on_snapshot, start=False, generic=generic, jit=jit)
        frames = state["frames"]
        if not isinstance(frames, list):
            raise ShapeError("ResumeError", "snapshot state has no call stack")
        for fr in frames:
            if not (isinstance(fr, list) and len(fr) == STORED_SIZE
                    and type(fr[STORED_BID]) is str and type(fr[STORED_PC]) is int
                    and type(fr[STORED_REGS]) is list and fr[STORED_KIND] in FRAME_KINDS):
                raise ShapeError("ResumeError", "malformed frame in snapshot state")
            bid, pc, R, task = fr[STORED_BID], fr[STORED_PC], fr[STORED_REGS], fr[STORED_KIND]
            if bid not in program.blobs:
                raise ShapeError("ResumeError", f"snapshot refers to unknown code {bid[:16]}")
            rb = m.rblob(bid)
            if not (0 <= pc < len(rb.code)) or rb.units[pc] is None:
                raise ShapeError("ResumeError", "snapshot position is not an instruction boundary")
            if len(R) < rb.blob.nlocals:
                raise ShapeError("ResumeError", "snapshot frame is missing registers")
            m.frames.append(new_frame(rb.code, pc, R, bid, task))
        methods = state.get("methods") or {}
        prelude = state.get("prelude") or {}
        if not isinstance(methods, dict) or not isinstance(prelude, dict):
            raise ShapeError("ResumeError", "malformed snapshot state")
        # Threaded code holds these dicts, so they are filled in place.
        m.methods.clear()
        m.methods.update(methods)
        m.prelude.clear()
        m.prelude.update(prelude)
        pending = state.get("pending")
        if pending not in (None, "snapshot"):
            raise ShapeError("ResumeError", "malformed snapshot state")
        m.pending = pending
        if not m.prelude:
            # The threaded code holds on to m.frames itself, so the list is reused, not replaced.
            saved = list(m.frames)
            m.frames.clear()
            m._init_prelude()
            m.frames.extend(saved)
        return m


def _bind_annotated(fn: AnnotatedFunction, receiver: Any) -> AnnotatedFunction:
    inner = fn.fn
    if type(inner) is AnnotatedFunction:
        inner = _bind_annotated(inner, receiver)
    else:
        inner = BoundMethod(inner, receiver)
    return AnnotatedFunction(fn.name, inner, fn.wrapper)


def _stub(FR: list, pc: int) -> Callable[[list], int]:
    def stop(R: list) -> int:
        FR[-1][PC] = pc
        return -2
    return stop
