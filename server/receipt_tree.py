"""The Merkle tree that lets one Ed25519 signature cover a group of receipts.

The tree is RFC 9162's (Certificate Transparency v2, section 2.1.1), with SHA-256: a leaf
is SHA-256(0x00 || payload), an inner node SHA-256(0x01 || left || right); the prefixes
keep a leaf from ever passing for a node. It is built bottom-up: each level pairs its
nodes left to right, and an odd last node moves up unchanged (no sibling, no path entry).
That gives exactly RFC 9162's tree hash (split at the largest power of two below n), and a
verifier needs nothing but the leaf's index, the leaf count and the sibling hashes.

A receipt's audit path lists the siblings from the leaf upwards. At each level, bit 0 of
the (shifted) index says where the sibling is: 1, on the left; 0, on the right, unless
the node is the level's odd last one, which has none. docs/api.md ("Receipts") states the
same for clients in other languages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(payload: bytes) -> bytes:
    return hashlib.sha256(_LEAF + payload).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def build(payloads: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The tree's root over these payloads (in order) and each payload's audit path."""
    if len(payloads) == 1:   # the usual group: a call answered alone
        return leaf_hash(payloads[0]), [[]]
    if not payloads:
        raise ValueError("a receipt tree needs at least one leaf")
    level = [leaf_hash(p) for p in payloads]
    levels = [level]
    while len(level) > 1:
        up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            up.append(level[-1])
        levels.append(up)
        level = up
    paths = []
    for index in range(len(payloads)):
        path = []
        for nodes in levels[:-1]:
            sibling = index ^ 1
            if sibling < len(nodes):
                path.append(nodes[sibling])
            index >>= 1
        paths.append(path)
    return level[0], paths


def root_of(payload: bytes, index: int, count: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `payload` at `index` of `count` leaves leads to along `path`, or None
    when the path cannot be one of such a tree (wrong length, index out of range)."""
    if not 0 <= index < count or any(len(h) != 32 for h in path):
        return None
    node, width, used = leaf_hash(payload), count, 0
    while width > 1:
        if index & 1 or index + 1 < width:
            if used == len(path):
                return None
            sibling = path[used]
            used += 1
            node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
        index >>= 1
        width = (width + 1) >> 1
    return node if used == len(path) else None
