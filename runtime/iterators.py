"""Lazy iterators (spec/iterators.md): the value, its adapters, and the walks the prelude runs.

An iterator is plain data: a *source* (an array, a string, a range, a HashMap or a line reader)
and the *adapters* applied to it, in order, each a `(kind, argument)` pair. It never holds a
position: a terminal operation (`collect()`, `reduce(f, init)`, …) or a `for` loop opens a *walk*
of it, and every walk starts from the source's first element — except a line reader's
(`file.lines(path)`, spec/io.md): the reader is the one source with a position of its own, which
a walk moves (a walk holds the reader itself, so `reader.next()` after a partial walk continues
where it stopped, and a second walk continues too).

A walk is a Shape array that the prelude (runtime/prelude.shape, `__iter_pull`) moves along,
so the adapters' callbacks run in frames of the program and a snapshot or an interrupt inside
one resumes in the middle of the walk (its state is in those frames, like any array):

    [item, status, source, position, stage_0, stage_1, …]

- `item`: the element the last pull produced;
- `status`: what the pull that a `for` loop asked for found (`IterLoop` below): None while no
  pull is pending an answer, true (an element is in `item`) or false (the walk is over);
- `source` and `position`: what the source gives next (`source_next`): an array is read by
  position at each step (so changes to it are seen, as `for` sees them), a string is read by
  character, a range is the int of its exclusive end (the position counts up to it), a HashMap
  is the array of its `[key, value]` entries taken when the walk opens (a HashMap is immutable),
  a line reader is the reader (its next line is its own `next_line()`; the position is unused);
- `stage_j`: the state of adapter j, `[kind, argument, count, buffer, index]`: `take`/`skip`
  count what passed, `enumerate` counts positions, `flatMap` keeps the array being flattened
  and its index, `chain` counts its phase (0: its upstream, 1: the other iterator, whose own
  walk it keeps in `buffer`).
"""
from __future__ import annotations

from typing import Any

from shapelang.runtime.arguments import argc, fn_arg, int_only_arg
from shapelang.runtime.errors import ShapeError, type_error
from shapelang.runtime.stdlib.readers import LineReader, reader_next
from shapelang.runtime.values import FunctionValue, HashMapValue, RangeValue, type_name

# The adapters, with the kind of argument each takes.
CALLBACK_ADAPTERS = ("map", "filter", "flatMap")
COUNT_ADAPTERS = ("take", "skip")
ADAPTERS = CALLBACK_ADAPTERS + COUNT_ADAPTERS + ("enumerate", "chain")

# The terminal operations; the prelude runs them (`__iter_collect`, …: runtime/prelude.py).
TERMINALS = frozenset({"collect", "toArray", "count", "reduce", "forEach", "any", "all", "find"})

WALK_HEADER = 4      # item, status, source, position; adapter j's state is at j + WALK_HEADER


class IteratorValue:
    """An iterator: `source` (list, str, RangeValue or HashMapValue) and `stages`, a tuple of
    `(kind, argument)` pairs, one per adapter. Immutable: an adapter makes a new iterator.
    Equal only to itself (operators.equals compares unknown kinds by identity)."""
    __slots__ = ("source", "stages")
    SHAPE_TYPE = "Iterator"

    def __init__(self, source: Any, stages: tuple = ()) -> None:
        self.source = source
        self.stages = stages

    def __repr__(self) -> str:
        return f"IteratorValue({type_name(self.source)}, {[k for k, _ in self.stages]})"

    def well_formed(self) -> bool:
        """Whether the fields are what an iterator can hold (a snapshot's may be forged); the
        callbacks and chained iterators themselves are checked as the values they are."""
        if type(self.source) not in SOURCES or type(self.stages) is not tuple:
            return False
        for stage in self.stages:
            if type(stage) is not tuple or len(stage) != 2 or stage[0] not in ADAPTERS:
                return False
            kind, arg = stage
            if kind in CALLBACK_ADAPTERS and not isinstance(arg, FunctionValue):
                return False
            if kind in COUNT_ADAPTERS and (type(arg) is not int or arg < 0):
                return False
            if kind == "enumerate" and arg is not None:
                return False
            if kind == "chain" and type(arg) is not IteratorValue:
                return False
        return True


SOURCES = (list, str, RangeValue, HashMapValue, LineReader)


def iter_method(v: Any, args: list) -> IteratorValue:
    """`v.iter()`, the built-in method of every source (SOURCES): an iterator over it."""
    argc("iter()", args, 0)
    return IteratorValue(v)


def as_iterator(v: Any) -> Any:
    """What an iterator operation called on a line reader runs on: `reader.map(f)` is
    `reader.iter().map(f)` (spec/iterators.md); any other value is left as it is."""
    return IteratorValue(v) if type(v) is LineReader else v


