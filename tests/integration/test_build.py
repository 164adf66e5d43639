"""Building an index from a warehouse export: counts, rejects, atomic publish."""

from __future__ import annotations

import csv
import io
import os

import pytest

from nikgate.engine import NikIndex
from nikgate.engine.build import build_index
from nikgate.engine.record import RowEncoder, RowRejected, Tokens, store
from nikgate.engine.schema import REQUIRED_COLUMNS
from nikgate.errors import WarehouseFileError

from ..conftest import EXPORT_ROWS, run_cli


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _write(path, rows, extra_raw: bytes = b""):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode() + extra_raw)


def test_session_index_holds_every_row(index, export_csv):
    assert index.record_count == EXPORT_ROWS
    assert index.manifest["record_count"] == EXPORT_ROWS
    assert index.manifest["format_version"] == 3
    assert index.manifest["source_rows"] == EXPORT_ROWS
    assert len(index.manifest["source_xxh3_128"]) == 32


def test_broken_rows_are_rejected_with_line_and_reason(export_csv, tmp_path):
    rows = _rows(export_csv)
    header, good = rows[0], rows[1:201]
    col = {name: i for i, name in enumerate(header)}

    def variant(**changes):
        row = list(good[len(out) % len(good)])
        for k, v in changes.items():
            row[col[k]] = v
        return row

    out = [header] + good
    expected = {}

    def add(row, reason):
        out.append(row)
        expected[len(out)] = reason  # 1-based line numbers: header is line 1

    nik = good[0][col["NIK"]]
    add(variant(NIK=nik[:15]), "BAD_NIK")
    add(variant(NIK="9" + nik[1:]), "BAD_NIK")
    add(variant(TGL_LHR="1990-02-30"), "BAD_DATE")
    add(variant(NAMA_LGKP=""), "MISSING_FIELD")
    add(variant(AGAMA="ISLAMM"), "BAD_VALUE")
    add(list(good[0]), "DUPLICATE_NIK")
    add(variant(NO_KK="12345"), "BAD_NUMBER")
    add(variant(NO_KEL="9999"), "UNKNOWN_REGION")
    add(variant(NAMA_LGKP="A" * 300), "TOO_LONG")
    add(good[3][:-1], "WRONG_FIELD_COUNT")
    # sex flipped: NIK day says one sex, JENIS_KLMIN the other
    r = list(good[5])
    r[col["JENIS_KLMIN"]] = "PEREMPUAN" if r[col["JENIS_KLMIN"]] == "LAKI-LAKI" else "LAKI-LAKI"
    add(r, "NIK_SEX_MISMATCH")
    # a birth date one day off the NIK's
    r = list(good[6])
    y, m, d = r[col["TGL_LHR"]].split("-")
    r[col["TGL_LHR"]] = f"{y}-{m}-{(int(d) % 28) + 1:02d}"
    add(r, "NIK_BIRTH_DATE_MISMATCH")
    src = tmp_path / "broken.csv"
    _write(src, out, extra_raw=b'\xff\xfe not utf-8,' + b"x," * 24 + b"\n")
    expected[len(out) + 1] = "BAD_ENCODING"

    rejects_file = tmp_path / "rejects.csv"
    report = build_index(src, tmp_path / "idx", rejects_path=rejects_file)
    got = {int(r["line"]): r["reason"] for r in csv.DictReader(open(rejects_file))}
    assert got == expected
    assert report.stored == len(good)
    assert report.rows_read == len(out) - 1 + 1
    assert sum(report.rejects.by_reason.values()) == len(expected)
    messages = [r["message"] for r in csv.DictReader(open(rejects_file))]
    assert any("first seen at line 2" in m for m in messages)
    assert any("NIK must be 16 digits, got 15" in m for m in messages)


def test_missing_required_column_stops_the_build_naming_it(export_csv, tmp_path):
    rows = _rows(export_csv)
    drop = rows[0].index("TGL_LHR")
    src = tmp_path / "nodate.csv"
    _write(src, [r[:drop] + r[drop + 1:] for r in rows[:50]])
    with pytest.raises(WarehouseFileError, match="missing required column.*TGL_LHR"):
        build_index(src, tmp_path / "idx")
    assert not (tmp_path / "idx" / "current").exists()
    result = run_cli("index", "build", "--from", str(src), "--out", str(tmp_path / "idx2"))
    assert result.returncode == 2   # bad input (nikgate.cli.exits)
    assert "TGL_LHR" in result.stderr


