"""The Shape grammar (PLY LALR parser) producing `shapelang.ref.ast` nodes.

Parse tables are generated once and kept in `parsetab.pickle` next to this file (committed, and
regenerated only when the grammar changes: PLY checks the grammar's signature), so no
`parser.out` or table files ever land in the user's working directory. A pickle rather than PLY's
default `parsetab.py`, because importing that large module costs ~0.2 s whenever Python may not
cache bytecode; the pickle is our own build artifact, shipped in the package, never user data.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import ply.yacc as yacc

from shapelang.ref import ast as A
from shapelang.ref import lexer as L
from shapelang.runtime.errors import ShapeError

tokens = L.tokens

precedence = (
    ("nonassoc", "LAMBDA_BODY"),
    ("right", "ASSIGN", "PLUSEQ", "MINUSEQ", "STAREQ", "SLASHEQ", "PERCENTEQ", "POWEQ",
     "AMPEQ", "PIPEEQ", "CARETEQ", "SHLEQ", "SHREQ"),
    ("left", "PIPEGT"),
    ("right", "QUESTION", "COLON"),
    ("left", "QQ"),
    ("left", "BANGBANG"),
    ("left", "OROR", "OR"),
    ("left", "ANDAND", "AND"),
    ("left", "PIPE"),
    ("left", "CARET"),
    ("left", "AMP"),
    ("left", "EQ", "NE", "LT", "LE", "GT", "GE", "FUZZYEQ", "FUZZYLT", "FUZZYGT"),
    ("nonassoc", "WITHIN"),
    ("nonassoc", "DOTDOT", "DOTDOTEQ"),
    ("left", "PLUS", "MINUS"),
    ("left", "SHL", "SHR"),
    ("left", "STAR", "SLASH", "PERCENT"),
    ("right", "POW"),
    ("right", "UMINUS", "NOT", "TILDE", "AWAIT"),
    ("left", "DOT", "QDOT", "LBRACKET", "LPAREN", "TRY", "BRACKETS"),
)


def _pos(p, i: int = 1) -> dict:
    sym = p.slice[i]
    if not isinstance(sym, yacc.YaccSymbol):
        return {"line": sym.line, "col": sym.col}
    val = p[i]
    if isinstance(val, A.Node):
        return {"line": val.line, "col": val.col}
    if isinstance(val, list) and val and isinstance(val[0], A.Node):
        return {"line": val[0].line, "col": val[0].col}
    return {"line": getattr(sym, "line", 0), "col": getattr(sym, "col", 0)}


# ================================================================ program and statements

def p_program(p):
    "program : stmts"
    p[0] = A.Program(p[1], line=1, col=1)


def p_stmts(p):
    """stmts : stmts stmt
             | empty"""
    if len(p) == 2:
        p[0] = []
    else:
        p[0] = p[1]
        if p[2] is not None:
            _no_overrides(p[0], p[2])
            p[0].append(p[2])


def _no_overrides(before: list, st: Any) -> None:
    """Upstream's `type EUR = Currency { symbol: "€" }` overrides comptime fields; this dialect
    has no overrides (spec/types.md), and reading the braces as an object literal after the
    alias would drop them silently."""
    if (before and type(before[-1]) is A.TypeAlias and type(st) is A.ExprStmt
            and type(st.expr) is A.ObjectLit and st.line == before[-1].line):
        raise ShapeError("SyntaxError", "A type alias cannot override comptime fields: "
                         f"type {before[-1].name} = {before[-1].target} {{ … }}", st.line, st.col)


def p_empty(p):
    "empty :"
    p[0] = None


# Block-like expressions at the start of a statement end the statement (as in Rust), so that
# `if c { … }` followed by `[1, 2].map(…)` on the next line is two statements. These rules come
# before the expression rules so PLY resolves the reduce/reduce conflict in their favour.
def p_stmt_blocklike(p):
    """stmt : if_expr
            | match_expr
            | while_expr
            | for_expr
            | loop_expr
            | block_expr"""
    p[0] = A.ExprStmt(p[1], False, **_pos(p))


def p_stmt_blocklike_semi(p):
    """stmt : if_expr SEMI
            | match_expr SEMI
            | while_expr SEMI
            | for_expr SEMI
            | loop_expr SEMI
            | block_expr SEMI"""
    p[0] = A.ExprStmt(p[1], bool(p[2]), **_pos(p))


def p_stmt_expr(p):
    """stmt : expr
            | expr SEMI"""
    # a `;` the layout rule inserted (ref/lexer.py: its value is "") is no written `;`
    p[0] = A.ExprStmt(p[1], len(p) == 3 and bool(p[2]), **_pos(p))


def p_stmt_semi(p):
    "stmt : SEMI"
    p[0] = None


def p_stmt_decl(p):
    """stmt : let_stmt opt_semi
            | fn_decl opt_semi
            | enum_decl opt_semi
            | type_decl opt_semi
            | extend_decl opt_semi
            | import_stmt opt_semi
            | annotation_decl opt_semi
            | trait_decl opt_semi
            | impl_decl opt_semi
            | return_stmt opt_semi
            | break_stmt opt_semi
            | continue_stmt opt_semi"""
    p[0] = p[1]


def p_stmt_pub(p):
    """stmt : PUB let_stmt opt_semi
            | PUB fn_decl opt_semi
            | PUB enum_decl opt_semi
            | PUB type_decl opt_semi
            | PUB trait_decl opt_semi
            | PUB annotation_decl opt_semi"""
    # `pub` has no effect in a single-file program (spec/smaller-items.md); it is only checked
    # to stand at the top level (see p_block), so the tree does not record it.
    p[0] = p[2]
    p[0]._pub = _pos(p)


def _no_pub(stmts: list) -> list:
    for s in stmts:
        where = getattr(s, "_pub", None)
        if where is not None:
            raise ShapeError("SyntaxError", "'pub' is only allowed before a top-level declaration",
                             **where)
    return stmts


def p_opt_semi(p):
    """opt_semi : SEMI
                | empty"""


def _binding_pattern(pat, what: str):
    """`let`, parameters and `for` bind names: only names, `_` and array/object destructuring."""
    if isinstance(pat, (A.PBind, A.PWild)):
        return pat
    if isinstance(pat, A.PArray):
        for item in pat.items:
            _binding_pattern(item, what)
        return pat
    if isinstance(pat, A.PObject):
        for _, sub in pat.fields:
            _binding_pattern(sub, what)
        return pat
    if isinstance(pat, A.PTyped):
        raise ShapeError("SyntaxError", f"A typed pattern (name: Type) is only allowed in a match "
                         f"arm, not in {what}", pat.line, pat.col)
    if isinstance(pat, A.PLit) and (pat.value is None or type(pat.value) is bool):
        word = {None: "None", True: "true", False: "false"}[pat.value]
        raise ShapeError("SyntaxError", f"'{word}' is a reserved word and cannot be bound",
                         pat.line, pat.col)
    raise ShapeError("SyntaxError", f"Expected a name or a destructuring pattern in {what}",
                     pat.line, pat.col)


def p_let(p):
    """let_stmt : LET pattern opt_type ASSIGN expr
                | LET MUT pattern opt_type ASSIGN expr
                | VAR pattern opt_type ASSIGN expr
                | CONST pattern opt_type ASSIGN expr
                | LET pattern opt_type
                | LET MUT pattern opt_type
                | VAR pattern opt_type"""
    kw = p[1]
    mutable = kw == "var" or p[2] == "mut"
    i = 3 if p[2] == "mut" else 2
    value = p[i + 3] if len(p) > i + 2 else None
    p[0] = A.Let(_binding_pattern(p[i], kw), value, kw, mutable, p[i + 1], **_pos(p))


def p_opt_type(p):
    """opt_type : COLON type_expr
                | empty"""
    p[0] = p[2] if len(p) == 3 else None


def p_type_expr(p):
    """type_expr : type_atom
                 | type_expr QUESTION
                 | type_expr TRY
                 | type_expr BRACKETS"""
    # `T[]` (upstream's array suffix) is the array type `[T]`.
    if len(p) == 2:
        p[0] = p[1]
    elif p[2] == "[]":
        p[0] = f"[{p[1]}]"
    else:
        p[0] = p[1] + "?"


# Types are kept as canonical text (`Array<int>?`, `[string]`, `dyn Show + Eq`); ref/types.py
# is the one reader of that form. A `>>` token closes two argument lists (`Box<Box<int>>`).
def p_type_atom(p):
    """type_atom : type_name
                 | type_name LT type_list GT
                 | type_name LT type_args_shr
                 | LBRACKET type_expr RBRACKET
                 | LPAREN RPAREN
                 | LPAREN type_list RPAREN
                 | DYN dyn_bounds"""
    if len(p) == 2:
        p[0] = p[1]
    elif p[1] == "[":
        p[0] = f"[{p[2]}]"
    elif p[1] == "(":
        p[0] = "()" if len(p) == 3 else f"({', '.join(p[2])})"
    elif p[1] == "dyn":
        p[0] = "dyn " + " + ".join(p[2])
    elif len(p) == 4:
        p[0] = f"{p[1]}<{p[3]}>"
    else:
        p[0] = f"{p[1]}<{', '.join(p[3])}>"


def p_type_args_shr(p):
    """type_args_shr : type_name LT type_list SHR
                     | type_list COMMA type_name LT type_list SHR"""
    # The argument list of the enclosing type, whose last argument `Name<…` is closed by the
    # first `>` of the `>>`, the second closing the enclosing list itself.
    if len(p) == 5:
        p[0] = f"{p[1]}<{', '.join(p[3])}>"
    else:
        p[0] = ", ".join(p[1] + [f"{p[3]}<{', '.join(p[5])}>"])


def p_type_name(p):
    """type_name : IDENT
                 | STRUCTNAME
                 | NONE
                 | FN"""
    if p[1] == "dyn":
        raise ShapeError("SyntaxError", "'dyn' must be followed by a trait name", **_pos(p))
    p[0] = p[1]


def p_type_list(p):
    """type_list : type_expr
                 | type_list COMMA type_expr"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_dyn_bounds(p):
    """dyn_bounds : any_name
                  | dyn_bounds PLUS any_name"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


# ---------------------------------------------------------------- generic parameters

def p_opt_type_params(p):
    """opt_type_params : LT type_param_list GT
                       | LT type_params_shr
                       | empty"""
    p[0] = _distinct_type_params(p[2], p) if len(p) >= 3 else []


def _distinct_type_params(params: list, p) -> list:
    names = [tp.name for tp in params]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ShapeError("SyntaxError", f"Type parameter '{dup}' is declared twice", **_pos(p))
    return params


def p_type_param_list(p):
    """type_param_list : type_param
                       | type_param_list COMMA type_param"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_type_params_shr(p):
    """type_params_shr : type_param_head ASSIGN type_name LT type_list SHR
                       | type_param_list COMMA type_param_head ASSIGN type_name LT type_list SHR"""
    # `<T = Box<int>>`: the last default's argument list and the parameter list end in one `>>`.
    k = 1 if len(p) == 7 else 3
    head, default = p[k], f"{p[k + 2]}<{', '.join(p[k + 4])}>"
    last = A.TypeParam(head[0], head[1], default, **head[2])
    p[0] = ([] if k == 1 else p[1]) + [last]


