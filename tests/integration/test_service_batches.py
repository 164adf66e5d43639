"""Batches, streams, limits and receipts through the typed client against a real server."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import uvloop
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc

from nikgate import errors, methods
from nikgate.clients import AsyncNikgateClient, NikgateClient, VerifyItem
from nikgate.server.receipts import verify_receipt
from nikgate.v1 import common_pb2

from ..conftest import run_cli
from .conftest import channel


@pytest.fixture(scope="module")
def people(index):
    niks = index.sample_niks(3000)[::3]
    rows = index.lookup_batch(niks, ["NAMA_LGKP", "TGL_LHR"])
    return [(n, rows.item(i)) for i, n in enumerate(niks)]


def test_batch_answers_every_item_in_its_own_status(connection, people):
    niks = [n for n, _ in people[:100]] + ["12345", "3201010101019999"]
    names = [p["NAMA_LGKP"] for _, p in people[:100]] + ["X", "Y"]
    with NikgateClient(connection) as client:
        reply = client.verify_batch(niks, {"NAMA_LGKP": names}, item_ids=range(102))
    m = reply.message
    assert list(m.item_ids) == list(range(102))
    assert list(m.status[:100]) == [common_pb2.ITEM_STATUS_FOUND] * 100
    assert m.status[100] == common_pb2.ITEM_STATUS_INVALID_NIK and "16 digits" in m.problems[100]
    assert m.status[101] == common_pb2.ITEM_STATUS_NOT_FOUND
    assert set(m.outcomes[:100]) == {common_pb2.OUTCOME_MATCH}


def test_nik_numbers_are_accepted_too(connection, people):
    with NikgateClient(connection) as client:
        from nikgate.v1 import verification_pb2 as pb
        req = pb.VerifyBatchRequest(nik_numbers=[int(n) for n, _ in people[:5]] + [12345],
                                    fields=["TGL_LHR"],
                                    columns=[pb.ClaimColumn(values=[p["TGL_LHR"] for _, p in
                                                                    people[:5]] + [""])])
        raw = client._unary["VerifyBatch"](req.SerializeToString(), timeout=10)
    m = pb.VerifyBatchResponse.FromString(raw)
    assert list(m.status) == [1, 1, 1, 1, 1, 3]


@pytest.mark.parametrize("n,text", [(0, "empty batch"), (10_001, "at most 10,000")])
def test_batch_size_limits(connection, n, text):
    with NikgateClient(connection) as client:
        with pytest.raises(errors.InvalidInputError) as info:
            client.verify_batch(["3201010507900001"] * n, {"NAMA_LGKP": ["X"] * n})
    assert info.value.grpc_code == "INVALID_ARGUMENT" and text in str(info.value)


def test_oversized_message_is_refused_and_the_server_stays_healthy(connection, server, certs):
    big = "A" * (17 << 20)
    with NikgateClient(connection) as client:
        with pytest.raises(errors.ResourceExhausted) as info:
            client.verify("3201010507900001", {"NAMA_LGKP": big})
    assert info.value.grpc_code == "RESOURCE_EXHAUSTED"
    with channel(server.port, certs) as ch:
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(
            service=methods.rpc("Verification", "Verify").service), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_stream_turns_any_iterable_into_batches(connection, people):
    items = (VerifyItem(1000 + i, n, {"NAMA_LGKP": p["NAMA_LGKP"]})
             for i, (n, p) in enumerate(people))
    seen = []
    with NikgateClient(connection) as client:
        for reply in client.verify_stream(items, ["NAMA_LGKP"], batch_size=128, window=2):
            seen.extend(reply.message.item_ids)
            assert set(reply.message.status) == {common_pb2.ITEM_STATUS_FOUND}
    assert seen == [1000 + i for i in range(len(people))]


def test_async_client_under_uvloop(connection, people):
    async def main():
        async with AsyncNikgateClient(connection) as client:
            one = await client.verify(people[0][0], {"TGL_LHR": people[0][1]["TGL_LHR"]})
            replies = [r async for r in client.verify_stream(
                (VerifyItem(i, n, {"TGL_LHR": p["TGL_LHR"]}) for i, (n, p) in
                 enumerate(people[:300])), ["TGL_LHR"], batch_size=100)]
            looked = await client.lookup_batch([n for n, _ in people[:3]], ["NAMA_LGKP"])
            return one, replies, looked

    one, replies, looked = uvloop.run(main())
    assert one.message.status == common_pb2.ITEM_STATUS_FOUND
    assert [len(r.message.status) for r in replies] == [100, 100, 100]
    assert list(looked.message.columns[0].values) == [p["NAMA_LGKP"] for _, p in people[:3]]
    asyncio.set_event_loop(None)


def test_receipt_verifies_offline_and_a_flipped_byte_fails(connection, people, tmp_path,
                                                           receipt_public_key):
    with NikgateClient(connection) as client:
        reply = client.verify(people[1][0], {"NAMA_LGKP": people[1][1]["NAMA_LGKP"]})
    key = serialization.load_pem_public_key(receipt_public_key.read_bytes())
    check = verify_receipt(reply.response_bytes, key, reply.request_bytes)
    assert check.valid, check.reason
    assert check.payload.institution_id == "bank-a"
    assert check.payload.transaction_id == reply.message.transaction_id
    saved = tmp_path / "reply.json"
    saved.write_text(json.dumps({"response_b64": base64.b64encode(reply.response_bytes).decode(),
                                 "request_b64": base64.b64encode(reply.request_bytes).decode()}))
    ok = run_cli("receipt", "verify", str(saved), "--public-key", str(receipt_public_key))
    assert ok.returncode == 0 and "valid" in ok.stdout
    for at in range(len(reply.response_bytes)):  # every byte is covered
        flipped = bytearray(reply.response_bytes)
        flipped[at] ^= 0x01
        assert not verify_receipt(bytes(flipped), key, reply.request_bytes).valid, at
    bad = tmp_path / "flipped.bin"
    flipped = bytearray(reply.response_bytes)
    flipped[10] ^= 0x01
    bad.write_bytes(bytes(flipped))
    refused = run_cli("receipt", "verify", str(bad), "--public-key", str(receipt_public_key))
    assert refused.returncode == 3 and "INVALID" in refused.stdout
