"""AST printer: `to_source(node)` turns a `shapelang.ref.ast` tree back into Shape source.

The contract is the round trip: for every tree the parser produces, `parse(to_source(tree)) ==
tree` (positions are not compared). The fuzzer generates trees, prints them and re-parses them,
so the printer never relies on the tree having come from source: wherever a tree cannot be
written as source at all (a non-finite float, a keyword used as a name, two expression
statements that no separator can keep apart, ...) it raises ValueError instead of printing text
that would parse to something else.

What makes this more than a pretty printer is that newlines are whitespace in Shape and the lexer
decides a few tokens by looking ahead in the raw text (see the docstring of `lexer.py`). The
printer therefore guards every place where two printed pieces meet:

- Precedence and associativity follow the table in `parser.py`; a sub-expression is parenthesised
  exactly when its precedence is below what its position requires. Lambdas extend as far right as
  possible, so they are parenthesised everywhere except in comma/bracket-delimited positions.
- `-` + number literal is folded by the parser into a negative Literal, so `Literal(-5)` prints as
  `-5` and `Unary("-", Literal(5))` prints as `-(5)`.
- `?` is the postfix try only when no expression start follows on the same line (and `?.`/`??`
  are tokens of their own), so a try followed by `-`, `[`, `(`, `.`, `?`, `{`, `|`, `for`, ... is
  parenthesised (`e as T?` ends in such a `?` too, and a try of an `as` is always bracketed); at the very start of a statement, where a `(` could glue onto the previous
  statement, it is followed by a space (before `.`/`?`) or by `/**/` instead.
- A capitalised name directly before a brace that looks like `{}`/`{ x }`/`{ x, `/`{ x: ` lexes
  as a struct literal; blocks after such a name start with `{;` and statements are kept apart.
- At the start of a statement an `if`/`match`/`while`/`for`/`loop`/block ends the statement when
  the next token could start another one (`(`, `[`, `-`, `||`), so such a block-like left operand
  is parenthesised.
- Expression statements are separated by newlines; a non-expression statement that could run
  into the next one gets a `;` (its semicolon is not recorded in the tree).
- A `|` opens a lambda at the start of a line or where no operand ends before it, so a lambda is
  parenthesised wherever it is an operand; `e as T` followed by `<` is parenthesised (the `<`
  would open type arguments); a type ending in `>` is followed by a space before another `>`.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Optional

from shapelang.ref import ast as A
from shapelang.ref.deepstack import on_deep_stack
from shapelang.ref import lexer as L
from shapelang.ref import modules
from shapelang.ref import types as T

__all__ = ["to_source"]

_INDENT = "  "

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Keywords the grammar also accepts after `.` and as object keys (`member_name`).
_MEMBER_KEYWORDS = {"type", "match", "in", "from", "as", "use", "where"}

_BINARY_PREC = {
    "??": 4, "!!": 5, "||": 6, "&&": 7, "|": 8, "^": 9, "&": 10,
    "==": 11, "!=": 11, "<": 11, "<=": 11, ">": 11, ">=": 11,
    "+": 13, "-": 13, "<<": 14, ">>": 14, "*": 15, "/": 15, "%": 15, "**": 16,
}
_FUZZY_OPS = {"~=", "~<", "~>"}
_P_COMPARE = 11
_ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>="}
_P_LAMBDA, _P_ASSIGN, _P_PIPE, _P_TERNARY, _P_RANGE, _P_UNARY, _P_POSTFIX = 0, 1, 2, 3, 12, 17, 18

_BLOCKLIKE = (A.If, A.Match, A.While, A.For, A.Loop, A.Block)

# The last token of a text is a capitalised identifier (a STRUCTNAME if a struct brace follows).
_CAP_END = re.compile(r"(?<![A-Za-z0-9_])[A-Z][A-Za-z0-9_]*\Z")
_EXTEND_END = re.compile(r"(?<![A-Za-z0-9_])extend\Z")
_METHOD_END = re.compile(r"(?<![A-Za-z0-9_])method\Z")
_NAME_BRACE = re.compile(r"[A-Za-z_]\w*\s*\{")
_NAME_PAREN = re.compile(r"[A-Za-z_]\w*\s*[(<]")
_SPEC = re.compile(r"\.\d+f|fixed\(\d+\)")


def to_source(node: Any) -> str:
    """Shape source for `node`: a Program, a statement, an expression or a pattern.

    An expression is printed as a statement of its own (so `parse(to_source(e)).body[0].expr == e`).
    Raises ValueError when no source text parses back to `node`.
    """
    try:
        return _to_source(node)
    except RecursionError:
        # The LALR parser is iterative, so it builds trees (a 5,000-term sum) deeper than
        # Python's default recursion limit; print those on a thread with a large stack.
        return _on_deep_stack(lambda: _to_source(node))


def _to_source(node: Any) -> str:
    p = _Printer()
    if isinstance(node, A.Program):
        text = p.stmts(node.body)
        return text + "\n" if text else ""
    if isinstance(node, (A.PWild, A.PLit, A.PBind, A.PArray, A.PObject, A.PVariant, A.PTyped)):
        return p.pat(node)
    if _is_stmt(node):
        return p.stmt(node)
    return p.ex(node, 0, True)


def _on_deep_stack(fn: Callable[[], str]) -> str:
    return on_deep_stack(fn, stack_mb=512, recursion=200_000)


# ---------------------------------------------------------------- helpers


def _bad(what: str, node: Any = None) -> ValueError:
    return ValueError(f"cannot print {what}" + (f": {node!r}" if node is not None else ""))


def _is_stmt(node: Any) -> bool:
    return isinstance(node, (A.ExprStmt, A.Let, A.Return, A.Break, A.Continue, A.FnDecl,
                             A.EnumDecl, A.TypeDecl, A.TypeAlias, A.ExtendDecl, A.AnnotationDecl,
                             A.Import, A.TraitDecl, A.ImplDecl))


def _ident(name: Any, what: str = "name") -> str:
    """A plain identifier (IDENT/STRUCTNAME token): ASCII and not reserved."""
    if not isinstance(name, str) or not _IDENT.match(name) or name in L.RESERVED:
        raise _bad(f"{what} {name!r} (not an identifier)")
    return name


def _member_name(name: Any) -> str:
    if isinstance(name, str) and name in _MEMBER_KEYWORDS:
        return name
    return _ident(name, "member name")


def _indent(text: str) -> str:
    # Only whitespace between tokens is touched: strings never contain a raw newline.
    return "\n".join(_INDENT + ln if ln else ln for ln in text.split("\n"))


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad("number", value)
    if isinstance(value, int):
        # A literal above 2**63 - 1 is a lex error, and `-` folds onto a positive literal.
        if abs(value) > 2**63 - 1:
            raise _bad("integer literal outside 64 bits", value)
        return str(value)
    if not math.isfinite(value):
        raise _bad("non-finite float literal", value)
    return repr(value)   # digits on both sides of `.` or an exponent: always a FLOAT token


def _escape(s: str, fstring: bool) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        elif ch in "{}":
            # Plain strings escape braces so that print's interpolation quirk never fires.
            out.append(ch * 2 if fstring else "\\" + ch)
        else:
            # Other control characters are accepted raw inside a string token by the lexer.
            out.append(ch)
    return "".join(out)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _bad("string", value)
    return '"' + _escape(value, False) + '"'


def _scalar(value: Any) -> str:
    """A Literal/PLit value: int, float, str, bool or None."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "None"
    if isinstance(value, str):
        return _string(value)
    return _number(value)


