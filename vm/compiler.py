"""Compiler from the shared AST to function blobs (see vm/opcodes.py for the instruction set).

Scoping comes from the shared resolver, so both engines agree on what every name means. On top
of it the compiler works out, per function, which outer variables it captures (`free_of`); a
variable lives in a cell only if some other function captures it or it is passed by `&`
reference, every other variable is a plain register slot. Register layout of a frame:

    [params (self first for methods)] [captured cells] [locals and hidden temporaries] [stack…]

Scope entry (a block, a loop iteration, a match arm, a comprehension item) creates fresh cells for
the captured variables declared in it, which is what makes loop variables fresh per iteration and
makes closures created before a `let` see its value once it runs.

Calls to a builtin that the resolver proves is the builtin (not shadowed) compile to inline
CALL_BUILTIN; `snapshot()` compiles to SNAPSHOT with a program-wide ordinal in source order.
Constant subexpressions are folded with the shared value model (never when folding would raise).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import msgpack

from shapelang.ref import ast as A
from shapelang.ref.deepstack import on_front_end_stack
from shapelang.ref.evaluator import builtin_names
from shapelang.ref.resolver import Binding, Resolution, resolve
from shapelang.runtime import builtins as B, operators as Op
from shapelang.runtime.errors import ShapeError
from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob, Program
from shapelang.vm.operands import MAX_OPERAND, TARGET
from shapelang.vm.verify import BlobError, validate

# Builtins that the machine runs inline (no frame, never calls back into Shape).
INLINE_BUILTINS = set(B.BUILTINS) | {"print", "exit", "__arity", "__is_array", "__is_number",
                                     "__is_object", "__type_error"}
FOLD_LIMIT = 4096   # longest string a constant fold may produce
# Check mode (the test suite turns it on): every instruction is checked against the opcode
# record as it is emitted, and every finished blob goes through the verifier.
CHECK_OPERANDS = os.environ.get("SHAPE_CHECK_ASSEMBLY") == "1"

INLINE_MAX_NODES = 60
INLINE_MAX_DEPTH = 3
_NO_INLINE = (A.Lambda, A.FnDecl, A.TypeDecl, A.EnumDecl, A.ExtendDecl, A.AnnotationDecl, A.Try,
              A.Await)
_HOISTED = {"fn", "enum", "type", "annotation"}


class Label:
    __slots__ = ("pc", "depth", "refs")

    def __init__(self) -> None:
        self.pc: Optional[int] = None
        self.depth: Optional[int] = None
        self.refs: list[tuple[int, int]] = []   # (pc, operand index) to patch


class LoopCtx:
    def __init__(self, brk: Label, cont: Label, depth: int, want: bool) -> None:
        self.brk = brk
        self.cont = cont
        self.depth = depth
        self.want = want


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
        return isinstance(n, (A.FnDecl, A.Lambda, A.TypeDecl, A.AnnotationDecl))

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
            for f in fn.fields:
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
        early returns or awaits: their calls can run in the caller's frame."""
        key = id(decl)
        if key in self._inlinable:
            return self._inlinable[key]
        ok = (not decl.is_async and not decl.annotations and isinstance(decl.body, A.Block)
              and all(isinstance(p.pattern, A.PBind) and not p.by_ref and p.default is None
                      for p in decl.params))
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



def _const_key(v: Any) -> bytes:
    return msgpack.packb(v, use_bin_type=True)


class _Emitting:
    """The instruction being emitted, as the operand kinds see it (vm/operands.Site)."""
    ids = 12

    def __init__(self, fc: "FnCode", pc: int, a: int, b: int) -> None:
        self.nlocals = len(fc.local_names)
        self.consts = fc.consts
        self.children = fc.children
        self.code_len = pc + 1
        self.snapshots = fc.snapshots
        self.local_names = fc.local_names
        self.pc, self.a, self.b = pc, a, b


class FnCode:
    """Code being generated for one blob."""

    def __init__(self, comp: "Compiler", node: Any, kind: str, name: Optional[str]) -> None:
        self.comp = comp
        self.node = node
        self.kind = kind
        self.name = name
        self.code: list[list[int]] = []
        self.pos: list[tuple[int, int]] = []
        self.consts: list[Any] = []
        self.const_index: dict[bytes, int] = {}
        self.children: list[str] = []
        self.slots: dict[Binding, int] = {}
        self.free_slots: set[int] = set()
        self.local_names: list[str] = []
        self.cells: list[int] = []
        self.snapshots: list[list[int]] = []
        self.loops: list[LoopCtx] = []
        self.labels: list[Label] = []
        # functions whose variables live in this frame (an await thunk: its Await node)
        self.owners: set[int] = {id(node.node if isinstance(node, AwaitThunk) else node)}
        self.owner_node = node.node if isinstance(node, AwaitThunk) else node
        self.inlining: list = []                 # FnDecls being inlined, innermost last
        self.inline_ends: list[tuple[Label, int]] = []
        self.depth = 0
        self.reachable = True
        self.cur = (node.line or 0, node.col or 0)

    # ------------------------------------------------------------ slots and constants

    def new_slot(self, name: str) -> int:
        self.local_names.append(name)
        return len(self.local_names) - 1

    def slot(self, b: Binding) -> int:
        s = self.slots.get(b)
        if s is None:
            s = self.new_slot(b.uid or b.name)
            self.slots[b] = s
            if self.comp.an.needs_cell(b):
                self.cells.append(s)
        return s

    def const(self, v: Any) -> int:
        try:
            key = _const_key(v)
        except ValueError:
            # msgpack encodes data nested at most 1024 deep: a pattern about 340 levels deep.
            raise ShapeError("CompileError", "Program is nested too deeply to compile",
                             self.cur[0] or None, self.cur[1] or None,
                             file=self.comp.path) from None
        i = self.const_index.get(key)
        if i is None:
            i = len(self.consts)
            self.consts.append(v)
            self.const_index[key] = i
        return i

    # ------------------------------------------------------------ emitting

    def emit(self, op: int, a: int = 0, b: int = 0) -> int:
        pc = len(self.code)
        if CHECK_OPERANDS:
            self.check_operands(op, a, b, pc)
        self.code.append([op, a, b])
        self.pos.append(self.cur)
        pops, pushes = O.stack_effect(op, a, b, self.consts)
        self.depth += pushes - pops
        cls = O.CLASS[op]
        if cls == "U":
            self.reachable = False
        return pc

    def check_operands(self, op: int, a: int, b: int, pc: int) -> None:
        """Check an instruction against the kinds its opcode declares, as it is emitted (jump
        targets are placeholders until their label is placed; the verifier checks them)."""
        info = O.INFO[op]
        site = _Emitting(self, pc, a, b)
        for which, kind, v in (("a", info.a, a), ("b", info.b, b)):
            if kind is not TARGET and not (type(v) is int and 0 <= v < MAX_OPERAND
                                           and kind.check(v, site)):
                raise AssertionError(f"{info.name} at {pc}: operand {which}={v!r} is not a valid "
                                     f"{kind.name}")

    def _ref(self, label: Label, pc: int, field: int) -> None:
        if label.pc is not None:
            self.code[pc][field] = label.pc
        else:
            label.refs.append((pc, field))
            self.labels.append(label)

    def emit_jump(self, op: int, label: Label) -> int:
        return self.emit_jump_b(op, 0, label)

    def emit_jump_b(self, op: int, a: int, label: Label) -> int:
        """An instruction whose jump target is `label` (its other operand, if any, is `a`)."""
        info = O.INFO[op]
        (field,) = info.targets
        jpops, jpushes = info.jump
        self._reach(label, self.depth - jpops + jpushes)
        pc = self.emit(op, a, 0)
        self._ref(label, pc, field)
        return pc

    def _reach(self, label: Label, depth: int) -> None:
        if label.depth is None:
            label.depth = depth
        elif label.depth != depth:
            raise AssertionError(f"stack depth mismatch at label: {label.depth} vs {depth}")

    def mark(self, label: Label) -> None:
        label.pc = len(self.code)
        for pc, field in label.refs:
            self.code[pc][field] = label.pc
        label.refs = []
        if label.depth is not None:
            if self.reachable and self.depth != label.depth:
                raise AssertionError(f"stack depth mismatch: {self.depth} vs {label.depth}")
            self.depth = label.depth
            self.reachable = True
        elif not self.reachable:
            # Nothing jumps here and nothing falls through: dead code follows.
            pass

    def finish(self, params: int, has_self: bool, min_args: int, entries: list[int],
               ref_params: list[int], is_async: bool, annotated: bool, nfree: int) -> Blob:
        for label in self.labels:
            if label.refs:
                raise AssertionError("jump to a label that was never placed")
        if O.CLASS[self.code[-1][0]] != "U":
            # Dead code after a constant-folded branch can end the code without a transfer;
            # a stored blob must end in one (the loader checks it), so close the dead tail.
            assert not self.reachable, "reachable end of code without a transfer"
            self.emit(O.RAISE, self.const(["RuntimeError", "unreachable code was reached"]))
        lines: list[list[int]] = []
        last = None
        for pc, p in enumerate(self.pos):
            if p != last:
                lines.append([pc, p[0], p[1]])
                last = p
        blob = Blob(name=self.name, kind=self.kind, params=params, has_self=has_self,
                    min_args=min_args, entries=entries, ref_params=ref_params, is_async=is_async,
                    annotated=annotated, nfree=nfree, nlocals=len(self.local_names),
                    code=self.code, consts=self.consts, lines=lines, children=self.children,
                    snapshots=self.snapshots, local_names=self.local_names,
                    cells=sorted(self.cells), source=self.comp.path)
        if CHECK_OPERANDS:
            try:
                validate(blob)
            except BlobError as e:
                raise AssertionError(f"the compiler made an invalid blob: {e}") from None
        return blob


