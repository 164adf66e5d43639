"""The nikgate CA library: issuing, identities, CSRs, revocation and the CRL checker."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
import re
import stat

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nikgate.errors import InvalidInputError, PkiError
from nikgate.server.pki import ca as pki
from nikgate.server.pki import runtime


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> pki.CA:
    return pki.init_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> pki.CA:
    return pki.init_ca(tmp_path_factory.mktemp("wrong-ca"), name="not nikgate")


@pytest.fixture
def fresh_ca(tmp_path) -> pki.CA:
    """A CA a test may revoke in without affecting the others."""
    return pki.init_ca(tmp_path / "pki")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls).value


def _bump_mtime(path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _csr(key, cn: str = "anything", sans: list[x509.GeneralName] | None = None) -> bytes:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algo = hashes.SHA256()
    return b.sign(key, algo).public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------- the CA


def test_init_writes_layout_and_load_round_trips(ca):
    layout = ca.layout
    for p in (layout.ca_key, layout.ca_cert, layout.crl, layout.index):
        assert p.exists(), p
    assert stat.S_IMODE(os.stat(layout.ca_key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(layout.index).st_mode) == 0o600
    loaded = pki.load_ca(layout.root)
    assert loaded.cert == ca.cert
    bc = _ext(ca.cert, x509.BasicConstraints)
    assert bc.ca and bc.path_length == 0
    ku = _ext(ca.cert, x509.KeyUsage)
    assert ku.key_cert_sign and ku.crl_sign
    assert isinstance(ca.key.curve, ec.SECP384R1)
    life = ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc
    assert life >= dt.timedelta(days=3650)
    ca.cert.verify_directly_issued_by(ca.cert)


def test_init_refuses_to_overwrite(ca):
    with pytest.raises(PkiError, match="already holds a CA"):
        pki.init_ca(ca.dir)


def test_init_force_moves_old_ca_aside(tmp_path):
    first = pki.init_ca(tmp_path)
    second = pki.init_ca(tmp_path, force=True)
    assert first.cert != second.cert
    aside = list(tmp_path.glob("ca.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "ca.key").exists()
    assert pki.list_certs(tmp_path) == []


def test_load_ca_missing_says_what_to_do(tmp_path):
    with pytest.raises(PkiError, match="pki init"):
        pki.load_ca(tmp_path)


# --------------------------------------------------------------------------- issuing


def test_server_cert_verifies_and_names_the_hosts(ca):
    issued = pki.issue_server(ca, hostnames=["localhost", "nikgate.local"],
                              ips=["127.0.0.1", "::1"])
    cert = issued.cert
    cert.verify_directly_issued_by(ca.cert)
    assert _ext(cert, x509.ExtendedKeyUsage) == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    san = _ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "nikgate.local"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                       ipaddress.ip_address("::1")]
    assert not _ext(cert, x509.BasicConstraints).ca
    assert isinstance(issued.key, ec.EllipticCurvePrivateKey)
    assert isinstance(issued.key.curve, ec.SECP256R1)
    assert issued.cert_path == ca.layout.server_cert
    assert stat.S_IMODE(os.stat(issued.key_path).st_mode) == 0o600
    key_pem, cert_pem = runtime.load_keypair(issued.cert_path, issued.key_path)
    assert cert_pem == issued.cert_pem
    with pytest.raises(PkiError, match="exactly one"):
        runtime.identity_of(cert)  # a server certificate names no institution


def test_institution_cert_names_the_institution(ca):
    issued = pki.issue_client(ca, "bank-abc")
    cert = issued.cert
    cert.verify_directly_issued_by(ca.cert)
    assert _ext(cert, x509.ExtendedKeyUsage) == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    uris = _ext(cert, x509.SubjectAlternativeName).get_values_for_type(
        x509.UniformResourceIdentifier)
    assert uris == ["nikgate:institution:bank-abc"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bank-abc"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "nikgate institution"
    ident = runtime.identity_of(cert)
    assert ident == runtime.PeerIdentity("institution", "bank-abc", cert.serial_number)
    assert runtime.peer_identity(issued.cert_pem) == ident
    assert issued.cert_path == ca.layout.issued_dir / "bank-abc.crt"
    assert issued.key_path.read_bytes() == issued.key_pem


def test_operator_cert(ca):
    issued = pki.issue_client(ca, "ops-01", kind="operator")
    assert runtime.identity_of(issued.cert).kind == "operator"
    assert issued.cert_path.name == "ops-01.operator.crt"


@pytest.mark.parametrize("kind", ["portal", "gateway"])
def test_adapter_certs_name_their_kind(ca, kind):
    issued = pki.issue_client(ca, f"{kind}-01", kind=kind)
    uris = _ext(issued.cert, x509.SubjectAlternativeName).get_values_for_type(
        x509.UniformResourceIdentifier)
    assert uris == [f"nikgate:{kind}:{kind}-01"]
    assert runtime.identity_of(issued.cert) == runtime.PeerIdentity(
        kind, f"{kind}-01", issued.serial)
    assert issued.cert_path.name == f"{kind}-01.{kind}.crt"
    assert [r.kind for r in pki.list_certs(ca) if r.serial == issued.serial_hex] == [kind]


def test_wrong_ca_does_not_verify(ca, other_ca):
    stranger = pki.issue_client(other_ca, "bank-abc")
    with pytest.raises(ValueError, match="does not match"):
        stranger.cert.verify_directly_issued_by(ca.cert)


def test_same_name_wrong_ca_fails_on_the_signature(ca, tmp_path):
    impostor = pki.init_ca(tmp_path, name=ca.cert.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value)
    assert impostor.cert.subject == ca.cert.subject
    stranger = pki.issue_client(impostor, "bank-abc")
    with pytest.raises(InvalidSignature):
        stranger.cert.verify_directly_issued_by(ca.cert)


def test_expired_cert_for_tests(ca):
    now = dt.datetime.now(dt.UTC)
    issued = pki.issue_client(ca, "bank-old", not_before=now - dt.timedelta(days=30),
                              not_after=now - dt.timedelta(days=1))
    assert issued.cert.not_valid_after_utc < now
    rec = [r for r in pki.list_certs(ca) if r.serial == issued.serial_hex][0]
    assert rec.status() == "expired"


@pytest.mark.parametrize("bad", ["", "a", "Bank", "-bank", "bank_abc", "bank.abc",
                                 "bank abc", "x" * 64, "bänk"])
def test_bad_institution_ids_are_refused(ca, bad):
    with pytest.raises(InvalidInputError, match="lowercase a-z, 0-9 and '-'") as e:
        pki.issue_client(ca, bad)
    assert repr(bad) in str(e.value)


def test_unknown_kind_is_refused(ca):
    with pytest.raises(InvalidInputError, match="kind must be one of"):
        pki.issue_client(ca, "bank-abc", kind="admin")


def test_identity_of_needs_the_san(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank-abc")])
    bare = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(ca.key, hashes.SHA256()))
    with pytest.raises(PkiError, match=re.escape("nikgate:<institution|operator|portal|gateway>:<id>")):
        runtime.identity_of(bare)


# --------------------------------------------------------------------------- CSRs


def test_sign_csr_ignores_the_csrs_subject_and_san(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = _csr(key, cn="bank-evil", sans=[
        x509.UniformResourceIdentifier("nikgate:operator:root"), x509.DNSName("evil.example")])
    issued = pki.sign_csr(ca, csr, "bank-abc")
    cert = issued.cert
    cert.verify_directly_issued_by(ca.cert)
    san = _ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == \
        ["nikgate:institution:bank-abc"]
    assert san.get_values_for_type(x509.DNSName) == []
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "bank-abc"
    assert runtime.identity_of(cert).institution_id == "bank-abc"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert issued.key is None
    assert any(r.serial == issued.serial_hex for r in pki.list_certs(ca))


def test_sign_csr_rsa(ca):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issued = pki.sign_csr(ca, _csr(key), "bank-rsa")
    issued.cert.verify_directly_issued_by(ca.cert)
    assert _ext(issued.cert, x509.KeyUsage).key_encipherment


def test_sign_csr_refuses_weak_or_tampered(ca):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidInputError, match="at least 2048"):
        pki.sign_csr(ca, _csr(weak), "bank-abc")
    with pytest.raises(InvalidInputError, match="P-256 or P-384"):
        pki.sign_csr(ca, _csr(ec.generate_private_key(ec.SECP256K1())), "bank-abc")
    with pytest.raises(InvalidInputError, match="not a PEM"):
        pki.sign_csr(ca, b"hello", "bank-abc")
    # swap the public key of one CSR into another: the signature no longer verifies
    a = x509.load_pem_x509_csr(_csr(ec.generate_private_key(ec.SECP256R1())))
    b = x509.load_pem_x509_csr(_csr(ec.generate_private_key(ec.SECP256R1())))
    a_der, b_der = a.public_bytes(serialization.Encoding.DER), \
        b.public_bytes(serialization.Encoding.DER)
    a_pub = a.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    b_pub = b.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    forged_der = a_der.replace(a_pub, b_pub)
    assert forged_der != a_der and b_der
    forged = x509.load_der_x509_csr(forged_der).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidInputError, match="signature does not verify"):
        pki.sign_csr(ca, forged, "bank-abc")


# --------------------------------------------------------------------------- revocation


def test_revoke_updates_index_and_crl(fresh_ca):
    issued = pki.issue_client(fresh_ca, "bank-abc")
    keep = pki.issue_client(fresh_ca, "bank-def")
    before = x509.load_pem_x509_crl(fresh_ca.layout.crl.read_bytes())
    rec = pki.revoke(fresh_ca, issued.serial_hex, reason="keyCompromise")
    assert rec.reason == "key_compromise" and rec.status() == "revoked"
    crl = x509.load_pem_x509_crl(fresh_ca.layout.crl.read_bytes())
    assert crl.is_signature_valid(fresh_ca.cert.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(issued.serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(keep.serial) is None
    number = _ext(crl, x509.CRLNumber).crl_number
    assert number > _ext(before, x509.CRLNumber).crl_number
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=pki.CRL_DAYS)
    index = json.loads(fresh_ca.layout.index.read_text())
    row = [r for r in index["certs"] if r["serial"] == issued.serial_hex][0]
    assert row["revoked_at"] and row["reason"] == "key_compromise"
    assert index["crl_number"] == number
    with pytest.raises(PkiError, match="already revoked"):
        pki.revoke(fresh_ca, issued.serial)
    with pytest.raises(PkiError, match="no certificate with serial"):
        pki.revoke(fresh_ca, "abcdef")
    with pytest.raises(InvalidInputError, match="reason must be one of"):
        pki.revoke(fresh_ca, keep.serial, reason="because")


def test_revoke_by_unique_prefix(fresh_ca):
    issued = pki.issue_client(fresh_ca, "bank-abc")
    rec = pki.revoke(fresh_ca, issued.serial_hex[:12].lower())
    assert rec.serial == issued.serial_hex


def test_crl_checker_reloads_without_restart(fresh_ca):
    clock = FakeClock()
    issued = pki.issue_client(fresh_ca, "bank-abc")
    checker = runtime.CrlChecker(fresh_ca.layout.crl, clock=clock)
    assert not checker.is_revoked(issued.serial)
    first = checker.crl_number
    pki.revoke(fresh_ca, issued.serial)
    _bump_mtime(fresh_ca.layout.crl)
    # within the interval the file is not even looked at
    assert not checker.is_revoked(issued.serial)
    clock.t += 0.6
    assert checker.is_revoked(issued.serial)
    assert checker.crl_number > first and checker.revoked_count == 1


def test_crl_from_another_ca_is_refused_and_old_one_kept(fresh_ca, other_ca, caplog):
    clock = FakeClock()
    issued = pki.issue_client(fresh_ca, "bank-abc")
    pki.revoke(fresh_ca, issued.serial)
    checker = runtime.CrlChecker(fresh_ca.layout.crl, fresh_ca.cert, clock=clock)
    assert checker.is_revoked(issued.serial)
    number = checker.crl_number
    pki.write_atomic(fresh_ca.layout.crl, other_ca.layout.crl.read_bytes())
    _bump_mtime(fresh_ca.layout.crl)
    clock.t += 1
    with caplog.at_level(logging.ERROR, logger="nikgate.server.pki.runtime"):
        assert checker.is_revoked(issued.serial)
    assert checker.crl_number == number
    assert "refused" in caplog.text


def test_crl_with_bad_signature_is_refused(fresh_ca, other_ca, caplog):
    """Same issuer name, wrong key: only the signature check can catch it."""
    clock = FakeClock()
    issued = pki.issue_client(fresh_ca, "bank-abc")
    pki.revoke(fresh_ca, issued.serial)
    checker = runtime.CrlChecker(fresh_ca.layout.crl, clock=clock)
    now = dt.datetime.now(dt.UTC)
    forged = (x509.CertificateRevocationListBuilder().issuer_name(fresh_ca.cert.subject)
              .last_update(now).next_update(now + dt.timedelta(days=1))
              .add_extension(x509.CRLNumber(999), critical=False)
              .sign(other_ca.key, hashes.SHA384()))
    pki.write_atomic(fresh_ca.layout.crl, forged.public_bytes(serialization.Encoding.PEM))
    clock.t += 1
    with caplog.at_level(logging.ERROR, logger="nikgate.server.pki.runtime"):
        assert checker.is_revoked(issued.serial)
    assert "signature does not verify" in caplog.text
    assert checker.crl_number != 999
    # garbage and a vanished file are refused too
    pki.write_atomic(fresh_ca.layout.crl, b"not a crl")
    assert checker.reload() is False
    fresh_ca.layout.crl.unlink()
    assert checker.reload() is False
    assert checker.is_revoked(issued.serial)


def test_older_crl_is_refused(fresh_ca):
    """Replaying an old (validly signed) CRL must not un-revoke anything."""
    issued = pki.issue_client(fresh_ca, "bank-abc")
    old = fresh_ca.layout.crl.read_bytes()
    pki.revoke(fresh_ca, issued.serial)
    checker = runtime.CrlChecker(fresh_ca.layout.crl, check_interval=0)
    pki.write_atomic(fresh_ca.layout.crl, old)
    assert checker.is_revoked(issued.serial)


def test_crl_checker_needs_a_good_first_crl(tmp_path, other_ca, fresh_ca):
    with pytest.raises(PkiError, match="no CRL"):
        runtime.CrlChecker(tmp_path / "crl.pem", fresh_ca.cert)
    with pytest.raises(PkiError, match="refused"):
        runtime.CrlChecker(other_ca.layout.crl, fresh_ca.cert)


def test_server_cert_rotation_is_seen_by_the_watcher(fresh_ca):
    pki.issue_server(fresh_ca)
    watcher = runtime.ServerCertWatcher.for_dir(fresh_ca.dir)
    assert watcher.changed() is None
    rotated = pki.issue_server(fresh_ca, hostnames=["nikgate.local"])
    key_pem, cert_pem = watcher.changed()
    assert cert_pem == rotated.cert_pem and key_pem == rotated.key_pem
    assert watcher.changed() is None
    # half a rotation (a key that does not match) is not handed out
    other = ec.generate_private_key(ec.SECP256R1())
    pki.write_atomic(fresh_ca.layout.server_key, other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    assert watcher.changed() is None
    assert watcher.current == (key_pem, cert_pem)


def test_parse_serial():
    assert pki.parse_serial("0x1A:2b") == 0x1A2B
    assert pki.parse_serial("serial=7F") == 0x7F
    with pytest.raises(InvalidInputError, match="hexadecimal"):
        pki.parse_serial("12g")


def test_concurrent_issues_all_land_in_the_index(fresh_ca):
    """Each writer holds the flock around read-modify-write, so none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"bank-{i:02d}" for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        serials = set(pool.map(lambda i: pki.issue_client(fresh_ca, i).serial_hex, ids))
    assert {r.serial for r in pki.list_certs(fresh_ca)} == serials


