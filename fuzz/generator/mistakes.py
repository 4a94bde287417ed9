"""Error-path mode (`shape fuzz --errors`): programs that make the mistakes users make, where the
VM runs its fast paths.

In this mode statements and expressions in hot contexts (function and method bodies, loops, lambdas
passed as callbacks, annotation hooks) now and then make one mistake: a property or method the
value does not have, an operand of the wrong type, a call with the wrong number of arguments, a
pipe into something that is not a function, a division by zero, an index of the wrong type or out
of range, a field a struct does not declare, `?` on a value that is not a Result, a callback or a
pipe target that is not a function (a variable of another type, None, a field, an element, a
struct, a call's result; a user function of the wrong arity), a call of a result that is not a
function, a method on a receiver that does not have it (a struct's method on another value, array,
string and HashMap methods on other types), and so on. The mistakes are built from the variables in
scope, so they look like the typos and mix-ups of real programs. Whatever the reference engine does
with such a program (most stop at the first mistake with an error), the VM must do exactly the
same: output, error kind, phase, message, line and column, exit code.

Error mode also declares struct types with `extend` methods (mistakes in method bodies are run
through the VM's method call path). Normal mode never takes any of these branches: every option
added here has weight 0 there, so normal programs do not change.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.fuzz.generator.model import (FN_BUDGET, VB, BuilderState, Ctx, FnSig, StructSig,
                                            Var, X, binop, block, call, lam, let, lit, meth, name,
                                            param, stmt, tail)
from shapelang.ref import ast as A

# What a mistake may make the reference engine raise (any of them: the point is that both engines
# agree, not which error it is).
ERROR_KINDS = frozenset({"TypeError", "ArithmeticError", "IndexError", "ValueError", "MatchError",
                         "UnwrapError"})

# Percent weights of a mistake among the statement kinds (about 120 in total) and among the
# expression kinds (about 100): hot contexts get most of them.
HOT_STMT_WEIGHT, COLD_STMT_WEIGHT = 14, 2
HOT_EXPR_WEIGHT, COLD_EXPR_WEIGHT = 3, 0

# Properties and methods that a value of each generator type does not have (some of them exist on
# another type, which is the usual mix-up).
WRONG_PROPS = {
    "arr": ["len", "size", "count", "first", "x"], "sarr": ["len", "size", "sum"],
    "str": ["len", "size", "chars", "upper"], "int": ["length", "x", "abs"],
    "num": ["length", "floor"], "bool": ["length", "not"], "res": ["value", "ok"],
    "opt": ["length", "x"], "fn": ["length", "name"], "thunk": ["length"], "snap": ["id"],
}
WRONG_METHODS = {
    "arr": ["toUpperCase", "trim", "nosuch", "get", "split", "keys"],
    "sarr": ["sum", "toUpperCase", "push2"],
    "str": ["push", "map", "sum", "nosuch", "keys", "first"],
    "int": ["map", "length", "push", "toUpperCase", "floor"],
    "num": ["toInt", "map", "length"], "bool": ["map", "length", "not"],
    "obj": ["nosuch", "map", "push", "keys", "length"], "res": ["map", "nosuch", "value"],
    "opt": ["length", "map"], "fn": ["call", "map"], "thunk": ["call"],
}
# (builtin, wrong argument counts); not Ok, Err and Some: a direct call of those with the wrong
# count is found before the run (spec/smaller-items.md §6), and mistakes are run-time errors.
BUILTIN_ARITY = [("abs", [0, 2]), ("sqrt", [0, 2]), ("min", [0]), ("max", [0]), ("len", [0, 2]),
                 ("to_string", [0, 2]), ("range", [0, 4]), ("pow", [1, 3]),
                 ("floor", [0, 2]), ("round", [2]), ("to_number", [0]), ("is_number", [0, 2])]
# (receiver type, method, wrong argument counts)
METHOD_ARITY = [("arr", "push", [0]), ("arr", "slice", [3]), ("arr", "join", [2]),
                ("arr", "indexOf", [0]), ("arr", "includes", [0, 2]), ("arr", "map", [0]),
                ("arr", "filter", [0]), ("arr", "reduce", [0]), ("arr", "take", [0]),
                ("str", "substring", [0, 3]), ("str", "repeat", [0]), ("str", "charAt", [0]),
                ("str", "split", [3]), ("str", "padStart", [0]), ("str", "startsWith", [0]),
                ("int", "toFixed", [0, 2]), ("str", "toUpperCase", [1])]


class Mistakes(BuilderState):
    """The mistakes of error-path mode (part of `ProgramBuilder`; see expressions.py)."""

    # ------------------------------------------------------------ where mistakes go

    def hot(self) -> bool:
        """Function, method, lambda and hook bodies and loops: where the VM runs fast paths."""
        return self.ctx.kind != "module" or bool(self.ctx.loops) or self.fn_depth > 0

    def mistake_stmt_weight(self) -> int:
        if not self.errors:
            return 0
        return HOT_STMT_WEIGHT if self.hot() else COLD_STMT_WEIGHT

    def mistake_expr_weight(self) -> int:
        if not self.errors or self.in_fstring:
            return 0
        return HOT_EXPR_WEIGHT if self.hot() else COLD_EXPR_WEIGHT

    def some_var(self, types: Optional[list[str]] = None) -> Optional[Var]:
        vs = [v for v in self.visible() if types is None or v.ty in types
              or (v.ty.startswith("enum:") and "enum" in types)]
        return self.c.pick(vs) if vs else None

    def value_of(self, ty: str) -> Any:
        """A variable of type ty if there is one, else a small expression of that type."""
        v = self.some_var([ty])
        if v is not None and self.c.chance(70):
            return name(v.name)
        return self.expr(ty, 0).node

    # ------------------------------------------------------------ statements

    def mistake_stmt(self, d: int) -> list:
        """One statement that makes a mistake (or, now and then, an assignment mistake)."""
        c = self.c
        kind = c.weighted([(6, "print"), (2, "let"), (3, "assign"), (1, "compound"),
                           (1, "for"), (1, "match"), (1, "guarded")])
        if kind == "assign":
            return [stmt(self.bad_assignment())]
        if kind == "compound":
            r = self.bad_compound()
            if r is not None:
                return [stmt(r)]
        if kind == "for":
            it = c.pick([lit(c.pick([5, True, None])), self.value_of("obj"), self.value_of("int")])
            x = self.fresh("i")
            return [A.ExprStmt(A.For(A.PBind(x), it, block([stmt(call("print", name(x)))])),
                               False)]
        if kind == "match":
            subj = self.value_of(c.pick(["int", "str"]))
            return [stmt(call("print", A.Match(subj, [A.MatchArm(A.PLit(c.pick([12345, "zz"])),
                                                                 None, lit(1))])))]
        x = self.mistake_expr(d)
        if kind == "let":
            n = self.fresh("m")
            return [let(n, x.node), stmt(call("print", lit("m"), name(n)))]
        if kind == "guarded":
            # the mistake is made in a later iteration or call, after some output
            ints = [v for v in self.vars_of("int") if v.readonly]
            cond = binop(">", name(c.pick(ints).name), lit(c.pick([0, 1, 2]))) if ints \
                else self.e_bool(0).node
            return [A.ExprStmt(A.If(cond, block([stmt(call("print", lit("late"), x.node))])),
                               True)]
        return [stmt(call("print", lit(c.pick(["m", "at", "x:"])), x.node))]

    def bad_assignment(self) -> Any:
        c = self.c
        kind = c.pick(["strindex", "range", "field", "struct", "intfield"])
        if kind == "strindex":
            return A.Assign(A.Index(self.value_of("str"), lit(0)), "=", lit("x"))
        if kind == "range":
            arrs = [v for v in self.vars_of("arr") if not v.readonly]
            target: Any = name(c.pick(arrs).name) if arrs else A.ArrayLit([lit(1)])
            return A.Assign(A.Index(target, lit(c.pick([10, -10, 3]))), "=", lit(2))
        if kind == "struct" and self.structs:
            inst = self.struct_value(0)
            return A.Assign(A.Member(inst, c.pick(["zz", "h"])), "=", lit(1))
        if kind == "intfield" or kind == "struct":
            return A.Assign(A.Member(self.value_of("int"), "x"), "=", lit(1))
        return A.Assign(A.Index(self.value_of(c.pick(["int", "bool"])), lit(0)), "=", lit(1))

    def bad_compound(self) -> Optional[Any]:
        c = self.c
        vs = [v for v in self.visible() if v.mutable and not v.readonly
              and v.ty in ("int", "str", "num", "arr")]
        if not vs:
            return None
        v = c.pick(vs)
        if v.ty in ("int", "num"):
            op, rhs = c.pick([("/=", lit(0)), ("%=", lit(0)), ("-=", lit("s")), ("*=", A.ArrayLit([])),
                              ("+=", lit(True))])
        elif v.ty == "str":
            op, rhs = c.pick([("-=", lit(1)), ("*=", lit(2)), ("/=", lit("a")), ("**=", lit(2))])
        else:
            op, rhs = c.pick([("-=", lit(1)), ("+=", lit(1)), ("*=", lit(2))])
        return A.Assign(name(v.name), op, rhs)

    # ------------------------------------------------------------ expressions

    def mistake_expr(self, d: int) -> X:
        """An expression that makes one mistake (its value, if it has one, is of no known type)."""
        c = self.c
        kind = c.weighted([(4, "prop"), (4, "method"), (5, "wrongtype"), (3, "arity_fn"),
                           (2, "arity_builtin"), (2, "arity_method"), (2, "arity_lambda"),
                           (4, "pipe"), (3, "div0"), (3, "index"), (2, "field"), (2, "try"),
                           (2, "notfn"), (2, "iter"), (2, "value"), (2, "callback"),
                           (1, "fspec"), (1, "compare"), (1, "hashmap"), (3, "wrongarg"),
                           (2 if self.structs else 0, "method_arity"), (2, "callresult"),
                           (2, "receiver")])
        return X(getattr(self, "m_" + kind)(d), VB)

    def m_prop(self, d: int) -> Any:
        c = self.c
        v = self.some_var(list(WRONG_PROPS) + ["obj", "enum"])
        if v is None:
            return A.Member(A.ArrayLit([lit(1), lit(2)]), "len")
        if v.ty == "obj":
            # a field the object does not have reads None; using it is the mistake
            return binop(c.pick(["+", "*", "<"]), A.Member(name(v.name), "zz"), lit(1))
        if v.ty.startswith("enum:"):
            return A.Member(name(v.name), c.pick(["w", "x", "name"]))
        base = v.ty.split(":")[0]
        return A.Member(name(v.name), c.pick(WRONG_PROPS.get(base, ["length"])))

    def m_method(self, d: int) -> Any:
        c = self.c
        v = self.some_var(list(WRONG_METHODS))
        if v is None:
            return meth(lit("text"), "push", lit(1))
        args = [self.e_int(0).node for _ in range(c.int(0, 1))]
        return meth(name(v.name), c.pick(WRONG_METHODS[v.ty]), *args)

    def m_wrongtype(self, d: int) -> Any:
        c = self.c
        form = c.pick(["int+bool", "str-int", "arr*int", "obj+int", "none+int", "neg",
                       "str**", "cmp", "arr/int", "bool*"])
        a = self.e_int(0).node
        if form == "int+bool":
            return binop(c.pick(["+", "-", "*"]), a, self.value_of("bool"))
        if form == "str-int":
            return binop(c.pick(["-", "*", "/", "%"]), self.value_of("str"), a)
        if form == "arr*int":
            return binop(c.pick(["*", "-", "+"]), self.value_of("arr"), a)
        if form == "arr/int":
            return binop(c.pick(["/", "%"]), self.value_of(c.pick(["arr", "sarr"])), a)
        if form == "obj+int":
            return binop(c.pick(["+", "-"]), self.value_of("obj"), a)
        if form == "none+int":
            return binop(c.pick(["+", "*"]), self.value_of("opt") if c.chance(50) else lit(None), a)
        if form == "neg":
            return A.Unary("-", self.value_of(c.pick(["str", "arr", "obj", "bool"])))
        if form == "str**":
            return binop("**", self.value_of("str"), lit(2))
        if form == "bool*":
            return binop(c.pick(["*", "/", "-"]), self.value_of("bool"), self.value_of("bool"))
        left = self.value_of(c.pick(["bool", "arr", "obj", "res"]))
        return binop(c.pick(["<", ">=", "<="]), left, a)

    def m_arity_fn(self, d: int) -> Any:
        c = self.c
        fs = [f for f in self.fns if f is not self.current_fn and not f.by_ref and not f.typed]
        if not fs:
            return call(lam(["q"], name("q")), lit(1), lit(2))
        f = c.pick(fs)
        n = len(f.params) + (1 if f.recursive else 0)
        lo = n - 1 if f.default_last else n
        count = c.pick([k for k in (lo - 1, n + 1, n + 2) if k >= 0])
        args = [lit(1) if f.recursive and i == 0 else self.value_of(f.params[min(i, len(f.params) - 1)][1])
                if f.params else self.e_int(0).node for i in range(count)]
        node: Any = call(f.name, *args)
        return A.Await(node, []) if f.is_async and self.ctx.await_ok and c.chance(50) else node

    def m_arity_builtin(self, d: int) -> Any:
        c = self.c
        fn, counts = c.pick(BUILTIN_ARITY)
        return call(fn, *[self.e_int(0).node for _ in range(c.pick(counts))])

    def m_arity_method(self, d: int) -> Any:
        c = self.c
        ty, m, counts = c.pick(METHOD_ARITY)
        recv = self.value_of(ty)
        return meth(recv, m, *[self.e_int(0).node for _ in range(c.pick(counts))])

    def m_arity_lambda(self, d: int) -> Any:
        c = self.c
        form = c.pick(["call", "callback", "fnvar"])
        if form == "fnvar":
            fs = self.vars_of("fn") + self.vars_of("thunk")
            if fs:
                f = c.pick(fs)
                n = 1 if f.ty == "fn" else 0
                return call(f.name, *[self.e_int(0).node for _ in range(c.pick([n + 1, n + 2]))])
        if form == "callback":
            arr = self.value_of("arr")
            m = c.pick(["map", "filter", "reduce", "sort", "find", "every"])
            ps = [self.fresh("p") for _ in range(c.pick([0, 3]) if m != "reduce" else c.pick([1, 3]))]
            args: list = [lam(ps, lit(0) if m in ("reduce", "sort") else lit(True))]
            if m == "reduce":
                args.append(lit(0))
            return meth(arr, m, *args)
        p = self.fresh("p")
        return call(lam([p], name(p)), *[self.e_int(0).node for _ in range(c.pick([0, 2]))])

    def m_pipe(self, d: int) -> Any:
        c = self.c
        form = c.pick(["int", "str", "arr", "maxmin", "builtin", "fn", "fnvar", "value", "value"])
        x = self.e_int(0).node
        if form == "int":
            return A.Pipe(x, lit(c.pick([3, 0])))
        if form == "str":
            return A.Pipe(x, lit("f"))
        if form == "arr":
            return A.Pipe(x, self.value_of("arr"))
        if form == "maxmin":
            return A.Pipe(self.value_of("arr"), call(c.pick(["max", "min"]), lit(0)))
        if form == "builtin":
            return A.Pipe(self.value_of(c.pick(["arr", "str"])),
                          call(c.pick(["abs", "sqrt", "floor"]), *[lit(1)] * c.int(0, 1)))
        if form == "fn":
            fs = [f for f in self.fns if f is not self.current_fn and not f.by_ref and not f.is_async
                  and not f.typed]
            if fs:
                f = c.pick(fs)
                extra = len(f.params) + (1 if f.recursive else 0)
                return A.Pipe(x, call(f.name, *[lit(1) for _ in range(extra)]))
        if form == "fnvar":
            fs = self.vars_of("fn") + self.vars_of("thunk")
            if fs:
                return A.Pipe(x, call(c.pick(fs).name, lit(1)))
        if form == "value":
            return A.Pipe(x, self.not_a_function())
        return A.Pipe(x, A.Pipe(x, lit(2)))

    def m_div0(self, d: int) -> Any:
        c = self.c
        a = self.e_int(0).node
        ints = self.vars_of("int")
        zero: Any = lit(0)
        if ints and c.chance(50):
            v = name(c.pick(ints).name)
            zero = binop("-", v, v)
        elif c.chance(25):
            zero = lit(0.0)
        if c.chance(20):
            a = self.value_of("num")
        return binop(c.pick(["/", "%"]), a, zero)

    def m_index(self, d: int) -> Any:
        c = self.c
        form = c.pick(["none+1", "strkey", "intbase", "float", "bool", "obj", "str10"])
        if form == "none+1":
            return binop("+", A.Index(self.value_of("arr"), lit(c.pick([10, -10, 99]))), lit(1))
        if form == "strkey":
            return A.Index(self.value_of(c.pick(["arr", "sarr"])), lit("k"))
        if form == "intbase":
            return A.Index(self.value_of(c.pick(["int", "bool", "num"])), lit(0))
        if form == "float":
            return A.Index(self.value_of(c.pick(["arr", "str"])), lit(1.5))
        if form == "bool":
            return A.Index(self.value_of("arr"), lit(True))
        if form == "obj":
            return A.Index(self.value_of("obj"), lit(c.pick([1, 0])))
        return binop("*", A.Index(self.value_of("str"), lit(10)), lit(2))

    def m_field(self, d: int) -> Any:
        c = self.c
        form = c.pick(["struct", "enum", "destructure"])
        if form == "struct" and self.structs:
            s = c.pick(self.structs)
            fields = list(s.fields)
            which = c.pick(["missing", "extra", "read"])
            if which == "missing":
                return A.StructLit([s.name], [(f, self.e_int(0).node) for f in fields[:-1]])
            if which == "extra":
                return A.StructLit([s.name], [(f, self.e_int(0).node) for f in fields + ["zz"]])
            return A.Member(self.struct_value(0), c.pick(["zz", "len"]))
        if form == "enum" and self.enums:
            e = c.pick(self.enums)
            vname, kind, fields = c.pick(e.variants)
            if kind == "tuple":
                return A.Call(A.Path([e.name, vname]),
                              [self.e_int(0).node for _ in range(len(fields) + c.pick([-1, 1]))])
            if kind == "struct":
                return A.StructLit([e.name, vname], [("zz", lit(1))])
            return A.Call(A.Path([e.name, vname]), [lit(1)])
        objs = self.vars_of("obj")
        target = name(c.pick(objs).name) if objs else A.ObjectLit([("a", lit(1))])
        n = self.fresh("k")
        return A.Block([A.Let(A.PObject([("zz", A.PBind(n))]), target, "let", False),
                        tail(binop("+", name(n), lit(1)))])

    def m_try(self, d: int) -> Any:
        c = self.c
        return binop("+", A.Try(self.value_of(c.pick(["int", "str", "arr", "opt", "bool"]))), lit(1))

    def m_notfn(self, d: int) -> Any:
        c = self.c
        form = c.pick(["var", "field", "lit"])
        if form == "field":
            objs = [v for v in self.vars_of("obj") if v.info]
            if objs:
                o = c.pick(objs)
                return meth(name(o.name), c.pick(list(o.info)), lit(1))
        if form == "var":
            v = self.some_var(["int", "str", "arr", "bool", "obj", "opt"])
            if v is not None:
                return call(v.name, *[self.e_int(0).node for _ in range(c.int(0, 1))])
        return A.Call(lit(c.pick([1, "s"])), [lit(2)])

    def m_iter(self, d: int) -> Any:
        c = self.c
        form = c.pick(["comp", "spread", "objspread", "range", "rangefn"])
        bad = self.value_of(c.pick(["int", "bool", "obj", "opt"]))
        if form == "comp":
            x = self.fresh("x")
            return A.Comprehension(name(x), [A.CompFor(A.PBind(x), bad)])
        if form == "spread":
            return A.ArrayLit([lit(1), A.Spread(bad)])
        if form == "objspread":
            return A.ObjectLit([("a", lit(1)), A.Spread(self.value_of(c.pick(["int", "str", "arr"])))])
        if form == "range":
            return A.RangeExpr(lit(0), self.value_of(c.pick(["str", "num", "bool"])), c.chance(50))
        return call("range", self.value_of(c.pick(["str", "arr", "num"])))

    def m_value(self, d: int) -> Any:
        c = self.c
        form = c.pick(["toInt", "range0", "repeat", "toFixed", "toNumber", "exit"])
        if form == "toInt":
            return meth(lit(c.pick(["abc", "1x", ""])), "toInt")
        if form == "range0":
            return call("range", lit(0), self.e_int(0).node, lit(0))
        if form == "repeat":
            return meth(self.value_of("str"), "repeat", lit(-1))
        if form == "toFixed":
            return meth(self.value_of("num"), "toFixed", lit(c.pick([-1, 101])))
        if form == "toNumber":
            return call("to_number", lit(c.pick(["x", "1.2.3"])))
        return call("exit", lit(c.pick(["x", 1.5])))

    def m_callback(self, d: int) -> Any:
        c = self.c
        arr = self.value_of("arr")
        form = c.pick(["notfn", "notfn", "wrongfn", "sortstr", "reduceempty", "badbody"])
        if form == "notfn":
            m = c.pick(["map", "filter", "find", "sort", "every", "some", "reduce", "forEach",
                        "flatMap", "findIndex", "where", "orderBy", "takeWhile", "groupBy"])
            bad = lit(c.pick([5, "s"])) if c.chance(25) else self.not_a_function()
            return meth(arr, m, bad, *([lit(0)] if m == "reduce" else []))
        if form == "wrongfn":
            # a user function whose arity the callback does not fit: map and filter pass the
            # item (and the index), reduce the accumulator and the item
            reduce = c.chance(30)
            fs = [f for f in self.fns if f is not self.current_fn and not f.by_ref
                  and not f.is_async and not f.recursive and not f.default_last
                  and (len(f.params) in (1, 3, 4) if reduce else len(f.params) in (0, 3, 4))]
            if fs:
                f = c.pick(fs)
                if reduce:
                    return meth(arr, "reduce", name(f.name), lit(0))
                return meth(arr, c.pick(["map", "filter", "every", "some", "find"]), name(f.name))
        if form == "sortstr":
            p, q = self.fresh("p"), self.fresh("q")
            return meth(arr, "sort", lam([p, q], lit("x")))
        if form == "reduceempty":
            p, q = self.fresh("p"), self.fresh("q")
            return meth(A.ArrayLit([]), "reduce", lam([p, q], binop("+", name(p), name(q))))
        x = self.fresh("x")
        return meth(arr, c.pick(["map", "filter", "every"]),
                    lam([x], A.Member(name(x), c.pick(["len", "x"]))))

    def m_fspec(self, d: int) -> Any:
        c = self.c
        v = self.value_of(c.pick(["str", "arr", "bool", "obj"]))
        return A.FString(["v=", A.FPart(v, c.pick([".2f", "fixed(1)"]))])

    def m_compare(self, d: int) -> Any:
        c = self.c
        form = c.pick(["sort", "max", "minarr"])
        if form == "sort":
            return meth(A.ArrayLit([self.e_int(0).node, self.value_of("str")]), "sort")
        if form == "max":
            return call(c.pick(["max", "min"]), self.e_int(0).node, self.value_of("str"))
        return meth(A.ArrayLit([lit(1), lit("a")]), c.pick(["min", "max"]))

    def m_hashmap(self, d: int) -> Any:
        c = self.c
        m = call("HashMap")
        form = c.pick(["get", "set", "nosuch"])
        if form == "get":
            return meth(m, "get")
        if form == "set":
            return meth(m, "set", lit("k"))
        return meth(m, c.pick(["push", "length", "nosuch"]))

    def m_wrongarg(self, d: int) -> Any:
        """A user function called with arguments of the wrong types: the mistake surfaces inside
        the callee, on its fast path."""
        c = self.c
        fs = [f for f in self.fns if f is not self.current_fn and not f.by_ref and f.params
              and not f.typed and (self.ctx.await_ok or not f.is_async)]
        if not fs:
            return self.m_wrongtype(d)
        f = c.pick(fs)
        wrong = {"int": ["str", "arr", "bool"], "str": ["int", "arr"], "arr": ["int", "str"],
                 "num": ["str", "arr"], "bool": ["arr", "int"]}
        args: list = [lit(1)] if f.recursive else []
        for _, ty in f.params:
            args.append(self.value_of(c.pick(wrong.get(ty, ["int"]))))
        node: Any = call(f.name, *args)
        return A.Await(node, []) if f.is_async else node

    def not_a_function(self) -> Any:
        """A value that is not a function, the way one ends up where a function is expected: a
        variable of another type, None, an object's field, an array's element, a struct instance,
        a call's result."""
        c = self.c
        form = c.pick(["var", "var", "none", "field", "element", "struct", "result"])
        if form == "var":
            v = self.some_var(["int", "str", "arr", "bool", "obj", "opt", "num", "res"])
            if v is not None:
                return name(v.name)
        if form == "field":
            objs = [v for v in self.vars_of("obj") if v.info]
            if objs:
                o = c.pick(objs)
                return A.Member(name(o.name), c.pick(list(o.info)))
        if form == "element":
            return A.Index(self.value_of("arr"), lit(0))
        if form == "struct" and self.structs:
            return self.struct_value(0)
        if form == "result":
            called = self.affordable_call()
            if called is not None:
                return called
        return lit(None)

    def affordable_call(self) -> Optional[Any]:
        """A well-typed call of a user function (none of them returns a function), paid for."""
        c = self.c
        fs = [f for f in self.fns if f is not self.current_fn and not f.by_ref
              and not f.is_async and self.affordable(f.cost)]
        if not fs:
            return None
        f = c.pick(fs)
        self.spend(self.ctx.mult * f.cost)
        args: list = [lit(1)] if f.recursive else []
        args += [self.value_of(ty) for _, ty in f.params]
        return call(f.name, *args)

    def m_callresult(self, d: int) -> Any:
        """The result of an expression, called, where it is not a function: a user function's
        result, an element, a method's result, arithmetic, None."""
        c = self.c
        form = c.pick(["fn", "fn", "element", "method", "arith", "none", "value"])
        args = [self.e_int(0).node for _ in range(c.int(0, 2))]
        if form == "fn":
            called = self.affordable_call()
            if called is not None:
                return A.Call(called, args)
        if form == "element":
            return A.Call(A.Index(self.value_of(c.pick(["arr", "sarr"])), lit(0)), args)
        if form == "method":
            return A.Call(meth(self.value_of("str"), c.pick(["toUpperCase", "trim"])), args)
        if form == "arith":
            return A.Call(binop("+", self.e_int(0).node, lit(1)), args)
        if form == "value":
            return A.Call(self.not_a_function(), args)
        return A.Call(lit(None), args)

    def m_receiver(self, d: int) -> Any:
        """A method called on a receiver that does not have it: a struct's method on another
        value (an object with the same fields, another struct, None), a method of arrays,
        strings or HashMaps on another type."""
        c = self.c
        form = c.pick(["struct", "struct", "none", "array", "string", "hashmap"])
        if form == "struct" and self.structs:
            s = c.pick(self.structs)
            mname, nparams = c.pick(s.methods)
            others = [o for o in self.structs if o is not s and mname not in dict(o.methods)]
            recv = c.pick([A.ObjectLit([(f, self.e_int(0).node) for f in s.fields]),
                           self.value_of(c.pick(["int", "str", "arr", "opt"])),
                           self.struct_value(0, c.pick(others)) if others else lit(None)])
            return meth(recv, mname, *[self.e_int(0).node for _ in range(nparams)])
        x = self.fresh("x")
        if form == "none":
            return meth(lit(None), c.pick(["map", "length", "push", "toUpperCase", "get"]),
                        *[lam([x], name(x))][:c.int(0, 1)])
        if form == "array":
            recv = self.value_of(c.pick(["str", "int", "obj", "opt", "bool"]))
            m = c.pick(["map", "filter", "where", "orderBy", "distinct", "sum", "push", "slice"])
            args = [lam([x], name(x))] if m in ("map", "filter", "where", "orderBy") else []
            return meth(recv, m, *args)
        if form == "string":
            recv = self.value_of(c.pick(["arr", "int", "obj", "num"]))
            return meth(recv, c.pick(["padStart", "toUpperCase", "trim", "charAt", "isDigit"]),
                        *[lit(3)][:c.int(0, 1)])
        recv = self.value_of(c.pick(["arr", "obj", "str"]))
        m = c.pick(["getOrDefault", "entries", "merge", "isEmpty", "set", "toArray"])
        return meth(recv, m, *[lit("k"), lit(1)][:c.int(0, 2)])

    def m_method_arity(self, d: int) -> Any:
        c = self.c
        s = c.pick(self.structs)
        mname, nparams = c.pick(s.methods)
        form = c.pick(["arity", "unknown"])
        if form == "unknown":
            return meth(self.struct_value(0, s), c.pick(["nosuch", "len", "m9"]))
        count = c.pick([k for k in (nparams - 1, nparams + 1) if k >= 0])
        return meth(self.struct_value(0, s), mname, *[self.e_int(0).node for _ in range(count)])

    # ------------------------------------------------------------ struct types and methods

    def struct_value(self, d: int, s: Optional[StructSig] = None) -> Any:
        """An instance of a declared struct type: a variable holding one, or a literal."""
        c = self.c
        s = s or c.pick(self.structs)
        vs = [v for v in self.vars_of("obj") if v.struct == s.name]
        if vs and c.chance(60):
            return name(c.pick(vs).name)
        return A.StructLit([s.name], [(f, self.e_int(max(d - 1, 0)).node) for f in s.fields])

    def method_call(self, d: int) -> Optional[X]:
        """`p.m(args)` of a declared struct type: the method body is a hot context."""
        c = self.c
        s = c.pick(self.structs)
        mname, nparams = c.pick(s.methods)
        if not self.affordable(s.cost):
            return None
        self.spend(self.ctx.mult * s.cost)
        return X(meth(self.struct_value(d, s), mname,
                      *[self.e_int(max(d - 1, 0)).node for _ in range(nparams)]), VB)

    def struct_decls(self, index: int) -> list:
        """`type S { f: int, g: int }`, its `extend` block with one or two methods (int results),
        and a module-level instance."""
        c = self.c
        sname = f"S{index}"
        fields = ["f", "g"][: c.int(1, 2)]
        sig = StructSig(sname, fields)
        decl = A.TypeDecl(sname, [A.FieldDecl(f, "int") for f in fields])
        methods = []
        for j in range(c.int(1, 2)):
            mname = f"m{j}"
            nparams = c.int(0, 2)
            methods.append(self.method_decl(sig, mname, nparams))
            sig.methods.append((mname, nparams))
        self.structs.append(sig)
        inst = self.fresh("p")
        self.declare(Var(inst, "obj", info={f: "int" for f in fields}, readonly=True, struct=sname))
        value = A.StructLit([sname], [(f, self.e_int(0).node) for f in fields])
        return [decl, A.ExtendDecl(sname, methods), let(inst, value)]

    def method_decl(self, s: StructSig, mname: str, nparams: int) -> A.FnDecl:
        saved_ctx, saved_fn = self.ctx, self.current_fn
        sig = FnSig(mname, [(f"a{j}", "int") for j in range(nparams)], "int")
        self.current_fn = sig
        self.ctx = Ctx("method", sig, limit=FN_BUDGET)
        self.fn_depth += 1
        self.barriers.append(len(self.scopes))
        self.push_scope()
        self.declare(Var("self", "obj", info={f: "int" for f in s.fields}, readonly=True,
                         struct=s.name))
        for pn, _ in sig.params:
            self.declare(Var(pn, "int", bound=VB, readonly=True))
        self.push_scope()
        body = self.stmts(self.c.int(1, 3), 2)
        body.append(tail(binop("%", binop("+", A.Member(name("self"), s.fields[0]),
                                          self.e_int(1).node), lit(1000))))
        self.pop_scope()
        self.pop_scope()
        self.barriers.pop()
        self.fn_depth -= 1
        s.cost = max(s.cost, max(1, self.ctx.cost))
        self.ctx, self.current_fn = saved_ctx, saved_fn
        return A.FnDecl(mname, [param(p) for p, _ in sig.params], block(body))
