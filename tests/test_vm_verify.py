"""The blob verifier (vm/verify.py): stored code that breaks the opcode record is refused."""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Optional

import pytest

from shapelang.vm import opcodes as O
from shapelang.vm import operands as K
from shapelang.vm import threader
from shapelang.vm.blob import Blob, BlobError
from shapelang.vm.compiler import compile_source

from test_vm_opcodes import golden_programs, user_blobs


def forged(blob: Blob, **changes: Any) -> Blob:
    return dataclasses.replace(blob, _id=None, **changes)


def load(blob: Blob) -> Blob:
    return Blob.from_bytes(blob.to_bytes(), blob.id)


def out_of_range(kind: K.Kind, blob: Blob, pc: int, v: int) -> Optional[int]:
    """A value the operand kind must refuse at this instruction (None: every int is valid)."""
    if kind is K.NONE:
        return 1
    if isinstance(kind, K.Slot):
        return blob.nlocals - kind.width + 1
    if kind is K.TARGET:
        return len(blob.code)
    if isinstance(kind, K.Count):
        return kind.min - 1 if kind.min else None
    if isinstance(kind, K.Flag):
        return 2
    if isinstance(kind, K.Index):   # children, operators of BINARY and FUZZY
        return kind.size(blob)
    if kind is K.ORDINAL:
        return v + 1
    if isinstance(kind, K.Const):
        return len(blob.consts)
    raise AssertionError(f"no out-of-range value for {kind!r}")


def first_uses():
    """(program, blob, pc) of the first use of each opcode in the golden programs."""
    seen: set[int] = set()
    for program in golden_programs():
        for blob in user_blobs(program):
            for pc, (op, _, _) in enumerate(blob.code):
                if op not in seen:
                    seen.add(op)
                    yield program, blob, pc


def test_every_operand_out_of_its_kinds_range_is_refused():
    checked = set()
    for _, blob, pc in first_uses():
        assert load(blob).id == blob.id
        op, a, b = blob.code[pc]
        info = O.INFO[op]
        for field, kind, v in ((1, info.a, a), (2, info.b, b)):
            bad = out_of_range(kind, blob, pc, v)
            if bad is None:
                continue
            code = copy.deepcopy(blob.code)
            code[pc][field] = bad
            with pytest.raises(BlobError, match=f"operand {'ab'[field - 1]} .* of {info.name}"):
                load(forged(blob, code=code))
            checked.add(type(kind))
    assert checked >= {type(k) for k in (K.NONE, K.SLOT, K.TARGET, K.ORDINAL, O.CHILD, O.NAME,
                                          O.KEEP, O.VALUES)}


def _wrong_values(v: Any) -> list:
    """Values of other types and shapes than constant v, and v with one part changed."""
    out: list = [None, 0, -1, 1.5, "s", True, [], [None], [[["deep"]]]]
    if type(v) is list:
        for i, x in enumerate(v):
            for y in (None, 7, "t", [], [x]):
                w = copy.deepcopy(v)
                w[i] = y
                out.append(w)
        out.append(v[:-1])
        out.append(v + [0])
    return [w for w in out if w != v or type(w) is not type(v)]


def test_forged_constants_are_refused_or_safe_to_thread():
    """The threader trusts every blob the verifier accepts: a constant of the wrong shape is
    either refused or one the generated code handles."""
    refused = accepted = 0
    for program, blob, pc in first_uses():
        op, a, b = blob.code[pc]
        info = O.INFO[op]
        for kind, v in ((info.a, a), (info.b, b)):
            if not isinstance(kind, K.Const):
                continue
            for w in _wrong_values(blob.consts[v]):
                consts = list(blob.consts)
                consts[v] = w
                try:
                    loaded = load(forged(blob, consts=consts))
                except BlobError:
                    refused += 1
                    continue
                accepted += 1
                threader.compile_blob(loaded, program.blobs)
    assert refused > 300 and accepted > 0


def _program_with(op: int, src: str):
    program = compile_source(src)
    for blob in user_blobs(program):
        for pc, ins in enumerate(blob.code):
            if ins[0] == op:
                return blob, pc
    raise AssertionError(f"{O.NAMES[op]} not in {src!r}")


