"""The scraping guard: an institution whose calls look like enumeration is throttled.

Every item of every call is judged (docs/access.md, "The scraping guard"):

- misses: items NOT_FOUND (someone guessing NIKs). INVALID_NIK items are not counted: a
  NIK that fails the public structure check (region codes, date) reveals nothing about
  who exists, so an enumerator gains nothing from it and typing errors make many of them;
- near: items whose NIK is new to this worker's recent memory of the institution but
  falls in a block of 2**BLOCK_BITS consecutive NIK numbers it asked about shortly
  before, in this call or an earlier one (someone walking serials). Order inside a batch
  does not matter, so shuffling a walk or interleaving real NIKs does not hide it; a walk
  split round-robin over W workers still shows as steps of W inside each worker's block.
  Calls of up to 256 items are read whole; larger ones through WINDOWS runs of WINDOW
  items at random places spread over the whole batch (parsing every NIK of a 1000-item
  call and keeping its blocks would cost ~120 us; the sample costs ~30 us).

Both feed exponentially decayed counters kept per institution in the shared control store
(one short LMDB write transaction per call), so every worker sees one window and one
throttle. Two kinds of threshold apply to a short (~1 min) and a long (~10 min) window:

- share: past `min_items` items of evidence, more than `max_miss_share` misses or
  `max_near_share` near items: a mostly-guessing caller is stopped within a few thousand
  items;
- budget: more misses (or near items) in the long window than `miss_allowance`
  (`near_allowance`) of what the grant lets the institution send in that window. Mixing
  real NIKs into the guesses lowers the share, not the number of guesses, so this bounds
  what an enumerator gets whatever it mixes in.

Past any threshold the institution is throttled for `cooldown` seconds to a small token
bucket shared by all workers; the worker that set the throttle logs a WARNING (no NIKs)
and calls `alert` (the `nikgate_scraping_alerts_total` metric).
"""

from __future__ import annotations

import logging
import math
import random
import struct
import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from nikgate.engine.nikset import NikSet
from nikgate.engine.results import ItemStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_FOUND = int(ItemStatus.NOT_FOUND)   # as batch answers carry it, one byte per item
BLOCK_BITS = 8                      # a neighbourhood: 256 consecutive NIK numbers
WINDOWS, WINDOW = 4, 64             # a large call is judged on 4 runs of 64 items
_LITTLE = sys.byteorder == "little"
BUSY_SECONDS = 6 * 3600             # a daily quota is assumed spent over six busy hours

# Per-institution state in the shared store, 11 float64 slots:
# 0 updated (unix s), 1-3 short window (items, misses, near), 4-6 long window (same),
# 7 throttled until, 8-9 the throttled bucket (tokens, refilled at), 10 throttles so far
_STATE = struct.Struct("<11d")
_UNTIL = struct.Struct("<d")
_UNTIL_OFFSET = 7 * 8
_EMPTY = (0.0,) * 11


@dataclass(frozen=True)
class Evidence:
    """An institution's decayed window counts as the guard last stored them."""

    items: float
    misses: float
    near: float
    long_items: float
    long_misses: float
    long_near: float
    throttled_until: float
    throttles: int


class ScrapingStates(Protocol):
    """Where the guard keeps each institution's packed state (_STATE): LocalStates (one
    process), the control store (LMDB: every worker of a node), or server/cluster's
    ClusterScrapingStates (windows summed and throttles shared across nodes through
    PostgreSQL). `update` runs inside the store's write transaction: arithmetic only."""

    def scraping_state(self, institution: str) -> bytes | None: ...

    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None], tuple[bytes | None, T]]
                              ) -> T: ...


class LocalStates:
    """Per-process state (tests, tools, a server without a control store). The control
    store (server/access/store.py) offers the same two methods over LMDB, shared by every
    worker process."""

    def __init__(self) -> None:
        self._states: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def scraping_state(self, institution: str) -> bytes | None:
        return self._states.get(institution)

    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        with self._lock:
            new, result = update(self._states.get(institution))
            if new is not None:
                self._states[institution] = new
            return result


