"""The audit log as the server writes it: every call, allowed or refused, per NIK."""

from __future__ import annotations

import pytest

from nikgate import errors
from nikgate.clients import Connection, NikgateClient
from nikgate.server.audit import verify_log, who_accessed

from ..conftest import run_cli
from .conftest import ServerThread


@pytest.fixture
def audited(server_config, certs, tmp_path):
    cfg = server_config.with_overrides(audit={"directory": str(tmp_path / "audit"),
                                              "key": str(tmp_path / "audit.key")})
    s = ServerThread(cfg)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    conn = Connection(f"127.0.0.1:{s.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")
    yield s, conn, tmp_path / "audit", tmp_path / "audit.key"
    if s.running is not None:
        s.stop()


def test_who_accessed_lists_exactly_the_calls_that_touched_the_nik(audited, index):
    server, conn, audit_dir, key = audited
    a, b, c, d = index.sample_niks(4)
    with NikgateClient(conn) as client:
        client.verify(a, {"NAMA_LGKP": "X"}, purpose="kyc")
        client.verify_batch([b, a, c], {"TGL_LHR": ["1990-01-01"] * 3})
        client.lookup(c, ["NAMA_LGKP"])
        with pytest.raises(errors.InvalidInputError):
            client.lookup(a, ["NAMA"])  # refused (bad field): audited too
    server.stop()  # seals the stream
    server.running = None
    hits = who_accessed(audit_dir, key, a)
    assert [h["method"] for h in hits] == ["Verify", "VerifyBatch", "Lookup"]
    assert [h["result"] for h in hits] == ["OK", "OK", "INVALID_ARGUMENT"]
    assert hits[0]["purpose"] == "kyc" and hits[0]["institution"] == "bank-a"
    assert [h["method"] for h in who_accessed(audit_dir, key, c)] == ["VerifyBatch", "Lookup"]
    assert [h["method"] for h in who_accessed(audit_dir, key, b)] == ["VerifyBatch"]
    assert who_accessed(audit_dir, key, d) == []
    report = verify_log(audit_dir)
    assert report.ok, report.problems
    for path in audit_dir.rglob("*.log"):
        raw = path.read_bytes()
        assert all(n.encode() not in raw for n in (a, b, c))  # no NIK in clear
    out = run_cli("audit", "who-accessed", a, "--dir", str(audit_dir), "--key", str(key),
                  "--json")
    assert out.returncode == 0 and out.stdout.count("Verify") >= 2
