"""The reference evaluator: a direct tree walk over the AST that defines what Shape core means.

It is written to be read, not to be fast. Names are tied to declarations by the shared resolver
(`ref/resolver.py`); each scope activation is an `Env` mapping those `Binding`s to `Cell`s, so a
closure shares the cells of the scopes it was created in, and `&x` passes the cell itself.
Every rule on values (arithmetic, display, equality, methods, …) comes from `runtime/`, which
the VM uses too; array methods that call back into Shape run the Shape prelude.

A `snapshot()` call is an event handed to a hook (`SnapshotEvents`): in a plain run it returns
`Snapshot::Hash(id)` with a placeholder id. The snapshot oracle (ref/oracle.py), which computes
what resuming a snapshot must print, replaces the hook.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from shapelang.ref import ast as A
from shapelang.ref.comptime import instance_fields
from shapelang.ref.deepstack import on_deep_stack, on_front_end_stack
from shapelang.ref.parser import parse
from shapelang.ref.patterns import describe
from shapelang.ref.resolver import Binding, Resolution, impl_entries, resolve
from shapelang.runtime import (access as Acc, builtins as B, calls as Calls, display as D,
                               durations as Dur, methods as Me, operators as Op, patterns as P,
                               records as Rec, results as Res, snapshots as Snap, stdlib,
                               traits as Tr, types as Ty, values as V)
from shapelang.runtime.builtins import builtin_names
from shapelang.runtime.errors import (LAMBDA_FRAME, MAIN_FRAME, ShapeError, call_stack,
                                      exit_with, stack_overflow)
from shapelang.runtime.iteration import (DONE, PULL, for_item, for_start, make_range,
                                         spread_array, spread_object)
from shapelang.runtime.iterators import IterLoop
from shapelang.runtime.prelude import PRELUDE_PATH
from shapelang.runtime.stdlib.context import IOContext, running

DEFAULT_MAX_DEPTH = 12_000


# ---------------------------------------------------------------- runtime objects

class Cell:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class TypedCell(Cell):
    """The cell of a variable or parameter declared with a type: a write through a `&`
    reference to it checks its type too (runtime/types.py check_slot)."""
    __slots__ = ("slot",)

    def __init__(self, value: Any, slot: list) -> None:
        self.value = value
        self.slot = slot


class Env:
    __slots__ = ("vars", "parent")

    def __init__(self, parent: Optional["Env"]) -> None:
        self.vars: dict[Binding, Cell] = {}
        self.parent = parent

    def cell(self, b: Binding) -> Optional[Cell]:
        env = self
        while env is not None:
            c = env.vars.get(b)
            if c is not None:
                return c
            env = env.parent
        return None


class Closure(V.FunctionValue):
    """A Shape function or lambda together with the scopes it was created in."""

    def __init__(self, node: Any, env: Env, name: Optional[str], interp: "Interpreter",
                 self_value: Any = None, has_self: bool = False) -> None:
        self.node = node
        self.env = env
        self.name = name
        self.interp = interp
        self.self_value = self_value
        self.has_self = has_self

    @property
    def params(self) -> list[A.Param]:
        return self.node.params

    def bind_self(self, value: Any) -> "Closure":
        bound = Closure(self.node, self.env, self.name, self.interp, value, True)
        bound.res = self.res
        return bound


class EnumType:
    """The value an `enum` name is bound to: it constructs and names variants (and, as a value,
    is the type value of the enum). `slots`: each variant's payload slots (None: no type)."""
    SHAPE_TYPE = "type"

    def __init__(self, decl: A.EnumDecl, res: Optional[Resolution] = None) -> None:
        self.name = decl.name
        self.variants = {v.name: v for v in decl.variants}
        self.slots = {v.name: (res.slots.get(id(v)) if res is not None else None)
                      or [None] * len(v.types) for v in decl.variants}


class StructType(V.StructTypeValue):
    """The value a `type` name is bound to (as a value, the type value of the struct)."""
    SHAPE_TYPE = "type"

    def __init__(self, decl: A.TypeDecl, env: Env, res: Resolution) -> None:
        self.name = decl.name
        self.decl = decl
        self.env = env
        self.fields = instance_fields(decl)
        self.declared = [(f.name, res.slots.get(id(f)), f.default is not None)
                         for f in self.fields]


class VariantConstructor(V.FunctionValue):
    def __init__(self, enum: str, variant: A.Variant, slots: list) -> None:
        self.name = variant.name
        self.enum = enum
        self.variant = variant
        self.slots = slots


class Task:
    """The value of an `async fn` call; `await` gives its result."""

    def __init__(self, result: Any) -> None:
        self.result = result


class Thunk(V.FunctionValue):
    """The awaited expression of `await @ann expr`, handed to the prelude's `__ann_await`."""

    def __init__(self, run: Callable[[], Any]) -> None:
        self.name = None
        self.run = run


# ---------------------------------------------------------------- control-flow signals

