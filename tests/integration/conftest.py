"""A real nikgate server on 127.0.0.1 with real certificates, for the integration tests.

The server runs in its own thread with its own uvloop event loop; clients use ordinary
gRPC channels with certificates from a session-scoped CA: a good institution, an operator,
one from another CA, an expired one, a revoked one, one for an unregistered institution.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import uvloop

from nikgate.clients import Connection
from nikgate.server.access.admin import Admin
from nikgate.server.access.grants import FIELD_UNIVERSE, Grant
from nikgate.server.access.store import ControlStore
from nikgate.server.app import build_server
from nikgate.server.config import Config
from nikgate.server.pki import ca as pki
from nikgate.server.receipts import ensure_signing_key, public_key_path


@dataclass
class Certs:
    ca: bytes
    good: tuple[bytes, bytes]           # (key, cert)
    operator: tuple[bytes, bytes]
    other_ca: tuple[bytes, bytes]
    expired: tuple[bytes, bytes]
    revoked: tuple[bytes, bytes]
    unknown: tuple[bytes, bytes]
    pki_dir: Path


def _pair(issued: pki.Issued) -> tuple[bytes, bytes]:
    return issued.key_pem, issued.cert_pem


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certs:
    root = tmp_path_factory.mktemp("pki")
    ca = pki.init_ca(root / "main")
    pki.issue_server(ca)
    other = pki.init_ca(root / "other")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    revoked = pki.issue_client(ca, "bank-revoked")
    pki.revoke(ca, revoked.serial, "key_compromise")
    return Certs(
        ca=ca.cert_pem,
        good=_pair(pki.issue_client(ca, "bank-a")),
        operator=_pair(pki.issue_client(ca, "ops", kind="operator")),
        other_ca=_pair(pki.issue_client(other, "bank-a")),
        expired=_pair(pki.issue_client(ca, "bank-a", not_before=past,
                                       not_after=past + dt.timedelta(days=1), write=False)),
        revoked=_pair(revoked),
        unknown=_pair(pki.issue_client(ca, "bank-unknown")),
        pki_dir=root / "main",
    )


@pytest.fixture(scope="session")
def server_config(certs, index_dir, tmp_path_factory) -> Config:
    work = tmp_path_factory.mktemp("server")
    store = ControlStore(work / "control")
    admin = Admin(store)
    for ident in ("bank-a", "bank-revoked"):
        admin.add_institution(ident, ident.title(), "bank")
        admin.set_grant(full_grant(ident))
    store.close()
    key = ensure_signing_key(work / "receipt.key")
    layout = pki.Layout(certs.pki_dir)
    return Config().with_overrides(
        server={"address": "127.0.0.1:0", "max_in_flight": 64},
        index={"path": str(index_dir)},
        tls={"ca": str(layout.ca_cert), "cert": str(layout.server_cert),
             "key": str(layout.server_key), "crl": str(layout.crl)},
        receipts={"signing_key": str(key)},
        # Every call looks at the control store's version (one LMDB read) instead of at
        # most every 0.2 s, so a grant a test sets applies to its very next call and no
        # test sleeps out the interval; tests of the interval itself set it back.
        access={"store": str(work / "control"), "refresh_seconds": 0.0},
        audit={"directory": str(work / "audit"), "key": str(work / "audit.key"),
               "enabled": AUDIT_READY},
        metrics={"address": ""},
        return_data={"store": str(work / "returns"), "ledger_flush_seconds": 0.1,
                     "check_seconds": 0.5, "max_overdue": 1000, "grace_days": 0.0},
    )


AUDIT_READY = True


def full_grant(institution: str, **changes) -> Grant:
    """A grant of every operation and field for a year, with no quota or rate."""
    import datetime as dt

    today = dt.date.today()
    ops = ("verify", "verify_batch", "lookup")
    base = dict(institution=institution, operations=ops,
                fields={op: tuple(sorted(FIELD_UNIVERSE[op])) for op in ops},
                purpose="tests", valid_from=(today - dt.timedelta(days=1)).isoformat(),
                valid_until=(today + dt.timedelta(days=365)).isoformat())
    return Grant(**{**base, **changes})


def duty_grant(institution: str = "bank-a", **changes) -> Grant:
    """full_grant plus a data-balikan duty: return_data, two kinds, due in 30 days."""
    base = full_grant(institution)
    return full_grant(institution, **{
        "operations": (*base.operations, "return_data"), "fields": base.fields,
        "return_data_kinds": ("bank_cif", "account_number"), "return_deadline_days": 30,
        **changes})


@pytest.fixture
def with_duty(server):
    """bank-a's grant on the session server carries a data-balikan duty for the test;
    the plain full grant is restored afterwards. Yields an Admin on that store. No wait:
    the session server reads grants on every call (refresh_seconds 0)."""
    admin = Admin(server.running.store)
    admin.set_grant(duty_grant())
    yield admin
    admin.set_grant(full_grant("bank-a"))


@pytest.fixture
def own_stores(server_config, certs, tmp_path):
    """A config with stores of its own under tmp_path (control store holding bank-a with
    `grant`, audit log, return data), and bank-a's Connection for a port:

        cfg, conn = own_stores(duty_grant(), return_data={"max_overdue": 3})
    """
    from nikgate.clients import Connection

    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])

    def conn(port: int) -> Connection:
        return Connection(f"127.0.0.1:{port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                          tmp_path / "c.key")

    def make(grant: Grant, **overrides):
        store = ControlStore(tmp_path / "control")
        try:
            Admin(store).add_institution(grant.institution, grant.institution.title(), "bank")
            Admin(store).set_grant(grant)
        finally:
            store.close()
        sections = {
            "access": {"store": str(tmp_path / "control")},
            "audit": {"directory": str(tmp_path / "audit"), "key": str(tmp_path / "audit.key")},
            "return_data": {"store": str(tmp_path / "returns")}}
        for name, values in overrides.items():
            sections[name] = {**sections.get(name, {}), **values}
        return server_config.with_overrides(**sections), conn
    return make


class ServerThread:
    """A started server on its own event loop thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = uvloop.new_event_loop()
        self.ready = threading.Event()
        self.running = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("server did not start")
        if self.error:
            raise self.error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.running = self.loop.run_until_complete(build_server(self.config, port=0))
        except BaseException as e:  # surfaced to the test
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    @property
    def port(self) -> int:
        return self.running.port

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.running.stop(1.0), self.loop)
        fut.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="session")