class _Recent:
    """One worker's memory of an institution's recently sampled NIKs: the exact numbers (so
    a repeated NIK is not counted as a neighbour) and their blocks (nik >> BLOCK_BITS).
    Both are the compiled u64 NikSet, which parses NIKs in C; when the exact set fills up
    and forgets, the blocks are forgotten with it."""

    __slots__ = ("exact", "blocks", "rng")

    def __init__(self, limit: int, rng: random.Random) -> None:
        self.exact = NikSet(limit)
        self.blocks = NikSet(limit)
        self.rng = rng

    def sample(self, items: list) -> list:
        """All items of a small call; else WINDOWS runs of WINDOW consecutive items at
        random places spread over the whole batch (a contiguous walk shows inside a run,
        a shuffled one through the blocks the runs share)."""
        n = len(items)
        if n <= WINDOWS * WINDOW:
            return items
        part = n // WINDOWS
        out: list = []
        for j in range(WINDOWS):
            start = j * part + self.rng.randrange(part - WINDOW + 1)
            out += items[start:start + WINDOW]
        return out

    def near(self, sample: list) -> int:
        """How many of the sampled NIKs are new but in a block seen before."""
        ones = b"\x01" * len(sample)
        before = len(self.exact)
        new = self.exact.add_found(sample, ones)
        if len(self.exact) < before + len(new) // 8:   # it filled up and started again
            self.blocks.clear()
        if not new:
            return 0
        keys = _blocks(new)
        return len(keys) - len(self.blocks.add_found(keys, ones[:len(keys)])) // 8


