"""What a return-data record may hold: its kinds, their value formats, record ids."""

from __future__ import annotations

import re

# kind -> (value pattern, what the message says a value must look like)
KINDS: dict[str, tuple[re.Pattern[str], str]] = {
    "bank_cif": (re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}"),
                 "1-32 letters, digits or '-'"),
    "account_number": (re.compile(r"[0-9]{6,20}"), "6-20 digits"),
    "card_number": (re.compile(r"[0-9]{12,19}"), "12-19 digits (a payment card PAN)"),
    "msisdn": (re.compile(r"628[0-9]{7,11}"),
               "an Indonesian mobile number in international form, 628 and 7-11 digits"),
    "policy_number": (re.compile(r"[A-Za-z0-9][A-Za-z0-9/.-]{0,39}"),
                      "1-40 letters, digits, '/', '.' or '-'"),
    "patient_id": (re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}"),
                   "1-32 letters, digits or '-'"),
    "customer_id": (re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}"),
                    "1-40 letters, digits or '-'"),
}
MAX_RECORD_ID = 64
_RECORD_ID = re.compile(rf"[!-~]{{1,{MAX_RECORD_ID}}}")  # printable ASCII, no spaces


def value_problem(kind: str, value: str) -> str | None:
    """None when `value` fits `kind`; else what it must look like (never the value)."""
    pattern, shape = KINDS[kind]
    if pattern.fullmatch(value):
        return None
    return f"a {kind} value must be {shape}"


def record_id_ok(record_id: str) -> bool:
    return _RECORD_ID.fullmatch(record_id) is not None
