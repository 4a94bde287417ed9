"""The Shape prelude (runtime/prelude.shape) and which method calls go to it.

Methods that call back into Shape code are written in Shape, in the prelude, so an engine runs
them in its own frames and a snapshot can be taken inside the callback: `arr.map(f)` runs the
prelude's `__array_map(arr, f)`, `m.map(f)` (a HashMap) its `__map_map(m, f)`, `it.collect()`
(an iterator) its `__iter_collect(it)`. PRELUDE_TABLES says, per receiver type, which methods
those are.
"""
from __future__ import annotations

import os
from typing import NamedTuple, Optional

from shapelang.runtime.iterators import TERMINALS, IteratorValue
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.values import HashMapValue

PRELUDE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prelude.shape")


class PreludeTable(NamedTuple):
    """The prelude methods of one receiver type: `x.name(…)` runs `prefix + name`."""
    prefix: str             # of its prelude functions' names
    label: str              # the receiver in their argument-count errors ("Array method …")
    methods: frozenset      # the methods the prelude implements
    if_arg: frozenset       # those that go to the prelude only when given an argument


# Array methods the prelude implements (core Shape's, then spec/array-queries.md's).
PRELUDE_METHODS = frozenset({"map", "filter", "reduce", "forEach", "find", "findIndex", "some",
                             "every", "flatMap", "groupBy",
                             "where", "select", "any", "all", "takeWhile", "skipWhile", "single",
                             "distinctBy", "orderBy"})
# Methods that go to the prelude only when given a callback (`sort()` and `count()` do not).
PRELUDE_IF_ARG = frozenset({"sort", "count"})
# Every array method that may call back into Shape.
CALLBACK_METHODS = PRELUDE_METHODS | PRELUDE_IF_ARG

# HashMap methods the prelude implements (spec/hashmap.md): callbacks get the key and the value.
MAP_PRELUDE_METHODS = frozenset({"map", "filter", "forEach", "reduce", "groupBy"})

# The VM's threaded code names these types (vm/machine.py's namespace of generated code must
# hold each one under its class name): see prelude_receivers.
PRELUDE_TABLES: dict[type, PreludeTable] = {
    list: PreludeTable("__array_", "Array", PRELUDE_METHODS, PRELUDE_IF_ARG),
    HashMapValue: PreludeTable("__map_", "HashMap", MAP_PRELUDE_METHODS, frozenset()),
    # The terminal operations of iterators (spec/iterators.md); the adapters are built-in.
    IteratorValue: PreludeTable("__iter_", "Iterator", TERMINALS, frozenset()),
    # `reader.count()` is `reader.iter().count()`: `__iter_open` takes the reader as its iterator.
    LineReader: PreludeTable("__iter_", "Iterator", TERMINALS, frozenset()),
}


def prelude_method(receiver: type, name: str, argc: int) -> Optional[str]:
    """The prelude function a call `x.name(…argc arguments)` runs on a receiver of type
    `receiver`, or None when the method is a built-in one (runtime/methods.py)."""
    table = PRELUDE_TABLES.get(receiver)
    if table is not None and (name in table.methods or (argc and name in table.if_arg)):
        return table.prefix + name
    return None


def prelude_receivers(name: str) -> tuple[type, ...]:
    """The receiver types whose prelude may run a method called `name`."""
    return tuple(t for t, table in PRELUDE_TABLES.items()
                 if name in table.methods or name in table.if_arg)


def prelude_label(function: str) -> Optional[tuple[str, str]]:
    """(receiver label, method name) when `function` is a prelude method's function, else
    None: `__map_reduce` -> ("HashMap", "reduce")."""
    for table in PRELUDE_TABLES.values():
        if function.startswith(table.prefix):
            return table.label, function[len(table.prefix):]
    return None