class Compiler:
    def __init__(self, program: A.Program, res: Resolution, path: Optional[str]) -> None:
        self.program = program
        self.res = res
        self.path = path
        self.an = Analysis(program, res)
        self.blobs: dict[str, Blob] = {}
        self.fc: FnCode = None  # type: ignore[assignment]

    # ------------------------------------------------------------ helpers

    def error(self, kind: str, msg: str, node: Any) -> ShapeError:
        return ShapeError(kind, msg, node.line or None, node.col or None, file=self.path)

    def at(self, node: Any) -> tuple:
        old = self.fc.cur
        if getattr(node, "line", 0):
            self.fc.cur = (node.line, node.col or 0)
        return old

    def add_blob(self, blob: Blob) -> str:
        bid = blob.id
        self.blobs.setdefault(bid, blob)
        return bid

    def child_index(self, bid: str) -> int:
        fc = self.fc
        if bid in fc.children:
            return fc.children.index(bid)
        fc.children.append(bid)
        return len(fc.children) - 1

    def needs_cell(self, b: Binding) -> bool:
        return self.an.needs_cell(b)

    # ------------------------------------------------------------ blobs

    def compile_module(self) -> str:
        prog = self.program
        fc = self.fc = FnCode(self, prog, "module", None)
        body = prog.body
        self.enter_scope(prog, body)
        last = len(body) - 1
        value_stmt = body[-1] if body and isinstance(body[-1], A.ExprStmt) else None
        for i, st in enumerate(body):
            if i == last and value_stmt is not None:
                old = self.at(st)
                self.expr(st.expr)
                fc.emit(O.HALT)
                fc.cur = old
            else:
                self.stmt(st)
        if fc.reachable:
            if value_stmt is None:
                fc.emit(O.LOAD_CONST, fc.const(None))
                fc.emit(O.HALT)
        self.patch(fc)
        blob = fc.finish(0, False, 0, [0], [], False, False, 0)
        return self.add_blob(blob)

    def compile_function(self, node: Any, kind: str, name: Optional[str], params: list,
                         body: Any, has_self: bool = False, is_async: bool = False,
                         annotated: bool = False) -> str:
        outer = self.fc
        fc = self.fc = FnCode(self, node, kind, name)
        res = self.res
        fscope = res.scopes.get(id(node))
        self_b = fscope.bindings[0] if has_self else None
        if self_b is not None:
            fc.slot(self_b)
        param_slots: list[int] = []
        for i, p in enumerate(params):
            if isinstance(p.pattern, A.PBind):
                param_slots.append(fc.slot(res.decl(p)))
            else:
                param_slots.append(fc.new_slot(f"$arg{i}"))
        free = self.an.free_of(node)
        for b in free:
            s = fc.new_slot(b.uid or b.name)
            fc.slots[b] = s
            fc.free_slots.add(s)
        required = [i for i, p in enumerate(params) if p.default is None]
        min_args = required[-1] + 1 if required else 0
        entries: list[int] = []
        for k in range(min_args, len(params)):
            entries.append(len(fc.code))
            p = params[k]
            old = self.at(p)
            self.expr(p.default)
            fc.emit(O.STORE_LOCAL, param_slots[k])
            fc.cur = old
        entries.append(len(fc.code))
        # Prologue: box captured / by-reference parameters, destructure pattern parameters.
        skip = set()
        if self_b is not None:
            skip.add(self_b)
            if self.needs_cell(self_b):
                fc.emit(O.WRAP_CELL, 0)
        for i, p in enumerate(params):
            if isinstance(p.pattern, A.PBind):
                b = res.decl(p)
                skip.add(b)
                if self.needs_cell(b):
                    fc.emit(O.WRAP_CELL, param_slots[i])
        for b in (fscope.bindings if fscope is not None else []):
            if b not in skip and self.needs_cell(b):
                fc.emit(O.MAKE_CELL, fc.slot(b))
        for i, p in enumerate(params):
            if not isinstance(p.pattern, A.PBind):
                old = self.at(p)
                fc.emit(O.LOAD_LOCAL, param_slots[i])
                fc.emit(O.DESTRUCTURE, fc.const(self.pattern_desc(p.pattern)))
                fc.cur = old
        ref_params = [i for i, p in enumerate(params) if p.by_ref]
        if callable(body):
            body()
        elif isinstance(body, A.Block):
            self.block(body, want=True, tail=True)
        else:
            self.expr(body, tail=True)
        self.patch(fc)
        blob = fc.finish(len(params), has_self, min_args, entries, ref_params, is_async,
                         annotated, len(free))
        self.fc = outer
        return self.add_blob(blob)

    def compile_defaults(self, decl: A.TypeDecl) -> str:
        """The thunk that fills a struct's non-constant field defaults: (type, given) -> struct."""
        outer = self.fc
        fc = self.fc = FnCode(self, decl, "defaults", decl.name)
        s_type = fc.new_slot("$type")
        s_given = fc.new_slot("$given")
        free = self.an.free_of(decl)
        for b in free:
            s = fc.new_slot(b.uid or b.name)
            fc.slots[b] = s
            fc.free_slots.add(s)
        for f in decl.fields:
            if f.default is None or self.const_value(f.default) is not None:
                continue
            old = self.at(f.default)
            skip = Label()
            fc.emit(O.LOAD_LOCAL, s_given)
            fc.emit(O.LOAD_CONST, fc.const(f.name))
            fc.emit(O.CALL_BUILTIN, fc.const("__has_key"), 2)
            fc.emit_jump(O.JUMP_IF_TRUE, skip)
            fc.emit(O.LOAD_LOCAL, s_given)
            fc.emit(O.LOAD_CONST, fc.const(f.name))
            self.expr(f.default)
            fc.emit(O.SET_INDEX, 0, 0)
            fc.mark(skip)
            fc.cur = old
        fc.emit(O.LOAD_LOCAL, s_type)
        fc.emit(O.LOAD_LOCAL, s_given)
        fc.emit(O.STRUCT_FINISH)
        fc.emit(O.RETURN)
        self.patch(fc)
        blob = fc.finish(2, False, 2, [0], [], False, False, len(free))
        self.fc = outer
        return self.add_blob(blob)

    def patch(self, fc: FnCode) -> None:
        # A label marked at the very end (after the last instruction) needs an instruction there.
        if any(lab.pc == len(fc.code) for lab in fc.labels) or not fc.code:
            fc.emit(O.LOAD_UNIT)
            self.emit_return()

    # ------------------------------------------------------------ scopes

    def enter_scope(self, scope_node: Any, stmts: Optional[list] = None) -> None:
        """Fresh cells for the scope's captured variables, then hoisted declarations."""
        fc = self.fc
        scope = self.res.scopes.get(id(scope_node))
        if scope is not None:
            for b in scope.bindings:
                if self.needs_cell(b):
                    fc.emit(O.MAKE_CELL, fc.slot(b))
        if not stmts:
            return
        for st in stmts:
            if isinstance(st, A.FnDecl):
                old = self.at(st)
                self.make_closure(st, "function", st.name, st.params, st.body,
                                  is_async=st.is_async)
                self.annotate(st)
                self.store(self.res.decl(st))
                fc.cur = old
            elif isinstance(st, A.AnnotationDecl):
                old = self.at(st)
                self.make_annotation(st)
                self.store(self.res.decl(st))
                fc.cur = old
            elif isinstance(st, A.EnumDecl):
                old = self.at(st)
                desc = [st.name, [[v.name, v.kind, list(v.types), list(v.fields)]
                                  for v in st.variants]]
                fc.emit(O.MAKE_ENUM_TYPE, fc.const(desc))
                self.store(self.res.decl(st))
                fc.cur = old
            elif isinstance(st, A.TypeDecl):
                old = self.at(st)
                self.make_struct_type(st)
                self.store(self.res.decl(st))
                fc.cur = old
        for st in stmts:
            if isinstance(st, A.ExtendDecl):
                for m in st.methods:
                    old = self.at(m)
                    self.make_closure(m, "method", m.name, m.params, m.body, has_self=True,
                                      is_async=m.is_async)
                    self.annotate(m)
                    fc.emit(O.DEFINE_METHOD, fc.const([st.type_name, m.name]))
                    fc.cur = old

    def make_closure(self, node: Any, kind: str, name: Optional[str], params: list, body: Any,
                     has_self: bool = False, is_async: bool = False,
                     annotated: bool = False) -> None:
        bid = self.compile_function(node, kind, name, params, body, has_self, is_async, annotated)
        self.emit_closure(node, bid)

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
        free = self.an.free_of(ann)
        for b in free:
            s = fc.new_slot(b.uid or b.name)
            fc.slots[b] = s
            fc.free_slots.add(s)
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
        free = self.an.free_of(node)
        for b in free:
            s = fc.new_slot(b.uid or b.name)
            fc.slots[b] = s
            fc.free_slots.add(s)
        self.await_annotated(e, k)
        fc.emit(O.RETURN)
        self.patch(fc)
        blob = fc.finish(0, False, 0, [0], [], False, False, len(free))
        self.fc = outer
        return self.add_blob(blob)

    def emit_closure(self, node: Any, bid: str) -> None:
        fc = self.fc
        caps = [self.cell_slot_for(b) for b in self.an.free_of(node)]
        fc.emit(O.MAKE_CLOSURE, self.child_index(bid), fc.const(caps))

    def direct(self, b: Binding) -> bool:
        """b is a variable of the code being compiled (the function, or the body being inlined),
        so it needs no initialisation check."""
        fc = self.fc
        return b.owner is (fc.inlining[-1] if fc.inlining else fc.owner_node)

    def cell_slot_for(self, b: Binding) -> int:
        """The slot of the current frame holding b's cell (own variable or captured)."""
        fc = self.fc
        if id(b.owner) in fc.owners:
            return fc.slot(b)
        s = fc.slots.get(b)
        if s is None or s not in fc.free_slots:
            raise AssertionError(f"capture analysis missed {b!r}")
        return s

    def make_struct_type(self, st: A.TypeDecl) -> None:
        fc = self.fc
        fields = []
        dynamic = False
        for f in st.fields:
            if f.default is None:
                fields.append([f.name, f.type, 0, None])
            else:
                cv = self.const_value(f.default)
                if cv is not None:
                    fields.append([f.name, f.type, 1, cv[0]])
                else:
                    fields.append([f.name, f.type, 2, None])
                    dynamic = True
        if dynamic:
            bid = self.compile_defaults(st)
            self.emit_closure(st, bid)
        fc.emit(O.MAKE_STRUCT_TYPE, fc.const([st.name, fields]), 1 if dynamic else 0)

    # ------------------------------------------------------------ names

    def load(self, b: Binding) -> None:
        fc = self.fc
        if b.kind == "builtin":
            fc.emit(O.LOAD_BUILTIN, fc.const(b.name))
        elif self.direct(b):
            s = fc.slot(b)
            fc.emit(O.LOAD_CELL if self.needs_cell(b) else O.LOAD_LOCAL, s)
        elif b.kind in _HOISTED:
            # Hoisted declarations are initialised at scope entry, before any function made
            # in that scope can run, so reading them needs no initialisation check.
            fc.emit(O.LOAD_CELL, self.cell_slot_for(b))
        else:
            fc.emit(O.LOAD_FREE, self.cell_slot_for(b))

    def store(self, b: Binding) -> None:
        fc = self.fc
        if self.direct(b):
            s = fc.slot(b)
            fc.emit(O.STORE_CELL if self.needs_cell(b) else O.STORE_LOCAL, s)
        else:
            fc.emit(O.STORE_FREE, self.cell_slot_for(b))

    def pattern_desc(self, pat: Any) -> list:
        """A pattern as constant data (see vm/patterns.py for the format)."""
        res = self.res
        t = type(pat)
        if t is A.PWild:
            return ["_"]
        if t is A.PBind:
            b = res.decl(pat)
            return self.bind_desc(b)
        if t is A.PLit:
            return ["l", pat.value]
        if t is A.PArray:
            items = [self.pattern_desc(p) for p in pat.items]
            if pat.has_rest and pat.rest and pat.rest != "_":
                rest = self.bind_desc(res.decls[id(pat)])
            else:
                rest = None
            return ["a", items, 1 if pat.has_rest else 0, rest]
        if t is A.PObject:
            return ["o", [[k, self.pattern_desc(p)] for k, p in pat.fields]]
        if t is A.PVariant:
            path = pat.path
            if len(path) == 1 and path[0] in ("Some", "Ok", "Err") and not pat.fields:
                args = pat.args or []
                if len(args) != 1:
                    return ["x", "TypeError", f"{path[0]}(…) pattern takes exactly one pattern"]
                return [path[0].lower(), self.pattern_desc(args[0])]
            if len(path) == 1:
                return ["s", path[0], [[k, self.pattern_desc(p)] for k, p in pat.fields or []]]
            args = None if pat.args is None else [self.pattern_desc(p) for p in pat.args]
            fields = None if pat.fields is None else [[k, self.pattern_desc(p)]
                                                       for k, p in pat.fields]
            return ["v", path[0], path[-1], args, fields]
        raise self.error("SyntaxError", f"Unknown pattern {t.__name__}", pat)

    def bind_desc(self, b: Binding) -> list:
        fc = self.fc
        if self.direct(b):
            return ["b", fc.slot(b), 1 if self.needs_cell(b) else 0]
        return ["b", self.cell_slot_for(b), 1]

    def bind_pattern(self, pat: Any) -> None:
        """Bind the value on top of the stack to `pat` (lenient destructuring, as `let`)."""
        fc = self.fc
        if isinstance(pat, A.PBind):
            self.store(self.res.decl(pat))
        elif isinstance(pat, A.PWild):
            fc.emit(O.POP)
        else:
            fc.emit(O.DESTRUCTURE, fc.const(self.pattern_desc(pat)))

    # ------------------------------------------------------------ statements

    def block(self, block: A.Block, want: bool, tail: bool = False) -> None:
        fc = self.fc
        old = self.at(block)
        stmts = block.stmts
        self.enter_scope(block, stmts)
        last = len(stmts) - 1
        has_value = bool(stmts) and isinstance(stmts[-1], A.ExprStmt) and not stmts[-1].semi
        for i, st in enumerate(stmts):
            if i == last and has_value:
                o2 = self.at(st)
                self.expr(st.expr, want=want or tail, tail=tail)
                fc.cur = o2
            else:
                self.stmt(st)
        if not has_value:
            if tail:
                if fc.reachable:
                    fc.emit(O.LOAD_UNIT)
                    self.emit_return()
            elif want:
                fc.emit(O.LOAD_UNIT)
        fc.cur = old

    def emit_return(self) -> None:
        self.fc.emit(O.HALT if self.fc.kind == "module" else O.RETURN)

    def stmt(self, st: Any) -> None:
        fc = self.fc
        old = self.at(st)
        t = type(st)
        if t is A.ExprStmt:
            self.expr(st.expr, want=False)
        elif t is A.Let:
            if st.value is None:
                fc.emit(O.LOAD_CONST, fc.const(None))
            else:
                self.expr(st.value)
            self.bind_pattern(st.pattern)
        elif t is A.Return and fc.inline_ends:
            end, base = fc.inline_ends[-1]
            saved = fc.depth
            if fc.depth > base:
                fc.emit(O.POP_N, fc.depth - base)
            if st.value is None:
                fc.emit(O.LOAD_UNIT)
            else:
                self.expr(st.value)
            fc.emit_jump(O.JUMP, end)
            fc.depth = saved
        elif t is A.Return:
            if st.value is None:
                fc.emit(O.LOAD_UNIT)
                self.emit_return()
            else:
                self.expr(st.value, tail=True)
        elif t is A.Break:
            self.break_(st)
        elif t is A.Continue:
            if not fc.loops:
                self.raise_outside_loop()
            else:
                loop = fc.loops[-1]
                extra = fc.depth - loop.depth
                if extra:
                    fc.emit(O.POP_N, extra)
                fc.emit_jump(O.JUMP, loop.cont)
                fc.depth += extra
        elif t in (A.FnDecl, A.EnumDecl, A.TypeDecl, A.ExtendDecl, A.Import, A.AnnotationDecl):
            pass
        else:
            self.expr(st, want=False)
        fc.cur = old

    def raise_outside_loop(self) -> None:
        fc = self.fc
        if fc.kind == "module":
            msg = "'break' outside of a loop"
        else:
            msg = "'break' or 'continue' outside of a loop"
        fc.emit(O.RAISE, fc.const(["RuntimeError", msg]))
        fc.reachable = True   # code after it is still generated (never runs)

    def break_(self, st: A.Break) -> None:
        fc = self.fc
        if not fc.loops:
            if fc.kind == "module":
                if st.value is not None:
                    self.expr(st.value, want=False)
                fc.emit(O.RAISE, fc.const(["RuntimeError", "'break' outside of a loop"]))
            else:
                if st.value is not None:
                    self.expr(st.value, want=False)
                fc.emit(O.RAISE, fc.const(["RuntimeError",
                                           "'break' or 'continue' outside of a loop"]))
            fc.reachable = True
            return
        loop = fc.loops[-1]
        saved = fc.depth
        extra = fc.depth - loop.depth
        if extra:
            fc.emit(O.POP_N, extra)
        if st.value is not None:
            self.expr(st.value, want=loop.want)
        elif loop.want:
            fc.emit(O.LOAD_UNIT)
        fc.emit_jump(O.JUMP, loop.brk)
        fc.depth = saved

    # ------------------------------------------------------------ expressions

    def const_value(self, e: Any) -> Optional[tuple]:
        """(value,) if `e` folds to a constant int/number/string/bool/None, else None."""
        t = type(e)
        if t is A.Literal:
            return (e.value,)
        if t is A.Unary:
            inner = self.const_value(e.operand)
            if inner is None:
                return None
            return self._fold(lambda: Op.unary_op(e.op, inner[0]))
        if t is A.Binary and e.op in O.BINOP_INDEX:
            left = self.const_value(e.left)
            if left is None:
                return None
            right = self.const_value(e.right)
            if right is None:
                return None
            return self._fold(lambda: Op.binary_op(e.op, left[0], right[0]))
        return None

    @staticmethod
    def _fold(f: Callable[[], Any]) -> Optional[tuple]:
        try:
            v = f()
        except ShapeError:
            return None
        tv = type(v)
        if v is None or tv in (bool, int, float):
            return (v,)
        if tv is str and len(v) <= FOLD_LIMIT:
            return (v,)
        return None

    def expr(self, e: Any, want: bool = True, tail: bool = False) -> None:
        """Compile `e`. want=False: leave nothing on the stack. tail=True: return its value."""
        fc = self.fc
        old = self.at(e)
        t = type(e)
        handler = _EXPR.get(t)
        if handler is None:
            raise self.error("SyntaxError", f"Cannot compile {t.__name__}", e)
        if t in _CONTROL:
            handler(self, e, want, tail)
        else:
            handler(self, e)
            if tail:
                self.emit_return()
            elif not want:
                fc.emit(O.POP)
        fc.cur = old

    def ex_literal(self, e: A.Literal) -> None:
        self.fc.emit(O.LOAD_CONST, self.fc.const(e.value))

    def ex_unit(self, e: A.UnitLit) -> None:
        self.fc.emit(O.LOAD_UNIT)

    def ex_name(self, e: A.Name) -> None:
        self.load(self.res.use(e))

    def ex_fstring(self, e: A.FString) -> None:
        fc = self.fc
        n = 0
        for part in e.parts:
            if isinstance(part, str):
                if part:
                    fc.emit(O.LOAD_CONST, fc.const(part))
                    n += 1
            else:
                old = self.at(part)
                self.expr(part.expr)
                if part.spec:
                    fc.emit(O.FORMAT_SPEC, fc.const(part.spec))
                else:
                    fc.emit(O.FORMAT)
                fc.cur = old
                n += 1
        if n == 0:
            fc.emit(O.LOAD_CONST, fc.const(""))
        elif n > 1:
            fc.emit(O.BUILD_STRING, n)

    def ex_path(self, e: A.Path) -> None:
        fc = self.fc
        sv = self.static_variant(e)
        if sv is not None and sv[1].kind == "unit":
            fc.emit(O.MAKE_VARIANT, fc.const([sv[0], sv[1].name]))
            return
        b = self.res.use(e)
        self.load(b)
        if len(e.parts) == 2:
            fc.emit(O.GET_VARIANT, fc.const([e.parts[1], "::".join(e.parts)]))
        else:
            fc.emit(O.RAISE, fc.const(["TypeError", f"Cannot resolve path {'::'.join(e.parts)}"]))
            fc.reachable = True

    def ex_array(self, e: A.ArrayLit) -> None:
        fc = self.fc
        flags = []
        last = len(e.items) - 1
        for i, item in enumerate(e.items):
            if type(item) is A.Spread:
                old = self.at(item)
                self.expr(item.expr)
                fc.cur = old
                if i < last:
                    fc.emit(O.SPREAD_COPY, 0)
                flags.append(1)
            else:
                self.expr(item)
                flags.append(0)
        if any(flags):
            fc.emit(O.BUILD_LIST_SPREAD, fc.const(flags))
        else:
            fc.emit(O.BUILD_LIST, len(flags))

    def ex_object(self, e: A.ObjectLit) -> None:
        fc = self.fc
        keys: list = []
        last = len(e.entries) - 1
        for i, entry in enumerate(e.entries):
            if type(entry) is A.Spread:
                old = self.at(entry)
                self.expr(entry.expr)
                fc.cur = old
                if i < last:
                    fc.emit(O.SPREAD_COPY, 1)
                keys.append(None)
            else:
                self.expr(entry[1])
                keys.append(entry[0])
        fc.emit(O.BUILD_OBJECT, fc.const(keys))

    def static_record(self, e: A.StructLit, b: Binding) -> Optional[list]:
        """How to build `e` with no run-time lookups, when its type is a declaration in scope
        (types and enums are immutable, hoisted bindings) and the literal is complete and valid;
        None otherwise (the generic path then reports any error exactly as the reference)."""
        names = [n for n, _ in e.fields]
        if len(set(names)) != len(names):
            return None

        def coerce(t: Any) -> int:
            return 1 if t in ("number", "float") else 0

        if b.kind == "type" and isinstance(b.node, A.TypeDecl) and len(e.path) == 1:
            decl = b.node
            declared = [f.name for f in decl.fields]
            if any(n not in declared for n in names):
                return None
            fields = []
            for f in decl.fields:
                if f.name in names:
                    fields.append([f.name, coerce(f.type), names.index(f.name), None])
                    continue
                cv = self.const_value(f.default) if f.default is not None else None
                if cv is None:
                    return None
                v = cv[0]
                if coerce(f.type) and type(v) is int:
                    v = float(v)
                fields.append([f.name, 0, -1, v])
            return ["struct", decl.name, "", fields]
        if b.kind == "enum" and isinstance(b.node, A.EnumDecl) and len(e.path) == 2:
            variant = next((v for v in b.node.variants if v.name == e.path[1]), None)
            if variant is None or variant.kind != "struct" or sorted(names) != sorted(variant.fields):
                return None
            fields = [[fn, coerce(ft), names.index(fn), None]
                      for fn, ft in zip(variant.fields, variant.types)]
            return ["variant", b.node.name, variant.name, fields]
        return None

    def static_variant(self, head: Any) -> Optional[tuple[str, Any]]:
        """(enum name, Variant) when `head` is `Enum::Variant` of an enum declaration in scope."""
        if type(head) is not A.Path or len(head.parts) != 2:
            return None
        b = self.res.uses.get(id(head))
        if b is None or b.kind != "enum" or not isinstance(b.node, A.EnumDecl):
            return None
        variant = next((v for v in b.node.variants if v.name == head.parts[1]), None)
        return (b.node.name, variant) if variant is not None else None

    def ex_struct(self, e: A.StructLit) -> None:
        fc = self.fc
        b = self.res.use(e)
        desc = self.static_record(e, b)
        if desc is not None:
            for _, v in e.fields:
                self.expr(v)
            old = self.at(e)
            fc.emit(O.BUILD_RECORD, fc.const(desc), len(e.fields))
            fc.cur = old
            return
        self.load(b)
        names = []
        for name, v in e.fields:
            self.expr(v)
            names.append(name)
        static = b.kind == "type" and isinstance(b.node, A.TypeDecl) and len(e.path) == 1
        needs_call = True
        if static:
            needs_call = any(f.default is not None and self.const_value(f.default) is None
                             for f in b.node.fields)
        elif b.kind == "enum" or (b.kind == "builtin" and b.name == "Snapshot"):
            needs_call = False
        op = O.BUILD_STRUCT if needs_call else O.STRUCT_LITERAL
        fc.emit(op, fc.const([e.path, names]), len(names))

    def ex_unary(self, e: A.Unary) -> None:
        cv = self.const_value(e)
        if cv is not None:
            self.fc.emit(O.LOAD_CONST, self.fc.const(cv[0]))
            return
        self.expr(e.operand)
        self.fc.emit(O.UNARY_NEG if e.op == "-" else O.UNARY_NOT)

    def ex_binary(self, e: A.Binary) -> None:
        fc = self.fc
        op = e.op
        if op in O.BINOP_INDEX:
            cv = self.const_value(e)
            if cv is not None:
                fc.emit(O.LOAD_CONST, fc.const(cv[0]))
                return
            self.expr(e.left)
            self.expr(e.right)
            old = self.at(e)
            fc.emit(O.BINARY, O.BINOP_INDEX[op])
            fc.cur = old
            return
        end = Label()
        if op == "&&" or op == "||":
            short = Label()
            self.expr(e.left)
            fc.emit_jump(O.JUMP_IF_FALSE if op == "&&" else O.JUMP_IF_TRUE, short)
            self.expr(e.right)
            fc.emit(O.TO_BOOL)
            fc.emit_jump(O.JUMP, end)
            fc.mark(short)
            fc.emit(O.LOAD_CONST, fc.const(op == "||"))
            fc.mark(end)
        elif op == "??":
            self.expr(e.left)
            fc.emit_jump(O.JUMP_IF_NOT_NONE, end)
            self.expr(e.right)
            fc.mark(end)
        elif op == "!!":
            self.expr(e.left)
            fc.emit_jump(O.JUMP_UNLESS_FAILURE, end)
            self.expr(e.right)
            fc.emit(O.ATTACH_CONTEXT)
            fc.mark(end)
        else:
            raise self.error("SyntaxError", f"Unknown operator '{op}'", e)

    def cond(self, e: Any, label: Label, jump_if: bool) -> None:
        """Jump to `label` when truthy(e) == jump_if; fall through otherwise."""
        fc = self.fc
        t = type(e)
        if t is A.Binary and e.op in ("&&", "||"):
            old = self.at(e)
            if (e.op == "&&") != jump_if:
                # (a && b) jump-if-false, or (a || b) jump-if-true: either side decides.
                self.cond(e.left, label, jump_if)
                self.cond(e.right, label, jump_if)
            else:
                skip = Label()
                self.cond(e.left, skip, not jump_if)
                self.cond(e.right, label, jump_if)
                fc.mark(skip)
            fc.cur = old
            return
        if t is A.Unary and e.op == "!":
            old = self.at(e)
            self.cond(e.operand, label, not jump_if)
            fc.cur = old
            return
        cv = self.const_value(e)
        if cv is not None:
            if Op.truthy(cv[0]) == jump_if:
                fc.emit_jump(O.JUMP, label)
                fc.reachable = True   # the fall-through code is dead but still compiled
            return
        self.expr(e)
        fc.emit_jump(O.JUMP_IF_TRUE if jump_if else O.JUMP_IF_FALSE, label)

    def ex_pipe(self, e: A.Pipe) -> None:
        fc = self.fc
        self.expr(e.left)
        tmp = fc.new_slot("$pipe")
        fc.emit(O.STORE_LOCAL, tmp)
        right = e.right
        first = lambda: fc.emit(O.LOAD_LOCAL, tmp)  # noqa: E731
        if type(right) is A.Call:
            self.call(right, first)
        else:
            b = self.res.uses.get(id(right)) if type(right) is A.Name else None
            if b is not None and b.kind == "builtin" and b.name in INLINE_BUILTINS:
                first()
                old = self.at(e)
                fc.emit(O.CALL_BUILTIN, fc.const(b.name), 1)
                fc.cur = old
                return
            self.expr(right)
            first()
            old = self.at(e)
            fc.emit(O.CALL, 1)
            fc.cur = old

    def ex_ternary(self, e: A.Ternary, want: bool, tail: bool) -> None:
        fc = self.fc
        other = Label()
        end = Label()
        self.cond(e.cond, other, False)
        base = fc.depth
        self.expr(e.then, want, tail)
        if not tail:
            fc.emit_jump(O.JUMP, end)
        fc.depth = base
        fc.mark(other)
        self.expr(e.other, want, tail)
        fc.mark(end)

    def ex_assign(self, e: A.Assign, want: bool, tail: bool) -> None:
        fc = self.fc
        target, op = e.target, e.op
        keep = want or tail
        binop = O.BINOP_INDEX.get(op[:-1]) if op != "=" else None
        t = type(target)
        if t is A.Name:
            b = self.res.use(target)
            if op == "=":
                self.expr(e.value)
            else:
                o2 = self.at(target)
                self.load(b)
                fc.cur = o2
                self.expr(e.value)
                fc.emit(O.BINARY, binop)
            if keep:
                fc.emit(O.DUP)
            self.store(b)
        elif t is A.Member:
            self.expr(target.obj)
            name = fc.const(target.name)
            if op == "=":
                self.expr(e.value)
            else:
                fc.emit(O.DUP)
                o2 = self.at(target)
                fc.emit(O.GET_ATTR, name)
                fc.cur = o2
                self.expr(e.value)
                fc.emit(O.BINARY, binop)
            fc.emit(O.SET_ATTR, name, 1 if keep else 0)
        else:
            self.expr(target.obj)
            self.expr(target.index)
            if op == "=":
                self.expr(e.value)
            else:
                fc.emit(O.DUP2)
                o2 = self.at(target)
                fc.emit(O.GET_INDEX)
                fc.cur = o2
                self.expr(e.value)
                fc.emit(O.BINARY, binop)
            fc.emit(O.SET_INDEX, 0, 1 if keep else 0)
        if tail:
            self.emit_return()

    def ex_refarg(self, e: A.RefArg) -> None:
        # Outside a plain call (methods, builtins) a reference argument passes the value.
        self.load(self.res.use(e))

    def ex_call(self, e: A.Call) -> None:
        self.call(e, None)

    def call(self, e: A.Call, first: Optional[Callable[[], Any]]) -> None:
        fc = self.fc
        callee = e.callee
        args = e.args
        if id(e) in self.an.ordinals:
            # snapshot(): the resolver numbered the call sites in source order.
            old = self.at(e)
            if args or first:
                fc.emit(O.RAISE, fc.const(["TypeError", "snapshot() takes no arguments"]))
                fc.reachable = True
                fc.depth += 1
            else:
                ordinal = self.an.ordinals[id(e)]
                fc.snapshots.append([len(fc.code), ordinal])
                fc.emit(O.SNAPSHOT, ordinal)
            fc.cur = old
            return
        spread = any(type(a) is A.Spread for a in args)
        argc = len(args) + (1 if first else 0)
        if type(callee) is A.Member:
            self.expr(callee.obj)
            end = Label() if callee.optional else None
            if end is not None:
                fc.emit_jump(O.JUMP_IF_NONE, end)
            self.arguments(args, first, spread, refs=False)
            old = self.at(e)
            if spread:
                fc.emit(O.CALL_METHOD_VAR, fc.const(callee.name))
            else:
                fc.emit(O.CALL_METHOD, fc.const(callee.name), argc)
            fc.cur = old
            if end is not None:
                fc.mark(end)
            return
        b = self.res.uses.get(id(callee)) if type(callee) is A.Name else None
        if b is not None and b.kind == "fn" and id(e) in self.an.inlined and not spread:
            decl = b.node
            if (argc == len(decl.params) and decl is not fc.node and decl not in fc.inlining
                    and len(fc.inlining) < INLINE_MAX_DEPTH):
                self.inline(e, decl, first)
                return
        if b is not None and b.kind == "builtin" and b.name in INLINE_BUILTINS:
            self.arguments(args, first, spread, refs=False)
            old = self.at(e)
            if spread:
                fc.emit(O.CALL_BUILTIN_VAR, fc.const(b.name))
            else:
                fc.emit(O.CALL_BUILTIN, fc.const(b.name), argc)
            fc.cur = old
            return
        sv = self.static_variant(callee)
        if (sv is not None and sv[1].kind == "tuple" and not spread and len(sv[1].types) == argc
                and not any(type(a) is A.RefArg for a in args)):
            self.arguments(args, first, False, refs=False)
            old = self.at(e)
            fc.emit(O.BUILD_VARIANT, fc.const([sv[0], sv[1].name, list(sv[1].types)]), argc)
            fc.cur = old
            return
        self.expr(callee)
        refs = self.arguments(args, first, spread, refs=True)
        old = self.at(e)
        if spread:
            fc.emit(O.CALL_VAR)
        elif refs:
            fc.emit(O.CALL_REF, argc, fc.const(refs))
        else:
            fc.emit(O.CALL, argc)
        fc.cur = old

    def inline(self, e: A.Call, decl: A.FnDecl, first: Optional[Callable[[], Any]]) -> None:
        """Run the body of `decl` in this frame: arguments into its parameter slots, `return`
        jumps to the end with the value, and its captured variables are this frame's."""
        fc = self.fc
        res = self.res
        slots = [fc.slot(res.decl(p)) for p in decl.params]
        # All arguments are evaluated before any parameter slot is written: an argument may
        # itself be an inlined call of the same function, which uses the same slots.
        if first:
            first()
        for a in e.args:
            self.expr(a)
        for slot in reversed(slots):
            fc.emit(O.STORE_LOCAL, slot)
        end = Label()
        saved_loops = fc.loops
        fc.loops = []
        fc.owners.add(id(decl))
        fc.inlining.append(decl)
        fc.inline_ends.append((end, fc.depth))
        try:
            self.block(decl.body, want=True)
        finally:
            fc.inline_ends.pop()
            fc.inlining.pop()
            fc.owners.discard(id(decl))
            fc.loops = saved_loops
        fc.mark(end)

    def arguments(self, args: list, first: Optional[Callable[[], Any]], spread: bool,
                  refs: bool) -> list[int]:
        """Push the arguments (as one list when some are spread); returns the positions of
        `&x` arguments, which push the variable's cell when `refs` (plain calls)."""
        fc = self.fc
        positions: list[int] = []
        flags: list[int] = []
        if first:
            first()
            flags.append(0)
        for i, a in enumerate(args):
            t = type(a)
            if t is A.Spread:
                old = self.at(a)
                self.expr(a.expr)
                fc.cur = old
                if i < len(args) - 1:
                    fc.emit(O.SPREAD_COPY, 0)
                flags.append(1)
                continue
            if t is A.RefArg and refs:
                rb = self.res.use(a)
                old = self.at(a)
                if not self.direct(rb):
                    # A captured variable may not be initialised yet: check before passing it.
                    fc.emit(O.LOAD_FREE, self.cell_slot_for(rb))
                    fc.emit(O.POP)
                fc.emit(O.LOAD_LOCAL, self.cell_slot_for(rb))
                fc.cur = old
                positions.append(len(flags))
            else:
                self.expr(a)
            flags.append(0)
        if spread:
            fc.emit(O.BUILD_LIST_SPREAD, fc.const(flags))
        return positions

    def ex_member(self, e: A.Member) -> None:
        fc = self.fc
        self.expr(e.obj)
        end = None
        if e.optional:
            end = Label()
            fc.emit_jump(O.JUMP_IF_NONE, end)
        old = self.at(e)
        fc.emit(O.GET_ATTR, fc.const(e.name))
        fc.cur = old
        if end is not None:
            fc.mark(end)

    def ex_index(self, e: A.Index) -> None:
        self.expr(e.obj)
        self.expr(e.index)
        old = self.at(e)
        self.fc.emit(O.GET_INDEX)
        self.fc.cur = old

    def ex_try(self, e: A.Try) -> None:
        self.expr(e.expr)
        old = self.at(e)
        self.fc.emit(O.TRY_TOP if self.fc.kind == "module" else O.TRY)
        self.fc.cur = old

    def ex_lambda(self, e: A.Lambda) -> None:
        self.make_closure(e, "lambda", None, e.params, e.body)

    def ex_block(self, e: A.Block, want: bool, tail: bool) -> None:
        self.block(e, want, tail)

    def ex_if(self, e: A.If, want: bool, tail: bool) -> None:
        fc = self.fc
        other = Label()
        end = Label()
        self.cond(e.cond, other, False)
        base = fc.depth
        self.block(e.then, want, tail)
        if not tail:
            fc.emit_jump(O.JUMP, end)
        fc.depth = base
        fc.mark(other)
        if e.other is None:
            if tail:
                fc.emit(O.LOAD_UNIT)
                self.emit_return()
            elif want:
                fc.emit(O.LOAD_UNIT)
        elif type(e.other) is A.If:
            self.ex_if(e.other, want, tail)
        else:
            self.block(e.other, want, tail)
        fc.mark(end)

    def ex_match(self, e: A.Match, want: bool, tail: bool) -> None:
        fc = self.fc
        self.expr(e.subject)
        subj = fc.new_slot("$match")
        fc.emit(O.STORE_LOCAL, subj)
        end = Label()
        base = fc.depth
        for arm in e.arms:
            old = self.at(arm)
            nxt = Label()
            fc.depth = base
            self.enter_scope(arm)
            fc.emit_jump_b(O.MATCH, fc.const([subj, self.pattern_desc(arm.pattern)]), nxt)
            if arm.guard is not None:
                self.cond(arm.guard, nxt, False)
            self.expr(arm.body, want, tail)
            if not tail:
                fc.emit_jump(O.JUMP, end)
            fc.depth = base
            fc.mark(nxt)
            fc.cur = old
        fc.emit(O.MATCH_ERROR, subj)
        fc.mark(end)

    def loop_value(self, want: bool, tail: bool) -> None:
        # The loop left its value on the stack when wanted; in tail position it is returned.
        if tail:
            self.emit_return()

    def ex_while(self, e: A.While, want: bool, tail: bool) -> None:
        fc = self.fc
        head = Label()
        exit_ = Label()
        brk = Label()
        keep = want or tail
        fc.mark(head)
        head.depth = fc.depth
        self.cond(e.cond, exit_, False)
        fc.loops.append(LoopCtx(brk, head, fc.depth, keep))
        self.block(e.body, want=False)
        fc.loops.pop()
        if fc.reachable:
            fc.emit_jump(O.JUMP, head)
        fc.mark(exit_)
        if keep:
            fc.emit(O.LOAD_UNIT)
        fc.mark(brk)
        self.loop_value(want, tail)

    def ex_loop(self, e: A.Loop, want: bool, tail: bool) -> None:
        fc = self.fc
        head = Label()
        brk = Label()
        keep = want or tail
        fc.mark(head)
        head.depth = fc.depth
        fc.loops.append(LoopCtx(brk, head, fc.depth, keep))
        self.block(e.body, want=False)
        fc.loops.pop()
        if fc.reachable:
            fc.emit_jump(O.JUMP, head)
        never_breaks = brk.depth is None
        fc.mark(brk)
        if never_breaks:
            fc.depth = head.depth + (1 if keep else 0)
            fc.reachable = False
        self.loop_value(want, tail)

    def ex_for(self, e: A.For, want: bool, tail: bool) -> None:
        fc = self.fc
        keep = want or tail
        self.expr(e.iterable)
        it = fc.new_slot("$iter")
        fc.new_slot("$index")
        fc.emit(O.FOR_SETUP, it)
        nxt = Label()
        exit_ = Label()
        brk = Label()
        fc.mark(nxt)
        fc.emit_jump_b(O.FOR_NEXT, it, exit_)
        self.enter_scope(e)
        old = self.at(e.pattern)
        self.bind_pattern(e.pattern)
        fc.cur = old
        fc.loops.append(LoopCtx(brk, nxt, fc.depth, keep))
        self.block(e.body, want=False)
        fc.loops.pop()
        if fc.reachable:
            fc.emit_jump(O.JUMP, nxt)
        fc.mark(exit_)
        if keep:
            fc.emit(O.LOAD_UNIT)
        fc.mark(brk)
        self.loop_value(want, tail)

    def ex_range(self, e: A.RangeExpr) -> None:
        self.expr(e.start)
        self.expr(e.end)
        old = self.at(e)
        self.fc.emit(O.MAKE_RANGE, 1 if e.inclusive else 0)
        self.fc.cur = old

    def ex_comprehension(self, e: A.Comprehension) -> None:
        fc = self.fc
        acc = fc.new_slot("$comp")
        fc.emit(O.BUILD_LIST, 0)
        fc.emit(O.STORE_LOCAL, acc)
        done = Label()
        stack: list[tuple[Label, Label]] = []   # (next, exit) per for-clause
        for clause in e.clauses:
            old = self.at(clause)
            if isinstance(clause, A.CompFor):
                self.expr(clause.iterable)
                it = fc.new_slot("$iter")
                fc.new_slot("$index")
                fc.emit(O.FOR_SETUP, it)
                nxt, ex = Label(), Label()
                fc.mark(nxt)
                fc.emit_jump_b(O.FOR_NEXT, it, ex)
                self.enter_scope(clause)
                self.bind_pattern(clause.pattern)
                stack.append((nxt, ex))
            else:
                target = stack[-1][0] if stack else done
                self.cond(clause.cond, target, False)
            fc.cur = old
        self.expr(e.expr)
        fc.emit(O.LIST_APPEND, acc)
        for nxt, ex in reversed(stack):
            fc.emit_jump(O.JUMP, nxt)
            fc.mark(ex)
        fc.mark(done)
        fc.emit(O.LOAD_LOCAL, acc)

    def ex_await(self, e: A.Await) -> None:
        self.await_annotated(e, 0)

    def ex_stmt_expr(self, e: Any, want: bool, tail: bool) -> None:
        # Statements in expression position (the parser allows some): run, then yield ().
        self.stmt(e)
        if tail:
            self.fc.emit(O.LOAD_UNIT)
            self.emit_return()
        elif want:
            self.fc.emit(O.LOAD_UNIT)


