"""What a loaded snapshot state must satisfy before a machine runs it.

The codec (vm/codec.py) only decodes data: lists, dicts, scalars and the record classes of the
registry, with any values in any fields. The threaded code, though, trusts what the compiler
guaranteed when it wrote the state: that a cell slot holds a cell, that a `for` loop's slots hold
its sequence and an int index, that a closure carries one cell per free variable of its code,
that a range has int bounds. A snapshot is untrusted input (anyone with write access to a store
can put one there under its new hash), so `check_state` checks all of it when a snapshot is
loaded, for a full resume and for a recompile alike:

- the call stack: every frame names stored code and stands at an instruction of it with the
  operand stack that instruction expects; the outermost frame runs the program's module code and
  no other frame does;
- the registers of each frame: what each register and operand-stack entry holds at that
  position (a cell, a loop's sequence or index, a comprehension's list, a string, a value): the
  kinds the verifier finds along every path of the code (`vm/verify.frame_kinds`, which already
  refused stored code that would use a register as what it may not hold);
- every value reachable from the state has the form its class promises (`_Values`), and every
  container plays one part only: an array that is also a frame's registers or a closure's cells
  would let the program corrupt the machine.
"""
from __future__ import annotations

from typing import Any, Callable

from shapelang.runtime import durations as Dur, stdlib, types as Ty, values as V
from shapelang.runtime.errors import ShapeError
from shapelang.runtime.iterators import IteratorValue, IterLoop
from shapelang.vm import frame as F
from shapelang.vm import objects as O
from shapelang.vm import operands as K
from shapelang.vm.verify import frame_kinds



def check_state(machine: Any, entry: str, blobs: dict, registry: Any,
                bad: Callable[[str], ShapeError]) -> None:
    """Raise `bad(what)` unless `machine` (a decoded `Machine.export_state()`) can be run on
    `blobs` with `entry` as the program's module code."""
    if type(machine) is not dict:
        raise bad("the machine state is not a table")
    values = _Values(blobs, registry, bad)
    _check_frames(machine, entry, blobs, values, bad)
    for key, part in (("methods", _METHODS), ("prelude", _PRELUDE)):
        table = machine.get(key)
        if table is None:
            continue
        if type(table) is not dict:
            raise bad(f"{key} is not a table")
        values.claim(table, part)
        for name, fns in table.items():
            if type(name) is not str:
                raise bad(f"{key} has a name that is not a string")
            if key == "methods":
                if type(fns) is not dict:
                    raise bad("methods of a type are not a table")
                values.claim(fns, _METHODS)
                for mname, fn in fns.items():
                    if type(mname) is not str or not values.is_callable(fn):
                        raise bad("a method is not a function")
                    values.value(fn)
            elif type(fns) is not O.Closure:
                raise bad("a prelude entry is not a function")
            else:
                values.value(fns)
    if machine.get("pending") not in (None, "snapshot"):
        raise bad("unknown pending call")
    if machine.get("pending_ordinal") is not None and type(machine["pending_ordinal"]) is not int:
        raise bad("bad snapshot ordinal")
    values.finish()


# ---------------------------------------------------------------- frames

