"""The receipt tree against RFC 9162's own definitions (recursive tree hash, section
2.1.1, and its inclusion-proof verification, 2.1.3.2) as a reference twin."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nikgate.server import receipt_tree


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH: split at the largest power of two smaller than n."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _rfc_verify(payload: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + payload).digest()
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70))
def test_root_and_paths_are_rfc_9162s(payloads):
    root, paths = receipt_tree.build(payloads)
    assert root == _mth(payloads)
    for i, (payload, path) in enumerate(zip(payloads, paths, strict=True)):
        assert receipt_tree.root_of(payload, i, len(payloads), path) == root
        assert _rfc_verify(payload, i, len(payloads), path, root)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 256])
def test_any_change_breaks_the_path(n):
    payloads = [f"receipt {i}".encode() for i in range(n)]
    root, paths = receipt_tree.build(payloads)
    assert paths[0] == [] if n == 1 else len(paths[0]) >= 1
    for i in range(n):
        path = paths[i]
        assert receipt_tree.root_of(payloads[i] + b"x", i, n, path) != root
        assert receipt_tree.root_of(payloads[i], n, n, path) is None
        if n > 1:
            assert receipt_tree.root_of(payloads[i], (i + 1) % n, n, path) != root
            assert receipt_tree.root_of(payloads[i], i, n, path[:-1]) is None
            assert receipt_tree.root_of(payloads[i], i, n, [*path, root]) is None
            bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
            assert receipt_tree.root_of(payloads[i], i, n, bent) != root
