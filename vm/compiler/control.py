"""Lowering of control flow: conditions, `if` and `?:`, `match`, loops and comprehensions.

Conditions compile to jumps, not values, where they are only tested (`&&`, `||` and `!`
included). A loop leaves its value on the stack only when it is wanted; `break` and
`continue` drop what the loop's body pushed (LoopCtx.depth) before they jump.
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.ref import ast as A
from shapelang.ref.constants import const_value
from shapelang.ref.resolver import Resolution
from shapelang.runtime import operators as Op
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.assembler import Label
from shapelang.vm.compiler.fncode import FnCode, LoopCtx


class ControlLowering:
    """Control flow (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def cond(self, e: Any, label: Label, jump_if: bool) -> None:
        """Jump to `label` when truthy(e) == jump_if; fall through otherwise."""
        fc = self.fc
        t = type(e)
        if t is A.Binary and e.op in ("&&", "||"):
            old = self.at(e)
            if (e.op == "&&") != jump_if:
                # (a && b) jump-if-false, or (a || b) jump-if-true: either side decides.
                self.cond(e.left, label, jump_if)
                self.cond(e.right, label, jump_if)
            else:
                skip = Label()
                self.cond(e.left, skip, not jump_if)
                self.cond(e.right, label, jump_if)
                fc.mark(skip)
            fc.cur = old
            return
        if t is A.Unary and e.op == "!":
            old = self.at(e)
            self.cond(e.operand, label, not jump_if)
            fc.cur = old
            return
        cv = const_value(e)
        if cv is not None:
            if Op.truthy(cv[0]) == jump_if:
                fc.emit_jump(O.JUMP, label)
                fc.reachable = True   # the fall-through code is dead but still compiled
            return
        self.expr(e)
        fc.emit_jump(O.JUMP_IF_TRUE if jump_if else O.JUMP_IF_FALSE, label)

    def branches(self, cond: Any, then: Callable[[], None], other: Callable[[], None],
                 tail: bool) -> None:
        """`cond` chooses between the code `then` and `other` emit; both leave the same stack
        (or return, in tail position)."""
        fc = self.fc
        other_label = Label()
        end = Label()
        self.cond(cond, other_label, False)
        base = fc.depth
        then()
        if not tail:
            fc.emit_jump(O.JUMP, end)
        fc.depth = base
        fc.mark(other_label)
        other()
        fc.mark(end)

    def ex_ternary(self, e: A.Ternary, want: bool, tail: bool) -> None:
        self.branches(e.cond, lambda: self.expr(e.then, want, tail),
                      lambda: self.expr(e.other, want, tail), tail)

    def ex_if(self, e: A.If, want: bool, tail: bool) -> None:
        def other() -> None:
            if e.other is None:
                if tail:
                    self.fc.emit(O.LOAD_UNIT)
                    self.emit_return()
                elif want:
                    self.fc.emit(O.LOAD_UNIT)
            elif type(e.other) is A.If:
                self.ex_if(e.other, want, tail)
            else:
                self.block(e.other, want, tail)
        self.branches(e.cond, lambda: self.block(e.then, want, tail), other, tail)

    def ex_match(self, e: A.Match, want: bool, tail: bool) -> None:
        fc = self.fc
        self.expr(e.subject)
        subj = fc.new_slot("$match")
        fc.emit(O.STORE_LOCAL, subj)
        end = Label()
        base = fc.depth
        for arm in e.arms:
            old = self.at(arm)
            nxt = Label()
            fc.depth = base
            self.enter_scope(arm)
            fc.emit_jump(O.MATCH, nxt, fc.const([subj, self.pattern_desc(arm.pattern)]))
            if arm.guard is not None:
                self.cond(arm.guard, nxt, False)
            self.expr(arm.body, want, tail)
            if not tail:
                fc.emit_jump(O.JUMP, end)
            fc.depth = base
            fc.mark(nxt)
            fc.cur = old
        fc.emit(O.MATCH_ERROR, subj)
        fc.mark(end)

    def loop_body(self, body: A.Block, brk: Label, cont: Label, keep: bool) -> None:
        """A loop's body, then the jump back to `cont` (where `continue` goes too)."""
        fc = self.fc
        fc.loops.append(LoopCtx(brk, cont, fc.depth, keep))
        self.block(body, want=False)
        fc.loops.pop()
        if fc.reachable:
            fc.emit_jump(O.JUMP, cont)

    def loop_end(self, exit_: Label, brk: Label, keep: bool, tail: bool) -> None:
        """The loop ends at `exit_` when its condition fails (its value is then ()) or at `brk`
        when it breaks (with the break's value). A wanted value stays on the stack, and is
        returned in tail position."""
        fc = self.fc
        fc.mark(exit_)
        if keep:
            fc.emit(O.LOAD_UNIT)
        fc.mark(brk)
        if tail:
            self.emit_return()

    def ex_while(self, e: A.While, want: bool, tail: bool) -> None:
        fc = self.fc
        head = Label()
        exit_ = Label()
        brk = Label()
        keep = want or tail
        fc.mark(head)
        head.depth = fc.depth
        self.cond(e.cond, exit_, False)
        self.loop_body(e.body, brk, head, keep)
        self.loop_end(exit_, brk, keep, tail)

    def ex_loop(self, e: A.Loop, want: bool, tail: bool) -> None:
        fc = self.fc
        head = Label()
        brk = Label()
        keep = want or tail
        fc.mark(head)
        head.depth = fc.depth
        self.loop_body(e.body, brk, head, keep)
        never_breaks = brk.depth is None
        fc.mark(brk)
        if never_breaks:
            fc.depth = head.depth + (1 if keep else 0)
            fc.reachable = False
        if tail:
            self.emit_return()

    def ex_for(self, e: A.For, want: bool, tail: bool) -> None:
        fc = self.fc
        keep = want or tail
        self.expr(e.iterable)
        it = fc.new_slot("$iter")
        fc.new_slot("$index")
        fc.emit(O.FOR_SETUP, it)
        nxt = Label()
        exit_ = Label()
        brk = Label()
        fc.mark(nxt)
        fc.emit_jump(O.FOR_NEXT, exit_, it)
        self.enter_scope(e)
        old = self.at(e.pattern)
        self.bind_pattern(e.pattern)
        fc.cur = old
        self.loop_body(e.body, brk, nxt, keep)
        self.loop_end(exit_, brk, keep, tail)

    def ex_comprehension(self, e: A.Comprehension) -> None:
        fc = self.fc
        acc = fc.new_slot("$comp")
        fc.emit(O.BUILD_LIST, 0)
        fc.emit(O.STORE_LOCAL, acc)
        done = Label()
        stack: list[tuple[Label, Label]] = []   # (next, exit) per for-clause
        for clause in e.clauses:
            old = self.at(clause)
            if isinstance(clause, A.CompFor):
                self.expr(clause.iterable)
                it = fc.new_slot("$iter")
                fc.new_slot("$index")
                fc.emit(O.FOR_SETUP, it)
                nxt, ex = Label(), Label()
                fc.mark(nxt)
                fc.emit_jump(O.FOR_NEXT, ex, it)
                self.enter_scope(clause)
                self.bind_pattern(clause.pattern)
                stack.append((nxt, ex))
            else:
                target = stack[-1][0] if stack else done
                self.cond(clause.cond, target, False)
            fc.cur = old
        self.expr(e.expr)
        fc.emit(O.LIST_APPEND, acc)
        for nxt, ex in reversed(stack):
            fc.emit_jump(O.JUMP, nxt)
            fc.mark(ex)
        fc.mark(done)
        fc.emit(O.LOAD_LOCAL, acc)
