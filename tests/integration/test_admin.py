"""nikgate.v1.Admin over mTLS: operators only; changes apply within a second, audited."""

from __future__ import annotations

import time

import grpc
import pytest

from nikgate import errors
from nikgate.clients import Connection, NikgateClient
from nikgate.server.config import Config
from nikgate.v1 import admin_pb2 as pb
from nikgate.v1 import admin_pb2_grpc

from .conftest import ServerThread, channel, full_grant
from .waiting import eventually


def _verifies(client, nik) -> bool:
    try:
        return client.verify(nik, {"NAMA_LGKP": "X"}).message.status == 1
    except errors.PermissionDenied:
        return False


@pytest.fixture
def own(server_config, tmp_path, server):
    # the production refresh interval, not the session's 0: "within a second" is the claim
    cfg = server_config.with_overrides(audit={"directory": str(tmp_path / "audit"),
                                              "key": str(tmp_path / "audit.key")},
                                       access={"refresh_seconds": Config().access.refresh_seconds})
    s = ServerThread(cfg)
    yield s, tmp_path
    if s.running is not None:
        s.stop()
    # whatever happened, the session's grant for bank-a comes back
    from nikgate.server.access.admin import Admin
    Admin(server.running.store).set_grant(full_grant("bank-a"))   # read on the next call


def test_operators_manage_grants_and_changes_apply_within_a_second(own, certs, index):
    server, tmp_path = own
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    bank = Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")
    nik = index.sample_niks(1)[0]
    with channel(server.port, certs, "operator") as ch, NikgateClient(bank) as client:
        ops = admin_pb2_grpc.AdminStub(ch)
        listed = ops.ListInstitutions(pb.ListInstitutionsRequest(), timeout=10)
        assert {i.id: i.grant_status for i in listed.institutions}["bank-a"] == "active"
        assert client.verify(nik, {"NAMA_LGKP": "X"}).message.status == 1
        ops.SetGrantStatus(pb.SetGrantStatusRequest(institution="bank-a", status="suspended",
                                                    reason="PKS review"), timeout=10)
        t0 = time.monotonic()
        while True:
            try:
                client.verify(nik, {"NAMA_LGKP": "X"})
            except errors.PermissionDenied as e:
                assert "PKS review" in str(e)
                break
            assert time.monotonic() - t0 < 1.0
            time.sleep(0.02)
        g = full_grant("bank-a")
        grant = ops.SetGrant(pb.Grant(
            institution="bank-a", operations=["verify"],
            fields={"verify": pb.FieldList(names=["NAMA_LGKP"])},
            valid_from=g.valid_from, valid_until=g.valid_until, daily_quota=10**9), timeout=10)
        assert grant.status == "active" and grant.updated_at and grant.daily_quota == 10**9
        eventually(lambda: _verifies(client, nik), timeout=1.0,
                   what="the new grant reaches the running server")
        assert client.verify(nik, {"NAMA_LGKP": "X"}).message.status == 1
        usage = ops.GetUsage(pb.GetUsageRequest(institution="bank-a"), timeout=10)
        assert usage.items["verify"] >= 1
        with pytest.raises(grpc.RpcError) as info:
            ops.SetGrant(pb.Grant(institution="bank-a", operations=["fly"],
                                  valid_from="2026-01-01", valid_until="2027-01-01"),
                         timeout=10)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "operations must be some of" in info.value.details()
        # restore the session-wide grant
        ops.SetGrant(pb.Grant(institution="bank-a", operations=list(g.operations),
                              fields={k: pb.FieldList(names=v) for k, v in g.fields.items()},
                              valid_from=g.valid_from, valid_until=g.valid_until), timeout=10)
    server.stop()
    server.running = None
    from nikgate.server.audit import tail
    methods = [r.get("method") for r in tail(tmp_path / "audit", 50)]
    assert "SetGrantStatus" in methods and "SetGrant" in methods


def test_institution_certificates_cannot_administer(server, certs):
    with channel(server.port, certs, "good") as ch:
        with pytest.raises(grpc.RpcError) as info:
            admin_pb2_grpc.AdminStub(ch).ListInstitutions(pb.ListInstitutionsRequest(),
                                                          timeout=10)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "operator certificates only" in info.value.details()
