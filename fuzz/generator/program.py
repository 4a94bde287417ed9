"""Program assembly: `ProgramBuilder` (the expressions, statements and annotations parts over one
`BuilderState`) declares enums, annotations and functions, then the top-level statements, plants
an error or an `exit` now and then, and returns a `GeneratedProgram`. Also the entry points
(`programs()` for Hypothesis, `generate(seed)`) and `features()`, which names what a program uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from hypothesis import strategies as st

from shapelang.fuzz.generator.annotations import Annotations
from shapelang.fuzz.generator.callsites import CallSites
from shapelang.fuzz.generator.choices import ChoiceSource, RandomChoiceSource
from shapelang.fuzz.generator.expressions import Expressions
from shapelang.fuzz.generator.files import FILES_CHANCE, Files
from shapelang.fuzz.generator.iterators import Iterators
from shapelang.fuzz.generator.mistakes import ERROR_KINDS, Mistakes
from shapelang.fuzz.generator.model import (
    ANNOTATION_CHANCE, ASYNC_CHANCE, FN_BUDGET, MAX_STMTS, VB, WIDTHS, AnnSig, Ctx, EnumSig, FnSig,
    SeqInfo, Var, binop, block, call, let, lit, name, param, stmt, tail)
from shapelang.fuzz.generator.operators import Operators
from shapelang.fuzz.generator.statements import Statements
from shapelang.fuzz.generator.typed import TRAIT_CHANCE, Typed
from shapelang.ref import ast as A
from shapelang.ref.printer import to_source as _to_source


@dataclass
class GeneratedProgram:
    ast: A.Program
    planted: set[str] = field(default_factory=set)   # error kinds planted on purpose
    planted_exit: bool = False
    snapshot_sites: int = 0
    top_level_sites: list[int] = field(default_factory=list)  # ordinals not inside a function
    stmts: int = 0
    errors: bool = False                              # an error-path program (mistakes.py)

    @property
    def source(self) -> str:
        return to_source(self.ast)


def to_source(node: Any) -> str:
    """Print with the project's AST printer (every generated program is a printer test too)."""
    return _to_source(node)


