"""The fields of a call frame, by name.

A frame of the running machine (`Machine.frames`) is a list `[code, pc, R, bid, kind]`:

- CODE  the threaded code of the function (derived from `bid`, never stored);
- PC    the instruction to continue at (kept up to date whenever the frame is not the running
        one; always the start of a dispatch unit);
- REGS  the register list: parameters, captured cells, locals, hidden loop and match
        temporaries, then the operand stack;
- BID   the blob id of the function being run;
- KIND  what happens to the frame's result on return: None pushes it onto the caller's stack,
        "async" pushes it wrapped in a Task, "drop" discards it (a call statement).

A stored frame (the `frames` of a snapshot state) is `[bid, pc, R, kind]`: the same fields
without the derived code, at the STORED_* positions.

Frames are plain lists rather than objects because one is built on every Shape call; the
threaded code's templates and the machine index them with these constants only.
"""
from __future__ import annotations

from typing import Any

CODE, PC, REGS, BID, KIND = range(5)
FRAME_SIZE = 5

STORED_BID, STORED_PC, STORED_REGS, STORED_KIND = range(4)
STORED_SIZE = 4

KINDS = (None, "async", "drop")


def new_frame(code: Any, pc: int, regs: list, bid: str, kind: Any) -> list:
    frame: list = [None] * FRAME_SIZE
    frame[CODE], frame[PC], frame[REGS], frame[BID], frame[KIND] = code, pc, regs, bid, kind
    return frame


def frame_literal(code: str, pc: str, regs: str, bid: str, kind: str) -> str:
    """The Python source of a frame list built from the given source expressions (for the
    threaded code's templates, which build frames inline)."""
    parts = [""] * FRAME_SIZE
    parts[CODE], parts[PC], parts[REGS], parts[BID], parts[KIND] = code, pc, regs, bid, kind
    return "[" + ", ".join(parts) + "]"


def stored(frame: list) -> list:
    """The stored form of a running frame."""
    out: list = [None] * STORED_SIZE
    out[STORED_BID], out[STORED_PC] = frame[BID], frame[PC]
    out[STORED_REGS], out[STORED_KIND] = frame[REGS], frame[KIND]
    return out
