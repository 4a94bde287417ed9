"""The production engine: bytecode compiler, function blobs, threaded-code machine.

Public API:
    compile_program(program, path) -> Program      (vm/compiler/)
    Machine(program, out=…, max_depth=…)            (vm/machine.py); machine.run(max_steps=None)
    run_source(source, path, out=None) -> value     raises ShapeError / ShapeExit
    disassemble(program) -> str                     (vm/disasm.py)
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.vm.blob import Blob, Program
from shapelang.vm.compiler import compile_program, compile_source
from shapelang.vm.machine import DEFAULT_MAX_DEPTH, STOPPED, Machine

__all__ = ["Blob", "Program", "Machine", "STOPPED", "compile_program", "compile_source",
           "run_source", "disassemble"]


def run_source(source: str, path: Optional[str] = None, out: Any = None,
               max_depth: int = DEFAULT_MAX_DEPTH, **options: Any) -> Any:
    """Compile and run a program on the VM; returns its value (raises ShapeError / ShapeExit).

    `out` is a list, a stream or a callable receiving printed text (default: stdout). Other
    options (store, snapshot_at, …) belong to the snapshot layer and are ignored here."""
    program = compile_source(source, path)
    machine = Machine(program, out=out, max_depth=max_depth)
    return machine.run()


def disassemble(program: Program) -> str:
    from shapelang.vm.disasm import disassemble as dis
    return dis(program)
