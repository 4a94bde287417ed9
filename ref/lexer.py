"""Tokens of Shape: the rules are written as PLY lexer rules (`t_` functions and strings, which
PLY can still build a lexer from: tests/test_parser.py does, as a check); `_scan` runs them.

Newlines are plain whitespace, so the few places where upstream Shape looks ahead across layout
are decided here, where the raw text is visible, and the grammar stays context-free
(spec/grammar.md lists every rule with an example):
- `||` directly followed by `{` or `|` is an empty lambda parameter list (LAMBDA0), never logical or;
- `?` followed by a newline, end of input or a character that cannot start an expression is the
  postfix try operator (TRY), and so is `?` followed by `{` or `|` with no `:` after it on the
  line (outside brackets, before a `;`); otherwise it is the `?` of `c ? a : b` (QUESTION);
- `{` followed by `}`, `...`, `name :` or `"str" :` opens an object literal (LBRACE_OBJ);
- a capitalised name directly followed by such a brace (or `{ name ,`/`{ name }`) names a struct
  literal or struct pattern (STRUCTNAME);
- a `|` opens a lambda's parameter list (LPIPE) at the start of a line or where no operand ends
  before it; the next `|` at the same bracket depth closes it (RPIPE); any other `|` is bitwise or;
- `trait`, `impl`, `dyn`, `comptime` and `within` are keywords only where their construct starts
  (they stay ordinary names elsewhere);
- a line whose first token is `(` or `[` starts a new statement (a `;` is inserted before it) when
  the line before it ends in an identifier character, `)`, `]`, `}` or `"` and no comment line
  comes between them, as upstream's parser does (its preprocessor.rs), so `let x = 5` newline
  `(x + 1) * 2` is two statements, not a call of 5; except after `and` / `or`, where a `;` could
  only be a syntax error.
This module never imports the parser: string and f-string tokens carry their raw holes, which the
parser turns into expressions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Union

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
    "IDENT", "STRUCTNAME", "EXTEND", "METHOD", "INT", "FLOAT", "STRING", "FSTRING", "DURATION",
    "PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "POW",
    "EQ", "NE", "LT", "LE", "GT", "GE", "FUZZYEQ", "FUZZYLT", "FUZZYGT",
    "ASSIGN", "PLUSEQ", "MINUSEQ", "STAREQ", "SLASHEQ", "PERCENTEQ", "POWEQ",
    "AMPEQ", "PIPEEQ", "CARETEQ", "SHLEQ", "SHREQ",
    "ANDAND", "OROR", "LAMBDA0", "NOT", "QQ", "BANGBANG", "PIPEGT",
    "QUESTION", "TRY", "QDOT", "DOT", "DOTDOT", "DOTDOTEQ", "ELLIPSIS", "COLONCOLON", "COLON",
    "COMMA", "SEMI", "LPAREN", "RPAREN", "LBRACKET", "RBRACKET", "LBRACE", "LBRACE_OBJ",
    "RBRACE", "PIPE", "LPIPE", "RPIPE", "AMP", "CARET", "TILDE", "SHL", "SHR", "BRACKETS",
    "ARROW", "FATARROW", "AT",
    "TRAIT", "IMPL", "DYN", "COMPTIME", "WITHIN",
)


@dataclass
class Hole:
    """The raw text of one `{expr}` hole of a string, where it starts, and its format spec."""
    source: str
    spec: Optional[str]
    line: int
    col: int


@dataclass
class StrTok:
    """A string literal: its value, and (for `"…"` only) the raw text between the quotes and
    where that text starts, from which the parser finds `{expr}` holes for the print quirk."""
    value: str
    raw: Optional[str] = None
    line: int = 0
    col: int = 0
    holes: Optional[list] = None   # set by the parser: text and FParts, when a hole parses


@dataclass
class FStrTok:
    parts: list                    # str or Hole


ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
           "{": "{", "}": "}", "$": "$", "#": "#"}

# Duration units (spec/smaller-items.md): s m h d w M y, several may follow each other (`1h30m`).
DURATION_UNITS = "smhdwMy"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdwMy])")

_OBJ_BRACE = re.compile(r'\{\s*(?:\}|\.\.\.|[A-Za-z_]\w*\s*:(?!:)|"(?:[^"\\]|\\.)*"\s*:)')
_STRUCT_BRACE = re.compile(r'\s*\{\s*(?:\}|\.\.\.|[A-Za-z_]\w*\s*(?::(?!:)|,|\})|"(?:[^"\\]|\\.)*"\s*:)')
_EXPR_START = re.compile(r'[ \t]*(?:[A-Za-z_0-9"(\[{\-!@~])')


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
    r'f[$\#]?"'
    line, col = _pos(t)
    sigil = t.value[1] if len(t.value) == 3 else None
    start = t.lexpos + len(t.value)
    parts, end = scan_fstring(t.lexer.lexdata, start, line, col + len(t.value), sigil)
    t.lexer.lineno += t.lexer.lexdata.count("\n", t.lexpos, end)
    t.lexer.lexpos = end
    t.value = FStrTok(parts)
    return t


def t_STRING(t):
    r'"(?:[^"\\]|\\[\s\S])*"'
    line, col = _pos(t)
    raw = t.value[1:-1]
    value = decode_escapes(raw, line, col + 1)
    t.lexer.lineno += t.value.count("\n")
    t.value = StrTok(value, raw, line, col + 1)
    return t


def t_DURATION(t):
    r"\d+(?:\.\d+)?[smhdwMy](?:\d+(?:\.\d+)?[smhdwMy])*(?![A-Za-z0-9_])"
    t.value = duration_parts(t.value)
    return t


def duration_parts(text: str) -> list:
    """`1h30m` -> [(1, "h"), (30, "m")]; amounts with a `.` are floats."""
    return [(float(n) if "." in n else int(n), unit) for n, unit in _DURATION_PART.findall(text)]


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
        m = re.compile(r"\w*").match(data, end)
        word = t.value + m.group()
        shown = word if len(word) <= 40 else word[:40] + "…"
        raise _error(t, f"Invalid number literal '{shown}' (no '_' separators or suffixes; "
                        f"durations use the units {', '.join(DURATION_UNITS)})")


def t_IDENT(t):
    r"[A-Za-z_][A-Za-z0-9_]*"
    t.type = RESERVED.get(t.value, "IDENT")
    if t.type != "IDENT":
        return t
    data, after = t.lexer.lexdata, t.lexpos + len(t.value)
    construct = _CONSTRUCT_AFTER.get(t.value)
    if construct is not None:
        if construct[1].match(data, after):
            t.type = construct[0]
    elif t.value[0].isupper() and _STRUCT_BRACE.match(data, after):
        t.type = "STRUCTNAME"
    return t


# Names that are keywords only where their construct starts: what must follow them then.
_CONSTRUCT_AFTER = {
    "extend": ("EXTEND", re.compile(r"\s+[A-Za-z_]\w*\s*\{")),
    "method": ("METHOD", re.compile(r"\s+[A-Za-z_]\w*\s*[(<]")),
    "trait": ("TRAIT", re.compile(r"\s+[A-Za-z_]\w*\s*[{<]")),
    "impl": ("IMPL", re.compile(r"\s+[A-Za-z_]\w*\s*(?:<|for(?![A-Za-z0-9_]))")),
}


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
    elif rest[:1] == "{":
        # `for x in xs? { … }`, `match r? { … }`, `if ok? { … }`: a block after the try
        # operator; `c ? { a: 1 } : …` (a `:` after the braces, on the line) is a conditional.
        if not _colon_on_line(rest):
            t.type = "TRY"
    elif rest[:1] == "|":
        # `c ? |x| x : …` (space, then a lambda, then a `:` on the line) is a ternary; `x?|`
        # (no space: a lambda's closing pipe), `x? |> f`, `x? || y`, `x? |= y` and `x? | y`
        # (bitwise or: no `:` follows) are the try operator.
        if data[i:i + 1] == "|" or rest[:2] in ("|>", "|=") or (
                rest[:2] == "||" and rest[2:].lstrip(" \t\r\n")[:1] not in ("{", "|")):
            t.type = "TRY"
        elif rest[:2] != "||" and not _colon_on_line(rest):
            t.type = "TRY"
    elif not _EXPR_START.match(data, i):
        t.type = "TRY"
    return t


def _colon_on_line(text: str) -> bool:
    """Is there a `:` (not `::`) outside brackets and strings before the end of the line or a
    `;` outside brackets?"""
    depth, j = 0, 0
    while j < len(text) and text[j] != "\n":
        ch = text[j]
        if ch == '"':
            j += 1
            while j < len(text) and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return False
            depth -= 1
        elif ch == ";" and depth == 0:
            return False
        elif ch == ":" and depth == 0:
            if text.startswith("::", j):
                j += 2
                continue
            return True
        j += 1
    return False


t_POWEQ = r"\*\*="
t_POW = r"\*\*"
t_PLUSEQ = r"\+="
t_MINUSEQ = r"-="
t_STAREQ = r"\*="
t_SLASHEQ = r"/="
t_PERCENTEQ = r"%="
t_AMPEQ = r"&="
t_PIPEEQ = r"\|="
t_CARETEQ = r"\^="
t_SHLEQ = r"<<="
t_SHREQ = r">>="
t_SHL = r"<<"
t_SHR = r">>"
t_FUZZYEQ = r"~="
t_FUZZYLT = r"~<"
t_FUZZYGT = r"~>"
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
t_BRACKETS = r"\[\]"     # `[]`: an empty array, or `T[]` (an array type) after a type
t_LBRACKET = r"\["
t_RBRACKET = r"\]"
t_RBRACE = r"\}"
t_PIPE = r"\|"
t_AMP = r"&"
t_CARET = r"\^"
t_TILDE = r"~"
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
                l, c = offset_pos(raw, i, line, col)
                raise ShapeError("SyntaxError", f"Invalid escape sequence '\\{nxt}'", l, c)
            out.append(ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def offset_pos(text: str, i: int, line: int, col: int) -> tuple[int, int]:
    """Line and column of `text[i]`, where `text` starts at (`line`, `col`)."""
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


def split_spec(src: str) -> tuple[str, Optional[str]]:
    """`expr:.2f` -> ("expr", ".2f"); a hole without a format spec -> (src, None)."""
    m = _SPEC.match(src)
    if m:
        return m.group(1), m.group(2)
    return src, None


def scan_fstring(data: str, i: int, line: int, col: int,
                 sigil: Optional[str] = None) -> tuple[list, int]:
    """Scan an f-string body starting after `f"` (or `f$"`/`f#"`); return (parts, index after
    the closing quote). Parts are text (str) and holes (Hole).

    `f"…"` opens a hole with `{` and writes literal braces `{{`/`}}`. With a sigil (`f$"…"`,
    `f#"…"`) braces are plain text, `${…}`/`#{…}` is a hole, and a doubled sigil is one literal
    sigil (`$${` is the text `${`).
    """
    parts: list = []
    text: list[str] = []
    start = i

    def where(k: int) -> tuple[int, int]:
        return offset_pos(data[start:], k - start, line, col)

    def hole(open_at: int) -> int:
        j = matching_brace(data, open_at)
        if j < 0:
            raise ShapeError("SyntaxError", "Unclosed '{' in f-string", *where(open_at))
        if text:
            parts.append("".join(text))
            text.clear()
        src, spec = split_spec(data[open_at + 1:j])
        l, c = where(open_at + 1)
        if not src.strip():
            raise ShapeError("SyntaxError", "Empty expression in f-string", l, c)
        parts.append(Hole(src, spec, l, c))
        return j + 1

    while True:
        if i >= len(data):
            raise ShapeError("SyntaxError", "Unterminated f-string", line, col)
        ch = data[i]
        if ch == '"':
            break
        if ch == "\\":
            nxt = data[i + 1] if i + 1 < len(data) else ""
            if nxt not in ESCAPES:
                raise ShapeError("SyntaxError", f"Invalid escape sequence '\\{nxt}'", *where(i))
            text.append(ESCAPES[nxt])
            i += 2
        elif sigil is not None:
            if ch == sigil and data.startswith(sigil, i + 1):
                # `$$` is a literal `$`; `$${` is the literal text `${`.
                if data.startswith("{", i + 2):
                    text.append(sigil + "{")
                    i += 3
                else:
                    text.append(sigil)
                    i += 2
            elif ch == sigil and data.startswith("{", i + 1):
                i = hole(i + 1)
            else:
                text.append(ch)
                i += 1
        elif data.startswith("{{", i):
            text.append("{")
            i += 2
        elif data.startswith("}}", i):
            text.append("}")
            i += 2
        elif ch == "{":
            i = hole(i)
        elif ch == "}":
            raise ShapeError("SyntaxError", "Single '}' in f-string (write '}}')", *where(i))
        else:
            text.append(ch)
            i += 1
    if text:
        parts.append("".join(text))
    return parts, i + 1


def matching_brace(data: str, i: int) -> int:
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


def plain_holes(raw: str, line: int, col: int) -> list[Union[str, Hole]]:
    """Candidate holes of a plain string for `print("…{x}…")`: text and Holes, in order.

    Escaped braces (`\\{`) never open a hole and doubled braces are literal braces, as in
    f-strings. The parser keeps a candidate as a hole only when its text parses as an
    expression, so JSON-looking strings print unchanged.
    """
    parts: list = []
    text: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            text.append(ESCAPES.get(raw[i + 1], "") if i + 1 < len(raw) else "")
            i += 2
            continue
        if raw.startswith("{{", i) or raw.startswith("}}", i):
            text.append(ch)
            i += 2
            continue
        if ch == "{":
            j = matching_brace(raw, i)
            if j > i + 1:
                if text:
                    parts.append("".join(text))
                    text = []
                src, spec = split_spec(raw[i + 1:j])
                parts.append(Hole(src, spec, *offset_pos(raw, i + 1, line, col)))
                # The literal text the hole stands for, if it turns out not to be one.
                parts.append(raw[i:j + 1])
                i = j + 1
                continue
        text.append(ch)
        i += 1
    if text:
        parts.append("".join(text))
    return parts


# ---------------------------------------------------------------- the scanner

class Token:
    """A token, as the parser (PLY's yacc) reads it: `type`, `value`, `lineno` and `lexpos` (where
    it starts in the source), `line` and `col`; `inserted` on a `;` the layout rule added;
    `lexer` (what a rule function saw) on tokens a function made; `end`, on the last token of a
    source only, the line and column just after it (where the input ends for the parser)."""

    __slots__ = ("type", "value", "lineno", "lexpos", "line", "col", "inserted", "lexer", "end")

    def __repr__(self) -> str:
        return f"Token({self.type},{self.value!r},{self.lineno},{self.lexpos})"


class _Scanner:
    """What a rule function sees as `t.lexer` (the attributes of a PLY lexer the rules use): the
    text, the position after the token (a rule may move it) and the line count (a rule adds the
    newlines it consumed)."""

    __slots__ = ("lexdata", "lexpos", "lineno", "lexmatch")

    def __init__(self, data: str) -> None:
        self.lexdata, self.lexpos, self.lineno, self.lexmatch = data, 0, 1, None


def _rules() -> list[tuple[str, Any, str]]:
    """Every `t_` rule above as (name, function or None, regular expression), in the order
    PLY's `lex.lex` tries them: the functions in source order, then the string rules, longest
    expression first."""
    rules = {k: v for k, v in globals().items() if k.startswith("t_") and k not in ("t_ignore", "t_error")}
    funcs = sorted((k for k, v in rules.items() if callable(v)),
                   key=lambda k: rules[k].__code__.co_firstlineno)
    strings = sorted((k for k, v in rules.items() if isinstance(v, str)),
                     key=lambda k: len(rules[k]), reverse=True)
    return [(k, rules[k], rules[k].__doc__) for k in funcs] + [(k, None, rules[k]) for k in strings]


def _first_chars(pattern: str) -> Optional[frozenset]:
    """The ASCII characters a match of `pattern` (verbose) can start with, or None when that is
    not worked out here (any character may start it). Only ever too many, never too few: a rule
    left out of a character's expression could change which rule matches first. It reads the
    expression with Python's private `re._parser`: where that is missing or different, None (every
    rule is then tried at every character, as PLY does: slower, the same tokens)."""
    try:
        import re._constants as C
        import re._parser
        category = {C.CATEGORY_DIGIT: "0123456789",
                    C.CATEGORY_WORD: "0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}
        first, _ = _first_of(re._parser.parse(pattern, re.VERBOSE), C, category)
    except Exception:
        return None
    return frozenset(first) if first is not None else None


def _first_of(items: Any, C: Any, category: dict) -> tuple[Optional[set], bool]:
    """(the first characters of a parsed expression, or None for any; whether it can match the
    empty string), read from `re._parser`'s parsed form (constants `C`)."""

    def seq(items: Any) -> tuple[Optional[set], bool]:
        """(first characters, whether the sequence can match the empty string)"""
        found: set = set()
        for op, av in items:
            if op in (C.AT, C.ASSERT_NOT, C.ASSERT):
                continue                     # zero width: the next item starts the match
            if op is C.LITERAL:
                first, empty = {chr(av)}, False
            elif op is C.IN:
                first, empty = set(), False
                for iop, iav in av:
                    if iop is C.LITERAL:
                        first.add(chr(iav))
                    elif iop is C.RANGE:
                        first.update(map(chr, range(iav[0], min(iav[1], 127) + 1)))
                    elif iop is C.CATEGORY and iav in category:
                        first.update(category[iav])
                    else:
                        return None, True
            elif op is C.SUBPATTERN:
                first, empty = seq(av[3])
            elif op is C.BRANCH:
                first, empty = set(), False
                for alt in av[1]:
                    f, e = seq(alt)
                    if f is None:
                        return None, True
                    first |= f
                    empty = empty or e
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                first, empty = seq(av[2])
                empty = empty or av[0] == 0
            else:
                return None, True
            if first is None:
                return None, True
            found |= first
            if not empty:
                return found, False
        return found, True

    return seq(items)


