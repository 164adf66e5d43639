"""Fast weighted and uniform choice helpers for the per-row generation path."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")


class Weighted:
    """A fixed weighted choice table: `table.pick(rng.random)` costs one bisect.

    Built once at import or per district; the per-row path never rebuilds weights.
    Generic in pick.pyi only: the compiled twin (_compiled/pick.pxd) makes this an
    extension type, which cannot derive from typing.Generic.
    """

    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        pairs = [(item, w) for item, w in pairs if w > 0]
        if not pairs:
            raise ValueError("a weighted table needs at least one positive weight")
        # A repeated last item absorbs rnd() * total rounding up to exactly total.
        self.items: tuple[T, ...] = tuple(item for item, _ in pairs) + (pairs[-1][0],)
        self.cum: list[float] = list(accumulate(w for _, w in pairs))
        self.total: float = self.cum[-1]

    def pick(self, rnd: Callable[[], float]) -> T:
        return self.items[bisect(self.cum, rnd() * self.total)]


def uniform(seq: Sequence[T], rnd: Callable[[], float]) -> T:
    """One element of `seq`, uniformly; cheaper than Random.choice on the hot path."""
    return seq[int(rnd() * len(seq))]
