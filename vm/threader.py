"""Threaded code: each blob's bytecode turned into one Python function per dispatch unit.

A *dispatch unit* is a straight-line run of instructions from a leader (entry point, jump target,
or the instruction after a call-like or transfer instruction) to the next leader or transfer.
The unit function `u(R) -> next_pc` runs every instruction of the run on the frame's register
list `R`; the machine's loop is just `pc = code[pc](R)`. Inside a unit the operand stack is
kept symbolically in Python locals (the value of each instruction is computed into a temporary
in instruction order), so a unit is the literal translation of its instructions with the stack
traffic removed: this is where superinstructions come from, for every sequence, without a
hand-written list. Whatever is still on the symbolic stack when control leaves the unit is
pushed onto `R`, so at every unit boundary `R` holds exactly the bytecode's operand stack. That
is the invariant that makes any unit boundary a safe point for stopping and snapshotting.

The generated source is built only from fixed templates and integers taken from a validated
blob (slot numbers, jump targets, constant-table indices); constants, names and descriptors are
never spliced into source text, they are reached through tables (`K[i]`, `MT[i]`, `MC[i]`, …)
passed to the factory. The source is generated once per blob id and compiled once per text (blobs
that differ only in their tables share it); each machine instantiates it with its own frame stack. Nothing here is part of the machine state: it is rebuilt from blobs.

Every instruction's code starts on its own source line(s), and `line_pc` maps generated line
numbers back to instruction offsets, so an error raised anywhere in a unit is reported at the
exact instruction (and so at its Shape line:col) from the traceback, at no run-time cost.

Fast paths and the generic path. Templates of hot code inline the common, successful case of an
operation (an int `+`, a list index in range, a call of a plain closure); everything else, and
every error, goes through the rule's one function in runtime/. With the generic switch
(environment variable SHAPE_VM_GENERIC=1, or `Machine(generic=True)`) every unit is threaded with
the generic templates only: each operation calls its rule, so a run with the switch and one
without must agree exactly (the conformance runner's `vm-generic` engine and the fuzzer compare
them).
"""
from __future__ import annotations

import contextlib
import math
import os
from types import CodeType
from typing import Any, Iterator, Optional

from shapelang.runtime import patterns as P
from shapelang.runtime.iterators import IteratorValue
from shapelang.runtime.methods import builtin_receivers
from shapelang.runtime.prelude import prelude_method, prelude_receivers
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.values import Err, HashMapValue, Ok, RangeValue
from shapelang.vm import frame as F
from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob
from shapelang.vm.bounded import Bounded
from shapelang.vm.objects import builtin_value

GENERIC_ENV = "SHAPE_VM_GENERIC"
_generic_override: list[Optional[bool]] = [None]


def generic_default() -> bool:
    """Whether machines thread code with the generic templates only (see the module docstring):
    the innermost `generic_mode`, else the SHAPE_VM_GENERIC environment variable."""
    if _generic_override[0] is not None:
        return _generic_override[0]
    return os.environ.get(GENERIC_ENV, "") not in ("", "0")


@contextlib.contextmanager
def generic_mode(on: bool) -> Iterator[None]:
    """Machines created inside the block use the generic templates (on) or the fast paths."""
    saved = _generic_override[0]
    _generic_override[0] = on
    try:
        yield
    finally:
        _generic_override[0] = saved

_BINOP_FN = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod", "**": "pow_",
             "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge",
             "&": "bit_and", "|": "bit_or", "^": "bit_xor", "<<": "shl", ">>": "shr"}
_BITWISE = ("&", "|", "^", "<<", ">>")


_DROPPABLE = {O.CALL, O.CALL_METHOD}
FACTORY_ARGS = "M, FR, BL, LIMIT, OUT, METHODS, PRE, K, LN, CH, CN, BI, BF, MT, MC, DS, PN, CODE"
# How template code names the receiver types of built-in methods (names of the machine's _G).
_RECEIVER_NAMES = {list: "list", str: "str", int: "int", float: "float",
                   HashMapValue: "HashMapValue", Ok: "Ok", Err: "Err", RangeValue: "RangeValue",
                   IteratorValue: "IteratorValue", LineReader: "LineReader"}
# The inline test of a value that a slot of a simple type stores as it is ({0}: the value).
_SLOT_TESTS = {"int": "type({0}) is int", "string": "type({0}) is str",
               "bool": "type({0}) is bool", "None": "{0} is None", "array": "type({0}) is list",
               "object": "type({0}) is dict"}


def _int_literal(expr: str) -> Optional[int]:
    """The value of an int constant operand (`(5)`, `(-3)`: see const_expr), else None."""
    if expr.startswith("(") and expr.endswith(")"):
        try:
            return int(expr[1:-1])
        except ValueError:
            return None
    return None


def _pattern_size(d: Any) -> int:
    if type(d) is list:
        return 1 + sum(_pattern_size(x) for x in d if type(x) is list)
    return 0


def filename_for(bid: str, generic: bool = False) -> str:
    return f"<shape-blob {bid}{' generic' if generic else ''}>"


class CompiledBlob:
    """The machine-independent part of a blob's threaded code (cached per blob id)."""
    __slots__ = ("code", "line_pc", "leaders", "env", "source", "exits")

    def __init__(self, code: Any, line_pc: list[int], leaders: list[int], env: dict,
                 source: str, exits: Optional[dict] = None) -> None:
        self.code = code
        self.line_pc = line_pc
        self.leaders = leaders
        self.env = env
        self.source = source
        # (pc, kind) -> (target, chained): where each unit exit goes (see _Gen.goto).
        self.exits = exits if exits is not None else {}


CHUNK = 48          # dispatch units per generated factory function
_CACHE = Bounded()      # filename_for(bid, generic) -> CompiledBlob
_BY_TEXT = Bounded()    # generated source -> its code (see _compile)


def leaders_of(blob: Blob) -> list[int]:
    code = blob.code
    n = len(code)
    lead = {0}
    lead.update(blob.entries)
    for pc, (op, a, b) in enumerate(code):
        lead.update(O.jump_targets(op, a, b))
        if op == O.FOR_NEXT:
            # A loop over an iterator comes back to its FOR_NEXT from a frame of the prelude.
            lead.add(pc)
        if O.CLASS[op] in "UC" and pc + 1 < n:
            lead.add(pc + 1)
            if op in _DROPPABLE and code[pc + 1][0] == O.POP and pc + 2 < n:
                # A call statement: the fast paths skip the POP and continue after it.
                lead.add(pc + 2)
    return sorted(x for x in lead if x < n)


class Units:
    """A blob's unit structure, the same for every code generated from the blob (its threaded
    code, fast or generic, its side entries, every JIT region of it): computed once per blob id
    (`units_of`) and never changed after."""
    __slots__ = ("leaders", "lead_set", "tails", "hot")

    def __init__(self, leaders: list[int], lead_set: frozenset, tails: dict[int, frozenset],
                 hot: list[bool]) -> None:
        self.leaders = leaders
        self.lead_set = lead_set
        self.tails = tails      # leader -> the later units it may run directly (see goto)
        self.hot = hot          # per instruction: generated with the inline fast paths


_UNITS = Bounded()     # blob id -> Units


def units_of(blob: Blob) -> Units:
    u = _UNITS.get(blob.id)
    if u is None:
        u = _UNITS.put(blob.id, _analyse_units(blob))
    return u


