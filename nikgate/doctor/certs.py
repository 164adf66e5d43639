"""The node's certificates (CA, server, adapters) and the CRL: days left, issuer, revocation.

Thresholds (docs/operations.md): a certificate WARNs under 30 days left and FAILs once
expired or not yet valid; the CRL, re-signed daily by `nikgate pki crl` with 7 days'
validity, WARNs when older than 2 days (the daily run was missed) or within 2 days of its
next update, and FAILs past it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from nikgate.errors import PkiError

from .result import Check, fail, ok, warn

CERT_WARN_DAYS = 30
CRL_WARN_AGE = dt.timedelta(days=2)
CRL_WARN_LEFT = dt.timedelta(days=2)


def _load(path: Path) -> x509.Certificate | str:
    """The certificate (the first of a PEM chain), or why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as e:
        return f"{path} is not a PEM certificate ({e})"


def _days(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.0f} days" if abs(days) >= 2 else f"{delta.total_seconds() / 3600:.0f} h"


def certificate(name: str, path: Path, ca: x509.Certificate | None, revoked: set[int],
                renew: str, now: dt.datetime) -> Check:
    """One certificate: readable, within its validity (WARN under 30 days), issued by the
    CA and not on its CRL (for a leaf)."""
    cert = _load(path)
    if isinstance(cert, str):
        return fail(name, cert, f"restore the file or {renew}")
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    left = na - now
    who = cert.subject.rfc4514_string()
    if now < nb:
        return fail(name, f"{who} is not valid before {nb:%Y-%m-%d %H:%M} UTC (in "
                    f"{_days(nb - now)})", "check this machine's clock, or " + renew)
    if left.total_seconds() <= 0:
        return fail(name, f"{who} expired {na:%Y-%m-%d} ({_days(-left)} ago)", renew)
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError) as e:
            return fail(name, f"{who} is not issued by the configured CA "
                        f"({type(e).__name__})", renew)
        if cert.serial_number in revoked:
            return fail(name, f"{who} (serial {cert.serial_number:X}) is revoked", renew)
    text = f"{who} expires {na:%Y-%m-%d} (in {_days(left)})"
    if left < dt.timedelta(days=CERT_WARN_DAYS):
        return warn(name, text, renew)
    return ok(name, text)


def crl(path: Path, ca_path: Path, now: dt.datetime) -> tuple[Check, set[int]]:
    """The CRL as the server would take it (issuer and signature checked against the CA,
    server/pki/runtime.py), its age and next update; and the serials it revokes."""
    from nikgate.server.pki.runtime import CrlChecker

    refresh = "run `nikgate pki crl --dir PKI_DIR` on the CA machine and copy crl.pem here"
    try:
        CrlChecker(path, ca_path)
        data = path.read_bytes()
        loaded = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
                  else x509.load_der_x509_crl(data))
    except (PkiError, OSError, ValueError) as e:
        return fail("crl", f"{path}: {getattr(e, 'strerror', None) or e}", refresh), set()
    revoked = {r.serial_number for r in loaded}
    issued, nxt = loaded.last_update_utc, loaded.next_update_utc
    age = now - issued
    text = (f"{len(revoked)} revoked, issued {_days(age)} ago, next update "
            + (f"in {_days(nxt - now)}" if nxt else "not set"))
    if nxt is not None and nxt <= now:
        return fail("crl", f"past its next update ({_days(now - nxt)} ago): " + text,
                    refresh + " (the server keeps using it, but peers that check it refuse "
                    "it)"), revoked
    if nxt is not None and nxt - now < CRL_WARN_LEFT:
        return warn("crl", text, refresh), revoked
    if age > CRL_WARN_AGE:
        return warn("crl", text + " (re-signed daily as a rule)", refresh), revoked
    return ok("crl", text), revoked


def check(targets: list[tuple[str, Path, str]], ca_path: Path, crl_path: Path,
          now: dt.datetime | None = None) -> list[Check]:
    """The CA, then the CRL, then each (name, path, how to renew) in `targets`."""
    now = now or dt.datetime.now(dt.UTC)
    ca = _load(ca_path)
    new_ca = "make a new CA (`nikgate pki init`) and re-issue every certificate"
    out = [certificate("cert ca", ca_path, None, set(), new_ca, now)]
    crl_check, revoked = crl(crl_path, ca_path, now) if not isinstance(ca, str) else (
        fail("crl", f"cannot be checked without the CA certificate {ca_path}",
             "restore ca.crt"), set())
    out.append(crl_check)
    for name, path, renew in targets:
        out.append(certificate(name, path, ca if not isinstance(ca, str) else None,
                               revoked, renew, now))
    return out