def _check_frames(machine: dict, entry: str, blobs: dict, values: "_Values",
                  bad: Callable[[str], ShapeError]) -> None:
    frames = machine.get("frames")
    if type(frames) is not list:
        raise bad("no call stack")
    values.claim(frames, _FRAMES)
    pending = machine.get("pending") == "snapshot"
    for i, fr in enumerate(frames):
        if not (type(fr) is list and len(fr) == F.STORED_SIZE):
            raise bad("a frame is not [code, position, registers, task]")
        values.claim(fr, _FRAME)
        bid, pc = fr[F.STORED_BID], fr[F.STORED_PC]
        regs, task = fr[F.STORED_REGS], fr[F.STORED_KIND]
        blob = blobs.get(bid) if type(bid) is str else None
        if blob is None:
            raise bad("a frame runs code the snapshot does not include")
        if (i == 0) != (bid == entry) or (i > 0 and blob.kind == "module"):
            raise bad("the outermost frame must run the program's module code, and only it")
        if type(pc) is not int or not 0 <= pc < len(blob.code):
            raise bad("a frame's position is outside its code")
        if type(regs) is not list or len(regs) < blob.nlocals:
            raise bad("a frame is missing registers")
        values.claim(regs, _REGS)
        if task not in F.KINDS:
            raise bad("a frame has an unknown task mark")
        top = i + 1 == len(frames)
        # (Where a frame may stand is the threaded code's business: a unit boundary, which the
        # machine checks when it builds the frames. From there on, the code at `pc` runs with
        # the operand stack and the registers checked here.)
        # The code at `pc` pops what the verifier says is on the operand stack there, less the
        # value still to come: the result of the call above this frame (unless that call's
        # result is dropped) or, on top, of the pending snapshot() call.
        if not top:
            above = frames[i + 1]
            coming = 0 if (type(above) is list and len(above) == F.STORED_SIZE
                           and above[F.STORED_KIND] == "drop") else 1
        else:
            coming = 1 if pending else 0
        at = frame_kinds(blob)[pc]
        if at is None or len(regs) - blob.nlocals != len(at[1]) - coming:
            raise bad("a frame's operand stack does not fit its position")
        slots, stack = at
        for s, v in enumerate(regs):
            kind = slots[s] if s < blob.nlocals else stack[s - blob.nlocals]
            if not values.fits(v, kind):
                raise bad(f"register {s} of {blob.name or blob.kind} at {pc} must hold a "
                          f"{_SHOWN.get(kind, kind)}")
            # A walk over a sequence counts its index up from 0 (runtime/iteration.for_start);
            # a negative one would read Python's negative indexes. A range's index is its
            # current int, which may be negative.
            if kind == K.ITER and type(v) is not int and s + 1 < len(regs) \
                    and type(regs[s + 1]) is int and regs[s + 1] < 0:
                raise bad(f"register {s + 1} of {blob.name or blob.kind} at {pc} must hold a "
                          f"loop index of at least 0")


# ---------------------------------------------------------------- values

# The part a container plays in the state; values and cells may be shared, the rest may not.
VALUE, CELL = "value", "cell"
_FRAMES, _FRAME, _REGS, _CELLS = "call stack", "frame", "registers", "closure cells"
_METHODS, _PRELUDE, _VARIANTS, _FIELDS = "method table", "prelude table", "variants", "fields"
_SHARED = (VALUE, CELL)
# What a register of each verifier kind (vm/operands.py) holds, beyond being a value.
_FORMS: dict[str, tuple[type, ...]] = {K.LIST: (list,), K.STRING: (str,),
                                       K.ITER: (list, str, int, IterLoop), K.INDEX: (int,)}
_SHOWN = {K.CELL: "cell", K.LIST: "list", K.STRING: "string", K.ITER: "loop's sequence",
          K.INDEX: "loop index", K.VALUE: "value"}


