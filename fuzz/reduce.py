"""Test-case reduction on the program itself (after the choice-sequence shrinker).

The Hypothesis shrinker (harness.shrink) simplifies the generator's decisions, which keeps the
program well formed but leaves whatever the generator needed around the interesting part. This
reducer then edits the syntax tree directly, as C-Reduce does for C: it deletes statements,
declarations, arguments, arms and items, and replaces expressions by one of their
sub-expressions or by a literal, keeping an edit only when the printed program gets shorter and
the failure is still the same (same check, reason and error family). Every edit is checked by
running the checks again, so a reduced program may be anything that still fails the same way;
it need not be well typed. An edit can also make the program run forever (remove a loop's exit),
so every candidate runs in a forked child with a time limit (processes.bounded).
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import time
from typing import Any, Callable, Iterator, Optional

from shapelang.fuzz.processes import bounded
from shapelang.ref import ast as A
from shapelang.ref.printer import to_source

CANDIDATE_SECONDS = 10.0     # a candidate that takes longer is taken to run forever

EXPR_TYPES = (A.Literal, A.UnitLit, A.FString, A.Name, A.Path, A.ArrayLit, A.ObjectLit,
              A.StructLit, A.Unary, A.Binary, A.Pipe, A.Ternary, A.Assign, A.Call, A.Member,
              A.Index, A.Try, A.Lambda, A.Block, A.If, A.Match, A.While, A.For, A.Loop,
              A.RangeExpr, A.Comprehension, A.Await)
SIMPLE = [lambda: A.Literal(0), lambda: A.Literal(None), lambda: A.Literal(1),
          lambda: A.Literal(""), lambda: A.ArrayLit([])]


def _fields(node: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(node) if f.name not in ("line", "col")]


def _sub_exprs(node: Any) -> Iterator[Any]:
    """Expressions below `node` (nearest first, at most 40), candidates to stand in for it."""
    queue = collections.deque([node])
    seen = 0
    while queue and seen < 40:
        for child in A.iter_child_nodes(queue.popleft()):
            if isinstance(child, EXPR_TYPES):
                seen += 1
                yield child
            queue.append(child)


class Reducer:
    def __init__(self, tree: A.Program, still_fails: Callable[[A.Program], bool],
                 seconds: float) -> None:
        self.tree = copy.deepcopy(tree)
        self.still_fails = still_fails
        self.deadline = time.monotonic() + seconds
        self.size = len(self._print(self.tree) or "")
        self.tries = 0

    @staticmethod
    def _print(tree: A.Program) -> Optional[str]:
        try:
            return to_source(tree)
        except (ValueError, RecursionError):
            return None

    def _keep(self) -> bool:
        """Test the tree as it is now; True keeps it (shorter and still failing)."""
        self.tries += 1
        text = self._print(self.tree)
        if text is None or len(text) >= self.size:
            return False
        if not bounded(lambda: self.still_fails(self.tree), CANDIDATE_SECONDS):
            return False
        self.size = len(text)
        return True

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def run(self) -> A.Program:
        changed = True
        while changed and not self.out_of_time():
            changed = self._lists(self.tree) | self._exprs(self.tree)
        return self.tree

    # ------------------------------------------------------------ deleting list items

    def _lists(self, root: Any) -> bool:
        changed = False
        for node in list(A.walk(root)):
            if self.out_of_time():
                break
            for name in _fields(node):
                v = getattr(node, name)
                if isinstance(v, list) and v:
                    changed |= self._shrink_list(v)
        return changed

    def _shrink_list(self, items: list) -> bool:
        """Delete chunks of `items` (halves first, then single items), ddmin style."""
        changed = False
        size = max(1, len(items) // 2)
        while size >= 1 and not self.out_of_time():
            i = 0
            while i < len(items) and not self.out_of_time():
                removed = items[i:i + size]
                del items[i:i + size]
                if self._keep():
                    changed = True
                else:
                    items[i:i] = removed
                    i += size
            size //= 2
        return changed

    # ------------------------------------------------------------ simplifying expressions

    def _exprs(self, root: Any) -> bool:
        changed = False
        for node in list(A.walk(root)):
            if self.out_of_time():
                break
            for name in _fields(node):
                v = getattr(node, name)
                if isinstance(v, list):
                    for i, it in enumerate(v):
                        if isinstance(it, tuple) and isinstance(it[-1], EXPR_TYPES):
                            changed |= self._replace(lambda e, i=i, it=it, v=v: v.__setitem__(
                                i, it[:-1] + (e,)), it[-1])
                        elif isinstance(it, EXPR_TYPES):
                            changed |= self._replace(lambda e, i=i, v=v: v.__setitem__(i, e), it)
                elif isinstance(v, EXPR_TYPES):
                    changed |= self._replace(lambda e, name=name: setattr(node, name, e), v)
        return changed

    def _replace(self, put: Callable[[Any], None], old: Any) -> bool:
        for make in [*(lambda s=s: s for s in _sub_exprs(old)), *SIMPLE]:
            if self.out_of_time():
                break
            new = make()
            if new is old:
                continue
            put(new)
            if self._keep():
                return True
            put(old)
        return False


def reduce_program(tree: A.Program, still_fails: Callable[[A.Program], bool],
                   seconds: float) -> tuple[A.Program, int]:
    """The smallest program found in `seconds` for which still_fails holds, and the number of
    candidates tried. `tree` itself is not changed."""
    r = Reducer(tree, still_fails, seconds)
    return r.run(), r.tries
