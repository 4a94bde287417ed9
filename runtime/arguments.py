"""Argument checks shared by the built-in methods and functions: counts, types and sizes."""
from __future__ import annotations

from typing import Any, Optional

from shapelang.runtime.errors import type_error, value_error
from shapelang.runtime.values import FunctionValue, HashMapValue, type_name

# Upper bound on the length of strings and arrays a single builtin may build (repeat, padStart,
# range with a step). Beyond it Python would exhaust memory instead of raising a Shape error.
MAX_BUILD = 100_000_000


def argc(what: str, args: list, lo: int, hi: Optional[int] = None) -> None:
    n = len(args)
    if hi is None:
        hi = lo
    if n < lo or (hi >= 0 and n > hi):
        if lo == hi:
            want = f"{lo} argument" + ("" if lo == 1 else "s")
        elif hi < 0:
            want = f"at least {lo} argument" + ("" if lo == 1 else "s")
        else:
            want = f"{lo} to {hi} arguments"
        raise type_error(f"{what} expects {want}, got {n}")


def int_arg(what: str, x: Any) -> int:
    t = type(x)
    if t is int:
        return x
    if t is float and x.is_integer():
        return int(x)
    return int_only_arg(what, x)


def int_only_arg(what: str, x: Any) -> int:
    """An int argument where a whole number is refused too (an iterator's counts)."""
    if type(x) is int:
        return x
    raise type_error(f"{what} expects an int, got {type_name(x)}")


def fn_arg(what: str, x: Any) -> Any:
    """A callback argument: any function value (functions, closures, builtins, variant
    constructors), checked before it is called."""
    if isinstance(x, FunctionValue):
        return x
    raise type_error(f"{what} expects a function, got {type_name(x)}")


def num_arg(what: str, x: Any) -> Any:
    t = type(x)
    if t is int or t is float:
        return x
    raise type_error(f"{what} expects a number, got {type_name(x)}")


def str_arg(what: str, x: Any) -> str:
    if type(x) is str:
        return x
    raise type_error(f"{what} expects a string, got {type_name(x)}")


def list_arg(what: str, x: Any) -> list:
    if type(x) is list:
        return x
    raise type_error(f"{what} expects an array, got {type_name(x)}")


def hashmap_arg(what: str, x: Any) -> HashMapValue:
    if type(x) is HashMapValue:
        return x
    raise type_error(f"{what} expects a HashMap, got {type_name(x)}")


def check_size(n: int) -> None:
    if n > MAX_BUILD:
        raise value_error(f"result too large ({n} elements)")
