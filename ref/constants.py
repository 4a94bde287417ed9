"""Constant expressions: subexpressions whose value is known before the run.

The VM compiler folds them (vm/compiler/*), and comptime fields must be one (ref/comptime.py).
Evaluation uses the shared value model (runtime/operators.py), so a folded value is exactly what
the machine would compute; an expression whose evaluation would raise is never folded (the error
then happens at run time, where the reference raises it too).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from shapelang.ref import ast as A
from shapelang.runtime import operators as Op
from shapelang.runtime.errors import ShapeError

FOLD_LIMIT = 4096   # longest string a constant fold may produce


def const_value(e: Any) -> Optional[tuple]:
    """(value,) if `e` folds to a constant int/number/string/bool/None, else None."""
    t = type(e)
    if t is A.Literal:
        return (e.value,)
    if t is A.Unary:
        inner = const_value(e.operand)
        if inner is None:
            return None
        return _fold(lambda: Op.unary_op(e.op, inner[0]))
    if t is A.Binary and e.op in Op.BINARY_OPS:
        left = const_value(e.left)
        if left is None:
            return None
        right = const_value(e.right)
        if right is None:
            return None
        return _fold(lambda: Op.binary_op(e.op, left[0], right[0]))
    return None


def _fold(f: Callable[[], Any]) -> Optional[tuple]:
    try:
        v = f()
    except ShapeError:
        return None
    tv = type(v)
    if v is None or tv in (bool, int, float):
        return (v,)
    if tv is str and len(v) <= FOLD_LIMIT:
        return (v,)
    return None
