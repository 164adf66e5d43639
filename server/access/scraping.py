"""The scraping guard: an institution whose calls look like enumeration is throttled.

Two signals over a sliding window of the institution's recent items (per worker): the
share of NIKs that are not in the index or invalid (someone guessing), and the share of
NIKs that follow the previous one in the request by +1 or +2 (someone walking serials).
The second is estimated from the first SAMPLE items of each call: converting every NIK of
a 1000-item batch cost ~250 us, a third of all access-control overhead, while a walk shows
in any run of consecutive items.
Past either threshold the institution is throttled for `cooldown` seconds: its calls are
held to a small local token bucket, an alert goes to the log (WARNING, no NIKs) and the
`nikgate_scraping_alerts_total` metric.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

NOT_FOUND, INVALID_NIK = 2, 3
SAMPLE = 64


@dataclass
class _Window:
    calls: deque = field(default_factory=deque)   # (items, misses, sequential)
    items: int = 0
    misses: int = 0
    sequential: int = 0
    throttled_until: float = 0.0
    tokens: float = 0.0
    last: float = 0.0


class ScrapingGuard:
    def __init__(self, window_items: int = 5000, min_items: int = 2000,
                 max_miss_share: float = 0.5, max_sequential_share: float = 0.5,
                 cooldown: float = 60.0, throttled_rate: float = 10.0,
                 clock=time.monotonic, alert=None) -> None:
        self.window_items = window_items
        self.min_items = min_items
        self.max_miss_share = max_miss_share
        self.max_sequential_share = max_sequential_share
        self.cooldown = cooldown
        self.throttled_rate = throttled_rate
        self.clock = clock
        self.alert = alert                  # callable(institution, reason) for metrics
        self._by_institution: dict[str, _Window] = {}

    def admit(self, institution: str, items: int) -> float:
        """0 when the call may proceed; else the seconds to wait (the caller refuses)."""
        w = self._by_institution.get(institution)
        if w is None or w.throttled_until <= self.clock():
            return 0.0
        now = self.clock()
        w.tokens = min(self.throttled_rate, w.tokens + (now - w.last) * self.throttled_rate)
        w.last = now
        if items > self.throttled_rate:
            return w.throttled_until - now
        if w.tokens < items:
            return (items - w.tokens) / self.throttled_rate
        w.tokens -= items
        return 0.0

    def observe(self, institution: str, niks: Sequence, statuses: bytes) -> None:
        """Record a call's NIKs and item statuses; throttle and alert past a threshold."""
        n = len(statuses)
        if n == 0:
            return
        misses = statuses.count(NOT_FOUND) + statuses.count(INVALID_NIK)
        sequential = 0
        prev = None
        sample = niks[:SAMPLE]
        for nik in sample:
            try:
                value = int(nik)
            except (TypeError, ValueError):
                prev = None
                continue
            if prev is not None and 0 < value - prev <= 2:
                sequential += 1
            prev = value
        if len(sample) < n and len(sample) > 1:
            sequential = round(sequential * (n - 1) / (len(sample) - 1))
        w = self._by_institution.setdefault(institution, _Window())
        w.calls.append((n, misses, sequential))
        w.items += n
        w.misses += misses
        w.sequential += sequential
        while w.calls and w.items - w.calls[0][0] >= self.window_items:
            old_n, old_m, old_s = w.calls.popleft()
            w.items -= old_n
            w.misses -= old_m
            w.sequential -= old_s
        if w.items < self.min_items or w.throttled_until > self.clock():
            return
        reason = None
        if w.misses / w.items > self.max_miss_share:
            reason = f"{w.misses / w.items:.0%} of its last {w.items:,} NIKs were not found"
        elif w.sequential / w.items > self.max_sequential_share:
            reason = (f"{w.sequential / w.items:.0%} of its last {w.items:,} NIKs followed "
                      "the previous one (serial walking)")
        if reason:
            now = self.clock()
            w.throttled_until = now + self.cooldown
            w.tokens, w.last = self.throttled_rate, now
            log.warning("possible enumeration: institution throttled",
                        extra={"institution": institution, "reason": reason,
                               "cooldown_s": self.cooldown})
            if self.alert is not None:
                self.alert(institution, reason)

    def throttled(self, institution: str) -> bool:
        w = self._by_institution.get(institution)
        return w is not None and w.throttled_until > self.clock()