def p_type_param(p):
    """type_param : type_param_head
                  | type_param_head ASSIGN type_expr"""
    name, bounds, pos = p[1]
    p[0] = A.TypeParam(name, bounds, p[3] if len(p) == 4 else None, **pos)


def p_type_param_head(p):
    """type_param_head : any_name
                       | any_name COLON dyn_bounds"""
    p[0] = (p[1], p[3] if len(p) == 4 else [], _pos(p))


def p_opt_where(p):
    """opt_where : WHERE where_list
                 | WHERE where_list COMMA
                 | empty"""
    p[0] = p[2] if len(p) >= 3 else []


def p_where_list(p):
    """where_list : where_pred
                  | where_list COMMA where_pred"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_where_pred(p):
    "where_pred : any_name COLON dyn_bounds"
    p[0] = (p[1], p[3], _pos(p))


def _with_where(type_params: list, where: list) -> list:
    """`fn f<T>(…) where T: A + B` is `fn f<T: A + B>(…)`: the bounds join the parameter's."""
    by_name = {tp.name: tp for tp in type_params}
    for name, bounds, where_pos in where:
        tp = by_name.get(name)
        if tp is None:
            raise ShapeError("SyntaxError", f"'where' names '{name}', which is not a type "
                             "parameter of this function", **where_pos)
        tp.bounds = tp.bounds + [b for b in bounds if b not in tp.bounds]
    return type_params


def p_return(p):
    """return_stmt : RETURN
                   | RETURN expr"""
    p[0] = A.Return(p[2] if len(p) == 3 else None, **_pos(p))


def p_break(p):
    """break_stmt : BREAK
                  | BREAK expr"""
    p[0] = A.Break(p[2] if len(p) == 3 else None, **_pos(p))


def p_continue(p):
    "continue_stmt : CONTINUE"
    p[0] = A.Continue(**_pos(p))


def p_import(p):
    """import_stmt : FROM module_path USE any_lbrace name_list RBRACE
                   | FROM module_path USE any_lbrace name_list COMMA RBRACE
                   | USE module_path"""
    if p[1] == "use":
        p[0] = A.Import(p[2], [], **_pos(p))
    else:
        p[0] = A.Import(p[2], p[5], **_pos(p))


def p_module_path(p):
    """module_path : IDENT
                   | module_path COLONCOLON IDENT"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_name_list(p):
    """name_list : any_name
                 | name_list COMMA any_name"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_any_name(p):
    """any_name : IDENT
                | STRUCTNAME"""
    p[0] = p[1]


