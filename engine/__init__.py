"""The NIK index: warehouse ingest, LMDB store and the compiled verification core.

The public API is this facade: code outside the engine (server, clients, CLI) never imports
`_core` directly. Only tests and bench/engine_bench.py do, to compare the compiled core with
the pure-Python reference and to locate the built extension.
"""

from nikgate.regions import load_regions as _load_regions

from . import _core
from . import constants as _constants
from . import names as _names

if _core.CONSTANTS_DIGEST != _constants.digest():
    # engine/constants.py changed after the core was compiled: its numbers would disagree
    raise ImportError("nikgate.engine._core was built from other engine/constants.py values; "
                      "rebuild it: .venv/bin/python setup.py build_ext --inplace")

_regions = _load_regions()
_core.init_region_codes(_regions.provinces, _regions.regencies, _regions.districts)
_core.init_text_tables(_names)

from .claims import ClaimPlan, plan_claims  # noqa: E402
from .index import NikIndex  # noqa: E402
from .nik import NikParts, check_nik, decode_nik  # noqa: E402
from .results import (  # noqa: E402
    FieldResult,
    ItemStatus,
    LookupBatchResult,
    Outcome,
    Verification,
    VerifyBatchResult,
)
from .schema import Field, TextKind  # noqa: E402


def text_score(stored: str, claimed: str, kind: TextKind = TextKind.PERSON) -> int:
    """Score 0-100 of a claimed text against a stored one (the compiled scorer)."""
    return _core.py_text_score(stored, claimed, int(kind))


def score_person_name(stored: str, claimed: str) -> int:
    """Score of a claimed person's name against the stored one (NAMA_LGKP rule)."""
    return _core.py_text_score(stored, claimed, int(TextKind.PERSON))


__all__ = [
    "ClaimPlan",
    "Field",
    "FieldResult",
    "ItemStatus",
    "LookupBatchResult",
    "NikIndex",
    "NikParts",
    "Outcome",
    "TextKind",
    "Verification",
    "VerifyBatchResult",
    "check_nik",
    "decode_nik",
    "plan_claims",
    "score_person_name",
    "text_score",
]