def test_unknown_columns_are_ignored_with_a_warning(export_csv, tmp_path, caplog):
    rows = _rows(export_csv)[:30]
    src = tmp_path / "extra.csv"
    _write(src, [r + (["CATATAN"] if i == 0 else ["x"]) for i, r in enumerate(rows)])
    report = build_index(src, tmp_path / "idx")
    assert report.stored == 29
    assert report.extra_columns == ["CATATAN"]
    assert "CATATAN" in caplog.text


def test_column_order_does_not_matter(export_csv, tmp_path, index):
    rows = _rows(export_csv)[:40]
    order = list(reversed(range(len(rows[0]))))
    src = tmp_path / "reversed.csv"
    _write(src, [[r[i] for i in order] for r in rows])
    build_index(src, tmp_path / "idx")
    with NikIndex.open(tmp_path / "idx") as idx:
        nik = rows[5][0]
        assert idx.packed(int(nik)) == index.packed(int(nik))


def test_a_reader_never_sees_a_half_built_index(export_csv, tmp_path):
    rows = _rows(export_csv)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    _write(first, rows[:101])
    _write(second, [rows[0]] + rows[101:301])
    out = tmp_path / "idx"
    build_index(first, out)
    old = NikIndex.open(out)
    build_index(second, out)
    new = NikIndex.open(out)
    try:
        assert old.record_count == 100       # still reading its own generation
        assert new.record_count == 200
        assert old.generation != new.generation
        assert os.readlink(out / "current").startswith("generations/")
        assert not [p for p in (out / "generations").iterdir() if p.name.endswith(".partial")]
    finally:
        old.close()
        new.close()


def test_compiled_ingest_and_reference_encoder_agree(export_csv, index):
    """Every row the compiled parser stored is byte-identical to the reference's."""
    encoder = RowEncoder()
    rows = _rows(export_csv)
    header = rows[0]
    pick = [header.index(c) for c in REQUIRED_COLUMNS]
    tokens = Tokens(index.dictionary.blob())
    for row in rows[1:]:
        nik, value = encoder.encode([row[i] for i in pick])
        assert index.packed(nik) == value
        # and the stored form is the Python twin's, byte for byte
        assert index.raw(nik) == store(nik, value, tokens)


def test_reference_rejects_what_the_build_rejects(tmp_path, export_csv):
    """Mutated rows: the fast path and the reference make the same decision."""
    import random

    rng = random.Random(5)
    rows = _rows(export_csv)
    header = rows[0]
    pick = [header.index(c) for c in REQUIRED_COLUMNS]
    mutations = ["", " ", "0", "00", "2000-02-29", "1999-02-29", "LAKI-LAKI", "PEREMPUAN",
                 "MATI", "HIDUP", "AKTIF", "x", "9999", "01", "1234567890123456", "é",
                 "ISLAM", "A+", "2030-01-01", "1800-01-01"]
    cases = []
    for k in range(400):
        row = list(rows[1 + k])
        row[rng.randrange(len(row))] = rng.choice(mutations)
        cases.append(row)
    src = tmp_path / "mutated.csv"
    _write(src, [header] + cases)
    report = build_index(src, tmp_path / "idx")
    rejected_lines = {line for line, _, _ in report.rejects.rows}
    encoder = RowEncoder()
    stored = 0
    with NikIndex.open(tmp_path / "idx") as idx:
        for line, row in enumerate(cases, start=2):
            try:
                nik, value = encoder.encode([row[i] for i in pick])
            except RowRejected:
                assert line in rejected_lines
                continue
            if line in rejected_lines:  # only a duplicate of an earlier row may be
                assert any(r == (line, "DUPLICATE_NIK") for r in
                           [(ln, rs) for ln, rs, _ in report.rejects.rows])
                continue
            stored += 1
            assert idx.packed(nik) == value
    assert stored == report.stored


def test_spilling_runs_gives_the_same_index_as_sorting_in_memory(export_csv, tmp_path):
    rows = _rows(export_csv)
    src = tmp_path / "dups.csv"
    _write(src, rows + rows[1:40])  # 39 duplicates, reported against their first lines
    in_memory = build_index(src, tmp_path / "a")
    spilled = build_index(src, tmp_path / "b", memory_budget=60_000)  # ~400 records a run
    assert in_memory.stored == spilled.stored == len(rows) - 1
    assert sorted(in_memory.rejects.rows) == sorted(spilled.rejects.rows)
    assert len(in_memory.rejects.rows) == 39
    with NikIndex.open(tmp_path / "a") as a, NikIndex.open(tmp_path / "b") as b:
        niks = a.sample_niks(10_000)
        assert niks == b.sample_niks(10_000)
        assert a.dictionary.blob() == b.dictionary.blob()
        assert all(a.raw(int(n)) == b.raw(int(n)) for n in niks)