def p_any_lbrace(p):
    """any_lbrace : LBRACE
                  | LBRACE_OBJ"""
    p[0] = p[1]


# ================================================================ declarations

def p_fn_decl(p):
    """fn_decl : fn_prefix IDENT opt_type_params LPAREN params RPAREN opt_ret opt_where block"""
    annotations, is_async, pos = p[1]
    p[0] = A.FnDecl(p[2], p[5], p[9], p[7], is_async, annotations,
                    type_params=_with_where(p[3], p[8]), **pos)


def p_fn_prefix(p):
    """fn_prefix : fn_head
                 | annotation_uses_nonempty fn_head"""
    # Two rules rather than a possibly empty annotation list, so that `fn` at the start of a
    # statement can also begin a function expression `fn(x) { … }`.
    if len(p) == 2:
        p[0] = ([],) + p[1]
    else:
        p[0] = (p[1],) + p[2]


def p_fn_head(p):
    """fn_head : FN
               | ASYNC FN"""
    p[0] = (len(p) == 3, _pos(p))


def p_annotation_use(p):
    """annotation_use : AT IDENT
                      | AT IDENT LPAREN args RPAREN"""
    p[0] = A.AnnotationUse(p[2], p[4] if len(p) == 6 else [], **_pos(p))


def p_opt_ret(p):
    """opt_ret : ARROW type_expr
               | empty"""
    p[0] = p[2] if len(p) == 3 else None


def p_params(p):
    """params : param_list
              | param_list COMMA
              | empty"""
    p[0] = p[1] or []


def p_param_list(p):
    """param_list : param
                  | param_list COMMA param"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_param(p):
    """param : pattern opt_type
             | pattern opt_type ASSIGN expr
             | AMP IDENT opt_type
             | AMP MUT IDENT opt_type"""
    if p[1] == "&":
        name = p[3] if p[2] == "mut" else p[2]
        ty = p[4] if p[2] == "mut" else p[3]
        p[0] = A.Param(A.PBind(name, **_pos(p)), ty, None, True, **_pos(p))
    else:
        p[0] = A.Param(_binding_pattern(p[1], "a parameter list"), p[2],
                       p[4] if len(p) == 5 else None, False, **_pos(p))


def p_enum_decl(p):
    """enum_decl : ENUM any_name opt_type_params any_lbrace variants RBRACE
                 | ENUM any_name opt_type_params any_lbrace variants variant_sep RBRACE
                 | ENUM any_name opt_type_params any_lbrace RBRACE"""
    if len(p) == 6:
        # As upstream: an enum has at least one variant.
        raise ShapeError("SyntaxError", f"Enum {p[2]} has no variants (an enum needs at least one)",
                         **_pos(p))
    variants = p[5]
    names = [v.name for v in variants]
    for v in variants:
        if names.count(v.name) > 1:
            raise ShapeError("SyntaxError", f"Enum {p[2]} declares the variant {v.name} twice",
                             v.line, v.col)
    p[0] = A.EnumDecl(p[2], variants, type_params=p[3], **_pos(p))


def p_variants(p):
    """variants : variant
                | variants variant_sep variant"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_variant_sep(p):
    """variant_sep : COMMA
                   | SEMI"""


def p_variant(p):
    """variant : IDENT
               | IDENT ASSIGN variant_value
               | IDENT LPAREN type_list RPAREN
               | IDENT LPAREN type_list COMMA RPAREN
               | STRUCTNAME any_lbrace field_decls RBRACE
               | STRUCTNAME any_lbrace RBRACE"""
    if len(p) == 2:
        p[0] = A.Variant(p[1], "unit", **_pos(p))
    elif p[2] == "=":
        p[0] = A.Variant(p[1], "unit", value=p[3], **_pos(p))
    elif p[2] == "(":
        p[0] = A.Variant(p[1], "tuple", p[3], **_pos(p))
    else:
        fields = p[3] if len(p) == 5 else []
        for f in fields:
            if isinstance(f, A.ComptimeField):
                raise ShapeError("SyntaxError", "A variant cannot have comptime fields",
                                 f.line, f.col)
        # For struct variants `types` holds each field's declared type, parallel to `fields`.
        p[0] = A.Variant(p[1], "struct", [f.type or "" for f in fields], [f.name for f in fields],
                         **_pos(p))


def p_variant_value(p):
    """variant_value : INT
                     | FLOAT
                     | STRING
                     | MINUS INT
                     | MINUS FLOAT"""
    if len(p) == 3:
        p[0] = -p[2]
    else:
        p[0] = p[1].value if isinstance(p[1], L.StrTok) else p[1]


def p_type_decl(p):
    """type_decl : TYPE any_name opt_type_params any_lbrace field_decls RBRACE
                 | TYPE any_name opt_type_params any_lbrace RBRACE"""
    fields = p[5] if len(p) == 7 else []
    names = [f.name for f in fields]
    for f in fields:
        if names.count(f.name) > 1:
            raise ShapeError("SyntaxError", f"Type {p[2]} declares the field {f.name} twice",
                             f.line, f.col)
    p[0] = A.TypeDecl(p[2], fields, type_params=p[3], **_pos(p))


def p_type_alias(p):
    """type_decl : TYPE any_name ASSIGN type_expr"""
    p[0] = A.TypeAlias(p[2], p[4], **_pos(p))


def p_field_decls(p):
    """field_decls : field_decl_list
                   | field_decl_list COMMA"""
    p[0] = p[1]


def p_field_decl_list(p):
    """field_decl_list : field_decl
                       | field_decl_list COMMA field_decl
                       | field_decl_list field_decl"""
    # Commas between fields are optional, as upstream (one field per line reads well).
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[len(p) - 1]]


def p_field_decl(p):
    """field_decl : IDENT
                  | IDENT COLON type_expr
                  | IDENT COLON type_expr ASSIGN expr"""
    ty = p[3] if len(p) >= 4 else None
    default = p[5] if len(p) == 6 else None
    p[0] = A.FieldDecl(p[1], ty, default, **_pos(p))


def p_field_decl_comptime(p):
    """field_decl : COMPTIME IDENT COLON type_expr
                  | COMPTIME IDENT COLON type_expr ASSIGN expr"""
    p[0] = A.ComptimeField(p[2], p[4], p[6] if len(p) == 7 else None, **_pos(p))


def p_extend_decl(p):
    """extend_decl : EXTEND any_name any_lbrace methods RBRACE"""
    p[0] = A.ExtendDecl(p[2], p[4], **_pos(p))


def p_methods(p):
    """methods : methods method
               | empty"""
    p[0] = [] if len(p) == 2 else p[1] + [p[2]]


