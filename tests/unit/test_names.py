"""Name, place and address scoring: hand cases and compiled-vs-reference agreement."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nikgate.engine import TextKind, _core, names, text_score

P, PL, A = TextKind.PERSON, TextKind.PLACE, TextKind.ADDRESS

SAME = [  # (stored, claimed): legitimate variants score 100
    ("BUDI SANTOSO", "budi santoso"),
    ("BUDI SANTOSO", "  Budi   Santoso. "),
    ("DR. IR. H. BUDI SANTOSO, M.M.", "Budi Santoso"),
    ("ANDI SETIAWAN, S.KOM", "ANDI SETIAWAN"),
    ("ANDI SETIAWAN S.KOM", "Andi Setiawan"),
    ("HJ. SITI AMINAH", "SITI AMINAH"),
    ("MUHAMMAD RIZKI", "M. Rizki"),
    ("MUHAMMAD RIZKI", "Moh. Rizki"),
    ("MUHAMMAD RIZKI", "MUHAMAD RIZKI"),
    ("MOCHAMMAD RIZKI", "Mohammad Rizki"),
    ("NUR HALIZA", "NURHALIZA"),
    ("ROBERT SIMANJUNTAK", "SIMANJUNTAK ROBERT"),
    ("SOEHARTO", "SUHARTO"),
    ("DJOKO TJAHJONO", "JOKO CAHJONO"),
    ("ACHMAD FAUZI", "AHMAD FAUZI"),
    ("ABDULLAH", "ABDULAH"),
    ("HENDRY", "HENDRI"),
    ("MA'RUF AMIN", "MARUF AMIN"),
    ("ABD. ROHMAN", "ABDUL ROHMAN"),
    ("JOSÉ RAMOS", "JOSE RAMOS"),
]


@pytest.mark.parametrize("stored,claimed", SAME)
def test_variants_score_100(stored, claimed):
    assert text_score(stored, claimed, P) == 100
    assert names.score(stored, claimed, P) == 100


DIFFERENT = [  # different people stay below the default name threshold (100) by a margin
    ("BUDI SANTOSO", "BUDI SETIAWAN", 60),
    ("AHMAD FAUZI", "AHMAD FAUZI RAHMAN", 85),
    ("SITI AMINAH", "SITI AMINATUN", 95),
    ("I WAYAN SUDARTA", "I MADE SUDARTA", 95),
    ("SUPARMAN", "SUPARMIN", 95),
    ("BUDI SANTOSO", "", 1),
]


@pytest.mark.parametrize("stored,claimed,below", DIFFERENT)
def test_different_people_score_low(stored, claimed, below):
    assert text_score(stored, claimed, P) < below


def test_initial_and_typo_score_between():
    initial = text_score("BUDI SANTOSO", "B. SANTOSO", P)
    typo = text_score("SUSILOWATI", "SUSILAWATI", P)
    assert 90 <= initial < 100
    assert 85 <= typo < 100


def test_place_and_address_rules():
    assert text_score("BOGOR", "Kab. Bogor", PL) == 100
    assert text_score("JAKARTA SELATAN", "Kota Adm. Jakarta Selatan", PL) == 100
    assert text_score("JL. MERDEKA NO. 12", "Jalan Merdeka Nomor 12", A) == 100
    assert text_score("GG. MAWAR III", "GANG MAWAR III", A) == 100
    # digits never fold: house 11 is not house 1
    assert text_score("JL. MERDEKA NO. 11", "JL. MERDEKA NO. 1", A) < 95
    # the person rule does not know street abbreviations
    assert text_score("JL. MERDEKA", "JALAN MERDEKA", P) < 100


def test_degrees_are_only_stripped_when_a_name_remains():
    assert names.tokens("S.H.", P) == [b"S", b"H"]
    assert names.tokens("H.", P) == [b"H"]


UNICODE_SAME = [  # (stored, claimed, kind): what a keyboard or a copy-paste adds, scores 100
    ("BUDI SANTOSO", "BUDI\u00a0SANTOSO", P),                  # no-break space
    ("BUDI SANTOSO", "\uff22\uff35\uff24\uff29\u3000\uff33\uff21\uff2e\uff34\uff2f\uff33\uff2f", P),
    ("BUDI SANTOSO", "\uff42\uff55\uff44\uff49 santoso", P),   # full-width lower case
    ("JOSE RAMOS", "JOSE\u0301 RAMOS", P),                    # combining acute: E + ' = E
    ("NUR HALIZA", "N\u0308UR HALIZA", P),                    # a stray mark with no precomposed form
    ("BUDI SANTOSO", "BU\u200bDI SANTOSO", P),                # zero-width space
    ("BUDI SANTOSO", "BUDI\u200c SAN\u200dTOSO", P),          # zero-width non-joiner / joiner
    ("BUDI SANTOSO", "\ufeffBUDI SANTOSO\u2060", P),          # BOM, word joiner
    ("SITI AMINAH", "Hj.\u00a0\uff33\uff49\uff54\uff49\u2009Aminah\u200b", P),  # mixed
    ("MUHAMMAD RIZKI", "\uff2d.\u00a0Rizki", P),               # full-width initial of Muhammad
    ("BOGOR", "Kab.\u00a0Bogor", PL),
    ("JL. MERDEKA NO. 12", "Jl.\u00a0Merdeka No.\u00a0\uff11\uff12", A),  # full-width digits
]


@pytest.mark.parametrize("stored,claimed,kind", UNICODE_SAME)
def test_unicode_variants_score_100_in_core_and_reference(stored, claimed, kind):
    assert text_score(stored, claimed, kind) == 100
    assert names.score(stored, claimed, kind) == 100
    assert text_score(claimed, stored, kind) == 100   # the stored side is normalised too


def test_normal_form_agrees_and_ascii_is_untouched():
    for text in ("BUDI SANTOSO", "", "budi, S.H."):
        assert _core.py_normal_text(text) is text
        assert names.normalize(text) is text
    for _, claimed, _ in UNICODE_SAME:
        assert _core.py_normal_text(claimed) == names.normalize(claimed)
        assert "\u200b" not in names.normalize(claimed)
    assert names.normalize("FRANKY\u200bHARYANTO") == "FRANKY HARYANTO"
    assert names.normalize("JOS\u00c9") == "JOS\u00c9"   # precomposed Latin-1 stays (it folds)
    # a normal form that would not fit 255 bytes is not used: the text is scored as sent
    wide = "\ufdfa" * 80   # one character that NFKC expands to 18
    assert names.normalize(wide) == wide == _core.py_normal_text(wide)


def test_length_limit_applies_to_the_text_as_sent():
    nbsp = "A\u00a0" * 100   # 300 bytes as sent, 200 once normalised
    with pytest.raises(ValueError):
        _core.py_text_score(nbsp, "A", 0)


NAME_BITS = ["MUHAMMAD", "M.", "MOH", "NUR", "HALIZA", "SITI", "H.", "HJ", "DR", "S.KOM",
             "M.M", "OE", "DJOKO", "TJ", "CH", "KH", "Y", "ABD", "JL", "GG", "NO", "KAB.",
             "KOTA", ",", "'", "’", "é", "ß", "×", "日本", "  ", "-", ".", "I", "A", "12",
             "11", "AA", "Q", "SJ", "NJ",
             # what NFKC and the invisible-mark rule see: NBSP, full-width, combining marks,
             # zero-width space / joiners, BOM, ligatures, ideographic space, soft hyphen
             "\u00a0", "\uff22\uff35\uff24\uff29", "\uff41", "\uff10\uff19", "E\u0301",
             "\u0301", "N\u0308", "\u200b", "\u200c", "\u200d", "\ufeff", "\ufb01",
             "\u3000", "\u00ad", "\u2009", "\u00aa", "\u00b2", "BU\u200bDI"]
unicode_bits = st.sampled_from(["\u00a0", "\u200b", "\u200c", "\u200d", "\u0301",
                                "\u0308", "\uff21", "\uff4d", "\u3000", "\ufeff", "\u00ad"])
mixed = st.lists(st.one_of(st.sampled_from(NAME_BITS), unicode_bits), max_size=14).map(
    "".join)
name_like = st.lists(st.sampled_from(NAME_BITS), max_size=14).map(" ".join)
any_text = st.one_of(name_like, mixed, st.text(max_size=60),
                     st.text(alphabet="ABCDEHIJKMNOSTUY .,'", max_size=40))


@settings(max_examples=4000, deadline=None)
@given(any_text, any_text, st.sampled_from([P, PL, A]))
def test_compiled_scorer_agrees_with_reference(stored, claimed, kind):
    if len(stored.encode()) > 255 or len(claimed.encode()) > 255:
        return
    assert _core.py_normal_text(claimed) == names.normalize(claimed)
    assert _core.py_text_tokens(claimed, int(kind)) == names.tokens(claimed, kind)
    assert _core.py_text_score(stored, claimed, int(kind)) == names.score(stored, claimed, kind)
    # bytes (how the stored side reaches the scorer) are normalised the same way
    assert _core.py_text_tokens(claimed.encode(), int(kind)) == names.tokens(claimed.encode(), kind)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=255).filter(lambda s: len(s.encode()) <= 255))
def test_score_is_within_bounds_and_identity_is_100_when_tokens_exist(text):
    for kind in (P, PL, A):
        s = _core.py_text_score(text, text, int(kind))
        assert s == (100 if names.tokens(text, kind) else 0)


def test_long_adversarial_texts_do_not_break_the_core():
    worst = " ".join(["A"] * 127)   # 128 tokens of one byte, 253 bytes
    other = " ".join(["B"] * 127)
    assert _core.py_text_score(worst, other, 0) == names.score(worst, other, P)
    with pytest.raises(ValueError):
        _core.py_text_score("A" * 256, "A", 0)
