"""Capture and inlining analysis, per resolved program.

Scoping comes from the shared resolver, so both engines agree on what every name means. On top
of it this works out, per function, which outer variables it captures (`free_of`): a variable
lives in a cell only if some other function captures it or it is passed by `&` reference
(`needs_cell`); every other variable is a plain register slot. It also picks the calls the
lowering may inline: calls of small, non-recursive plain functions (`inline_target`), whose
captures then become the caller's.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.ref import ast as A
from shapelang.ref.comptime import instance_fields
from shapelang.ref.resolver import Binding, Resolution

INLINE_MAX_NODES = 60
_NO_INLINE = (A.Lambda, A.FnExpr, A.FnDecl, A.TypeDecl, A.EnumDecl, A.ExtendDecl, A.AnnotationDecl, A.Try,
              A.Await)


class AwaitThunk:
    """The part of `await @a(…) @b(…) expr` from annotation k on, as a zero-argument function
    (the `thunk` the prelude's `__ann_await` calls). A pseudo-node for capture analysis."""

    def __init__(self, node: A.Await, k: int) -> None:
        self.node = node
        self.k = k
        self.line = node.line
        self.col = node.col


class Analysis:
    """Capture analysis for one resolved program (snapshot ordinals come from the resolver)."""

    USE_NODES = (A.Name, A.Path, A.StructLit, A.RefArg)

    def __init__(self, program: A.Program, res: Resolution) -> None:
        self.res = res
        self.free: dict[int, list[Binding]] = {}
        self.captured: set[Binding] = set()
        self.ordinals: dict[int, int] = {}
        self.thunks: dict[tuple[int, int], AwaitThunk] = {}
        self.inlined: set[int] = set()          # ids of calls the compiler may inline
        self._inlinable: dict[int, bool] = {}
        self._computing: set[int] = set()
        self._keep: list = []
        self.free_of(program)
        self.ordinals = res.ordinals

    def is_function(self, n: Any) -> bool:
        return isinstance(n, (A.FnDecl, A.Lambda, A.FnExpr, A.TypeDecl, A.AnnotationDecl))

    def thunk(self, node: A.Await, k: int) -> AwaitThunk:
        key = (id(node), k)
        t = self.thunks.get(key)
        if t is None:
            t = self.thunks[key] = AwaitThunk(node, k)
        return t

    def free_of(self, fn: Any) -> list[Binding]:
        """Bindings `fn` uses (directly or through nested functions) that another function owns."""
        key = id(fn)
        if key in self.free:
            return self.free[key]
        self._keep.append(fn)
        self._computing.add(key)
        out: dict[Binding, None] = {}
        uses = self.res.uses
        # The variables declared inside an annotated await belong to its Await node.
        own = fn.node if isinstance(fn, AwaitThunk) else fn

        def add(b: Binding) -> None:
            if b.kind != "builtin" and b.owner is not own and b not in out:
                out[b] = None

        def use(ann: A.AnnotationUse) -> None:
            b = uses.get(id(ann))
            if b is not None:
                add(b)
            for a in ann.args:
                visit(a)

        def visit(n: Any) -> None:
            if n is not fn and self.is_function(n):
                for b in self.free_of(n):
                    add(b)
                # A function's annotation uses are evaluated by wrappers made in this scope.
                for ann in getattr(n, "annotations", None) or []:
                    for b in self.free_of(ann):
                        add(b)
                return
            if isinstance(n, A.Await) and n.annotations:
                use(n.annotations[0])
                for b in self.free_of(self.thunk(n, 1)):
                    add(b)
                return
            if isinstance(n, (A.PVariant, A.AnnotationUse)):
                return
            if type(n) is A.Call and type(n.callee) is A.Name:
                decl = self.inline_target(n)
                if decl is not None:
                    # An inlined body runs in this frame: its captures become ours.
                    self.inlined.add(id(n))
                    self._keep.append(n)
                    for b in self.free_of(decl):
                        add(b)
            if isinstance(n, self.USE_NODES):
                b = uses.get(id(n))
                if b is not None:
                    add(b)
            for c in A.iter_child_nodes(n):
                visit(c)

        if isinstance(fn, A.TypeDecl):
            for f in instance_fields(fn):   # comptime values are constants: they capture nothing
                if f.default is not None:
                    visit(f.default)
        elif isinstance(fn, A.AnnotationUse):
            use(fn)
        elif isinstance(fn, AwaitThunk):
            anns = fn.node.annotations
            if fn.k < len(anns):
                use(anns[fn.k])
                for b in self.free_of(self.thunk(fn.node, fn.k + 1)):
                    add(b)
            else:
                visit(fn.node.expr)
        elif isinstance(fn, A.AnnotationDecl):
            for p in fn.params:
                visit(p)
            for h in (fn.before, fn.after):
                if h is not None:
                    visit(h)
        elif isinstance(fn, A.Program):
            for st in fn.body:
                visit(st)
        else:
            for p in fn.params:
                visit(p)
            visit(fn.body)
        result = list(out)
        self.free[key] = result
        self._computing.discard(key)
        if not isinstance(fn, A.Program):
            self.captured.update(result)
        return result

    def inline_target(self, call: A.Call) -> Optional[A.FnDecl]:
        b = self.res.uses.get(id(call.callee))
        if b is None or b.kind != "fn" or not isinstance(b.node, A.FnDecl):
            return None
        decl = b.node
        if id(decl) in self._computing or len(call.args) != len(decl.params):
            return None
        if any(type(a) in (A.Spread, A.RefArg) for a in call.args):
            return None
        return decl if self.inlinable(decl, b) else None

    def inlinable(self, decl: A.FnDecl, own: Binding) -> bool:
        """Small, non-recursive plain functions whose body makes no closures, snapshots, `?`
        early returns or awaits, and whose parameters are plain values (none passed on by
        reference, `g(&a)`, which needs a cell the function's prologue makes): their calls can
        run in the caller's frame."""
        key = id(decl)
        if key in self._inlinable:
            return self._inlinable[key]
        ok = (not decl.is_async and not decl.annotations and isinstance(decl.body, A.Block)
              and all(isinstance(p.pattern, A.PBind) and not p.by_ref and p.default is None
                      and not self.res.decl(p).needs_cell for p in decl.params))
        if ok:
            count = 0
            stack = [decl.body]
            while stack and ok:
                n = stack.pop()
                count += 1
                if count > INLINE_MAX_NODES or isinstance(n, _NO_INLINE):
                    ok = False
                elif isinstance(n, A.Call) and id(n) in self.res.ordinals:
                    ok = False
                elif isinstance(n, self.USE_NODES) and self.res.uses.get(id(n)) is own:
                    ok = False
                else:
                    stack.extend(A.iter_child_nodes(n))
        self._inlinable[key] = ok
        return ok

    def needs_cell(self, b: Binding) -> bool:
        return b.by_ref or b in self.captured
