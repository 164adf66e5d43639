"""Passwords (argon2id), TOTP codes, sign-in throttling, CSRF tokens and response headers."""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import threading
import time
from collections import deque

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are argon2id (RFC 9106's low-memory profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# A hash of a random password, checked against when no user has the e-mail, so an unknown
# address costs the same time as a wrong password.
_DUMMY = _hasher.hash("not a password of anyone " + str(time.time()))
MIN_PASSWORD = 12
ISSUER = "nikgate portal"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "strict-transport-security": "max-age=31536000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; always costs one argon2id verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str, again: str, email: str) -> str | None:
    """The i18n key of what is wrong with a new password, or None."""
    if password != again:
        return "pw_mismatch"
    if len(password) < MIN_PASSWORD:
        return "pw_short"
    if password.strip().lower() == email or email.split("@")[0] in password.lower():
        return "pw_email"
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code (no scripts, no external requests)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False,
                                    svgns=True, title="TOTP")
    return out.getvalue().decode()


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step a 6-digit code is valid for (this one or the one before or after,
    for clock drift), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    step = int(now // totp.interval)
    for s in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(s), code):
            return s
    return None


class Throttle:
    """At most `per_minute` attempts per key in any 60 s; tells how long to wait."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> int:
        """0 and the attempt counted, or the whole seconds to wait before the next one."""
        now = time.monotonic()
        with self._lock:
            q = self._seen.setdefault(key, deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(1, math.ceil(60 - (now - q[0])))
            q.append(now)
            if len(self._seen) > 100_000:   # bound memory: forget the quiet keys
                for k in [k for k, v in self._seen.items() if not v][:50_000]:
                    del self._seen[k]
            return 0


def anonymous_csrf(key: bytes, pre: str) -> str:
    """The CSRF token of a visitor not signed in: bound to its pre-session cookie."""
    return hmac.new(key, b"csrf:" + pre.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
