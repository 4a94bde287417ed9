"""Where the generator's decisions come from.

Every decision is one draw whose zero value is the simplest alternative, so a shrinker that
lowers draws removes features while the program stays well formed. `ChoiceSource` draws from
Hypothesis (the `programs()` strategy and the shrinker); `RandomChoiceSource` from a seeded
`random.Random` (campaigns, which record the draws so Hypothesis can shrink them later).
"""
from __future__ import annotations

import random
from typing import Any, Callable

from hypothesis import strategies as st

_INTEGERS: dict[tuple[int, int], Any] = {}


def _integers(lo: int, hi: int) -> Any:
    # Building a strategy validates its arguments; caching them makes a draw several times faster.
    s = _INTEGERS.get((lo, hi))
    if s is None:
        s = _INTEGERS[(lo, hi)] = st.integers(lo, hi)
    return s


class ChoiceSource:
    """The generator's only source of decisions. Each method is one Hypothesis draw whose
    shrink target (zero) is the simplest alternative."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self._draw = draw

    def int(self, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        return self._draw(_integers(lo, hi))

    def pick(self, seq: list) -> Any:
        if len(seq) == 1:
            return seq[0]
        return seq[self._draw(_integers(0, len(seq) - 1))]

    def chance(self, percent: int) -> bool:
        """True with about `percent`% probability; shrinks to False."""
        return self._draw(_integers(0, 99)) >= 100 - percent

    def weighted(self, options: list[tuple[int, Any]]) -> Any:
        """Pick by weight; the first option is what shrinking moves towards."""
        options = [(w, o) for w, o in options if w > 0]
        total = sum(w for w, _ in options)
        r = self.int(0, total - 1)
        for w, o in options:
            if r < w:
                return o
            r -= w
        return options[-1][1]


class RandomChoiceSource(ChoiceSource):
    """Decisions from a seeded `random.Random`: no Hypothesis engine, no shrinking. Used for quick
    looks at the generator and for measuring its own speed."""

    def __init__(self, seed: int) -> None:
        self._rnd = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self._rnd.randint(lo, hi)

    def pick(self, seq: list) -> Any:
        return seq[self._rnd.randrange(len(seq))]

    def chance(self, percent: int) -> bool:
        return self._rnd.randrange(100) >= 100 - percent