def p_method(p):
    """method : METHOD IDENT opt_type_params LPAREN params RPAREN opt_ret block opt_semi
              | annotation_uses_nonempty METHOD IDENT opt_type_params LPAREN params RPAREN opt_ret block opt_semi
              | fn_decl opt_semi"""
    if len(p) == 3:
        p[0] = p[1]
    elif len(p) == 10:
        p[0] = A.FnDecl(p[2], p[5], p[8], p[7], False, [], type_params=p[3], **_pos(p))
    else:
        p[0] = A.FnDecl(p[3], p[6], p[9], p[8], False, p[1], type_params=p[4], **_pos(p, 2))


# ---------------------------------------------------------------- traits and impls

def p_trait_decl(p):
    """trait_decl : TRAIT any_name opt_type_params any_lbrace trait_members RBRACE"""
    members = p[5]
    names = [m.name for m in members]
    for m in members:
        if names.count(m.name) > 1:
            raise ShapeError("SyntaxError", f"Trait {p[2]} declares {m.name} twice", m.line, m.col)
    p[0] = A.TraitDecl(p[2], p[3], members, **_pos(p))


def p_trait_members(p):
    """trait_members : trait_members trait_member
                     | empty"""
    p[0] = [] if len(p) == 2 else p[1] + [p[2]]


def p_trait_member_sig(p):
    """trait_member : IDENT LPAREN params RPAREN opt_sig_ret opt_member_sep"""
    # A required method: `name(self, x: T): R` (upstream writes the result type after `:`).
    p[0] = A.TraitMethodSig(p[1], p[3], p[5], **_pos(p))


def p_trait_member_default(p):
    """trait_member : method"""
    p[0] = p[1]


def p_opt_sig_ret(p):
    """opt_sig_ret : COLON type_expr
                   | ARROW type_expr
                   | empty"""
    p[0] = p[2] if len(p) == 3 else None


def p_opt_member_sep(p):
    """opt_member_sep : SEMI
                      | COMMA
                      | empty"""


def p_impl_decl(p):
    """impl_decl : IMPL trait_ref FOR type_atom opt_impl_name any_lbrace methods RBRACE"""
    methods = p[7]
    names = [m.name for m in methods]
    for m in methods:
        if names.count(m.name) > 1:
            raise ShapeError("SyntaxError", f"impl {p[2]} for {p[4]} defines {m.name} twice",
                             m.line, m.col)
    p[0] = A.ImplDecl(p[2], p[4], methods, p[5], **_pos(p))


def p_trait_ref(p):
    """trait_ref : any_name
                 | any_name LT type_list GT
                 | any_name LT type_args_shr"""
    if len(p) == 2:
        p[0] = p[1]
    elif len(p) == 4:
        p[0] = f"{p[1]}<{p[3]}>"
    else:
        p[0] = f"{p[1]}<{', '.join(p[3])}>"


def p_opt_impl_name(p):
    """opt_impl_name : AS IDENT
                     | empty"""
    p[0] = p[2] if len(p) == 3 else None


ANNOTATION_TARGETS = ("function", "await_expr")


def p_annotation_decl(p):
    """annotation_decl : ANNOTATION IDENT LPAREN params RPAREN any_lbrace annotation_items RBRACE
                       | ANNOTATION IDENT any_lbrace annotation_items RBRACE"""
    if len(p) == 9:
        params, items = p[4], p[7]
    else:
        params, items = [], p[4]
    decl = A.AnnotationDecl(p[2], params, [], **_pos(p))
    seen: set[str] = set()
    for kind, value in items:
        if kind == "skip":
            continue
        field = "targets" if kind == "targets" else value.name
        if field in seen:
            # A second `before` would otherwise silently replace the first.
            raise ShapeError("SyntaxError", f"Annotation @{p[2]} defines '{field}' twice",
                             **_pos(p))
        seen.add(field)
        if kind == "targets":
            unknown = [t for t in value if t not in ANNOTATION_TARGETS]
            if unknown:
                raise ShapeError("SyntaxError", f"Unknown annotation target '{unknown[0]}' in @{p[2]} "
                                 f"(expected {' or '.join(ANNOTATION_TARGETS)})", **_pos(p))
            decl.targets = value
        elif value.name in ("before", "after"):
            setattr(decl, value.name, value)
        else:
            raise ShapeError("SyntaxError", f"Unknown annotation handler '{value.name}' "
                             "(expected before or after)", value.line, value.col)
    p[0] = decl


def p_annotation_items(p):
    """annotation_items : annotation_items annotation_item
                        | empty"""
    p[0] = [] if len(p) == 2 else p[1] + [p[2]]


def p_annotation_item(p):
    """annotation_item : IDENT COLON LBRACKET target_list RBRACKET opt_semi
                       | IDENT COLON LBRACKET target_list COMMA RBRACKET opt_semi
                       | IDENT LPAREN params RPAREN block opt_semi
                       | COMMA"""
    if len(p) == 2:
        p[0] = ("skip", None)
        return
    if p[2] == ":":
        if p[1] != "targets":
            raise ShapeError("SyntaxError", f"Unknown annotation field '{p[1]}' (expected targets)",
                             **_pos(p))
        p[0] = ("targets", p[4])
    else:
        p[0] = ("handler", A.FnDecl(p[1], p[3], p[5], **_pos(p)))


def p_target_list(p):
    """target_list : target
                   | target_list COMMA target"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_target(p):
    """target : IDENT
              | FN"""
    p[0] = "function" if p[1] == "fn" else p[1]


# ================================================================ blocks and control flow

def p_block(p):
    """block : LBRACE stmts RBRACE
             | LBRACE_OBJ RBRACE"""
    p[0] = A.Block(_no_pub(p[2]) if len(p) == 4 else [], **_pos(p))


def p_block_expr(p):
    "block_expr : LBRACE stmts RBRACE"
    p[0] = A.Block(_no_pub(p[2]), **_pos(p))


def p_if(p):
    """if_expr : IF expr block
               | IF expr block ELSE block
               | IF expr block ELSE if_expr"""
    p[0] = A.If(p[2], p[3], p[5] if len(p) == 6 else None, **_pos(p))


def p_while(p):
    "while_expr : WHILE expr block"
    p[0] = A.While(p[2], p[3], **_pos(p))


def p_for(p):
    "for_expr : FOR pattern IN expr block"
    p[0] = A.For(_binding_pattern(p[2], "for"), p[4], p[5], **_pos(p))


def p_loop(p):
    "loop_expr : LOOP block"
    p[0] = A.Loop(p[2], **_pos(p))


def p_match(p):
    """match_expr : MATCH expr any_lbrace arms RBRACE
                  | MATCH expr any_lbrace RBRACE"""
    p[0] = A.Match(p[2], p[4] if len(p) == 6 else [], **_pos(p))


def p_arms(p):
    """arms : arm
            | arms arm"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[2]]


def p_arm(p):
    """arm : arm_pattern FATARROW expr opt_comma
           | arm_pattern WHERE expr FATARROW expr opt_comma"""
    if len(p) == 5:
        p[0] = A.MatchArm(p[1], None, p[3], **_pos(p))
    else:
        p[0] = A.MatchArm(p[1], p[3], p[5], **_pos(p))


