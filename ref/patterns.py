"""Pattern descriptors from the AST: the one translation both engines use.

The descriptor format, and what matching a descriptor means, are in runtime/patterns.py; the VM
compiler stores descriptors in its blobs, the reference evaluator matches them directly.
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.ref import ast as A


def describe(pat: Any, bind: Callable[[Any], list], typed: Callable[[Any], list]) -> list:
    """The descriptor of AST pattern `pat`. `bind(node)` gives the bind descriptor of a PBind
    node, a named PTyped node, or a PArray node's `...rest`; `typed(node)` the stype of a PTyped
    node (runtime/types.py; the resolver's slot for it)."""
    t = type(pat)
    if t is A.PWild:
        return ["_"]
    if t is A.PBind:
        return bind(pat)
    if t is A.PLit:
        return ["l", pat.value]
    if t is A.PArray:
        items = [describe(p, bind, typed) for p in pat.items]
        rest = bind(pat) if pat.has_rest and pat.rest and pat.rest != "_" else None
        return ["a", items, 1 if pat.has_rest else 0, rest]
    if t is A.PObject:
        return ["o", [[k, describe(p, bind, typed)] for k, p in pat.fields]]
    if t is A.PVariant:
        path = pat.path
        if len(path) == 1 and path[0] in ("Some", "Ok", "Err") and not pat.fields:
            args = pat.args or []
            if len(args) != 1:
                return ["x", "TypeError", f"{path[0]}(…) pattern takes exactly one pattern"]
            return [path[0].lower(), describe(args[0], bind, typed)]
        if len(path) == 1:
            return ["s", path[0], [[k, describe(p, bind, typed)] for k, p in pat.fields or []]]
        args = None if pat.args is None else [describe(p, bind, typed) for p in pat.args]
        fields = None if pat.fields is None else [[k, describe(p, bind, typed)] for k, p in pat.fields]
        return ["v", path[0], path[-1], args, fields]
    if t is A.PTyped:
        return ["t", typed(pat), bind(pat) if pat.name is not None else ["_"]]
    raise TypeError(f"not a pattern node: {t.__name__}")   # the resolver has checked