class _Expressions(dict):
    """The rules as regular expressions of named alternatives, in PLY's order (`_rules`), by the
    character a token starts with: for an ASCII character, only the rules a match can start with
    there, in the same order, so the first rule that matches is the same; for any other
    character, every rule (PLY's `lex.lex` builds that one expression, in verbose mode;
    tests/test_parser.py checks that both lexers give the same tokens, positions and errors over
    the corpus and generated programs). None where no rule can match. Each is compiled when a
    source first needs it (a run compiles the few its characters need)."""

    def __init__(self) -> None:
        super().__init__()
        self.rules = _rules()
        self.firsts = [_first_chars(rx) for _, _, rx in self.rules]
        self.actions = {k: (func, k[2:]) for k, func, _ in self.rules}

    def __missing__(self, c: str) -> Any:
        if c < "\x80":
            subset = [r for r, f in zip(self.rules, self.firsts) if f is None or c in f]
        else:
            subset = self.rules
        rx = re.compile("|".join(f"(?P<{k}>{rx})" for k, _, rx in subset), re.VERBOSE) \
            if subset else None
        self[c] = rx
        return rx


_EXPRESSIONS = _Expressions()
_ACTIONS = _EXPRESSIONS.actions
_SKIP = re.compile("[" + re.escape(t_ignore) + "]*")


