"""Operand kinds and constant shapes: what each operand of an instruction may hold.

The opcode record (vm/opcodes.py) gives every opcode a kind for its `a` and its `b` operand. A kind
knows three things, so that nothing else has to: how the verifier checks a value of that kind
(`check`), how the disassembler shows it (`show`), and whether it is a jump target (`TARGET`,
which the verifier, the disassembler and the threader's leader analysis all look for).

Structured operands live in the blob's constant table; their kind is `Const(shape)`, and the
shape is a small declarative description of the constant (`Tuple(STR, STR)`, `ListOf(FLAG01)`,
the pattern descriptor grammar `PATTERN`, …) that checks a decoded value completely: a stored
blob is untrusted input, and the threader trusts every operand the verifier let through.

A check sees the instruction's *site* (`Site`): the blob's register count, constant table,
children, code length and snapshot sites, and the instruction's own pc and operands, since some
constants are sized by the other operand (a struct literal's field names by its value count).

Registers also have *kinds* (`CELL`, the two registers of a for loop `ITER`/`INDEX`, a
comprehension's `LIST`, plain values), which the verifier tracks along every path: a register
operand says what kind it needs or makes (`Slot(needs=CELL)`, `Slot(sets=CELL)`), and a
constant's shape says which registers it binds or captures (`slot_uses`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, Protocol

from shapelang.runtime import types as Ty
from shapelang.runtime.errors import KINDS as ERROR_KINDS

MAX_OPERAND = 2 ** 31   # every operand is a non-negative int below this

# Kinds of register and stack values, as the verifier's flow analysis sees them. STRING and LIST
# are plain values known to be a string or a fresh list; TOP is "could be anything" (paths
# disagree).
VALUE, STRING, LIST, CELL = "value", "string", "list", "cell"
ITER, INDEX, TOP = "iter", "index", "?"
_VALUES = (VALUE, STRING, LIST)
PLAIN_KINDS = _VALUES       # kinds an instruction may push whatever its operands


def join(k1: str, k2: str) -> str:
    """The kind of a register or stack entry where two paths with kinds k1 and k2 meet."""
    if k1 == k2:
        return k1
    if k1 in _VALUES and k2 in _VALUES:
        return VALUE
    return TOP


class Site(Protocol):
    """What an operand check may look at (a blob being verified, or code being assembled)."""
    nlocals: int
    consts: list
    children: list
    code_len: int
    snapshots: list
    pc: int
    a: int
    b: int
    ids: int          # how many hex digits of a blob id the disassembler shows


def _short(v: Any, limit: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 1] + "…"


def slot_name(site: Site, s: int) -> str:
    names = getattr(site, "local_names", None)
    return names[s] if names is not None and 0 <= s < len(names) else "?"


# ---------------------------------------------------------------- constant shapes

class Shape:
    """The form of one constant (or part of one). `ok` never raises on any decoded value."""

    def ok(self, v: Any, site: Site) -> bool:
        raise NotImplementedError

    def show(self, v: Any, site: Site) -> str:
        return _short(v)

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        """(register, kind) pairs of a checked value: a register it binds (kind VALUE: it
        writes a value) or one that must hold a cell (CELL)."""
        return iter(())


class _Type(Shape):
    def __init__(self, *types: type, allow_none: bool = False) -> None:
        self.types = types
        self.allow_none = allow_none

    def ok(self, v: Any, site: Site) -> bool:
        return type(v) in self.types or (self.allow_none and v is None)


STR = _Type(str)
OPT_STR = _Type(str, allow_none=True)
INT = _Type(int)
SCALAR = _Type(int, float, str, bool, allow_none=True)   # a literal value
OPT_NUMBER = _Type(int, float, allow_none=True)


class OneOf(Shape):
    """One of a few literal values, of exactly their types (0 and 1 are not False and True)."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def ok(self, v: Any, site: Site) -> bool:
        return any(type(v) is type(x) and v == x for x in self.values)


FLAG01 = OneOf(0, 1)
ERROR_KIND = OneOf(*sorted(ERROR_KINDS))


class IntBelow(Shape):
    """An int with lo <= v < limit(site): a register number, an argument position, …"""

    def __init__(self, limit: Callable[[Site], int], lo: int = 0,
                 show: Optional[Callable[[int, Site], str]] = None,
                 needs: Optional[str] = None) -> None:
        self.limit = limit
        self.lo = lo
        self._show = show
        self.needs = needs        # a register that must hold this kind

    def ok(self, v: Any, site: Site) -> bool:
        return type(v) is int and self.lo <= v < self.limit(site)

    def show(self, v: Any, site: Site) -> str:
        return self._show(v, site) if self._show else repr(v)

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        return iter(((v, self.needs),) if self.needs else ())


