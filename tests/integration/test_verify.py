"""Verification and lookup over a real index: the compiled core against the reference."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nikgate.engine import Field, ItemStatus, NikIndex, Outcome, plan_claims, reference
from nikgate.engine.record import Tokens, decode
from nikgate.engine.schema import VERIFIABLE
from nikgate.errors import (
    CorruptRecordError,
    IndexFormatError,
    IndexMissingError,
    InvalidClaimError,
    InvalidInputError,
    InvalidNikError,
)

ALL_CLAIMABLE = [f.name for f in VERIFIABLE]


@pytest.fixture(scope="session")
def people(index):
    """(NIK, all stored fields as lookup strings) for a spread of stored people."""
    niks = index.sample_niks(4000)
    sample = niks[::25]
    rows = index.lookup_batch(sample, [f.name for f in Field])
    return [(nik, rows.item(i)) for i, nik in enumerate(sample)]


def test_lookup_returns_only_the_requested_fields(index, people):
    nik, person = people[0]
    got = index.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "KAB_NAME"])
    assert list(got) == ["NAMA_LGKP", "TGL_LHR", "KAB_NAME"]
    assert got["NAMA_LGKP"] == person["NAMA_LGKP"]
    assert got["KAB_NAME"] and got["KAB_NAME"] == person["KAB_NAME"]


def test_lookup_unknown_nik_is_none_and_bad_field_is_refused(index, people):
    assert index.lookup("3201010101019999", ["NAMA_LGKP"]) is None
    with pytest.raises(InvalidInputError, match="'NAMA' is not a field"):
        index.lookup(people[0][0], ["NAMA"])


def test_exact_claims_of_a_stored_person_all_match(index, people):
    for nik, p in people[:50]:
        claims = {k: p[k] for k in ("NAMA_LGKP", "TGL_LHR", "JENIS_KLMIN", "TMPT_LHR",
                                    "NO_KK", "ALAMAT", "AGAMA", "NO_KEL")}
        result = index.verify(nik, claims)
        assert result.found and result.all_match, (nik, result)
        assert result.life_status in ("HIDUP", "MATI")


def test_name_variants_match_and_other_people_do_not(index, people):
    nik, p = next((n, p) for n, p in people if len(p["NAMA_LGKP"].split()) >= 2)
    name = p["NAMA_LGKP"]
    for variant in (name.lower(), f"  {name.title()}. ", "H. " + name,
                    " ".join(reversed(name.split()))):
        r = index.verify(nik, {"NAMA_LGKP": variant})
        assert r.fields[0].outcome is Outcome.MATCH, (name, variant, r)
    other = next(q["NAMA_LGKP"] for _, q in people if q["NAMA_LGKP"] != name)
    r = index.verify(nik, {"NAMA_LGKP": other})
    assert r.fields[0].outcome is Outcome.NO_MATCH and r.fields[0].score < 100


def test_threshold_moves_the_decision(index, people):
    nik, p = next((n, p) for n, p in people if len(p["NAMA_LGKP"].split()[0]) > 3)
    first, *rest = p["NAMA_LGKP"].split()
    initial = " ".join([first[0] + "."] + rest) if rest else first[:-1]
    strict = index.verify(nik, {"NAMA_LGKP": initial})
    assert strict.fields[0].outcome is Outcome.NO_MATCH
    loose = index.verify(nik, {"NAMA_LGKP": initial}, thresholds=strict.fields[0].score)
    assert loose.fields[0].outcome is Outcome.MATCH
    assert loose.fields[0].threshold == strict.fields[0].score


def test_unknown_nik_is_a_result_and_bad_input_raises(index):
    r = index.verify("3201010101019999", {"NAMA_LGKP": "X"})
    assert r.status is ItemStatus.NOT_FOUND and not r.found
    with pytest.raises(InvalidNikError, match="16 digits, got 15"):
        index.verify("320101010101999", {"NAMA_LGKP": "X"})
    with pytest.raises(InvalidClaimError, match="TGL_LHR is not a real date"):
        index.verify("3201010101019999", {"TGL_LHR": "1990-02-30"})
    with pytest.raises(InvalidClaimError, match="JENIS_KLMIN is not one of"):
        index.verify("3201010101019999", {"JENIS_KLMIN": "X"})
    with pytest.raises(InvalidInputError, match="no claimed fields"):
        index.verify("3201010101019999", {})
    with pytest.raises(InvalidInputError, match="threshold for NAMA_LGKP must be 50-100"):
        index.verify("3201010101019999", {"NAMA_LGKP": "X"}, {"NAMA_LGKP": 101})


def test_one_bad_item_never_fails_its_batch(index, people):
    good = people[0][0]
    result = index.verify_batch(
        [good, "12345", good, "3201010101019999"],
        {"NAMA_LGKP": [people[0][1]["NAMA_LGKP"], "X", "Y", "Z"],
         "TGL_LHR": [None, None, "not a date", None]})
    assert [s.name for s in (r.status for r in result)] == [
        "FOUND", "INVALID_NIK", "INVALID_CLAIM", "NOT_FOUND"]
    assert result[0].all_match
    assert "16 digits" in result[1].problem
    assert "TGL_LHR" in result[2].problem


def _mutations(value: str, rng: random.Random) -> list[str | None]:
    out: list[str | None] = [value, None, "", value.lower(), value + " X", value[:-1],
                             " " + value, "H. " + value]
    if value:
        i = rng.randrange(len(value))
        out.append(value[:i] + rng.choice("AIUEOXY19-. ") + value[i + 1:])
    return out


claim_text = st.one_of(st.none(), st.text(max_size=40),
                       st.sampled_from(["1990-01-01", "2000-02-29", "1999-02-29", "L", "P",
                                        "laki-laki", " ISLAM ", "WNI", "3", "003", "32",
                                        "2001", "12345678901234567", "x" * 300]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_verification_agrees_with_reference(index, people, data):
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    fields = data.draw(st.lists(st.sampled_from(ALL_CLAIMABLE), min_size=1, max_size=6,
                                unique=True))
    threshold = data.draw(st.one_of(st.none(), st.integers(50, 100)))
    plan = plan_claims(fields, threshold)
    niks, columns = [], {f: [] for f in fields}
    for _ in range(30):
        kind = rng.random()
        nik, person = rng.choice(people)
        if kind < 0.1:
            nik = nik[:-4] + "9999" if rng.random() < 0.5 else nik[:-1]
        elif kind < 0.15:
            nik = data.draw(st.text(max_size=18))
        niks.append(nik)
        for f in fields:
            if rng.random() < 0.7:
                columns[f].append(rng.choice(_mutations(person[f] or "", rng)))
            else:
                columns[f].append(data.draw(claim_text))
    result = index.verify_batch(niks, columns, threshold)
    tokens = Tokens(index.dictionary.blob())
    for i, nik in enumerate(niks):
        key = int(nik) if nik.isascii() and nik.isdigit() and len(nik) == 16 else None
        stored = index.raw(key) if key else None
        claims = {Field[f]: columns[f][i] for f in fields}
        status, life, card, outcomes = reference.verify_one(nik, stored, plan, claims, tokens)
        item = result[i]
        assert item.status is status, (nik, claims)
        if status is ItemStatus.FOUND:
            assert (item.life_status, item.card_status) == (
                [None, "HIDUP", "MATI"][life], [None, "AKTIF", "DIGANTI", "DIBLOKIR"][card])
            assert [(r.outcome, r.score) for r in item.fields] == outcomes, (nik, claims)


def test_two_threads_get_the_same_answers_as_one(index, people):
    niks = [n for n, _ in people] * 20
    names = [p["NAMA_LGKP"].lower() for _, p in people] * 20
    expected = index.verify_batch(niks, {"NAMA_LGKP": names})
    results = [None, None]

    def work(k):
        for _ in range(20):
            results[k] = index.verify_batch(niks, {"NAMA_LGKP": names})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert r.status == expected.status and r.scores == expected.scores


def _flip_one_byte_of(index_dir, nik: int) -> None:
    with NikIndex.open(index_dir) as idx:
        value = idx.raw(nik)
        data_file = idx.generation / "data.mdb"
    blob = bytearray(data_file.read_bytes())
    at = blob.find(value)
    assert at >= 0 and blob.find(value, at + 1) < 0
    blob[at + 20] ^= 0x01  # the name's first token id (after a 19-byte header and its length)
    data_file.write_bytes(bytes(blob))


def test_a_flipped_byte_is_a_corruption_error_never_wrong_data(index_copy, people):
    victim, person = people[3]
    other, other_person = people[4]
    _flip_one_byte_of(index_copy, int(victim))
    with NikIndex.open(index_copy) as idx:
        with pytest.raises(CorruptRecordError, match="failed its checksum"):
            idx.verify(victim, {"NAMA_LGKP": person["NAMA_LGKP"]})
        with pytest.raises(CorruptRecordError):
            idx.lookup(victim, ["NAMA_LGKP"])
        batch = idx.verify_batch([victim, other], {"NAMA_LGKP": [person["NAMA_LGKP"],
                                                                 other_person["NAMA_LGKP"]]})
        assert batch[0].status is ItemStatus.CORRUPT
        assert batch[1].status is ItemStatus.FOUND and batch[1].all_match
        looked = idx.lookup_batch([victim, other], ["NAMA_LGKP"])
        assert looked.status[0] == ItemStatus.CORRUPT and looked.values[0][0] is None


def test_reference_checksum_also_catches_the_flip(index_copy, people):
    from nikgate.engine.record import checksum_ok

    victim = int(people[5][0])
    _flip_one_byte_of(index_copy, victim)
    with NikIndex.open(index_copy) as idx:
        assert not checksum_ok(victim, idx.raw(victim))


def test_an_unknown_format_version_is_refused(index_copy):
    import json

    from nikgate.engine import _core
    from nikgate.engine.layout import MANIFEST_KEY, current_generation

    env = _core.Env(str(current_generation(index_copy)), readonly=False)
    manifest = json.loads(env.get_meta(MANIFEST_KEY))
    manifest["format_version"] = 99
    txn = env.begin_write()
    txn.put_meta(MANIFEST_KEY, json.dumps(manifest).encode())
    txn.commit()
    env.close()
    with pytest.raises(IndexFormatError, match="format version 99; this nikgate reads version 3"):
        NikIndex.open(index_copy)


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissingError, match="nikgate index build"):
        NikIndex.open(tmp_path / "nothing")


def test_decode_roundtrip_matches_lookup(index, people):
    nik, person = people[7]
    record = decode(int(nik), index.raw(int(nik)), Tokens(index.dictionary.blob()))
    assert record[Field.NAMA_LGKP].decode() == person["NAMA_LGKP"]
    assert f"{record[Field.NO_KK]:016d}" == person["NO_KK"]


def test_an_index_of_the_old_key_format_is_refused_clearly(tmp_path):
    import lmdb

    gen = tmp_path / "idx" / "generations" / "old"
    gen.mkdir(parents=True)
    (tmp_path / "idx" / "current").symlink_to("generations/old")
    env = lmdb.open(str(gen), max_dbs=4)
    records = env.open_db(b"records")  # format 1: big-endian byte keys, no INTEGERKEY
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put((3201010507900001).to_bytes(8, "big"), b"x" * 60, db=records)
        txn.put(b"manifest", b'{"format_version": 1, "record_count": 1}', db=meta)
    env.close()
    with pytest.raises(IndexFormatError, match="another format; this nikgate reads version 3"):
        NikIndex.open(tmp_path / "idx")
