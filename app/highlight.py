"""A Pygments lexer for Shape, used for highlighted source in diagnostics and `shape dis`, and
registered as the `pygments.lexers` entry point `shape` (so `pygmentize -l shape` works).

The keyword list is the language's own (`shapelang.ref.lexer.RESERVED`), so it cannot drift."""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String, Text,
                            Whitespace)

from shapelang.ref.lexer import RESERVED

_CONSTANTS = ("true", "false", "None")
_DECLARATIONS = ("let", "var", "const", "mut", "fn", "function", "enum", "type", "annotation",
                 "extend", "method")


class ShapeLexer(RegexLexer):
    name = "Shape"
    aliases = ["shape"]
    filenames = ["*.shape"]
    mimetypes = ["text/x-shape"]

    tokens = {
        "root": [
            (r"\A#![^\n]*", Comment.Hashbang),
            (r"\s+", Whitespace),
            (r"///[^\n]*", Comment.Special),
            (r"//[^\n]*", Comment.Single),
            (r"/\*", Comment.Multiline, "comment"),
            (r'"""', String, "rawstring"),
            (r'f"', String.Affix, "fstring"),
            (r'"', String, "string"),
            (r"0x[0-9a-fA-F]+|0b[01]+|0o[0-7]+", Number.Integer),
            (r"\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (words(_CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(_DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(tuple(sorted(set(RESERVED) - set(_CONSTANTS) - set(_DECLARATIONS))),
                   suffix=r"\b"), Keyword),
            (r"(@)([A-Za-z_]\w*)", bygroups(Punctuation, Name.Decorator)),
            (r"[A-Z]\w*", Name.Class),
            (r"([a-z_]\w*)(\s*)(?=\()", bygroups(Name.Function, Whitespace)),
            (r"[A-Za-z_]\w*", Name),
            (r"\.\.=|\.\.\.|\.\.|\|>|\?\?|!!|\?\.|=>|->|::|\*\*=?|[-+*/%=!<>]=?|&&|\|\||[?&|]",
             Operator),
            (r"[{}()\[\],;:.]", Punctuation),
            (r".", Text),
        ],
        "comment": [
            (r"/\*", Comment.Multiline, "#push"),
            (r"\*/", Comment.Multiline, "#pop"),
            (r"[^/*]+|[/*]", Comment.Multiline),
        ],
        "escape": [(r"\\[ntr0\\\"'{}]", String.Escape), (r"\\.", String.Error)],
        "string": [
            include("escape"),
            (r'"', String, "#pop"),
            (r'[^"\\]+', String),
        ],
        "rawstring": [(r'"""', String, "#pop"), (r'[^"]+|"', String)],
        "fstring": [
            include("escape"),
            (r"\{\{|\}\}", String),
            (r"\{", String.Interpol, "hole"),
            (r'"', String, "#pop"),
            (r'[^"\\{}]+|\}', String),
        ],
        "hole": [
            (r"\}", String.Interpol, "#pop"),
            (r":(?:\.\d+f|fixed\(\d+\))(?=\})", String.Interpol),
            include("root"),
        ],
    }


def highlight_line(text: str) -> str:
    """`text` with ANSI colours for a terminal."""
    from pygments import highlight
    from pygments.formatters import TerminalFormatter
    return highlight(text, ShapeLexer(), TerminalFormatter()).rstrip("\n")
