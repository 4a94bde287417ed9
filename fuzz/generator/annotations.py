"""Annotations and async (brief §7): `annotation` declarations whose hooks keep every program
they are applied to well typed (`AnnSig` says what they may supply or rewrite), their uses at
functions and awaits, `await` (of async calls, tasks and plain values) and tasks.

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.fuzz.generator.model import (
    HOOK_BUDGET, HOOK_SNAPSHOT_CHANCE, STR_LITS, TASK_TYPES, VB, AnnSig, BuilderState, Ctx,
    FnSig, Var, X, binop, block, call, lam, let, lit, meth, name, param, stmt, tail)
from shapelang.ref import ast as A


class Annotations(BuilderState):
    # ------------------------------------------------------------ annotations

    def ann_decl(self, index: int) -> A.AnnotationDecl:
        """An `annotation` whose hooks keep every program it is applied to well typed: `ty` says
        which type of value they may supply, the flags which arguments they may rewrite."""
        c = self.c
        # Annotation names have their own namespace: `@f0 fn f0` is fine.
        aname = f"an{index}" if not c.chance(10) else f"f{index}"
        params = [(self.fresh("q"), c.pick(["int", "str"]))
                  for _ in range(c.weighted([(3, 0), (3, 1), (2, 2)]))]
        n_default = 1 if params and c.chance(25) else 0
        targets = c.weighted([(5, []), (3, ["function"]), (2, ["await_expr"]),
                              (1, ["function", "await_expr"]), (1, ["await_expr", "function"])])
        ty = c.weighted([(5, None), (4, "int"), (2, "str"), (1, "res"), (1, "bool"), (1, "arr"),
                         (0 if targets == ["await_expr"] else 1, "unit")])
        sig = AnnSig(aname, params, n_default, targets, ty)
        if c.chance(60):
            sig.counter = self.fresh("hk")
            self.counters.append(sig.counter)
            # readonly: only the hooks assign it; everyone may read it
            self.declare(Var(sig.counter, "int", True, bound=1000, readonly=True))
        ast_params = []
        for j, (pn, pt) in enumerate(params):
            default = None
            if j >= len(params) - n_default:
                default = lit(7) if pt == "int" else lit("dflt")
            ast_params.append(param(pn, default=default))

        saved_ctx, saved_fn = self.ctx, self.current_fn
        self.ctx = Ctx("hook", limit=HOOK_BUDGET)
        self.current_fn = None
        self.fn_depth += 1
        self.barriers.append(len(self.scopes))
        self.push_scope()
        for pn, pt in params:
            self.declare(Var(pn, pt, bound=1000 if pt == "int" else 64, readonly=True))
        if sig.counter:
            self.declare(Var(sig.counter, "int", True, bound=1000, readonly=True))
        before = self.before_handler(sig)
        after = self.after_handler(sig)
        self.pop_scope()
        self.barriers.pop()
        self.fn_depth -= 1
        sig.cost = max(2, self.ctx.cost) + 4     # + the prelude's protocol
        self.ctx, self.current_fn = saved_ctx, saved_fn
        self.anns.append(sig)
        return A.AnnotationDecl(aname, ast_params, list(targets), before, after)

    def hook_names(self) -> tuple[str, str, str]:
        if self.c.chance(20):
            return "xs", "cx", "r"
        return "args", "ctx", "result"

    def hook_prefix(self, sig: AnnSig, slot: str) -> list:
        """Statements a handler runs before its characteristic part."""
        c = self.c
        out: list = []
        self.push_scope()
        if c.chance(25):
            out += self.stmts(c.int(1, 2), 1)
        if c.chance(HOOK_SNAPSHOT_CHANCE):
            out += self.hook_snapshot(f"{sig.name}.{slot}")
        if sig.counter and c.chance(50):
            out.append(self.count_stmt(sig.counter))
        self.pop_scope()
        return out

    def count_stmt(self, counter: str) -> A.ExprStmt:
        return stmt(A.Assign(name(counter), "=",
                             binop("%", binop("+", name(counter), lit(1)), lit(1000))))

    def hook_snapshot(self, tag: str) -> list:
        """`snapshot()` inside a hook: a resume continues inside the hook frame (recompile-and-
        resume refuses it: the call stack is not empty)."""
        c = self.c
        form = c.weighted([(5, "match"), (2, "let"), (1, "handoff")])
        if not self.snapshot_site():
            return []
        snap = lambda a, b: A.Match(call("snapshot"), [  # noqa: E731
            A.MatchArm(A.PVariant(["Snapshot", "Hash"], [A.PWild()]), None, a),
            A.MatchArm(A.PVariant(["Snapshot", "Resumed"]), None, b)])
        if form == "let":
            s = self.fresh("s")
            return [let(s, call("snapshot")), stmt(call("print", lit(tag), name(s)))]
        if form == "handoff":
            # the hand-off idiom: publish and stop on Hash, carry on when resumed
            self.planted_exit = True
            code = c.pick([0, 0, 5])
            return [A.ExprStmt(snap(block([stmt(call("print", lit(f"{tag} handing off"))),
                                           stmt(call("exit", lit(code)))]),
                                    call("print", lit(f"{tag} on the worker"))), True)]
        return [A.ExprStmt(snap(call("print", lit(f"{tag} taken")),
                                call("print", lit(f"{tag} resumed"))), True)]

    def ann_param(self, sig: AnnSig, ty: str) -> Optional[str]:
        ps = [p for p, t in sig.params if t == ty]
        return self.c.pick(ps) if ps and self.c.chance(60) else None

    def typed_const(self, sig: AnnSig, ty: str) -> Any:
        """A value of type ty for a short-circuit or for after to return (small bounds)."""
        c = self.c
        if ty == "int":
            p = self.ann_param(sig, "int")
            return name(p) if p else lit(c.pick([0, 1, 7, -3, 42]))
        if ty == "str":
            p = self.ann_param(sig, "str")
            return name(p) if p else lit(c.pick(["cached", "", "sc", "é!"]))
        if ty == "bool":
            return lit(c.pick([False, True]))
        if ty == "res":
            return call("Ok", lit(c.pick([0, 5]))) if c.chance(50) else call("Err", lit("short"))
        if ty == "arr":
            return A.ArrayLit([]) if c.chance(40) else A.ArrayLit([lit(1), lit(2)])
        return A.UnitLit()

    def hook_cond(self, sig: AnnSig, args_name: str) -> tuple[Any, bool]:
        """A condition for a short-circuit; also whether it reads `args`."""
        c = self.c
        opts = ["len", "lit"]
        if sig.counter:
            opts += ["counter", "counter"]
        if any(t == "int" for _, t in sig.params):
            opts.append("int")
        if any(t == "str" for _, t in sig.params):
            opts.append("str")
        kind = c.pick(opts)
        if kind == "counter":
            return binop("==", binop("%", name(sig.counter), lit(c.pick([2, 3, 4]))),
                         lit(c.pick([0, 1]))), False
        if kind == "int":
            return binop(">", name(c.pick([p for p, t in sig.params if t == "int"])),
                         lit(c.pick([0, 2, 5]))), False
        if kind == "str":
            return binop("==", name(c.pick([p for p, t in sig.params if t == "str"])),
                         lit(c.pick(STR_LITS[:5]))), False
        if kind == "lit":
            return lit(c.pick([False, True])), False
        return binop(c.pick(["==", ">="]), A.Member(name(args_name), "length"),
                     lit(c.pick([0, 1, 2]))), True

    def state_value(self, sig: AnnSig, args_name: str) -> Any:
        c = self.c
        entries: list = [("n", A.Member(name(args_name), "length"))]
        p = self.ann_param(sig, "str") or self.ann_param(sig, "int")
        if p:
            entries.append(("tag", name(p)))
        if sig.counter and c.chance(50):
            entries.append(("k", name(sig.counter)))
        if c.chance(30):
            return entries[-1][1] if len(entries) > 1 else lit("st")
        return A.ObjectLit(entries)

    def before_handler(self, sig: AnnSig) -> Optional[A.FnDecl]:
        c = self.c
        ty = sig.ty
        kind = c.weighted([(3, None), (3, "log"), (2, "count"), (2, "same"), (2, "intmap"),
                           (1, "swap"), (2, "state"), (2, "ctxmut"), (5 if ty else 0, "short"),
                           (1, "nones"), (1, "other"), (1, "third")])
        if kind is None:
            return None
        an, cn, _ = self.hook_names()
        need = 0
        body = self.hook_prefix(sig, "before")
        tail_node: Any = None
        if kind == "log":
            body.append(A.ExprStmt(call("print", lit(f"{sig.name}.before"), name(an)), c.chance(50)))
            need = 1
        elif kind == "count":
            counter = sig.counter
            if counter is None:
                body.append(stmt(call("print", lit(f"{sig.name}.before"))))
            else:
                upd = self.count_stmt(counter)
                upd.semi = c.chance(50)     # its value (an int) is ignored either way
                body.append(upd)
        elif kind == "same":
            need = 1
            x = self.fresh("a")
            tail_node = c.pick([name(an), A.ArrayLit([A.Spread(name(an))]),
                                meth(name(an), "slice", lit(0)),
                                meth(name(an), "map", lam([x], name(x)))])
        elif kind == "intmap":
            need = 1
            sig.int_args = True
            x = self.fresh("a")
            m = c.pick([binop("%", name(x), lit(1000)), binop("%", call("abs", name(x)), lit(100))])
            tail_node = meth(name(an), "map", lam([x], m))
            if c.chance(30):
                tail_node = A.ObjectLit([("args", tail_node)])
        elif kind == "swap":
            need = 1
            sig.swap = True
            swapped = A.ArrayLit([A.Index(name(an), lit(1)), A.Index(name(an), lit(0)),
                                  A.Spread(meth(name(an), "slice", lit(2)))])
            tail_node = swapped if c.chance(50) else A.ObjectLit([("args", swapped)])
        elif kind == "state":
            need = 1
            tail_node = A.ObjectLit([("state", self.state_value(sig, an))])
        elif kind == "ctxmut":
            need = 2
            target = A.Member(A.Member(name(cn), "state"), c.pick(["n", "seen"]))
            if c.chance(40):
                target = A.Member(name(cn), "state")
            body.append(stmt(A.Assign(target, "=", self.state_value(sig, an))))
        elif kind == "short":
            if sig.counter and c.chance(60):
                body.append(self.count_stmt(sig.counter))
            cond, uses_args = self.hook_cond(sig, an)
            need = 1 if uses_args else 0
            res = A.ObjectLit([("result", self.typed_const(sig, ty))])
            if c.chance(60):
                body.append(A.ExprStmt(A.If(cond, block([A.Return(res)])), True))
                if c.chance(50):
                    need = max(need, 1)
                    tail_node = A.ObjectLit([("state", self.state_value(sig, an))])
            else:
                other: Any = block([tail(lit(None))])
                if c.chance(50):
                    need = max(need, 1)
                    other = block([tail(A.ObjectLit([("state", self.state_value(sig, an))]))])
                tail_node = A.If(cond, block([tail(res)]), other)
        elif kind == "nones":
            entries = [("args", lit(None)), ("result", lit(None)), ("state", lit(None))]
            tail_node = A.ObjectLit(entries[: c.int(1, 3)])
        elif kind == "other":
            tail_node = c.pick([lit(42), lit("text"), lit(True), A.UnitLit(), lit(1.5)])
        else:   # a third parameter receives None
            third = self.fresh("extra")
            body.append(stmt(call("print", lit(f"{sig.name}.before"), name(third))))
            return A.FnDecl("before", [param(an), param(cn), param(third)], block(body))
        if tail_node is not None:
            body.append(tail(tail_node))
        arity = c.int(need, 2)
        return A.FnDecl("before", [param(p) for p in [an, cn][:arity]], block(body))

    def after_handler(self, sig: AnnSig) -> Optional[A.FnDecl]:
        c = self.c
        ty = sig.ty
        kind = c.weighted([(3, None), (3, "print"), (2, "state"), (1, "args"),
                           (4 if ty and ty != "unit" else 0, "transform"), (2 if ty else 0, "const"),
                           (1 if ty == "unit" else 0, "none")])
        if kind is None:
            return None
        an, cn, rn = self.hook_names()
        body = self.hook_prefix(sig, "after")
        need = 2
        if kind == "print":
            p = self.ann_param(sig, "str")
            body.append(stmt(call("print", lit(f"{sig.name}.after"), *([name(p)] if p else []),
                                  name(rn))))
            body.append(tail(name(rn)))
        elif kind == "state":
            need = 3
            body.append(stmt(call("print", lit(f"{sig.name}.state"), A.Member(name(cn), "state"))))
            body.append(tail(name(rn)))
        elif kind == "args":
            body.append(stmt(call("print", lit(f"{sig.name}.args"), name(an))))
            body.append(tail(name(rn)))
        elif kind == "transform":
            sig.transforms = True
            body.append(tail(self.transform(sig, ty, name(rn))))
        elif kind == "const":
            need = 0
            body.append(tail(self.typed_const(sig, ty)))
        else:   # after's value is the call's value: print's None (only for unit functions)
            need = 0
            body.append(tail(call("print", lit(f"{sig.name}.done"))))
        arity = c.int(need, 3)
        return A.FnDecl("after", [param(p) for p in [an, rn, cn][:arity]], block(body))

    def transform(self, sig: AnnSig, ty: Optional[str], r: Any) -> Any:
        """A new value of type ty computed from `r` (bounded: |int| < 2000, strings +70)."""
        c = self.c
        if ty == "int":
            k = self.ann_param(sig, "int")
            base = binop("%", r, lit(1000)) if c.chance(60) else binop("%", binop("*", r, lit(3)), lit(997))
            return binop("+", base, name(k)) if k else base
        if ty == "str":
            p = self.ann_param(sig, "str")
            return c.pick([binop("+", r, name(p) if p else lit("!")),
                           binop("+", binop("+", lit("<"), r), lit(">")),
                           A.FString(["[", A.FPart(r, None), "]"]), meth(r, "trim")])
        if ty == "bool":
            return A.Unary("!", r)
        if ty == "res":
            v, e = self.fresh("ok"), self.fresh("e")
            return A.Match(r, [A.MatchArm(A.PVariant(["Ok"], [A.PBind(v)]), None,
                                          call("Ok", binop("%", name(v), lit(100)))),
                               A.MatchArm(A.PVariant(["Err"], [A.PBind(e)]), None,
                                          call("Err", binop("+", name(e), lit("!"))))])
        if ty == "arr":
            x = self.fresh("x")
            return c.pick([meth(r, "slice", lit(0), lit(3)), meth(r, "reverse"),
                           meth(r, "concat", A.ArrayLit([lit(9)])),
                           meth(r, "map", lam([x], binop("%", name(x), lit(100))))])
        return r

    def ann_fits(self, a: AnnSig, sig: FnSig) -> bool:
        if not a.for_function() or sig.by_ref:
            return False
        if a.ty is not None and a.ty != sig.ret:
            return False
        if sig.is_async and a.transforms:
            return False          # after would see the task, not the value
        if a.int_args and any(t != "int" for _, t in sig.params):
            return False
        if a.swap and not (not sig.recursive and len(sig.params) >= 2 and not sig.default_last
                           and sig.params[0][1] == sig.params[1][1]):
            return False
        return True

    def ann_use(self, a: AnnSig, at_await: bool) -> A.AnnotationUse:
        """`@name(args)`; at a function the arguments are evaluated in module scope at each call
        (literals and hook counters only), at an await they are evaluated right there."""
        c = self.c
        n = len(a.params) - (a.n_default if c.chance(50) else 0)
        args = []
        for pn, pt in a.params[:n]:
            if pt == "int":
                if at_await and c.chance(50):
                    args.append(self.e_int(0, 1000).node)
                elif self.counters and c.chance(30):
                    args.append(name(c.pick(self.counters)))
                else:
                    args.append(lit(c.pick([0, 1, 2, 3, 5, 7, 10, 42, 100])))
            else:
                args.append(lit(c.pick(STR_LITS[:10])))
        return A.AnnotationUse(a.name, args)

    # ------------------------------------------------------------ async and await

    def annotated_stmt(self, d: int) -> list:
        """A call of an annotated function, or `print(await @a(…) e)`, so hooks really run."""
        c = self.c
        aw = [a for a in self.anns if a.for_await() and a.ty != "unit"]
        if not (aw and self.await_on and self.ctx.await_ok) or c.chance(55):
            return self.call_stmt(d, only_annotated=True)
        a = c.pick(aw)
        if not self.affordable(a.cost):
            return []
        ty = a.ty or c.pick(TASK_TYPES)
        inner: Any = None
        fs = [f for f in self.fns if f.is_async and f.ret == ty and self.affordable(f.cost)
              and f is not self.current_fn]
        if fs and c.chance(60):
            f = c.pick(fs)
            self.spend(self.ctx.mult * f.cost)
            inner = call(f.name, *self.fn_call_args(f, d))
        if inner is None:
            inner = self.expr(ty, d).node
        node, _ = self.await_node(inner, ty, force=a)
        return [stmt(call("print", lit("aw"), node))]

    def await_node(self, node: Any, ty: str, force: Optional[AnnSig] = None) -> tuple[Any, int]:
        """`await node`, maybe through await annotations; also how many layers it has."""
        c = self.c
        uses: list = []
        if force is not None:
            self.spend(self.ctx.mult * force.cost)
            uses.append(self.ann_use(force, at_await=True))
        cands = [a for a in self.anns if a.for_await() and a.ty in (None, ty)]
        if cands and c.chance(45):
            for _ in range(c.weighted([(4, 1), (1, 2)])):
                a = c.pick(cands)
                if not self.affordable(a.cost):
                    break
                self.spend(self.ctx.mult * a.cost)
                uses.append(self.ann_use(a, at_await=True))
        return A.Await(node, uses), len(uses)

    def await_expr(self, ty: str, d: int) -> Optional[X]:
        """`await …` giving a value of type ty: an async call, a task variable or a plain value."""
        if not (self.await_on and self.ctx.await_ok):
            return None
        c = self.c
        kind = c.weighted([(3, "plain"), (4, "call"), (2, "task")])
        if kind == "call":
            x = self.call_user_fn(ty, d, async_only=True)
            if x is not None:
                return x
        inner: Optional[X] = None
        if kind == "task":
            ts = self.vars_of("task:" + ty)
            if ts:
                inner = X(name(c.pick(ts).name), VB)
        if inner is None:
            inner = self.expr(ty, d)
        node, layers = self.await_node(inner.node, ty)
        if ty == "int":
            return X(node, max(inner.b, 2000))
        if ty == "str":
            return X(node, inner.b + 70 * layers)
        if ty in ("arr", "sarr"):
            # an identity hook returns the same array: treat the result as an alias
            return X(node, inner.b + layers * 2, inner.info, inner.fresh and not layers)
        return X(node, inner.b)

    def task_stmt(self, d: int) -> list:
        """`let t = job(…)`: the async body runs now; `await t` later gives its value."""
        c = self.c
        cands = [f for f in self.fns if f.is_async and f.ret in TASK_TYPES
                 and self.affordable(f.cost) and f is not self.current_fn]
        if not cands:
            return []
        f = c.pick(cands)
        self.spend(self.ctx.mult * f.cost)
        t = self.fresh("task")
        out = [let(t, call(f.name, *self.fn_call_args(f, d)))]
        self.declare(Var(t, "task:" + f.ret, readonly=True))
        if c.chance(30):
            out.append(stmt(call("print", lit("task"), name(t))))
        return out
