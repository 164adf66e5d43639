"""FMR and FNMR of the fingerprint matcher on synthetic fingers, the default threshold, a DET plot.

    python -m bench.fingerprint_det                       # 10,000 genuine, 30,000 impostor pairs
    python -m bench.fingerprint_det --genuine 2000 --impostors 2000 --no-write   # a quick look

Genuine pair k: the chip template of person k's right or left index finger against a
synthetic live capture of the same finger (nikgate/fingerprint/synth.py: rotation, shift,
skin stretch, noise, partial contact, spurious minutiae, type flips). Impostor pair k: the
same kind of chip template against a capture of a different person's same finger. Scores
come from the fast matcher; a sample is also scored by the reference to check they agree.
The threshold chosen is the smallest whole score whose FMR is at most --target-fmr;
writes docs/perf/fingerprint-det.json and .png (docs/fingerprint.md shows them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.machine import describe, machine
from nikgate.fingerprint import constants, reference
from nikgate.fingerprint.matcher import match_score, prepare
from nikgate.fingerprint.synth import Distortion, finger_template, live_capture, seed_for
from nikgate.fingerprint.template import LEFT_INDEX, RIGHT_INDEX

ROOT = Path(__file__).resolve().parent.parent
OUT_JSON = ROOT / "docs" / "perf" / "fingerprint-det.json"
OUT_PLOT = ROOT / "docs" / "perf" / "fingerprint-det.png"
CHUNK = 250


def person(k: int) -> str:
    """A synthetic person id (NIK-shaped; only a seed here)."""
    return f"3171{k:012d}"


def finger_of(k: int) -> int:
    return RIGHT_INDEX if k % 2 == 0 else LEFT_INDEX


def pair(kind: str, k: int, people: int, seed: int):
    """(live capture, chip template) of genuine or impostor pair k."""
    owner = k % people
    chip = finger_template(person(owner), finger_of(owner))
    if kind == "genuine":
        source = chip
    else:   # a person outside the genuine pool, so never the chip's owner
        source = finger_template(person(people + k), finger_of(owner))
    return live_capture(source, seed_for(seed, kind, k)), chip


def _score_chunk(job: tuple[str, int, int, int, int]) -> tuple[str, list[float], float]:
    kind, start, stop, people, seed = job
    scores = []
    spent = 0.0
    for k in range(start, stop):
        live, chip = pair(kind, k, people, seed)
        t0 = time.perf_counter()
        scores.append(match_score(live, chip))
        spent += time.perf_counter() - t0
    return kind, scores, spent


def score_all(genuine: int, impostors: int, seed: int,
              workers: int) -> tuple[list[float], list[float], float]:
    """All scores, in pair order, and the seconds spent inside match_score."""
    jobs = [("genuine", a, min(a + CHUNK, genuine), genuine, seed)
            for a in range(0, genuine, CHUNK)]
    jobs += [("impostor", a, min(a + CHUNK, impostors), genuine, seed)
             for a in range(0, impostors, CHUNK)]
    out: dict[str, list[float]] = {"genuine": [], "impostor": []}
    spent = 0.0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for kind, scores, seconds in pool.imap(_score_chunk, jobs):   # in job order
            out[kind] += scores
            spent += seconds
    return out["genuine"], out["impostor"], spent


def rates(genuine: list[float], impostor: list[float], threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) when scores >= threshold match."""
    fmr = sum(s >= threshold for s in impostor) / len(impostor)
    fnmr = sum(s < threshold for s in genuine) / len(genuine)
    return fmr, fnmr


def choose_threshold(impostor: list[float], target: float) -> float:
    """The smallest whole score at which at most `target` of impostors match."""
    allowed = math.floor(target * len(impostor))
    ranked = sorted(impostor, reverse=True)
    # Any threshold above the (allowed+1)-th highest impostor score lets `allowed` through.
    worst = ranked[allowed] if allowed < len(ranked) else -1.0
    return float(math.floor(worst) + 1)