def _analyse_units(blob: Blob) -> Units:
    code = blob.code
    n = len(code)
    leaders = leaders_of(blob)
    lead_set = frozenset(leaders)

    def forward(pc: int) -> int:
        return forward_of(code, lead_set, pc)
    # Where each unit may go next. A unit may run a *later* unit directly instead of
    # returning its pc to the dispatch loop (`goto`); a unit that does so is never itself
    # run that way, so these chains are at most two units deep (no Python recursion).
    tails: dict[int, frozenset] = {}
    exits: dict[int, set[int]] = {}
    for start in leaders:
        out: set[int] = set()
        pc = start
        while True:
            op, a, b = code[pc]
            out.update(forward(t) for t in O.jump_targets(op, a, b))
            if op in _DROPPABLE and drops_at(code, pc):
                out.add(forward(pc + 2))
            if O.CLASS[op] in "UC" or pc + 1 >= n:
                break
            if pc + 1 in lead_set:
                out.add(forward(pc + 1))
                break
            pc += 1
        exits[start] = {t for t in out if t > start}
    callers: set[int] = set()
    for start in reversed(leaders):
        targets = frozenset(t for t in exits[start] if t not in callers)
        tails[start] = targets
        if targets:
            callers.add(start)
    # Module code outside loops runs once: compact templates (helper calls instead of inline
    # fast paths) make it much cheaper to generate and compile. Functions are always hot.
    hot = [blob.kind != "module"] * n
    if blob.kind == "module":
        for pc, (op, a, b) in enumerate(code):
            for t in O.jump_targets(op, a, b):
                if t <= pc:
                    for i in range(t, pc + 1):
                        hot[i] = True
    return Units(leaders, lead_set, tails, hot)


def drops_at(code: list, pc: int) -> bool:
    """The call at pc is a statement (its result is popped right away)."""
    return pc + 2 < len(code) and code[pc + 1][0] == O.POP


def forward_of(code: list, lead_set: Any, pc: int) -> int:
    """pc, or where it leads when the unit there is a lone unconditional jump."""
    for _ in range(16):
        if pc in lead_set and code[pc][0] == O.JUMP:
            pc = code[pc][1]
        else:
            break
    return pc


