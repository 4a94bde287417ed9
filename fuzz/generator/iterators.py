"""Iterator chains (spec/iterators.md): `.iter()` on an array or a range, lazy adapters (map,
filter, take, skip, chain) and a terminal (collect/toArray, count, reduce, find, any, all). The
callbacks are generated lambdas, so a `snapshot()` in one is a snapshot inside a pull.

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

from typing import Optional

from shapelang.fuzz.generator.model import LEN, VB, BuilderState, X, lam, lit, meth
from shapelang.ref import ast as A


class Iterators(BuilderState):
    def iter_source(self, d: int, growing: bool = True, fresh_only: bool = False) -> X:
        """`arr.iter()` or `(lo..hi).iter()`: an iterator over at most X.b ints."""
        c = self.c
        if c.chance(25):
            hi = c.pick([0, 3, 5, 10])
            inclusive = c.chance(30)
            return X(meth(A.RangeExpr(lit(c.pick([0, 1, -2])), lit(hi), inclusive), "iter"),
                     hi + 3)
        base = self.e_seq("arr", d, fresh_only=fresh_only, growing=growing)
        return X(meth(base.node, "iter"), base.b)

    def iter_chain(self, d: int, growing: bool = True, fresh_only: bool = False) -> Optional[X]:
        """An iterator with 0-3 adapters; X.b bounds how many ints it yields. None when the
        budget forbids a callback. Not `growing` (the result is assigned back to a variable):
        one sequence only, no `chain`. `fresh_only`: no variable's array as a source (a `for`
        over the iterator pulls while its body runs)."""
        c = self.c
        it = self.iter_source(d, growing, fresh_only)
        node, n = it.node, it.b
        for _ in range(c.int(0, 3)):
            stage = c.pick(["map", "filter", "take", "skip"] + (["chain"] if growing else []))
            if stage == "map":
                x = self.fresh("x")
                body = self.lambda_body([(x, "int", VB)], "int", d, calls=n)
                if body is None:
                    return None
                node = meth(node, "map", lam([x], body.node))
            elif stage == "filter":
                pred = self.pred_lambda(d, n)
                if pred is None:
                    return None
                node = meth(node, "filter", pred)
            elif stage in ("take", "skip"):
                node = meth(node, stage, lit(c.pick([0, 1, 2, 5])))
            else:
                other = self.iter_source(max(d - 1, 0), fresh_only=fresh_only)
                node = meth(node, "chain", other.node)
                n += other.b
        return X(node, n)

    def iter_array(self, d: int, growing: bool = True) -> Optional[X]:
        it = self.iter_chain(d, growing)
        if it is None:
            return None
        return X(meth(it.node, self.c.pick(["collect", "toArray"])), it.b)

    def iter_int(self, d: int) -> Optional[X]:
        c = self.c
        it = self.iter_chain(d)
        if it is None:
            return None
        terminal = c.pick(["count", "reduce", "find"])
        if terminal == "count":
            return X(meth(it.node, "count"), LEN)
        if terminal == "find":
            pred = self.pred_lambda(d, it.b)
            if pred is None:
                return X(meth(it.node, "count"), LEN)
            return X(A.Binary("??", meth(it.node, "find", pred), lit(-1)), VB)
        acc, x = self.fresh("acc"), self.fresh("x")
        body = self.lambda_body([(acc, "int", VB), (x, "int", VB)], "int", d, calls=it.b)
        if body is None:
            return X(meth(it.node, "count"), LEN)
        return X(meth(it.node, "reduce", lam([acc, x], body.node), lit(0)), VB)

    def iter_bool(self, d: int) -> Optional[X]:
        it = self.iter_chain(d)
        if it is None:
            return None
        pred = self.pred_lambda(d, it.b)
        if pred is None:
            return None
        return X(meth(it.node, self.c.pick(["any", "all"]), pred))