def p_opt_comma(p):
    """opt_comma : COMMA
                 | empty"""


# ================================================================ patterns

def p_arm_pattern(p):
    """arm_pattern : pattern
                   | typed_pattern"""
    p[0] = p[1]


def p_typed_pattern(p):
    "typed_pattern : IDENT COLON type_expr"
    # `n: int` matches a value of that type and binds it; `_: int` only tests the type.
    p[0] = A.PTyped(None if p[1] == "_" else p[1], p[3], **_pos(p))


def p_pattern_name(p):
    "pattern : IDENT"
    p[0] = A.PWild(**_pos(p)) if p[1] == "_" else A.PBind(p[1], **_pos(p))


def p_pattern_literal(p):
    """pattern : INT
               | FLOAT
               | STRING
               | TRUE
               | FALSE
               | NONE"""
    tok = p.slice[1]
    value = {"TRUE": True, "FALSE": False, "NONE": None}.get(tok.type, p[1])
    if isinstance(value, L.StrTok):
        value = value.value
    p[0] = A.PLit(value, **_pos(p))


def p_pattern_negative(p):
    """pattern : MINUS INT
               | MINUS FLOAT"""
    p[0] = A.PLit(-p[2], **_pos(p))


def p_pattern_call(p):
    """pattern : IDENT LPAREN pattern_items RPAREN
               | path LPAREN pattern_items RPAREN"""
    path = p[1] if isinstance(p[1], list) else [p[1]]
    for item in p[3]:
        if isinstance(item, _Rest):
            raise ShapeError("SyntaxError", "'...rest' is only allowed in array patterns",
                             item.line, item.col)
    p[0] = A.PVariant(path, p[3], None, **_pos(p))


def p_pattern_path(p):
    "pattern : path"
    p[0] = A.PVariant(p[1], None, None, **_pos(p))


def p_pattern_struct(p):
    """pattern : struct_path any_lbrace field_patterns RBRACE"""
    p[0] = A.PVariant(p[1], None, p[3], **_pos(p))


def p_pattern_empty_array(p):
    "pattern : BRACKETS"
    p[0] = A.PArray([], **_pos(p))


def p_pattern_array(p):
    """pattern : LBRACKET pattern_items RBRACKET"""
    items, rest, has_rest = [], None, False
    for i, item in enumerate(p[2]):
        if isinstance(item, _Rest):
            if i != len(p[2]) - 1:
                raise ShapeError("SyntaxError", "'...rest' must be the last element of an array pattern",
                                 item.line, item.col)
            rest, has_rest = item.name, True
        else:
            items.append(item)
    p[0] = A.PArray(items, rest, has_rest, **_pos(p))


class _Rest:
    def __init__(self, name: str, line: int, col: int) -> None:
        self.name, self.line, self.col = name, line, col


def p_pattern_rest(p):
    """pattern_elem : ELLIPSIS IDENT"""
    p[0] = _Rest(p[2], **_pos(p))


def p_pattern_elem(p):
    """pattern_elem : pattern
                    | typed_pattern"""
    p[0] = p[1]


def p_pattern_object(p):
    "pattern : any_lbrace field_patterns RBRACE"
    p[0] = A.PObject(p[2], **_pos(p))


def p_pattern_items(p):
    """pattern_items : pattern_list
                     | pattern_list COMMA
                     | empty"""
    p[0] = p[1] or []


def p_pattern_list(p):
    """pattern_list : pattern_elem
                    | pattern_list COMMA pattern_elem"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_field_patterns(p):
    """field_patterns : field_pattern_list
                      | field_pattern_list COMMA
                      | empty"""
    p[0] = p[1] or []


def p_field_pattern_list(p):
    """field_pattern_list : field_pattern
                          | field_pattern_list COMMA field_pattern"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_field_pattern(p):
    """field_pattern : IDENT
                     | IDENT COLON pattern
                     | IDENT COLON typed_pattern"""
    if len(p) == 2:
        p[0] = (p[1], A.PBind(p[1], **_pos(p)))
    else:
        p[0] = (p[1], p[3])


def p_path(p):
    """path : IDENT COLONCOLON IDENT
            | path COLONCOLON IDENT"""
    p[0] = ([p[1]] if isinstance(p[1], str) else p[1]) + [p[3]]
    # As for struct_path: a list of names carries no position; the path takes its first token's.
    first = p.slice[1]
    p.slice[0].line, p.slice[0].col = getattr(first, "line", 0), getattr(first, "col", 0)


def p_struct_path(p):
    """struct_path : STRUCTNAME
                   | IDENT COLONCOLON STRUCTNAME
                   | path COLONCOLON STRUCTNAME"""
    if len(p) == 2:
        p[0] = [p[1]]
    else:
        p[0] = ([p[1]] if isinstance(p[1], str) else p[1]) + [p[3]]
    # A list of names carries no position: the struct literal takes its first token's.
    first = p.slice[1]
    p.slice[0].line, p.slice[0].col = getattr(first, "line", 0), getattr(first, "col", 0)


# ================================================================ expressions

def p_expr_assign(p):
    """expr : expr ASSIGN expr
            | expr PLUSEQ expr
            | expr MINUSEQ expr
            | expr STAREQ expr
            | expr SLASHEQ expr
            | expr PERCENTEQ expr
            | expr POWEQ expr
            | expr AMPEQ expr
            | expr PIPEEQ expr
            | expr CARETEQ expr
            | expr SHLEQ expr
            | expr SHREQ expr"""
    if not isinstance(p[1], (A.Name, A.Member, A.Index)):
        raise ShapeError("SyntaxError", "Invalid assignment target", p[1].line, p[1].col)
    p[0] = A.Assign(p[1], p[2], p[3], **_pos(p))


def p_expr_pipe(p):
    "expr : expr PIPEGT expr"
    p[0] = A.Pipe(p[1], p[3], **_pos(p))


def p_expr_ternary(p):
    "expr : expr QUESTION expr COLON expr"
    p[0] = A.Ternary(p[1], p[3], p[5], **_pos(p))


def p_expr_binary(p):
    """expr : expr QQ expr
            | expr BANGBANG expr
            | expr OROR expr
            | expr OR expr
            | expr ANDAND expr
            | expr AND expr
            | expr EQ expr
            | expr NE expr
            | expr LT expr
            | expr LE expr
            | expr GT expr
            | expr GE expr
            | expr PLUS expr
            | expr MINUS expr
            | expr STAR expr
            | expr SLASH expr
            | expr PERCENT expr
            | expr POW expr
            | expr AMP expr
            | expr PIPE expr
            | expr CARET expr
            | expr SHL expr
            | expr SHR expr"""
    op = {"or": "||", "and": "&&"}.get(p[2], p[2])
    right = p[3]
    if op == "!!" and type(right) is A.Try and not getattr(right, "_paren", False):
        # `a !! ctx?` is `(a !! ctx)?` (spec/language.md §5.6), as upstream.
        pos = _pos(p)
        p[0] = A.Try(A.Binary(op, p[1], right.expr, **pos), **pos)
        return
    p[0] = A.Binary(op, p[1], right, **_pos(p))


