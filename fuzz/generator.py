"""Hypothesis strategies that build well-formed, deterministic, terminating Shape core programs.

Programs are built as ASTs (`shapelang.ref.ast`) and printed with the AST printer, so every
generated program is also a printer round-trip test. The generator tracks, for every variable in
scope, its type and a bound on its size, so that almost every program runs without an error the
generator did not plant on purpose:

- int expressions carry a magnitude bound and are only combined while the bound stays below 2**62,
  so an `int` never silently overflows into a float (overflow is generated on purpose, in `num`
  expressions that are only printed, compared or combined with other numbers);
- every loop is bounded (for over small ranges or arrays that the loop body cannot grow, while and
  loop with a counter incremented first), recursion passes an explicit depth counter, and a cost
  estimate (statement executions, multiplied through loops and calls) caps the whole program;
- strings and arrays assigned back to a variable may reference at most one sequence variable, so
  lengths grow at most linearly with the number of executed statements;
- divisors are non-zero literals or `e % 5 + 6`, except where a division by zero is planted.

Every choice is one Hypothesis draw whose zero value is the simplest alternative, so shrinking
removes features, shortens blocks and simplifies expressions while the program stays well formed.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from hypothesis import strategies as st

from shapelang.ref import ast as A
from shapelang.ref.printer import to_source as _to_source

VB = 10**6            # bound on int variables, array elements, function results
MAXB = 2**62          # an int expression bounded below this cannot overflow int64
LEN = 10**4           # bound used for any length / index result
BUDGET = 1500         # estimated statement executions for a whole program
FN_BUDGET = 150       # estimated statement executions for one call of a module function
LAMBDA_BUDGET = 40
MAX_MULT = 40         # most iterations (product over nested loops) a body may run
MAX_STMTS = 40        # statements in the whole program (a soft cap, checked as we go)
MAX_SNAPSHOT_SITES = 4
HOOK_BUDGET = 30      # estimated statement executions of one annotation handler
ANNOTATION_CHANCE = 35   # percent of programs that declare annotations
ASYNC_CHANCE = 30        # percent of programs with async functions and await
HOOK_SNAPSHOT_CHANCE = 12   # percent of handlers that call snapshot()
TASK_TYPES = ["int", "str", "bool", "res", "arr"]

INT_LITS = [0, 1, 2, 3, -1, 5, 7, -7, 10, 42, 100, -3, 255, 1000, 12345]
FLOAT_LITS = [0.5, 1.5, -2.25, 0.1, 3.0, 2.5, 0.2, -0.0, 1e-7, 1e20, 123.456, 2.5e15, 1e16,
              0.3333333333333333, 100.0]
STR_LITS = ["", "a", "hello", "Ab c", " pad ", "x,y,z", "é", "straße", "tab\tx", "line\nbreak",
            "q\"uote", "back\\slash", "42", "-7", "3.5", "abc", "zz", "Hello World", "a-b-c",
            "naïve", "日本語", "😀 ok", "ÅNGSTRÖM"]
SEPS = [",", "-", " ", "", "b"]
DIVISORS = [2, 3, -2, 7, -5, 10, 1, -1, 4]
MODULI = [1000, 7, 100, 65536, 3, 997]
OVERFLOW_BASES = [9223372036854775807, 4611686018427387904, 3037000500, -9223372036854775807,
                  -4611686018427387904, -3037000500]


_INTEGERS: dict[tuple[int, int], Any] = {}


def _integers(lo: int, hi: int) -> Any:
    # Building a strategy validates its arguments; caching them makes a draw several times faster.
    s = _INTEGERS.get((lo, hi))
    if s is None:
        s = _INTEGERS[(lo, hi)] = st.integers(lo, hi)
    return s


class ChoiceSource:
    """The generator's only source of decisions. Each method is one Hypothesis draw whose
    shrink target (zero) is the simplest alternative."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self._draw = draw

    def int(self, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        return self._draw(_integers(lo, hi))

    def pick(self, seq: list) -> Any:
        if len(seq) == 1:
            return seq[0]
        return seq[self._draw(_integers(0, len(seq) - 1))]

    def chance(self, percent: int) -> bool:
        """True with about `percent`% probability; shrinks to False."""
        return self._draw(_integers(0, 99)) >= 100 - percent

    def weighted(self, options: list[tuple[int, Any]]) -> Any:
        """Pick by weight; the first option is what shrinking moves towards."""
        options = [(w, o) for w, o in options if w > 0]
        total = sum(w for w, _ in options)
        r = self.int(0, total - 1)
        for w, o in options:
            if r < w:
                return o
            r -= w
        return options[-1][1]


# ---------------------------------------------------------------- AST helpers

def lit(v: Any) -> A.Literal:
    return A.Literal(v)


def name(n: str) -> A.Name:
    return A.Name(n)


def call(f: Any, *args: Any) -> A.Call:
    return A.Call(name(f) if isinstance(f, str) else f, list(args))


def meth(obj: Any, m: str, *args: Any) -> A.Call:
    return A.Call(A.Member(obj, m), list(args))


def binop(op: str, left: Any, right: Any) -> A.Binary:
    return A.Binary(op, left, right)


def neg(e: Any) -> Any:
    """`-e`; the parser folds a negated number literal into the literal, so do the same."""
    if isinstance(e, A.Literal) and type(e.value) in (int, float):
        return A.Literal(-e.value)
    return A.Unary("-", e)


def stmt(e: Any) -> A.ExprStmt:
    return A.ExprStmt(e, True)


def tail(e: Any) -> A.ExprStmt:
    return A.ExprStmt(e, False)


def block(stmts: list) -> A.Block:
    return A.Block(stmts)


def let(n: str, value: Any, mutable: bool = False) -> A.Let:
    return A.Let(A.PBind(n), value, "let", mutable)


def param(n: str, by_ref: bool = False, default: Any = None) -> A.Param:
    return A.Param(A.PBind(n), None, default, by_ref)


def lam(params: list[str], body: Any) -> A.Lambda:
    return A.Lambda([param(p) for p in params], body)


def if_stmt(cond: Any, then: list, other: Optional[list] = None) -> A.ExprStmt:
    return A.ExprStmt(A.If(cond, block(then), block(other) if other is not None else None), False)


def is_blocklike(e: Any) -> bool:
    return isinstance(e, (A.If, A.Match, A.While, A.For, A.Loop, A.Block))


# ---------------------------------------------------------------- typing model

@dataclass
class SeqInfo:
    """Shared by every variable that aliases one array (so pushes through an alias are seen)."""
    bound: int
    frozen: int = 0        # > 0 while a `for` loop iterates over this array


@dataclass
class Var:
    name: str
    ty: str                # int num bool str arr sarr obj enum:E res opt fn thunk snap
    mutable: bool = False
    bound: float = 0       # magnitude for int/num, length for str
    readonly: bool = False  # loop counters and array parameters: never assigned or mutated
    cost: int = 1          # callables: estimated statement executions of one call
    info: Any = None       # arr/sarr: SeqInfo; obj: dict field -> type


@dataclass
class X:
    """A generated expression with what the generator knows about its value."""
    node: Any
    b: float = 0           # int/num magnitude bound, str/arr length bound
    info: Any = None       # arr/sarr: SeqInfo when it may alias a variable's array; obj: fields
    fresh: bool = True     # arr/sarr: a new array, not an alias of a variable


@dataclass
class FnSig:
    name: str
    params: list[tuple[str, str]]    # (name, type) not counting the depth parameter
    ret: str                          # int str bool res arr num unit
    recursive: bool = False
    max_depth: int = 0
    cost: int = 1
    by_ref: bool = False              # first parameter is `&p` (an int the callee increments)
    default_last: bool = False        # last parameter has a default value
    is_async: bool = False            # `async fn`: a call gives a task, `await` gives `ret`
    anns: list["AnnSig"] = field(default_factory=list)   # outermost first


@dataclass
class AnnSig:
    """What the generator knows about an `annotation` declaration, so that it is applied only
    where its hooks keep the program well typed."""
    name: str
    params: list[tuple[str, str]]     # (name, int/str)
    n_default: int = 0                # trailing parameters with a default value
    targets: list[str] = field(default_factory=list)   # empty: functions and awaits
    ty: Optional[str] = None          # type of the value its hooks supply (short-circuit result,
                                      # after's value); None: they only pass `result` through
    transforms: bool = False          # after computes on `result` (not for async fns: it is a task)
    int_args: bool = False            # before rewrites every argument as an int
    swap: bool = False                # before swaps the first two arguments
    counter: Optional[str] = None     # module-level `let mut` counter its hooks update
    cost: int = 1

    def for_function(self) -> bool:
        return not self.targets or "function" in self.targets

    def for_await(self) -> bool:
        return not self.targets or "await_expr" in self.targets


@dataclass
class EnumSig:
    name: str
    variants: list[tuple[str, str, list[str]]]   # (name, kind unit/tuple/struct, field names)


@dataclass
class LoopFrame:
    kind: str                         # while for loop
    break_ty: Optional[str] = None    # `let r = loop { … break v … }`: type of v


@dataclass
class Ctx:
    kind: str                         # module fn lambda
    sig: Optional[FnSig] = None
    loops: list[LoopFrame] = field(default_factory=list)
    mult: int = 1
    cost: int = 0
    limit: int = BUDGET
    rec_site_used: bool = False
    allow_arr_mutation: bool = True
    await_ok: bool = False            # top level and async fn bodies (not lambdas or hooks)


@dataclass
class GeneratedProgram:
    ast: A.Program
    planted: set[str] = field(default_factory=set)   # error kinds planted on purpose
    planted_exit: bool = False
    snapshot_sites: int = 0
    top_level_sites: list[int] = field(default_factory=list)  # ordinals not inside a function
    stmts: int = 0

    @property
    def source(self) -> str:
        return to_source(self.ast)


def to_source(node: Any) -> str:
    """Print with the project's AST printer (every generated program is a printer test too)."""
    return _to_source(node)


SIMPLE_TYPES = ["int", "str", "bool", "num", "arr", "sarr", "obj", "res", "opt"]
PRINTABLE_TYPES = ["int", "str", "bool", "num", "arr", "sarr", "obj", "res", "opt", "enum"]


class ProgramBuilder:
    def __init__(self, choices: ChoiceSource) -> None:
        self.c = choices
        self.scopes: list[dict[str, Var]] = []
        self.barriers: list[int] = []       # scope indices where a module function starts
        self.fns: list[FnSig] = []
        self.enums: list[EnumSig] = []
        self.counter = 0
        self.snapshot_sites = 0
        self.top_level_sites: list[int] = []
        self.fn_depth = 0                   # > 0 inside a module function or lambda
        self.stmt_count = 0
        self.planted: set[str] = set()
        self.planted_exit = False
        self.ctx = Ctx("module", await_ok=True)
        self.current_fn: Optional[FnSig] = None
        self.anns: list[AnnSig] = []
        self.counters: list[str] = []       # module-level counters updated by hooks
        self.async_on = False               # this program has async fns
        self.await_on = False               # this program uses `await`
        self.in_fstring = 0                 # f-strings nested in f-string holes cannot be printed

    # ------------------------------------------------------------ names and scopes

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def push_scope(self) -> None:
        self.scopes.append({})

    def pop_scope(self) -> None:
        self.scopes.pop()

    def declare(self, var: Var) -> Var:
        self.scopes[-1][var.name] = var
        return var

    def visible(self) -> list[Var]:
        start = self.barriers[-1] if self.barriers else 0
        seen: dict[str, Var] = {}
        for scope in self.scopes[start:]:
            seen.update(scope)
        return list(seen.values())

    def vars_of(self, ty: str, pred: Optional[Callable[[Var], bool]] = None) -> list[Var]:
        out = []
        for v in self.visible():
            if (v.ty == ty or (ty == "enum" and v.ty.startswith("enum:"))) and (pred is None or pred(v)):
                out.append(v)
        return out

    def shadow_name(self) -> Optional[str]:
        # Only names of the innermost scope: the resolver ties a closure to a later `let` of an
        # enclosing block that shadows an outer variable (see fuzz/README.md, findings).
        vs = [v for v in self.scopes[-1].values() if not v.readonly]
        if vs and self.c.chance(10):
            return self.c.pick(vs).name
        return None

    # ------------------------------------------------------------ cost

    def can_spend(self, amount: int) -> bool:
        return self.ctx.cost + amount <= self.ctx.limit

    def spend(self, amount: int) -> None:
        self.ctx.cost += amount

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
                return self.int_lit()
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

    def await_weight(self) -> int:
        return 4 if self.await_on and self.ctx.await_ok else 0

    def affordable(self, cost: int) -> bool:
        return self.ctx.mult * cost <= self.ctx.limit - self.ctx.cost

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
                           (1, "avg"), (1, "mixed")])
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
            return X(binop(op, a.node, b.node), _cap(bound))
        if kind == "div":
            a = self.e_num(d - 1)
            dv = c.pick([2.0, 3, 0.5, -4, 10, 3.0, 7])
            return X(binop("/", a.node, lit(dv)), _cap(a.b / min(abs(dv), 1)))
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
            return X(binop("**", a.node, lit(k)), _cap(max(a.b, 2) ** max(k, 1)))
        if kind == "parse":
            return X(call("to_number", lit(c.pick(["2.5", "1e3", "-0.125", "7"]))), 1000)
        if kind == "avg":
            a = self.e_seq("arr", d - 1)
            return X(binop("??", meth(a.node, "avg"), lit(0)), VB)
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
                           (1, "truthy"), (self.await_weight() // 2, "await")])
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
                           (self.await_weight() // 2 if growing else 0, "await")])
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
                           (self.await_weight() // 2 if growing else 0, "await")])
        if kind == "var" and vs:
            v = c.pick(vs)
            return X(name(v.name), v.info.bound, v.info, False)
        if kind == "await":
            x = self.await_expr(ty, d - 1)
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
        stmt_ = let(n, x.node, mutable)
        if c.chance(10) and not mutable:
            stmt_ = A.Let(A.PBind(n), x.node, "const", False)
        elif mutable and c.chance(15):
            stmt_ = A.Let(A.PBind(n), x.node, "var", True)
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
            v.bound = _cap(max(v.bound, x.b))
        else:
            x = self.expr(v.ty, d)
        return [stmt(A.Assign(name(v.name), "=", x.node))]

    def compound_stmt(self, d: int) -> list:
        c = self.c
        cands = [v for v in self.visible() if v.mutable and not v.readonly and v.ty in ("int", "str", "num")]
        if not cands:
            return []
        v = c.pick(cands)
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
        v.bound = _cap(v.bound + x.b * self.ctx.mult)
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
                                    (1, "sarr")])
        frozen: Optional[SeqInfo] = None
        if kind == "range":
            lo = c.pick([0, 1, -2])
            n = c.int(0, 5)
            inclusive = c.chance(30)
            iterable: Any = A.RangeExpr(lit(lo), lit(lo + n), inclusive)
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
        step: it becomes a number at the step that leaves the range (brief §3). In a loop, so the
        VM runs the step on its fast path."""
        c = self.c
        v, x = self.fresh("big"), self.fresh("i")
        n = c.int(2, 4)
        if self.ctx.mult * n > MAX_MULT:
            n = 1
        self.spend(self.ctx.mult * n * 2)
        sign = c.pick([1, -1])
        base = sign * (2**63 - 1 - c.pick([0, 2, 7, 20, 300]))
        form = c.pick(["step", "stepvar", "mul"])
        if form == "step":
            k = lit(c.pick([1, 5, 10, 100]))
        elif form == "stepvar":
            k = binop("+", binop("*", name(x), lit(c.pick([3, 7, 64]))), lit(1))
        if form == "mul":
            step = binop("*", name(v), lit(c.pick([2, 3, -2])))
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
        incr = stmt(A.Assign(name(w), "+=", lit(1)))
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
        self.ctx.loops.append(LoopFrame("while"))
        saved = self.ctx.mult
        self.ctx.mult *= max(n, 1)
        body = self.nested_block(d, prefix=body_prefix)
        self.ctx.mult = saved
        self.ctx.loops.pop()
        return pre + [A.ExprStmt(A.While(cond, body), False)]

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

    def break_continue(self) -> A.ExprStmt:
        c = self.c
        frame = self.ctx.loops[-1]
        cond = self.e_bool(1)
        if frame.break_ty is not None:
            inner: Any = A.Break(self.e_int(0).node) if c.chance(50) else A.Continue()
        else:
            inner = A.Break() if c.chance(50) else A.Continue()
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

    def fn_call_args(self, f: FnSig, d: int) -> list:
        args = []
        if f.recursive:
            args.append(lit(self.c.int(0, f.max_depth)))
        return args + self.call_args(f, d)

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
        default_last = (bool(params) and not (by_ref and len(params) == 1) and c.chance(15)
                        and not (first is not None and first.swap))
        sig = FnSig(fname, params, ret, recursive, c.int(1, 5) if recursive else 0,
                    by_ref=by_ref, default_last=default_last, is_async=is_async)
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
        return A.FnDecl(fname, ast_params, block(body), is_async=is_async, annotations=uses)

    def default_value(self, ty: str) -> Any:
        return {"int": lit(7), "str": lit("dflt"), "num": lit(0.5), "bool": lit(True),
                "arr": A.ArrayLit([lit(1), lit(2)])}[ty]

    def try_stmts(self) -> list:
        """`let v = r?` inside a function returning a Result."""
        c = self.c
        r = self.e_res(1)
        v = self.fresh("t")
        self.declare(Var(v, "int", bound=VB))
        return [let(v, A.Try(r.node)), stmt(call("print", lit("try"), name(v)))]

    def program(self) -> GeneratedProgram:
        c = self.c
        self.push_scope()
        decls: list = []
        for _ in range(c.weighted([(5, 0), (3, 1), (1, 2)])):
            decls.append(self.enum_decl())
        self.async_on = c.chance(ASYNC_CHANCE)
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
        hoisted = []
        for d in ann_decls:
            # declarations are hoisted: an annotation may follow its uses
            if c.chance(10):
                hoisted.append(d)
            else:
                decls.insert(c.int(0, len(decls)), d)
        decls = [let(n, lit(0), True) for n in self.counters] + decls
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
        prog = A.Program(decls + body + hoisted)
        return GeneratedProgram(prog, set(self.planted), self.planted_exit, self.snapshot_sites,
                                list(self.top_level_sites), self.stmt_count)


def _calls_snapshot(n: Any) -> bool:
    if isinstance(n, A.Call) and isinstance(n.callee, A.Name) and n.callee.name == "snapshot":
        return True
    if isinstance(n, (A.Lambda, A.FnDecl)):
        return False
    if isinstance(n, A.Node):
        return any(_calls_snapshot(getattr(n, f)) for f in n.__dataclass_fields__)
    if isinstance(n, (list, tuple)):
        return any(_calls_snapshot(x) for x in n)
    return False


def features(node: Any) -> set[str]:
    """Which features a program uses. Annotations and async: `annotation` (a declaration),
    `annotated-fn`, `stacked`, `async-fn`, `await`, `await-annotation`, `hook-snapshot`. Edge
    cases: `match-rest` (a `[h, ...rest]` arm), `int-overflow` (a literal beyond ±2**62),
    `closure-kept-from-loop` (a `for` body pushes closures to an array),
    `top-level-loop-snapshot` (a top-level `for` whose body calls snapshot())."""
    out: set[str] = set()
    if isinstance(node, A.Program):
        for top in node.body:
            if isinstance(top, A.ExprStmt) and isinstance(top.expr, A.For) and _calls_snapshot(top.expr.body):
                out.add("top-level-loop-snapshot")

    def walk(n: Any, in_hook: bool) -> None:
        if isinstance(n, A.MatchArm) and isinstance(n.pattern, A.PArray) and n.pattern.has_rest:
            out.add("match-rest")
        elif isinstance(n, A.Literal) and type(n.value) is int and abs(n.value) > 2**62:
            out.add("int-overflow")
        elif isinstance(n, A.For) and any(
                isinstance(x, A.Call) and isinstance(x.callee, A.Member) and x.callee.name == "push"
                and any(isinstance(a, A.Lambda) for a in x.args) for x in _walk_nodes(n.body)):
            out.add("closure-kept-from-loop")
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
        elif (in_hook and isinstance(n, A.Call) and isinstance(n.callee, A.Name)
              and n.callee.name == "snapshot"):
            out.add("hook-snapshot")
        if isinstance(n, A.Node):
            for f in n.__dataclass_fields__:
                walk(getattr(n, f), in_hook)
        elif isinstance(n, (list, tuple)):
            for x in n:
                walk(x, in_hook)
    walk(node, False)
    return out


def _walk_nodes(n: Any):
    if isinstance(n, A.Node):
        yield n
        for f in n.__dataclass_fields__:
            yield from _walk_nodes(getattr(n, f))
    elif isinstance(n, (list, tuple)):
        for x in n:
            yield from _walk_nodes(x)


def _cap(x: float) -> float:
    return x if x < 1e300 else math.inf


@st.composite
def programs(draw: Callable[[Any], Any]) -> GeneratedProgram:
    """A strategy for generated programs (`GeneratedProgram`: ast, planted errors, sites)."""
    return ProgramBuilder(ChoiceSource(draw)).program()


class RandomChoiceSource(ChoiceSource):
    """Decisions from a seeded `random.Random`: no Hypothesis engine, no shrinking. Used for quick
    looks at the generator and for measuring its own speed."""

    def __init__(self, seed: int) -> None:
        import random
        self._rnd = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self._rnd.randint(lo, hi)

    def pick(self, seq: list) -> Any:
        return seq[self._rnd.randrange(len(seq))]

    def chance(self, percent: int) -> bool:
        return self._rnd.randrange(100) >= 100 - percent


def generate(seed: int) -> GeneratedProgram:
    """One program from a plain seed, without Hypothesis."""
    return ProgramBuilder(RandomChoiceSource(seed)).program()
