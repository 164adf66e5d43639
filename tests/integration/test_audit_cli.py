"""`nikgate audit ...` on a log written through the API: verify, who-accessed, usage, tail."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nikgate.server.audit import AuditEntry, AuditLog

from ..conftest import run_cli

NIK = "3201014507900001"
NEIGHBOUR = "3201014507900011"
WIB = dt.timezone(dt.timedelta(hours=7))
T0 = int(dt.datetime(2024, 5, 1, 10, 0, tzinfo=WIB).timestamp() * 1000)


def _entry(tx: str, niks, *, method="VerifyBatch", channel="web", result="OK", t=T0):
    return AuditEntry(time_ms=t, transaction_id=tx, institution="bank-demo",
                      cert_serial="5e11", channel=channel, method=method, purpose="KYC",
                      result=result, latency_us=300, fields_requested=("NAMA_LGKP",),
                      fields_returned=(), niks=niks, item_results=bytes(len(niks)))


@pytest.fixture
def audit_log(tmp_path):
    d, key = tmp_path / "audit", tmp_path / "audit.key"
    with AuditLog.open(d, key, "w0", segment_records=4) as log:
        log.append(_entry("tx-1", [NIK, NEIGHBOUR]))
        log.append(_entry("tx-2", [NEIGHBOUR], method="Lookup", result="PERMISSION_DENIED"))
        log.append(_entry("tx-3", [NIK], method="Verify", channel="portal", t=T0 + 86_400_000))
    with AuditLog.open(d, key, "w1") as log:
        log.append(_entry("tx-4", [str(3301010101800001 + i) for i in range(100)]))
    return d, key


def test_verify_passes_then_names_a_changed_record(audit_log):
    d, _ = audit_log
    ok = run_cli("audit", "verify", "--dir", str(d))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit log verifies" in ok.stdout and "w0" in ok.stdout and "closed" in ok.stdout
    seg = d / "w0" / "segment-000001.log"
    seg.write_bytes(seg.read_bytes().replace(b'"tx-2"', b'"tx-9"'))
    bad = run_cli("audit", "verify", "--dir", str(d))
    assert bad.returncode == 3   # a finding (nikgate.cli.exits.FINDING)
    assert "PROBLEM: stream w0 segment 1 line 3 (seq 3): changed" in bad.stdout
    js = run_cli("audit", "verify", "--dir", str(d), "--json")
    assert js.returncode == 3 and json.loads(js.stdout)["ok"] is False


def test_who_accessed_lists_the_calls(audit_log):
    d, key = audit_log
    r = run_cli("audit", "who-accessed", NIK, "--dir", str(d), "--key", str(key), "--json")
    assert r.returncode == 0, r.stderr
    assert [c["tx"] for c in json.loads(r.stdout)] == ["tx-1", "tx-3"]
    human = run_cli("audit", "who-accessed", "-", "--dir", str(d), "--key", str(key),
                    input=NEIGHBOUR + "\n")
    assert human.returncode == 0 and "PERMISSION_DENIED" in human.stdout
    assert "tx-1" in human.stdout and "tx-3" not in human.stdout
    none = run_cli("audit", "who-accessed", "3201014507900002", "--dir", str(d),
                   "--key", str(key))
    assert "no call named this NIK" in none.stdout


def test_who_accessed_without_the_key_says_so(audit_log, tmp_path):
    d, _ = audit_log
    r = run_cli("audit", "who-accessed", NIK, "--dir", str(d), "--key", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no audit key" in r.stderr


def test_usage_counts_niks_per_method_and_channel(audit_log):
    d, _ = audit_log
    r = run_cli("audit", "usage", "--dir", str(d), "--institution", "bank-demo",
                "--from", "2024-05-01", "--to", "2024-05-02", "--json")
    assert r.returncode == 0, r.stderr
    totals = {(t["method"], t["channel"]): t for t in json.loads(r.stdout)["totals"]}
    assert totals[("VerifyBatch", "web")]["niks"] == 102
    assert totals[("Lookup", "web")]["calls_refused"] == 1
    assert totals[("Verify", "portal")]["niks"] == 1
    human = run_cli("audit", "usage", "--dir", str(d), "--institution", "bank-demo",
                    "--from", "2024-05-02", "--to", "2024-05-02")
    assert "2024-05-02" in human.stdout and "VerifyBatch" not in human.stdout
    bad = run_cli("audit", "usage", "--dir", str(d), "--institution", "bank-demo",
                  "--from", "1 May", "--to", "2024-05-02")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_tail_shows_the_latest_records(audit_log):
    d, _ = audit_log
    r = run_cli("audit", "tail", "--dir", str(d), "-n", "4", "--json")
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    assert len(records) == 4 and all("nik_refs" not in x for x in records)
    human = run_cli("audit", "tail", "--dir", str(d))
    assert "Verify" in human.stdout and "portal" in human.stdout
