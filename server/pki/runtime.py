"""The worker's certificate checks at run time: who a peer certificate names, whether the
CA has revoked it (the CRL, reloaded on change), a certificate an adapter forwards (checked
here as TLS checks a direct peer's), and the server's own TLS pair (reloaded on rotation).
Nothing here needs the CA key; the offline CA that issues all of it is ca.py.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from nikgate.errors import InvalidInputError, PkiError

from .layout import INSTITUTION_ID_RE, KINDS, SAN_PREFIX, Layout
from .layout import serial_hex as _serial_hex

__all__ = [
    "CrlChecker",
    "ForwardedCerts",
    "PeerIdentity",
    "ServerCertWatcher",
    "crl_number",
    "identity_of",
    "load_keypair",
    "peer_identity",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeerIdentity:
    """Who a client certificate names: from its ``nikgate:<kind>:<id>`` URI SAN."""

    kind: str
    institution_id: str
    serial: int


_SAN_RE = re.compile(rf"^{SAN_PREFIX}:({'|'.join(KINDS)}):(.+)$")


def identity_of(cert: x509.Certificate) -> PeerIdentity:
    """The identity a client certificate names; PkiError if it names none (or two)."""
    try:
        uris = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    found = [m for m in map(_SAN_RE.match, uris) if m]
    if len(found) != 1:
        raise PkiError(f"certificate {_serial_hex(cert.serial_number)} "
                       f"({cert.subject.rfc4514_string()}) must carry exactly one "
                       f"'{SAN_PREFIX}:<{'|'.join(KINDS)}>:<id>' URI SAN, found "
                       f"{len(found)}")
    kind, ident = found[0].groups()
    if not INSTITUTION_ID_RE.fullmatch(ident):
        raise PkiError(f"certificate {_serial_hex(cert.serial_number)} names an invalid "
                       f"{kind} id {ident!r}")
    return PeerIdentity(kind, ident, cert.serial_number)


@functools.lru_cache(maxsize=4096)
def peer_identity(cert_pem: bytes) -> PeerIdentity:
    """identity_of for the PEM gRPC gives (auth_context()["x509_pem_cert"][0]), cached.

    Parsing a certificate costs tens of microseconds; a peer sends the same one on every
    call, so the cache makes this a dict lookup. Raises PkiError (not cached) if unusable.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        raise PkiError(f"peer certificate cannot be parsed: {e}") from None
    return identity_of(cert)


