"""The opcode record (vm/opcodes.py) and what reads it: compiled output, assembler checks, `dis`."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shapelang.ref.parser import parse
from shapelang.runtime.errors import ShapeError
from shapelang.vm import compiler as C
from shapelang.vm.compiler import assembler
from shapelang.vm.compiler.fncode import FnCode
from shapelang.vm.compiler.lowering import Compiler
from shapelang.vm import opcodes as O
from shapelang.vm import operands as K
from shapelang.vm.blob import reachable
from shapelang.vm.compiler import compile_source
from shapelang.vm.verify import BlobSite

GOLDEN_DIR = Path(__file__).parent / "golden"

# Blob ids of the user code of tests/golden/*.shape (all of it, parents before children), hashed.
# Stored snapshots hold blobs by id, so this changes only when the compiled output changes on
# purpose (a new lowering, a changed constant layout): then say so in the commit and update it.
GOLDEN_DIGEST = "36e8432f59e40d1be9b2744df0075e218fa8b411b4f34249506462009508175d"

# The opcodes that existed when blobs were first stored, in number order: numbers never change.
FIRST_72 = "98fb1e9334983c05f4709fbd9ed1f0999b8989e1e4ed042959f062dbb1142442"


def golden_programs() -> list:
    return [compile_source(p.read_text(), p.name) for p in sorted(GOLDEN_DIR.glob("*.shape"))]


def user_blobs(program):
    return [program.blobs[bid] for bid in reachable(program.blobs, program.entry)]


def test_compiled_output_is_unchanged():
    h = hashlib.sha256()
    for program in golden_programs():
        for blob in user_blobs(program):
            h.update(blob.id.encode())
    assert h.hexdigest() == GOLDEN_DIGEST


def test_golden_programs_use_every_opcode():
    used = {op for program in golden_programs() for blob in user_blobs(program)
            for op, _, _ in blob.code}
    # NOP is never emitted (it is kept so that no number moves). (JUMP_UNLESS_FAILURE: `!!` no
    # longer uses it, `?` in a function with a declared return type does.)
    unused = {O.NAMES[op] for op in range(len(O.INFO)) if op not in used}
    assert unused == {"NOP"}


def test_opcode_numbers_never_change():
    assert [i.number for i in O.INFO] == list(range(len(O.INFO)))
    names = ",".join(O.NAMES[:72])
    assert hashlib.sha256(names.encode()).hexdigest() == FIRST_72, names


def test_record_is_consistent():
    for info in O.INFO:
        assert info.cls in ("V", "J", "U", "C"), info.name
        # A conditional jump names its target; only TRY leaves its unit by returning instead.
        if info.cls == "J" and info.name != "TRY":
            assert len(info.targets) == 1, info.name
        if info.targets:
            assert info.cls in ("J", "U"), info.name
        else:
            assert info.jump == (0, 0), info.name
        assert getattr(O, info.name) == info.number
        if info.form is not None:
            info.form.format(a="", b="")


def test_stack_effects_come_from_the_record():
    consts = [[0, 1, 1]]
    assert O.stack_effect(O.CALL, 3, 0, consts) == (4, 1)
    assert O.stack_effect(O.CALL_METHOD, 0, 2, consts) == (3, 1)
    assert O.stack_effect(O.BUILD_LIST_SPREAD, 0, 0, consts) == (3, 1)
    assert O.stack_effect(O.SET_INDEX, 0, 1, consts) == (3, 1)
    assert O.stack_effect(O.SET_INDEX, 0, 0, consts) == (3, 0)
    assert O.stack_effect(O.POP_N, 5, 0, consts) == (5, 0)
    assert O.INFO[O.JUMP_IF_FALSE].jump == (1, 0)
    assert O.INFO[O.JUMP_IF_NOT_NONE].jump == (0, 0)
    assert O.jump_targets(O.FOR_NEXT, 3, 17) == (17,)
    assert O.jump_targets(O.JUMP, 9, 0) == (9,)
    assert O.jump_targets(O.CALL, 2, 0) == ()


def _module_code():
    program = parse("let x = 1\nprint(x)\n")
    comp = Compiler(program, C.check(program), None)
    comp.fc = FnCode(comp, program, "module", None)
    return comp.fc


@pytest.mark.parametrize("op, a, b, what", [
    (O.LOAD_LOCAL, 3, 0, "slot"),                     # no such register yet
    (O.LOAD_CONST, 0, 0, "const"),                    # no such constant
    (O.POP, 1, 0, "none"),                            # unused operands are 0
    (O.BINARY, len(O.BINOPS), 0, "operator"),
    (O.BUILD_STRING, 0, 0, "count"),
    (O.MAKE_RANGE, 2, 0, "flag"),
    (O.SNAPSHOT, 0, 0, "ordinal"),                    # not registered as a snapshot site
    (O.LOAD_LOCAL, -1, 0, "slot"),
])
def test_assembler_checks_operands_against_the_record(monkeypatch, op, a, b, what):
    monkeypatch.setattr(assembler, "CHECK_OPERANDS", True)
    fc = _module_code()
    fc.new_slot("x")
    with pytest.raises(AssertionError, match=what):
        fc.emit(op, a, b)


def test_assembler_checks_constant_shapes(monkeypatch):
    monkeypatch.setattr(assembler, "CHECK_OPERANDS", True)
    fc = _module_code()
    fc.emit(O.GET_ATTR, fc.const("name"))
    with pytest.raises(AssertionError, match="GET_ATTR"):
        fc.emit(O.GET_ATTR, fc.const(["name"]))
    with pytest.raises(AssertionError, match="LOAD_CONST"):
        fc.emit(O.LOAD_CONST, fc.const([1, 2]))


def test_check_mode_is_on_in_the_tests():
    assert assembler.CHECK_OPERANDS


def test_disassembly_shows_every_operand():
    for program in golden_programs():
        for blob in user_blobs(program):
            site = BlobSite(blob)
            for pc, (op, a, b) in enumerate(blob.code):
                info = O.INFO[op]
                text = O.operands_text(op, a, b, site.at(pc, a, b))
                for kind, v in ((info.a, a), (info.b, b)):
                    if kind is K.NONE:
                        continue
                    shown = kind.show(v, site)
                    assert shown in text, (info.name, text)
                    if not isinstance(kind, K.Flag):
                        assert shown, (info.name, kind)


def test_patterns_nested_to_the_limit_verify_and_deeper_ones_are_refused():
    from shapelang.vm.blob import Blob
    from shapelang.vm.verify import SHALLOW_CONST
    for n in (40, 100):   # 100 levels: a constant deep enough to be checked on the deep stack
        src = f"let {'[' * n}x{']' * n} = {'[' * n}1{']' * n}\nprint(x)\n"
        program = compile_source(src)
        for blob in user_blobs(program):
            assert Blob.from_bytes(blob.to_bytes(), blob.id).id == blob.id
    assert 2 * 100 > SHALLOW_CONST
    for n in (101, 600):
        with pytest.raises(ShapeError) as e:
            compile_source(f"let {'[' * n}x{']' * n} = 1\n")
        assert e.value.kind == "CompileError" and "nested too deeply" in e.value.message
