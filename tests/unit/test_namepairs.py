"""The labelled name-pair set (bench/namepairs): deterministic build, sane rows, and an
evaluator whose arithmetic is checked against numbers worked out by hand."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.namepairs import build, evaluate  # noqa: E402

SMALL = 12  # pairs per positive category in the fast builds


@pytest.fixture(scope="module")
def small_rows():
    return build.generate(seed=7, per_category=SMALL)


def _trivial(stored: str, claimed: str) -> int:
    """100 when the uppercased, whitespace-collapsed strings are equal, else 0."""
    return 100 if " ".join(stored.upper().split()) == " ".join(claimed.upper().split()) else 0


def test_build_is_deterministic(small_rows):
    again = build.generate(seed=7, per_category=SMALL)
    assert again == small_rows
    assert build.to_csv(again) == build.to_csv(small_rows)
    assert build.generate(seed=8, per_category=SMALL) != small_rows


def test_rows_have_four_columns_and_valid_values(small_rows):
    text = build.to_csv(small_rows)
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == ["stored", "claimed", "same", "category"]
    rows = list(reader)
    assert len(rows) == len(small_rows)
    for r in rows:
        assert len(r) == 4, r
        stored, claimed, same, cat = r
        assert stored and claimed.strip()
        assert same in ("0", "1")
        assert build.LABEL[cat] == int(same), r  # one label per category
        assert stored == stored.upper(), r       # the registry holds uppercase
        assert stored == stored.strip() and "  " not in stored, r


def test_every_category_present_and_labels_roughly_balanced(small_rows):
    cats = Counter(r[3] for r in small_rows)
    assert set(cats) == set(build.LABEL)
    pos = sum(r[2] for r in small_rows)
    assert 0.4 < pos / len(small_rows) < 0.6


def test_each_group_holds_both_labels(small_rows):
    grouped = {c for cats in build.GROUPS.values() for c in cats}
    assert grouped == set(build.LABEL)  # every category belongs to a group
    for group, cats in build.GROUPS.items():
        labels = {r[2] for r in small_rows if r[3] in cats}
        assert labels == {0, 1}, group


def test_pairs_unique_and_negatives_not_trivially_equal(small_rows):
    keys = [(r[0], r[1]) for r in small_rows]
    assert len(keys) == len(set(keys))

    def norm(s):
        return " ".join(re.sub(r"[^A-Z]", " ", s.upper().replace("'", "")).split())

    for stored, claimed, same, cat in small_rows:
        if same == 0:
            assert norm(stored) != norm(claimed), (stored, claimed, cat)
        if cat == "exact":
            assert stored == claimed


def test_hand_cases_are_included(small_rows):
    assert ("SUSILOWATI", "SUSILAWATI", 1, "typo") in small_rows
    assert ("AHMAD FAUZI", "AHMAD FAUZI RAHMAN", 0, "extra_token") in small_rows
    assert ("BUDI SANTOSO", "BUDI S.", 1, "initial") in small_rows


def test_evaluate_hand_computed():
    scores = {"A": 100, "B": 92, "C": 70, "D": 95, "E": 50, "F": 0}
    pairs = [("A", "x", 1, "p"), ("B", "x", 1, "p"), ("C", "x", 1, "p"),
             ("D", "x", 0, "n"), ("E", "x", 0, "n"), ("F", "x", 0, "n")]
    res = evaluate.evaluate(pairs, lambda s, c: scores[s], [100, 90, 70, 101])
    by_t = {r["threshold"]: r for r in res}
    # >=100: predicted same = {A}
    r = by_t[100]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (1, 0, 2, 3)
    assert r["precision"] == 1.0 and r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(0.5)
    # >=90: {A, B, D}
    r = by_t[90]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 1, 2)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    # >=70: {A, B, C, D}
    r = by_t[70]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (3, 1, 0, 2)
    assert r["precision"] == 0.75 and r["recall"] == 1.0
    assert r["f1"] == pytest.approx(6 / 7)
    assert r["accuracy"] == pytest.approx(5 / 6)
    # nothing predicted same: precision undefined, F1 0
    r = by_t[101]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (0, 0, 3, 3)
    assert r["precision"] is None and r["recall"] == 0.0 and r["f1"] == 0.0


def test_evaluate_accepts_dicts_and_rejects_bad_scores():
    pairs = [{"stored": "BUDI", "claimed": "budi", "same": "1", "category": "case_punct"}]
    (r,) = evaluate.evaluate(pairs, _trivial, [100])
    assert (r["tp"], r["fn"]) == (1, 0)
    with pytest.raises(ValueError):
        evaluate.evaluate(pairs, lambda s, c: 101, [100])


def test_trivial_scorer_counts_add_up(small_rows):
    res = evaluate.evaluate(small_rows, _trivial, evaluate.DEFAULT_THRESHOLDS)
    n = len(small_rows)
    pos = sum(r[2] for r in small_rows)
    for r in res:
        assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == n
        assert r["tp"] + r["fn"] == pos
        assert r["fp"] == 0  # no negative pair is equal up to case and spacing
    # a 0/100 scorer gives the same answer at every threshold
    assert len({(r["tp"], r["fp"]) for r in res}) == 1

    scored = evaluate.score_all(small_rows, _trivial)
    cats = {r["category"]: r for r in evaluate.per_category(scored)}
    assert cats["exact"][100] == 1.0
    assert cats["different"][100] == 1.0 and cats["different"][90] == 1.0
    assert sum(r["n"] for r in cats.values()) == n


def test_report_is_markdown(small_rows):
    scored = evaluate.score_all(small_rows, _trivial)
    text = evaluate.report(scored, [100, 90], [100, 90], "trivial")
    assert "| threshold | precision | recall | F1 | TP | FP | FN | TN |" in text
    assert "| exact | 1 |" in text


def test_scorer_spec_loading():
    assert evaluate.load_scorer("os.path:join") is os.path.join
    with pytest.raises(ValueError):
        evaluate.load_scorer("no_colon_here")


def test_committed_csv_matches_default_build():
    path = os.path.join(ROOT, "bench", "namepairs", "pairs.csv")
    if not os.path.exists(path):
        pytest.skip("pairs.csv not generated yet")
    with open(path, encoding="utf-8", newline="") as f:
        on_disk = f.read()
    assert len(on_disk.encode()) < 300 * 1024
    assert on_disk == build.to_csv(build.generate(seed=7)), \
        "regenerate: python -m bench.namepairs.build --out bench/namepairs/pairs.csv --seed 7"
