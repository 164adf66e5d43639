"""Signed receipts: Ed25519 over what nikgate answered, checkable offline.

The server builds a serialized ReceiptPayload per answer (transaction id, method,
institution, time, SHA-256 of the request bytes as received and of the response bytes
before the receipt; for a call an adapter made on the institution's behalf, the adapter and
the portal user). The receipt is appended as the response's last field, so the signed
response digest is the digest of every byte before it: a client that keeps the raw
response can prove it.

One signature covers every answer sealed in the same event-loop turn (at most MAX_GROUP):
the payloads are the leaves of a Merkle tree (receipt_tree.py), the signature is over a
ReceiptRoot naming its root, and each receipt carries the signed root and its audit path,
so it still verifies on its own. A lone call does not wait for company: the group is
flushed by `loop.call_soon`, never by a timer, so it is signed in the very next turn.
Measured, grpc.aio hands a worker's loop about one call per turn: at 16 Verify calls in
flight one signature covered 1.1 receipts on average, so groups pay off in bursts (50
calls at once) rather than at a steady rate; a lone call's seal costs ~9 us more than one
signature per call did (the extra loop turn, the root message, the leaf hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.message import DecodeError

from nikgate.v1 import common_pb2

from . import receipt_tree

RECEIPT_FIELD = 15  # the field number of `receipt` in every response message
MAX_GROUP = 256     # receipts under one signature at most: audit paths of <= 8 hashes


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


def _receipt_field(receipt: bytes) -> bytes:
    """`_encode_field(RECEIPT_FIELD, receipt)` on every call's path: a receipt is 128 bytes
    to 16 KiB, so its length is a two-byte varint (and a one-byte tag)."""
    size = len(receipt)
    if 0x80 <= size < 0x4000:
        return bytes((RECEIPT_FIELD << 3 | 2, size & 0x7F | 0x80, size >> 7)) + receipt
    return _encode_field(RECEIPT_FIELD, receipt)


@dataclass
class ReceiptSigner:
    key: nacl.signing.SigningKey  # libsodium signs Ed25519 in ~43 us here, OpenSSL in ~64
    key_id: str
    # payloads waiting for this loop turn's signature, with the futures of their callers
    _pending: list[tuple[bytes, asyncio.Future[bytes]]] = field(
        default_factory=list, init=False, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReceiptSigner:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        return cls(nacl.signing.SigningKey(seed), key_id_of(key.public_key()))

    async def seal(self, response_bytes: bytes, request_bytes: bytes, transaction_id: str,
                   method: str, institution_id: str, adapter: str = "",
                   acting_user: str = "") -> bytes:
        """The response bytes with a signed receipt appended as their last field.
        `adapter` and `acting_user` name who acted for the institution (empty for a direct
        call, and then absent from the payload's bytes). Every seal of one loop turn
        shares one signature (see the module docstring)."""
        payload = self.payload(response_bytes, request_bytes, transaction_id, method,
                               institution_id, adapter, acting_user)
        loop = asyncio.get_running_loop()
        sealed = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((payload, sealed))
        return response_bytes + await sealed

    def payload(self, response_bytes: bytes, request_bytes: bytes, transaction_id: str,
                method: str, institution_id: str, adapter: str = "",
                acting_user: str = "") -> bytes:
        """The serialized ReceiptPayload for one answer (what a tree leaf hashes)."""
        return common_pb2.ReceiptPayload(
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

    def sign_group(self, payloads: Sequence[bytes]) -> list[bytes]:
        """Each payload's receipt as a response field (tag, length, Receipt), all under one
        signature over the root of their tree."""
        root, paths = receipt_tree.build(payloads)
        statement = common_pb2.ReceiptRoot(
            root_sha256=root, leaf_count=len(payloads), key_id=self.key_id,
            issued_at_unix_ms=int(time.time() * 1000)).SerializeToString()
        signature = self.key.sign(statement).signature
        return [_receipt_field(common_pb2.Receipt(
                    payload=payload, signature=signature, key_id=self.key_id,
                    signed_root=statement, leaf_index=index, audit_path=path,
                ).SerializeToString())
                for index, (payload, path) in enumerate(zip(payloads, paths, strict=True))]

    def _flush(self) -> None:
        """Sign what this loop turn sealed (in groups of MAX_GROUP) and wake the callers;
        a caller that was cancelled meanwhile still has its leaf, just no one to read it."""
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_GROUP):
            group = pending[start:start + MAX_GROUP]
            try:
                fields = self.sign_group([payload for payload, _ in group])
            except Exception as e:   # a bug: every caller fails with it, none hangs
                for _, sealed in group:
                    if not sealed.done():
                        sealed.set_exception(e)
                continue
            for (_, sealed), receipt in zip(group, fields, strict=True):
                if not sealed.done():
                    sealed.set_result(receipt)


@dataclass(frozen=True)
class ReceiptCheck:
    valid: bool
    reason: str
    payload: common_pb2.ReceiptPayload | None = None
    root: common_pb2.ReceiptRoot | None = None   # None for a receipt made before groups
    leaf_index: int = 0


def verify_receipt(response_bytes: bytes, public_key: Ed25519PublicKey,
                   request_bytes: bytes | None = None) -> ReceiptCheck:
    """Check a raw response message's receipt: the signature, the payload's path to the
    signed root, and that it covers these bytes (docs/api.md, "Receipts", step by step).
    Receipts signed one by one, before groups (no `signed_root`), are checked too."""
    receipt = receipt_of(response_bytes)
    if receipt is None:
        return ReceiptCheck(False, "no receipt in the response")
    tail = _encode_field(RECEIPT_FIELD, receipt.SerializeToString())
    if not response_bytes.endswith(tail):
        return ReceiptCheck(False, "the receipt is not the response's last field")
    body = response_bytes[: len(response_bytes) - len(tail)]
    grouped = bool(receipt.signed_root)
    try:
        public_key.verify(receipt.signature,
                          receipt.signed_root if grouped else receipt.payload)
    except InvalidSignature:
        return ReceiptCheck(False, "bad signature: the receipt was not made by this key, "
                                   "or its signed root was altered")
    root = None
    if grouped:
        try:
            root = common_pb2.ReceiptRoot.FromString(receipt.signed_root)
        except DecodeError:
            return ReceiptCheck(False, "the signed root is not a ReceiptRoot message")
        if receipt_tree.root_of(receipt.payload, receipt.leaf_index, root.leaf_count,
                                receipt.audit_path) != root.root_sha256:
            return ReceiptCheck(False, f"the payload is not leaf {receipt.leaf_index} of the "
                                       f"signed tree of {root.leaf_count}: the payload, its "
                                       "index or its audit path was altered",
                                root=root, leaf_index=receipt.leaf_index)
    try:
        payload = common_pb2.ReceiptPayload.FromString(receipt.payload)
    except DecodeError:
        return ReceiptCheck(False, "the receipt's payload is not a ReceiptPayload message")

    def check(valid: bool, reason: str) -> ReceiptCheck:
        return ReceiptCheck(valid, reason, payload, root, receipt.leaf_index)

    key_ids = {receipt.key_id, payload.key_id, key_id_of(public_key)}
    if root is not None:
        key_ids.add(root.key_id)
    if len(key_ids) != 1:
        return check(False, "the receipt's key id does not match the signing key")
    if payload.response_sha256 != hashlib.sha256(body).digest():
        return check(False, "the response was altered after it was signed")
    if request_bytes is not None and payload.request_sha256 != hashlib.sha256(
            request_bytes).digest():
        return check(False, "the receipt is for a different request")
    return check(True, "valid")


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


def receipt_of(data: bytes) -> common_pb2.Receipt | None:
    """A response's receipt: its top-level fields parsed, the last field 15 as a Receipt
    (None when there is none or the bytes are not a message)."""
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
