"""The JSON API cases every client runs (curl, Node, Python): a request and what must come
back. A case is plain data, so the curl and Node runners take the same list."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: str | None = None                 # sent as is
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cert: str | None = "good"               # which client certificate; None = none
    repeat: int = 1                         # send this many times; the last is checked
    status: int = 200                       # expected HTTP status (0: TLS refused)
    contains: list[str] = field(default_factory=list)   # in the last answer's body
    retry_after: bool = False               # the last answer has a Retry-After header

    def to_json(self) -> dict:
        return asdict(self)


def cases(nik: str, name: str, birth_date: str, absent: str, returned: list[str], tag: str,
          max_body: int) -> list[Case]:
    """The cases for the stored person `nik` (and `absent`, a valid NIK not stored);
    `returned` are NIKs bank-a accessed under a data-balikan duty, `tag` makes record ids
    unique to one client's run."""
    verify = json.dumps({"nik": nik, "claims": {"NAMA_LGKP": name, "TGL_LHR": birth_date},
                         "request_id": f"{tag}-1"})
    batch = json.dumps({"niks": [nik, absent, "12"], "fields": ["NAMA_LGKP"],
                        "columns": [{"values": [name, "X", "Y"]}]})
    records = json.dumps({"batch_id": 7, "record_ids": [f"{tag}-r{i}" for i in range(2)],
                          "niks": returned[:2], "kinds": ["bank_cif"] * 2,
                          "values": [f"CIF{tag[-6:]}{i}" for i in range(2)]})
    keyed = json.dumps({"niks": returned[2:4], "kinds": ["bank_cif"] * 2,
                        "values": ["K1" + tag[-6:], "K2" + tag[-6:]]})
    return [
        Case("verify", "POST", "/v1/verify", verify,
             contains=['"OUTCOME_MATCH"', f'"request_id":"{tag}-1"', '"response_b64"',
                       '"receipt"']),
        Case("verify batch", "POST", "/v1/verify:batch", batch,
             contains=['"status":"AQID"']),   # FOUND, NOT_FOUND, INVALID_NIK
        Case("lookup", "POST", "/v1/lookup",
             json.dumps({"nik": nik, "fields": ["NAMA_LGKP"]}), contains=[name]),
        Case("lookup of a field not granted", "POST", "/v1/lookup",
             json.dumps({"nik": nik, "fields": ["NAMA_LGKP", "ALAMAT"]}), cert="narrow",
             status=403, contains=['"code":7', "ALAMAT", "not granted"]),
        Case("quota exceeded", "POST", "/v1/verify", verify, cert="quota", repeat=4,
             status=429, contains=['"code":8', "QuotaFailure", "RetryInfo"],
             retry_after=True),
        Case("return data", "POST", "/v1/return-data", records,
             contains=['"stored":2', '"duplicates":0', '"batch_id":"7"']),
        Case("return data again: stored once", "POST", "/v1/return-data", records,
             contains=['"stored":0', '"duplicates":2', '"status":"AgI="']),
        Case("return data with an Idempotency-Key", "POST", "/v1/return-data", keyed,
             headers={"Idempotency-Key": f"{tag}-k"}, contains=['"stored":2']),
        Case("the same key again", "POST", "/v1/return-data", keyed,
             headers={"Idempotency-Key": f"{tag}-k"}, contains=['"duplicates":2']),
        Case("obligations", "GET", "/v1/obligations?max_items=5", None, content_type=None,
             contains=['"institution_id":"bank-a"']),
        Case("malformed JSON", "POST", "/v1/verify", '{"nik": "1", "claims": {',
             status=400, contains=["not valid JSON", "line 1 column"]),
        Case("unknown field", "POST", "/v1/verify",
             json.dumps({"nik": nik, "claimz": {"NAMA_LGKP": name}}),
             status=400, contains=["unknown field 'claimz'", '"field":"claimz"']),
        Case("wrong type", "POST", "/v1/verify:batch",
             json.dumps({"niks": [nik, 5], "fields": ["NAMA_LGKP"]}),
             status=400, contains=['"field":"niks[1]"', "must be a string"]),
        Case("wrong content type", "POST", "/v1/verify", verify, content_type="text/plain",
             status=415, contains=["Content-Type must be application/json"]),
        Case("body over the limit", "POST", "/v1/verify:batch",
             json.dumps({"niks": [nik] * (max_body // 18 + 10), "fields": ["NAMA_LGKP"]}),
             status=413, contains=["larger than", "limit"]),
        Case("a malformed NIK, from the service", "POST", "/v1/verify",
             json.dumps({"nik": "12", "claims": {"NAMA_LGKP": name}}),
             status=400, contains=['"code":3', '"field":"nik"', "LENGTH"]),
        Case("no such endpoint", "POST", "/v1/verfy", verify, status=404,
             contains=['"code":5']),
        Case("no client certificate", "POST", "/v1/verify", verify, cert=None, status=0),
        Case("another CA's certificate", "POST", "/v1/verify", verify, cert="other_ca",
             status=0),
        Case("a revoked certificate", "POST", "/v1/verify", verify, cert="revoked",
             status=401, contains=['"code":16', "revoked"]),
    ]
