"""The rules that map a saved top-level `snapshot()` to recompiled source (spec/snapshots.md),
shared by the reference oracle and the VM so both accept and refuse exactly the same edits."""
from __future__ import annotations

from typing import Any

from shapelang.ref import ast as A
from shapelang.ref.resolver import Resolution
from shapelang.runtime.errors import ShapeError

NON_EMPTY_STACK = ("Recompile-and-resume is only supported when snapshot() is called at the top "
                   "level (call stack is non-empty)")


def err(message: str) -> ShapeError:
    return ShapeError("ResumeError", message, phase="resume")


def _parents(prog: A.Program) -> dict[int, Any]:
    """Each node's parent, by the node's id (one walk of the tree)."""
    parents: dict[int, Any] = {}
    stack: list = [prog]
    while stack:
        node = stack.pop()
        for child in A.child_nodes(node):
            parents[id(child)] = node
            stack.append(child)
    return parents


def site_context(parents: dict[int, Any], call: A.Call) -> list:
    """The chain of constructs around a top-level snapshot site, outermost last, as comparable
    tuples; raises ResumeError when the site cannot be resumed in recompiled code. `parents` is
    `_parents` of the program that holds the call."""
    ctx: list = []
    node = call
    parent = parents.get(id(node))
    # The call must be a whole statement, or the subject of a match that is one.
    if isinstance(parent, A.Match) and parent.subject is node:
        ctx.append(("match-subject", [(a.pattern, a.guard) for a in parent.arms]))
        node, parent = parent, parents.get(id(parent))
    if isinstance(parent, A.ExprStmt):
        ctx.append(("statement",))
    elif isinstance(parent, A.Let) and parent.value is node:
        ctx.append(("let", parent.pattern, parent.kind, parent.mutable))
    elif isinstance(parent, A.Assign) and parent.value is node and parent.op == "=" \
            and isinstance(parent.target, A.Name):
        ctx.append(("assign", parent.target))
        node, parent = parent, parents.get(id(parent))
        if not isinstance(parent, A.ExprStmt):
            raise err("snapshot() must be a whole statement for recompile-and-resume")
    else:
        raise err("snapshot() must be a whole statement (or a match subject) for "
                  "recompile-and-resume")
    node, parent = parent, parents.get(id(parent))   # the statement -> its block
    while not isinstance(parent, A.Program):
        if isinstance(parent, A.Block):
            grand = parents.get(id(parent))
            if isinstance(grand, A.For):
                ctx.append(("for", grand.pattern, grand.iterable))
            elif isinstance(grand, A.While):
                ctx.append(("while", grand.cond))
            elif isinstance(grand, A.Loop):
                ctx.append(("loop",))
            elif isinstance(grand, A.If):
                ctx.append(("if", grand.cond, "then" if grand.then is parent else "else"))
            elif isinstance(grand, A.MatchArm):
                ctx.append(("arm", grand.pattern, grand.guard))
            elif isinstance(grand, A.ExprStmt):
                ctx.append(("block",))
            else:
                raise err("snapshot() is not at the top level of the program")
            node, parent = grand, parents.get(id(grand))
            if isinstance(node, A.MatchArm):
                match = parent
                ctx[-1] = ctx[-1] + (match.subject,)
                node, parent = match, parents.get(id(match))
            if isinstance(node, A.If):
                # `else if` chains: climb to the statement holding the outermost `if`.
                while isinstance(parent, A.If):
                    ctx.append(("if", parent.cond, "else"))
                    node, parent = parent, parents.get(id(parent))
            if isinstance(parent, A.ExprStmt):
                node, parent = parent, parents.get(id(parent))
            elif not isinstance(parent, (A.Block, A.Program)):
                raise err("snapshot() is inside an expression; recompile-and-resume needs the "
                          "loops and blocks around it to be statements")
        else:
            raise err("snapshot() is not at the top level of the program")
    return ctx


def _describe(entry: tuple) -> str:
    return {"for": "a for loop header", "while": "a while condition", "if": "an if condition",
            "arm": "a match arm", "match-subject": "the match on snapshot()",
            "let": "the let around snapshot()", "assign": "the assignment of snapshot()",
            "block": "a block", "loop": "a loop", "statement": "the statement"}.get(entry[0], entry[0])


def compare_contexts(old: list, new: list) -> None:
    if len(old) != len(new) or [e[0] for e in old] != [e[0] for e in new]:
        raise err("The code around the resumed snapshot() changed (different loops, branches or "
                  "blocks enclose it); cannot continue safely")
    for a, b in zip(old, new):
        if a != b:
            raise err(f"The code around the resumed snapshot() changed ({_describe(a)} differs); "
                      "cannot continue safely")



def _statement_of(parents: dict[int, Any], call: A.Call) -> Any:
    node = call
    while not isinstance(parents.get(id(node)), (A.Block, A.Program)):
        node = parents[id(node)]
    return node


def plan(old_ast: A.Program, old_res: Resolution, new_ast: A.Program, new_res: Resolution,
         k: int) -> tuple:
    """Check that snapshot #k of the old program can continue in the new one; returns
    (old call, new call, old frame variables, new frame variables) or raises ResumeError."""
    n = len(new_res.snapshot_sites)
    if k >= n:
        raise err(f"Recompiled source has {n} snapshot() call(s) but resuming from snapshot #{k} "
                  "(0-indexed)")
    if k >= len(old_res.snapshot_sites):
        raise err("The snapshot does not match its stored source")
    old_call, new_call = old_res.snapshot_sites[k], new_res.snapshot_sites[k]
    new_parents = _parents(new_ast)
    compare_contexts(site_context(_parents(old_ast), old_call), site_context(new_parents, new_call))
    old_vars = old_res.frame_variables(old_call)
    new_vars = new_res.frame_variables(new_call)
    stmt = _statement_of(new_parents, new_call)
    for key, b in new_vars.items():
        if key in old_vars or b.node is None:
            continue
        if (b.node.line, b.node.col) < (stmt.line, stmt.col):
            raise err(f"Variable '{b.name}' is declared before the resumed snapshot() only in the "
                      "recompiled source, so it has no value; declare it after the snapshot()")
    return old_call, new_call, old_vars, new_vars
