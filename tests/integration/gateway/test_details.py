"""What the shared client cases do not cover: a 10,000-item batch, both JSON names of a
field, the request id header, the receipt against the request, Idempotency-Key rules,
strictness (NaN, nesting, duplicates of query parameters), methods and bodies."""

from __future__ import annotations

import base64
import hashlib
import time

from nikgate.server.receipts import verify_receipt
from nikgate.v1 import common_pb2


def test_a_10000_item_batch_is_columnar_and_quick(gateway, index):
    niks = index.sample_niks(4000)
    niks = (niks * 3)[:10_000]
    body = {"niks": niks, "fields": ["NAMA_LGKP"], "columns": [{"values": ["X"] * 10_000}],
            "item_ids": list(range(10_000))}
    with gateway.client() as c:
        c.post("/v1/verify:batch", json=body)          # warm: connections, caches
        t = time.perf_counter()
        r = c.post("/v1/verify:batch", json=body)
        seconds = time.perf_counter() - t
    assert r.status_code == 200, r.text[:300]
    doc = r.json()
    assert len(base64.b64decode(doc["status"])) == 10_000
    assert len(base64.b64decode(doc["outcomes"])) == 10_000
    assert doc["item_ids"][-1] == "9999"
    assert seconds < 2.0, f"a 10,000-item JSON batch took {seconds:.2f} s"


def test_camel_case_names_and_the_request_id_header(gateway, person):
    with gateway.client() as c:
        r = c.post("/v1/verify", headers={"X-Request-Id": "from-header"},
                   json={"nik": person.nik, "claims": {"NAMA_LGKP": person.name}})
        assert r.json()["request_id"] == "from-header"
        assert r.headers["x-request-id"] == "from-header"
        r = c.post("/v1/verify", json={"nik": person.nik, "requestId": "camel",
                                       "claims": {"NAMA_LGKP": person.name}})
        assert r.json()["request_id"] == "camel"
        assert r.headers["nikgate-transaction-id"] == r.json()["transaction_id"]


def test_the_receipt_covers_the_request_and_response_bytes(gateway, person,
                                                           receipt_public_key):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(receipt_public_key.read_bytes())
    with gateway.client() as c:
        doc = c.post("/v1/verify", json={"nik": person.nik,
                                         "claims": {"NAMA_LGKP": person.name}}).json()
    response, request = (base64.b64decode(doc[k]) for k in ("response_b64", "request_b64"))
    check = verify_receipt(response, key, request)  # type: ignore[arg-type]
    assert check.valid, check.reason
    payload = common_pb2.ReceiptPayload.FromString(base64.b64decode(doc["receipt"]["payload"]))
    assert payload.request_sha256 == hashlib.sha256(request).digest()
    assert payload.institution_id == "bank-a"
    assert payload.method == "/nikgate.v1.Verification/Verify"
    assert payload.adapter == "gateway:json-test"     # the delegation, signed


def test_idempotency_key_rules(gateway, accessed):
    with gateway.client() as c:
        bad = c.post("/v1/return-data", headers={"Idempotency-Key": "has space"},
                     json={"niks": accessed[4:5], "kinds": ["bank_cif"], "values": ["Z1"]})
        assert bad.status_code == 400 and "Idempotency-Key" in bad.text
        long = c.post("/v1/return-data", headers={"Idempotency-Key": "k" * 60},
                      json={"niks": accessed[4:5], "kinds": ["bank_cif"], "values": ["Z1"]})
        assert long.status_code == 400
        ids = c.post("/v1/return-data", headers={"Idempotency-Key": "echo-only-1"},
                     json={"record_ids": ["own-id-77"], "niks": accessed[5:6],
                           "kinds": ["bank_cif"], "values": ["Z77"]})
        assert ids.status_code == 200, ids.text
        assert ids.headers["idempotency-key"] == "echo-only-1"
        again = c.post("/v1/return-data", json={"record_ids": ["own-id-77"],
                                                "niks": accessed[5:6],
                                                "kinds": ["bank_cif"], "values": ["Z77"]})
        assert again.json()["duplicates"] == 1   # the record id decided, not the key


def test_strict_parsing_and_methods(gateway, person):
    with gateway.client() as c:
        nan = c.post("/v1/verify", content=b'{"nik": NaN}',
                     headers={"Content-Type": "application/json"})
        assert nan.status_code == 400 and "not valid JSON" in nan.text
        deep = c.post("/v1/verify", content=b"[" * 100_000 + b"]" * 100_000,
                      headers={"Content-Type": "application/json"})
        assert deep.status_code in (400, 413)
        array = c.post("/v1/verify", json=[person.nik])
        assert array.status_code == 400 and "JSON object" in array.text
        column = c.post("/v1/verify:batch", json={"niks": person.nik})
        assert column.status_code == 400 and '"field":"niks"' in column.text
        nested = c.post("/v1/verify:batch", json={"niks": [person.nik], "fields": ["X"],
                                                  "columns": [{"valuez": []}]})
        assert nested.status_code == 400 and "columns[0].valuez" in nested.text
        charset = c.post("/v1/verify", content=b"{}",
                         headers={"Content-Type": "application/json; charset=latin-1"})
        assert charset.status_code == 415
        gzip = c.post("/v1/verify", content=b"{}", headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert gzip.status_code == 415
        assert c.get("/v1/verify").status_code == 405
        assert c.get("/v1/obligations?bogus=1").status_code == 400
        assert c.get("/v1/obligations?max_items=1&max_items=2").status_code == 400
        ok = c.post("/v1/verify", json={"nik": person.nik,
                                        "claims": {"nama_lgkp": person.name}})
        assert ok.status_code == 200, ok.text
