"""The Shape prelude (runtime/prelude.shape) and which method calls go to it.

Array and HashMap methods that call back into Shape code are written in Shape, in the prelude, so
an engine runs them in its own frames and a snapshot can be taken inside the callback:
`arr.map(f)` runs the prelude's `__array_map(arr, f)`, `m.map(f)` its `__map_map(m, f)`.
"""
from __future__ import annotations

import os
from typing import Optional

PRELUDE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prelude.shape")

# Array methods the prelude implements.
PRELUDE_METHODS = frozenset({"map", "filter", "reduce", "forEach", "find", "findIndex", "some",
                             "every", "flatMap", "groupBy",
                             # the query methods (spec/array-queries.md)
                             "where", "select", "any", "all", "takeWhile", "skipWhile", "single",
                             "distinctBy", "orderBy"})
# Methods that go to the prelude only when given a callback (`sort()` and `count()` do not).
PRELUDE_IF_ARG = frozenset({"sort", "count"})
# Every array method that may call back into Shape.
CALLBACK_METHODS = PRELUDE_METHODS | PRELUDE_IF_ARG

PRELUDE_PREFIX = "__array_"

# HashMap methods the prelude implements (spec/hashmap.md): callbacks get the key and the value.
MAP_PRELUDE_METHODS = frozenset({"map", "filter", "forEach", "reduce", "groupBy"})
MAP_PRELUDE_PREFIX = "__map_"

# The prefix of each receiver's prelude methods, and the receiver's name in their errors.
PRELUDE_RECEIVERS = {PRELUDE_PREFIX: "Array", MAP_PRELUDE_PREFIX: "HashMap"}


def prelude_method(name: str, argc: int) -> Optional[str]:
    """The prelude function an array method call `arr.name(…argc arguments)` runs, or None
    when the method is a built-in one (runtime/methods.py)."""
    if name in PRELUDE_METHODS or (argc and name in PRELUDE_IF_ARG):
        return PRELUDE_PREFIX + name
    return None


def map_prelude_method(name: str) -> Optional[str]:
    """The prelude function a HashMap method call `m.name(…)` runs, or None when the method is
    a built-in one (runtime/methods.py)."""
    if name in MAP_PRELUDE_METHODS:
        return MAP_PRELUDE_PREFIX + name
    return None
