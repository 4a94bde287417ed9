"""The production engine: bytecode compiler, function blobs, threaded-code machine.

Public API:
    compile_program(program, path) -> Program      (vm/compiler/)
    Machine(program, out=…, max_depth=…)            (vm/machine.py); machine.run(max_steps=None)
    run_source(source, path, out=None) -> value     raises ShapeError / ShapeExit
    disassemble(program) -> str                     (vm/disasm.py)
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["Blob", "Program", "Machine", "STOPPED", "compile_program", "compile_source",
           "run_source", "disassemble"]

# Imported on first use: a run whose code is in the local code cache (vm/codecache.py) never
# loads the compiler and the front end, and `import shapelang.vm.blob` must not load them.
_LAZY = {"Blob": "blob", "Program": "blob", "compile_program": "compiler",
         "compile_source": "compiler", "Machine": "machine", "STOPPED": "machine",
         "DEFAULT_MAX_DEPTH": "machine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"shapelang.vm.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'shapelang.vm' has no attribute {name!r}")


def run_source(source: str, path: Optional[str] = None, out: Any = None,
               max_depth: Optional[int] = None, **options: Any) -> Any:
    """Compile and run a program on the VM; returns its value (raises ShapeError / ShapeExit).

    `out` is a list, a stream or a callable receiving printed text (default: stdout). Other
    options (store, snapshot_at, …) belong to the snapshot layer and are ignored here."""
    from shapelang.vm.compiler import compile_source
    from shapelang.vm.machine import DEFAULT_MAX_DEPTH, Machine
    program = compile_source(source, path)
    machine = Machine(program, out=out,
                      max_depth=DEFAULT_MAX_DEPTH if max_depth is None else max_depth)
    return machine.run()


def disassemble(program: Program) -> str:
    from shapelang.vm.disasm import disassemble as dis
    return dis(program)
