"""The record format: one JSON line per record, hash-chained with SHA-256.

A line is the canonical JSON of the record (sorted keys, no spaces, ASCII only) including
its "hash". The hash is SHA-256 over the previous record's 32 hash bytes followed by the
line's canonical bytes *without* the `"hash":"<64 hex>",` member (and without the newline):

    hash = SHA-256(prev_hash_bytes + canonical(record minus "hash"))

Every record has "kind", "seq" (1, 2, ... across the whole stream) and "prev" (the previous
record's hash, 64 zeros for seq 1). Kinds: "open" (first record of each segment), "call",
"resume" (a writer restarted the stream after a crash), "seal" (last record of a segment).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT = 2   # 2: nik_refs and item_results in base64 (1 had hex)
GENESIS = "0" * 64

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
# "\x00" serialises as \u0000. The small members are serialised by json; the hash and the
# large base64 members go into these slots afterwards (json would escape-scan 21 KB of base64).
# A key followed by a slot cannot occur inside a string value, whose quotes are escaped.
_SLOT = "\x00"


def encode(fields: dict[str, Any], blobs: dict[str, bytes], seq: int,
           prev: str, prev_raw: bytes) -> tuple[list[bytes], str, bytes]:
    """(line pieces ending with the newline, hash hex, hash bytes) for a record chained
    after `prev`. `blobs` are ASCII members that need no JSON escaping (base64), put in as is.
    """
    rec = dict(fields)
    rec["seq"] = seq
    rec["prev"] = prev
    rec["hash"] = _SLOT
    for name in blobs:
        rec[name] = _SLOT
    text = _dumps(rec).encode("ascii")
    # Cut the text at each slot; keys are sorted, so slots come in key order.
    body: list[bytes] = []
    line: list[bytes] = []
    hash_at = 0
    pos = 0
    for name in sorted(("hash", *blobs)):
        marker = b'"%s":"\\u0000"' % name.encode()
        i = text.index(marker, pos)
        head = text[pos:i]
        if name == "hash":
            # the member and its comma are left out of the hashed body
            body.append(head)
            line.append(head)
            hash_at = len(line)
            line.append(b"")
            pos = i + len(marker) + 1
        else:
            piece = head + b'"%s":"' % name.encode()
            body += (piece, blobs[name])
            line += (piece, blobs[name])
            pos = i + len(marker) - 1
    body.append(text[pos:])
    line += (text[pos:], b"\n")
    h = hashlib.sha256(prev_raw)
    for piece in body:
        h.update(piece)
    digest = h.digest()
    hx = digest.hex()
    line[hash_at] = b'"hash":"%s",' % hx.encode()
    return line, hx, digest


def _sha(prev_raw: bytes, body: bytes) -> bytes:
    h = hashlib.sha256(prev_raw)
    h.update(body)
    return h.digest()


class Record:
    """A parsed line. `hash_ok` says whether the line's content matches its own hash."""

    __slots__ = ("data", "hash", "prev", "seq", "kind", "hash_ok", "segment", "line")

    def __init__(self, data: dict, hash_ok: bool, segment: int, line: int) -> None:
        self.data = data
        self.hash = data["hash"]
        self.prev = data["prev"]
        self.seq = data["seq"]
        self.kind = data["kind"]
        self.hash_ok = hash_ok
        self.segment = segment
        self.line = line

    def where(self) -> str:
        return f"segment {self.segment} line {self.line} (seq {self.seq})"


class BadLine(ValueError):
    """A line that is not a record at all."""


def parse(raw: bytes, segment: int = 0, line: int = 0) -> Record:
    """Parse one line (without newline) and check it against its own hash."""
    try:
        text = raw.decode("ascii")
        data = json.loads(text)
        hx = data["hash"]
        prev = data["prev"]
        if not (isinstance(data, dict) and _is_hash(hx) and _is_hash(prev)
                and type(data["seq"]) is int and isinstance(data["kind"], str)):
            raise BadLine("missing or malformed hash, prev, seq or kind")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise BadLine(str(e)) from None
    body = text.replace(f'"hash":"{hx}",', "", 1).encode("ascii")
    ok = _sha(bytes.fromhex(prev), body).hex() == hx
    return Record(data, ok, segment, line)


def _is_hash(v: object) -> bool:
    if not isinstance(v, str) or len(v) != 64:
        return False
    try:
        bytes.fromhex(v)
    except ValueError:
        return False
    return True


def canonical(obj: dict) -> bytes:
    """The canonical serialisation (used by tests to check `encode`)."""
    return _dumps(obj).encode("ascii")
