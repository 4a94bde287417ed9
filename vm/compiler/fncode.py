"""The lowering's state for one blob: its assembler plus what the AST walk needs to know.

Registers for bindings (`slot`: a variable that something captures or passes by `&` gets a
cell), which functions' variables live in this frame (the function itself, and the bodies being
inlined into it), and the loops that enclose the current point (for `break` and `continue`).
Register layout of a frame:

    [params (self first for methods)] [captured cells] [locals and hidden temporaries] [stack…]
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from shapelang.ref.resolver import Binding
from shapelang.vm.compiler.analysis import AwaitThunk
from shapelang.vm.compiler.assembler import Assembler, Label

if TYPE_CHECKING:
    from shapelang.vm.compiler.lowering import Compiler


class LoopCtx:
    """An enclosing loop: where `break` and `continue` go, and the stack depth of its body."""

    def __init__(self, brk: Label, cont: Label, depth: int, want: bool) -> None:
        self.brk = brk
        self.cont = cont
        self.depth = depth
        self.want = want          # the loop's value is wanted (break pushes one)


class FnCode(Assembler):
    """Code being generated for one blob, with the lowering's per-function state."""

    def __init__(self, comp: "Compiler", node: Any, kind: str, name: Optional[str]) -> None:
        super().__init__(kind, name, comp.path, (node.line or 0, node.col or 0))
        self.comp = comp
        self.node = node
        self.slots: dict[Binding, int] = {}
        self.free_slots: set[int] = set()
        self.loops: list[LoopCtx] = []
        # functions whose variables live in this frame (an await thunk: its Await node)
        self.owners: set[int] = {id(node.node if isinstance(node, AwaitThunk) else node)}
        self.owner_node = node.node if isinstance(node, AwaitThunk) else node
        self.inlining: list = []                 # FnDecls being inlined, innermost last
        self.inline_ends: list[tuple[Label, int]] = []
        self.ret_slot: Optional[list] = None     # the declared return type's slot descriptor

    def slot(self, b: Binding) -> int:
        s = self.slots.get(b)
        if s is None:
            s = self.new_slot(b.uid or b.name)
            self.slots[b] = s
            if self.comp.an.needs_cell(b):
                self.cells.append(s)
        return s

    def add_free_cells(self, free: list[Binding]) -> list[Binding]:
        """Registers for the cells of the captured variables `free` (they follow the
        parameters); returns `free`."""
        for b in free:
            s = self.new_slot(b.uid or b.name)
            self.slots[b] = s
            self.free_slots.add(s)
        return free
