"""Recompile-and-resume: continue a saved run in newly compiled source (spec/snapshots.md).

The saved `snapshot()` must have been called by top-level code. The new code is entered at the
call site with the same ordinal, after checking (on the ASTs of the stored old source and the new
source) that the site sits in the same context: the same enclosing loops, branches and blocks with
unchanged headers, and the call as a whole statement (`snapshot()`, `let s = snapshot()`,
`x = snapshot()`, `match snapshot() {…}`). The module frame is then rebuilt on the new code:

1. the new module's prologue (fresh cells, hoisted functions, enums, types, annotations,
   `extend` methods) runs on its own, so declarations come from the new source;
2. the variables visible at the site are carried over from the saved frame, matched by
   (scope depth, name, n-th declaration); a captured variable keeps its saved cell, and the new
   prologue's closures are re-pointed at it, so old and new closures share it;
3. the loop state of each enclosing `for` (its sequence and index) is carried over;
4. the frame continues right after the new site's SNAPSHOT instruction with `Resumed` pending.
Anything that cannot be mapped this way is a ResumeError: it never continues in a wrong state.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from shapelang.ref.deepstack import on_deep_stack
from shapelang.ref.parser import parse
from shapelang.ref.resume import NON_EMPTY_STACK, plan
from shapelang.runtime.errors import ShapeError
from shapelang.vm import frame as F
from shapelang.vm import opcodes as O
from shapelang.vm import operands as K
from shapelang.vm import snapshot as S
from shapelang.vm.blob import Blob, Program
from shapelang.vm.compiler import check, compile_program
from shapelang.vm.machine import DEFAULT_MAX_DEPTH, Machine
from shapelang.vm.objects import CELL_TYPES, AnnotatedFunction, Cell, Closure
from shapelang.vm.store import open_store
from shapelang.vm.verify import frame_kinds

_PROLOGUE_OPS = {O.OPS[n] for n in ("MAKE_CELL", "MAKE_TYPED_CELL", "MAKE_CLOSURE", "MAKE_ANNOTATED",
                                    "MAKE_ENUM_TYPE", "IMPL",
                                    "MAKE_STRUCT_TYPE", "STORE_LOCAL", "STORE_CELL",
                                    "DEFINE_METHOD")}


def err(message: str) -> ShapeError:
    return S.resume_error(message)


# ---------------------------------------------------------------- bytecode helpers

def _enclosing_for_slots(blob: Blob, pc: int) -> list[int]:
    """`$iter` slots of the `for` loops whose body contains pc, outermost first."""
    out = []
    for p, (op, a, b) in enumerate(blob.code):
        if op == O.FOR_NEXT and p < pc < b:
            out.append((p, a))
    return [a for _, a in sorted(out)]


# What a loop or comprehension that ended leaves in its registers, as far as the verifier's
# kinds (vm/verify.frame_kinds) tell: a sequence, an index, a list, a string.
_ENDED = {K.ITER: list, K.INDEX: int, K.LIST: list, K.STRING: str}


def _finish_loops(R: list, blob: Blob, pc: int) -> None:
    """Fill the registers of the loops and comprehensions that ended before `pc` (they are not
    carried over: only enclosing loops are). They are dead there, as FOR_SETUP sets them again
    before any use, but every stored state must fit the verifier's kinds (vm/state_check.py),
    which still say a sequence: left None, the next snapshot of the run could not be resumed."""
    slots = frame_kinds(blob)[pc][0]
    for s, kind in enumerate(slots):
        if R[s] is None and kind in _ENDED:
            R[s] = _ENDED[kind]()


def _prologue_blob(blob: Blob, decl_slots: set[int]) -> Blob:
    """A copy of a module blob that runs only its prologue (cells and hoisted declarations)."""
    end = 0
    pc = blob.entries[0] if blob.entries else 0
    code = blob.code
    while pc < len(code) and code[pc][0] in _PROLOGUE_OPS:
        op, a, _ = code[pc]
        if op in (O.STORE_LOCAL, O.STORE_CELL) and a not in decl_slots:
            break
        if op in (O.MAKE_CELL, O.MAKE_TYPED_CELL, O.STORE_LOCAL, O.STORE_CELL, O.DEFINE_METHOD):
            end = pc + 1
        pc += 1
    new_code = [list(i) for i in code[:end]] + [[O.LOAD_UNIT, 0, 0], [O.HALT, 0, 0]]
    lines = [list(r) for r in blob.lines if r[0] < end] or [[0, 0, 0]]
    return dataclasses.replace(blob, code=new_code, lines=lines, snapshots=[], entries=[0],
                               _id=None)


def _repoint(values: list, mapping: dict[int, Cell]) -> None:
    """Make closures built by the new prologue use the saved cells instead of fresh ones."""
    seen: set[int] = set()
    stack = list(values)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if type(v) is Closure:
            v.cells = [mapping.get(id(c), c) for c in v.cells]
        elif type(v) is AnnotatedFunction:
            stack.append(v.fn)
            stack.append(v.wrapper)
        elif type(v) in CELL_TYPES:
            # A declaration captured by other code (a recursive fn, an annotation used by a
            # wrapper) sits in a cell: the closure inside must be re-pointed too.
            stack.append(v.v)
        elif type(v) is dict:
            stack.extend(v.values())


# ---------------------------------------------------------------- recompile-and-resume

def recompile(sid_or_prefix: str, source: str, path: str, write: Callable[[str], Any],
              store: Optional[str] = None, on_saved: Optional[Callable[[str], Any]] = None,
              max_depth: int = DEFAULT_MAX_DEPTH, allow_changed_inputs: bool = False,
              pin_inputs: bool = False, **invocation: Any) -> "S.Run":
    """A run that continues a stored snapshot in the recompiled `source` (raises ResumeError
    when the mapping cannot be established). `invocation` as for `snapshot.restore`."""
    st = open_store(store, create=False)
    try:
        sid = st.resolve(sid_or_prefix)
        loaded = S.load(st, sid)
    finally:
        st.close()
    try:
        machine, session = prepare(loaded, source, path, write, store, max_depth, on_saved)
    except ShapeError as e:
        if e.phase == "resume":
            # Which run the refused snapshot came from, and where it was taken (for the
            # diagnostic; the message itself stays the one the reference oracle gives).
            e.note = f"snapshot {sid[:12]} was taken in {S.boundary(loaded)}"
        raise
    notes = S.resume_io(loaded, session, allow_changed_inputs, pin_inputs, **invocation)
    return S.Run(machine, session, resumed_from=sid, script=path, source=source, notes=notes)


def _front_end(loaded: "S.Loaded", source: str, path: str, k: int) -> tuple:
    """Parse and check both sources and map the variables at site k (on a deep stack: the
    resolver recurses once per nesting level, as it does for `shape run`)."""
    def old_side() -> tuple:
        try:
            old_ast = parse(loaded.source, loaded.script)
            return old_ast, check(old_ast, loaded.script)
        except ShapeError as e:
            raise err(f"The snapshot's stored source no longer compiles ({e.kind}: {e.message})") from None

    def work() -> tuple:
        new_ast = parse(source, path)
        new_res = check(new_ast, path)
        old_ast, old_res = old_side()
        _, _, old_vars, new_vars = plan(old_ast, old_res, new_ast, new_res, k)
        return new_ast, new_res, old_vars, new_vars

    try:
        return on_deep_stack(work)
    except RecursionError:
        raise ShapeError("CompileError", "Program is nested too deeply to compile", file=path) from None


def prepare(loaded: "S.Loaded", source: str, path: str, write: Callable[[str], Any],
            store: Optional[str], max_depth: int = DEFAULT_MAX_DEPTH,
            on_saved: Optional[Callable[[str], Any]] = None) -> tuple[Machine, "S.SnapshotSession"]:
    """A machine positioned to continue `loaded` in the recompiled `source`."""
    state = loaded.state["machine"]
    frames = state.get("frames")
    if not isinstance(frames, list) or not frames:
        raise err("Snapshot has no call stack")
    fr = frames[0]
    if not (type(fr) is list and len(fr) == F.STORED_SIZE and type(fr[F.STORED_PC]) is int
            and type(fr[F.STORED_REGS]) is list):
        raise err(f"Snapshot {loaded.sid[:12]} is malformed (bad frame)")
    if len(frames) != 1 or fr[F.STORED_BID] != loaded.program.entry:
        raise err(NON_EMPTY_STACK)
    if state.get("pending") != "snapshot" or type(state.get("pending_ordinal")) is not int:
        raise err("Only a snapshot taken by a snapshot() call can be recompiled (this one was "
                  "taken by an interrupt; resume it without a source file)")
    k = state["pending_ordinal"]
    if loaded.source is None:
        raise err("The snapshot does not include its source; cannot map it to new code")

    new_ast, new_res, old_vars, new_vars = _front_end(loaded, source, path, k)

    program = compile_program(new_ast, path)
    new_blob = program.blobs[program.entry]
    sites = [pc for pc, o in new_blob.snapshots if o == k]
    if not sites:
        raise err(f"snapshot #{k} is not at the top level of the recompiled source")
    new_pc = sites[0]
    old_blob = loaded.program.blobs[loaded.program.entry]
    old_pc_next, old_R = fr[F.STORED_PC], fr[F.STORED_REGS]
    old_site = [pc for pc, o in old_blob.snapshots if o == k]
    if not old_site or old_site[0] + 1 != old_pc_next:
        raise err("The snapshot's position does not match its code")
    if len(old_R) != old_blob.nlocals:
        raise err("snapshot() was called inside an expression; recompile-and-resume needs it to "
                  "be a whole statement")

    # Old code stays reachable: closures stored in variables were made by it.
    for bid, blob in loaded.program.blobs.items():
        program.blobs.setdefault(bid, blob)

    new_slot = {name: i for i, name in enumerate(new_blob.local_names)}
    old_slot = {name: i for i, name in enumerate(old_blob.local_names)}
    decl_slots = {new_slot[b.uid] for b in new_res.module.bindings
                  if b.kind in ("fn", "enum", "type", "annotation") and b.uid in new_slot}
    pro = _prologue_blob(new_blob, decl_slots)
    program.blobs[pro.id] = pro

    session = S.SnapshotSession(store, path, source, parent=loaded.sid)
    m = Machine(program, out=write, max_depth=max_depth,
                on_snapshot=S.recording(session, on_saved))
    m.frames.clear()
    m.push_module(pro.id)
    R = m.frames[-1][F.REGS]
    m.run()
    del program.blobs[pro.id]
    m.rblobs.pop(pro.id, None)

    # Carry over the variables visible at the site.
    new_cells = set(new_blob.cells)
    mapping: dict[int, Cell] = {}
    for key, nb in new_vars.items():
        ns = new_slot.get(nb.uid)
        if ns is None:
            continue
        ob = old_vars.get(key)
        os_ = old_slot.get(ob.uid) if ob is not None else None
        if os_ is None:
            # Only the new source declares it: uninitialised.
            if ns in new_cells and type(R[ns]) in CELL_TYPES:
                continue
            R[ns] = None
            continue
        old_v = old_R[os_]
        if ns in new_cells:
            fresh = R[ns]
            cell = old_v if type(old_v) in CELL_TYPES else Cell(old_v)
            if type(fresh) in CELL_TYPES:
                mapping[id(fresh)] = cell
            R[ns] = cell
        else:
            R[ns] = old_v.v if type(old_v) in CELL_TYPES else old_v
    _repoint([R[s] for s in decl_slots] + [m.methods], mapping)

    # Loop state of the enclosing `for` loops.
    old_loops = _enclosing_for_slots(old_blob, old_pc_next - 1)
    new_loops = _enclosing_for_slots(new_blob, new_pc)
    if len(old_loops) != len(new_loops):
        raise err("The loops around the resumed snapshot() changed; cannot continue safely")
    for o, nw in zip(old_loops, new_loops):
        R[nw], R[nw + 1] = old_R[o], old_R[o + 1]

    while len(R) < new_blob.nlocals:
        R.append(None)
    del R[new_blob.nlocals:]
    _finish_loops(R, new_blob, new_pc + 1)
    rb = m.rblob(program.entry)
    m.frames.clear()
    m.frames.append(F.new_frame(rb.code, new_pc + 1, R, program.entry, None))
    m.pending = "snapshot"
    m.status = "ready"
    return m, session
