"""`nikgate receipt verify`: check a saved response's receipt offline."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING

from nikgate.errors import InvalidInputError

from .exits import DONE, FINDING
from .output import emit_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def register(sub) -> None:
    p = sub.add_parser("receipt", help="receipts: proof of what nikgate answered")
    s = p.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    v = s.add_parser("verify", help="verify a saved response's signed receipt offline")
    v.add_argument("response", help="the raw response bytes, or a JSON file with "
                                    "response_b64 (and optionally request_b64)")
    v.add_argument("--public-key", required=True, help="the server's Ed25519 public key (PEM)")
    v.add_argument("--request", help="the raw request bytes, to check the receipt covers it")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)


def _load(path: str) -> tuple[bytes, bytes | None]:
    data = Path(path).read_bytes()
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return data, None
    if not isinstance(doc, dict):   # JSON, but not a saved answer: the raw bytes, then
        return data, None
    try:
        request = doc.get("request_b64")
        return (base64.b64decode(doc["response_b64"]),
                base64.b64decode(request) if request else None)
    except (KeyError, TypeError, ValueError) as e:   # binascii.Error is a ValueError
        raise InvalidInputError(f"{path}: a JSON file needs response_b64 (and optionally "
                                f"request_b64) in base64: {e}", field="response") from None


def _public_key(path: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (ValueError, TypeError) as e:   # not PEM, or not a public key
        raise InvalidInputError(f"--public-key {path} is not a PEM public key (the server's "
                                f"receipt-signing .pub file): {' '.join(str(e).split())}",
                                field="public_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError(f"--public-key {path} is a {type(key).__name__}, not the "
                                "server's Ed25519 receipt key", field="public_key")
    return key


def _verify(args) -> int:
    from nikgate.server.receipts import verify_receipt

    response, request = _load(args.response)
    if args.request:
        request = Path(args.request).read_bytes()
    key = _public_key(args.public_key)
    check = verify_receipt(response, key, request)
    p = check.payload
    info = {"valid": check.valid, "reason": check.reason}
    if p is not None:
        info.update(transaction_id=p.transaction_id, method=p.method,
                    institution_id=p.institution_id, issued_at_unix_ms=p.issued_at_unix_ms)
        if p.adapter:   # an adapter acted for the institution (the portal, the gateway)
            info.update(adapter=p.adapter, acting_user=p.acting_user)
    if check.root is not None:   # signed with the calls answered together: its place there
        info.update(leaf_index=check.leaf_index, leaf_count=check.root.leaf_count)
    if args.json:
        emit_json(info)
    else:
        print(("valid: " if check.valid else "INVALID: ") + check.reason)
        for k, v in info.items():
            if k not in ("valid", "reason"):
                print(f"  {k}: {v}")
    return DONE if check.valid else FINDING
