"""The standard modules a program imports: `std::core::file`, `json`, `csv` and `env`.

`use std::core::file` binds `file` to the module's value; `from std::core::json use { parse }`
binds `parse` to the function. The front end asks `exports(path)` which names a module has (an
unknown module or name is a compile error); the engines bind `module_value(path)` and
`import_value(path, name)`. Module functions are ordinary builtin values: they take the argument
list and reach the run's I/O through `context.current()`, so both engines call them the way they
call `len`, and a snapshot names them as constants (`codec_constants`). The lazy line reader is
the one record the modules add to the machine state (`RECORDS`).

See spec/io.md.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from shapelang.runtime.errors import type_error
from shapelang.runtime.stdlib import csv_module, env_module, file_module, json_module
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.values import BuiltinFunction

# `std::core::snapshot` is the prelude's: importing from it is accepted and binds nothing new.
PRELUDE_MODULE = "std::core::snapshot"
PRELUDE_EXPORTS = ("Snapshot", "snapshot")


class ModuleValue:
    """What `use std::core::x` binds: the module's functions, read as fields (`file.read_text`)."""
    __slots__ = ("path", "functions")
    SHAPE_TYPE = "module"

    def __init__(self, path: str, functions: dict) -> None:
        self.path = path
        self.functions = functions

    def __repr__(self) -> str:
        return f"ModuleValue({self.path!r})"

    def shape_display(self) -> str:
        return f"[module {self.path}]"

    def shape_property(self, name: str) -> Any:
        f = self.functions.get(name)
        if f is None:
            raise type_error(f"Module {self.path} has no function '{name}'")
        return f

    def shape_call_method(self, name: str, args: list) -> Any:
        return self.shape_property(name).fn(args)


def _module(path: str, functions: dict[str, Callable[[list], Any]]) -> ModuleValue:
    short = path.rsplit("::", 1)[-1]
    return ModuleValue(path, {name: BuiltinFunction(f"{short}.{name}", fn)
                              for name, fn in functions.items()})


MODULES: dict[str, ModuleValue] = {
    m.path: m for m in (
        _module("std::core::file", file_module.FUNCTIONS),
        _module("std::core::json", json_module.FUNCTIONS),
        _module("std::core::csv", csv_module.FUNCTIONS),
        _module("std::core::env", env_module.FUNCTIONS),
    )
}

# Record types the modules add to the machine state, with the fields a snapshot keeps.
RECORDS: list[tuple[type, tuple[str, ...]]] = [(LineReader, LineReader.FIELDS)]


def module_path(parts: list) -> str:
    return "::".join(parts)


def exports(path: str) -> Optional[tuple[str, ...]]:
    """The names module `path` exports, or None if there is no such module."""
    if path == PRELUDE_MODULE:
        return PRELUDE_EXPORTS
    m = MODULES.get(path)
    return None if m is None else tuple(m.functions)


def module_value(path: str) -> ModuleValue:
    return MODULES[path]


def import_value(path: str, name: str) -> Any:
    return MODULES[path].functions[name]


def binds(path: str) -> bool:
    """Whether importing from `path` binds names (the prelude's module does not)."""
    return path != PRELUDE_MODULE


def codec_constants() -> list[tuple[str, Any]]:
    """The values of the modules a snapshot refers to by name, never by content."""
    out: list[tuple[str, Any]] = []
    for path, m in sorted(MODULES.items()):
        out.append((f"module:{path}", m))
        for name, f in sorted(m.functions.items()):
            out.append((f"builtin:{path}::{name}", f))
    return out
