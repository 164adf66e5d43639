"""Fingerprint 1:1: template bytes, synthetic fingers, the matcher and its reference twin."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nikgate.errors import InvalidInputError
from nikgate.fingerprint import (
    BIFURCATION,
    DEFAULT_THRESHOLD,
    ENDING,
    LEFT_INDEX,
    MAX_ATTEMPTS,
    MAX_TEMPLATE_BYTES,
    RIGHT_INDEX,
    FingerTemplate,
    Minutia,
    decode_template,
    encode_template,
    match_score,
    prepare,
    reference,
    verify,
)
from nikgate.fingerprint.constants import ANGLE_UNITS, MAX_MINUTIAE
from nikgate.fingerprint.synth import finger_template, live_capture, seed_for

NIK = "3201014507900001"


def people(n: int, start: int = 0) -> list[FingerTemplate]:
    return [finger_template(f"31710000000{k:05d}", RIGHT_INDEX) for k in range(start, start + n)]


# -- template bytes ----------------------------------------------------------------------

def test_round_trip_of_synthetic_templates():
    for finger in (RIGHT_INDEX, LEFT_INDEX):
        t = finger_template(NIK, finger)
        data = encode_template(t)
        assert len(data) == 30 + 6 * len(t.minutiae)
        assert data[:4] == b"FMR\x00" and data[4:8] == b" 20\x00"
        assert decode_template(data) == t
        assert decode_template(memoryview(data)) == t


minutia = st.builds(Minutia, kind=st.sampled_from([0, ENDING, BIFURCATION]),
                    x=st.integers(0, 399), y=st.integers(0, 499),
                    angle=st.integers(0, ANGLE_UNITS - 1), quality=st.integers(0, 100))


@given(st.lists(minutia, max_size=MAX_MINUTIAE), st.integers(0, 10), st.integers(0, 100))
@settings(max_examples=60, deadline=None)
def test_round_trip_of_any_template(minutiae, finger, quality):
    t = FingerTemplate(finger=finger, width=400, height=500, minutiae=tuple(minutiae),
                       quality=quality)
    assert decode_template(encode_template(t)) == t


def test_largest_template_fits_the_bound_and_one_byte_more_is_refused():
    full = FingerTemplate(RIGHT_INDEX, 400, 500,
                          tuple(Minutia(ENDING, k % 400, k % 500, k % 256) for k in range(MAX_MINUTIAE)))
    data = encode_template(full)
    assert len(data) == MAX_TEMPLATE_BYTES
    assert decode_template(data) == full
    with pytest.raises(InvalidInputError, match="over the .*-byte bound"):
        decode_template(data + b"\x00")
    with pytest.raises(InvalidInputError, match="at most 128 minutiae"):
        FingerTemplate(RIGHT_INDEX, 400, 500, full.minutiae + full.minutiae[:1])


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


GOOD = encode_template(FingerTemplate(RIGHT_INDEX, 400, 500, (
    Minutia(ENDING, 10, 20, 30), Minutia(BIFURCATION, 300, 400, 200))))


@pytest.mark.parametrize("data,message", [
    (b"", "shorter than the 30-byte minimum"),
    (GOOD[:-1], "says it is 42 bytes but 41 were read"),
    (b"XMR\x00" + GOOD[4:], "must start with"),
    (GOOD[:4] + b" 30\x00" + GOOD[8:], "version"),
    (_patched(GOOD, 8, ">I", 40), "says it is 40 bytes"),
    (_patched(GOOD, 22, ">B", 2), "exactly 1 finger view"),
    (_patched(GOOD, 20, ">H", 100), "resolutions differ"),
    (_patched(GOOD, 27, ">B", 3), "declares 3 minutiae"),
    (_patched(GOOD, 24, ">B", 11), "finger position must be 0..10"),
    (_patched(GOOD, 26, ">B", 101), "quality must be 0..100"),
    (_patched(GOOD, 16, ">H", 0), "image height must be"),
    (_patched(GOOD, 28, ">H", 3 << 14 | 10), "minutia 1 has type 3"),
    (_patched(GOOD, 34, ">H", 2 << 14 | 400), r"minutia 2 at \(400, 400\) lies outside"),
    (_patched(GOOD, 36, ">H", 1 << 14 | 400), "reserved bits"),
    (_patched(GOOD, 40, ">H", 6), "extended data"),
    (_patched(GOOD, 25, ">B", 0x10), "view number"),
])
def test_malformed_templates_are_refused(data, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        decode_template(data)
    assert caught.value.field == "template"


def test_minutia_values_are_checked_when_built():
    with pytest.raises(InvalidInputError, match="angle must be 0..255"):
        FingerTemplate(RIGHT_INDEX, 400, 500, (Minutia(ENDING, 1, 1, 256),))
    with pytest.raises(InvalidInputError, match="outside the 400x500 image"):
        FingerTemplate(RIGHT_INDEX, 400, 500, (Minutia(ENDING, 400, 1, 0),))


# -- synthetic fingers -------------------------------------------------------------------

def test_synthetic_fingers_are_deterministic_and_plausible():
    assert finger_template(NIK, RIGHT_INDEX) == finger_template(NIK, RIGHT_INDEX)
    assert finger_template(NIK, RIGHT_INDEX) != finger_template(NIK, LEFT_INDEX)
    counts = [len(t.minutiae) for t in people(60)]
    assert min(counts) >= 25 and max(counts) <= 60
    assert 35 <= sum(counts) / len(counts) <= 50
    t = finger_template(NIK)
    assert live_capture(t, 7) == live_capture(t, 7)
    assert live_capture(t, 7) != live_capture(t, 8)


# -- the matcher -------------------------------------------------------------------------

def test_genuine_captures_match_and_impostors_do_not():
    chips = people(40)
    prepared = [prepare(t) for t in chips]
    genuine = [match_score(live_capture(t, seed_for("g", k)), prepared[k])
               for k, t in enumerate(chips)]
    others = people(40, start=1000)
    impostor = [match_score(live_capture(others[k % 40], seed_for("i", k)), prepared[k // 5])
                for k in range(200)]
    assert sum(s >= DEFAULT_THRESHOLD for s in genuine) >= 36, sorted(genuine)
    assert sum(s >= DEFAULT_THRESHOLD for s in impostor) == 0, sorted(impostor)[-5:]
    assert min(genuine) >= 0 and max(genuine) <= 100


def test_a_template_matches_itself_fully():
    t = finger_template(NIK)
    assert match_score(t, t) == 100.0
    assert reference.match_score(t, t) == 100.0


def _moved(t: FingerTemplate, degrees: float, dx: int, dy: int) -> FingerTemplate:
    theta = math.radians(degrees)
    c, s = math.cos(theta), math.sin(theta)
    cx, cy = t.width / 2, t.height / 2
    turn = round(degrees * ANGLE_UNITS / 360)
    moved = []
    for m in t.minutiae:
        x = c * (m.x - cx) - s * (m.y - cy) + cx + dx
        y = s * (m.x - cx) + c * (m.y - cy) + cy + dy
        moved.append(Minutia(m.kind, round(x), round(y), (m.angle + turn) % ANGLE_UNITS))
    # A larger image, so nothing moves off it.
    return FingerTemplate(t.finger, 800, 800, tuple(Minutia(m.kind, m.x + 150, m.y + 150,
                                                            m.angle) for m in moved))


@pytest.mark.parametrize("degrees,dx,dy", [
    (0, 0, 0), (30, 0, 0), (-30, 0, 0), (12, 40, -35), (-22, -40, 25), (5, 3, 90)])
def test_rotation_and_translation_do_not_change_the_score(degrees, dx, dy):
    for t in people(3, start=50):
        assert match_score(_moved(t, degrees, dx, dy), t) >= 90.0
        live = live_capture(t, 3)
        assert match_score(_moved(live, degrees, dx, dy), t) == pytest.approx(
            match_score(live, t), abs=8.0)


def test_a_finger_turned_past_the_rotation_limit_does_not_match():
    t = finger_template(NIK)
    assert match_score(_moved(t, 90, 0, 0), t) < DEFAULT_THRESHOLD


# -- the fast matcher agrees with the reference ------------------------------------------

def test_fast_and_reference_agree_on_synthetic_pairs():
    chips = people(6, start=200)
    others = people(6, start=300)
    for k, t in enumerate(chips):
        for live in (live_capture(t, k), live_capture(others[k], k)):
            expected = reference.match_score(live, t)
            assert match_score(live, t) == expected
            assert match_score(live, prepare(t)) == expected
            assert match_score(prepare(live), prepare(t)) == expected


# Coordinates on a coarse lattice make equal distances and ties frequent, which is where an
# indexed search most easily drifts from the plain one.
lattice_minutia = st.builds(Minutia, kind=st.just(ENDING), x=st.integers(0, 40).map(lambda v: v * 5),
                            y=st.integers(0, 40).map(lambda v: v * 5),
                            angle=st.integers(0, 15).map(lambda v: v * 16))
any_minutia = st.builds(Minutia, kind=st.just(BIFURCATION), x=st.integers(0, 203),
                        y=st.integers(0, 203), angle=st.integers(0, 255))


def _template(minutiae) -> FingerTemplate:
    return FingerTemplate(RIGHT_INDEX, 204, 204, tuple(minutiae))


@given(st.lists(st.one_of(lattice_minutia, any_minutia), max_size=22),
       st.lists(st.one_of(lattice_minutia, any_minutia), max_size=22))
@settings(max_examples=120, deadline=None)
def test_fast_and_reference_agree_on_any_templates(probe, gallery):
    p, g = _template(probe), _template(gallery)
    assert match_score(p, g) == reference.match_score(p, g)


@given(st.lists(any_minutia, min_size=3, max_size=22), st.integers(-40, 40),
       st.integers(-20, 20), st.integers(-20, 20), st.integers(0, 14))
@settings(max_examples=80, deadline=None)
def test_fast_and_reference_agree_on_moved_copies(gallery, degrees, dx, dy, jitter):
    """A moved copy with each minutia pushed up to `jitter` pixels: pairs at every distance
    up to the tolerance, where an index with too small cells would miss some."""
    g = _template(gallery)
    moved = _moved(g, degrees, dx, dy)
    spread = 2 * jitter + 1
    p = FingerTemplate(RIGHT_INDEX, 800, 800, tuple(
        Minutia(m.kind, m.x + (7 * k) % spread - jitter, m.y + (11 * k) % spread - jitter,
                m.angle) for k, m in enumerate(moved.minutiae)))
    assert match_score(p, g) == reference.match_score(p, g)


# -- the policy the card reader uses -----------------------------------------------------

def test_verify_gives_an_outcome_and_refuses_the_chip_template_as_live():
    t = finger_template(NIK)
    outcome = verify(live_capture(t, 1), prepare(t))
    assert outcome.threshold == DEFAULT_THRESHOLD
    assert outcome.matched == (outcome.score >= DEFAULT_THRESHOLD)
    assert not verify(live_capture(finger_template("someone else"), 1), t).matched
    for chip in (t, prepare(t)):
        with pytest.raises(InvalidInputError, match="identical to the chip's template"):
            verify(t, chip)
    shuffled = FingerTemplate(t.finger, t.width, t.height, t.minutiae[::-1])
    with pytest.raises(InvalidInputError, match="identical"):
        verify(shuffled, t)
    with pytest.raises(InvalidInputError, match="threshold must be 0..100"):
        verify(live_capture(t, 1), t, threshold=101)
    assert MAX_ATTEMPTS == 4
