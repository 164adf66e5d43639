"""The KTP-el chip layout: file identifiers, the card-control and biodata encodings, and the
content the document signature covers.

    MF 3F00
    └── DF 7F0A   the KTP-el application
        ├── EF 6FF0  card control   plain READ BINARY (read before authentication)
        ├── EF 6FF1  biodata        TLV 61 { 5F20.. one TLV per field, fixed order }
        ├── EF 6FF2  photo          a small image (PNG here)
        ├── EF 6FF3  signature      the holder's signature image (PNG here)
        ├── EF 6FF4  right index    fingerprint template (opaque bytes to the card)
        ├── EF 6FF5  left index     fingerprint template
        └── EF 6FF6  document signature  TLV 81 signer key id, 82 ECDSA P-256 (DER)
    EFs 6FF1-6FF6 are readable only over secure messaging after mutual authentication.

The document signature is ECDSA P-256 with SHA-256 by the Dukcapil document-signer key over
the document security object: the chip UID and the SHA-256 of each of EF 6FF1-6FF5 (the way
an e-passport's SOD covers its data groups), so the biodata, the photo, the signature image
and both templates are all covered, and a genuine chip's files cannot be moved to another
chip. The SAM rebuilds this object from the hashes of what it unwrapped itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from . import tlv

FID_MF: Final = 0x3F00
DF_KTP: Final = 0x7F0A
EF_CARD_CONTROL: Final = 0x6FF0
EF_BIODATA: Final = 0x6FF1
EF_PHOTO: Final = 0x6FF2
EF_SIGNATURE_IMAGE: Final = 0x6FF3
EF_RIGHT_INDEX: Final = 0x6FF4
EF_LEFT_INDEX: Final = 0x6FF5
EF_DOC_SIGNATURE: Final = 0x6FF6

EF_NAMES: Final = {
    EF_CARD_CONTROL: "card control",
    EF_BIODATA: "biodata",
    EF_PHOTO: "photo",
    EF_SIGNATURE_IMAGE: "signature image",
    EF_RIGHT_INDEX: "right index fingerprint",
    EF_LEFT_INDEX: "left index fingerprint",
    EF_DOC_SIGNATURE: "document signature",
}
PROTECTED_EFS: Final = (EF_BIODATA, EF_PHOTO, EF_SIGNATURE_IMAGE, EF_RIGHT_INDEX,
                        EF_LEFT_INDEX, EF_DOC_SIGNATURE)
SIGNED_EFS: Final = (EF_BIODATA, EF_PHOTO, EF_SIGNATURE_IMAGE, EF_RIGHT_INDEX, EF_LEFT_INDEX)
MAX_EF_BYTES: Final = 0x7FFF          # READ BINARY offsets are 15 bits

# Fingers by the names the fingerprint package uses, and the EF holding each template.
FINGER_EFS: Final = {"right_index": EF_RIGHT_INDEX, "left_index": EF_LEFT_INDEX}

# The chip's subset of the population record, by the record's own field names
# (nikgate.engine.schema), with their tags; the order is the encoding order.
BIODATA_TAGS: Final = {
    "NIK": 0x5F20,
    "NAMA_LGKP": 0x5F21,
    "TMPT_LHR": 0x5F22,
    "TGL_LHR": 0x5F23,
    "JENIS_KLMIN": 0x5F24,
    "GOL_DARAH": 0x5F25,
    "ALAMAT": 0x5F26,
    "NO_RT": 0x5F27,
    "NO_RW": 0x5F28,
    "KEL_NAME": 0x5F29,
    "KEC_NAME": 0x5F2A,
    "KAB_NAME": 0x5F2B,
    "PROP_NAME": 0x5F2C,
    "AGAMA": 0x5F2D,
    "STATUS_KAWIN": 0x5F2E,
    "JENIS_PKRJN": 0x5F2F,
    "KEWARGANEGARAAN": 0x5F30,
    "BERLAKU_HINGGA": 0x5F31,        # printed on the card: "SEUMUR HIDUP"
    "TGL_TERBIT": 0x5F32,            # the card's issue date (a replacement card is newer)
}
BIODATA_FIELDS: Final = tuple(BIODATA_TAGS)
TAG_BIODATA: Final = 0x61
MAX_FIELD_BYTES: Final = 255

# Card control (EF 6FF0).
TAG_CC_VERSION: Final = 0x80
TAG_CC_KEY_VERSION: Final = 0x81
TAG_CC_UID: Final = 0x82
TAG_CC_ISSUED: Final = 0x83
LAYOUT_VERSION: Final = 1

# Document signature (EF 6FF6) and the document security object it signs.
TAG_SIGNER_KEY_ID: Final = 0x81
TAG_SIGNATURE: Final = 0x82
DSO_DOMAIN: Final = b"nikgate KTP-el document security object v1"


class LayoutError(ValueError):
    """A chip file whose content does not follow the layout."""


def encode_biodata(fields: Mapping[str, str]) -> bytes:
    """EF 6FF1 from a record; missing fields are empty, unknown keys are ignored."""
    body = bytearray()
    for name, tag in BIODATA_TAGS.items():
        value = str(fields.get(name, "") or "").encode("utf-8")
        if len(value) > MAX_FIELD_BYTES:
            raise LayoutError(f"{name} is {len(value)} bytes; the chip holds at most "
                              f"{MAX_FIELD_BYTES}")
        body += tlv.encode(tag, value)
    return tlv.encode(TAG_BIODATA, bytes(body))


def decode_biodata(data: bytes) -> dict[str, str]:
    """The fields of EF 6FF1, every known field present (empty when absent)."""
    try:
        outer = tlv.parse(data)
        if set(outer) != {TAG_BIODATA}:
            raise LayoutError("EF 6FF1 must hold one TLV 61")
        inner = tlv.parse(outer[TAG_BIODATA])
        by_tag = {tag: name for name, tag in BIODATA_TAGS.items()}
        out = dict.fromkeys(BIODATA_FIELDS, "")
        for tag, value in inner.items():
            if tag in by_tag:                      # unknown tags: a newer layout, skipped
                out[by_tag[tag]] = value.decode("utf-8")
        return out
    except (tlv.TlvError, UnicodeDecodeError) as e:
        raise LayoutError(f"EF 6FF1 is not a biodata TLV: {e}") from None


def encode_card_control(uid: bytes, key_version: int, issued: str) -> bytes:
    return (tlv.encode(TAG_CC_VERSION, bytes((LAYOUT_VERSION,)))
            + tlv.encode(TAG_CC_KEY_VERSION, bytes((key_version,)))
            + tlv.encode(TAG_CC_UID, uid)
            + tlv.encode(TAG_CC_ISSUED, issued.encode("ascii")))


@dataclass(frozen=True)
class CardControl:
    version: int
    key_version: int
    uid: bytes
    issued: str


def decode_card_control(data: bytes) -> CardControl:
    try:
        items = tlv.parse(data)
        return CardControl(items[TAG_CC_VERSION][0], items[TAG_CC_KEY_VERSION][0],
                           items[TAG_CC_UID], items.get(TAG_CC_ISSUED, b"").decode("ascii"))
    except (tlv.TlvError, KeyError, IndexError, UnicodeDecodeError) as e:
        raise LayoutError(f"EF 6FF0 is not a card-control TLV: {e!r}") from None


def document_security_object(uid: bytes, digests: Mapping[int, bytes]) -> bytes:
    """What the document signature covers: the UID and SHA-256 of each of EF 6FF1-6FF5."""
    out = bytearray(DSO_DOMAIN)
    out += tlv.encode(0x5A, uid)
    for fid in SIGNED_EFS:
        out += tlv.encode(0x86, fid.to_bytes(2, "big") + digests[fid])
    return bytes(out)


def file_digests(files: Mapping[int, bytes]) -> dict[int, bytes]:
    return {fid: hashlib.sha256(files[fid]).digest() for fid in SIGNED_EFS}


def signer_key_id(public_der: bytes) -> bytes:
    """Eight bytes naming a document-signer key: SHA-256 of its SubjectPublicKeyInfo."""
    return hashlib.sha256(public_der).digest()[:8]


def encode_doc_signature(key_id: bytes, der_signature: bytes) -> bytes:
    return tlv.encode(TAG_SIGNER_KEY_ID, key_id) + tlv.encode(TAG_SIGNATURE, der_signature)


def decode_doc_signature(data: bytes) -> tuple[bytes, bytes]:
    try:
        items = tlv.parse(data)
        return items[TAG_SIGNER_KEY_ID], items[TAG_SIGNATURE]
    except (tlv.TlvError, KeyError) as e:
        raise LayoutError(f"EF 6FF6 is not a document-signature TLV: {e!r}") from None