def _scan(source: str) -> list:
    """The tokens of `source` as the rules above make them (PLY tokens: type, value, lineno,
    lexpos), each with the position where the scan went on after it; raises ShapeError."""
    expressions, actions, make = _EXPRESSIONS, _ACTIONS, Token
    skip, ignore = _SKIP.match, t_ignore
    scanner = _Scanner(source)
    end, lineno = len(source), 1
    pos = 0
    out: list = []
    while pos < end:
        c = source[pos]
        if c in ignore:
            pos = skip(source, pos).end()
            if pos == end:
                break
            c = source[pos]
        rx = expressions[c]
        m = rx.match(source, pos) if rx is not None else None
        if m is None:
            tok = make()
            tok.type, tok.value, tok.lineno, tok.lexpos = "error", source[pos:], lineno, pos
            scanner.lexpos, scanner.lineno = pos, lineno
            tok.lexer = scanner
            t_error(tok)        # raises
        name = m.lastgroup
        func, ttype = actions[name]
        tok = make()
        tok.type, tok.value, tok.lineno, tok.lexpos = ttype, m.group(), lineno, pos
        pos = m.end()
        if func is not None:
            tok.lexer = scanner
            scanner.lexmatch, scanner.lexpos, scanner.lineno = m, pos, lineno
            tok = func(tok)
            pos, lineno = scanner.lexpos, scanner.lineno
            if not tok:
                continue
        out.append((tok, pos))
    return out


