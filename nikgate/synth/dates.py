"""Precomputed calendar: ISO strings and NIK date parts by proleptic ordinal."""

from __future__ import annotations

import datetime as _dt

# The export is a snapshot "as of" this day: ages are counted to it and every base
# date (birth, death, KK issue) lies before it.
AS_OF = _dt.date(2026, 1, 1)
AS_OF_ORD = AS_OF.toordinal()
FIRST_ORD = _dt.date(1920, 1, 1).toordinal()
LAST_ORD = _dt.date(2027, 12, 31).toordinal()
DAYS_PER_YEAR = 365.2425

# ISO[o - FIRST_ORD] is "YYYY-MM-DD"; DDMMYY[o - FIRST_ORD] the NIK date part as an int
# (without the +40 for women, which is 400000 added to the int). Bounded: ~39k entries.
ISO: list[str] = []
DDMMYY: list[int] = []
YEAR: list[int] = []
for _o in range(FIRST_ORD, LAST_ORD + 1):
    _d = _dt.date.fromordinal(_o)
    ISO.append(_d.isoformat())
    DDMMYY.append(_d.day * 10000 + _d.month * 100 + _d.year % 100)
    YEAR.append(_d.year)
del _o, _d

FEMALE_DAY_OFFSET = 400000  # +40 on the DD part of DDMMYY


def ordinal(iso: str) -> int:
    """The proleptic ordinal of a "YYYY-MM-DD" string."""
    return _dt.date.fromisoformat(iso).toordinal()