class CrlChecker:
    """Is a serial revoked? Answers from a set; reloads the CRL file when it changes.

    At most every `check_interval` seconds, one caller stats the file (mtime, size, inode);
    if that changed, the CRL is parsed and its signature and issuer checked against the CA
    certificate. A CRL that fails (bad signature, other issuer, lower CRL number, garbage)
    is logged and refused, and the previous one stays in force. The first load must
    succeed, or the constructor raises PkiError. Thread-safe; `is_revoked` never blocks on
    a reload another thread is doing.
    """

    def __init__(self, crl_path: str | os.PathLike,
                 ca_cert: x509.Certificate | str | os.PathLike | None = None, *,
                 check_interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(crl_path)
        if ca_cert is None:
            ca_cert = self.path.with_name("ca.crt")
        if not isinstance(ca_cert, x509.Certificate):
            ca_cert = x509.load_pem_x509_certificate(Path(ca_cert).read_bytes())
        self._ca = ca_cert
        self._interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: frozenset[int] = frozenset()
        self.crl_number = -1
        self.next_update: dt.datetime | None = None
        self._seen: tuple[int, int, int] | None = None
        self._stale_logged = False
        self._next_check = 0.0
        sig = self._stat()
        if sig is None:
            raise PkiError(f"no CRL at {self.path}: run `nikgate pki init` or copy crl.pem")
        crl = self._parse()
        if isinstance(crl, str):
            raise PkiError(f"CRL {self.path} refused: {crl}")
        self._install(crl, sig)
        self._next_check = clock() + check_interval

    def is_revoked(self, serial: int) -> bool:
        """True if the CA has revoked the certificate with this serial number."""
        if self._clock() >= self._next_check:
            self._maybe_reload()
        return serial in self._revoked

    @property
    def ca(self) -> x509.Certificate:
        """The CA certificate this CRL is checked against: the trust root."""
        return self._ca

    @property
    def revoked_count(self) -> int:
        return len(self._revoked)

    @property
    def stale(self) -> bool:
        """The CRL is past its next_update: someone must run `nikgate pki crl`."""
        return self.next_update is not None and dt.datetime.now(dt.UTC) > self.next_update

    def reload(self) -> bool:
        """Check the file now (ignoring the interval); True if a new CRL was installed."""
        with self._lock:
            return self._check_file()

    def _maybe_reload(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; answer from the current set
        try:
            if self._clock() >= self._next_check:
                self._check_file()
        finally:
            self._lock.release()

    def _check_file(self) -> bool:
        self._next_check = self._clock() + self._interval
        sig = self._stat()
        if sig is None or sig == self._seen:
            if sig is None and self._seen is not None:
                log.error("CRL %s disappeared; keeping CRL #%d", self.path, self.crl_number)
                self._seen = None
            self._warn_if_stale()
            return False
        self._seen = sig  # refused or not, do not re-parse (and re-log) the same file
        crl = self._parse()
        if isinstance(crl, str):
            log.error("CRL %s refused (%s); keeping CRL #%d", self.path, crl, self.crl_number)
            return False
        self._install(crl, sig)
        log.info("loaded CRL #%d from %s: %d revoked", self.crl_number, self.path,
                 len(self._revoked))
        return True

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _parse(self) -> x509.CertificateRevocationList | str:
        """The CRL if acceptable, else the reason it is not."""
        try:
            data = self.path.read_bytes()
            crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
                   else x509.load_der_x509_crl(data))
        except (OSError, ValueError) as e:
            return f"unreadable: {e}"
        if crl.issuer != self._ca.subject:
            return f"issued by {crl.issuer.rfc4514_string()}, not by this CA"
        ca_key = self._ca.public_key()
        try:
            ok = (isinstance(ca_key, ec.EllipticCurvePublicKey)   # nikgate CAs are EC
                  and crl.is_signature_valid(ca_key))
        except (InvalidSignature, TypeError, ValueError):
            ok = False
        if not ok:
            return "signature does not verify with the CA certificate"
        number = crl_number(crl)
        if number < self.crl_number:
            return f"CRL number {number} is older than the loaded #{self.crl_number}"
        return crl

    def _install(self, crl: x509.CertificateRevocationList, sig: tuple[int, int, int]) -> None:
        # one attribute swap: readers see the old set or the new one, never a mix
        self._revoked = frozenset(r.serial_number for r in crl)
        self.crl_number = crl_number(crl)
        self.next_update = crl.next_update_utc
        self._seen = sig
        self._stale_logged = False

    def _warn_if_stale(self) -> None:
        if not self._stale_logged and self.stale:
            log.warning("CRL %s is past its next_update (%s); run `nikgate pki crl`",
                        self.path, self.next_update)
            self._stale_logged = True


@dataclass(frozen=True, slots=True)
class _Verified:
    identity: PeerIdentity
    not_before: float   # unix seconds: the certificate's window within the CA's
    not_after: float


class ForwardedCerts:
    """A client certificate an adapter forwards (the JSON gateway: the one an institution
    presented to it over mutual TLS), checked as TLS checks a direct peer's: signed by the
    nikgate CA, a client certificate (CA:false, clientAuth), inside its validity window,
    naming one nikgate identity. Revocation is not checked here: the caller asks the
    CrlChecker on every call, as for direct peers.

    A gateway forwards the same few certificates for thousands of calls, so a verified one
    is cached by its base64 text (at most `max_entries`, oldest dropped first): a repeat
    costs a dict lookup and a clock read instead of an ECDSA verification (~0.5 ms for the
    P-384 CA). The window is compared with the clock on every call, hit or miss; failures
    are not cached. Thread-safe (dict operations under the GIL).
    """

    def __init__(self, ca_cert: x509.Certificate, max_entries: int = 4096,
                 clock: Callable[[], float] = time.time) -> None:
        self._ca = ca_cert
        self._ca_not_after = ca_cert.not_valid_after_utc.timestamp()
        self._max = max(1, max_entries)
        self._clock = clock
        self._cache: dict[str, _Verified] = {}

    def identity(self, cert_b64: str) -> PeerIdentity:
        """The identity of the forwarded certificate (standard base64 of its DER, no line
        breaks). InvalidInputError when it is not base64 of a certificate at all; PkiError
        saying why when it is one nikgate does not accept (another CA, expired, not yet
        valid, not a client certificate, no nikgate identity)."""
        hit = self._cache.get(cert_b64)
        if hit is None:
            hit = self._verify(cert_b64)
            if len(self._cache) >= self._max:
                self._cache.pop(next(iter(self._cache)), None)
            self._cache[cert_b64] = hit
        now = self._clock()
        if now < hit.not_before:
            raise PkiError(f"the forwarded certificate {_serial_hex(hit.identity.serial)} is "
                           "not valid yet")
        if now > hit.not_after:
            raise PkiError(f"the forwarded certificate {_serial_hex(hit.identity.serial)} has "
                           "expired: its holder needs a new one from Dukcapil")
        return hit.identity

    @property
    def cached(self) -> int:
        return len(self._cache)

    def _verify(self, cert_b64: str) -> _Verified:
        try:
            der = binascii.a2b_base64(cert_b64, strict_mode=True)
            cert = x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError):
            raise InvalidInputError(
                "the forwarded certificate is not standard base64 (no line breaks) of a DER "
                "X.509 certificate", field="nikgate-on-behalf-of-cert") from None
        serial = _serial_hex(cert.serial_number)
        try:
            cert.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise PkiError(f"the forwarded certificate {serial} is not signed by the nikgate "
                           "CA") from None
        try:
            ca_flag = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            raise PkiError(f"the forwarded certificate {serial} is not a nikgate client "
                           "certificate (no basicConstraints or extendedKeyUsage)") from None
        if ca_flag or ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise PkiError(f"the forwarded certificate {serial} is not a client certificate")
        return _Verified(identity_of(cert), cert.not_valid_before_utc.timestamp(),
                         min(cert.not_valid_after_utc.timestamp(), self._ca_not_after))


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def load_keypair(cert_path: str | os.PathLike, key_path: str | os.PathLike
                 ) -> tuple[bytes, bytes]:
    """(key_pem, cert_pem) read from disk, PkiError if the key does not match the cert."""
    cert_pem = Path(cert_path).read_bytes()
    key_pem = Path(key_path).read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as e:
        raise PkiError(f"cannot read the pair {cert_path} / {key_path}: {e}") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, pub):
        raise PkiError(f"{key_path} is not the key of {cert_path} (mid-rotation? retry)")
    return key_pem, cert_pem


