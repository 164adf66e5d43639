"""Renewal with an overlap, through the installed command against the real server: the new
certificate has a new key, both work during the overlap, and once `nikgate pki crl` runs
past its end the old one is revoked and refused while the new one keeps working."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nikgate import errors
from nikgate.clients import Connection, NikgateClient
from nikgate.server.pki import ca as pki
from tests.conftest import run_cli

from .waiting import eventually


def _ok(*args: str) -> subprocess.CompletedProcess:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


def _spki(cert_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(cert_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _verify(port: int, conn_dir, name: str, nik: str) -> int:
    conn = Connection(f"127.0.0.1:{port}", conn_dir / "ca.crt", conn_dir / f"{name}.crt",
                      conn_dir / f"{name}.key")
    with NikgateClient(conn) as c:
        return c.verify(nik, {"NAMA_LGKP": "X"}).message.status


def test_renew_overlap_then_the_crl_revokes_the_old_one(server, certs, index, tmp_path):
    ca = pki.load_ca(certs.pki_dir)
    old = pki.issue_client(ca, "bank-a", write=False)
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "old.crt").write_bytes(old.cert_pem)
    (tmp_path / "old.key").write_bytes(old.key_pem)
    nik = index.sample_niks(1)[0]
    assert _verify(server.port, tmp_path, "old", nik) == 1

    out = tmp_path / "renewed"
    info = json.loads(_ok("pki", "renew", "bank-a", "--dir", str(certs.pki_dir),
                          "--serial", old.serial_hex, "--overlap-days", "14",
                          "--out", str(out), "--json").stdout)
    assert info["replaces"] == old.serial_hex and info["serial"] != old.serial_hex
    new_pem = (out / "bank-a.crt").read_bytes()
    (tmp_path / "new.crt").write_bytes(new_pem)
    (tmp_path / "new.key").write_bytes((out / "bank-a.key").read_bytes())
    new = x509.load_pem_x509_certificate(new_pem)
    assert _spki(new_pem) != _spki(old.cert_pem)               # a new key
    assert new.subject == old.cert.subject                     # the same identity
    san = x509.SubjectAlternativeName
    assert new.extensions.get_extension_for_class(san).value == \
        old.cert.extensions.get_extension_for_class(san).value
    due = dt.datetime.fromisoformat(info["old_revoked_at"])
    assert abs((due - dt.datetime.now(dt.UTC)).total_seconds() - 14 * 86400) < 300

    listed = {r["serial"]: r for r in json.loads(
        _ok("pki", "list", "--dir", str(certs.pki_dir), "--json").stdout)}
    assert listed[old.serial_hex]["status"] == "valid"
    assert listed[old.serial_hex]["status_detail"] == (
        f"valid until revoked at {info['old_revoked_at']} (renewed by serial {info['serial']})")
    table = _ok("pki", "list", "--dir", str(certs.pki_dir)).stdout
    assert f"renewed by serial {info['serial']}" in table

    # the overlap: both work
    assert _verify(server.port, tmp_path, "old", nik) == 1
    assert _verify(server.port, tmp_path, "new", nik) == 1

    # cron's `pki crl` before the end of the overlap revokes nothing
    first = _ok("pki", "crl", "--dir", str(certs.pki_dir)).stdout
    assert "revoked" not in first
    # ... and once the overlap has ended (looked at 15 days ahead) it revokes the old one
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = _ok("pki", "crl", "--dir", str(certs.pki_dir), "--at", later).stdout
    assert f"revoked {old.serial_hex}" in done
    listed = {r["serial"]: r for r in json.loads(
        _ok("pki", "list", "--dir", str(certs.pki_dir), "--json").stdout)}
    assert (listed[old.serial_hex]["status"], listed[old.serial_hex]["reason"]) == (
        "revoked", "superseded")
    assert listed[info["serial"]]["status"] == "valid"

    def old_refused() -> bool:
        try:
            _verify(server.port, tmp_path, "old", nik)
        except errors.Unauthenticated as e:
            assert "revoked" in str(e)
            return True
        return False

    eventually(old_refused, timeout=5, what="the server refusing the old certificate "
                                            "after reloading the CRL")
    assert _verify(server.port, tmp_path, "new", nik) == 1
    # renewing the renewed-and-revoked one is refused, one line and no traceback
    again = run_cli("pki", "renew", "bank-a", "--dir", str(certs.pki_dir),
                    "--serial", old.serial_hex)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "revoked" in again.stderr


def _csr(key) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def test_sign_csr_replaces_schedules_the_old_ones_revocation(tmp_path):
    d = tmp_path / "pki"
    ca = pki.init_ca(d)
    key = ec.generate_private_key(ec.SECP256R1())
    first = pki.sign_csr(ca, _csr(key), "bank-b")
    (tmp_path / "same.csr").write_bytes(_csr(key))
    same = run_cli("pki", "sign-csr", str(tmp_path / "same.csr"), "--dir", str(d),
                   "--institution", "bank-b", "--replaces", first.serial_hex,
                   "--out", str(tmp_path / "x.crt"))
    assert same.returncode == 2 and "new key" in same.stderr, same.stderr
    other = run_cli("pki", "sign-csr", str(tmp_path / "same.csr"), "--dir", str(d),
                    "--institution", "bank-c", "--replaces", first.serial_hex,
                    "--out", str(tmp_path / "x.crt"))
    assert other.returncode == 1 and "keeps the identity" in other.stderr, other.stderr

    (tmp_path / "new.csr").write_bytes(_csr(ec.generate_private_key(ec.SECP256R1())))
    info = json.loads(_ok("pki", "sign-csr", str(tmp_path / "new.csr"), "--dir", str(d),
                          "--institution", "bank-b", "--replaces", first.serial_hex,
                          "--overlap-days", "0", "--out", str(tmp_path / "new.crt"),
                          "--json").stdout)
    assert info["replaces"] == first.serial_hex
    out = _ok("pki", "crl", "--dir", str(d)).stdout   # overlap 0: due at once
    assert f"revoked {first.serial_hex}" in out
    revoked = {r.serial_number for r in x509.load_pem_x509_crl(
        (d / "ca" / "crl.pem").read_bytes())}
    assert revoked == {first.serial}


@pytest.mark.parametrize("args, text", [
    (("--overlap-days", "-1"), "0 days or more"),
    (("--kind", "operator"), "no operator certificate for bank-a"),
])
def test_renew_refusals(tmp_path, args, text):
    d = str(tmp_path / "pki")
    _ok("pki", "init", "--dir", d)
    _ok("pki", "issue", "bank-a", "--dir", d)
    result = run_cli("pki", "renew", "bank-a", "--dir", d, *args)
    assert result.returncode in (1, 2) and text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
