"""Claim plans: field names, thresholds and the errors they give (issue 10, item 11)."""

import pytest

from nikgate.engine import Field, ItemStatus, Outcome, plan_claims
from nikgate.engine.claims import (
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    canonical_fields,
    explain_bad_claim,
    resolve_field,
)
from nikgate.engine.schema import LOOKUP_FIELDS, VERIFIABLE
from nikgate.errors import InvalidClaimError, InvalidInputError, InvalidNikError
from nikgate.redact import MAX_ECHO, redact

NIK = "3201010101019999"   # valid, not stored in the test index


# -- thresholds ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, 1, MIN_THRESHOLD - 1, MAX_THRESHOLD + 1, -5, 1000])
def test_text_thresholds_outside_the_range_are_refused(bad):
    for thresholds in (bad, {"NAMA_LGKP": bad}):
        with pytest.raises(InvalidInputError) as info:
            plan_claims(["NAMA_LGKP"], thresholds)
        assert info.value.field == "thresholds"
        assert f"{MIN_THRESHOLD}-{MAX_THRESHOLD}" in str(info.value)


@pytest.mark.parametrize("good", [MIN_THRESHOLD, 80, 95, MAX_THRESHOLD])
def test_text_thresholds_in_the_range_apply(good):
    assert plan_claims(["NAMA_LGKP", "TGL_LHR"], good).thresholds == (good, 100)
    assert plan_claims(["ALAMAT"], {"alamat": good}).thresholds == (good,)


@pytest.mark.parametrize("bad", [True, 95.0, "95", None])
def test_thresholds_must_be_whole_numbers(bad):
    with pytest.raises(InvalidInputError, match="whole number") as info:
        plan_claims(["NAMA_LGKP"], {"NAMA_LGKP": bad})
    assert info.value.field == "thresholds"
    if bad is not None:
        with pytest.raises(InvalidInputError, match="whole number"):
            plan_claims(["NAMA_LGKP"], bad)


def test_a_threshold_is_checked_even_for_a_field_not_claimed():
    with pytest.raises(InvalidInputError, match="threshold for ALAMAT"):
        plan_claims(["NAMA_LGKP"], {"ALAMAT": 0})


def test_exact_fields_take_only_threshold_100():
    assert plan_claims(["TGL_LHR"], {"TGL_LHR": 100}).thresholds == (100,)
    with pytest.raises(InvalidInputError, match="TGL_LHR is compared exactly") as info:
        plan_claims(["TGL_LHR"], {"TGL_LHR": 90})
    assert info.value.field == "thresholds"
    # one number for the request applies to free-text fields only
    assert plan_claims(["TGL_LHR", "JENIS_KLMIN"], 60).thresholds == (100, 100)


def test_threshold_zero_no_longer_makes_any_name_match(index):
    with pytest.raises(InvalidInputError, match="below 50 unrelated names match"):
        index.verify(NIK, {"NAMA_LGKP": "X"}, {"NAMA_LGKP": 0})
    with pytest.raises(InvalidInputError):
        index.verify_batch([NIK], {"NAMA_LGKP": ["X"]}, 0)


def test_field_keys_in_a_thresholds_mapping_work():
    assert plan_claims([Field.NAMA_LGKP], {Field.NAMA_LGKP: 90}).thresholds == (90,)


def test_the_plan_cache_is_exact_about_types():
    assert plan_claims(["NAMA_LGKP"], 95).thresholds == (95,)
    with pytest.raises(InvalidInputError, match="whole number"):
        plan_claims(["NAMA_LGKP"], 95.0)
    with pytest.raises(InvalidInputError, match="whole number"):
        plan_claims(["NAMA_LGKP"], {"NAMA_LGKP": 95.0})
    assert plan_claims([Field.NAMA_LGKP]).fields == (Field.NAMA_LGKP,)
    with pytest.raises(InvalidInputError):
        plan_claims([2])   # Field.NAMA_LGKP == 2, but 2 is not a field name


