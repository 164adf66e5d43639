"""Warehouse row -> stored record, and the pure-Python reading of a stored record.

`encode_row` validates one export row and packs it (layout in record.pxi and
docs/index-format.md); `decode` is the reference reader the oracle and tools use.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import xxhash

from nikgate.regions import load_regions, village_codes

from . import _core
from .constants import (
    CODED_FIELDS,
    HEADER_FIELDS,
    HEADER_SIZE,
    LIFE_STATUS,
    RECORD_FORMAT,
    SEX,
    TEXT_FIELDS,
)
from .nik import REASONS, explain, nik_date_part
from .schema import CODE_TABLE, MAX_TEXT_BYTES, MAY_BE_EMPTY, REQUIRED_COLUMNS, Field

# checksum (u64), format byte, then constants.HEADER_FIELDS in offset order (no padding)
HEADER = struct.Struct("<QB" + "".join(code for _, _, code in HEADER_FIELDS))
assert HEADER.size == HEADER_SIZE
_HEADER_ORDER = tuple(f for f, _, _ in HEADER_FIELDS)
_CODES = {f: {name: i + 1 for i, name in enumerate(names)} for f, names in CODE_TABLE.items()}
_COL = {Field[name]: i for i, name in enumerate(REQUIRED_COLUMNS)}  # a row's column by field
_EARLIEST = dt.date(1850, 1, 1)
# Where encode() finds the codes its consistency checks need, and the codes they compare.
_AT_LIFE = CODED_FIELDS.index(Field.STATUS_HIDUP)
_AT_SEX = CODED_FIELDS.index(Field.JENIS_KLMIN)
_MATI = LIFE_STATUS.index("MATI") + 1
_PEREMPUAN = SEX.index("PEREMPUAN") + 1
_core_ready = False


class RowRejected(Exception):
    """A row that cannot be stored; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _date(value: str, column: str, today: dt.date) -> dt.date:
    ordinal = _core.py_parse_iso_date(value)
    if ordinal < 0:
        raise RowRejected("BAD_DATE", f"{column} {value!r} is not a real date in YYYY-MM-DD form")
    d = dt.date.fromordinal(ordinal)
    if d > today or d < _EARLIEST:
        raise RowRejected("BAD_DATE", f"{column} {value} is outside {_EARLIEST} .. {today}")
    return d


def _number(value: str, column: str, digits: int, exact: bool) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > digits or (
        exact and len(value) != digits
    ):
        want = f"exactly {digits}" if exact else f"1 to {digits}"
        raise RowRejected("BAD_NUMBER", f"{column} {value!r} must be {want} digits")
    return int(value)


