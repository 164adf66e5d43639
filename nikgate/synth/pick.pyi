# Types of pick.py: Weighted is generic here only (see its docstring).
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

class Weighted(Generic[T]):
    items: tuple[T, ...]
    cum: list[float]
    total: float
    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None: ...
    def pick(self, rnd: Callable[[], float]) -> T: ...

def uniform(seq: Sequence[T], rnd: Callable[[], float]) -> T: ...