def server(server_config) -> ServerThread:
    s = ServerThread(server_config)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_scraping_evidence_between_tests(request):
    """The session server's scraping guard keeps its evidence per institution in the
    control store; one test's deliberate misses must not throttle the calls of the tests
    after it. Each test that used the session server leaves every institution's evidence
    reset (an operator's `reset` after review)."""
    yield
    if "server" not in request.fixturenames:
        return
    running = request.getfixturevalue("server").running
    if running is not None and running.scraping is not None:
        for institution in running.store.snapshot()[1]:
            running.scraping.reset(institution)


@pytest.fixture(scope="session")
def connection(server, certs, tmp_path_factory) -> Connection:
    """bank-a's connection to the session server, as files an integrator would hold."""
    d = tmp_path_factory.mktemp("client")
    (d / "ca.crt").write_bytes(certs.ca)
    (d / "bank.key").write_bytes(certs.good[0])
    (d / "bank.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{server.port}", d / "ca.crt", d / "bank.crt", d / "bank.key")


@pytest.fixture(scope="session")
def receipt_public_key(server_config) -> Path:
    return public_key_path(server_config.receipts.signing_key)


def channel(port: int, certs: Certs, which: str = "good", options=()) -> grpc.Channel:
    """A secure channel to the test server presenting the named client certificate."""
    pair = getattr(certs, which) if which else None
    creds = grpc.ssl_channel_credentials(
        root_certificates=certs.ca,
        private_key=pair[0] if pair else None,
        certificate_chain=pair[1] if pair else None)
    return grpc.secure_channel(f"localhost:{port}", creds, options=list(options))
