"""Lowering of patterns: `match` arms, `let` and parameter destructuring, `for` targets.

A pattern compiles to a descriptor, constant data that names the registers it binds (the
format is in vm/patterns.py, its grammar `PATTERN` in vm/operands.py).
"""
from __future__ import annotations

from typing import Any

from shapelang.ref import ast as A
from shapelang.ref.resolver import Binding, Resolution
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.fncode import FnCode


class PatternLowering:
    """Pattern descriptors (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def pattern_desc(self, pat: Any) -> list:
        """A pattern as constant data (see vm/patterns.py for the format)."""
        res = self.res
        t = type(pat)
        if t is A.PWild:
            return ["_"]
        if t is A.PBind:
            b = res.decl(pat)
            return self.bind_desc(b)
        if t is A.PLit:
            return ["l", pat.value]
        if t is A.PArray:
            items = [self.pattern_desc(p) for p in pat.items]
            if pat.has_rest and pat.rest and pat.rest != "_":
                rest = self.bind_desc(res.decls[id(pat)])
            else:
                rest = None
            return ["a", items, 1 if pat.has_rest else 0, rest]
        if t is A.PObject:
            return ["o", [[k, self.pattern_desc(p)] for k, p in pat.fields]]
        if t is A.PVariant:
            path = pat.path
            if len(path) == 1 and path[0] in ("Some", "Ok", "Err") and not pat.fields:
                args = pat.args or []
                if len(args) != 1:
                    return ["x", "TypeError", f"{path[0]}(…) pattern takes exactly one pattern"]
                return [path[0].lower(), self.pattern_desc(args[0])]
            if len(path) == 1:
                return ["s", path[0], [[k, self.pattern_desc(p)] for k, p in pat.fields or []]]
            args = None if pat.args is None else [self.pattern_desc(p) for p in pat.args]
            fields = None if pat.fields is None else [[k, self.pattern_desc(p)]
                                                       for k, p in pat.fields]
            return ["v", path[0], path[-1], args, fields]
        raise self.error("SyntaxError", f"Unknown pattern {t.__name__}", pat)

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
