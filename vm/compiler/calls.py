"""Lowering of calls: plain, by-reference, spread, method, builtin and pipe calls, and inlining.

Calls to a builtin that the resolver proves is the builtin (not shadowed) compile to inline
CALL_BUILTIN; `snapshot()` compiles to SNAPSHOT with the resolver's program-wide ordinal.
A call of a small plain function (analysis.Analysis.inline_target) runs its body in the
caller's frame: arguments go into its parameter slots and `return` jumps to the end.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from shapelang.ref import ast as A
from shapelang.ref.resolver import Resolution
from shapelang.runtime import builtins as B
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.assembler import Label
from shapelang.vm.compiler.fncode import FnCode

# Builtins that the machine runs inline (no frame, never calls back into Shape).
INLINE_BUILTINS = set(B.BUILTINS) | {"print", "exit", "__arity", "__is_array", "__is_number",
                                     "__is_object", "__type_error"}
INLINE_MAX_DEPTH = 3   # inlined calls inside inlined calls


class CallLowering:
    """Calls (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def ex_call(self, e: A.Call) -> None:
        self.call(e, None)

    def call(self, e: A.Call, first: Optional[Callable[[], Any]]) -> None:
        fc = self.fc
        callee = e.callee
        args = e.args
        if id(e) in self.an.ordinals:
            # snapshot(): the resolver numbered the call sites in source order.
            old = self.at(e)
            if args or first:
                fc.emit(O.RAISE, fc.const(["TypeError", "snapshot() takes no arguments"]))
                fc.reachable = True
                fc.depth += 1
            else:
                ordinal = self.an.ordinals[id(e)]
                fc.snapshots.append([len(fc.code), ordinal])
                fc.emit(O.SNAPSHOT, ordinal)
            fc.cur = old
            return
        spread = any(type(a) is A.Spread for a in args)
        argc = len(args) + (1 if first else 0)
        if type(callee) is A.Member:
            self.expr(callee.obj)
            end = Label() if callee.optional else None
            if end is not None:
                fc.emit_jump(O.JUMP_IF_NONE, end)
            self.call_by_name(e, O.CALL_METHOD, O.CALL_METHOD_VAR, callee.name, first, spread)
            if end is not None:
                fc.mark(end)
            return
        b = self.res.uses.get(id(callee)) if type(callee) is A.Name else None
        if b is not None and b.kind == "fn" and id(e) in self.an.inlined and not spread:
            decl = b.node
            if (argc == len(decl.params) and decl is not fc.node and decl not in fc.inlining
                    and len(fc.inlining) < INLINE_MAX_DEPTH):
                self.inline(e, decl, first)
                return
        if (b is not None and b.kind == "builtin" and b.name == "to_string" and argc == 1
                and not spread and self.display_impls):
            # `to_string(v)` is `v.to_string()`, which for a type implementing Display is its
            # `display()` (spec/traits.md §5; the reference evaluator's call_expr).
            self.arguments(args, first, False, refs=False)
            old = self.at(e)
            fc.emit(O.CALL_METHOD, fc.const("to_string"), 0)
            fc.cur = old
            return
        if b is not None and b.kind == "builtin" and b.name in INLINE_BUILTINS:
            self.call_by_name(e, O.CALL_BUILTIN, O.CALL_BUILTIN_VAR, b.name, first, spread)
            return
        sv = self.static_variant(callee)
        if (sv is not None and sv[1].kind == "tuple" and not spread and len(sv[1].types) == argc
                and not any(type(a) is A.RefArg for a in args)):
            self.arguments(args, first, False, refs=False)
            old = self.at(e)
            fc.emit(O.BUILD_VARIANT, fc.const([sv[0], sv[1].name, self.payload_slots(sv[1])]),
                    argc)
            fc.cur = old
            return
        self.expr(callee)
        refs = self.arguments(args, first, spread, refs=True)
        old = self.at(e)
        if spread:
            fc.emit(O.CALL_VAR)
        elif refs:
            fc.emit(O.CALL_REF, argc, fc.const(refs))
        else:
            fc.emit(O.CALL, argc)
        fc.cur = old

    def call_by_name(self, e: A.Call, op: int, spread_op: int, name: str,
                     first: Optional[Callable[[], Any]], spread: bool) -> None:
        """A method or inline builtin call: the callee is a name constant (arguments in one
        list with `spread_op` when some are spread)."""
        fc = self.fc
        self.arguments(e.args, first, spread, refs=False)
        old = self.at(e)
        if spread:
            fc.emit(spread_op, fc.const(name))
        else:
            fc.emit(op, fc.const(name), len(e.args) + (1 if first else 0))
        fc.cur = old

    def arguments(self, args: list, first: Optional[Callable[[], Any]], spread: bool,
                  refs: bool) -> list[int]:
        """Push the arguments (as one list when some are spread); returns the positions of
        `&x` arguments, which push the variable's cell when `refs` (plain calls)."""
        fc = self.fc
        positions: list[int] = []
        flags: list[int] = []
        if first:
            first()
            flags.append(0)
        for i, a in enumerate(args):
            t = type(a)
            if t is A.Spread:
                self.spread(a, i == len(args) - 1, 0)
                flags.append(1)
                continue
            if t is A.RefArg and refs:
                rb = self.res.use(a)
                old = self.at(a)
                if not self.direct(rb):
                    # A captured variable may not be initialised yet: check before passing it.
                    fc.emit(O.LOAD_FREE, self.cell_slot_for(rb))
                    fc.emit(O.POP)
                fc.emit(O.LOAD_LOCAL, self.cell_slot_for(rb))
                fc.cur = old
                positions.append(len(flags))
            else:
                self.expr(a)
            flags.append(0)
        if spread:
            fc.emit(O.BUILD_LIST_SPREAD, fc.const(flags))
        return positions

    def ex_pipe(self, e: A.Pipe) -> None:
        fc = self.fc
        self.expr(e.left)
        tmp = fc.new_slot("$pipe")
        fc.emit(O.STORE_LOCAL, tmp)
        right = e.right
        first = lambda: fc.emit(O.LOAD_LOCAL, tmp)  # noqa: E731
        if type(right) is A.Call:
            self.call(right, first)
        else:
            b = self.res.uses.get(id(right)) if type(right) is A.Name else None
            if b is not None and b.kind == "builtin" and b.name in INLINE_BUILTINS:
                first()
                old = self.at(e)
                fc.emit(O.CALL_BUILTIN, fc.const(b.name), 1)
                fc.cur = old
                return
            self.expr(right)
            first()
            old = self.at(e)
            fc.emit(O.CALL, 1)
            fc.cur = old

    def ex_refarg(self, e: A.RefArg) -> None:
        # Outside a plain call (methods, builtins) a reference argument passes the value.
        self.load(self.res.use(e))

    def inline(self, e: A.Call, decl: A.FnDecl, first: Optional[Callable[[], Any]]) -> None:
        """Run the body of `decl` in this frame: arguments into its parameter slots, `return`
        jumps to the end with the value, and its captured variables are this frame's."""
        fc = self.fc
        res = self.res
        slots = [fc.slot(res.decl(p)) for p in decl.params]
        # All arguments are evaluated before any parameter slot is written: an argument may
        # itself be an inlined call of the same function, which uses the same slots.
        if first:
            first()
        for a in e.args:
            self.expr(a)
        for slot in reversed(slots):
            fc.emit(O.STORE_LOCAL, slot)
        # Call stacks show the body as a call of `decl` made here (Blob.inlined), from the
        # checks of its typed parameters to that of its return type.
        inlined = fc.begin_inlined(decl.name, (e.line or 0, e.col or 0))
        # Typed parameters and the return type are checked as in a call: with no position of
        # their own, so a mismatch is reported at the call (lowering.py function prologue).
        old = fc.cur
        fc.cur = (0, 0)
        for p, slot in zip(decl.params, slots):
            if p.type is not None:
                fc.emit(O.LOAD_LOCAL, slot)
                fc.emit(O.CHECK_SLOT, fc.const(res.slots[id(p)]))
                fc.emit(O.STORE_LOCAL, slot)
        fc.cur = old
        end = Label()
        saved_loops = fc.loops
        fc.loops = []
        fc.owners.add(id(decl))
        fc.inlining.append(decl)
        fc.inline_ends.append((end, fc.depth))
        try:
            self.block(decl.body, want=True)
        finally:
            fc.inline_ends.pop()
            fc.inlining.pop()
            fc.owners.discard(id(decl))
            fc.loops = saved_loops
        fc.mark(end)
        ret = res.slots.get(id(decl))
        if ret is not None:
            old = fc.cur
            fc.cur = (0, 0)
            fc.emit(O.CHECK_SLOT, fc.const(ret))
            fc.cur = old
        fc.end_inlined(inlined)
