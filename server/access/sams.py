"""The SAM registry and the card-reader challenges, both in the control store (LMDB on
one node, PostgreSQL in a cluster: server/access/store.py Control).

A SAM (the secure access module in a card reader's SAM slot) is *registered* when Dukcapil
issues it for an institution (its id, institution and readout public key), *activated* for
one reader of that institution (bound to the reader's serial), and *revoked* when it is
lost, stolen, or the reader is retired. Rules (docs/card-reader.md, "The SAM registry"):

- SAM ids are never reused: registering an id twice is refused, a revoked SAM stays in the
  registry and can never be activated again.
- A SAM active on one reader is not moved silently: activating it for another reader is
  refused unless the operator says `rebind` (a replaced reader), which is audited as such.
- One reader holds one SAM: a reader serial may be bound to one active SAM of an
  institution at a time.

A challenge is 32 random bytes issued to (institution, SAM, reader) for `lifetime` seconds
and consumed exactly once, in one store transaction (LMDB across workers, PostgreSQL across
nodes), by whichever worker serves the readout. A SAM keeps at most `max_outstanding` challenges: asking for another drops its
oldest (a reader that crashed mid-read does not lock itself out), and expired ones are
purged whenever the SAM asks again or is revoked, so the table holds at most
`max_outstanding` entries per SAM. Used challenges are deleted, so a replayed readout finds
nothing and is refused.

Every refusal here is a PermissionDenied whose message tells a teller what happened and
what to do; the registry's records hold no personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from nikgate.errors import InvalidInputError, PermissionDenied
from nikgate.redact import redact

from .store import Challenge, Control

SAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
READER_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")
STATUSES = ("issued", "active", "revoked")
CHALLENGE_BYTES = 32
MAX_PEM_BYTES = 1024        # a P-256 SubjectPublicKeyInfo PEM is 178 bytes
MAX_REASON_CHARS = 500


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Sam:
    """One SAM in the registry."""

    sam_id: str
    institution: str
    public_key_pem: str            # ECDSA P-256 SubjectPublicKeyInfo: checks readouts
    reader_serial: str = ""        # the reader it is bound to (empty until activated)
    status: str = "issued"         # issued, active, revoked
    status_reason: str = ""
    updated_at: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Sam:
        return cls(**json.loads(raw))


# -- checks of what operators and callers send --------------------------------------------

def validate_sam_id(sam_id: str, field: str = "sam_id") -> str:
    if not SAM_ID.match(sam_id):
        raise InvalidInputError(
            f"a SAM id is 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with "
            f"a letter or digit (e.g. SAM-0001); got {redact(sam_id, 32) or 'nothing'}",
            field=field)
    return sam_id


def validate_reader_serial(serial: str, field: str = "reader_serial") -> str:
    if not READER_SERIAL.match(serial):
        raise InvalidInputError(
            f"a reader serial is 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' and "
            f"'-', as printed on the reader; got {redact(serial, 32) or 'nothing'}",
            field=field)
    return serial


def validate_public_key(pem: bytes | str) -> str:
    """The PEM of an ECDSA P-256 public key, normalised; InvalidInputError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    if not raw or len(raw) > MAX_PEM_BYTES:
        raise InvalidInputError(f"the SAM public key must be a PEM of at most "
                                f"{MAX_PEM_BYTES} bytes (SamImage.public_key_pem())",
                                field="public_key_pem")
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidInputError("the SAM public key must be an ECDSA P-256 public key in PEM "
                                "(SubjectPublicKeyInfo), as `nikgate sam issue` registers it",
                                field="public_key_pem")
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


# -- the registry's rules, as pure functions (unit-tested) --------------------------------

def registered(sam_id: str, institution: str, public_key_pem: bytes | str,
               existing: Sam | None) -> Sam:
    """A new SAM, status issued; refused when the id was ever registered."""
    validate_sam_id(sam_id)
    pem = validate_public_key(public_key_pem)
    if existing is not None:
        raise InvalidInputError(
            f"SAM {sam_id} is already registered (to {existing.institution}, "
            f"{existing.status}); SAM ids are never reused: issue the new SAM under a new id",
            field="sam_id")
    return Sam(sam_id, institution, pem, updated_at=_now())


def activated(sam: Sam | None, sam_id: str, reader_serial: str, others: Iterable[Sam],
              rebind: bool = False) -> Sam | None:
    """`sam` active on `reader_serial`; None when it already is (nothing to change).

    Refused: an unknown or revoked SAM; a SAM active on another reader unless `rebind`;
    a reader that holds another active SAM of the same institution."""
    validate_reader_serial(reader_serial)
    if sam is None:
        raise InvalidInputError(f"no SAM {sam_id} is registered; `nikgate sam issue` "
                                "registers one", field="sam_id")
    if sam.status == "revoked":
        raise InvalidInputError(f"SAM {sam.sam_id} was revoked ({sam.status_reason}) and "
                                "cannot be activated again: issue a new SAM", field="sam_id")
    if sam.status == "active" and sam.reader_serial == reader_serial:
        return None
    if sam.status == "active" and not rebind:
        raise InvalidInputError(
            f"SAM {sam.sam_id} is active on reader {sam.reader_serial}; a SAM is not moved "
            f"to another reader silently: revoke it, or, if reader {sam.reader_serial} was "
            "replaced, activate it again with rebind (`--rebind`), which is audited as such",
            field="reader_serial")
    for other in others:
        if (other.sam_id != sam.sam_id and other.institution == sam.institution
                and other.status == "active" and other.reader_serial == reader_serial):
            raise InvalidInputError(
                f"reader {reader_serial} already holds active SAM {other.sam_id}; a reader "
                f"holds one SAM: revoke {other.sam_id} first", field="reader_serial")
    return replace(sam, status="active", reader_serial=reader_serial, status_reason="",
                   updated_at=_now())