def speed(seed: int, samples: int) -> dict[str, Any]:
    """µs per match: fast (chip prepared once, as on a card), fast (both raw), reference;
    and whether the reference agrees with the fast matcher on the same genuine and
    impostor pairs."""
    pairs = [pair(kind, k, samples, seed + 1) for k in range(samples)
             for kind in ("genuine", "impostor")]
    prepared = [(live, prepare(chip)) for live, chip in pairs]
    t0 = time.perf_counter()
    fast_raw = [match_score(live, chip) for live, chip in pairs]
    t1 = time.perf_counter()
    fast_prepared = [match_score(live, chip) for live, chip in prepared]
    t2 = time.perf_counter()
    t_prepare = time.perf_counter()
    for _, chip in pairs:
        prepare(chip)
    t_prepare = time.perf_counter() - t_prepare
    t3 = time.perf_counter()
    ref = [reference.match_score(live, chip) for live, chip in pairs]
    t4 = time.perf_counter()
    n = len(pairs)
    return {
        "pairs": n,
        "fast_us_prepared_chip": round((t2 - t1) / n * 1e6),
        "fast_us_raw": round((t1 - t0) / n * 1e6),
        "prepare_chip_us": round(t_prepare / n * 1e6),
        "reference_us": round((t4 - t3) / n * 1e6),
        "reference_disagreements": sum(a != b for a, b in zip(ref, fast_raw)),
        "prepared_disagreements": sum(a != b for a, b in zip(fast_prepared, fast_raw)),
    }


def det_points(genuine: list[float], impostor: list[float]) -> list[tuple[float, float, float]]:
    """(threshold, FMR, FNMR) at every distinct score."""
    thresholds = sorted(set(genuine) | set(impostor))
    g, i = sorted(genuine), sorted(impostor)
    points = []
    gi = ii = 0
    for t in thresholds:
        while gi < len(g) and g[gi] < t:
            gi += 1
        while ii < len(i) and i[ii] < t:
            ii += 1
        points.append((t, (len(i) - ii) / len(i), gi / len(g)))
    return points


def equal_error_rate(points: list[tuple[float, float, float]]) -> float:
    best = min(points, key=lambda p: abs(p[1] - p[2]))
    return (best[1] + best[2]) / 2


