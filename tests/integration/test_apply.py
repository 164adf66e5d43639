"""Applying deltas to a live index: changes land, readers keep reading, nothing twice."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest

from nikgate.engine import NikIndex
from nikgate.engine.delta import apply_delta
from nikgate.engine.names import normalize
from nikgate.errors import WarehouseFileError
from nikgate.synth import write_delta

from ..conftest import EXPORT_ROWS, run_cli


@pytest.fixture
def delta_csv(export_csv, tmp_path):
    path = tmp_path / "delta.csv"
    write_delta(export_csv, path, changes=300, seed=4)
    return path


def _changes(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_delta_changes_land_and_are_counted(index_copy, delta_csv):
    changes = _changes(delta_csv)
    report = apply_delta(index_copy, delta_csv)
    kinds = [c["PERUBAHAN"] for c in changes]
    assert report.added == kinds.count("BARU")
    assert report.updated == kinds.count("UBAH")
    assert report.deleted == kinds.count("HAPUS")
    assert len(report.rejects) == 0, report.rejects.rows[:3]
    with NikIndex.open(index_copy) as idx:
        assert idx.record_count == EXPORT_ROWS + report.added - report.deleted
        assert idx.manifest["record_count"] == idx.record_count
        assert idx.manifest["deltas"][-1]["added"] == report.added
        final = {}
        for c in changes:  # the last change to a NIK is its final state
            final[c["NIK"]] = c
        for nik, c in final.items():
            got = idx.lookup(nik, ["NAMA_LGKP", "ALAMAT", "STATUS_HIDUP", "STATUS_KTP"])
            if c["PERUBAHAN"] == "HAPUS":
                assert got is None
            else:
                assert got == {k: c[k] for k in got}, nik


def test_the_same_delta_is_not_applied_twice(index_copy, delta_csv):
    apply_delta(index_copy, delta_csv)
    with pytest.raises(WarehouseFileError, match="already applied"):
        apply_delta(index_copy, delta_csv)
    with NikIndex.open(index_copy) as idx:
        assert len(idx.manifest["deltas"]) == 1


def test_bad_delta_rows_are_rejected_and_the_rest_applied(index_copy, export_csv, tmp_path):
    with open(export_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, first, second = rows[0], rows[1], rows[2]
    path = tmp_path / "d.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["PERUBAHAN", *header])
        w.writerow(["BARU", *first])                  # already in the index
        w.writerow(["UBAH", *second])                 # fine (no-op update)
        w.writerow(["HAPUS", "3201010101019999"] + [""] * (len(header) - 1))
        w.writerow(["PINDAH", *second])               # unknown change kind
        w.writerow(["HAPUS", first[0]] + [""] * (len(header) - 1))
    report = apply_delta(index_copy, path, rejects_path=tmp_path / "rej.csv")
    got = [(int(r["line"]), r["reason"]) for r in csv.DictReader(open(tmp_path / "rej.csv"))]
    assert got == [(2, "DUPLICATE_NIK"), (4, "NOT_IN_INDEX"), (5, "BAD_CHANGE")]
    assert (report.updated, report.deleted) == (1, 1)
    with NikIndex.open(index_copy) as idx:
        assert idx.lookup(first[0], ["NAMA_LGKP"]) is None


READER = textwrap.dedent("""
    import sys, time
    from nikgate.engine import NikIndex
    idx = NikIndex.open(sys.argv[1])
    niks = idx.sample_niks(500)
    print("ready", flush=True)
    seen, deadline = 0, time.monotonic() + 20
    while time.monotonic() < deadline:
        r = idx.lookup_batch(niks, ["NAMA_LGKP"])
        assert r.status.count(5) == 0, "corrupt read"
        seen += 1
        if seen > 50 and open(sys.argv[2]).read() == "stop":
            break
    print("reads", seen, flush=True)
""")


def test_readers_keep_reading_while_a_delta_applies(index_copy, delta_csv, tmp_path):
    stop = tmp_path / "stop"
    stop.write_text("")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(index_copy), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        result = run_cli("index", "apply", "--index", str(index_copy), "--delta",
                         str(delta_csv), "--json")
        assert result.returncode == 0, result.stderr
        stop.write_text("stop")
        out, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0
    assert int(out.split()[-1]) > 50
    # a fresh process sees the applied state: the commit was durable before apply returned
    with NikIndex.open(index_copy) as idx:
        assert len(idx.manifest["deltas"]) == 1


def test_a_delta_with_words_the_build_never_saw_round_trips(index_copy, delta_csv, tmp_path):
    """The token dictionary never changes after the build: new words are stored as
    literals, odd spacing as the text itself, and every byte comes back."""
    changes = [c for c in _changes(delta_csv) if c["PERUBAHAN"] == "UBAH"][:3]
    texts = ["ZQXWVUT YYKRAMADIBRATA", "  DOUBLE  SPACED ", "\u00c9LODIE N\u00daN\u00c9Z"]
    for c, name in zip(changes, texts, strict=True):
        c["NAMA_LGKP"] = name
        c["ALAMAT"] = name.strip() + " NO. 12345"
    path = tmp_path / "words.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(changes[0]))
        w.writeheader()
        w.writerows(changes)
    with NikIndex.open(index_copy) as idx:
        words = idx.dictionary.blob()
    report = apply_delta(index_copy, path)
    assert report.updated == 3 and len(report.rejects) == 0, report.rejects.rows
    with NikIndex.open(index_copy) as idx:
        assert idx.dictionary.blob() == words
        assert idx.check_integrity().ok
        for c in changes:
            got = idx.lookup(c["NIK"], ["NAMA_LGKP", "ALAMAT"])
            assert got == {"NAMA_LGKP": normalize(c["NAMA_LGKP"]),
                           "ALAMAT": normalize(c["ALAMAT"])}
            assert idx.verify(c["NIK"], {"NAMA_LGKP": c["NAMA_LGKP"]}).all_match