class RowEncoder:
    """Validates and packs export rows: the reference, and the source of every rejection.

    Builds use `fast()`, the compiled encoder, which hands any row it would not accept back
    to this class so that the rejection and its message come from one place.
    """

    def __init__(self, today: dt.date | None = None) -> None:
        self.today = today or dt.date.today()
        self.regions = load_regions()
        self._villages: frozenset[int] | None = None

    def _village_known(self, code: int) -> bool:
        if self._villages is None:
            self._villages = village_codes()
        return code in self._villages

    def _init_core(self) -> None:
        global _core_ready
        if not _core_ready:
            # in CODED_FIELDS order: the order encode.pxi checks coded fields in
            _core.init_ingest_tables([CODE_TABLE[f] for f in CODED_FIELDS], village_codes())
            _core_ready = True

    def fast(self) -> _core.FastRowEncoder:
        """The compiled encoder for rows given as lists of str, backed by this one."""
        self._init_core()
        return _core.FastRowEncoder(self, self.today.toordinal(), _EARLIEST.toordinal())

    def parser(self, width: int, columns: list[int], slow, reject,
               first_line: int) -> _core.ExportParser:
        """The compiled CSV parser + packer for builds (encode.pxi)."""
        self._init_core()
        return _core.ExportParser(width, columns, slow, reject, self.today.toordinal(),
                                  _EARLIEST.toordinal(), first_line)

    def encode(self, row: list[str]) -> tuple[int, bytes]:
        """(NIK, record bytes) for a row in REQUIRED_COLUMNS order, or RowRejected."""
        for i, name in enumerate(REQUIRED_COLUMNS):
            if not row[i] and name not in MAY_BE_EMPTY:
                raise RowRejected("MISSING_FIELD", f"{name} is empty")
        nik_text = row[_COL[Field.NIK]]
        reason, nik, pos = _core.py_nik_parse(nik_text)
        if reason:
            raise RowRejected("BAD_NIK", f"{explain(reason, pos, nik_text)} [{REASONS[reason]}]")
        codes = []
        for field in CODED_FIELDS:
            value = row[_COL[field]]
            if not value and field.name in MAY_BE_EMPTY:
                codes.append(0)
                continue
            code = _CODES[field].get(value)
            if code is None:
                allowed = ", ".join(CODE_TABLE[field])
                raise RowRejected("BAD_VALUE",
                                  f"{field.name} {value!r} is not one of: {allowed}")
            codes.append(code)
        life, sex = codes[_AT_LIFE], codes[_AT_SEX]
        birth = _date(row[_COL[Field.TGL_LHR]], "TGL_LHR", self.today)
        expected = nik_date_part(birth, sex)
        actual = nik // 10000 % 1000000
        if expected != actual:
            nik_day = actual // 10000
            if nik_day % 40 == birth.day % 40 and (nik_day > 40) != (sex == _PEREMPUAN):
                raise RowRejected(
                    "NIK_SEX_MISMATCH",
                    f"NIK day {nik_day:02d} says {'PEREMPUAN' if nik_day > 40 else 'LAKI-LAKI'} "
                    f"but JENIS_KLMIN is {row[_COL[Field.JENIS_KLMIN]]}")
            raise RowRejected(
                "NIK_BIRTH_DATE_MISMATCH",
                f"NIK birth date part {actual:06d} disagrees with TGL_LHR {birth} "
                f"(expected {expected:06d})")
        death_text = row[_COL[Field.TGL_MATI]]
        death = 0
        if life == _MATI:
            if not death_text:
                raise RowRejected("MISSING_FIELD", "TGL_MATI is empty but STATUS_HIDUP is MATI")
            d = _date(death_text, "TGL_MATI", self.today)
            if d < birth:
                raise RowRejected("BAD_DATE", f"TGL_MATI {d} is before TGL_LHR {birth}")
            death = d.toordinal()
        elif death_text:
            raise RowRejected("BAD_VALUE", "TGL_MATI is set but STATUS_HIDUP is HIDUP")
        no_kk = _number(row[_COL[Field.NO_KK]], "NO_KK", 16, exact=True)
        rt = _number(row[_COL[Field.NO_RT]], "NO_RT", 3, exact=False)
        rw = _number(row[_COL[Field.NO_RW]], "NO_RW", 3, exact=False)
        prop = _number(row[_COL[Field.NO_PROP]], "NO_PROP", 2, exact=True)
        kab = _number(row[_COL[Field.NO_KAB]], "NO_KAB", 2, exact=True)
        kec = _number(row[_COL[Field.NO_KEC]], "NO_KEC", 2, exact=True)
        kel = _number(row[_COL[Field.NO_KEL]], "NO_KEL", 4, exact=True)
        district = prop * 10000 + kab * 100 + kec
        if district not in self.regions.districts:
            raise RowRejected("UNKNOWN_REGION",
                              f"residence district {prop:02d}.{kab:02d}.{kec:02d} is not known")
        if not self._village_known(district * 10000 + kel):
            raise RowRejected("UNKNOWN_REGION",
                              f"NO_KEL {kel:04d} is not a village of district "
                              f"{prop:02d}.{kab:02d}.{kec:02d}")
        parts: list[bytes] = [bytes(HEADER.size)]
        for field in TEXT_FIELDS:
            # stored in the form the scorer compares (names.pxi normal_text): batches score the
            # stored bytes as they are, without the GIL to normalise them
            raw = _core.py_normal_text(row[_COL[field]]).encode("utf-8")
            if len(raw) > MAX_TEXT_BYTES:
                raise RowRejected("TOO_LONG", f"{field.name} is {len(raw)} bytes; at most "
                                              f"{MAX_TEXT_BYTES} are stored")
            parts.append(bytes((len(raw),)))
            parts.append(raw)
        record = bytearray(b"".join(parts))
        # the fixed slots are parsed and checked one by one above (each has its own rule)
        numbers = dict(zip(CODED_FIELDS, codes, strict=True))
        numbers.update({Field.NO_PROP: prop, Field.NO_KAB: kab, Field.NO_KEC: kec,
                        Field.NO_KEL: kel, Field.NO_RT: rt, Field.NO_RW: rw,
                        Field.TGL_LHR: birth.toordinal(), Field.TGL_MATI: death,
                        Field.NO_KK: no_kk})
        HEADER.pack_into(record, 0, 0, RECORD_FORMAT, *(numbers[f] for f in _HEADER_ORDER))
        return nik, _core.seal_record(nik, record)


def checksum_ok(nik: int, value: bytes) -> bool:
    """The reference check of a stored record (format byte, layout, xxh3)."""
    if len(value) < HEADER.size + len(TEXT_FIELDS) or value[8] != RECORD_FORMAT:
        return False
    pos = HEADER.size
    for _ in TEXT_FIELDS:
        if pos >= len(value):
            return False
        pos += 1 + value[pos]
    if pos != len(value):
        return False
    return struct.unpack_from("<Q", value)[0] == xxhash.xxh3_64_intdigest(value[8:], seed=nik)


def decode(nik: int, value: bytes) -> dict[Field, Any]:
    """Every stored field as its comparable value: codes and dates as integers."""
    out: dict[Field, Any] = {Field.NIK: nik}
    out.update(zip(_HEADER_ORDER, HEADER.unpack_from(value)[2:], strict=True))
    pos = HEADER.size
    for field in TEXT_FIELDS:
        n = value[pos]
        out[field] = value[pos + 1:pos + 1 + n]
        pos += 1 + n
    return out