class ProgramBuilder(Expressions, Statements, Annotations, Mistakes, Files, Operators, Iterators,
                     Typed, CallSites):
    """Builds one program from a choice source: `ProgramBuilder(choices).program()`;
    `ProgramBuilder(choices, errors=True)` builds an error-path program (mistakes.py)."""

    # ------------------------------------------------------------ declarations and program

    def enum_decl(self) -> A.EnumDecl:
        c = self.c
        ename = f"E{len(self.enums)}"
        variants = []
        sig = []
        for i in range(c.int(1, 3)):
            vname = "ABCD"[i] + c.pick(["", "x", "Val"])
            kind = c.pick(["unit", "tuple", "struct"])
            if kind == "unit":
                variants.append(A.Variant(vname))
                sig.append((vname, "unit", []))
            elif kind == "tuple":
                n = c.int(1, 2)
                variants.append(A.Variant(vname, "tuple", ["int"] * n))
                sig.append((vname, "tuple", [f"_{j}" for j in range(n)]))
            else:
                fields = ["w", "h"][: c.int(1, 2)]
                variants.append(A.Variant(vname, "struct", ["int"] * len(fields), fields))
                sig.append((vname, "struct", fields))
        self.enums.append(EnumSig(ename, sig))
        return A.EnumDecl(ename, variants)

    def fn_decl(self, index: int) -> A.FnDecl:
        c = self.c
        fname = f"f{index}"
        is_async = self.async_on and c.chance(40)
        # The first annotation decides the types it needs (result type, int or swappable
        # arguments); the function is built to fit it.
        first: Optional[AnnSig] = None
        fit = [a for a in self.anns if a.for_function() and not (is_async and a.transforms)]
        if fit and c.chance(70):
            first = c.pick(fit)
        ret = c.weighted([(6, "int"), (2, "str"), (2, "res"), (1, "bool"), (1, "arr"), (1, "num"),
                          (2, "unit")])
        if first is not None and first.ty is not None:
            ret = first.ty
        recursive = c.chance(30) and not (first is not None and first.swap)
        by_ref = c.chance(12) and first is None and not is_async
        if first is not None and first.swap:
            t = c.pick(["int", "str", "arr", "bool"])
            ptypes = [t, t] + [c.pick(["int", "str"]) for _ in range(c.int(0, 1))]
        else:
            ptypes = [c.pick(["int", "int", "str", "arr", "num", "bool"]) for _ in range(c.int(0, 2))]
        if first is not None and first.int_args:
            ptypes = ["int"] * len(ptypes)
        if by_ref:
            ptypes.insert(0, "int")
        params = [(f"a{j}", t) for j, t in enumerate(ptypes)]
        declared = None if (first is not None or is_async or by_ref) else self.fn_types(ptypes, ret)
        default_last = (bool(params) and not (by_ref and len(params) == 1) and c.chance(15)
                        and not (first is not None and first.swap))
        sig = FnSig(fname, params, ret, recursive, c.int(1, 5) if recursive else 0,
                    by_ref=by_ref, default_last=default_last, is_async=is_async,
                    typed=declared is not None)
        if first is not None:
            sig.anns = [first]
            if c.chance(35):    # stacked: outer or inner, maybe the same annotation twice
                more = [a for a in self.anns if self.ann_fits(a, sig)]
                if more:
                    sig.anns.insert(c.int(0, 1), c.pick(more))
        uses = [self.ann_use(a, at_await=False) for a in sig.anns]
        self.current_fn = sig
        saved_ctx = self.ctx
        self.ctx = Ctx("fn", sig, limit=FN_BUDGET, await_ok=is_async)
        self.fn_depth += 1
        self.barriers.append(len(self.scopes))
        self.push_scope()
        ast_params = []
        if recursive:
            self.declare(Var("depth", "int", bound=5, readonly=True))
            ast_params.append(param("depth"))
        for j, (pn, pt) in enumerate(params):
            bound = {"int": VB, "num": 1e30, "str": 64}.get(pt, 0)
            info = SeqInfo(64) if pt == "arr" else None
            self.declare(Var(pn, pt, mutable=pt in ("int", "str"), bound=bound,
                             readonly=pt == "arr", info=info))
            default = None
            if default_last and j == len(params) - 1:
                default = self.default_value(pt)
            ast_params.append(param(pn, by_ref=by_ref and j == 0, default=default))
            if declared is not None:
                ast_params[-1].type = declared[0][j]
        self.push_scope()   # the body is a block inside the parameters' scope
        body: list = []
        if recursive:
            base = self.fn_result(ret, 0).node if ret != "unit" else None
            body.append(A.ExprStmt(A.If(binop("<=", name("depth"), lit(0)),
                                        block([A.Return(base)])), True))
        if by_ref:
            body.append(stmt(A.Assign(name("a0"), "=", binop("%", binop("+", name("a0"), lit(1)),
                                                                lit(1000)))))
        if ret == "res" and c.chance(50):
            body += self.try_stmts()
        body += self.stmts(c.int(1, 4), 2)
        if recursive and not self.ctx.rec_site_used:
            # make sure the function really recurses, once, outside loops
            self.ctx.rec_site_used = True
            args = [binop("-", name("depth"), lit(1))] + self.call_args(sig, 0)
            rec = self.maybe_await(call(fname, *args), sig) if is_async else call(fname, *args)
            if ret in ("unit",):
                body.append(stmt(rec))
            elif ret == "int":
                n = self.fresh("rec")
                body.append(let(n, rec))
                self.declare(Var(n, "int", bound=VB))
            else:
                body.append(stmt(call("print", lit("rec"), rec)))
        if ret != "unit":
            body.append(tail(self.fn_result(ret, 2).node))
        self.pop_scope()
        self.pop_scope()
        self.barriers.pop()
        self.fn_depth -= 1
        cost = max(1, self.ctx.cost) + sum(a.cost for a in sig.anns)
        if recursive:
            cost *= sig.max_depth + 1
        sig.cost = cost
        self.ctx = saved_ctx
        self.current_fn = None
        self.fns.append(sig)
        return A.FnDecl(fname, ast_params, block(body), declared[1] if declared else None,
                        is_async=is_async, annotations=uses)

    def default_value(self, ty: str) -> Any:
        return {"int": lit(7), "str": lit("dflt"), "num": lit(0.5), "bool": lit(True),
                "arr": A.ArrayLit([lit(1), lit(2)])}[ty]

    def program(self) -> GeneratedProgram:
        c = self.c
        self.push_scope()
        decls: list = []
        for _ in range(c.weighted([(5, 0), (3, 1), (1, 2)])):
            decls.append(self.enum_decl())
        if c.chance(TRAIT_CHANCE):
            decls += self.trait_decls()
        self.async_on = c.chance(ASYNC_CHANCE)
        self.files_on = not self.errors and c.chance(FILES_CHANCE)
        ann_decls = []
        if c.chance(ANNOTATION_CHANCE):
            # before the functions, so hooks never call user functions (no unbounded recursion)
            for i in range(c.weighted([(4, 1), (2, 2), (1, 3)])):
                ann_decls.append(self.ann_decl(i))
        self.await_on = self.async_on or any(a.for_await() for a in self.anns)
        n_fns = c.weighted([(3, 0), (4, 1), (3, 2), (2, 3)])
        if any(a.for_function() for a in self.anns):
            n_fns = max(n_fns, 1)
        for i in range(n_fns):
            decls.append(self.fn_decl(i))
            if self.stmt_count >= MAX_STMTS // 2:
                break
        if self.errors:
            # after the functions, so only methods and top-level code call methods
            for i in range(c.weighted([(1, 0), (3, 1), (1, 2)])):
                decls += self.struct_decls(i)
        hoisted = []
        for d in ann_decls:
            # declarations are hoisted: an annotation may follow its uses
            if c.chance(10):
                hoisted.append(d)
            else:
                decls.insert(c.int(0, len(decls)), d)
        decls = [let(n, lit(0), True) for n in self.counters] + decls
        if self.files_on:
            decls = self.file_imports() + decls
        body = self.stmts(c.int(1, 12), 3)
        if self.anns and c.chance(80):
            body += self.annotated_stmt(2)     # make sure some hooks run
        if not body:
            body = [self.print_stmt(1)]
        if c.chance(8):
            self.ctx.loops = []
            at = c.int(0, len(body))
            body[at:at] = self.planted_error()
        if c.chance(3):
            self.planted_exit = True
            body.insert(c.int(0, len(body)), stmt(call("exit", lit(c.pick([0, 3, 1])))))
        if c.chance(30):
            ty = c.pick(["int", "str", "arr", "num", "bool"])
            body.append(tail(self.expr(ty, 1).node))
        self.pop_scope()
        prog = A.Program(self.alias_decls() + decls + body + hoisted)
        planted = set(self.planted) | (ERROR_KINDS if self.errors else set())
        return GeneratedProgram(prog, planted, self.planted_exit, self.snapshot_sites,
                                list(self.top_level_sites), self.stmt_count, self.errors)


