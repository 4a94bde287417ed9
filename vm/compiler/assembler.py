"""The assembler: the instructions, constants, registers and line table of one blob being built.

It knows the instruction set only through the opcode record (vm/opcodes.py): the stack depth
follows the declared stack effects (so that `break`, `continue` and early returns know how many
values to drop, and jumps that meet agree on the depth), jump targets are placed where the
record says they are, and in check mode every operand is checked against its declared kind as
it is emitted and every finished blob goes through the verifier. It knows nothing about the AST
or the resolver: the lowering (lowering.py) drives it.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import msgpack

from shapelang.runtime.errors import program_too_deep
from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob
from shapelang.vm.operands import MAX_OPERAND, TARGET
from shapelang.vm.verify import BlobError, validate

# Check mode (the test suite turns it on): every instruction is checked against the opcode
# record as it is emitted, and every finished blob goes through the verifier.
CHECK_OPERANDS = os.environ.get("SHAPE_CHECK_ASSEMBLY") == "1"


class Label:
    """A jump target: placed once (`pc`), reached by jumps that agree on the stack depth."""
    __slots__ = ("pc", "depth", "refs")

    def __init__(self) -> None:
        self.pc: Optional[int] = None
        self.depth: Optional[int] = None
        self.refs: list[tuple[int, int]] = []   # (pc, operand index) to patch


def _const_key(v: Any) -> bytes:
    return msgpack.packb(v, use_bin_type=True)


class _Emitting:
    """The instruction being emitted, as the operand kinds see it (vm/operands.Site)."""
    ids = 12

    def __init__(self, asm: "Assembler", pc: int, a: int, b: int) -> None:
        self.nlocals = len(asm.local_names)
        self.consts = asm.consts
        self.children = asm.children
        self.code_len = pc + 1
        self.snapshots = asm.snapshots
        self.local_names = asm.local_names
        self.pc, self.a, self.b = pc, a, b


class Assembler:
    """Code being generated for one blob."""

    def __init__(self, kind: str, name: Optional[str], path: Optional[str],
                 pos: tuple[int, int]) -> None:
        self.kind = kind
        self.name = name
        self.path = path
        self.code: list[list[int]] = []
        self.pos: list[tuple[int, int]] = []
        self.consts: list[Any] = []
        self.const_index: dict[bytes, int] = {}
        self.children: list[str] = []
        self.local_names: list[str] = []
        self.cells: list[int] = []
        self.snapshots: list[list[int]] = []
        self.inlined: list[list[Any]] = []     # Blob.inlined, ends filled in by end_inlined
        self.labels: list[Label] = []
        self.depth = 0
        self.reachable = True
        self.cur = pos           # (line, col) the next instruction is attributed to

    # ------------------------------------------------------------ registers, constants, children

    def new_slot(self, name: str) -> int:
        self.local_names.append(name)
        return len(self.local_names) - 1

    def const(self, v: Any) -> int:
        try:
            key = _const_key(v)
        except ValueError:
            # msgpack encodes data nested at most 1024 deep: a pattern about 340 levels deep.
            err = program_too_deep(self.path)
            err.line, err.col = self.cur[0] or None, self.cur[1] or None
            raise err from None
        i = self.const_index.get(key)
        if i is None:
            i = len(self.consts)
            self.consts.append(v)
            self.const_index[key] = i
        return i

    def child(self, bid: str) -> int:
        """The index of child blob `bid` (MAKE_CLOSURE's operand)."""
        if bid in self.children:
            return self.children.index(bid)
        self.children.append(bid)
        return len(self.children) - 1

    # ------------------------------------------------------------ emitting

    def emit(self, op: int, a: int = 0, b: int = 0) -> int:
        pc = len(self.code)
        if CHECK_OPERANDS:
            self.check_operands(op, a, b, pc)
        self.code.append([op, a, b])
        self.pos.append(self.cur)
        pops, pushes = O.stack_effect(op, a, b, self.consts)
        self.depth += pushes - pops
        if O.CLASS[op] == "U":
            self.reachable = False
        return pc

    def check_operands(self, op: int, a: int, b: int, pc: int) -> None:
        """Check an instruction against the kinds its opcode declares, as it is emitted (jump
        targets are placeholders until their label is placed; the verifier checks them)."""
        info = O.INFO[op]
        site = _Emitting(self, pc, a, b)
        for which, kind, v in (("a", info.a, a), ("b", info.b, b)):
            if kind is not TARGET and not (type(v) is int and 0 <= v < MAX_OPERAND
                                           and kind.check(v, site)):
                raise AssertionError(f"{info.name} at {pc}: operand {which}={v!r} is not a valid "
                                     f"{kind.name}")

    def emit_jump(self, op: int, label: Label, a: int = 0) -> int:
        """An instruction whose jump target is `label` (its other operand, if any, is `a`)."""
        info = O.INFO[op]
        (field,) = info.targets
        jpops, jpushes = info.jump
        self._reach(label, self.depth - jpops + jpushes)
        pc = self.emit(op, a, 0)
        if label.pc is not None:
            self.code[pc][field] = label.pc
        else:
            label.refs.append((pc, field))
            self.labels.append(label)
        return pc

    def _reach(self, label: Label, depth: int) -> None:
        if label.depth is None:
            label.depth = depth
        elif label.depth != depth:
            raise AssertionError(f"stack depth mismatch at label: {label.depth} vs {depth}")

    def mark(self, label: Label) -> None:
        label.pc = len(self.code)
        for pc, field in label.refs:
            self.code[pc][field] = label.pc
        label.refs = []
        if label.depth is not None:
            if self.reachable and self.depth != label.depth:
                raise AssertionError(f"stack depth mismatch: {self.depth} vs {label.depth}")
            self.depth = label.depth
            self.reachable = True
        # else: nothing jumps here, and if nothing falls through either, dead code follows.

    def begin_inlined(self, name: str, pos: tuple[int, int]) -> list[Any]:
        """The instructions from here on run the body of `name`, called at `pos`."""
        entry = [len(self.code), None, name, pos[0], pos[1]]
        self.inlined.append(entry)
        return entry

    def end_inlined(self, entry: list[Any]) -> None:
        entry[1] = len(self.code)

    def finish(self, params: int, has_self: bool, min_args: int, entries: list[int],
               ref_params: list[int], is_async: bool, annotated: bool, nfree: int) -> Blob:
        for label in self.labels:
            if label.refs:
                raise AssertionError("jump to a label that was never placed")
        if O.CLASS[self.code[-1][0]] != "U":
            # Dead code after a constant-folded branch can end the code without a transfer;
            # a stored blob must end in one (the loader checks it), so close the dead tail.
            assert not self.reachable, "reachable end of code without a transfer"
            self.emit(O.RAISE, self.const(["RuntimeError", "unreachable code was reached"]))
        lines: list[list[int]] = []
        last = None
        for pc, p in enumerate(self.pos):
            if p != last:
                lines.append([pc, p[0], p[1]])
                last = p
        blob = Blob(name=self.name, kind=self.kind, params=params, has_self=has_self,
                    min_args=min_args, entries=entries, ref_params=ref_params, is_async=is_async,
                    annotated=annotated, nfree=nfree, nlocals=len(self.local_names),
                    code=self.code, consts=self.consts, lines=lines, children=self.children,
                    snapshots=self.snapshots, local_names=self.local_names,
                    cells=sorted(self.cells), inlined=[r for r in self.inlined if r[0] < r[1]],
                    source=self.path)
        if CHECK_OPERANDS:
            try:
                validate(blob)
            except BlobError as e:
                raise AssertionError(f"the compiler made an invalid blob: {e}") from None
        return blob