def _set_const(which: int, f: Callable[[Any, Blob, list], Any]):
    def forge(blob: Blob, pc: int) -> Blob:
        consts = copy.deepcopy(blob.consts)
        ins = blob.code[pc]
        consts[ins[which]] = f(consts[ins[which]], blob, ins)
        return forged(blob, consts=consts)
    return forge


CASES = [
    ("match subject slot out of range", O.MATCH, "match 1 { 1 => 2, _ => 3 }\n",
     _set_const(1, lambda d, bl, ins: [bl.nlocals, d[1]])),
    ("pattern binds a register that does not exist", O.MATCH,
     "match [1] { [x] => x, _ => 0 }\n",
     _set_const(1, lambda d, bl, ins: [d[0], ["a", [["b", bl.nlocals, 0]], 0, None]])),
    ("unknown pattern tag", O.DESTRUCTURE, "let [a, b] = [1, 2]\n",
     _set_const(1, lambda d, bl, ins: ["q", d[1]])),
    ("array rest that is not a binding", O.DESTRUCTURE, "let [a, ...r] = [1, 2]\n",
     _set_const(1, lambda d, bl, ins: d[:3] + [["_"]])),
    ("invalid-pattern error of an unknown kind", O.MATCH, "match 1 { Ok(a, b) => 1, _ => 2 }\n",
     _set_const(1, lambda d, bl, ins: [d[0], ["x", "NoSuchError", "m"]])),
    ("unknown builtin", O.CALL_BUILTIN, "print(1)\n",
     _set_const(1, lambda d, bl, ins: "no_such_builtin")),
    ("builtin name that is not a string", O.LOAD_BUILTIN, "let f = len\n",
     _set_const(1, lambda d, bl, ins: ["len"])),
    ("spread builtin call of an unknown builtin", O.CALL_BUILTIN_VAR, "print(...[1])\n",
     _set_const(1, lambda d, bl, ins: "nope")),
    ("prelude name without the __ prefix", O.LOAD_PRELUDE,
     "annotation a { before() { 1 } }\n@a fn f() { 1 }\n",
     _set_const(1, lambda d, bl, ins: "ann_call")),
    ("struct literal with fewer names than values", O.BUILD_STRUCT,
     "fn d() { 1 }\ntype T { a: int = d(), b: int }\nT { b: 2 }\n",
     _set_const(1, lambda d, bl, ins: [d[0], []])),
    ("record field taken from a value that is not there", O.BUILD_RECORD,
     "type P { x: int }\nP { x: 1 }\n",
     _set_const(1, lambda d, bl, ins: d[:3] + [[[f[0], f[1], ins[2], f[3]] for f in d[3]]])),
    ("enum variant of an unknown kind", O.MAKE_ENUM_TYPE, "enum E { A }\n",
     _set_const(1, lambda d, bl, ins: [d[0], [[v[0], "blob", v[2], v[3]] for v in d[1]]])),
    ("struct field with an unknown default mode", O.MAKE_STRUCT_TYPE, "type T { a: int = 1 }\n",
     _set_const(1, lambda d, bl, ins: [d[0], [[f[0], f[1], 3, f[3]] for f in d[1]]])),
    ("raise of an unknown error kind", O.RAISE, "fn f() { snapshot(1) }\n",
     _set_const(1, lambda d, bl, ins: ["Oops", d[1]])),
    ("reference position beyond the arguments", O.CALL_REF,
     "fn inc(&x) { x = x + 1 }\nlet mut v = 1\ninc(&v)\n",
     _set_const(2, lambda d, bl, ins: [ins[1]])),
    ("capture of a register that does not exist", O.MAKE_CLOSURE,
     "let mut n = 0\nlet f = || n\n",
     _set_const(2, lambda d, bl, ins: [bl.nlocals])),
    ("spread flag that is not 0 or 1", O.BUILD_LIST_SPREAD, "let a = [1]\nlet b = [...a, 2]\n",
     _set_const(1, lambda d, bl, ins: [2] * len(d))),
    ("object key that is not a string", O.BUILD_OBJECT, "let o = { a: 1 }\n",
     _set_const(1, lambda d, bl, ins: [1] * len(d))),
    ("list constant pushed as a value", O.LOAD_CONST, "let a = 5\n",
     _set_const(1, lambda d, bl, ins: [d])),
    ("variant path of one name", O.GET_VARIANT, "enum E { A(int) }\nlet c = E::A\n",
     _set_const(1, lambda d, bl, ins: d[:1])),
]