def _try_risky(follow: str) -> bool:
    """Would a `?` directly followed by `follow` lex as something other than postfix try?"""
    return (follow.startswith((".", "?")) or follow.lstrip(" ").startswith("|")
            or bool(L._EXPR_START.match(follow)))


def _struct_hazard(before: str, after: str) -> bool:
    """`before` + whitespace + `after`: would the lexer make a STRUCTNAME/EXTEND/METHOD token?"""
    cap = _CAP_END.search(before)
    if cap and cap.group() != "None" and L._STRUCT_BRACE.match(" " + after):
        return True
    if _EXTEND_END.search(before) and _NAME_BRACE.match(after):
        return True
    return bool(_METHOD_END.search(before) and _NAME_PAREN.match(after))


def _join_words(before: str, after: str) -> str:
    """Join with a space, or with an empty comment where the lexer would otherwise fuse them."""
    sep = " /**/ " if _struct_hazard(before, after) else " "
    return before + sep + after


def _glue_start(text: str, before: str) -> bool:
    """Could a statement starting with `text` continue the expression printed `before` it (on
    the line before)? A `(` or `[` only when that line does not end a statement (ref/lexer.py)."""
    if text[:1] in ("(", "["):
        return not before or not L.line_end_ends_statement(before.rstrip()[-1:] or " ")
    if text[:1] == "-":
        return True
    return text.startswith("||") and not re.match(r"\|\|\s*[{|]", text)


def _prec(node: Any) -> int:
    if isinstance(node, A.Lambda):
        return _P_LAMBDA
    if isinstance(node, A.Assign):
        return _P_ASSIGN
    if isinstance(node, A.Pipe):
        return _P_PIPE
    if isinstance(node, A.Ternary):
        return _P_TERNARY
    if isinstance(node, A.Binary):
        if node.op not in _BINARY_PREC:
            raise _bad(f"binary operator {node.op!r}")
        return _BINARY_PREC[node.op]
    if isinstance(node, A.Fuzzy):
        return _P_COMPARE
    if isinstance(node, A.RangeExpr):
        return _P_RANGE
    if isinstance(node, (A.Unary, A.Await)):
        return _P_UNARY
    if isinstance(node, A.Literal) and _is_number(node.value) \
            and _number(node.value).startswith("-"):
        return _P_UNARY   # `-5` is `MINUS INT` folded by the parser
    return _P_POSTFIX


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


# ---------------------------------------------------------------- types


