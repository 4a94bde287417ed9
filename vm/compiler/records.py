"""Lowering of struct and enum types: declarations, literals and variant construction.

A literal whose type is a declaration in scope (types and enums are immutable, hoisted
bindings) is built with no run-time lookups (BUILD_RECORD, BUILD_VARIANT, MAKE_VARIANT);
any other goes through the generic instructions, which report every error exactly as the
reference does. Non-constant field defaults compile to a `defaults` thunk blob.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.ref import ast as A
from shapelang.ref.comptime import instance_fields
from shapelang.ref.constants import const_value
from shapelang.ref.resolver import Binding, Resolution
from shapelang.runtime import records as Rec
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.types import check_slot
from shapelang.vm import opcodes as O
from shapelang.vm.compiler.analysis import Analysis
from shapelang.vm.compiler.assembler import Label
from shapelang.vm.compiler.fncode import FnCode


class RecordLowering:
    """Structs and enums (a part of lowering.Compiler)."""
    fc: FnCode
    res: Resolution
    an: Analysis

    def make_struct_type(self, st: A.TypeDecl) -> None:
        fc = self.fc
        fields = []
        dynamic = False
        for f in instance_fields(st):
            slot = self.res.slots.get(id(f))
            if f.default is None:
                fields.append([f.name, slot, 0, None])
            else:
                cv = const_value(f.default)
                if cv is not None:
                    fields.append([f.name, slot, 1, cv[0]])
                else:
                    fields.append([f.name, slot, 2, None])
                    dynamic = True
        if dynamic:
            bid = self.compile_defaults(st)
            self.emit_closure(st, bid)
        fc.emit(O.MAKE_STRUCT_TYPE, fc.const([st.name, fields, self.res.generics[id(st)]]),
                1 if dynamic else 0)

    def payload_slots(self, variant: A.Variant) -> list:
        """The slot descriptors (or None) of a variant's payloads."""
        return self.res.slots.get(id(variant)) or [None] * len(variant.types)

    def compile_defaults(self, decl: A.TypeDecl) -> str:
        """The thunk that fills a struct's non-constant field defaults: (type, given) -> struct."""
        outer = self.fc
        fc = self.fc = FnCode(self, decl, "defaults", decl.name)
        s_type = fc.new_slot("$type")
        s_given = fc.new_slot("$given")
        free = fc.add_free_cells(self.an.free_of(decl))
        for f in instance_fields(decl):
            if f.default is None or const_value(f.default) is not None:
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

    def static_record(self, e: A.StructLit, b: Binding) -> Optional[list]:
        """How to build `e` with no run-time lookups, when its type is a declaration in scope
        (types and enums are immutable, hoisted bindings) and the literal is complete and valid;
        None otherwise (the generic path then reports any error exactly as the reference)."""
        names = [n for n, _ in e.fields]
        if len(set(names)) != len(names):
            return None
        slots = self.res.slots
        if b.kind == "type" and isinstance(b.node, A.TypeDecl) and len(e.path) == 1:
            decl = b.node
            declared = [f.name for f in instance_fields(decl)]
            if any(n not in declared for n in names):
                return None
            fields = []
            for f in instance_fields(decl):
                slot = slots.get(id(f))
                if f.name in names:
                    fields.append([f.name, slot, names.index(f.name), None])
                    continue
                cv = const_value(f.default) if f.default is not None else None
                if cv is None:
                    return None
                # A constant default is stored as its slot stores it (one the slot does not
                # accept takes the generic path, which reports it).
                v = cv[0]
                if slot is not None:
                    try:
                        v = check_slot(v, slot)
                    except ShapeError:
                        return None
                fields.append([f.name, None, -1, v])
            return ["struct", decl.name, "", fields]
        if b.kind == "enum" and isinstance(b.node, A.EnumDecl) and len(e.path) == 2:
            variant = next((v for v in b.node.variants if v.name == e.path[1]), None)
            if variant is None or variant.kind != "struct" or sorted(names) != sorted(variant.fields):
                return None
            fields = [[fn, slot, names.index(fn), None]
                      for fn, slot in zip(variant.fields, self.payload_slots(variant))]
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
            needs_call = any(f.default is not None and const_value(f.default) is None
                             for f in b.node.fields)
        elif b.kind == "enum" or (b.kind == "builtin" and b.name == "Snapshot"):
            needs_call = False
        op = O.BUILD_STRUCT if needs_call else O.STRUCT_LITERAL
        fc.emit(op, fc.const([e.path, names]), len(names))

    def ex_path(self, e: A.Path) -> None:
        fc = self.fc
        sv = self.static_variant(e)
        if sv is not None and sv[1].kind == "unit":
            fc.emit(O.MAKE_VARIANT, fc.const([sv[0], sv[1].name]))
            return
        b = self.res.use(e)
        if len(e.parts) == 2 and b.kind == "type" and isinstance(b.node, A.TypeDecl):
            found = Rec.comptime_of(b.node.name, self.res.comptime.get(e.parts[1], ()))
            if found:
                fc.emit(O.LOAD_CONST, fc.const(found[0]))   # `Type::name`, a comptime field
                return
        self.load(b)
        if len(e.parts) == 2:
            fc.emit(O.GET_VARIANT, fc.const([e.parts[1], "::".join(e.parts)]))
        else:
            fc.emit(O.RAISE, fc.const(["TypeError", f"Cannot resolve path {'::'.join(e.parts)}"]))
            fc.reachable = True
