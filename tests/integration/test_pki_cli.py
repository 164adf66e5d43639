"""`nikgate pki` through the installed command, with the real openssl for CSRs and checks."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import run_cli

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not "
                                   "installed; it is what institutions make CSRs with")


def _ok(*args: str) -> subprocess.CompletedProcess:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


def _list(pki_dir) -> list[dict]:
    return json.loads(_ok("pki", "list", "--dir", str(pki_dir), "--json").stdout)


def test_init_issue_list_revoke(tmp_path):
    d = str(tmp_path / "pki")
    _ok("pki", "init", "--dir", d)
    again = run_cli("pki", "init", "--dir", d)
    assert again.returncode == 1 and "already holds a CA" in again.stderr

    out = _ok("pki", "issue", "bank-abc", "--dir", d, "--json").stdout
    issued = json.loads(out)
    assert issued["certificate"].endswith("issued/bank-abc.crt")
    assert (tmp_path / "pki" / "issued" / "bank-abc.key").exists()
    _ok("pki", "issue-server", "--dir", d, "--host", "localhost")

    bad = run_cli("pki", "issue", "Bank_ABC", "--dir", d)
    assert bad.returncode == 2 and "lowercase a-z" in bad.stderr

    rows = _list(tmp_path / "pki")
    assert [(r["kind"], r["institution_id"], r["status"]) for r in rows] == [
        ("institution", "bank-abc", "valid"), ("server", None, "valid")]
    assert rows[0]["serial"] == issued["serial"]

    _ok("pki", "revoke", issued["serial"], "--dir", d, "--reason", "key_compromise")
    rows = _list(tmp_path / "pki")
    assert rows[0]["status"] == "revoked" and rows[0]["reason"] == "key_compromise"
    assert rows[1]["status"] == "valid"
    text = _ok("pki", "list", "--dir", d).stdout
    assert "revoked" in text and issued["serial"] in text

    unknown = run_cli("pki", "revoke", "ABCDEF", "--dir", d)
    assert unknown.returncode == 1 and "no certificate with serial" in unknown.stderr


@needs_openssl
def test_openssl_csr_is_signed_and_verifies(tmp_path):
    d = tmp_path / "pki"
    _ok("pki", "init", "--dir", str(d))
    key, csr, cert = tmp_path / "inst.key", tmp_path / "inst.csr", tmp_path / "cert.pem"
    subprocess.run([OPENSSL, "req", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", "/CN=anything"],
                   check=True, capture_output=True, timeout=60)

    out = _ok("pki", "sign-csr", str(csr), "--dir", str(d), "--institution", "bank-abc",
              "--out", str(cert), "--json").stdout
    serial = json.loads(out)["serial"]

    verify = subprocess.run([OPENSSL, "verify", "-CAfile", str(d / "ca" / "ca.crt"),
                             "-purpose", "sslclient", str(cert)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr

    text = subprocess.run([OPENSSL, "x509", "-in", str(cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert "URI:nikgate:institution:bank-abc" in text
    assert "anything" not in text and "CN = bank-abc" in text
    # the key the institution kept is the certificate's key
    mod = [subprocess.run([OPENSSL, kind, "-in", str(path), "-noout", "-modulus"],
                          capture_output=True, text=True, check=True, timeout=60).stdout
           for kind, path in (("x509", cert), ("rsa", key))]
    assert mod[0] == mod[1]

    assert [r["serial"] for r in _list(d)] == [serial]

    # after revocation openssl itself refuses the certificate against the CRL
    _ok("pki", "revoke", serial, "--dir", str(d))
    verify = subprocess.run([OPENSSL, "verify", "-CAfile", str(d / "ca" / "ca.crt"),
                             "-crl_check", "-CRLfile", str(d / "ca" / "crl.pem"), str(cert)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode != 0 and "revoked" in (verify.stdout + verify.stderr)


def test_sign_csr_refuses_garbage(tmp_path):
    d = str(tmp_path / "pki")
    _ok("pki", "init", "--dir", d)
    junk = tmp_path / "junk.csr"
    junk.write_text("not a csr\n")
    result = run_cli("pki", "sign-csr", str(junk), "--dir", d, "--institution", "bank-abc",
                     "--out", str(tmp_path / "x.pem"))
    assert result.returncode == 2 and "not a PEM" in result.stderr
    assert not (tmp_path / "x.pem").exists()
