"""The steps of the scale bench that run in a process of their own (bench/scale_bench.py).

    python -m bench.scale_steps build EXPORT INDEX_DIR --json FILE
    python -m bench.scale_steps measure INDEX_DIR --json FILE [--seconds-per-case S]
        [--repeat 3] [--keys 1000000] [--batch 1000] [--max-calls 20000] [--seed 1]

Each size's build and each size's warm measurement is a fresh process, so the peak RSS it
reports (VmHWM, and the parent's wait4) is that step's alone: neither an earlier size's
keys nor the build's sort arena add to the measuring process's figure. The measurement
reuses bench/engine_bench.py's workload (90% stored NIKs, NAMA_LGKP + TGL_LHR claims, ~10%
altered names), cases and round-picking; only the engine's cases run (the dict, sqlite
and py-lmdb baselines would need tens of GB at 50M records).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.engine_bench import (
    DISTURBED,
    MISS_SHARE,
    Case,
    _busy_seconds,
    _own_seconds,
    all_keys,
    engine_cases,
    log,
    make_workload,
    pick_round,
    run_case,
    warm_files,
)
from nikgate.engine import NikIndex
from nikgate.engine.build import build_index
from nikgate.engine.generations import SEALED_FILES


def memory_status() -> dict[str, float]:
    """This process's VmHWM (peak resident), VmRSS, RssAnon and RssFile, in MiB."""
    out: dict[str, float] = {}
    wanted = {"VmHWM:": "vm_hwm_mib", "VmRSS:": "vm_rss_mib", "RssAnon:": "rss_anon_mib",
              "RssFile:": "rss_file_mib"}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(None, 1)[0]
            if key in wanted:
                out[wanted[key]] = round(int(line.split()[1]) / 1024, 1)  # kB
    return out


def build(export: Path, index: Path) -> dict[str, Any]:
    """Build the index from the export with the engine's build_index, timed."""
    from nikgate.progress import terminal_progress

    busy0, own0 = _busy_seconds(), _own_seconds()
    with terminal_progress("reading export", export.stat().st_size, "bytes") as progress:
        report = build_index(export, index, progress=progress)
    summary = report.summary()
    summary["others_cores"] = round(max(0.0, (_busy_seconds() - busy0)
                                        - (_own_seconds() - own0)) / report.seconds, 2)
    summary["memory"] = memory_status()
    log(f"built: {summary['stored']:,} records, {summary['rows_per_second']:,} rows/s, "
        f"{summary['seconds']} s, peak RSS {summary['memory']['vm_hwm_mib']:,} MiB")
    return summary


def measure(index: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Warm verify_batch and lookup_batch rates on 1 and 2 threads, rounds interleaved."""
    idx = NikIndex.open(index)
    try:
        gen = idx.generation
        warm = warm_files([gen / n for n in SEALED_FILES if (gen / n).is_file()])
        stored = idx.record_count
        keys = all_keys(idx)   # array('Q'): 8 bytes a key, not a Python int each
        n_keys = min(args.keys, max(args.batch, stored))
        log(f"workload: {n_keys:,} keys of {stored:,}, {MISS_SHARE:.0%} absent")
        w = make_workload(idx, keys, n_keys, args.batch, random.Random(args.seed))
        del keys
        # the baselines' forms of the keys are not used here; drop them
        w.ints, w.keys8, w.names, w.births = [], [], [], []
        cases = engine_cases(idx, w)
        t0 = time.perf_counter()
        for j in range(len(w.niks)):   # fault the mapped pages of the keys into this process
            cases["lookup"](j)
        warm["mmap_pass_seconds"] = round(time.perf_counter() - t0, 1)

        nb = len(w.niks)
        plan = [("verify_batch", cases["verify"], 1), ("verify_batch", cases["verify"], 2),
                ("lookup_batch", cases["lookup"], 1), ("lookup_batch", cases["lookup"], 2)]
        rounds: list[list[Case]] = [[] for _ in plan]
        for r in range(args.repeat):
            log(f"round {r + 1} of {args.repeat}")
            for k, (name, work, threads) in enumerate(plan):
                rounds[k].append(run_case(name, work, nb, args.seconds_per_case,
                                          args.max_calls, threads))
    finally:
        idx.close()
    out = []
    for (name, _, threads), rs in zip(plan, rounds):
        rates = sorted(c.rate for c in rs)
        out.append({"name": name, "threads": threads,
                    "best_per_s": round(rates[-1]),
                    "median_per_s": round(rates[len(rates) // 2]),
                    "median_undisturbed_per_s": round(pick_round(rs).rate),
                    "rounds": [(round(c.rate), c.others_cores) for c in rs],
                    "disturbed_rounds": sum(c.others_cores >= DISTURBED for c in rs)})
    return {"stored": stored, "workload": {"keys": w.items, "hits": w.hits,
                                           "altered_names": w.altered, "batch": args.batch},
            "warm_up": warm, "cases": out, "memory": memory_status()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale_steps",
                                description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    b = sub.add_parser("build")
    b.add_argument("export", type=Path)
    b.add_argument("index", type=Path)
    b.add_argument("--json", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("index", type=Path)
    m.add_argument("--json", type=Path, required=True)
    m.add_argument("--seconds-per-case", type=float, default=5.0)
    m.add_argument("--repeat", type=int, default=3)
    m.add_argument("--keys", type=int, default=1_000_000)
    m.add_argument("--batch", type=int, default=1000)
    m.add_argument("--max-calls", type=int, default=20_000)
    m.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.step == "build":
        result = build(args.export, args.index)
    else:
        result = measure(args.index, args)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
