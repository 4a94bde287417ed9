"""A small fallback AST printer for the node kinds the generator emits.

The fuzzer prints with `shapelang.ref.printer.to_source` whenever it exists; this module is only
used when that printer is not available (it parenthesizes every compound sub-expression, which is
ugly but unambiguous). It ends every non-tail statement with `;` so that a following line that
starts with `(`, `[` or `-` is never read as a continuation.
"""
from __future__ import annotations

from typing import Any

from shapelang.ref import ast as A

_ESC = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0",
        "{": "\\{", "}": "\\}"}


def _str(s: str) -> str:
    return '"' + "".join(_ESC.get(ch, ch) for ch in s) + '"'


def _lit(v: Any) -> str:
    if v is None:
        return "None"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, float):
        r = repr(v)
        return r
    return str(v)


def to_source(node: Any) -> str:
    return _Printer().program(node)


class _Printer:
    def program(self, p: A.Program) -> str:
        return "".join(self.stmt(s, 0, i == len(p.body) - 1) for i, s in enumerate(p.body))

    def stmts(self, stmts: list, ind: int) -> str:
        return "".join(self.stmt(s, ind, i == len(stmts) - 1) for i, s in enumerate(stmts))

    def block(self, b: A.Block, ind: int) -> str:
        if not b.stmts:
            return "{ }"
        return "{\n" + self.stmts(b.stmts, ind + 1) + "  " * ind + "}"

    def stmt(self, s: Any, ind: int, last: bool) -> str:
        pad = "  " * ind
        if isinstance(s, A.ExprStmt):
            text = self.expr(s.expr, ind, top=True)
            return pad + text + (";" if s.semi else "") + "\n"
        if isinstance(s, A.Let):
            kw = s.kind + (" mut" if s.mutable and s.kind == "let" else "")
            return f"{pad}{kw} {self.pat(s.pattern)} = {self.expr(s.value, ind, top=True)};\n"
        if isinstance(s, A.Return):
            return pad + "return" + ("" if s.value is None else " " + self.expr(s.value, ind, True)) + ";\n"
        if isinstance(s, A.Break):
            return pad + "break" + ("" if s.value is None else " " + self.expr(s.value, ind, True)) + ";\n"
        if isinstance(s, A.Continue):
            return pad + "continue;\n"
        if isinstance(s, A.FnDecl):
            params = ", ".join(self.param(p, ind) for p in s.params)
            return f"{pad}fn {s.name}({params}) {self.block(s.body, ind)}\n"
        if isinstance(s, A.EnumDecl):
            vs = []
            for v in s.variants:
                if v.kind == "unit":
                    vs.append(v.name)
                elif v.kind == "tuple":
                    vs.append(f"{v.name}({', '.join(v.types)})")
                else:
                    vs.append(v.name + " { " + ", ".join(f"{f}: {t}" for f, t in zip(v.fields, v.types)) + " }")
            return f"{pad}enum {s.name} {{ {', '.join(vs)} }}\n"
        raise TypeError(f"fallback printer: statement {type(s).__name__}")

    def param(self, p: A.Param, ind: int) -> str:
        out = ("&" if p.by_ref else "") + self.pat(p.pattern)
        if p.default is not None:
            out += " = " + self.expr(p.default, ind)
        return out

    def pat(self, p: Any) -> str:
        if isinstance(p, A.PWild):
            return "_"
        if isinstance(p, A.PLit):
            return _lit(p.value)
        if isinstance(p, A.PBind):
            return p.name
        if isinstance(p, A.PArray):
            items = [self.pat(x) for x in p.items]
            if p.has_rest:
                items.append("..." + (p.rest or "_"))
            return "[" + ", ".join(items) + "]"
        if isinstance(p, A.PObject):
            return "{ " + ", ".join(k if isinstance(v, A.PBind) and v.name == k else f"{k}: {self.pat(v)}"
                                    for k, v in p.fields) + " }"
        if isinstance(p, A.PVariant):
            head = "::".join(p.path)
            if p.args is not None:
                return head + "(" + ", ".join(self.pat(a) for a in p.args) + ")"
            if p.fields is not None:
                return head + " { " + ", ".join(
                    k if isinstance(v, A.PBind) and v.name == k else f"{k}: {self.pat(v)}"
                    for k, v in p.fields) + " }"
            return head
        raise TypeError(f"fallback printer: pattern {type(p).__name__}")

    def sub(self, e: Any, ind: int) -> str:
        text = self.expr(e, ind)
        if isinstance(e, (A.Binary, A.Unary, A.Ternary, A.Assign, A.Pipe, A.Lambda, A.RangeExpr,
                          A.If, A.Match, A.Loop, A.Block, A.While, A.For)) or (
                isinstance(e, A.Literal) and isinstance(e.value, (int, float))
                and not isinstance(e.value, bool) and (e.value < 0 or str(e.value).startswith("-"))):
            return "(" + text + ")"
        return text

    def expr(self, e: Any, ind: int, top: bool = False) -> str:
        if isinstance(e, A.Literal):
            return _lit(e.value)
        if isinstance(e, A.UnitLit):
            return "()"
        if isinstance(e, A.Name):
            return e.name
        if isinstance(e, A.Path):
            return "::".join(e.parts)
        if isinstance(e, A.FString):
            out = []
            for part in e.parts:
                if isinstance(part, str):
                    out.append("".join(_ESC.get(ch, ch) if ch not in "{}" else ch * 2 for ch in part))
                else:
                    spec = "" if part.spec is None else ":" + part.spec
                    inner = self.expr(part.expr, ind, True)
                    if inner.startswith("{"):
                        inner = " " + inner + " "   # `{{` would be a literal brace
                    out.append("{" + inner + spec + "}")
            return 'f"' + "".join(out) + '"'
        if isinstance(e, A.ArrayLit):
            return "[" + ", ".join(self.item(x, ind) for x in e.items) + "]"
        if isinstance(e, A.ObjectLit):
            if not e.entries:
                return "{}"
            parts = []
            for ent in e.entries:
                if isinstance(ent, A.Spread):
                    parts.append("..." + self.sub(ent.expr, ind))
                else:
                    parts.append(f"{ent[0]}: {self.expr(ent[1], ind, True)}")
            return "{ " + ", ".join(parts) + " }"
        if isinstance(e, A.StructLit):
            return "::".join(e.path) + " { " + ", ".join(
                f"{k}: {self.expr(v, ind, True)}" for k, v in e.fields) + " }"
        if isinstance(e, A.Unary):
            return e.op + self.sub(e.operand, ind)
        if isinstance(e, A.Binary):
            return f"{self.sub(e.left, ind)} {e.op} {self.sub(e.right, ind)}"
        if isinstance(e, A.Pipe):
            return f"{self.sub(e.left, ind)} |> {self.sub(e.right, ind)}"
        if isinstance(e, A.Ternary):
            return f"{self.sub(e.cond, ind)} ? {self.sub(e.then, ind)} : {self.sub(e.other, ind)}"
        if isinstance(e, A.Assign):
            return f"{self.expr(e.target, ind)} {e.op} {self.expr(e.value, ind, True)}"
        if isinstance(e, A.RefArg):
            return "&" + e.name
        if isinstance(e, A.Call):
            return self.sub(e.callee, ind) + "(" + ", ".join(self.item(a, ind) for a in e.args) + ")"
        if isinstance(e, A.Member):
            return self.sub(e.obj, ind) + ("?." if e.optional else ".") + e.name
        if isinstance(e, A.Index):
            return self.sub(e.obj, ind) + "[" + self.expr(e.index, ind, True) + "]"
        if isinstance(e, A.Try):
            return self.sub(e.expr, ind) + "?"
        if isinstance(e, A.Lambda):
            params = ", ".join(self.param(p, ind) for p in e.params)
            body = self.block(e.body, ind) if isinstance(e.body, A.Block) else self.sub(e.body, ind)
            return f"|{params}| {body}"
        if isinstance(e, A.Block):
            return self.block(e, ind)
        if isinstance(e, A.If):
            out = f"if {self.expr(e.cond, ind, True)} {self.block(e.then, ind)}"
            if e.other is not None:
                out += " else " + (self.expr(e.other, ind) if isinstance(e.other, A.If)
                                   else self.block(e.other, ind))
            return out
        if isinstance(e, A.Match):
            arms = []
            for arm in e.arms:
                g = "" if arm.guard is None else " where " + self.expr(arm.guard, ind + 1, True)
                body = self.block(arm.body, ind + 1) if isinstance(arm.body, A.Block) else \
                    self.expr(arm.body, ind + 1, True)
                arms.append("  " * (ind + 1) + f"{self.pat(arm.pattern)}{g} => {body},\n")
            return f"match {self.expr(e.subject, ind, True)} {{\n" + "".join(arms) + "  " * ind + "}"
        if isinstance(e, A.While):
            return f"while {self.expr(e.cond, ind, True)} {self.block(e.body, ind)}"
        if isinstance(e, A.For):
            return f"for {self.pat(e.pattern)} in {self.expr(e.iterable, ind, True)} {self.block(e.body, ind)}"
        if isinstance(e, A.Loop):
            return "loop " + self.block(e.body, ind)
        if isinstance(e, A.RangeExpr):
            return f"{self.sub(e.start, ind)}{'..=' if e.inclusive else '..'}{self.sub(e.end, ind)}"
        if isinstance(e, A.Comprehension):
            parts = [self.expr(e.expr, ind, True)]
            for cl in e.clauses:
                if isinstance(cl, A.CompFor):
                    parts.append(f"for {self.pat(cl.pattern)} in {self.expr(cl.iterable, ind, True)}")
                else:
                    parts.append(f"if {self.expr(cl.cond, ind, True)}")
            return "[" + " ".join(parts) + "]"
        raise TypeError(f"fallback printer: expression {type(e).__name__}")

    def item(self, e: Any, ind: int) -> str:
        if isinstance(e, A.Spread):
            return "..." + self.sub(e.expr, ind)
        return self.expr(e, ind, True)