def tokenize(source: str) -> list:
    """All tokens of `source`, with the layout-dependent decisions of the module docstring."""
    out: list = []
    last_end = 0                     # where the last token of `out` ends in `source`
    for tok, end in _scan(source):
        lexpos = tok.lexpos
        tok.line = tok.lineno
        tok.col = lexpos - source.rfind("\n", 0, lexpos)
        if tok.type in _LINE_START and out and out[-1].line < tok.line \
                and out[-1].type not in ("AND", "OR") \
                and _ends_statement(source, last_end, lexpos):
            out.append(_semicolon_before(tok))
        out.append(tok)
        last_end = end
    if out:
        last = out[-1]
        last.end = (last.lineno + source.count("\n", last.lexpos, last_end),
                    last_end - source.rfind("\n", 0, last_end))
    _classify_pipes(out)
    _contextual_keywords(out)
    _no_struct_literals_in_headers(out)
    return out


_LINE_START = {"LPAREN", "LBRACKET", "BRACKETS"}


def line_end_ends_statement(last: str) -> bool:
    """Whether a line whose last character (outside comments) is `last` ends a statement when
    the next line starts with `(` or `[`: an identifier character, `)`, `]`, `}` or `"`."""
    return last.isalnum() or last in '_)]}"'


def _ends_statement(source: str, end: int, start: int) -> bool:
    """Whether a token ending at `end`, on an earlier line than the `(` or `[` at `start`, ends a
    statement there: line_end_ends_statement, and only blank lines lie between (upstream looks
    at the next non-blank line, so a comment line in between keeps the continuation)."""
    if not line_end_ends_statement(source[end - 1]):
        return False
    between = source[source.index("\n", end) + 1:source.rfind("\n", 0, start) + 1]
    return not between.strip()


