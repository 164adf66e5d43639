"""Tests of the synthetic export and delta generator (nikgate.synth)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

import pytest

from nikgate.engine import schema
from nikgate.regions import load_regions
from nikgate.synth import export, write_delta, write_export
from nikgate.synth.export import district_quotas
from nikgate.synth.serials import BASE_MAX_SERIAL, KkSerials, NikSerials

BASE_ROWS = 20_000
DELTA_ROWS = 1_000


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "base.csv"
    assert write_export(path, BASE_ROWS, seed=42) == BASE_ROWS
    return path


@pytest.fixture(scope="module")
def base(base_path):
    with open(base_path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def delta_path(base_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "delta.csv"
    assert write_delta(base_path, path, DELTA_ROWS, seed=7) == DELTA_ROWS
    return path


@pytest.fixture(scope="module")
def delta(delta_path):
    with open(delta_path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _export(records: int, seed: int) -> str:
    buf = io.StringIO(newline="")
    assert write_export(buf, records, seed) == records
    return buf.getvalue()


# --- determinism and format ------------------------------------------------------------
def test_same_seed_same_bytes():
    assert _export(3000, 1) == _export(3000, 1)


def test_different_seed_differs():
    a, b = _export(3000, 1), _export(3000, 2)
    assert a != b
    assert a.splitlines()[0] == b.splitlines()[0]


def test_bytes_do_not_depend_on_workers(monkeypatch):
    """Chunks of districts rendered by 1 or 3 processes give the same file, and it is what
    csv.writer writes for the same rows (the join fast path quotes like it)."""
    monkeypatch.setattr(export, "CHUNK_ROWS", 700)   # several chunks from a small export
    outs = []
    for workers in (1, 3):
        buf = io.StringIO(newline="")
        seen: list[int] = []
        assert write_export(buf, 6000, 5, workers=workers, progress=seen.append) == 6000
        assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == 6000
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    rows = list(csv.reader(io.StringIO(outs[0], newline="")))
    assert any("," in value for row in rows for value in row)  # quoted values are covered
    again = io.StringIO(newline="")
    csv.writer(again, lineterminator="\n").writerows(rows)
    assert again.getvalue() == outs[0]


def test_compiled_twins_write_the_plain_modules_bytes():
    """nikgate.synth._compiled (the same sources through Cython) is built and current, and
    gives what the plain Python modules give: they are its oracle."""
    assert export.renderer() is not export.render, (
        "the compiled generator is missing or stale: python setup.py build_ext --inplace")
    outs = []
    for compiled in (True, False):
        buf = io.StringIO(newline="")
        write_export(buf, 8000, 13, workers=1, compiled=compiled)
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]


def test_a_stale_compiled_twin_is_not_used(monkeypatch, tmp_path, caplog):
    from nikgate.synth import _compiled

    record = tmp_path / "built-from.txt"
    record.write_text("0" * 64 + "\n")   # built from other sources than those on disk
    monkeypatch.setattr(_compiled, "BUILT_FROM", record)
    monkeypatch.setattr(_compiled, "_cache", [])
    with caplog.at_level("WARNING"):
        assert _compiled.renderer() is None
        assert export.renderer() is export.render
    assert "older than its sources" in caplog.text and "build_ext --inplace" in caplog.text


def test_zero_records_is_header_only():
    assert _export(0, 1) == ",".join(schema.REQUIRED_COLUMNS) + "\n"


def test_header_columns_and_line_endings(base_path, base):
    raw = base_path.read_bytes()
    assert b"\r\n" not in raw
    assert raw.decode("utf-8").split("\n", 1)[0] == ",".join(schema.REQUIRED_COLUMNS)
    assert len(base) == BASE_ROWS
    assert all(None not in r and len(r) == len(schema.REQUIRED_COLUMNS) for r in base)


def test_quotas_sum_to_records():
    for records in (0, 1, 39, 40, 12_345):
        q = district_quotas(records, seed=3)
        assert sum(q) == records and min(q) >= 0


# --- NIK -----------------------------------------------------------------------------
def test_nik_matches_birth_date_sex_and_a_real_district(base):
    districts = load_regions().districts
    for r in base:
        nik = r["NIK"]
        assert len(nik) == 16 and nik.isascii() and nik.isdigit(), nik
        assert int(nik[:6]) in districts, nik
        born = dt.date.fromisoformat(r["TGL_LHR"])
        day = int(nik[6:8])
        if r["JENIS_KLMIN"] == "PEREMPUAN":
            day -= 40
        else:
            assert r["JENIS_KLMIN"] == "LAKI-LAKI"
        assert (day, int(nik[8:10]), int(nik[10:12])) == (born.day, born.month, born.year % 100), r
        assert 1 <= int(nik[12:]) <= BASE_MAX_SERIAL


def test_niks_unique(base):
    niks = [r["NIK"] for r in base]
    assert len(set(niks)) == len(niks)


def test_most_live_where_their_nik_was_issued(base):
    movers = sum(r["NIK"][:6] != r["NO_PROP"] + r["NO_KAB"] + r["NO_KEC"] for r in base)
    assert 0 < movers < 0.15 * len(base)


def test_age_range_as_of_2026(base):
    years = [int(r["TGL_LHR"][:4]) for r in base]
    assert min(years) >= 1925 and max(years) <= 2025
    assert sum(y >= 2016 for y in years) > 0.08 * len(years)  # children are common


# --- values ----------------------------------------------------------------------------
def test_coded_values_use_schema_spellings(base):
    assert len(schema.CODE_TABLE) >= 10
    for field, table in schema.CODE_TABLE.items():
        name = field.name
        allowed = set(table) | ({""} if name in schema.MAY_BE_EMPTY else set())
        assert {r[name] for r in base} <= allowed, name
    for r in base:
        for col in schema.REQUIRED_COLUMNS:
            assert r[col] or col in schema.MAY_BE_EMPTY, (col, r)


def test_names_uppercase_and_bounded(base):
    texts = [f.name for f in schema.TEXT_KIND]
    assert {"NAMA_LGKP", "NAMA_LGKP_IBU", "NAMA_LGKP_AYAH", "TMPT_LHR", "ALAMAT"} <= set(texts)
    for r in base:
        for col in texts:
            v = r[col]
            assert v == v.upper() and len(v.encode()) <= schema.MAX_TEXT_BYTES, (col, v)


def test_name_variety(base):
    names = [r["NAMA_LGKP"] for r in base] + [r["NAMA_LGKP_AYAH"] for r in base]
    first = {n.split()[0] for n in names if n}
    assert len({"MUHAMMAD", "MUHAMAD", "MOHAMMAD", "MOH.", "M."} & first) >= 4
    assert any(n.startswith(("H. ", "HJ. ")) for n in names)
    assert any(", S." in n or ", M." in n or ", A.MD" in n for n in names)
    assert any(n.startswith(("I WAYAN", "I MADE", "NI ", "I PUTU", "I KETUT")) for n in names)
    assert any("OE" in n or "DJ" in n for n in names)  # old spellings
    assert any(n.endswith((" SIREGAR", " NASUTION", " SIMANJUNTAK", " LUBIS", " SINAGA",
                           " HARAHAP", " MANURUNG", " GINTING")) for n in names)
    own = [r["NAMA_LGKP"] for r in base]
    assert len(set(own)) > 0.5 * len(own)


# --- fields added after the household model (nikgate/synth/fields.py) ------------------
def test_every_later_field_has_a_generator():
    from nikgate.synth import fields, people

    later = people.COLUMNS[len(people.HOUSEHOLD_COLUMNS):]
    assert len(people.LATER_FIELDS) == len(later)
    # entries exist only for columns the household model does not make
    assert {f.name for f in fields.GENERATORS} <= set(later)


def test_a_field_without_a_generator_is_named():
    from nikgate.synth import fields

    with pytest.raises(LookupError, match=r"GENERATORS has no entry for NAMA_LGKP \(TEXT\), "
                                          r"TGL_LHR \(DATE\)"):
        fields.generators(["AGAMA", "NAMA_LGKP", "TGL_LHR"])


def test_a_code_field_draws_from_its_table_by_default():
    import random

    from nikgate.synth import fields

    (draw,) = fields.generators(["JENIS_PKRJN"])
    rng = random.Random(3)
    values = [draw(rng, {}) for _ in range(5000)]
    assert set(values) <= set(schema.OCCUPATION) | {""}  # JENIS_PKRJN may be empty
    assert len(set(values)) > 50 and "" in values


def test_region_codes_are_real(base):
    regions = load_regions()
    for r in base[::7]:
        district = int(r["NO_PROP"] + r["NO_KAB"] + r["NO_KEC"])
        assert district in regions.districts
        assert [len(r[c]) for c in ("NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL")] == [2, 2, 2, 4]
        villages = {code for code, _ in regions.district_villages(district)}
        assert district * 10000 + int(r["NO_KEL"]) in villages
        assert len(r["NO_RT"]) == 3 and len(r["NO_RW"]) == 3 and int(r["NO_RT"]) >= 1


def test_age_consistent_status(base):
    for r in base:
        year = int(r["TGL_LHR"][:4])
        if year >= 2021:  # under five
            assert r["PDDK_AKH"] in ("TIDAK/BELUM SEKOLAH", "")
            assert r["JENIS_PKRJN"] in ("BELUM/TIDAK BEKERJA", "")
        if year >= 2009:  # under 17
            assert r["STATUS_KAWIN"] == "BELUM KAWIN"
            assert r["STAT_HBKEL"] in ("ANAK", "CUCU", "FAMILI LAIN")


def test_dead_have_death_date(base):
    dead = [r for r in base if r["STATUS_HIDUP"] == "MATI"]
    assert 0.005 * len(base) < len(dead) < 0.05 * len(base)
    for r in dead:
        assert r["TGL_LHR"] < r["TGL_MATI"] < "2026-01-01", r
    assert all(r["TGL_MATI"] == "" for r in base if r["STATUS_HIDUP"] == "HIDUP")


def test_card_status_shares(base):
    n = len(base)
    replaced = sum(r["STATUS_KTP"] == "DIGANTI" for r in base)
    blocked = sum(r["STATUS_KTP"] == "DIBLOKIR" for r in base)
    assert 0.015 * n < replaced < 0.05 * n and 0 < blocked < 0.01 * n


# --- households ----------------------------------------------------------------------------
def test_households_share_kk_and_parents(base):
    households: dict[str, list[dict]] = defaultdict(list)
    for r in base:
        households[r["NO_KK"]].append(r)
    assert len(households) > len(base) / 8
    with_children = 0
    for kk, members in households.items():
        assert len(kk) == 16 and kk.isdigit() and kk[12:] != "0000"
        first = members[0]
        assert kk[:6] == first["NO_PROP"] + first["NO_KAB"] + first["NO_KEC"]
        for col in ("ALAMAT", "NO_RT", "NO_RW", "NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL"):
            assert len({m[col] for m in members}) == 1, (kk, col)
        heads = [m for m in members if m["STAT_HBKEL"] == "KEPALA KELUARGA"]
        assert len(heads) == 1, kk
        wives = [m for m in members if m["STAT_HBKEL"] == "ISTRI"]
        children = [m for m in members if m["STAT_HBKEL"] == "ANAK"]
        if wives and children:
            with_children += 1
            for c in children:
                assert c["NAMA_LGKP_AYAH"] == heads[0]["NAMA_LGKP"], c
                assert c["NAMA_LGKP_IBU"] == wives[0]["NAMA_LGKP"], c
    assert with_children > len(households) / 3


def test_family_numbers_unique_per_household(base):
    # One NO_KK is one household: its rows are contiguous in the export.
    seen, last = set(), None
    for r in base:
        if r["NO_KK"] != last:
            assert r["NO_KK"] not in seen, r["NO_KK"]
            seen.add(r["NO_KK"])
            last = r["NO_KK"]


# --- serial allocators -------------------------------------------------------------------
def test_nik_serials_exhaust_below_9000():
    s = NikSerials("320101")
    niks = [s.nik(10190) for _ in range(BASE_MAX_SERIAL)]
    assert niks[0] == "3201010101900001" and niks[-1].endswith("8999")
    assert s.nik(10190) is None
    assert s.nik(410190) == "3201014101900001"


def test_mover_kks_from_different_districts_never_collide():
    kks = set()
    for index in (0, 1, 999, 1000, 1001, 7284):
        alloc = KkSerials(index)
        for start in range(0, 1100, 7):
            kk = alloc.mover(320101, start)
            assert kk is not None and kk not in kks
            kks.add(kk)
    assert all(int(k[12:]) >= 9000 for k in kks)


# --- delta -------------------------------------------------------------------------------
def test_delta_header_and_mix(delta_path, delta):
    header = delta_path.read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == ",".join((schema.DELTA_CHANGE_COLUMN,) + schema.REQUIRED_COLUMNS)
    kinds = defaultdict(int)
    for r in delta:
        kinds[r["PERUBAHAN"]] += 1
    assert set(kinds) == set(schema.DELTA_CHANGES)
    assert kinds["BARU"] == 300 and kinds["HAPUS"] == 50 and kinds["UBAH"] == 650


def test_delta_new_niks_not_in_base_and_updates_are(base, delta):
    by_nik = {r["NIK"]: r for r in base}
    niks = [r["NIK"] for r in delta]
    assert len(set(niks)) == len(niks)
    districts = load_regions().districts
    for r in delta:
        if r["PERUBAHAN"] == "BARU":
            nik = r["NIK"]
            assert nik not in by_nik and int(nik[12:]) >= 9000 and int(nik[:6]) in districts
            born = dt.date.fromisoformat(r["TGL_LHR"])
            day = int(nik[6:8]) - (40 if r["JENIS_KLMIN"] == "PEREMPUAN" else 0)
            assert (day, int(nik[8:10]), int(nik[10:12])) == (born.day, born.month, 26)
            assert r["STAT_HBKEL"] in ("ANAK", "CUCU") and r["NAMA_LGKP_IBU"]
        else:
            assert r["NIK"] in by_nik
            old = {k: v for k, v in by_nik[r["NIK"]].items()}
            new = {k: v for k, v in r.items() if k != "PERUBAHAN"}
            if r["PERUBAHAN"] == "UBAH":
                assert new != old and new["TGL_LHR"] == old["TGL_LHR"]
            else:
                assert new == old


def test_delta_updates_are_plausible(base, delta):
    by_nik = {r["NIK"]: r for r in base}
    kinds = set()
    for r in delta:
        if r["PERUBAHAN"] != "UBAH":
            continue
        old = by_nik[r["NIK"]]
        changed = {k for k in old if old[k] != r[k]}
        if "STATUS_HIDUP" in changed:
            assert r["STATUS_HIDUP"] == "MATI" and r["TGL_MATI"] >= "2026-01-01"
            kinds.add("death")
        if "NO_KEL" in changed or "ALAMAT" in changed:
            assert r["NO_KK"] != old["NO_KK"] and r["NO_KK"][6:12].endswith("26")
            kinds.add("move")
        if "STATUS_KTP" in changed:
            kinds.add("card")
        if "STATUS_KAWIN" in changed:
            kinds.add("marriage")
    assert kinds == {"death", "move", "card", "marriage"}


def test_delta_deterministic(base_path, delta_path, tmp_path):
    again = tmp_path / "again.csv"
    write_delta(base_path, again, DELTA_ROWS, seed=7)
    assert again.read_bytes() == delta_path.read_bytes()
    other = io.StringIO(newline="")
    write_delta(base_path, other, DELTA_ROWS, seed=8)
    assert other.getvalue().encode() != delta_path.read_bytes()


def test_delta_small_base_writes_fewer(tmp_path):
    small = tmp_path / "small.csv"
    write_export(small, 30, seed=1)
    out = io.StringIO(newline="")
    n = write_delta(small, out, 100, seed=1)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == len(rows) <= 30 + 30  # updates bounded by the base, births by its children
    assert all(r["PERUBAHAN"] in schema.DELTA_CHANGES for r in rows)
