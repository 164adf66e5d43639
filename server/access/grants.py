"""A grant: what an institution may do, through which channel, until when, how much."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field, replace

from nikgate.engine.schema import LOOKUP_FIELDS, VERIFIABLE
from nikgate.errors import InvalidInputError
from nikgate.redact import redact

from ..returns.kinds import KINDS as RETURN_KINDS

OPERATIONS = ("verify", "verify_batch", "lookup", "card_verify", "return_data")
CHANNELS = ("web_service", "card_reader", "portal")
STATUSES = ("active", "suspended", "revoked")
# What each operation's field list governs: the fields a verification may claim, or the
# fields a lookup may return.
FIELD_UNIVERSE = {
    "verify": frozenset(f.name for f in VERIFIABLE),
    "verify_batch": frozenset(f.name for f in VERIFIABLE),
    "card_verify": frozenset(f.name for f in VERIFIABLE),
    "lookup": frozenset(f.name for f in LOOKUP_FIELDS),
    "return_data": frozenset(),
}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# A purpose is a code the grant declares, never free text: free text is where callers put
# names and NIKs, and the purpose is stored in every audit record.
PURPOSE_CODE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Institution:
    id: str
    name: str
    kind: str = "other"   # bank, telco, hospital, ministry, portal, card_reader, other
    created_at: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Institution:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class Grant:
    institution: str
    operations: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]          # operation -> fields it may claim / return
    channels: tuple[str, ...] = ("web_service",)
    purpose: str = ""
    valid_from: str = ""                       # YYYY-MM-DD (the PKS term)
    valid_until: str = ""
    status: str = "active"
    status_reason: str = ""
    daily_quota: int = 0                        # items (NIKs) per day; 0 = no quota
    rate_per_second: float = 0.0                # token bucket refill; 0 = no rate limit
    burst: int = 0                              # bucket size; 0 = one second of rate
    max_batch: int = 10_000
    return_data_kinds: tuple[str, ...] = ()
    updated_at: str = ""
    return_deadline_days: float = 0.0           # data balikan due this long after first
                                                # access (the PKS); 0 = no such duty
    purposes: tuple[str, ...] = ()              # purpose codes a call may name
    networks: tuple[str, ...] = ()              # source networks (CIDR); empty = any

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Grant:
        data = json.loads(raw)
        data["operations"] = tuple(data["operations"])
        data["channels"] = tuple(data["channels"])
        data["return_data_kinds"] = tuple(data.get("return_data_kinds", ()))
        data["purposes"] = tuple(data.get("purposes", ()))
        data["networks"] = tuple(data.get("networks", ()))
        data["fields"] = {k: tuple(v) for k, v in data["fields"].items()}
        return cls(**data)

    def with_changes(self, **changes) -> Grant:
        return validate(replace(self, **changes))

    def term(self) -> tuple[dt.date, dt.date]:
        return dt.date.fromisoformat(self.valid_from), dt.date.fromisoformat(self.valid_until)


def validate_id(institution_id: str) -> str:
    if not _ID.match(institution_id):
        raise InvalidInputError(
            f"institution id {institution_id!r} must be 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit", field="institution")
    return institution_id


def validate(grant: Grant) -> Grant:
    """Check a grant for internal consistency; every problem is named."""
    validate_id(grant.institution)
    bad_ops = [o for o in grant.operations if o not in OPERATIONS]
    if bad_ops or not grant.operations:
        raise InvalidInputError(f"operations must be some of {', '.join(OPERATIONS)}; "
                                f"got {', '.join(grant.operations) or 'none'}",
                                field="operations")
    bad_channels = [c for c in grant.channels if c not in CHANNELS]
    if bad_channels or not grant.channels:
        raise InvalidInputError(f"channels must be some of {', '.join(CHANNELS)}; got "
                                f"{', '.join(grant.channels) or 'none'}", field="channels")
    for op, names in grant.fields.items():
        if op not in grant.operations:
            raise InvalidInputError(f"fields are given for {op}, which the grant does not "
                                    "include", field="fields")
        unknown = sorted(set(names) - FIELD_UNIVERSE[op])
        if unknown:
            raise InvalidInputError(f"{op} cannot cover field(s) {', '.join(unknown)}",
                                    field="fields")
    if grant.status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}", field="status")
    try:
        start, end = grant.term()
    except ValueError:
        raise InvalidInputError("valid_from and valid_until must be YYYY-MM-DD dates",
                                field="valid_until") from None
    if end < start:
        raise InvalidInputError(f"the term ends ({end}) before it starts ({start})",
                                field="valid_until")
    if grant.daily_quota < 0 or grant.rate_per_second < 0 or grant.burst < 0:
        raise InvalidInputError("quota, rate and burst must not be negative", field="quota")
    unknown_kinds = sorted(set(grant.return_data_kinds) - set(RETURN_KINDS))
    if unknown_kinds:
        raise InvalidInputError(f"unknown return-data kind(s) {', '.join(unknown_kinds)}; "
                                f"known: {', '.join(RETURN_KINDS)}", field="return_data_kinds")
    if not 0 <= grant.return_deadline_days <= 3650:
        raise InvalidInputError("return_deadline_days must be 0 (no duty) to 3650",
                                field="return_deadline_days")
    if not 1 <= grant.max_batch <= 10_000:
        raise InvalidInputError("max_batch must be 1-10,000", field="max_batch")
    bad = [p for p in grant.purposes if not PURPOSE_CODE.match(p)]
    if bad or len(grant.purposes) > 32:
        raise InvalidInputError("purposes must be up to 32 codes, each a lower-case letter "
                                "then up to 63 of a-z, 0-9, '.', '_', '-' (e.g. kyc-onboarding)",
                                field="purposes")
    if len(grant.networks) > 64:
        raise InvalidInputError("at most 64 networks", field="networks")
    for net in grant.networks:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise InvalidInputError(f"network {redact(net)} is not a CIDR network such as "
                                    "10.20.0.0/16 or 2001:db8::/48", field="networks") from None
    return grant


@functools.lru_cache(maxsize=4096)
def parsed_networks(networks: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def from_network(networks: tuple[str, ...], peer: str) -> bool:
    """Is `peer` (an IP address) inside one of `networks`? An empty list admits any."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in parsed_networks(networks))


@dataclass(frozen=True)
class Usage:
    """One day's use by one institution: items per operation."""

    day: str
    items: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.items.values())
