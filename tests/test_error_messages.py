"""Every error message of the language is written in one module only (issue 11).

A rule that both engines apply must raise its errors from one function, so the engines cannot
drift apart in what they say. This test reads the package's source with `ast` and collects the
text of every error message: the message argument of each `ShapeError(kind, message, …)`, and of
each call of a function that passes one of its parameters on as the message, such as
`type_error(message)` or the resume layer's `err(message)` (found by the same reading, to a
fixpoint). F-strings and `+` concatenations are reduced to their literal parts with `{}` for
each hole, so `f"Cannot call a value of type {type_name(v)}"` is the text
`Cannot call a value of type {}`. Each text may appear in one module only.
"""
from __future__ import annotations

import ast
import collections
import functools
import os
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources() -> dict[str, ast.Module]:
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        dirs = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    trees = {}
    for d in sorted(set(dirs.values())):
        for dp, _, files in os.walk(os.path.join(ROOT, d)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(dp, name)
                    with open(path, encoding="utf-8") as f:
                        trees[os.path.relpath(path, ROOT)] = ast.parse(f.read(), path)
    return trees


def text_of(node: ast.AST) -> Optional[str]:
    """The message text an expression builds: literal parts, `{}` for every computed part;
    None when the expression has no literal part at all."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = text_of(node.left), text_of(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def _callee(call: ast.Call) -> Optional[str]:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _message_args(trees: dict[str, ast.Module]) -> dict[str, int]:
    """Function name -> index of the argument that becomes an error message: ShapeError's
    second, and every function's parameter that it passes on as a message, to a fixpoint."""
    functions = []
    for tree in trees.values():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef):
                params = [a.arg for a in fn.args.args]
                if params and params[0] == "self":
                    params = params[1:]
                calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call)]
                functions.append((fn.name, params, calls))
    carriers = {"ShapeError": 1}
    changed = True
    while changed:
        changed = False
        for name, params, calls in functions:
            if name in carriers:
                continue
            for call in calls:
                i = carriers.get(_callee(call) or "")
                if i is not None and i < len(call.args) and isinstance(call.args[i], ast.Name) \
                        and call.args[i].id in params:
                    carriers[name] = params.index(call.args[i].id)
                    changed = True
                    break
    return carriers


@functools.lru_cache(maxsize=1)
def collect() -> dict[str, set[str]]:
    """Message text -> the modules that write it."""
    trees = _sources()
    carriers = _message_args(trees)
    constants: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for path, tree in trees.items():
        for st in tree.body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and \
                    isinstance(st.targets[0], ast.Name):
                text = text_of(st.value)
                if text is not None:
                    constants[st.targets[0].id].append((path, text))
    found: dict[str, set[str]] = collections.defaultdict(set)
    for path, tree in trees.items():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            i = carriers.get(_callee(call) or "")
            if i is None or i >= len(call.args):
                continue
            m = call.args[i]
            if isinstance(m, ast.Name):
                # A message kept in a module constant is written where the constant is.
                for where, text in constants.get(m.id, []):
                    found[text].add(where)
                continue
            text = text_of(m)
            if text is not None and text.strip("{} "):
                found[text].add(path)
    return found


def test_the_collector_sees_messages_built_every_way():
    found = collect()
    # a plain string, an f-string, one raised through a helper, one built with `+`
    assert "Division by zero" in found
    assert "Cannot call a value of type {}" in found
    assert "Unknown field '{}' for {}" in found
    assert any(t.startswith("Recompile-and-resume is only supported") for t in found)
    assert len(found) > 150


# Texts still written in two places, each with the helper who removes the copy (the test fails
# when the list and the code disagree, so a removed copy must also leave this list).
KNOWN_COPIES = {
    "Program is nested too deeply to compile": (
        ["runtime/errors.py", "vm/recompile.py"],
        "layers: raise runtime/errors.py program_too_deep(path)"),
    "Cannot read {}: {}": (
        ["app/api.py", "runtime/stdlib/readers.py"], "layers + lang: one function for both"),
    "Snapshot store {} has an unknown schema version": (
        ["vm/store/postgres.py", "vm/store/sqlite.py"], "pg: one function in vm/store/"),
}


def test_every_error_message_is_written_in_one_module():
    found = collect()
    shared = {text: sorted(paths) for text, paths in found.items() if len(paths) > 1}
    known = {text: paths for text, (paths, _) in KNOWN_COPIES.items()}
    new = {t: p for t, p in shared.items() if known.get(t) != p}
    assert not new, "error messages written in more than one module:\n" + "\n".join(
        f"  {text!r}: {', '.join(paths)}" for text, paths in sorted(new.items()))
    gone = sorted(t for t in known if t not in shared)
    assert not gone, f"no longer copied, delete from KNOWN_COPIES: {gone}"
