"""Tokens of Shape core (PLY lexer).

Newlines are plain whitespace, so the few places where upstream Shape looks ahead across layout
are decided here, where the raw text is visible, and the grammar stays context-free:
- `||` directly followed by `{` or `|` is an empty lambda parameter list (LAMBDA0), never logical or;
- `?` followed by a newline, end of input or a character that cannot start an expression is the
  postfix try operator (TRY), otherwise the `?` of `c ? a : b` (QUESTION);
- `{` followed by `}`, `...`, `name :` or `"str" :` opens an object literal (LBRACE_OBJ);
- a capitalised name directly followed by such a brace (or `{ name ,`/`{ name }`) names a struct
  literal or struct pattern (STRUCTNAME).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import ply.lex as lex

from shapelang.runtime.errors import ShapeError

RESERVED = {
    "let": "LET", "var": "VAR", "const": "CONST", "mut": "MUT", "fn": "FN", "function": "FN",
    "return": "RETURN", "if": "IF", "else": "ELSE", "for": "FOR", "while": "WHILE",
    "loop": "LOOP", "in": "IN", "break": "BREAK", "continue": "CONTINUE", "match": "MATCH",
    "where": "WHERE", "true": "TRUE", "false": "FALSE", "None": "NONE", "enum": "ENUM",
    "type": "TYPE", "annotation": "ANNOTATION", "async": "ASYNC", "await": "AWAIT",
    "from": "FROM", "use": "USE", "as": "AS", "pub": "PUB", "and": "AND", "or": "OR",
}

tokens = tuple(sorted(set(RESERVED.values()))) + (
    "IDENT", "STRUCTNAME", "EXTEND", "METHOD", "INT", "FLOAT", "STRING", "FSTRING",
    "PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "POW",
    "EQ", "NE", "LT", "LE", "GT", "GE",
    "ASSIGN", "PLUSEQ", "MINUSEQ", "STAREQ", "SLASHEQ", "PERCENTEQ", "POWEQ",
    "ANDAND", "OROR", "LAMBDA0", "NOT", "QQ", "BANGBANG", "PIPEGT",
    "QUESTION", "TRY", "QDOT", "DOT", "DOTDOT", "DOTDOTEQ", "ELLIPSIS", "COLONCOLON", "COLON",
    "COMMA", "SEMI", "LPAREN", "RPAREN", "LBRACKET", "RBRACKET", "LBRACE", "LBRACE_OBJ",
    "RBRACE", "PIPE", "AMP", "ARROW", "FATARROW", "AT",
)


@dataclass
class StrTok:
    """A string literal: its value, plus `{expr}` holes for the print-interpolation quirk."""
    value: str
    holes: Optional[list] = None   # parts list as for FSTRING when the text has valid `{expr}` holes


@dataclass
class FStrTok:
    parts: list                    # str or (expr_source, spec, line, col)


ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
           "{": "{", "}": "}"}

_OBJ_BRACE = re.compile(r'\{\s*(?:\}|\.\.\.|[A-Za-z_]\w*\s*:(?!:)|"(?:[^"\\]|\\.)*"\s*:)')
_STRUCT_BRACE = re.compile(r'\s*\{\s*(?:\}|\.\.\.|[A-Za-z_]\w*\s*(?::(?!:)|,|\})|"(?:[^"\\]|\\.)*"\s*:)')
_EXPR_START = re.compile(r'[ \t]*(?:[A-Za-z_0-9"(\[{\-!@])')


def _fpart(expr, spec, line, col):
    from shapelang.ref.ast import FPart
    return FPart(expr, spec, line=line, col=col)


def _pos(t) -> tuple[int, int]:
    data = t.lexer.lexdata
    start = data.rfind("\n", 0, t.lexpos) + 1
    return t.lexer.lineno, t.lexpos - start + 1


def _error(t, message: str) -> ShapeError:
    line, col = _pos(t)
    return ShapeError("SyntaxError", message, line, col)


t_ignore = " \t\r\f"


def t_SHEBANG(t):
    r"\A\#![^\n]*"
    return None


def t_COMMENT_BLOCK(t):
    r"/\*"
    data, i, depth = t.lexer.lexdata, t.lexpos + 2, 1
    while depth and i < len(data):
        if data.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif data.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    if depth:
        raise _error(t, "Unterminated block comment")
    t.lexer.lineno += data.count("\n", t.lexpos, i)
    t.lexer.lexpos = i
    return None


def t_COMMENT_LINE(t):
    r"//[^\n]*"
    return None


def t_newline(t):
    r"\n+"
    t.lexer.lineno += len(t.value)


def t_RAWSTRING(t):
    r'"""[\s\S]*?"""'
    t.lexer.lineno += t.value.count("\n")
    t.type = "STRING"
    t.value = StrTok(dedent_raw(t.value[3:-3]))
    return t


def t_FSTRING(t):
    r'f"'
    line, col = _pos(t)
    parts, end = scan_fstring(t.lexer.lexdata, t.lexpos + 2, line, col + 2)
    t.lexer.lineno += t.lexer.lexdata.count("\n", t.lexpos, end)
    t.lexer.lexpos = end
    from shapelang.ref.parser import parse_expression
    t.value = FStrTok([p if isinstance(p, str) else _fpart(parse_expression(p[0], p[2], p[3]), p[1], p[2], p[3])
                       for p in parts])
    return t


def t_STRING(t):
    r'"(?:[^"\\]|\\[\s\S])*"'
    line, col = _pos(t)
    value = decode_escapes(t.value[1:-1], line, col + 1)
    t.lexer.lineno += t.value.count("\n")
    t.value = StrTok(value, _plain_holes(t.value[1:-1], line, col + 1))
    return t


def t_FLOAT(t):
    r"\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+"
    _check_number_end(t)
    t.value = float(t.value)
    return t


def t_INT(t):
    r"0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+"
    _check_number_end(t)
    text = t.value.lower()
    base = {"0x": 16, "0b": 2, "0o": 8}.get(text[:2], 10)
    digits = (text[2:] if base != 10 else text).lstrip("0") or "0"
    # Check the length first: int() of a very long literal is slow and, past Python's digit
    # limit, raises ValueError. No literal of more than 64 significant digits fits in 64 bits.
    if len(digits) > 64 or int(digits, base) > 2**63 - 1:
        shown = text if len(text) <= 40 else f"{text[:20]}…({len(text)} digits)"
        raise _error(t, f"Integer literal {shown} does not fit in 64 bits")
    t.value = int(digits, base)
    return t


def _check_number_end(t) -> None:
    data, end = t.lexer.lexdata, t.lexpos + len(t.value)
    if end < len(data) and (data[end].isalnum() or data[end] == "_"):
        raise _error(t, f"Invalid number literal '{t.value}{data[end]}' (no '_' separators or suffixes)")


def t_IDENT(t):
    r"[A-Za-z_][A-Za-z0-9_]*"
    t.type = RESERVED.get(t.value, "IDENT")
    if t.type != "IDENT":
        return t
    rest = t.lexer.lexdata[t.lexpos + len(t.value):]
    if t.value == "extend" and re.match(r"\s+[A-Za-z_]\w*\s*\{", rest):
        t.type = "EXTEND"
    elif t.value == "method" and re.match(r"\s+[A-Za-z_]\w*\s*\(", rest):
        t.type = "METHOD"
    elif t.value[0].isupper() and _STRUCT_BRACE.match(rest):
        t.type = "STRUCTNAME"
    return t


def t_LBRACE(t):
    r"\{"
    if _OBJ_BRACE.match(t.lexer.lexdata, t.lexpos):
        t.type = "LBRACE_OBJ"
    return t


def t_OROR(t):
    r"\|\|"
    rest = t.lexer.lexdata[t.lexpos + 2:].lstrip(" \t\r\n")
    if rest[:1] in ("{", "|"):
        t.type = "LAMBDA0"
    return t


def t_QDOT(t):
    r"\?\.(?!\d)"
    return t


def t_QQ(t):
    r"\?\?"
    return t


def t_QUESTION(t):
    r"\?"
    data, i = t.lexer.lexdata, t.lexpos + 1
    # A newline right after `?` always makes it postfix try, even if the next line starts an
    # expression: that is the rule that keeps `f()?` + newline + `g()` two statements.
    rest = data[i:].lstrip(" \t")
    if rest[:1] in ("\n", "\r", ""):
        t.type = "TRY"
    elif rest[:1] == "|":
        # `c ? |x| x : …` (space, then a lambda) is a ternary; `x?|` (no space: a lambda's
        # closing pipe), `x? |> f` and `x? || y` are the try operator.
        if data[i:i + 1] == "|" or rest[:2] == "|>" or (
                rest[:2] == "||" and rest[2:].lstrip(" \t\r\n")[:1] not in ("{", "|")):
            t.type = "TRY"
    elif not _EXPR_START.match(data, i):
        t.type = "TRY"
    return t


t_POWEQ = r"\*\*="
t_POW = r"\*\*"
t_PLUSEQ = r"\+="
t_MINUSEQ = r"-="
t_STAREQ = r"\*="
t_SLASHEQ = r"/="
t_PERCENTEQ = r"%="
t_ARROW = r"->"
t_FATARROW = r"=>"
t_EQ = r"=="
t_NE = r"!="
t_LE = r"<="
t_GE = r">="
t_ANDAND = r"&&"
t_BANGBANG = r"!!"
t_PIPEGT = r"\|>"
t_ELLIPSIS = r"\.\.\."
t_DOTDOTEQ = r"\.\.="
t_DOTDOT = r"\.\."
t_COLONCOLON = r"::"
t_PLUS = r"\+"
t_MINUS = r"-"
t_STAR = r"\*"
t_SLASH = r"/"
t_PERCENT = r"%"
t_LT = r"<"
t_GT = r">"
t_ASSIGN = r"="
t_NOT = r"!"
t_DOT = r"\."
t_COLON = r":"
t_COMMA = r","
t_SEMI = r";"
t_LPAREN = r"\("
t_RPAREN = r"\)"
t_LBRACKET = r"\["
t_RBRACKET = r"\]"
t_RBRACE = r"\}"
t_PIPE = r"\|"
t_AMP = r"&"
t_AT = r"@"


def t_error(t):
    if t.value[0] == '"':   # no closing quote anywhere after it
        raise _error(t, "Unterminated string: the closing '\"' is missing")
    raise _error(t, f"Unexpected character {t.value[0]!r}")


# ---------------------------------------------------------------- string helpers

def decode_escapes(raw: str, line: int, col: int) -> str:
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if nxt not in ESCAPES:
                l, c = _offset_pos(raw, i, line, col)
                raise ShapeError("SyntaxError", f"Invalid escape sequence '\\{nxt}'", l, c)
            out.append(ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _offset_pos(text: str, i: int, line: int, col: int) -> tuple[int, int]:
    nl = text.count("\n", 0, i)
    if nl:
        return line + nl, i - text.rfind("\n", 0, i)
    return line, col + i


def dedent_raw(text: str) -> str:
    """`\"\"\"…\"\"\"`: drop a blank first and last line, then the common indentation."""
    lines = text.split("\n")
    if len(lines) > 1 and not lines[0].strip():
        lines = lines[1:]
    if len(lines) > 1 and not lines[-1].strip():
        lines = lines[:-1]
    indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
    cut = min(indents, default=0)
    return "\n".join(ln[cut:] for ln in lines)


_SPEC = re.compile(r"^(.*?):\s*(\.\d+f|fixed\(\d+\))\s*$", re.S)


def _split_spec(src: str) -> tuple[str, Optional[str]]:
    m = _SPEC.match(src)
    if m:
        return m.group(1), m.group(2)
    return src, None


def scan_fstring(data: str, i: int, line: int, col: int) -> tuple[list, int]:
    """Scan an f-string body starting after `f"`; return (parts, index after closing quote)."""
    parts: list = []
    text: list[str] = []
    start = i
    while True:
        if i >= len(data):
            raise ShapeError("SyntaxError", "Unterminated f-string", line, col)
        ch = data[i]
        if ch == '"':
            break
        if ch == "\\":
            nxt = data[i + 1] if i + 1 < len(data) else ""
            if nxt not in ESCAPES:
                l, c = _offset_pos(data[start:], i - start, line, col)
                raise ShapeError("SyntaxError", f"Invalid escape sequence '\\{nxt}'", l, c)
            text.append(ESCAPES[nxt])
            i += 2
        elif data.startswith("{{", i):
            text.append("{")
            i += 2
        elif data.startswith("}}", i):
            text.append("}")
            i += 2
        elif ch == "{":
            j = _matching_brace(data, i)
            if j < 0:
                l, c = _offset_pos(data[start:], i - start, line, col)
                raise ShapeError("SyntaxError", "Unclosed '{' in f-string", l, c)
            if text:
                parts.append("".join(text))
                text = []
            src, spec = _split_spec(data[i + 1:j])
            l, c = _offset_pos(data[start:], i + 1 - start, line, col)
            if not src.strip():
                raise ShapeError("SyntaxError", "Empty expression in f-string", l, c)
            parts.append((src, spec, l, c))
            i = j + 1
        elif ch == "}":
            l, c = _offset_pos(data[start:], i - start, line, col)
            raise ShapeError("SyntaxError", "Single '}' in f-string (write '}}')", l, c)
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    return parts, i + 1


def _matching_brace(data: str, i: int) -> int:
    """Index of the `}` closing the `{` at i, skipping nested braces and string literals."""
    depth, j = 0, i
    while j < len(data):
        ch = data[j]
        if ch == '"':
            j += 1
            while j < len(data) and data[j] != '"':
                j += 2 if data[j] == "\\" else 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
        elif ch == "\n" and depth == 1:
            return -1
        j += 1
    return -1


def _plain_holes(raw: str, line: int, col: int) -> Optional[list]:
    """Holes of a plain string for `print("…{x}…")`; None when it has no valid `{expr}` hole.

    Escaped braces (`\\{`) never open a hole; a `{…}` whose content does not parse as an
    expression stays literal text (so JSON-looking strings print unchanged).
    """
    if "{" not in raw:
        return None
    from shapelang.ref.parser import try_parse_expression
    parts: list = []
    text: list[str] = []
    i, found = 0, False
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            text.append(ESCAPES.get(raw[i + 1], "") if i + 1 < len(raw) else "")
            i += 2
            continue
        if raw.startswith("{{", i) or raw.startswith("}}", i):
            # As in f-strings: doubled braces are literal braces.
            text.append(ch)
            i += 2
            continue
        if ch == "{":
            j = _matching_brace(raw, i)
            if j > i + 1:
                src, spec = _split_spec(raw[i + 1:j])
                l, c = _offset_pos(raw, i + 1, line, col)
                node = try_parse_expression(src, l, c)
                if node is not None:
                    if text:
                        parts.append("".join(text))
                        text = []
                    parts.append(_fpart(node, spec, l, c))
                    found = True
                    i = j + 1
                    continue
        text.append(ch)
        i += 1
    if text:
        parts.append("".join(text))
    return parts if found else None


_LEXER = lex.lex(errorlog=lex.NullLogger())


def tokenize(source: str) -> list:
    """All tokens of `source` (eagerly, so f-string holes can be parsed before the main parse)."""
    lexer = _LEXER.clone()
    lexer.lineno = 1
    lexer.input(source)
    out = []
    for tok in lexer:
        tok.line = tok.lineno
        tok.col = tok.lexpos - source.rfind("\n", 0, tok.lexpos)
        out.append(tok)
    _no_struct_literals_in_headers(out)
    return out


_OPEN = {"LPAREN", "LBRACKET", "LBRACE", "LBRACE_OBJ"}
_CLOSE = {"RPAREN", "RBRACKET", "RBRACE"}
_HEADERS = {"IF", "WHILE", "MATCH"}


def _no_struct_literals_in_headers(toks: list) -> None:
    """As in Rust, a struct literal may not stand unparenthesised in the header of `if`, `while`,
    `match` or `for … in`, nor right after `->`: there a capitalised name followed by `{` is a
    plain name and the brace opens the body (`if c == Color::Red { y }`, `fn f() -> Point { p }`).
    The pattern of a `for` (between `for` and `in`) is not a header: struct patterns stay."""
    depth = 0
    modes: list[tuple[int, str]] = []   # (bracket depth, "header" | "pattern"), innermost last
    prev = None
    for tok in toks:
        t = tok.type
        top = modes[-1] if modes and modes[-1][0] == depth else None
        if t == "STRUCTNAME" and ((top and top[1] == "header") or prev == "ARROW"):
            tok.type = "IDENT"
        if t in _HEADERS:
            modes.append((depth, "header"))
        elif t == "FOR":
            modes.append((depth, "pattern"))
        elif t == "IN" and top and top[1] == "pattern":
            modes[-1] = (depth, "header")
        elif t == "PIPE":
            # `|params|` of a lambda: patterns, like a `for` pattern.
            if top and top[1] == "lambda":
                modes.pop()
            else:
                modes.append((depth, "lambda"))
        elif t in _OPEN:
            if t in ("LBRACE", "LBRACE_OBJ") and top and top[1] == "header":
                modes.pop()      # the header's body starts here
            depth += 1
        elif t in _CLOSE:
            depth -= 1
            while modes and modes[-1][0] > depth:
                modes.pop()
        prev = t
