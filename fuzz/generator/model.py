"""The generator's model of the program it is building: size bounds and budgets, literal pools,
what it knows about every variable and expression (type, bound, aliasing), the AST construction
helpers, and `BuilderState` (scopes, fresh names, the cost budget) that every part of the builder
works on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from shapelang.fuzz.generator.choices import ChoiceSource
from shapelang.ref import ast as A

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
# Width integer types (spec/types.md §4): the values a slot of each type stores.
WIDTH_RANGES = {"i8": (-128, 127), "u8": (0, 255), "i16": (-2 ** 15, 2 ** 15 - 1),
                "u16": (0, 2 ** 16 - 1), "i32": (-2 ** 31, 2 ** 31 - 1), "u32": (0, 2 ** 32 - 1)}
WIDTHS = {w: max(-lo, hi) for w, (lo, hi) in WIDTH_RANGES.items()}   # largest magnitude
OVERFLOW_BASES = [9223372036854775807, 4611686018427387904, 3037000500, -9223372036854775807,
                  -4611686018427387904, -3037000500]


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


def cap(x: float) -> float:
    return x if x < 1e300 else math.inf


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
    struct: Optional[str] = None   # obj: the struct type of the instance (error mode)
    slot: Optional[str] = None     # the type it is declared with (`let x: u8 = …`), if any


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
    typed: bool = False               # declared parameter types: a literal of another type there
                                      # is a compile-time error (error mode avoids it)


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
class StructSig:
    """A struct type declared in error mode, with the methods of its `extend` block."""
    name: str
    fields: list[str]
    methods: list[tuple[str, int]] = field(default_factory=list)   # (name, parameter count)
    cost: int = 1                     # estimated statement executions of one method call


@dataclass
class LoopFrame:
    kind: str                         # while for loop
    break_ty: Optional[str] = None    # `let r = loop { … break v … }`: type of v
    no_continue: bool = False         # its counter is incremented last: a `continue` would skip it


@dataclass
class Ctx:
    kind: str                         # module fn lambda hook method
    sig: Optional[FnSig] = None
    loops: list[LoopFrame] = field(default_factory=list)
    mult: int = 1
    cost: int = 0
    limit: int = BUDGET
    rec_site_used: bool = False
    allow_arr_mutation: bool = True
    await_ok: bool = False            # top level and async fn bodies (not lambdas or hooks)


class BuilderState:
    """What every part of the builder reads and updates: the decisions, the scopes with their
    typed variables, the declarations made so far, and the cost of the code being generated."""

    def __init__(self, choices: ChoiceSource, errors: bool = False) -> None:
        self.c = choices
        self.errors = errors                # error-path mode (mistakes.py)
        self.structs: list[StructSig] = []  # struct types (error mode only)
        self.scopes: list[dict[str, Var]] = []
        self.barriers: list[int] = []       # scope indices where a module function starts
        self.fns: list[FnSig] = []
        self.enums: list[EnumSig] = []
        self.traits: list = []              # typed.TraitSig: traits implemented for int
        self.aliases: dict[str, str] = {}   # type aliases the annotations used: name -> type
        self.alias_turn = 0                 # typed.declared: every second annotation uses one
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

    def affordable(self, cost: int) -> bool:
        return self.ctx.mult * cost <= self.ctx.limit - self.ctx.cost

    def await_weight(self) -> int:
        return 4 if self.await_on and self.ctx.await_ok else 0
