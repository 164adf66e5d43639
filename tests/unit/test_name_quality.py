"""The name rule's precision and recall on the labelled pair set must not regress."""

from pathlib import Path

from bench.namepairs.evaluate import evaluate, load_pairs
from nikgate.engine import score_person_name

PAIRS = Path(__file__).resolve().parents[2] / "bench" / "namepairs" / "pairs.csv"


def test_precision_and_recall_on_labelled_pairs():
    pairs = load_pairs(PAIRS)
    assert len(pairs) > 4000
    rows = {r["threshold"]: r for r in evaluate(pairs, score_person_name, [100, 95])}
    assert rows[100]["precision"] >= 0.995 and rows[100]["recall"] >= 0.84
    assert rows[95]["precision"] >= 0.99 and rows[95]["recall"] >= 0.90
