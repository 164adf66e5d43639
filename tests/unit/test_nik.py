"""NIK validation: hand-made hard cases, and the compiled check against the reference."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nikgate.engine import _core, check_nik, decode_nik, reference
from nikgate.engine.nik import REASONS
from nikgate.errors import InvalidNikError

# 32.01.01 = Cibinong, Kabupaten Bogor, Jawa Barat
VALID = [
    ("3201010507900001", "LAKI-LAKI", 5, 7, 90),
    ("3201014507900001", "PEREMPUAN", 5, 7, 90),     # woman: day 05 + 40
    ("3201017112990001", "PEREMPUAN", 31, 12, 99),   # woman born on the 31st: day 71
    ("3201012902000001", "LAKI-LAKI", 29, 2, 0),     # 29 Feb 2000: a leap year
    ("3201016902960001", "PEREMPUAN", 29, 2, 96),    # 29 Feb 1996, a woman
    ("3201014101009999", "PEREMPUAN", 1, 1, 0),
]


@pytest.mark.parametrize("nik,sex,day,month,yy", VALID)
def test_valid_niks_decode(nik, sex, day, month, yy):
    parts = decode_nik(nik)
    assert (parts.sex, parts.birth_day, parts.birth_month, parts.birth_year_2digit) == (
        sex, day, month, yy)
    assert parts.province == "Jawa Barat"
    assert parts.regency == "Kabupaten Bogor"
    assert parts.district_code == "32.01.01"


INVALID = [
    ("320101050790001", "LENGTH", "got 15"),
    ("32010105079000011", "LENGTH", "got 17"),
    ("", "EMPTY", "NIK is empty"),
    (" 3201010507900001", "WHITESPACE", "whitespace"),
    ("3201010507900001 ", "WHITESPACE", "whitespace"),
    ("3201010507900001\n", "WHITESPACE", "whitespace"),
    ("３２０１010507900001", "FULLWIDTH_DIGIT", "character 1 is a full-width"),
    ("32010105079０0001", "FULLWIDTH_DIGIT", "character 12"),
    ("3201-01-05079000", "NON_DIGIT", "character 5 is '-'"),
    ("32010105079O0001", "NON_DIGIT", "'O'"),
    ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "NON_DIGIT", "character 1"),  # Arabic-Indic digits are not ASCII
    ("9901010507900001", "UNKNOWN_PROVINCE", "province code 99"),
    ("1001010507900001", "UNKNOWN_PROVINCE", "province code 10"),
    ("3299010507900001", "UNKNOWN_REGENCY", "32.99"),
    ("3201990507900001", "UNKNOWN_DISTRICT", "32.01.99"),
    ("3201012902010001", "BAD_DATE", "not a leap year"),     # 29 Feb in 1901 / 2001
    ("3201016902970001", "BAD_DATE", "not a leap year"),     # a woman's 29 Feb 97
    ("3201013202900001", "BAD_DATE", "day 32"),
    ("3201013502900001", "BAD_DATE", "not a real date"),     # 35: neither man nor woman
    ("3201014002900001", "BAD_DATE", "not a real date"),     # 40 = woman's day 0
    ("3201017202900001", "BAD_DATE", "day 72 - 40 = 32"),
    ("3201013104900001", "BAD_DATE", "day 31 does not exist in month 04"),
    ("3201010513900001", "BAD_DATE", "month 13"),
    ("3201010500900001", "BAD_DATE", "month 00"),
    ("3201010507900000", "ZERO_SERIAL", "0000"),
]


@pytest.mark.parametrize("text,reason,fragment", INVALID)
def test_invalid_niks_name_their_reason(text, reason, fragment):
    with pytest.raises(InvalidNikError) as info:
        check_nik(text)
    assert info.value.reason == reason
    assert fragment in str(info.value)


def test_each_reason_has_its_own_message():
    messages = {}
    for text, reason, _ in INVALID:
        with pytest.raises(InvalidNikError) as info:
            check_nik(text)
        messages.setdefault(reason, str(info.value))
    assert len(set(messages.values())) == len(messages) == len(REASONS)


# Strings built from NIK-like pieces hit the interesting branches far more often than
# arbitrary text does.
_district = st.sampled_from(["320101", "310101", "510101", "999999", "320199", "110101"])
_day = st.integers(0, 80).map(lambda d: f"{d:02d}")
_month = st.integers(0, 14).map(lambda m: f"{m:02d}")
_yy = st.integers(0, 99).map(lambda y: f"{y:02d}")
_serial = st.integers(0, 9999).map(lambda s: f"{s:04d}")
nik_like = st.builds(lambda a, b, c, d, e: a + b + c + d + e, _district, _day, _month, _yy,
                     _serial)
noisy = st.one_of(
    nik_like,
    nik_like.map(lambda s: " " + s),
    nik_like.map(lambda s: s[:-1]),
    nik_like.map(lambda s: s + "7"),
    st.builds(lambda s, i, c: s[:i] + c + s[i + 1:], nik_like, st.integers(0, 15),
              st.sampled_from(["x", "０", "٣", "-", " ", "é"])),
    st.text(max_size=20),
    st.just(""),
)


@settings(max_examples=3000, deadline=None)
@given(noisy)
def test_compiled_check_agrees_with_reference(text):
    reason, value, _ = _core.py_nik_parse(text)
    assert reason == reference.nik_reason(text)
    if reason == 0:
        assert value == int(text)


def test_empty_nik_has_its_own_reason_in_batches_too():
    # The batch check and the single check share nik_parse: "" is EMPTY, not LENGTH 0.
    assert _core.py_nik_parse("") == (10, 0, 0)
    assert REASONS[10] == "EMPTY"
    assert reference.nik_reason("") == 10
