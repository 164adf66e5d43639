"""Receipts signed per group of concurrent calls, against a real server: each receipt still
verifies on its own, in Python (verify_receipt, `nikgate receipt verify`) and in Node from
the .proto and docs alone (verify.mjs), and tampering with any part of it fails."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvloop
from cryptography.hazmat.primitives import serialization

from nikgate.clients import AsyncNikgateClient, NikgateClient, VerifyItem
from nikgate.server.receipts import RECEIPT_FIELD, _encode_field, receipt_of, verify_receipt
from nikgate.v1 import common_pb2

from ...conftest import run_cli

HERE = Path(__file__).resolve().parent
CONCURRENT = 50


@dataclass
class Answer:
    name: str
    response: bytes
    request: bytes

    @property
    def receipt(self) -> common_pb2.Receipt:
        receipt = receipt_of(self.response)
        assert receipt is not None
        return receipt

    @property
    def root(self) -> common_pb2.ReceiptRoot:
        return common_pb2.ReceiptRoot.FromString(self.receipt.signed_root)

    def to_json(self) -> dict:
        return {"name": self.name, "response_b64": base64.b64encode(self.response).decode(),
                "request_b64": base64.b64encode(self.request).decode()}


@pytest.fixture(scope="module")
def answers(connection, index) -> dict[str, list[Answer]]:
    """50 concurrent Verify calls on one channel, a stream of 4 messages, a lone call."""
    niks = index.sample_niks(CONCURRENT + 10)
    rows = index.lookup_batch(niks, ["NAMA_LGKP"])
    people = [(n, rows.item(i)["NAMA_LGKP"]) for i, n in enumerate(niks)]

    async def main():
        async with AsyncNikgateClient(connection) as client:
            many = await asyncio.gather(*(client.verify(nik, {"NAMA_LGKP": name})
                                          for nik, name in people[:CONCURRENT]))
            items = (VerifyItem(i, nik, {"NAMA_LGKP": name})
                     for i, (nik, name) in enumerate(people[:8]))
            streamed = [r async for r in client.verify_stream(items, ["NAMA_LGKP"],
                                                              batch_size=2)]
        return many, streamed

    many, streamed = uvloop.run(main())
    asyncio.set_event_loop(None)
    with NikgateClient(connection) as client:
        lone = client.verify(people[-1][0], {"NAMA_LGKP": people[-1][1]})
    return {
        "concurrent": [Answer(f"concurrent-{i}", r.response_bytes, r.request_bytes)
                       for i, r in enumerate(many)],
        "stream": [Answer(f"stream-{i}", r.response_bytes, r.request_bytes)
                   for i, r in enumerate(streamed)],
        "lone": [Answer("lone", lone.response_bytes, lone.request_bytes)],
    }


@pytest.fixture(scope="module")
def public_key(receipt_public_key):
    return serialization.load_pem_public_key(receipt_public_key.read_bytes())


def test_concurrent_calls_share_signatures_and_each_receipt_verifies(answers, public_key):
    group = answers["concurrent"]
    for a in group:
        check = verify_receipt(a.response, public_key, a.request)
        assert check.valid, (a.name, check.reason)
        assert check.root is not None and check.leaf_index < check.root.leaf_count
    by_signature = Counter(a.receipt.signature for a in group)
    print("group sizes:", sorted(by_signature.values(), reverse=True))
    shared, count = by_signature.most_common(1)[0]
    assert count > 1, "50 concurrent calls were all signed one by one"
    members = [a for a in group if a.receipt.signature == shared]
    roots = {a.receipt.signed_root for a in members}
    assert len(roots) == 1 and members[0].root.leaf_count >= count
    assert len({a.receipt.leaf_index for a in members}) == count   # one leaf each
    assert all(a.receipt.audit_path for a in members)


def test_a_lone_call_is_a_tree_of_one_leaf(answers, public_key):
    (lone,) = answers["lone"]
    assert lone.root.leaf_count == 1
    assert lone.receipt.leaf_index == 0 and not lone.receipt.audit_path
    assert verify_receipt(lone.response, public_key, lone.request).valid


def test_every_stream_message_carries_its_own_receipt(answers, public_key):
    streamed = answers["stream"]
    assert len(streamed) == 4
    txs = set()
    for a in streamed:
        check = verify_receipt(a.response, public_key, a.request)
        assert check.valid, (a.name, check.reason)
        txs.add(check.payload.transaction_id)
    assert len(txs) == 4


def _grouped(answers) -> Answer:
    return max(answers["concurrent"], key=lambda a: len(a.receipt.audit_path))


def _with_receipt(a: Answer, name: str, change) -> Answer:
    receipt = a.receipt
    tail = _encode_field(RECEIPT_FIELD, receipt.SerializeToString())
    body = a.response[:len(a.response) - len(tail)]
    change(receipt)
    return Answer(name, body + _encode_field(RECEIPT_FIELD, receipt.SerializeToString()),
                  a.request)


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _tampered(a: Answer, other: Answer) -> dict[str, tuple[Answer, str, str]]:
    """name: (answer, Python's reason contains, Node's reason)."""
    def path(r):
        r.audit_path[-1] = _flip(r.audit_path[-1], 5)

    def index(r):
        r.leaf_index ^= 1

    def payload(r):
        r.payload = _flip(r.payload, len(r.payload) - 3)

    def root(r):
        r.signed_root = _flip(r.signed_root, 4)

    def signature(r):
        r.signature = _flip(r.signature, 9)

    tree = ("not leaf", "payload not in the signed tree")
    return {
        "payload": (_with_receipt(a, "payload", payload), *tree),
        "path": (_with_receipt(a, "path", path), *tree),
        "index": (_with_receipt(a, "index", index), *tree),
        "statement": (_with_receipt(a, "statement", root), "bad signature", "bad signature"),
        "signature": (_with_receipt(a, "signature", signature), "bad signature",
                      "bad signature"),
        "response": (Answer("response", _flip(a.response, 3), a.request),
                     "altered after it was signed", "response altered"),
        "request": (Answer("request", a.response, other.request),
                    "different request", "different request"),
    }


def _node(answers: list[Answer], key: Path, tmp: Path) -> dict[str, dict]:
    (tmp / "answers.json").write_text(json.dumps([a.to_json() for a in answers]))
    done = subprocess.run(["node", str(HERE / "verify.mjs"), str(key), str(tmp / "answers.json")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(answers)
    return {r["name"]: r for r in results}


def test_tampering_with_any_part_fails_with_its_reason(answers, public_key):
    a = _grouped(answers)
    assert a.receipt.audit_path
    for name, (bad, reason, _) in _tampered(a, answers["lone"][0]).items():
        check = verify_receipt(bad.response, public_key, bad.request)
        assert not check.valid, name
        assert reason in check.reason, (name, check.reason)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_verifier_from_the_docs_agrees(answers, receipt_public_key, tmp_path):
    every = [a for group in answers.values() for a in group]
    tampered = _tampered(_grouped(answers), answers["lone"][0])
    results = _node(every + [bad for bad, _, _ in tampered.values()], receipt_public_key,
                    tmp_path)
    for a in every:
        r = results[a.name]
        assert r["valid"], r
        assert r["leaf_count"] == a.root.leaf_count and r["leaf_index"] == a.receipt.leaf_index
    assert results["lone"]["leaf_count"] == 1
    assert max(results[a.name]["leaf_count"] for a in answers["concurrent"]) > 1
    for name, (_, _, reason) in tampered.items():
        assert not results[name]["valid"] and results[name]["reason"] == reason, results[name]


def test_the_cli_checks_a_grouped_receipt(answers, receipt_public_key, tmp_path):
    a = _grouped(answers)
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(a.to_json()))
    ok = run_cli("receipt", "verify", str(saved), "--public-key", str(receipt_public_key),
                 "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    info = json.loads(ok.stdout)
    assert info["valid"] and info["leaf_count"] == a.root.leaf_count > 1
    assert info["leaf_index"] == a.receipt.leaf_index
    bad = _tampered(a, answers["lone"][0])["path"][0]
    saved.write_text(json.dumps(bad.to_json()))
    refused = run_cli("receipt", "verify", str(saved), "--public-key", str(receipt_public_key))
    assert refused.returncode != 0
    assert "INVALID" in refused.stdout and "not leaf" in refused.stdout
