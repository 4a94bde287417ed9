"""The blob verifier: what a function blob must satisfy before the threader may compile it.

Bytecode comes back from a snapshot store, which is untrusted input, and the threaded code
trusts its blob completely (register numbers, jump targets and constant indices are spliced into
generated Python). So `validate` checks every field of a blob, then every instruction against the
opcode record (vm/opcodes.py): each operand against its declared kind, structured constants
against their declared shapes (vm/operands.py), and finally the kinds of the registers and of
the operand stack along every path (`frame_kinds`), as a JVM-style verifier does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from shapelang.ref.deepstack import on_front_end_stack
from shapelang.vm import opcodes as O
from shapelang.vm import operands as K
from shapelang.vm.bounded import Bounded
from shapelang.vm.operands import MAX_OPERAND, NONE

if TYPE_CHECKING:
    from shapelang.vm.blob import Blob

KINDS = ("module", "function", "lambda", "method", "defaults", "annotation", "wrapper", "thunk")
MAX_CODE = 10_000_000
SHALLOW_CONST = 64      # constants nested deeper than this are checked on a deep stack


class BlobError(Exception):
    """Bytes that are not a valid function blob (corrupt, tampered, wrong version)."""


class BlobSite:
    """One instruction of a blob, as the operand kinds of the record see it (vm/operands.Site)."""

    def __init__(self, blob: "Blob", ids: int = 12) -> None:
        self.nlocals = blob.nlocals
        self.consts = blob.consts
        self.children = blob.children
        self.code_len = len(blob.code)
        self.snapshots = blob.snapshots
        self.local_names = blob.local_names
        self.ids = ids
        self.pc = self.a = self.b = 0

    def at(self, pc: int, a: int, b: int) -> "BlobSite":
        self.pc, self.a, self.b = pc, a, b
        return self


def _is_int(v: Any) -> bool:
    return type(v) is int


def _const_depth(v: Any) -> int:
    """How deeply a constant nests (0 for a scalar); BlobError unless it is plain data."""
    deepest = 0
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        t = type(x)
        if t is list:
            deepest = max(deepest, d + 1)
            stack.extend((y, d + 1) for y in x)
        elif not (x is None or t in (bool, int, float, str)):
            raise BlobError(f"bad constant of type {t.__name__}")
    return deepest


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise BlobError(f"invalid blob: {what}")


def validate(b: "Blob") -> None:
    """Check every field and operand, so the threader can trust the blob completely."""
    need = _need
    need(b.name is None or type(b.name) is str, "name")
    need(b.kind in KINDS, "kind")
    for f in ("params", "min_args", "nfree", "nlocals"):
        v = getattr(b, f)
        need(_is_int(v) and 0 <= v <= 1_000_000, f)
    for f in ("has_self", "is_async", "annotated"):
        need(type(getattr(b, f)) is bool, f)
    need(b.min_args <= b.params, "min_args")
    need(b.argc + b.nfree <= b.nlocals, "nlocals")
    for f in ("entries", "ref_params", "code", "consts", "lines", "children", "snapshots",
              "local_names", "cells"):
        need(type(getattr(b, f)) is list, f)
    n = len(b.code)
    need(0 < n <= MAX_CODE, "code length")
    need(len(b.entries) == b.params - b.min_args + 1, "entries")
    need(all(_is_int(e) and 0 <= e < n for e in b.entries), "entry pcs")
    need(all(_is_int(i) and 0 <= i < b.params for i in b.ref_params), "ref_params")
    need(len(b.local_names) == b.nlocals and all(type(s) is str for s in b.local_names),
         "local_names")
    need(all(_is_int(s) and 0 <= s < b.nlocals for s in b.cells), "cells")
    need(all(type(c) is str and len(c) == 64 for c in b.children), "children")
    depth = max((_const_depth(c) for c in b.consts), default=0)
    last = -1
    for run in b.lines:
        if not (type(run) is list and len(run) == 3 and type(run[0]) is int
                and type(run[1]) is int and type(run[2]) is int):
            raise BlobError("invalid blob: lines")
        need(last < run[0] < n, "line table order")
        last = run[0]
    need(type(b.inlined) is list, "inlined")
    open_ends: list[int] = []
    start = 0
    for r in b.inlined:
        need(type(r) is list and len(r) == 5 and _is_int(r[0]) and _is_int(r[1])
             and type(r[2]) is str and _is_int(r[3]) and _is_int(r[4]), "inlined")
        need(start <= r[0] < r[1] <= n and r[3] >= 0 and r[4] >= 0, "inlined range")
        start = r[0]
        while open_ends and open_ends[-1] <= r[0]:
            open_ends.pop()
        # Sorted by start, and each range inside the ones still open around it.
        need(not open_ends or r[1] <= open_ends[-1], "inlined ranges must nest")
        open_ends.append(r[1])
    for s in b.snapshots:
        need(type(s) is list and len(s) == 2 and all(_is_int(x) for x in s), "snapshots")
        need(0 <= s[0] < n and s[1] >= 0, "snapshot site")
    # The shape checks recurse into structured constants (patterns nest as deeply as the
    # source does, up to what msgpack decodes), so deep ones are checked on a deep stack.
    try:
        if depth > SHALLOW_CONST:
            on_front_end_stack(lambda: _check_code(b))
        else:
            _check_code(b)
    except RecursionError:
        raise BlobError("invalid blob: constant nested too deeply") from None
    need(all(b.code[s[0]][0] == O.SNAPSHOT for s in b.snapshots), "snapshot site")
    need(O.CLASS[b.code[-1][0]] == "U", "code must end in a transfer")
    _frame_kinds(b)         # never from the cache: this is where stored code gets verified


def check_program(blobs: dict[str, "Blob"], linked: Optional[set] = None) -> None:
    """What no single blob can show: every child a blob names is there, and every closure made
    of it captures as many cells as the child's code expects (its frame layout depends on it).
    Each blob must have passed `validate`. `linked`: ids (content hashes, as a store names
    blobs) whose closures were checked before in a program holding their children: their code
    is not scanned again (the children it names, and so their cell counts, are part of the
    content the id names); the ids checked now are added."""
    for bid, b in blobs.items():
        for child in b.children:
            if child not in blobs:
                raise BlobError(f"invalid program: blob {bid[:12]} names code that is missing")
        if linked is not None and bid in linked:
            continue
        for pc, (op, a, c) in enumerate(b.code):
            if op == O.MAKE_CLOSURE and len(b.consts[c]) != blobs[b.children[a]].nfree:
                raise BlobError(f"invalid program: MAKE_CLOSURE at {pc} of {bid[:12]} captures "
                                f"{len(b.consts[c])} cell(s) for code that takes "
                                f"{blobs[b.children[a]].nfree}")
        if linked is not None:
            linked.add(bid)


def _check_code(b: "Blob") -> None:
    nops = len(O.INFO)
    site = BlobSite(b)
    info = O.INFO
    kind = b.kind
    for pc, ins in enumerate(b.code):
        if type(ins) is not list or len(ins) != 3:
            raise BlobError(f"invalid blob: instruction {pc}")
        op, a, c = ins
        if type(op) is not int or type(a) is not int or type(c) is not int:
            raise BlobError(f"invalid blob: instruction {pc}")
        if not 0 <= op < nops:
            raise BlobError(f"invalid blob: opcode at {pc}")
        if not (0 <= a < MAX_OPERAND and 0 <= c < MAX_OPERAND):
            raise BlobError(f"invalid blob: operand at {pc}")
        i = info[op]
        if i.a is NONE and i.b is NONE:
            if a or c:
                check_operands(op, a, c, site.at(pc, a, c))
        else:
            check_operands(op, a, c, site.at(pc, a, c))
        if i.only is not None and kind not in i.only:
            raise BlobError(f"invalid blob: {i.name} at {pc} in a {kind} blob")


def check_operands(op: int, a: int, b: int, site: Any) -> None:
    """Check one instruction's operands against the kinds its opcode declares."""
    info = O.INFO[op]
    if not info.a.check(a, site):
        raise BlobError(f"invalid blob: operand a ({info.a.name}) of {info.name} at {site.pc}")
    if not info.b.check(b, site):
        raise BlobError(f"invalid blob: operand b ({info.b.name}) of {info.name} at {site.pc}")