def _type(text: Any) -> str:
    """Source for canonical type text (ref/types.py); ValueError if it is not canonical or names
    something that is not an identifier."""
    if not isinstance(text, str):
        raise _bad("type", text)
    try:
        t = T.parse_type(text)
    except T.TypeTextError as e:
        raise _bad(f"type ({e})", text)
    for named in T.named_types(t):
        if named.name not in ("None", "fn", "function"):
            _ident(named.name, "type name")
        if named.name == "dyn":
            raise _bad("type named dyn", text)
    for trait in T.trait_names(t):
        _ident(trait, "trait name")
    return T.type_source(t)


def _atom_type(text: Any) -> str:
    """A type where only a type atom may stand (after `as`, the target of an `impl`): no `?`
    outside brackets, since a `?` there is the fallible conversion or the try operator."""
    src = _type(text)
    if src.endswith("?"):
        raise _bad("type with a trailing '?' where only a type atom is allowed", text)
    return src


def _trait_ref(text: Any) -> str:
    """The trait of an `impl`: a name with optional type arguments."""
    src = _atom_type(text)
    if not re.match(r"[A-Za-z_]\w*(?:<.*>)?\Z", src) or src.startswith("dyn "):
        raise _bad("trait reference", text)
    return src


def _close_angle(text: str) -> str:
    """`>` after `text`, spaced when `text` itself ends with `>` (`>>` is one token)."""
    return text + (" >" if text.endswith(">") else ">")


# ---------------------------------------------------------------- the printer


