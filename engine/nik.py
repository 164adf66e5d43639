"""NIK validation and decoding: `PP KK CC DDMMYY SSSS` (DOMAIN.md).

The compiled core does the checking (the same code serves batches); this module turns its
reason codes into messages a person can act on and decodes a valid NIK into its parts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nikgate.errors import InvalidNikError
from nikgate.regions import dotted, load_regions

from . import _core
from .constants import NikReason

# Reason codes of the compiled check (nik.pxi) -> their names, the stable API form. The codes
# are constants.NikReason, which setup.py also renders into the core.
REASONS = {int(r): r.name for r in NikReason if r is not NikReason.OK}


@dataclass(frozen=True, slots=True)
class NikParts:
    """A valid NIK, decoded."""

    nik: str
    province: str
    regency: str
    district: str
    district_code: str          # dotted, e.g. "32.01.01"
    birth_day: int
    birth_month: int
    birth_year_2digit: int
    sex: str                    # LAKI-LAKI or PEREMPUAN (day + 40)
    serial: int

    def birth_date_candidates(self) -> list[dt.date]:
        """The dates the NIK can stand for: the century is not in the NIK."""
        out = []
        for century in (1900, 2000):
            try:
                out.append(dt.date(century + self.birth_year_2digit, self.birth_month,
                                   self.birth_day))
            except ValueError:
                pass
        return out


def explain(reason: int, pos: int, text: str) -> str:
    """The message for a failed check of `text` (reason and position from the core)."""
    regions = load_regions()
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    if reason == NikReason.EMPTY:
        return "NIK is empty: send the 16-digit NIK"
    if reason == NikReason.WHITESPACE:
        return "NIK has leading or trailing whitespace; send exactly 16 digits"
    if reason == NikReason.FULLWIDTH_DIGIT:
        return (f"NIK character {pos} is a full-width digit; send ASCII digits 0-9 "
                "(switch the keyboard or input method to half-width)")
    if reason == NikReason.NON_DIGIT:
        bad = text[pos - 1] if 0 < pos <= len(text) else "?"
        return f"NIK must contain only digits 0-9; character {pos} is {bad!r}"
    if reason == NikReason.LENGTH:
        return f"NIK must be 16 digits, got {pos}"
    if reason == NikReason.UNKNOWN_PROVINCE:
        return f"NIK province code {digits[0:2]} is not a known province"
    if reason == NikReason.UNKNOWN_REGENCY:
        prov = regions.provinces.get(int(digits[0:2]), "?")
        return (f"NIK regency code {digits[0:2]}.{digits[2:4]} is not a known regency or city "
                f"of {prov}")
    if reason == NikReason.UNKNOWN_DISTRICT:
        reg = regions.regencies.get(int(digits[0:4]), "?")
        return (f"NIK district code {digits[0:2]}.{digits[2:4]}.{digits[4:6]} is not a known "
                f"district of {reg}")
    if reason == NikReason.BAD_DATE:
        day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
        shown = f"{digits[6:8]}-{digits[8:10]}-{digits[10:12]}"
        if day > 40:
            shown += f" (a woman's: day {day} - 40 = {day - 40})"
            day -= 40
        if not 1 <= month <= 12:
            return f"NIK birth date {shown} has month {month:02d}; months run 01-12"
        if month == 2 and day == 29:
            return (f"NIK birth date {shown} is 29 February in a year that is not a leap "
                    f"year (19{yy:02d} and 20{yy:02d} are both common years)")
        return (f"NIK birth date {shown} is not a real date: day {day} does not exist in "
                f"month {month:02d} (women's days run 41-71)")
    if reason == NikReason.ZERO_SERIAL:
        return "NIK serial number (last 4 digits) must not be 0000"
    return f"NIK is invalid (reason {reason})"


def check_nik(text: str) -> int:
    """The NIK as an integer, or InvalidNikError with the reason."""
    reason, value, pos = _core.py_nik_parse(text)
    if reason:
        raise InvalidNikError(explain(reason, pos, text), reason=REASONS[reason])
    return value


def decode_nik(text: str) -> NikParts:
    """A valid NIK's parts with region names; InvalidNikError otherwise."""
    value = check_nik(text)
    s = f"{value:016d}"
    regions = load_regions()
    district = int(s[0:6])
    province, regency, district_name = regions.describe_district(district)
    day = int(s[6:8])
    sex = "PEREMPUAN" if day > 40 else "LAKI-LAKI"
    return NikParts(
        nik=s,
        province=province,
        regency=regency,
        district=district_name,
        district_code=dotted(district, 3),
        birth_day=day - 40 if day > 40 else day,
        birth_month=int(s[8:10]),
        birth_year_2digit=int(s[10:12]),
        sex=sex,
        serial=int(s[12:16]),
    )


def nik_date_part(birth: dt.date, sex_code: int) -> int:
    """The DDMMYY number a NIK must carry for this birth date and sex (2 = PEREMPUAN)."""
    day = birth.day + (40 if sex_code == 2 else 0)
    return day * 10000 + birth.month * 100 + birth.year % 100
