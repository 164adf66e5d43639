"""Hak akses enforced by a real server: operations, fields, term, status, quota, rate."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from nikgate import errors
from nikgate.clients import Connection, NikgateClient
from nikgate.server.access.admin import Admin
from nikgate.server.access.store import ControlStore

from .conftest import full_grant
from .test_serve import Served, _write_config


@pytest.fixture
def conn(server, certs, tmp_path) -> Connection:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")


@pytest.fixture
def admin(server):
    """Grant changes through the running server's own store; restored afterwards. The
    session server reads grants on every call (conftest: refresh_seconds 0), so a change
    applies to the next call without a wait."""
    a = Admin(server.running.store)
    yield a
    a.set_grant(full_grant("bank-a"))


def _change(admin, **changes):
    admin.set_grant(full_grant("bank-a", **changes))


def test_an_operation_not_granted_is_permission_denied(conn, admin, index):
    nik = index.sample_niks(1)[0]
    _change(admin, operations=("verify",), fields={"verify": ("NAMA_LGKP",)})
    with NikgateClient(conn) as c:
        assert c.verify(nik, {"NAMA_LGKP": "X"}).message.status == 1
        with pytest.raises(errors.PermissionDenied) as info:
            c.lookup(nik, ["NAMA_LGKP"])
    assert info.value.grpc_code == "PERMISSION_DENIED"
    assert "operation lookup is not granted to bank-a" in str(info.value)


def test_a_field_not_granted_refuses_the_whole_request(conn, admin, index):
    nik = index.sample_niks(1)[0]
    _change(admin, fields={"verify": ("NAMA_LGKP",), "verify_batch": ("NAMA_LGKP",),
                           "lookup": ("NAMA_LGKP",)})
    with NikgateClient(conn) as c:
        with pytest.raises(errors.PermissionDenied) as info:
            c.lookup(nik, ["NAMA_LGKP", "ALAMAT", "NAMA_LGKP_IBU"])
        assert info.value.grpc_code == "PERMISSION_DENIED"
        assert "ALAMAT, NAMA_LGKP_IBU not granted" in str(info.value)
        assert set(info.value.fields) == {"ALAMAT", "NAMA_LGKP_IBU"}
        with pytest.raises(errors.PermissionDenied) as info:
            c.verify_batch([nik], {"NAMA_LGKP": ["X"], "TGL_LHR": ["1990-01-01"]})
        assert info.value.grpc_code == "PERMISSION_DENIED"
        assert "TGL_LHR not granted" in str(info.value)
        assert c.lookup(nik, ["NAMA_LGKP"]).message.status == 1


@pytest.mark.parametrize("changes,text", [
    ({"valid_from": "2020-01-01", "valid_until": "2021-12-31"}, "expired on 2021-12-31"),
    ({"valid_from": (dt.date.today() + dt.timedelta(days=3)).isoformat(),
      "valid_until": "2099-01-01"}, "starts on"),
    ({"status": "suspended", "status_reason": "data balikan overdue"},
     "is suspended (data balikan overdue)"),
    ({"status": "revoked", "status_reason": "PKS terminated"}, "is revoked (PKS terminated)"),
])
def test_expired_suspended_or_revoked_grants_are_refused(conn, admin, index, changes, text):
    nik = index.sample_niks(1)[0]
    _change(admin, **changes)
    with NikgateClient(conn) as c, pytest.raises(errors.PermissionDenied) as info:
        c.verify(nik, {"NAMA_LGKP": "X"})
    assert info.value.grpc_code == "PERMISSION_DENIED"
    assert text in str(info.value)


def test_no_grant_means_no_access(server, certs, tmp_path, index):
    # a registered institution with a valid certificate but no grant
    from nikgate.server.access.admin import Admin
    from nikgate.server.pki import ca as pki

    Admin(server.running.store).add_institution("bank-nogrant", "No Grant", "bank")
    issued = pki.issue_client(pki.load_ca(certs.pki_dir), "bank-nogrant", write=False)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "n.key").write_bytes(issued.key_pem)
    (tmp_path / "n.crt").write_bytes(issued.cert_pem)
    conn = Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "n.crt",
                      tmp_path / "n.key")
    with NikgateClient(conn) as c, pytest.raises(errors.PermissionDenied) as info:
        c.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "X"})
    assert info.value.grpc_code == "PERMISSION_DENIED"
    assert "denied by default" in str(info.value)


def test_an_operator_certificate_never_acts_as_the_institution_of_the_same_id(
        server, certs, tmp_path, index):
    """An operator whose id equals an institution's must not get that institution's grant."""
    from nikgate.server.pki import ca as pki

    issued = pki.issue_client(pki.load_ca(certs.pki_dir), "bank-a", kind="operator",
                              write=False)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "o.key").write_bytes(issued.key_pem)
    (tmp_path / "o.crt").write_bytes(issued.cert_pem)
    conn = Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "o.crt",
                      tmp_path / "o.key")
    with NikgateClient(conn) as c:
        for call in (lambda: c.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "X"}),
                     lambda: c.lookup(index.sample_niks(1)[0], ["NAMA_LGKP"]),
                     lambda: c.verify_batch(index.sample_niks(3), {"NAMA_LGKP": ["X"] * 3})):
            with pytest.raises(errors.PermissionDenied) as info:
                call()
            assert info.value.grpc_code == "PERMISSION_DENIED"
            assert "operator certificate" in str(info.value)


def test_a_grant_change_reaches_the_running_server_within_a_second(conn, admin, index):
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn) as c:
        assert c.verify(nik, {"NAMA_LGKP": "X"}).message.status == 1
        admin.set_status("bank-a", "suspended", "audit finding")
        changed = time.monotonic()
        while True:
            try:
                c.verify(nik, {"NAMA_LGKP": "X"})
            except errors.PermissionDenied as e:
                assert e.grpc_code == "PERMISSION_DENIED"
                break
            assert time.monotonic() - changed < 1.0, "change not seen within 1 s"
            time.sleep(0.02)


def test_rate_limit_is_a_token_bucket_with_retry_info(conn, admin, index):
    niks = index.sample_niks(50)
    _change(admin, rate_per_second=20.0, burst=40)
    with NikgateClient(conn) as c:
        c.verify_batch(niks[:40], {"NAMA_LGKP": ["X"] * 40})  # the whole burst
        with pytest.raises(errors.LimitExceeded) as info:
            c.verify_batch(niks[:10], {"NAMA_LGKP": ["X"] * 10})
        assert info.value.grpc_code == "RESOURCE_EXHAUSTED"
        assert 0.2 < info.value.retry_after <= 0.55   # 10 tokens at 20/s
        time.sleep(0.6)   # the refill is the behaviour under test: 10 tokens take 0.5 s
        assert len(c.verify_batch(niks[:10], {"NAMA_LGKP": ["X"] * 10}).message.status) == 10


def test_a_quota_is_exact_across_two_workers_and_survives_a_restart(server_config, certs,
                                                                     index, tmp_path):
    control = tmp_path / "control"
    store = ControlStore(control)
    admin = Admin(store)
    admin.add_institution("bank-a", "Bank A", "bank")
    admin.set_grant(full_grant("bank-a", daily_quota=300))
    store.close()
    cfg = server_config.with_overrides(access={"store": str(control)},
                                       audit={"enabled": False})
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])

    def conn(port):
        return Connection(f"127.0.0.1:{port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                          tmp_path / "c.key")

    nik = index.sample_niks(1)[0]
    counts = {"ok": 0, "exhausted": 0}
    lock = threading.Lock()

    def hammer(port, rounds):
        with NikgateClient(conn(port)) as c:
            for _ in range(rounds):
                try:
                    c.verify(nik, {"NAMA_LGKP": "X"})
                    key = "ok"
                except errors.LimitExceeded as e:
                    assert e.grpc_code == "RESOURCE_EXHAUSTED", str(e)
                    assert "daily quota of 300" in str(e)
                    key = "exhausted"
                with lock:
                    counts[key] += 1

    served = Served(_write_config(tmp_path / "n.toml", cfg, workers=2), tmp_path / "port")
    try:
        threads = [threading.Thread(target=hammer, args=(served.port, 50)) for _ in range(4)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
    finally:
        served.stop()
    assert counts == {"ok": 200, "exhausted": 0}
    (tmp_path / "port").unlink()
    served = Served(_write_config(tmp_path / "n.toml", cfg, workers=2), tmp_path / "port")
    try:  # after a restart: 100 left, whatever worker serves
        threads = [threading.Thread(target=hammer, args=(served.port, 40)) for _ in range(4)]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
    finally:
        served.stop()
    assert counts == {"ok": 300, "exhausted": 60}
    store = ControlStore(control)
    try:
        assert Admin(store).usage("bank-a").total == 300
    finally:
        store.close()


def test_enumeration_gets_throttled(own_stores, certs, tmp_path, index):
    from .conftest import ServerThread

    # stores of its own: a throttle is shared by every worker through the control store
    cfg, _ = own_stores(full_grant("bank-a"))
    own = ServerThread(cfg)
    try:
        (tmp_path / "ca.crt").write_bytes(certs.ca)
        (tmp_path / "c.key").write_bytes(certs.good[0])
        (tmp_path / "c.crt").write_bytes(certs.good[1])
        conn = Connection(f"127.0.0.1:{own.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                          tmp_path / "c.key")
        base = int(index.sample_niks(1, start=3300000000000000)[0][:12] + "9000")
        niks = [str(base + i) for i in range(1000)]  # serials no export uses: all misses
        refused = None
        with NikgateClient(conn) as c:
            for attempt in range(4):
                try:
                    c.verify_batch(niks, {"TGL_LHR": [""] * 1000})
                except errors.LimitExceeded as e:
                    refused = (attempt, e)
                    break
        assert refused is not None, "4,000 misses in a row were never throttled"
        attempt, err = refused
        assert attempt >= 2  # the guard needs 2,000 items of evidence first
        assert err.grpc_code == "RESOURCE_EXHAUSTED"
        assert "look like enumeration" in str(err)
        assert err.retry_after
    finally:
        own.stop()