def plot(genuine: list[float], impostor: list[float], points, chosen: float,
         at_chosen: tuple[float, float], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nd = statistics.NormalDist()
    floor_g, floor_i = 0.5 / len(genuine), 0.5 / len(impostor)

    def probit(p: float, floor: float) -> float:
        return nd.inv_cdf(min(max(p, floor), 1 - floor))

    fig, (det, hist) = plt.subplots(1, 2, figsize=(12, 5))
    xs = [probit(fmr, floor_i) for _, fmr, _ in points]
    ys = [probit(fnmr, floor_g) for _, _, fnmr in points]
    det.plot(xs, ys, lw=1.5)
    det.plot([probit(at_chosen[0], floor_i)], [probit(at_chosen[1], floor_g)], "o", color="C3",
             label=f"threshold {chosen:g}: FMR {at_chosen[0]:.3%}, FNMR {at_chosen[1]:.2%}")
    ticks = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    labels = ["0.01%", "0.1%", "1%", "5%", "20%", "50%"]
    det.set_xticks([nd.inv_cdf(t) for t in ticks], labels)
    det.set_yticks([nd.inv_cdf(t) for t in ticks], labels)
    det.set_xlim(nd.inv_cdf(floor_i), nd.inv_cdf(0.5))
    det.set_ylim(nd.inv_cdf(floor_g), nd.inv_cdf(0.5))
    det.grid(True, alpha=0.4)
    det.set_xlabel(f"false match rate ({len(impostor):,} impostor pairs)")
    det.set_ylabel(f"false non-match rate ({len(genuine):,} genuine pairs)")
    det.set_title("DET curve (normal-deviate axes; 0 drawn at half a pair)")
    det.legend(loc="upper right")
    bins = [b for b in range(0, 101)]
    hist.hist(impostor, bins=bins, alpha=0.6, label="impostor", log=True)
    hist.hist(genuine, bins=bins, alpha=0.6, label="genuine", log=True)
    hist.axvline(chosen, color="C3", ls="--", label=f"threshold {chosen:g}")
    hist.set_xlabel("score (0-100)")
    hist.set_ylabel("pairs")
    hist.set_title("score distributions")
    hist.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genuine", type=int, default=10_000)
    ap.add_argument("--impostors", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--target-fmr", type=float, default=1e-4)
    ap.add_argument("--speed-pairs", type=int, default=100,
                    help="genuine and as many impostor pairs timed on both matchers")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    genuine, impostor, spent = score_all(args.genuine, args.impostors, args.seed, args.workers)
    chosen = choose_threshold(impostor, args.target_fmr)
    at_chosen = rates(genuine, impostor, chosen)
    at_default = rates(genuine, impostor, constants.DEFAULT_THRESHOLD)
    points = det_points(genuine, impostor)
    timing = speed(args.seed, args.speed_pairs)
    elapsed = time.perf_counter() - started
    table = [{"threshold": t, "fmr": fmr, "fnmr": fnmr}
             for t, fmr, fnmr in (
                 (float(t), *rates(genuine, impostor, t)) for t in range(4, 41, 2))]
    report: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["python -m bench.fingerprint_det", *(argv or sys.argv[1:])]),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "seed": args.seed,
        "target_fmr": args.target_fmr,
        "chosen_threshold": chosen,
        "fmr_at_chosen": at_chosen[0],
        "fnmr_at_chosen": at_chosen[1],
        "default_threshold": constants.DEFAULT_THRESHOLD,
        "fmr_at_default": at_default[0],
        "fnmr_at_default": at_default[1],
        "equal_error_rate": equal_error_rate(points),
        "highest_impostor_scores": sorted(impostor)[-5:],
        "lowest_genuine_scores": sorted(genuine)[:5],
        "genuine_median": statistics.median(genuine),
        "impostor_median": statistics.median(impostor),
        "fast_us_per_match_in_run": round(spent / (len(genuine) + len(impostor)) * 1e6),
        "speed": timing,
        "table": table,
        "distortion": dataclasses.asdict(Distortion()),
        "matcher": {k: getattr(constants, k) for k in (
            "PAIR_DISTANCE", "PAIR_ANGLE", "EDGE_MIN", "EDGE_MAX", "EDGE_NEIGHBOURS",
            "EDGE_LENGTH_TOLERANCE", "EDGE_ANGLE_TOLERANCE", "MAX_ROTATION",
            "CANDIDATE_ALIGNMENTS")},
        "seconds": round(elapsed, 1),
        "workers": args.workers,
    }
    print(f"{describe(report['machine'])}; {args.workers} workers, {elapsed:.0f} s")
    print(f"{len(genuine):,} genuine, {len(impostor):,} impostor pairs")
    print(f"threshold for FMR <= {args.target_fmr:.4%}: {chosen:g} -> "
          f"FMR {at_chosen[0]:.4%}, FNMR {at_chosen[1]:.3%}")
    print(f"configured default {constants.DEFAULT_THRESHOLD:g}: FMR {at_default[0]:.4%}, "
          f"FNMR {at_default[1]:.3%}; EER {report['equal_error_rate']:.3%}")
    print(f"fast: {timing['fast_us_prepared_chip']} µs/match with the chip prepared, "
          f"{timing['fast_us_raw']} µs raw; reference {timing['reference_us']} µs; "
          f"reference disagreements {timing['reference_disagreements']} of {timing['pairs']}")
    if chosen != constants.DEFAULT_THRESHOLD:
        print(f"note: constants.DEFAULT_THRESHOLD is {constants.DEFAULT_THRESHOLD:g}, "
              f"this run chose {chosen:g}")
    if not args.no_write:
        OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
        OUT_JSON.write_text(json.dumps(report, indent=2) + "\n")
        plot(genuine, impostor, points, chosen, at_chosen, OUT_PLOT)
        print(f"wrote {OUT_JSON.relative_to(ROOT)} and {OUT_PLOT.relative_to(ROOT)}")
    return 0 if timing["reference_disagreements"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
