"""Pure-Python reference of NIK checking and verification: the test oracle.

Property tests assert that the compiled core (through the NikIndex facade) and this module
agree on random and adversarial inputs. It is never used to serve requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from nikgate.regions import load_regions

from . import names
from .claims import CODE_MAPS, ClaimPlan
from .constants import MAX_TEXT_BYTES, NikReason
from .record import Tokens, checksum_ok, decode
from .results import ItemStatus, Outcome
from .schema import KIND, TEXT_KIND, Field, Kind


def nik_reason(text: str) -> int:
    """The reason code (constants.NikReason; 0 = valid) of the compiled check, recomputed."""
    if not text:
        return NikReason.EMPTY
    if text[0] in " \t\n\v\f\r" or text[-1] in " \t\n\v\f\r":
        return NikReason.WHITESPACE
    for ch in text:
        if "0" <= ch <= "9":
            continue
        return (NikReason.FULLWIDTH_DIGIT if "\uff10" <= ch <= "\uff19"
                else NikReason.NON_DIGIT)
    if len(text) != 16:
        return NikReason.LENGTH
    regions = load_regions()
    if int(text[0:2]) not in regions.provinces:
        return NikReason.UNKNOWN_PROVINCE
    if int(text[0:4]) not in regions.regencies:
        return NikReason.UNKNOWN_REGENCY
    if int(text[0:6]) not in regions.districts:
        return NikReason.UNKNOWN_DISTRICT
    day, month, yy = int(text[6:8]), int(text[8:10]), int(text[10:12])
    if day > 40:
        day -= 40
    year = 2000 + yy if yy % 4 == 0 else 2001  # any leap / common year stands in
    try:
        dt.date(year, month, day)
    except ValueError:
        return NikReason.BAD_DATE
    if text[12:16] == "0000":
        return NikReason.ZERO_SERIAL
    return NikReason.OK


def _claim_value(field: Field, value: str) -> int | bytes | None:
    """The comparable form of a claim, or None when it cannot be compared."""
    kind = KIND[field]
    if kind is Kind.TEXT:
        raw = value.encode("utf-8")
        return raw if len(raw) <= MAX_TEXT_BYTES else None
    if kind is Kind.DATE:
        if len(value) != 10 or value[4] != "-" or value[7] != "-":
            return None
        digits = value[0:4] + value[5:7] + value[8:10]
        if not (digits.isascii() and digits.isdigit()):
            return None
        try:
            return dt.date(int(value[0:4]), int(value[5:7]), int(value[8:10])).toordinal()
        except ValueError:
            return None
    if kind is Kind.CODE:
        table = CODE_MAPS[field]
        code = table.get(value)
        return code if code is not None else table.get(value.strip().upper())
    width = 16 if kind is Kind.NUMBER16 else 4
    if not (value.isascii() and value.isdigit()) or len(value) > width or (
        kind is Kind.NUMBER16 and len(value) != 16
    ):
        return None
    return int(value)


def verify_one(
    nik: str,
    stored: bytes | None,
    plan: ClaimPlan,
    claims: Mapping[Field, str | None],
    tokens: Tokens,
) -> tuple[ItemStatus, int, int, list[tuple[Outcome, int]]]:
    """(status, life code, card code, [(outcome, score) per planned field]) for one item.

    `stored` is what the index holds under the NIK (None when absent); `tokens` the
    index's token dictionary.
    """
    empty = [(Outcome.NOT_PROVIDED, 0)] * len(plan.fields)
    if nik_reason(nik):
        return ItemStatus.INVALID_NIK, 0, 0, empty
    values: list[int | bytes | None] = []
    for field in plan.fields:
        claim = claims.get(field)
        if claim is None or claim == "":
            values.append(None)
            continue
        v = _claim_value(field, claim)
        if v is None:
            return ItemStatus.INVALID_CLAIM, 0, 0, empty
        values.append(v)
    key = int(nik)
    if stored is None:
        return ItemStatus.NOT_FOUND, 0, 0, empty
    if not checksum_ok(key, stored):
        return ItemStatus.CORRUPT, 0, 0, empty
    record = decode(key, stored, tokens)
    out: list[tuple[Outcome, int]] = []
    for field, threshold, v in zip(plan.fields, plan.thresholds, values, strict=True):
        if v is None:
            out.append((Outcome.NOT_PROVIDED, 0))
            continue
        if KIND[field] is Kind.TEXT:
            score = names.score(record[field], v, TEXT_KIND[field])  # type: ignore[arg-type]
        else:
            score = 100 if record[field] == v else 0
        out.append((Outcome.MATCH if score >= threshold else Outcome.NO_MATCH, score))
    return ItemStatus.FOUND, record[Field.STATUS_HIDUP], record[Field.STATUS_KTP], out
