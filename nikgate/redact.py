"""Bounded, redacted echoes of caller-supplied names for error messages.

An error message may show what a caller sent when it helps them fix it (an unknown field
name), but never in full: callers have sent megabyte strings and NIKs in field names. So an
echo is cut to `MAX_ECHO` characters, non-printable characters are escaped, and digit runs
of 6 or more (a NIK, a KK number, a birth date) become "######". Claimed *values* (names,
dates) are personal data and are never echoed at all, redacted or not.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ECHO", "redact"]

MAX_ECHO = 32
_DIGIT_RUN = re.compile(r"[0-9\uff10-\uff19]{6,}")  # ASCII and full-width digits
_MASK = "######"


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def redact(text: object, limit: int = MAX_ECHO) -> str:
    """`text` as an error message may show it: at most `limit` characters (plus a
    "…(N chars)" note when cut), non-printables escaped, long digit runs masked."""
    s = text if isinstance(text, str) else str(text)
    # A digit run that reaches into the kept part and goes on past the window is already
    # 7+ digits inside it, so masking the window alone is enough.
    window = _DIGIT_RUN.sub(_MASK, s[: limit + 6])
    out = "".join(map(_escape, window))
    if len(s) > limit or len(out) > limit:
        return f"{out[:limit]}…({len(s)} chars)"
    return out
