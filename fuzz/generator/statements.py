"""Statements and loops: print, bindings, assignments and mutations, `if`, the loops (`for`,
`while`, `loop`, `loop` with a value, and the edge-case loops: int overflow, closures kept from a
loop, checkpoints in a top-level loop), `break`/`continue`/`return`, `match` statements, closures
and calls, destructuring, `snapshot()` statements, and the runtime errors planted on purpose.

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from shapelang.fuzz.generator.callsites import SHARED_SITE_WEIGHT
from shapelang.fuzz.generator.model import (
    DIVISORS, LAMBDA_BUDGET, LEN, MAX_MULT, MAX_SNAPSHOT_SITES, MAX_STMTS, MODULI, STR_LITS, VB,
    WIDTHS,
    BuilderState, Ctx, FnSig, LoopFrame, SeqInfo, Var, X, cap, binop, block, call, if_stmt,
    lam, let, lit, meth, name, stmt, tail)
from shapelang.ref import ast as A


class Statements(BuilderState):
    # ------------------------------------------------------------ snapshot

    def snapshot_stmt(self) -> list:
        c = self.c
        form = c.pick(["let", "match", "bare", "print", "matchval"])
        if not self.snapshot_site():
            return []
        if form == "let":
            n = self.fresh("s")
            self.declare(Var(n, "snap"))
            out: list = [let(n, call("snapshot"))]
            if c.chance(50):
                out.append(stmt(call("print", lit("snap"), name(n))))
            return out
        if form == "match" or form == "matchval":
            # undo the site counted above: snapshot_match_expr counts its own
            self.snapshot_sites -= 1
            if self.fn_depth == 0:
                self.top_level_sites.pop()
            tag = self.fresh("")
            if form == "match":
                node = self.snapshot_match_expr(call("print", lit(f"taken{tag}")),
                                                call("print", lit(f"resumed{tag}")))
                return [A.ExprStmt(node, False)]
            n = self.fresh("r")
            node = self.snapshot_match_expr(lit(0), lit(100))
            self.declare(Var(n, "int", bound=100))
            return [let(n, node), stmt(call("print", lit(f"r{tag}"), name(n)))]
        if form == "print":
            return [stmt(call("print", call("snapshot")))]
        return [stmt(call("snapshot"))]

    # ------------------------------------------------------------ statements

    def stmts(self, n: int, d: int) -> list:
        out: list = []
        for _ in range(n):
            if self.stmt_count >= MAX_STMTS:
                break
            out.extend(self.statement(d))
        return out

    def statement(self, d: int) -> list:
        c = self.c
        self.stmt_count += 1
        self.spend(self.ctx.mult)
        in_loop = bool(self.ctx.loops)
        deep = d <= 0 or self.ctx.mult >= MAX_MULT
        kind = c.weighted([
            (22, "print"), (18, "let"), (9, "assign"), (5, "arrmut"), (2, "objset"),
            (0 if deep else 8, "if"), (0 if deep else 5, "for"), (0 if deep else 3, "while"),
            (0 if deep else 2, "loop"), (0 if deep else 4, "match"), (3, "closure"),
            (4, "callstmt"), (3, "snapshot"), (5 if in_loop else 0, "breakcont"),
            (3 if self.ctx.kind == "fn" else 0, "return"), (2, "destructure"),
            (2, "lambda"), (1 if not deep else 0, "loopval"), (1, "compound"),
            (3 if self.async_on else 0, "task"), (6 if self.anns else 0, "annotated"),
            (0 if deep else 2, "overflowloop"), (0 if deep else 2, "closureloop"),
            (3 if self.checkpoint_loop_ok(deep) else 0, "checkpointloop"),
            (0 if deep else SHARED_SITE_WEIGHT, "sharedsite"),
            (self.mistake_stmt_weight(), "mistake"), (self.file_weight(), "fileio"),
        ])
        ed = min(d, 2) if d > 0 else 0
        if kind == "print":
            return [self.print_stmt(ed + 1)]
        if kind == "let":
            return self.let_stmt(ed + 1)
        if kind == "assign":
            r = self.assign_stmt(ed + 1)
            return r if r else [self.print_stmt(ed)]
        if kind == "compound":
            r = self.compound_stmt(ed)
            return r if r else [self.print_stmt(ed)]
        if kind == "arrmut":
            r = self.arr_mut_stmt(ed)
            return r if r else [self.print_stmt(ed)]
        if kind == "objset":
            r = self.obj_set_stmt(ed)
            return r if r else [self.print_stmt(ed)]
        if kind == "if":
            return [self.if_statement(d)]
        if kind == "for":
            return self.for_stmt(d)
        if kind == "while":
            return self.while_stmt(d)
        if kind == "loop":
            return self.loop_stmt(d)
        if kind == "loopval":
            return self.loop_value_stmt(d)
        if kind == "match":
            return [self.match_stmt(d)]
        if kind == "closure":
            return self.closure_stmt(d)
        if kind == "lambda":
            return self.lambda_let(ed)
        if kind == "callstmt":
            r = self.call_stmt(ed)
            return r if r else [self.print_stmt(ed)]
        if kind == "snapshot":
            return self.snapshot_stmt() or [self.print_stmt(ed)]
        if kind == "breakcont":
            return [self.break_continue()]
        if kind == "return":
            return [self.return_stmt(ed)]
        if kind == "destructure":
            return self.destructure_stmt(ed)
        if kind == "task":
            return self.task_stmt(ed) or [self.print_stmt(ed)]
        if kind == "annotated":
            return self.annotated_stmt(ed) or [self.print_stmt(ed)]
        if kind == "overflowloop":
            return self.overflow_loop_stmt()
        if kind == "closureloop":
            return self.closure_loop_stmt(d)
        if kind == "checkpointloop":
            return self.checkpoint_loop_stmt(d)
        if kind == "sharedsite":
            return self.shared_site_stmt(d)
        if kind == "mistake":
            return self.mistake_stmt(ed)
        if kind == "fileio":
            return self.file_stmt(ed)
        return [self.print_stmt(ed)]

    def print_stmt(self, d: int) -> A.ExprStmt:
        c = self.c
        args = []
        if c.chance(60):
            args.append(lit(c.pick(["at", "v", "x:", "->", "ok", "sum", "i"])))
        for _ in range(c.int(1, 2)):
            ty = c.weighted([(6, "int"), (3, "str"), (2, "num"), (2, "bool"), (2, "arr"),
                             (1, "sarr"), (1, "obj"), (1, "res"), (1, "opt"), (1, "enum")])
            args.append(self.expr(ty, d).node)
        return stmt(call("print", *args))

    def let_stmt(self, d: int) -> list:
        c = self.c
        ty = c.weighted([(8, "int"), (4, "str"), (3, "num"), (3, "arr"), (2, "bool"), (1, "sarr"),
                         (2, "obj"), (1, "res"), (1, "opt"), (1, "enum" if self.enums else "int")])
        mutable = c.chance(45)
        n = self.shadow_name() or self.fresh("v")
        if ty in ("arr", "sarr"):
            x = self.e_seq(ty, d)
            info = x.info if not x.fresh and x.info is not None else SeqInfo(int(x.b))
            var = Var(n, ty, mutable, info=info)
        elif ty == "obj":
            x = self.e_obj(d)
            var = Var(n, ty, mutable, info=dict(x.info or {}))
        elif ty == "enum":
            x = self.e_enum(d)
            if x.info is None:
                return [self.print_stmt(d)]
            var = Var(n, f"enum:{x.info}", mutable)
        elif ty == "int":
            x = self.e_int(d, VB)
            var = Var(n, ty, mutable, bound=VB if mutable else x.b)
        else:
            x = self.expr(ty, d)
            var = Var(n, ty, mutable, bound=x.b)
        var.slot = self.let_type(ty)
        if var.slot is not None:
            x = self.fit(var.slot, x)
            if ty == "int":
                var.bound = max(var.bound, WIDTHS.get(var.slot, 0))
        stmt_ = A.Let(A.PBind(n), x.node, "let", mutable, var.slot)
        if c.chance(10) and not mutable:
            stmt_ = A.Let(A.PBind(n), x.node, "const", False, var.slot)
        elif mutable and c.chance(15):
            stmt_ = A.Let(A.PBind(n), x.node, "var", True, var.slot)
        self.declare(var)
        return [stmt_]

    def assign_stmt(self, d: int) -> list:
        c = self.c
        cands = [v for v in self.visible() if v.mutable and not v.readonly
                 and v.ty in ("int", "str", "num", "bool", "arr", "sarr", "obj", "res", "opt")]
        if not cands:
            return []
        v = c.pick(cands)
        if v.ty == "int":
            x = self.e_int(d, VB)
        elif v.ty == "str":
            x = self.e_str(d, growing=False)
            v.bound = max(v.bound, v.bound + x.b)
        elif v.ty in ("arr", "sarr"):
            if v.info.frozen:
                return []
            x = self.e_seq(v.ty, d, growing=False)
            if x.fresh or x.info is None:
                # a new array: v no longer aliases anything
                v.info = SeqInfo(max(int(x.b), v.info.bound + self.ctx.mult * 5))
            else:
                return []
        elif v.ty == "obj":
            # same fields and types: the assignment may run conditionally
            x = X(A.ObjectLit([(k, self.expr(t, d - 1).node) for k, t in v.info.items()]))
        elif v.ty == "num":
            x = self.e_num(d)
            v.bound = cap(max(v.bound, x.b))
        else:
            x = self.expr(v.ty, d)
        return [stmt(A.Assign(name(v.name), "=", self.fit(v.slot, x).node))]

    def compound_stmt(self, d: int) -> list:
        c = self.c
        cands = [v for v in self.visible() if v.mutable and not v.readonly and v.ty in ("int", "str", "num")]
        if not cands:
            return []
        v = c.pick(cands)
        if v.ty == "int" and c.chance(25):
            return self.bitwise_compound(v)
        if v.ty == "int":
            op = c.pick(["+=", "-=", "*=", "%=", "/="])
            if op in ("%=", "/="):
                return [stmt(A.Assign(name(v.name), op, lit(c.pick(DIVISORS))))]
            if op == "*=":
                # keep the variable within its bound: multiply, then wrap
                return [stmt(A.Assign(name(v.name), "=", binop(
                    "%", binop("*", name(v.name), lit(c.pick([2, 3, -2]))), lit(c.pick(MODULI)))))]
            return [stmt(A.Assign(name(v.name), op, lit(c.pick([1, 2, 5, 10]))))]
        if v.ty == "str":
            x = self.str_lit() if c.chance(60) else self.e_int(0)
            v.bound += 330 * self.ctx.mult
            return [stmt(A.Assign(name(v.name), "+=", x.node))]
        x = self.e_num(0)
        v.bound = cap(v.bound + x.b * self.ctx.mult)
        return [stmt(A.Assign(name(v.name), c.pick(["+=", "-="]), x.node))]

    def arr_mut_stmt(self, d: int) -> list:
        c = self.c
        if not self.ctx.allow_arr_mutation:
            return []
        cands = [v for v in self.vars_of("arr") + self.vars_of("sarr")
                 if not v.readonly and v.info.frozen == 0]
        if not cands:
            return []
        v = c.pick(cands)
        op = c.pick(["push", "push", "pop", "set", "setneg", "setcompound"])
        if op == "push":
            e = self.elem_expr(v.ty, d)
            v.info.bound += self.ctx.mult
            return [stmt(meth(name(v.name), "push", e.node))]
        if op == "pop":
            return [stmt(meth(name(v.name), "pop"))]
        i = c.pick([0, 1, 2])
        e = self.elem_expr(v.ty, d)
        if op == "setneg":
            return [if_stmt(binop(">", A.Member(name(v.name), "length"), lit(0)),
                            [stmt(A.Assign(A.Index(name(v.name), lit(-1)), "=", e.node))])]
        if op == "setcompound" and v.ty == "arr":
            return [if_stmt(binop("<", lit(i), A.Member(name(v.name), "length")),
                            [stmt(A.Assign(A.Index(name(v.name), lit(i)), c.pick(["+=", "-="]),
                                           lit(c.pick([1, 3]))))])]
        return [if_stmt(binop("<", lit(i), A.Member(name(v.name), "length")),
                        [stmt(A.Assign(A.Index(name(v.name), lit(i)), "=", e.node))])]

    def obj_set_stmt(self, d: int) -> list:
        c = self.c
        objs = [v for v in self.vars_of("obj") if v.info]
        if not objs:
            return []
        o = c.pick(objs)
        k = c.pick(list(o.info))
        t = o.info[k]
        x = self.expr(t, d) if t != "str" else self.e_str(d, growing=False)
        target = A.Index(name(o.name), lit(k)) if c.chance(25) else A.Member(name(o.name), k)
        if t == "int" and c.chance(30):
            return [stmt(A.Assign(target, "+=", lit(1)))]
        return [stmt(A.Assign(target, "=", x.node))]

    def nested_block(self, d: int, n: Optional[int] = None, setup: Optional[list[Var]] = None,
                     prefix: Optional[list] = None) -> A.Block:
        self.push_scope()
        for v in setup or []:
            self.declare(v)
        body = list(prefix or [])
        count = n if n is not None else self.c.int(1, 3)
        body += self.stmts(count, d - 1)
        self.pop_scope()
        if not body:
            # `{ }` in an arm or lambda body would be read as an empty object literal
            body = [stmt(call("print", lit("empty")))]
        return block(body)

    def if_statement(self, d: int) -> A.ExprStmt:
        c = self.c
        cond = self.e_bool(1) if c.chance(80) else self.expr(c.pick(["int", "str", "arr", "opt"]), 1)
        then = self.nested_block(d)
        other: Any = None
        r = c.int(0, 9)
        if r >= 5:
            other = self.nested_block(d)
        elif r >= 3:
            inner = self.if_statement(d - 1) if d > 1 else if_stmt(lit(True), [])
            other = inner.expr
        return A.ExprStmt(A.If(cond.node, then, other), False)

    # ------------------------------------------------------------ loops

    @contextmanager
    def for_body(self, iters: int, frozen: Optional[SeqInfo]) -> Iterator[None]:
        """Generating the body of a `for` loop: it is a loop (for break/continue), runs `iters`
        times (for the cost budget) and must not grow the array it iterates (`frozen`)."""
        if frozen is not None:
            frozen.frozen += 1
        self.ctx.loops.append(LoopFrame("for"))
        saved = self.ctx.mult
        self.ctx.mult *= max(iters, 1)
        # No try/finally: when a draw aborts the program (Hypothesis's StopTest), the generator
        # is dropped with whatever context it was in, and unwinding here would touch the
        # context of a function being generated inside the loop instead.
        yield
        self.ctx.mult = saved
        self.ctx.loops.pop()
        if frozen is not None:
            frozen.frozen -= 1

    def for_stmt(self, d: int) -> list:
        x = self.fresh("i")
        iterable, iters, var, frozen = self.for_header(x)
        with self.for_body(iters, frozen):
            body = self.nested_block(d, setup=[var])
        return [A.ExprStmt(A.For(A.PBind(x), iterable, body), False)]

    def for_header(self, x: str, kinds: Optional[list[tuple[int, str]]] = None
                   ) -> tuple[Any, int, Var, Optional[SeqInfo]]:
        """What a `for` over `x` iterates: (iterable, iterations, the variable, the array it
        iterates when that is a variable's, which the body must not grow)."""
        c = self.c
        kind = c.weighted(kinds or [(5, "range"), (4, "array"), (2, "rangefn"), (1, "string"),
                                    (1, "sarr"), (1, "iter")])
        frozen: Optional[SeqInfo] = None
        if kind == "iter":
            # an iterator pulls from its source as the loop runs: only fresh sources, which the
            # body cannot grow
            it = self.iter_chain(1, fresh_only=True)
            if it is None:
                kind = "range"
            else:
                iterable: Any = it.node
                iters = max(int(it.b), 1)
                var = Var(x, "int", bound=VB, readonly=True)
        if kind == "iter":
            pass
        elif kind == "range":
            lo = c.pick([0, 1, -2])
            n = c.int(0, 5)
            inclusive = c.chance(30)
            iterable = A.RangeExpr(lit(lo), lit(lo + n), inclusive)
            iters = n + (1 if inclusive else 0)
            var = Var(x, "int", bound=abs(lo) + n + 1, readonly=True)
        elif kind == "rangefn":
            form = c.pick(["n", "ab", "step"])
            if form == "n":
                n = c.int(0, 5)
                iterable = call("range", lit(n))
                iters, bound = n, n
            elif form == "ab":
                a, b = c.pick([0, 2, -3]), c.pick([3, 5, 0])
                iterable = call("range", lit(a), lit(b))
                iters, bound = max(0, b - a), max(abs(a), abs(b))
            else:
                a, b, s = c.pick([(0, 10, 3), (5, 0, -1), (10, -5, -4), (0, 5, 2)])
                iterable = call("range", lit(a), lit(b), lit(s))
                iters, bound = 6, 10
            var = Var(x, "int", bound=bound, readonly=True)
        elif kind in ("array", "sarr"):
            ty = "arr" if kind == "array" else "sarr"
            a = self.e_seq(ty, 1)
            iterable = a.node
            iters = max(int(a.b), 1)
            if not a.fresh and a.info is not None:
                frozen = a.info
            var = Var(x, "int" if ty == "arr" else "str", bound=VB if ty == "arr" else 64,
                      readonly=True)
        else:
            s = self.e_str(1)
            iterable = s.node
            iters = max(int(s.b), 1)
            var = Var(x, "str", bound=1, readonly=True)
        if self.ctx.mult * iters > MAX_MULT or not self.affordable(iters * 2):
            # too expensive here: iterate a tiny literal range instead
            iterable = A.RangeExpr(lit(0), lit(2))
            iters, frozen = 2, None
            var = Var(x, "int", bound=2, readonly=True)
        return iterable, iters, var, frozen

    def overflow_loop_stmt(self) -> list:
        """An int accumulator stepped across the int64 limit, above or below, printed at every
        step: it becomes a number at the step that leaves the range (brief §3), or, shifted left,
        wraps. In a loop, so the VM runs the step on its fast path."""
        c = self.c
        v, x = self.fresh("big"), self.fresh("i")
        n = c.int(2, 4)
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        self.spend(self.ctx.mult * n * 2)
        sign = c.pick([1, -1])
        base = sign * (2**63 - 1 - c.pick([0, 2, 7, 20, 300]))
        form = c.pick(["step", "stepvar", "mul", "shift"])
        if form == "step":
            k = lit(c.pick([1, 5, 10, 100]))
        elif form == "stepvar":
            k = binop("+", binop("*", name(x), lit(c.pick([3, 7, 64]))), lit(1))
        if form == "mul":
            step = binop("*", name(v), lit(c.pick([2, 3, -2])))
        elif form == "shift":
            # a shift keeps an int: the bits past bit 63 are lost, it wraps (spec/bitwise.md)
            step = binop("<<", name(v), lit(c.pick([1, 2, 3])))
        else:
            step = binop("+" if sign > 0 else "-", name(v), k)
        body = [stmt(A.Assign(name(v), "=", step)), stmt(call("print", lit("big"), name(v)))]
        if c.chance(30):
            # the value through other displays, and through `/` and `%`, which treat ints
            # and numbers differently
            shown = c.pick([binop("+", lit("s"), name(v)), call("to_string", name(v)),
                            binop("/", name(v), lit(2)), binop("%", name(v), lit(1000))])
            body.append(stmt(call("print", shown)))
        self.declare(Var(v, "num", True, bound=math.inf))
        return [let(v, lit(base), True),
                A.ExprStmt(A.For(A.PBind(x), A.RangeExpr(lit(0), lit(n)), block(body)), False)]

    def closure_loop_stmt(self, d: int) -> list:
        """Closures made in a loop body and called after the loop: each keeps the variables of its
        own iteration (brief §2: a `for` loop variable is fresh per iteration; so is a `let` in
        the body)."""
        c = self.c
        fs, x, y = self.fresh("fs"), self.fresh("i"), self.fresh("y")
        iterable, iters, var, frozen = self.for_header(x, [(5, "range"), (3, "array"),
                                                          (2, "rangefn")])
        with self.for_body(iters, frozen):
            self.push_scope()
            self.declare(var)
            body: list = []
            if c.chance(30):
                body += self.stmts(1, d - 1)
            captured: Any = name(x)
            if c.chance(40):
                # last before the closure, so no later `let` shadows it with another type
                t = self.fresh("t")
                tx = self.e_int(1)
                body.append(let(t, tx.node))
                self.declare(Var(t, "int", bound=tx.b, readonly=True))
                captured = name(t)
            f = self.lambda_body([(y, "int", VB)], "int", 1, calls=1, stmts_ok=False)
            if f is not None and not isinstance(f.node, A.Block):
                fn = lam([y], binop("+", captured, f.node))
            else:
                fn = lam([y], binop("+", binop("*", captured, lit(10)), name(y)))
            body.append(stmt(meth(name(fs), "push", fn)))
            self.pop_scope()
        g = self.fresh("g")
        self.spend(self.ctx.mult * iters * 2)
        return [let(fs, A.ArrayLit([])),
                A.ExprStmt(A.For(A.PBind(x), iterable, block(body)), False),
                stmt(call("print", lit("fs"), meth(name(fs), "map",
                                                   lam([g], call(g, lit(c.pick([0, 1, 5])))))))]

    def checkpoint_loop_ok(self, deep: bool) -> bool:
        # Top-level code only (not inside a function, lambda or hook): recompile-and-resume can
        # continue there.
        return (not deep and self.ctx.kind == "module" and self.fn_depth == 0
                and self.snapshot_sites < MAX_SNAPSHOT_SITES)

    def checkpoint_loop_stmt(self, d: int) -> list:
        """A top-level `for` loop that takes a snapshot() in every iteration, the pattern
        snapshot() is made for: a resume or a recompile-and-resume from an event inside it must
        go on with that iteration."""
        c = self.c
        x = self.fresh("i")
        if c.chance(70):
            lo = c.pick([0, 1, -2])
            n = c.int(2, 4)
            if self.ctx.mult * n > MAX_MULT:
                n = 1
            var = Var(x, "int", bound=abs(lo) + n + 1, readonly=True)
            iterable, iters, frozen = A.RangeExpr(lit(lo), lit(lo + n)), n, None
        else:
            iterable, iters, var, frozen = self.for_header(x)
        with self.for_body(iters, frozen):
            self.push_scope()
            self.declare(var)
            body: list = []
            if c.chance(75):
                body.append(stmt(call("print", lit("step"), name(x))))
            body += self.stmts(c.int(0, 2), d - 1)
            body += self.snapshot_stmt()
            body += self.stmts(c.int(0, 2), d - 1)
            self.pop_scope()
        if not body:
            body = [stmt(call("print", lit("empty")))]
        return [A.ExprStmt(A.For(A.PBind(x), iterable, block(body)), False)]

    def counter_loop_prefix(self, w: str, n: int, kind: str) -> tuple[list, list]:
        """Declaration before the loop, and the first statements of its body."""
        decl = let(w, lit(0), True)
        incr = self.counter_step(w)
        if kind == "while":
            return [decl], [incr]
        check = A.ExprStmt(A.If(binop(">", name(w), lit(n)), block([A.Break()])), True)
        return [decl], [incr, check]

    def while_stmt(self, d: int) -> list:
        c = self.c
        w = self.fresh("w")
        n = c.int(0, 4)
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        pre, body_prefix = self.counter_loop_prefix(w, n, "while")
        cond: Any = binop("<", name(w), lit(n))
        if c.chance(25):
            cond = binop("&&", cond, self.e_bool(0).node)
        counter = Var(w, "int", bound=n + 1, readonly=True)
        self.declare(counter)
        # An even count puts the increment last, `while w < n { …; w += 1 }`, the counted loop
        # the JIT turns into a Python for loop (no `continue` may skip the increment then). Read
        # off n rather than drawn, so no other choice of the program changes.
        last = n % 2 == 0
        self.ctx.loops.append(LoopFrame("while", no_continue=last))
        saved = self.ctx.mult
        self.ctx.mult *= max(n, 1)
        body = self.nested_block(d, prefix=[] if last else body_prefix)
        if last:
            body.stmts.append(self.counter_step(w))
        self.ctx.mult = saved
        self.ctx.loops.pop()
        loop = A.ExprStmt(A.While(cond, body), False)
        # where the counter stops (n, or where a `break` left it): the VM's value of the
        # register after the loop, whichever way compiled code ran it
        return pre + [loop] + ([stmt(call("print", lit("while"), name(w)))] if last else [])

    def counter_step(self, w: str) -> A.ExprStmt:
        return stmt(A.Assign(name(w), "+=", lit(1)))

    def loop_stmt(self, d: int) -> list:
        w = self.fresh("w")
        n = self.c.int(0, 4)
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        pre, body_prefix = self.counter_loop_prefix(w, n, "loop")
        self.declare(Var(w, "int", bound=n + 2, readonly=True))
        self.ctx.loops.append(LoopFrame("loop"))
        saved = self.ctx.mult
        self.ctx.mult *= max(n, 1)
        body = self.nested_block(d, prefix=body_prefix)
        self.ctx.mult = saved
        self.ctx.loops.pop()
        return pre + [A.ExprStmt(A.Loop(body), False)]

    def loop_value_stmt(self, d: int) -> list:
        """`let r = loop { w += 1; if w > n { break value }; … }`"""
        c = self.c
        w, r = self.fresh("w"), self.fresh("r")
        n = c.int(0, 4)
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        self.declare(Var(w, "int", bound=n + 2, readonly=True))
        self.ctx.loops.append(LoopFrame("loop", "int"))
        saved = self.ctx.mult
        self.ctx.mult *= max(n, 1)
        self.push_scope()
        value = self.e_int(0)
        check = A.ExprStmt(A.If(binop(">", name(w), lit(n)), block([A.Break(value.node)])), True)
        body = [stmt(A.Assign(name(w), "+=", lit(1))), check] + self.stmts(c.int(0, 2), d - 1)
        self.pop_scope()
        self.ctx.mult = saved
        self.ctx.loops.pop()
        self.declare(Var(r, "int", bound=VB))
        return [let(w, lit(0), True), let(r, A.Loop(block(body))),
                stmt(call("print", lit("loop"), name(r)))]

    # ------------------------------------------------------------ control flow, match, closures, calls

    def break_continue(self) -> A.ExprStmt:
        c = self.c
        frame = self.ctx.loops[-1]
        cond = self.e_bool(1)
        if frame.break_ty is not None:
            inner: Any = A.Break(self.e_int(0).node) if c.chance(50) else A.Continue()
        else:
            # the draw is made either way, so the rest of the program does not change
            inner = A.Break() if c.chance(50) or frame.no_continue else A.Continue()
        return A.ExprStmt(A.If(cond.node, block([inner])), True)

    def return_stmt(self, d: int) -> A.ExprStmt:
        sig = self.ctx.sig
        assert sig is not None
        value = None if sig.ret == "unit" else self.fn_result(sig.ret, d).node
        return A.ExprStmt(A.If(self.e_bool(1).node, block([A.Return(value)])), True)

    def fn_result(self, ret: str, d: int) -> X:
        if ret == "int":
            return self.e_int(d, VB)
        return self.expr(ret, d)

    def match_stmt(self, d: int) -> A.ExprStmt:
        c = self.c
        kind = c.weighted([(4, "int"), (2, "str"), (3 if self.enums else 0, "enum"), (2, "res"),
                           (2, "opt"), (2, "arr"), (1, "obj"), (1, "snap")])
        body = lambda: self.arm_body(d)  # noqa: E731
        if kind == "int":
            subj = self.e_int(1, 20)
            arms = []
            for v in sorted({c.pick([0, 1, 2, -1, 3]) for _ in range(c.int(0, 3))}):
                arms.append(A.MatchArm(A.PLit(v), None, body()))
            n = self.fresh("n")
            self.push_scope()
            self.declare(Var(n, "int", bound=20, readonly=True))
            if c.chance(50):
                arms.append(A.MatchArm(A.PBind(n), self.e_bool(0).node, body()))
            arms.append(A.MatchArm(A.PBind(n), None, body()))
            self.pop_scope()
            return A.ExprStmt(A.Match(subj.node, arms), False)
        if kind == "str":
            subj = self.e_str(1)
            arms = [A.MatchArm(A.PLit(s), None, body())
                    for s in dict.fromkeys(c.pick(STR_LITS[:8]) for _ in range(c.int(0, 2)))]
            arms.append(A.MatchArm(A.PWild(), None, body()))
            return A.ExprStmt(A.Match(subj.node, arms), False)
        if kind == "enum":
            subj = self.enum_subject(1)
            enum = next(e for e in self.enums if e.name == subj.info)
            return A.ExprStmt(A.Match(subj.node, self.enum_arms(enum, d, body)), False)
        if kind == "res":
            subj = self.e_res(1)
            v, e = self.fresh("ok"), self.fresh("e")
            arms = []
            self.push_scope()
            self.declare(Var(v, "int", bound=VB, readonly=True))
            if c.chance(40):
                arms.append(A.MatchArm(A.PVariant(["Ok"], [A.PBind(v)]),
                                       binop(">", name(v), lit(c.pick([0, 3, 10]))), body()))
            arms.append(A.MatchArm(A.PVariant(["Ok"], [A.PBind(v)]), None, body()))
            self.pop_scope()
            self.push_scope()
            self.declare(Var(e, "str", bound=20, readonly=True))
            arms.append(A.MatchArm(A.PVariant(["Err"], [A.PBind(e)]), None, body()))
            self.pop_scope()
            return A.ExprStmt(A.Match(subj.node, arms), False)
        if kind == "opt":
            subj = self.e_opt(1)
            v = self.fresh("some")
            self.push_scope()
            self.declare(Var(v, "int", bound=VB, readonly=True))
            some = A.MatchArm(A.PVariant(["Some"], [A.PBind(v)]), None, body())
            self.pop_scope()
            none = A.MatchArm(A.PLit(None), None, body())
            arms = [none, some] if c.chance(50) else [some, none]
            return A.ExprStmt(A.Match(subj.node, arms), False)
        if kind == "arr":
            subj = self.e_seq("arr", 1)
            arms = []
            if c.chance(50):
                arms.append(A.MatchArm(A.PArray([]), None, body()))
            h, rest = self.fresh("h"), self.fresh("rest")
            self.push_scope()
            self.declare(Var(h, "int", bound=VB, readonly=True))
            if c.chance(50):
                arms.append(A.MatchArm(A.PArray([A.PBind(h)]), None, body()))
            self.declare(Var(rest, "arr", info=SeqInfo(LEN), readonly=True))
            if c.chance(60):
                # what the arm bound, printed: an element too many or too few shows
                shown = c.pick([name(rest), A.Member(name(rest), "length"), meth(name(rest), "sum")])
                rest_body: Any = call("print", lit("rest"), name(h), shown)
            else:
                rest_body = body()
            arms.append(A.MatchArm(A.PArray([A.PBind(h)], rest, True), None, rest_body))
            self.pop_scope()
            arms.append(A.MatchArm(A.PWild(), None, body()))
            return A.ExprStmt(A.Match(subj.node, arms), False)
        if kind == "obj":
            objs = [o for o in self.vars_of("obj") if o.info]
            if not objs:
                return A.ExprStmt(self.snapshot_or_print(d), True)
            o = c.pick(objs)
            k = c.pick(list(o.info))
            b = self.fresh("f")
            self.push_scope()
            self.declare(Var(b, o.info[k], bound=VB if o.info[k] == "int" else 64, readonly=True))
            arm = A.MatchArm(A.PObject([(k, A.PBind(b))]), None, body())
            self.pop_scope()
            return A.ExprStmt(A.Match(name(o.name), [arm, A.MatchArm(A.PWild(), None, body())]), False)
        node = self.snapshot_match_expr(body(), body())
        if node is None:
            return A.ExprStmt(self.snapshot_or_print(d), True)
        return A.ExprStmt(node, False)

    def snapshot_or_print(self, d: int) -> Any:
        return self.print_stmt(d).expr

    def arm_body(self, d: int) -> Any:
        if self.c.chance(40):
            return self.nested_block(d, n=self.c.int(1, 2))
        return self.print_stmt(0).expr

    def closure_stmt(self, d: int) -> list:
        """A `let mut` counter and a closure that updates it; calling it later keeps counting."""
        c = self.c
        cnt, f = self.fresh("cnt"), self.fresh("inc")
        counter = Var(cnt, "int", True, bound=VB)
        self.declare(counter)
        step = lit(c.pick([1, 2, 5]))
        update = A.Assign(name(cnt), "=", binop("%", binop("+", name(cnt), step), lit(c.pick(MODULI))))
        body_stmts: list = [stmt(update)]
        saved_ctx = self.ctx
        self.ctx = Ctx("lambda", limit=LAMBDA_BUDGET, allow_arr_mutation=False)
        self.fn_depth += 1
        self.push_scope()
        if c.chance(30):
            body_stmts += self.stmts(1, min(d, 1))
        self.pop_scope()
        self.fn_depth -= 1
        cost = max(2, self.ctx.cost + 1)
        self.ctx = saved_ctx
        body = A.Block(body_stmts + [tail(name(cnt))])
        thunk = Var(f, "thunk", cost=cost)
        out = [let(cnt, lit(0), True), let(f, lam([], body))]
        self.declare(thunk)
        calls = c.int(0, 3)
        for _ in range(calls):
            if self.affordable(cost):
                self.spend(self.ctx.mult * cost)
                out.append(stmt(call("print", lit("count"), call(f))))
        if c.chance(50):
            out.append(stmt(call("print", name(cnt))))
        return out

    def lambda_let(self, d: int) -> list:
        x = self.fresh("x")
        before = self.ctx.cost
        body = self.lambda_body([(x, "int", VB)], "int", d, calls=0)
        if body is None:
            return [self.print_stmt(d)]
        cost = max(1, self.ctx.cost - before)
        self.ctx.cost = before  # defining a lambda runs nothing; calls pay for it
        f = self.fresh("f")
        self.declare(Var(f, "fn", cost=cost))
        if self.c.chance(30):
            return [let(f, self.fn_expr([x], body.node))]
        return [let(f, lam([x], body.node))]

    def call_stmt(self, d: int, only_annotated: bool = False) -> list:
        c = self.c
        cands = [f for f in self.fns if self.affordable(f.cost) and f is not self.current_fn
                 and (f.anns or not only_annotated)]
        if not cands:
            return []
        f = c.pick(cands)
        if f.by_ref:
            targets = [v for v in self.vars_of("int") if v.mutable and not v.readonly]
            if not targets:
                return []
            t = c.pick(targets)
            self.spend(self.ctx.mult * f.cost)
            args: list = [A.RefArg(t.name)]
            if f.recursive:
                args.insert(0, lit(c.int(0, f.max_depth)))
            args += self.call_args(FnSig(f.name, f.params[1:], f.ret, default_last=f.default_last), d)
            return [stmt(call(f.name, *args)), stmt(call("print", lit("ref"), name(t.name)))]
        self.spend(self.ctx.mult * f.cost)
        node: Any = call(f.name, *self.fn_call_args(f, d))
        # an async call not awaited still runs its body; printing it shows `[task]`
        if f.is_async and self.ctx.await_ok and c.chance(70):
            node = self.await_node(node, f.ret)[0]
        if f.ret == "unit":
            return [stmt(node)]
        return [stmt(call("print", lit(f.name), node))]

    def destructure_stmt(self, d: int) -> list:
        c = self.c
        if c.chance(50):
            items = [self.e_int(d) for _ in range(c.int(2, 4))]
            names = [self.fresh("d") for _ in range(2)]
            rest = self.fresh("rest") if c.chance(50) else None
            pat = A.PArray([A.PBind(n) for n in names], rest, rest is not None)
            for n, it in zip(names, items):
                self.declare(Var(n, "int", bound=it.b))
            if rest:
                self.declare(Var(rest, "arr", info=SeqInfo(len(items))))
            shown = [name(n) for n in names] + ([name(rest)] if rest else [])
            return [A.Let(pat, A.ArrayLit([i.node for i in items]), "let", False),
                    stmt(call("print", *shown))]
        objs = [o for o in self.vars_of("obj") if o.info]
        if not objs:
            return [self.print_stmt(d)]
        o = c.pick(objs)
        keys = list(o.info)[: c.int(1, len(o.info))]
        fields = []
        out_names = []
        for k in keys:
            local = self.fresh("k")
            fields.append((k, A.PBind(local)))
            out_names.append(local)
            self.declare(Var(local, o.info[k], bound=VB if o.info[k] == "int" else 64))
        return [A.Let(A.PObject(fields), name(o.name), "let", False),
                stmt(call("print", *[name(n) for n in out_names]))]

    def try_stmts(self) -> list:
        """`let v = r?` inside a function returning a Result."""
        c = self.c
        r = self.e_res(1)
        v = self.fresh("t")
        self.declare(Var(v, "int", bound=VB))
        return [let(v, A.Try(r.node)), stmt(call("print", lit("try"), name(v)))]

    # ------------------------------------------------------------ planted errors

    def planted_error(self) -> list:
        c = self.c
        kind = c.pick(["div", "mod", "fdiv", "value", "match", "unwrap", "type", "call",
                       "index", "range", "cmp", "method"])
        if kind in ("div", "mod", "fdiv"):
            # literals only: the statement may be inserted before any variable exists
            self.planted.add("ArithmeticError")
            x = self.int_lit()
            zero = binop("-", x.node, x.node) if c.chance(50) else lit(0)
            if kind == "fdiv":
                return [stmt(call("print", binop("/", lit(1.5), lit(0.0))))]
            return [stmt(call("print", lit("boom"), binop("/" if kind == "div" else "%",
                                                          self.int_lit().node, zero)))]
        if kind == "value":
            self.planted.add("ValueError")
            return [stmt(call("print", meth(lit(c.pick(["abc", "1x", ""])), "toInt")))]
        if kind == "range":
            self.planted.add("ValueError")
            return [stmt(call("print", call("range", lit(0), lit(5), lit(0))))]
        if kind == "match":
            self.planted.add("MatchError")
            return [stmt(A.Match(lit(c.pick([7, 8])), [A.MatchArm(A.PLit(1), None, lit(1))]))]
        if kind == "unwrap" and self.ctx.kind == "module":
            self.planted.add("UnwrapError")
            return [let(self.fresh("u"), A.Try(call("Err", lit("boom"))))]
        if kind == "index" and self.ctx.allow_arr_mutation:
            self.planted.add("IndexError")
            n = self.fresh("z")
            return [let(n, A.ArrayLit([lit(1)])),
                    stmt(A.Assign(A.Index(name(n), lit(c.pick([5, -3]))), "=", lit(2)))]
        self.planted.add("TypeError")
        if kind == "call":
            n = self.fresh("z")
            return [let(n, lit(3)), stmt(call(n, lit(1)))]
        if kind == "cmp":
            return [stmt(call("print", binop("<", lit(1), lit("a"))))]
        if kind == "method":
            return [stmt(call("print", meth(A.ArrayLit([lit(1)]), "nosuch")))]
        return [stmt(call("print", binop("+", lit(1), lit(True))))]
