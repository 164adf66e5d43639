"""Result types of verification and lookup: per item, and columnar for batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# numbered for the compiled core: defined in constants.py, re-exported here
from .constants import ItemStatus as ItemStatus
from .constants import Outcome as Outcome
from .schema import CARD_STATUS, LIFE_STATUS, Field


@dataclass(frozen=True, slots=True)
class FieldResult:
    field: Field
    outcome: Outcome
    score: int       # 0-100; 0 when not provided
    threshold: int   # the threshold applied (100 for exact fields)


@dataclass(frozen=True, slots=True)
class Verification:
    """The answer for one NIK: per-field results and the person's status."""

    nik: str
    status: ItemStatus
    fields: tuple[FieldResult, ...]
    life_status: str | None = None   # HIDUP / MATI, when found
    card_status: str | None = None   # AKTIF / DIGANTI / DIBLOKIR, when found
    problem: str | None = None       # why an item could not be verified

    @property
    def found(self) -> bool:
        return self.status is ItemStatus.FOUND

    @property
    def all_match(self) -> bool:
        """True when found and every provided field matched."""
        return self.found and all(
            r.outcome is not Outcome.NO_MATCH for r in self.fields
        ) and any(r.outcome is Outcome.MATCH for r in self.fields)


def _name(table: tuple[str, ...], code: int) -> str | None:
    return table[code - 1] if 0 < code <= len(table) else None


class VerifyBatchResult(Sequence[Verification]):
    """Columnar results of a batch: cheap to build, cheap to encode, items on demand."""

    __slots__ = ("niks", "fields", "thresholds", "status", "life", "card", "outcomes",
                 "scores", "problems")

    def __init__(self, niks: Sequence[str], fields: tuple[Field, ...],
                 thresholds: tuple[int, ...], status: bytes, life: bytes, card: bytes,
                 outcomes: bytes, scores: bytes, problems: dict[int, str]) -> None:
        self.niks = niks
        self.fields = fields
        self.thresholds = thresholds
        self.status = status
        self.life = life
        self.card = card
        self.outcomes = outcomes     # item-major: outcomes[i * len(fields) + f]
        self.scores = scores
        self.problems = problems     # item index -> message, for items not verified

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        nf = len(self.fields)
        status = ItemStatus(self.status[i])
        found = status is ItemStatus.FOUND
        results = tuple(
            FieldResult(field, Outcome(self.outcomes[i * nf + f]) if found else
                        Outcome.NOT_PROVIDED, self.scores[i * nf + f], self.thresholds[f])
            for f, field in enumerate(self.fields)
        )
        return Verification(
            nik=str(self.niks[i]),
            status=status,
            fields=results,
            life_status=_name(LIFE_STATUS, self.life[i]) if found else None,
            card_status=_name(CARD_STATUS, self.card[i]) if found else None,
            problem=self.problems.get(i),
        )

    def __iter__(self) -> Iterator[Verification]:
        for i in range(len(self)):
            yield self[i]

    def count(self, status: ItemStatus) -> int:
        return self.status.count(int(status))


@dataclass(frozen=True, slots=True)
class LookupBatchResult:
    """Columnar lookup results: values[f][i] for fields[f] of item i (None = no value)."""

    niks: Sequence[str]
    fields: tuple[Field, ...]
    status: bytes
    values: list[list[str | None]]
    problems: dict[int, str]

    def __len__(self) -> int:
        return len(self.status)

    def item(self, i: int) -> dict[str, str | None] | None:
        """The requested fields of item i, or None when it was not found."""
        if self.status[i] != ItemStatus.FOUND:
            return None
        return {f.name: self.values[k][i] for k, f in enumerate(self.fields)}
