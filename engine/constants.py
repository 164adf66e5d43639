"""The numbers the compiled core and Python share, and the one definition of every field.

Field and kind numbers, item statuses, outcomes, NIK reason codes and the record layout are
defined here and nowhere else. Each record field has one entry in `FIELDS` (a `FieldSpec`:
kind, storage, text rule, code table, default threshold, may it be empty, may it be
claimed); the record layout (coded bytes, fixed header slots and their offsets, texts), the
export columns and the tables in schema.py are all computed from it. setup.py renders the
numbers (`render_pxi`) into engine/_constants.pxi, which the core includes as compile-time
C constants, so the hot path compares with literals and pays nothing for the indirection.
The Python side imports from here (schema.py, results.py and nik.py re-export); the proto
enums (proto/nikgate/v1/common.proto) keep their own numbers, which tests/test_one_source.py
and nikgate/codes.py check against these.

This module imports nothing from the package: setup.py loads it by path before the core
exists. Every enum and code table here is append only: numbers are stored on disk or sent
on the wire. To add a field, see "Adding a verifiable field" in docs/index-format.md.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple


class Field(enum.IntEnum):
    """Every field of a record, numbered for the compiled core. Append only; each member
    has its definition in FIELDS below."""

    NIK = 0
    NO_KK = 1
    NAMA_LGKP = 2
    TMPT_LHR = 3
    TGL_LHR = 4
    JENIS_KLMIN = 5
    GOL_DARAH = 6
    AGAMA = 7
    STATUS_KAWIN = 8
    STAT_HBKEL = 9
    PDDK_AKH = 10
    JENIS_PKRJN = 11
    NAMA_LGKP_IBU = 12
    NAMA_LGKP_AYAH = 13
    ALAMAT = 14
    NO_RT = 15
    NO_RW = 16
    NO_PROP = 17
    NO_KAB = 18
    NO_KEC = 19
    NO_KEL = 20
    KEWARGANEGARAAN = 21
    STATUS_HIDUP = 22
    TGL_MATI = 23
    STATUS_KTP = 24
    PROP_NAME = 25
    KAB_NAME = 26
    KEC_NAME = 27
    KEL_NAME = 28


class Kind(enum.IntEnum):
    """How a field is stored and compared."""

    NIK = 0        # the key itself
    NUMBER16 = 1   # a 16-digit number (NO_KK): exact
    TEXT = 2       # free text compared by normalised fuzzy score
    DATE = 3       # YYYY-MM-DD: exact
    CODE = 4       # one of a code table: exact
    SMALLINT = 5   # RT / RW numbers: exact
    REGION = 6     # a region code part (province .. village): exact
    REGION_NAME = 7  # derived from the region codes: lookup only


class TextKind(enum.IntEnum):
    """Normalisation rules for a free-text field (see docs/scoring.md)."""

    PERSON = 0   # names: titles, degrees, Muhammad variants, old spellings
    PLACE = 1    # birth place: KAB./KOTA prefixes
    ADDRESS = 2  # street address: JL./JLN./GG. and similar abbreviations


class ItemStatus(enum.IntEnum):
    """What happened to one NIK of a request (the proto's ItemStatus has the same numbers:
    batch answers carry these bytes as they are)."""

    FOUND = 1
    NOT_FOUND = 2
    INVALID_NIK = 3
    INVALID_CLAIM = 4
    CORRUPT = 5


class Outcome(enum.IntEnum):
    """Sesuai / Tidak Sesuai per claimed field (the proto's Outcome is this plus one)."""

    NOT_PROVIDED = 0
    MATCH = 1
    NO_MATCH = 2


class NikReason(enum.IntEnum):
    """Why the compiled NIK check failed (nik.pxi); names are the stable API form."""

    OK = 0
    WHITESPACE = 1
    FULLWIDTH_DIGIT = 2
    NON_DIGIT = 3
    LENGTH = 4
    UNKNOWN_PROVINCE = 5
    UNKNOWN_REGENCY = 6
    UNKNOWN_DISTRICT = 7
    BAD_DATE = 8
    ZERO_SERIAL = 9
    EMPTY = 10


# -- code tables -------------------------------------------------------------------------
# Dukcapil's spelling of each value; the stored code is the position + 1, 0 meaning "no
# value", so entries are only ever appended (reordering would change stored data).
SEX: Final = ("LAKI-LAKI", "PEREMPUAN")
LIFE_STATUS: Final = ("HIDUP", "MATI")
CARD_STATUS: Final = ("AKTIF", "DIGANTI", "DIBLOKIR")
BLOOD_TYPE: Final = (
    "A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "TIDAK TAHU",
)
RELIGION: Final = (
    "ISLAM", "KRISTEN", "KATHOLIK", "HINDU", "BUDHA", "KONGHUCU",
    "KEPERCAYAAN TERHADAP TUHAN YME",
)
MARITAL_STATUS: Final = ("BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI")
FAMILY_RELATION: Final = (
    "KEPALA KELUARGA", "SUAMI", "ISTRI", "ANAK", "MENANTU", "CUCU", "ORANG TUA", "MERTUA",
    "FAMILI LAIN", "PEMBANTU", "LAINNYA",
)
EDUCATION: Final = (
    "TIDAK/BELUM SEKOLAH", "BELUM TAMAT SD/SEDERAJAT", "TAMAT SD/SEDERAJAT",
    "SLTP/SEDERAJAT", "SLTA/SEDERAJAT", "DIPLOMA I/II", "AKADEMI/DIPLOMA III/SARJANA MUDA",
    "DIPLOMA IV/STRATA I", "STRATA II", "STRATA III",
)
OCCUPATION: Final = (
    "BELUM/TIDAK BEKERJA", "MENGURUS RUMAH TANGGA", "PELAJAR/MAHASISWA", "PENSIUNAN",
    "PEGAWAI NEGERI SIPIL", "TENTARA NASIONAL INDONESIA", "KEPOLISIAN RI", "PERDAGANGAN",
    "PETANI/PEKEBUN", "PETERNAK", "NELAYAN/PERIKANAN", "INDUSTRI", "KONSTRUKSI",
    "TRANSPORTASI", "KARYAWAN SWASTA", "KARYAWAN BUMN", "KARYAWAN BUMD", "KARYAWAN HONORER",
    "BURUH HARIAN LEPAS", "BURUH TANI/PERKEBUNAN", "BURUH NELAYAN/PERIKANAN",
    "BURUH PETERNAKAN", "PEMBANTU RUMAH TANGGA", "TUKANG CUKUR", "TUKANG LISTRIK",
    "TUKANG BATU", "TUKANG KAYU", "TUKANG SOL SEPATU", "TUKANG LAS/PANDAI BESI",
    "TUKANG JAHIT", "TUKANG GIGI", "PENATA RIAS", "PENATA BUSANA", "PENATA RAMBUT",
    "MEKANIK", "SENIMAN", "TABIB", "PARAJI", "PERANCANG BUSANA", "PENTERJEMAH",
    "IMAM MASJID", "PENDETA", "PASTOR", "WARTAWAN", "USTADZ/MUBALIGH", "JURU MASAK",
    "PROMOTOR ACARA", "ANGGOTA DPR-RI", "ANGGOTA DPD", "ANGGOTA BPK", "PRESIDEN",
    "WAKIL PRESIDEN", "ANGGOTA MAHKAMAH KONSTITUSI", "ANGGOTA KABINET/KEMENTERIAN",
    "DUTA BESAR", "GUBERNUR", "WAKIL GUBERNUR", "BUPATI", "WAKIL BUPATI", "WALIKOTA",
    "WAKIL WALIKOTA", "ANGGOTA DPRD PROVINSI", "ANGGOTA DPRD KABUPATEN/KOTA", "DOSEN",
    "GURU", "PILOT", "PENGACARA", "NOTARIS", "ARSITEK", "AKUNTAN", "KONSULTAN", "DOKTER",
    "BIDAN", "PERAWAT", "APOTEKER", "PSIKIATER/PSIKOLOG", "PENYIAR TELEVISI",
    "PENYIAR RADIO", "PELAUT", "PENELITI", "SOPIR", "PIALANG", "PARANORMAL", "PEDAGANG",
    "PERANGKAT DESA", "KEPALA DESA", "BIARAWATI", "WIRASWASTA", "LAINNYA",
)
CITIZENSHIP: Final = ("WNI", "WNA")


# -- field definitions -------------------------------------------------------------------
class Storage(enum.Enum):
    """Where a field's value lives; follows from its kind (FieldSpec.storage)."""

    KEY = "key"          # the NIK: the LMDB key, not in the value
    CODE = "code"        # one byte in the header's code block (0 = no value)
    SLOT = "slot"        # a fixed little-endian header slot (FieldSpec.slot is its struct code)
    TEXT = "text"        # a length-prefixed UTF-8 text after the header
    DERIVED = "derived"  # not stored: computed from stored fields (region names)


_STORAGE: Final = {
    Kind.NIK: Storage.KEY, Kind.CODE: Storage.CODE, Kind.TEXT: Storage.TEXT,
    Kind.REGION_NAME: Storage.DERIVED, Kind.NUMBER16: Storage.SLOT, Kind.DATE: Storage.SLOT,
    Kind.SMALLINT: Storage.SLOT, Kind.REGION: Storage.SLOT,
}


class FieldSpec(NamedTuple):
    """Everything about one field; build entries with key/code/slot/text/derived below.
    (A NamedTuple, not a dataclass: setup.py loads this module by path.)"""

    kind: Kind
    slot: str = ""                       # struct code of a SLOT field ("B", "H", "i", "Q")
    text_kind: TextKind | None = None    # the normalisation rule of a TEXT field
    codes: tuple[str, ...] = ()          # the code table of a CODE field
    aliases: Mapping[str, str] = MappingProxyType({})  # claimed spelling -> table value
    threshold: int | None = None         # default score threshold of a TEXT field
    may_be_empty: bool = False           # an export row may leave the value empty
    verifiable: bool = True              # a verification may claim it

    @property
    def storage(self) -> Storage:
        return _STORAGE[self.kind]


def key() -> FieldSpec:
    """The NIK: the record's key."""
    return FieldSpec(Kind.NIK, verifiable=False)


def code(table: tuple[str, ...], *, may_be_empty: bool = False, verifiable: bool = True,
         aliases: Mapping[str, str] | None = None) -> FieldSpec:
    """A value from `table`, stored as one byte; claimed values are matched exactly (after
    `aliases`: short forms integrators send, mapped before the table lookup)."""
    return FieldSpec(Kind.CODE, codes=table, aliases=MappingProxyType(dict(aliases or {})),
                     may_be_empty=may_be_empty, verifiable=verifiable)


def text(rule: TextKind, threshold: int = 100, *, may_be_empty: bool = False,
         verifiable: bool = True) -> FieldSpec:
    """Free text of at most MAX_TEXT_BYTES, scored against claims by `rule`; a claim
    matches at `threshold` unless the request sets its own."""
    return FieldSpec(Kind.TEXT, text_kind=rule, threshold=threshold,
                     may_be_empty=may_be_empty, verifiable=verifiable)


def slot(kind: Kind, struct_code: str, *, may_be_empty: bool = False,
         verifiable: bool = True) -> FieldSpec:
    """A number in a fixed header slot. The encoder parses and checks each such field by
    name (encode.pxi, record.py), so a new one needs code there too."""
    return FieldSpec(kind, slot=struct_code, may_be_empty=may_be_empty, verifiable=verifiable)


def derived() -> FieldSpec:
    """Not stored: computed from stored fields on lookup (region names)."""
    return FieldSpec(Kind.REGION_NAME, verifiable=False)


# One entry per Field. Within each storage the order of this table is the stored order:
# coded bytes from offset 9 (life, card and sex first: the encoder requires them), then the
# fixed slots, then the texts. A new stored field goes at the end of the table and takes
# the next Field number; the export columns are the stored fields in Field order.
FIELDS: Final[dict[Field, FieldSpec]] = {
    Field.NIK: key(),
    # coded bytes
    Field.STATUS_HIDUP: code(LIFE_STATUS, verifiable=False),   # reported on every answer
    Field.STATUS_KTP: code(CARD_STATUS, verifiable=False),     # reported on every answer
    Field.JENIS_KLMIN: code(SEX, aliases={
        "L": "LAKI-LAKI", "P": "PEREMPUAN", "LAKI LAKI": "LAKI-LAKI", "LAKI": "LAKI-LAKI",
        "WANITA": "PEREMPUAN", "PRIA": "LAKI-LAKI"}),
    Field.GOL_DARAH: code(BLOOD_TYPE, aliases={
        "-": "TIDAK TAHU", "TIDAK DIKETAHUI": "TIDAK TAHU"}),
    Field.AGAMA: code(RELIGION, aliases={
        "KATOLIK": "KATHOLIK", "BUDDHA": "BUDHA", "KHONGHUCU": "KONGHUCU",
        "KRISTEN PROTESTAN": "KRISTEN"}),
    Field.STATUS_KAWIN: code(MARITAL_STATUS),
    Field.STAT_HBKEL: code(FAMILY_RELATION),
    Field.PDDK_AKH: code(EDUCATION, may_be_empty=True),
    Field.JENIS_PKRJN: code(OCCUPATION, may_be_empty=True),
    Field.KEWARGANEGARAAN: code(CITIZENSHIP),
    # fixed slots
    Field.NO_PROP: slot(Kind.REGION, "B"),
    Field.NO_KAB: slot(Kind.REGION, "B"),
    Field.NO_KEC: slot(Kind.REGION, "B"),
    Field.NO_KEL: slot(Kind.REGION, "H"),
    Field.NO_RT: slot(Kind.SMALLINT, "H"),
    Field.NO_RW: slot(Kind.SMALLINT, "H"),
    Field.TGL_LHR: slot(Kind.DATE, "i"),                       # proleptic day number
    Field.TGL_MATI: slot(Kind.DATE, "i", may_be_empty=True, verifiable=False),  # 0: alive
    Field.NO_KK: slot(Kind.NUMBER16, "Q"),
    # texts; thresholds integrators use (DOMAIN.md): 100 for names and places, ~95 for
    # the address
    Field.NAMA_LGKP: text(TextKind.PERSON),
    Field.TMPT_LHR: text(TextKind.PLACE),
    Field.NAMA_LGKP_IBU: text(TextKind.PERSON),
    Field.NAMA_LGKP_AYAH: text(TextKind.PERSON, may_be_empty=True),  # father unknown
    Field.ALAMAT: text(TextKind.ADDRESS, 95),
    # derived from the region codes
    Field.PROP_NAME: derived(),
    Field.KAB_NAME: derived(),
    Field.KEC_NAME: derived(),
    Field.KEL_NAME: derived(),
}

MAX_TEXT_BYTES: Final = 255   # a text's length is one byte
MAX_FIELDS: Final = 32        # the core's per-field arrays; Field must stay below it
MAX_CODES: Final = 128        # the core's per-table array; a code table must fit in it
RECORD_FORMAT: Final = 1      # the packed row's format byte (offset 8)
_CODES_AT: Final = 9          # after the checksum (u64) and the format byte (u8)
STORED_FORMAT: Final = 2      # the stored record's format byte (offset 4)


def _check(fields: Mapping[Field, FieldSpec]) -> None:
    """Every field has exactly one well-formed spec; raises ValueError naming what is wrong."""
    missing = [f.name for f in Field if f not in fields]
    if missing:
        raise ValueError(f"engine/constants.py FIELDS has no spec for {', '.join(missing)}: "
                         "add one (see docs/index-format.md, Adding a verifiable field)")
    if len(Field) > MAX_FIELDS:
        raise ValueError("grow MAX_FIELDS (and check the core's arrays)")
    for f, s in fields.items():
        where = f"FIELDS[{f.name}]"
        if (s.storage is Storage.SLOT) != bool(s.slot) or (
                s.slot and struct.calcsize("<" + s.slot) == 0):
            raise ValueError(f"{where}: a {s.kind.name} field needs a struct code, and only it")
        if (s.storage is Storage.CODE) != bool(s.codes):
            raise ValueError(f"{where}: a CODE field needs a code table, and only it")
        if len(s.codes) > MAX_CODES or len(set(s.codes)) != len(s.codes):
            raise ValueError(f"{where}: at most {MAX_CODES} distinct codes")
        if any(v not in s.codes for v in s.aliases.values()):
            raise ValueError(f"{where}: an alias names a value outside the code table")
        if (s.storage is Storage.TEXT) != (s.text_kind is not None) or (
                (s.storage is Storage.TEXT) != (s.threshold is not None)):
            raise ValueError(f"{where}: a TEXT field needs a text rule and a threshold, "
                             "and only it")
        if s.storage in (Storage.KEY, Storage.DERIVED) and (s.verifiable or s.may_be_empty):
            raise ValueError(f"{where}: the key and derived fields are neither claimed nor "
                             "read from an export")


_check(FIELDS)


def _stored(storage: Storage) -> tuple[Field, ...]:
    return tuple(f for f, s in FIELDS.items() if s.storage is storage)


# -- the record layout and the export columns, computed from FIELDS ----------------------
# The one-byte codes of the coded fields, from offset 9, in FIELDS order.
CODED_FIELDS: Final = _stored(Storage.CODE)
SLOT_FIELDS: Final = _stored(Storage.SLOT)      # the fixed slots after the codes
TEXT_FIELDS: Final = _stored(Storage.TEXT)      # the length-prefixed texts after the header


def _header_fields() -> tuple[tuple[Field, int, str], ...]:
    out, offset = [], _CODES_AT
    for f in CODED_FIELDS + SLOT_FIELDS:
        code_ = FIELDS[f].slot or "B"
        out.append((f, offset, code_))
        offset += struct.calcsize("<" + code_)
    return tuple(out)


# The packed row (what the encoders produce: engine/encode.pxi, record.py RowEncoder, and
# what the build's arena and run files hold): the header after the checksum (offset 0, u64)
# and the format byte (8, u8), little-endian: (field, offset, struct code) in offset order,
# then the texts as a 1-byte length and UTF-8 bytes. record.py builds its struct from this.
HEADER_FIELDS: Final = _header_fields()
HEADER_SIZE: Final = struct.calcsize("<QB" + "".join(c for _, _, c in HEADER_FIELDS))
# The export columns (schema.REQUIRED_COLUMNS): every stored field, in Field order.
COLUMN_FIELDS: Final = tuple(f for f in Field
                             if FIELDS[f].storage not in (Storage.DERIVED,))
N_COLUMNS: Final = len(COLUMN_FIELDS)

# -- the stored record (docs/index-format.md, Records) -----------------------------------
# What the index holds per NIK is the packed row made small (engine/record.pxi `store`):
# a 4-byte checksum, the format byte, a bit field, the few values the NIK does not imply,
# then each text as token ids of the generation's dictionary (engine/tokens.pxi).
CHECKSUM_BYTES: Final = 4     # low 32 bits of xxh3-64 (an integrity check, not a MAC)
BITS_AT: Final = CHECKSUM_BYTES + 1
# Bits of each coded field in the bit field: enough for its largest code (0 = no value).
CODE_BITS: Final = tuple(len(FIELDS[f].codes).bit_length() for f in CODED_FIELDS)
# How each fixed slot is stored; record.pxi and record.py pack each by name, so a new
# slot field needs code there and an entry here. "nik": implied by the NIK, with an
# explicit fallback; a number: that many bits in the bit field; "varint": days after birth.
SLOT_STORAGE: Final = {"NO_PROP": "nik", "NO_KAB": "nik", "NO_KEC": "nik", "NO_KEL": "14",
                       "NO_RT": "10", "NO_RW": "10", "TGL_LHR": "nik", "TGL_MATI": "varint",
                       "NO_KK": "nik"}
if sorted(SLOT_STORAGE) != sorted(f.name for f in SLOT_FIELDS):
    raise ValueError("engine/constants.py SLOT_STORAGE must name every fixed slot field "
                     "(a new one needs code in record.pxi and record.py)")


def _bit_field() -> tuple[dict[str, int], int]:
    """Start bit of each part of the stored bit field, LSB first; and its size in bytes."""
    at, out = 0, {}
    parts = [(f"CODE_{f.name}", w) for f, w in zip(CODED_FIELDS, CODE_BITS, strict=True)]
    parts += [(name, int(how)) for name, how in SLOT_STORAGE.items() if how.isdigit()]
    # flags: residence region not the NIK's (3 bytes follow); NO_KK's region not the NIK's
    # (7 bytes instead of 5); birth century (0: 19yy, 1: 20yy, 2: 18yy, 3: i32 follows);
    # a death date follows (varint)
    parts += [("REGION_OWN", 1), ("KK_OWN", 1), ("BIRTH", 2), ("DEAD", 1)]
    for name, width in parts:
        out[name] = at
        at += width
    return out, (at + 7) // 8


BIT_AT, BITS_BYTES = _bit_field()
# What an index built with these fields stores, written into its manifest: an index whose
# records were laid out for other fields is refused on open (engine/layout.py).
RECORD_LAYOUT: Final = " ".join(
    [f"{f.name}:{w}" for f, w in zip(CODED_FIELDS, CODE_BITS, strict=True)]
    + [f"{f.name}:{SLOT_STORAGE[f.name]}" for f in SLOT_FIELDS]
    + [f"{f.name}:tokens" for f in TEXT_FIELDS])

# Each enum rendered into the .pxi: (enum, C name prefix). The C enums are anonymous
# (`cdef enum:`), so they are plain int constants, never Python objects.
_RENDERED: Final = (
    (Field, "F_"),
    (Kind, "K_"),
    (TextKind, "TK_"),
    (ItemStatus, "ITEM_"),
    (Outcome, "OUTCOME_"),
    (NikReason, "NIK_"),
)


def _c_array(name: str, size: str, values: list[str]) -> list[str]:
    return [f"cdef int {name}[{size}]", f"{name}[:] = [" + ", ".join(values) + "]"]


def _body() -> str:
    lines = [
        f"DEF RECORD_FORMAT = {RECORD_FORMAT}",
        f"DEF HEADER = {HEADER_SIZE}",
        f"DEF OFF_CODES = {_CODES_AT}  # the first coded byte; the codes follow in CODED_FIELDS order",
        f"DEF N_TEXTS = {len(TEXT_FIELDS)}",
        f"DEF N_CODES = {len(CODED_FIELDS)}",
        f"DEF MAX_TEXT = {MAX_TEXT_BYTES}",
        f"DEF MAX_FIELDS = {MAX_FIELDS}",
        f"DEF MAX_CODES = {MAX_CODES}",
        f"DEF N_COLUMNS = {N_COLUMNS}  # export columns the encoder reads (COLUMN_FIELDS)",
        f"DEF STORED_FORMAT = {STORED_FORMAT}",
        f"DEF CHECKSUM_BYTES = {CHECKSUM_BYTES}",
        f"DEF BITS_AT = {BITS_AT}  # the stored record's bit field, after checksum and format",
        f"DEF BITS_BYTES = {BITS_BYTES}",
        "",
        "# Start bit of each part of the stored record's bit field (BIT_AT)",
        "cdef enum:",
        *[f"    BIT_{name} = {at}" for name, at in BIT_AT.items()],
        "",
    ]
    for cls, prefix in _RENDERED:
        lines.append(f"# {cls.__name__}")
        lines.append("cdef enum:")
        lines.extend(f"    {prefix}{m.name} = {int(m)}" for m in cls)
        lines.append("")
    lines.append("# Record header offsets (HEADER_FIELDS)")
    lines.append("cdef enum:")
    lines.extend(f"    OFF_{f.name} = {off}" for f, off, _ in HEADER_FIELDS)
    lines.append("")
    lines.append("# Where each coded field's code sits in the header's code array (CODED_FIELDS)")
    lines.append("cdef enum:")
    lines.extend(f"    AT_{f.name} = {i}" for i, f in enumerate(CODED_FIELDS))
    lines.append("")
    lines.append("# The stored codes the encoder's consistency checks compare with")
    lines.append("cdef enum:")
    lines.append(f"    SEX_PEREMPUAN = {SEX.index('PEREMPUAN') + 1}")
    lines.append(f"    LIFE_MATI = {LIFE_STATUS.index('MATI') + 1}")
    lines.append("")
    lines.append("# The coded fields in header order, the texts in stored order, the field of")
    lines.append("# each export column, and whether each column may be empty")
    lines.extend(_c_array("CODED_FIELDS", "N_CODES", [f"F_{f.name}" for f in CODED_FIELDS]))
    lines.extend(_c_array("CODE_BITS", "N_CODES", [str(w) for w in CODE_BITS]))
    lines.extend(_c_array("CODE_SHIFT", "N_CODES",
                          [f"BIT_CODE_{f.name}" for f in CODED_FIELDS]))
    lines.extend(_c_array("TEXT_FIELDS", "N_TEXTS", [f"F_{f.name}" for f in TEXT_FIELDS]))
    lines.extend(_c_array("COLUMN_FIELDS", "N_COLUMNS", [f"F_{f.name}" for f in COLUMN_FIELDS]))
    lines.extend(_c_array("COLUMN_MAY_BE_EMPTY", "N_COLUMNS",
                          [str(int(FIELDS[f].may_be_empty)) for f in COLUMN_FIELDS]))
    return "\n".join(lines) + "\n"


def digest() -> str:
    """What the compiled core reports as CONSTANTS_DIGEST when built from these values."""
    return hashlib.sha256(_body().encode()).hexdigest()[:16]


def render_pxi() -> str:
    """The text of engine/_constants.pxi."""
    return ("# generated by setup.py from engine/constants.py; do not edit.\n"
            "# Compile-time constants of the core; change engine/constants.py and rebuild.\n\n"
            + _body()
            + f'\nCONSTANTS_DIGEST = "{digest()}"  # checked on import (engine/__init__.py)\n')