# -- field names --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["nama_lgkp", "Nama_Lgkp", " NAMA_LGKP ", "NAMA_LGKP"])
def test_field_names_are_canonical_whatever_the_case(name):
    assert plan_claims([name]).fields == (Field.NAMA_LGKP,)
    assert canonical_fields([name]) == ("NAMA_LGKP",)
    assert canonical_fields([name], "lookup") == ("NAMA_LGKP",)


def test_canonical_fields_for_access_checks():
    assert canonical_fields(["nama_lgkp", "tgl_lhr"]) == ("NAMA_LGKP", "TGL_LHR")
    assert canonical_fields(["kel_name", "nik"], "lookup") == ("KEL_NAME", "NIK")
    with pytest.raises(InvalidInputError, match="claimed twice"):
        canonical_fields(["NAMA_LGKP", "nama_lgkp"])
    with pytest.raises(InvalidInputError) as info:
        canonical_fields(["KEL_NAME"])          # not verifiable
    assert info.value.field == "claims"
    with pytest.raises(InvalidInputError) as info:
        canonical_fields(["NAMA"], "lookup")
    assert info.value.field == "fields"


def test_lowercase_claims_verify_like_upper_case(index):
    nik = index.sample_niks(1)[0]
    name = index.lookup(nik, ["NAMA_LGKP"])["NAMA_LGKP"]
    r = index.verify(nik, {"nama_lgkp": name.lower()})
    assert r.fields[0].field is Field.NAMA_LGKP and r.fields[0].outcome is Outcome.MATCH


@pytest.mark.parametrize("name", [
    "nama_lgkp\u017f",       # a Unicode letter that upper-cases into ASCII is not a name
    "\u0130D",               # nor is a dotted capital I
    "NAMA LGKP",
])
def test_only_ascii_spellings_resolve(name):
    with pytest.raises(InvalidInputError):
        resolve_field(name, VERIFIABLE, "verified")


@pytest.mark.parametrize("name", [
    "A" * 1_000_000,
    "NIK_3201010507900001",
    "nama\x00\x1b[31m\n" + "B" * 100,
    "x" * 10 + "3201010507900001" + "y" * 40,
])
def test_unknown_field_names_are_echoed_bounded_and_redacted(name):
    with pytest.raises(InvalidInputError) as info:
        plan_claims([name])
    message = str(info.value)
    assert len(message) < 700                 # the list of allowed names is most of it
    assert "3201010507900001" not in message and "\x00" not in message
    assert "\x1b" not in message and "\n" not in message
    assert info.value.field == "claims"       # the request field, not the caller's text
    with pytest.raises(InvalidInputError) as info:
        plan_claims(["NAMA_LGKP"], {name: 90})
    assert info.value.field == "thresholds" and "3201010507900001" not in str(info.value)
    with pytest.raises(InvalidInputError) as info:
        resolve_field(name, LOOKUP_FIELDS, "looked up", request_field="fields")
    assert "3201010507900001" not in str(info.value)


def test_redact():
    assert redact("NAMA") == "NAMA"
    assert redact("A" * 40) == "A" * MAX_ECHO + "…(40 chars)"
    assert redact("NIK 3201010507900001 x") == "NIK ###### x"
    assert redact("12345") == "12345"                       # short numbers are not personal
    assert redact("a\x00b\n") == "a\\x00b\\x0a"
    assert redact("\u200b") == "\\u200b"
    assert redact("x" * 30 + "3201010507900001") == "x" * 30 + "##…(46 chars)"
    assert redact("\uff13\uff12\uff10\uff11\uff10\uff11") == "######"   # full-width digits
    assert redact(12) == "12"


# -- claimed values never appear in messages -----------------------------------------------

@pytest.mark.parametrize("field,value", [
    (Field.TGL_LHR, "1990-02-30"),
    (Field.JENIS_KLMIN, "SECRETVALUE"),
    (Field.NO_KK, "3201012345678"),
    (Field.NO_RT, "SECRETVALUE"),
    (Field.NAMA_LGKP, "SECRETVALUE" * 30),
])
def test_bad_claim_messages_do_not_show_the_value(field, value):
    error = explain_bad_claim(field, value)
    assert isinstance(error, InvalidClaimError) and error.field == field.name
    assert value not in str(error) and "SECRETVALUE" not in str(error)
    assert field.name in str(error)


