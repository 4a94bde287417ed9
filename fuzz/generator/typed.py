"""Types in the syntax (spec/types.md, spec/traits.md, spec/smaller-items.md §4): `let` and
parameter annotations (width integers wrap on every store), declared return types, `fn`
expressions, and a trait with a required and a default method, implemented for `int` and called
on int values.

The generator's types map onto declared types one to one, so a declared slot never rejects
what the generator stores: only width slots change a value (they wrap it). A constant stored into
a width slot must fit (a compile-time error otherwise, spec/types.md §3), so constants that would
not are wrapped by `%` first.

Part of `ProgramBuilder` (program.py); see expressions.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from shapelang.fuzz.generator.model import (
    FN_BUDGET, VB, WIDTH_RANGES, WIDTHS, BuilderState, Ctx, Var, X, binop, block, lit, meth,
    name, tail)
from shapelang.ref import ast as A

# The declared type of each generator type (None: never declared).
DECLARED = {"int": "int", "num": "number", "str": "string", "bool": "bool", "arr": "[int]",
            "sarr": "[string]", "obj": "object"}
# A type alias for each declared type (spec/types.md §9), declared at the top of a program whose
# annotations use it.
ALIASES = {"int": "TInt", "num": "TNum", "str": "TStr", "bool": "TBool", "arr": "TArr",
           "sarr": "TWords", "obj": "TObj"}
TYPED_LET_CHANCE = 20
TYPED_FN_CHANCE = 25
TRAIT_CHANCE = 20


@dataclass
class TraitSig:
    """A trait implemented for int: `recv.required(k)` and `recv.default()` give ints."""
    name: str
    required: str
    default: str
    cost: int = 1


def constant(node: Any) -> Optional[int]:
    """The int a literal, possibly negated, stands for (what the static width check reads)."""
    if isinstance(node, A.Literal) and type(node.value) is int:
        return node.value
    if isinstance(node, A.Unary) and node.op == "-":
        inner = constant(node.operand)
        return None if inner is None else -inner
    return None


class Typed(BuilderState):
    traits: list[TraitSig]

    def let_type(self, ty: str) -> Optional[str]:
        """The annotation of a new `let` of generator type `ty`, or None (most lets have none)."""
        c = self.c
        if ty not in DECLARED or not c.chance(TYPED_LET_CHANCE):
            return None
        if ty == "int" and c.chance(50):
            return c.pick(list(WIDTHS))
        return self.declared(ty)

    def declared(self, ty: str) -> str:
        """The annotation of generator type `ty`: its declared type, or (every second time, no
        draw, so programs without annotations are unchanged) an alias of it."""
        self.alias_turn += 1
        if self.alias_turn % 2:
            return DECLARED[ty]
        alias = ALIASES[ty]
        self.aliases[alias] = DECLARED[ty]
        return alias

    def fit(self, slot: Optional[str], x: X) -> X:
        """`x` as stored into `slot`: a constant outside a width is wrapped with `%` (a constant
        that does not fit is a compile error); every width value is bounded by its width."""
        if slot not in WIDTHS:
            return x
        lo, hi = WIDTH_RANGES[slot]
        k = constant(x.node)
        if k is not None and not lo <= k <= hi:
            return X(binop("%", x.node, lit(100)), WIDTHS[slot])
        return X(x.node, WIDTHS[slot])

    def fn_types(self, ptypes: list[str], ret: str) -> Optional[tuple[list[str], Optional[str]]]:
        """Declared parameter and return types for a plain function, or None."""
        if not self.c.chance(TYPED_FN_CHANCE):
            return None
        if any(t not in DECLARED for t in ptypes):
            return None
        return [self.declared(t) for t in ptypes], (self.declared(ret) if ret in DECLARED
                                                    else None)

    def alias_decls(self) -> list:
        """`type TInt = int`, … for the aliases the program's annotations used."""
        return [A.TypeAlias(name, target) for name, target in sorted(self.aliases.items())]

    def fn_expr(self, params: list[str], body: Any) -> A.FnExpr:
        """`fn(x) { … }` (or `fn(x: int) -> int { … }`) in place of a lambda over ints."""
        typed = self.c.chance(40)
        ps = [A.Param(A.PBind(p), "int" if typed else None) for p in params]
        if not isinstance(body, A.Block):
            body = block([tail(body)])
        return A.FnExpr(ps, body, "int" if typed else None)

    # ------------------------------------------------------------ traits

    def trait_decls(self) -> list:
        """`trait Tn { required(k: int): int  method default() { … } }` and its impl for int."""
        c = self.c
        i = len(self.traits)
        tname, req, dflt = f"Tr{i}", f"tq{i}", f"td{i}"
        k = self.fresh("k")
        body, cost = self.method_body([("self", "int", VB), (k, "int", VB)])
        required = A.FnDecl(req, [A.Param(A.PBind(k), "int")], body, "int")
        default_body = block([tail(binop("%", meth(name("self"), req, lit(c.pick([1, 2, 7]))),
                                         lit(c.pick([1000, 997]))))])
        trait = A.TraitDecl(tname, [], [
            A.TraitMethodSig(req, [A.Param(A.PBind("k"), "int")], "int"),
            A.FnDecl(dflt, [], default_body)])
        self.traits.append(TraitSig(tname, req, dflt, cost + 1))
        return [trait, A.ImplDecl(tname, "int", [required])]

    def method_body(self, params: list[tuple[str, str, int]]) -> tuple[A.Block, int]:
        """A method body over `params` only (like a module function's), giving an int."""
        c = self.c
        saved_ctx = self.ctx
        self.ctx = Ctx("method", limit=FN_BUDGET // 3)
        self.fn_depth += 1
        self.barriers.append(len(self.scopes))
        self.push_scope()
        for pname, pty, pb in params:
            self.declare(Var(pname, pty, bound=pb, readonly=True))
        self.push_scope()
        stmts = self.stmts(c.int(0, 2), 1) if c.chance(40) else []
        e = self.e_int(2, VB)
        self.pop_scope()
        self.pop_scope()
        self.barriers.pop()
        self.fn_depth -= 1
        cost = max(1, self.ctx.cost)
        self.ctx = saved_ctx
        return block(stmts + [tail(e.node)]), cost

    def trait_call(self, d: int) -> Optional[X]:
        """`recv.required(k)` or `recv.default()` on an int."""
        c = self.c
        ts = [t for t in self.traits if self.affordable(t.cost)]
        if not ts:
            return None
        t = c.pick(ts)
        self.spend(self.ctx.mult * t.cost)
        recv = self.e_int(d, VB)
        if c.chance(50):
            return X(meth(recv.node, t.default), 1000)
        return X(meth(recv.node, t.required, self.e_int(d, VB).node), VB)
