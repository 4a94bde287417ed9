"""Expressions of each type the generator models (int, num, bool, str, arrays, objects, enums,
results, options), lambdas and calls, match expressions and the `snapshot()` match: every
expression comes with a bound on its value (`X`), so well-typed code stays within int64.

Part of `ProgramBuilder` (program.py), which combines it with the statements and the
annotations: methods call each other across the parts through `self`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from shapelang.fuzz.generator.model import (
    DIVISORS, FLOAT_LITS, INT_LITS, LAMBDA_BUDGET, LEN, MAXB, MODULI, MAX_SNAPSHOT_SITES,
    OVERFLOW_BASES, SEPS, STR_LITS, VB, BuilderState, Ctx, EnumSig, FnSig, SeqInfo, Var, X,
    cap, binop, block, call, is_blocklike, lam, let, lit, meth, name, neg, tail)
from shapelang.ref import ast as A


class Expressions(BuilderState):
    # ------------------------------------------------------------ int expressions

    def wrap(self, x: X, limit: float) -> X:
        """Bring an int expression within `limit` with `% m` (never changes its int-ness)."""
        if x.b <= limit:
            return x
        mods = [m for m in MODULI if m - 1 <= limit] or [2]
        m = self.c.pick(mods)
        return X(binop("%", x.node, lit(m)), m - 1)

    def e_int(self, d: int, limit: float = VB) -> X:
        x = self._e_int(d)
        return self.wrap(x, limit)

    def int_lit(self) -> X:
        v = self.c.pick(INT_LITS)
        return X(lit(v), abs(v))

    def _e_int(self, d: int) -> X:
        c = self.c
        ints = self.vars_of("int")
        if d <= 0:
            if ints and c.chance(60):
                v = c.pick(ints)
                return X(name(v.name), v.bound)
            return self.int_lit()
        kind = c.weighted([
            (10, "lit"), (14, "var"), (10, "addsub"), (5, "mul"), (4, "div"), (4, "mod"),
            (2, "divexpr"), (2, "neg"), (3, "absminmax"), (4, "len"), (4, "index"),
            (3, "arragg"), (5, "callfn"), (3, "callvar"), (2, "thunk"), (3, "ternary"),
            (2, "ifexpr"), (2, "match"), (1, "pow"), (1, "strint"), (1, "floor"),
            (2, "optdefault"), (1, "block"), (1, "snapmatch"), (1, "objfield"), (1, "enummatch"),
            (1, "resmatch"), (1, "parseint"), (self.await_weight(), "await"), (2, "arrmatch"),
            (self.mistake_expr_weight(), "mistake"), (3 if self.structs else 0, "structmethod"),
            (3, "bitwise"), (1, "iter"), (2 if self.traits else 0, "trait"),
        ])
        if kind == "lit":
            return self.int_lit()
        if kind == "var":
            if ints:
                v = c.pick(ints)
                return X(name(v.name), v.bound)
            return self.int_lit()
        if kind == "addsub":
            a, b = self._e_int(d - 1), self._e_int(d - 1)
            if a.b + b.b > MAXB:
                return a
            return X(binop(c.pick(["+", "-"]), a.node, b.node), a.b + b.b)
        if kind == "mul":
            a, b = self._e_int(d - 1), self._e_int(d - 1)
            if a.b * b.b > MAXB:
                return a
            return X(binop("*", a.node, b.node), a.b * b.b)
        if kind == "div":
            a = self._e_int(d - 1)
            return X(binop("/", a.node, lit(c.pick(DIVISORS))), a.b)
        if kind == "mod":
            a = self._e_int(d - 1)
            m = c.pick(DIVISORS + MODULI)
            return X(binop("%", a.node, lit(m)), min(a.b, abs(m) - 1))
        if kind == "divexpr":
            a, b = self._e_int(d - 1), self._e_int(d - 1)
            divisor = binop("+", binop("%", b.node, lit(5)), lit(6))   # in [2, 10]
            return X(binop(c.pick(["/", "%"]), a.node, divisor), a.b)
        if kind == "neg":
            a = self._e_int(d - 1)
            return X(neg(a.node), a.b)
        if kind == "absminmax":
            f = c.pick(["abs", "min", "max"])
            a = self._e_int(d - 1)
            if f == "abs":
                return X(call("abs", a.node), a.b)
            b = self._e_int(d - 1)
            return X(call(f, a.node, b.node), max(a.b, b.b))
        if kind == "len":
            src = c.pick(["arr", "str", "sarr"])
            if src == "str":
                s = self.e_str(d - 1)
                return X(c.pick([A.Member(s.node, "length"), meth(s.node, "length"), call("len", s.node)]), LEN)
            a = self.e_seq(src, d - 1)
            return X(c.pick([A.Member(a.node, "length"), call("len", a.node), meth(a.node, "len")]), LEN)
        if kind == "index":
            arrs = self.vars_of("arr")
            if not arrs:
                # no array variable: an array expression read from its end
                a = self.e_seq("arr", d - 1)
                return X(binop("??", A.Index(a.node, lit(c.pick([-1, -2]))),
                               self.int_lit().node), VB)
            v = c.pick(arrs)
            i = self.index_expr(d - 1)
            return X(binop("??", A.Index(name(v.name), i), self.int_lit().node), VB)
        if kind == "arragg":
            a = self.e_seq("arr", d - 1)
            agg = c.pick(["sum", "reduce", "indexOf", "count", "min", "max", "first", "last",
                          "findIndex"])
            if agg == "sum":
                return X(meth(a.node, "sum"), LEN * VB)
            if agg == "count":
                return X(meth(a.node, "count"), LEN)
            if agg == "indexOf":
                return X(meth(a.node, "indexOf", self.e_int(0).node), LEN)
            if agg == "reduce":
                acc, el = self.fresh("acc"), self.fresh("x")
                body = self.lambda_body([(acc, "int", VB), (el, "int", VB)], "int", d - 1,
                                        calls=a.b)
                if body is None:
                    return X(meth(a.node, "sum"), LEN * VB)
                return X(meth(a.node, "reduce", lam([acc, el], body.node), lit(0)), VB)
            if agg == "findIndex":
                pred = self.pred_lambda(d - 1, a.b)
                if pred is None:
                    return self.int_lit()
                return X(meth(a.node, "findIndex", pred), LEN)
            return X(binop("??", meth(a.node, agg), self.int_lit().node), VB)
        if kind == "callfn":
            x = self.call_user_fn("int", d - 1)
            return x if x is not None else self.int_lit()
        if kind == "callvar":
            fs = [v for v in self.vars_of("fn") if self.affordable(v.cost)]
            if not fs:
                return self.int_lit()
            f = c.pick(fs)
            self.spend(self.ctx.mult * f.cost)
            a = self.e_int(d - 1)
            if c.chance(30):
                return X(A.Pipe(a.node, name(f.name)), VB)
            return X(call(f.name, a.node), VB)
        if kind == "thunk":
            ts = [v for v in self.vars_of("thunk") if self.affordable(v.cost)]
            if not ts:
                return self.int_lit()
            t = c.pick(ts)
            self.spend(self.ctx.mult * t.cost)
            return X(call(t.name), VB)
        if kind == "ternary":
            cond = self.e_bool(d - 1)
            a, b = self._e_int(d - 1), self._e_int(d - 1)
            return X(A.Ternary(cond.node, a.node, b.node), max(a.b, b.b))
        if kind == "ifexpr":
            cond = self.e_bool(d - 1)
            a, b = self._e_int(d - 1), self._e_int(d - 1)
            return X(A.If(cond.node, block([tail(a.node)]), block([tail(b.node)])), max(a.b, b.b))
        if kind == "match":
            return self.match_int_expr(d - 1)
        if kind == "pow":
            a = self._e_int(d - 1)
            k = c.pick([0, 1, 2, 3])
            if a.b ** k > MAXB:
                return a
            return X(binop("**", a.node, lit(k)), max(1, a.b ** k))
        if kind == "strint":
            s = self.e_str(d - 1)
            return X(meth(s.node, "indexOf", lit(c.pick(["a", "b", "", "l"]))), LEN)
        if kind == "floor":
            n = self.e_num(d - 1)
            if n.b > 2**52:
                return self.int_lit()
            return X(call(c.pick(["floor", "ceil", "round"]), n.node), n.b + 1)
        if kind == "optdefault":
            o = self.e_opt(d - 1)
            dflt = self.int_lit()
            return X(binop("??", o.node, dflt.node), max(VB, dflt.b))
        if kind == "block":
            n = self.fresh("t")
            a = self.e_int(d - 1)
            self.push_scope()
            self.declare(Var(n, "int", bound=a.b))
            b = self._e_int(d - 1)
            self.pop_scope()
            return X(A.Block([let(n, a.node), tail(b.node)]), b.b)
        if kind == "snapmatch":
            node = self.snapshot_match_expr(lit(0), lit(100))
            if node is None:
                return self.int_lit()
            return X(node, 100)
        if kind == "objfield":
            objs = [v for v in self.vars_of("obj") if any(t == "int" for t in v.info.values())]
            if not objs:
                return self.int_lit()
            o = c.pick(objs)
            f = c.pick([k for k, t in o.info.items() if t == "int"])
            if c.chance(30):
                return X(A.Index(name(o.name), lit(f)), VB)
            return X(A.Member(name(o.name), f), VB)
        if kind == "enummatch":
            return self.enum_match_expr(d - 1)
        if kind == "resmatch":
            r = self.e_res(d - 1)
            ok = self.fresh("ok")
            self.push_scope()
            self.declare(Var(ok, "int", bound=VB))
            body = self._e_int(d - 1)
            self.pop_scope()
            arms = [A.MatchArm(A.PVariant(["Ok"], [A.PBind(ok)]), None, body.node),
                    A.MatchArm(A.PVariant(["Err"], [A.PWild()]), None, lit(-1))]
            return X(A.Match(r.node, arms), max(body.b, 1))
        if kind == "parseint":
            return X(meth(lit(c.pick(["12", "-7", "0", "300"])), "toInt"), 300)
        if kind == "await":
            return self.await_expr("int", d - 1) or self.int_lit()
        if kind == "arrmatch":
            return self.array_match_expr(d - 1)
        if kind == "mistake":
            return self.mistake_expr(d - 1)
        if kind == "structmethod":
            return self.method_call(d - 1) or self.int_lit()
        if kind == "bitwise":
            return self.bitwise_int(d - 1)
        if kind == "iter":
            return self.iter_int(d - 1) or self.int_lit()
        if kind == "trait":
            return self.trait_call(d - 1) or self.int_lit()
        return self.int_lit()

    def array_match_expr(self, d: int) -> X:
        """`match a { [] => k, [h, ...rest] => …rest…, _ => k }` (the arm reads what it bound)."""
        c = self.c
        a = self.e_seq("arr", d)
        h, rest = self.fresh("h"), self.fresh("rest")
        arms = []
        if c.chance(50):
            arms.append(A.MatchArm(A.PArray([]), None, self.int_lit().node))
        self.push_scope()
        self.declare(Var(h, "int", bound=VB, readonly=True))
        self.declare(Var(rest, "arr", info=SeqInfo(LEN), readonly=True))
        form = c.pick(["len", "sum", "first", "expr"])
        if form == "len":
            body = X(binop("+", name(h), A.Member(name(rest), "length")), VB + LEN)
        elif form == "sum":
            body = X(meth(name(rest), "sum"), LEN * VB)
        elif form == "first":
            body = X(binop("??", A.Index(name(rest), lit(0)), name(h)), VB)
        else:
            body = self._e_int(d)
        self.pop_scope()
        arms.append(A.MatchArm(A.PArray([A.PBind(h)], rest, True), None, body.node))
        other = self.int_lit()
        arms.append(A.MatchArm(A.PWild(), None, other.node))
        return X(A.Match(a.node, arms), max(body.b, other.b))

    def index_expr(self, d: int) -> Any:
        if self.c.chance(50):
            return lit(self.c.pick([0, 1, 2, -1, -2, 5]))
        return self.e_int(d, 10).node

    # ------------------------------------------------------------ numbers (maybe float, maybe huge)

    def e_num(self, d: int) -> X:
        c = self.c
        if d <= 0:
            nums = self.vars_of("num")
            if nums and c.chance(40):
                v = c.pick(nums)
                return X(name(v.name), v.bound)
            if c.chance(50):
                f = c.pick(FLOAT_LITS)
                return X(lit(f), abs(f))
            return self.e_int(0, MAXB)
        kind = c.weighted([(8, "int"), (8, "float"), (4, "var"), (8, "arith"), (4, "div"),
                           (2, "mod"), (4, "overflow"), (3, "math"), (2, "pow"), (1, "parse"),
                           (1, "avg"), (1, "mixed"), (1, "shiftwrap")])
        if kind == "int":
            return self.e_int(d - 1, MAXB)
        if kind == "float":
            f = c.pick(FLOAT_LITS)
            return X(lit(f), abs(f))
        if kind == "var":
            nums = self.vars_of("num")
            if nums:
                v = c.pick(nums)
                return X(name(v.name), v.bound)
            return self.e_num(0)
        if kind == "arith":
            a, b = self.e_num(d - 1), self.e_num(d - 1)
            op = c.pick(["+", "-", "*"])
            bound = a.b * b.b if op == "*" else a.b + b.b
            return X(binop(op, a.node, b.node), cap(bound))
        if kind == "div":
            a = self.e_num(d - 1)
            dv = c.pick([2.0, 3, 0.5, -4, 10, 3.0, 7])
            return X(binop("/", a.node, lit(dv)), cap(a.b / min(abs(dv), 1)))
        if kind == "mod":
            a = self.e_num(d - 1)
            dv = c.pick([2.5, 3, -1.5, 7, 0.5])
            return X(binop("%", a.node, lit(dv)), min(a.b, abs(dv)))
        if kind == "overflow":
            a = self.e_int(d - 1, 10**4)
            base = c.pick(OVERFLOW_BASES)
            op = c.pick(["+", "-", "*"])
            bound = abs(base) * max(a.b, 1) if op == "*" else abs(base) + a.b
            return X(binop(op, lit(base), a.node), float(bound))
        if kind == "math":
            a = self.e_num(d - 1)
            f = c.pick(["sqrt", "floor", "ceil", "round", "abs", "ln", "sin", "exp"])
            if not math.isfinite(a.b) or a.b > 1e15:
                return X(call("abs", a.node), a.b)
            if f == "sqrt":
                return X(call("sqrt", call("abs", a.node)), math.sqrt(a.b) + 1)
            if f == "ln":
                return X(call("ln", binop("+", call("abs", a.node), lit(1))), 40)
            if f == "sin":
                return X(call(c.pick(["sin", "cos"]), a.node), 1)
            if f == "exp":
                small = self.e_int(d - 1, 20)
                return X(call("exp", small.node), math.exp(20))
            return X(call(f, a.node), a.b + 1)
        if kind == "pow":
            a = self.e_int(d - 1, 1000)
            k = c.pick([2, 10, 63, 64, -1, 0.5, 3])
            return X(binop("**", a.node, lit(k)), cap(max(a.b, 2) ** max(k, 1)))
        if kind == "parse":
            return X(call("to_number", lit(c.pick(["2.5", "1e3", "-0.125", "7"]))), 1000)
        if kind == "avg":
            a = self.e_seq("arr", d - 1)
            return X(binop("??", meth(a.node, "avg"), lit(0)), VB)
        if kind == "shiftwrap":
            return self.wrapping_shift(d - 1)
        if kind == "mixed":
            a = self.e_int(d - 1, VB)
            f = c.pick(FLOAT_LITS[:6])
            return X(binop(c.pick(["+", "*", "-"]), a.node, lit(f)), a.b * 3 + 3)
        return self.e_num(0)

    # ------------------------------------------------------------ bool

    def e_bool(self, d: int) -> X:
        c = self.c
        if d <= 0:
            bs = self.vars_of("bool")
            if bs and c.chance(40):
                return X(name(c.pick(bs).name))
            if c.chance(50):
                return X(lit(c.pick([True, False])))
            a, b = self.e_int(0, MAXB), self.e_int(0, MAXB)
            return X(binop(c.pick(["<", "<=", ">", ">=", "==", "!="]), a.node, b.node))
        kind = c.weighted([(6, "cmp"), (3, "lit"), (3, "var"), (3, "numcmp"), (2, "strcmp"),
                           (2, "not"), (3, "andor"), (2, "includes"), (2, "strpred"),
                           (2, "somevery"), (1, "seqeq"), (1, "isnum"), (1, "resok"),
                           (1, "truthy"), (self.await_weight() // 2, "await"),
                           (self.mistake_expr_weight(), "mistake"), (2, "fuzzy"), (1, "iter")])
        if kind == "mistake":
            return self.mistake_expr(d - 1)
        if kind == "cmp":
            a, b = self.e_int(d - 1, MAXB), self.e_int(d - 1, MAXB)
            return X(binop(c.pick(["<", "<=", ">", ">=", "==", "!="]), a.node, b.node))
        if kind == "lit":
            return X(lit(c.pick([True, False])))
        if kind == "var":
            bs = self.vars_of("bool")
            if bs:
                return X(name(c.pick(bs).name))
            return self.e_bool(0)
        if kind == "numcmp":
            a, b = self.e_num(d - 1), self.e_num(d - 1)
            return X(binop(c.pick(["<", ">=", "==", "!="]), a.node, b.node))
        if kind == "strcmp":
            a, b = self.e_str(d - 1), self.e_str(d - 1)
            return X(binop(c.pick(["==", "!=", "<", ">"]), a.node, b.node))
        if kind == "not":
            return X(A.Unary("!", self.e_bool(d - 1).node))
        if kind == "andor":
            a, b = self.e_bool(d - 1), self.e_bool(d - 1)
            return X(binop(c.pick(["&&", "||"]), a.node, b.node))
        if kind == "includes":
            a = self.e_seq("arr", d - 1)
            return X(meth(a.node, c.pick(["includes", "contains"]), self.e_int(0).node))
        if kind == "strpred":
            s = self.e_str(d - 1)
            m = c.pick(["contains", "startsWith", "endsWith", "isEmpty"])
            if m == "isEmpty":
                return X(meth(s.node, m))
            return X(meth(s.node, m, lit(c.pick(["a", "", "he", "z", "c"]))))
        if kind == "somevery":
            a = self.e_seq("arr", d - 1)
            pred = self.pred_lambda(d - 1, a.b)
            if pred is None:
                return X(meth(a.node, "isEmpty"))
            return X(meth(a.node, c.pick(["some", "every"]), pred))
        if kind == "seqeq":
            ty = c.pick(["arr", "obj"])
            if ty == "arr":
                a, b = self.e_seq("arr", d - 1), self.e_seq("arr", d - 1)
            else:
                a, b = self.e_obj(d - 1), self.e_obj(d - 1)
            return X(binop(c.pick(["==", "!="]), a.node, b.node))
        if kind == "isnum":
            ty = c.pick(["int", "str", "num"])
            return X(call("is_number", self.expr(ty, d - 1).node))
        if kind == "resok":
            r = self.e_res(d - 1)
            return X(meth(r.node, c.pick(["isOk", "isErr"])))
        if kind == "truthy":
            ty = c.pick(["int", "str", "arr", "opt", "num"])
            return X(A.Unary("!", A.Unary("!", self.expr(ty, d - 1).node)))
        if kind == "await":
            return self.await_expr("bool", d - 1) or self.e_bool(0)
        if kind == "fuzzy":
            return self.fuzzy_bool(d - 1)
        if kind == "iter":
            return self.iter_bool(d - 1) or self.e_bool(0)
        return self.e_bool(0)

    def pred_lambda(self, d: int, calls: float) -> Any:
        x = self.fresh("x")
        body = self.lambda_body([(x, "int", VB)], "bool", d, calls=calls)
        return None if body is None else lam([x], body.node)

    # ------------------------------------------------------------ strings

    def e_str(self, d: int, growing: bool = True) -> X:
        c = self.c
        strs = self.vars_of("str")
        if d <= 0:
            if strs and c.chance(50):
                v = c.pick(strs)
                return X(name(v.name), v.bound)
            s = c.pick(STR_LITS)
            return X(lit(s), len(s))
        kind = c.weighted([(6, "lit"), (6, "var"), (5, "concat"), (4, "concatval"), (4, "fstr"),
                           (3, "method"), (2, "tostring"), (2, "join"), (1, "sarridx"),
                           (1, "fixed"), (2, "ternary"), (1, "match"), (1, "numstr"),
                           (self.await_weight() // 2 if growing else 0, "await"),
                           (self.mistake_expr_weight(), "mistake")])
        if kind == "mistake":
            return X(self.mistake_expr(d - 1).node, 64)
        if kind == "lit":
            s = c.pick(STR_LITS)
            return X(lit(s), len(s))
        if kind == "var":
            if strs:
                v = c.pick(strs)
                return X(name(v.name), v.bound)
            return self.e_str(0)
        if kind == "concat":
            a = self.e_str(d - 1, growing)
            b = self.e_str(d - 1, growing) if growing else self.str_lit()
            return X(binop("+", a.node, b.node), a.b + b.b)
        if kind == "concatval":
            a = self.e_str(d - 1, growing)
            ty = c.pick(["int", "num", "bool"])
            v = self.expr(ty, d - 1)
            if c.chance(30):
                return X(binop("+", v.node, a.node), a.b + 330)
            return X(binop("+", a.node, v.node), a.b + 330)
        if kind == "fstr" and not self.in_fstring:
            return self.fstring(d - 1, growing)
        if kind == "fstr":
            return self.str_lit()
        if kind == "method":
            a = self.e_str(d - 1, growing)
            m = c.pick(["toUpperCase", "toLowerCase", "trim", "trimStart", "trimEnd", "replace",
                        "substring", "charAt", "repeat", "reverse", "padStart", "padEnd",
                        "toString"])
            if m == "replace":
                return X(meth(a.node, m, lit(c.pick(["a", "l", " ", ","])),
                              lit(c.pick(["", "_", "A"]))), a.b)
            if m == "substring":
                args = [lit(c.pick([0, 1, 2, 5]))]
                if c.chance(60):
                    args.append(lit(c.pick([0, 2, 3, 10, -1])))
                return X(meth(a.node, m, *args), a.b)
            if m == "charAt":
                return X(meth(a.node, m, lit(c.pick([0, 1, 3, -1, 20]))), 1)
            if m == "repeat":
                k = c.pick([0, 1, 2, 3])
                return X(meth(a.node, m, lit(k)), a.b * k)
            if m in ("padStart", "padEnd"):
                n = c.pick([0, 3, 8, 12])
                args = [lit(n)]
                if c.chance(50):
                    args.append(lit(c.pick(["*", "ab", "0"])))
                return X(meth(a.node, m, *args), max(a.b, n))
            return X(meth(a.node, m), a.b * 2 if m == "toUpperCase" else a.b)
        if kind == "tostring":
            ty = c.pick(["int", "num", "bool", "arr", "obj", "res", "opt", "enum"] if growing
                        else ["int", "bool"])
            v = self.expr(ty, d - 1)
            if ty in ("int", "num") and c.chance(40):
                return X(meth(v.node, "toString"), 330)
            return X(call("to_string", v.node), 330 if not growing else LEN)
        if kind == "join":
            if not growing:
                return self.str_lit()
            a = self.e_seq(c.pick(["arr", "sarr"]), d - 1)
            return X(meth(a.node, "join", lit(c.pick(SEPS))), LEN)
        if kind == "sarridx":
            a = self.e_seq("sarr", d - 1)
            return X(binop("??", A.Index(a.node, self.index_expr(d - 1)), lit("none")), 64)
        if kind == "fixed":
            n = self.e_num(d - 1)
            return X(meth(n.node, "toFixed", lit(c.pick([0, 2, 3]))), 400)
        if kind == "ternary":
            cond = self.e_bool(d - 1)
            a, b = self.e_str(d - 1, growing), self.e_str(d - 1, growing)
            return X(A.Ternary(cond.node, a.node, b.node), max(a.b, b.b))
        if kind == "match":
            subject = self.e_str(d - 1, growing)
            arms = []
            for s in [c.pick(STR_LITS[:6]) for _ in range(c.int(0, 2))]:
                arms.append(A.MatchArm(A.PLit(s), None, self.str_lit().node))
            arms.append(A.MatchArm(A.PWild(), None, self.str_lit().node))
            return X(A.Match(subject.node, arms), 40)
        if kind == "numstr":
            n = self.e_num(d - 1)
            return X(binop("+", lit(c.pick(["n=", "", "x"])), n.node), 400)
        if kind == "await":
            return self.await_expr("str", d - 1) or self.e_str(0)
        return self.e_str(0)

    def str_lit(self) -> X:
        s = self.c.pick(STR_LITS)
        return X(lit(s), len(s))

    def fstring(self, d: int, growing: bool = True) -> X:
        c = self.c
        parts: list[Any] = []
        n = c.int(1, 3)
        bound = 0
        self.in_fstring += 1
        for i in range(n):
            if c.chance(70):
                parts.append(c.pick(["v=", " ", "a", ": ", "x", "(", ")", "-"]))
                bound += 2
            ty = c.pick(["int", "num", "str", "bool"] + (["arr", "obj", "res"] if growing else []))
            e = self.expr(ty, d) if ty != "str" else self.e_str(d, growing)
            spec = None
            if ty in ("int", "num") and c.chance(30):
                spec = c.pick([".2f", ".0f", "fixed(3)", ".1f"])
            parts.append(A.FPart(e.node, spec))
            bound += 400 if ty != "str" else e.b
        self.in_fstring -= 1
        # Adjacent literal parts would be merged by the parser; keep the AST canonical.
        merged: list[Any] = []
        for p in parts:
            if isinstance(p, str) and merged and isinstance(merged[-1], str):
                merged[-1] += p
            else:
                merged.append(p)
        return X(A.FString(merged), bound)

    # ------------------------------------------------------------ arrays

    def e_seq(self, ty: str, d: int, fresh_only: bool = False, growing: bool = True) -> X:
        """An array of ints (`arr`) or of strings (`sarr`)."""
        c = self.c
        elem = "int" if ty == "arr" else "str"
        vs = [] if fresh_only else self.vars_of(ty)
        if d <= 0:
            if vs and c.chance(60):
                v = c.pick(vs)
                return X(name(v.name), v.info.bound, v.info, False)
            return self.seq_lit(ty, 0)
        kind = c.weighted([(6, "lit"), (8, "var"), (4, "map"), (3, "filter"), (2, "slice"),
                           (2, "concat"), (2, "sort"), (2, "reverse"), (2, "takeskip"),
                           (1, "unique"), (2, "spread"), (2, "comp"), (1, "rangeidx"),
                           (1, "split"), (1, "flatmap"), (1, "push"),
                           (2 if ty == "arr" else 0, "iter"),
                           (self.await_weight() // 2 if growing else 0, "await"),
                           (self.mistake_expr_weight(), "mistake")])
        if kind == "mistake":
            return X(self.mistake_expr(d - 1).node, 4)
        if kind == "var" and vs:
            v = c.pick(vs)
            return X(name(v.name), v.info.bound, v.info, False)
        if kind == "await":
            x = self.await_expr(ty, d - 1)
            if x is not None:
                return x
            kind = "lit"
        if kind == "iter":
            x = self.iter_array(d - 1, growing)
            if x is not None:
                return x
            kind = "lit"
        if kind == "push" and vs and not growing:
            kind = "lit"
        if kind == "push" and vs and self.ctx.allow_arr_mutation:
            cand = [v for v in vs if not v.readonly and v.info.frozen == 0]
            if cand:
                v = c.pick(cand)
                e = self.elem_expr(ty, d - 1)
                v.info.bound += self.ctx.mult
                return X(meth(name(v.name), "push", e.node), v.info.bound, v.info, False)
        if kind in ("lit", "var", "push", "await"):
            return self.seq_lit(ty, d - 1)
        base = self.e_seq(ty, d - 1, growing=growing)
        if kind == "map":
            x = self.fresh("x")
            params = [(x, elem, VB if elem == "int" else 64)]
            if c.chance(20):
                params.append((self.fresh("i"), "int", LEN))
            body = self.lambda_body(params, elem, d - 1, calls=base.b)
            if body is None:
                return X(meth(base.node, "reverse"), base.b)
            return X(meth(base.node, "map", lam([p[0] for p in params], body.node)), base.b)
        if kind == "filter":
            x = self.fresh("x")
            body = self.lambda_body([(x, elem, VB)], "bool", d - 1, calls=base.b)
            if body is None:
                return X(meth(base.node, "slice", lit(1)), base.b)
            return X(meth(base.node, "filter", lam([x], body.node)), base.b)
        if kind == "slice":
            args = [lit(c.pick([0, 1, -2]))]
            if c.chance(50):
                args.append(lit(c.pick([2, 3, -1, 10])))
            return X(meth(base.node, "slice", *args), base.b)
        if kind == "concat":
            if not growing:
                return X(meth(base.node, "concat", self.seq_lit(ty, 0).node), base.b + 5)
            other = self.e_seq(ty, d - 1)
            return X(meth(base.node, "concat", other.node), base.b + other.b)
        if kind == "sort":
            if elem == "int" and c.chance(50):
                p, q = self.fresh("p"), self.fresh("q")
                cmp = binop("-", name(q), name(p)) if c.chance(50) else binop("-", name(p), name(q))
                self.spend(self.ctx.mult * int(base.b * max(1, math.log2(base.b + 1))))
                return X(meth(base.node, "sort", lam([p, q], cmp)), base.b)
            return X(meth(base.node, "sort"), base.b)
        if kind == "reverse":
            return X(meth(base.node, "reverse"), base.b)
        if kind == "takeskip":
            return X(meth(base.node, c.pick(["take", "skip"]), lit(c.pick([0, 1, 2, 5]))), base.b)
        if kind == "unique":
            return X(meth(base.node, "unique"), base.b)
        if kind == "spread":
            if not growing:
                return X(A.ArrayLit([A.Spread(base.node), self.elem_expr(ty, d - 1).node]), base.b + 1)
            items: list[Any] = [A.Spread(base.node)]
            extra = 0
            for _ in range(c.int(0, 2)):
                if c.chance(30):
                    o = self.e_seq(ty, d - 1)
                    items.insert(c.int(0, len(items)), A.Spread(o.node))
                    extra += o.b
                else:
                    items.append(self.elem_expr(ty, d - 1).node)
                    extra += 1
            return X(A.ArrayLit(items), base.b + extra)
        if kind == "comp":
            x = self.fresh("x")
            self.push_scope()
            self.declare(Var(x, elem, bound=VB if elem == "int" else 64, readonly=True))
            saved, saved_await = self.ctx.mult, self.ctx.await_ok
            self.ctx.mult *= max(1, int(base.b))
            self.ctx.await_ok = False
            # the element and the condition must not push to the array being iterated
            frozen = base.info if not base.fresh and base.info is not None else None
            if frozen is not None:
                frozen.frozen += 1
            e = self.elem_expr(ty, d - 1)
            clauses: list[Any] = [A.CompFor(A.PBind(x), base.node)]
            if c.chance(50):
                clauses.append(A.CompIf(self.e_bool(d - 1).node))
            if frozen is not None:
                frozen.frozen -= 1
            self.ctx.mult, self.ctx.await_ok = saved, saved_await
            self.pop_scope()
            return X(A.Comprehension(e.node, clauses), base.b)
        if kind == "rangeidx":
            lo, hi = c.pick([0, 1, -2]), c.pick([2, 3, -1, 10])
            return X(A.Index(base.node, A.RangeExpr(lit(lo), lit(hi), c.chance(30))), base.b)
        if kind == "split" and ty == "sarr":
            s = self.e_str(d - 1, growing)
            return X(meth(s.node, "split", lit(c.pick(SEPS))), s.b + 1)
        if kind == "split" and ty == "arr":
            s = self.e_str(d - 1, growing)
            t = self.fresh("t")
            return X(meth(meth(s.node, "split", lit(c.pick(SEPS))), "map",
                          lam([t], A.Member(name(t), "length"))), s.b + 1)
        if kind == "flatmap" and growing:
            x = self.fresh("x")
            self.spend(self.ctx.mult * int(base.b))
            return X(meth(base.node, "flatMap", lam([x], A.ArrayLit([name(x), name(x)]))), base.b * 2)
        return base

    def seq_lit(self, ty: str, d: int) -> X:
        n = self.c.int(0, 4)
        items = [self.elem_expr(ty, d).node for _ in range(n)]
        return X(A.ArrayLit(items), n)

    def elem_expr(self, ty: str, d: int) -> X:
        if ty == "arr":
            return self.e_int(d, VB)
        return self.e_str(d, growing=False) if d > 0 else self.str_lit()

    # ------------------------------------------------------------ objects, enums, results, options

    def e_obj(self, d: int, fresh_only: bool = False) -> X:
        c = self.c
        objs = [] if fresh_only else self.vars_of("obj")
        if objs and (d <= 0 or c.chance(40)):
            v = c.pick(objs)
            return X(name(v.name), 0, v.info, False)
        if objs and d > 0 and c.chance(30):
            base = c.pick(objs)
            fields = dict(base.info)
            entries: list[Any] = [A.Spread(name(base.name))]
            for _ in range(c.int(1, 2)):
                k = c.pick(["a", "b", "c", "x"])
                t = fields.get(k) or c.pick(["int", "str", "bool"])
                fields[k] = t
                entries.append((k, self.expr(t, d - 1).node))
            return X(A.ObjectLit(entries), 0, fields)
        fields: dict[str, str] = {}
        entries = []
        for _ in range(c.int(0, 3)):
            k = c.pick(["a", "b", "c", "x", "y", "name"])
            if k in fields:
                continue
            t = c.pick(["int", "str", "bool"])
            fields[k] = t
            entries.append((k, self.expr(t, max(d - 1, 0)).node))
        return X(A.ObjectLit(entries), 0, fields)

    def e_enum(self, d: int, enum: Optional[EnumSig] = None) -> X:
        c = self.c
        if enum is None:
            vs = self.vars_of("enum")
            if vs and c.chance(40):
                v = c.pick(vs)
                return X(name(v.name), 0, v.ty[5:])
            if not self.enums:
                return X(lit(0), 0, None)
            enum = c.pick(self.enums)
        vname, kind, fields = c.pick(enum.variants)
        if kind == "unit":
            node: Any = A.Path([enum.name, vname])
        elif kind == "tuple":
            node = A.Call(A.Path([enum.name, vname]), [self.e_int(max(d - 1, 0)).node for _ in fields])
        else:
            node = A.StructLit([enum.name, vname],
                               [(f, self.e_int(max(d - 1, 0)).node) for f in fields])
        return X(node, 0, enum.name)

    def e_res(self, d: int) -> X:
        c = self.c
        kind = c.weighted([(4, "ok"), (3, "err"), (3, "var"), (3, "call"), (1, "ternary"),
                           (2 if d > 0 else 0, "context"),
                           (self.await_weight() // 2 if d > 0 else 0, "await")])
        if kind == "await":
            x = self.await_expr("res", d - 1)
            if x is not None:
                return x
            kind = "ok"
        if kind == "var":
            rs = self.vars_of("res")
            if rs:
                return X(name(c.pick(rs).name))
            kind = "ok"
        if kind == "call" and d > 0:
            x = self.call_user_fn("res", d - 1)
            if x is not None:
                return x
            kind = "err"
        if kind == "ternary" and d > 0:
            cond = self.e_bool(d - 1)
            return X(A.Ternary(cond.node, self.e_res(d - 1).node, self.e_res(d - 1).node))
        if kind == "context":
            return self.context_res(d - 1)
        if kind == "err":
            return X(call("Err", lit(c.pick(["boom", "bad input", "neg", ""]))))
        return X(call("Ok", self.e_int(max(d - 1, 0)).node))

    def e_opt(self, d: int) -> X:
        c = self.c
        kind = c.weighted([(3, "none"), (3, "index"), (2, "find"), (2, "firstlast"), (2, "some"),
                           (2, "var"), (1, "minmax")])
        if kind == "var":
            vs = self.vars_of("opt")
            if vs:
                return X(name(c.pick(vs).name), VB)
            kind = "none"
        if kind == "index":
            a = self.e_seq("arr", max(d - 1, 0))
            return X(A.Index(a.node, self.index_expr(max(d - 1, 0))), VB)
        if kind == "find" and d > 0:
            a = self.e_seq("arr", d - 1)
            pred = self.pred_lambda(d - 1, a.b)
            if pred is not None:
                return X(meth(a.node, "find", pred), VB)
        if kind == "firstlast" or kind == "minmax":
            a = self.e_seq("arr", max(d - 1, 0))
            m = c.pick(["first", "last"] if kind == "firstlast" else ["min", "max"])
            return X(meth(a.node, m), VB)
        if kind == "some":
            return X(call("Some", self.e_int(max(d - 1, 0)).node), VB)
        return X(lit(None), 0)

    def expr(self, ty: str, d: int) -> X:
        if ty == "int":
            return self.e_int(d)
        if ty == "num":
            return self.e_num(d)
        if ty == "bool":
            return self.e_bool(d)
        if ty == "str":
            return self.e_str(d)
        if ty in ("arr", "sarr"):
            return self.e_seq(ty, d)
        if ty == "obj":
            return self.e_obj(d)
        if ty == "res":
            return self.e_res(d)
        if ty == "opt":
            return self.e_opt(d)
        if ty == "enum" or ty.startswith("enum:"):
            e = None
            if ty.startswith("enum:"):
                e = next(x for x in self.enums if x.name == ty[5:])
            return self.e_enum(d, e)
        raise ValueError(ty)

    # ------------------------------------------------------------ lambdas and calls

    def lambda_body(self, params: list[tuple[str, str, float]], ret: str, d: int,
                    calls: float = 1, stmts_ok: bool = True) -> Optional[X]:
        """The body of a lambda called `calls` times; None when the budget forbids it."""
        if not self.affordable(max(1, int(calls)) * 2):
            return None
        saved_ctx = self.ctx
        self.ctx = Ctx("lambda", limit=LAMBDA_BUDGET, allow_arr_mutation=False)
        self.fn_depth += 1
        self.push_scope()
        for pname, pty, pb in params:
            self.declare(Var(pname, pty, bound=pb, readonly=pty in ("arr", "sarr")))
        if stmts_ok and self.c.chance(20):
            self.push_scope()   # the block body is a scope inside the parameters' scope
            body_stmts = self.stmts(self.c.int(1, 2), d)
            e = self.expr(ret, d)
            self.pop_scope()
            node: Any = A.Block(body_stmts + [tail(e.node)])
        else:
            e = self.expr(ret, d)
            node = e.node
            if is_blocklike(node) and not isinstance(node, A.Block):
                node = A.Block([tail(node)])
        self.pop_scope()
        self.fn_depth -= 1
        cost = max(1, self.ctx.cost)
        self.ctx = saved_ctx
        self.spend(self.ctx.mult * int(max(1, calls)) * cost)
        return X(node, e.b)

    def call_user_fn(self, ret: str, d: int, async_only: bool = False) -> Optional[X]:
        """A call giving a value of type ret; a call of an async fn is awaited (only where
        `await` is allowed)."""
        c = self.c
        me = self.current_fn
        usable = lambda f: (self.ctx.await_ok or not f.is_async) and (f.is_async or not async_only)  # noqa: E731
        cands = [f for f in self.fns if f.ret == ret and self.affordable(f.cost) and f is not me
                 and usable(f)]
        rec_ok = (me is not None and me.recursive and me.ret == ret and not self.ctx.rec_site_used
                  and self.ctx.kind == "fn" and self.ctx.mult == 1 and usable(me))
        if rec_ok and c.chance(50):
            self.ctx.rec_site_used = True
            args = [binop("-", name("depth"), lit(1))] + self.call_args(me, d)
            return X(self.maybe_await(call(me.name, *args), me), VB)
        if not cands:
            return None
        f = c.pick(cands)
        self.spend(self.ctx.mult * f.cost)
        return X(self.maybe_await(call(f.name, *self.fn_call_args(f, d)), f), VB)

    def maybe_await(self, node: Any, f: FnSig) -> Any:
        return self.await_node(node, f.ret)[0] if f.is_async else node

    def call_args(self, f: FnSig, d: int) -> list:
        args = []
        for i, (pname, pty) in enumerate(f.params):
            if i == len(f.params) - 1 and f.default_last and self.c.chance(50):
                break
            args.append(self.expr(pty, d).node)
        return args

    def fn_call_args(self, f: FnSig, d: int) -> list:
        args = []
        if f.recursive:
            args.append(lit(self.c.int(0, f.max_depth)))
        return args + self.call_args(f, d)

    # ------------------------------------------------------------ match expressions

    def match_int_expr(self, d: int) -> X:
        c = self.c
        subj = self.e_int(d, 20)
        arms = []
        for v in sorted({c.pick([0, 1, 2, -1, 5]) for _ in range(c.int(0, 2))}):
            arms.append(A.MatchArm(A.PLit(v), None, self.e_int(d).node))
        n = self.fresh("n")
        self.push_scope()
        self.declare(Var(n, "int", bound=20))
        if c.chance(50):
            arms.append(A.MatchArm(A.PBind(n), self.e_bool(d).node, self.e_int(d).node))
        if c.chance(50):
            arms.append(A.MatchArm(A.PBind(n), None, self.e_int(d).node))
            self.pop_scope()
        else:
            self.pop_scope()
            arms.append(A.MatchArm(A.PWild(), None, self.e_int(d).node))
        return X(A.Match(subj.node, arms), VB)

    def enum_subject(self, d: int) -> X:
        # A struct-variant literal as a match subject must be parenthesised by the printer
        # (`match (E::V { w: 1 }) {`); keep generating it, it tests exactly that.
        return self.e_enum(d)

    def enum_match_expr(self, d: int) -> X:
        if not self.enums:
            return self.int_lit()
        subj = self.enum_subject(d)
        enum = next(e for e in self.enums if e.name == subj.info)
        arms = self.enum_arms(enum, d, lambda: self.e_int(d).node)
        return X(A.Match(subj.node, arms), VB)

    def enum_arms(self, enum: EnumSig, d: int, body: Callable[[], Any]) -> list:
        c = self.c
        arms = []
        covered_all = True
        for vname, kind, fields in enum.variants:
            if c.chance(15):
                covered_all = False
                continue
            self.push_scope()
            binds = []
            for f in fields:
                if c.chance(75):
                    b = self.fresh("p")
                    self.declare(Var(b, "int", bound=VB))
                    binds.append((f, A.PBind(b)))
                else:
                    binds.append((f, A.PWild()))
            if kind == "unit":
                pat: Any = A.PVariant([enum.name, vname])
            elif kind == "tuple":
                pat = A.PVariant([enum.name, vname], [p for _, p in binds])
            else:
                pat = A.PVariant([enum.name, vname], None,
                                 [(f, p) for f, p in binds if not isinstance(p, A.PWild)] or
                                 [(fields[0], A.PWild())])
            if c.chance(25):
                arms.append(A.MatchArm(pat, self.e_bool(0).node, body()))
                # a guarded arm needs an unguarded one behind it for the same variant
                arms.append(A.MatchArm(pat, None, body()))
            else:
                arms.append(A.MatchArm(pat, None, body()))
            self.pop_scope()
        if not covered_all or c.chance(20):
            arms.append(A.MatchArm(A.PWild(), None, body()))
        return arms

    # ------------------------------------------------------------ snapshot

    def snapshot_site(self) -> bool:
        if self.snapshot_sites >= MAX_SNAPSHOT_SITES:
            return False
        if self.fn_depth == 0:
            self.top_level_sites.append(self.snapshot_sites)
        self.snapshot_sites += 1
        return True

    def snapshot_match_expr(self, hash_value: Any, resumed_value: Any) -> Any:
        if not self.snapshot_site():
            return None
        return A.Match(call("snapshot"), [
            A.MatchArm(A.PVariant(["Snapshot", "Hash"], [A.PWild()]), None, hash_value),
            A.MatchArm(A.PVariant(["Snapshot", "Resumed"]), None, resumed_value)])