def _semicolon_before(tok: Any) -> Any:
    semi = Token()
    # value "": the parser tells it from a written `;` (a statement it ends keeps semi=False)
    semi.type, semi.value, semi.lineno, semi.lexpos = "SEMI", "", tok.lineno, tok.lexpos
    semi.line, semi.col, semi.inserted = tok.line, tok.col, True
    return semi


# Tokens after which an operand has ended, so a following `|` is bitwise or.
_OPERAND_END = {
    "IDENT", "STRUCTNAME", "INT", "FLOAT", "STRING", "FSTRING", "DURATION", "TRUE", "FALSE",
    "NONE", "RPAREN", "RBRACKET", "RBRACE", "TRY", "BRACKETS",
}
# Keywords that are member names after `.` (`x.type | y`), where they end an operand too.
_MEMBER_KEYWORDS = {"TYPE", "MATCH", "IN", "FROM", "AS", "USE", "WHERE"}


def _ends_operand(toks: list, k: int) -> bool:
    t = toks[k].type
    if t in _MEMBER_KEYWORDS:
        return k > 0 and toks[k - 1].type in ("DOT", "QDOT")
    return t in _OPERAND_END
_OPEN = {"LPAREN", "LBRACKET", "LBRACE", "LBRACE_OBJ"}
_CLOSE = {"RPAREN", "RBRACKET", "RBRACE"}