def p_expr_range(p):
    """expr : expr DOTDOT expr
            | expr DOTDOTEQ expr"""
    p[0] = A.RangeExpr(p[1], p[3], p[2] == "..=", **_pos(p))


def p_expr_fuzzy(p):
    """expr : expr FUZZYEQ expr
            | expr FUZZYLT expr
            | expr FUZZYGT expr
            | expr FUZZYEQ expr WITHIN tolerance
            | expr FUZZYLT expr WITHIN tolerance
            | expr FUZZYGT expr WITHIN tolerance"""
    tol, percent = p[5] if len(p) == 6 else (None, False)
    p[0] = A.Fuzzy(p[2], p[1], p[3], tol, percent, **_pos(p))


def p_tolerance(p):
    """tolerance : INT
                 | FLOAT
                 | INT PERCENT
                 | FLOAT PERCENT"""
    p[0] = (p[1], len(p) == 3)


def p_expr_not_not(p):
    "expr : BANGBANG expr %prec NOT"
    # In prefix position `!!x` is double negation, as upstream (`!!` between operands is the
    # context operator).
    p[0] = A.Unary("!", A.Unary("!", p[2], **_pos(p)), **_pos(p))


def p_expr_unary(p):
    """expr : MINUS expr %prec UMINUS
            | NOT expr
            | TILDE expr"""
    operand = p[2]
    # Fold `-literal` so that the printer's `-5` re-parses to the same tree and so that
    # -9223372036854775808 style literals are not needed to write negative constants.
    if p[1] == "-" and isinstance(operand, A.Literal) and type(operand.value) in (int, float) \
            and not getattr(operand, "_paren", False):
        p[0] = A.Literal(-operand.value, **_pos(p))
        p[0]._negated = True
    else:
        p[0] = A.Unary(p[1], operand, **_pos(p))


def p_expr_await(p):
    """expr : AWAIT expr
            | AWAIT annotation_uses_nonempty expr %prec AWAIT"""
    if len(p) == 3:
        p[0] = A.Await(p[2], [], **_pos(p))
    else:
        p[0] = A.Await(p[3], p[2], **_pos(p))


def p_annotation_uses_nonempty(p):
    """annotation_uses_nonempty : annotation_use
                                | annotation_uses_nonempty annotation_use"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[2]]


def p_expr_lambda(p):
    """expr : LPIPE params RPIPE expr %prec LAMBDA_BODY
            | LAMBDA0 expr %prec LAMBDA_BODY
            | OROR expr %prec LAMBDA_BODY"""
    if len(p) == 3:
        p[0] = A.Lambda([], p[2], **_pos(p))
    else:
        p[0] = A.Lambda(p[2], p[4], **_pos(p))


def p_expr_postfix(p):
    "expr : postfix"
    p[0] = p[1]


def p_postfix_primary(p):
    "postfix : primary"
    p[0] = p[1]


def p_postfix_member(p):
    """postfix : postfix DOT member_name
               | postfix QDOT member_name"""
    p[0] = A.Member(p[1], p[3], p[2] == "?.", **_pos(p))


def p_member_name(p):
    """member_name : IDENT
                   | STRUCTNAME
                   | TYPE
                   | MATCH
                   | IN
                   | FROM
                   | AS
                   | USE
                   | WHERE"""
    p[0] = p[1]


def p_postfix_index(p):
    "postfix : postfix LBRACKET expr RBRACKET"
    p[0] = A.Index(p[1], p[3], **_pos(p))


def p_postfix_as(p):
    """postfix : postfix AS type_atom
               | postfix AS type_atom TRY"""
    # `as T?` is the fallible conversion; `(x as T?)?` applies the try operator to its result.
    p[0] = A.As(p[1], p[3], len(p) == 5, **_pos(p))


def p_postfix_try(p):
    "postfix : postfix TRY"
    p[0] = A.Try(p[1], **_pos(p))


def p_postfix_call(p):
    "postfix : postfix LPAREN args RPAREN"
    args = p[3]
    if isinstance(p[1], A.Name) and p[1].name == "print":
        # Upstream quirk: a plain string literal passed straight to print interpolates `{expr}`.
        args = [_interpolated(a) for a in args]
    p[0] = A.Call(p[1], args, **_pos(p))


def _interpolated(arg):
    holes = getattr(arg, "_holes", None)
    if isinstance(arg, A.Literal) and holes:
        return A.FString(holes, line=arg.line, col=arg.col)
    return arg


def p_args(p):
    """args : arg_list
            | arg_list COMMA
            | empty"""
    p[0] = p[1] or []


def p_arg_list(p):
    """arg_list : arg
                | arg_list COMMA arg"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_arg(p):
    """arg : expr
           | ELLIPSIS expr
           | AMP IDENT
           | AMP MUT IDENT"""
    if len(p) == 2:
        p[0] = p[1]
    elif p[1] == "...":
        p[0] = A.Spread(p[2], **_pos(p))
    else:
        p[0] = A.RefArg(p[len(p) - 1], **_pos(p))


def p_primary_int(p):
    """primary : INT
               | FLOAT"""
    p[0] = A.Literal(p[1], **_pos(p))


def p_primary_string(p):
    "primary : STRING"
    tok = p[1]
    p[0] = A.Literal(tok.value, **_pos(p))
    if tok.holes:
        p[0]._holes = tok.holes


def p_primary_fstring(p):
    "primary : FSTRING"
    p[0] = A.FString(p[1].parts, **_pos(p))


def p_primary_duration(p):
    "primary : DURATION"
    p[0] = A.DurationLit(p[1], **_pos(p))


def p_primary_fn(p):
    "primary : FN LPAREN params RPAREN opt_ret block"
    # An anonymous function: `fn(x) { … }` (also `function(x) { … }`), a closure like a lambda.
    p[0] = A.FnExpr(p[3], p[6], p[5], **_pos(p))


def p_primary_const(p):
    """primary : TRUE
               | FALSE
               | NONE"""
    p[0] = A.Literal({"true": True, "false": False, "None": None}[p[1]], **_pos(p))


def p_primary_unit(p):
    "primary : LPAREN RPAREN"
    p[0] = A.UnitLit(**_pos(p))


def p_primary_paren(p):
    "primary : LPAREN expr RPAREN"
    p[0] = p[2]
    p[0]._paren = True


def p_primary_name(p):
    "primary : IDENT"
    p[0] = A.Name(p[1], **_pos(p))


def p_primary_path(p):
    "primary : path"
    p[0] = A.Path(p[1], **_pos(p))


def p_primary_blocklike(p):
    """primary : if_expr
               | match_expr
               | while_expr
               | for_expr
               | loop_expr
               | block_expr"""
    p[0] = p[1]