# ---------------------------------------------------------------- adapters

def adapt(it: IteratorValue, kind: str, args: list) -> IteratorValue:
    """`it.kind(args…)`: a new iterator with one more adapter. The argument is checked here,
    before any element is pulled."""
    what = f"{kind}()"
    if kind == "enumerate":
        argc(what, args, 0)
        arg = None
    else:
        argc(what, args, 1)
        arg = args[0]
        if kind in CALLBACK_ADAPTERS:
            fn_arg(what, arg)
        elif kind in COUNT_ADAPTERS:
            arg = max(int_only_arg(what, arg), 0)
        elif type(arg) is list:
            arg = IteratorValue(arg)
        elif type(arg) is not IteratorValue:
            raise type_error(f"chain() expects an iterator or an array, got {type_name(arg)}")
    return IteratorValue(it.source, it.stages + ((kind, arg),))


def _adapter(kind: str) -> Any:
    def method(it: IteratorValue, args: list) -> IteratorValue:
        return adapt(it, kind, args)
    return method


def _reader_adapter(kind: str) -> Any:
    def method(reader: LineReader, args: list) -> IteratorValue:
        return adapt(IteratorValue(reader), kind, args)
    return method


# The built-in methods of an iterator (runtime/methods.py); the terminals are the prelude's.
METHODS = {kind: _adapter(kind) for kind in ADAPTERS}
# A line reader's methods: its own `next()`, `iter()` and the adapters.
READER_METHODS = {"next": reader_next, "iter": iter_method,
                  **{kind: _reader_adapter(kind) for kind in ADAPTERS}}


# ---------------------------------------------------------------- walks

def open_walk(args: list) -> list:
    """The prelude's `__iter_open(it)` and `__iter_open(it, what, f)`: a fresh walk of `it`
    (module docstring), after checking that a terminal operation's callback `f` is a function."""
    argc("__iter_open()", args, 1, 3)
    it = as_iterator(args[0])
    if len(args) == 3:
        fn_arg(f"{args[1]}()", args[2])
    if type(it) is not IteratorValue:
        raise type_error(f"__iter_open() expects an iterator, got {type_name(it)}")
    return walk_of(it)


def walk_of(it: IteratorValue) -> list:
    src = it.source
    t = type(src)
    position = 0
    if t is RangeValue:
        position = src.start
        src = src.end + 1 if src.inclusive else src.end
    elif t is HashMapValue:
        src = [[k, v] for k, v in src.items_list()]
    walk = [None, None, src, position]
    for kind, arg in it.stages:
        walk.append([kind, arg, 0, None, 0])
    return walk


def source_next(args: list) -> bool:
    """The prelude's `__iter_source(walk)`: move the source's next element into the walk's
    `item`; false when the source is exhausted."""
    w = args[0] if len(args) == 1 else None
    if type(w) is not list or len(w) < WALK_HEADER:
        raise corrupt_walk()
    return pull_source(w)


def pull_source(w: list) -> bool:
    """source_next on a walk (a list of at least WALK_HEADER items)."""
    src, pos = w[2], w[3]
    if type(pos) is not int:
        raise corrupt_walk()
    t = type(src)
    if t is LineReader:
        line = src.next_line()
        if line is None:
            return False
        w[0] = line
        return True
    if t is list or t is str:
        if pos < len(src):
            w[0] = src[pos]
            w[3] = pos + 1
            return True
        return False
    if t is int:
        if pos < src:
            w[0] = pos
            w[3] = pos + 1
            return True
        return False
    raise corrupt_walk()


def corrupt_walk() -> ShapeError:
    # Only a forged snapshot can give the prelude a walk it did not make.
    return ShapeError("RuntimeError", "an iterator's walk is corrupt")


# ---------------------------------------------------------------- for loops

class IterLoop:
    """The sequence slot of a `for` loop over an iterator: the loop's walk. The loop asks the
    prelude's `__iter_for(walk)` for each element, in a frame of its own
    (runtime/iteration.py for_item says when), and takes the answer from the walk's status; a
    walk without adapters is pulled directly (runtime/iteration.py loop_item).

    It has no length (`len()` is 0), so the VM's inlined FOR_NEXT, which tests an array's
    length, sends it to its exit path, where it is told apart from an array at no cost to
    array loops."""
    __slots__ = ("walk",)
    SHAPE_TYPE = "loop"

    def __init__(self, walk: list) -> None:
        self.walk = walk

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"IterLoop({len(self.walk)})"

    def well_formed(self) -> bool:
        w = self.walk
        return type(w) is list and len(w) >= WALK_HEADER and (w[1] is None or type(w[1]) is bool)