_EXPR: dict[type, Callable] = {
    A.Literal: Compiler.ex_literal,
    A.UnitLit: Compiler.ex_unit,
    A.Name: Compiler.ex_name,
    A.FString: Compiler.ex_fstring,
    A.Path: Compiler.ex_path,
    A.ArrayLit: Compiler.ex_array,
    A.ObjectLit: Compiler.ex_object,
    A.StructLit: Compiler.ex_struct,
    A.Unary: Compiler.ex_unary,
    A.Binary: Compiler.ex_binary,
    A.Pipe: Compiler.ex_pipe,
    A.Ternary: Compiler.ex_ternary,
    A.Assign: Compiler.ex_assign,
    A.RefArg: Compiler.ex_refarg,
    A.Call: Compiler.ex_call,
    A.Member: Compiler.ex_member,
    A.Index: Compiler.ex_index,
    A.Try: Compiler.ex_try,
    A.Lambda: Compiler.ex_lambda,
    A.Block: Compiler.ex_block,
    A.If: Compiler.ex_if,
    A.Match: Compiler.ex_match,
    A.While: Compiler.ex_while,
    A.Loop: Compiler.ex_loop,
    A.For: Compiler.ex_for,
    A.RangeExpr: Compiler.ex_range,
    A.Comprehension: Compiler.ex_comprehension,
    A.Await: Compiler.ex_await,
}
for _t in (A.Let, A.Return, A.Break, A.Continue, A.FnDecl, A.EnumDecl, A.TypeDecl, A.ExtendDecl,
           A.Import, A.AnnotationDecl, A.ExprStmt):
    _EXPR[_t] = Compiler.ex_stmt_expr