# --------------------------------------------------------------------------- forwarded


def _b64(issued) -> str:
    import base64
    return base64.b64encode(issued.cert.public_bytes(serialization.Encoding.DER)).decode()


def test_a_forwarded_certificate_is_verified_once_then_served_from_the_cache(ca):
    issued = pki.issue_client(ca, "bank-fwd", write=False)
    fwd = runtime.ForwardedCerts(ca.cert)
    verified = []
    real = fwd._verify
    fwd._verify = lambda text: verified.append(text) or real(text)   # type: ignore[method-assign]
    for _ in range(3):
        assert fwd.identity(_b64(issued)) == runtime.PeerIdentity(
            "institution", "bank-fwd", issued.serial)
    assert len(verified) == 1 and fwd.cached == 1


def test_the_forwarded_cache_is_bounded(ca):
    fwd = runtime.ForwardedCerts(ca.cert, max_entries=2)
    certs = [_b64(pki.issue_client(ca, f"bank-b{i}", write=False)) for i in range(3)]
    for text in certs:
        fwd.identity(text)
    assert fwd.cached == 2 and certs[0] not in fwd._cache


def test_a_forwarded_certificate_expires_even_when_cached(ca):
    now = dt.datetime.now(dt.UTC)
    issued = pki.issue_client(ca, "bank-soon", not_after=now + dt.timedelta(hours=1),
                              write=False)
    clock = FakeClock()
    clock.t = now.timestamp()
    fwd = runtime.ForwardedCerts(ca.cert, clock=clock)
    fwd.identity(_b64(issued))
    clock.t += 2 * 3600
    with pytest.raises(PkiError, match="has expired"):
        fwd.identity(_b64(issued))
    clock.t = now.timestamp() - 3600   # before notBefore (5 minutes back)
    with pytest.raises(PkiError, match="not valid yet"):
        fwd.identity(_b64(issued))


def test_forwarded_certificates_nikgate_does_not_accept(ca, other_ca, tmp_path):
    fwd = runtime.ForwardedCerts(ca.cert)
    with pytest.raises(PkiError, match="not signed by the nikgate CA"):
        fwd.identity(_b64(pki.issue_client(other_ca, "bank-abc", write=False)))
    impostor = pki.init_ca(tmp_path, name=ca.cert.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value)
    with pytest.raises(PkiError, match="not signed by the nikgate CA"):
        fwd.identity(_b64(pki.issue_client(impostor, "bank-abc", write=False)))
    with pytest.raises(PkiError, match="not a client certificate"):
        fwd.identity(_b64(pki.issue_server(ca, write=False)))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with pytest.raises(PkiError, match="has expired"):
        fwd.identity(_b64(pki.issue_client(ca, "bank-abc", not_before=past,
                                           not_after=past + dt.timedelta(days=1), write=False)))
    for garbage in ("not base64!", "QUJD", _b64(pki.issue_client(ca, "bank-abc",
                                                                 write=False))[:-8]):
        with pytest.raises(InvalidInputError, match="not standard base64"):
            fwd.identity(garbage)
    # only the expired one is cached: it is the CA's, and its window is compared per call
    assert fwd.cached == 1
