"""Who owes what: accessed NIKs against return data received by the agreed deadline.

A NIK an institution accessed (first access T) is due at T + the grant's
`return_deadline_days`. It is fulfilled when return data for it arrived by then, late when
it arrived afterwards, pending while neither arrived nor due, overdue once due without
return data. Compliance = fulfilled / (fulfilled + late + overdue), 1 when nothing is due.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ..access.grants import Grant
from .store import Returns

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass
class Obligations:
    institution: str
    deadline_days: float
    accessed: int = 0
    fulfilled: int = 0
    late: int = 0
    pending: int = 0
    overdue: int = 0
    computed_at_ms: int = 0
    outstanding: list[tuple[int, int, int, bool]] = field(default_factory=list)
    # (nik, first accessed ms, due ms, overdue), overdue first, oldest first

    @property
    def compliance_ratio(self) -> float:
        due = self.fulfilled + self.late + self.overdue
        return self.fulfilled / due if due else 1.0


def compute(store: Returns, institution: str, deadline_days: float, now_ms: int,
            max_items: int = 100) -> Obligations:
    """One pass over the institution's ledger (a cursor merge, no per-NIK lookups)."""
    out = Obligations(institution, deadline_days, computed_at_ms=now_ms)
    window = int(deadline_days * DAY_MS)
    # the max_items most urgent outstanding items, by (not overdue, first access, nik):
    # a heap of negated keys keeps the least urgent at the top, ready to be replaced
    kept: list[tuple[int, int, int]] = []
    for nik, first, got in store.ledger(institution):
        out.accessed += 1
        due = first + window
        if got is not None:
            if got <= due:
                out.fulfilled += 1
            else:
                out.late += 1
            continue
        overdue = due <= now_ms
        if overdue:
            out.overdue += 1
        else:
            out.pending += 1
        if max_items:
            negated = (-int(not overdue), -first, -nik)
            if len(kept) < max_items:
                heapq.heappush(kept, negated)
            elif negated > kept[0]:
                heapq.heapreplace(kept, negated)
    urgent = sorted((-a, -f, -n) for a, f, n in kept)
    out.outstanding = [(nik, first, first + window, not later)
                       for later, first, nik in urgent]
    return out


def _ms(iso: str) -> int:
    when = dt.datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


class Enforcer:
    """Suspends grants whose overdue obligations exceed `max_overdue`, with an audit
    record saying why. Idempotent: a grant already suspended or revoked is left alone."""

    def __init__(self, store: Returns, grants: Callable[[], dict[str, Grant]],
                 suspend: Callable[[str, str], bool], audit: Callable[[str, str], None],
                 max_overdue: int, grace_days: float = 0.0) -> None:
        self.store = store
        self.grants = grants
        self.suspend = suspend          # (institution, reason) -> True if it changed
        self.audit = audit              # (institution, reason)
        self.max_overdue = max_overdue
        self.grace_ms = int(grace_days * DAY_MS)

    def run_once(self, now_ms: int) -> list[str]:
        suspended = []
        for institution, grant in sorted(self.grants().items()):
            if grant.status != "active" or grant.return_deadline_days <= 0:
                continue
            if grant.updated_at and now_ms - _ms(grant.updated_at) < self.grace_ms:
                continue  # just set or reactivated: time to catch up first
            ob = compute(self.store, institution, grant.return_deadline_days, now_ms, 0)
            if ob.overdue <= self.max_overdue:
                continue
            reason = (f"auto-suspended: {ob.overdue:,} return-data obligations overdue "
                      f"(more than {self.max_overdue:,} allowed; deadline "
                      f"{grant.return_deadline_days:g} days after access)")
            if self.suspend(institution, reason):
                self.audit(institution, reason)
                log.warning("grant suspended for overdue return data",
                            extra={"institution": institution, "overdue": ob.overdue,
                                   "max_overdue": self.max_overdue})
                suspended.append(institution)
        return suspended
