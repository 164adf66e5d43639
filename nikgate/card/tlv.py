"""BER-TLV as smart cards use it: tags of one or two bytes, definite lengths up to 0xFFFF.

Enough for the chip's files, the FCP template and the secure-messaging data objects; no
constructed-tag parsing beyond what callers ask for with `parse` on a value.
"""

from __future__ import annotations

from collections.abc import Iterator


class TlvError(ValueError):
    """Bytes that are not well-formed BER-TLV."""


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    raise TlvError(f"TLV value too long: {n} bytes")


def encode(tag: int, value: bytes) -> bytes:
    """One TLV; `tag` is 1 or 2 bytes (e.g. 0x5F1F)."""
    if tag <= 0xFF and tag & 0x1F == 0x1F or tag > 0xFFFF or (tag > 0xFF and
                                                              tag >> 8 & 0x1F != 0x1F):
        raise TlvError(f"{tag:X} is not a one- or two-byte BER tag")
    t = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    return t + encode_length(len(value)) + bytes(value)


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, value) for each TLV in `data`; raises TlvError on malformed input."""
    i, n = 0, len(data)
    while i < n:
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:                       # two-byte tag
            if i >= n:
                raise TlvError("truncated tag")
            tag = tag << 8 | data[i]
            i += 1
        if i >= n:
            raise TlvError(f"tag {tag:X} without a length")
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            k = first - 0x80
            if i + k > n:
                raise TlvError(f"tag {tag:X}: truncated length")
            length = int.from_bytes(data[i:i + k], "big")
            i += k
        else:
            raise TlvError(f"tag {tag:X}: unsupported length byte {first:02X}")
        if i + length > n:
            raise TlvError(f"tag {tag:X}: value of {length} bytes runs past the end")
        yield tag, bytes(data[i:i + length])
        i += length


def parse(data: bytes) -> dict[int, bytes]:
    """The TLVs of `data` as a dict; a repeated tag is an error."""
    out: dict[int, bytes] = {}
    for tag, value in iter_tlv(data):
        if tag in out:
            raise TlvError(f"tag {tag:X} repeated")
        out[tag] = value
    return out
