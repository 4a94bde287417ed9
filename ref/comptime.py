"""Comptime fields (spec/smaller-items.md §4): one value per type, known before the run.

`comptime name: T = value` in a `type` belongs to the type, not to its instances. Its value must
be a constant expression (ref/constants.py); that is checked here, before anything runs, for both
engines. Without `= value` the field is None. The engines read the values from
`Resolution.comptime`: field name -> [[type name, value], …], one pair per type declaring a
comptime field of that name (runtime/records.py comptime_get reads a field through it).
"""
from __future__ import annotations

from typing import Optional

from shapelang.ref import ast as A
from shapelang.ref.constants import const_value
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.types import check_slot


def instance_fields(decl: A.TypeDecl) -> list[A.FieldDecl]:
    """The fields an instance of `decl` has (its comptime fields belong to the type)."""
    return [f for f in decl.fields if type(f) is A.FieldDecl]


def not_constant(f: A.ComptimeField, path: Optional[str]) -> ShapeError:
    at = f.default if f.default is not None and f.default.line else f
    return ShapeError("CompileError", f"comptime field '{f.name}' must be a constant expression",
                      at.line or None, at.col or None, file=path)


def collect(program: A.Program, path: Optional[str] = None,
            slots: Optional[dict] = None) -> dict[str, list]:
    """The comptime values of the program's types, by field name; CompileError (at the first
    one in source order) if a value is not a constant. A field declared with a type checks and
    converts its value as every slot does (`slots`: the resolver's slot descriptors; a mismatch
    is a TypeError before the run, spec/types.md §2)."""
    table: dict[str, list] = {}
    for node in A.walk(program):
        if type(node) is not A.TypeDecl:
            continue
        for f in node.fields:
            if type(f) is not A.ComptimeField:
                continue
            value = None
            if f.default is not None:
                folded = const_value(f.default)
                if folded is None:
                    raise not_constant(f, path)
                value = folded[0]
                slot = (slots or {}).get(id(f))
                if slot is not None:
                    try:
                        value = check_slot(value, slot)
                    except ShapeError as err:
                        err.phase, err.file = "compile", path
                        raise err.at(f.default.line or f.line or None,
                                     (f.default.col if f.default.line else f.col) or None)
            table.setdefault(f.name, []).append([node.name, value])
    return table
