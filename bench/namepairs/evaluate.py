"""Precision and recall of a person-name scorer on the labelled name pairs.

    python -m bench.namepairs.evaluate --pairs bench/namepairs/pairs.csv \\
        [--scorer module:function] [--errors 20 --at 90]

The scorer is called as `score(stored: str, claimed: str) -> int` (0-100); a pair is
predicted "same" when score >= threshold. Output is Markdown (tables ready for docs):
precision/recall/F1 and TP/FP/FN/TN per threshold, then accuracy per category at two
thresholds (for a same=1 category: share scored >= t; for a same=0 one: share < t).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

DEFAULT_SCORER = "nikgate.engine.names:score_person_name"
DEFAULT_THRESHOLDS = (100, 95, 90, 85, 80, 70)
CATEGORY_THRESHOLDS = (100, 90)

Pair = tuple[str, str, int, str]  # stored, claimed, same, category
Scorer = Callable[[str, str], int]


def load_pairs(path: str) -> list[Pair]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"stored", "claimed", "same", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        return [(r["stored"], r["claimed"], int(r["same"]), r["category"]) for r in reader]


def load_scorer(spec: str) -> Scorer:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"scorer must be 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module), attr)


def _as_pair(p) -> Pair:
    if isinstance(p, dict):
        return (p["stored"], p["claimed"], int(p["same"]), p.get("category", ""))
    stored, claimed, same, *rest = p
    return (stored, claimed, int(same), rest[0] if rest else "")


def score_all(pairs: Iterable, score: Scorer) -> list[tuple[Pair, int]]:
    out = []
    for p in pairs:
        pair = _as_pair(p)
        s = score(pair[0], pair[1])
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 100:
            raise ValueError(f"scorer returned {s!r} for {pair[0]!r} / {pair[1]!r}")
        out.append((pair, s))
    return out


def _metrics(scored: Sequence[tuple[Pair, int]], t: float) -> dict:
    tp = fp = fn = tn = 0
    for (_s, _c, same, _cat), sc in scored:
        pred = sc >= t
        if same:
            tp += pred
            fn += not pred
        else:
            fp += pred
            tn += not pred
    precision = tp / (tp + fp) if tp + fp else None  # undefined: nothing predicted same
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision and recall else 0.0)
    return {"threshold": t, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": precision, "recall": recall, "f1": f1,
            "accuracy": (tp + tn) / len(scored) if scored else None}


def evaluate(pairs: Iterable, score: Scorer,
             thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> list[dict]:
    """One dict per threshold: threshold, tp, fp, fn, tn, precision, recall, f1, accuracy.

    `pairs` holds (stored, claimed, same[, category]) tuples or dicts with those keys.
    precision (recall) is None when no pair is predicted (labelled) same."""
    scored = score_all(pairs, score)
    return [_metrics(scored, t) for t in thresholds]


def per_category(scored: Sequence[tuple[Pair, int]],
                 thresholds: Iterable[float] = CATEGORY_THRESHOLDS) -> list[dict]:
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for (_s, _c, same, cat), sc in scored:
        groups[(cat, same)].append(sc)
    rows = []
    for (cat, same), scores in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        row = {"category": cat, "same": same, "n": len(scores),
               "mean_score": sum(scores) / len(scores)}
        for t in thresholds:
            ok = sum((sc >= t) == bool(same) for sc in scores)
            row[t] = ok / len(scores)
        rows.append(row)
    return rows


def _fmt(x, pct=False) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def report(scored: Sequence[tuple[Pair, int]], thresholds: Sequence[float],
           cat_thresholds: Sequence[float], scorer_name: str) -> str:
    n = len(scored)
    pos = sum(p[2] for p, _ in scored)
    lines = [f"Scorer `{scorer_name}` on {n} pairs ({pos} same, {n - pos} different).", "",
             "| threshold | precision | recall | F1 | TP | FP | FN | TN |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in (_metrics(scored, t) for t in thresholds):
        lines.append(f"| {m['threshold']:g} | {_fmt(m['precision'])} | {_fmt(m['recall'])} "
                     f"| {_fmt(m['f1'])} | {m['tp']} | {m['fp']} | {m['fn']} | {m['tn']} |")
    lines += ["", "Accuracy per category (same=1: share scored >= threshold; "
              "same=0: share scored below it).", "",
              "| category | same | n | mean score | "
              + " | ".join(f"acc @{t:g}" for t in cat_thresholds) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(cat_thresholds)]
    for r in per_category(scored, cat_thresholds):
        lines.append(f"| {r['category']} | {r['same']} | {r['n']} | {r['mean_score']:.1f} | "
                     + " | ".join(_fmt(r[t], pct=True) for t in cat_thresholds) + " |")
    return "\n".join(lines)


def errors(scored: Sequence[tuple[Pair, int]], t: float, limit: int) -> str:
    bad = [(p, s) for p, s in scored if (s >= t) != bool(p[2])]
    bad.sort(key=lambda ps: (ps[0][3], -ps[1] if not ps[0][2] else ps[1]))
    lines = ["", f"Misclassified at threshold {t:g}: {len(bad)} (showing up to {limit} "
             "per category)", "", "| category | same | score | stored | claimed |",
             "|---|---:|---:|---|---|"]
    shown: dict[str, int] = defaultdict(int)
    for (stored, claimed, same, cat), s in bad:
        if shown[cat] < limit:
            shown[cat] += 1
            lines.append(f"| {cat} | {same} | {s} | `{stored}` | `{claimed}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="bench/namepairs/pairs.csv")
    ap.add_argument("--scorer", default=DEFAULT_SCORER, help="module:function")
    ap.add_argument("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)))
    ap.add_argument("--category-thresholds",
                    default=",".join(map(str, CATEGORY_THRESHOLDS)))
    ap.add_argument("--errors", type=int, default=0,
                    help="also list up to N misclassified pairs per category")
    ap.add_argument("--at", type=float, default=90, help="threshold for --errors")
    args = ap.parse_args(argv)

    pairs = load_pairs(args.pairs)
    score = load_scorer(args.scorer)
    t0 = time.perf_counter()
    scored = score_all(pairs, score)
    dt = time.perf_counter() - t0
    thresholds = [float(x) for x in args.thresholds.split(",")]
    cat_thresholds = [float(x) for x in args.category_thresholds.split(",")]
    print(report(scored, thresholds, cat_thresholds, args.scorer))
    if args.errors:
        print(errors(scored, args.at, args.errors))
    print(f"\n({len(pairs)} pairs scored in {dt:.2f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
