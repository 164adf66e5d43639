"""The population record as Python sees it: tables derived from the field definitions.

Every fact about a field is defined once, in engine/constants.py `FIELDS` (kind, text rule,
code table, default threshold, may it be empty, may it be claimed); the tables here are
computed from it for the Python side, and tests/test_one_source.py checks that they are.
Code tables map Dukcapil's spelling of a value to its stored code: position + 1, 0 meaning
"no value", so they are only ever appended to.
"""

from __future__ import annotations

from typing import Final

# Field, Kind, TextKind and the code tables are defined in constants.py (the one source
# setup.py renders into the core) and re-exported here with the rest of the record.
from .constants import BLOOD_TYPE as BLOOD_TYPE
from .constants import CARD_STATUS as CARD_STATUS
from .constants import CITIZENSHIP as CITIZENSHIP
from .constants import COLUMN_FIELDS
from .constants import EDUCATION as EDUCATION
from .constants import FAMILY_RELATION as FAMILY_RELATION
from .constants import FIELDS as FIELDS
from .constants import LIFE_STATUS as LIFE_STATUS
from .constants import MARITAL_STATUS as MARITAL_STATUS
from .constants import MAX_TEXT_BYTES as MAX_TEXT_BYTES
from .constants import OCCUPATION as OCCUPATION
from .constants import RELIGION as RELIGION
from .constants import SEX as SEX
from .constants import Field as Field
from .constants import FieldSpec as FieldSpec
from .constants import Kind as Kind
from .constants import Storage as Storage
from .constants import TextKind as TextKind

KIND: Final[dict[Field, Kind]] = {f: FIELDS[f].kind for f in Field}
CODE_TABLE: Final[dict[Field, tuple[str, ...]]] = {
    f: FIELDS[f].codes for f in Field if FIELDS[f].storage is Storage.CODE}
TEXT_KIND: Final[dict[Field, TextKind]] = {
    f: s.text_kind for f in Field if (s := FIELDS[f]).text_kind is not None}
# The threshold a free-text claim is held to when the request sets none; exact fields
# always report 100 (claims.EXACT_THRESHOLD).
DEFAULT_THRESHOLD: Final[dict[Field, int]] = {
    f: s.threshold for f in Field if (s := FIELDS[f]).threshold is not None}
# Short forms integrators send for coded claims, by field name; mapped before the lookup.
CLAIM_ALIASES: Final[dict[str, dict[str, str]]] = {
    f.name: dict(FIELDS[f].aliases) for f in Field if FIELDS[f].aliases}

# Fields a verification may claim (everything stored except the key, the person's status,
# reported on every answer, and the derived region names), and fields a lookup may read.
VERIFIABLE: Final = tuple(f for f in Field if FIELDS[f].verifiable)
LOOKUP_FIELDS: Final = tuple(Field)

# Warehouse export columns (docs/data-format.md): every stored field, in Field order.
# Region names may be present in an export but are derived from the codes, so they are
# accepted and not required.
REQUIRED_COLUMNS: Final = tuple(f.name for f in COLUMN_FIELDS)
OPTIONAL_COLUMNS: Final = tuple(
    f.name for f in Field if FIELDS[f].storage is Storage.DERIVED)
# Values that may be empty in an export; every other required column must hold a value.
MAY_BE_EMPTY: Final = frozenset(f.name for f in COLUMN_FIELDS if FIELDS[f].may_be_empty)
DELTA_CHANGE_COLUMN: Final = "PERUBAHAN"
DELTA_CHANGES: Final = ("BARU", "UBAH", "HAPUS")  # new record, full update, removal
