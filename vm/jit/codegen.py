"""Compiling a region of a blob — a whole function, or one loop — to one Python function.

The generator is the threader's (vm/threader.py `_Gen`): every straight-line instruction is
translated by the threader's own template for it, so an operation's fast path and its fallback
to the shared rule in runtime/ are written once. What differs is where values live and how
control moves:

- registers are Python locals `r0, r1, …`; the operand stack between blocks lives in `s0, s1, …`
  (inside a block it is symbolic, as in a threaded unit);
- control flow is structured (vm/jit/flow.py finds the blocks and loops): a loop is a
  `while True:`, a two-way branch an `if`/`else` that meets again where both arms do, an exit
  from a loop a `break`, a jump back to its head a `continue`;
- a call of a compiled function is a direct Python call `g(depth - 1, cells, args…)` (depth: how
  many more compiled calls may nest before the VM takes over), on the VM's fast path only (a closure of the right arity): in every other case, and at
  `snapshot()`, the compiled code *deoptimises* (raises Deopt with the pc and the operand stack)
  and the VM runs that instruction itself (vm/jit/deopt.py);
- the JIT has its own templates for register and cell instructions, jumps, loops, matches, calls
  and returns; an instruction whose threader template touches the VM's frames or registers, and
  any transfer instruction it does not know, makes the blob stay on the VM (Unsupported), so a
  new opcode never breaks compiled code.

Two variants of every region are generated: *plain*, and *counting* for runs with a step
budget, which counts the VM's dispatches on every edge (flow.Edge.disp) and deoptimises where
the budget runs out, exactly where the VM would stop. Both poll the machine's stop flag at every
loop head and function entry.

The generated source is made of fixed templates and validated integers only (slots, pcs,
constant indices), like the threader's. Each line of it maps back to the instruction it came
from, and each line that calls a compiled function to its *site*: the return address and result
kind the VM would give that call, and the names of the operand-stack entries below it — what a
caller's VM frame is rebuilt from when a callee deoptimises.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from shapelang.runtime import patterns as P
from shapelang.runtime.values import EnumValue, StructValue
from shapelang.vm import opcodes as O
from shapelang.vm import threader as T
from shapelang.vm.bounded import Bounded
from shapelang.vm.jit.flow import CALLS, Block, Edge, Loop, Unsupported, flow_of

JIT_VERSION = 2          # part of the cache key of generated code

# Instructions whose threader template is used as it is (straight-line, touches only the
# operand stack, constants and helpers). Anything else is either handled below or refused.
_OWN = {O.LOAD_LOCAL, O.LOAD_CELL, O.LOAD_FREE, O.STORE_LOCAL, O.STORE_CELL, O.STORE_FREE,
        O.MAKE_CELL, O.WRAP_CELL, O.MAKE_CLOSURE, O.FOR_SETUP, O.DESTRUCTURE, O.LIST_APPEND,
        O.TRY, O.MATCH_ERROR}
# What a borrowed template must not mention: the VM's registers, frames and code, a return.
_VM_STATE = re.compile(r"(?<![\w.])(R|FR|CODE)(?!\w)|\breturn\b|\bM\.(call|ret|halt|snapshot|"
                       r"build_struct|push_frame|ret_task)\b")
_NAME = re.compile(r"[rst]\d+$")

# The kinds of value the generated code tracks, and how a guard tests each (what type(v) is).
KINDS = {"int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list",
         "dict": "dict", "none": None, "range": "RangeValue", "struct": "StructValue",
         "enum": "EnumValue"}
GUARDED = ("int", "float", "str", "bool", "list", "dict", "none", "struct", "enum")
INT_LO, INT_HI = "-9223372036854775808", "9223372036854775807"
_NUM = ("int", "float")
_BOOLS = ("True", "False")
# The threader's templates of these builtins test the kinds named here (vm/threader.py).
_TYPE_TESTS = {"__is_number": _NUM, "__is_array": ("list",), "__is_object": ("dict",)}
_ORDER = ("<", "<=", ">", ">=")


def kind_of(v: Any) -> Optional[str]:
    """The kind of a value, as a region's entry guard can check it."""
    t = type(v)
    if v is None:
        return "none"
    if t is StructValue:
        return "struct"
    if t is EnumValue:
        return "enum"
    for k in GUARDED:
        if KINDS[k] == t.__name__ and t.__module__ == "builtins":
            return k
    return None


def guard_test(name: str, kind: str) -> str:
    return f"{name} is None" if kind == "none" else f"type({name}) is {KINDS[kind]}"


@dataclass
class Site:
    """A compiled call, as the VM frame of its caller records it."""
    ret: int                    # the caller's pc while the callee runs
    kind: Optional[str]         # the callee frame's result kind (None or "drop")
    stack: tuple[str, ...]      # locals holding the caller's operand stack below the call


@dataclass
class Line:
    rel: int
    text: str
    pc: int
    site: Optional[Site] = None


@dataclass
class If:
    cond: str
    pc: int
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)


@dataclass
class While:
    pc: int
    body: list = field(default_factory=list)


@dataclass
class For:
    """A loop counting through ints or walking an array or string, as Python's `for var in
    over` (see _counted_loops); `orelse` runs when `over` is exhausted (the loop's exit at its
    head)."""
    pc: int
    var: str
    over: str                   # range(start, end), or the iterator of an array or string
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)


@dataclass
class Ctx:
    """A loop being emitted: its body, or (path) one of its exit paths."""
    loop: Loop
    path: bool = False


@dataclass(frozen=True)
class Region:
    """What to compile: a function from its entry, or the loop headed at `entry`; `spec` the
    kinds of registers the code may assume on entry ((slot, kind) pairs: what they held when
    the region got hot), checked by a guard there."""
    kind: str                   # "entry" or "osr"
    entry: int
    spec: tuple = ()


@dataclass
class JitCode:
    """Generated code for one region of one blob (machine-independent, cached)."""
    bid: str
    region: Region
    counting: bool
    code: Any                   # the module code object defining `__factory`
    name: str                   # the function's name
    lines: list                 # per source line (1-based index - 1): (pc, Site | None)
    nlocals: int
    leaders: frozenset
    env: dict
    source: str