# The kinds of the registers and of the operand stack before an instruction.
Kinds = tuple[tuple[str, ...], tuple[str, ...]]


def _entry_kinds(b: "Blob") -> tuple[str, ...]:
    """Register kinds when a call enters the blob: a by-reference parameter may arrive as a
    cell or as a value, captured cells follow the parameters, the rest is blank."""
    regs = [K.VALUE] * b.nlocals
    first = 1 if b.has_self else 0
    for i in b.ref_params:
        regs[first + i] = K.TOP
    for s in range(b.argc, b.argc + b.nfree):
        regs[s] = K.CELL
    return tuple(regs)


def _join(x: tuple[str, ...], y: tuple[str, ...]) -> tuple[str, ...]:
    return x if x == y else tuple(K.join(p, q) for p, q in zip(x, y))


def _may_use_slots(shape: K.Shape, seen: Optional[set] = None) -> bool:
    """Whether values of `shape` can bind or capture registers (see Shape.slot_uses)."""
    seen = set() if seen is None else seen
    if id(shape) in seen:
        return False
    seen.add(id(shape))
    if isinstance(shape, K.IntBelow):
        return shape.needs is not None
    if isinstance(shape, K.ListOf):
        return _may_use_slots(shape.item, seen)
    if isinstance(shape, K.Nullable):
        return _may_use_slots(shape.shape, seen)
    if isinstance(shape, K.Tuple):
        return any(_may_use_slots(x, seen) for x in shape.items)
    if isinstance(shape, K.Tagged):
        return shape._uses is not None or any(_may_use_slots(x, seen)
                                               for rest in shape.cases().values() for x in rest)
    return False


