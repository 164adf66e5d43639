"""A loopback cluster for the tests: nodes of `nikgate serve` behind HAProxy.

The nodes share the session's PKI, one receipt key and one audit key; each pulls the
session index and starts from a copy of a seed control store granting bank-a everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nikgate.clients import Connection
from nikgate.cluster.local import LocalCluster, Shared, haproxy_binary
from nikgate.server.access.admin import Admin
from nikgate.server.access.store import ControlStore
from nikgate.server.pki import ca as pki
from nikgate.server.receipts import ensure_signing_key

from ..conftest import full_grant

needs_haproxy = pytest.mark.skipif(haproxy_binary() is None,
                                   reason="haproxy is not installed (make cluster-demo "
                                          "installs it)")


@pytest.fixture(scope="session")
def cluster_shared(certs, tmp_path_factory) -> Shared:
    work = tmp_path_factory.mktemp("cluster-shared")
    layout = pki.Layout(certs.pki_dir)
    return Shared(ca=layout.ca_cert, server_cert=layout.server_cert,
                  server_key=layout.server_key, crl=layout.crl,
                  receipt_key=ensure_signing_key(work / "receipt.key"),
                  audit_key=work / "audit-nik.key")


@pytest.fixture(scope="session")
def seed_control(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cluster-seed") / "control"
    store = ControlStore(path)
    admin = Admin(store)
    admin.add_institution("bank-a", "Bank A", "bank")
    admin.set_grant(full_grant("bank-a"))
    store.close()
    return path


@pytest.fixture(scope="session")
def bank_files(certs, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster-client")
    (d / "ca.crt").write_bytes(certs.ca)
    (d / "c.key").write_bytes(certs.good[0])
    (d / "c.crt").write_bytes(certs.good[1])
    return d


def connection(files: Path, address: str, addresses: tuple[str, ...] = ()) -> Connection:
    return Connection(address, files / "ca.crt", files / "c.crt", files / "c.key",
                      addresses=addresses)


# Loopback nodes on a 2-core machine: one worker each; no scraping guard (the test index
# is small, and load sweeps it); new generations noticed within 0.2 s.
SETTINGS = {"access": {"scraping_guard": False},
            "index": {"reload_check_seconds": 0.2}}


def make_cluster(root: Path, shared: Shared, index_dir: Path, seed: Path, nodes: int = 3,
                 **kw) -> LocalCluster:
    return LocalCluster(root, shared, index_dir, seed, nodes=nodes, workers=1,
                        settings={**SETTINGS, **kw.pop("settings", {})}, **kw)


class Load:
    """`threads` clients calling Verify in a loop, each on its own channel (so HAProxy
    spreads their connections), until finish(); failures are kept with their class."""

    def __init__(self, conn: Connection, nik: str, threads: int = 6,
                 deadline: float = 5.0) -> None:
        import threading

        from nikgate.clients import NikgateClient

        self.calls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

        def loop() -> None:
            with NikgateClient(conn, deadline=deadline) as client:
                while not self._stop.is_set():
                    try:
                        client.verify(nik, {"NAMA_LGKP": "x"})
                    except Exception as e:   # counted, not raised: the test judges them
                        with self._lock:
                            self.failures.append(f"{type(e).__name__}: {e}")
                    else:
                        with self._lock:
                            self.calls += 1

        self._threads = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def wait_calls(self, more: int, timeout: float = 30.0) -> None:
        import time

        target = self.calls + more
        deadline = time.monotonic() + timeout
        while self.calls < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.calls} calls, waited for {target}; failures: "
                                   f"{self.failures[:3]}")
            time.sleep(0.02)

    def finish(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)
