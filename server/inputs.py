"""Size limits on every request input, checked right after parsing and before any work.

The transport bounds a whole message (server.max_message_bytes); this bounds what a
message may carry in each field, so nothing a caller sends can grow an audit record, an
error message or a log line beyond a known size. The table is by field name across all
v1 messages; docs/security.md lists it. Per-item columns of a batch (NIKs, claim values,
record ids, return-data values) are bounded by the item count and judged item by item by
the engine and the return-data checks, which never echo or store them in clear.
"""

from __future__ import annotations

import functools
import re

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from nikgate.errors import InvalidInputError
from nikgate.redact import redact

from .pki.layout import INSTITUTION_ID_RE

# Longest string, in characters, per field name (scalar strings and map keys/values).
MAX_CHARS: dict[str, int] = {
    "nik": 32,              # a NIK is 16 digits; longer is never a NIK
    "purpose": 64,          # a purpose code the grant declares
    "request_id": 128,
    "batch_id": 128,
    "institution_id": 63,
    "institution": 63,
    "id": 63,
    "day": 10,
    "status": 16,
    "kind": 32,
    "name": 200,            # an institution's name (Admin)
    "reason": 500,
    "valid_from": 10,
    "valid_until": 10,
    "updated_at": 40,
    "status_reason": 500,
    "sam_id": 64,           # a SAM id (SAM-0001); its form is checked by the handler
    "reader_serial": 64,    # as printed on the reader
}
# Longest bytes field, per field name; bytes fields not named here are not requests' own
# (receipts) or are bounded by the message size.
MAX_BYTES: dict[str, int] = {
    "biodata": 5120,        # EF 6FF1: 19 fields of at most 255 bytes, with their tags
    "chip_uid": 10,         # ISO 14443: 4, 7 or 10 bytes
    "challenge": 64,        # GetChallenge gives 32
    "sam_signature": 80,    # ECDSA P-256 in DER: at most 72
    "public_key_pem": 1024,  # a P-256 SubjectPublicKeyInfo PEM is 178
}
# Largest value of an integer field, per field name, where a handler would otherwise loop
# or allocate by it (other integers are bounded by their type or checked by their handler).
MAX_VALUES: dict[str, int] = {
    "days": 31,             # Account GetMyUsage: a month of daily usage at most
}
DEFAULT_MAX_CHARS = 256
FIELD_NAME_CHARS = 32       # a field name (NAMA_LGKP, ...) in any list, map or column
MAX_NAMES = 64              # entries in a list of names (fields, operations, channels ...)
CLAIM_VALUE_CHARS = 512     # a claimed value in a single Verify
# Per-item columns: their length is the batch size, checked against the batch limit by
# the handlers; their values go to the engine, never to a log or the audit in clear.
COLUMNS = frozenset({"niks", "nik_numbers", "item_ids", "columns", "record_ids", "kinds",
                     "values", "observed_at_ms"})
NAME_LISTS = frozenset({"fields", "operations", "channels", "return_data_kinds", "names",
                        "purposes", "networks"})
NAME_MAPS = frozenset({"claims", "thresholds", "fields"})

# Request metadata an adapter sends to act on behalf of someone (server/identity.py); gRPC
# bounds all headers together (8 KiB by default), these bound each one and its form.
PORTAL_USER_CHARS = 128      # nikgate-portal-user: 1-128 printable ASCII
FORWARDED_CERT_CHARS = 8192  # nikgate-on-behalf-of-cert: base64 of a DER certificate
_PORTAL_USER = re.compile(rf"[\x20-\x7e]{{1,{PORTAL_USER_CHARS}}}")

