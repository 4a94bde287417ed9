"""The standard modules a program imports: `std::core::file`, `json`, `csv`, `env` and `remote`.

`use std::core::file` binds `file` to the module's value; `from std::core::json use { parse }`
binds `parse` to the function. The front end asks `exports(path)` which names a module has (an
unknown module or name is a compile error); the engines bind `module_value(path)` and
`import_value(path, name)`: the values of `BUILTIN_VALUES`, the engines' builtins under qualified
names (`std::core::file`, `std::core::json::parse`) that no identifier can spell, so only an
import reaches them. Module functions are ordinary builtin values: they take the argument list
and reach the run's I/O through `context.current()`, so both engines call them the way they call
`len`, and a snapshot names them as constants, as it names every builtin. The lazy line reader is
the one record the modules add to the machine state (`records()`).

See spec/io.md.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Optional

from shapelang.runtime.errors import type_error
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


# What each module exports, and the Python module that implements it (its FUNCTIONS table).
# The names are listed here so that the front end, and a program that imports nothing, never
# load the implementations (start-up time); a test checks both lists agree.
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "std::core::file": ("file_module", ("read_text", "write_text", "read_lines", "append",
                                        "read_bytes", "write_bytes", "lines")),
    "std::core::json": ("json_module", ("parse", "stringify", "is_valid")),
    "std::core::csv": ("csv_module", ("parse", "parse_records", "stringify",
                                      "stringify_records", "read_file", "is_valid")),
    "std::core::env": ("env_module", ("get", "has", "all", "args", "cwd", "os", "arch")),
}


# Modules written in Shape (their file here, and the annotations they declare). Importing one
# splices its declarations into the program (ref/modules.py): `use std::core::remote` declares
# `@handoff` and `@remote`, `from std::core::remote use { handoff }` only `@handoff`. They bind
# no values. See spec/remote.md.
SOURCE_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "std::core::remote": ("remote.shape", ("handoff", "remote")),
}


def source_module(path: str) -> Optional[tuple[str, tuple[str, ...]]]:
    """(source file path, declared names) of a module written in Shape, or None."""
    m = SOURCE_MODULES.get(path)
    if m is None:
        return None
    import os
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), m[0]), m[1]


def implementation(path: str) -> Any:
    """The Python module that implements std module `path`."""
    return importlib.import_module(f"shapelang.runtime.stdlib.{EXPORTS[path][0]}")


def _function(path: str, name: str) -> BuiltinFunction:
    impl: list[Callable[[list], Any]] = []

    def call(args: list) -> Any:
        if not impl:
            impl.append(implementation(path).FUNCTIONS[name])
        return impl[0](args)
    short = path.rsplit("::", 1)[-1]
    return BuiltinFunction(f"{short}.{name}", call)


MODULES: dict[str, ModuleValue] = {
    path: ModuleValue(path, {name: _function(path, name) for name in names})
    for path, (_, names) in EXPORTS.items()
}


def records() -> list[tuple[type, tuple[str, ...]]]:
    """Record types the modules add to the machine state, with the fields a snapshot keeps."""
    from shapelang.runtime.stdlib.readers import LineReader
    return [(LineReader, LineReader.FIELDS)]


def module_path(parts: list) -> str:
    return "::".join(parts)


def exports(path: str) -> Optional[tuple[str, ...]]:
    """The names module `path` exports, or None if there is no such module."""
    if path == PRELUDE_MODULE:
        return PRELUDE_EXPORTS
    if path in SOURCE_MODULES:
        return SOURCE_MODULES[path][1]
    m = MODULES.get(path)
    return None if m is None else tuple(m.functions)


def module_value(path: str) -> ModuleValue:
    return MODULES[path]


def import_value(path: str, name: str) -> Any:
    return BUILTIN_VALUES[f"{path}::{name}"]


def binds(path: str) -> bool:
    """Whether importing from `path` binds names (the prelude's module does not)."""
    return path != PRELUDE_MODULE and path not in SOURCE_MODULES


def _builtin_values() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, m in MODULES.items():
        out[path] = m
        for name, f in m.functions.items():
            out[f"{path}::{name}"] = f
    return out


BUILTIN_VALUES: dict[str, Any] = _builtin_values()