class _Gen:
    def __init__(self, blob: Blob, blobs: dict[str, Blob], generic: bool = False) -> None:
        self.blob = blob
        self.blobs = blobs
        self.generic = generic
        self.out: list[tuple[str, int]] = []
        self.pc = 0
        self.ind = 2
        self.stack: list[str] = []
        self.kinds: dict[str, str] = {}
        self.n = 0
        self.exits: dict[tuple[int, str], tuple[int, bool]] = {}
        K = blob.consts
        # Tables the generated code indexes (filled per constant index as needed).
        self.env = {"K": tuple(K), "LN": tuple(s.split("#")[0] for s in blob.local_names),
                    "CH": tuple(blob.children),
                    "CN": tuple(blobs[c].name if c in blobs else None for c in blob.children),
                    "BI": {}, "BF": {}, "MT": {}, "MC": {}, "DS": {}, "PN": {}}

    # ------------------------------------------------------------ emission helpers

    def line(self, text: str) -> None:
        self.out.append(("    " * self.ind + text, self.pc))

    def tmp(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def pop(self) -> str:
        if self.stack:
            return self.stack.pop()
        t = self.tmp()
        self.line(f"{t} = R.pop()")
        return t

    def popn(self, k: int) -> list[str]:
        items = [self.pop() for _ in range(k)]
        items.reverse()
        return items

    def push(self, expr: str, kind: Optional[str] = None) -> None:
        self.stack.append(expr)
        if kind:
            self.kinds[expr] = kind

    def ident(self, x: str) -> str:
        """x as a local variable name (`is` tests on literals would warn and mislead)."""
        if x.startswith("t") and x[1:].isdigit():
            return x
        t = self.tmp()
        self.line(f"{t} = {x}")
        if x in self.kinds:
            self.kinds[t] = self.kinds[x]
        return t

    def kind(self, expr: str) -> Optional[str]:
        return self.kinds.get(expr)

    def const_expr(self, i: int) -> str:
        v = self.blob.consts[i]
        t = type(v)
        if v is None or t is bool:
            e = repr(v)
            self.kinds[e] = "none" if v is None else "bool"
            return e
        # Every operand expression is a Python atom, so a template may apply `.attr`, `[i]` or a
        # call to any operand: `(3)` and `(2.5)`, never `3` (`3.bid` does not even compile).
        if t is int:
            e = f"({v!r})"
            self.kinds[e] = "int"
            return e
        if t is float and math.isfinite(v):
            e = f"({v!r})"
            self.kinds[e] = "float"
            return e
        e = f"K[{i}]"
        if t is str:
            self.kinds[e] = "str"
        return e

    def flush_lines(self) -> list[str]:
        if not self.stack:
            return []
        items = self.stack
        if len(items) == 1:
            return [f"R.append({items[0]})"]
        return [f"R += ({', '.join(items)},)"]

    def goto(self, target: int, kind: str = "fall") -> None:
        """Leave the unit for `target`: run that unit directly when allowed, else return its pc
        to the dispatch loop. The exit is recorded by (instruction, kind) — "fall" into the
        next unit, "jump" of a jump instruction, "result" of a call statement's fast path — as
        (target, chained): the JIT counts steps as this code does (vm/jit/)."""
        chained = target in self.tails.get(self.unit_start, ())
        self.exits[(self.pc, kind)] = (target, chained)
        if chained:
            self.line(f"return CODE[{target}](R)")
        else:
            self.line(f"return {target}")

    def exit_to(self, target: int) -> None:
        """Leave the unit to `target` from inside an `if` (the symbolic stack stays for the
        fall-through path)."""
        lines = self.flush_lines()
        for ln in lines:
            self.line(ln)
        self.goto(self.forward(target) if not lines else target, "jump")

    def materialise(self) -> None:
        for ln in self.flush_lines():
            self.line(ln)
        self.stack = []

    def checked(self, x: str, slot: list, k_expr: str) -> str:
        """x as a slot declared with a type stores it (runtime/types.py check_slot; `k_expr`
        reads the slot descriptor). Inlined: the value that already conforms, and an int
        stored into a `number` slot."""
        kind = slot[2][0]
        if kind == "any":
            return x
        t = self.tmp()
        if self.cold:
            self.line(f"{t} = check_slot({x}, {k_expr}, M.decls)")
            return t
        k = self.kind(x)
        if (kind, k) in (("int", "int"), ("number", "float"), ("string", "str"),
                         ("bool", "bool")):
            return x
        if kind == "number" and k == "int":
            return f"float({x})"
        x = self.ident(x)
        test = _SLOT_TESTS.get(kind)
        if kind == "number":
            self.line(f"{t} = {x} if type({x}) is float else float({x}) if type({x}) is int "
                      f"else check_slot({x}, {k_expr}, M.decls)")
        elif test is not None:
            self.line(f"{t} = {x} if {test.format(x)} else check_slot({x}, {k_expr}, M.decls)")
        else:
            self.line(f"{t} = check_slot({x}, {k_expr}, M.decls)")
        if kind in ("int", "string", "bool"):
            self.kinds[t] = {"int": "int", "string": "str", "bool": "bool"}[kind]
        return t

    def truth(self, x: str) -> str:
        if self.cold:
            return f"truthy({x})"
        k = self.kind(x)
        if k == "bool":
            return x
        x = self.ident(x)
        return f"({x} is True or ({x} is not False and truthy({x})))"

    # ------------------------------------------------------------ units

    def analyse(self) -> list[int]:
        """The unit structure (see `units_of`): leaders, which unit may run which directly
        (`tails`), and which code is hot. Returns the leaders."""
        u = units_of(self.blob)
        self.leaders = u.leaders
        self.lead_set = u.lead_set
        self.tails = u.tails
        self.hot = u.hot
        self.cold = False
        self.unit_start = 0
        return u.leaders

    def generate(self) -> tuple[str, list[int], list[int]]:
        leaders = self.analyse()
        names: list[int] = []
        factories: list[str] = []
        for index, start in enumerate(leaders):
            if index % CHUNK == 0:
                # Python compiles many small factories much faster than one huge one.
                if names:
                    self.close_factory(names)
                names = []
                factories.append(f"__factory{len(factories)}")
                self.pc = start
                self.out.append((f"def {factories[-1]}({FACTORY_ARGS}):", start))
            self.unit(start, start)
            names.append(start)
        if names:
            self.close_factory(names)
        self.pc = 0
        self.ind = 0
        self.line(f"__factories = ({''.join(f + ', ' for f in factories)})")
        src = "\n".join(t for t, _ in self.out) + "\n"
        line_pc = [pc for _, pc in self.out]
        return src, line_pc, leaders

    def unit(self, start: int, first: int) -> None:
        """The function `u{first}` running the unit that starts at leader `start` from its
        instruction `first` on (first == start, except for a side entry)."""
        code = self.blob.code
        n = len(code)
        self.stack = []
        self.kinds = {}
        self.n = 0
        self.pc = first
        self.unit_start = start
        self.cold = self.generic or not self.hot[start]
        self.ind = 1
        self.line(f"def u{first}(R):")
        self.ind = 2
        pc = first
        while True:
            self.pc = pc
            op, a, b = code[pc]
            ends = self.instr(op, a, b, pc)
            if ends:
                break
            pc += 1
            if pc >= n:
                self.line("raise ShapeError('RuntimeError', 'fell off the end of the code')")
                break
            if pc in self.lead_set:
                self.pc = pc - 1
                pending = bool(self.stack)
                self.materialise()
                self.goto(pc if pending else self.forward(pc))
                break

    def side_entry(self, pc: int) -> tuple[str, list[int]]:
        """Source of a factory `__side(…)` returning the unit function that runs the rest of the
        unit holding instruction `pc` from `pc` on, exactly as that unit would (same fast paths,
        same exits); the operand stack is in R. The JIT continues on the VM there when it leaves
        compiled code in the middle of a unit."""
        leaders = self.analyse()
        start = max(x for x in leaders if x <= pc)
        self.pc = pc
        self.out.append((f"def __side({FACTORY_ARGS}):", pc))
        self.unit(start, pc)
        self.ind = 1
        self.line(f"return u{pc}")
        src = "\n".join(t for t, _ in self.out) + "\n"
        return src, [p for _, p in self.out]

    def close_factory(self, names: list[int]) -> None:
        self.ind = 1
        self.line("return (" + "".join(f"({s}, u{s}), " for s in names) + ")")

    # ------------------------------------------------------------ instructions

    def instr(self, op: int, a: int, b: int, pc: int) -> bool:
        """Generate one instruction; True when it ends the unit."""
        name = O.NAMES[op]
        nxt = pc + 1
        L = self.line
        if op == O.NOP:
            return False
        if op == O.LOAD_CONST:
            self.push(self.const_expr(a))
        elif op == O.LOAD_UNIT:
            self.push("UNIT", "unit")
        elif op == O.LOAD_LOCAL:
            t = self.tmp()
            L(f"{t} = R[{a}]")
            self.push(t)
        elif op == O.LOAD_CELL:
            t = self.tmp()
            L(f"{t} = R[{a}].v")
            self.push(t)
        elif op == O.LOAD_FREE:
            t = self.tmp()
            L(f"{t} = R[{a}].v")
            L(f"if {t} is UNINIT: h_uninit(LN[{a}])")
            self.push(t)
        elif op == O.STORE_LOCAL:
            x = self.pop()
            L(f"R[{a}] = {x}")
        elif op == O.STORE_CELL:
            x = self.pop()
            L(f"R[{a}].v = {x}")
        elif op == O.STORE_FREE:
            x = self.pop()
            c = self.tmp()
            L(f"{c} = R[{a}]")
            L(f"if {c}.v is UNINIT: h_uninit(LN[{a}])")
            L(f"{c}.v = {x}")
        elif op == O.MAKE_CELL:
            L(f"R[{a}] = Cell(UNINIT)")
        elif op == O.WRAP_CELL or op == O.WRAP_TYPED_CELL:
            t = self.tmp()
            L(f"{t} = R[{a}]")
            cell = "Cell({0})" if op == O.WRAP_CELL else f"TypedCell({{0}}, K[{b}])"
            L(f"if type({t}) is not Cell and type({t}) is not TypedCell: "
              f"R[{a}] = {cell.format(t)}")
        elif op == O.MAKE_TYPED_CELL:
            L(f"R[{a}] = TypedCell(UNINIT, K[{b}])")
        elif op == O.CHECK_SLOT:
            self.push(self.checked(self.pop(), self.blob.consts[a], f"K[{a}]"))
        elif op == O.CHECK_REF:
            # A write through a `&` parameter: the referenced variable's declared type.
            x = self.ident(self.pop())
            c = self.tmp()
            t = self.tmp()
            L(f"{c} = R[{a}]")
            L(f"{t} = check_slot({x}, {c}.t, M.decls) if type({c}) is TypedCell else {x}")
            self.push(t)
        elif op == O.CONVERT:
            x = self.pop()
            self.materialise()
            L(f"return M.convert({x}, K[{a}], {b}, {nxt})")
            return True
        elif op == O.OPERATOR_TRAIT:
            y = self.pop() if b else "None"
            x = self.pop()
            self.materialise()
            L(f"return M.operator({a}, {b}, {x}, {y}, {nxt})")
            return True
        elif op == O.LOAD_BUILTIN:
            self.env["BI"][a] = builtin_value(self.blob.consts[a])
            self.push(f"BI[{a}]")
        elif op == O.POP:
            self.pop()
        elif op == O.POP_N:
            self.popn(a)
        elif op == O.DUP:
            x = self.pop()
            self.push(x)
            self.push(x)
        elif op == O.DUP2:
            x, y = self.popn(2)
            for e in (x, y, x, y):
                self.push(e)
        elif op == O.BINARY:
            y = self.pop()
            x = self.pop()
            store = self.append_store(pc) if O.BINOPS[a] == "+" else None
            if store is not None and self.appendable(x, y):
                self.binary("+", x, y, store)
            else:
                self.binary(O.BINOPS[a], x, y)
        elif op == O.UNARY_NEG:
            x = self.pop()
            t = self.tmp()
            if self.cold:
                L(f"{t} = neg({x})")
            elif self.kind(x) == "float":
                L(f"{t} = -{x}")
            else:
                L(f"{t} = -{x} if type({x}) is float else neg({x})")
            self.push(t)
        elif op == O.UNARY_INVERT:
            # runtime/operators.py bit_not, inlined for an int
            x = self.pop()
            t = self.tmp()
            if self.cold:
                L(f"{t} = bit_not({x})")
            elif self.kind(x) == "int":
                L(f"{t} = ~{x}")
            else:
                L(f"{t} = ~{x} if type({x}) is int else bit_not({x})")
            self.push(t, "int")
        elif op == O.FUZZY:
            # runtime/operators.py fuzzy, never inlined (not a hot operation)
            x, y = self.popn(2)
            t = self.tmp()
            L(f"{t} = fuzzy({O.FUZZY_OPS[a]!r}, {x}, {y}, *K[{b}])")
            self.push(t, "bool")
        elif op == O.LOAD_DURATION:
            t = self.tmp()
            L(f"{t} = make_duration(K[{a}])")
            self.push(t)
        elif op == O.UNARY_NOT:
            x = self.pop()
            t = self.tmp()
            if self.kind(x) == "bool" and not self.cold:
                L(f"{t} = not {x}")
            else:
                L(f"{t} = not truthy({x})")
            self.push(t, "bool")
        elif op == O.TO_BOOL:
            x = self.pop()
            if self.kind(x) == "bool" and not self.cold:
                self.push(x, "bool")
            else:
                t = self.tmp()
                L(f"{t} = truthy({x})")
                self.push(t, "bool")
        elif op == O.MAKE_RANGE:
            x, y = self.popn(2)
            t = self.tmp()
            L(f"{t} = make_range({x}, {y}, {bool(a)})")
            self.push(t)
        elif op == O.BUILD_LIST:
            items = self.popn(a)
            t = self.tmp()
            L(f"{t} = [{', '.join(items)}]")
            self.push(t)
        elif op == O.BUILD_LIST_SPREAD:
            flags = self.blob.consts[a]
            items = self.popn(len(flags))
            t = self.tmp()
            L(f"{t} = []")
            for f, x in zip(flags, items):
                if f:
                    L(f"{t}.extend(spread_array({x}))")
                else:
                    L(f"{t}.append({x})")
            self.push(t)
        elif op == O.SPREAD_COPY:
            x = self.pop()
            t = self.tmp()
            L(f"{t} = h_spread_copy({x}, {a})")
            self.push(t)
        elif op == O.BUILD_OBJECT:
            keys = self.blob.consts[a]
            items = self.popn(len(keys))
            t = self.tmp()
            if all(k is not None for k in keys):
                L(f"{t} = {{{', '.join(f'K[{a}][{i}]: {x}' for i, x in enumerate(items))}}}")
            else:
                L(f"{t} = {{}}")
                for i, (k, x) in enumerate(zip(keys, items)):
                    if k is None:
                        L(f"h_spread_obj({t}, {x})")
                    else:
                        L(f"{t}[K[{a}][{i}]] = {x}")
            self.push(t)
        elif op == O.BUILD_STRING:
            items = self.popn(a)
            t = self.tmp()
            L(f"{t} = {' + '.join(items)}")
            self.push(t, "str")
        elif op == O.FORMAT:
            x = self.pop()
            if self.cold:
                t = self.tmp()
                L(f"{t} = display({x})")
                self.push(t, "str")
            elif self.kind(x) == "str":
                self.push(x, "str")
            else:
                t = self.tmp()
                L(f"{t} = {x} if type({x}) is str else display({x})")
                self.push(t, "str")
        elif op == O.FORMAT_SPEC:
            x = self.pop()
            t = self.tmp()
            L(f"{t} = format_spec({x}, K[{a}])")
            self.push(t, "str")
        elif op == O.GET_ATTR:
            x = self.ident(self.pop())
            t = self.tmp()
            attr = self.blob.consts[a]
            if self.cold:
                L(f"{t} = get_property({x}, K[{a}])")
            elif attr == "length":
                L(f"if type({x}) is list or type({x}) is str: {t} = len({x})")
                L(f"else: {t} = get_property({x}, K[{a}])")
            else:
                L(f"if type({x}) is dict: {t} = {x}.get(K[{a}])")
                L(f"elif type({x}) is StructValue and K[{a}] in {x}.fields: {t} = {x}.fields[K[{a}]]")
                L(f"else: {t} = get_property({x}, K[{a}])")
            self.push(t)
        elif op == O.GET_COMPTIME:
            # runtime/records.py comptime_get, inlined for an instance field
            x = self.ident(self.pop())
            t = self.tmp()
            if self.cold:
                L(f"{t} = comptime_get({x}, K[{a}], K[{b}])")
            else:
                L(f"if type({x}) is StructValue and K[{a}] in {x}.fields: {t} = {x}.fields[K[{a}]]")
                L(f"else: {t} = comptime_get({x}, K[{a}], K[{b}])")
            self.push(t)
        elif op == O.SET_ATTR:
            # The value stored is the assignment's value (a struct field's type may convert it).
            x, v = self.popn(2)
            x = self.ident(x)
            t = self.tmp()
            keep = f"{t} = " if b else ""
            if self.cold:
                L(f"{keep}set_property({x}, K[{a}], {v}, M.decls)")
            else:
                v = self.ident(v)
                L(f"if type({x}) is dict: {x}[K[{a}]] = {keep}{v}")
                L(f"else: {keep}set_property({x}, K[{a}], {v}, M.decls)")
            if b:
                self.push(t)
        elif op == O.GET_INDEX:
            x, i = self.popn(2)
            x = self.ident(x)
            t = self.tmp()
            if self.cold:
                L(f"{t} = index_get({x}, {i})")
                self.push(t)
                return False
            L(f"if type({x}) is list and type({i}) is int and 0 <= {i} < len({x}): {t} = {x}[{i}]")
            L(f"elif type({x}) is dict and type({i}) is str: {t} = {x}.get({i})")
            L(f"else: {t} = index_get({x}, {i})")
            self.push(t)
        elif op == O.SET_INDEX:
            x, i, v = self.popn(3)
            x = self.ident(x)
            t = self.tmp()
            keep = f"{t} = " if b else ""
            if self.cold:
                L(f"{keep}index_set({x}, {i}, {v}, M.decls)")
            else:
                L(f"if type({x}) is list and type({i}) is int and 0 <= {i} < len({x}): "
                  f"{x}[{i}] = {keep}{v}")
                L(f"elif type({x}) is dict and type({i}) is str: {x}[{i}] = {keep}{v}")
                L(f"else: {keep}index_set({x}, {i}, {v}, M.decls)")
            if b:
                self.push(t)
        elif op == O.GET_VARIANT:
            x = self.pop()
            t = self.tmp()
            L(f"{t} = h_get_variant({x}, K[{a}])")
            self.push(t)
        elif op == O.MAKE_VARIANT:
            t = self.tmp()
            L(f"{t} = EnumValue(K[{a}][0], K[{a}][1], None)")
            self.push(t)
        elif op == O.BUILD_VARIANT:
            items = self.popn(b)
            t = self.tmp()
            types = self.blob.consts[a][2]
            if len(types) == b and not self.cold:
                vals = [x if slot is None else self.checked(x, slot, f"K[{a}][2][{i}]")
                        for i, (x, slot) in enumerate(zip(items, types))]
                L(f"{t} = EnumValue(K[{a}][0], K[{a}][1], ({''.join(v + ', ' for v in vals)}))")
            else:
                L(f"{t} = h_build_variant(K[{a}], [{', '.join(items)}], M.decls)")
            self.push(t)
        elif op == O.BUILD_RECORD:
            vals = self.popn(b)
            kind, _, _, fields = self.blob.consts[a]
            entries = []
            for i, (fname, slot, src, _) in enumerate(fields):
                if src < 0:
                    v = f"K[{a}][3][{i}][3]"
                elif slot is None:
                    v = vals[src]
                else:
                    v = self.checked(vals[src], slot, f"K[{a}][3][{i}][1]")
                entries.append(f"K[{a}][3][{i}][0]: {v}")
            t = self.tmp()
            cls = "StructValue(K[{0}][1], ".format(a) if kind == "struct" else \
                "EnumValue(K[{0}][1], K[{0}][2], ".format(a)
            L(f"{t} = {cls}{{{', '.join(entries)}}})")
            self.push(t)
        elif op == O.MAKE_ENUM_TYPE:
            t = self.tmp()
            L(f"{t} = h_make_enum(K[{a}])")
            self.push(t)
        elif op == O.MAKE_STRUCT_TYPE:
            d = self.pop() if b else "None"
            t = self.tmp()
            L(f"{t} = h_make_struct_type(K[{a}], {d})")
            self.push(t)
        elif op == O.STRUCT_LITERAL:
            items = self.popn(b)
            head = self.pop()
            t = self.tmp()
            L(f"{t} = h_struct_literal({head}, K[{a}], [{', '.join(items)}], M.decls)")
            self.push(t)
        elif op == O.BUILD_STRUCT:
            items = self.popn(b)
            head = self.pop()
            self.materialise()
            L(f"return M.build_struct({head}, K[{a}], [{', '.join(items)}], {nxt})")
            return True
        elif op == O.STRUCT_FINISH:
            st, given = self.popn(2)
            t = self.tmp()
            L(f"{t} = h_struct_finish({st}, {given}, M.decls)")
            self.push(t)
        elif op == O.DEFINE_METHOD:
            x = self.pop()
            L(f"M.define_method(K[{a}][0], K[{a}][1], {x}, {b})")
        elif op == O.IMPL:
            pass    # a declaration: the machine reads it from the code (machine.declarations)
        elif op == O.MAKE_CLOSURE:
            caps = self.blob.consts[b]
            t = self.tmp()
            L(f"{t} = Closure(CN[{a}], CH[{a}], [{', '.join(f'R[{s}]' for s in caps)}])")
            self.push(t)
        elif op == O.FOR_SETUP:
            x = self.pop()
            L(f"R[{a}], R[{a + 1}] = for_start({x})")
        elif op == O.FOR_NEXT and self.cold:
            # runtime/iteration.py for_item, called. A loop over an iterator first has the
            # prelude pull its next element (machine.iter_for), then comes back here: FOR_NEXT
            # always starts a unit (leaders_of), so nothing is pending on the stack.
            t = self.tmp()
            L(f"{t} = for_item(R[{a}], R[{a + 1}])")
            L(f"if {t} is DONE:")
            self.ind += 1
            self.exit_to(b)
            self.ind -= 1
            L(f"if {t} is PULL: return M.iter_for(R[{a}], {pc})")
            L(f"R[{a + 1}] += 1")
            self.push(t)
        elif op == O.FOR_NEXT:
            # runtime/iteration.py for_item, inlined for ranges, arrays and strings; a loop over
            # an iterator (whose IterLoop has length 0) takes the exit test's path, as above.
            q = self.tmp()
            t = self.tmp()
            L(f"{q} = R[{a}]")
            L(f"{t} = R[{a + 1}]")
            L(f"if type({q}) is int:")
            self.ind += 1
            L(f"if {t} >= {q}:")
            self.ind += 1
            self.exit_to(b)
            self.ind -= 1
            L(f"R[{a + 1}] = {t} + 1")
            self.ind -= 1
            L("else:")
            self.ind += 1
            L(f"if {t} >= len({q}):")
            self.ind += 1
            L(f"if type({q}) is not IterLoop:")
            self.ind += 1
            self.exit_to(b)
            self.ind -= 1
            L(f"{t} = loop_item({q})")
            L(f"if {t} is DONE:")
            self.ind += 1
            self.exit_to(b)
            self.ind -= 1
            L(f"if {t} is PULL: return M.iter_for({q}, {pc})")
            self.ind -= 1
            L("else:")
            self.ind += 1
            L(f"R[{a + 1}] = {t} + 1")
            L(f"{t} = {q}[{t}]")
            self.ind -= 2
            self.push(t)
        elif op == O.MATCH:
            subj, desc = self.blob.consts[a]
            inline = None
            if _pattern_size(desc) <= 12 and not self.cold:
                # The shared matcher's own code (runtime/patterns.py strict_code), inlined.
                v = self.tmp()
                inline = P.strict_code(desc, v, self.tmp, f"MC[{a}]")
                self.env["MC"][a] = tuple(inline[2])
            if inline is None:
                self.env["MT"][a] = P.strict(desc)
                L(f"if not MT[{a}](R[{subj}], R):")
                self.ind += 1
                self.exit_to(b)
                self.ind -= 1
            else:
                conds, binds, _ = inline
                L(f"{v} = R[{subj}]")
                if conds:
                    L(f"if not ({' and '.join(conds)}):")
                    self.ind += 1
                    self.exit_to(b)
                    self.ind -= 1
                for stmt in binds:
                    L(stmt)
        elif op == O.DESTRUCTURE:
            x = self.pop()
            self.env["DS"][a] = P.loose(self.blob.consts[a])
            L(f"DS[{a}]({x}, R)")
        elif op == O.MATCH_ERROR:
            L(f"h_match_error(R[{a}])")
            return True
        elif op == O.RAISE:
            L(f"raise ShapeError(K[{a}][0], K[{a}][1])")
            return True
        elif op == O.JUMP:
            pending = bool(self.stack)
            self.materialise()
            self.goto(a if pending else self.forward(a), "jump")
            return True
        elif op in (O.JUMP_IF_FALSE, O.JUMP_IF_TRUE):
            x = self.pop()
            cond = self.truth(x)
            if op == O.JUMP_IF_FALSE:
                cond = f"not {cond}"
            L(f"if {cond}:")
            self.ind += 1
            self.exit_to(a)
            self.ind -= 1
        elif op == O.JUMP_IF_NOT_NONE:
            x = self.ident(self.pop())
            L(f"if {x} is not None:")
            self.ind += 1
            self.stack.append(x)
            self.exit_to(a)
            self.stack.pop()
            self.ind -= 1
        elif op == O.JUMP_IF_NONE:
            x = self.ident(self.pop())
            self.stack.append(x)
            L(f"if {x} is None:")
            self.ind += 1
            self.exit_to(a)
            self.ind -= 1
        elif op == O.JUMP_UNLESS_FAILURE:
            x = self.ident(self.pop())
            self.stack.append(x)
            L(f"if not ({x} is None or type({x}) is Err):")
            self.ind += 1
            self.exit_to(a)
            self.ind -= 1
        elif op == O.ATTACH_CONTEXT:
            left, ctx = self.popn(2)
            t = self.tmp()
            L(f"{t} = attach_context({left}, {ctx})")
            self.push(t)
        elif op == O.LIST_APPEND:
            x = self.pop()
            L(f"R[{a}].append({x})")
        elif op == O.CALL:
            return self.call(a, nxt)
        elif op == O.CALL_REF:
            args = self.popn(a)
            f = self.pop()
            self.materialise()
            L(f"return M.call_ref({f}, [{', '.join(args)}], K[{b}], {nxt})")
            return True
        elif op == O.CALL_BUILTIN:
            self.call_builtin(self.blob.consts[a], a, b)
        elif op == O.CALL_METHOD:
            return self.call_method(self.blob.consts[a], a, b, nxt)
        elif op == O.SNAPSHOT:
            self.materialise()
            L(f"return M.snapshot({a}, {nxt})")
            return True
        elif op == O.AWAIT:
            x = self.ident(self.pop())
            t = self.tmp()
            L(f"{t} = {x}.result if type({x}) is Task else {x}")
            self.push(t)
        elif op == O.CALL_VAR:
            f, args = self.popn(2)
            self.materialise()
            L(f"return M.call_var({f}, {args}, {nxt})")
            return True
        elif op == O.CALL_METHOD_VAR:
            obj, args = self.popn(2)
            self.materialise()
            L(f"return M.call_method({obj}, K[{a}], {args}, {nxt})")
            return True
        elif op == O.CALL_BUILTIN_VAR:
            args = self.pop()
            t = self.tmp()
            L(f"{t} = M.vm_builtin(K[{a}], {args})")
            self.push(t)
        elif op == O.MAKE_ANNOTATED:
            f, w = self.popn(2)
            t = self.tmp()
            L(f"{t} = AnnotatedFunction(K[{a}], {f}, {w})")
            self.push(t)
        elif op == O.LOAD_PRELUDE:
            t = self.tmp()
            L(f"{t} = M.prelude_fn(K[{a}])")
            self.push(t)
        elif op == O.TRY and self.cold:
            x = self.ident(self.pop())
            t = self.tmp()
            L(f"if is_failure({x}): return M.ret({x})")
            L(f"{t} = unwrap_ok({x})")
            self.push(t)
        elif op == O.TRY:
            # runtime/results.py is_failure and unwrap_ok, inlined
            x = self.ident(self.pop())
            t = self.tmp()
            L(f"if type({x}) is Ok: {t} = {x}.value")
            L(f"elif {x} is None or type({x}) is Err: return M.ret({x})")
            L(f"else: {t} = {x}")
            self.push(t)
        elif op == O.TRY_TOP:
            x = self.ident(self.pop())
            t = self.tmp()
            L(f"{t} = try_top({x})")
            self.push(t)
        elif op == O.RETURN:
            x = self.pop()
            f = self.tmp()
            L(f"{f} = FR.pop()")
            L(f"if {f}[{F.KIND}] is None:")
            L(f"    FR[-1][{F.REGS}].append({x})")
            L("    return -1")
            L(f"return M.ret_task({f}, {x})")
            return True
        elif op == O.HALT:
            x = self.pop()
            L(f"return M.halt({x})")
            return True
        else:  # pragma: no cover - every opcode is handled above
            raise AssertionError(f"threader: no template for {name}")
        return False

    # `s = s + x` (and `s += x`) building a string in a loop: CPython appends to a string in
    # place when nothing else holds it (a statement `t = t + y` on a local, one reference), so
    # the loop stays linear instead of copying the string each time. The register holds the
    # second reference; it is about to be overwritten by the store anyway, so the template
    # clears it first. Every other case, and every error, is runtime/operators.py add.

    def append_store(self, pc: int) -> Optional[str]:
        """Where the `+` at pc is stored by the next instruction of the unit (`R[a]` for
        STORE_LOCAL a, `R[a].v` for STORE_CELL a, also past the CHECK_SLOT of a string
        variable), else None. Hot code only: the generic templates call `add`."""
        if self.cold:
            return None
        code = self.blob.code
        k = pc + 1
        if (k < len(code) and k not in self.lead_set and code[k][0] == O.CHECK_SLOT
                and self.blob.consts[code[k][1]][2][0] == "string"):
            k += 1
        if k >= len(code) or k in self.lead_set:
            return None
        op, a, _ = code[k]
        if op == O.STORE_LOCAL:
            return f"R[{a}]"
        if op == O.STORE_CELL:
            return f"R[{a}].v"
        return None

    def appendable(self, x: str, y: str) -> bool:
        """Whether `x + y` may be an append in place: x is a temporary that nothing else on the
        symbolic stack names (the template rebinds it), and neither operand is known to be a
        number (binary's templates for those stay as they are)."""
        return (x.startswith("t") and x[1:].isdigit() and x != y and x not in self.stack
                and self.kind(x) in (None, "str") and self.kind(y) in (None, "str"))

    def append_in_place(self, store: str, t: str, x: str, y: str, indent: str) -> None:
        """str + str with the variable it is stored to cleared first (x's string then has one
        reference, so CPython appends in place)."""
        self.line(f"{indent}{store} = None")
        self.line(f"{indent}{t} = {x} + {y}")

    def binary(self, op: str, x: str, y: str, store: Optional[str] = None) -> None:
        """`x op y` onto the stack. With `store` (a `+` that `appendable` allows, whose result
        goes to that variable next): str + str clears the variable and rebinds x in place."""
        L = self.line
        t = x if store else self.tmp()
        kx, ky = self.kind(x), self.kind(y)
        fn = _BINOP_FN[op]
        if op in _BITWISE:
            # Bitwise operators and shifts always give an int (or raise), fast path or not.
            if self.cold:
                L(f"{t} = {fn}({x}, {y})")
            else:
                self.bitwise(op, fn, t, x, y)
            self.push(t, "int")
            return
        if self.cold:
            L(f"{t} = {fn}({x}, {y})")
            self.push(t, "bool" if op in ("==", "!=", "<", "<=", ">", ">=") else None)
            return
        if op in ("+", "-", "*"):
            if kx == "int" or ky == "int":
                var = y if kx == "int" else x
                other = x if kx == "int" else y
                L(f"if type({var}) is int:")
                L(f"    {t} = {x} {op} {y}")
                L(f"    if {t} > IMAX or {t} < IMIN: {t} = float({t})")
                if self.kind(other) == "int":
                    pass
                L(f"elif type({var}) is float: {t} = {x} {op} {y}")
                L(f"else: {t} = {fn}({x}, {y})")
            elif kx == "float" or ky == "float":
                var = y if kx == "float" else x
                L(f"if type({var}) is float or type({var}) is int: {t} = {x} {op} {y}")
                L(f"else: {t} = {fn}({x}, {y})")
            elif kx == "str" and op == "+":
                if store and ky == "str":
                    self.append_in_place(store, t, x, y, "")
                elif store:
                    L(f"if type({y}) is str:")
                    self.append_in_place(store, t, x, y, "    ")
                    L(f"else: {t} = add({x}, {y})")
                else:
                    L(f"{t} = {x} + {y} if type({y}) is str else add({x}, {y})")
            else:
                L(f"if type({x}) is int and type({y}) is int:")
                L(f"    {t} = {x} {op} {y}")
                L(f"    if {t} > IMAX or {t} < IMIN: {t} = float({t})")
                L(f"elif type({x}) is float and type({y}) is float: {t} = {x} {op} {y}")
                if store:
                    L(f"elif type({x}) is str and type({y}) is str:")
                    self.append_in_place(store, t, x, y, "    ")
                L(f"else: {t} = {fn}({x}, {y})")
            self.push(t)
            return
        if op == "/":
            L(f"if type({x}) is float and type({y}) is float and {y}: {t} = {x} / {y}")
            L(f"else: {t} = div({x}, {y})")
            self.push(t)
            return
        if op == "%":
            L(f"if type({x}) is int and type({y}) is int and {x} >= 0 and {y} > 0: {t} = {x} % {y}")
            L(f"else: {t} = mod({x}, {y})")
            self.push(t)
            return
        if op == "**":
            L(f"{t} = pow_({x}, {y})")
            self.push(t)
            return
        if op in ("==", "!="):
            neg = op == "!="
            for a_, b_ in ((x, y), (y, x)):
                kb = self.kind(b_)
                if kb in ("none", "bool"):
                    a_ = self.ident(a_)
                if kb == "none":
                    L(f"{t} = {a_} is {'not ' if neg else ''}None")
                    break
                if kb == "bool":
                    if neg:
                        L(f"{t} = {a_} is not {b_}")
                    else:
                        L(f"{t} = {a_} is {b_}")
                    break
                if kb in ("int", "str"):
                    pyt = "int" if kb == "int" else "str"
                    L(f"{t} = ({x} {op} {y}) if type({a_}) is {pyt} else {fn}({x}, {y})")
                    break
            else:
                L(f"if type({x}) is type({y}) and type({x}) in SCALARS: {t} = {x} {op} {y}")
                L(f"else: {t} = {fn}({x}, {y})")
            self.push(t, "bool")
            return
        # ordering comparisons
        if kx == "int" or ky == "int":
            var = y if kx == "int" else x
            L(f"{t} = ({x} {op} {y}) if type({var}) is int or type({var}) is float else {fn}({x}, {y})")
        elif kx == "float" or ky == "float":
            var = y if kx == "float" else x
            L(f"{t} = ({x} {op} {y}) if type({var}) is float or type({var}) is int else {fn}({x}, {y})")
        else:
            L(f"if (type({x}) is int and type({y}) is int) or (type({x}) is float and type({y}) is float): {t} = {x} {op} {y}")
            L(f"else: {t} = {fn}({x}, {y})")
        self.push(t, "bool")

    def bitwise(self, op: str, fn: str, t: str, x: str, y: str) -> None:
        """runtime/operators.py bit_and … shr, inlined for ints (and, for shifts, a count in
        0..63 whose left shift stays in 64 bits); everything else calls the rule."""
        L = self.line
        checks = [f"type({v}) is int" for v in (x, y) if self.kind(v) != "int"]
        if op in ("<<", ">>"):
            count = _int_literal(y) if self.kind(y) == "int" else None
            if count is None:
                checks.append(f"0 <= {y} <= 63")
            elif not 0 <= count <= 63:
                L(f"{t} = {fn}({x}, {y})")
                return
        test = " and ".join(checks)
        if op == "<<":
            if test:
                L(f"if {test}:")
                L(f"    {t} = {x} << {y}")
                L(f"    if {t} > IMAX or {t} < IMIN: {t} = shl({x}, {y})")
                L(f"else: {t} = shl({x}, {y})")
            else:
                L(f"{t} = {x} << {y}")
                L(f"if {t} > IMAX or {t} < IMIN: {t} = shl({x}, {y})")
        elif test:
            L(f"{t} = ({x} {op} {y}) if {test} else {fn}({x}, {y})")
        else:
            L(f"{t} = {x} {op} {y}")

    def call(self, argc: int, nxt: int) -> bool:
        L = self.line
        args = self.popn(argc)
        f = self.pop()
        self.materialise()
        if self.cold:
            L(f"return M.call({f}, [{', '.join(args)}], {nxt})")
            return True
        A = self.tmp()
        B = self.tmp()
        L(f"{A} = [{', '.join(args)}]")
        L(f"if type({f}) is Closure:")
        L(f"    {B} = BL[{f}.bid]")
        L(f"    if {B}.fast == {argc}:")
        self.ind += 2
        self.push_frame(f, A, B, nxt)
        self.ind -= 2
        self.slow_exit(f"M.call({f}, {A}, {nxt})")
        return True

    def slow_exit(self, call: str) -> None:
        """End a call's template with its general case, `call` (a machine method that pushes a
        frame or the result and returns the next pc)."""
        self.line(f"return {call}")

    def drops(self, pc: int) -> bool:
        return drops_at(self.blob.code, pc)

    def forward(self, pc: int) -> int:
        return forward_of(self.blob.code, self.lead_set, pc)

    def frame_args(self, A: str, items: list[str]) -> None:
        """The argument list of a frame that push_frame then pushes (the JIT passes them as
        arguments of a Python call instead)."""
        self.line(f"{A} = [{', '.join(items)}]")

    def push_frame(self, f: str, A: str, B: str, nxt: int) -> None:
        """Inline frame push for a plain call of closure f (registers A, runtime blob B)."""
        L = self.line
        L("if len(FR) >= LIMIT: h_overflow()")
        # The return address is the instruction after the call (after its POP for a call
        # statement), never forwarded further: call stacks find the call right before it.
        if self.drops(nxt - 1):
            L(f"FR[-1][{F.PC}] = {nxt + 1}")
            kind = "'drop'"
        else:
            L(f"FR[-1][{F.PC}] = {nxt}")
            kind = "None"
        L(f"if {f}.cells: {A} += {f}.cells")
        L(f"if {B}.blank: {A} += {B}.blank")
        L(f"FR.append({F.frame_literal(f'{B}.code', f'{B}.start', A, f'{B}.bid', kind)})")
        L("return -1")

    def push_result(self, value: str, nxt: int) -> None:
        """Fast-path result of a call that did not need a frame. A call statement goes on with
        the unit after its POP directly (when that is forward and does not do the same), which
        saves a trip through the dispatch loop; the loop resumes with whatever it returns."""
        if self.drops(nxt - 1):
            self.goto(self.forward(nxt + 1), "result")
        else:
            self.line(f"R.append({value})")
            self.line(f"return {nxt}")

    def call_method(self, name: str, a: int, argc: int, nxt: int) -> bool:
        L = self.line
        args = self.popn(argc)
        obj = self.ident(self.pop())
        self.materialise()
        A = f"[{', '.join(args)}]"
        if self.cold:
            L(f"return M.call_method({obj}, K[{a}], {A}, {nxt})")
            return True
        if name == "push" and argc == 1:
            L(f"if type({obj}) is list:")
            L(f"    {obj}.append({args[0]})")
            self.ind += 1
            self.push_result(obj, nxt)
            self.ind -= 1
        elif name in ("length", "len") and argc == 0:
            L(f"if type({obj}) is list or type({obj}) is str:")
            self.ind += 1
            self.push_result(f"len({obj})", nxt)
            self.ind -= 1
        # The lookup order is runtime/calls.py method_target's; these are its successful cases
        # for a receiver whose type the template tests first.
        inline_receivers = [t for t in builtin_receivers(name)
                            if t not in prelude_receivers(name)]
        to_prelude = prelude_method(list, name, argc)
        if to_prelude is not None:
            # arr.map(f) runs the prelude's __array_map(arr, f) in a frame of its own.
            self.env["PN"][a] = to_prelude
            F, B, RA = self.tmp(), self.tmp(), self.tmp()
            L(f"if type({obj}) is list:")
            L(f"    {F} = PRE[PN[{a}]]")
            L(f"    {B} = BL[{F}.bid]")
            L(f"    if {B}.fast == {argc + 1}:")
            self.ind += 2
            self.frame_args(RA, [obj] + args)
            self.push_frame(F, RA, B, nxt)
            self.ind -= 2
        elif prelude_method(list, name, 1) is not None:
            L(f"if type({obj}) is list:")
            self.ind += 1
            self.push_result(f"call_method({obj}, K[{a}], [])", nxt)
            self.ind -= 1
        elif name in ("toString", "type") or inline_receivers:
            # A built-in method: only for the receivers that have it, since an impl of a trait
            # may give other types a method of that name (toString and type every type has);
            # receivers whose prelude has this method (a HashMap's `map`) go to M.call_method.
            if name in ("toString", "type"):
                skip = ["dict", "StructValue", "EnumValue"]
                skip += [t.__name__ for t in prelude_receivers(name)]
                L(f"if {' and '.join(f'type({obj}) is not {t}' for t in skip)}:")
            else:
                L("if " + " or ".join(f"type({obj}) is {_RECEIVER_NAMES[t]}"
                                      for t in inline_receivers) + ":")
            R0 = self.tmp()
            L(f"    {R0} = call_method({obj}, K[{a}], {A})")
            self.ind += 1
            self.push_result(R0, nxt)
            self.ind -= 1
        # Methods declared with `extend` on a struct or enum type.
        TB, F, B, RA = self.tmp(), self.tmp(), self.tmp(), self.tmp()
        L(f"if type({obj}) is StructValue: {TB} = METHODS.get({obj}.type_name)")
        L(f"elif type({obj}) is EnumValue: {TB} = METHODS.get({obj}.enum)")
        L(f"else: {TB} = None")
        L(f"if {TB} is not None:")
        L(f"    {F} = {TB}.get(K[{a}])")
        L(f"    if type({F}) is Closure:")
        L(f"        {B} = BL[{F}.bid]")
        L(f"        if {B}.fastm == {argc}:")
        self.ind += 3
        self.frame_args(RA, [obj] + args)
        self.push_frame(F, RA, B, nxt)
        self.ind -= 3
        self.slow_exit(f"M.call_method({obj}, K[{a}], {A}, {nxt})")
        return True

    def call_builtin(self, name: str, a: int, argc: int) -> None:
        L = self.line
        args = self.popn(argc)
        t = self.tmp()
        if self.cold and name != "exit" and name != "__arity":
            if name == "print":
                L(f"OUT(print_line([{', '.join(args)}]))")
                self.push("None", "none")
                return
            self.env["BF"][a] = builtin_value(name).fn
            L(f"{t} = BF[{a}]([{', '.join(args)}])")
            self.push(t)
            return
        if name == "print":
            if argc == 1:
                x = args[0]
                if self.kind(x) == "str":
                    L(f"OUT({x} + '\\n')")
                else:
                    L(f"OUT(({x} if type({x}) is str else display({x})) + '\\n')")
            else:
                L(f"OUT(' '.join([display(x) for x in ({', '.join(args)}{',' if argc == 1 else ''})]) + '\\n')")
            self.push("None", "none")
            return
        if name == "__is_array" and argc == 1:
            L(f"{t} = type({args[0]}) is list")
            self.push(t, "bool")
            return
        if name == "__is_object" and argc == 1:
            L(f"{t} = type({args[0]}) is dict")
            self.push(t, "bool")
            return
        if name == "__is_number" and argc == 1:
            L(f"{t} = type({args[0]}) is int or type({args[0]}) is float")
            self.push(t, "bool")
            return
        if name == "__arity" and argc == 1:
            x = self.ident(args[0])
            L(f"{t} = BL[{x}.bid].blob.params if type({x}) is Closure else M.arity({x})")
            self.push(t)
            return
        if name in ("exit", "__arity"):
            L(f"{t} = M.vm_builtin(K[{a}], [{', '.join(args)}])")
            self.push(t)
            return
        self.env["BF"][a] = builtin_value(name).fn
        if name == "len" and argc == 1:
            x = args[0]
            L(f"{t} = len({x}) if type({x}) is list or type({x}) is str else BF[{a}]([{x}])")
        else:
            L(f"{t} = BF[{a}]([{', '.join(args)}])")
        self.push(t)


def compile_blob(blob: Blob, blobs: dict[str, Blob], generic: bool = False) -> CompiledBlob:
    bid = blob.id
    fname = filename_for(bid, generic)
    cb = _CACHE.get(fname)
    if cb is not None:
        return cb
    gen = _Gen(blob, blobs, generic)
    src, line_pc, leaders = gen.generate()
    cb = CompiledBlob(_compile(src, fname), line_pc, leaders, gen.env, src, gen.exits)
    _remember(fname, cb)
    return cb


def _compile(src: str, fname: str) -> Any:
    """`compile(src, fname, "exec")`, once per generated text. Blobs that differ only in their
    tables (constants, names, children: reached through `K[i]`, `MT[i]`, ... at run time, never
    spliced into the text) thread to the same text; they share its code, re-labelled with their
    own filename (every nested code object), which is what tracebacks and `pc_from_traceback`
    read. Line numbers are the text's, so they hold for every blob that shares it."""
    code = _BY_TEXT.get(src)
    if code is None:
        return _BY_TEXT.put(src, compile(src, fname, "exec"))
    return _relabelled(code, fname)


def _relabelled(code: Any, fname: str) -> Any:
    if code.co_filename == fname:
        return code
    consts = tuple(_relabelled(c, fname) if isinstance(c, CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=fname, co_consts=consts)


def _remember(fname: str, cb: CompiledBlob) -> None:
    # Machines keep the code they already instantiated when the cache forgets it.
    _CACHE.put(fname, cb)


def side_entry(blob: Blob, blobs: dict[str, Blob], pc: int, generic: bool = False) -> CompiledBlob:
    """The code of a side entry at instruction `pc` (see `_Gen.side_entry`): its factory is
    `__side`, with the same arguments as the unit factories."""
    fname = f"{filename_for(blob.id, generic)} @{pc}"
    cb = _CACHE.get(fname)
    if cb is None:
        gen = _Gen(blob, blobs, generic)
        src, line_pc = gen.side_entry(pc)
        cb = CompiledBlob(_compile(src, fname), line_pc, gen.leaders, gen.env, src, gen.exits)
        _remember(fname, cb)
    return cb


def pc_from_traceback(tb: Any, bid: str, generic: bool = False) -> Optional[int]:
    """The instruction offset in blob `bid` where the exception in `tb` was raised (in one of
    its units, or a side entry of it)."""
    fname = filename_for(bid, generic)
    found = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == fname or name.startswith(fname + " @"):
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return None
    cb = _CACHE.get(found[0])
    if cb is None or not 1 <= found[1] <= len(cb.line_pc):
        return None
    return cb.line_pc[found[1] - 1]
