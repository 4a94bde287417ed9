"""Option and Result operators: postfix `?` and the context operator `!!` (brief §2, §3).

A *failure* is `Err(e)` or `None`: what `?` returns from the enclosing function and what `!!`
attaches a context to.
"""
from __future__ import annotations

from typing import Any

from shapelang.runtime.display import display
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.values import Err, Ok


def is_failure(v: Any) -> bool:
    return v is None or type(v) is Err


def unwrap_ok(v: Any) -> Any:
    """`v?` when `v` is not a failure: `Ok(x)` gives x, any other value is itself."""
    return v.value if type(v) is Ok else v


def try_top(v: Any) -> Any:
    """`v?` at top level, where there is no function to return a failure from."""
    if type(v) is Err:
        raise ShapeError("UnwrapError", f"Unwrapped Err({display(v.value)}) at top level")
    if v is None:
        raise ShapeError("UnwrapError", "Unwrapped None at top level")
    return unwrap_ok(v)


def attach_context(left: Any, context: Any) -> Any:
    """`left !! context` (spec/language.md §5.6), both operands evaluated: always a Result, so a
    failure becomes an `Err` carrying the context, `Ok(v)` stays, any other value `v` is `Ok(v)`."""
    if type(left) is Err:
        return Err(f"{display(context)}: {display(left.value)}")
    if left is None:
        return Err(display(context))
    if type(left) is Ok:
        return left
    return Ok(left)
