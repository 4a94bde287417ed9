"""`std::core::env`: program arguments, environment variables, working directory, system.

Upstream's functions (crates/shape-runtime/src/stdlib/env.rs). What a run reads here is an
input like a file: the run's I/O context records each value the first time it is read, and a
resumed run gets the recorded value back, so it sees what the first run saw (spec/io.md).

`env.args()` is the script's path followed by the program's arguments, as Python's `sys.argv`
(upstream passes the process's own argument list; a script's arguments are what a Shape program
is given here).
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.runtime.stdlib.checks import at_most, string_arg
from shapelang.runtime.stdlib.context import current
from shapelang.runtime.values import HashMapValue


def _get(args: list) -> Any:
    at_most("env.get()", args, 1)
    return current().getenv(string_arg("env.get()", args, 0, "variable name"))


def _has(args: list) -> Any:
    at_most("env.has()", args, 1)
    return current().getenv(string_arg("env.has()", args, 0, "variable name")) is not None


def _all(args: list) -> Any:
    at_most("env.all()", args, 0)
    return HashMapValue(current().all_env())


def _args(args: list) -> Any:
    at_most("env.args()", args, 0)
    return current().argv()


def _cwd(args: list) -> Any:
    at_most("env.cwd()", args, 0)
    return current().cwd()


def _os(args: list) -> Any:
    at_most("env.os()", args, 0)
    return current().system("os")


def _arch(args: list) -> Any:
    at_most("env.arch()", args, 0)
    return current().system("arch")


FUNCTIONS: dict[str, Callable[[list], Any]] = {
    "get": _get, "has": _has, "all": _all, "args": _args, "cwd": _cwd, "os": _os,
    "arch": _arch,
}