def _classify_pipes(toks: list) -> None:
    """`|` opens a lambda (LPIPE) at the start of a line or where no operand ends before it; the
    next `|` at the same bracket depth closes the parameter list (RPIPE); every other `|` is the
    bitwise-or operator (PIPE)."""
    depth = 0
    closers: list[int] = []      # bracket depths of lambda parameter lists still open
    for k, tok in enumerate(toks):
        t = tok.type
        if t == "PIPE":
            if closers and closers[-1] == depth:
                tok.type = "RPIPE"
                closers.pop()
            elif k == 0 or not _ends_operand(toks, k - 1) or tok.line > toks[k - 1].line:
                tok.type = "LPIPE"
                closers.append(depth)
        elif t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth -= 1
            while closers and closers[-1] > depth:
                closers.pop()


# `dyn` is a keyword where a type starts; `within` after a `~=` operand, before the tolerance;
# `comptime` before `name:` (a field of a type body).
_TYPE_START_AFTER = {"COLON", "LT", "COMMA", "ARROW", "LBRACKET", "AS", "LPAREN", "FOR"}


def _contextual_keywords(toks: list) -> None:
    n = len(toks)
    for k, tok in enumerate(toks):
        if tok.type != "IDENT":
            continue
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < n else None
        if tok.value == "dyn":
            if (prev is not None and prev.type in _TYPE_START_AFTER and nxt is not None
                    and nxt.type in ("IDENT", "STRUCTNAME") and nxt.line == tok.line):
                tok.type = "DYN"
        elif tok.value == "within":
            if (prev is not None and _ends_operand(toks, k - 1) and nxt is not None
                    and nxt.type in ("INT", "FLOAT") and nxt.line == tok.line):
                tok.type = "WITHIN"
        elif tok.value == "comptime":
            if (prev is not None and prev.type not in ("DOT", "QDOT")
                    and nxt is not None and nxt.type in ("IDENT", "STRUCTNAME")
                    and nxt.line == tok.line and k + 2 < n and toks[k + 2].type == "COLON"):
                tok.type = "COMPTIME"