class _Printer:

    # ------------------------------------------------------------ statements

    def stmts(self, stmts: list) -> str:
        stmts = modules.written(stmts)   # not what an import of std::core::remote spliced in
        texts = [self.stmt(s) for s in stmts]
        out = []
        for i, (s, t) in enumerate(zip(stmts, texts)):
            if i + 1 < len(stmts):
                nxt = texts[i + 1]
                if _IDENT.match(nxt) and i + 2 < len(stmts):
                    # `extend` + `continue` + `{…}` spans three statements for the lexer.
                    nxt += "\n" + texts[i + 2]
                t += self._separator(s, t, nxt)
            out.append(t)
        return "\n".join(out)

    def _separator(self, s: Any, text: str, nxt: str) -> str:
        """What keeps statement `s` (printed `text`) apart from the next one (printed `nxt`)."""
        if isinstance(s, A.ExprStmt):
            if s.semi:
                return ""
            grammar = not isinstance(s.expr, _BLOCKLIKE) and _glue_start(nxt, text)
            if grammar:
                raise _bad("expression statement without ';' followed by a statement starting "
                           f"with {nxt[:2]!r} (they would parse as one expression)")
            # The lexer looks across the newline for struct braces and `extend Name {`: a line
            # comment stops that without adding a `;` that the tree does not have.
            return " //" if _struct_hazard(text, nxt) else ""
        if isinstance(s, (A.Return, A.Break)) and s.value is None:
            return ";"   # a bare `return` takes the next statement's expression as its value
        open_end = isinstance(s, (A.Let, A.Return, A.Break, A.Import))
        if (open_end and _glue_start(nxt, text)) or _struct_hazard(text, nxt):
            return ";"
        return ""

    def stmt(self, s: Any) -> str:
        if isinstance(s, A.ExprStmt):
            return self.ex(s.expr, 0, True) + (";" if s.semi else "")
        if isinstance(s, A.Let):
            return self._let(s)
        if isinstance(s, A.Return):
            return "return" if s.value is None else "return " + self.ex(s.value)
        if isinstance(s, A.Break):
            return "break" if s.value is None else "break " + self.ex(s.value)
        if isinstance(s, A.Continue):
            return "continue"
        if isinstance(s, A.FnDecl):
            return self._fn(s)
        if isinstance(s, A.EnumDecl):
            return self._enum(s)
        if isinstance(s, A.TypeDecl):
            return self._type_decl(s)
        if isinstance(s, A.TypeAlias):
            return f"type {_ident(s.name, 'type name')} = {_type(s.target)}"
        if isinstance(s, A.ExtendDecl):
            return self._extend(s)
        if isinstance(s, A.AnnotationDecl):
            return self._annotation_decl(s)
        if isinstance(s, A.Import):
            return self._import(s)
        if isinstance(s, A.TraitDecl):
            return self._trait(s)
        if isinstance(s, A.ImplDecl):
            return self._impl(s)
        raise _bad("statement", s)

    def _let(self, s: A.Let) -> str:
        if s.kind == "let":
            kw = "let mut" if s.mutable else "let"
        elif s.kind == "var" and s.mutable:
            kw = "var"
        elif s.kind == "const" and not s.mutable and s.value is not None:
            kw = "const"
        else:
            raise _bad("binding (kind/mutable/value combination)", s)
        text = kw + " " + self.binding_pat(s.pattern)
        if s.type is not None:
            text += ": " + _type(s.type)
        if s.value is not None:
            text += " = " + self.ex(s.value)
        return text

    def _annotation_use(self, use: A.AnnotationUse, after: str) -> str:
        if not isinstance(use, A.AnnotationUse):
            raise _bad("annotation use", use)
        name = _ident(use.name, "annotation name")
        if use.args:
            return f"@{name}({self._args(use.args)})"
        # `@name (x)` would take `(x)` as the annotation's arguments; `@method x <` would lex
        # as a generic method head whatever operator follows the annotated operand.
        if after.startswith("(") or _struct_hazard(name, after) or name == "method":
            return f"@{name}()"
        return f"@{name}"

    def _fn(self, f: A.FnDecl) -> str:
        if not isinstance(f, A.FnDecl):
            raise _bad("function declaration", f)
        head = ""
        for use in f.annotations:
            head += self._annotation_use(use, "fn") + "\n"
        if f.is_async:
            head += "async "
        head += f"fn {_ident(f.name, 'function name')}{self._type_params(f.type_params)}"
        head += f"({self._params(f.params)})"
        if f.ret_type is not None:
            head += " -> " + _type(f.ret_type)
        return head + " " + self._block(f.body, after=head)

    def _type_params(self, tps: list) -> str:
        if not tps:
            return ""
        out = []
        for tp in tps:
            if not isinstance(tp, A.TypeParam):
                raise _bad("type parameter", tp)
            text = _ident(tp.name, "type parameter name")
            if tp.bounds:
                text += ": " + " + ".join(_ident(b, "trait name") for b in tp.bounds)
            if tp.default is not None:
                text += " = " + _type(tp.default)
            out.append(text)
        if len({tp.name for tp in tps}) != len(tps):
            raise _bad("type parameters with a repeated name", tps)
        return _close_angle("<" + ", ".join(out))

    def _params(self, params: list, in_lambda: bool = False) -> str:
        return ", ".join(self._param(p, in_lambda) for p in params)

    def _param(self, p: A.Param, in_lambda: bool) -> str:
        if not isinstance(p, A.Param):
            raise _bad("parameter", p)
        if p.by_ref:
            if not isinstance(p.pattern, A.PBind) or p.default is not None:
                raise _bad("reference parameter (only `&name` with an optional type)", p)
            text = "&" + _ident(p.pattern.name)
        else:
            text = self.binding_pat(p.pattern)
        if p.type is not None:
            text += ": " + _type(p.type)
        if p.default is not None:
            # Inside `|…|` anything below unary level is bracketed so no `|`/`||` can leak out.
            text += " = " + self.ex(p.default, _P_UNARY if in_lambda else 0)
        return text

    def _enum(self, e: A.EnumDecl) -> str:
        variants = []
        for v in e.variants:
            if not isinstance(v, A.Variant):
                raise _bad("enum variant", v)
            name = _ident(v.name, "variant name")
            if v.value is not None and (v.kind != "unit" or type(v.value) not in (int, float, str)):
                raise _bad("enum variant value (a number or string on a unit variant)", v)
            if v.kind == "unit" and not v.types and not v.fields:
                variants.append(name if v.value is None else f"{name} = {_scalar(v.value)}")
            elif v.kind == "tuple" and not v.fields and v.types:
                variants.append(f"{name}({', '.join(_type(t) for t in v.types)})")
            elif v.kind == "struct" and len(v.types) == len(v.fields):
                if not name[0].isupper():
                    raise _bad("struct variant with a lower-case name", v)
                fields = ", ".join(_ident(f, "field name") + (": " + _type(t) if t else "")
                                   for f, t in zip(v.fields, v.types))
                variants.append(f"{name} {{ {fields} }}" if fields else f"{name} {{}}")
            else:
                raise _bad("enum variant", v)
        if not variants:
            raise _bad("enum without variants", e)
        if len({v.name for v in e.variants}) != len(e.variants):
            raise _bad("enum with a repeated variant", e)
        name = _ident(e.name, "enum name") + self._type_params(e.type_params)
        return f"enum {name} {{ {', '.join(variants)} }}"

    def _type_decl(self, t: A.TypeDecl) -> str:
        fields = []
        for f in t.fields:
            if isinstance(f, A.ComptimeField):
                if f.type is None:
                    raise _bad("comptime field without a type", f)
                text = f"comptime {_ident(f.name, 'field name')}: {_type(f.type)}"
                if f.default is not None:
                    text += " = " + self.ex(f.default)
                fields.append(text)
                continue
            if not isinstance(f, A.FieldDecl):
                raise _bad("field declaration", f)
            text = _ident(f.name, "field name")
            if f.type is not None:
                text += ": " + _type(f.type)
            if f.default is not None:
                if f.type is None:
                    raise _bad("field default without a type", f)
                text += " = " + self.ex(f.default)
            fields.append(text)
        if len({f.name for f in t.fields}) != len(t.fields):
            raise _bad("type with a repeated field", t)
        name = _ident(t.name, "type name") + self._type_params(t.type_params)
        return f"type {name} {{ {', '.join(fields)} }}" if fields else f"type {name} {{}}"

    def _trait(self, t: A.TraitDecl) -> str:
        members = []
        for m in t.members:
            if isinstance(m, A.TraitMethodSig):
                text = f"{_ident(m.name, 'method name')}({self._params(m.params)})"
                if m.ret_type is not None:
                    text += ": " + _type(m.ret_type)
                members.append(text)
            elif isinstance(m, A.FnDecl):
                members.append(self._fn(m))
            else:
                raise _bad("trait member", m)
        if len({m.name for m in t.members}) != len(t.members):
            raise _bad("trait with a repeated member", t)
        head = f"trait {_ident(t.name, 'trait name')}{self._type_params(t.type_params)}"
        if not members:
            return head + " {}"
        return head + " {\n" + _indent("\n".join(members)) + "\n}"

    def _impl(self, i: A.ImplDecl) -> str:
        head = f"impl {_trait_ref(i.trait)} for {_atom_type(i.target)}"
        if i.name is not None:
            head += " as " + _ident(i.name, "impl name")
        if len({m.name for m in i.methods}) != len(i.methods):
            raise _bad("impl with a repeated method", i)
        if not i.methods:
            return head + " {}"
        body = "\n".join(self._fn(m) for m in i.methods)
        return head + " {\n" + _indent(body) + "\n}"

    def _extend(self, x: A.ExtendDecl) -> str:
        name = _ident(x.type_name, "type name")
        if not x.methods:
            return f"extend {name} {{}}"
        body = "\n".join(self._fn(m) for m in x.methods)
        return f"extend {name} {{\n{_indent(body)}\n}}"

    def _annotation_decl(self, d: A.AnnotationDecl) -> str:
        items = []
        if d.targets:
            for t in d.targets:
                if t != "function":
                    _ident(t, "annotation target")
            items.append(f"targets: [{', '.join(d.targets)}]")
        for slot in ("before", "after"):
            h = getattr(d, slot)
            if h is None:
                continue
            if (not isinstance(h, A.FnDecl) or h.name != slot or h.ret_type is not None
                    or h.is_async or h.annotations):
                raise _bad(f"annotation {slot} handler", h)
            items.append(f"{slot}({self._params(h.params)}) " + self._block(h.body))
        head = f"annotation {_ident(d.name, 'annotation name')}({self._params(d.params)})"
        if not items:
            return head + " {}"
        return head + " {\n" + _indent("\n".join(items)) + "\n}"

    def _import(self, imp: A.Import) -> str:
        if not imp.path:
            raise _bad("import without a module path", imp)
        path = "::".join(_ident(p, "module name") for p in imp.path)
        if not imp.names:
            return "use " + path
        names = ", ".join(_ident(n, "imported name") for n in imp.names)
        return "from " + _join_words(path, f"use {{ {names} }}")

    # ------------------------------------------------------------ blocks

    def _block(self, b: Any, after: str = "", expr_pos: bool = False) -> str:
        """A block; `after` is the text just before it (a capitalised name there is a hazard)."""
        if not isinstance(b, A.Block):
            raise _bad("block", b)
        if not b.stmts:
            # `{}` in expression position is an empty object; `{;}` is always a block.
            text = "{;}" if expr_pos else "{}"
        else:
            text = "{\n" + _indent(self.stmts(b.stmts)) + "\n}"
        if _struct_hazard(after, text):
            text = "{;}" if text == "{}" else "{;" + text[1:]
        return text

    # ------------------------------------------------------------ expressions

    def ex(self, node: Any, min_prec: int = 0, start: bool = False) -> str:
        """`node` as source; bracketed if its precedence is below `min_prec`.

        `start`: the text begins a statement (or an f-string hole, which is parsed as one).
        """
        if _prec(node) < min_prec:
            return "(" + self.ex(node, 0, False) + ")"
        method: Optional[Callable[[Any, bool], str]] = getattr(
            self, "_x_" + type(node).__name__, None)
        if method is None or not isinstance(node, A.Node):
            raise _bad("expression", node)
        return method(node, start)

    def _lhs(self, child: Any, min_prec: int, start: bool, follow: str) -> str:
        """A left operand directly followed by the text `follow`."""
        if start and isinstance(child, _BLOCKLIKE) and follow.strip() in ("(", "[", "-", "||"):
            # At statement start the block-like would end the statement before `follow`.
            return "(" + self.ex(child, 0, False) + ")"
        if isinstance(child, A.As) and follow.strip().startswith("<"):
            return "(" + self.ex(child, 0, False) + ")"     # `x as T <` opens type arguments
        text = self.ex(child, min_prec, start)
        if text.endswith("?") and _try_risky(follow):
            if not start:
                return "(" + text + ")"
            # At statement start a `(` could glue onto the previous statement.
            return text + (" " if follow.startswith((".", "?")) else " /**/")
        return text

    def _head(self, node: Any) -> str:
        """An expression followed by ` {` or a keyword (`for`, `if`)."""
        # Struct literals in a header must be parenthesised (the lexer reads `Name {` there as a
        # name and the body's brace, as Rust does).
        self._in_head = getattr(self, "_in_head", 0) + 1
        try:
            text = self.ex(node)
        finally:
            self._in_head -= 1
        if text.endswith("?"):
            return "(" + text + ")"
        return text

    def _args(self, args: list) -> str:
        out = []
        for a in args:
            if isinstance(a, A.RefArg):
                out.append("&" + _ident(a.name))
            elif isinstance(a, A.Spread):
                out.append("..." + self.ex(a.expr))
            else:
                out.append(self.ex(a))
        return ", ".join(out)

    def _x_Literal(self, n: A.Literal, start: bool) -> str:
        return _scalar(n.value)

    def _x_UnitLit(self, n: A.UnitLit, start: bool) -> str:
        return "()"

    def _x_FString(self, n: A.FString, start: bool) -> str:
        out = []
        prev_text = False
        for part in n.parts:
            if isinstance(part, str):
                if not part or prev_text:
                    raise _bad("f-string with empty or adjacent text parts", n)
                out.append(_escape(part, True))
                prev_text = True
            elif isinstance(part, A.FPart):
                out.append(self._hole(part))
                prev_text = False
            else:
                raise _bad("f-string part", part)
        return 'f"' + "".join(out) + '"'

    def _hole(self, part: A.FPart) -> str:
        text = self.ex(part.expr, 0, True)
        # `{{` is a literal brace, and `…: fixed(2)` at the end would be read as a format spec.
        if text.startswith("{") or L._SPEC.match(text):
            text = "(" + text + ")"
        if part.spec is not None:
            if not isinstance(part.spec, str) or not _SPEC.fullmatch(part.spec):
                raise _bad("f-string format spec", part.spec)
            text += ":" + part.spec
        hole = "{" + text + "}"
        # The lexer finds the closing brace by counting braces outside string literals; nested
        # f-strings with strings inside can defeat that count.
        if L.matching_brace(hole, 0) != len(hole) - 1:
            raise _bad("f-string hole (its braces cannot be delimited)", part)
        return hole

    def _x_Name(self, n: A.Name, start: bool) -> str:
        return _ident(n.name)

    def _x_Path(self, n: A.Path, start: bool) -> str:
        if len(n.parts) < 2:
            raise _bad("path with fewer than two parts", n)
        return "::".join(_ident(p, "path segment") for p in n.parts)

    def _x_ArrayLit(self, n: A.ArrayLit, start: bool) -> str:
        items = ["..." + self.ex(i.expr) if isinstance(i, A.Spread) else self.ex(i)
                 for i in n.items]
        return "[" + ", ".join(items) + "]"

    def _x_ObjectLit(self, n: A.ObjectLit, start: bool) -> str:
        if not n.entries:
            return "{}"
        entries = []
        for e in n.entries:
            if isinstance(e, A.Spread):
                entries.append("..." + self.ex(e.expr))
            elif isinstance(e, tuple) and len(e) == 2:
                key, value = e
                try:
                    k = _member_name(key)
                except ValueError:
                    k = _string(key)
                entries.append(f"{k}: {self.ex(value)}")
            else:
                raise _bad("object entry", e)
        return "{ " + ", ".join(entries) + " }"

    def _struct_path(self, path: list) -> str:
        if not path or not isinstance(path[-1], str) or not path[-1][:1].isupper():
            raise _bad("struct path (the last segment must be capitalised)", path)
        return "::".join(_ident(p, "path segment") for p in path)

    def _x_StructLit(self, n: A.StructLit, start: bool) -> str:
        path = self._struct_path(n.path)
        fields = []
        for f in n.fields:
            if not (isinstance(f, tuple) and len(f) == 2):
                raise _bad("struct field", f)
            name, value = f
            name = _ident(name, "field name")
            fields.append(name if value == A.Name(name) else f"{name}: {self.ex(value)}")
        text = f"{path} {{ {', '.join(fields)} }}" if fields else f"{path} {{}}"
        return f"({text})" if getattr(self, "_in_head", 0) else text

    def _x_Unary(self, n: A.Unary, start: bool) -> str:
        if n.op not in ("-", "!", "~"):
            raise _bad(f"unary operator {n.op!r}")
        if n.op == "-" and isinstance(n.operand, A.Literal) and _is_number(n.operand.value):
            return "-(" + self.ex(n.operand) + ")"   # `-5` would fold into Literal(-5)
        text = self.ex(n.operand, _P_UNARY)
        if n.op == "!" and text.startswith("!"):
            return "! " + text                       # `!!` is its own operator
        return n.op + text

    def _x_Await(self, n: A.Await, start: bool) -> str:
        text = self.ex(n.expr, _P_UNARY)
        uses = []
        for use in reversed(n.annotations):
            uses.append(self._annotation_use(use, uses[-1] if uses else text))
        return " ".join(["await"] + uses[::-1] + [text])

    def _x_Binary(self, n: A.Binary, start: bool) -> str:
        p = _prec(n)
        right_assoc = n.op == "**"
        follow = f" {n.op} "
        left = self._lhs(n.left, p + 1 if right_assoc else p, start, follow)
        right = self.ex(n.right, p if right_assoc else p + 1)
        if n.op == "||" and right[:1] in ("{", "|"):
            right = "(" + right + ")"   # `|| {` / `|| |` starts a lambda
        elif n.op == "!!" and type(n.right) is A.Try:
            right = "(" + right + ")"   # `a !! ctx?` is `(a !! ctx)?`
        return left + follow + right

    def _x_Fuzzy(self, n: A.Fuzzy, start: bool) -> str:
        if n.op not in _FUZZY_OPS:
            raise _bad(f"fuzzy operator {n.op!r}")
        follow = f" {n.op} "
        text = self._lhs(n.left, _P_COMPARE, start, follow) + follow
        right = self.ex(n.right, _P_COMPARE + 1)
        if n.tolerance is not None and right.endswith("?"):
            right = "(" + right + ")"      # `x? within` would read `?` as a conditional
        text += right
        if n.tolerance is None:
            if n.percent:
                raise _bad("percent flag without a tolerance", n)
            return text
        if not _is_number(n.tolerance) or n.tolerance < 0:
            raise _bad("fuzzy tolerance (a non-negative number)", n.tolerance)
        return text + " within " + _number(n.tolerance) + ("%" if n.percent else "")

    def _x_As(self, n: A.As, start: bool) -> str:
        text = self._lhs(n.expr, _P_POSTFIX, start, " as ") + " as " + _atom_type(n.type)
        return text + "?" if n.fallible else text

    def _x_DurationLit(self, n: A.DurationLit, start: bool) -> str:
        if not n.parts:
            raise _bad("duration without parts", n)
        out = []
        for part in n.parts:
            if not (isinstance(part, tuple) and len(part) == 2):
                raise _bad("duration part", part)
            amount, unit = part
            if unit not in L.DURATION_UNITS or not isinstance(unit, str) or len(unit) != 1:
                raise _bad("duration unit", unit)
            text = _number(amount) if _is_number(amount) else None
            if text is None or not re.fullmatch(r"\d+(?:\.\d+)?", text):
                raise _bad("duration amount (digits, optionally with a fraction)", amount)
            out.append(text + unit)
        return "".join(out)

    def _x_FnExpr(self, n: A.FnExpr, start: bool) -> str:
        head = f"fn({self._params(n.params)})"
        if n.ret_type is not None:
            head += " -> " + _type(n.ret_type)
        return head + " " + self._block(n.body, after=head)

    def _x_Pipe(self, n: A.Pipe, start: bool) -> str:
        return self._lhs(n.left, _P_PIPE, start, " |> ") + " |> " + self.ex(n.right, _P_PIPE + 1)

    def _x_Ternary(self, n: A.Ternary, start: bool) -> str:
        cond = self._lhs(n.cond, _P_TERNARY + 1, start, " ? ")
        then = self.ex(n.then)
        if then.startswith(("|", "{")):
            then = "(" + then + ")"   # `? |`/`? {` may make the `?` a postfix try
        return f"{cond} ? {then} : {self.ex(n.other, _P_TERNARY)}"

    def _x_Assign(self, n: A.Assign, start: bool) -> str:
        if n.op not in _ASSIGN_OPS:
            raise _bad(f"assignment operator {n.op!r}")
        if not isinstance(n.target, (A.Name, A.Member, A.Index)):
            raise _bad("assignment target", n.target)
        follow = f" {n.op} "
        return self._lhs(n.target, _P_POSTFIX, start, follow) + follow + self.ex(n.value, _P_ASSIGN)

    def _x_RangeExpr(self, n: A.RangeExpr, start: bool) -> str:
        op = "..=" if n.inclusive else ".."
        return self._lhs(n.start, _P_RANGE + 1, start, op) + op + self.ex(n.end, _P_RANGE + 1)

    def _x_Call(self, n: A.Call, start: bool) -> str:
        return self._lhs(n.callee, _P_POSTFIX, start, "(") + "(" + self._args(n.args) + ")"

    def _x_Member(self, n: A.Member, start: bool) -> str:
        op = "?." if n.optional else "."
        return self._lhs(n.obj, _P_POSTFIX, start, op) + op + _member_name(n.name)

    def _x_Index(self, n: A.Index, start: bool) -> str:
        return self._lhs(n.obj, _P_POSTFIX, start, "[") + "[" + self.ex(n.index) + "]"

    def _x_Try(self, n: A.Try, start: bool) -> str:
        if isinstance(n.expr, A.As):
            # `x as T?` is the fallible conversion, and `x as T??` would lex `??`.
            return "(" + self.ex(n.expr, 0, False) + ")?"
        return self._lhs(n.expr, _P_POSTFIX, start, "?") + "?"

    def _x_Lambda(self, n: A.Lambda, start: bool) -> str:
        body = self.ex(n.body)
        if n.params:
            return "|" + self._params(n.params, in_lambda=True) + "| " + body
        if body[:1] in ("{", "|"):
            return "|| " + body
        # `||` not followed by `{`/`|` is also logical or: after another statement it would glue.
        return ("| | " if start else "|| ") + body

    def _x_Block(self, n: A.Block, start: bool) -> str:
        return self._block(n, expr_pos=True)

    def _x_If(self, n: A.If, start: bool) -> str:
        cond = self._head(n.cond)
        text = "if " + cond + " " + self._block(n.then, after=cond)
        if n.other is None:
            return text
        if isinstance(n.other, A.If):
            return text + " else " + self._x_If(n.other, False)
        return text + " else " + self._block(n.other)

    def _x_While(self, n: A.While, start: bool) -> str:
        cond = self._head(n.cond)
        return "while " + cond + " " + self._block(n.body, after=cond)

    def _x_For(self, n: A.For, start: bool) -> str:
        it = self._head(n.iterable)
        head = _join_words(self.binding_pat(n.pattern), "in " + it)
        return "for " + head + " " + self._block(n.body, after=it)

    def _x_Loop(self, n: A.Loop, start: bool) -> str:
        return "loop " + self._block(n.body)

    def _x_Match(self, n: A.Match, start: bool) -> str:
        subject = self._head(n.subject)
        if not n.arms:
            if _struct_hazard(subject, "{}"):
                subject = "(" + subject + ")"
            return f"match {subject} {{}}"
        arms = []
        for arm in n.arms:
            if not isinstance(arm, A.MatchArm):
                raise _bad("match arm", arm)
            text = self.pat(arm.pattern)
            if arm.guard is not None:
                text = _join_words(text, "where " + self.ex(arm.guard))
            arms.append(text + " => " + self.ex(arm.body))
        return f"match {subject} {{\n" + _indent(",\n".join(arms)) + "\n}"

    def _x_Comprehension(self, n: A.Comprehension, start: bool) -> str:
        if not n.clauses or not isinstance(n.clauses[0], A.CompFor):
            raise _bad("comprehension (must start with a `for` clause)", n)
        text = self._head(n.expr)
        for c in n.clauses:
            if isinstance(c, A.CompFor):
                clause = "for " + _join_words(self.binding_pat(c.pattern),
                                              "in " + self._head(c.iterable))
            elif isinstance(c, A.CompIf):
                clause = "if " + self._head(c.cond)
            else:
                raise _bad("comprehension clause", c)
            text = _join_words(text, clause)
        return "[" + text + "]"

    # ------------------------------------------------------------ patterns

    def binding_pat(self, p: Any) -> str:
        """A pattern where names are bound (let, parameters, for): no typed patterns."""
        if _has_typed(p):
            raise _bad("typed pattern outside a match arm", p)
        return self.pat(p)

    def pat(self, p: Any) -> str:
        if isinstance(p, A.PWild):
            return "_"
        if isinstance(p, A.PTyped):
            if p.name == "_":
                raise _bad("typed pattern named `_` (that is written with name None)", p)
            name = "_" if p.name is None else _ident(p.name)
            return f"{name}: {_type(p.type)}"
        if isinstance(p, A.PLit):
            return _scalar(p.value)
        if isinstance(p, A.PBind):
            if p.name == "_":
                raise _bad("binding named `_` (that is the wildcard)", p)
            return _ident(p.name)
        if isinstance(p, A.PArray):
            items = [self.pat(i) for i in p.items]
            if p.has_rest:
                if p.rest is None:
                    raise _bad("array pattern rest without a name", p)
                items.append("..." + _ident(p.rest, "rest name"))
            elif p.rest is not None:
                raise _bad("array pattern with a rest name but has_rest false", p)
            return "[" + ", ".join(items) + "]"
        if isinstance(p, A.PObject):
            return "{" + self._field_pats(p.fields) + "}"
        if isinstance(p, A.PVariant):
            if not p.path:
                raise _bad("variant pattern without a path", p)
            if p.args is not None and p.fields is None:
                path = "::".join(_ident(s, "path segment") for s in p.path)
                return f"{path}({', '.join(self.pat(a) for a in p.args)})"
            if p.fields is not None and p.args is None:
                return self._struct_path(p.path) + " {" + self._field_pats(p.fields) + "}"
            if p.args is None and p.fields is None and len(p.path) >= 2:
                return "::".join(_ident(s, "path segment") for s in p.path)
            raise _bad("variant pattern", p)
        raise _bad("pattern", p)

    def _field_pats(self, fields: list) -> str:
        out = []
        for f in fields:
            if not (isinstance(f, tuple) and len(f) == 2):
                raise _bad("field pattern", f)
            name, sub = f
            name = _ident(name, "field name")
            out.append(name if sub == A.PBind(name) else f"{name}: {self.pat(sub)}")
        return " " + ", ".join(out) + " " if out else ""


def _has_typed(p: Any) -> bool:
    if isinstance(p, A.PTyped):
        return True
    if isinstance(p, A.PArray):
        return any(_has_typed(i) for i in p.items)
    if isinstance(p, A.PObject):
        return any(isinstance(f, tuple) and len(f) == 2 and _has_typed(f[1]) for f in p.fields)
    if isinstance(p, A.PVariant):
        return any(_has_typed(a) for a in (p.args or [])) or \
            any(_has_typed(sub) for _, sub in (p.fields or []))
    return False
