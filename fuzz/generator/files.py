"""The file family (issue 16 item 5): statements that read fixture files (whole, as lines, through
a lazy line reader, as CSV) and append to or overwrite output files, with `snapshot()` calls
between them and inside the loops that walk a reader. A program of this family is rare
(`FILES_CHANCE`); the harness runs it in a fresh directory holding `FIXTURES` only, and the
checks compare the files the run leaves there (`Outcome.files`), so a run resumed from any cut
must leave the output files byte-identical to the uninterrupted run's: exactly-once.

Part of `ProgramBuilder` (program.py); see statements.py.
"""
from __future__ import annotations

from typing import Any

from shapelang.fuzz.generator.model import BuilderState, block, call, let, lit, meth, name, stmt
from shapelang.ref import ast as A

FILES_CHANCE = 5          # percent of programs of the family
FILE_STMT_WEIGHT = 20     # weight of a file statement among the others, in such a program

# What the run's directory holds before it starts (the same bytes for every program, written by
# the harness; a saved regression case lists them as `fixture` lines).
FIXTURES: dict[str, bytes] = {
    "in.txt": "alpha\nbeta\n\ngamma delta\nlast\n".encode("utf-8"),
    "words.txt": "straße\n日本語\nx,y\n".encode("utf-8"),
    "t.csv": 'name,n\nann,1\n"b, c",22\n"q""uote",3\n'.encode("utf-8"),
}
INPUTS = ["in.txt", "words.txt"]
OUTPUTS = ["out.txt", "log.txt"]      # appended to (and now and then overwritten)
WRITTEN = ["w.txt", "out.txt"]        # overwritten with write_text


def uses_files(program: Any) -> bool:
    """Whether a program (its syntax tree) imports a std module that touches files: the harness
    then gives each of its runs a fresh directory with the fixtures."""
    return any(isinstance(s, A.Import) and s.path[:2] == ["std", "core"]
               for s in getattr(program, "body", ()))


def _try(e: Any) -> A.Try:
    return A.Try(e)


def _fcall(module: str, fn: str, *args: Any) -> A.Call:
    return meth(name(module), fn, *args)


class Files(BuilderState):
    files_on = False      # this program is of the file family (drawn in program())

    def file_imports(self) -> list:
        """The imports a program of the family starts with."""
        return [A.Import(["std", "core", "file"]), A.Import(["std", "core", "csv"])]

    def file_weight(self) -> int:
        return FILE_STMT_WEIGHT if self.files_on and self.ctx.kind in ("module", "fn") else 0

    def line(self, d: int) -> Any:
        """A line of output: a string the program computes, then a newline."""
        return A.Binary("+", self._text(d), lit("\n"))

    def _text(self, d: int) -> Any:
        if self.c.chance(50):
            return self.expr("str", d).node
        return call("to_string", self.expr("int", d).node)

    def file_stmt(self, d: int) -> list:
        c = self.c
        kind = c.weighted([(5, "append"), (2, "write"), (2, "read"), (2, "lines"),
                           (3, "reader"), (2, "csv"), (1, "readout")])
        if kind == "append":
            return [stmt(_fcall("file", "append", lit(c.pick(OUTPUTS)), self.line(d)))]
        if kind == "write":
            return [stmt(_fcall("file", "write_text", lit(c.pick(WRITTEN)), self._text(d)))]
        if kind == "read":
            return [stmt(call("print", lit("read"), _fcall("file", "read_text", lit(c.pick(INPUTS)))))]
        if kind == "readout":
            # an output read back: what a resumed run reads must be what the first run had
            # written at that point (the outputs are rewound to the snapshot)
            return [stmt(call("print", lit("back"),
                              _fcall("file", "read_text", lit(c.pick(OUTPUTS + WRITTEN)))))]
        if kind == "lines":
            n = self.fresh("ls")
            x = self.fresh("l")
            body = [stmt(_fcall("file", "append", lit(c.pick(OUTPUTS)),
                                A.Binary("+", name(x), lit("\n"))))]
            return [let(n, _try(_fcall("file", "read_lines", lit(c.pick(INPUTS))))),
                    A.ExprStmt(A.For(A.PBind(x), name(n), block(body)), False)]
        if kind == "csv":
            n = self.fresh("rows")
            x = self.fresh("row")
            out = c.pick(OUTPUTS)
            self.push_scope()
            body = [stmt(_fcall("file", "append", lit(out),
                                A.Binary("+", meth(name(x), "join", lit("|")), lit("\n"))))]
            if c.chance(40):
                body += self.snapshot_stmt()
            self.pop_scope()
            return [let(n, _try(_fcall("csv", "read_file", lit("t.csv")))),
                    A.ExprStmt(A.For(A.PBind(x), name(n), block(body)), False)]
        return self.reader_stmts(d)

    def reader_stmts(self, d: int) -> list:
        """A lazy reader: a few `next()` calls, then a `for` over the rest of it, with
        `snapshot()` between them or inside the loop (a reader open across a snapshot)."""
        c = self.c
        r = self.fresh("rd")
        out: list = [let(r, _try(_fcall("file", "lines", lit(c.pick(INPUTS)))))]
        for _ in range(c.int(0, 2)):
            out.append(stmt(call("print", lit("next"), meth(name(r), "next"))))
        if c.chance(30):
            out += self.snapshot_stmt()
        x = self.fresh("l")
        self.push_scope()
        body = [stmt(_fcall("file", "append", lit(c.pick(OUTPUTS)),
                            A.Binary("+", name(x), lit("\n"))))]
        if c.chance(50):
            body += self.snapshot_stmt()
        if c.chance(30):
            body.append(stmt(call("print", lit("line"), name(x))))
        self.pop_scope()
        out.append(A.ExprStmt(A.For(A.PBind(x), name(r), block(body)), False))
        if c.chance(30):
            out.append(stmt(call("print", lit("after"), meth(name(r), "next"))))
        return out
