"""What a SAM signs over a readout, and how the server checks it (for CardVerify).

The SAM signs, with its own ECDSA P-256 key (the public half is in the server's SAM
registry), the message

    "nikgate readout v1" || TLV C1 sam id || 81 challenge || 5A chip UID
                         || 86 SHA-256(EF 6FF1 as the SAM unwrapped it) || 82 readout digest

The SAM fills in the UID and the biodata hash itself from the card it authenticated and
whose document signature it verified; only the server's challenge and the readout digest
come from the host. The readout digest is the host's commitment to everything else in the
request (reader serial, fingerprint outcome, ...): `digest_of` gives one canonical form.
So a PC cannot present biodata that did not come from a genuine chip in this SAM's session,
nor replay an old readout (the challenge is fresh), nor alter the request (the digest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import tlv

DOMAIN = b"nikgate readout v1"


def signed_message(*, sam_id: str, challenge: bytes, uid: bytes, biodata_digest: bytes,
                   readout_digest: bytes) -> bytes:
    return (DOMAIN + tlv.encode(0xC1, sam_id.encode("utf-8")) + tlv.encode(0x81, challenge)
            + tlv.encode(0x5A, uid) + tlv.encode(0x86, biodata_digest)
            + tlv.encode(0x82, readout_digest))


def digest_of(values: Mapping[str, Any]) -> bytes:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8): the readout digest."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).digest()


def readout_values(*, reader_serial: str, document_signature_ok: bool, matched: bool,
                   score: int, finger: int, attempts: int) -> dict[str, Any]:
    """The request values the readout digest commits to, in the one form both the client
    (before the SAM signs) and the server (CardVerify) build: `digest_of` of this."""
    return {"reader_serial": reader_serial, "document_signature_ok": bool(document_signature_ok),
            "fingerprint": {"matched": bool(matched), "score": int(score),
                            "finger": int(finger), "attempts": int(attempts)}}


def biodata_digest(biodata_raw: bytes) -> bytes:
    """SHA-256 of EF 6FF1's bytes (layout.encode_biodata rebuilds them from the fields)."""
    return hashlib.sha256(biodata_raw).digest()


def load_sam_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("a SAM public key must be ECDSA P-256")
    return key


def verify_readout_signature(public_key: ec.EllipticCurvePublicKey | bytes, signature: bytes,
                             *, sam_id: str, challenge: bytes, uid: bytes,
                             biodata_raw: bytes, readout_digest: bytes) -> bool:
    """True when `signature` is the SAM's over exactly these values (server side)."""
    key = load_sam_public_key(public_key) if isinstance(public_key, bytes) else public_key
    message = signed_message(sam_id=sam_id, challenge=challenge, uid=uid,
                             biodata_digest=biodata_digest(biodata_raw),
                             readout_digest=readout_digest)
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
