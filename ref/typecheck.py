"""The static type pass: mismatches found before the run (spec/types.md §3).

Run by `resolver.resolve()` after the names are resolved, so both engines report the same
compile-time errors. It looks for values whose type is *evident* from the program (literals,
literal arrays, struct literals and enum variants, `as`, variables and parameters declared with a
type, calls of functions that declare a return type: §3 lists them) stored into a slot whose
declared type no value of that evident type conforms to; for a width slot, also constants outside
the width; for `as`, conversions that no value of the evident type survives; and calls of `Ok`,
`Err` and `Some` without exactly one argument (spec/smaller-items.md §6).

It decides with the run-time rules of runtime/types.py (the descriptors the resolver made for
every annotation) and raises their errors, with phase `compile` and the position of the value.
It is conservative: a mismatch is reported only when no value of the evident type could pass the
run-time check, so a program it accepts behaves as before and one it rejects would have failed
at the first store that runs (or is code that never runs: it is checked too). Every store it
cannot decide is left to run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from shapelang.ref import ast as A
from shapelang.ref import types as T
from shapelang.runtime.traits import conversion_trait, impl_type
from shapelang.runtime import types as Ty
from shapelang.runtime.arguments import argc
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.values import UNIT

# The built-ins whose calls have a fixed arity checked here, and the evident type of the call.
_ONE_ARGUMENT = ("Ok", "Err", "Some")
# A value of each kind that `as` converts exactly as it converts every value of the kind (the
# conversions of spec/types.md §5 depend on the kind only, apart from `as T?`'s result).
_SAMPLES = {"int": 0, "number": 0.0, "string": "", "bool": False, "None": None, "unit": UNIT,
            "array": [], "object": {}}


@dataclass
class Ev:
    """An evident type: `t` is an stype (runtime/types.py) every value of the expression has;
    `const` the value of an int constant; `items` the element nodes of an array literal."""
    t: list
    const: Optional[int] = None
    items: Optional[list] = None


def _name(t: list) -> str:
    """How a mismatch message names an evident type."""
    k = t[0]
    if k in ("s", "e"):
        return t[1]
    if k == "?":
        return _name(t[1]) + "?"
    return k


def possible(e: list, s: list, has: Callable[[str, str], bool]) -> bool:
    """Whether some value of evident stype `e` conforms to slot stype `s`; `has(type, trait)`
    says whether a type implements a trait."""
    if e[0] == "?":
        return possible(["None"], s, has) or possible(e[1], s, has)
    k = s[0]
    if k == "any":
        return True
    if k == "dyn":
        return all(has(_name(e), trait) for trait in s[1])
    if k == "?":
        return e[0] == "None" or possible(e, s[1], has)
    if k == "int" or k in Ty.WIDTHS:
        return e[0] == "int"
    if k == "number":
        return e[0] in ("int", "number")
    if k in ("s", "e"):
        return e == s
    return e[0] == k


def _width(s: list) -> Optional[str]:
    if s[0] == "?":
        s = s[1]
    return s[0] if s[0] in Ty.WIDTHS else None


class Checker:
    def __init__(self, res: Any, path: Optional[str]) -> None:
        self.res = res
        self.path = path
        self.found: list[ShapeError] = []
        # (type name, trait name) of every impl that makes a type implement a trait.
        self.implemented = {(impl_type(T.parse_type(target).name), T.parse_type(trait).name)
                            for target, trait in res.impls}

    def has(self, type_name: str, trait: str) -> bool:
        return (type_name, trait) in self.implemented

    # ------------------------------------------------------------ reporting

    def report(self, err: ShapeError, node: Any) -> None:
        err.phase = "compile"
        err.line, err.col = node.line or None, node.col or None
        err.file = self.path
        self.found.append(err)

    # ------------------------------------------------------------ evident types

    def binding(self, node: Any) -> Any:
        return self.res.uses.get(id(node))

    def evident(self, e: Any) -> Optional[Ev]:
        """The evident type of expression `e` (spec/types.md §3), or None."""
        t = type(e)
        if t is A.Literal:
            v = e.value
            tv = type(v)
            if tv is bool:
                return Ev(["bool"])
            if tv is int:
                return Ev(["int"], v)
            if tv is float:
                return Ev(["number"])
            if tv is str:
                return Ev(["string"])
            return Ev(["None"]) if v is None else None
        if t is A.UnitLit:
            return Ev(["unit"])
        if t is A.FString:
            return Ev(["string"])
        if t is A.DurationLit:
            return Ev(["duration"])
        if t is A.Unary and e.op == "-" and type(e.operand) is A.Literal:
            v = e.operand.value
            if type(v) is int:
                return Ev(["int"], -v)
            if type(v) is float:
                return Ev(["number"])
            return None
        if t is A.ArrayLit:
            spread = any(type(x) is A.Spread for x in e.items)
            return Ev(["array"], items=None if spread else e.items)
        if t is A.ObjectLit:
            return Ev(["object"])
        if t is A.StructLit:
            b = self.binding(e)
            if b is not None and b.kind == "type" and len(e.path) == 1:
                return Ev(["s", b.name])
            if b is not None and b.kind == "enum" and len(e.path) == 2:
                return Ev(["e", b.name])
            return None
        if t is A.Path:
            b = self.binding(e)
            if b is not None and b.kind == "enum" and len(e.parts) == 2:
                return Ev(["e", b.name])
            return None
        if t is A.RangeExpr:
            ends = (self.evident(e.start), self.evident(e.end))
            return Ev(["range"]) if all(x is not None and x.const is not None
                                        for x in ends) else None
        if t in (A.Lambda, A.FnExpr):
            return Ev(["function"])
        if t is A.As:
            if e.fallible:
                return Ev(["Result"])
            return self.declared(self.res.slots[id(e)][2])
        if t is A.Name:
            b = self.binding(e)
            if b is None:
                return None
            if b.slot is not None:
                return self.declared(b.slot[2])
            return Ev(["function"]) if b.kind == "fn" else None
        if t is A.Call:
            return self.call_type(e)
        return None

    @staticmethod
    def declared(s: list) -> Optional[Ev]:
        """The evident type of what a slot of stype `s` holds (a width slot holds ints)."""
        k = s[0]
        if k == "any" or k == "dyn":
            return None
        if k in Ty.WIDTHS:
            return Ev(["int"])
        if k == "?":
            inner = Checker.declared(s[1])
            return None if inner is None else Ev(["?", inner.t])
        return Ev(s)

    def call_type(self, e: A.Call) -> Optional[Ev]:
        callee = e.callee
        if type(callee) is A.Path:
            b = self.binding(callee)
            return Ev(["e", b.name]) if b is not None and b.kind == "enum" \
                and len(callee.parts) == 2 else None
        if type(callee) is not A.Name:
            return None
        b = self.binding(callee)
        if b is None:
            return None
        if b.kind == "builtin":
            if b.name in ("Ok", "Err"):
                return Ev(["Result"])
            if b.name == "HashMap":
                return Ev(["HashMap"])
            return None
        decl = self.function(b)
        if decl is None:
            return None
        ret = self.res.slots.get(id(decl))
        return None if ret is None else self.declared(ret[2])

    def function(self, b: Any) -> Optional[A.FnDecl]:
        """The declaration a call of binding `b` runs with the arguments as given: a function
        declaration without annotations (which may change the arguments) that is not async."""
        decl = b.node
        if b.kind != "fn" or type(decl) is not A.FnDecl or decl.annotations or decl.is_async:
            return None
        return decl

    # ------------------------------------------------------------ the checks

    def store(self, value: Any, slot: Optional[list], node: Any = None, fit: bool = False) -> None:
        """`value` (an expression) is stored into `slot`; with `fit`, a constant must fit in a
        width slot (a `let` initialiser and a struct literal's field: spec/types.md §3; a
        constant argument or assignment wraps as at run time)."""
        if slot is None or value is None:
            return
        ev = self.evident(value)
        if ev is None:
            return
        s = slot[2]
        if not possible(ev.t, s, self.has):
            found = _name(ev.t)
            self.report(Ty.mismatch(slot[0], slot[1], found,
                                    Ty.missing_traits(found, s, self.has)), value)
            return
        width = _width(s)
        if fit and width is not None and ev.const is not None \
                and not Ty.in_width(ev.const, width):
            self.report(Ty.does_not_fit(slot[0], slot[1], width, ev.const), value)
            return
        elements = self.res.elements.get(id(node)) if node is not None else None
        if elements is not None and ev.items is not None and s[0] == "array":
            text, item = elements
            for x in ev.items:
                self.store(x, [f"an element of {slot[0]}", text, item])

    def convert(self, e: A.As) -> None:
        """`e as T` / `e as T?` whose source has an evident kind that it cannot convert."""
        ev = self.evident(e.expr)
        if ev is None:
            return
        slot = self.res.slots[id(e)]
        target = [slot[1], slot[2]]
        if ev.t[0] in ("s", "e"):
            # A struct or enum value converts by an impl of Into<T> / TryInto<T> (traits.md §5).
            trait = conversion_trait(slot[1], e.fallible)
            if (ev.t[1], trait) in self.res.impls:
                return
            if e.fallible:
                self.report(Ty.cannot_try_convert(ev.t[1], slot[1]), e)
            elif not possible(ev.t, slot[2], self.has):
                self.report(Ty.cannot_convert(ev.t[1], slot[1]), e)
            return
        if ev.t[0] not in _SAMPLES:
            return
        if "dyn" in repr(slot[2]):
            return
        try:
            if e.fallible:
                Ty.try_convert(_SAMPLES[ev.t[0]], target)
            else:
                Ty.convert(_SAMPLES[ev.t[0]], target)
        except ShapeError as err:
            self.report(err, e)

    def call(self, e: A.Call) -> None:
        callee = e.callee
        args = e.args
        spread = next((i for i, a in enumerate(args) if type(a) is A.Spread), len(args))
        if type(callee) is A.Path:
            b = self.binding(callee)
            if b is None or b.kind != "enum" or len(callee.parts) != 2:
                return
            variant = next((v for v in b.node.variants if v.name == callee.parts[1]), None)
            if variant is None or variant.kind != "tuple":
                return
            slots = self.res.slots.get(id(variant), [])
            for a, slot in zip(args[:spread], slots):
                self.store(a, slot)
            return
        if type(callee) is not A.Name:
            return
        b = self.binding(callee)
        if b is None:
            return
        if b.kind == "builtin" and b.name in _ONE_ARGUMENT:
            if spread == len(args):
                try:
                    argc(f"{b.name}()", args, 1)
                except ShapeError as err:
                    self.report(err, e)
            return
        decl = self.function(b)
        if decl is None:
            return
        for a, p in zip(args[:spread], decl.params):
            if type(a) is not A.RefArg:
                self.store(a, self.res.slots.get(id(p)), p)

    def struct_literal(self, e: A.StructLit) -> None:
        b = self.binding(e)
        if b is None:
            return
        if b.kind == "type" and len(e.path) == 1:
            slots = {f.name: (self.res.slots.get(id(f)), f) for f in b.node.fields
                     if type(f) is A.FieldDecl}
        elif b.kind == "enum" and len(e.path) == 2:
            variant = next((v for v in b.node.variants if v.name == e.path[1]), None)
            if variant is None or variant.kind != "struct":
                return
            slots = {f: (slot, None) for f, slot in zip(variant.fields,
                                                         self.res.slots.get(id(variant), []))}
        else:
            return
        for name, value in e.fields:
            slot, node = slots.get(name, (None, None))
            self.store(value, slot, node, fit=True)

    def assign(self, e: A.Assign) -> None:
        if e.op != "=":
            return
        target = e.target
        if type(target) is A.Name:
            b = self.binding(target)
            if b is not None and b.slot is not None:
                self.store(e.value, b.slot, b.node if type(b.node) is A.Param else None)
        elif type(target) is A.Member:
            obj = self.evident(target.obj)
            decl = self.struct_decl(obj.t[1]) if obj is not None and obj.t[0] == "s" else None
            if decl is None:
                return
            field = next((f for f in decl.fields
                          if type(f) is A.FieldDecl and f.name == target.name), None)
            if field is not None:
                self.store(e.value, self.res.slots.get(id(field)), field)

    def struct_decl(self, name: str) -> Optional[A.TypeDecl]:
        """The declaration of struct type `name`, if only one declares that name."""
        decls = [d for d in self.res.struct_decls if d.name == name]
        return decls[0] if len(decls) == 1 else None

    def body_value(self, fn: Any) -> None:
        """The value of a function body's last expression is returned."""
        slot = self.res.slots.get(id(fn))
        stmts = fn.body.stmts
        if slot is not None and stmts and type(stmts[-1]) is A.ExprStmt and not stmts[-1].semi:
            self.store(stmts[-1].expr, slot, fn)

    # ------------------------------------------------------------ the walk

    def run(self, program: A.Program) -> None:
        # Walk without recursion; each node with the function declaration whose `return`s it
        # holds (None at the top level and in lambdas).
        stack: list = [(program, None)]
        while stack:
            n, fn = stack.pop()
            t = type(n)
            if t is A.Let:
                self.store(n.value, self.res.slots.get(id(n)), n, fit=True)
            elif t is A.Call:
                self.call(n)
            elif t is A.StructLit:
                self.struct_literal(n)
            elif t is A.Assign:
                self.assign(n)
            elif t is A.As:
                self.convert(n)
            elif t is A.Return and fn is not None:
                value = n.value if n.value is not None else A.UnitLit(line=n.line, col=n.col)
                self.store(value, self.res.slots.get(id(fn)), fn)
            elif t is A.Param and n.default is not None:
                self.store(n.default, self.res.slots.get(id(n)), n)
            elif t is A.FieldDecl and n.default is not None:
                self.store(n.default, self.res.slots.get(id(n)), n)
            if t in (A.FnDecl, A.FnExpr):
                self.body_value(n)
                fn = n
            elif t is A.Lambda:
                fn = None
            children = list(A.iter_child_nodes(n))
            children.reverse()
            stack.extend((c, fn) for c in children)


def check(program: A.Program, res: Any, path: Optional[str] = None) -> None:
    """Raise the first (in source order) TypeError that the program's evident types show."""
    c = Checker(res, path)
    c.run(program)
    if c.found:
        raise min(c.found, key=lambda err: (err.line or 0, err.col or 0))