def revoked(sam: Sam | None, sam_id: str, reason: str) -> Sam:
    """`sam` revoked for `reason` (required); a revoked SAM stays revoked."""
    if sam is None:
        raise InvalidInputError(f"no SAM {sam_id} is registered", field="sam_id")
    reason = reason.strip()
    if not reason:
        raise InvalidInputError("a reason is required to revoke a SAM (e.g. \"reader "
                                "stolen\")", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInputError(f"the reason is {len(reason)} characters; at most "
                                f"{MAX_REASON_CHARS}", field="reason")
    if sam.status == "revoked":
        raise InvalidInputError(f"SAM {sam.sam_id} is already revoked ({sam.status_reason})",
                                field="sam_id")
    return replace(sam, status="revoked", status_reason=reason, updated_at=_now())


def usable(sam: Sam | None, sam_id: str, institution: str, reader_serial: str) -> Sam:
    """The SAM a card-reader call names, if this caller may use it on this reader;
    PermissionDenied saying what the teller should do otherwise."""
    if sam is None or sam.institution != institution:
        # another institution's SAM reads the same as an unknown one: nothing is learnt
        raise PermissionDenied(
            f"SAM {sam_id} is not a SAM of {institution} in nikgate's registry: this reader "
            "cannot be used; check that the reader holds the SAM Dukcapil issued to your "
            "institution, or ask Dukcapil to register it")
    if sam.status == "revoked":
        why = f" ({sam.status_reason})" if sam.status_reason else ""
        raise PermissionDenied(
            f"SAM {sam_id} was revoked{why}: this reader can no longer be used; stop using "
            "it and ask Dukcapil for a new SAM")
    if sam.status != "active":
        raise PermissionDenied(
            f"SAM {sam_id} is registered but not activated: ask Dukcapil to activate it for "
            f"reader {reader_serial} before using the reader")
    if sam.reader_serial != reader_serial:
        raise PermissionDenied(
            f"SAM {sam_id} is activated for reader {sam.reader_serial}, not for reader "
            f"{reader_serial}: a SAM works only in the reader it was activated for; put it "
            "back in that reader, or ask Dukcapil to rebind it if the reader was replaced")
    return sam


# -- the registry and the challenges over the control store -------------------------------

class SamRegistry:
    """Reads of the SAM registry and the challenge table (writes of the registry go through
    `Admin`, audited). Reads go to the store on every call: a revocation applies to the
    very next call in every worker."""

    def __init__(self, store: Control, lifetime: float = 120.0,
                 max_outstanding: int = 8, clock=time.time) -> None:
        self.store = store
        self.lifetime = lifetime
        self.max_outstanding = max(1, max_outstanding)
        self.clock = clock

    def get(self, sam_id: str) -> Sam | None:
        raw = self.store.sam_raw(sam_id)
        return Sam.from_json(raw) if raw is not None else None

    def all(self, institution: str | None = None) -> list[Sam]:
        sams = (Sam.from_json(raw) for raw in self.store.sams_raw().values())
        return sorted((s for s in sams if not institution or s.institution == institution),
                      key=lambda s: s.sam_id)

    def for_call(self, institution: str, sam_id: str, reader_serial: str) -> Sam:
        return usable(self.get(sam_id), sam_id, institution, reader_serial)

    # -- challenges ---------------------------------------------------------------------

    def issue_challenge(self, institution: str, sam_id: str, reader_serial: str) -> bytes:
        """32 fresh random bytes for one readout by this SAM on this reader."""
        now = self.clock()
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        self.store.issue_challenge(sam_id, challenge,
                                   Challenge(institution, reader_serial, now,
                                             now + self.lifetime),
                                   now, self.max_outstanding)
        return challenge

    def consume_challenge(self, institution: str, sam_id: str, reader_serial: str,
                          challenge: bytes) -> None:
        """Use up `challenge` (whatever the outcome); PermissionDenied unless it was issued
        to this institution, SAM and reader and has not expired."""
        now = self.clock()
        entry = self.store.take_challenge(sam_id, bytes(challenge))  # used once, even
        if entry is None:                                            # when refused below
            raise PermissionDenied(
                f"this readout's challenge is not one nikgate issued for SAM {sam_id}, or it "
                "was already used (a readout is accepted once; a replayed readout is "
                "refused): read the card again")
        if entry.institution != institution or entry.reader_serial != reader_serial:
            raise PermissionDenied(
                f"this readout's challenge was issued for another reader than "
                f"{reader_serial}: read the card again on one reader")
        if entry.expires <= now:
            raise PermissionDenied(
                f"this readout's challenge expired {now - entry.expires:.0f} s ago (a "
                f"challenge is valid {self.lifetime:g} s): read the card again")

    def outstanding(self, sam_id: str) -> int:
        """Challenges of this SAM not yet used nor expired (tests, metrics)."""
        return self.store.live_challenges(sam_id, self.clock())

    def drop_challenges(self, sam_id: str) -> int:
        """Forget every challenge of a SAM (it was revoked); returns how many."""
        return self.store.drop_challenges(sam_id)