@pytest.mark.parametrize("what, op, src, forge", CASES, ids=[c[0] for c in CASES])
def test_structured_constant_checks(what, op, src, forge):
    blob, pc = _program_with(op, src)
    assert load(blob).id == blob.id
    with pytest.raises(BlobError, match=O.NAMES[op]):
        load(forge(blob, pc))


def test_unused_operands_must_be_zero():
    blob, pc = _program_with(O.POP, "1\n2\n")
    code = copy.deepcopy(blob.code)
    code[pc][2] = 5
    with pytest.raises(BlobError, match=r"operand b \(none\) of POP"):
        load(forged(blob, code=code))


def test_stack_effects_are_checked_along_every_path():
    blob, pc = _program_with(O.HALT, "1\n")
    with pytest.raises(BlobError, match="underflow"):
        load(forged(blob, code=[[O.POP, 0, 0], [O.LOAD_UNIT, 0, 0], [O.HALT, 0, 0]], lines=[]))
    # Two paths meet with different depths: one pushes before the join, the other does not.
    code = [[O.LOAD_CONST, 0, 0], [O.JUMP_IF_FALSE, 3, 0], [O.LOAD_UNIT, 0, 0], [O.HALT, 0, 0]]
    with pytest.raises(BlobError, match="stack depth"):
        load(forged(blob, code=code, lines=[], consts=[True]))
    code[1] = [O.JUMP_IF_NOT_NONE, 3, 0]       # keeps its value when it jumps: depths agree
    load(forged(blob, code=code, lines=[], consts=[True]))


def test_code_must_end_in_a_transfer():
    blob, _ = _program_with(O.HALT, "1\n")
    with pytest.raises(BlobError, match="transfer"):
        load(forged(blob, code=blob.code + [[O.LOAD_UNIT, 0, 0]]))


# ---------------------------------------------------------------- kinds of registers and values

def _forge_code(blob: Blob, pc: int, ins: list) -> Blob:
    code = copy.deepcopy(blob.code)
    code[pc] = ins
    return forged(blob, code=code)


def _refused(blob: Blob, match: str) -> None:
    with pytest.raises(BlobError, match=match):
        load(blob)


def test_cell_operations_need_a_register_that_holds_a_cell():
    blob, pc = _program_with(O.STORE_LOCAL, "fn f(a) { let x = a + 1\nx }\nf(1)\n")
    op, a, _ = blob.code[pc]
    _refused(_forge_code(blob, pc, [O.STORE_CELL, a, 0]), "STORE_CELL .* needs register")
    # A captured variable's cell is made at scope entry; code entered past it has no cell.
    blob, pc = _program_with(O.MAKE_CELL, "let mut n = 0\nlet f = || n\nn = 2\nprint(f())\n")
    _refused(_forge_code(blob, pc, [O.NOP, 0, 0]), "needs register .* holding a cell")


def test_captures_and_cell_bindings_need_cells():
    blob, pc = _program_with(O.MAKE_CLOSURE, "let k = 1\nlet mut n = 0\nlet f = || n + k\n")
    plain = next(s for s in range(blob.nlocals) if s not in blob.cells)
    _refused(_set_const(2, lambda d, bl, ins: [plain])(blob, pc), "MAKE_CLOSURE .* cell")
    blob, pc = _program_with(O.DESTRUCTURE, "let [a, b] = [1, 2]\nlet f = || a\n")
    desc = blob.consts[blob.code[pc][1]]
    unbound = [i for i, d in enumerate(desc[1]) if d[2] == 0]
    assert unbound        # `b` is not captured: a plain register, which has no cell
    flipped = copy.deepcopy(desc)
    flipped[1][unbound[0]][2] = 1
    consts = copy.deepcopy(blob.consts)
    consts[blob.code[pc][1]] = flipped
    _refused(forged(blob, consts=consts), "DESTRUCTURE .* cell")


def test_loop_and_comprehension_registers_must_be_set_up():
    blob, pc = _program_with(O.FOR_SETUP, "for i in 0..3 { print(i) }\n")
    _refused(_forge_code(blob, pc, [O.POP, 0, 0]), "FOR_NEXT .* iter")
    blob, pc = _program_with(O.LIST_APPEND, "let a = [x * 2 for x in [1, 2]]\n")
    acc = blob.code[pc][1]
    other = next(s for s in range(blob.nlocals) if s != acc)
    _refused(_forge_code(blob, pc, [O.LIST_APPEND, other, 0]), "LIST_APPEND .* list")


