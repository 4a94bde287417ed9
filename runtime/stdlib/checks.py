"""Argument checks of the std module functions, worded as upstream words them.

Upstream reads each argument it needs and says what is missing (`file.read_text() requires a
path string`); it ignores extra arguments, which here are a TypeError rather than silently
dropped, as for every other builtin of this implementation.
"""
from __future__ import annotations

from typing import Any

from shapelang.runtime.errors import type_error


def at_most(what: str, args: list, n: int) -> None:
    if len(args) > n:
        want = f"{n} argument" + ("" if n == 1 else "s")
        raise type_error(f"{what} expects at most {want}, got {len(args)}")


def string_arg(what: str, args: list, i: int, role: str) -> str:
    if len(args) <= i or type(args[i]) is not str:
        raise type_error(f"{what} requires a {role} string")
    return args[i]


def array_arg(what: str, args: list, i: int, role: str) -> list:
    if len(args) <= i or type(args[i]) is not list:
        raise type_error(f"{what} requires {role}")
    return args[i]


def optional_bool(what: str, args: list, i: int, role: str) -> Any:
    """A bool argument that may be left out (False)."""
    if len(args) <= i:
        return False
    if type(args[i]) is not bool:
        raise type_error(f"{what} {role} must be a bool")
    return args[i]
