"""Static name resolution, shared by both engines.

Every use of a name is tied to exactly one declaration (a `Binding`) before the program runs, so
the reference evaluator and the VM cannot disagree about scoping. The rules (spec/language.md,
"Names and scopes"):

- Scopes: the builtins, the module, each function or lambda (its parameters), each block, each
  `for` iteration (its pattern), each match arm (its pattern, guard and body), each comprehension
  clause. `fn`, `enum` and `type` declarations are hoisted to the start of their block.
- Each `let`/`var`/`const` declares a new variable, also when it shadows an earlier one in the same
  scope; code after it sees the new one, closures made before it keep the old one.
- Code that runs directly (not inside a nested function) sees only declarations that come before
  it; a use with no such declaration anywhere outward is a NameError found before execution.
  Code inside a nested function runs later, so when no declaration of the name is visible it may
  also refer to a variable declared further down an enclosing scope (a module function using a
  module variable defined after it); reading such a variable before its `let` has run is a
  runtime NameError. A visible declaration in any enclosing scope always wins over a later one.
- Assigning to (or passing by `&`) a binding that is not mutable is an AssignmentError found before
  execution. Mutable: `let mut`, `var`, parameters. Not: `let`, `const`, functions, enums, types,
  loop and pattern variables, builtins.
- Type names in annotations (spec/types.md) are looked up among type declarations (`type`,
  `enum`, `trait`) and the generic parameters in scope, then the built-in types; a variable of the
  same name does not hide a type. An unknown type is a NameError before execution.
- Traits and impls (spec/traits.md) are declared at the top level only. An impl names a trait
  (declared or built in) and a type, defines every method the trait requires without a default,
  only methods the trait has, each with the trait's number of parameters; two traits may not give
  one type a method of the same name. These are CompileErrors before execution.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Optional

from shapelang.ref import ast as A
from shapelang.ref import comptime, typecheck
from shapelang.ref import types as T
from shapelang.runtime import stdlib
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.traits import OPERATOR_KEYS, impl_type


@dataclass(eq=False)
class Binding:
    name: str
    kind: str                 # let var const param fn enum type pattern builtin
    mutable: bool
    owner: Any                # the FnDecl / Lambda / Program / AnnotationDecl / annotated Await
                              # whose frame holds it
    scope: "Scope"
    node: Any = None          # the declaring node (PBind, Param, FnDecl, EnumDecl, ...)
    captured: bool = False    # used from a nested function: needs a shared cell
    by_ref: bool = False      # passed as `&x` somewhere: needs a shared cell
    uid: str = ""             # unique, readable id ("x", "x#2", ...) for module bindings by name
    slot: Optional[list] = None   # a variable or parameter declared with a type: its slot
                                  # descriptor (runtime/types.py), checked at every store
    ref_param: bool = False       # a `&x` parameter: writes also check the referenced variable

    def __repr__(self) -> str:
        return f"<Binding {self.uid} {self.kind}{' mut' if self.mutable else ''}>"

    @property
    def needs_cell(self) -> bool:
        return self.captured or self.by_ref


@dataclass(eq=False)
class Scope:
    kind: str                 # builtins module function block for arm comp
    parent: Optional["Scope"]
    owner: Any
    node: Any = None
    bindings: list[Binding] = field(default_factory=list)
    _by_name: dict = field(default_factory=dict)   # name -> [(index, Binding)]
    cur: int = 0              # index of the statement being resolved in this scope

    def declare(self, binding: Binding, index: int) -> None:
        self.bindings.append(binding)
        self._by_name.setdefault(binding.name, []).append((index, binding))

    def alias(self, name: str, binding: Binding, index: int) -> None:
        """Make `name` stand for an existing binding (an import names a std builtin)."""
        self._by_name.setdefault(name, []).append((index, binding))


@dataclass
class Resolution:
    uses: dict            # id(node) -> Binding for Name, RefArg, Assign target Name, Path/struct heads
    decls: dict           # id(node) -> Binding for PBind / Param / FnDecl / EnumDecl / TypeDecl / Let-less decls
    scopes: dict          # id(node) -> Scope for Program, Block, For, MatchArm, Lambda, FnDecl, CompFor
    module: Scope
    builtins: Scope
    # snapshot() call sites in source order; a site's ordinal is its index here. Recompile-and-
    # resume maps a saved site to the new source by this ordinal (spec/snapshots.md).
    snapshot_sites: list = field(default_factory=list)
    ordinals: dict = field(default_factory=dict)   # id(Call node) -> ordinal
    site_scopes: dict = field(default_factory=dict)  # id(Call node) -> innermost Scope at the site
    # id(node) -> {type or trait name in the node's annotation: the declaring Binding, a TypeParam,
    # or None for a built-in}; nodes: Let, Param, FnDecl/FnExpr/TraitMethodSig (return type),
    # FieldDecl, ComptimeField, Variant, As, PTyped, TypeParam, ImplDecl.
    type_uses: dict = field(default_factory=dict)
    # The trait implementations of the program: (target type name, trait text) -> ImplDecl, the
    # trait text with its arguments (`Into<int>`); named impls (`impl T for X as N`) are in it
    # only for the conversion traits, which `as` selects by their argument, not by name.
    impls: dict = field(default_factory=dict)
    # id(node) -> slot descriptor [label, type text, stype] (runtime/types.py) of the node's
    # annotation: Let, Param, FieldDecl, ComptimeField, As and PTyped (label ""), and the return
    # type of FnDecl/FnExpr; for a Variant, a list with one slot (or None) per payload.
    slots: dict = field(default_factory=dict)
    # id(TypeDecl) -> its generic parameters as [name, default type text or None, the first
    # field declared with exactly that type or None] (what `.type()` of an instance names).
    generics: dict = field(default_factory=dict)
    struct_decls: list = field(default_factory=list)   # every TypeDecl, in resolution order
    # id(node) -> [element type text, element stype] for the slots of `slots` whose type is an
    # array type (`[T]`, `Array<T>`): the static pass (ref/typecheck.py) checks array literals'
    # elements against it; run time does not.
    elements: dict = field(default_factory=dict)
    # Comptime fields (ref/comptime.py): field name -> [[type name, value], …].
    comptime: dict = field(default_factory=dict)

    def snapshot_ordinal(self, call) -> int:
        return self.ordinals[id(call)]

    def frame_variables(self, call) -> dict[tuple[int, str, int], Binding]:
        """The variables of the module frame visible at snapshot site `call`, keyed by
        (scope depth below the module, name, n-th declaration of that name in its scope).
        Recompile-and-resume carries these over from the saved run (spec/snapshots.md)."""
        chain = []
        scope = self.site_scopes[id(call)]
        while scope is not None and scope.kind != "builtins":
            chain.append(scope)
            scope = scope.parent
        chain.reverse()                      # module first
        out: dict = {}
        for depth, sc in enumerate(chain):
            seen: dict[str, int] = {}
            for b in sc.bindings:
                if b.owner is not self.module.owner:
                    continue
                n = seen.get(b.name, 0)
                seen[b.name] = n + 1
                if b.kind in ("let", "var", "const", "pattern"):
                    out[(depth, b.name, n)] = b
        return out

    def module_variables(self) -> list[tuple[tuple[str, int], Binding]]:
        """Module-level variables keyed by (name, n): the n-th module `let` of that name.
        Recompile-and-resume restores module bindings by these keys."""
        seen: dict[str, int] = {}
        out = []
        for b in self.module.bindings:
            if b.kind in ("let", "var", "const"):
                n = seen.get(b.name, 0)
                seen[b.name] = n + 1
                out.append(((b.name, n), b))
        return out

    def use(self, node) -> Binding:
        return self.uses[id(node)]

    def decl(self, node) -> Binding:
        return self.decls[id(node)]

    def scope(self, node) -> Scope:
        return self.scopes[id(node)]


BUILTIN_PATTERNS = {"Some", "Ok", "Err"}
# Patterns nest at most this deep (the VM keeps a pattern as one constant, and matches it with
# recursive code); spec/implementation-contracts.md, limits.
MAX_PATTERN_DEPTH = 100


class Resolver:
    def __init__(self, builtin_names: Iterable[str], path: Optional[str] = None) -> None:
        self.path = path
        self.uses: dict = {}
        self.decls: dict = {}
        self.scopes: dict = {}
        self.uid_counts: dict[str, int] = {}
        self.builtins = Scope("builtins", None, None)
        for name in builtin_names:
            b = Binding(name, "builtin", False, None, self.builtins, uid=name)
            self.builtins.declare(b, -1)
        self.builtins.cur = 1 << 30
        self.scope = self.builtins
        self.owner: Any = None
        self.async_ok = True      # `await` is allowed at top level and directly in `async fn`
        self.sites: list = []
        self.site_scopes: dict = {}
        self.loop_depth = 0       # loops enclosing the current point within this function
        self.keep: list = []   # keep nodes alive so id() keys stay unique
        self.type_uses: dict = {}
        self.generic_params: list[dict] = []  # the generic parameters in scope, innermost last
        self.impls: dict = {}
        self.methods_by_target: dict = {}   # target type name -> {method name: trait name}
        self.slots: dict = {}
        self.struct_generics: dict = {}
        self.struct_decls: list = []
        self.elements: dict = {}
        self.aliases: dict[str, A.TypeAlias] = {}   # `type Name = T` of the program

    # ------------------------------------------------------------ helpers

    def error(self, kind: str, message: str, node) -> ShapeError:
        return ShapeError(kind, message, node.line or None, node.col or None, file=self.path)

    def push(self, kind: str, node, owner=None) -> Scope:
        s = Scope(kind, self.scope, owner if owner is not None else self.owner, node)
        self.scope = s
        if node is not None:
            self.scopes[id(node)] = s
            self.keep.append(node)
        return s

    def pop(self) -> None:
        self.scope = self.scope.parent

    def declare(self, name: str, kind: str, mutable: bool, node, index: Optional[int] = None) -> Binding:
        n = self.uid_counts.get(name, 0) + 1
        self.uid_counts[name] = n
        uid = name if n == 1 else f"{name}#{n}"
        b = Binding(name, kind, mutable, self.scope.owner, self.scope, node, uid=uid)
        self.scope.declare(b, self.scope.cur if index is None else index)
        if node is not None:
            self.decls[id(node)] = b
            self.keep.append(node)
        return b

    def lookup(self, name: str, node) -> Binding:
        # A declaration that is already visible (in this scope or any enclosing one) wins over a
        # later one: a closure made before a shadowing `let` keeps the old variable. Only when
        # nothing is visible may code inside a nested function refer to a declaration further
        # down an enclosing scope; that also beats a builtin of the same name.
        scope, deferred, later = self.scope, False, None
        while scope is not None:
            entries = scope._by_name.get(name)
            if entries:
                if later is not None and scope.kind == "builtins":
                    break
                visible = [b for i, b in entries if i < scope.cur]
                if visible:
                    return self._note_use(visible[-1], node)
                if deferred and later is None:
                    later = entries[0][1]
            if scope.kind == "function":
                deferred = True
            scope = scope.parent
        if later is not None:
            return self._note_use(later, node)
        raise self.error("NameError", f"Undefined variable '{name}'", node)

    def _note_use(self, b: Binding, node) -> Binding:
        if b.kind != "builtin" and b.owner is not self.owner:
            b.captured = True
        self.uses[id(node)] = b
        self.keep.append(node)
        return b

    # ------------------------------------------------------------ program structure

    def program(self, prog: A.Program) -> Resolution:
        self.owner = prog
        module = self.push("module", prog, prog)
        self.stmts(prog.body)
        self.pop()
        sites = sorted(self.sites, key=lambda c: (c.line, c.col))
        ordinals = {id(c): i for i, c in enumerate(sites)}
        return Resolution(self.uses, self.decls, self.scopes, module, self.builtins, sites, ordinals,
                          self.site_scopes, self.type_uses, self.impls, self.slots,
                          self.struct_generics, self.struct_decls, self.elements)

    def hoist(self, stmts: list) -> None:
        for st in stmts:
            if isinstance(st, A.FnDecl):
                self.declare(st.name, "fn", False, st, -1)
            elif isinstance(st, A.EnumDecl):
                self.declare(st.name, "enum", False, st, -1)
            elif isinstance(st, A.TypeDecl):
                self.declare(st.name, "type", False, st, -1)
            elif isinstance(st, A.AnnotationDecl):
                self.declare("@" + st.name, "annotation", False, st, -1)
            elif isinstance(st, A.TraitDecl):
                self.declare(st.name, "trait", False, st, -1)
            elif isinstance(st, A.TypeAlias):
                self.type_alias(st)
        self.alias_declared_types()

    def type_alias(self, st: A.TypeAlias) -> None:
        if self.scope.kind != "module":
            raise self.error("CompileError", "A type alias can only be declared at the top level",
                             st)
        if st.name in self.aliases or st.name in T.BUILTIN_TYPES:
            raise self.error("CompileError", f"Type '{st.name}' is already declared", st)
        self.aliases[st.name] = st

    def alias_declared_types(self) -> None:
        """An alias of a declared struct or enum type also stands for that type where a name is
        not an annotation (`P { x: 1 }`, `P::Variant`, `P.field`)."""
        for st in self.aliases.values():
            if self.scope._by_name.get(st.name):
                raise self.error("CompileError", f"Type '{st.name}' is already declared", st)
        for st in self.aliases.values():
            target = self._expand(T.TypeRef("name", st.name), st, ())
            if target.kind == "name" and not target.args:
                b = self._declared_type(target.name)
                if isinstance(b, Binding) and b.kind in ("type", "enum"):
                    self.scope.alias(st.name, b, -1)

    def expand(self, text: str, node) -> str:
        """Annotation `text` with every alias replaced by the type it names (spec/types.md)."""
        if not self.aliases:
            return text
        t = T.parse_type(text)
        out = self._expand(t, node, ())
        return text if out == t else T.type_text(out)

    def _expand(self, t: T.TypeRef, node, seen: tuple) -> T.TypeRef:
        if t.kind == "name" and t.name in self.aliases \
                and not any(t.name in params for params in self.generic_params):
            self.check_type_args(t, None, node)     # an alias takes no type arguments
            if t.name in seen:
                chain = " = ".join(seen[seen.index(t.name):] + (t.name,))
                raise self.error("CompileError", f"Type alias '{t.name}' refers to itself "
                                 f"({chain})", self.aliases[t.name])
            return self._expand(T.parse_type(self.aliases[t.name].target), node, seen + (t.name,))
        if not t.args:
            return t
        return replace(t, args=tuple(self._expand(a, node, seen) for a in t.args))

    def stmts(self, stmts: list) -> None:
        self.hoist(stmts)
        # Declare every variable of the scope up front (visible from the statement after its
        # own), so nested functions can refer to variables declared further down.
        for i, st in enumerate(stmts):
            if isinstance(st, A.Let):
                self.pattern(st.pattern, st.kind, st.mutable or st.kind == "var", index=i, uses=False)
            elif isinstance(st, A.Import):
                self.import_(st, i)
        for i, st in enumerate(stmts):
            self.scope.cur = i
            self.stmt(st)
        self.scope.cur = len(stmts)

    def import_(self, st: A.Import, index: int) -> None:
        """`use std::core::file` binds `file`, `from std::core::json use { parse }` binds `parse`:
        each name stands for the std module's builtin value of that qualified name, from the
        statement after the import on, like `let` (spec/io.md)."""
        path = stdlib.module_path(st.path)
        names = stdlib.exports(path)
        if names is None:
            raise self.error("CompileError", f"Unknown module '{path}'", st)
        for name in st.names:
            if name not in names:
                raise self.error("CompileError", f"Module '{path}' has no export '{name}'", st)
        if not stdlib.binds(path):
            return
        pairs = [(n, f"{path}::{n}") for n in st.names] if st.names else [(st.path[-1], path)]
        for local, qualified in pairs:
            b = Binding(qualified, "builtin", False, None, self.builtins, uid=qualified)
            self.scope.alias(local, b, index)

    def block(self, block: A.Block, kind: str = "block") -> None:
        self.push(kind, block)
        self.stmts(block.stmts)
        self.pop()

    def stmt(self, st) -> None:
        if isinstance(st, A.ExprStmt):
            self.expr(st.expr)
        elif isinstance(st, A.Let):
            self.annotation_type(st, st.type)
            if st.type is not None:
                bound = st.pattern.name if isinstance(st.pattern, A.PBind) else None
                slot = self.make_slot(st, st.type, f"variable '{bound}'" if bound is not None
                                      else "the value destructured by let")
                if bound is not None:
                    self.decls[id(st.pattern)].slot = slot
            if st.value is not None:
                self.expr(st.value)
            self.pattern_uses(st.pattern)
        elif isinstance(st, A.FnDecl):
            self.function(st, st.params, st.body)
        elif isinstance(st, A.Return):
            if st.value is not None:
                self.expr(st.value)
        elif isinstance(st, A.Break):
            if self.loop_depth == 0:
                raise self.error("CompileError", "'break' outside of a loop", st)
            if st.value is not None:
                self.expr(st.value)
        elif isinstance(st, A.Continue):
            if self.loop_depth == 0:
                raise self.error("CompileError", "'continue' outside of a loop", st)
        elif isinstance(st, A.Import):
            pass
        elif isinstance(st, A.EnumDecl):
            with self.generics(st, st.type_params):
                for v in st.variants:
                    self.annotation_types(v, [t for t in v.types if t])
                    labels = ([f"field '{f}' of {st.name}::{v.name}" for f in v.fields]
                              if v.kind == "struct" else
                              [f"payload {i + 1} of {st.name}::{v.name}"
                               for i in range(len(v.types))])
                    self.slots[id(v)] = [None if t is None else self.slot_of(v, t, label)
                                         for t, label in zip(v.types, labels)]
                    self.keep.append(v)
        elif isinstance(st, A.TypeDecl):
            # Defaults run when a literal is built, apart from any loop around the declaration.
            outer_loops, self.loop_depth = self.loop_depth, 0
            with self.generics(st, st.type_params):
                for f in st.fields:
                    self.annotation_type(f, f.type)
                    self.make_slot(f, f.type, f"field '{f.name}' of {st.name}")
                    if f.default is not None:
                        self.expr(f.default)
            fields = [f for f in st.fields if isinstance(f, A.FieldDecl)]
            self.struct_decls.append(st)
            self.struct_generics[id(st)] = [
                [tp.name, tp.default, next((f.name for f in fields if f.type == tp.name), None)]
                for tp in st.type_params]
            self.loop_depth = outer_loops
        elif isinstance(st, A.TypeAlias):
            self.annotation_type(st, st.target)   # unknown names, cycles, type arguments
        elif isinstance(st, A.TraitDecl):
            self.trait(st)
        elif isinstance(st, A.ImplDecl):
            self.impl(st)
        elif isinstance(st, A.ExtendDecl):
            for m in st.methods:
                self.function(m, m.params, m.body, implicit=("self",))
        elif isinstance(st, A.AnnotationDecl):
            self.annotation(st)
        else:
            self.expr(st)

    def annotation(self, decl: A.AnnotationDecl) -> None:
        outer, outer_scope = self.owner, self.scope
        self.owner = decl
        if decl.module is not None:
            # A standard module's hooks mean by their names what the module means: its own
            # parameters and locals, then the builtins. A program's `fn snapshot` or `enum
            # Snapshot` does not reach into std::core::remote's hooks (ref/modules.py).
            self.scope = self.builtins
        self.push("function", decl, decl)
        for p in decl.params:
            self.param(p)
        self.scope.cur = 1 << 30
        for handler in (decl.before, decl.after):
            if handler is not None:
                self.function(handler, handler.params, handler.body)
        self.scope = outer_scope
        self.owner = outer

    def check_annotation(self, ann: A.AnnotationUse, target: str) -> None:
        b = self.lookup("@" + ann.name, ann)
        decl = b.node
        if isinstance(decl, A.AnnotationDecl) and decl.targets and target not in decl.targets:
            label = "a function" if target == "function" else "an await expression"
            raise self.error("CompileError", f"Annotation @{ann.name} cannot be applied to {label} "
                             f"(its targets are: {', '.join(decl.targets)})", ann)
        for a in ann.args:
            self.expr(a)

    # ------------------------------------------------------------ types, traits and impls

    @contextmanager
    def generics(self, node, type_params: list) -> Iterator[None]:
        """Resolve the generic parameters of `node` and make them visible to the annotations
        inside it (they are types, not variables: no scope of their own)."""
        for tp in type_params:
            for bound in tp.bounds:
                self.note_type_use(tp, bound, self.lookup_trait(bound, tp))
        self.generic_params.append({tp.name: tp for tp in type_params})
        try:
            for tp in type_params:
                if tp.default is not None:
                    self.annotation_type(tp, tp.default)
            yield
        finally:
            self.generic_params.pop()

    def note_type_use(self, node, name: str, target) -> None:
        self.type_uses.setdefault(id(node), {})[name] = target
        self.keep.append(node)

    def _declared_type(self, name: str) -> Any:
        """The generic parameter or type/enum/trait Binding a type name means, else None."""
        for params in reversed(self.generic_params):
            if name in params:
                return params[name]
        scope = self.scope
        while scope is not None:
            for _, b in reversed(scope._by_name.get(name, [])):
                if b.kind in ("type", "enum", "trait"):
                    return b
            scope = scope.parent
        return None

    def lookup_type(self, name: str, node) -> Any:
        """The declaration a type name in an annotation means: a Binding (type, enum or trait),
        a TypeParam, or None for a built-in type. NameError if there is none."""
        found = self._declared_type(name)
        if found is None and name not in T.BUILTIN_TYPES:
            raise self.error("NameError", f"Unknown type '{name}'", node)
        return found

    def lookup_trait(self, name: str, node) -> Optional[Binding]:
        """A declared trait's Binding, or None for a built-in trait."""
        found = self._declared_type(name)
        if found is None:
            if name in T.BUILTIN_TRAITS:
                return None
            if name in T.BUILTIN_TYPES:
                raise self.error("CompileError", f"'{name}' is not a trait", node)
            raise self.error("NameError", f"Unknown trait '{name}'", node)
        if not (isinstance(found, Binding) and found.kind == "trait"):
            raise self.error("CompileError", f"'{name}' is not a trait", node)
        return found

    def annotation_type(self, node, text: Optional[str]) -> None:
        if text is not None:
            self.annotation_types(node, [text])

    def annotation_types(self, node, texts: list) -> None:
        """Resolve every name in the annotations `texts` of `node`."""
        for text in texts:
            t = T.parse_type(self.expand(text, node))
            for group in T.groups(t):
                if len(group.args) != 1:
                    raise self.error("CompileError", f"{T.type_text(group)} is not a type "
                                     "(this dialect has no tuple types)", node)
            for named in T.named_types(t):
                target = self.lookup_type(named.name, node)
                self.note_type_use(node, named.name, target)
                self.check_type_args(named, target, node)
            for trait in T.trait_names(t):
                self.note_type_use(node, trait, self.lookup_trait(trait, node))

    def slot_of(self, node, text: str, label: str) -> list:
        """The slot descriptor (runtime/types.py) of annotation `text` of `node`, whose names
        annotation_types has resolved."""
        uses = self.type_uses.get(id(node), {})
        text = self.expand(text, node)

        def meaning(name: str) -> Optional[str]:
            target = uses.get(name)
            if isinstance(target, A.TypeParam):
                return list(target.bounds) if target.bounds else "param"
            if isinstance(target, Binding):
                return {"type": "struct", "enum": "enum", "trait": "trait"}[target.kind]
            return None
        t = T.parse_type(text)
        item = T.element_type(t)
        if item is not None:
            self.elements[id(node)] = [T.type_text(item), T.stype(item, meaning)]
        return [label, text, T.stype(t, meaning)]

    def make_slot(self, node, text: Optional[str], label: str) -> Optional[list]:
        """Record the slot of `node`'s annotation (None when it has none)."""
        if text is None:
            return None
        slot = self.slots[id(node)] = self.slot_of(node, text, label)
        self.keep.append(node)
        return slot

    def check_type_args(self, named: T.TypeRef, target, node) -> None:
        """A generic type gets as many type arguments as it has parameters (fewer if the rest have
        defaults); any other type gets none."""
        given = len(named.args)
        if target is None:
            lo, hi = T.BUILTIN_ARITY.get(named.name, (0, 0))
        elif isinstance(target, Binding) and isinstance(target.node, (A.TypeDecl, A.EnumDecl,
                                                                      A.TraitDecl)):
            tps = target.node.type_params
            lo, hi = sum(1 for tp in tps if tp.default is None), len(tps)
            if given == 0:
                return          # `Box` alone: its arguments are inferred (spec/types.md)
        else:
            lo = hi = 0         # a generic parameter takes no arguments
        if not lo <= given <= hi:
            want = str(hi) if lo == hi else f"{lo} to {hi}"
            raise self.error("CompileError", f"Type '{named.name}' takes {want} type argument"
                             f"{'' if want == '1' else 's'}, not {given}", node)

    def trait(self, decl: A.TraitDecl) -> None:
        if self.scope.kind != "module":
            raise self.error("CompileError", "A trait can only be declared at the top level", decl)
        with self.generics(decl, decl.type_params):
            for m in decl.members:
                if isinstance(m, A.TraitMethodSig):
                    for p in m.params:
                        self.annotation_type(p, p.type)
                    self.annotation_type(m, m.ret_type)
                else:
                    self.function(m, m.params, m.body, implicit=("self",))

    def trait_methods(self, name: str, node) -> tuple[dict, set]:
        """(required method -> parameter count without `self`, default method names) of a trait."""
        b = self.lookup_trait(name, node)
        if b is None:
            return dict(T.BUILTIN_TRAIT_METHODS[name]), set()
        required, defaults = {}, set()
        for m in b.node.members:
            if isinstance(m, A.TraitMethodSig):
                params = m.params
                if params and isinstance(params[0].pattern, A.PBind) and \
                        params[0].pattern.name == "self":
                    params = params[1:]
                required[m.name] = len(params)
            else:
                defaults.add(m.name)
        return required, defaults

    def impl(self, decl: A.ImplDecl) -> None:
        if self.scope.kind != "module":
            raise self.error("CompileError", "An impl can only be declared at the top level", decl)
        trait_ref = T.parse_type(decl.trait)
        target_ref = T.parse_type(decl.target)
        trait_binding = self.lookup_trait(trait_ref.name, decl)
        self.note_type_use(decl, trait_ref.name, trait_binding)
        # `impl Show for Box<T>`: the target's type arguments that are plain names are the
        # impl's own generic parameters (the impl is for every Box; spec/traits.md §2).
        implicit = [A.TypeParam(name=a.name, line=decl.line, col=decl.col)
                    for a in target_ref.args
                    if a.kind == "name" and not a.args and self._declared_type(a.name) is None
                    and a.name not in T.BUILTIN_TYPES]
        self.keep.extend(implicit)
        with self.generics(decl, implicit):
            self.annotation_types(decl, [T.type_text(a) for a in trait_ref.args] + [decl.target])
        if trait_binding is None:
            want = T.BUILTIN_TRAIT_ARITY.get(trait_ref.name, 0)
            if len(trait_ref.args) != want:
                raise self.error("CompileError", f"Trait '{trait_ref.name}' takes {want} type "
                                 f"argument{'' if want == 1 else 's'}, not {len(trait_ref.args)}",
                                 decl)
        else:
            self.check_type_args(trait_ref, trait_binding, decl)
        if target_ref.kind != "name":
            raise self.error("CompileError", f"impl target must be a type name, not {decl.target}",
                             decl)
        target = self.type_uses[id(decl)][target_ref.name]
        if isinstance(target, Binding) and target.kind == "trait":
            raise self.error("CompileError", f"'{target_ref.name}' is a trait, not a type", decl)
        if isinstance(target, A.TypeParam):
            raise self.error("CompileError", f"impl target must be a type, not the type parameter "
                             f"'{target_ref.name}'", decl)
        trait = trait_ref.name
        required, defaults = self.trait_methods(trait, decl)
        given = {m.name: m for m in decl.methods}
        for m in decl.methods:
            if m.name not in required and m.name not in defaults:
                raise self.error("CompileError", f"'{m.name}' is not a method of trait {trait}", m)
            want = required.get(m.name)
            if want is not None and len(m.params) != want:
                raise self.error("CompileError", f"{trait}.{m.name} takes {want} parameter"
                                 f"{'' if want == 1 else 's'} besides self, not {len(m.params)}", m)
        missing = [name for name in required if name not in given]
        if missing:
            raise self.error("CompileError", f"impl {decl.trait} for {decl.target} is missing the "
                             f"method{'' if len(missing) == 1 else 's'} {', '.join(missing)}", decl)
        conversion = trait_binding is None and trait in T.CONVERSION_TRAITS
        if decl.name is None or conversion:
            key = (target_ref.name, decl.trait)
            if key in self.impls:
                raise self.error("CompileError", f"{decl.trait} is already implemented for "
                                 f"{target_ref.name}", decl)
            self.impls[key] = decl
            self.keep.append(decl)
        if decl.name is None and not conversion:
            # Conversion methods are reached only through `as`, so they cannot collide.
            owned = self.methods_by_target.setdefault(target_ref.name, {})
            for name in list(required) + sorted(defaults):
                other = owned.get(name)
                if other is not None and other != decl.trait:
                    raise self.error("CompileError", f"Method '{name}' of {target_ref.name} would "
                                     f"come from both {other} and {decl.trait}", decl)
                owned[name] = decl.trait
        for m in decl.methods:
            self.function(m, m.params, m.body, implicit=("self",))
            # Display's `display()` must return a string and TryInto's `tryInto()` a Result
            # (spec/traits.md §5): checked as if declared `-> string` / `-> Result`.
            implied = {("Display", "display"): "string", ("TryInto", "tryInto"): "Result"}.get(
                (trait, m.name)) if trait_binding is None or trait == "Display" else None
            if implied is not None and m.ret_type is None:
                self.slots[id(m)] = [f"the return value of {m.name}", implied, [implied]]

    def function(self, node, params: list, body, implicit: tuple = ()) -> None:
        for ann in getattr(node, "annotations", []) or []:
            self.check_annotation(ann, "function")
            # The hooks pass values, so a reference parameter could not assign the caller's
            # variable: refuse it rather than silently copying.
            for p in params:
                if p.by_ref:
                    name = p.pattern.name if isinstance(p.pattern, A.PBind) else "parameter"
                    raise self.error("CompileError", f"Annotation @{ann.name} cannot be applied "
                                     f"to a function with a reference parameter (&{name})", p)
        with self.generics(node, getattr(node, "type_params", None) or []):
            what = node.name if isinstance(node, A.FnDecl) else \
                "a lambda" if isinstance(node, A.Lambda) else "a function expression"
            for i, p in enumerate(params):
                self.annotation_type(p, p.type)
                name = p.pattern.name if isinstance(p.pattern, A.PBind) else None
                self.make_slot(p, p.type, f"parameter '{name}' of {what}" if name is not None
                               else f"parameter {i + 1} of {what}")
            ret = getattr(node, "ret_type", None)
            self.annotation_type(node, ret)
            self.make_slot(node, ret, f"the return value of {what}")
            for p in params:
                if p.default is not None:
                    self.expr(p.default)
            self.function_body(node, params, body, implicit)

    def function_body(self, node, params: list, body, implicit: tuple) -> None:
        outer, outer_async, outer_loops = self.owner, self.async_ok, self.loop_depth
        self.owner = node
        self.async_ok = isinstance(node, A.FnDecl) and node.is_async
        self.loop_depth = 0
        self.push("function", node, node)
        for name in implicit:
            self.declare(name, "param", True, None)
        for p in params:
            self.param(p)
        self.scope.cur = 1 << 30
        if isinstance(body, A.Block):
            self.block(body)
        else:
            self.expr(body)
        self.pop()
        self.owner, self.async_ok, self.loop_depth = outer, outer_async, outer_loops

    def param(self, p: A.Param) -> None:
        if isinstance(p.pattern, A.PBind):
            b = self.declare(p.pattern.name, "param", True, p.pattern)
            self.decls[id(p)] = b
            b.slot = self.slots.get(id(p))
            if p.by_ref:
                b.by_ref = b.ref_param = True
        else:
            self.pattern(p.pattern, "param", True)

    def pattern_uses(self, pat) -> None:
        """Resolve the names a pattern refers to (enum and struct heads) without declaring."""
        if isinstance(pat, A.PArray):
            for item in pat.items:
                self.pattern_uses(item)
        elif isinstance(pat, A.PObject):
            for _, sub in pat.fields:
                self.pattern_uses(sub)
        elif isinstance(pat, A.PVariant):
            if not (len(pat.path) == 1 and pat.path[0] in BUILTIN_PATTERNS):
                self.lookup(pat.path[0], pat)
            for sub in pat.args or []:
                self.pattern_uses(sub)
            for _, sub in pat.fields or []:
                self.pattern_uses(sub)
        elif isinstance(pat, A.PTyped):
            self.annotation_type(pat, pat.type)
            self.make_slot(pat, pat.type, "")

    def pattern(self, pat, kind: str, mutable: bool, index: Optional[int] = None,
                uses: bool = True, level: int = 0) -> None:
        """Declare the variables a pattern binds (and, unless told not to, resolve its heads)."""
        if level > MAX_PATTERN_DEPTH:
            raise self.error("CompileError", "Pattern is nested too deeply (more than "
                             f"{MAX_PATTERN_DEPTH} levels)", pat)
        level += 1
        if isinstance(pat, A.PBind):
            self.declare(pat.name, kind, mutable, pat, index)
        elif isinstance(pat, (A.PWild, A.PLit)):
            pass
        elif isinstance(pat, A.PTyped):
            if uses:
                self.annotation_type(pat, pat.type)
                self.make_slot(pat, pat.type, "")
            if pat.name is not None:
                self.declare(pat.name, kind, mutable, pat, index)
        elif isinstance(pat, A.PArray):
            for item in pat.items:
                self.pattern(item, kind, mutable, index, uses, level)
            if pat.has_rest and pat.rest and pat.rest != "_":
                self.declare(pat.rest, kind, mutable, pat, index)
        elif isinstance(pat, A.PObject):
            for _, sub in pat.fields:
                self.pattern(sub, kind, mutable, index, uses, level)
        elif isinstance(pat, A.PVariant):
            if uses and not (len(pat.path) == 1 and pat.path[0] in BUILTIN_PATTERNS):
                self.lookup(pat.path[0], pat)
            for sub in pat.args or []:
                self.pattern(sub, kind, mutable, index, uses, level)
            for _, sub in pat.fields or []:
                self.pattern(sub, kind, mutable, index, uses, level)
        else:  # pragma: no cover - parser produces no other pattern
            raise self.error("SyntaxError", f"Unknown pattern {type(pat).__name__}", pat)

    def loop_body(self, body: A.Block) -> None:
        self.loop_depth += 1
        self.block(body)
        self.loop_depth -= 1

    # ------------------------------------------------------------ expressions

    def assign_target(self, target, node) -> None:
        if isinstance(target, A.Name):
            b = self.lookup(target.name, target)
            if not b.mutable:
                raise self.error("AssignmentError",
                                 f"Cannot assign to immutable {self._what(b)} '{target.name}'", node)
        else:
            self.expr(target)

    @staticmethod
    def _what(b: Binding) -> str:
        return {"fn": "function", "enum": "enum", "type": "type", "builtin": "builtin",
                "const": "constant"}.get(b.kind, "variable")

    def expr(self, e) -> None:
        t = type(e)
        if t is A.Name:
            b = self.lookup(e.name, e)
            if b.kind == "builtin" and b.name == "snapshot":
                raise self.error("CompileError", "snapshot must be called directly, as snapshot()", e)
        elif t in (A.Literal, A.UnitLit):
            pass
        elif t is A.FString:
            for part in e.parts:
                if isinstance(part, A.FPart):
                    self.expr(part.expr)
        elif t is A.Path:
            self.lookup(e.parts[0], e)
        elif t is A.ArrayLit:
            for item in e.items:
                self.expr(item)
        elif t is A.Spread:
            self.expr(e.expr)
        elif t is A.ObjectLit:
            for entry in e.entries:
                self.expr(entry if isinstance(entry, A.Spread) else entry[1])
        elif t is A.StructLit:
            self.lookup(e.path[0], e)
            for _, v in e.fields:
                self.expr(v)
        elif t is A.Unary:
            self.expr(e.operand)
        elif t in (A.Binary, A.Pipe):
            self.expr(e.left)
            self.expr(e.right)
        elif t is A.Ternary:
            self.expr(e.cond)
            self.expr(e.then)
            self.expr(e.other)
        elif t is A.Assign:
            self.expr(e.value)
            self.assign_target(e.target, e)
        elif t is A.RefArg:
            b = self.lookup(e.name, e)
            if not b.mutable:
                raise self.error("AssignmentError",
                                 f"Cannot pass immutable {self._what(b)} '{e.name}' by reference", e)
            b.by_ref = True
        elif t is A.Call:
            callee = e.callee
            if type(callee) is A.Name and self.lookup(callee.name, callee).kind == "builtin" \
                    and callee.name == "snapshot":
                self.sites.append(e)
                self.site_scopes[id(e)] = self.scope
                self.keep.append(e)
            else:
                self.expr(callee)
            for a in e.args:
                self.expr(a)
        elif t is A.Member:
            self.expr(e.obj)
        elif t is A.Index:
            self.expr(e.obj)
            self.expr(e.index)
        elif t is A.Try:
            self.expr(e.expr)
        elif t is A.Lambda:
            self.function(e, e.params, e.body)
        elif t is A.FnExpr:
            self.function(e, e.params, e.body)
        elif t is A.Fuzzy:
            self.expr(e.left)
            self.expr(e.right)
        elif t is A.As:
            self.expr(e.expr)
            self.annotation_type(e, e.type)
            self.make_slot(e, e.type, "")
        elif t is A.DurationLit:
            pass
        elif t is A.Block:
            self.block(e)
        elif t is A.If:
            self.expr(e.cond)
            self.block(e.then)
            if e.other is not None:
                self.expr(e.other)
        elif t is A.Match:
            self.expr(e.subject)
            for arm in e.arms:
                self.push("arm", arm)
                self.pattern(arm.pattern, "pattern", False)
                self.scope.cur = 1 << 30
                if arm.guard is not None:
                    self.expr(arm.guard)
                self.expr(arm.body)
                self.pop()
        elif t is A.While:
            self.expr(e.cond)
            self.loop_body(e.body)
        elif t is A.For:
            self.expr(e.iterable)
            self.push("for", e)
            self.pattern(e.pattern, "pattern", False)
            self.scope.cur = 1 << 30
            self.loop_body(e.body)
            self.pop()
        elif t is A.Loop:
            self.loop_body(e.body)
        elif t is A.RangeExpr:
            self.expr(e.start)
            self.expr(e.end)
        elif t is A.Comprehension:
            depth = 0
            for clause in e.clauses:
                if isinstance(clause, A.CompFor):
                    self.expr(clause.iterable)
                    self.push("comp", clause)
                    self.pattern(clause.pattern, "pattern", False)
                    self.scope.cur = 1 << 30
                    depth += 1
                else:
                    self.expr(clause.cond)
            self.expr(e.expr)
            for _ in range(depth):
                self.pop()
        elif t is A.Await:
            if not self.async_ok:
                raise self.error("CompileError",
                                 "'await' is only allowed at top level and inside an async fn", e)
            if not e.annotations:
                self.expr(e.expr)
            else:
                # Past its first annotation, an annotated await runs as a thunk (a frame of its
                # own in the VM), so the variables declared inside it belong to the Await node.
                self.check_annotation(e.annotations[0], "await_expr")
                outer, outer_loops = self.owner, self.loop_depth
                self.owner = e
                self.loop_depth = 0     # `break` cannot leave the thunk for a loop around it
                try:
                    for ann in e.annotations[1:]:
                        self.check_annotation(ann, "await_expr")
                    self.expr(e.expr)
                finally:
                    self.owner, self.loop_depth = outer, outer_loops
        elif t in (A.FnDecl, A.Let, A.Return, A.Break, A.Continue, A.EnumDecl, A.TypeDecl,
                   A.TypeAlias, A.ExtendDecl, A.AnnotationDecl, A.ExprStmt, A.Import, A.TraitDecl, A.ImplDecl):
            self.stmt(e)
        else:  # pragma: no cover
            raise self.error("SyntaxError", f"Unknown expression {t.__name__}", e)


