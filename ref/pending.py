"""Constructs the front end accepts but the engines do not run yet (issue 12, phase B).

The parser and the resolver know the whole language of spec/. Until both engines implement a
construct, this module refuses it before anything runs, in one place and with one message
(`CompileError: … is not supported yet`), so a program that uses it fails the same clean way on
both engines. Each phase-B work package (/work/coord/lang-phase-b.md) deletes its entries here in
the landing that implements them; when every package has landed, this module goes.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.ref import ast as A
from shapelang.runtime.errors import ShapeError

# Whole node types.
PENDING_NODES: dict[type, str] = {
}


def pending(node: Any) -> Optional[str]:
    """What `node` is, if the engines cannot run it yet; None when they can."""
    what = PENDING_NODES.get(type(node))
    if what is not None:
        return what.replace("{op}", getattr(node, "op", ""))
    return None


def check(program: A.Program, path: Optional[str] = None) -> None:
    """Raise CompileError at the first construct (in source order) the engines do not run yet."""
    found = [n for n in A.walk(program) if pending(n) is not None]
    if found:
        first = min(found, key=lambda n: (n.line, n.col))
        raise ShapeError("CompileError", f"{pending(first)} is not supported yet",
                         first.line or None, first.col or None, file=path)
