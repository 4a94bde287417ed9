"""The operators of issue 12 (spec/bitwise.md, spec/smaller-items.md): bitwise `& | ^ ~ << >>`
on ints with their bounds, shifts that wrap past bit 63 (only where an int may be huge: number
expressions), fuzzy comparisons `~= ~< ~>` with and without `within`, and the context operator
`!!`, which always gives a Result.

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

from typing import Any

from shapelang.fuzz.generator.model import MAXB, WIDTHS, BuilderState, X, binop, lit, name, stmt
from shapelang.ref import ast as A

SHIFTS = [0, 1, 2, 3, 5, 8]
WRAPPING_SHIFTS = [61, 62, 63]
FUZZY_TOLERANCES = [(None, False), (0.5, False), (2, False), (0, False), (5, True), (10, True)]
CONTEXTS = ["ctx", "reading", ""]


class Operators(BuilderState):
    def bitwise_int(self, d: int) -> X:
        """An int expression with a bitwise operator whose result stays within its bound."""
        c = self.c
        op = c.pick(["&", "|", "^", "~", "<<", ">>"])
        a = self._e_int(d)
        if op == "~":
            return X(A.Unary("~", a.node), a.b + 1)
        if op in ("<<", ">>"):
            if c.chance(30):
                # a count computed at run time, always in 0..7
                count: Any = binop("&", self._e_int(d).node, lit(7))
                most = 7
            else:
                most = c.pick(SHIFTS)
                count = lit(most)
            if op == ">>":
                return X(binop(">>", a.node, count), a.b)
            if a.b * 2 ** most > MAXB:
                return a
            return X(binop("<<", a.node, count), a.b * 2 ** most)
        b = self._e_int(d)
        # |x op y| < 2**(k+1) where 2**k > max(|x|, |y|) (two's complement)
        bound = 2 ** (int(max(a.b, b.b)).bit_length() + 1)
        if bound > MAXB:
            return a
        return X(binop(op, a.node, b.node), bound)

    def wrapping_shift(self, d: int) -> X:
        """`x << 62`: past bit 63 the bits are lost and the int wraps (a number expression: it
        may be near the int64 limits)."""
        a = self.e_int(d, 1000)
        left = binop("+", a.node, lit(1)) if self.c.chance(50) else a.node
        return X(binop("<<", left, lit(self.c.pick(WRAPPING_SHIFTS))), float(2 ** 63))

    def fuzzy_bool(self, d: int) -> X:
        c = self.c
        a, b = self.e_num(d), self.e_num(d)
        tolerance, percent = c.pick(FUZZY_TOLERANCES)
        return X(A.Fuzzy(c.pick(["~=", "~<", "~>"]), a.node, b.node, tolerance, percent))

    def context_res(self, d: int) -> X:
        """`v !! "ctx"`: Ok(v) for a present int, Ok stays, None and Err become an Err with the
        context."""
        c = self.c
        inner = c.pick(["int", "opt", "res"])
        x = self.expr(inner, d)
        return X(binop("!!", x.node, lit(c.pick(CONTEXTS))))

    def bitwise_compound(self, v: Any) -> list:
        """`v &= m`, `v |= k`, `v ^= k`, `v >>= k` on an int variable (masks keep it small);
        `v <<= k` only where a width slot wraps it."""
        c = self.c
        ops = ["&=", "|=", "^=", ">>="] + (["<<="] if v.slot in WIDTHS else [])
        op = c.pick(ops)
        k = {"&=": [255, 7, 1023, 65535], "|=": [1, 2, 4, 8], "^=": [1, 255, 4096],
             ">>=": [1, 2, 3], "<<=": [1, 3, 8]}[op]
        return [stmt(A.Assign(name(v.name), op, lit(c.pick(k))))]