# Handlers that take (want, tail) themselves.
_CONTROL = {A.Ternary, A.Assign, A.Block, A.If, A.Match, A.While, A.Loop, A.For, A.Let, A.Return,
            A.Break, A.Continue, A.FnDecl, A.EnumDecl, A.TypeDecl, A.ExtendDecl, A.Import,
            A.AnnotationDecl, A.ExprStmt}


# ---------------------------------------------------------------- entry points

_PRELUDE: dict = {}


def check(program: A.Program, path: Optional[str] = None) -> Resolution:
    return resolve(program, builtin_names(), path)


def compile_blobs(program: A.Program, path: Optional[str] = None) -> tuple[dict[str, Blob], str]:
    def work() -> tuple[dict[str, Blob], str]:
        res = check(program, path)
        comp = Compiler(program, res, path)
        entry = comp.compile_module()
        return comp.blobs, entry
    return on_front_end_stack(work)


def prelude_blobs() -> tuple[dict[str, Blob], str]:
    if "p" not in _PRELUDE:
        from shapelang.ref.evaluator import PRELUDE_PATH
        from shapelang.ref.parser import parse
        with open(PRELUDE_PATH, encoding="utf-8") as f:
            prog = parse(f.read(), PRELUDE_PATH)
        _PRELUDE["p"] = compile_blobs(prog, PRELUDE_PATH)
    return _PRELUDE["p"]


def compile_program(program: A.Program, path: Optional[str] = None) -> Program:
    """Resolve and compile a parsed program (plus the prelude) into blobs."""
    blobs, entry = compile_blobs(program, path)
    pblobs, pentry = prelude_blobs()
    all_blobs = dict(pblobs)
    all_blobs.update(blobs)
    return Program(all_blobs, entry, pentry, path)


def compile_source(source: str, path: Optional[str] = None) -> Program:
    from shapelang.ref.parser import parse
    return compile_program(parse(source, path), path)