_HEADERS = {"IF", "WHILE", "MATCH"}


def _no_struct_literals_in_headers(toks: list) -> None:
    """As in Rust, a struct literal may not stand unparenthesised in the header of `if`, `while`,
    `match` or `for … in`, nor right after `->`: there a capitalised name followed by `{` is a
    plain name and the brace opens the body (`if c == Color::Red { y }`, `fn f() -> Point { p }`).
    The same holds for the header of a function declaration (its return type and `where` clause)
    and of `trait`/`impl`. The pattern of a `for` (between `for` and `in`) is not a header:
    struct patterns stay."""
    depth = 0
    modes: list[tuple[int, str]] = []   # (bracket depth, "header" | "pattern"), innermost last
    prev = None
    for k, tok in enumerate(toks):
        t = tok.type
        top = modes[-1] if modes and modes[-1][0] == depth else None
        if t == "STRUCTNAME" and ((top and top[1] == "header") or prev == "ARROW"):
            tok.type = "IDENT"
        if t in _HEADERS or t in ("TRAIT", "IMPL"):
            modes.append((depth, "header"))
        elif t == "FN" and k + 1 < len(toks) and toks[k + 1].type == "IDENT":
            modes.append((depth, "header"))          # a declaration, not `fn(x) { … }`
        elif t == "FOR" and not (top and top[1] == "header"):
            modes.append((depth, "pattern"))
        elif t == "IN" and top and top[1] == "pattern":
            modes[-1] = (depth, "header")
        elif t == "LPIPE":
            # `|params|` of a lambda: patterns, like a `for` pattern.
            modes.append((depth, "lambda"))
        elif t == "RPIPE":
            if top and top[1] == "lambda":
                modes.pop()
        elif t in _OPEN:
            if t in ("LBRACE", "LBRACE_OBJ") and top and top[1] == "header":
                modes.pop()      # the header's body starts here
            depth += 1
        elif t in _CLOSE:
            depth -= 1
            while modes and modes[-1][0] > depth:
                modes.pop()
        prev = t
