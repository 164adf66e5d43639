"""Which NIKs an index holds, apart from its B-tree: the key file and the key-set digest.

A flipped byte in an LMDB branch or leaf page can make thousands of stored NIKs
unreachable, and a lookup would then answer "not found": for KYC a wrong answer, not a
missing one. So a generation also keeps every NIK it was built with in a sorted key file
(keys.u64, compiled reader in engine/keyfile.pxi), deltas record their changes to that
set in the `delta_keys` table, and the manifest carries the count and a digest of the
whole set. This module is the pure-Python twin of the compiled parts (a test oracle) and
formats the digest for the manifest.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import xxhash

KEYS_FILE = "keys.u64"
MAGIC = b"NIKKEYS1"
HEADER = struct.Struct("<8sQ")
KEYSET_SEED = int.from_bytes(b"nikgate1", "big")
MOD = 1 << 128


def key_hash(nik: int) -> int:
    """xxh3-128 of the NIK as 8 little-endian bytes, seeded: one term of the digest."""
    return xxhash.xxh3_128_intdigest(nik.to_bytes(8, "little"), seed=KEYSET_SEED)


def key_digest(niks: Iterable[int]) -> int:
    """The key-set digest: the sum of key_hash over the set, modulo 2^128.

    Order-independent, so a cursor walk, the key file and a delta apply compute the same
    number, and a delta updates it with one addition or subtraction per NIK."""
    return sum(key_hash(n) for n in niks) % MOD


def digest_hex(value: int) -> str:
    return f"{value % MOD:032x}"


def read_key_file(path: str | Path) -> list[int]:
    """The NIKs of a key file, checked the way the compiled reader checks them."""
    raw = Path(path).read_bytes()
    magic, count = HEADER.unpack_from(raw)
    if magic != MAGIC or len(raw) != HEADER.size + 8 * count:
        raise ValueError(f"{path} is not an intact key file")
    return list(struct.unpack_from(f"<{count}Q", raw, HEADER.size))


def write_key_file(path: str | Path, niks: Iterable[int]) -> None:
    """Write a key file (tests and tools; the build uses the compiled KeyWriter)."""
    keys = sorted(set(niks))
    Path(path).write_bytes(HEADER.pack(MAGIC, len(keys)) + struct.pack(f"<{len(keys)}Q", *keys))


def stored(nik: int, key_file: set[int], delta_keys: Mapping[int, bool]) -> bool:
    """Whether the index holds `nik`: the delta side table wins over the key file."""
    return delta_keys[nik] if nik in delta_keys else nik in key_file
