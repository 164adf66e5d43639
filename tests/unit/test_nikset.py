"""The compiled NikSet against a Python set: same NIKs new, in order, as u64."""

from __future__ import annotations

import random
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from nikgate.engine.nikset import NikSet

NIKS = st.integers(min_value=10**15, max_value=10**16 - 1)


def unpack(packed: bytes) -> list[int]:
    out = array("Q")
    out.frombytes(packed)
    return out.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.tuples(NIKS, st.sampled_from([1, 1, 1, 2, 3]), st.booleans()),
                         max_size=40), max_size=8))
def test_new_niks_match_a_python_set(calls):
    seen = NikSet(10_000)
    reference: set[int] = set()
    for call in calls:
        niks = [str(n) if as_text else n for n, _, as_text in call]
        statuses = bytes(s for _, s, _ in call)
        expected = []
        for (n, s, _) in call:
            if s == 1 and n not in reference:
                reference.add(n)
                expected.append(n)
        assert unpack(seen.add_found(niks, statuses)) == expected
    assert len(seen) == len(reference)


def test_growth_and_the_limit_forget_but_never_lose_a_new_nik():
    rng = random.Random(7)
    niks = rng.sample(range(10**15, 10**16), 50_000)
    seen = NikSet(20_000)
    total = 0
    for i in range(0, len(niks), 1000):
        chunk = niks[i:i + 1000]
        total += len(unpack(seen.add_found(chunk, b"\x01" * len(chunk))))
    assert total == 50_000 and len(seen) <= 20_000
    # after forgetting, a NIK comes back as new: the store behind it dedupes
    again = unpack(seen.add_found(niks[:1000], b"\x01" * 1000))
    assert 0 < len(again) <= 1000


def test_statuses_must_match_the_niks():
    import pytest
    with pytest.raises(ValueError, match="2 statuses for 1 NIKs"):
        NikSet().add_found(["3201014507900001"], b"\x01\x01")