class ServerCertWatcher:
    """Yield the server's (key_pem, cert_pem) when DIR/server/server.crt|.key change.

    Made for grpc.dynamic_ssl_server_credentials: its fetcher runs on each new handshake
    and returns None to keep the current configuration. `changed()` is that: a stat of two
    files, and a new pair only when both were replaced and match each other. Established
    connections keep their TLS session, so calls in flight are not dropped.
    """

    def __init__(self, cert_path: str | os.PathLike, key_path: str | os.PathLike) -> None:
        self.cert_path, self.key_path = Path(cert_path), Path(key_path)
        self._lock = threading.Lock()
        self._seen: tuple | None = None
        self.current = self._load_or_raise()

    @classmethod
    def for_dir(cls, dir: str | os.PathLike) -> ServerCertWatcher:
        layout = Layout(Path(dir))
        return cls(layout.server_cert, layout.server_key)

    def _stat(self) -> tuple:
        a, b = os.stat(self.cert_path), os.stat(self.key_path)
        return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)

    def _load_or_raise(self) -> tuple[bytes, bytes]:
        sig = self._stat()
        pair = load_keypair(self.cert_path, self.key_path)
        self._seen = sig
        return pair

    def changed(self) -> tuple[bytes, bytes] | None:
        """The new (key_pem, cert_pem) if the files changed and are a valid pair, else None."""
        with self._lock:
            try:
                if self._stat() == self._seen:
                    return None
                self.current = self._load_or_raise()
            except (OSError, PkiError) as e:
                log.warning("server certificate not reloaded yet: %s", e)
                return None
            log.info("server certificate reloaded from %s", self.cert_path)
            return self.current

