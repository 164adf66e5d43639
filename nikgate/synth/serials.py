"""NIK and KK serial allocation with memory bounded by one district, not by the file.

Why this is unique without a global set
---------------------------------------
A NIK is `district(6) + DDMMYY(+40 for women) + serial(4)`. The export is generated one
issuing district at a time (export.py visits each district once), so every NIK of a
district is allocated while that district is current. `NikSerials` keeps one counter per
DDMMYY-with-sex key seen in the current district (at most ~2 x 36,600 keys for a century
of birth dates, however many rows), hands out 0001, 0002, ... and is dropped when the
district is done. Two NIKs of different districts differ in the prefix; two of the same
district differ in (date key, serial). The base export never uses serials >= 9000
(BASE_MAX_SERIAL), which leaves 9000-9999 free for newborns in a delta.

NO_KK is `residence district(6) + DDMMYY of the issue date + serial(4)`. Households that
live where they were registered get issue dates in 2004-2025 and serials 0001-8999 from a
per-district counter (`KkSerials.local`). A "mover" household registered in district X but
living in Y gets a KK numbered in Y while X is being generated, so Y's counter cannot be
used. Instead its (date, serial) encodes X injectively: serial = 9000 + X.index % 1000 and
date = 1996-01-01 + (X.index // 1000) * 1100 + j, where j runs through 0..1099 (from a
random start) over X's mover KKs into Y; these counters live only while X is current.
Mover KKs therefore never meet local KKs (serial ranges differ), nor movers from another
district (index differs), nor each other (j differs). A delta issues new KKs dated 2026,
a year the base never uses.
"""

from __future__ import annotations

from .dates import DDMMYY, FIRST_ORD, ordinal

BASE_MAX_SERIAL = 8999
DELTA_MIN_SERIAL = 9000
DELTA_MAX_SERIAL = 9999

_MOVER_BASE_ORD = ordinal("1996-01-01")
_MOVER_SPAN = 1100
LOCAL_KK_FIRST_ORD = ordinal("2004-01-01")


class NikSerials:
    """NIK allocation for one issuing district (or one delta); bounded by its date keys."""

    __slots__ = ("prefix", "_next", "_first", "_limit")

    def __init__(self, prefix: str = "", first: int = 1, limit: int = BASE_MAX_SERIAL) -> None:
        self.prefix = prefix
        self._next: dict[int, int] = {}
        self._first = first
        self._limit = limit

    def nik(self, key: int, prefix: str | None = None) -> str | None:
        """The next NIK for DDMMYY key `key` (women: +400000), or None when exhausted.

        `prefix` overrides the district for allocators shared by several districts (the
        delta); the counter is then keyed by district too.
        """
        if prefix is not None:
            full = int(prefix) * 1_000_000 + key
        else:
            prefix, full = self.prefix, key
        n = self._next.get(full, self._first - 1) + 1
        if n > self._limit:
            return None
        self._next[full] = n
        return f"{prefix}{key:06d}{n:04d}"


class KkSerials:
    """NO_KK allocation while one district X is being generated."""

    __slots__ = ("_local", "_movers", "_mover_serial", "_mover_day0")

    def __init__(self, district_index: int) -> None:
        self._local: dict[int, int] = {}
        self._movers: dict[int, int] = {}
        self._mover_serial = DELTA_MIN_SERIAL + district_index % 1000
        self._mover_day0 = _MOVER_BASE_ORD + (district_index // 1000) * _MOVER_SPAN

    def local(self, prefix: str, issue_ord: int) -> str | None:
        """A KK of district X itself, issued on `issue_ord` (2004-2025); None if full."""
        key = DDMMYY[issue_ord - FIRST_ORD]
        n = self._local.get(key, 0) + 1
        if n > BASE_MAX_SERIAL:
            return None
        self._local[key] = n
        return f"{prefix}{key:06d}{n:04d}"

    def mover(self, residence: int, start: int) -> str | None:
        """A KK in district `residence` for a household registered in X; None if full.

        `start` (0 .. 1099) randomises the first issue date of this X -> Y pair.
        """
        state = self._movers.get(residence)  # start * 10000 + count used so far
        if state is None:
            state = (start % _MOVER_SPAN) * 10000
        count = state % 10000
        if count >= _MOVER_SPAN:
            return None
        self._movers[residence] = state + 1
        j = (state // 10000 + count) % _MOVER_SPAN
        key = DDMMYY[self._mover_day0 + j - FIRST_ORD]
        return f"{residence:06d}{key:06d}{self._mover_serial:04d}"
