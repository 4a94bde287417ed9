"""One call site, several closures (issue 11: a hole in the net). Elsewhere every callback site
of a program sees one closure; here one site sees two or more different ones in one run, the case
where a site that remembers what it called (the VM's call caches, the JIT's inlined callee) must
still call the closure it is given:

- `method`: the prelude's callback loop (`map`, `filter`, `any`, `all`, an iterator's `map`) called
  on one array with two different lambdas, in one statement or in every iteration of a loop;
- `taker`: a function taking a callback (`let ap = |g, v| …` or a nested `fn`) called with two
  lambdas in a loop, one after the other or alternately (`ap(if i % 2 == 0 { f } else { h }, i)`);
- `factory`: closures made by one factory (`let mk = |k| |x| x + k`: one code, different captured
  values) passed to one site.

The lambdas are mostly small pure expressions over their parameter and a captured int (the loop
variable or a variable in scope), the kind the JIT inlines, with the same number of captured cells
so only their code tells them apart; some are generated bodies (statements, calls, snapshots).

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.fuzz.generator.model import (MAX_MULT, VB, BuilderState, Var, binop, block, call,
                                            lam, let, lit, meth, name, param, stmt, tail)
from shapelang.ref import ast as A

SHARED_SITE_WEIGHT = 2      # of the statement kinds (statements.py)
LEN_CAP = 12                # a longer source array is replaced by a literal one
CALL_COST = 2               # estimated statement executions of one call of a simple lambda


class CallSites(BuilderState):
    def shared_site_stmt(self, d: int) -> list:
        c = self.c
        form = c.weighted([(4, "method"), (4, "taker"), (2, "factory")])
        if form == "taker":
            return self.taker_stmt(d)
        if form == "factory":
            return self.factory_stmt(d)
        return self.method_site_stmt(d)

    # ------------------------------------------------------------ the closures

    def captures(self, loop_var: Optional[str]) -> list[str]:
        """The ints a simple lambda may capture: the loop variable, or a small int in scope."""
        small = [v.name for v in self.vars_of("int") if v.bound <= VB]
        return ([loop_var] if loop_var else []) + small[-3:]

    def simple_lambda(self, pred: bool, k: Any) -> Any:
        """`|x| …` over x and k: an int literal, or the name of an int the lambda captures."""
        c = self.c
        x = self.fresh("x")
        X_ = lambda: name(x)  # noqa: E731  (every use is a node of its own)
        K = lambda: name(k) if isinstance(k, str) else lit(k)  # noqa: E731
        if pred:
            forms = [lambda: binop(">", X_(), K()), lambda: binop("<", X_(), K()),
                     lambda: binop("!=", X_(), K()),
                     lambda: binop("==", binop("%", X_(), lit(2)), lit(0)),
                     lambda: binop("==", binop("%", X_(), lit(3)), binop("%", K(), lit(3)))]
        else:
            m = c.pick([2, 3, -1, 7, 100])
            forms = [lambda: binop("+", X_(), K()), lambda: binop("-", X_(), K()),
                     lambda: binop("-", K(), X_()), lambda: binop("*", X_(), K()),
                     lambda: self.branching(binop("+", binop("*", X_(), lit(m)), K()), m, X_, K),
                     lambda: self.branching(binop("+", binop("%", X_(), lit(m)), K()), m, X_, K)]
        return lam([x], c.pick(forms)())

    def branching(self, body: Any, m: int, X_: Any, K: Any) -> Any:
        """body, or (unless m is 2; no new draw, so other programs are unchanged) a body with a
        branch whose one path calls a method, `if x >= k { (x * m).abs() } else { body }`: a
        callee the JIT inlines up to its call."""
        if m == 2:
            return body
        return A.If(binop(">=", X_(), K()), block([tail(meth(binop("*", X_(), lit(m)), "abs"))]),
                    block([tail(body)]))

    def closure_pair(self, pred: bool, d: int, calls: int, loop_var: Optional[str]) -> list:
        """Two or three different lambdas for one site. Usually each captures the same kind of
        value (so their cell counts match) and they differ in their code."""
        c = self.c
        caps = self.captures(loop_var)
        shared = c.pick(caps) if caps and c.chance(70) else c.pick([1, 3, 10, -2])
        out = []
        for _ in range(c.pick([2, 2, 3])):
            if c.chance(20):
                x = self.fresh("x")
                body = self.lambda_body([(x, "int", VB)], "bool" if pred else "int", d,
                                        calls=calls)
                if body is not None:
                    out.append(lam([x], body.node))
                    continue
            k = shared if c.chance(80) else c.pick([2, 5, 7])
            self.spend(self.ctx.mult * calls * CALL_COST)
            out.append(self.simple_lambda(pred, k))
        return out

    # ------------------------------------------------------------ the sites

    def loop_around(self, body: list, x: str, n: int) -> list:
        return [A.ExprStmt(A.For(A.PBind(x), A.RangeExpr(lit(0), lit(n)), block(body)), False)]

    def iterations(self) -> int:
        n = self.c.pick([1, 2, 3, 4])
        return 1 if self.ctx.mult * n > MAX_MULT else n

    def method_site_stmt(self, d: int) -> list:
        """`print(s.map(f), s.map(g))`, maybe in a loop whose variable the lambdas capture."""
        c = self.c
        src = self.e_seq("arr", min(d, 1), growing=False)
        if src.b > LEN_CAP:
            src = self.seq_lit("arr", 0)
        s = self.fresh("s")
        n = self.iterations()
        i = self.fresh("i") if n > 1 else None
        method = c.pick(["map", "map", "filter", "any", "all", "itermap"])
        pred = method in ("filter", "any", "all")
        self.ctx.mult *= n
        fs = self.closure_pair(pred, d - 1, max(1, int(src.b)), i)
        self.ctx.mult //= n
        calls = []
        for f in fs:
            if method == "itermap":
                calls.append(meth(meth(meth(name(s), "iter"), "map", f), "collect"))
            else:
                calls.append(meth(name(s), method, f))
        shown = [lit("site")] + ([name(i)] if i else []) + calls
        out = [stmt(call("print", *shown))]
        return [let(s, src.node)] + (self.loop_around(out, i, n) if i else out)

    def taker(self, body: Any) -> tuple[str, Any]:
        """A function of a callback `g` and an int `v`: a lambda, or (inside a function, where a
        nested declaration stays local) a nested `fn`."""
        ap = self.fresh("ap")
        if self.fn_depth > 0 and self.c.chance(40):
            return ap, A.FnDecl(ap, [param("g"), param("v")], block([tail(body)]))
        return ap, let(ap, lam(["g", "v"], body))

    def taker_body(self) -> Any:
        """What the callback taker computes: one or two calls of g (one site each)."""
        g = lambda arg: call("g", arg)  # noqa: E731
        v = lambda: name("v")  # noqa: E731
        forms = [lambda: binop("+", g(v()), lit(1)),
                 lambda: binop("-", binop("*", g(v()), lit(2)), v()),
                 lambda: g(binop("%", g(v()), lit(1000))),
                 lambda: binop("+", g(v()), g(binop("+", v(), lit(1)))),
                 lambda: A.If(binop(">", v(), lit(0)), block([tail(g(v()))]),
                              block([tail(binop("-", g(lit(0)), lit(1)))]))]
        return self.c.pick(forms)()

    def taker_stmt(self, d: int) -> list:
        """`ap(f, i)` and `ap(h, i)` in one loop, or `ap(if i % 2 == 0 { f } else { h }, i)`."""
        c = self.c
        n = max(2, self.iterations())
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        i = self.fresh("i")
        ap, decl = self.taker(self.taker_body())
        self.ctx.mult *= n
        self.push_scope()
        self.declare(Var(i, "int", bound=n, readonly=True))
        fs = self.closure_pair(False, d - 1, 2, i)
        self.pop_scope()
        self.ctx.mult //= n
        if c.chance(30):
            f = fs[0]
            for h in fs[1:]:
                f = A.If(binop("==", binop("%", name(i), lit(len(fs))), lit(0)), block([tail(h)]),
                         block([tail(f)]))
            shown = [call(ap, f, name(i))]
        else:
            shown = [call(ap, f, name(i)) for f in fs]
        body = [stmt(call("print", lit("ap"), name(i), *shown))]
        return [decl] + self.loop_around(body, i, n)

    def factory_stmt(self, d: int) -> list:
        """`let mk = |k| |x| …k…`, two closures of it with different k, both through one site."""
        c = self.c
        mk, k = self.fresh("mk"), self.fresh("k")
        pred = c.chance(30)
        inner = self.simple_lambda(pred, k)
        ks: list = list(c.pick([[1, 2], [3, -4], [10, 0], [7, 7, 2]]))
        caps = self.captures(None)
        if caps and c.chance(40):
            ks[-1] = c.pick(caps)
        made = [self.fresh("f") for _ in ks]
        out: list = [let(mk, lam([k], inner))] + [
            let(f, call(mk, name(kv) if isinstance(kv, str) else lit(kv)))
            for f, kv in zip(made, ks)]
        if pred or c.chance(50):
            s, src = self.fresh("s"), self.seq_lit("arr", 0)
            self.spend(self.ctx.mult * len(made) * max(1, int(src.b)) * CALL_COST)
            method = c.pick(["filter", "any", "all"]) if pred else "map"
            out += [let(s, src.node),
                    stmt(call("print", lit("made"), *[meth(name(s), method, name(f)) for f in made]))]
            return out
        ap, decl = self.taker(self.taker_body())
        self.spend(self.ctx.mult * len(made) * 2 * CALL_COST)
        v, arg = self.fresh("v"), self.e_int(min(d, 1), 1000)
        return out + [decl, let(v, arg.node),
                      stmt(call("print", lit("made"), *[call(ap, name(f), name(v)) for f in made]))]