def p_primary_array(p):
    """primary : LBRACKET array_items RBRACKET
               | BRACKETS"""
    p[0] = A.ArrayLit(p[2] if len(p) == 4 else [], **_pos(p))


def p_array_items(p):
    """array_items : array_item_list
                   | array_item_list COMMA
                   | empty"""
    p[0] = p[1] or []


def p_array_item_list(p):
    """array_item_list : array_item
                       | array_item_list COMMA array_item"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_array_item(p):
    """array_item : expr
                  | ELLIPSIS expr"""
    p[0] = p[1] if len(p) == 2 else A.Spread(p[2], **_pos(p))


def p_primary_comprehension(p):
    "primary : LBRACKET expr comp_for comp_clauses RBRACKET"
    p[0] = A.Comprehension(p[2], [p[3]] + p[4], **_pos(p))


def p_comp_for(p):
    "comp_for : FOR pattern IN expr"
    p[0] = A.CompFor(_binding_pattern(p[2], "for"), p[4], **_pos(p))


def p_comp_clauses(p):
    """comp_clauses : comp_clauses comp_for
                    | comp_clauses IF expr
                    | empty"""
    if len(p) == 2:
        p[0] = []
    elif len(p) == 3:
        p[0] = p[1] + [p[2]]
    else:
        p[0] = p[1] + [A.CompIf(p[3], **_pos(p, 2))]


def p_primary_object(p):
    """primary : LBRACE_OBJ object_entries RBRACE"""
    p[0] = A.ObjectLit(p[2], **_pos(p))


def p_object_entries(p):
    """object_entries : object_entry_list
                      | object_entry_list COMMA
                      | empty"""
    p[0] = p[1] or []


def p_object_entry_list(p):
    """object_entry_list : object_entry
                         | object_entry_list COMMA object_entry"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_object_entry(p):
    """object_entry : member_name COLON expr
                    | STRING COLON expr
                    | ELLIPSIS expr"""
    if len(p) == 3:
        p[0] = A.Spread(p[2], **_pos(p))
    else:
        key = p[1].value if isinstance(p[1], L.StrTok) else p[1]
        p[0] = (key, p[3])


def p_primary_struct(p):
    "primary : struct_path any_lbrace struct_fields RBRACE"
    p[0] = A.StructLit(p[1], p[3], **_pos(p))


def p_struct_fields(p):
    """struct_fields : struct_field_list
                     | struct_field_list COMMA
                     | empty"""
    p[0] = p[1] or []


def p_struct_field_list(p):
    """struct_field_list : struct_field
                         | struct_field_list COMMA struct_field"""
    p[0] = [p[1]] if len(p) == 2 else p[1] + [p[3]]


def p_struct_field(p):
    """struct_field : IDENT
                    | IDENT COLON expr"""
    p[0] = (p[1], A.Name(p[1], **_pos(p)) if len(p) == 2 else p[3])


def p_error(tok):
    if tok is None:
        raise ShapeError("SyntaxError", "Unexpected end of input" + _expected(), *_eof_pos())
    text = tok.value if isinstance(tok.value, str) else tok.type
    raise ShapeError("SyntaxError", f"Unexpected {_describe(tok.type, text)}" + _expected(),
                     tok.line, tok.col)


_FRIENDLY = {
    "RBRACE": "'}'", "LBRACE": "'{'", "LBRACE_OBJ": "'{'", "RPAREN": "')'", "LPAREN": "'('",
    "RBRACKET": "']'", "LBRACKET": "'['", "BRACKETS": "'[]'", "COMMA": "','", "SEMI": "';'", "COLON": "':'",
    "ASSIGN": "'='", "FATARROW": "'=>'", "IDENT": "a name", "STRUCTNAME": "a name",
    "INT": "a number", "FLOAT": "a number", "STRING": "a string", "FSTRING": "a string",
    "PIPE": "'|'", "LPIPE": "'|'", "RPIPE": "'|'", "IN": "'in'", "ARROW": "'->'", "DOT": "'.'", "$end": "end of input",
    "TRY": "'?'", "QUESTION": "'?'", "EXPR": "an expression",
}

_EXPR_TOKENS = {"INT", "FLOAT", "STRING", "FSTRING", "IDENT", "LPAREN", "LBRACKET", "MINUS", "NOT"}


def _describe(ttype: str, text: str) -> str:
    if ttype in ("IDENT", "STRUCTNAME"):
        return f"name '{text}'"
    if ttype in ("INT", "FLOAT", "STRING", "FSTRING"):
        return _FRIENDLY[ttype]
    return f"'{text}'" if text != ttype else ttype.lower()


def _expected() -> str:
    try:
        state = _PARSER.statestack[-1]
        keys = set(_PARSER.action[state].keys())
    except Exception:  # pragma: no cover - PLY internals changed
        return ""
    names = []
    if _EXPR_TOKENS <= keys:
        names.append("an expression")
        keys -= _EXPR_TOKENS | {"TRUE", "FALSE", "NONE", "LPIPE", "LAMBDA0", "OROR", "IF",
                                "MATCH", "WHILE", "FOR", "LOOP", "LBRACE", "LBRACE_OBJ",
                                "AWAIT", "STRUCTNAME", "TILDE", "BANGBANG", "DURATION", "FN",
                                "BRACKETS"}
    for k in sorted(keys):
        if k in _FRIENDLY and _FRIENDLY[k] not in names:
            names.append(_FRIENDLY[k])
    if not names or len(names) > 6:
        return ""
    return "; expected " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])


def _eof_pos() -> tuple[int, int]:
    return _LAST_POS


_LAST_POS = (1, 1)

_HERE = os.path.dirname(os.path.abspath(__file__))
_TABLES = os.path.join(_HERE, "parsetab.pickle")
_PARSER = yacc.yacc(debug=False, write_tables=os.access(_HERE, os.W_OK), picklefile=_TABLES,
                    errorlog=yacc.NullLogger())


class _TokenStream:
    def __init__(self, toks: list) -> None:
        self._it = iter(toks)

    def token(self):
        return next(self._it, None)


def _parse_tokens(toks: list) -> A.Program:
    global _LAST_POS
    _string_holes(toks)
    if toks:
        _LAST_POS = toks[-1].end
    else:
        _LAST_POS = (1, 1)
    return _PARSER.parse(lexer=_TokenStream(toks))


def _string_holes(toks: list) -> None:
    """Turn the raw holes of string tokens into expressions, before the main parse (which can
    then stay non-reentrant): every hole of an f-string must parse; a `{…}` in a plain string
    is a hole (for `print`'s interpolation quirk) only when it parses."""
    for tok in toks:
        if tok.type == "FSTRING":
            tok.value = L.FStrTok([p if isinstance(p, str) else _fpart(p) for p in tok.value.parts])
        elif tok.type == "STRING" and tok.value.raw is not None and "{" in tok.value.raw:
            tok.value.holes = _plain_holes(tok.value)


def _fpart(hole: L.Hole) -> A.FPart:
    expr = parse_expression(hole.source, hole.line, hole.col)
    return A.FPart(expr, hole.spec, line=hole.line, col=hole.col)


