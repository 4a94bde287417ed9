"""The compiler: from the shared AST to function blobs (vm/blob.py) for the VM.

    compile_program(program, path) -> Program     a parsed program plus the prelude
    compile_source(source, path) -> Program       the same from source text

A program is resolved by the shared resolver (ref/resolver.py), so both engines agree on what
every name means, then lowered blob by blob; constant subexpressions are folded
(ref/constants.py, shared with the front end's comptime fields). The modules, one concept each:

    analysis.py     which variables each function captures, which calls may be inlined
    lowering.py     the AST walk (`Compiler`): blobs, scopes, names, statements, expressions;
                    with its parts control.py (control flow), calls.py (calls, inlining),
                    records.py (struct and enum types), patterns.py (pattern descriptors),
                    annotations.py (annotations, annotated awaits)
    fncode.py       the per-blob state of the walk: registers for bindings, enclosing loops
    assembler.py    instructions, constants, line table and stack depth of one blob, checked
                    against the opcode record (vm/opcodes.py)
"""
from __future__ import annotations

from typing import Optional

from shapelang.ref import ast as A
from shapelang.ref.deepstack import on_front_end_stack
from shapelang.ref.parser import parse
from shapelang.ref.resolver import Resolution, resolve
from shapelang.runtime.builtins import builtin_names
from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.vm.blob import Blob, Program
from shapelang.vm import codecache
from shapelang.vm.compiler import assembler
from shapelang.vm.compiler.lowering import Compiler
from shapelang.vm.verify import BlobError, check_program

__all__ = ["check", "compile_blobs", "compile_program", "compile_source", "prelude_blobs"]

_PRELUDE: dict = {}


def check(program: A.Program, path: Optional[str] = None) -> Resolution:
    """Resolve a program as the compiler does (static errors are raised here)."""
    return resolve(program, builtin_names(), path)


def compile_blobs(program: A.Program, path: Optional[str] = None) -> tuple[dict[str, Blob], str]:
    """The blobs of one program, without the prelude, and the id of its module blob."""
    def work() -> tuple[dict[str, Blob], str]:
        res = check(program, path)
        comp = Compiler(program, res, path)
        entry = comp.compile_module()
        return comp.blobs, entry
    return on_front_end_stack(work)


def prelude_blobs() -> tuple[dict[str, Blob], str]:
    """The prelude's blobs and module blob id: compiled once per process, and kept between
    runs in the local code cache (vm/codecache.py)."""
    if "p" not in _PRELUDE:
        source = codecache.prelude_source()
        compiled = codecache.load_prelude(source)
        if compiled is None:
            compiled = compile_blobs(parse(source, PRELUDE_PATH), PRELUDE_PATH)
            codecache.save_prelude(source, *compiled)
        _PRELUDE["p"] = compiled
    return _PRELUDE["p"]


def compile_program(program: A.Program, path: Optional[str] = None) -> Program:
    """Resolve and compile a parsed program (plus the prelude) into blobs."""
    blobs, entry = compile_blobs(program, path)
    pblobs, pentry = prelude_blobs()
    all_blobs = dict(pblobs)
    all_blobs.update(blobs)
    if assembler.CHECK_OPERANDS:
        try:
            check_program(all_blobs)
        except BlobError as e:
            raise AssertionError(f"the compiler made an invalid program: {e}") from None
    return Program(all_blobs, entry, pentry, path)


def compile_source(source: str, path: Optional[str] = None) -> Program:
    return compile_program(parse(source, path), path)
