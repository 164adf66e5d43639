"""Signed receipts: an Ed25519 signature over what nikgate answered, checkable offline.

The server signs a serialized ReceiptPayload (transaction id, method, institution, time,
SHA-256 of the request bytes as received and of the response bytes before the receipt;
for a call an adapter made on the institution's behalf, the adapter and the portal user).
The receipt is appended as the response's last field, so the signed response digest is
the digest of every byte before it: a client that keeps the raw response can prove it.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nikgate.v1 import common_pb2

RECEIPT_FIELD = 15  # the field number of `receipt` in every response message


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def ensure_signing_key(path: str | os.PathLike) -> Path:
    """Create an Ed25519 signing key (and its .pub) at `path` if there is none."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
        public_key_path(path).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def public_key_path(signing_key: str | os.PathLike) -> Path:
    return Path(str(signing_key) + ".pub")


def _encode_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag, varint length, bytes."""
    out = bytearray()
    tag = (number << 3) | 2
    for value in (tag, len(payload)):
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + payload


@dataclass
class ReceiptSigner:
    key: nacl.signing.SigningKey  # libsodium signs Ed25519 in ~43 us here, OpenSSL in ~64
    key_id: str

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReceiptSigner:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        return cls(nacl.signing.SigningKey(seed), key_id_of(key.public_key()))

    def seal(self, response_bytes: bytes, request_bytes: bytes, transaction_id: str,
             method: str, institution_id: str, adapter: str = "",
             acting_user: str = "") -> bytes:
        """The response bytes with a signed receipt appended as their last field.
        `adapter` and `acting_user` name who acted for the institution (empty for a direct
        call, and then absent from the payload's bytes)."""
        payload = common_pb2.ReceiptPayload(
            transaction_id=transaction_id,
            method=method,
            institution_id=institution_id,
            issued_at_unix_ms=int(time.time() * 1000),
            request_sha256=hashlib.sha256(request_bytes).digest(),
            response_sha256=hashlib.sha256(response_bytes).digest(),
            key_id=self.key_id,
            adapter=adapter,
            acting_user=acting_user,
        ).SerializeToString()
        receipt = common_pb2.Receipt(payload=payload,
                                     signature=self.key.sign(payload).signature,
                                     key_id=self.key_id)
        return response_bytes + _encode_field(RECEIPT_FIELD, receipt.SerializeToString())


@dataclass(frozen=True)
class ReceiptCheck:
    valid: bool
    reason: str
    payload: common_pb2.ReceiptPayload | None = None


def verify_receipt(response_bytes: bytes, public_key: Ed25519PublicKey,
                   request_bytes: bytes | None = None) -> ReceiptCheck:
    """Check a raw response message's receipt: signature, and that it covers these bytes."""
    receipt = _last_receipt(response_bytes)
    if receipt is None:
        return ReceiptCheck(False, "no receipt in the response")
    tail = _encode_field(RECEIPT_FIELD, receipt.SerializeToString())
    if not response_bytes.endswith(tail):
        return ReceiptCheck(False, "the receipt is not the response's last field")
    body = response_bytes[: len(response_bytes) - len(tail)]
    try:
        public_key.verify(receipt.signature, receipt.payload)
    except InvalidSignature:
        return ReceiptCheck(False, "bad signature: the receipt was not made by this key, "
                                   "or was altered")
    payload = common_pb2.ReceiptPayload.FromString(receipt.payload)
    if not (receipt.key_id == payload.key_id == key_id_of(public_key)):
        return ReceiptCheck(False, "the receipt's key id does not match the signing key",
                            payload)
    if payload.response_sha256 != hashlib.sha256(body).digest():
        return ReceiptCheck(False, "the response was altered after it was signed", payload)
    if request_bytes is not None and payload.request_sha256 != hashlib.sha256(
            request_bytes).digest():
        return ReceiptCheck(False, "the receipt is for a different request", payload)
    return ReceiptCheck(True, "valid", payload)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


def _last_receipt(data: bytes) -> common_pb2.Receipt | None:
    """Parse top-level fields and return the last field-15 value as a Receipt."""
    pos, found = 0, None
    try:
        while pos < len(data):
            tag, pos = _varint(data, pos)
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = _varint(data, pos)
                if number == RECEIPT_FIELD:
                    found = data[pos:pos + size]
                pos += size
            else:
                return None
    except IndexError:
        return None
    if found is None or pos != len(data):
        return None
    try:
        return common_pb2.Receipt.FromString(found)
    except Exception:
        return None
