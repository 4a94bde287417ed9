"""Lowering: the compiler from the shared AST to function blobs.

`Compiler` walks a resolved program and drives one assembler per blob (fncode.FnCode). This
module holds the walk itself: blobs for the module and each function, scopes and names,
statements, and the expressions that need no module of their own; the rest of the lowering is
split by concept into mixins of `Compiler`: control flow (control.py), calls and inlining
(calls.py), struct and enum types (records.py), patterns (patterns.py) and annotations
(annotations.py). Constant subexpressions are folded first (ref/constants.py).

Scope entry (a block, a loop iteration, a match arm, a comprehension item) creates fresh cells for
the captured variables declared in it, which is what makes loop variables fresh per iteration and
makes closures created before a `let` see its value once it runs.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

from shapelang.ref import ast as A
from shapelang.ref import types as T
from shapelang.ref.constants import const_value
from shapelang.ref.resolver import Binding, Resolution, impl_entries
from shapelang.runtime import durations
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.operators import unknown_operator
from shapelang.vm import opcodes as O
from shapelang.vm.blob import Blob
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.annotations import AnnotationLowering
from shapelang.vm.compiler.assembler import Label
from shapelang.vm.compiler.calls import CallLowering
from shapelang.vm.compiler.control import ControlLowering
from shapelang.vm.compiler.fncode import FnCode, LoopCtx
from shapelang.vm.compiler.patterns import PatternLowering
from shapelang.vm.compiler.records import RecordLowering

_HOISTED = {"fn", "enum", "type", "annotation"}
_UNARY_OPS = {"-": O.UNARY_NEG, "!": O.UNARY_NOT, "~": O.UNARY_INVERT}


class Compiler(ControlLowering, CallLowering, RecordLowering, PatternLowering, AnnotationLowering):
    """Compiles one resolved program; `compile_module` returns the id of its module blob and
    leaves every blob it made in `blobs`. `fc` is the blob being generated."""

    def __init__(self, program: A.Program, res: Resolution, path: Optional[str]) -> None:
        self.program = program
        self.res = res
        self.path = path
        self.an = Analysis(program, res)
        # Whether the program implements an operator trait (then + - * / and prefix - may call
        # an impl's method: OPERATOR_TRAIT instead of BINARY / UNARY_NEG).
        self.operator_impls = any(T.parse_type(trait).name in T.OPERATOR_TRAITS
                                  for _, trait in res.impls)
        # Whether it implements Display (then `to_string(v)` is the method call v.to_string()).
        self.display_impls = any(trait == "Display" for _, trait in res.impls)
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
        if isinstance(node, (A.FnDecl, A.FnExpr)):
            fc.ret_slot = res.slots.get(id(node))
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
        free = fc.add_free_cells(self.an.free_of(node))
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
        # Prologue: box captured / by-reference parameters, check the typed ones (with no
        # position of their own: a mismatch is reported at the call, as a wrong argument count
        # is), destructure pattern parameters.
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
                    if self.typed_cell(b):
                        fc.emit(O.WRAP_TYPED_CELL, param_slots[i], fc.const(b.slot))
                    else:
                        fc.emit(O.WRAP_CELL, param_slots[i])
        for b in (fscope.bindings if fscope is not None else []):
            if b not in skip and self.needs_cell(b):
                self.make_cell(b)
        old = fc.cur
        fc.cur = (0, 0)
        for i, p in enumerate(params):
            if p.type is not None:
                b = res.decl(p) if isinstance(p.pattern, A.PBind) else None
                in_cell = b is not None and self.needs_cell(b)
                fc.emit(O.LOAD_CELL if in_cell else O.LOAD_LOCAL, param_slots[i])
                fc.emit(O.CHECK_SLOT, fc.const(res.slots[id(p)]))
                fc.emit(O.STORE_CELL if in_cell else O.STORE_LOCAL, param_slots[i])
        fc.cur = old
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

    def patch(self, fc: FnCode) -> None:
        # A label marked at the very end (after the last instruction) needs an instruction there.
        if any(lab.pc == len(fc.code) for lab in fc.labels) or not fc.code:
            fc.emit(O.LOAD_UNIT)
            self.emit_return()

    # ------------------------------------------------------------ scopes and closures

    def enter_scope(self, scope_node: Any, stmts: Optional[list] = None) -> None:
        """Fresh cells for the scope's captured variables, then hoisted declarations."""
        fc = self.fc
        scope = self.res.scopes.get(id(scope_node))
        if scope is not None:
            for b in scope.bindings:
                if self.needs_cell(b):
                    self.make_cell(b)
        if not stmts:
            return
        for st in stmts:
            if not isinstance(st, (A.FnDecl, A.AnnotationDecl, A.EnumDecl, A.TypeDecl)):
                continue
            old = self.at(st)
            if isinstance(st, A.FnDecl):
                self.make_closure(st, "function", st.name, st.params, st.body,
                                  is_async=st.is_async)
                self.annotate(st)
            elif isinstance(st, A.AnnotationDecl):
                self.make_annotation(st)
            elif isinstance(st, A.EnumDecl):
                desc = [st.name, [[v.name, v.kind, self.payload_slots(v), list(v.fields)]
                                  for v in st.variants]]
                fc.emit(O.MAKE_ENUM_TYPE, fc.const(desc))
            else:
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
            elif isinstance(st, A.ImplDecl):
                # Impls are hoisted with the extend methods (spec/traits.md, runtime/traits.py).
                type_name, trait, entries = impl_entries(self.res, st)
                old = self.at(st)
                if trait is not None:
                    fc.emit(O.IMPL, fc.const([type_name, trait]))
                for key, m in entries:
                    self.at(m)
                    self.make_closure(m, "method", m.name, m.params, m.body, has_self=True,
                                      is_async=m.is_async)
                    self.annotate(m)
                    fc.emit(O.DEFINE_METHOD, fc.const([type_name, key]), 1)
                fc.cur = old

    def typed_cell(self, b: Binding) -> bool:
        """b is declared with a type and passed by `&` reference: its cell carries the type, so
        that writes through the reference check it."""
        return b.slot is not None and b.by_ref

    def make_cell(self, b: Binding) -> None:
        fc = self.fc
        if self.typed_cell(b):
            fc.emit(O.MAKE_TYPED_CELL, fc.slot(b), fc.const(b.slot))
        else:
            fc.emit(O.MAKE_CELL, fc.slot(b))

    def check_store(self, b: Binding) -> None:
        """Before a store into variable b: its declared type, and through a `&` parameter the
        type of the variable it refers to (runtime/types.py check_slot)."""
        fc = self.fc
        if b.slot is not None:
            fc.emit(O.CHECK_SLOT, fc.const(b.slot))
        if b.ref_param:
            fc.emit(O.CHECK_REF, self.cell_slot_for(b))

    def make_closure(self, node: Any, kind: str, name: Optional[str], params: list, body: Any,
                     has_self: bool = False, is_async: bool = False,
                     annotated: bool = False) -> None:
        bid = self.compile_function(node, kind, name, params, body, has_self, is_async, annotated)
        self.emit_closure(node, bid)

    def emit_closure(self, node: Any, bid: str) -> None:
        fc = self.fc
        caps = [self.cell_slot_for(b) for b in self.an.free_of(node)]
        fc.emit(O.MAKE_CLOSURE, fc.child(bid), fc.const(caps))

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
        fc = self.fc
        if fc.kind == "module":
            fc.emit(O.HALT)
            return
        self.check_return()
        fc.emit(O.RETURN)

    def check_return(self) -> None:
        """The function's declared return type, checked as it returns (reported at the call,
        as the reference evaluator does)."""
        fc = self.fc
        if fc.ret_slot is not None:
            old = fc.cur
            fc.cur = (0, 0)
            fc.emit(O.CHECK_SLOT, fc.const(fc.ret_slot))
            fc.cur = old

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
                if st.type is not None:
                    fc.emit(O.CHECK_SLOT, fc.const(self.res.slots[id(st)]))
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
            loop = self.enclosing_loop()
            extra = fc.depth - loop.depth
            if extra:
                fc.emit(O.POP_N, extra)
            fc.emit_jump(O.JUMP, loop.cont)
            fc.depth += extra
        elif t in (A.FnDecl, A.EnumDecl, A.TypeDecl, A.TypeAlias, A.ExtendDecl, A.Import,
                   A.AnnotationDecl, A.TraitDecl, A.ImplDecl):
            pass
        else:
            self.expr(st, want=False)
        fc.cur = old

    def enclosing_loop(self) -> LoopCtx:
        # The resolver refuses `break` and `continue` outside a loop of the same function (a
        # struct field default and an annotated await count as functions: they run apart).
        if not self.fc.loops:
            raise AssertionError("break or continue outside a loop got past the resolver")
        return self.fc.loops[-1]

    def break_(self, st: A.Break) -> None:
        fc = self.fc
        loop = self.enclosing_loop()
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

    def spread(self, s: A.Spread, last: bool, kind: int) -> None:
        """Push the value of `...x`; unless it is the last part, check and copy it where it
        stands (kind 0: array, 1: object), since a later part may change it."""
        old = self.at(s)
        self.expr(s.expr)
        self.fc.cur = old
        if not last:
            self.fc.emit(O.SPREAD_COPY, kind)

    def ex_array(self, e: A.ArrayLit) -> None:
        fc = self.fc
        flags = []
        last = len(e.items) - 1
        for i, item in enumerate(e.items):
            if type(item) is A.Spread:
                self.spread(item, i == last, 0)
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
                self.spread(entry, i == last, 1)
                keys.append(None)
            else:
                self.expr(entry[1])
                keys.append(entry[0])
        fc.emit(O.BUILD_OBJECT, fc.const(keys))

    def ex_unary(self, e: A.Unary) -> None:
        cv = const_value(e)
        if cv is not None:
            self.fc.emit(O.LOAD_CONST, self.fc.const(cv[0]))
            return
        self.expr(e.operand)
        if e.op == "-" and self.operator_impls:
            self.fc.emit(O.OPERATOR_TRAIT, O.BINOP_INDEX["-"], 0)
        else:
            self.fc.emit(_UNARY_OPS[e.op])

    def emit_binary(self, index: int) -> None:
        """BINARY, or OPERATOR_TRAIT for + - * / in a program that implements operator traits
        (their impls decide the operator for struct and enum left operands; traits.md §5)."""
        if self.operator_impls and O.BINOPS[index] in ("+", "-", "*", "/"):
            self.fc.emit(O.OPERATOR_TRAIT, index, 1)
        else:
            self.fc.emit(O.BINARY, index)

    def ex_binary(self, e: A.Binary) -> None:
        fc = self.fc
        op = e.op
        if op in O.BINOP_INDEX:
            cv = const_value(e)
            if cv is not None:
                fc.emit(O.LOAD_CONST, fc.const(cv[0]))
                return
            self.expr(e.left)
            self.expr(e.right)
            old = self.at(e)
            self.emit_binary(O.BINOP_INDEX[op])
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
            self.expr(e.right)
            fc.emit(O.ATTACH_CONTEXT)
        else:
            err = unknown_operator(op)
            err.line, err.col, err.file = e.line or None, e.col or None, self.path
            raise err

    def ex_fuzzy(self, e: A.Fuzzy) -> None:
        fc = self.fc
        self.expr(e.left)
        self.expr(e.right)
        old = self.at(e)
        fc.emit(O.FUZZY, O.FUZZY_OPS.index(e.op), fc.const([e.tolerance, int(e.percent)]))
        fc.cur = old

    def ex_duration(self, e: A.DurationLit) -> None:
        fc = self.fc
        ms = durations.literal_ms(e.parts)
        if durations.MS_MIN <= ms <= durations.MS_MAX:
            fc.emit(O.LOAD_DURATION, fc.const(ms))
        else:
            # Raised where the literal runs, as the reference raises it.
            err = durations.out_of_range()
            fc.emit(O.RAISE, fc.const([err.kind, err.message]))

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
                self.emit_binary(binop)
            self.check_store(b)
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
                self.emit_binary(binop)
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
                self.emit_binary(binop)
            fc.emit(O.SET_INDEX, 0, 1 if keep else 0)
        if tail:
            self.emit_return()

    def ex_member(self, e: A.Member) -> None:
        fc = self.fc
        self.expr(e.obj)
        end = None
        if e.optional:
            end = Label()
            fc.emit_jump(O.JUMP_IF_NONE, end)
        old = self.at(e)
        owners = self.res.comptime.get(e.name)
        if owners is not None:
            fc.emit(O.GET_COMPTIME, fc.const(e.name), fc.const(owners))
        else:
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
        fc = self.fc
        self.expr(e.expr)
        old = self.at(e)
        if fc.kind != "module" and fc.ret_slot is not None:
            # `?` returns an Err or None early: the declared return type checks it first.
            ok = Label()
            fc.emit_jump(O.JUMP_UNLESS_FAILURE, ok)
            self.check_return()
            fc.emit(O.RETURN)
            fc.mark(ok)
        fc.emit(O.TRY_TOP if fc.kind == "module" else O.TRY)
        fc.cur = old

    def ex_as(self, e: A.As) -> None:
        self.expr(e.expr)
        old = self.at(e)
        slot = self.res.slots[id(e)]
        self.fc.emit(O.CONVERT, self.fc.const(slot[1:]), 1 if e.fallible else 0)
        self.fc.cur = old

    def ex_lambda(self, e: Union[A.Lambda, A.FnExpr]) -> None:
        # A function expression `fn(…) { … }` is a lambda with a block body (smaller-items §8).
        self.make_closure(e, "lambda", None, e.params, e.body)

    def ex_range(self, e: A.RangeExpr) -> None:
        self.expr(e.start)
        self.expr(e.end)
        old = self.at(e)
        self.fc.emit(O.MAKE_RANGE, 1 if e.inclusive else 0)
        self.fc.cur = old

    def ex_block(self, e: A.Block, want: bool, tail: bool) -> None:
        self.block(e, want, tail)

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
    A.Fuzzy: Compiler.ex_fuzzy,
    A.DurationLit: Compiler.ex_duration,
    A.Pipe: Compiler.ex_pipe,
    A.Ternary: Compiler.ex_ternary,
    A.Assign: Compiler.ex_assign,
    A.RefArg: Compiler.ex_refarg,
    A.Call: Compiler.ex_call,
    A.Member: Compiler.ex_member,
    A.Index: Compiler.ex_index,
    A.Try: Compiler.ex_try,
    A.Lambda: Compiler.ex_lambda,
    A.FnExpr: Compiler.ex_lambda,
    A.Block: Compiler.ex_block,
    A.If: Compiler.ex_if,
    A.Match: Compiler.ex_match,
    A.While: Compiler.ex_while,
    A.Loop: Compiler.ex_loop,
    A.For: Compiler.ex_for,
    A.RangeExpr: Compiler.ex_range,
    A.Comprehension: Compiler.ex_comprehension,
    A.Await: Compiler.ex_await,
    A.As: Compiler.ex_as,
}
for _t in (A.Let, A.Return, A.Break, A.Continue, A.FnDecl, A.EnumDecl, A.TypeDecl, A.TypeAlias,
           A.ExtendDecl, A.Import, A.AnnotationDecl, A.ExprStmt, A.TraitDecl, A.ImplDecl):
    _EXPR[_t] = Compiler.ex_stmt_expr

# Handlers that take (want, tail) themselves.
_CONTROL = {A.Ternary, A.Assign, A.Block, A.If, A.Match, A.While, A.Loop, A.For, A.Let, A.Return,
            A.Break, A.Continue, A.FnDecl, A.EnumDecl, A.TypeDecl, A.TypeAlias, A.ExtendDecl,
            A.Import, A.AnnotationDecl, A.ExprStmt, A.TraitDecl, A.ImplDecl}