def _plain_holes(st: L.StrTok) -> Optional[list]:
    parts: list = []
    found = False
    candidates = L.plain_holes(st.raw, st.line, st.col)
    k = 0
    while k < len(candidates):
        c = candidates[k]
        if isinstance(c, L.Hole):
            # A candidate is followed by the literal text it stands for, used if it is no hole.
            expr = try_parse_expression(c.source, c.line, c.col)
            k += 1
            if expr is not None:
                parts.append(A.FPart(expr, c.spec, line=c.line, col=c.col))
                found = True
                k += 1
                continue
            c = candidates[k]
        if parts and isinstance(parts[-1], str):
            parts[-1] += c
        else:
            parts.append(c)
        k += 1
    return parts if found else None


def _located_tokens(source: str, line: int = 1, col: int = 1) -> list:
    toks = L.tokenize(source)
    if line != 1 or col != 1:
        for t in toks:
            if t.line == 1:
                t.col += col - 1
            t.line += line - 1
        if toks:
            end_line, end_col = toks[-1].end
            toks[-1].end = (end_line + line - 1, end_col + col - 1 if end_line == 1 else end_col)
    return toks


# The trees of the last programs parsed, newest last: (source, path, tree). Parsing the same text
# again gives the same tree (recompile-and-resume parses the stored source its caller has just
# run; the snapshot oracle and the VM parse the same edited source), and the resolver then finds
# its resolution of that tree too. Nothing changes a tree after parsing: a caller that edits one
# (the fuzzer's reducer) edits a copy.
_PARSED: list[tuple[str, Optional[str], A.Program]] = []
_PARSED_KEEP = 4


def parse(source: str, path: Optional[str] = None) -> A.Program:
    """Parse a whole program; raises ShapeError(SyntaxError) with file, line and column. The
    tree may be shared with an earlier caller that parsed the same text: do not change it."""
    for src, p, tree in _PARSED:
        if src == source and p == path:
            return tree
    tree = _parse(source, path)
    _PARSED.append((source, path, tree))
    del _PARSED[:-_PARSED_KEEP]
    return tree


def _parse(source: str, path: Optional[str]) -> A.Program:
    if source.startswith("\ufeff"):
        source = source[1:]  # a byte-order mark written by an editor: not part of the program
    toks: list = []
    try:
        toks = _located_tokens(source)
        prog = _parse_tokens(toks)
        if "use" in source and any(t.type == "USE" for t in toks):
            from shapelang.ref import modules
            modules.expand(prog, parse)   # std modules written in Shape (std::core::remote)
        return prog
    except ShapeError as e:
        if e.file is None:
            e.file = path
        if e.kind == "SyntaxError" and toks:
            e.message = _explain(toks, e)
        raise
    except RecursionError:
        raise ShapeError("SyntaxError", "Program is nested too deeply to parse", 1, 1, file=path)


_PAIRS = {"RPAREN": "LPAREN", "RBRACKET": "LBRACKET", "RBRACE": ("LBRACE", "LBRACE_OBJ")}
_CHAR = {"LPAREN": "(", "LBRACKET": "[", "LBRACE": "{", "LBRACE_OBJ": "{", "RPAREN": ")",
         "RBRACKET": "]", "RBRACE": "}"}
_ENDS_VALUE = {"IDENT", "STRUCTNAME", "INT", "FLOAT", "STRING", "FSTRING", "TRUE", "FALSE", "NONE",
               "RPAREN", "RBRACKET", "RBRACE"}


def _explain(toks: list, e: ShapeError) -> str:
    """A syntax error's message, told in terms of the brackets around it: an unclosed bracket
    is named with where it opened, and a `(` or `[` at the start of a line that made the line
    continue the one before (the language's rule) is pointed out."""
    stack: list = []
    at = None
    for tok in toks:
        if (tok.line, tok.col) >= (e.line or 0, e.col or 0):
            at = tok
            break
        if tok.type in _CHAR and tok.type not in _PAIRS:
            stack.append(tok)
        elif tok.type in _PAIRS and stack:
            stack.pop()
    if at is not None and getattr(at, "inserted", False):
        i = toks.index(at)
        return (f"Unexpected '{_CHAR.get(toks[i + 1].type, '[')}' starting a line: after a line "
                f"that ends in a value, a line starting with '(' or '[' starts a new statement; "
                f"to continue line {toks[i - 1].line}, end it with ',' or an operator")
    if not stack:
        return e.message
    opened = stack[-1]
    where = f"'{_CHAR[opened.type]}' opened at {opened.line}:{opened.col}"
    if not e.message.startswith("Unexpected "):
        return e.message            # a rule of the language, not a bracket problem
    if at is None:
        message = f"{e.message} ({where} is not closed)"
    elif at is not None and at.type in _PAIRS and opened.type not in (
            _PAIRS[at.type] if isinstance(_PAIRS[at.type], tuple) else (_PAIRS[at.type],)):
        message = f"Unexpected '{_CHAR[at.type]}': {where} is not closed"
    elif at is not None and at.line > opened.line:
        message = f"{e.message} (inside {where})"
    else:
        message = e.message
    i = toks.index(opened)
    if (opened.type in ("LPAREN", "LBRACKET") and i > 0 and toks[i - 1].line < opened.line
            and toks[i - 1].type in _ENDS_VALUE):
        message += (f" (the '{_CHAR[opened.type]}' at {opened.line}:{opened.col} starts a line, "
                    f"so it continues the expression on line {toks[i - 1].line}; end that line "
                    f"with ';' to start a new statement)")
    return message


def parse_expression(source: str, line: int = 1, col: int = 1) -> Any:
    """Parse `source` as one expression (an f-string hole), positions relative to line/col."""
    prog = _parse_tokens(_located_tokens(source, line, col))
    if len(prog.body) != 1 or not isinstance(prog.body[0], A.ExprStmt) or prog.body[0].semi:
        # A hole is an expression, never statements: `if c {a} else {b} !! x` read as a program
        # is an if statement and then `!!x`. In parentheses (the opening one just before the
        # hole, so the hole's own tokens keep their positions) it is one expression.
        whole = _parse_whole(source, line, col)
        if whole is None:
            raise ShapeError("SyntaxError", "Expected a single expression in interpolation",
                             line, col)
        return whole
    return prog.body[0].expr


def _parse_whole(source: str, line: int, col: int) -> Any:
    """`(source)` parsed as one expression, or None when it is not one."""
    try:
        prog = _parse_tokens(_located_tokens("(" + source + "\n)", line, col - 1))
    except ShapeError:
        return None
    if len(prog.body) != 1 or not isinstance(prog.body[0], A.ExprStmt) or prog.body[0].semi:
        return None
    return prog.body[0].expr


def try_parse_expression(source: str, line: int = 1, col: int = 1) -> Any:
    try:
        return parse_expression(source, line, col)
    except ShapeError:
        return None
