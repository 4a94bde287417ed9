"""The Shape prelude (runtime/prelude.shape) and which method calls go to it.

Array methods that call back into Shape code are written in Shape, in the prelude, so an engine
runs them in its own frames and a snapshot can be taken inside the callback: `arr.map(f)` runs
the prelude's `__array_map(arr, f)`.
"""
from __future__ import annotations

import os
from typing import Optional

PRELUDE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prelude.shape")

# Array methods the prelude implements.
PRELUDE_METHODS = frozenset({"map", "filter", "reduce", "forEach", "find", "findIndex", "some",
                             "every", "flatMap", "groupBy"})
# Methods that go to the prelude only when given a callback (`sort()` and `count()` do not).
PRELUDE_IF_ARG = frozenset({"sort", "count"})
# Every array method that may call back into Shape.
CALLBACK_METHODS = PRELUDE_METHODS | PRELUDE_IF_ARG

PRELUDE_PREFIX = "__array_"


def prelude_method(name: str, argc: int) -> Optional[str]:
    """The prelude function an array method call `arr.name(…argc arguments)` runs, or None
    when the method is a built-in one (runtime/methods.py)."""
    if name in PRELUDE_METHODS or (argc and name in PRELUDE_IF_ARG):
        return PRELUDE_PREFIX + name
    return None
