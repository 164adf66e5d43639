"""Turning a caller's claimed fields and thresholds into the plan the core executes."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from nikgate.errors import InvalidClaimError, InvalidInputError
from nikgate.redact import redact

from .schema import (
    CLAIM_ALIASES,
    CODE_TABLE,
    DEFAULT_THRESHOLD,
    KIND,
    LOOKUP_FIELDS,
    TEXT_KIND,
    VERIFIABLE,
    Field,
    Kind,
)

_V = TypeVar("_V")
# Claims and thresholds are keyed by field name or by Field. Mapping is invariant in its
# key type, so a dict keyed by names alone needs its own member to be accepted.
ByField: TypeAlias = Mapping[str, _V] | Mapping[Field, _V] | Mapping[str | Field, _V]


def _code_map(field: Field) -> dict[str, int]:
    names = CODE_TABLE[field]
    out = {name: i + 1 for i, name in enumerate(names)}
    for alias, name in CLAIM_ALIASES.get(field.name, {}).items():
        out[alias] = out[name]
    return out


CODE_MAPS: dict[Field, dict[str, int]] = {f: _code_map(f) for f in CODE_TABLE}


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """Which fields a request claims, in order, and the threshold each is held to."""

    fields: tuple[Field, ...]
    thresholds: tuple[int, ...]
    names: tuple[str, ...] = ()   # the fields' names, made once (plans are cached)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))

    def core_plan(self) -> list[tuple[int, int, int, int]]:
        return [
            (int(f), int(KIND[f]), int(TEXT_KIND.get(f, 0)), t)
            for f, t in zip(self.fields, self.thresholds, strict=True)
        ]

    def code_maps(self) -> list[dict[str, int] | None]:
        return [CODE_MAPS.get(f) for f in self.fields]


# Thresholds a request may set for a free-text field. Below 50 a claim "matches" when less
# than half of its length-weighted letters agree: unrelated names do (docs/scoring.md), so
# such a threshold is a misconfiguration and is refused, not applied.
MIN_THRESHOLD = 50
MAX_THRESHOLD = 100
EXACT_THRESHOLD = 100  # exact fields score 0 or 100 and always report this threshold


def canonical_name(name: str | Field) -> Field | None:
    """The Field a caller's field name stands for, or None.

    Names are matched case-insensitively and without surrounding whitespace, so
    "nama_lgkp" is NAMA_LGKP; only ASCII spellings count (no Unicode case tricks).
    """
    if isinstance(name, Field):
        return name
    if not isinstance(name, str):
        return None
    key = name.strip()
    if not key.isascii():
        return None
    return Field.__members__.get(key.upper())


def resolve_field(name: str | Field, allowed: Iterable[Field], what: str, *,
                  request_field: str = "fields") -> Field:
    """The canonical Field for a caller's field name, or InvalidInputError.

    The message shows the name only in redacted form (nikgate.redact) and lists the
    allowed names; `request_field` names the request field that carried it.
    """
    field = canonical_name(name)
    allowed = tuple(allowed)
    if field is None or field not in allowed:
        raise InvalidInputError(
            f"'{redact(name)}' is not a field that can be {what}; field names are "
            "upper-case (lower case is accepted), one of: " + ", ".join(f.name for f in allowed),
            field=request_field,
        )
    return field


def canonical_fields(names: Iterable[str | Field], operation: str = "verify") -> tuple[str, ...]:
    """The canonical (upper-case) names of a request's fields, checked; for access checks.

    operation "lookup" checks names against the lookup fields; anything else plans them as
    claims (so duplicates and an empty list are refused as a verification would).
    """
    if operation == "lookup":
        return tuple(resolve_field(n, LOOKUP_FIELDS, "looked up").name for n in names)
    return tuple(f.name for f in plan_claims(names).fields)


def plan_claims(
    fields: Iterable[str | Field],
    thresholds: ByField[int] | int | None = None,
) -> ClaimPlan:
    """Validate claimed field names and thresholds; ClaimPlan.fields are canonical.

    Free-text fields take thresholds MIN_THRESHOLD-MAX_THRESHOLD (default per field);
    exact fields always use 100, and a threshold other than 100 for one is refused.
    Requests repeat the same few shapes, so plans are cached by shape.
    """
    fields = tuple(fields)
    names = tuple(f.name if isinstance(f, Field) else f for f in fields)
    shape = _shape(thresholds)
    if shape is _UNCACHED or not all(type(n) is str for n in names):
        return _plan(fields, thresholds)  # something odd: plan it uncached, let it explain
    return _cached_plan(names, shape)


_UNCACHED = object()


def _shape(thresholds: object) -> object:
    """A cache key for thresholds, exact in type (95.0 and True must not hit 95 and 1)."""
    if thresholds is None or type(thresholds) is int:
        return thresholds
    if isinstance(thresholds, Mapping):
        items = [((k.name if isinstance(k, Field) else k), v) for k, v in thresholds.items()]
        if all(type(k) is str and type(v) is int for k, v in items):
            return tuple(sorted(items))
    return _UNCACHED


@functools.lru_cache(maxsize=1024)
def _cached_plan(fields: tuple, shape) -> ClaimPlan:
    return _plan(fields, shape if not isinstance(shape, tuple) else dict(shape))


def _check_threshold(field: Field | None, value: object) -> int:
    where = f"threshold for {field.name}" if field is not None else "threshold"
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            f"{where} must be a whole number {MIN_THRESHOLD}-{MAX_THRESHOLD}, "
            f"got a {type(value).__name__}", field="thresholds")
    if field is not None and KIND[field] is not Kind.TEXT:
        if value != EXACT_THRESHOLD:
            raise InvalidInputError(
                f"{field.name} is compared exactly and always uses threshold 100; "
                f"got {value}: leave it out of thresholds", field="thresholds")
        return value
    if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        raise InvalidInputError(
            f"{where} must be {MIN_THRESHOLD}-{MAX_THRESHOLD}, got {value}: below "
            f"{MIN_THRESHOLD} unrelated names match; integrators use 100 for names and "
            "about 95 for addresses", field="thresholds")
    return value


def _plan(
    fields: Iterable[str | Field],
    thresholds: ByField[int] | int | None,
) -> ClaimPlan:
    resolved: list[Field] = []
    for name in fields:
        f = resolve_field(name, VERIFIABLE, "verified", request_field="claims")
        if f in resolved:
            raise InvalidInputError(f"{f.name} is claimed twice", field="claims")
        resolved.append(f)
    if not resolved:
        raise InvalidInputError(
            "no claimed fields: send at least one claimed field, e.g. NAMA_LGKP",
            field="claims")
    per_field: dict[Field, int] = {}
    if thresholds is not None and not isinstance(thresholds, Mapping):
        default = _check_threshold(None, thresholds)
        per_field = {f: default for f in resolved if KIND[f] is Kind.TEXT}
    elif thresholds:
        for name, value in thresholds.items():
            f = resolve_field(name, VERIFIABLE, "given a threshold",
                              request_field="thresholds")
            if f in per_field:
                raise InvalidInputError(f"{f.name} is given a threshold twice",
                                        field="thresholds")
            per_field[f] = _check_threshold(f, value)
    out = [per_field.get(f, DEFAULT_THRESHOLD[f]) if KIND[f] is Kind.TEXT else EXACT_THRESHOLD
           for f in resolved]
    return ClaimPlan(tuple(resolved), tuple(out))


def explain_bad_claim(field: Field, value: str) -> InvalidClaimError:
    """The error for a claimed value the core could not convert.

    The message describes what was wrong without the value itself: a claimed value is
    personal data, and error messages travel into logs and client traces.
    """
    kind = KIND[field]
    if kind is Kind.TEXT:
        msg = f"{field.name} is {len(value.encode())} bytes; at most 255 can be compared"
    elif kind is Kind.DATE:
        msg = (f"{field.name} is not a real date in YYYY-MM-DD form (got {len(value)} "
               "characters); send e.g. 1990-07-05")
    elif kind is Kind.CODE:
        msg = f"{field.name} is not one of: {', '.join(CODE_TABLE[field])}"
    elif kind is Kind.NUMBER16:
        msg = f"{field.name} must be exactly 16 digits (got {len(value)} characters)"
    else:
        msg = f"{field.name} must be a number of 1 to 4 digits (got {len(value)} characters)"
    return InvalidClaimError(msg, field=field.name)