class _Values:
    """Checks every value reachable from the registers and tables (without recursion)."""

    def __init__(self, blobs: dict, registry: Any, bad: Callable[[str], ShapeError]) -> None:
        self.blobs = blobs
        self.constants = registry.constant_ids
        self.bad = bad
        self.parts: dict[int, str] = {}
        self.todo: list[tuple[Any, str]] = []

    def claim(self, obj: Any, part: str) -> bool:
        """Record that `obj` plays `part`; True the first time it is seen."""
        seen = self.parts.get(id(obj))
        if seen is None:
            self.parts[id(obj)] = part
            return True
        if seen != part or part not in _SHARED:
            raise self.bad(f"one object is used as {seen} and as {part}")
        return False

    def value(self, v: Any) -> None:
        self.todo.append((v, VALUE))

    def cell(self, c: Any) -> None:
        self.todo.append((c, CELL))

    def is_callable(self, v: Any) -> bool:
        return isinstance(v, V.FunctionValue)

    def fits(self, v: Any, kind: str) -> bool:
        """Whether register content `v` is what a register of verifier kind `kind` holds (and
        queue it for the value checks). TOP may be a value or a cell."""
        if kind == K.CELL or (kind == K.TOP and type(v) in O.CELL_TYPES):
            if type(v) not in O.CELL_TYPES:
                return False
            self.cell(v)
            return True
        if kind in _FORMS and type(v) not in _FORMS[kind]:
            return False
        self.value(v)
        return True

    def finish(self) -> None:
        todo = self.todo
        while todo:
            v, part = todo.pop()
            if part == CELL:
                if type(v) not in O.CELL_TYPES:
                    raise self.bad("a cell is not a cell")
                if type(v) is O.TypedCell and not Ty.is_slot(v.t):
                    raise self.bad("a typed cell's type is malformed")
                if self.claim(v, CELL) and v.v is not O.UNINIT:
                    todo.append((v.v, VALUE))
            else:
                self._value(v)

    def _value(self, v: Any) -> None:
        t = type(v)
        if v is None or t is bool or t is int or t is float or t is str or v is V.UNIT:
            return
        if t is list:
            if self.claim(v, VALUE):
                self.todo.extend((x, VALUE) for x in v)
            return
        if t is dict:
            if self.claim(v, VALUE):
                self._fields(v, "an object")
            return
        if id(v) in self.constants:        # builtins and the registry's other singletons
            if v is O.UNINIT or type(v) is V._BoolKey:
                raise self.bad("an internal marker is used as a value")
            return
        check = _RECORD_CHECKS.get(t)
        if check is None:
            raise self.bad(f"a {t.__name__} is not a value")
        if self.claim(v, VALUE):
            check(self, v)

    def _fields(self, d: Any, what: str) -> None:
        for k, x in d.items():
            if type(k) is not str:
                raise self.bad(f"{what} has a field name that is not a string")
            self.todo.append((x, VALUE))

    def need(self, ok: bool, what: str) -> None:
        if not ok:
            raise self.bad(what)

    def code(self, bid: Any) -> Any:
        blob = self.blobs.get(bid) if type(bid) is str else None
        self.need(blob is not None, "a closure refers to code that is not stored")
        self.need(blob.kind != "module", "a closure runs module code")
        return blob


def _name(x: Any) -> bool:
    return x is None or type(x) is str


def _slot(x: Any) -> bool:
    return x is None or Ty.is_slot(x)


def _closure(w: _Values, c: Any) -> None:
    blob = w.code(c.bid)
    w.need(_name(c.name), "a closure's name is not a string")
    w.need(type(c.cells) is list and len(c.cells) == blob.nfree,
           "a closure's cells do not fit its code")
    w.claim(c.cells, _CELLS)
    w.todo.extend((x, CELL) for x in c.cells)


def _struct_value(w: _Values, s: Any) -> None:
    w.need(type(s.type_name) is str and type(s.fields) is dict, "a struct value is malformed")
    w._fields(s.fields, "a struct")


def _enum_value(w: _Values, e: Any) -> None:
    w.need(type(e.enum) is str and type(e.variant) is str, "an enum value is malformed")
    p = e.payload
    if type(p) is tuple:
        w.todo.extend((x, VALUE) for x in p)
    elif type(p) is dict:
        w.claim(p, _FIELDS)
        w._fields(p, "an enum variant")
    else:
        w.need(p is None, "an enum value's payload is malformed")


def _range(w: _Values, r: Any) -> None:
    w.need(type(r.start) is int and type(r.end) is int and type(r.inclusive) is bool,
           "a range is malformed")


def _duration(w: _Values, d: Any) -> None:
    w.need(type(d.ms) is int and Dur.MS_MIN <= d.ms <= Dur.MS_MAX, "a duration is malformed")


def _hashmap(w: _Values, m: Any) -> None:
    w.need(type(m.entries) is dict, "a HashMap is malformed")
    w.claim(m.entries, _FIELDS)
    for k, x in m.entries.items():
        w.need(k is None or type(k) in (str, int, float, V._BoolKey) or k is V.UNIT,
               "a HashMap key is malformed")
        w.todo.append((x, VALUE))


