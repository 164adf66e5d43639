"""A server's error comes back to a client user as the same nikgate class, with its details.

Server error -> rich status (server/status.py) -> client class (clients/errors.py): the
class, retry_after, field, reason, fields, subject and the transaction id survive the trip;
a status from the transport (no server, the client's own deadline) becomes its family. The
CLI reports each in one line, with a stable exit status, and never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import socket

import grpc
import pytest

from nikgate import errors
from nikgate.clients import AsyncNikgateClient, Connection, NikgateClient, obligations
from nikgate.server.access.admin import Admin

from ..conftest import run_cli
from .conftest import full_grant


def _connection(certs, tmp_path, port: int, which: str = "good") -> Connection:
    key, cert = getattr(certs, which)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / f"{which}.key").write_bytes(key)
    (tmp_path / f"{which}.crt").write_bytes(cert)
    return Connection(f"127.0.0.1:{port}", tmp_path / "ca.crt", tmp_path / f"{which}.crt",
                      tmp_path / f"{which}.key")


@pytest.fixture
def conn(server, certs, tmp_path) -> Connection:
    return _connection(certs, tmp_path, server.port)


@pytest.fixture
def admin(server):
    """Grant changes on the session server (it reads grants on every call); restored."""
    a = Admin(server.running.store)
    yield a
    a.set_grant(full_grant("bank-a"))


@pytest.fixture
def connection_file(server, certs, tmp_path):
    _connection(certs, tmp_path, server.port)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({
        "address": f"127.0.0.1:{server.port}", "ca": "ca.crt",
        "institutions": {"bank-a": {"cert": "good.crt", "key": "good.key"}}}))
    return path


def _not_grpc(error: BaseException) -> None:
    assert not isinstance(error, grpc.RpcError), type(error).__mro__
    assert isinstance(error, errors.NikgateError)


def test_an_invalid_nik_keeps_its_field_reason_and_transaction(conn):
    with NikgateClient(conn) as c, pytest.raises(errors.InvalidNikError) as info:
        c.verify("12345", {"NAMA_LGKP": "X"})
    e = info.value
    _not_grpc(e)
    assert e.field == "nik" and e.reason            # the engine's reason code
    assert "16 digits" in str(e)
    assert e.grpc_code == "INVALID_ARGUMENT" and e.transaction_id


def test_a_field_not_granted_is_permission_denied_naming_it(conn, admin, index):
    nik = index.sample_niks(1)[0]
    admin.set_grant(full_grant("bank-a", fields={
        "verify": ("NAMA_LGKP",), "verify_batch": ("NAMA_LGKP",), "lookup": ("NAMA_LGKP",)}))
    with NikgateClient(conn) as c, pytest.raises(errors.PermissionDenied) as info:
        c.lookup(nik, ["NAMA_LGKP", "TGL_LHR"])
    _not_grpc(info.value)
    assert info.value.fields == ("TGL_LHR",)
    assert info.value.grpc_code == "PERMISSION_DENIED" and info.value.transaction_id


def test_a_rate_limit_is_limit_exceeded_with_retry_after_and_subject(conn, admin, index):
    niks = index.sample_niks(3)
    admin.set_grant(full_grant("bank-a", rate_per_second=0.01, burst=2))
    with NikgateClient(conn) as c, pytest.raises(errors.QuotaExceeded) as info:
        for nik in niks:   # the burst (whatever earlier tests left of it), then refused
            c.verify(nik, {"NAMA_LGKP": "X"})
    e = info.value
    _not_grpc(e)
    assert type(e) is errors.LimitExceeded and isinstance(e, errors.ResourceExhausted)
    assert e.subject == "bank-a:rate" and e.kind == "rate"
    assert 50 < e.retry_after <= 100          # one token at 0.01/s
    assert e.grpc_code == "RESOURCE_EXHAUSTED"


def test_a_revoked_certificate_is_unauthenticated(server, certs, tmp_path, index):
    conn = _connection(certs, tmp_path, server.port, "revoked")
    with NikgateClient(conn) as c, pytest.raises(errors.Unauthenticated) as info:
        c.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "X"})
    _not_grpc(info.value)
    assert "revoked" in str(info.value)


def test_obligations_of_another_institution_raise_permission_denied(conn):
    with pytest.raises(errors.PermissionDenied, match="operator certificate"):
        obligations(conn, "bank-revoked")


def test_the_async_client_raises_the_same_classes(conn):
    async def main():
        async with AsyncNikgateClient(conn) as c:
            with pytest.raises(errors.InvalidNikError) as info:
                await c.verify("12345", {"NAMA_LGKP": "X"})
            assert info.value.field == "nik" and info.value.transaction_id
            _not_grpc(info.value)
            with pytest.raises(errors.InvalidInputError) as empty:
                await c.verify_batch([], {"NAMA_LGKP": []})
            assert "empty batch" in str(empty.value)

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_is_service_unavailable_with_the_grpc_code(certs, tmp_path):
    conn = _connection(certs, tmp_path, _free_port())
    with NikgateClient(conn, deadline=5) as c, pytest.raises(errors.ServiceUnavailable) as info:
        c.verify("3201014507900001", {"NAMA_LGKP": "X"})
    e = info.value
    _not_grpc(e)
    assert type(e) is errors.ServiceUnavailable and e.grpc_code == "UNAVAILABLE"
    assert conn.address in str(e) and "retry" in str(e)
    with NikgateClient(conn) as c, pytest.raises(errors.ServiceUnavailable):
        c.wait_ready(timeout=0.2)


def test_a_silent_server_is_deadline_exceeded(certs, tmp_path):
    with socket.socket() as silent:   # accepts the connection, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        conn = _connection(certs, tmp_path, silent.getsockname()[1])
        with NikgateClient(conn) as c, pytest.raises(errors.DeadlineExceeded) as info:
            c.verify("3201014507900001", {"NAMA_LGKP": "X"}, timeout=0.5)
    _not_grpc(info.value)
    assert info.value.grpc_code == "DEADLINE_EXCEEDED" and "longer timeout" in str(info.value)


def test_the_cli_reports_a_permission_error_in_one_line(connection_file, admin, index):
    admin.set_grant(full_grant("bank-a", fields={
        "verify": ("NAMA_LGKP",), "verify_batch": ("NAMA_LGKP",), "lookup": ("NAMA_LGKP",)}))
    r = run_cli("lookup", "--connection", str(connection_file), "--as", "bank-a",
                "--nik", index.sample_niks(1)[0], "--fields", "NAMA_LGKP,TGL_LHR")
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()   # one line, with what to quote to operators
    assert line.startswith("nikgate: error: field(s) TGL_LHR not granted")
    assert "status PERMISSION_DENIED, transaction " in line


def test_the_cli_reports_a_rate_limit_with_its_retry_delay(connection_file, admin, index):
    admin.set_grant(full_grant("bank-a", rate_per_second=0.01, burst=1))
    args = ("lookup", "--connection", str(connection_file), "--as", "bank-a",
            "--nik", index.sample_niks(1)[0], "--fields", "NAMA_LGKP")
    run_cli(*args)   # the burst, if earlier tests left it
    r = run_cli(*args)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("nikgate: error: ") and "rate" in line
    assert "(retry after " in line and "; status RESOURCE_EXHAUSTED" in line, line


def test_the_cli_reports_an_unreachable_server_and_a_bad_connection_file(certs, tmp_path):
    _connection(certs, tmp_path, 1)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({
        "address": f"127.0.0.1:{_free_port()}", "ca": "ca.crt",
        "institutions": {"bank-a": {"cert": "good.crt", "key": "good.key"}}}))
    r = run_cli("lookup", "--connection", str(path), "--as", "bank-a",
                "--nik", "3201014507900001", "--fields", "NAMA_LGKP")
    assert r.returncode == 6 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("nikgate: error: cannot reach nikgate at 127.0.0.1:")
    wrong = run_cli("lookup", "--connection", str(path), "--as", "bank-z",
                    "--nik", "3201014507900001", "--fields", "NAMA_LGKP")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "no certificate for 'bank-z'" in wrong.stderr