_STRING = FieldDescriptor.TYPE_STRING
_BYTES = FieldDescriptor.TYPE_BYTES
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def check_sizes(message: Message) -> None:
    """InvalidInputError naming the first field over its limit (values never echoed)."""
    for fd, value in message.ListFields():
        name = fd.name
        if name in COLUMNS:
            continue
        if _is_map(fd):
            _check_map(name, fd, value)
        elif fd.is_repeated:
            if len(value) > MAX_NAMES:
                raise InvalidInputError(f"{name} has {len(value):,} entries; at most "
                                        f"{MAX_NAMES}", field=name)
            if fd.type == _STRING:
                limit = FIELD_NAME_CHARS if name in NAME_LISTS else MAX_CHARS.get(
                    name, DEFAULT_MAX_CHARS)
                for v in value:
                    _check_chars(name, v, limit)
            elif fd.type == _MESSAGE:
                for v in value:
                    check_sizes(v)
        elif fd.type == _STRING:
            _check_chars(name, value, MAX_CHARS.get(name, DEFAULT_MAX_CHARS))
        elif fd.type == _BYTES and name in MAX_BYTES and len(value) > MAX_BYTES[name]:
            raise InvalidInputError(f"{name} is {len(value):,} bytes long; at most "
                                    f"{MAX_BYTES[name]:,}", field=name)
        elif name in MAX_VALUES and isinstance(value, int) and value > MAX_VALUES[name]:
            raise InvalidInputError(f"{name} is {value:,}; at most {MAX_VALUES[name]:,}",
                                    field=name)
        elif fd.type == _MESSAGE:
            check_sizes(value)


@functools.lru_cache(maxsize=512)
def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _check_map(name: str, fd: FieldDescriptor, value) -> None:
    if len(value) > MAX_NAMES:
        raise InvalidInputError(f"{name} has {len(value):,} entries; at most {MAX_NAMES}",
                                field=name)
    assert fd.message_type is not None   # a map field's entries are messages
    value_fd = fd.message_type.fields_by_name["value"]
    key_limit = FIELD_NAME_CHARS if name in NAME_MAPS else DEFAULT_MAX_CHARS
    for k in value:
        if isinstance(k, str):
            _check_chars(f"{name} key", k, key_limit, field=name)
        if value_fd.type == _STRING:
            _check_chars(f"{name} value", value[k], CLAIM_VALUE_CHARS, field=name)
        elif value_fd.type == _MESSAGE:
            check_sizes(value[k])


def _check_chars(what: str, text: str, limit: int, field: str | None = None) -> None:
    if len(text) > limit:
        raise InvalidInputError(f"{what} is {len(text):,} characters long; at most {limit} "
                                f"(got {redact(text, 16)})", field=field or what)



def check_portal_user(value: str) -> str:
    """The portal user an adapter names, or InvalidInputError (the value is not echoed:
    it may be an e-mail address)."""
    if not _PORTAL_USER.fullmatch(value):
        raise InvalidInputError(
            f"nikgate-portal-user must be 1-{PORTAL_USER_CHARS} printable ASCII characters "
            f"(the portal's account id or e-mail), got {len(value)} characters"
            + ("" if len(value) > PORTAL_USER_CHARS or not value else
               " with a character outside printable ASCII"), field="nikgate-portal-user")
    return value


def check_header_id(header: str, value: str) -> str:
    """An institution or operator id in a header, or InvalidInputError saying its form."""
    if not INSTITUTION_ID_RE.fullmatch(value):
        raise InvalidInputError(
            f"{header} must be an id of 2-63 characters of a-z, 0-9 and '-', starting with a "
            f"letter or digit, got {redact(value, 16)!r}", field=header)
    return value


def check_forwarded_cert(value: str) -> str:
    """The size of a forwarded certificate's base64 text (its form is checked when it is
    parsed, server/pki/runtime.py)."""
    if not value or len(value) > FORWARDED_CERT_CHARS:
        raise InvalidInputError(
            f"nikgate-on-behalf-of-cert must be 1-{FORWARDED_CERT_CHARS:,} characters of "
            f"base64, got {len(value):,}", field="nikgate-on-behalf-of-cert")
    return value
