"""A damaged index never answers "not found" for a stored NIK, and `index verify` says so.

Bytes are flipped in real LMDB branch and leaf pages of a private copy of the session
index (page size 4096; the page header's flags at offset 10: 0x01 branch, 0x02 leaf).
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from nikgate.engine import ItemStatus, NikIndex
from nikgate.engine.build import build_index
from nikgate.engine.delta import apply_delta
from nikgate.engine.keyset import KEYS_FILE, digest_hex, key_digest, read_key_file
from nikgate.errors import CorruptRecordError, IndexDamagedError
from nikgate.synth import write_delta

from ..conftest import EXPORT_ROWS, run_cli
from .lmdb_pages import P_BRANCH, P_LEAF, PAGE, pages


def _stored(index_dir) -> list[str]:
    with NikIndex.open(index_dir) as idx:
        return idx.sample_niks(10**9)


def _damage(index_dir, kind: int, want_unreachable: bool, seed: int = 1) -> list[str]:
    """Flip one byte in a page of `kind` until the damage shows (bounded tries); returns
    the stored NIKs that calls now answer CORRUPT."""
    niks = _stored(index_dir)
    data_path = index_dir / "current" / "data.mdb"
    clean = data_path.read_bytes()
    rnd = random.Random(seed)
    for _ in range(40):
        raw = bytearray(clean)
        page = rnd.choice(pages(raw, kind))
        # a branch's node pointers and child page numbers sit near the header; a leaf's
        # records fill the page
        raw[page * PAGE + rnd.randrange(16, 200 if kind == P_BRANCH else PAGE)] ^= 0xFF
        data_path.write_bytes(raw)
        with NikIndex.open(index_dir) as idx:
            status = idx.lookup_batch(niks, ["NAMA_LGKP"]).status
        bad = [n for n, s in zip(niks, status, strict=True) if s != ItemStatus.FOUND]
        if bad and (not want_unreachable or len(bad) > 1):
            return bad
    pytest.fail("no flipped byte showed up in 40 tries")


def _never_stored(niks: list[str], count: int = 30) -> list[str]:
    have = set(niks)
    out = []
    for n in niks:
        candidate = f"{int(n) + 1:016d}"
        if candidate not in have and candidate[12:] != "0000":
            out.append(candidate)
        if len(out) == count:
            break
    return out


def test_clean_index_verifies(index_copy):
    result = run_cli("index", "verify", "--index", str(index_copy), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["records_walked"] == EXPORT_ROWS
    assert report["problems"] == []


def test_manifest_count_and_digest_match_the_key_file(index_dir):
    with NikIndex.open(index_dir) as idx:
        manifest = idx.manifest
        keys = read_key_file(idx.generation / KEYS_FILE)
        stored = [int(n) for n in idx.sample_niks(10**9)]
    assert keys == stored
    assert manifest["record_count"] == len(keys)
    # the pure-Python twin computes the digest the compiled walk and writer computed
    assert manifest["key_digest"] == digest_hex(key_digest(keys))
    assert manifest["keys_file"]["key_digest"] == manifest["key_digest"]


@pytest.mark.parametrize("kind", [P_BRANCH, P_LEAF])
def test_damaged_page_answers_corrupt_never_not_found(index_copy, kind):
    niks = _stored(index_copy)
    bad = _damage(index_copy, kind, want_unreachable=kind == P_BRANCH)
    absent = _never_stored(niks)
    with NikIndex.open(index_copy) as idx:
        looked = idx.lookup_batch(bad, ["NAMA_LGKP"])
        verified = idx.verify_batch(bad, {"NAMA_LGKP": ["X"] * len(bad)})
        assert set(looked.status) == {ItemStatus.CORRUPT}
        assert set(verified.status) == {ItemStatus.CORRUPT}
        with pytest.raises(CorruptRecordError):
            idx.lookup(bad[0], ["NAMA_LGKP"])
        # a NIK that was never stored still answers NOT_FOUND
        misses = idx.lookup_batch(absent, ["NAMA_LGKP"])
        assert set(misses.status) == {ItemStatus.NOT_FOUND}
        assert idx.lookup(absent[0], ["NAMA_LGKP"]) is None
        # every other stored NIK is still found
        rest = [n for n in niks if n not in set(bad)]
        assert set(idx.lookup_batch(rest, ["NIK"]).status) == {ItemStatus.FOUND}


def test_verify_names_a_damaged_branch(index_copy):
    bad = _damage(index_copy, P_BRANCH, want_unreachable=True)
    result = run_cli("index", "verify", "--index", str(index_copy))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "DAMAGED" in result.stdout
    kinds = {line.split(":")[0].strip() for line in result.stdout.splitlines()[1:]}
    assert "unreachable" in kinds or "bad_record" in kinds or "key_order" in kinds, kinds
    as_json = json.loads(run_cli("index", "verify", "--index", str(index_copy),
                                 "--json").stdout)
    assert not as_json["ok"]
    if "unreachable" in kinds:
        assert as_json["unreachable"] == len(bad)


def test_verify_names_a_damaged_record(index_copy):
    bad = _damage(index_copy, P_LEAF, want_unreachable=False, seed=5)
    result = run_cli("index", "verify", "--index", str(index_copy), "--json")
    assert result.returncode == 3
    problems = json.loads(result.stdout)["problems"]
    assert problems and all(p["message"].endswith("restore a copy") for p in problems)
    if len(bad) == 1:
        assert any(p["kind"] == "bad_record" and bad[0] in p["message"] for p in problems), (
            bad, problems)


def test_delta_keeps_the_membership_exact(index_copy, export_csv, tmp_path):
    delta = tmp_path / "delta.csv"
    write_delta(export_csv, delta, changes=300, seed=9)
    report = apply_delta(index_copy, delta)
    assert report.added and report.deleted
    with NikIndex.open(index_copy) as idx:
        assert idx.check_integrity().ok
        stored = [int(n) for n in idx.sample_niks(10**9)]
        assert idx.manifest["key_digest"] == digest_hex(key_digest(stored))
        assert idx.manifest["record_count"] == len(stored)
    # a removed NIK answers NOT_FOUND, an added one is found
    result = run_cli("index", "verify", "--index", str(index_copy))
    assert result.returncode == 0, result.stdout


def test_apply_refuses_to_commit_onto_a_damaged_index(index_copy, export_csv, tmp_path):
    _damage(index_copy, P_BRANCH, want_unreachable=True)
    before = (index_copy / "current" / "data.mdb").read_bytes()
    delta = tmp_path / "delta.csv"
    write_delta(export_csv, delta, changes=50, seed=3)
    with pytest.raises(IndexDamagedError, match="not applied"):
        apply_delta(index_copy, delta)
    with NikIndex.open(index_copy) as idx:
        assert idx.manifest["deltas"] == []
    assert len((index_copy / "current" / "data.mdb").read_bytes()) == len(before)


def test_build_does_not_publish_a_generation_that_fails_verification(
        export_csv, tmp_path, monkeypatch):
    """Damage the written generation between its sync and its verification (as a bad disk
    would); the build must fail and `current` must not move."""
    from nikgate.engine import build

    out = tmp_path / "idx"
    build_index(export_csv, out)
    first = (out / "current").resolve()
    real = build.verify_generation

    def damaged_then_verified(path):
        data = path / "data.mdb"
        raw = bytearray(data.read_bytes())
        for page in pages(raw, P_LEAF)[:3]:
            raw[page * PAGE + PAGE - 40] ^= 0xFF   # inside the last record of the page
        data.write_bytes(raw)
        return real(path)

    monkeypatch.setattr(build, "verify_generation", damaged_then_verified)
    with pytest.raises(IndexDamagedError, match="not published"):
        build_index(export_csv, out)
    assert (out / "current").resolve() == first
    assert not any(p.name.endswith(".partial") for p in (out / "generations").iterdir())


def test_an_index_without_a_key_file_says_to_rebuild(index_copy):
    current = (index_copy / "current").resolve()
    shutil.move(current / KEYS_FILE, index_copy / "moved")
    result = run_cli("index", "verify", "--index", str(index_copy))
    assert result.returncode != 0
    assert "keys.u64" in result.stdout + result.stderr


def test_a_damaged_token_dictionary_is_never_read(index_copy):
    """Record checksums cover token ids, not words: the dictionary's own checksum (in the
    manifest) is checked on open, by `index verify` and by the scrub's walk."""
    path = index_copy / "current" / "tokens.bin"
    with NikIndex.open(index_copy) as idx:
        nik = idx.sample_niks(1)[0]
        with open(path, "r+b") as f:   # in place, under the open index's map
            f.seek(-3, 2)
            before = f.read(1)[0]
            f.seek(-3, 2)
            f.write(bytes([before ^ 0x01]))
        report = idx.check_integrity()
        assert [p.kind for p in report.problems] == ["dictionary"]
    with pytest.raises(IndexDamagedError, match="token dictionary"):
        NikIndex.open(index_copy)
    result = run_cli("index", "verify", "--index", str(index_copy))
    assert result.returncode == 3 and "token dictionary" in result.stderr   # damaged: a finding
    with open(path, "r+b") as f:
        f.seek(-3, 2)
        f.write(bytes([before]))
    with NikIndex.open(index_copy) as idx:
        assert idx.check_integrity().ok and idx.lookup(nik, ["NAMA_LGKP"])
