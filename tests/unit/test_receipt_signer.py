"""ReceiptSigner's grouping on the event loop, and verify_receipt on both receipt forms."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import nacl.signing
import pytest
import uvloop
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nikgate.server.receipts import (
    MAX_GROUP,
    RECEIPT_FIELD,
    ReceiptSigner,
    _encode_field,
    _receipt_field,
    key_id_of,
    receipt_of,
    verify_receipt,
)
from nikgate.v1 import common_pb2

SEED = hashlib.sha256(b"nikgate unit test receipt key").digest()


@pytest.fixture
def signer() -> ReceiptSigner:
    key = nacl.signing.SigningKey(SEED)
    public = Ed25519PublicKey.from_public_bytes(bytes(key.verify_key))
    return ReceiptSigner(key, key_id_of(public))


@pytest.fixture
def public_key(signer) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes(signer.key.verify_key))


def _seal(signer: ReceiptSigner, i: int):
    return signer.seal(b"\x0a\x03r%02d" % (i % 100), b"q%d" % i, f"tx-{i}", "/m", "bank-a")


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_turns_seals_share_a_signature_in_groups_of_at_most_max(signer, public_key, run):
    n = MAX_GROUP + 44

    async def main():
        lone = await _seal(signer, 0)
        many = await asyncio.gather(*(_seal(signer, i) for i in range(n)))
        return lone, many

    lone, many = run(main())
    lone_root = common_pb2.ReceiptRoot.FromString(receipt_of(lone).signed_root)
    assert lone_root.leaf_count == 1
    counts = Counter(common_pb2.ReceiptRoot.FromString(receipt_of(r).signed_root).leaf_count
                     for r in many)
    assert counts == {MAX_GROUP: MAX_GROUP, 44: 44}
    for i, response in enumerate([lone, *many]):
        check = verify_receipt(response, public_key, b"q%d" % (i - 1 if i else 0))
        assert check.valid, (i, check.reason)


def test_a_cancelled_caller_does_not_hold_up_the_others(signer, public_key):
    async def main():
        first = asyncio.ensure_future(_seal(signer, 1))
        second = asyncio.ensure_future(_seal(signer, 2))
        await asyncio.sleep(0)    # both have enqueued their payloads
        first.cancel()
        return await second, first

    response, first = asyncio.run(main())
    assert first.cancelled()
    assert verify_receipt(response, public_key, b"q2").valid


def test_receipts_signed_one_by_one_still_verify(signer, public_key):
    body = b"\x0a\x02ok"
    payload = signer.payload(body, b"request", "tx-old", "/m", "bank-a")
    old = common_pb2.Receipt(payload=payload, signature=signer.key.sign(payload).signature,
                             key_id=signer.key_id)
    response = body + _encode_field(RECEIPT_FIELD, old.SerializeToString())
    check = verify_receipt(response, public_key, b"request")
    assert check.valid and check.root is None and check.payload.transaction_id == "tx-old"
    forged = common_pb2.Receipt(payload=payload, signature=bytes(64), key_id=signer.key_id)
    bad = body + _encode_field(RECEIPT_FIELD, forged.SerializeToString())
    assert verify_receipt(bad, public_key).reason.startswith("bad signature")


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16383, 16384, 70000])
def test_the_receipt_fields_fast_encoding_is_protobufs(size):
    receipt = bytes(size)
    assert _receipt_field(receipt) == _encode_field(RECEIPT_FIELD, receipt)
