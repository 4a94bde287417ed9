"""The Shape abstract syntax tree: plain dataclasses shared by every engine.

Source positions (`line`, `col`) are excluded from equality so that an AST printed back to source
and re-parsed compares equal to the original (the fuzzer depends on this round trip).

`iter_child_nodes` and `walk` (as in Python's `ast` module) are the one generic walk over the
tree; every pass that does not dispatch on node types uses them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Optional, Union


def _pos() -> Any:
    return field(default=0, compare=False, repr=False, kw_only=True)


@dataclass
class Node:
    line: int = _pos()
    col: int = _pos()


# ---------------------------------------------------------------- patterns

@dataclass
class PWild(Node):
    pass


@dataclass
class PLit(Node):
    value: Any            # int, float, str, bool, None


@dataclass
class PBind(Node):
    name: str


@dataclass
class PArray(Node):
    items: list["Pattern"]
    rest: Optional[str] = None          # `...rest` binds the remaining elements; "_" ignores them
    has_rest: bool = False


@dataclass
class PObject(Node):
    fields: list[tuple[str, "Pattern"]]  # `{x}` is ("x", PBind("x"))


@dataclass
class PVariant(Node):
    path: list[str]                        # ["Some"], ["Ok"], ["Color", "Red"]
    args: Optional[list["Pattern"]] = None  # tuple variant payload patterns
    fields: Optional[list[tuple[str, "Pattern"]]] = None  # struct variant payload patterns


@dataclass
class PTyped(Node):
    """`n: int` in a match arm: matches a value of that type and binds it (`_: int` binds nothing)."""
    name: Optional[str]
    type: str                              # canonical type text (see ref/types.py)


Pattern = Union[PWild, PLit, PBind, PArray, PObject, PVariant, PTyped]


# ---------------------------------------------------------------- expressions

@dataclass
class Literal(Node):
    value: Any            # int, float, str, bool, None


@dataclass
class UnitLit(Node):
    pass


@dataclass
class FPart(Node):
    expr: "Expr"
    spec: Optional[str] = None   # ".2f" or "fixed(2)"


@dataclass
class FString(Node):
    parts: list[Union[str, FPart]]


@dataclass
class Name(Node):
    name: str


@dataclass
class Path(Node):
    parts: list[str]       # Color::Red -> ["Color", "Red"]


@dataclass
class Spread(Node):
    expr: "Expr"


@dataclass
class ArrayLit(Node):
    items: list["Expr"]    # may contain Spread


@dataclass
class ObjectLit(Node):
    entries: list[Union[tuple[str, "Expr"], Spread]]


@dataclass
class StructLit(Node):
    path: list[str]        # ["Point"] or ["Shape", "Rect"]
    fields: list[tuple[str, "Expr"]]


@dataclass
class Unary(Node):
    op: str                # "-", "!" or "~"
    operand: "Expr"


@dataclass
class Binary(Node):
    op: str                # + - * / % ** == != < <= > >= && || ?? !! & | ^ << >>
    left: "Expr"
    right: "Expr"


@dataclass
class Fuzzy(Node):
    """`a ~= b`, `a ~< b`, `a ~> b`, optionally `within 0.5` or `within 5%`."""
    op: str                # "~=", "~<" or "~>"
    left: "Expr"
    right: "Expr"
    tolerance: Optional[Union[int, float]] = None   # None: the default tolerance
    percent: bool = False  # the tolerance is a percentage (`within 5%`)


@dataclass
class As(Node):
    """`e as T` converts (or fails); `e as T?` converts to `Ok(v)` or `Err(message)`."""
    expr: "Expr"
    type: str              # canonical type text
    fallible: bool = False


@dataclass
class DurationLit(Node):
    """`5s`, `1h30m`: the amounts and units as written."""
    parts: list[tuple[Union[int, float], str]]


@dataclass
class Pipe(Node):
    left: "Expr"
    right: "Expr"


@dataclass
class Ternary(Node):
    cond: "Expr"
    then: "Expr"
    other: "Expr"


@dataclass
class Assign(Node):
    target: "Expr"         # Name, Member or Index
    op: str                # "=", "+=", ...
    value: "Expr"


@dataclass
class RefArg(Node):
    name: str              # `&x` / `&mut x` in a call


@dataclass
class Call(Node):
    callee: "Expr"
    args: list["Expr"]


@dataclass
class Member(Node):
    obj: "Expr"
    name: str
    optional: bool = False  # `o?.f`


@dataclass
class Index(Node):
    obj: "Expr"
    index: "Expr"


@dataclass
class Try(Node):
    expr: "Expr"


@dataclass
class Param(Node):
    pattern: Pattern
    type: Optional[str] = None
    default: Optional["Expr"] = None
    by_ref: bool = False


@dataclass
class Lambda(Node):
    params: list[Param]
    body: "Expr"


@dataclass
class FnExpr(Node):
    """An anonymous function `fn(x) -> T { … }` (or `function(x) { … }`)."""
    params: list[Param]
    body: "Block"
    ret_type: Optional[str] = None


@dataclass
class Block(Node):
    stmts: list["Stmt"]


@dataclass
class If(Node):
    cond: "Expr"
    then: Block
    other: Optional[Union[Block, "If"]] = None


@dataclass
class MatchArm(Node):
    pattern: Pattern
    guard: Optional["Expr"]
    body: "Expr"


@dataclass
class Match(Node):
    subject: "Expr"
    arms: list[MatchArm]


@dataclass
class While(Node):
    cond: "Expr"
    body: Block


@dataclass
class For(Node):
    pattern: Pattern
    iterable: "Expr"
    body: Block


@dataclass
class Loop(Node):
    body: Block


@dataclass
class RangeExpr(Node):
    start: "Expr"
    end: "Expr"
    inclusive: bool = False


@dataclass
class CompFor(Node):
    pattern: Pattern
    iterable: "Expr"


@dataclass
class CompIf(Node):
    cond: "Expr"


@dataclass
class Comprehension(Node):
    expr: "Expr"
    clauses: list[Union[CompFor, CompIf]]


@dataclass
class Await(Node):
    expr: "Expr"
    annotations: list["AnnotationUse"] = field(default_factory=list)


Expr = Any  # any expression node above


# ---------------------------------------------------------------- statements

@dataclass
class ExprStmt(Node):
    expr: Expr
    semi: bool = False     # a block's value is its last expression statement without `;`


@dataclass
class Let(Node):
    pattern: Pattern
    value: Optional[Expr]
    kind: str = "let"      # "let", "var" or "const"
    mutable: bool = False
    type: Optional[str] = None


@dataclass
class Return(Node):
    value: Optional[Expr] = None


@dataclass
class Break(Node):
    value: Optional[Expr] = None


@dataclass
class Continue(Node):
    pass


@dataclass
class AnnotationUse(Node):
    name: str
    args: list[Expr] = field(default_factory=list)


@dataclass
class TypeParam(Node):
    """A generic parameter `T`, `T: Show + Eq`, `T = int` (a `where` clause adds bounds)."""
    name: str
    bounds: list[str] = field(default_factory=list)    # trait names
    default: Optional[str] = None                      # canonical type text


@dataclass
class FnDecl(Node):
    name: str
    params: list[Param]
    body: Block
    ret_type: Optional[str] = None
    is_async: bool = False
    annotations: list[AnnotationUse] = field(default_factory=list)
    type_params: list[TypeParam] = field(default_factory=list)


@dataclass
class Variant(Node):
    name: str
    kind: str = "unit"                   # "unit", "tuple" or "struct"
    types: list[str] = field(default_factory=list)   # tuple payload types
    fields: list[str] = field(default_factory=list)  # struct payload field names
    value: Any = None                    # `Sell = "sell"`: an int, float or str (unit variants)


@dataclass
class EnumDecl(Node):
    name: str
    variants: list[Variant]
    type_params: list[TypeParam] = field(default_factory=list)


@dataclass
class FieldDecl(Node):
    name: str
    type: Optional[str] = None
    default: Optional[Expr] = None


@dataclass
class ComptimeField(Node):
    """`comptime name: T = value` in a type: one value for the type, read as `Type.name`."""
    name: str
    type: Optional[str] = None
    default: Optional[Expr] = None


@dataclass
class TypeDecl(Node):
    name: str
    fields: list[Union[FieldDecl, ComptimeField]]
    type_params: list[TypeParam] = field(default_factory=list)


@dataclass
class ExtendDecl(Node):
    type_name: str
    methods: list[FnDecl]


@dataclass
class TraitMethodSig(Node):
    """A method a trait requires: `area(self): number`."""
    name: str
    params: list[Param]
    ret_type: Optional[str] = None


@dataclass
class TraitDecl(Node):
    name: str
    type_params: list[TypeParam]
    members: list[Union[TraitMethodSig, FnDecl]]   # FnDecl: a default method


@dataclass
class ImplDecl(Node):
    """`impl Trait for Type { methods }` (`impl Trait for Type as Name { … }` names the impl)."""
    trait: str             # canonical type text of the trait: "Show", "Into<int>"
    target: str            # canonical type text of the type: "Point", "int", "Box<T>"
    methods: list[FnDecl]
    name: Optional[str] = None


@dataclass
class AnnotationDecl(Node):
    name: str
    params: list[Param]
    targets: list[str]
    before: Optional[FnDecl] = None
    after: Optional[FnDecl] = None


@dataclass
class Import(Node):
    path: list[str]
    names: list[str] = field(default_factory=list)


Stmt = Any


@dataclass
class Program(Node):
    body: list[Stmt]


# ---------------------------------------------------------------- walking the tree

def iter_child_nodes(node: Node) -> Iterator[Node]:
    """The direct children of `node`, in field order: the nodes held by its fields, including
    those inside lists and tuples (`ObjectLit` entries, `PObject` fields, …)."""
    for f in fields(node):
        yield from _nodes_in(getattr(node, f.name))


def _nodes_in(v: Any) -> Iterator[Node]:
    if isinstance(v, Node):
        yield v
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _nodes_in(x)


def walk(node: Node) -> Iterator[Node]:
    """`node` and all its descendants, parents before children (no recursion, so it works on
    any depth of nesting)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        children = list(iter_child_nodes(n))
        children.reverse()
        stack.extend(children)
