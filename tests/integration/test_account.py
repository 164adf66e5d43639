"""nikgate.v1.Account against the real session server: an institution reads its own grant
and usage (directly, and through the portal acting for it), counting no quota; operators
are refused; every call is audited; the request's sizes are bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nikgate import errors, methods
from nikgate.clients import Connection, NikgateClient
from nikgate.server.access.admin import Admin
from nikgate.server.access.store import today_wib
from nikgate.server.pki import ca as pki
from nikgate.v1 import account_pb2

from ..conftest import run_cli
from .conftest import full_grant
from .test_delegation import ON_BEHALF_OF_OPERATOR, PORTAL_USER, audit_of, portal_for

PORTAL = "portal-acct"


def _connection(server, certs, tmp_path: Path, which: str, **kw) -> Connection:
    key_pem, cert_pem = getattr(certs, which)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / f"{which}.key").write_bytes(key_pem)
    (tmp_path / f"{which}.crt").write_bytes(cert_pem)
    return Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt",
                      tmp_path / f"{which}.crt", tmp_path / f"{which}.key", **kw)


@pytest.fixture
def bank(server, certs, tmp_path):
    with NikgateClient(_connection(server, certs, tmp_path, "good"), deadline=30) as c:
        yield c


@pytest.fixture
def admin(server):
    """bank-a's grant, changed through the server's own store and restored afterwards."""
    a = Admin(server.running.store)
    yield a
    a.set_grant(full_grant("bank-a"))


@pytest.fixture(scope="module")
def portal_cert(certs) -> tuple[Path, Path]:
    out = run_cli("pki", "issue", "--kind", "portal", "--id", PORTAL,
                  "--dir", str(certs.pki_dir))
    assert out.returncode == 0, out.stderr
    return pki.Layout(certs.pki_dir).client_paths("portal", PORTAL)


def _portal(server, certs, tmp_path, portal_cert, metadata) -> NikgateClient:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    cert, key = portal_cert
    return NikgateClient(Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", cert,
                                    key, metadata=metadata), deadline=30)


def test_an_institution_reads_its_own_grant(bank, admin):
    admin.set_grant(full_grant("bank-a", daily_quota=5_000, purposes=("kyc",)))
    grant = bank.my_grant()
    assert grant.institution == "bank-a"
    assert grant.status == "active" and grant.daily_quota == 5_000
    assert list(grant.purposes) == ["kyc"]
    assert "NAMA_LGKP" in grant.fields["verify"].names
    # a suspended grant is still shown, with its reason: the staff see why they are refused
    admin.set_status("bank-a", "suspended", "data balikan terlambat")
    grant = bank.my_grant()
    assert (grant.status, grant.status_reason) == ("suspended", "data balikan terlambat")


def test_usage_grows_after_a_verify_and_reading_it_counts_nothing(bank, admin, index,
                                                                  server_config):
    admin.set_grant(full_grant("bank-a", daily_quota=1_000_000))
    before = bank.my_usage()
    today = today_wib(time.time())
    assert before.institution == "bank-a" and before.today == today
    assert [u.day for u in before.usage] == [today]
    assert before.usage[0].total == before.used_today
    assert before.daily_quota == 1_000_000
    assert before.quota_left_today == 1_000_000 - before.used_today
    assert before.grant_status == "active"
    again = bank.my_usage()
    assert again.used_today == before.used_today          # reading usage counts no quota
    bank.my_grant()
    assert bank.my_usage().used_today == before.used_today
    bank.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "BUDI"})
    after = bank.my_usage()
    assert after.used_today == before.used_today + 1
    assert after.usage[0].items["verify"] == before.usage[0].items.get("verify", 0) + 1
    assert after.quota_left_today == before.quota_left_today - 1
    # the call is audited like any other, under the institution
    tx = _last_tx(server_config, "GetMyUsage", "bank-a")
    assert audit_of(server_config, tx)["result"] == "OK"


def test_a_run_of_days_ends_with_the_day_asked(bank):
    reply = bank.my_usage("2026-03-02", days=3)
    assert [u.day for u in reply.usage] == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert all(u.institution == "bank-a" for u in reply.usage)
    month = bank.my_usage(days=31)
    assert len(month.usage) == 31 and month.usage[-1].day == month.today
    assert month.usage[-1].total == month.used_today


def test_bad_days_are_refused_naming_the_field(bank):
    for day, days, field in (("2026-02-30", 1, "day"), ("28-11-2026", 1, "day"),
                             ("", 32, "days"), ("2026-11-28", 4_000_000_000, "days"),
                             ("0001-01-01", 2, "day"), ("x" * 11, 1, "day")):
        with pytest.raises(errors.InvalidInputError) as info:
            bank.my_usage(day, days=days)
        assert info.value.field == field, (day, days, info.value)


def test_no_quota_means_nothing_left_to_count(bank, admin):
    admin.set_grant(full_grant("bank-a"))   # daily_quota 0: none
    reply = bank.my_usage()
    assert (reply.daily_quota, reply.quota_left_today) == (0, 0)


def test_an_operator_is_refused(server, certs, tmp_path, server_config):
    with NikgateClient(_connection(server, certs, tmp_path, "operator"), deadline=30) as ops:
        for read in (ops.my_grant, ops.my_usage):
            with pytest.raises(errors.PermissionDenied) as info:
                read()
            assert "operators use nikgate.v1.Admin" in str(info.value)
            assert info.value.grpc_code == "PERMISSION_DENIED"
            rec = audit_of(server_config, info.value.transaction_id)
            assert (rec["result"], rec["institution"]) == ("PERMISSION_DENIED", "operator:ops")


def test_the_portal_acting_for_bank_a_gets_bank_as(server, certs, tmp_path, portal_cert,
                                                    admin, server_config):
    # bank-a's grant does not allow channel portal: reading its own grant needs no channel,
    # it reads no NIK
    admin.set_grant(full_grant("bank-a", daily_quota=7_000))
    with _portal(server, certs, tmp_path, portal_cert,
                 portal_for("bank-a", "siti@bank-a.example")) as portal:
        grant = portal.my_grant()
        usage = portal.my_usage(days=14)
    assert grant.institution == "bank-a" and grant.daily_quota == 7_000
    assert usage.institution == "bank-a" and len(usage.usage) == 14
    assert usage.daily_quota == 7_000
    rec = audit_of(server_config, _last_tx(server_config, "GetMyGrant", "bank-a"))
    assert (rec["result"], rec["channel"], rec["adapter"], rec["user"]) == (
        "OK", "portal", f"portal:{PORTAL}", "siti@bank-a.example")


def test_the_portal_acting_for_an_operator_is_refused(server, certs, tmp_path, portal_cert):
    with _portal(server, certs, tmp_path, portal_cert,
                 ((ON_BEHALF_OF_OPERATOR, "ops-dina"), (PORTAL_USER, "u-ops"))) as portal:
        with pytest.raises(errors.PermissionDenied):
            portal.my_grant()


def test_an_institution_without_a_grant_is_told_so(server, certs, tmp_path):
    store = server.running.store
    Admin(store).add_institution("bank-nogrant", "No grant yet", "bank")
    issued = pki.issue_client(pki.load_ca(certs.pki_dir), "bank-nogrant", write=False)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "n.key").write_bytes(issued.key_pem)
    (tmp_path / "n.crt").write_bytes(issued.cert_pem)
    with NikgateClient(Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt",
                                  tmp_path / "n.crt", tmp_path / "n.key"), deadline=30) as c:
        with pytest.raises(errors.PermissionDenied) as info:
            c.my_grant()
        assert "has no grant" in str(info.value)
        reply = c.my_usage()
    assert (reply.institution, reply.grant_status, reply.daily_quota) == ("bank-nogrant", "",
                                                                          0)


def test_the_methods_are_in_the_table():
    assert methods.rpc("Account", "GetMyUsage").response is account_pb2.GetMyUsageResponse
    assert "nikgate.v1.Account" in methods.SERVICES


def _last_tx(server_config, method: str, institution: str) -> str:
    from nikgate.server.audit.queries import tail

    for rec in reversed(tail(server_config.audit.directory, 400)):
        if (rec.get("kind") == "call" and rec.get("method") == method
                and rec.get("institution") == institution):
            return rec["tx"]
    raise AssertionError(f"no audit record of {method} by {institution}")
