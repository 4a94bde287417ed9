"""The VM instruction set.

An instruction is a triple `(op, a, b)` of ints. `a` and `b` are slot numbers, constant indices,
jump targets or counts depending on the opcode (see the table below). Structured operands (pattern
descriptors, key lists, capture lists) live in the blob's constant table and are referenced by
index, so the instruction stream itself stays a flat list of integers.

Every opcode has a *class* that the threader (vm/threader.py) relies on:

- `V` straight-line: runs inline inside a dispatch unit (may raise, may mutate the heap, never
  switches frames);
- `J` conditional exit: may leave the unit by jumping (or, for TRY, by returning), otherwise falls
  through inside the same unit;
- `U` unconditional transfer: JUMP, RETURN, HALT, RAISE … ends the unit;
- `C` call-like: may push or pop a frame (or take a snapshot), so it ends the unit and the next
  instruction starts a new one (a return address is always a unit boundary).
"""
from __future__ import annotations

# name, class, operand description (for the disassembler)
_TABLE = [
    ("NOP", "V", ""),
    ("LOAD_CONST", "V", "a=const"),
    ("LOAD_UNIT", "V", ""),
    ("LOAD_LOCAL", "V", "a=slot"),
    ("LOAD_CELL", "V", "a=slot"),           # a local variable that lives in a cell
    ("LOAD_FREE", "V", "a=slot"),           # a captured variable: NameError while uninitialised
    ("STORE_LOCAL", "V", "a=slot"),
    ("STORE_CELL", "V", "a=slot"),
    ("STORE_FREE", "V", "a=slot"),
    ("MAKE_CELL", "V", "a=slot"),           # fresh, uninitialised cell (scope entry)
    ("WRAP_CELL", "V", "a=slot"),           # parameter prologue: box the argument unless it is a cell
    ("LOAD_BUILTIN", "V", "a=const(name)"),
    ("POP", "V", ""),
    ("POP_N", "V", "a=count"),
    ("DUP", "V", ""),
    ("DUP2", "V", ""),
    ("BINARY", "V", "a=operator"),
    ("UNARY_NEG", "V", ""),
    ("UNARY_NOT", "V", ""),
    ("TO_BOOL", "V", ""),
    ("MAKE_RANGE", "V", "a=inclusive"),
    ("BUILD_LIST", "V", "a=count"),
    ("BUILD_LIST_SPREAD", "V", "a=const(spread flags)"),
    ("BUILD_OBJECT", "V", "a=const(keys, null=spread)"),
    ("BUILD_STRING", "V", "a=count"),
    ("FORMAT", "V", ""),
    ("FORMAT_SPEC", "V", "a=const(spec)"),
    ("GET_ATTR", "V", "a=const(name)"),
    ("SET_ATTR", "V", "a=const(name) b=keep value"),
    ("GET_INDEX", "V", ""),
    ("SET_INDEX", "V", "b=keep value"),
    ("GET_VARIANT", "V", "a=const(variant)"),
    ("MAKE_VARIANT", "V", "a=const([enum, variant])"),
    ("BUILD_VARIANT", "V", "a=const([enum, variant, types]) b=count"),
    ("MAKE_ENUM_TYPE", "V", "a=const(enum descriptor)"),
    ("MAKE_STRUCT_TYPE", "V", "a=const(type descriptor) b=has defaults closure"),
    ("STRUCT_LITERAL", "V", "a=const([path, names]) b=count"),
    ("BUILD_RECORD", "V", "a=const([struct|variant, type, variant, fields]) b=count"),
    ("BUILD_STRUCT", "C", "a=const([path, names]) b=count"),   # may run a defaults thunk
    ("STRUCT_FINISH", "V", ""),
    ("DEFINE_METHOD", "V", "a=const([type, method])"),
    ("MAKE_CLOSURE", "V", "a=child b=const(capture slots)"),
    ("FOR_SETUP", "V", "a=slot"),
    ("FOR_NEXT", "J", "a=slot b=target"),
    ("MATCH", "J", "a=const(pattern) b=target"),
    ("DESTRUCTURE", "V", "a=const(pattern)"),
    ("MATCH_ERROR", "U", "a=slot"),
    ("RAISE", "U", "a=const([kind, message])"),
    ("JUMP", "U", "a=target"),
    ("JUMP_IF_FALSE", "J", "a=target"),
    ("JUMP_IF_TRUE", "J", "a=target"),
    ("JUMP_IF_NOT_NONE", "J", "a=target"),   # keep and jump unless None (for ??); else pop
    ("JUMP_IF_NONE", "J", "a=target"),       # keep and jump if None (for ?.)
    ("JUMP_UNLESS_FAILURE", "J", "a=target"),  # keep and jump unless Err/None (for !!)
    ("ATTACH_CONTEXT", "V", ""),
    ("LIST_APPEND", "V", "a=slot"),
    ("CALL", "C", "a=argc"),
    ("CALL_REF", "C", "a=argc b=const(reference positions)"),
    ("CALL_BUILTIN", "V", "a=const(name) b=argc"),
    ("CALL_METHOD", "C", "a=const(name) b=argc"),
    ("CALL_VAR", "C", ""),                           # callee, argument list (spread calls)
    ("CALL_METHOD_VAR", "C", "a=const(name)"),       # receiver, argument list
    ("CALL_BUILTIN_VAR", "V", "a=const(name)"),      # argument list
    ("LOAD_PRELUDE", "V", "a=const(name)"),
    ("MAKE_ANNOTATED", "V", "a=const(name)"),        # function, wrapper -> AnnotatedFunction          # a prelude function (annotation protocol)
    ("SNAPSHOT", "C", "a=ordinal"),
    ("AWAIT", "V", ""),
    ("TRY", "J", ""),
    ("TRY_TOP", "V", ""),
    ("RETURN", "U", ""),
    ("HALT", "U", ""),
    # Appended (not grouped) so that the numbers of older opcodes, and stored blobs, stay valid.
    ("SPREAD_COPY", "V", "a=0 array / 1 object"),   # check and copy a spread value where it stands
]

