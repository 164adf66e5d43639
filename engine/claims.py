"""Turning a caller's claimed fields and thresholds into the plan the core executes."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nikgate.errors import InvalidClaimError, InvalidInputError

from .schema import (
    CLAIM_ALIASES,
    CODE_TABLE,
    DEFAULT_THRESHOLD,
    KIND,
    TEXT_KIND,
    VERIFIABLE,
    Field,
    Kind,
)


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

    def core_plan(self) -> list[tuple[int, int, int, int]]:
        return [
            (int(f), int(KIND[f]), int(TEXT_KIND.get(f, 0)), t)
            for f, t in zip(self.fields, self.thresholds, strict=True)
        ]

    def code_maps(self) -> list[dict[str, int] | None]:
        return [CODE_MAPS.get(f) for f in self.fields]


def resolve_field(name: str | Field, allowed: Iterable[Field], what: str) -> Field:
    if isinstance(name, Field):
        field = name
    else:
        try:
            field = Field[name.strip().upper()]
        except KeyError:
            field = None  # type: ignore[assignment]
    allowed = tuple(allowed)
    if field is None or field not in allowed:
        raise InvalidInputError(
            f"{name!s} is not a field that can be {what}; use one of: "
            + ", ".join(f.name for f in allowed),
            field=str(name),
        )
    return field


def plan_claims(
    fields: Iterable[str | Field],
    thresholds: Mapping[str | Field, int] | int | None = None,
) -> ClaimPlan:
    """Validate claimed field names and thresholds (0-100; exact fields always use 100).

    Requests repeat the same few shapes, so plans are cached by shape.
    """
    fields = tuple(fields)
    if thresholds is None or isinstance(thresholds, int):
        shape = thresholds
    else:
        shape = tuple(sorted((str(k), v) for k, v in thresholds.items()))
    try:
        return _cached_plan(fields, shape)
    except TypeError:  # something unhashable: plan it uncached, and let it explain itself
        return _plan(fields, thresholds)


@functools.lru_cache(maxsize=1024)
def _cached_plan(fields: tuple, shape) -> ClaimPlan:
    return _plan(fields, shape if not isinstance(shape, tuple) else dict(shape))


def _plan(
    fields: Iterable[str | Field],
    thresholds: Mapping[str | Field, int] | int | None,
) -> ClaimPlan:
    resolved: list[Field] = []
    for name in fields:
        f = resolve_field(name, VERIFIABLE, "verified")
        if f in resolved:
            raise InvalidInputError(f"{f.name} is claimed twice", field=f.name)
        resolved.append(f)
    if not resolved:
        raise InvalidInputError("no claimed fields: send at least one field to verify")
    per_field: dict[Field, int] = {}
    if isinstance(thresholds, int):
        per_field = {f: thresholds for f in resolved if KIND[f] is Kind.TEXT}
    elif thresholds:
        for name, value in thresholds.items():
            per_field[resolve_field(name, VERIFIABLE, "given a threshold")] = value
    out = []
    for f in resolved:
        if KIND[f] is not Kind.TEXT:
            out.append(100)
            continue
        t = per_field.get(f, DEFAULT_THRESHOLD[f])
        if not isinstance(t, int) or not 0 <= t <= 100:
            raise InvalidInputError(f"threshold for {f.name} must be 0-100, got {t!r}",
                                    field=f.name)
        out.append(t)
    return ClaimPlan(tuple(resolved), tuple(out))


def explain_bad_claim(field: Field, value: str) -> InvalidClaimError:
    """The error for a claimed value the core could not convert."""
    kind = KIND[field]
    if kind is Kind.TEXT:
        msg = f"{field.name} is {len(value.encode())} bytes; at most 255 can be compared"
    elif kind is Kind.DATE:
        msg = f"{field.name} {value!r} is not a real date in YYYY-MM-DD form"
    elif kind is Kind.CODE:
        msg = f"{field.name} {value!r} is not one of: {', '.join(CODE_TABLE[field])}"
    elif kind is Kind.NUMBER16:
        msg = f"{field.name} {value!r} must be exactly 16 digits"
    else:
        msg = f"{field.name} {value!r} must be a number of 1 to 4 digits"
    return InvalidClaimError(msg, field=field.name)