def _variant_ctor(w: _Values, c: Any) -> None:
    w.need(type(c.enum) is str and type(c.name) is str and c.kind in ("unit", "tuple", "struct")
           and type(c.types) is list and all(_slot(t) for t in c.types),
           "a variant constructor is malformed")


def _bound_method(w: _Values, m: Any) -> None:
    w.need(_name(m.name) and w.is_callable(m.fn), "a bound method is malformed")
    w.todo.append((m.fn, VALUE))
    w.todo.append((m.receiver, VALUE))


def _annotated(w: _Values, f: Any) -> None:
    w.need(_name(f.name) and w.is_callable(f.fn) and type(f.wrapper) is O.Closure,
           "an annotated function is malformed")
    w.todo.append((f.fn, VALUE))
    w.todo.append((f.wrapper, VALUE))


def _enum_type(w: _Values, e: Any) -> None:
    w.need(type(e.name) is str and type(e.variants) is dict, "an enum type is malformed")
    w.claim(e.variants, _VARIANTS)
    for name, spec in e.variants.items():
        w.need(type(name) is str and type(spec) is list and len(spec) == 3
               and spec[0] in ("unit", "tuple", "struct") and type(spec[1]) is list
               and all(_slot(t) for t in spec[1]) and type(spec[2]) is list
               and all(type(f) is str for f in spec[2]), "an enum type's variant is malformed")


def _struct_type(w: _Values, s: Any) -> None:
    w.need(type(s.name) is str and type(s.fields) is list
           and (s.defaults is None or type(s.defaults) is O.Closure), "a struct type is malformed")
    w.claim(s.fields, _FIELDS)
    for f in s.fields:
        w.need(type(f) is list and len(f) == 4 and type(f[0]) is str and _slot(f[1])
               and f[2] in (0, 1, 2) and type(f[2]) is int, "a struct type's field is malformed")
        w.todo.append((f[3], VALUE))
    if s.defaults is not None:
        w.todo.append((s.defaults, VALUE))


def _iterator(w: _Values, it: Any) -> None:
    w.need(it.well_formed(), "an iterator is malformed")
    w.todo.append((it.source, VALUE))
    w.todo.extend((arg, VALUE) for _, arg in it.stages)


def _iter_loop(w: _Values, loop: Any) -> None:
    # The walk's contents are the prelude's values; it checks their form as it goes.
    w.need(loop.well_formed(), "a loop over an iterator is malformed")
    w.todo.append((loop.walk, VALUE))


def _one_value(w: _Values, r: Any) -> None:
    w.todo.append((r.value, VALUE))


def _task(w: _Values, t: Any) -> None:
    w.todo.append((t.result, VALUE))


def _cell_as_value(w: _Values, c: Any) -> None:
    raise w.bad("a cell is used as a value")


def _type_value(w: _Values, t: Any) -> None:
    w.need(type(t.name) is str, "a type value is malformed")


# Every record class of the codec's registry (vm/objects.py RECORDS) has its check here; a test
# keeps the two lists in step.
_RECORD_CHECKS: dict[type, Callable[[_Values, Any], None]] = {
    O.Cell: _cell_as_value,
    O.TypedCell: _cell_as_value,
    O.Closure: _closure,
    O.EnumType: _enum_type,
    O.StructType: _struct_type,
    O.VariantConstructor: _variant_ctor,
    O.Task: _task,
    O.BoundMethod: _bound_method,
    O.AnnotatedFunction: _annotated,
    V.StructValue: _struct_value,
    V.EnumValue: _enum_value,
    V.Ok: _one_value,
    V.Err: _one_value,
    V.RangeValue: _range,
    V.HashMapValue: _hashmap,
    IteratorValue: _iterator,
    IterLoop: _iter_loop,
    Dur.Duration: _duration,
    V.TypeValue: _type_value,
}


def _std_record(w: _Values, r: Any) -> None:
    # Records of the std modules (a line reader) check their own plain fields.
    w.need(r.well_formed(), f"a {type(r).__name__} is malformed")


for _cls, _ in stdlib.records():
    _RECORD_CHECKS[_cls] = _std_record


def record_checks() -> dict[type, Callable[[_Values, Any], None]]:
    return dict(_RECORD_CHECKS)
