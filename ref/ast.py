"""The Shape abstract syntax tree: plain dataclasses shared by every engine.

Source positions (`line`, `col`) are excluded from equality so that an AST printed back to source
and re-parsed compares equal to the original (the fuzzer depends on this round trip).

Every node class is declared with `@node`: a dataclass whose `==` and `repr` are Node's (the
same as the generated ones), because creating these classes is part of every start of `shape`
and generating three methods for each of them was its largest cost.

`iter_child_nodes` and `walk` (as in Python's `ast` module) are the one generic walk over the
tree; every pass that does not dispatch on node types uses them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Callable, Iterator, Optional, TypeVar, Union

T = TypeVar("T")


def _pos() -> Any:
    return field(default=0, compare=False, repr=False, kw_only=True)


def node(cls: type[T]) -> type[T]:
    """`@dataclass` for a node class: only `__init__` is generated (see the module docstring),
    and the class gets a docstring so that dataclass does not compute one from its signature."""
    if cls.__doc__ is None:
        cls.__doc__ = cls.__name__
    return dataclass(eq=False, repr=False)(cls)


# Per node class: a function giving the tuple of the fields `==` compares, and the names `repr`
# shows (dataclass's rules: compare=True and repr=True fields, in field order).
_COMPARED: dict[type, Callable[[Any], tuple]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> Callable[[Any], tuple]:
    get = _COMPARED.get(cls)
    if get is None:
        names = [f.name for f in fields(cls) if f.compare]
        if len(names) == 1:
            one = attrgetter(names[0])
            get = lambda n: (one(n),)   # noqa: E731
        else:
            get = attrgetter(*names) if names else (lambda n: ())
        _COMPARED[cls] = get
    return get


@dataclass(eq=False, repr=False)
class Node:
    line: int = _pos()
    col: int = _pos()

    def __eq__(self, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        get = _compared(self.__class__)
        return get(self) == get(other)

    __hash__ = None     # type: ignore[assignment]   # mutable and compared by value

    def __repr__(self) -> str:
        cls = self.__class__
        names = _SHOWN.get(cls)
        if names is None:
            names = _SHOWN[cls] = tuple(f.name for f in fields(cls) if f.repr)
        return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"


# ---------------------------------------------------------------- patterns

@node
class PWild(Node):
    pass


@node
class PLit(Node):
    value: Any            # int, float, str, bool, None


@node
class PBind(Node):
    name: str


@node
class PArray(Node):
    items: list["Pattern"]
    rest: Optional[str] = None          # `...rest` binds the remaining elements; "_" ignores them
    has_rest: bool = False


@node
class PObject(Node):
    fields: list[tuple[str, "Pattern"]]  # `{x}` is ("x", PBind("x"))


@node
class PVariant(Node):
    path: list[str]                        # ["Some"], ["Ok"], ["Color", "Red"]
    args: Optional[list["Pattern"]] = None  # tuple variant payload patterns
    fields: Optional[list[tuple[str, "Pattern"]]] = None  # struct variant payload patterns


@node
class PTyped(Node):
    """`n: int` in a match arm: matches a value of that type and binds it (`_: int` binds nothing)."""
    name: Optional[str]
    type: str                              # canonical type text (see ref/types.py)


Pattern = Union[PWild, PLit, PBind, PArray, PObject, PVariant, PTyped]


# ---------------------------------------------------------------- expressions

@node
class Literal(Node):
    value: Any            # int, float, str, bool, None


@node
class UnitLit(Node):
    pass


@node
class FPart(Node):
    expr: "Expr"
    spec: Optional[str] = None   # ".2f" or "fixed(2)"


@node
class FString(Node):
    parts: list[Union[str, FPart]]


@node
class Name(Node):
    name: str


@node
class Path(Node):
    parts: list[str]       # Color::Red -> ["Color", "Red"]


@node
class Spread(Node):
    expr: "Expr"


@node
class ArrayLit(Node):
    items: list["Expr"]    # may contain Spread


@node
class ObjectLit(Node):
    entries: list[Union[tuple[str, "Expr"], Spread]]


@node
class StructLit(Node):
    path: list[str]        # ["Point"] or ["Shape", "Rect"]
    fields: list[tuple[str, "Expr"]]


@node
class Unary(Node):
    op: str                # "-", "!" or "~"
    operand: "Expr"


@node
class Binary(Node):
    op: str                # + - * / % ** == != < <= > >= && || ?? !! & | ^ << >>
    left: "Expr"
    right: "Expr"


@node
class Fuzzy(Node):
    """`a ~= b`, `a ~< b`, `a ~> b`, optionally `within 0.5` or `within 5%`."""
    op: str                # "~=", "~<" or "~>"
    left: "Expr"
    right: "Expr"
    tolerance: Optional[Union[int, float]] = None   # None: the default tolerance
    percent: bool = False  # the tolerance is a percentage (`within 5%`)


@node
class As(Node):
    """`e as T` converts (or fails); `e as T?` converts to `Ok(v)` or `Err(message)`."""
    expr: "Expr"
    type: str              # canonical type text
    fallible: bool = False


@node
class DurationLit(Node):
    """`5s`, `1h30m`: the amounts and units as written."""
    parts: list[tuple[Union[int, float], str]]


@node
class Pipe(Node):
    left: "Expr"
    right: "Expr"


@node
class Ternary(Node):
    cond: "Expr"
    then: "Expr"
    other: "Expr"


@node
class Assign(Node):
    target: "Expr"         # Name, Member or Index
    op: str                # "=", "+=", ...
    value: "Expr"


@node
class RefArg(Node):
    name: str              # `&x` / `&mut x` in a call


@node
class Call(Node):
    callee: "Expr"
    args: list["Expr"]


@node
class Member(Node):
    obj: "Expr"
    name: str
    optional: bool = False  # `o?.f`


@node
class Index(Node):
    obj: "Expr"
    index: "Expr"


@node
class Try(Node):
    expr: "Expr"


@node
class Param(Node):
    pattern: Pattern
    type: Optional[str] = None
    default: Optional["Expr"] = None
    by_ref: bool = False


@node
class Lambda(Node):
    params: list[Param]
    body: "Expr"


@node
class FnExpr(Node):
    """An anonymous function `fn(x) -> T { … }` (or `function(x) { … }`)."""
    params: list[Param]
    body: "Block"
    ret_type: Optional[str] = None


@node
class Block(Node):
    stmts: list["Stmt"]


@node
class If(Node):
    cond: "Expr"
    then: Block
    other: Optional[Union[Block, "If"]] = None


@node
class MatchArm(Node):
    pattern: Pattern
    guard: Optional["Expr"]
    body: "Expr"


@node
class Match(Node):
    subject: "Expr"
    arms: list[MatchArm]


@node
class While(Node):
    cond: "Expr"
    body: Block


@node
class For(Node):
    pattern: Pattern
    iterable: "Expr"
    body: Block


@node
class Loop(Node):
    body: Block


@node
class RangeExpr(Node):
    start: "Expr"
    end: "Expr"
    inclusive: bool = False


@node
class CompFor(Node):
    pattern: Pattern
    iterable: "Expr"


@node
class CompIf(Node):
    cond: "Expr"


@node
class Comprehension(Node):
    expr: "Expr"
    clauses: list[Union[CompFor, CompIf]]


@node
class Await(Node):
    expr: "Expr"
    annotations: list["AnnotationUse"] = field(default_factory=list)


Expr = Any  # any expression node above


# ---------------------------------------------------------------- statements

@node
class ExprStmt(Node):
    expr: Expr
    semi: bool = False     # a block's value is its last expression statement without `;`


@node
class Let(Node):
    pattern: Pattern
    value: Optional[Expr]
    kind: str = "let"      # "let", "var" or "const"
    mutable: bool = False
    type: Optional[str] = None


@node
class Return(Node):
    value: Optional[Expr] = None


@node
class Break(Node):
    value: Optional[Expr] = None


@node
class Continue(Node):
    pass


@node
class AnnotationUse(Node):
    name: str
    args: list[Expr] = field(default_factory=list)


@node
class TypeParam(Node):
    """A generic parameter `T`, `T: Show + Eq`, `T = int` (a `where` clause adds bounds)."""
    name: str
    bounds: list[str] = field(default_factory=list)    # trait names
    default: Optional[str] = None                      # canonical type text


@node
class FnDecl(Node):
    name: str
    params: list[Param]
    body: Block
    ret_type: Optional[str] = None
    is_async: bool = False
    annotations: list[AnnotationUse] = field(default_factory=list)
    type_params: list[TypeParam] = field(default_factory=list)


@node
class Variant(Node):
    name: str
    kind: str = "unit"                   # "unit", "tuple" or "struct"
    types: list[str] = field(default_factory=list)   # tuple payload types
    fields: list[str] = field(default_factory=list)  # struct payload field names
    value: Any = None                    # `Sell = "sell"`: an int, float or str (unit variants)


@node
class EnumDecl(Node):
    name: str
    variants: list[Variant]
    type_params: list[TypeParam] = field(default_factory=list)


@node
class FieldDecl(Node):
    name: str
    type: Optional[str] = None
    default: Optional[Expr] = None


@node
class ComptimeField(Node):
    """`comptime name: T = value` in a type: one value for the type, read as `Type.name`."""
    name: str
    type: Optional[str] = None
    default: Optional[Expr] = None


@node
class TypeDecl(Node):
    name: str
    fields: list[Union[FieldDecl, ComptimeField]]
    type_params: list[TypeParam] = field(default_factory=list)


@node
class TypeAlias(Node):
    """`type Name = T` (spec/types.md, type aliases): another name for the type T (canonical
    text), at the top level; the resolver reads every annotation through it."""
    name: str
    target: str


@node
class ExtendDecl(Node):
    type_name: str
    methods: list[FnDecl]


@node
class TraitMethodSig(Node):
    """A method a trait requires: `area(self): number`."""
    name: str
    params: list[Param]
    ret_type: Optional[str] = None


@node
class TraitDecl(Node):
    name: str
    type_params: list[TypeParam]
    members: list[Union[TraitMethodSig, FnDecl]]   # FnDecl: a default method


@node
class ImplDecl(Node):
    """`impl Trait for Type { methods }` (`impl Trait for Type as Name { … }` names the impl)."""
    trait: str             # canonical type text of the trait: "Show", "Into<int>"
    target: str            # canonical type text of the type: "Point", "int", "Box<T>"
    methods: list[FnDecl]
    name: Optional[str] = None


@node
class AnnotationDecl(Node):
    name: str
    params: list[Param]
    targets: list[str]
    before: Optional[FnDecl] = None
    after: Optional[FnDecl] = None
    # The standard module it was spliced from (`std::core::remote`; ref/modules.py), None when
    # the program declares it: a module's hooks see the builtins, not the program's names.
    module: Optional[str] = field(default=None, compare=False, repr=False)


@node
class Import(Node):
    path: list[str]
    names: list[str] = field(default_factory=list)


Stmt = Any


@node
class Program(Node):
    body: list[Stmt]


# ---------------------------------------------------------------- walking the tree

def iter_child_nodes(node: Node) -> Iterator[Node]:
    """The direct children of `node`, in field order: the nodes held by its fields, including
    those inside lists and tuples (`ObjectLit` entries, `PObject` fields, …)."""
    return iter(child_nodes(node))


# The fields of each node class that may hold nodes, filled on first use (every walk of every
# tree asks for every node, and `dataclasses.fields` costs more than the rest of a visit).
# Fields declared as plain data (positions, names, operators, flags) are left out.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_DATA_FIELD_TYPES = frozenset({"int", "str", "bool", "Optional[str]", "list[str]",
                               "Optional[Union[int, float]]",
                               "list[tuple[Union[int, float], str]]"})


def child_nodes(node: Node) -> list[Node]:
    """`iter_child_nodes(node)` as a list."""
    cls = type(node)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls)
                                          if f.type not in _DATA_FIELD_TYPES)
    out: list[Node] = []
    for name in names:
        v = getattr(node, name)
        if isinstance(v, Node):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            _nodes_in(v, out)
    return out


def _nodes_in(seq: Union[list, tuple], out: list[Node]) -> None:
    for x in seq:
        if isinstance(x, Node):
            out.append(x)
        elif isinstance(x, (list, tuple)):
            _nodes_in(x, out)


def walk(node: Node) -> Iterator[Node]:
    """`node` and all its descendants, parents before children (no recursion, so it works on
    any depth of nesting)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        children = child_nodes(n)
        children.reverse()
        stack.extend(children)
