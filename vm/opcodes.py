"""The VM instruction set: one record per opcode, read by everything that handles bytecode.

An instruction is a triple `(op, a, b)` of ints. Structured operands (pattern descriptors, key
lists, capture lists) live in the blob's constant table and are referenced by index, so the
instruction stream itself stays a flat list of integers.

Each opcode is declared once, below, with
- its number (stored blobs hold these numbers: an opcode's number never changes, new opcodes are
  appended at the end);
- its class, which the threader (vm/threader.py) relies on:
  `V` straight-line: runs inline inside a dispatch unit (may raise, may mutate the heap, never
  switches frames);
  `J` conditional exit: may leave the unit by jumping (or, for TRY, by returning), otherwise falls
  through inside the same unit;
  `U` unconditional transfer: JUMP, RETURN, HALT, RAISE … ends the unit;
  `C` call-like: may push or pop a frame (or take a snapshot), so it ends the unit and the next
  instruction starts a new one (a return address is always a unit boundary);
- the kinds of its operands `a` and `b` (vm/operands.py: register, jump target, count, flag,
  constant of a given shape, …);
- its stack effect: how many values it pops and pushes on the fall-through path, and, for an
  instruction with a jump target, on the jump (`jump`); the kind of what it pushes (`push`:
  a string, a fresh list, the kind of register a, …) and what it needs popped (`pop_needs`);
- the kinds of blob it may appear in (`only`), where the others could not run it;
- its disassembly form (`form`, a format string over the shown operands `{a}` and `{b}`; by
  default the shown operands joined by ", ").

The compiler's assembler (vm/compiler/assembler.py), the blob verifier (vm/verify.py), the
disassembler (vm/disasm.py) and the threader's leader analysis read this record; the threader's
per-opcode templates and the compiler's lowering are the only other places an opcode appears.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

from shapelang.vm.objects import BUILTIN_NAMES
from shapelang.vm.operands import (
    AS_TARGET, CELL, CELL_REF, ERROR_KIND, FLAG01, INT, ITER, LIST, NONE, OPT_NUMBER, OPT_SLOT,
    OPT_STR, ORDINAL, PATTERN, POPPED, SCALAR, SLOT, SLOT_DESC, SLOT_REF, STR, STRING, TARGET,
    VALUE, Const, Count, Flag,
    Index, IntBelow, Kind, ListOf, Member, OneOf, Prefixed, Slot, Tuple,
)

# Operators of BINARY, in operand order; `a` indexes this list. Stored blobs hold these indices,
# so, like opcode numbers, an operator's index never changes: new operators are appended.
BINOPS: list[str] = ["+", "-", "*", "/", "%", "**", "==", "!=", "<", "<=", ">", ">=",
                     "&", "|", "^", "<<", ">>"]
BINOP_INDEX: dict[str, int] = {op: i for i, op in enumerate(BINOPS)}
# Operators of FUZZY, in operand order (append-only, like BINOPS).
FUZZY_OPS: list[str] = ["~=", "~<", "~>"]


# ---------------------------------------------------------------- stack counts

class Term:
    """A stack count: `k`, plus operand a or b, or the length of the list constant at a."""
    __slots__ = ("k", "var")

    def __init__(self, k: int = 0, var: Optional[str] = None) -> None:
        self.k = k
        self.var = var

    def __add__(self, k: int) -> "Term":
        return Term(self.k + k, self.var)

    def value(self, a: int, b: int, consts: list) -> int:
        v = self.var
        if v is None:
            return self.k
        if v == "a":
            return self.k + a
        if v == "b":
            return self.k + b
        return self.k + len(consts[a])

    def __repr__(self) -> str:
        name = {"a": "a", "b": "b", "len_a": "len(K[a])"}.get(self.var or "", "")
        if not name:
            return str(self.k)
        return f"{name}+{self.k}" if self.k else name


A = Term(0, "a")
B = Term(0, "b")
LEN_A = Term(0, "len_a")
Count_ = Union[int, Term]


def _term(x: Count_) -> Term:
    return x if isinstance(x, Term) else Term(x)


# ---------------------------------------------------------------- the record

@dataclass(frozen=True)
class OpInfo:
    number: int
    name: str
    cls: str                     # V, J, U or C (see the module docstring)
    a: Kind
    b: Kind
    pops: Term
    pushes: Term
    jump: tuple[int, int]        # (pops, pushes) when the jump is taken
    push: str                    # kind of the pushed values (operands.VALUE, STRING, LIST) or
    #                              "register" (register a's), "constant" (STRING for a string
    #                              constant), "copy" (DUP, DUP2: the kinds they copy)
    pop_needs: Optional[str]     # the kind every popped value must have
    only: Optional[tuple[str, ...]]   # the blob kinds it may appear in (None: all)
    form: Optional[str]
    doc: str

    @property
    def targets(self) -> tuple[int, ...]:
        """Operand positions (1 = a, 2 = b) that hold a jump target."""
        return tuple(i for i, k in ((1, self.a), (2, self.b)) if k is TARGET)


INFO: list[OpInfo] = []


def _op(number: int, name: str, cls: str, a: Kind = NONE, b: Kind = NONE,
        effect: tuple[Count_, Count_] = (0, 0), jump: tuple[int, int] = (0, 0),
        push: str = VALUE, pop_needs: Optional[str] = None,
        only: Optional[tuple[str, ...]] = None, form: Optional[str] = None,
        doc: str = "") -> None:
    if number != len(INFO):
        raise AssertionError(f"opcode {name} is declared as {number}, expected {len(INFO)}")
    INFO.append(OpInfo(number, name, cls, a, b, _term(effect[0]), _term(effect[1]), jump, push,
                       pop_needs, only, form, doc))


BUILTIN = Const(Member(lambda: BUILTIN_NAMES), bare=True)   # a name the machine provides
NAME = Const(STR, bare=True)
PAIR = Tuple(STR, STR)                      # [enum, variant] or [type, method]
SLOTS = ListOf(OPT_SLOT)                    # declared payload types (None: no annotation)
KEEP = Flag("", "keep")
CELL_SLOT = Slot(needs=CELL)
NOT_MODULE = ("function", "lambda", "method", "defaults", "annotation", "wrapper", "thunk")
ARGC = Count("arg(s)")
VALUES = Count("value(s)")
CHILD = Index("child", lambda s: len(s.children), lambda v, s: s.children[v][:s.ids])
OPERATOR = Index("operator", lambda s: len(BINOPS), lambda v, s: BINOPS[v])
FUZZY_OPERATOR = Index("operator", lambda s: len(FUZZY_OPS), lambda v, s: FUZZY_OPS[v])
# [path, field names]: `Type { … }` or `Enum::Variant { … }`, one name per value.
STRUCT_LIT = Const(Tuple(ListOf(STR, min_len=1, max_len=2), ListOf(STR, length=lambda s: s.b)))

_op(0, "NOP", "V")
_op(1, "LOAD_CONST", "V", Const(SCALAR), effect=(0, 1), push="constant")
_op(2, "LOAD_UNIT", "V", effect=(0, 1))
_op(3, "LOAD_LOCAL", "V", SLOT, effect=(0, 1), push="register")
_op(4, "LOAD_CELL", "V", CELL_SLOT, effect=(0, 1), doc="a local variable that lives in a cell")
_op(5, "LOAD_FREE", "V", CELL_SLOT, effect=(0, 1),
    doc="a captured variable: NameError while uninitialised")
_op(6, "STORE_LOCAL", "V", Slot(sets=POPPED), effect=(1, 0))
_op(7, "STORE_CELL", "V", CELL_SLOT, effect=(1, 0))
_op(8, "STORE_FREE", "V", CELL_SLOT, effect=(1, 0))
_op(9, "MAKE_CELL", "V", Slot(sets=CELL), doc="fresh, uninitialised cell (scope entry)")
_op(10, "WRAP_CELL", "V", Slot(sets=CELL),
    doc="parameter prologue: box the argument unless it is a cell")
_op(11, "LOAD_BUILTIN", "V", BUILTIN, effect=(0, 1))
_op(12, "POP", "V", effect=(1, 0))
_op(13, "POP_N", "V", Count(), effect=(A, 0))
_op(14, "DUP", "V", effect=(1, 2), push="copy")
_op(15, "DUP2", "V", effect=(2, 4), push="copy")
_op(16, "BINARY", "V", OPERATOR, effect=(2, 1))
_op(17, "UNARY_NEG", "V", effect=(1, 1))
_op(18, "UNARY_NOT", "V", effect=(1, 1))
_op(19, "TO_BOOL", "V", effect=(1, 1))
_op(20, "MAKE_RANGE", "V", Flag("exclusive", "inclusive"), effect=(2, 1))
_op(21, "BUILD_LIST", "V", Count("item(s)"), effect=(A, 1), push=LIST)
_op(22, "BUILD_LIST_SPREAD", "V", Const(ListOf(FLAG01)), effect=(LEN_A, 1),
    doc="one flag per item: 1 = spread it")
_op(23, "BUILD_OBJECT", "V", Const(ListOf(OPT_STR)), effect=(LEN_A, 1),
    doc="one key per value; None = spread the value")
_op(24, "BUILD_STRING", "V", Count("part(s)", min=1), effect=(A, 1), push=STRING,
    pop_needs=STRING, doc="concatenate strings (string constants, FORMAT results)")
_op(25, "FORMAT", "V", effect=(1, 1), push=STRING)
_op(26, "FORMAT_SPEC", "V", Const(STR), effect=(1, 1), push=STRING)
_op(27, "GET_ATTR", "V", NAME, effect=(1, 1))
_op(28, "SET_ATTR", "V", NAME, KEEP, effect=(2, B), doc="object, value; keep: push the value")
_op(29, "GET_INDEX", "V", effect=(2, 1))
_op(30, "SET_INDEX", "V", NONE, KEEP, effect=(3, B), doc="object, index, value")
_op(31, "GET_VARIANT", "V", Const(PAIR), effect=(1, 1), doc="[variant, shown path]")
_op(32, "MAKE_VARIANT", "V", Const(PAIR), effect=(0, 1), doc="[enum, variant]: a unit variant")
_op(33, "BUILD_VARIANT", "V", Const(Tuple(STR, STR, SLOTS)), VALUES, effect=(B, 1),
    doc="[enum, variant, payload slots]: a tuple variant")
_op(34, "MAKE_ENUM_TYPE", "V",
    Const(Tuple(STR, ListOf(Tuple(STR, OneOf("unit", "tuple", "struct"), SLOTS,
                                  ListOf(STR))))),
    effect=(0, 1), doc="[name, [[variant, kind, payload slots, field names]…]]")
# [name, [[field, slot, 0 none / 1 constant / 2 thunk, constant default]…],
#  [[generic parameter, default type, the field of exactly that type]…]]
_op(35, "MAKE_STRUCT_TYPE", "V",
    Const(Tuple(STR, ListOf(Tuple(STR, OPT_SLOT, OneOf(0, 1, 2), SCALAR)),
                ListOf(Tuple(STR, OPT_STR, OPT_STR)))),
    Flag("", "with defaults thunk"), effect=(B, 1),
    doc="a struct type: [name, fields, generic parameters]")
_op(36, "STRUCT_LITERAL", "V", STRUCT_LIT, VALUES, effect=(B + 1, 1),
    doc="type, values: a literal whose type needs no defaults thunk")
# [struct|variant, type, variant, [[field, slot, value index or -1, default]…]]
_op(37, "BUILD_RECORD", "V",
    Const(Tuple(OneOf("struct", "variant"), STR, STR,
                ListOf(Tuple(STR, OPT_SLOT, IntBelow(lambda s: s.b, lo=-1), SCALAR)))),
    VALUES, effect=(B, 1), doc="a literal of a declared type, built with no run-time lookups")
_op(38, "BUILD_STRUCT", "C", STRUCT_LIT, VALUES, effect=(B + 1, 1),
    doc="type, values: may run the type's defaults thunk")
_op(39, "STRUCT_FINISH", "V", effect=(2, 1), only=("defaults",),
    doc="type, given fields (end of a defaults thunk)")
_op(40, "DEFINE_METHOD", "V", Const(PAIR), Flag("extend", "impl"), effect=(1, 0),
    doc="[type, method]: an extend method, or (b) one an impl gives the type")
_op(41, "MAKE_CLOSURE", "V", CHILD, Const(ListOf(CELL_REF, each=True), bare=True),
    effect=(0, 1), form="{a} capturing {b}", doc="b: the slots of the captured cells")
_op(42, "FOR_SETUP", "V", Slot(2, sets=ITER), effect=(1, 0),
    doc="iterable into the loop's two slots")
_op(43, "FOR_NEXT", "J", Slot(2, needs=ITER), TARGET, effect=(0, 1), form="{a}, exit {b}",
    doc="push the next item, or jump when done")
_op(44, "MATCH", "J", Const(Tuple(SLOT_REF, PATTERN, form="{0} against {1}"), bare=True),
    TARGET, form="{a}, else {b}", doc="[subject slot, pattern]: bind, or jump when no match")
_op(45, "DESTRUCTURE", "V", Const(PATTERN), effect=(1, 0))
_op(46, "MATCH_ERROR", "U", SLOT, doc="no arm matched the subject in slot a")
_op(47, "RAISE", "U", Const(Tuple(ERROR_KIND, STR)), doc="[kind, message]")
_op(48, "JUMP", "U", TARGET)
_op(49, "JUMP_IF_FALSE", "J", TARGET, effect=(1, 0), jump=(1, 0))
_op(50, "JUMP_IF_TRUE", "J", TARGET, effect=(1, 0), jump=(1, 0))
_op(51, "JUMP_IF_NOT_NONE", "J", TARGET, effect=(1, 0),
    doc="keep and jump unless None (for ??); else pop")
_op(52, "JUMP_IF_NONE", "J", TARGET, effect=(1, 1), doc="keep and jump if None (for ?.)")
_op(53, "JUMP_UNLESS_FAILURE", "J", TARGET, effect=(1, 1),
    doc="keep and jump unless Err/None (the older `!!`, which skipped its context; no longer "
        "emitted, kept for stored blobs)")
_op(54, "ATTACH_CONTEXT", "V", effect=(2, 1))
_op(55, "LIST_APPEND", "V", Slot(needs=LIST), effect=(1, 0), doc="append to the list in slot a")
_op(56, "CALL", "C", ARGC, effect=(A + 1, 1), doc="callee, arguments")
_op(57, "CALL_REF", "C", ARGC, Const(ListOf(IntBelow(lambda s: s.a)), bare=True),
    effect=(A + 1, 1), form="{a}, by reference {b}", doc="b: positions of `&x` arguments")
_op(58, "CALL_BUILTIN", "V", BUILTIN, ARGC, effect=(B, 1))
_op(59, "CALL_METHOD", "C", NAME, ARGC, effect=(B + 1, 1), doc="receiver, arguments")
_op(60, "CALL_VAR", "C", effect=(2, 1), doc="callee, argument list (spread calls)")
_op(61, "CALL_METHOD_VAR", "C", NAME, effect=(2, 1), doc="receiver, argument list")
_op(62, "CALL_BUILTIN_VAR", "V", BUILTIN, effect=(1, 1), doc="argument list")
_op(63, "LOAD_PRELUDE", "V", Const(Prefixed("__"), bare=True), effect=(0, 1),
    doc="a prelude function (annotation protocol)")
_op(64, "MAKE_ANNOTATED", "V", Const(OPT_STR), effect=(2, 1),
    doc="function, wrapper -> AnnotatedFunction")
_op(65, "SNAPSHOT", "C", ORDINAL, effect=(0, 1))
_op(66, "AWAIT", "V", effect=(1, 1))
_op(67, "TRY", "J", effect=(1, 1), only=NOT_MODULE, doc="postfix ?: unwrap Ok, return Err/None")
_op(68, "TRY_TOP", "V", effect=(1, 1), only=("module",), doc="postfix ? at top level")
_op(69, "RETURN", "U", effect=(1, 0), only=NOT_MODULE)
_op(70, "HALT", "U", effect=(1, 0), only=("module",))
_op(71, "SPREAD_COPY", "V", Flag("array", "object"), effect=(1, 1),
    doc="check and copy a spread value where it stands")
_op(72, "UNARY_INVERT", "V", effect=(1, 1), doc="bitwise `~`")
_op(73, "FUZZY", "V", FUZZY_OPERATOR, Const(Tuple(OPT_NUMBER, FLAG01)), effect=(2, 1),
    doc="`~=` `~<` `~>`; b: [tolerance (None: the default), percent]")
_op(74, "LOAD_DURATION", "V", Const(INT), effect=(0, 1), doc="a duration of K[a] milliseconds")
_op(75, "GET_COMPTIME", "V", NAME, Const(ListOf(Tuple(STR, SCALAR))), effect=(1, 1),
    doc="`x.name` where types declare `comptime name`: b lists [type, value] pairs")
_op(76, "CHECK_SLOT", "V", Const(SLOT_DESC), effect=(1, 1),
    doc="a value stored where a type is declared: checked, converted, wrapped (check_slot)")
_op(77, "CHECK_REF", "V", CELL_SLOT, effect=(1, 1),
    doc="a write through a `&` parameter: checked against the referenced variable's type")
_op(78, "MAKE_TYPED_CELL", "V", Slot(sets=CELL), Const(SLOT_DESC),
    doc="MAKE_CELL for a variable declared with a type that is passed by reference")
_op(79, "WRAP_TYPED_CELL", "V", Slot(sets=CELL), Const(SLOT_DESC),
    doc="WRAP_CELL for a parameter declared with a type that is passed by reference")
_op(80, "CONVERT", "C", Const(AS_TARGET), Flag("as", "as?"), effect=(1, 1),
    doc="`e as T` (or, with b, `e as T?`)")
_op(81, "IMPL", "V", Const(PAIR), doc="[type, trait]: the type implements the trait (a "
    "declaration the machine reads from the code; it does nothing when run)")
_op(82, "OPERATOR_TRAIT", "C", OPERATOR, Flag("unary", "binary"), effect=(Term(1, "b"), 1),
    doc="`x op y` (b) or `-x` in a program with impls of operator traits: the impl's method "
    "when x's type has one (runtime/traits.py), else BINARY / UNARY_NEG")

# ---------------------------------------------------------------- lookups derived from it

NAMES: list[str] = [i.name for i in INFO]
CLASS: list[str] = [i.cls for i in INFO]
OPS: dict[str, int] = {i.name: i.number for i in INFO}
TARGETS: list[tuple[int, ...]] = [i.targets for i in INFO]   # operand positions of jump targets

for _info in INFO:
    globals()[_info.name] = _info.number

if len(set(NAMES)) != len(NAMES):    # pragma: no cover - a typo in the table above
    raise AssertionError("duplicate opcode name")


def jump_targets(op: int, a: int, b: int) -> tuple[int, ...]:
    """The jump targets of one instruction (none for most)."""
    where = TARGETS[op]
    if not where:
        return ()
    return tuple(a if i == 1 else b for i in where)


def stack_effect(op: int, a: int, b: int, consts: list) -> tuple[int, int]:
    """(pops, pushes) of one instruction on the fall-through path."""
    info = INFO[op]
    return info.pops.value(a, b, consts), info.pushes.value(a, b, consts)


def operands_text(op: int, a: int, b: int, site: Any) -> str:
    """The operands of one instruction as the disassembler shows them."""
    info = INFO[op]
    sa, sb = info.a.show(a, site), info.b.show(b, site)
    if info.form is not None:
        return info.form.format(a=sa, b=sb)
    return ", ".join(s for s in (sa, sb) if s)

