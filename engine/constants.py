"""The numbers the compiled core and Python share: the one place each is defined.

Field and kind numbers, item statuses, outcomes, NIK reason codes and the record header's
fixed sizes are defined here and nowhere else. setup.py renders them (`render_pxi`) into
engine/_constants.pxi, which the core includes as compile-time C constants, so the hot
path compares with literals and pays nothing for the indirection. The Python side imports
the enums from here (schema.py, results.py and nik.py re-export them); the proto enums
(proto/nikgate/v1/common.proto) keep their own numbers, which tests/test_one_source.py
and nikgate/codes.py check against these.

This module imports nothing from the package: setup.py loads it by path before the core
exists. Every enum here is append only: numbers are stored on disk or sent on the wire.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Final


class Field(enum.IntEnum):
    """Every field of a record, numbered for the compiled core. Append only."""

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


# The code tables the core itself reads (schema.py holds the others and re-exports these):
# a stored code is the position + 1, 0 meaning "no value". Append only.
SEX: Final = ("LAKI-LAKI", "PEREMPUAN")
LIFE_STATUS: Final = ("HIDUP", "MATI")
CARD_STATUS: Final = ("AKTIF", "DIGANTI", "DIBLOKIR")

RECORD_FORMAT: Final = 1      # the record's format byte (offset 8)
HEADER_SIZE: Final = 44       # the fixed part of a record, before its texts
# The one-byte codes of the coded fields, from offset 9 in this order (encode.pxi checks
# them in this order; life, card and sex come first because they are required).
CODED_FIELDS: Final = (
    Field.STATUS_HIDUP, Field.STATUS_KTP, Field.JENIS_KLMIN, Field.GOL_DARAH, Field.AGAMA,
    Field.STATUS_KAWIN, Field.STAT_HBKEL, Field.PDDK_AKH, Field.JENIS_PKRJN,
    Field.KEWARGANEGARAAN,
)
# The header after the checksum (offset 0, u64) and the format byte (8, u8), little-endian:
# (field, offset, struct code) in offset order. record.py builds its struct from this.
HEADER_FIELDS: Final = (
    *((f, 9 + i, "B") for i, f in enumerate(CODED_FIELDS)),
    (Field.NO_PROP, 19, "B"), (Field.NO_KAB, 20, "B"), (Field.NO_KEC, 21, "B"),
    (Field.NO_KEL, 22, "H"), (Field.NO_RT, 24, "H"), (Field.NO_RW, 26, "H"),
    (Field.TGL_LHR, 28, "i"), (Field.TGL_MATI, 32, "i"), (Field.NO_KK, 36, "Q"),
)
TEXT_FIELDS: Final = (        # the length-prefixed texts after the header, in stored order
    Field.NAMA_LGKP, Field.TMPT_LHR, Field.NAMA_LGKP_IBU, Field.NAMA_LGKP_AYAH, Field.ALAMAT,
)
MAX_TEXT_BYTES: Final = 255   # a text's length is one byte
MAX_FIELDS: Final = 32        # the core's per-field arrays; Field must stay below it
# Stored fields come first in Field and make up the export columns (schema.REQUIRED_COLUMNS).
N_COLUMNS: Final = Field.PROP_NAME.value

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


def _body() -> str:
    lines = [
        f"DEF RECORD_FORMAT = {RECORD_FORMAT}",
        f"DEF HEADER = {HEADER_SIZE}",
        f"DEF N_TEXTS = {len(TEXT_FIELDS)}",
        f"DEF N_CODES = {len(CODED_FIELDS)}",
        f"DEF MAX_TEXT = {MAX_TEXT_BYTES}",
        f"DEF MAX_FIELDS = {MAX_FIELDS}",
        f"DEF N_COLUMNS = {N_COLUMNS}  # export columns the encoder reads: Field 0 .. 24",
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
    lines.append("# The coded fields in header order, and the texts in stored order")
    lines.append("cdef int CODED_FIELDS[N_CODES]")
    lines.append("CODED_FIELDS[:] = [" + ", ".join(f"F_{f.name}" for f in CODED_FIELDS) + "]")
    lines.append("cdef int TEXT_FIELDS[N_TEXTS]")
    lines.append("TEXT_FIELDS[:] = [" + ", ".join(f"F_{f.name}" for f in TEXT_FIELDS) + "]")
    return "\n".join(lines) + "\n"


def digest() -> str:
    """What the compiled core reports as CONSTANTS_DIGEST when built from these values."""
    return hashlib.sha256(_body().encode()).hexdigest()[:16]


def render_pxi() -> str:
    """The text of engine/_constants.pxi."""
    assert len(Field) <= MAX_FIELDS, "grow MAX_FIELDS (and check the core's arrays)"
    return ("# generated by setup.py from engine/constants.py; do not edit.\n"
            "# Compile-time constants of the core; change engine/constants.py and rebuild.\n\n"
            + _body()
            + f'\nCONSTANTS_DIGEST = "{digest()}"  # checked on import (engine/__init__.py)\n')