def impl_entries(res: Resolution, decl: A.ImplDecl) -> tuple[str, Optional[str], list]:
    """What impl `decl` gives at run time (spec/traits.md; runtime/traits.py): the type name its
    methods are for, the trait the type then implements (None for a named impl or a conversion),
    and the methods as (key, FnDecl): the impl's own, then the trait's defaults it does not
    override; `to_string` for Display's `display`; the operator traits' methods also under their
    operator's key (runtime/traits.py OPERATOR_KEYS); a conversion's method keyed by the
    trait's text (`Into<int>`), which only `as` looks up."""
    trait_ref = T.parse_type(decl.trait)
    type_name = impl_type(T.parse_type(decl.target).name)
    trait = res.type_uses.get(id(decl), {}).get(trait_ref.name)
    if trait is None and trait_ref.name in T.CONVERSION_TRAITS:
        return type_name, None, [(decl.trait, m) for m in decl.methods]
    if decl.name is not None:
        return type_name, None, []
    entries = [(m.name, m) for m in decl.methods]
    own = {m.name for m in decl.methods}
    if trait is not None:
        entries += [(m.name, m) for m in trait.node.members
                    if isinstance(m, A.FnDecl) and m.name not in own]
    if trait_ref.name == "Display":
        entries += [("to_string", m) for m in decl.methods if m.name == "display"]
    if trait_ref.name in T.OPERATOR_TRAITS:
        method = T.OPERATOR_TRAITS[trait_ref.name][1]
        entries += [(OPERATOR_KEYS[trait_ref.name], m) for m in decl.methods if m.name == method]
    return type_name, trait_ref.name, entries


# The resolutions of the last trees resolved, newest last: (weak reference to the tree, path,
# builtin names, Resolution). A tree is resolved once however often it is run or compiled (the
# snapshot oracle replays one tree per resumed event; recompile-and-resume checks a tree, then
# compiles it; the fuzzer and the conformance runner run one tree on several engines). Nothing
# changes a tree or its Resolution after resolving, so they can share it.
_RESOLVED: list[tuple[Any, Optional[str], tuple[str, ...], Resolution]] = []
_RESOLVED_KEEP = 4


def resolve(program: A.Program, builtin_names: Iterable[str], path: Optional[str] = None) -> Resolution:
    """Resolve every name in `program`, collect its comptime fields and check its annotations
    statically (ref/typecheck.py); raises NameError / AssignmentError / CompileError / TypeError
    (phase compile)."""
    names = tuple(builtin_names)
    for ref, p, n, res in _RESOLVED:
        if ref() is program and p == path and n == names:
            return res
    res = Resolver(names, path).program(program)
    res.comptime = comptime.collect(program, path, res.slots)
    typecheck.check(program, res, path)
    _RESOLVED.append((weakref.ref(program), path, names, res))
    del _RESOLVED[:-_RESOLVED_KEEP]
    return res
