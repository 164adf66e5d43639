"""Warehouse row -> packed row -> stored record, and the pure-Python reading of a stored
record.

`RowEncoder.encode` validates one export row and packs it (the packed row: layout in
record.pxi and docs/index-format.md); `store` turns a packed row into the stored record
with a generation's token dictionary, as the compiled core does (record.pxi
`store_record`); `decode` is the reference reader the oracle and tools use. The three are
the Python twins of the core's, and the tests hold them to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import xxhash

from nikgate.regions import load_regions, village_codes

from . import _core
from .constants import (
    BIT_AT,
    BITS_AT,
    BITS_BYTES,
    CHECKSUM_BYTES,
    CODE_BITS,
    CODED_FIELDS,
    HEADER_FIELDS,
    HEADER_SIZE,
    LIFE_STATUS,
    RECORD_FORMAT,
    SEX,
    SLOT_STORAGE,
    STORED_FORMAT,
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


def packed_ok(nik: int, value: bytes) -> bool:
    """The reference check of a packed row (format byte, layout, xxh3)."""
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


def _decode_packed(value: bytes) -> dict[Field, Any]:
    out: dict[Field, Any] = dict(zip(_HEADER_ORDER, HEADER.unpack_from(value)[2:], strict=True))
    pos = HEADER.size
    for field in TEXT_FIELDS:
        n = value[pos]
        out[field] = value[pos + 1:pos + 1 + n]
        pos += 1 + n
    return out


# -- the stored record ---------------------------------------------------------------------
_TOKEN_MAGIC = b"NIKTOK01"
_E10 = 10**10
_CENTURIES = (1900, 2000, 1800)   # BIRTH codes 0, 1, 2; 3: the day number follows
_NIK_SLOTS = ("NO_PROP", "NO_KAB", "NO_KEC", "TGL_LHR", "NO_KK")
assert sorted(n for n, how in SLOT_STORAGE.items() if not how.isdigit()) == sorted(
    (*_NIK_SLOTS, "TGL_MATI")), "a new fixed slot needs code in store() and decode()"


class Tokens:
    """A token dictionary (engine/tokens.pxi's blob) read in Python."""

    def __init__(self, blob: bytes) -> None:
        if blob[:8] != _TOKEN_MAGIC:
            raise ValueError("not a token dictionary")
        count, size = struct.unpack_from("<II", blob, 8)
        offsets = struct.unpack_from(f"<{count + 1}I", blob, 16)
        text = blob[16 + 4 * (count + 1):]
        if len(text) != size:
            raise ValueError("token dictionary size does not match its header")
        self.words = [text[offsets[i]:offsets[i + 1]] for i in range(count)]
        self.ids = {w: i for i, w in enumerate(self.words)}


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _read_varint(b: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    for k in range(5):
        if pos + k >= len(b):
            break
        v |= (b[pos + k] & 0x7F) << shift
        if not b[pos + k] & 0x80:
            return v, pos + k + 1
        shift += 7
    raise ValueError("bad varint")


def encode_text(text: bytes, tokens: Tokens) -> bytes:
    """A text's stored payload (tokens.pxi): token ids, literals, or the text as it is."""
    if not text:
        return b""
    raw = b"\x01" + text
    words = text.split(b" ")
    if not all(words):
        return raw
    out = b""
    for w in words:
        i = tokens.ids.get(w)
        part = _varint(i + 2) if i is not None else bytes((0, len(w))) + w
        if len(out) + len(part) > len(raw):
            return raw
        out += part
    return out


def decode_text(payload: bytes, tokens: Tokens) -> bytes:
    if not payload:
        return b""
    if payload[0] == 1:
        return payload[1:]
    words, pos = [], 0
    while pos < len(payload):
        v, pos = _read_varint(payload, pos)
        if v == 0:
            n = payload[pos]
            words.append(payload[pos + 1:pos + 1 + n])
            pos += 1 + n
        else:
            words.append(tokens.words[v - 2])
    return b" ".join(words)


def _nik_birth(nik: int, century: int) -> int:
    dd, mm, yy = nik // 10**8 % 100, nik // 10**6 % 100, nik // 10**4 % 100
    try:
        return dt.date(century + yy, mm, dd - 40 if dd > 40 else dd).toordinal()
    except ValueError:
        return -1


def store(nik: int, packed: bytes, tokens: Tokens) -> bytes:
    """The stored record of a packed row (record.pxi store_record, in Python)."""
    if not packed_ok(nik, packed):
        raise ValueError("not a sound packed row")
    row = _decode_packed(packed)
    district = nik // _E10
    bits = 0
    for field, width in zip(CODED_FIELDS, CODE_BITS, strict=True):
        if row[field] >> width:
            raise ValueError(f"{field.name} code {row[field]} does not fit {width} bits")
        bits |= row[field] << BIT_AT[f"CODE_{field.name}"]
    for name, how in SLOT_STORAGE.items():
        if how.isdigit():
            bits |= row[Field[name]] << BIT_AT[name]
    tail = b""
    if row[Field.NO_PROP] * 10000 + row[Field.NO_KAB] * 100 + row[Field.NO_KEC] != district:
        bits |= 1 << BIT_AT["REGION_OWN"]
        tail += bytes((row[Field.NO_PROP], row[Field.NO_KAB], row[Field.NO_KEC]))
    kk = row[Field.NO_KK]
    if kk // _E10 == district:
        tail += (kk % _E10).to_bytes(5, "little")
    else:
        bits |= 1 << BIT_AT["KK_OWN"]
        tail += kk.to_bytes(7, "little")
    birth = row[Field.TGL_LHR]
    code = next((c for c, cent in enumerate(_CENTURIES) if _nik_birth(nik, cent) == birth), 3)
    bits |= code << BIT_AT["BIRTH"]
    if code == 3:
        tail += struct.pack("<i", birth)
    if row[Field.TGL_MATI]:
        bits |= 1 << BIT_AT["DEAD"]
        tail += _varint(row[Field.TGL_MATI] - birth)
    for field in TEXT_FIELDS:
        payload = encode_text(row[field], tokens)
        tail += _varint(len(payload)) + payload
    body = bytes((STORED_FORMAT,)) + bits.to_bytes(BITS_BYTES, "little") + tail
    check = xxhash.xxh3_64_intdigest(body, seed=nik) & 0xFFFFFFFF
    return check.to_bytes(CHECKSUM_BYTES, "little") + body


def checksum_ok(nik: int, value: bytes) -> bool:
    """The reference check of a stored record (format byte, checksum, layout)."""
    if len(value) < BITS_AT + BITS_BYTES or value[CHECKSUM_BYTES] != STORED_FORMAT:
        return False
    if int.from_bytes(value[:CHECKSUM_BYTES], "little") != xxhash.xxh3_64_intdigest(
            value[CHECKSUM_BYTES:], seed=nik) & 0xFFFFFFFF:
        return False
    try:
        _unpack(nik, value)
    except (ValueError, IndexError):
        return False
    return True


def _unpack(nik: int, value: bytes) -> tuple[dict[Field, Any], list[bytes]]:
    bits = int.from_bytes(value[BITS_AT:BITS_AT + BITS_BYTES], "little")

    def part(name: str, width: int) -> int:
        return bits >> BIT_AT[name] & ((1 << width) - 1)

    out: dict[Field, Any] = {Field.NIK: nik}
    for field, width in zip(CODED_FIELDS, CODE_BITS, strict=True):
        out[field] = part(f"CODE_{field.name}", width)
    for name, how in SLOT_STORAGE.items():
        if how.isdigit():
            out[Field[name]] = part(name, int(how))
    pos = BITS_AT + BITS_BYTES
    district = nik // _E10
    if part("REGION_OWN", 1):
        out[Field.NO_PROP], out[Field.NO_KAB], out[Field.NO_KEC] = value[pos:pos + 3]
        pos += 3
    else:
        out[Field.NO_PROP], out[Field.NO_KAB] = district // 10000, district // 100 % 100
        out[Field.NO_KEC] = district % 100
    if part("KK_OWN", 1):
        out[Field.NO_KK] = int.from_bytes(value[pos:pos + 7], "little")
        pos += 7
    else:
        out[Field.NO_KK] = district * _E10 + int.from_bytes(value[pos:pos + 5], "little")
        pos += 5
    code = part("BIRTH", 2)
    if code == 3:
        out[Field.TGL_LHR] = struct.unpack_from("<i", value, pos)[0]
        pos += 4
    else:
        out[Field.TGL_LHR] = _nik_birth(nik, _CENTURIES[code])
    out[Field.TGL_MATI] = 0
    if part("DEAD", 1):
        days, pos = _read_varint(value, pos)
        out[Field.TGL_MATI] = out[Field.TGL_LHR] + days
    payloads = []
    for _ in TEXT_FIELDS:
        n, pos = _read_varint(value, pos)
        if pos + n > len(value):
            raise ValueError("text past the end")
        payloads.append(value[pos:pos + n])
        pos += n
    if pos != len(value):
        raise ValueError("bytes after the texts")
    return out, payloads


def decode(nik: int, value: bytes, tokens: Tokens) -> dict[Field, Any]:
    """Every stored field of a stored record as its comparable value: codes and dates as
    integers, texts as UTF-8 bytes."""
    out, payloads = _unpack(nik, value)
    for field, payload in zip(TEXT_FIELDS, payloads, strict=True):
        out[field] = decode_text(payload, tokens)
    return out
