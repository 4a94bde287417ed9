"""Standard modules written in Shape: importing one splices its declarations into the program.

`use std::core::remote` makes the module's annotations (`@handoff`, `@remote`) part of the
program, as if they were written right after the import; `from std::core::remote use { handoff }`
splices only the declarations it names. The parser does this once per parsed program, so every
engine, the resolver and the printer see the same tree. The spliced nodes carry the import's
position: an error inside one of the module's hooks is reported at the `use` line of the program
that imported it, never at a line of a file the user did not write. See spec/remote.md.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from shapelang.ref import ast as A
from shapelang.runtime import stdlib


_PARSED: dict[str, tuple] = {}


def _declarations(path: str, parse: Callable[[str, str], Any]) -> tuple:
    """The top-level declarations of source module `path` (parsed once per process)."""
    if path not in _PARSED:
        file, names = stdlib.source_module(path)
        with open(file, encoding="utf-8") as f:
            prog = parse(f.read(), file)
        _PARSED[path] = tuple(st for st in prog.body if getattr(st, "name", None) in names)
    return _PARSED[path]


def _spliced(imp: A.Import, parse: Callable[[str, str], Any]) -> list:
    path = stdlib.module_path(imp.path)
    wanted = set(imp.names) if imp.names else None
    out = []
    for decl in _declarations(path, parse):
        if wanted is not None and decl.name not in wanted:
            continue
        decl = copy.deepcopy(decl)
        for node in A.walk(decl):
            node.line, node.col = imp.line, imp.col
        decl.module = path
        out.append(decl)
    return out


def expand(prog: A.Program, parse: Callable[[str, str], Any]) -> A.Program:
    """Splice the declarations of every imported source module after its import (in place);
    `parse` is the parser's entry point (passed in: the parser is the one that calls this)."""
    lists = [prog.body] + [n.stmts for n in A.walk(prog) if isinstance(n, A.Block)]
    for stmts in lists:
        if not any(isinstance(st, A.Import) and stdlib.module_path(st.path) in stdlib.SOURCE_MODULES
                   for st in stmts):
            continue
        out: list = []
        for st in stmts:
            out.append(st)
            if isinstance(st, A.Import) and stdlib.module_path(st.path) in stdlib.SOURCE_MODULES:
                out.extend(_spliced(st, parse))
        stmts[:] = out
    return prog


def written(stmts: list) -> list:
    """`stmts` without the declarations an import spliced in (what the program's author wrote:
    the printer prints this, so printing and parsing again gives the same tree). A spliced
    declaration names the module it came from."""
    return [st for st in stmts if not (isinstance(st, A.AnnotationDecl) and st.module is not None)]
