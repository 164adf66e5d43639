"""The JSON gateway as a person runs it (`nikgate gateway --config FILE`, a process of its
own) in front of the session's real gRPC server, with real certificates from its CA: the
gateway's adapter certificate (kind "gateway") and, for clients, the good, revoked,
other-CA, expired and unregistered institution certificates as PEM files for curl, Node
and Python.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nikgate.server.access.admin import Admin
from nikgate.server.pki import ca as pki

from ..conftest import full_grant

QUOTA_INSTITUTION = "bank-quota"      # a daily quota of 3
NARROW_INSTITUTION = "bank-narrow"    # may look up NAMA_LGKP only
MAX_BODY = 1024 * 1024     # a 10,000-item batch fits; the over-limit case is ~1 MB


@dataclass
class Gateway:
    url: str                 # https://localhost:PORT
    dir: Path                # PEM files: ca.crt, <which>.crt|.key
    process: subprocess.Popen
    config: Path

    def cert(self, which: str = "good") -> tuple[str, str]:
        return str(self.dir / f"{which}.crt"), str(self.dir / f"{which}.key")

    def ssl_context(self, which: str | None = "good") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        if which:
            ctx.load_cert_chain(*self.cert(which))
        return ctx

    def client(self, which: str | None = "good", **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(which), timeout=30,
                            **kw)


def _write(dir: Path, name: str, pair: tuple[bytes, bytes]) -> None:
    (dir / f"{name}.key").write_bytes(pair[0])
    (dir / f"{name}.crt").write_bytes(pair[1])
    os.chmod(dir / f"{name}.key", 0o600)


@pytest.fixture(scope="session")
def gateway(server, certs, server_config, tmp_path_factory) -> Gateway:
    work = tmp_path_factory.mktemp("gateway")
    ca = pki.load_ca(certs.pki_dir)
    adapter = pki.issue_client(ca, "json-test", kind="gateway", write=False)
    quota = pki.issue_client(ca, QUOTA_INSTITUTION, write=False)
    admin = Admin(server.running.store)
    admin.add_institution(QUOTA_INSTITUTION, "Bank Quota", "bank")
    admin.set_grant(full_grant(QUOTA_INSTITUTION, daily_quota=3))
    admin.add_institution(NARROW_INSTITUTION, "Bank Narrow", "bank")
    admin.set_grant(full_grant(NARROW_INSTITUTION, fields={
        "verify": ("NAMA_LGKP", "TGL_LHR"), "verify_batch": ("NAMA_LGKP", "TGL_LHR"),
        "lookup": ("NAMA_LGKP",)}))
    narrow = pki.issue_client(ca, NARROW_INSTITUTION, write=False)
    _write(work, "narrow", (narrow.key_pem, narrow.cert_pem))
    (work / "ca.crt").write_bytes(certs.ca)
    _write(work, "adapter", (adapter.key_pem, adapter.cert_pem))
    _write(work, "quota", (quota.key_pem, quota.cert_pem))
    for which in ("good", "operator", "other_ca", "expired", "revoked", "unknown"):
        _write(work, which, getattr(certs, which))
    tls = server_config.tls
    config = work / "gateway.toml"
    config.write_text(f"""
[server]
address = "127.0.0.1:{server.port}"

[tls]
ca = "ca.crt"
cert = "{tls.cert}"
key = "{tls.key}"
crl = "{tls.crl}"

[gateway]
address = "127.0.0.1:0"
adapter_cert = "adapter.crt"
adapter_key = "adapter.key"
max_body_bytes = {MAX_BODY}
port_file = "{work / "port"}"
channels = 2

[logging]
level = "INFO"
""")
    exe = Path(sys.executable).with_name("nikgate")
    log = (work / "gateway.log").open("w")
    process = subprocess.Popen([str(exe), "gateway", "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    port_file = work / "port"
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("gateway did not start:\n" + (work / "gateway.log").read_text())
        time.sleep(0.05)
    gw = Gateway(f"https://localhost:{port_file.read_text().strip()}", work, process, config)
    yield gw
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def accessed(gateway, with_duty, index):
    """bank-a has a data-balikan duty and has verified (through the gateway) the NIKs
    returned, long enough ago for the access ledger to hold them."""
    niks = index.sample_niks(20, start=int(index.sample_niks(1)[0]) + 1000)
    with gateway.client() as c:
        r = c.post("/v1/verify:batch", json={
            "niks": niks, "fields": ["NAMA_LGKP"], "columns": [{"values": [""] * len(niks)}]})
        assert r.status_code == 200, r.text
    time.sleep(1.3)   # the ledger flushes every 0.1 s; a second-old access is owed
    return niks


@dataclass
class Person:
    nik: str
    name: str
    birth_date: str
    absent: str      # a valid NIK the index does not hold


@pytest.fixture(scope="session")
def person(index) -> Person:
    nik = index.sample_niks(1)[0]
    p = index.lookup(nik, ["NAMA_LGKP", "TGL_LHR"])
    base = int(nik) - int(nik) % 10_000
    absent = next(f"{n:016d}" for n in range(base + 9999, base, -1)
                  if index.raw(n) is None)
    return Person(nik, p["NAMA_LGKP"], p["TGL_LHR"], absent)
