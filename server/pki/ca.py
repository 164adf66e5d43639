"""The offline nikgate CA: issue, sign, revoke and list the certificates of the mutual-TLS
service (used by `nikgate pki` and `nikgate demo`; the server never loads the CA key).

Layout of a PKI directory (see docs/pki.md)::

    DIR/ca/ca.key            CA private key (0600)
    DIR/ca/ca.crt            CA certificate: the server's and clients' trust root
    DIR/ca/crl.pem           CRL signed by the CA; the server reloads it on change
    DIR/ca/index.json        every certificate issued, with its revocation state
    DIR/ca/certs/<SERIAL>.pem  a copy of every certificate issued
    DIR/ca/.lock             flock'ed around every change to index.json and the CRL
    DIR/server/server.crt|.key   the server's TLS pair (rewritten on rotation)
    DIR/issued/<ID>.crt|.key     institution pairs made here (others: <ID>.<kind>.crt|.key)

A client certificate names its holder in a URI SAN ``nikgate:<kind>:<id>`` (kind is
``institution``, ``operator``, ``portal`` or ``gateway``: layout.KINDS); the server trusts
that SAN, the subject CN is for humans.
Every file is written atomically (temp file + os.replace), private keys with mode 0600.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nikgate.errors import InvalidInputError, PkiError, PkiMissing

from .layout import INSTITUTION_ID_RE, KINDS, SAN_PREFIX, Layout
from .layout import serial_hex as _serial_hex

__all__ = [
    "CA",
    "CertRecord",
    "Issued",
    "Layout",
    "init_ca",
    "issue_client",
    "issue_server",
    "list_certs",
    "load_ca",
    "parse_serial",
    "refresh_crl",
    "renew",
    "revoke",
    "sign_csr",
    "validate_institution_id",
    "write_atomic",
]

log = logging.getLogger(__name__)

CRL_DAYS = 7
# A renewed certificate keeps working this long, so its holder can switch at leisure.
OVERLAP_DAYS = 14
# Backdate notBefore a little so a peer whose clock is slightly behind accepts a fresh cert.
CLOCK_SKEW = dt.timedelta(minutes=5)
MIN_RSA_BITS = 2048
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
# index.json stores the snake_case name (key_compromise); RFC 5280's keyCompromise is accepted
REASONS = {r.name: r for r in x509.ReasonFlags if r is not x509.ReasonFlags.remove_from_crl}
_REASON_ALIASES = {**{r.value.lower(): n for n, r in REASONS.items()},
                   **{n.replace("_", ""): n for n in REASONS}}


# --------------------------------------------------------------------------- io


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` via a temp file + fsync + os.replace (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """Hold an exclusive flock so two CLI runs cannot interleave index/CRL updates."""
    layout.ca_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_index(layout: Layout) -> dict:
    try:
        return json.loads(layout.index.read_text())
    except FileNotFoundError:
        raise PkiMissing(f"no CA index at {layout.index}: run `nikgate pki init` first") from None


def _write_index(layout: Layout, index: dict) -> None:
    write_atomic(layout.index, (json.dumps(index, indent=2) + "\n").encode(), 0o600)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")




def parse_serial(text: str) -> int:
    """A serial as printed by `nikgate pki list` or `openssl x509 -serial` (hex)."""
    s = text.strip().lower().removeprefix("serial=").removeprefix("0x").replace(":", "")
    if not s or not re.fullmatch(r"[0-9a-f]+", s):
        raise InvalidInputError(f"a serial is hexadecimal (as `nikgate pki list` prints it), "
                                f"got {text!r}", field="serial")
    return int(s, 16)


# --------------------------------------------------------------------------- the CA


@dataclass(frozen=True)
class CA:
    """A loaded CA: its directory, certificate and private key."""

    layout: Layout
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def dir(self) -> Path:
        return self.layout.root

    @property
    def cert_pem(self) -> bytes:
        return _cert_pem(self.cert)

    @property
    def _hash(self) -> hashes.SHA256 | hashes.SHA384:
        return hashes.SHA384() if self.key.curve.key_size >= 384 else hashes.SHA256()


def _layout_of(where: CA | Layout | str | os.PathLike) -> Layout:
    if isinstance(where, CA):
        return where.layout
    if isinstance(where, Layout):
        return where
    return Layout(Path(where))


def init_ca(dir: str | os.PathLike, name: str = "nikgate dev CA", days: int = 3650,
            *, force: bool = False) -> CA:
    """Create a CA in DIR (P-384 key, CA:true pathlen 0) with an empty CRL and index.

    Refuses if DIR already holds a CA unless `force`; a forced re-init moves the old
    DIR/ca aside to DIR/ca.replaced-<time> (nothing is deleted).
    """
    layout = Layout(Path(dir))
    if layout.ca_key.exists() or layout.ca_cert.exists():
        if not force:
            raise PkiError(f"{layout.ca_dir} already holds a CA; use --force to replace it "
                           "(every certificate it issued stops being trusted)")
        aside = layout.root / f"ca.replaced-{_now().strftime('%Y%m%dT%H%M%SZ')}"
        os.replace(layout.ca_dir, aside)
        log.warning("moved the old CA aside to %s", aside)
    # ca/ stays readable: the server needs ca.crt and crl.pem; only ca.key is 0600
    layout.ca_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nikgate"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA384())
    )
    ca = CA(layout, cert, key)
    with _locked(layout):
        write_atomic(layout.ca_key, _key_pem(key), 0o600)
        write_atomic(layout.ca_cert, _cert_pem(cert))
        index = {"version": 1, "ca_subject": subject.rfc4514_string(),
                 "ca_serial": _serial_hex(cert.serial_number), "crl_number": 0, "certs": []}
        _write_crl(ca, index)
        _write_index(layout, index)
    log.info("created CA %r in %s", name, layout.ca_dir)
    return ca


def load_ca(dir: str | os.PathLike) -> CA:
    """Load the CA of DIR; checks that the key belongs to the certificate."""
    layout = Layout(Path(dir))
    try:
        cert_pem = layout.ca_cert.read_bytes()
        key_pem = layout.ca_key.read_bytes()
    except FileNotFoundError as e:
        raise PkiMissing(f"no CA in {layout.root} ({e.filename} missing): "
                       "run `nikgate pki init --dir DIR` first") from None
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert_key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePrivateKey) or \
            not isinstance(cert_key, ec.EllipticCurvePublicKey) or \
            key.public_key().public_numbers() != cert_key.public_numbers():
        raise PkiError(f"{layout.ca_key} does not belong to {layout.ca_cert}")
    return CA(layout, cert, key)


# --------------------------------------------------------------------------- issuing


@dataclass(frozen=True)
class Issued:
    """A certificate just issued; `key` is None when the holder keeps its own (CSR)."""

    cert: x509.Certificate
    key: object | None = None
    cert_path: Path | None = None
    key_path: Path | None = None

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    @property
    def serial_hex(self) -> str:
        return _serial_hex(self.cert.serial_number)

    @property
    def cert_pem(self) -> bytes:
        return _cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes | None:
        return None if self.key is None else _key_pem(self.key)


def validate_institution_id(ident: str, kind: str = "institution") -> str:
    """Return `ident` if it is a valid id, else raise InvalidInputError saying why."""
    if kind not in KINDS:
        raise InvalidInputError(f"certificate kind must be one of {', '.join(KINDS)}, "
                                f"got {kind!r}", field="kind")
    if not isinstance(ident, str) or not INSTITUTION_ID_RE.fullmatch(ident):
        raise InvalidInputError(
            f"{kind} id must be 2-63 characters of lowercase a-z, 0-9 and '-', starting with "
            f"a letter or digit (e.g. 'bank-abc'), got {ident!r}", field="institution_id")
    return ident


def _validity(days: int, not_before: dt.datetime | None,
              not_after: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    now = _now()
    nb = not_before if not_before is not None else now - CLOCK_SKEW
    na = not_after if not_after is not None else now + dt.timedelta(days=days)
    if na <= nb:
        raise InvalidInputError(f"not_after ({_iso(na)}) must be after not_before ({_iso(nb)})")
    return nb, na


def _leaf(ca: CA, subject: x509.Name, public_key, san: list[x509.GeneralName],
          eku: x509.ObjectIdentifier, nb: dt.datetime, na: dt.datetime) -> x509.Certificate:
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(nb).not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca.key, ca._hash)
    )


def _record(ca: CA, cert: x509.Certificate, kind: str, ident: str | None,
            files: Iterable[Path] = (), *, replaces: dict | None = None) -> None:
    """Append `cert` to index.json and keep a copy in ca/certs/ (under the lock).

    `replaces` ({"serial", "revoke_at"}): the certificate this one renews; its record gets
    the scheduled revocation and `renewed_by` in the same index write.
    """
    layout = ca.layout
    with _locked(layout):
        index = _read_index(layout)
        serial = _serial_hex(cert.serial_number)
        extra = {}
        if replaces is not None:
            old = _find(index, replaces["serial"])
            _check_replaceable(old, kind, ident)
            old["revoke_at"] = replaces["revoke_at"]
            old["renewed_by"] = serial
            extra["replaces"] = old["serial"]
        write_atomic(layout.certs_dir / f"{serial}.pem", _cert_pem(cert))
        index["certs"].append({
            "serial": serial,
            "subject": cert.subject.rfc4514_string(),
            "kind": kind,
            "institution_id": ident,
            "not_before": _iso(cert.not_valid_before_utc),
            "not_after": _iso(cert.not_valid_after_utc),
            "revoked_at": None,
            "reason": None,
            "files": [str(p) for p in files],
            **extra,
        })
        _write_index(layout, index)


def issue_server(ca: CA, hostnames: Iterable[str] = ("localhost",),
                 ips: Iterable[str] = ("127.0.0.1", "::1"), days: int = 397, *,
                 not_before: dt.datetime | None = None,
                 not_after: dt.datetime | None = None, write: bool = True) -> Issued:
    """Issue a serverAuth P-256 certificate for the given DNS names and IP addresses.

    With `write`, DIR/server/server.key then DIR/server/server.crt are replaced atomically
    (key first: a reader that sees the new certificate also sees its key). Rotation is
    just this call again; the previous certificate stays valid until it expires or is
    revoked, so connections made with it are not affected.
    """
    hostnames, ips = list(hostnames), list(ips)
    if not hostnames and not ips:
        raise InvalidInputError("a server certificate needs at least one --host or --ip")
    try:
        san: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    except ValueError as e:
        raise InvalidInputError(f"bad server name or address: {e}") from None
    nb, na = _validity(days, not_before, not_after)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = hostnames[0] if hostnames else ips[0]
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nikgate server"),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = _leaf(ca, subject, key.public_key(), san, ExtendedKeyUsageOID.SERVER_AUTH, nb, na)
    layout = ca.layout
    paths: tuple[Path, Path] | tuple[None, None] = (None, None)
    if write:
        paths = (layout.server_cert, layout.server_key)
        write_atomic(layout.server_key, _key_pem(key), 0o600)
        write_atomic(layout.server_cert, _cert_pem(cert))
    _record(ca, cert, "server", None, [p for p in paths if p])
    log.info("issued server certificate %s for %s", _serial_hex(cert.serial_number),
             ", ".join(hostnames + ips))
    return Issued(cert, key, *paths)


def _client_subject(kind: str, ident: str) -> tuple[x509.Name, list[x509.GeneralName]]:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"nikgate {kind}"),
                         x509.NameAttribute(NameOID.COMMON_NAME, ident)])
    return subject, [x509.UniformResourceIdentifier(f"{SAN_PREFIX}:{kind}:{ident}")]


def issue_client(ca: CA, institution_id: str, kind: str = "institution", days: int = 365, *,
                 key: ec.EllipticCurvePrivateKey | None = None,
                 not_before: dt.datetime | None = None,
                 not_after: dt.datetime | None = None, write: bool = True) -> Issued:
    """Issue a clientAuth certificate naming `institution_id` (P-256 key made here).

    Subject CN = id, O = "nikgate <kind>", URI SAN ``nikgate:<kind>:<id>``. With `write`
    the pair goes to DIR/issued/<id>.crt|.key (other kinds: <id>.<kind>.crt|.key).
    `not_before`/`not_after` override `days` (tests use them for an expired certificate).
    """
    validate_institution_id(institution_id, kind)
    nb, na = _validity(days, not_before, not_after)
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    subject, san = _client_subject(kind, institution_id)
    cert = _leaf(ca, subject, key.public_key(), san, ExtendedKeyUsageOID.CLIENT_AUTH, nb, na)
    paths: tuple[Path, Path] | tuple[None, None] = (None, None)
    if write:
        paths = ca.layout.client_paths(kind, institution_id)
        write_atomic(paths[1], _key_pem(key), 0o600)
        write_atomic(paths[0], _cert_pem(cert))
    _record(ca, cert, kind, institution_id, [p for p in paths if p])
    log.info("issued %s certificate %s for %s", kind, _serial_hex(cert.serial_number),
             institution_id)
    return Issued(cert, key, *paths)


def sign_csr(ca: CA, csr_pem: bytes | str, institution_id: str, kind: str = "institution",
             days: int = 365, *, replaces: int | str | None = None,
             overlap_days: float = OVERLAP_DAYS, now: dt.datetime | None = None) -> Issued:
    """Sign a CSR whose holder keeps its own key (RSA 2048+ or EC P-256/P-384).

    Only the CSR's public key is used: its subject and any extensions it requests (SANs
    included) are ignored; the CA sets subject and SAN from `institution_id`. The result is
    recorded in the index; writing it out is the caller's job.

    `replaces` (a serial) makes this a renewal, as `renew` but with the holder's new key:
    the replaced certificate (same kind and id, not revoked) is revoked by the first
    `refresh_crl` after `overlap_days`; a CSR with the replaced certificate's key is refused.
    """
    validate_institution_id(institution_id, kind)
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode()
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as e:
        raise InvalidInputError(f"not a PEM certificate signing request: {e}") from None
    if not csr.is_signature_valid:
        raise InvalidInputError("the CSR's signature does not verify: it was altered or not "
                                "made with the key it contains")
    pub = csr.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        if pub.key_size < MIN_RSA_BITS:
            raise InvalidInputError(f"RSA keys must be at least {MIN_RSA_BITS} bits, "
                                    f"the CSR has {pub.key_size}")
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        if not isinstance(pub.curve, ACCEPTED_CURVES):
            raise InvalidInputError(f"EC keys must be on P-256 or P-384, the CSR uses "
                                    f"{pub.curve.name}")
    else:
        raise InvalidInputError(f"the CSR key must be RSA (2048+) or EC (P-256/P-384), "
                                f"got {type(pub).__name__}")
    try:
        asked = len(csr.extensions)
    except ValueError:  # an extension cryptography cannot parse: ignored anyway
        asked = -1
    log.info("signing CSR for %s %s; ignoring its subject %r and %s requested extension(s)",
             kind, institution_id, csr.subject.rfc4514_string(),
             "unparseable" if asked < 0 else asked)
    schedule = None
    if replaces is not None:
        old_cert, old_rec = _current(ca.layout, kind, institution_id, replaces)
        if _spki(old_cert.public_key()) == _spki(pub):
            raise InvalidInputError(
                f"the CSR carries the key of certificate {old_rec['serial']}, which it "
                "replaces: a renewal needs a new key (make a new key and CSR)")
        schedule = _schedule(old_rec, overlap_days, now)
    subject, san = _client_subject(kind, institution_id)
    nb, na = _validity(days, None, None)
    cert = _leaf(ca, subject, pub, san, ExtendedKeyUsageOID.CLIENT_AUTH, nb, na)
    _record(ca, cert, kind, institution_id, replaces=schedule)
    return Issued(cert)


# --------------------------------------------------------------------------- renewal


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_replaceable(rec: dict, kind: str, ident: str | None) -> None:
    if rec["kind"] != kind or rec["institution_id"] != ident:
        raise PkiError(f"certificate {rec['serial']} is {rec['kind']} "
                       f"{rec['institution_id']}'s, not {kind} {ident}'s: a renewal keeps "
                       "the identity")
    if rec.get("revoked_at"):
        raise PkiError(f"certificate {rec['serial']} was revoked at {rec['revoked_at']}: "
                       "issue a new one (`nikgate pki issue`) instead of renewing it")
    if rec.get("renewed_by"):
        raise PkiError(f"certificate {rec['serial']} was already renewed by "
                       f"{rec['renewed_by']}: renew that one")


def _current(layout: Layout, kind: str, ident: str,
             serial: int | str | None = None) -> tuple[x509.Certificate, dict]:
    """The certificate a renewal replaces: `serial`, or the newest of this kind and id that
    is neither revoked nor renewed already."""
    index = _read_index(layout)
    if serial is not None:
        rec = _find(index, serial)
        _check_replaceable(rec, kind, ident)
    else:
        live = [r for r in index["certs"] if r["kind"] == kind and r["institution_id"] == ident
                and not r.get("revoked_at") and not r.get("renewed_by")]
        if not live:
            raise PkiError(f"no {kind} certificate for {ident} to renew (none issued, or all "
                           "revoked or renewed): issue one with `nikgate pki issue`")
        rec = max(live, key=lambda r: r["not_before"])
    try:
        cert = x509.load_pem_x509_certificate(
            (layout.certs_dir / f"{rec['serial']}.pem").read_bytes())
    except FileNotFoundError:
        raise PkiError(f"the CA's copy of certificate {rec['serial']} is missing "
                       f"({layout.certs_dir}): renew it by issuing a new one") from None
    return cert, rec


def _schedule(rec: dict, overlap_days: float, now: dt.datetime | None) -> dict:
    if overlap_days < 0:
        raise InvalidInputError(f"the overlap is 0 days or more, got {overlap_days}",
                                field="overlap_days")
    at = (now or _now()) + dt.timedelta(days=overlap_days)
    return {"serial": rec["serial"], "revoke_at": _iso(at.replace(microsecond=0))}


def renew(ca: CA, institution_id: str, kind: str = "institution", *,
          overlap_days: float = OVERLAP_DAYS, days: int = 365,
          serial: int | str | None = None, out_dir: str | os.PathLike | None = None,
          now: dt.datetime | None = None, write: bool = True) -> Issued:
    """Re-issue a client certificate with a new key: the same subject and URI SAN as the
    current one (`serial`, or the newest neither revoked nor renewed), valid `days`.

    The old certificate keeps working for `overlap_days`: its record gets `revoke_at` (now
    + overlap) and `renewed_by`, and the first `refresh_crl` (`nikgate pki crl`, from cron)
    after that time revokes it (reason superseded). With `write` the new pair goes where
    `issue_client` puts it (replacing that pair; the old certificate stays in ca/certs/),
    or to `out_dir`/<the same file names>.
    """
    validate_institution_id(institution_id, kind)
    old_cert, old_rec = _current(ca.layout, kind, institution_id, serial)
    schedule = _schedule(old_rec, overlap_days, now)
    nb, na = _validity(days, None, None)
    key = ec.generate_private_key(ec.SECP256R1())
    san = list(old_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    cert = _leaf(ca, old_cert.subject, key.public_key(), san,
                 ExtendedKeyUsageOID.CLIENT_AUTH, nb, na)
    paths: tuple[Path, Path] | tuple[None, None] = (None, None)
    if write:
        crt, k = ca.layout.client_paths(kind, institution_id)
        if out_dir is not None:
            crt, k = Path(out_dir) / crt.name, Path(out_dir) / k.name
        paths = (crt, k)
        write_atomic(k, _key_pem(key), 0o600)
        write_atomic(crt, _cert_pem(cert))
    _record(ca, cert, kind, institution_id, [p for p in paths if p], replaces=schedule)
    log.info("renewed %s certificate %s for %s as %s; the old one is revoked after %s",
             kind, old_rec["serial"], institution_id, _serial_hex(cert.serial_number),
             schedule["revoke_at"])
    return Issued(cert, key, *paths)


# --------------------------------------------------------------------------- revocation


def _write_crl(ca: CA, index: dict, days: int = CRL_DAYS) -> None:
    """Sign a new CRL from `index` (bumping its CRL number) and publish it atomically."""
    now = _now()
    index["crl_number"] = int(index.get("crl_number", 0)) + 1
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(index["crl_number"]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
    )
    for rec in index["certs"]:
        if not rec.get("revoked_at"):
            continue
        revoked = (x509.RevokedCertificateBuilder()
                   .serial_number(int(rec["serial"], 16))
                   .revocation_date(dt.datetime.fromisoformat(rec["revoked_at"])))
        reason = REASONS.get(rec.get("reason") or "unspecified", x509.ReasonFlags.unspecified)
        if reason is not x509.ReasonFlags.unspecified:  # RFC 5280: omit "unspecified"
            revoked = revoked.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    crl = builder.sign(ca.key, ca._hash)
    write_atomic(ca.layout.crl, crl.public_bytes(serialization.Encoding.PEM))


def _reason(reason: str | None) -> str:
    r = (reason or "unspecified").strip().lower().replace("-", "_")
    r = _REASON_ALIASES.get(r.replace("_", ""), r)
    if r not in REASONS:
        raise InvalidInputError(f"revocation reason must be one of {', '.join(REASONS)}, "
                                f"got {reason!r}", field="reason")
    return r


def revoke(ca: CA, serial: int | str, reason: str | None = "unspecified") -> CertRecord:
    """Mark the certificate revoked in index.json and publish a new CRL.

    `serial` is an int or hex text; a unique hex prefix of 8+ digits also works.
    Revoking an already revoked certificate raises PkiError and changes nothing.
    """
    why = _reason(reason)
    layout = ca.layout
    with _locked(layout):
        index = _read_index(layout)
        rec = _find(index, serial)
        if rec["revoked_at"]:
            raise PkiError(f"certificate {rec['serial']} was already revoked at "
                           f"{rec['revoked_at']} ({rec['reason']})")
        rec["revoked_at"] = _iso(_now())
        rec["reason"] = why
        _write_crl(ca, index)
        _write_index(layout, index)
    log.info("revoked certificate %s (%s, %s); CRL #%d", rec["serial"], rec["kind"],
             rec["institution_id"], index["crl_number"])
    return CertRecord.from_dict(rec)


def refresh_crl(ca: CA, days: int = CRL_DAYS, *,
                now: dt.datetime | None = None) -> tuple[int, list[CertRecord]]:
    """Re-sign the CRL with a fresh next_update (run it well before the old one passes),
    first revoking every renewed certificate whose overlap has ended by `now` (reason
    superseded, revoked as of its scheduled time). Returns the CRL number and those."""
    at = now or _now()
    with _locked(ca.layout):
        index = _read_index(ca.layout)
        due = [r for r in index["certs"] if r.get("revoke_at") and not r.get("revoked_at")
               and dt.datetime.fromisoformat(r["revoke_at"]) <= at]
        for rec in due:
            rec["revoked_at"] = rec["revoke_at"]
            rec["reason"] = "superseded"
        _write_crl(ca, index, days)
        _write_index(ca.layout, index)
    for rec in due:
        log.info("revoked certificate %s (%s %s), renewed by %s: its overlap ended at %s",
                 rec["serial"], rec["kind"], rec["institution_id"], rec.get("renewed_by"),
                 rec["revoke_at"])
    return index["crl_number"], [CertRecord.from_dict(r) for r in due]


def _find(index: dict, serial: int | str) -> dict:
    if isinstance(serial, int):
        want, prefix = _serial_hex(serial), False
    else:
        want = _serial_hex(parse_serial(serial))
        digits = serial.strip().lower().removeprefix("0x").replace(":", "").lstrip("0")
        prefix = len(digits) >= 8
    hits = [r for r in index["certs"] if r["serial"] == want]
    if not hits and prefix:
        hits = [r for r in index["certs"] if r["serial"].startswith(want)]
    if not hits:
        raise PkiError(f"no certificate with serial {serial} in this CA's index "
                       "(see `nikgate pki list`)")
    if len(hits) > 1:
        raise InvalidInputError(f"serial prefix {serial} matches {len(hits)} certificates; "
                                "give more digits", field="serial")
    return hits[0]


@dataclass(frozen=True)
class CertRecord:
    """One line of index.json."""

    serial: str
    subject: str
    kind: str
    institution_id: str | None
    not_before: str
    not_after: str
    revoked_at: str | None
    reason: str | None
    files: tuple[str, ...] = ()
    revoke_at: str | None = None     # renewed: revoked by the first CRL after this time
    renewed_by: str | None = None    # the serial of the certificate that renewed it
    replaces: str | None = None      # the serial this certificate renewed

    @classmethod
    def from_dict(cls, d: dict) -> CertRecord:
        return cls(**{**d, "files": tuple(d.get("files", ()))})

    def status(self, now: dt.datetime | None = None) -> str:
        if self.revoked_at:
            return "revoked"
        now = now or dt.datetime.now(dt.UTC)
        return "expired" if dt.datetime.fromisoformat(self.not_after) <= now else "valid"

    def describe(self, now: dt.datetime | None = None) -> str:
        """The status, with a renewal's scheduled revocation: "valid until revoked at
        <time> (renewed by serial X)"."""
        status = self.status(now)
        if status != "valid" or not self.revoke_at:
            return status
        now = now or dt.datetime.now(dt.UTC)
        if dt.datetime.fromisoformat(self.revoke_at) <= now:
            return (f"revocation due since {self.revoke_at} (renewed by serial "
                    f"{self.renewed_by}): run `nikgate pki crl`")
        return f"valid until revoked at {self.revoke_at} (renewed by serial {self.renewed_by})"

    def to_dict(self) -> dict:
        return {**asdict(self), "files": list(self.files), "status": self.status(),
                "status_detail": self.describe()}


def list_certs(where: CA | Layout | str | os.PathLike) -> list[CertRecord]:
    """Every certificate the CA issued, oldest first (no CA key needed)."""
    return [CertRecord.from_dict(r) for r in _read_index(_layout_of(where))["certs"]]