def _calls_snapshot(node: Any) -> bool:
    """Whether `node` calls snapshot() itself (not in a function or lambda it defines)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if _is_snapshot_call(n):
            return True
        if not isinstance(n, (A.Lambda, A.FnDecl)):
            stack.extend(A.iter_child_nodes(n))
    return False


def _is_snapshot_call(n: Any) -> bool:
    return isinstance(n, A.Call) and isinstance(n.callee, A.Name) and n.callee.name == "snapshot"


def features(node: Any) -> set[str]:
    """Which features a program uses. Annotations and async: `annotation` (a declaration),
    `annotated-fn`, `stacked`, `async-fn`, `await`, `await-annotation`, `hook-snapshot`. Edge
    cases: `match-rest` (a `[h, ...rest]` arm), `int-overflow` (a literal beyond ±2**62),
    `closure-kept-from-loop` (a `for` body pushes closures to an array),
    `top-level-loop-snapshot` (a top-level `for` whose body calls snapshot()). Issue 12's
    constructs: `bitwise` (an operator or compound assignment), `fuzzy`, `context` (`!!`),
    `iterator` (`.iter()`), `typed-let`, `width` (a width-typed slot), `typed-fn` (declared
    parameter or return types), `fn-expression`, `trait` (a trait and its impl), `type-alias`
    (an annotation through `type TInt = int` and the like). Call sites:
    `shared-call-site` (one site called with different lambdas: sibling calls of one callee, a
    callback chosen by an `if` between lambdas, or a factory `|k| |x| …`)."""
    out: set[str] = set()
    if isinstance(node, A.Program):
        for top in node.body:
            if isinstance(top, A.ExprStmt) and isinstance(top.expr, A.For) and _calls_snapshot(top.expr.body):
                out.add("top-level-loop-snapshot")

    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        n, in_hook = stack.pop()
        if isinstance(n, A.MatchArm) and isinstance(n.pattern, A.PArray) and n.pattern.has_rest:
            out.add("match-rest")
        elif isinstance(n, A.Literal) and type(n.value) is int and abs(n.value) > 2**62:
            out.add("int-overflow")
        elif isinstance(n, A.For) and any(
                isinstance(x, A.Call) and isinstance(x.callee, A.Member) and x.callee.name == "push"
                and any(isinstance(a, A.Lambda) for a in x.args) for x in A.walk(n.body)):
            out.add("closure-kept-from-loop")
        out.update(_issue12_features(n))
        if _shares_a_call_site(n):
            out.add("shared-call-site")
        if isinstance(n, A.AnnotationDecl):
            out.add("annotation")
            in_hook = True
        elif isinstance(n, A.FnDecl):
            if n.annotations:
                out.add("annotated-fn")
            if len(n.annotations) > 1:
                out.add("stacked")
            if n.is_async:
                out.add("async-fn")
        elif isinstance(n, A.Await):
            out.add("await")
            if n.annotations:
                out.add("await-annotation")
        elif in_hook and _is_snapshot_call(n):
            out.add("hook-snapshot")
        stack.extend((child, in_hook) for child in A.iter_child_nodes(n))
    return out


def _site_of(a: Any) -> Optional[tuple[str, Any]]:
    """(the callee's text, the lambda) of a call given a lambda, looking through the calls it is
    chained to (`s.iter().map(|x| …).collect()`)."""
    while type(a) is A.Call:
        lam_ = next((x for x in a.args if type(x) is A.Lambda), None)
        if lam_ is not None:
            return to_source(a.callee), lam_
        if type(a.callee) is not A.Member:
            return None
        a = a.callee.obj
    return None


def _shares_a_call_site(n: Any) -> bool:
    t = type(n)
    if t is A.Lambda:
        return type(n.body) is A.Lambda
    if t is not A.Call:
        return False
    if any(type(a) is A.If and len(a.then.stmts) == 1
           and type(getattr(a.then.stmts[0], "expr", None)) is A.Lambda for a in n.args):
        return True   # `ap(if i % 2 == 0 { |x| … } else { |x| … }, i)`
    sites = [s for s in map(_site_of, n.args) if s is not None]
    return any(k == k2 and to_source(f) != to_source(f2)
               for i, (k, f) in enumerate(sites) for k2, f2 in sites[i + 1:])


_BITWISE = {"&", "|", "^", "<<", ">>", "&=", "|=", "^=", "<<=", ">>="}


def _issue12_features(n: Any) -> set[str]:
    t = type(n)
    if (t is A.Binary or t is A.Assign) and n.op in _BITWISE or t is A.Unary and n.op == "~":
        return {"bitwise"}
    if t is A.Binary and n.op == "!!":
        return {"context"}
    if t is A.Fuzzy:
        return {"fuzzy"}
    if t is A.Member and n.name == "iter":
        return {"iterator"}
    if t is A.Let and n.type is not None:
        return {"typed-let", "width"} if n.type in WIDTHS else {"typed-let"}
    if t is A.FnDecl and (n.ret_type or any(p.type for p in n.params)):
        return {"typed-fn"}
    if t is A.FnExpr:
        return {"fn-expression"}
    if t is A.ImplDecl:
        return {"trait"}
    if t is A.TypeAlias:
        return {"type-alias"}
    return set()


@st.composite
def programs(draw: Callable[[Any], Any], errors: bool = False) -> GeneratedProgram:
    """A strategy for generated programs (`GeneratedProgram`: ast, planted errors, sites);
    `programs(errors=True)` for error-path programs."""
    return ProgramBuilder(ChoiceSource(draw), errors).program()


def generate(seed: int, errors: bool = False) -> GeneratedProgram:
    """One program from a plain seed, without Hypothesis."""
    return ProgramBuilder(RandomChoiceSource(seed), errors).program()