class JitGen(T._Gen):
    def __init__(self, blob: Any, blobs: dict, counting: bool) -> None:
        super().__init__(blob, blobs, False)
        # What does not depend on the region or its specialisation is the blob's, read from
        # the analyses kept by blob id (threader.units_of, flow.flow_of).
        self.analyse()
        self.counting = counting
        self.flow = flow_of(blob, blobs)
        self.exits = dict(self.flow.exits)
        self.depths = self.flow.depths
        self.cur: list = []
        self.budget = 0
        self.region: Optional[Region] = None
        self.region_nodes: set[int] = set()
        self.loops: dict[int, Loop] = {}
        self.rpo: dict[int, int] = {}
        self.res = ""
        self.carry: Optional[tuple] = None
        self.preds: dict[int, int] = {}
        # Kinds (vm/jit/codegen.py KINDS) of registers known at the current point, and what
        # each block may assume on entry (registers, operand stack), widened until every way
        # into it agrees (the generation is repeated until nothing changes).
        self.rt: dict[int, str] = {}
        self.assume: dict[int, tuple[dict, list]] = {}
        self.changed = False
        self.emitted: set[int] = set()       # blocks this generation has emitted so far
        self.oneshot = False
        self.origin: dict[str, int] = {}      # stack entry -> the register it was loaded from
        self.caches: list[str] = []           # inline caches of call sites (locals)
        self.arity_caches: list[str] = []     # the last callback whose arity was asked
        self.inline_seen: list[str] = []      # the last closure an inlined call site ran
        self.int_lt: dict[str, tuple] = {}    # t -> (x, y): `t = x < y` of two ints
        self.tests: set[str] = set()          # t of `t = x < y` (…) that cannot fail
        self.ret_kinds: set = set()           # kinds of what the function returns
        self.ret_kind: Optional[str] = None   # what recursive calls are assumed to return
        self.self_calls = 0
        self.unguarded_calls = 0        # recursive calls made to the copy without the guard
        self.inlined = 0                # calls replaced by the callee's body
        self.unrolled = 0               # recursive calls replaced by the function's body
        # A compiled call needs `depth_test` true and passes `depth_next` on (Python depth).
        self.depth_test, self.depth_next = "_d", "_d - 1"
        self.fname = ""
        self.frame_items: tuple[str, list] = ("", [])   # frame_args of the call being made
        self.speculate: dict[int, str] = {}

    # ------------------------------------------------------------ emission helpers

    def line(self, text: str, site: Optional[Site] = None) -> None:
        self.cur.append(Line(self.ind, text, self.pc, site))

    def tmp(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def pop(self) -> str:
        if not self.stack:
            raise Unsupported("operand stack underflow in a block")
        return self.stack.pop()

    def ident(self, x: str) -> str:
        if _NAME.match(x):
            return x
        return super().ident(x)

    def materialise(self) -> None:
        # Compiled code keeps the operand stack in locals across a call; a caller's frame is
        # rebuilt from them, so each entry must be a named local.
        for i, x in enumerate(self.stack):
            if not _NAME.match(x):
                t = self.tmp()
                self.line(f"{t} = {x}")
                self.stack[i] = t

    def clobber(self, slot: int) -> None:
        """Register `slot` is about to change: stack entries that name it take a copy."""
        name = self.reg(slot)
        for i, x in enumerate(self.stack):
            if x == name:
                t = self.tmp()
                self.line(f"{t} = {name}")
                self.stack[i] = t

    def reg(self, slot: int) -> str:
        return f"r{slot}"

    def set_reg(self, slot: int, kind: Optional[str]) -> None:
        name = self.reg(slot)
        if kind in KINDS:
            self.rt[slot] = kind
            self.kinds[name] = kind
        else:
            self.rt.pop(slot, None)
            self.kinds.pop(name, None)

    def arrive(self, t: int, stack: list) -> None:
        """Control reaches block t with the current register kinds and this operand stack:
        t may assume only what every way into it agrees on."""
        regs = dict(self.rt)
        kinds = [self.kinds.get(x) for x in stack]
        old = self.assume.get(t)
        if old is None:
            self.assume[t] = (regs, kinds)
            return
        new_regs = {k: v for k, v in old[0].items() if regs.get(k) == v}
        new_kinds = [a if a == b else None for a, b in zip(old[1], kinds)]
        if new_regs != old[0] or new_kinds != old[1]:
            self.assume[t] = (new_regs, new_kinds)
            # A block not emitted yet will be emitted with what every way into it agrees on;
            # only one emitted with more than that needs the generation repeated.
            if t in self.emitted:
                self.changed = True

    def stack_tuple(self, items: list) -> str:
        return "(" + "".join(f"{x}, " for x in items) + ")"

    def deopt(self, pc: int, items: list, counted: bool = True) -> None:
        """Leave compiled code for the VM at instruction pc with this operand stack."""
        self.line(f"raise Deopt({pc}, {self.stack_tuple(items)}, {counted})")

    def count(self, disp: tuple, items: list) -> None:
        """The VM's dispatches at `disp`, on a run with a step budget (each may be where the
        budget runs out, and so where the VM stops)."""
        if not self.counting:
            return
        for p in disp:
            self.line("if _L[0] <= 0:")
            self.ind += 1
            self.deopt(p, items, False)
            self.ind -= 1
            self.line("_L[0] -= 1")

    def dispatches_from(self, pc: int, cont: int, dropped: bool) -> list[tuple[int, bool]]:
        """The VM's dispatches when a call at pc-1 leaves its result (if not `dropped`, then
        popped by a call statement's POP) and returns pc to the dispatch loop, up to where
        compiled code goes on (`cont`): [(pc, result still on the stack)]."""
        out = [(pc, True)]
        on_stack = True
        p = pc
        code = self.blob.code
        for _ in range(32):
            if p == cont:
                return out
            op = code[p][0]
            if op == O.POP and dropped and on_stack:
                rec = self.exits.get((p, "fall"))
                on_stack = False
            elif op == O.JUMP:
                rec = self.exits.get((p, "jump"))
            else:
                rec = None
            if rec is None:
                break
            p, chained = rec
            if not chained:
                out.append((p, on_stack))
        if p != cont:
            raise Unsupported(f"cannot follow the VM from {pc} to {cont}")
        return out

    # ------------------------------------------------------------ straight-line instructions

    def instr(self, op: int, a: int, b: int, pc: int) -> bool:
        if op in _OWN:
            self.own(op, a, b, pc)
            return False
        if O.CLASS[op] != "V":
            raise Unsupported(f"no JIT template for {O.NAMES[op]}")
        if self.typed(op, a, b, pc):
            return False
        before = len(self.cur)
        super().instr(op, a, b, pc)
        for ln in self.cur[before:]:
            if _VM_STATE.search(ln.text):
                raise Unsupported(f"{O.NAMES[op]} uses the VM's frame")
        if op in (O.BUILD_LIST, O.BUILD_LIST_SPREAD):
            self.kinds[self.stack[-1]] = "list"
        elif op == O.BUILD_OBJECT:
            self.kinds[self.stack[-1]] = "dict"
        elif op == O.BUILD_RECORD:
            self.kinds[self.stack[-1]] = "struct" if self.blob.consts[a][0] == "struct" else "enum"
        elif op == O.MAKE_VARIANT:
            self.kinds[self.stack[-1]] = "enum"
        elif op == O.MAKE_RANGE:
            self.kinds[self.stack[-1]] = "range"
        elif op == O.CALL_BUILTIN and self.blob.consts[a] == "range" and b <= 2:
            self.kinds[self.stack[-1]] = "range"     # (with a step it may be an array)
        elif op == O.CALL_BUILTIN and self.blob.consts[a] == "to_string":
            self.kinds[self.stack[-1]] = "str"
        return False

    # ------------------------------------------------------------ specialised templates
    # Where the kinds of the operands are known, the common case of an operation is inlined
    # without testing them; what it cannot do (an int result beyond 64 bits) leaves for the VM,
    # which runs the instruction by its rule (runtime/operators.py).

    def typed(self, op: int, a: int, b: int, pc: int) -> bool:
        """Emit a specialised template for what the kinds allow; False when there is none."""
        L = self.line
        st = self.stack
        if op == O.UNARY_NEG and st:
            x = st[-1]
            k = self.kind(x)
            if k not in _NUM:
                return False
            self.pop()
            t = self.tmp()
            L(f"{t} = -{x}")
            if k == "int":
                L(f"if {t} > {INT_HI}:")
                self.ind += 1
                self.deopt(pc, self.stack + [x])
                self.ind -= 1
            self.push(t, k)
            return True
        if op == O.GET_INDEX and len(st) >= 2:
            x, i = st[-2], st[-1]
            kx, ki = self.kind(x), self.kind(i)
            t = self.tmp()
            if kx == "list" and ki == "int":
                self.popn(2)
                # A Python list indexed by an int is Shape's rule in range (negative indices
                # count from the end); out of range, the rule decides (None).
                L(f"try: {t} = {x}[{i}]")
                L(f"except IndexError: {t} = index_get({x}, {i})")
            elif kx == "dict" and ki == "str":
                self.popn(2)
                L(f"{t} = {x}.get({i})")
            else:
                self.n -= 1
                return False
            self.push(t)
            return True
        if op == O.SET_INDEX and len(st) >= 3:
            x, i, v = st[-3], st[-2], st[-1]
            kx, ki = self.kind(x), self.kind(i)
            if kx == "list" and ki == "int":
                L(f"try: {x}[{i}] = {v}")
                L(f"except IndexError: index_set({x}, {i}, {v})")
            elif kx == "dict" and ki == "str":
                L(f"{x}[{i}] = {v}")
            else:
                return False
            self.popn(3)
            if b:
                self.push(v)
            return True
        if op == O.GET_ATTR and st:
            x = st[-1]
            kx = self.kind(x)
            attr = self.blob.consts[a]
            t = self.tmp()
            if attr == "length" and kx in ("list", "str"):
                self.pop()
                L(f"{t} = len({x})")
                self.push(t, "int")
            elif kx == "dict":
                self.pop()
                L(f"{t} = {x}.get(K[{a}])")
                self.push(t)
            elif kx == "struct":
                # the threader's template for a struct: its field, else the shared rule
                self.pop()
                L(f"try: {t} = {x}.fields[K[{a}]]")
                L(f"except KeyError: {t} = get_property({x}, K[{a}])")
                self.push(t)
            else:
                self.n -= 1
                return False
            return True
        if op == O.CALL_BUILTIN and b == 1 and st and self.blob.consts[a] == "len":
            x = st[-1]
            if self.kind(x) not in ("list", "str"):
                return False
            self.pop()
            t = self.tmp()
            L(f"{t} = len({x})")
            self.push(t, "int")
            return True
        if op == O.CALL_BUILTIN and b == 1 and st and self.blob.consts[a] == "__arity":
            # The parameter count of a callback, asked once per element by the prelude's array
            # methods: remembered for the last function asked about here (it never changes).
            x = self.ident(self.pop())
            t = self.tmp()
            ic = f"_ar{pc}"
            self.arity_caches.append(ic)
            L(f"if {x} is {ic}f: {t} = {ic}g")
            L(f"else: {t} = {ic}g = BL[{x}.bid].blob.params if type({x}) is Closure else "
              f"M.arity({x}); {ic}f = {x}")
            self.push(t, "int")
            return True
        if op == O.CALL_BUILTIN and b == 1 and st and self.blob.consts[a] in _TYPE_TESTS:
            # the prelude's type tests (`__is_number(c)` per comparison in sort), answered by a
            # known kind
            k = self.kind(st[-1])
            if k not in KINDS:
                return False
            self.pop()
            self.push(repr(k in _TYPE_TESTS[self.blob.consts[a]]), "bool")
            return True
        if op == O.CALL_BUILTIN and b == 2 and len(st) >= 2 and self.blob.consts[a] in ("min", "max"):
            # runtime/operators.py min_max: the later argument wins only when strictly
            # smaller (larger); for two ints no error is possible
            x, y = st[-2], st[-1]
            if self.kind(x) != "int" or self.kind(y) != "int":
                return False
            self.popn(2)
            x, y = self.ident(x), self.ident(y)
            t = self.tmp()
            L(f"{t} = {y} if {y} {'<' if self.blob.consts[a] == 'min' else '>'} {x} else {x}")
            self.push(t, "int")
            return True
        return False

    def binary(self, op: str, x: str, y: str) -> None:
        kx, ky = self.kind(x), self.kind(y)
        L = self.line
        # Bitwise operators and shifts take the threader's template (int results, wrapping).
        if kx in _NUM and ky in _NUM and op != "**" and op not in T._BITWISE:
            t = self.tmp()
            ints = kx == "int" and ky == "int"
            if op in ("+", "-", "*"):
                L(f"{t} = {x} {op} {y}")
                if ints:
                    # beyond 64 bits the result is a number: the VM's rule makes it
                    L(f"if {_out_of_range(op, x, y, t)}:")
                    self.ind += 1
                    self.deopt(self.pc, self.stack + [x, y])
                    self.ind -= 1
                self.push(t, "int" if ints else "float")
            elif op == "/":
                if ints:
                    L(f"if {_all_positive(x, y)}: {t} = {x} // {y}")
                    L("else:")
                    L(f"    {t} = div({x}, {y})")
                    L(f"    if type({t}) is not int:")
                    self.ind += 2
                    self.deopt(self.pc, self.stack + [x, y])
                    self.ind -= 2
                    self.push(t, "int")
                else:
                    L(f"{t} = {x} / {y} if {y} else div({x}, {y})")
                    self.push(t, "float")
            elif op == "%":
                if ints:
                    L(f"{t} = {x} % {y} if {_all_positive(x, y)} else mod({x}, {y})")
                    self.push(t, "int")
                else:
                    L(f"{t} = mod({x}, {y})")
                    self.push(t, "float")
            else:
                L(f"{t} = {x} {op} {y}")
                if op == "<" and ints:
                    self.int_lt[t] = (x, y)
                self.tests.add(t)
                self.push(t, "bool")
            return
        if kx == ky == "bool" and op in ("==", "!=") and x in _BOOLS and y in _BOOLS:
            # both known (a type test its argument's kind answers): the branch on it folds
            t = repr((x == y) == (op == "=="))
            self.push(t, "bool")
            return
        if kx is not None and kx == ky and kx in ("str", "bool", "none") and (
                op in ("==", "!=") or (kx == "str" and op in _ORDER)):
            t = self.tmp()
            L(f"{t} = {x} {op} {y}")
            self.tests.add(t)
            self.push(t, "bool")
            return
        if op == "+" and kx == "str" and ky == "str":
            t = self.tmp()
            L(f"{t} = {x} + {y}")
            self.push(t, "str")
            return
        if op == "+" and kx == "str":
            # The threader's one-line form (a conditional expression) cannot concatenate in
            # place; these two statements can (concat_in_place).
            t = self.tmp()
            L(f"if type({y}) is str: {t} = {x} + {y}")
            L(f"else: {t} = add({x}, {y})")
            self.push(t, "str")
            return
        super().binary(op, x, y)
        if op == "+" and "str" in (kx, ky):
            self.kinds[self.stack[-1]] = "str"     # runtime add: a string with anything

    def own(self, op: int, a: int, b: int, pc: int) -> None:
        L = self.line
        r = self.reg
        if op == O.LOAD_LOCAL:
            self.push(r(a), self.rt.get(a))
            self.origin[r(a)] = a
        elif op == O.LOAD_CELL:
            t = self.tmp()
            L(f"{t} = {r(a)}.v")
            self.push(t)
            self.origin[t] = a
        elif op == O.LOAD_FREE:
            t = self.tmp()
            L(f"{t} = {r(a)}.v")
            L(f"if {t} is UNINIT: h_uninit(LN[{a}])")
            self.push(t)
            self.origin[t] = a
        elif op == O.STORE_LOCAL:
            x = self.pop()
            want = self.speculate.get(a)
            if want is not None and self.kind(x) is None:
                # The register held a `want` when the loop got hot: assume it still does (a
                # failed guard recompiles the loop without assumptions).
                x = self.ident(x)
                L(f"if not ({guard_test(x, want)}): "
                  f"raise GuardFailed({pc}, {self.stack_tuple(self.stack + [x])}, True)")
                self.kinds[x] = want
            if x != r(a) and self.concat_in_place(x, a):
                self.set_reg(a, "str")
            elif x != r(a):
                self.clobber(a)
                L(f"{r(a)} = {x}")
                self.set_reg(a, self.kind(x))
        elif op == O.STORE_CELL:
            x = self.pop()
            L(f"{r(a)}.v = {x}")
        elif op == O.STORE_FREE:
            x = self.pop()
            L(f"if {r(a)}.v is UNINIT: h_uninit(LN[{a}])")
            L(f"{r(a)}.v = {x}")
        elif op == O.MAKE_CELL:
            self.clobber(a)
            L(f"{r(a)} = Cell(UNINIT)")
            self.set_reg(a, None)
        elif op == O.WRAP_CELL:
            self.clobber(a)
            L(f"if type({r(a)}) is not Cell: {r(a)} = Cell({r(a)})")
            self.set_reg(a, None)
        elif op == O.MAKE_CLOSURE:
            caps = self.blob.consts[b]
            t = self.tmp()
            L(f"{t} = Closure(CN[{a}], CH[{a}], [{', '.join(r(s) for s in caps)}])")
            self.push(t)
        elif op == O.FOR_SETUP:
            x = self.pop()
            k = self.kind(x)
            self.clobber(a)
            self.clobber(a + 1)
            L(f"{r(a)}, {r(a + 1)} = for_start({x})")
            # runtime/iteration.py for_start: a range walks ints up to its end
            self.set_reg(a, "int" if k == "range" else k if k in ("list", "str") else None)
            self.set_reg(a + 1, "int")
        elif op == O.DESTRUCTURE:
            x = self.pop()
            desc = self.blob.consts[a]
            self.env["DS"][a] = P.loose(desc)
            self.bind_through(f"DS[{a}]({x}, {{B}})", desc)
        elif op == O.LIST_APPEND:
            x = self.pop()
            L(f"{r(a)}.append({x})")
        elif op == O.TRY:
            x = self.ident(self.pop())
            t = self.tmp()
            L(f"if type({x}) is Ok: {t} = {x}.value")
            L(f"elif {x} is None or type({x}) is Err:")
            self.ind += 1
            self.ret(x)
            self.ind -= 1
            L(f"else: {t} = {x}")
            self.push(t)
        elif op == O.MATCH_ERROR:
            L(f"h_match_error({r(a)})")
        else:  # pragma: no cover - _OWN lists exactly the cases above
            raise AssertionError(O.NAMES[op])

    def append_store(self, pc: int) -> Optional[str]:
        """None: the threader's in-place append clears a VM register; here registers are
        Python locals, and concat_in_place rewrites the store itself."""
        return None

    def concat_in_place(self, x: str, slot: int) -> bool:
        """`s = s + t` on strings: write it as one statement, which CPython runs in place when
        nothing else holds the string (building a string in a loop stays linear)."""
        name = self.reg(slot)
        if (self.kinds.get(x) != "str" or not x.startswith("t")
                or any(e == name or e == x for e in self.stack)):
            return False
        last = self.cur[-1] if self.cur else None
        if not isinstance(last, Line) or last.rel != self.ind:
            return False
        head = f"{x} = {name} + "
        if last.text.startswith(head):
            rest = last.text[len(head):]
            if not _NAME.match(rest) and not re.fullmatch(r"K\[\d+\]", rest):
                return False
            last.text = f"{name} = {name} + {rest}"
            return True
        # binary's two statements for a string plus a value of unknown kind
        test = self.cur[-2] if len(self.cur) >= 2 else None
        m = re.fullmatch(rf"else: {x} = add\({name}, ([rst]\d+)\)", last.text)
        if (m is None or not isinstance(test, Line) or test.rel != self.ind
                or test.text != f"if type({m[1]}) is str: {x} = {name} + {m[1]}"):
            return False
        test.text = f"if type({m[1]}) is str: {name} = {name} + {m[1]}"
        last.text = f"else: {name} = add({name}, {m[1]})"
        return True

    def bind_through(self, call: str, desc: Any) -> None:
        """Run a matcher or binder that binds into a slot list (`call` with {B} for it): the
        slots it binds go through a dict, then into the locals."""
        binds = _binds(desc)
        B = self.tmp()
        cells = ", ".join(f"{s}: {self.reg(s)}" for s, cell in binds if cell)
        self.line(f"{B} = {{{cells}}}")
        self.line(call.format(B=B))
        for s, cell in binds:
            if not cell:
                self.clobber(s)
                self.line(f"{self.reg(s)} = {B}[{s}]")
                self.set_reg(s, None)

    def ret(self, x: str) -> None:
        """Return x from the function (a VM return when the region is a loop)."""
        self.ret_kinds.add(self.kind(x))
        if self.region is not None and self.region.kind == "entry":
            self.line(f"return {x}")
        else:
            self.line(f"return M.ret({x})")

    # ------------------------------------------------------------ calls

    def call(self, argc: int, nxt: int) -> bool:
        pc = nxt - 1
        args = self.popn(argc)
        slot = self.origin.get(self.stack[-1]) if self.stack else None
        f = self.ident(self.pop())
        self.materialise()
        below = list(self.stack)
        full = below + [f] + args
        L = self.line
        res = self.res = self.tmp()
        if self.calls_itself(slot, argc):
            # A recursive call (the callee is the variable named as this function): call this
            # very code, and know what it returns; anything else leaves for the VM.
            # Arguments of the kinds the entry guard tests skip it: the unguarded copy.
            guard = {s: k for s, k in self.entry_guard().items() if s < argc}
            fn = self.fname
            if all(self.kind(args[s]) == k for s, k in guard.items()):
                fn += "_u"
                self.unguarded_calls += 1
            L(f"if ({f} is _me or _is_me({f})) and {self.depth_test}:")
            self.ind += 1
            if not self.unroll(f, args, pc, full):
                self.invoke(fn, f"{f}.cells", ", ".join(args), nxt, full)
            self.ind -= 1
            L("else:")
            self.ind += 1
            self.deopt(pc, full)
            self.ind -= 1
            self.self_calls += 1
            if self.ret_kind is not None:
                self.kinds[res] = self.ret_kind
            return True
        inlined = self.inline_call(f, slot, args, pc, full)
        if inlined:
            L(f"if {res} is NO_VALUE:" if inlined == "partly" else "else:")
            self.ind += 1
        B = self.tmp()
        ic = f"_ic{pc}"
        self.caches.append(ic)
        L("while True:")
        self.ind += 1
        # The callee of the last call made here, while this activation runs (an inline cache).
        L(f"if {f} is {ic}f and _d:")
        self.ind += 1
        self.invoke(f"{ic}g", f"{ic}c", ", ".join(args), nxt, full)
        self.ind -= 1
        L(f"if type({f}) is Closure:")
        L(f"    {B} = BL[{f}.bid]")
        L(f"    if {B}.fast == {argc}:")
        self.ind += 2
        self.compiled_call(f, ", ".join(args), B, nxt, full, ic)
        self.ind -= 2
        # Builtin functions called as values: the machine's `call` runs them in place.
        L(f"elif type({f}) is BuiltinFunction and VM_BUILTINS.get({f}.name) is not {f}:")
        self.ind += 1
        L(f"{res} = {f}.fn([{', '.join(args)}])")
        self.value_path(res, pc, nxt)
        self.ind -= 1
        self.deopt(pc, full)
        self.ind -= 1
        if inlined:
            self.ind -= 1
        return True

    def entry_guard(self) -> dict:
        """What the region's entry guard tests: {slot: kind}."""
        return self.assume[self.region.entry][0]

    def unroll(self, f: str, args: list[str], pc: int, full: list) -> bool:
        """A recursive call of a function that only computes and calls itself (`unrollable`)
        runs the function's body in place, one level deep: its own recursive calls are compiled
        calls, each counting two levels of depth. Like an inlined callee, the unrolled level
        leaves for the VM at the call if anything goes wrong in it or below it (the VM makes the
        call again; nothing it did is visible). Not in the counting variant."""
        if self.counting or isinstance(self, _Unrolled) or not unrollable(self.blob):
            return False
        try:
            sub = _Unrolled(self, pc, full)
            sub.caller_kinds = self.kinds
            lines, x, kinds = sub.body(f, args)
        except Unsupported:
            return False
        self.n = sub.n
        self.self_calls += sub.self_calls
        self.unguarded_calls += sub.unguarded_calls
        self.try_or_deopt(lines, x, pc, full)
        if len(kinds) == 1 and None not in kinds:
            self.kinds[self.res] = next(iter(kinds))
        self.unrolled += 1
        return True

    def inline_call(self, f: str, slot: Optional[int], args: list[str], pc: int,
                    full: list) -> Any:
        """The body of the closure this call is expected to call, in place of the call, behind
        a test of its blob; returns True (`else:` the call follows), "partly" (a `branching`
        callee: `if <result> is NO_VALUE:` the call follows, for the paths that reach a call)
        or False if there is none. The region was
        compiled while a register held that closure (its spec names it), and only a callee
        that computes and returns without effects (`inlinable`) is inlined: if anything in it
        goes wrong — an error, a result the VM's rule must handle — the VM makes the call
        from its start, as if the inlined code had never run. Not in the counting variant
        (the callee's dispatches would need counting)."""
        if self.counting or self.region is None:
            return False
        cands = {s: k[3:] for s, k in self.region.spec if k.startswith("fn ")}
        bid = cands.get(slot) if slot is not None else None
        if bid is None and len(set(cands.values())) == 1:
            bid = next(iter(cands.values()))
        blob = self.blobs.get(bid) if bid is not None else None
        if blob is None or not inlinable(blob) or blob.argc != len(args):
            return False
        whole = straight(blob)
        gen = _Inline if whole else _Branching
        try:
            sub = gen(self, blob, pc, full)
            sub.caller_kinds = self.kinds
            body, x = sub.body(f, args)
        except Unsupported:
            return False
        self.n = sub.n
        unknown = list(dict.fromkeys(a for a in args if self.kind(a) is None))
        if unknown and all(_NAME.match(a) for a in unknown) and any(
                op in (O.BINARY, O.UNARY_NEG) for op, _, _ in blob.code):
            # Arguments of unknown kinds: a second copy of the body assumes they are ints
            # (the callee's arithmetic without type tests), behind a test of that.
            try:
                sub = gen(self, blob, pc, full)
                sub.n = self.n
                sub.caller_kinds = dict(self.kinds, **{a: "int" for a in unknown})
                ibody, ix = sub.body(f, args)
            except Unsupported:
                ibody = None
            if ibody is not None:
                self.n = sub.n
                r = self.tmp()
                test = " and ".join(f"type({a}) is int" for a in unknown)
                body = ([Line(0, f"if {test}:", pc)]
                        + [Line(ln.rel + 1, ln.text, ln.pc) for ln in ibody]
                        + [Line(1, f"{r} = {ix}", pc), Line(0, "else:", pc)]
                        + [Line(ln.rel + 1, ln.text, ln.pc) for ln in body]
                        + [Line(1, f"{r} = {x}", pc)])
                x = r
        # The closure last found to have that blob is remembered (`_in<pc>`, this activation's):
        # the test per call is then one identity test.
        seen = f"_in{pc}"
        self.inline_seen.append(seen)
        if not whole:
            # a path of the callee that reaches a call leaves the result NO_VALUE: the call
            # of the callee is made (`call`)
            self.line(f"{self.res} = NO_VALUE")
        self.line(f"if {f} is {seen} or (type({f}) is Closure and {f}.bid == {bid!r}"
                  f" and ({seen} := {f}) is {f}):")
        self.ind += 1
        self.try_or_deopt(body, x, pc, full)
        self.ind -= 1
        self.inlined += 1
        return True if whole else "partly"

    def try_or_deopt(self, body: list, x: str, pc: int, full: list) -> None:
        """Emit a callee's body compiled in place, its result `x` into the call's result; if
        anything in it raises, leave for the VM at the call (which makes the call from its
        start: the body has no effects to undo)."""
        L = self.line
        L("try:")
        for ln in body:
            self.cur.append(Line(self.ind + 1 + ln.rel, ln.text, pc))
        L(f"    {self.res} = {x}")
        L("except Exception:")
        self.ind += 1
        self.deopt(pc, full)
        self.ind -= 1

    def calls_itself(self, slot: Optional[int], argc: int) -> bool:
        b = self.blob
        return (slot is not None and self.region is not None and self.region.kind == "entry"
                and b.name is not None and self.env["LN"][slot] == b.name
                and argc == b.argc and not b.has_self and not b.is_async and not b.annotated)

    def compiled_call(self, f: str, args: str, B: str, nxt: int, full: list,
                      ic: Optional[str] = None) -> None:
        """Call closure f (runtime blob B) as compiled code, on the VM's fast path; falls
        through when the callee has no compiled code."""
        L = self.line
        g = self.tmp()
        attr = "jitc" if self.counting else "jit"
        L(f"{g} = {B}.{attr}")
        L(f"if {g} is None: {g} = TIER({B}, {self.counting}, ({args}{',' if args else ''}))")
        L(f"if {g} and _d:")
        self.ind += 1
        if ic is not None:
            L(f"{ic}f, {ic}g, {ic}c = {f}, {g}, {f}.cells")
        self.invoke(g, f"{f}.cells", args, nxt, full)
        self.ind -= 1

    def invoke(self, g: str, cells: str, args: str, nxt: int, full: list) -> None:
        """The call itself: g(depth, limit, cells, args…), as the VM's fast path would make it
        (its site: the caller's return address and result kind), then leave the call's loop."""
        pc = nxt - 1
        L = self.line
        drop = self.drops(pc)
        cont = self.forward(nxt + 1) if drop else self.forward(nxt)
        if self.counting:
            # The callee's first unit is a dispatch: stopping there leaves its frame pushed,
            # which the VM's own call does (the deopt runs it).
            L("if _L[0] <= 0:")
            self.ind += 1
            self.deopt(pc, full)
            self.ind -= 1
            L("_L[0] -= 1")
        below = list(self.stack)
        # The VM's return address is the instruction after the call (after its POP for a
        # call statement), not forwarded past jumps: it dispatches there, then follows them.
        ret = nxt + 1 if drop else nxt
        site = Site(ret, "drop" if drop else None, tuple(below))
        sep = ", " if args else ""
        L(f"{self.res} = {g}({self.depth_next}, {cells}{sep}{args})", site)
        after = below if drop else below + [self.res]
        for p, _ in self.dispatches_from(ret, cont, False):
            self.count((p,), after)
        if g not in (self.fname, self.fname + "_u"):
            L("break")

    def value_path(self, value: str, pc: int, nxt: int) -> None:
        """A call that produced `value` without a frame and, on the VM, returns nxt to the
        dispatch loop (the machine's general case): count those dispatches, then go on."""
        drop = self.drops(pc)
        cont = self.forward(nxt + 1) if drop else self.forward(nxt)
        below = list(self.stack)
        for p, on_stack in self.dispatches_from(nxt, cont, drop):
            self.count((p,), below + [value] if on_stack else below)
        if value != self.res:
            self.line(f"{self.res} = {value}")
        self.line("break")

    # The threader's call_method template, run inside a one-shot loop: its frame pushes become
    # compiled calls, its results and its general case leave the loop.

    def call_method(self, name: str, a: int, argc: int, nxt: int) -> bool:
        st = self.stack
        if name == "push" and argc == 1 and len(st) >= 2 and self.kind(st[-2]) == "list":
            # the template's first fast path, for a receiver known to be an array
            v = self.pop()
            obj = self.pop()
            self.materialise()
            self.line(f"{obj}.append({v})")
            self.res = obj
            self.result_path(obj, nxt)
            return True
        self.cm_full = list(self.stack)
        self.res = self.tmp()
        self.line("while True:")
        self.ind += 1
        super().call_method(name, a, argc, nxt)
        self.ind -= 1
        return True

    def frame_args(self, A: str, items: list[str]) -> None:
        self.frame_items = (A, list(items))

    def push_frame(self, f: str, A: str, B: str, nxt: int) -> None:
        name, items = self.frame_items
        assert name == A, "frame_args comes right before push_frame"
        self.compiled_call(f, ", ".join(items), B, nxt, self.cm_full)

    def push_result(self, value: str, nxt: int) -> None:
        self.result_path(value, nxt)
        self.line("break")

    def result_path(self, value: str, nxt: int) -> None:
        """The template's result without a frame (`Gen.push_result`): a call statement goes on
        past its POP, anything else returns nxt to the dispatch loop."""
        pc = nxt - 1
        if self.drops(pc):
            target, chained = self.exits[(pc, "result")]
            if target != self.forward(nxt + 1):
                raise Unsupported("call statement continues elsewhere")
            self.count(() if chained else (target,), list(self.stack))
            if value != self.res:
                self.line(f"{self.res} = {value}")
        else:
            drop = False
            cont = self.forward(nxt)
            below = list(self.stack)
            for p, on_stack in self.dispatches_from(nxt, cont, drop):
                self.count((p,), below + [value] if on_stack else below)
            if value != self.res:
                self.line(f"{self.res} = {value}")

    def slow_exit(self, call: str) -> None:
        self.deopt(self.pc, self.cm_full)

    # ------------------------------------------------------------ blocks

    def block(self, blk: Block) -> tuple:
        """Emit a block's instructions into self.cur; returns how it ends:
        ("term",), ("edge", edge, stack), or ("cond", template result)."""
        code = self.blob.code
        carry, self.carry = self.carry, None
        self.emitted.add(blk.start)
        regs, kinds = self.assume.get(blk.start) or ({}, [None] * blk.depth)
        if carry is not None and carry[0] == blk.start:
            self.stack, self.kinds = carry[1], carry[2]
            self.rt = dict(carry[3])
        else:
            self.stack = [f"s{i}" for i in range(blk.depth)]
            self.kinds = {f"s{i}": k for i, k in enumerate(kinds) if k is not None}
            self.rt = dict(regs)
        for slot, k in self.rt.items():
            self.kinds[self.reg(slot)] = k
        self.ind = 0
        for pc in range(blk.start, blk.end + 1):
            self.pc = pc
            op, a, b = code[pc]
            self.budget -= 1
            if self.budget < 0:
                raise Unsupported("generated code would be too large")
            if pc < blk.end:
                self.instr(op, a, b, pc)
                continue
            cls = O.CLASS[op]
            if blk.kind == "cond":
                return ("cond", self.branch_instr(op, a, b, pc))
            if op == O.JUMP:
                return ("edge", blk.succ[0], list(self.stack))
            if cls == "J" and O.TARGETS[op]:
                br = self.branch_instr(op, a, b, pc)       # one that never jumps
                if br["cond"] != "False":
                    raise Unsupported(f"{O.NAMES[op]} at {pc} has no recorded jump")
                self.cur.extend(br["lines"])
                return ("edge", blk.succ[0], br["fall"])
            if cls == "U":
                self.transfer_instr(op, a, b)
                return ("term",)
            if cls == "C":
                if op in CALLS:
                    self.res = ""
                    if op == O.CALL:
                        self.call(a, pc + 1)
                    else:
                        self.call_method(self.blob.consts[a], a, b, pc + 1)
                    if not self.drops(pc):
                        self.push(self.res)
                    return ("edge", blk.succ[0], list(self.stack))
                self.deopt(pc, list(self.stack))
                return ("term",)
            self.instr(op, a, b, pc)
            if blk.kind == "term":
                raise Unsupported("code runs past its end")
            return ("edge", blk.succ[0], list(self.stack))
        raise AssertionError("empty block")  # pragma: no cover

    def transfer_instr(self, op: int, a: int, b: int) -> None:
        if op == O.RETURN:
            self.ret(self.pop())
        elif op == O.HALT:
            self.line(f"return M.halt({self.pop()})")
        elif op == O.RAISE:
            self.line(f"raise ShapeError(K[{a}][0], K[{a}][1])")
        elif op == O.MATCH_ERROR:
            self.line(f"h_match_error({self.reg(a)})")
        else:
            raise Unsupported(f"no JIT template for {O.NAMES[op]}")

    def branch_instr(self, op: int, a: int, b: int, pc: int) -> dict:
        """A two-way instruction: the condition under which it jumps, the operand stack on
        each way, and code that runs only when it does not jump (`fall`, lines)."""
        L = self.line
        if op in (O.JUMP_IF_FALSE, O.JUMP_IF_TRUE):
            x = self.pop()
            cond = self.truth(x)
            if op == O.JUMP_IF_FALSE:
                cond = f"not {cond}"
            st = list(self.stack)
            return {"cond": cond, "jump": st, "fall": st, "lines": []}
        if op == O.JUMP_IF_NOT_NONE:
            x = self.ident(self.pop())
            st = list(self.stack)
            return {"cond": f"{x} is not None", "jump": st + [x], "fall": st, "lines": []}
        if op == O.JUMP_IF_NONE:
            x = self.ident(self.pop())
            st = list(self.stack) + [x]
            return {"cond": f"{x} is None", "jump": st, "fall": st, "lines": []}
        if op == O.JUMP_UNLESS_FAILURE:
            x = self.ident(self.pop())
            st = list(self.stack) + [x]
            return {"cond": f"not ({x} is None or type({x}) is Err)", "jump": st, "fall": st,
                    "lines": []}
        if op == O.MATCH:
            subj, desc = self.blob.consts[a]
            st = list(self.stack)
            v = self.reg(subj)
            if T._pattern_size(desc) <= 12:
                conds, binds, consts = P.strict_code(desc, v, self.tmp, f"MC[{a}]", self.reg)
                self.env["MC"][a] = tuple(consts)
                conds = [c for c in conds if c not in _known_tests(v, self.kind(v))]
                for s in _bound_slots(desc):
                    self.clobber(s)
                    self.set_reg(s, None)
                cond = f"not ({' and '.join(conds)})" if conds else "False"
                return {"cond": cond, "jump": st, "fall": st,
                        "lines": [Line(0, x, pc) for x in binds]}
            self.env["MT"][a] = P.strict(desc)
            binds = _binds(desc)
            B = self.tmp()
            cells = ", ".join(f"{s}: {self.reg(s)}" for s, cell in binds if cell)
            L(f"{B} = {{{cells}}}")
            for s, _ in binds:
                self.clobber(s)
                self.set_reg(s, None)
            return {"cond": f"not MT[{a}]({v}, {B})", "jump": st, "fall": st,
                    "lines": [Line(0, f"{self.reg(s)} = {B}[{s}]", pc)
                              for s, cell in binds if not cell]}
        if op == O.FOR_NEXT:
            # runtime/iteration.py for_item, inlined
            q, i = self.reg(a), self.reg(a + 1)
            k = self.kind(q)
            st = list(self.stack)
            self.clobber(a + 1)
            t = self.tmp()
            if k == "int":
                end, item = q, i
            elif k in ("list", "str"):
                end, item = f"len({q})", f"{q}[{i}]"
            else:
                # Only the states the VM walks inline are walked here; any other (an iterator's
                # cursor, which pulls through VM frames) is the VM's.
                L(f"if not (type({q}) is int or type({q}) is list or type({q}) is str):")
                self.ind += 1
                self.deopt(pc, st)
                self.ind -= 1
                end, item = f"({q} if type({q}) is int else len({q}))", \
                    f"{i} if type({q}) is int else {q}[{i}]"
            self.kinds[t] = "int" if k == "int" else ("str" if k == "str" else None)
            if self.kinds[t] is None:
                del self.kinds[t]
            return {"cond": f"{i} >= {end}", "jump": st, "fall": st + [t],
                    "lines": [Line(0, f"{t} = {item}", pc),
                              Line(0, f"{i} = {t} + 1" if k == "int" else f"{i} += 1", pc)]}
        raise Unsupported(f"no JIT template for {O.NAMES[op]}")


    # ------------------------------------------------------------ structure

    def build(self, region: Region) -> list:
        """The statement tree of a region's body."""
        self.region = region
        fl = self.flow
        blob = self.blob
        laid = fl.regions.get((region.kind, region.entry))
        if laid is None:
            self.lay_out(region)
            laid = fl.regions[(region.kind, region.entry)] = (
                self.region_nodes, self.rpo, self.preds, self.loops)
        self.region_nodes, self.rpo, self.preds, self.loops = laid
        self.budget = 4 * len(blob.code) + 64
        self.emitted = set()
        out: list = []
        self.seq(region.entry, None, [], out)
        return out

    def lay_out(self, region: Region) -> None:
        """The blocks of a region (reverse postorder), its loops with their exits, and how
        many ways lead into each block: the same for every specialisation and variant of the
        region, so `build` keeps them in the blob's Flow (read only from then on)."""
        fl = self.flow
        blob = self.blob
        if region.entry not in fl.blocks:
            raise Unsupported("region entry is not reachable")
        if region.kind == "entry":
            nodes = fl.reachable(region.entry)
            self.loops = fl.loops(region.entry, nodes)
        else:
            first = blob.entries[0]
            every = fl.reachable(first)
            loops = fl.loops(first, every)
            if region.entry not in loops:
                raise Unsupported("not the head of a loop")
            # The loop, and the code its exits run before they reach a unit of the VM's (the
            # VM can only take over at a unit's start).
            keep = set(loops[region.entry].body)
            work = list(keep)
            while work:
                for e in fl.blocks[work.pop()].succ:
                    t = e.target
                    if t not in keep and t not in self.lead_set and t in fl.blocks:
                        keep.add(t)
                        work.append(t)
            nodes = [n for n in every if n in keep]
            self.loops = {h: lp for h, lp in loops.items() if h in keep}
        self.region_nodes = set(nodes)
        self.rpo = {n: i for i, n in enumerate(nodes)}
        self.preds = {n: 0 for n in nodes}
        for n in nodes:
            for e in fl.blocks[n].succ:
                if e.target in self.preds:
                    self.preds[e.target] += 1
        self.preds[region.entry] += 1
        # Outer loops first: an inner loop's exits are seen from its parent's body.
        for lp in sorted(self.loops.values(), key=lambda x: -len(x.body)):
            self.exits_of(lp)

    def context(self, lp: Optional[Loop]) -> list:
        chain = []
        while lp is not None:
            chain.append(Ctx(lp))
            lp = lp.parent
        chain.reverse()
        return chain

    def exits_of(self, lp: Loop) -> None:
        """Where the loop goes on (`follow`: after its `while`, reached by `break`), and the
        code its other exits run on their way there or out (`paths`: emitted inside the loop,
        ending in a break or an escape)."""
        ctx = self.context(lp.parent)
        exits = sorted({e.target for n in lp.body for e in self.flow.blocks[n].succ
                        if e.target not in lp.body and e.target in self.region_nodes},
                       key=self.rpo.__getitem__)
        lp.paths = set()
        lp.follow = None
        if not exits:
            return
        if len(exits) == 1:
            lp.follow = exits[0]
            return
        reach = [self.reach(t, None, ctx) for t in exits]
        common = set.intersection(*reach)
        if common:
            lp.follow = min(common, key=self.rpo.__getitem__)
        for t in exits:
            if t != lp.follow:
                lp.paths |= self.reach(t, lp.follow, ctx)
        lp.paths.discard(lp.follow)

    def classify(self, t: int, ctx: list) -> str:
        """What a transfer to t is from inside the loops `ctx`: "continue", "break", "exit"
        (leaves the region), "path" (an exit path of the loop, emitted in place) or "normal"
        (code emitted in sequence)."""
        if t not in self.region_nodes:
            return "exit"
        if not ctx:
            return "normal"
        c = ctx[-1]
        lp = c.loop
        if t == lp.follow:
            return "break"
        if c.path:
            if t in lp.paths:
                return "normal"
        else:
            if t == lp.header:
                return "continue"
            if t in lp.body:
                return "normal"
            if t in lp.paths:
                return "path"
        raise Unsupported("a jump out of two loops")

    def seq(self, n: Optional[int], stop: Optional[int], ctx: list, out: list) -> None:
        """Emit the code from block n on into `out`, until control reaches `stop` (which the
        caller emits) or every path has left (return, raise, break, continue, exit)."""
        while n is not None and n != stop:
            lp = self.loops.get(n)
            if lp is not None and not any(c.loop is lp for c in ctx):
                w = While(n)
                out.append(w)
                self.cur, self.ind, self.pc = w.body, 0, n
                self.poll(n, self.flow.blocks[n].depth)
                inner = ctx + [Ctx(lp)]
                self.seq(self.block_seq(n, -1, inner, w.body), -1, inner, w.body)
                if lp.follow is None:
                    return
                c = self.classify(lp.follow, ctx)
                if c == "normal":
                    n = lp.follow
                    continue
                self.cur, self.ind, self.pc = out, 0, n
                if c == "path":
                    self.seq(lp.follow, None, ctx[:-1] + [Ctx(ctx[-1].loop, True)], out)
                else:
                    self.line(c)
                return
            n = self.block_seq(n, stop, ctx, out)

    def block_seq(self, n: int, stop: Optional[int], ctx: list, out: list) -> Optional[int]:
        """Emit block n and what it branches to; returns the block to go on with, or None."""
        self.cur = out
        blk = self.flow.blocks.get(n)
        if blk is None:
            raise Unsupported(f"no block at {n}")
        end = self.block(blk)
        if end[0] == "term":
            return None
        if end[0] == "edge":
            return self.transfer(end[1], end[2], ctx)
        return self.branch(blk, end[1], stop, ctx, out)

    def transfer(self, edge: Edge, stack: list, ctx: list) -> Optional[int]:
        """Move the operand stack into s0, s1, … for edge's target, count the VM's dispatches,
        and leave (returns None) or return the target to emit in sequence."""
        t = edge.target
        blk = self.flow.blocks.get(t)
        if blk is None or blk.depth != len(stack):
            raise Unsupported(f"stack depths disagree at {t}")
        c = self.classify(t, ctx)
        if c != "exit":
            self.arrive(t, stack)
        if c == "path" and self.preds.get(t) == 1:
            self.count(edge.disp, stack)
            self.carry = (t, list(stack), dict(self.kinds), dict(self.rt))
            self.seq(t, None, ctx[:-1] + [Ctx(ctx[-1].loop, True)], self.cur)
            return None
        if c == "normal" and self.preds.get(t) == 1:
            # The target is emitted next and reached from here only: the operand stack
            # stays symbolic.
            self.count(edge.disp, stack)
            self.carry = (t, list(stack), dict(self.kinds), dict(self.rt))
            return t
        names = [f"s{i}" for i in range(len(stack))]
        moves = [(w, x) for w, x in zip(names, stack) if w != x]
        if len(moves) == 1:
            self.line(f"{moves[0][0]} = {moves[0][1]}")
        elif moves:
            self.line(f"{', '.join(w for w, _ in moves)} = {', '.join(x for _, x in moves)}")
        if c == "exit":
            self.exit_region(edge, names)
            return None
        self.count(edge.disp, names)
        if c in ("continue", "break"):
            self.line(c)
            return None
        if c == "path":
            self.seq(t, None, ctx[:-1] + [Ctx(ctx[-1].loop, True)], self.cur)
            return None
        return t

    def exit_region(self, edge: Edge, names: list) -> None:
        """Leave a loop region for the VM at edge's target: the locals go back into the
        frame's registers, and the dispatch loop runs the target (the last dispatch on the
        edge is the loop's own; an exit the VM would chain must not cost a step)."""
        regs = [self.reg(i) for i in range(self.blob.nlocals)]
        self.line(f"_R[:] = {self.stack_tuple(regs + names)}")
        self.count(edge.disp[:-1], names)
        if self.counting and not edge.disp:
            self.line("_L[0] += 1")
        self.line(f"return {edge.target}")

    def branch(self, blk: Block, br: dict, stop: Optional[int], ctx: list,
               out: list) -> Optional[int]:
        ej, ef = blk.succ
        m = None
        if self.classify(ej.target, ctx) == "normal" and self.classify(ef.target, ctx) == "normal":
            m = self.merge(ej.target, ef.target, stop, ctx)
        until = m if m is not None else stop
        node = If(br["cond"], blk.end)
        out.append(node)
        self.cur, self.ind, self.pc = node.body, 0, blk.end
        nj = self.transfer(ej, br["jump"], ctx)
        if nj is not None:
            self.seq(nj, until, ctx, node.body)
        self.cur, self.ind, self.pc = node.orelse, 0, blk.end
        node.orelse.extend(br["lines"])
        nf = self.transfer(ef, br["fall"], ctx)
        if nf is not None:
            self.seq(nf, until, ctx, node.orelse)
        self.cur = out
        return m

    def merge(self, a: int, b: int, stop: Optional[int], ctx: list) -> Optional[int]:
        """Where two branches from a and b meet: the first block (in reverse postorder) both
        reach, staying inside the current loop and not going past `stop`."""
        ra, rb = self.reach(a, stop, ctx), self.reach(b, stop, ctx)
        common = [x for x in ra if x in rb]
        if not common:
            return None
        return min(common, key=self.rpo.__getitem__)

    def reach(self, x: int, stop: Optional[int], ctx: list) -> set[int]:
        seen: set[int] = set()
        work = [x]
        while work:
            y = work.pop()
            if y in seen:
                continue
            seen.add(y)
            if y == stop:
                continue
            lp = self.loops.get(y)
            if lp is not None and not any(c.loop is lp for c in ctx):
                targets = [lp.follow] if lp.follow is not None else []
            else:
                targets = [e.target for e in self.flow.blocks[y].succ]
            for t in targets:
                if self.classify(t, ctx) == "normal":
                    work.append(t)
        return seen

    def poll(self, pc: int, depth: int) -> None:
        """The machine's stop flag (an interrupt, a timeout), polled at loop heads and function
        entries: leave for the VM, which stops at once. `S` is a cell of the factory that the
        machine sets (tier.StopFlag): one load and one test."""
        self.line(f"if S: raise Deopt({pc}, "
                  f"{self.stack_tuple([f's{i}' for i in range(depth)])}, True)")

    # ------------------------------------------------------------ the function

    def function(self, region: Region, name: str) -> tuple[str, list]:
        """Python source of `__factory(…)` returning the compiled function `name`, and the
        (pc, site) of each of its lines."""
        blob = self.blob
        n = blob.nlocals
        pc = region.entry
        entry = {slot: k for slot, k in region.spec if k in GUARDED and 0 <= slot < n}
        if region.kind == "entry":
            argc, nfree = blob.argc, blob.nfree
            entry = {slot: k for slot, k in entry.items() if slot < argc}
            entry.update({slot: "none" for slot in range(argc + nfree, n)})
        self.fname = name
        self.ret_kind = None
        # A loop region speculates that a register keeps the kind it had when the loop got hot
        # (checked where a value of unknown kind is stored into it).
        self.speculate = ({slot: k for slot, k in region.spec if k in GUARDED and k != "none"}
                          if region.kind == "osr" else {})
        # Generate until the kinds settle; then, if every return's kind is the same, once more
        # assuming that recursive calls return it (if that does not hold, without it).
        for attempt in range(3):
            self.assume = {pc: (dict(entry), [None] * self.depths[pc])}
            for _ in range(64):
                self.changed = False
                self.n = 0
                self.carry = None
                self.caches = []
                self.inline_seen = []
                self.int_lt = {}
                self.tests = set()
                self.arity_caches = []
                self.ret_kinds = set()
                self.self_calls = 0
                self.unguarded_calls = 0
                body = self.build(region)
                if not self.changed:
                    break
            else:
                raise Unsupported("the kinds of registers do not settle")
            known = {k for k in self.ret_kinds if k is not None}
            if self.ret_kind is not None:
                if self.ret_kinds == {self.ret_kind}:
                    break
                self.ret_kind = None
            elif self.self_calls and len(known) == 1 and attempt == 0:
                self.ret_kind = known.pop()
            else:
                break
        pro: list[Line] = []

        def P(text: str) -> None:
            pro.append(Line(0, text, pc))
        self.pc = pc
        self.cur, self.ind = pro, 0
        settled = self.assume[pc][0]
        if region.kind == "entry":
            params = "".join(f", {self.reg(i)}" for i in range(argc))
            head = f"def {name}(_d, _C{params}):"
            if nfree:
                P(f"{', '.join(self.reg(i) for i in range(argc, argc + nfree))}, = _C")
            if n > argc + nfree:
                P(" = ".join(self.reg(i) for i in range(argc + nfree, n)) + " = None")
            guarded = [s for s in sorted(settled) if s < argc]
        else:
            head = f"def {name}(_R, _d):"
            if n:
                P(f"{''.join(self.reg(i) + ', ' for i in range(n))}= _R[:{n}]")
            depth = self.flow.blocks[pc].depth
            if depth:
                P(f"{''.join(f's{i}, ' for i in range(depth))}= _R[{n}:]")
            guarded = sorted(settled)
        guard_line = None
        if guarded:
            # The code below assumes what these registers held when it was compiled.
            test = " and ".join(guard_test(self.reg(s), settled[s]) for s in guarded)
            depth = self.depths[pc]
            P(f"if not ({test}): raise GuardFailed({pc}, "
              f"{self.stack_tuple([f's{i}' for i in range(depth)])}, True)")
            guard_line = pro[-1]
        calls = any(O.CLASS[op] == "C" for op, _, _ in blob.code)
        if region.kind == "entry" and (self.loops or calls):
            # A function that neither loops nor calls returns soon: its caller's poll suffices.
            self.poll(pc, 0)
        if self.counting:
            P("_L = M._left")
        # Caches start out holding no Shape value (None is one: `f(x)` with f None must miss).
        for ic in self.caches:
            P(f"{ic}f = {ic}g = {ic}c = NO_VALUE")
        for ic in self.arity_caches:
            P(f"{ic}f = {ic}g = NO_VALUE")
        for seen in self.inline_seen:
            P(f"{seen} = NO_VALUE")
        lines: list[tuple[str, int, Optional[Site]]] = [
            (f"def __factory({FACTORY_ARGS}):", pc, None)]
        if self.self_calls:
            # The closure a recursive call found to be this function's, remembered for the
            # next one (an identity test instead of a type and blob test per call).
            for text in ("    _me = NO_VALUE", "    def _is_me(f):", "        nonlocal _me",
                         "        if type(f) is Closure and f.bid == BID:",
                         "            _me = f", "            return True", "        return False"):
                lines.append((text, pc, None))
        lines.append(("    " + head, pc, None))
        if not self.counting:
            body = _counted_loops(body, self.int_lt)
        body = _fused_tests(body, self.tests)
        _render(pro + body, 2, lines)
        if self.unguarded_calls:
            # Recursive calls whose arguments are known to pass the entry guard call a copy of
            # the function without it (same lines, so deoptimisation reads either the same way).
            if guard_line is None:
                lines.append((f"    {name}_u = {name}", pc, None))
            else:
                lines.append(("    " + head.replace(f"def {name}(", f"def {name}_u("), pc, None))
                _render([x for x in pro if x is not guard_line] + body, 2, lines)
        lines.append((f"    return {name}", pc, None))
        src = "\n".join(t for t, _, _ in lines) + "\n"
        return src, [(p, s) for _, p, s in lines]


FACTORY_ARGS = ("M, FR, BL, LIMIT, OUT, METHODS, PRE, K, LN, CH, CN, BI, BF, MT, MC, DS, PN, S, "
                "TIER, BID")


def _ends(stmts: list) -> bool:
    """Whether control never falls out of the end of `stmts`."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, Line):
        return last.rel == 0 and last.text.split(" ", 1)[0] in ("return", "raise", "continue",
                                                                  "break")
    if isinstance(last, If):
        return bool(last.orelse) and _ends(last.body) and _ends(last.orelse)
    return False


def _render(stmts: list, indent: int, out: list) -> None:
    pad = "    " * indent
    for st in stmts:
        if isinstance(st, Line):
            out.append(("    " * (indent + st.rel) + st.text, st.pc, st.site))
        elif isinstance(st, While):
            out.append((pad + "while True:", st.pc, None))
            _render(st.body or [Line(0, "pass", st.pc)], indent + 1, out)
        elif isinstance(st, For):
            out.append((f"{pad}for {st.var} in {st.over}:", st.pc, None))
            _render(st.body or [Line(0, "pass", st.pc)], indent + 1, out)
            out.append((pad + "else:", st.pc, None))
            _render(st.orelse or [Line(0, "pass", st.pc)], indent + 1, out)
        else:
            _render_if(st, indent, out)


_INC = re.compile(r"(t\d+) = (r\d+) \+ \(1\)$")
_INT_LIT = re.compile(r"\(\d+\)$")


def _counted_loops(stmts: list, int_lt: dict) -> list:
    """Loops of the form `while i < n { …; i += 1 }` (i and n ints, i assigned only by that
    increment, n not at all) become `for i in range(i, n)`: Python's range steps and tests
    the counter, which the VM's registers see exactly as before — i holds the same value
    everywhere in the body, and when the range is exhausted the `else:` sets i to n (as the
    `while` leaves it) before the loop's exit at its head runs. The increment cannot leave
    the 64-bit range (i < n), so its test goes. Inner loops first."""
    out = []
    for st in stmts:
        if isinstance(st, If):
            st = If(st.cond, st.pc, _counted_loops(st.body, int_lt),
                    _counted_loops(st.orelse, int_lt))
        elif isinstance(st, While):
            st = While(st.pc, _counted_loops(st.body, int_lt))
            st = _as_for(st, int_lt) or st
        out.append(st)
    return out


_TEMP = re.compile(r"(?<![\w.])t\d+(?!\w)")


def _fused_tests(stmts: list, tests: set) -> list:
    """`t = x < y` (a test that cannot fail, `tests`) right before `if t:` or `if not t:`, t used
    nowhere else: one `if x < y:` (CPython compares and jumps in one instruction)."""
    uses: dict[str, int] = {}

    def texts(sts: list) -> Any:
        for st in sts:
            if isinstance(st, Line):
                yield st.text
            elif isinstance(st, If):
                yield st.cond
                yield from texts(st.body)
                yield from texts(st.orelse)
            else:
                if isinstance(st, For):
                    yield st.over
                    yield from texts(st.orelse)
                yield from texts(st.body)
    for text in texts(stmts):
        for t in _TEMP.findall(text):
            if t in tests:
                uses[t] = uses.get(t, 0) + 1

    def fuse(sts: list) -> list:
        out: list = []
        for st in sts:
            if isinstance(st, If):
                st = If(st.cond, st.pc, fuse(st.body), fuse(st.orelse))
                prev = out[-1] if out else None
                m = (re.fullmatch(r"(t\d+) = (.+)", prev.text)
                     if isinstance(prev, Line) and prev.rel == 0 else None)
                if m and uses.get(m[1]) == 2 and st.cond in (m[1], f"not {m[1]}"):
                    out.pop()
                    st.cond = m[2] if st.cond == m[1] else f"not ({m[2]})"
            elif isinstance(st, For):
                st = For(st.pc, st.var, st.over, fuse(st.body), fuse(st.orelse))
            elif isinstance(st, While):
                st = While(st.pc, fuse(st.body))
            out.append(st)
        return out
    return fuse(stmts) if uses else stmts


def _loop_exit(exit_: list) -> Optional[list]:
    """The exit at a loop's head, as the `else:` of a `for` runs it: nothing for a break
    (falling out of the `for … else` is the break; a break there would leave an outer loop),
    straight code ending in a return as it is; None for anything else."""
    if len(exit_) == 1 and isinstance(exit_[0], Line) and exit_[0].text == "break":
        return []
    if (exit_ and all(isinstance(x, Line) and x.rel == 0 for x in exit_)
            and exit_[-1].text.startswith("return ")
            and not any(x.text in ("break", "continue") for x in exit_)):
        return exit_
    return None


def _writes(name: str) -> Any:
    return re.compile(rf"(?<![\w.]){name}\s*(,[^=]*)?=(?!=)|for {name} in ")


def _as_for(w: While, int_lt: dict) -> Optional[For]:
    body = w.body
    if (len(body) == 2 and isinstance(body[0], Line) and isinstance(body[1], If)
            and body[0].text.startswith("if S: raise Deopt(")):
        return _range_for(w, body[0], body[1])
    if len(body) != 3 or not all(isinstance(x, Line) and x.rel == 0 for x in body[:2]):
        return None
    poll, test, br = body
    if not poll.text.startswith("if S: raise Deopt(") or not isinstance(br, If):
        return None
    t = test.text.split(" = ", 1)[0]
    if t not in int_lt or br.cond != f"not {t}" or br.orelse == []:
        return None
    i, n = int_lt[t]
    if test.text != f"{t} = {i} < {n}" or not re.fullmatch(r"r\d+", i) or not (
            re.fullmatch(r"r\d+", n) or _INT_LIT.fullmatch(n)):
        return None
    exit_ = _loop_exit(br.body)
    if exit_ is None:
        return None
    # The increment ends the body, or the fall-through arm of its last branch whose other
    # arm leaves (`if not c: break` of a loop condition `i < n && c`).
    tail = br.orelse
    while tail and isinstance(tail[-1], If) and _ends(tail[-1].body) and tail[-1].orelse:
        tail = tail[-1].orelse
    if len(tail) < 5 or not all(isinstance(x, Line) for x in tail[-5:]):
        return None
    inc, chk, raise_, store, cont = tail[-5:]
    m = _INC.match(inc.text)
    if (m is None or m[2] != i or inc.rel != 0 or chk.text != f"if {m[1]} > {INT_HI}:"
            or chk.rel != 0 or raise_.rel != 1 or not raise_.text.startswith("raise Deopt(")
            or store.text != f"{i} = {m[1]}" or store.rel != 0 or cont.text != "continue"
            or cont.rel != 0):
        return None
    inner = _without_tail(br.orelse, tail)
    if _continues(inner) or _mentions(inner + exit_, m[1]) or _mentions(inner + exit_, t):
        return None
    if _assigned(inner, _writes(i)) or (n.startswith("r") and _assigned(inner, _writes(n))):
        return None
    fix = Line(0, f"if {i} < {n}: {i} = {n}", test.pc)
    return For(w.pc, i, f"range({i}, {n})", [poll] + inner, [fix] + exit_)


def _range_for(w: While, poll: Line, br: If) -> Optional[For]:
    """`for x in a..b` of ints (FOR_NEXT: `if i >= end: exit`, then `t = i; i = t + 1`) as
    `for t in range(i, end)`, which keeps `i = t + 1` (the VM's iterator state) in the body;
    when the range is exhausted i is already end, as the VM leaves it. `for x in xs` of an
    array or string (`if i >= len(q): exit`, then `t = q[i]; i += 1`) likewise walks Python's
    iterator of q from i (`walk`), which, like the VM, sees the array's length at each step."""
    m = re.fullmatch(r"(r\d+) >= (r\d+|len\((r\d+)\))", br.cond)
    rest = br.orelse
    if m is None or len(rest) < 2 or not all(isinstance(x, Line) and x.rel == 0
                                             for x in rest[:2]):
        return None
    i, end, q = m[1], m[2], m[3]
    take, step = rest[0].text.split(" = ", 1), rest[1].text
    if len(take) != 2 or (take[1], step) != ((i, f"{i} = {take[0]} + 1") if q is None
                                             else (f"{q}[{i}]", f"{i} += 1")):
        return None
    t = take[0]
    if q is not None:
        end, over = q, f"walk({q}, {i})"
    else:
        over = f"range({i}, {end})"
    exit_ = _loop_exit(br.body)
    inner = rest[2:]
    if (exit_ is None or _assigned(inner, _writes(i)) or _assigned(inner, _writes(end))
            or _assigned(inner, _writes(t)) or _mentions(exit_, t)):
        return None
    # The body's own `continue`s go on to the next item, as they did.
    return For(w.pc, t, over, [poll, rest[1]] + inner, exit_)


def _without_tail(stmts: list, tail: list) -> list:
    """stmts with the last five lines of `tail` (its last statement list, or that of the
    fall-through arm of its last branch, …) removed."""
    if stmts is tail:
        return stmts[:-5]
    last = stmts[-1]
    return stmts[:-1] + [If(last.cond, last.pc, last.body, _without_tail(last.orelse, tail))]


def _walk(stmts: list, loops: bool = True):
    for st in stmts:
        if isinstance(st, Line):
            yield st
        elif isinstance(st, If):
            yield from _walk(st.body, loops)
            yield from _walk(st.orelse, loops)
        elif loops:
            yield from _walk(st.body, loops)
            if isinstance(st, For):
                yield from _walk(st.orelse, loops)


def _continues(stmts: list) -> bool:
    """Whether code (outside its inner loops) goes back to its loop's head."""
    return any(re.search(r"(^|: )continue$", x.text) for x in _walk(stmts, False))


def _mentions(stmts: list, name: str) -> bool:
    pat = re.compile(rf"(?<![\w.]){name}(?!\w)")
    return any(pat.search(x.text) for x in _walk(stmts))


def _assigned(stmts: list, pat: Any) -> bool:
    return any(pat.search(x.text) for x in _walk(stmts))


def _negate(cond: str) -> str:
    if cond.startswith("not (") and cond.endswith(")") and _balanced(cond[5:-1]):
        return cond[5:-1]
    if cond.startswith("not ") and _NAME.match(cond[4:]):
        return cond[4:]
    return f"not ({cond})"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _chain(stmts: list) -> bool:
    return len(stmts) == 1 and isinstance(stmts[0], If)


def _render_if(node: If, indent: int, out: list, keyword: str = "if") -> None:
    pad = "    " * indent
    cond, body, orelse = node.cond, node.body, node.orelse
    if not body or (orelse and _chain(body) and not _chain(orelse)):
        # the arm that is itself a branch goes last, as an `elif`
        cond, body, orelse = _negate(cond), orelse, body
    if keyword == "if" and orelse:
        # An arm that never falls through needs no `else`: the other arm follows it.
        if _ends(body):
            _render_if(If(cond, node.pc, body, []), indent, out)
            _render(orelse, indent, out)
            return
        if _ends(orelse):
            _render_if(If(_negate(cond), node.pc, orelse, []), indent, out)
            _render(body, indent, out)
            return
    out.append((f"{pad}{keyword} {cond}:", node.pc, None))
    _render(body or [Line(0, "pass", node.pc)], indent + 1, out)
    if not orelse:
        return
    if len(orelse) == 1 and isinstance(orelse[0], If):
        _render_if(orelse[0], indent, out, "elif")
        return
    out.append((f"{pad}else:", node.pc, None))
    _render(orelse, indent + 1, out)


_CONST_INT = re.compile(r"\((-?\d+)\)$")


def _out_of_range(op: str, x: str, y: str, t: str) -> str:
    """The test that t = x op y left the 64-bit range (one bound when a constant operand
    decides the direction)."""
    below, above = f"{t} < {INT_LO}", f"{t} > {INT_HI}"
    mx, my = _CONST_INT.match(x), _CONST_INT.match(y)
    if op == "+" and (mx or my):
        c = int((my or mx).group(1))
        return above if c >= 0 else below
    if op == "-" and my:
        return below if int(my.group(1)) >= 0 else above
    return f"not {INT_LO} <= {t} <= {INT_HI}"


def _all_positive(x: str, y: str) -> str:
    """The test that ints x and y are both non-negative and y not 0 (where `//` and `%` are
    Shape's truncating rules), without the part a positive literal answers."""
    m = _CONST_INT.match(y)
    return f"{x} >= 0" if m and int(m.group(1)) > 0 else f"{x} >= 0 and {y} > 0"


def _known_tests(v: str, kind: Optional[str]) -> set[str]:
    """Tests of runtime/patterns.py's matcher code on the subject `v` that its known kind
    already answers with yes."""
    if kind is None:
        return set()
    out = {f"{v} is None"} if kind == "none" else {f"{v} is not None"}
    if kind in _NUM:
        out.add(f"(type({v}) is int or type({v}) is float)")
    elif kind in ("dict", "struct"):
        out.add(f"(type({v}) is dict or type({v}) is StructValue)")
    if kind not in _NUM and KINDS.get(kind):
        out.add(f"type({v}) is {KINDS[kind]}")
    return out


def _binds(desc: Any) -> list[tuple[int, int]]:
    """(slot, cell) of every binding in a pattern descriptor (runtime/patterns.py)."""
    out: list[tuple[int, int]] = []

    def walk(d: Any) -> None:
        if type(d) is not list:
            return
        if len(d) == 3 and d[0] == "b" and type(d[1]) is int and type(d[2]) is int:
            out.append((d[1], d[2]))
            return
        for x in d:
            walk(x)
    walk(desc)
    seen: set = set()
    return [b for b in out if not (b in seen or seen.add(b))]


def _bound_slots(desc: Any) -> list[int]:
    return [s for s, cell in _binds(desc) if not cell]


# ---------------------------------------------------------------- inlining small callees

# What an inlined callee may do: read its arguments, cells and constants, compute, and return;
# nothing that another frame could see, so leaving it half-run for the VM's call is invisible.
_INLINE_OPS = frozenset({O.NOP, O.LOAD_CONST, O.LOAD_LOCAL, O.LOAD_CELL, O.LOAD_FREE,
                         O.STORE_LOCAL, O.POP, O.DUP, O.BINARY, O.UNARY_NEG, O.UNARY_NOT,
                         O.TO_BOOL, O.GET_INDEX, O.GET_ATTR})
INLINE_SIZE = 24            # instructions of a callee that may be inlined
# What inlined code must not mention: the caller's tables (not the callee's), the VM, depth.
_INLINE_ENV = re.compile(r"(?<![\w.])(K|LN|CH|CN|BI|BF|MT|MC|DS|PN|METHODS|PRE|OUT|TIER|M|S|"
                         r"_d|_L|h_uninit)(?!\w)")


def _plain(blob: Any, size: int) -> bool:
    """A plain function (no defaults, references, self, async or annotations) of at most
    `size` instructions after its one entry."""
    start = blob.entries[-1] if blob.entries else 0
    return (blob.kind != "module" and not blob.has_self and not blob.is_async
            and not blob.annotated and not blob.ref_params and blob.min_args == blob.params
            and len(blob.entries) == 1 and 0 < len(blob.code) - start <= size)


def straight(blob: Any) -> bool:
    """A plain function whose code is one straight run of `_INLINE_OPS` ending in its only
    return: inlined as it is."""
    code = blob.code
    return (_plain(blob, INLINE_SIZE) and code[-1][0] == O.RETURN
            and all(op in _INLINE_OPS for op, _, _ in code[blob.entries[-1]:-1]))


# What a branching callee may do besides: jump forward, return, and call (where a path reaches
# a call, the inlined code gives up before making it, and the call of the callee is made).
_BRANCH_OPS = _INLINE_OPS | {O.LOAD_UNIT, O.JUMP, O.JUMP_IF_FALSE, O.JUMP_IF_TRUE, O.RETURN,
                             O.CALL, O.CALL_METHOD}


def branching(blob: Any) -> bool:
    """A plain function of `_BRANCH_OPS` with forward jumps only, some path of which returns
    without reaching a call: inlined up to its first call (`_Branching`)."""
    code = blob.code
    start = blob.entries[-1] if blob.entries else 0
    if not _plain(blob, INLINE_SIZE) or not all(
            op in _BRANCH_OPS and all(t > pc for t in O.jump_targets(op, a, b))
            for pc, (op, a, b) in enumerate(code[start:], start)):
        return False
    work, seen = [start], set()
    while work:
        pc = work.pop()
        if pc in seen or pc >= len(code):
            continue
        seen.add(pc)
        op, a, b = code[pc]
        if op == O.RETURN:
            return True
        if op not in (O.CALL, O.CALL_METHOD):
            work.extend(O.jump_targets(op, a, b))
            if op != O.JUMP:
                work.append(pc + 1)
    return False


def inlinable(blob: Any) -> bool:
    """A function the JIT may inline where it is called: `straight` or `branching`."""
    return straight(blob) or branching(blob)


class _Inline(JitGen):
    """The code of an inlinable callee, generated into its caller: registers are the caller's
    locals `v<pc>_<slot>`, constants are literals, and wherever the callee's code would leave
    for the VM the caller does, at the call (`Deopt` of the call: the VM calls)."""

    def __init__(self, caller: JitGen, blob: Any, pc: int, full: list) -> None:
        super().__init__(blob, caller.blobs, False)
        self.prefix = f"v{pc}_"
        self.at_call = (pc, list(full))
        self.n = caller.n

    def reg(self, slot: int) -> str:
        return f"{self.prefix}{slot}"

    def deopt(self, pc: int, items: list, counted: bool = True) -> None:
        cpc, full = self.at_call
        self.line(f"raise Deopt({cpc}, {self.stack_tuple(full)}, True)")

    def const_expr(self, i: int) -> str:
        v = self.blob.consts[i]
        if type(v) is str:
            e = repr(v)
            self.kinds[e] = "str"
            return e
        return super().const_expr(i)

    def own(self, op: int, a: int, b: int, pc: int) -> None:
        if op == O.LOAD_FREE:
            t = self.tmp()
            self.line(f"{t} = {self.reg(a)}.v")
            self.line(f"if {t} is UNINIT:")
            self.ind += 1
            self.deopt(pc, [])
            self.ind -= 1
            self.push(t)
            self.origin[t] = a
            return
        super().own(op, a, b, pc)

    def body(self, f: str, args: list[str]) -> tuple[list, str]:
        """The callee's code (Lines) and the expression of its result."""
        blob = self.blob
        argc, k, n = blob.argc, blob.argc + blob.nfree, blob.nlocals
        self.cur, self.ind, self.stack = [], 0, []
        self.kinds, self.rt = {}, {}
        L = self.line
        self.pc = blob.entries[-1]
        for i, x in enumerate(args):
            L(f"{self.reg(i)} = {x}")
            kind = self.caller_kinds.get(x)
            if kind is not None:
                self.set_reg(i, kind)
        if blob.nfree:
            L(f"{''.join(self.reg(i) + ', ' for i in range(argc, k))}= {f}.cells")
        if n > k:
            L(" = ".join(self.reg(i) for i in range(k, n)) + " = None")
            for i in range(k, n):
                self.set_reg(i, "none")
        code = blob.code
        for pc in range(blob.entries[-1], len(code) - 1):
            self.pc = pc
            op, a, b = code[pc]
            self.instr(op, a, b, pc)
        x = self.pop()
        for ln in self.cur:
            if _INLINE_ENV.search(ln.text) or _VM_STATE.search(ln.text):
                raise Unsupported("the callee's code needs its own tables")
        return self.cur, x


# What an unrolled body must not mention (the same blob's tables are its own): the VM, callees.
_UNROLL_ENV = re.compile(r"(?<![\w.])(M|METHODS|PRE|OUT|TIER|BL|_L)(?!\w)|_ic\d|_ar\d")
UNROLL_SIZE = 48            # instructions of a recursive function that may be unrolled
_UNROLL_OPS = _INLINE_OPS | {O.CALL, O.JUMP, O.JUMP_IF_FALSE, O.JUMP_IF_TRUE, O.RETURN}


def unrollable(blob: Any) -> bool:
    """A function whose recursive calls may run its body in place: like `inlinable`, with
    forward branches and calls (the generator refuses any call but a recursive one)."""
    code = blob.code
    start = blob.entries[-1] if blob.entries else 0
    return _plain(blob, UNROLL_SIZE) and all(
        op in _UNROLL_OPS and all(t > pc for t in O.jump_targets(op, a, b))
        for pc, (op, a, b) in enumerate(code[start:], start))


class _OneShot:
    """Returns of a body generated in place of a call (`_one_shot`): set the result, leave."""

    result = ""

    def ret(self, x: str) -> None:
        self.ret_kinds.add(self.kind(x))
        self.line(f"{self.result} = {x}")
        self.line("break")


class _Unrolled(_OneShot, JitGen):
    """One level of a recursive function's body, generated into its own recursive call (see
    JitGen.unroll): registers `v<pc>_<slot>`, returns leave a one-shot loop with the result,
    and wherever the body would leave for the VM the caller does, at the call."""

    def __init__(self, caller: JitGen, pc: int, full: list) -> None:
        super().__init__(caller.blob, caller.blobs, False)
        self.env = caller.env              # the same blob: the same tables
        self.prefix = f"v{pc}_"
        self.at_call = (pc, list(full))
        self.n = caller.n
        self.fname = caller.fname
        self.ret_kind = caller.ret_kind
        self.guard = dict(caller.entry_guard())
        self.depth_test, self.depth_next = "_d > 1", "_d - 2"

    def reg(self, slot: int) -> str:
        return f"{self.prefix}{slot}"

    def entry_guard(self) -> dict:
        return self.guard

    def deopt(self, pc: int, items: list, counted: bool = True) -> None:
        cpc, full = self.at_call
        self.line(f"raise Deopt({cpc}, {self.stack_tuple(full)}, True)")

    def call(self, argc: int, nxt: int) -> bool:
        slot = self.origin.get(self.stack[-argc - 1]) if len(self.stack) > argc else None
        if not self.calls_itself(slot, argc):
            raise Unsupported("an unrolled body calls another function")
        return super().call(argc, nxt)

    def call_method(self, name: str, a: int, argc: int, nxt: int) -> bool:
        raise Unsupported("an unrolled body calls a method")

    def body(self, f: str, args: list[str]) -> tuple[list, str, set]:
        """The body (Lines relative to the call), its result, and the kinds it may have."""
        return _one_shot(self, f, args, _UNROLL_ENV, "")


_STACK_NAME = re.compile(r"(?<![\w.])s\d+(?!\w)")


def _one_shot(gen: JitGen, f: str, args: list[str], forbidden: Any,
              preset: str) -> tuple[list, str, set]:
    """The code of a callee with forward branches, generated in place of its call by `gen`
    (`_Unrolled`, `_Branching`: registers `v<pc>_<slot>`, each return sets `gen.result` and
    leaves a one-shot `while True:`; `preset`, if any, is the result's value before it): the
    Lines relative to the call, the result, and the kinds it may have. Unsupported if a line
    mentions `forbidden` or the VM's state."""
    blob = gen.blob
    argc, k, n = blob.argc, blob.argc + blob.nfree, blob.nlocals
    start = blob.entries[-1]
    gen.result = gen.tmp()
    kinds = {i: gen.caller_kinds.get(x) for i, x in enumerate(args)}
    entry = {i: kd for i, kd in kinds.items() if kd is not None}
    entry.update({i: "none" for i in range(k, n)})
    base = gen.n
    for _ in range(64):
        gen.assume = {start: (dict(entry), [None] * gen.depths[start])}
        gen.changed = False
        gen.n = base
        gen.tests = set()
        gen.ret_kinds = set()
        gen.self_calls = gen.unguarded_calls = 0
        nodes = gen.build(Region("entry", start, ()))
        if not gen.changed:
            break
    else:
        raise Unsupported("the kinds of registers do not settle")
    nodes = _fused_tests(nodes, gen.tests)
    gen.cur, gen.ind, gen.pc = [], 0, start
    pro = gen.cur
    if preset:
        gen.line(f"{gen.result} = {preset}")
    for i, x in enumerate(args):
        gen.line(f"{gen.reg(i)} = {x}")
    if blob.nfree:
        gen.line(f"{''.join(gen.reg(i) + ', ' for i in range(argc, k))}= {f}.cells")
    if n > k:
        gen.line(" = ".join(gen.reg(i) for i in range(k, n)) + " = None")
    out: list = []
    _render(pro + [While(start, nodes)], 0, out)
    lines = []
    for text, _, _ in out:
        body = text.lstrip(" ")
        if _VM_STATE.search(body) or forbidden.search(body):
            raise Unsupported("the inlined body needs what the VM holds")
        if _STACK_NAME.search(body):
            # where the callee's paths meet with values on its stack (`s0, …`): those are
            # the caller's names
            raise Unsupported("the inlined body's operand stack would be the caller's")
        lines.append(Line((len(text) - len(body)) // 4, body, start))
    return lines, gen.result, gen.ret_kinds


class _Branching(_OneShot, _Inline):
    """The code of a `branching` callee, generated into its caller up to its first call: a path
    that reaches a call leaves the one-shot loop with the result still NO_VALUE, and the caller
    then makes the call of the callee from its start (nothing the inlined code did is visible:
    it has no effects). Like `_Inline`, anything else that goes wrong leaves for the VM at the
    call."""

    def call(self, argc: int, nxt: int) -> bool:
        self.popn(argc + 1)
        self.res = self.tmp()
        self.line("break")
        return True

    def call_method(self, name: str, a: int, argc: int, nxt: int) -> bool:
        return self.call(argc, nxt)

    def body(self, f: str, args: list[str]) -> tuple[list, str]:
        lines, x, _ = _one_shot(self, f, args, _INLINE_ENV, "NO_VALUE")
        return lines, x


# ---------------------------------------------------------------- compiling, cached

_CACHE = Bounded(2048)   # (JIT_VERSION, blob id, region, counting) -> JitCode | Unsupported


def compile_region(blob: Any, blobs: dict, region: Region, counting: bool) -> JitCode:
    """The compiled code of `region` of a (validated) blob, generated once per process and blob
    id; raises Unsupported for code that stays on the VM."""
    key = (JIT_VERSION, blob.id, region, counting)
    jc = _CACHE.get(key)
    if jc is None:
        try:
            jc = _generate(blob, blobs, region, counting)
        except Unsupported as e:
            jc = e
        except RecursionError:
            jc = Unsupported("code nested too deeply to compile")
        _CACHE.put(key, jc)
    if isinstance(jc, Unsupported):
        raise jc
    return jc


def _generate(blob: Any, blobs: dict, region: Region, counting: bool) -> JitCode:
    gen = JitGen(blob, blobs, counting)
    name = f"{region.kind}{region.entry}"
    src, lines = gen.function(region, name)
    spec = hashlib.sha256(repr(region.spec).encode()).hexdigest()[:12] if region.spec else "any"
    fname = (f"<shape-jit {blob.id} {region.kind}@{region.entry} {spec}"
             f"{' counting' if counting else ''}>")
    try:
        # Once per generated text, as threaded code is (regions of blobs that differ only in
        # their tables generate the same text).
        code = T._compile(src, fname)
    except (SyntaxError, RecursionError, MemoryError, ValueError) as e:
        # Nesting beyond what Python compiles (blocks, indentation): stays on the VM.
        raise Unsupported(f"generated code does not compile ({type(e).__name__})") from None
    return JitCode(blob.id, region, counting, code, name, lines, blob.nlocals,
                   frozenset(gen.leaders), gen.env, src)
