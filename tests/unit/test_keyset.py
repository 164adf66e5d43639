"""The compiled key file and key-set digest agree with their pure-Python twin."""

from __future__ import annotations

import random

import pytest

from nikgate.engine import _core, keyset


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 5000])
def test_key_file_agrees_with_the_twin(tmp_path, count):
    rnd = random.Random(count)
    niks = sorted(rnd.sample(range(10**15, 10**16), count))
    path = tmp_path / keyset.KEYS_FILE
    writer = _core.KeyWriter(str(path))
    writer.add_many(niks)
    writer.close()
    assert keyset.read_key_file(path) == niks
    assert writer.count == count
    assert writer.digest == keyset.key_digest(niks)
    kf = _core.KeyFile(str(path))
    assert len(kf) == count
    assert kf.scan(0, count + 1)[1:] == (keyset.key_digest(niks), 0)
    have = set(niks)
    probes = niks + [n + d for n in niks for d in (-1, 1)] + [0, 2**64 - 1, 10**15]
    for nik in probes:
        assert (nik in kf) == keyset.stored(nik, have, {}), nik


def test_digest_is_order_independent_and_incremental():
    niks = [3171000000000000 + i for i in range(1, 200)]
    whole = keyset.key_digest(niks)
    assert keyset.key_digest(reversed(niks)) == whole
    assert (keyset.key_digest(niks[:-1]) + keyset.key_hash(niks[-1])) % keyset.MOD == whole
    assert all(_core.py_key_hash(n) == keyset.key_hash(n) for n in niks)
    # a NIK counted twice does not cancel out (a XOR would)
    assert keyset.key_digest(niks + niks[:1]) != keyset.key_digest(niks[1:])


def test_writer_refuses_keys_out_of_order(tmp_path):
    writer = _core.KeyWriter(str(tmp_path / "k"))
    writer.add_many([5, 3])
    with pytest.raises(ValueError, match="ascending"):
        writer.close()


def test_damaged_key_file_is_refused(tmp_path):
    path = tmp_path / "k"
    keyset.write_key_file(path, [1, 2, 3])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(_core.StoreError, match="damaged"):
        _core.KeyFile(str(path))