# Per opcode, what the flow analysis has to look at beyond the stack: register operands, and
# constant operands whose values bind or capture registers. Most opcodes have neither.
_SLOTS = [tuple((f, k) for f, k in ((1, i.a), (2, i.b)) if isinstance(k, K.Slot))
          for i in O.INFO]
_USES = [tuple((f, k.shape) for f, k in ((1, i.a), (2, i.b))
               if isinstance(k, K.Const) and _may_use_slots(k.shape)) for i in O.INFO]
_PLAIN = [not _SLOTS[n] and not _USES[n] and i.pop_needs is None and i.push in K.PLAIN_KINDS
          for n, i in enumerate(O.INFO)]


# frame_kinds of blobs whose id is taken, by id (the state check, the JIT and the verifier ask
# for the same blobs again and again; an id names its content, so the kinds follow from it).
_KINDS = Bounded()


def frame_kinds(b: "Blob") -> list[Optional[Kinds]]:
    """The kinds of every register and operand-stack entry before each instruction (None where
    unreachable), found by following every path from the entries, as a JVM-style verifier
    does. Raises BlobError when an instruction could pop an empty stack, two paths meet with
    different stack depths, or an instruction uses a register or a value of the wrong kind (a
    cell operation on a register that holds no cell, a for loop's registers that FOR_SETUP did
    not set, …): the threaded code trusts all of these, so stored code that breaks them is
    refused at load time. A stored frame at pc must match entry pc of the result.

    Computed once per blob id: a blob whose id is taken does not change any more (vm/blob.py).
    `validate` does not use these: stored code is always verified itself. The list is shared:
    callers only read it."""
    bid = b._id
    if bid is not None:
        kinds = _KINDS.get(bid)
        if kinds is not None and len(kinds) == len(b.code):
            return kinds
    kinds = _frame_kinds(b)
    if bid is not None:
        _KINDS.put(bid, kinds)
    return kinds


