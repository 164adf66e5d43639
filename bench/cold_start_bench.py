"""Cold start: random lookups right after the page cache is dropped, then after
`nikgate index warm`, then warm again (issue 16; docs/performance.md, "Cold start").

    python -m bench.cold_start_bench [--index DIR | --records 1000000 --work DIR]
        [--lookups 1000000] [--seconds 120] [--seed 1] [--json FILE]

Without --index an index of --records synthetic records is generated and built in --work
(kept and reused). The stored NIKs are read first (that reads the index), the index is closed,
then three phases, each `--lookups` single-NIK lookups (NAMA_LGKP) of stored NIKs in random
order, one call each, bounded by --seconds:

  cold     after `sync` and `echo 3 > /proc/sys/vm/drop_caches` (plus posix_fadvise
           DONTNEED on the index files), the index opened afresh;
  warmed   the cache dropped again, `nikgate index warm` run (timed), then the lookups;
  hot      the same lookups again, nothing dropped.

Each phase reports the lookups done, seconds, rate, per-call p50/p99/max, the time to the
first 1,000 / 10,000 / 100,000 lookups, and the bytes of the index files resident in the
page cache before it (fincore, when installed). Dropping the cache needs root; without it
the bench says so and stops (exit 2), since there would be nothing cold to measure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.engine_bench import all_keys
from bench.machine import machine
from nikgate.engine import NikIndex
from nikgate.engine.layout import current_generation
from nikgate.engine.warm import WARM_FILES

NIKGATE = str(Path(sys.executable).with_name("nikgate"))
MILESTONES = (1_000, 10_000, 100_000)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def index_files(index: Path) -> list[Path]:
    gen = current_generation(index)
    return [gen / n for n in WARM_FILES if (gen / n).is_file()]


def drop_cache(files: list[Path]) -> str | None:
    """Evict the page cache; None when done, else why not."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        return f"cannot drop the page cache ({e}); run as root (sudo) to measure a cold start"
    for p in files:  # belt and braces: this file's pages even where drop_caches is partial
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return None


def resident(files: list[Path]) -> int | None:
    """Bytes of `files` in the page cache (fincore), or None without fincore."""
    if not shutil.which("fincore"):
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES",
                          *map(str, files)], capture_output=True, text=True, check=False)
    try:
        return sum(int(line) for line in out.stdout.split())
    except ValueError:
        return None


def lookups(index: Path, niks: list[str], seconds: float) -> dict[str, Any]:
    """One lookup call per NIK, in order, until done or `seconds` have passed."""
    t_open = time.perf_counter()
    idx = NikIndex.open(index)
    open_s = time.perf_counter() - t_open
    lat = []
    at: dict[str, float] = {}
    look = idx.lookup_batch
    clock = time.perf_counter
    t0 = clock()
    deadline = t0 + seconds
    try:
        for i, nik in enumerate(niks, 1):
            s = clock()
            res = look([nik], ("NAMA_LGKP",))
            e = clock()
            if res.values[0][0] is None:
                raise SystemExit(f"stored NIK {nik} not found")
            lat.append(e - s)
            if i in MILESTONES:
                at[f"first_{i}_s"] = round(e - t0, 3)
            if e > deadline:
                break
    finally:
        idx.close()
    total = clock() - t0
    lat.sort()
    n = len(lat)
    return {"lookups": n, "seconds": round(total, 3), "per_second": round(n / total),
            "p50_us": round(lat[n // 2] * 1e6, 1), "p99_us": round(lat[int(n * 0.99)] * 1e6, 1),
            "max_us": round(lat[-1] * 1e6, 1), "open_s": round(open_s, 4), **at}


def ensure_index(work: Path, records: int, seed: int) -> Path:
    out = work / f"index-{records}-seed{seed}"
    if (out / "current").exists():
        return out
    work.mkdir(parents=True, exist_ok=True)
    export = work / f"export-{records}-seed{seed}.csv"
    if not export.exists():
        subprocess.run([NIKGATE, "data", "generate", "--records", str(records), "--seed",
                        str(seed), "--out", str(export)], check=True, stdout=sys.stderr)
    subprocess.run([NIKGATE, "index", "build", "--from", str(export), "--out", str(out)],
                   check=True, stdout=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, help="an existing index (default: build one)")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("var/bench-cold"))
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=120.0, help="bound on each phase")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    index = args.index or ensure_index(args.work, args.records, args.seed)
    files = index_files(index)
    with NikIndex.open(index) as idx:
        keys = all_keys(idx)
    rng = random.Random(args.seed)
    niks = [f"{keys[rng.randrange(len(keys))]:016d}" for _ in range(args.lookups)]
    del keys, idx
    gc.collect()  # the key file's mapping goes with the last reference to the index
    sizes = {p.name: p.stat().st_size for p in files}
    log(f"index {index}: {len(niks):,} random lookups per phase over files {sizes}")

    result: dict[str, Any] = {"bench": "cold_start", "index": str(index), "files": sizes,
                              "lookups": args.lookups, "seed": args.seed,
                              "machine": machine()}
    why = drop_cache(files)
    if why:
        log(f"cold_start_bench: skipped: {why}")
        return 2
    result["cold"] = {"resident_before": resident(files), **lookups(index, niks, args.seconds)}
    log(f"cold:   {result['cold']}")

    drop_cache(files)
    before = resident(files)
    t0 = time.perf_counter()
    warm = subprocess.run([NIKGATE, "index", "warm", "--index", str(index), "--json"],
                          check=True, capture_output=True, text=True)
    warm_s = time.perf_counter() - t0
    result["warm_command"] = {"resident_before": before, "seconds": round(warm_s, 3),
                              "report": json.loads(warm.stdout)}
    log(f"warm:   {result['warm_command']}")
    result["warmed"] = {"resident_before": resident(files),
                        **lookups(index, niks, args.seconds)}
    log(f"warmed: {result['warmed']}")
    result["hot"] = {"resident_before": resident(files), **lookups(index, niks, args.seconds)}
    log(f"hot:    {result['hot']}")

    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
