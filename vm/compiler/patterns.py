"""Lowering of patterns: `match` arms, `let` and parameter destructuring, `for` targets.

A pattern compiles to a descriptor, constant data that names the registers it binds (the
format and the matchers are in runtime/patterns.py, its grammar `PATTERN` in vm/operands.py).
"""
from __future__ import annotations

from typing import Any

from shapelang.ref import ast as A
from shapelang.ref.resolver import Binding, Resolution
from shapelang.ref.patterns import describe
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.fncode import FnCode


class PatternLowering:
    """Pattern descriptors (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def pattern_desc(self, pat: Any) -> list:
        """A pattern as constant data (ref/patterns.py `describe`, which both engines use)."""
        return describe(pat, lambda node: self.bind_desc(self.res.decl(node)),
                        lambda node: self.res.slots[id(node)][2])

    def bind_desc(self, b: Binding) -> list:
        fc = self.fc
        if self.direct(b):
            return ["b", fc.slot(b), 1 if self.needs_cell(b) else 0]
        return ["b", self.cell_slot_for(b), 1]

    def bind_pattern(self, pat: Any) -> None:
        """Bind the value on top of the stack to `pat` (lenient destructuring, as `let`)."""
        fc = self.fc
        if isinstance(pat, A.PBind):
            self.store(self.res.decl(pat))
        elif isinstance(pat, A.PWild):
            fc.emit(O.POP)
        else:
            fc.emit(O.DESTRUCTURE, fc.const(self.pattern_desc(pat)))