def _blocks(packed: bytes) -> list[int]:
    """nik >> 8 of each packed native u64: on a little-endian machine, drop each value's
    low byte by shifting the buffer one byte (NIKs are below 2**56, so each top byte
    becomes the next value's low byte, which is then zeroed) instead of a Python loop."""
    if _LITTLE and BLOCK_BITS == 8:
        shifted = bytearray(packed[1:] + b"\0")
        shifted[7::8] = bytes(len(packed) // 8)
        return array("Q", shifted).tolist()
    return [v >> BLOCK_BITS for v in array("Q", packed)]


class ScrapingGuard:
    """Judges each call's items and throttles institutions whose traffic looks like
    enumeration. `store` shares the windows and the throttle across worker processes (the
    ControlStore; without it they are per process); `grants(institution)` returns the
    institution's Grant (AccessPolicy.grant), whose rate or daily quota sizes the budgets."""

    def __init__(self, *, store: ScrapingStates | None = None, grants: Callable[[str], Any] | None = None,
                 short_seconds: float = 60.0, long_seconds: float = 600.0,
                 min_items: int = 2000, max_miss_share: float = 0.3,
                 max_near_share: float = 0.4, miss_allowance: float = 0.2,
                 near_allowance: float = 0.5, min_budget: float = 500.0,
                 default_rate: float = 1000.0, cooldown: float = 60.0,
                 throttled_rate: float = 10.0, recent_niks: int = 8192,
                 max_tracked: int = 128, clock: Callable[[], float] = time.time,
                 alert: Callable[[str, str], None] | None = None) -> None:
        self.states: ScrapingStates = store if store is not None else LocalStates()
        self.grants = grants
        self.short_seconds = short_seconds
        self.long_seconds = long_seconds
        self.min_items = min_items
        self.max_miss_share = max_miss_share
        self.max_near_share = max_near_share
        self.miss_allowance = miss_allowance
        self.near_allowance = near_allowance
        self.min_budget = min_budget
        self.default_rate = default_rate
        self.cooldown = cooldown
        self.throttled_rate = throttled_rate
        self.recent_niks = recent_niks
        self.max_tracked = max_tracked
        self.clock = clock              # unix seconds: the state is shared across processes
        self.alert = alert              # callable(institution, reason) for metrics
        self._recent: OrderedDict[str, _Recent] = OrderedDict()
        self._lock = threading.Lock()   # large batches are observed from executor threads
        self._rng = random.Random()     # sample places an enumerator cannot predict

    # -- the call path ---------------------------------------------------------------------

    def admit(self, institution: str, items: int) -> float:
        """0 when the call may proceed; else the seconds to wait (the caller refuses)."""
        raw = self.states.scraping_state(institution)
        if raw is None:
            return 0.0
        now = self.clock()
        if _UNTIL.unpack_from(raw, _UNTIL_OFFSET)[0] <= now:
            return 0.0
        return self.states.update_scraping_state(
            institution, lambda raw: self._take_tokens(raw, items, now))

    def observe(self, institution: str, niks: Sequence, statuses: bytes) -> None:
        """Record a call's NIKs and item statuses; throttle and alert past a threshold."""
        n = len(statuses)
        if n == 0:
            return
        misses = statuses.count(NOT_FOUND)
        items = niks if type(niks) is list else list(niks)
        with self._lock:
            recent = self._recent.get(institution)
            if recent is None:
                recent = self._recent[institution] = _Recent(self.recent_niks, self._rng)
                if len(self._recent) > self.max_tracked:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(institution)
            sample = recent.sample(items)
            near = recent.near(sample) * n / len(sample) if sample else 0.0
        miss_budget, near_budget = self._budgets(institution)
        now = self.clock()
        reason = self.states.update_scraping_state(
            institution, lambda raw: self._add(raw, n, misses, near, now,
                                               miss_budget, near_budget))
        if reason:
            log.warning("possible enumeration: institution throttled",
                        extra={"institution": institution, "reason": reason,
                               "cooldown_s": self.cooldown})
            if self.alert is not None:
                self.alert(institution, reason)

    def throttled(self, institution: str) -> bool:
        raw = self.states.scraping_state(institution)
        return raw is not None and _UNTIL.unpack_from(raw, _UNTIL_OFFSET)[0] > self.clock()

    def reset(self, institution: str) -> None:
        """Forget an institution's evidence and lift its throttle, in every worker (an
        operator's decision after review; tests that share a store)."""
        self.states.update_scraping_state(institution, lambda _raw: (_STATE.pack(*_EMPTY), None))
        with self._lock:
            self._recent.pop(institution, None)

    def evidence(self, institution: str) -> Evidence | None:
        """The stored window counts (decayed to the last update), for tools and tests."""
        raw = self.states.scraping_state(institution)
        if raw is None:
            return None
        s = _STATE.unpack(raw)
        items, misses, near, long_items, long_misses, long_near, until = s[1:8]
        return Evidence(items, misses, near, long_items, long_misses, long_near, until,
                        throttles=int(s[10]))

    def budgets(self, institution: str) -> tuple[float, float]:
        """The long window's (miss, near) budgets for this institution's grant."""
        return self._budgets(institution)

    # -- inside the shared store's write transaction: arithmetic only ---------------------

    def _take_tokens(self, raw: bytes | None, items: int, now: float
                     ) -> tuple[bytes | None, float]:
        s = list(_STATE.unpack(raw)) if raw else list(_EMPTY)
        until, tokens, at = s[7], s[8], s[9]
        if until <= now:                           # another worker's view expired meanwhile
            return None, 0.0
        rate = self.throttled_rate
        tokens = min(rate, tokens + max(0.0, now - at) * rate)
        if items > rate:
            wait = until - now
        elif tokens < items:
            wait = (items - tokens) / rate
        else:
            tokens -= items
            wait = 0.0
        s[8], s[9] = tokens, now
        return _STATE.pack(*s), wait

    def _add(self, raw: bytes | None, n: int, misses: int, near: float, now: float,
             miss_budget: float, near_budget: float) -> tuple[bytes, str | None]:
        s = list(_STATE.unpack(raw)) if raw else list(_EMPTY)
        dt = max(0.0, now - s[0]) if raw else 0.0
        fs, fl = math.exp(-dt / self.short_seconds), math.exp(-dt / self.long_seconds)
        s[0] = now
        s[1], s[2], s[3] = s[1] * fs + n, s[2] * fs + misses, s[3] * fs + near
        s[4], s[5], s[6] = s[4] * fl + n, s[5] * fl + misses, s[6] * fl + near
        if s[7] > now:                             # already throttled: keep counting
            return _STATE.pack(*s), None
        reason = self._judge(s, miss_budget, near_budget)
        if reason is not None:
            s[7], s[8], s[9], s[10] = now + self.cooldown, self.throttled_rate, now, s[10] + 1
        return _STATE.pack(*s), reason

    def _judge(self, s: list[float], miss_budget: float, near_budget: float) -> str | None:
        for items, misses, near, span in ((s[1], s[2], s[3], "minute"),
                                          (s[4], s[5], s[6], "10 minutes")):
            if items < self.min_items:
                continue
            if misses > self.max_miss_share * items:
                return (f"guessing: {misses / items:.0%} of its ~{items:,.0f} NIKs in the last "
                        f"{span} were not found")
            if near > self.max_near_share * items:
                return (f"serial walking: {near / items:.0%} of its ~{items:,.0f} NIKs in the "
                        f"last {span} were next to one it had just asked")
        if s[5] > miss_budget:
            return (f"guessing: ~{s[5]:,.0f} NIKs not found in the last 10 minutes, "
                    f"over its grant's budget of {miss_budget:,.0f}")
        if s[6] > near_budget:
            return (f"serial walking: ~{s[6]:,.0f} NIKs next to one it had just asked in the "
                    f"last 10 minutes, over its grant's budget of {near_budget:,.0f}")
        return None

    def _budgets(self, institution: str) -> tuple[float, float]:
        grant = self.grants(institution) if self.grants is not None else None
        rate = grant_rate(grant) or self.default_rate
        span = rate * self.long_seconds
        return (max(self.min_budget, self.miss_allowance * span),
                max(self.min_budget, self.near_allowance * span))


def grant_rate(grant: Any) -> float:
    """Items per second a grant lets its institution send at its busiest: the rate limit,
    else the daily quota spread over BUSY_SECONDS; 0 when it sets neither."""
    if grant is None:
        return 0.0
    if grant.rate_per_second:
        return float(grant.rate_per_second)
    if grant.daily_quota:
        return grant.daily_quota / BUSY_SECONDS
    return 0.0
