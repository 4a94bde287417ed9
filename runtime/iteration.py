"""Ranges, iteration and spreading: what `a..b` builds, what `for` walks, what `...x` gives."""
from __future__ import annotations

from typing import Any, Iterable

from shapelang.runtime.errors import type_error
from shapelang.runtime.iterators import (WALK_HEADER, IteratorValue, IterLoop, corrupt_walk,
                                        pull_source, walk_of)
from shapelang.runtime.stdlib.readers import LineReader
from shapelang.runtime.values import HashMapValue, RangeValue, StructValue, type_name


def make_range(start: Any, end: Any, inclusive: bool) -> RangeValue:
    """`a..b` / `a..=b`: both bounds must be ints."""
    if type(start) is not int or type(end) is not int:
        raise type_error(f"Range bounds must be int, got {type_name(start)} and {type_name(end)}")
    return RangeValue(start, end, inclusive)


def range_values(r: RangeValue) -> range:
    return range(r.start, r.end + 1 if r.inclusive else r.end)


def range_len(r: RangeValue) -> int:
    # len(range) raises OverflowError beyond sys.maxsize, which an int64 range can reach.
    n = (r.end + 1 if r.inclusive else r.end) - r.start
    return n if n > 0 else 0


def iterate(v: Any) -> Iterable:
    """`for x in v`. A list iterator reads by position, so elements pushed during the loop are seen."""
    t = type(v)
    if t is list or t is str:
        return iter(v)
    if t is RangeValue:
        return iter(range_values(v))
    if t is HashMapValue:
        return iter(v.keys_list())
    raise type_error(f"{type_name(v)} is not iterable")


# ---------------------------------------------------------------- for loops

class _Done:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


DONE = _Done()   # what for_item gives when the loop is over


class _Pull:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PULL"


# What for_item gives when a loop over an iterator needs its next element pulled first: the
# engine runs the prelude's `__iter_for(walk)` (in a frame of its own, so the adapters'
# callbacks can take snapshots) and asks again.
PULL = _Pull()


def for_start(v: Any) -> tuple[Any, int]:
    """The state `(walked, index)` a `for` loop over `v` starts with. An array is walked by
    index against its current length, so elements pushed by the body are seen; a string is
    fixed at the start; a range is walked as the ints from `index` up to `walked` (its end);
    a HashMap walks its keys as they were at the start; an iterator, and a line reader (as its
    `iter()`), by a walk (runtime/iterators.py IterLoop)."""
    t = type(v)
    if t is list or t is str:
        return v, 0
    if t is RangeValue:
        return (v.end + 1 if v.inclusive else v.end), v.start
    if t is HashMapValue:
        return v.keys_list(), 0
    if t is IteratorValue:
        return IterLoop(walk_of(v)), 0
    if t is LineReader:
        return IterLoop(walk_of(IteratorValue(v))), 0
    return list(iterate(v)), 0


def for_item(walked: Any, index: int) -> Any:
    """The item at `index` of a loop state, DONE when the loop is over, or PULL when the
    iterator a loop walks must be pulled first."""
    if type(walked) is int:
        return index if index < walked else DONE
    if index < len(walked):
        return walked[index]
    return loop_item(walked) if type(walked) is IterLoop else DONE


def loop_item(loop: IterLoop) -> Any:
    """The element the last `__iter_for` pull of a loop over an iterator found (taking it),
    DONE when there was none, PULL when no pull has answered since the last element. A walk
    without adapters runs no callback: its source is pulled here, with no prelude frame."""
    w = loop.walk
    if len(w) == WALK_HEADER:
        return w[0] if pull_source(w) else DONE
    status = w[1] if len(w) > 1 else 0
    if status is None:
        return PULL
    if status is True:
        w[1] = None
        return w[0]
    if status is False:
        return DONE
    raise corrupt_walk()


# ---------------------------------------------------------------- spreading

def spread_array(v: Any) -> list:
    """The elements `...v` contributes to an array literal or an argument list (a new list,
    taken when the spread is evaluated)."""
    t = type(v)
    if t is list:
        return list(v)
    if t is str or t is RangeValue:
        return list(iterate(v))
    raise type_error(f"Cannot spread {type_name(v)} into an array")


def spread_object(v: Any) -> dict:
    """The fields `...v` contributes to an object literal (a new dict; `...None` adds none)."""
    t = type(v)
    if t is dict:
        return dict(v)
    if t is StructValue:
        return dict(v.fields)
    if v is None:
        return {}
    raise type_error(f"Cannot spread {type_name(v)} into an object")
