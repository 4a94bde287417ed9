"""The JIT tier of the VM: hot code compiled from its blobs to Python functions.

A function that is called often, or a loop that runs long, on the VM is compiled into one Python
function (vm/jit/codegen.py): registers become Python locals, loops Python loops, and calls
between compiled functions direct Python calls. Every safepoint — `snapshot()`, an interrupt, a
step budget running out, a call the compiled code does not make itself — *deoptimises*: the
compiled activations on the Python stack are turned back into the VM frames the VM would have
at that point (vm/jit/deopt.py), and the VM continues; hot code tiers up again later
(vm/jit/tier.py). Snapshots are only ever taken of VM frames, so a snapshot taken in JIT mode
is the VM's, byte for byte, and resume always runs on the VM.

Modes: "off"; "on" (compile what gets hot); "force" (compile every function at its first call
and every loop when it is first entered: the conformance corpus and the fuzzer use it so that
compiled code runs everywhere). The mode of new machines is the innermost `jit_mode(…)`, else the
environment variable SHAPE_JIT (`1`/`on`, `force`, empty or `0` for off). See vm/DESIGN.md.

This module stays small: the VM imports it on every start-up, the compiler only when a machine
runs with the JIT on.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

JIT_ENV = "SHAPE_JIT"
MODES = ("off", "on", "force")
# The innermost jit_mode of each thread: `api.run(engine="jit")` in one thread leaves machines
# that other threads create as they are.
_override = threading.local()


def parse_mode(text: str) -> str:
    """The mode a SHAPE_JIT value (or a mode name) asks for."""
    t = text.strip().lower()
    if t in ("", "0", "off", "no", "false"):
        return "off"
    if t in ("1", "on", "yes", "true"):
        return "on"
    if t == "force":
        return "force"
    raise ValueError(f"{JIT_ENV} must be 0, 1 or force, not {text!r}")


def jit_default() -> str:
    """The JIT mode of machines created now: the innermost `jit_mode` of this thread, else
    $SHAPE_JIT."""
    mode = getattr(_override, "mode", None)
    if mode is not None:
        return mode
    try:
        return parse_mode(os.environ.get(JIT_ENV, ""))
    except ValueError:
        return "off"


@contextlib.contextmanager
def jit_mode(mode: str) -> Iterator[None]:
    """Machines created inside the block run with the JIT in `mode` ("off", "on", "force")."""
    if mode not in MODES:
        raise ValueError(f"unknown JIT mode {mode!r} (expected one of {', '.join(MODES)})")
    saved = getattr(_override, "mode", None)
    _override.mode = mode
    try:
        yield
    finally:
        _override.mode = saved