def test_bad_claims_through_the_index_do_not_show_the_value(index):
    with pytest.raises(InvalidClaimError) as info:
        index.verify(NIK, {"TGL_LHR": "1990-02-30"})
    assert "1990-02-30" not in str(info.value) and "YYYY-MM-DD" in str(info.value)
    result = index.verify_batch([NIK], {"JENIS_KLMIN": ["SECRETVALUE"]})
    assert result[0].status is ItemStatus.INVALID_CLAIM
    assert "SECRETVALUE" not in result[0].problem


# -- empty requests ----------------------------------------------------------------------

def test_no_claims_names_the_claims_field(index):
    with pytest.raises(InvalidInputError, match="at least one claimed field, e.g. NAMA_LGKP") as i:
        plan_claims([])
    assert i.value.field == "claims"
    with pytest.raises(InvalidInputError) as i:
        index.verify(NIK, {})
    assert i.value.field == "claims"


def test_empty_nik_has_reason_empty(index):
    with pytest.raises(InvalidNikError) as info:
        index.verify("", {"NAMA_LGKP": "X"})
    assert info.value.reason == "EMPTY" and info.value.field == "nik"
    assert "empty" in str(info.value)
    result = index.verify_batch(["", NIK], {"NAMA_LGKP": ["X", "X"]})
    assert result[0].status is ItemStatus.INVALID_NIK and "empty" in result[0].problem
    with pytest.raises(InvalidNikError) as info:
        index.lookup("", ["NAMA_LGKP"])
    assert info.value.reason == "EMPTY"


# -- unicode claims through the batch path ---------------------------------------------------

def test_unicode_claims_match_in_single_and_batch_verification(index):
    niks = index.sample_niks(200)
    names = index.lookup_batch(niks, ["NAMA_LGKP"]).values[0]
    pick = [(n, v) for n, v in zip(niks, names) if " " in v and v.isascii()][:20]
    assert pick
    variants = {
        "nbsp": lambda v: v.replace(" ", "\u00a0"),
        "fullwidth": lambda v: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000"
                                       for c in v),
        "zero-width": lambda v: "\u200b".join(v.split(" ", 1)).replace(" ", " \u200d"),
        "combining": lambda v: v.replace("E", "E\u0301").replace("A", "A\u0300"),
    }
    for label, change in variants.items():
        claims = [change(v) for _, v in pick]
        result = index.verify_batch([n for n, _ in pick], {"NAMA_LGKP": claims})
        for (nik, _), claim, item in zip(pick, claims, result):
            assert item.fields[0].outcome is Outcome.MATCH, (label, claim)
            single = index.verify(nik, {"NAMA_LGKP": claim})
            assert single.fields[0].score == item.fields[0].score == 100


def test_the_build_stores_text_in_normal_form(export_csv):
    """Batches score stored bytes as they are (no GIL to normalise them), so both encoders
    store free text in the normal form the scorer compares."""
    import csv

    from nikgate.engine import _core
    from nikgate.engine.record import RowEncoder
    from nikgate.engine.schema import REQUIRED_COLUMNS

    with open(export_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    pick = [rows[0].index(c) for c in REQUIRED_COLUMNS]
    row = [rows[1][i] for i in pick]
    name_col = REQUIRED_COLUMNS.index("NAMA_LGKP")
    plain = list(row)
    plain[name_col] = "BUDI SANTOSO"
    fancy = list(row)
    fancy[name_col] = "\uff22\uff35\uff24\uff29\u00a0SANTOSO\u200d"
    encoder = RowEncoder()
    expected = encoder.encode(plain)
    assert encoder.encode(fancy) == expected
    assert encoder.fast().encode(fancy) == expected == encoder.fast().encode(plain)
    assert _core.py_normal_text(fancy[name_col]) == "BUDI SANTOSO"