def _frame_kinds(b: "Blob") -> list[Optional[Kinds]]:
    n = len(b.code)
    state: list[Optional[Kinds]] = [None] * n
    entry = (_entry_kinds(b), ())
    work: list[tuple[int, Kinds]] = [(e, entry) for e in b.entries]
    code = b.code
    consts = b.consts
    info = O.INFO
    plain = _PLAIN
    targets_of = O.TARGETS
    while work:
        pc, (regs, stack) = work.pop()
        while True:
            if not 0 <= pc < n:
                raise BlobError("invalid blob: code runs past its end")
            old = state[pc]
            if old is not None:
                if len(old[1]) != len(stack):
                    raise BlobError(f"invalid blob: stack depth {len(old[1])} or {len(stack)} "
                                    f"at {pc}")
                regs, stack = _join(old[0], regs), _join(old[1], stack)
                if regs == old[0] and stack == old[1]:
                    break
            state[pc] = (regs, stack)
            op, a, c = code[pc]
            i = info[op]
            pops, pushes = O.stack_effect(op, a, c, consts)
            if len(stack) < pops:
                raise BlobError(f"invalid blob: stack underflow at {pc}")
            if plain[op]:
                jump_regs = regs
                jpops, jpushes = i.jump
                jump_stack = stack[:len(stack) - jpops] + (K.VALUE,) * jpushes
                stack = stack[:len(stack) - pops] + (i.push,) * pushes
            else:
                regs, jump_regs, stack, jump_stack = _step(i, op, a, c, pc, regs, stack, pops,
                                                           pushes, consts)
            where = targets_of[op]
            if where:
                for f in where:
                    work.append((a if f == 1 else c, (jump_regs, jump_stack)))
            if i.cls == "U":
                break
            pc += 1
    return state


def _need_kind(i: O.OpInfo, pc: int, have: str, want: str, what: str) -> None:
    if have != want:
        raise BlobError(f"invalid blob: {i.name} at {pc} needs {what} holding a {want}, "
                        f"not a {have}")


def _step(i: O.OpInfo, op: int, a: int, c: int, pc: int, regs: tuple[str, ...],
          stack: tuple[str, ...], pops: int, pushes: int, consts: list) -> tuple:
    """One instruction on the kinds: (registers, registers on the jump, stack, stack on the
    jump)."""
    popped = stack[len(stack) - pops:]
    if i.pop_needs is not None:
        for k in popped:
            _need_kind(i, pc, k, i.pop_needs, "operands")
    new = None                       # registers, copied on the first change
    for field, kind in _SLOTS[op]:
        v = a if field == 1 else c
        if kind.needs is not None:
            _need_kind(i, pc, regs[v], kind.needs, f"register {v}")
            if kind.width == 2:
                _need_kind(i, pc, regs[v + 1], K.INDEX, f"register {v + 1}")
        if kind.sets is not None:
            new = list(regs) if new is None else new
            if kind.sets == K.POPPED:
                new[v] = popped[-1]
            else:
                new[v] = kind.sets
                if kind.width == 2:
                    new[v + 1] = K.INDEX
    for field, shape in _USES[op]:
        for s, k in shape.slot_uses(consts[a if field == 1 else c]):
            if k == K.CELL:
                _need_kind(i, pc, regs[s], K.CELL, f"register {s}")
            elif regs[s] != k:
                new = list(regs) if new is None else new
                new[s] = k
    after = tuple(new) if new is not None else regs
    # A jump may leave after some bindings of a pattern were made (it failed later on).
    jump_regs = after if not O.TARGETS[op] or after is regs else _join(regs, after)
    base = stack[:len(stack) - pops]
    push = i.push
    if push == "copy":
        pushed = popped + popped
    elif push == "register":
        pushed = (regs[a],)
    elif push == "constant":
        pushed = (K.STRING if type(consts[a]) is str else K.VALUE,)
    else:
        pushed = (push,) * pushes
    jpops, jpushes = i.jump
    jump_stack = stack[:len(stack) - jpops] + (K.VALUE,) * jpushes
    return after, jump_regs, base + pushed, jump_stack


def stack_depths(b: "Blob") -> list[Optional[int]]:
    """The operand-stack depth before each instruction (None where unreachable); raises
    BlobError for code that `frame_kinds` refuses."""
    return [None if k is None else len(k[1]) for k in frame_kinds(b)]