class ReturnSignal(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class BreakSignal(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class ContinueSignal(Exception):
    pass


# ---------------------------------------------------------------- the interpreter

class SnapshotEvents:
    """What `snapshot()` calls do in a plain run. Each call is an event (counted from 0, in
    execution order) and returns `Snapshot::Hash(id)` with a placeholder id: the reference
    engine stores no snapshots. The snapshot oracle (ref/oracle.py) replaces this hook; it is
    also told when a `for` loop starts and ends (its state is `[walked, index]`)."""

    def __init__(self, on_first: Optional[Callable[[], None]] = None) -> None:
        self.events = 0
        self.on_first = on_first   # the CLI's notice that snapshots are not stored

    def snapshot(self, interp: "Interpreter", ordinal: int, call: A.Call, env: "Env") -> Any:
        k = self.events
        self.events += 1
        return self.taken(k)

    def taken(self, k: int) -> Any:
        if k == 0 and self.on_first is not None:
            self.on_first()
        return Snap.snapshot_hash(Snap.placeholder_id(k))

    def loop_started(self, interp: "Interpreter", state: list) -> None:
        pass

    def loop_ended(self, interp: "Interpreter", state: list) -> None:
        pass


class Interpreter:
    def __init__(self, write: Callable[[str], None], path: Optional[str] = None,
                 max_depth: int = DEFAULT_MAX_DEPTH,
                 events: Optional[SnapshotEvents] = None) -> None:
        self.write = write
        self.path = path
        self.max_depth = max_depth
        self.depth = 0
        self.methods: dict[str, dict[str, Closure]] = {}   # type name -> method name -> closure
        self.events = events if events is not None else SnapshotEvents()
        # Matchers by id of the AST pattern (the entry keeps the node alive, so ids stay unique).
        self.strict_patterns: dict[int, tuple] = {}
        self.loose_patterns: dict[int, tuple] = {}
        self.builtins = self._make_builtins()
        self.decls = Ty.Declarations()
        self.prelude = self._load_prelude()

    # ------------------------------------------------------------ output and builtins

    def _make_builtins(self) -> dict[str, Any]:
        b: dict[str, Any] = dict(B.BUILTINS)
        b.update(stdlib.BUILTIN_VALUES)   # reached only through imports (qualified names)

        def _print(args):
            self.write(B.print_line(args))
            return None

        def _exit(args):
            raise exit_with(args)

        def _arity(args):
            f = B.one_argument("__arity", args)
            if isinstance(f, Closure):
                return len(f.params)
            if isinstance(f, AnnotatedFunction):
                return len(f.fn.params)
            return 1

        b["print"] = V.BuiltinFunction("print", _print)
        b["exit"] = V.BuiltinFunction("exit", _exit)
        b["snapshot"] = B.ENGINE_PLACEHOLDERS["snapshot"]   # calls are snapshot events
        b["Snapshot"] = EnumType(A.EnumDecl("Snapshot", [A.Variant("Hash", "tuple", ["string"]),
                                                         A.Variant("Resumed")]))
        b["__arity"] = V.BuiltinFunction("__arity", _arity)
        return b

    def _load_prelude(self) -> dict[str, Closure]:
        prog, res = _prelude_program()
        self.prelude_res = res
        env = Env(None)
        saved = self.res if hasattr(self, "res") else None
        self.res = res
        self.enter_block(prog.body, env)
        self.res = saved
        out = {}
        for st in prog.body:
            if isinstance(st, A.FnDecl):
                c = env.vars[res.decl(st)].value
                c.res = res
                out[st.name] = c
        return out

    # ------------------------------------------------------------ entry point

    def run(self, program: A.Program, res: Resolution) -> Any:
        self.res = res
        self.main_res = res
        self.decls = declarations(res)
        env = Env(None)
        body = program.body
        self.enter_block(body, env)
        value = None
        try:
            for st in body:
                value = self.exec_stmt(st, env)
        except ReturnSignal as r:
            return r.value
        except ShapeError as err:
            _left_frame(err, MAIN_FRAME)
            err.stack = call_stack(err.__dict__.pop("_frames"))
            raise
        # (The resolver refuses `break` and `continue` outside of a loop, so no signal escapes.)
        if body and isinstance(body[-1], A.ExprStmt):
            return value
        return None

    # ------------------------------------------------------------ names

    def lookup(self, node, env: Env) -> Cell:
        b = self.res.use(node)
        if b.kind == "builtin":
            return Cell(self.builtins[b.name])
        c = env.cell(b)
        if c is None or c.value is _UNINIT:
            raise Calls.uninitialised(b.name)
        return c

    # ------------------------------------------------------------ statements and blocks

    def enter_block(self, stmts: list, env: Env) -> None:
        """Hoist the block's declarations: functions, enums, types and extend methods."""
        for st in stmts:
            if isinstance(st, A.FnDecl):
                env.vars[self.res.decl(st)] = Cell(self.make_function(st, env))
            elif isinstance(st, A.EnumDecl):
                env.vars[self.res.decl(st)] = Cell(EnumType(st, self.res))
            elif isinstance(st, A.TypeDecl):
                env.vars[self.res.decl(st)] = Cell(StructType(st, env, self.res))
            elif isinstance(st, A.AnnotationDecl):
                env.vars[self.res.decl(st)] = Cell(AnnotationValue(st, env, self.res))
        for st in stmts:
            if isinstance(st, A.ExtendDecl):
                table = self.methods.setdefault(st.type_name, {})
                for m in st.methods:
                    table[m.name] = self.make_function(m, env, has_self=True)
            elif isinstance(st, A.ImplDecl):
                # Impls are hoisted with the extend methods (spec/traits.md, runtime/traits.py).
                type_name, trait, entries = impl_entries(self.res, st)
                if trait is not None:
                    self.decls.add_impl(type_name, trait)
                table = self.methods.setdefault(Tr.impl_key(type_name), {})
                for key, m in entries:
                    table[key] = self.make_function(m, env, has_self=True)

    def make_function(self, decl: A.FnDecl, env: Env, has_self: bool = False) -> Any:
        fn = Closure(decl, env, decl.name, self, has_self=has_self)
        fn.res = self.res
        if decl.annotations:
            annotated = AnnotatedFunction(fn, decl.annotations, env, self)
            annotated.res = self.res
            return annotated
        return fn

    def exec_block(self, block: A.Block, env: Env) -> Any:
        inner = Env(env)
        stmts = block.stmts
        self.enter_block(stmts, inner)
        value = V.UNIT
        last = len(stmts) - 1
        for i, st in enumerate(stmts):
            v = self.exec_stmt(st, inner)
            if i == last and isinstance(st, A.ExprStmt) and not st.semi:
                value = v
        return value

    def exec_stmt(self, st, env: Env) -> Any:
        t = type(st)
        if t is A.ExprStmt:
            return self.eval(st.expr, env)
        if t is A.Let:
            if st.value is None:
                value = None
            else:
                value = self.eval(st.value, env)
                if st.type is not None:
                    try:
                        value = Ty.check_slot(value, self.res.slots[id(st)], self.decls)
                    except ShapeError as err:
                        raise self.located(err, st)
            self.bind_pattern(st.pattern, value, env, node=st)
            return None
        if t is A.Return:
            raise ReturnSignal(self.eval(st.value, env) if st.value is not None else V.UNIT)
        if t is A.Break:
            raise BreakSignal(self.eval(st.value, env) if st.value is not None else V.UNIT)
        if t is A.Continue:
            raise ContinueSignal()
        if t in (A.FnDecl, A.EnumDecl, A.TypeDecl, A.TypeAlias, A.ExtendDecl, A.Import,
                 A.AnnotationDecl, A.TraitDecl, A.ImplDecl):
            return None   # hoisted by enter_block, or nothing to do at run time
        return self.eval(st, env)

    # ------------------------------------------------------------ patterns

    def described(self, pat: Any) -> tuple[list, list]:
        """`pat` as the shared matchers of runtime/patterns.py see it: its descriptor, and its
        bindings, numbered 0, 1, … (the matchers bind into a scratch list by those numbers)."""
        binds: list[Binding] = []

        def bind(node: Any) -> list:
            binds.append(self.res.decl(node))
            return ["b", len(binds) - 1, 0]
        return describe(pat, bind, lambda node: self.res.slots[id(node)][2]), binds

    def matcher(self, pat: Any, strict: bool) -> tuple[list, Any, Any]:
        """(bindings, runtime/patterns.py strict or loose matcher, pat), built once per node."""
        cache = self.strict_patterns if strict else self.loose_patterns
        m = cache.get(id(pat))
        if m is None:
            desc, binds = self.described(pat)
            m = cache[id(pat)] = (binds, P.strict(desc) if strict else P.loose(desc), pat)
        return m

    def bind_pattern(self, pat: Any, value: Any, env: Env, node: Any = None) -> None:
        """`let`, parameters and `for`: destructure `value` leniently into `env`. An error is
        reported at `node` (a `let` statement), else at the pattern."""
        if type(pat) is A.PBind:
            b = self.res.decl(pat)
            env.vars[b] = Cell(value) if b.slot is None else TypedCell(value, b.slot)
            return
        binds, loose, _ = self.matcher(pat, False)
        slots = [None] * len(binds)
        try:
            loose(value, slots)
        except ShapeError as err:
            raise self.located(err, node if node is not None else pat)
        for b, v in zip(binds, slots):
            env.vars[b] = Cell(v)

    def match(self, pat: Any, value: Any, env: Env) -> Optional[Env]:
        """A `match` arm: a scope below `env` holding `pat`'s variables, or None when `value`
        does not match."""
        binds, strict, _ = self.matcher(pat, True)
        slots = [None] * len(binds)
        if not strict(value, slots):
            return None
        arm_env = Env(env)
        for b, v in zip(binds, slots):
            arm_env.vars[b] = Cell(v)
        return arm_env

    # ------------------------------------------------------------ expressions

    def eval(self, e, env: Env) -> Any:
        try:
            return _DISPATCH[type(e)](self, e, env)
        except ShapeError as err:
            raise self.located(err, e)
        except RecursionError:
            raise self.located(stack_overflow(), e)

    def located(self, err: ShapeError, node: Any) -> ShapeError:
        """`err` at `node` unless it has a position already. An error inside prelude code is
        reported at the user's call of the method. The first position in each function the
        error leaves is that function's place in the call stack (see _left_frame)."""
        if self.res is not self.prelude_res and node.line:
            err.at(node.line, node.col or None)
            err.__dict__.setdefault("_here", (node.line, node.col or None))
        return err

    def ev_literal(self, e, env):
        return e.value

    def ev_unit(self, e, env):
        return V.UNIT

    def ev_fstring(self, e, env):
        out = []
        for part in e.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                v = self.eval(part.expr, env)
                try:
                    out.append(D.format_spec(v, part.spec) if part.spec else D.display(v))
                except ShapeError as err:
                    raise self.located(err, part)      # the hole, `(` included (as the VM)
        return "".join(out)

    def ev_name(self, e, env):
        return self.lookup(e, env).value

    def ev_path(self, e, env):
        head = self.lookup(e, env).value
        if isinstance(head, EnumType) and len(e.parts) == 2:
            variant = head.variants.get(e.parts[1])
            if variant is None:
                raise Rec.no_such_variant(head.name, e.parts[1])
            if variant.kind == "unit":
                return V.EnumValue(head.name, variant.name, None)
            return VariantConstructor(head.name, variant, head.slots[variant.name])
        if isinstance(head, StructType) and len(e.parts) == 2:
            found = Rec.comptime_of(head.name, self.res.comptime.get(e.parts[1], ()))
            if found:
                return found[0]   # `Type::name`, a comptime field
        raise Rec.unresolved_path("::".join(e.parts))

    def ev_array(self, e, env):
        out = []
        for item in e.items:
            if type(item) is A.Spread:
                out.extend(spread_array(self.eval(item.expr, env)))
            else:
                out.append(self.eval(item, env))
        return out

    def ev_object(self, e, env):
        out: dict = {}
        for entry in e.entries:
            if type(entry) is A.Spread:
                out.update(spread_object(self.eval(entry.expr, env)))
            else:
                out[entry[0]] = self.eval(entry[1], env)
        return out

    def ev_struct(self, e, env):
        head = self.lookup(e, env).value
        given = {name: self.eval(v, env) for name, v in e.fields}
        if isinstance(head, StructType) and len(e.path) == 1:
            return self.construct_struct(head, given)
        if isinstance(head, EnumType) and len(e.path) == 2:
            variant = head.variants.get(e.path[1])
            if variant is None or variant.kind != "struct":
                raise Rec.not_a_struct_variant("::".join(e.path))
            declared = [(name, slot, False)
                        for name, slot in zip(variant.fields, head.slots[variant.name])]
            return Rec.build_struct_variant(head.name, variant.name, declared, given, self.decls)
        raise Rec.not_a_type("::".join(e.path))

    def construct_struct(self, st: StructType, given: dict) -> V.StructValue:
        fields = st.fields
        return Rec.build_struct(st.name, st.declared, given,
                                lambda i: self.eval(fields[i].default, st.env), self.decls)

    def ev_unary(self, e, env):
        x = self.eval(e.operand, env)
        if e.op == "-":
            fn = Tr.operator_method(x, "neg", self.methods)
            if fn is not None:
                return self.call(fn.bind_self(x), [])
        return Op.unary_op(e.op, x)

    def arithmetic(self, op: str, x: Any, y: Any) -> Any:
        """`x op y` for the operators of BINARY, or the method of an operator trait's impl."""
        fn = Tr.operator_method(x, op, self.methods)
        if fn is not None:
            return self.call(fn.bind_self(x), [y])
        return Op.binary_op(op, x, y)

    def ev_binary(self, e, env):
        op = e.op
        if op == "&&":
            return Op.truthy(self.eval(e.left, env)) and Op.truthy(self.eval(e.right, env))
        if op == "||":
            return Op.truthy(self.eval(e.left, env)) or Op.truthy(self.eval(e.right, env))
        if op == "??":
            left = self.eval(e.left, env)
            return left if left is not None else self.eval(e.right, env)
        if op == "!!":
            left = self.eval(e.left, env)
            return Res.attach_context(left, self.eval(e.right, env))
        return self.arithmetic(op, self.eval(e.left, env), self.eval(e.right, env))

    def ev_fuzzy(self, e, env):
        left = self.eval(e.left, env)
        return Op.fuzzy(e.op, left, self.eval(e.right, env), e.tolerance, e.percent)

    def ev_duration(self, e, env):
        return Dur.literal(e.parts)

    def ev_pipe(self, e, env):
        value = self.eval(e.left, env)
        right = e.right
        if type(right) is A.Call:
            # `x |> f(a)` is the call `f(x, a)`, and its errors are the call's.
            try:
                return self.call_expr(right, env, first=[value])
            except ShapeError as err:
                raise self.located(err, right)
        return self.call(self.eval(right, env), [value])

    def ev_ternary(self, e, env):
        return self.eval(e.then if Op.truthy(self.eval(e.cond, env)) else e.other, env)

    def ev_assign(self, e, env):
        target, op = e.target, e.op
        t = type(target)
        if t is A.Name:
            b = self.res.use(target)
            if op == "=":
                # The value first, then the variable: a resumed `x = snapshot()` writes the
                # variable as it is after the resume.
                value = self.eval(e.value, env)
                cell = env.cell(b)
                if cell is None:
                    raise Calls.uninitialised(b.name)
            else:
                cell = env.cell(b)
                if cell is None or cell.value is _UNINIT:
                    raise Calls.uninitialised(b.name)
                value = self.arithmetic(op[:-1], cell.value, self.eval(e.value, env))
            # A declared type is checked at every store; through a `&` parameter, so is the
            # type of the variable it refers to.
            if b.slot is not None:
                value = Ty.check_slot(value, b.slot, self.decls)
            if b.ref_param and type(cell) is TypedCell:
                value = Ty.check_slot(value, cell.slot, self.decls)
            cell.value = value
            return value
        if t is A.Member:
            obj = self.eval(target.obj, env)
            if op == "=":
                value = self.eval(e.value, env)
            else:
                value = self.arithmetic(op[:-1], Acc.get_property(obj, target.name), self.eval(e.value, env))
            return Acc.set_property(obj, target.name, value, self.decls)
        obj = self.eval(target.obj, env)
        index = self.eval(target.index, env)
        if op == "=":
            value = self.eval(e.value, env)
        else:
            value = self.arithmetic(op[:-1], Acc.index_get(obj, index), self.eval(e.value, env))
        return Acc.index_set(obj, index, value, self.decls)

    def ev_member(self, e, env):
        obj = self.eval(e.obj, env)
        if obj is None and e.optional:
            return None
        owners = self.res.comptime.get(e.name)
        if owners is not None:
            return Rec.comptime_get(obj, e.name, owners)
        return Acc.get_property(obj, e.name)

    def ev_index(self, e, env):
        return Acc.index_get(self.eval(e.obj, env), self.eval(e.index, env))

    def ev_try(self, e, env):
        v = self.eval(e.expr, env)
        if self.depth == 0:
            return Res.try_top(v)
        if Res.is_failure(v):
            raise ReturnSignal(v)
        return Res.unwrap_ok(v)

    def ev_as(self, e, env):
        v = self.eval(e.expr, env)
        target = self.res.slots[id(e)][1:]
        fn = Tr.conversion(v, target[0], e.fallible, self.methods)
        if fn is not None:
            return self.call(fn.bind_self(v), [])
        return Ty.try_convert(v, target) if e.fallible else Ty.convert(v, target, self.decls)

    def ev_lambda(self, e, env):
        fn = Closure(e, env, None, self)
        fn.res = self.res
        return fn

    def ev_block(self, e, env):
        return self.exec_block(e, env)

    def ev_if(self, e, env):
        if Op.truthy(self.eval(e.cond, env)):
            return self.exec_block(e.then, env)
        if e.other is None:
            return V.UNIT
        if type(e.other) is A.If:
            return self.ev_if(e.other, env)
        return self.exec_block(e.other, env)

    def ev_match(self, e, env):
        subject = self.eval(e.subject, env)
        for arm in e.arms:
            arm_env = self.match(arm.pattern, subject, env)
            if arm_env is None:
                continue
            if arm.guard is not None and not Op.truthy(self.eval(arm.guard, arm_env)):
                continue
            return self.eval(arm.body, arm_env)
        raise P.no_arm_matched(subject)

    def ev_while(self, e, env):
        while Op.truthy(self.eval(e.cond, env)):
            try:
                self.exec_block(e.body, env)
            except BreakSignal as b:
                return b.value
            except ContinueSignal:
                continue
        return V.UNIT

    def ev_loop(self, e, env):
        while True:
            try:
                self.exec_block(e.body, env)
            except BreakSignal as b:
                return b.value
            except ContinueSignal:
                continue

    def ev_for(self, e, env):
        # The loop state is explicit, [walked, index] (runtime/iteration.py for_start), as in
        # the VM; the recompile oracle reads and replaces the states of top-level loops.
        state = list(for_start(self.eval(e.iterable, env)))
        self.events.loop_started(self, state)
        try:
            while (item := for_item(state[0], state[1])) is not DONE:
                if item is PULL:
                    self.pull(state[0])
                    continue
                it_env = Env(env)
                self.bind_pattern(e.pattern, item, it_env)
                try:
                    self.exec_block(e.body, it_env)
                except BreakSignal as b:
                    return b.value
                except ContinueSignal:
                    pass
                state[1] += 1
        finally:
            self.events.loop_ended(self, state)
        return V.UNIT

    def pull(self, loop: IterLoop) -> None:
        """A loop over an iterator needs its next element: the prelude pulls it into the
        loop's walk."""
        self.call(self.prelude["__iter_for"], [loop.walk])

    def ev_range(self, e, env):
        return make_range(self.eval(e.start, env), self.eval(e.end, env), e.inclusive)

    def ev_comprehension(self, e, env):
        out: list = []
        self._comp(e, 0, env, out)
        return out

    def _comp(self, e, i: int, env: Env, out: list) -> None:
        if i == len(e.clauses):
            out.append(self.eval(e.expr, env))
            return
        clause = e.clauses[i]
        if type(clause) is A.CompIf:
            if Op.truthy(self.eval(clause.cond, env)):
                self._comp(e, i + 1, env, out)
            return
        # A comprehension walks its sequence as `for` does; what it cannot walk is reported at
        # the clause (as a `for` statement reports it at its `for`).
        iterable = self.eval(clause.iterable, env)
        try:
            walked, index = for_start(iterable)
        except ShapeError as err:
            raise self.located(err, clause)
        while (item := self._comp_item(walked, index, clause)) is not DONE:
            inner = Env(env)
            self.bind_pattern(clause.pattern, item, inner, node=clause)
            self._comp(e, i + 1, inner, out)
            index += 1

    def _comp_item(self, walked: Any, index: int, clause: Any) -> Any:
        """The next item of a comprehension's clause, or DONE; an error while walking (a pull
        of an iterator, a line that cannot be read) is reported at the clause too."""
        try:
            while (item := for_item(walked, index)) is PULL:
                self.pull(walked)
            return item
        except ShapeError as err:
            raise self.located(err, clause)

    def ev_await(self, e, env):
        if e.annotations:
            return self.await_annotated(e.annotations, e, env)
        return self.await_value(self.eval(e.expr, env))

    @staticmethod
    def await_value(v: Any) -> Any:
        return v.result if isinstance(v, Task) else v

    # ------------------------------------------------------------ annotations (brief §7)

    def annotation_handlers(self, use: A.AnnotationUse, env: Env) -> tuple[Any, Any]:
        """The `before`/`after` handlers of one annotation use, its parameters bound to the
        use's arguments (evaluated now, in the scope where the annotation is used)."""
        ann = self.lookup(use, env).value
        args = self.eval_args(use.args, env)
        decl = ann.decl
        h_env = Env(ann.env)
        saved = self.res
        self.res = ann.res
        try:
            if len(args) > len(decl.params):
                raise Calls.arity_error(decl.name, len(decl.params), len(args), annotation=True)
            for i, p in enumerate(decl.params):
                if i < len(args):
                    a = args[i]
                elif p.default is not None:
                    a = self.eval(p.default, ann.env)
                else:
                    raise Calls.arity_error(decl.name, len(decl.params), len(args),
                                            annotation=True)
                self.bind_pattern(p.pattern, a, h_env)
            handlers = []
            for h in (decl.before, decl.after):
                if h is None:
                    handlers.append(None)
                else:
                    c = Closure(h, h_env, h.name, self)
                    c.res = ann.res
                    handlers.append(c)
        finally:
            self.res = saved
        return handlers[0], handlers[1]

    def call_annotated(self, fn: "AnnotatedFunction", args: list) -> Any:
        use = fn.uses[0]
        saved = self.res
        self.res = fn.res
        try:
            before, after = self.annotation_handlers(use, fn.env)
        finally:
            self.res = saved
        inner = AnnotatedFunction(fn.fn, fn.uses[1:], fn.env, self) if len(fn.uses) > 1 else fn.fn
        inner.res = fn.res
        return self.call(self.prelude["__ann_call"], [before, after, inner, list(args)])

    def await_annotated(self, uses: list, e: A.Await, env: Env) -> Any:
        if not uses:
            return self.await_value(self.eval(e.expr, env))
        before, after = self.annotation_handlers(uses[0], env)
        res = self.res

        def run_rest() -> Any:
            saved = self.res
            self.res = res
            try:
                return self.await_annotated(uses[1:], e, env)
            finally:
                self.res = saved
        thunk = Thunk(run_rest)
        return self.call(self.prelude["__ann_await"], [before, after, thunk])

    # ------------------------------------------------------------ calls

    def ev_call(self, e, env):
        return self.call_expr(e, env)

    def eval_args(self, args: list, env: Env) -> list:
        out = []
        for a in args:
            if type(a) is A.Spread:
                out.extend(spread_array(self.eval(a.expr, env)))
            elif type(a) is A.RefArg:
                b = self.res.use(a)
                cell = env.cell(b)
                if cell is None:
                    raise Calls.uninitialised(a.name)
                out.append(cell)   # a Cell argument is a reference to the caller's variable
            else:
                out.append(self.eval(a, env))
        return out

    def call_expr(self, e: A.Call, env: Env, first: Optional[list] = None) -> Any:
        callee = e.callee
        ordinal = self.res.ordinals.get(id(e))
        if ordinal is not None:
            if e.args or first:
                raise Calls.snapshot_arguments()
            return self.events.snapshot(self, ordinal, e, env)
        if type(callee) is A.Member:
            obj = self.eval(callee.obj, env)
            if obj is None and callee.optional:
                return None
            args = (first or []) + self.eval_args(e.args, env)
            return self.call_method(obj, callee.name, args)
        fn = self.eval(callee, env)
        args = (first or []) + self.eval_args(e.args, env)
        if len(args) == 1 and type(callee) is A.Name and callee.name == "to_string" \
                and self.res.use(callee).kind == "builtin":
            # `to_string(v)` is `v.to_string()`: a type implementing Display gives its
            # `display()` (spec/traits.md §5).
            return self.call_method(args[0], "to_string", [])
        return self.call(fn, args)

    def call_method(self, obj: Any, name: str, args: list) -> Any:
        args = [a.value if isinstance(a, Cell) else a for a in args]
        kind, target = Calls.method_target(obj, name, len(args), self.methods)
        if kind == Calls.TYPE:
            return Me.call_method(obj, name, args) if args else Ty.type_of(obj, self.decls)
        if kind == Calls.EXTEND or kind == Calls.IMPL:
            return self.call(target.bind_self(obj), args)
        if kind == Calls.FIELD:
            return self.call(target, args)
        if kind == Calls.PRELUDE:
            return self.call(self.prelude[target], [obj] + args)
        return Me.call_method(obj, name, args)

    def call(self, fn: Any, args: list) -> Any:
        if isinstance(fn, Closure):
            if isinstance(fn.node, A.FnDecl) and fn.node.is_async:
                # Async is single-threaded and deterministic: the body runs at the call, in
                # source order, and the task holds its result until it is awaited.
                return Task(self.call_closure(fn, args))
            return self.call_closure(fn, args)
        args = [a.value if isinstance(a, Cell) else a for a in args]
        if isinstance(fn, AnnotatedFunction):
            return self.call_annotated(fn, args)
        if isinstance(fn, Thunk):
            return fn.run()
        if isinstance(fn, V.BuiltinFunction):
            return fn.fn(args)
        if isinstance(fn, VariantConstructor):
            v = fn.variant
            if v.kind != "tuple":
                raise Rec.not_a_tuple_variant(fn.enum, v.name)
            return Rec.build_tuple_variant(fn.enum, v.name, fn.slots, args, self.decls)
        if isinstance(fn, StructType):
            raise Rec.constructed_with_braces(fn.name)
        raise Calls.not_callable(fn)

    def call_closure(self, fn: Closure, args: list) -> Any:
        node = fn.node
        params = node.params
        if len(args) > len(params) or any(p.default is None for p in params[len(args):]):
            raise Calls.arity_error(fn.name, len(params), len(args))
        if self.depth >= self.max_depth:
            raise stack_overflow()
        res_saved = self.res
        self.res = fn.res
        try:
            env = Env(fn.env)
            if fn.has_self:
                scope = self.res.scope(node)
                env.vars[scope.bindings[0]] = Cell(fn.self_value)
            # Missing arguments take their defaults; then each typed parameter checks (and
            # converts) its value, in order (a `&` parameter the variable it refers to, in
            # place); then the parameters are bound.
            values = [a.value if isinstance(a, Cell) and not p.by_ref else a
                      for a, p in zip(args, params)]
            for p in params[len(args):]:
                values.append(self.eval(p.default, fn.env))
            slots = self.res.slots
            for i, p in enumerate(params):
                if p.type is not None:
                    a = values[i]
                    if isinstance(a, Cell):
                        a.value = Ty.check_slot(a.value, slots[id(p)], self.decls)
                    else:
                        values[i] = Ty.check_slot(a, slots[id(p)], self.decls)
            for p, a in zip(params, values):
                if isinstance(a, Cell):
                    env.vars[self.res.decl(p)] = a
                else:
                    self.bind_pattern(p.pattern, a, env)
            self.depth += 1
            try:
                if type(node.body) is A.Block:
                    result = self.exec_block(node.body, env)
                else:
                    result = self.eval(node.body, env)
            except ReturnSignal as r:
                result = r.value
            finally:
                self.depth -= 1
            ret = slots.get(id(node))
            return result if ret is None else Ty.check_slot(result, ret, self.decls)
        except ShapeError as err:
            if fn.res is not self.prelude_res:
                _left_frame(err, fn.name or LAMBDA_FRAME)
            raise
        finally:
            self.res = res_saved


def _left_frame(err: ShapeError, name: str) -> None:
    """`err` is leaving a call of `name` (or the top level): that call becomes the next entry
    of its call stack (collected most recent first), at the first position the error met in
    it (`located`), or at none when it met none there."""
    frames = err.__dict__.setdefault("_frames", [])
    frames.append((name, *(err.__dict__.pop("_here", None) or (None, None))))


_UNINIT = object()

_DISPATCH: dict[type, Callable] = {
    A.Literal: Interpreter.ev_literal,
    A.UnitLit: Interpreter.ev_unit,
    A.FString: Interpreter.ev_fstring,
    A.Name: Interpreter.ev_name,
    A.Path: Interpreter.ev_path,
    A.ArrayLit: Interpreter.ev_array,
    A.ObjectLit: Interpreter.ev_object,
    A.StructLit: Interpreter.ev_struct,
    A.Unary: Interpreter.ev_unary,
    A.Binary: Interpreter.ev_binary,
    A.Fuzzy: Interpreter.ev_fuzzy,
    A.DurationLit: Interpreter.ev_duration,
    A.Pipe: Interpreter.ev_pipe,
    A.Ternary: Interpreter.ev_ternary,
    A.Assign: Interpreter.ev_assign,
    A.Member: Interpreter.ev_member,
    A.Index: Interpreter.ev_index,
    A.Try: Interpreter.ev_try,
    A.Lambda: Interpreter.ev_lambda,
    A.FnExpr: Interpreter.ev_lambda,   # `fn(…) { … }` is a lambda with a block body
    A.Block: Interpreter.ev_block,
    A.If: Interpreter.ev_if,
    A.Match: Interpreter.ev_match,
    A.While: Interpreter.ev_while,
    A.Loop: Interpreter.ev_loop,
    A.For: Interpreter.ev_for,
    A.RangeExpr: Interpreter.ev_range,
    A.Comprehension: Interpreter.ev_comprehension,
    A.Await: Interpreter.ev_await,
    A.Call: Interpreter.ev_call,
    A.As: Interpreter.ev_as,
}


# ---------------------------------------------------------------- annotations (brief §7)

class AnnotationValue:
    """What an `annotation` declaration binds: the declaration and the scope it was made in."""

    def __init__(self, decl: A.AnnotationDecl, env: Env, res: Resolution) -> None:
        self.decl = decl
        self.env = env
        self.res = res


class AnnotatedFunction(V.FunctionValue):
    """A function declared with `@ann` uses: calls run the annotations' hooks around the body."""

    def __init__(self, fn: Closure, uses: list, env: Env, interp: Interpreter) -> None:
        self.fn = fn
        self.name = fn.name
        self.uses = uses
        self.env = env
        self.interp = interp
        self.res = fn.res

    def bind_self(self, value: Any) -> "AnnotatedFunction":
        return AnnotatedFunction(self.fn.bind_self(value), self.uses, self.env, self.interp)


# ---------------------------------------------------------------- prelude and entry points

_PRELUDE_CACHE: dict = {}


def _prelude_program() -> tuple[A.Program, Resolution]:
    if "p" not in _PRELUDE_CACHE:
        with open(PRELUDE_PATH, encoding="utf-8") as f:
            prog = parse(f.read(), PRELUDE_PATH)
        _PRELUDE_CACHE["p"] = (prog, resolve(prog, builtin_names(), PRELUDE_PATH))
    return _PRELUDE_CACHE["p"]


def declarations(res: Resolution) -> Ty.Declarations:
    """What the run-time type rules need to know about the program's struct types."""
    decls = Ty.Declarations()
    for node in res.struct_decls:
        decls.add_struct(node.name, [(f.name, res.slots.get(id(f))) for f in node.fields
                                     if isinstance(f, A.FieldDecl)], res.generics[id(node)])
    return decls


def check(program: A.Program, path: Optional[str] = None) -> Resolution:
    return on_front_end_stack(lambda: resolve(program, builtin_names(), path))


def run_program(program: A.Program, write: Callable[[str], None], path: Optional[str] = None,
                max_depth: int = DEFAULT_MAX_DEPTH,
                on_first_snapshot: Optional[Callable[[], None]] = None,
                io: Optional[IOContext] = None) -> Any:
    """Resolve and run `program`; returns its value. Raises ShapeError / ShapeExit. `io` is the
    run's I/O context (arguments, working directory); by default the process's."""
    res = check(program, path)
    interp = Interpreter(write, path, max_depth, SnapshotEvents(on_first_snapshot))
    with running(io if io is not None else IOContext(argv=[path] if path else [])):
        return run_deep(lambda: interp.run(program, res))


def run_source(source: str, write: Callable[[str], None], path: Optional[str] = None,
               max_depth: int = DEFAULT_MAX_DEPTH,
               on_first_snapshot: Optional[Callable[[], None]] = None,
               io: Optional[IOContext] = None) -> Any:
    """Parse and run a program; returns its value. Raises ShapeError / ShapeExit. (What a
    resume of it prints: ref/oracle.py run_source.)"""
    return run_program(parse(source, path), write, path, max_depth, on_first_snapshot, io)


def run_deep(fn: Callable[[], Any]) -> Any:
    """Run fn with room for deep Shape recursion (the engine's own limit ends it first)."""
    return on_deep_stack(fn)