NAMES: list[str] = [t[0] for t in _TABLE]
CLASS: list[str] = [t[1] for t in _TABLE]
OPERANDS: list[str] = [t[2] for t in _TABLE]
OPS: dict[str, int] = {name: i for i, name in enumerate(NAMES)}

for _i, _name in enumerate(NAMES):
    globals()[_name] = _i

# Operators of BINARY, in operand order; `a` indexes this list.
BINOPS: list[str] = ["+", "-", "*", "/", "%", "**", "==", "!=", "<", "<=", ">", ">="]
BINOP_INDEX: dict[str, int] = {op: i for i, op in enumerate(BINOPS)}

# Instructions whose `a` is a jump target (the disassembler marks targets, the verifier checks them).
JUMP_A = {OPS[n] for n in ("JUMP", "JUMP_IF_FALSE", "JUMP_IF_TRUE", "JUMP_IF_NOT_NONE",
                           "JUMP_IF_NONE", "JUMP_UNLESS_FAILURE")}
JUMP_B = {OPS[n] for n in ("FOR_NEXT", "MATCH")}
# Operands that index the constant table.
CONST_A = {i for i, d in enumerate(OPERANDS) if d.startswith("a=const")}
CONST_B = {i for i, d in enumerate(OPERANDS) if "b=const" in d}
SLOT_A = {i for i, d in enumerate(OPERANDS) if d.startswith("a=slot")}


def stack_effect(op: int, a: int, b: int, consts: list) -> tuple[int, int]:
    """(pops, pushes) of one instruction on the fall-through path."""
    n = NAMES[op]
    if n in ("NOP", "MAKE_CELL", "WRAP_CELL", "JUMP", "RAISE", "MATCH_ERROR", "MATCH"):
        return (0, 0)
    if n in ("CALL_VAR", "CALL_METHOD_VAR"):
        return (2, 1)
    if n == "CALL_BUILTIN_VAR":
        return (1, 1)
    if n in ("LOAD_CONST", "LOAD_PRELUDE", "LOAD_UNIT", "LOAD_LOCAL", "LOAD_CELL", "LOAD_FREE", "LOAD_BUILTIN",
             "MAKE_VARIANT", "MAKE_ENUM_TYPE", "SNAPSHOT", "FOR_NEXT"):
        return (0, 1)
    if n in ("STORE_LOCAL", "STORE_CELL", "STORE_FREE", "POP", "JUMP_IF_FALSE", "JUMP_IF_TRUE",
             "DESTRUCTURE", "FOR_SETUP", "LIST_APPEND", "DEFINE_METHOD", "RETURN", "HALT"):
        return (1, 0)
    if n == "POP_N":
        return (a, 0)
    if n == "DUP":
        return (1, 2)
    if n == "DUP2":
        return (2, 4)
    if n in ("BINARY", "MAKE_ANNOTATED", "MAKE_RANGE", "ATTACH_CONTEXT", "GET_INDEX", "STRUCT_FINISH"):
        return (2, 1)
    if n in ("UNARY_NEG", "UNARY_NOT", "TO_BOOL", "SPREAD_COPY",
             "FORMAT", "FORMAT_SPEC", "GET_ATTR", "GET_VARIANT",
             "JUMP_IF_NOT_NONE", "JUMP_IF_NONE", "JUMP_UNLESS_FAILURE", "AWAIT", "TRY",
             "TRY_TOP"):
        # JUMP_IF_NOT_NONE pops on fall-through and keeps when jumping; the compiler accounts for it.
        return (1, 0) if n == "JUMP_IF_NOT_NONE" else (1, 1)
    if n in ("BUILD_LIST", "BUILD_STRING"):
        return (a, 1)
    if n == "BUILD_LIST_SPREAD":
        return (len(consts[a]), 1)
    if n == "BUILD_OBJECT":
        return (len(consts[a]), 1)
    if n == "SET_ATTR":
        return (2, 1 if b else 0)
    if n == "SET_INDEX":
        return (3, 1 if b else 0)
    if n in ("BUILD_VARIANT", "BUILD_RECORD"):
        return (b, 1)
    if n in ("BUILD_STRUCT", "STRUCT_LITERAL"):
        return (b + 1, 1)
    if n == "MAKE_STRUCT_TYPE":
        return (1 if b else 0, 1)
    if n == "MAKE_CLOSURE":
        return (0, 1)
    if n in ("CALL", "CALL_REF"):
        return (a + 1, 1)
    if n == "CALL_BUILTIN":
        return (b, 1)
    if n == "CALL_METHOD":
        return (b + 1, 1)
    raise ValueError(f"no stack effect for {n}")
