"""The control flow of a blob as the JIT sees it: blocks, edges, loops.

A *block* is a straight run of instructions that ends where control may go two ways (a jump
instruction: FOR_NEXT, MATCH, JUMP_IF_…), at a transfer (JUMP, RETURN, HALT, RAISE,
MATCH_ERROR), after a call-like instruction, or just before a VM unit leader. Blocks are finer
than the threader's dispatch units (a unit may hold several conditional exits), and every block
boundary inside a unit costs the VM nothing.

Each edge carries the VM *dispatches* taken on it: the pcs at which the VM's dispatch loop runs a
unit (and so counts a step, and checks a step budget) between the end of the source block and
the start of the target. They come from the threader's own record of each unit exit
(`CompiledBlob.exits`: the target it really goes to, skipping lone JUMP units, and whether it
runs that unit directly, without a dispatch), so compiled code counts exactly the steps the VM
would: `()` for an exit the VM chains or for a fall-through inside a unit, `(target,)` for one it
returns to the dispatch loop.

Loops are natural loops over back edges (an edge to a block that dominates its source); code
whose flow graph is not reducible is not compiled.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from shapelang.vm import opcodes as O
from shapelang.vm import threader as T
from shapelang.vm.bounded import Bounded
from shapelang.vm.verify import stack_depths

# Instructions the JIT treats as calls: they end a block, and compiled code continues after
# them at `forward(pc + 1)` (or after the POP of a call statement).
CALLS = frozenset({O.CALL, O.CALL_METHOD})


class Unsupported(Exception):
    """Code the JIT does not compile (it keeps running on the VM)."""


@dataclass
class Edge:
    target: int                 # pc of the target block
    disp: tuple[int, ...] = ()  # VM dispatches on the way (see the module docstring)


@dataclass
class Block:
    start: int
    end: int                    # last instruction (inclusive)
    kind: str                   # "fall", "cond", "jump", "call", "term"
    succ: list[Edge] = field(default_factory=list)   # cond: [jump edge, fall edge]
    depth: int = 0              # operand-stack depth at entry


@dataclass
class Loop:
    header: int
    body: set[int]              # block starts, header included
    parent: Optional["Loop"] = None
    follow: Optional[int] = None     # where its exits continue (None: only escapes)
    paths: set[int] = field(default_factory=set)   # blocks on its other exits' way there


class Flow:
    """Blocks, dominators and loops of one blob (`units` is the threader's analysis of its
    dispatch units, `exits` the threader's record of their exits, `depths` the operand-stack
    depth before each instruction). Nothing in it depends on a region or its specialisation:
    `flow_of` builds it once per blob id, and every region of the blob (and every code generated
    for it: plain, counting, specialised, inlined, unrolled) reads the same one. `regions` keeps
    the structure of each region the JIT has laid out (JitGen.build), by (kind, entry)."""

    def __init__(self, blob, units: T.Units, exits: dict, depths: list) -> None:
        self.blob = blob
        self.units = units
        self.exits = exits
        self.depths = depths
        self.blocks: dict[int, Block] = {}
        self.regions: dict[tuple[str, int], tuple] = {}
        self._build()

    # ------------------------------------------------------------ blocks

    def _edge(self, pc: int, kind: str, default: Optional[int] = None) -> Edge:
        rec = self.exits.get((pc, kind))
        if rec is None:
            if default is None:
                raise Unsupported(f"no recorded exit at {pc}")
            return Edge(default, ())
        target, chained = rec
        return Edge(target, () if chained else (target,))

    def continuation(self, pc: int) -> int:
        """Where compiled code goes on after the call at pc (the VM's fast path: past the POP
        of a call statement, past lone jumps)."""
        code = self.blob.code
        lead = self.units.lead_set
        return T.forward_of(code, lead, pc + 2 if T.drops_at(code, pc) else pc + 1)

    def _build(self) -> None:
        code = self.blob.code
        n = len(code)
        lead = self.units.lead_set
        starts = set(lead)
        for pc, (op, a, b) in enumerate(code):
            cls = O.CLASS[op]
            if (cls in "UC" or (cls == "J" and O.TARGETS[op])) and pc + 1 < n:
                starts.add(pc + 1)
        order = sorted(s for s in starts if s < n)
        for i, s in enumerate(order):
            end = (order[i + 1] - 1) if i + 1 < len(order) else n - 1
            # a block ends at its first transfer, branch or call
            pc = s
            while pc < end:
                op = code[pc][0]
                cls = O.CLASS[op]
                if cls in "UC" or (cls == "J" and O.TARGETS[op]):
                    break
                pc += 1
            end = pc
            op, a, b = code[end]
            cls = O.CLASS[op]
            depth = self.depths[s]
            if depth is None:
                continue          # unreachable
            blk = Block(s, end, "fall", depth=depth)
            if cls == "J" and O.TARGETS[op]:
                fall = self._edge(end, "fall", end + 1) if end + 1 in lead else Edge(end + 1, ())
                if (end, "jump") in self.exits:
                    blk.kind = "cond"
                    blk.succ = [self._edge(end, "jump"), fall]
                else:
                    # The threader found that it never jumps (a match arm of `_`).
                    blk.succ = [fall]
            elif op == O.JUMP:
                blk.kind = "jump"
                blk.succ = [self._edge(end, "jump")]
            elif cls == "U":
                blk.kind = "term"
            elif cls == "C":
                blk.kind = "call"
                if op in CALLS:
                    blk.succ = [Edge(self.continuation(end), ())]
                else:
                    blk.succ = [Edge(end + 1, (end + 1,))]
            elif end + 1 < n:
                blk.succ = [self._edge(end, "fall", end + 1) if end + 1 in lead
                            else Edge(end + 1, ())]
            else:
                blk.kind = "term"
            self.blocks[s] = blk

    # ------------------------------------------------------------ regions and loops

    def reachable(self, entry: int, inside: Optional[set] = None) -> list[int]:
        """Blocks reachable from `entry` (staying in `inside` when given), in reverse
        postorder."""
        seen: set[int] = set()
        post: list[int] = []
        stack: list[tuple[int, int]] = [(entry, 0)]
        seen.add(entry)
        while stack:
            node, i = stack.pop()
            succ = self.blocks[node].succ
            if i < len(succ):
                stack.append((node, i + 1))
                t = succ[i].target
                if t not in seen and t in self.blocks and (inside is None or t in inside):
                    seen.add(t)
                    stack.append((t, 0))
            else:
                post.append(node)
        post.reverse()
        return post

    def loops(self, entry: int, nodes: list[int]) -> dict[int, Loop]:
        """The natural loops of the region `nodes` (reverse postorder from `entry`), by header;
        Unsupported when the region is not reducible."""
        index = {n: i for i, n in enumerate(nodes)}
        node_set = set(nodes)
        preds: dict[int, list[int]] = {n: [] for n in nodes}
        for n in nodes:
            for e in self.blocks[n].succ:
                if e.target in node_set:
                    preds[e.target].append(n)
        # dominators (Cooper, Harvey, Kennedy)
        idom: dict[int, int] = {entry: entry}
        changed = True
        while changed:
            changed = False
            for n in nodes[1:]:
                ps = [p for p in preds[n] if p in idom]
                if not ps:
                    continue
                new = ps[0]
                for p in ps[1:]:
                    a, b = p, new
                    while a != b:
                        while index[a] > index[b]:
                            a = idom[a]
                        while index[b] > index[a]:
                            b = idom[b]
                    new = a
                if idom.get(n) != new:
                    idom[n] = new
                    changed = True

        def dominates(h: int, n: int) -> bool:
            while True:
                if n == h:
                    return True
                if n == entry:
                    return False
                n = idom[n]

        loops: dict[int, Loop] = {}
        for n in nodes:
            for e in self.blocks[n].succ:
                t = e.target
                if t in node_set and index[t] <= index[n]:
                    if not dominates(t, n):
                        raise Unsupported("irreducible control flow")
                    body = loops[t].body if t in loops else {t}
                    work = [n]
                    while work:
                        x = work.pop()
                        if x not in body:
                            body.add(x)
                            work.extend(preds[x])
                    loops[t] = Loop(t, body)
        # nesting: the parent is the smallest other loop whose body holds the header
        for h, lp in loops.items():
            best = None
            for h2, lp2 in loops.items():
                if h2 != h and h in lp2.body and (best is None or len(lp2.body) < len(best.body)):
                    best = lp2
            lp.parent = best
        return loops


_FLOWS = Bounded()      # blob id -> Flow


def flow_of(blob, blobs: dict) -> Flow:
    """The Flow of a (validated) blob, built once per blob id (an id names the blob's content;
    what a Flow holds is read only after it is built)."""
    fl = _FLOWS.get(blob.id)
    if fl is None:
        fl = _FLOWS.put(blob.id, Flow(blob, T.units_of(blob), T.compile_blob(blob, blobs).exits,
                                      stack_depths(blob)))
    return fl