def test_string_building_takes_strings_only():
    blob, pc = _program_with(O.BUILD_STRING, 'let x = 5\nprint(f"a{x}b")\n')
    fmt = next(p for p in range(pc) if blob.code[p][0] == O.FORMAT)
    _refused(_forge_code(blob, fmt, [O.NOP, 0, 0]), "BUILD_STRING .* string")


def test_opcodes_that_only_run_in_some_blob_kinds():
    blob, pc = _program_with(O.HALT, "1\n")
    _refused(_forge_code(blob, pc, [O.RETURN, 0, 0]), "RETURN .* module")
    blob, pc = _program_with(O.RETURN, "fn f() { 1 }\nf()\n")
    _refused(_forge_code(blob, pc, [O.HALT, 0, 0]), "HALT .* function")


def test_frame_kinds_name_every_register_and_stack_entry():
    from shapelang.vm.verify import frame_kinds
    blob, pc = _program_with(O.FOR_NEXT, "let mut n = 0\nfor i in 0..3 { n += i }\nlet f = || n\n")
    kinds = frame_kinds(blob)
    regs, stack = kinds[pc]
    a = blob.code[pc][1]
    assert (regs[a], regs[a + 1]) == (K.ITER, K.INDEX)
    assert K.CELL in regs and stack == ()
    assert len(kinds) == len(blob.code)


def test_program_links_closures_to_code_with_as_many_cells():
    from shapelang.vm.verify import check_program
    program = compile_source("let mut n = 0\nlet f = || n\nprint(f())\n")
    check_program(program.blobs)
    entry = program.blobs[program.entry]
    pc = next(p for p, ins in enumerate(entry.code) if ins[0] == O.MAKE_CLOSURE)
    bad = _set_const(2, lambda d, bl, ins: d + d)(entry, pc)
    blobs = {**program.blobs, bad.id: bad}
    with pytest.raises(BlobError, match="captures 2 cell"):
        check_program(blobs)
    del blobs[entry.children[0]]
    with pytest.raises(BlobError, match="missing"):
        check_program(blobs)


def test_program_links_checked_before_are_not_scanned_again_but_still_need_their_children():
    """`linked` (vm/snapshot.load keeps it per process): a blob id that passed is skipped in the
    next program that holds it, a changed blob (a new id) is checked, and the children a linked
    blob names must still all be there."""
    from shapelang.vm.verify import check_program
    program = compile_source("let mut n = 0\nlet f = || n\nprint(f())\n")
    linked: set = set()
    check_program(program.blobs, linked)
    assert linked == set(program.blobs)
    entry = program.blobs[program.entry]
    pc = next(p for p, ins in enumerate(entry.code) if ins[0] == O.MAKE_CLOSURE)
    bad = _set_const(2, lambda d, bl, ins: d + d)(entry, pc)
    blobs = {**program.blobs, bad.id: bad}
    with pytest.raises(BlobError, match="captures 2 cell"):
        check_program(blobs, linked)
    assert bad.id not in linked
    del blobs[entry.children[0]]
    with pytest.raises(BlobError, match="missing"):
        check_program(blobs, linked)
    check_program(program.blobs, linked)     # the same program again: nothing to scan


def test_frame_kinds_are_kept_by_blob_id_but_never_trusted_by_validate():
    from shapelang.vm.verify import frame_kinds, validate
    blob, pc = _program_with(O.FOR_NEXT, "let mut n = 0\nfor i in 0..3 { n += i }\n")
    assert blob._id is not None
    assert frame_kinds(blob) is frame_kinds(blob)
    anonymous = forged(blob)            # no id yet: computed each time
    assert frame_kinds(anonymous) == frame_kinds(blob)
    assert frame_kinds(anonymous) is not frame_kinds(anonymous)
    # a blob changed in place under its old id (which no code path does) is still refused
    bad = copy.deepcopy(blob)
    bad.code[pc] = [O.POP, 0, 0]        # the stack is empty there
    assert bad._id == blob._id
    with pytest.raises(BlobError, match="stack underflow"):
        validate(bad)
