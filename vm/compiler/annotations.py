"""Lowering of annotations: `annotation` declarations, `@ann fn` and `await @ann expr`.

An annotation declaration binds a factory blob that returns its [before, after] handlers; each
use on a function wraps the closure in an AnnotatedFunction whose `wrapper` blob builds the
hooks and runs the prelude's `__ann_call`; `await @a @b expr` runs `__ann_await` with the rest
of the chain as a zero-argument `thunk` blob.
"""
from __future__ import annotations

from shapelang.ref import ast as A
from shapelang.ref.resolver import Resolution
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.fncode import FnCode


class AnnotationLowering:
    """Annotations and annotated awaits (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def annotate(self, decl: A.FnDecl) -> None:
        """Wrap the closure on the stack in one AnnotatedFunction layer per `@ann` use (the
        first use is the outermost layer)."""
        fc = self.fc
        for ann in reversed(decl.annotations or []):
            old = self.at(ann)
            self.emit_closure(ann, self.compile_wrapper(ann))
            fc.emit(O.MAKE_ANNOTATED, fc.const(decl.name))
            fc.cur = old

    def make_annotation(self, decl: A.AnnotationDecl) -> None:
        """An annotation declaration binds a factory: called with the annotation's arguments it
        returns [before, after], the handlers closed over those arguments (None when absent)."""
        fc_outer = self.fc

        def body() -> None:
            fc = self.fc
            for h in (decl.before, decl.after):
                if h is None:
                    fc.emit(O.LOAD_CONST, fc.const(None))
                else:
                    old = self.at(h)
                    self.make_closure(h, "function", h.name, h.params, h.body)
                    fc.cur = old
            fc.emit(O.BUILD_LIST, 2)
            fc.emit(O.RETURN)

        bid = self.compile_function(decl, "annotation", decl.name, decl.params, body)
        self.fc = fc_outer
        self.emit_closure(decl, bid)

    def emit_hooks(self, ann: A.AnnotationUse) -> int:
        """Call the annotation's factory with the use's arguments; the [before, after] list is
        left in a new hidden slot, whose number is returned."""
        fc = self.fc
        b = self.res.uses[id(ann)]
        self.load(b)
        spread = any(type(a) is A.Spread for a in ann.args)
        refs = self.arguments(ann.args, None, spread, refs=True)
        if spread:
            fc.emit(O.CALL_VAR)
        elif refs:
            fc.emit(O.CALL_REF, len(ann.args), fc.const(refs))
        else:
            fc.emit(O.CALL, len(ann.args))
        hooks = fc.new_slot("$hooks")
        fc.emit(O.STORE_LOCAL, hooks)
        return hooks

    def push_hooks(self, hooks: int) -> None:
        fc = self.fc
        for i in (0, 1):
            fc.emit(O.LOAD_LOCAL, hooks)
            fc.emit(O.LOAD_CONST, fc.const(i))
            fc.emit(O.GET_INDEX)

    def compile_wrapper(self, ann: A.AnnotationUse) -> str:
        """wrapper(f, args): evaluate the use's arguments, build the hooks, run __ann_call."""
        outer = self.fc
        fc = self.fc = FnCode(self, ann, "wrapper", "@" + ann.name)
        fc.cur = (0, 0)   # errors of the wrapper itself are reported at the annotated call
        s_f = fc.new_slot("$f")
        s_args = fc.new_slot("$args")
        free = fc.add_free_cells(self.an.free_of(ann))
        hooks = self.emit_hooks(ann)
        fc.emit(O.LOAD_PRELUDE, fc.const("__ann_call"))
        self.push_hooks(hooks)
        fc.emit(O.LOAD_LOCAL, s_f)
        fc.emit(O.LOAD_LOCAL, s_args)
        fc.emit(O.CALL, 4)
        fc.emit(O.RETURN)
        blob = fc.finish(2, False, 2, [0], [], False, False, len(free))
        self.fc = outer
        return self.add_blob(blob)

    def ex_await(self, e: A.Await) -> None:
        self.await_annotated(e, 0)

    def await_annotated(self, e: A.Await, k: int) -> None:
        """`await @a(…) … expr` from annotation k on: hooks now, the rest as a thunk."""
        fc = self.fc
        anns = e.annotations
        if k == len(anns):
            self.expr(e.expr)
            old = self.at(e)
            fc.emit(O.AWAIT)
            fc.cur = old
            return
        old = self.at(e)
        hooks = self.emit_hooks(anns[k])
        fc.emit(O.LOAD_PRELUDE, fc.const("__ann_await"))
        self.push_hooks(hooks)
        self.emit_closure(self.an.thunk(e, k + 1), self.compile_thunk(e, k + 1))
        fc.emit(O.CALL, 3)
        fc.cur = old

    def compile_thunk(self, e: A.Await, k: int) -> str:
        node = self.an.thunk(e, k)
        outer = self.fc
        fc = self.fc = FnCode(self, node, "thunk", None)
        free = fc.add_free_cells(self.an.free_of(node))
        self.await_annotated(e, k)
        fc.emit(O.RETURN)
        self.patch(fc)
        blob = fc.finish(0, False, 0, [0], [], False, False, len(free))
        self.fc = outer
        return self.add_blob(blob)
