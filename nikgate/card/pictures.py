"""Small synthetic images for the chip: a face-like photo and a signature, as PNG bytes.

Nobody's likeness: a deterministic pattern seeded from the NIK, only so that EF 6FF2 and
EF 6FF3 hold real, viewable images of a realistic size (a few kilobytes together).
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
import zlib


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + row for row in rows)          # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)   # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _rng(seed: str, what: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{what}:{seed}".encode()).digest())


def photo_png(seed: str, width: int = 48, height: int = 64) -> bytes:
    """A grey head-and-shoulders silhouette with seeded noise."""
    rng = _rng(seed, "photo")
    tone = rng.randint(90, 170)
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            head = ((x - width / 2) / (width * 0.22)) ** 2 + ((y - height * 0.38) /
                                                               (height * 0.24)) ** 2 <= 1
            body = y > height * 0.68 and abs(x - width / 2) < width * (0.2 + (y / height - 0.68))
            base = tone if head or body else 225
            row.append(max(0, min(255, base + rng.randint(-12, 12))))
        rows.append(bytes(row))
    return _png(width, height, rows)


def signature_png(seed: str, width: int = 96, height: int = 32) -> bytes:
    """A seeded squiggle on white."""
    rng = _rng(seed, "signature")
    pixels = [bytearray(b"\xff" * width) for _ in range(height)]
    a, f, p = rng.uniform(5, 10), rng.uniform(0.15, 0.35), rng.uniform(0, math.pi)
    for x in range(4, width - 4):
        y = int(height / 2 + a * math.sin(f * x + p) * math.cos(0.05 * x))
        for dy in (0, 1):
            if 0 <= y + dy < height:
                pixels[y + dy][x] = 20
    return _png(width, height, [bytes(r) for r in pixels])