def _show_slot(v: int, site: Site) -> str:
    return f"{v} ({slot_name(site, v)})"


SLOT_REF = IntBelow(lambda s: s.nlocals, show=_show_slot)
CELL_REF = IntBelow(lambda s: s.nlocals, show=_show_slot, needs=CELL)   # a captured cell


class Prefixed(Shape):
    """A string that starts with a prefix (the prelude's internal functions start with `__`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def ok(self, v: Any, site: Site) -> bool:
        return type(v) is str and v.startswith(self.prefix)


class Member(Shape):
    """A string from a set known only at run time (the names of the machine's builtins)."""

    def __init__(self, names: Callable[[], Any]) -> None:
        self.names = names

    def ok(self, v: Any, site: Site) -> bool:
        return type(v) is str and v in self.names()


class ListOf(Shape):
    """A list of items of one shape; `length(site)`, when given, fixes its length."""

    def __init__(self, item: Shape, length: Optional[Callable[[Site], int]] = None,
                 min_len: int = 0, max_len: Optional[int] = None, each: bool = False) -> None:
        self.item = item
        self.length = length
        self.min_len = min_len
        self.max_len = max_len
        self.each = each          # show item by item (registers by name)

    def ok(self, v: Any, site: Site) -> bool:
        if type(v) is not list or len(v) < self.min_len:
            return False
        if self.max_len is not None and len(v) > self.max_len:
            return False
        if self.length is not None and len(v) != self.length(site):
            return False
        item = self.item
        return all(item.ok(x, site) for x in v)

    def show(self, v: Any, site: Site) -> str:
        if not self.each:
            return _short(v)
        return "[" + ", ".join(self.item.show(x, site) for x in v) + "]"

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        for x in v:
            yield from self.item.slot_uses(x)


class Tuple(Shape):
    """A list of fixed length whose items have the given shapes; `form` shows it ({0}, {1}, …)."""

    def __init__(self, *items: Shape, form: Optional[str] = None) -> None:
        self.items = items
        self.form = form

    def ok(self, v: Any, site: Site) -> bool:
        return (type(v) is list and len(v) == len(self.items)
                and all(s.ok(x, site) for s, x in zip(self.items, v)))

    def show(self, v: Any, site: Site) -> str:
        if self.form is None:
            return _short(v)
        return self.form.format(*(s.show(x, site) for s, x in zip(self.items, v)))

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        for s, x in zip(self.items, v):
            yield from s.slot_uses(x)


class Tagged(Shape):
    """A list whose first item is a tag string that selects the shape of the rest."""

    def __init__(self, cases: Callable[[], dict[str, tuple[Shape, ...]]],
                 uses: Optional[Callable[[list], Iterator[tuple[int, str]]]] = None) -> None:
        self._cases = cases      # a function, so that a shape may refer to itself
        self._table: Optional[dict[str, tuple[Shape, ...]]] = None
        self._uses = uses        # the register uses of a value, when its items do not say

    def cases(self) -> dict[str, tuple[Shape, ...]]:
        if self._table is None:
            self._table = self._cases()
        return self._table

    def ok(self, v: Any, site: Site) -> bool:
        if type(v) is not list or not v or type(v[0]) is not str:
            return False
        rest = self.cases().get(v[0])
        return (rest is not None and len(v) == len(rest) + 1
                and all(s.ok(x, site) for s, x in zip(rest, v[1:])))

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        if self._uses is not None:
            yield from self._uses(v)
        for s, x in zip(self.cases()[v[0]], v[1:]):
            yield from s.slot_uses(x)


class Nullable(Shape):
    """None, or a value of the given shape."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def ok(self, v: Any, site: Site) -> bool:
        return v is None or self.shape.ok(v, site)

    def slot_uses(self, v: Any) -> Iterator[tuple[int, str]]:
        return iter(()) if v is None else self.shape.slot_uses(v)


class Described(Shape):
    """A constant whose grammar is defined where it is used: `ok` is that module's own check."""

    def __init__(self, ok: Callable[[Any], bool], show: Callable[[Any], str]) -> None:
        self._ok = ok
        self._show = show

    def ok(self, v: Any, site: Site) -> bool:
        return self._ok(v)

    def show(self, v: Any, site: Site) -> str:
        return self._show(v)


# Declared types (runtime/types.py): a slot descriptor [label, text, stype], an `as` target
# [text, stype], a bare stype (typed patterns).
SLOT_DESC = Described(Ty.is_slot, lambda v: f"{v[1]} ({v[0]})")
OPT_SLOT = Nullable(SLOT_DESC)
AS_TARGET = Described(Ty.is_target, lambda v: v[0])
STYPE = Described(Ty.is_stype, _short)


# Pattern descriptors (the format is described in runtime/patterns.py, which builds the matchers).
# ["b", slot, cell]: a binding writes a value into the register, or into the cell it holds.


def _bind_uses(v: list) -> Iterator[tuple[int, str]]:
    if v[0] == "b":
        yield (v[1], CELL if v[2] else VALUE)


BIND = Tagged(lambda: {"b": (SLOT_REF, FLAG01)}, uses=_bind_uses)


def _pattern_cases() -> dict[str, tuple[Shape, ...]]:
    fields = ListOf(Tuple(STR, PATTERN))
    return {
        "_": (),
        "b": (SLOT_REF, FLAG01),
        "l": (SCALAR,),
        "a": (ListOf(PATTERN), FLAG01, Nullable(BIND)),
        "o": (fields,),
        "some": (PATTERN,), "ok": (PATTERN,), "err": (PATTERN,),
        "s": (STR, fields),
        "v": (STR, STR, Nullable(ListOf(PATTERN)), Nullable(fields)),
        "x": (ERROR_KIND, STR),
        "t": (STYPE, PATTERN),
    }


PATTERN = Tagged(_pattern_cases, uses=_bind_uses)


# ---------------------------------------------------------------- operand kinds

class Kind:
    """How one operand (`a` or `b`) of an opcode is read."""
    name = "?"

    def check(self, v: int, site: Site) -> bool:
        raise NotImplementedError

    def show(self, v: int, site: Site) -> str:
        return repr(v)

    def __repr__(self) -> str:
        return self.name


class _None(Kind):
    name = "none"

    def check(self, v: int, site: Site) -> bool:
        return v == 0

    def show(self, v: int, site: Site) -> str:
        return ""


POPPED = "popped"   # Slot(sets=POPPED): the register takes the kind of the value popped into it


class Slot(Kind):
    """A register; `width` consecutive registers from it (a for loop keeps two: ITER, INDEX).
    `needs`: the kind the register must hold; `sets`: the kind the instruction leaves in it."""

    def __init__(self, width: int = 1, needs: Optional[str] = None,
                 sets: Optional[str] = None) -> None:
        self.width = width
        self.needs = needs
        self.sets = sets
        self.name = "slot" if width == 1 else f"slot×{width}"

    def check(self, v: int, site: Site) -> bool:
        return v + self.width <= site.nlocals

    def show(self, v: int, site: Site) -> str:
        names = ", ".join(slot_name(site, v + i) for i in range(self.width))
        return f"{v} ({names})"


class _Target(Kind):
    name = "target"

    def check(self, v: int, site: Site) -> bool:
        return v < site.code_len

    def show(self, v: int, site: Site) -> str:
        return f"to {v}"


class Count(Kind):
    """How many values the instruction takes from the stack (or how many it drops)."""

    def __init__(self, noun: str = "", min: int = 0) -> None:
        self.noun = noun
        self.min = min
        self.name = "count" if not min else f"count≥{min}"

    def check(self, v: int, site: Site) -> bool:
        return v >= self.min

    def show(self, v: int, site: Site) -> str:
        return f"{v} {self.noun}" if self.noun else str(v)


class Flag(Kind):
    """0 or 1, shown as the word for its meaning."""
    name = "flag"

    def __init__(self, off: str, on: str) -> None:
        self.words = (off, on)

    def check(self, v: int, site: Site) -> bool:
        return v in (0, 1)

    def show(self, v: int, site: Site) -> str:
        return self.words[v] if v in (0, 1) else repr(v)


class Index(Kind):
    """An index into a table of the instruction set or of the blob (operators, children)."""

    def __init__(self, name: str, size: Callable[[Site], int],
                 show: Callable[[int, Site], str]) -> None:
        self.name = name
        self.size = size
        self._show = show

    def check(self, v: int, site: Site) -> bool:
        return v < self.size(site)

    def show(self, v: int, site: Site) -> str:
        return f"{v} ({self._show(v, site)})" if self.check(v, site) else repr(v)


class _Ordinal(Kind):
    name = "ordinal"

    def check(self, v: int, site: Site) -> bool:
        return [site.pc, v] in site.snapshots

    def show(self, v: int, site: Site) -> str:
        return f"#{v}"


class Const(Kind):
    """An index into the constant table, whose entry has the given shape. A `bare` constant
    (a name) is shown as its value alone."""

    def __init__(self, shape: Shape, bare: bool = False) -> None:
        self.shape = shape
        self.bare = bare
        self.name = "const"

    def check(self, v: int, site: Site) -> bool:
        return v < len(site.consts) and self.shape.ok(site.consts[v], site)

    def show(self, v: int, site: Site) -> str:
        if v >= len(site.consts):
            return repr(v)
        text = self.shape.show(site.consts[v], site)
        return text if self.bare else f"{v} ({text})"


NONE = _None()
SLOT = Slot()
TARGET = _Target()
ORDINAL = _Ordinal()
