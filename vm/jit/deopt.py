"""Deoptimisation: compiled activations turned back into the VM frames the VM would have.

Compiled code never takes a snapshot, stops, or makes a call it does not compile itself: at such
a point it raises `Deopt(pc, stack)`, naming the instruction the VM must run next and the
operand stack there. The exception unwinds every compiled activation up to where the VM entered
compiled code (a trampoline or a loop entry, vm/jit/tier.py), and there the activations are read
back from the traceback, outermost first:

- the registers of each are its locals `r0, r1, …` (`f_locals` of its Python frame, which the
  traceback keeps alive);
- its pc and operand stack: for the innermost one those of the Deopt; for each caller, the *site*
  of the line it was executing (vm/jit/codegen.py `Site`): the return address and result kind
  the VM's call would have given, and the locals holding the stack below the call.

The outermost activation replaces the VM frame that entered compiled code (same function, same
frame list, so its caller's return address is already the VM's); the others are pushed on top.
The frames built are exactly those the VM would have at that point — a snapshot taken now is
the VM's, byte for byte — and the VM continues from them. Errors are located the same way (the
innermost pc from the line that raised), so they are reported with the VM's positions.
"""
from __future__ import annotations

from typing import Any, Optional

from shapelang.vm.frame import PC, REGS, new_frame


class Deopt(Exception):
    """Continue on the VM at `pc` with operand stack `stack`. `counted`: the VM is already
    running the unit that holds pc (its dispatch was counted; on a run with a step budget the
    dispatch loop's own dispatch of it must not count again)."""

    def __init__(self, pc: int, stack: tuple, counted: bool = True) -> None:
        super().__init__(pc)
        self.pc = pc
        self.stack = stack
        self.counted = counted


class GuardFailed(Deopt):
    """A region's entry guard failed: its registers do not hold what it was compiled for."""


def activations(tb: Any, codes: dict) -> list[tuple[Any, int, dict]]:
    """The compiled activations in a traceback, outermost first: (JitCode, line, locals).
    `codes` maps the file name of each compiled function a machine runs to its JitCode (each
    region's generated code has a file name of its own)."""
    out = []
    while tb is not None:
        jc = codes.get(tb.tb_frame.f_code.co_filename)
        if jc is not None:
            out.append((jc, tb.tb_lineno, tb.tb_frame.f_locals))
        tb = tb.tb_next
    return out


def rebuild(machine: Any, frame: list, acts: list, pc: int, stack: list) -> None:
    """Turn compiled activations back into VM frames: the outermost into `frame` (the VM frame
    that entered compiled code), the others pushed onto the machine's stack. The innermost is
    at `pc` with operand stack `stack`."""
    FR = machine.frames
    kind: Optional[str] = None
    last = len(acts) - 1
    for i, (jc, line, loc) in enumerate(acts):
        regs = [loc.get(f"r{j}") for j in range(jc.nlocals)]
        if i == last:
            at, below = pc, list(stack)
        else:
            site = jc.lines[line - 1][1]
            if site is None:
                raise RuntimeError(f"compiled code left line {line} of {jc.name} without a site")
            at, below = site.ret, [loc[name] for name in site.stack]
        R = regs + below
        if i == 0:
            frame[PC] = at
            frame[REGS][:] = R
        else:
            FR.append(new_frame(machine.rblobs[jc.bid].code, at, R, jc.bid, kind))
        if i != last:
            kind = site.kind


def error_pc(acts: list) -> int:
    """The instruction of the innermost compiled activation where an exception was raised."""
    jc, line, _ = acts[-1]
    return jc.lines[line - 1][0]
