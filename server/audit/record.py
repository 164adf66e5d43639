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

import functools
import hashlib
import json
from typing import Any

FORMAT = 2   # 2: nik_refs and item_results in base64 (1 had hex)
GENESIS = "0" * 64

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_string = json.encoder.encode_basestring_ascii   # json's own C string encoder


def _json(value: Any) -> str:
    """One member value exactly as `_dumps` writes it (str, int, bool, None, lists)."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if kind in (list, tuple):
        return "[" + ",".join(map(_json, value)) + "]"
    if value is None:
        return "null"
    raise TypeError(f"audit records hold str, int, bool, None and lists, not {kind.__name__}")


def encode(fields: dict[str, Any], blobs: dict[str, bytes], seq: int,
           prev: str, prev_raw: bytes) -> tuple[list[bytes], str, bytes]:
    """(line pieces ending with the newline, hash hex, hash bytes) for a record chained
    after `prev`. `blobs` are ASCII members that need no JSON escaping (base64), put in as is.

    Members are written in sorted key order one by one (json's sorted dump of a whole dict
    plus cutting it up cost about twice as much per record); the result is byte for byte
    what `canonical` gives, which the tests check. Records repeat a few shapes (the same
    member names), so each shape's order and member prefixes are worked out once.
    """
    members = {**fields, "seq": seq, "prev": prev}
    before: list[bytes] = []   # members sorting before "hash"
    after: list[bytes] = []
    for name, prefix, is_blob, early in _order(tuple(members), tuple(blobs)):
        if is_blob:
            piece = prefix + blobs[name] + b'"'
        else:
            piece = prefix + _json(members[name]).encode("ascii")
        (before if early else after).append(piece)
    head = b"{" + b",".join(before) + b"," if before else b"{"
    tail = b",".join(after) + b"}"
    # the hash member and its comma are left out of the hashed body
    h = hashlib.sha256(prev_raw)
    h.update(head)
    h.update(tail)
    digest = h.digest()
    hx = digest.hex()
    return [head, b'"hash":"%s",' % hx.encode(), tail, b"\n"], hx, digest


@functools.lru_cache(maxsize=256)
def _order(names: tuple[str, ...], blob_names: tuple[str, ...]
           ) -> tuple[tuple[str, bytes, bool, bool], ...]:
    """(name, its JSON prefix, whether a blob, whether it sorts before "hash") per member,
    in sorted order."""
    blobs = set(blob_names)
    return tuple(
        (name, (b'"%s":"' if name in blobs else b'"%s":') % name.encode("ascii"),
         name in blobs, name < "hash")
        for name in sorted((*names, *blob_names)))


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
