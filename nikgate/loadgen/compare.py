"""Compare mode: the same batched verification against what a user would pick instead.

Each peer gets the same items (NIKs, claimed name and birth date) in batches of the same
size, from this one Python process: Redis (MGET) and PostgreSQL (= ANY), both real
throwaway servers (servers.py) loaded with the records of the index (peers.py), and
nikgate's engine in-process as the ceiling: no network, no TLS, no receipts or audit.
nikgate's own figure is the gRPC run just measured (grants, audit, receipts on).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .runner import BenchSpec
from .workload import make_items

SECONDS = 10.0


def _batches(spec: BenchSpec) -> list[tuple[list[str], list[str], list[str]]]:
    items = make_items(spec.index, spec.items, spec.hit_rate, spec.hot_share, spec.hot_set,
                       spec.seed)
    b = spec.batch
    return [(items.niks[s:s + b], items.names[s:s + b], items.dates[s:s + b])
            for s in range(0, len(items) - b + 1, b)]


def engine_in_process(spec: BenchSpec, batches, seconds: float) -> dict:
    """NikIndex.verify_batch on the batches from `concurrency` threads (the engine
    releases the GIL), for `seconds`."""
    from nikgate.engine import NikIndex

    stop = time.perf_counter() + seconds
    counts = []
    with NikIndex.open(spec.index) as idx:
        def worker(k: int) -> None:
            n = 0
            i = k
            while time.perf_counter() < stop:
                niks, names, dates = batches[i % len(batches)]
                idx.verify_batch(niks, {"NAMA_LGKP": names, "TGL_LHR": dates})
                n += len(niks)
                i += 1
            counts.append(n)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(k,))
                   for k in range(min(spec.concurrency, 2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    return {"name": "engine in-process", "items_per_s": sum(counts) / elapsed,
            "items": sum(counts), "seconds": elapsed, "error": None}


def compare(spec: BenchSpec, report: dict, workdir: Path, seconds: float = SECONDS) -> dict:
    from . import peers

    batches = _batches(spec)
    rows = [{"name": "nikgate (gRPC, mTLS, grants, audit)", "items_per_s": report["items_per_s"],
             "items": report["items"], "seconds": report["duration_s"], "error": None,
             "p99_ms": report["latency_ms"].get("p99")}]
    rows.append(engine_in_process(spec, batches, seconds))
    available = peers.peers_available()
    workdir.mkdir(parents=True, exist_ok=True)
    for name, cls in (("redis", peers.RedisPeer), ("postgresql", peers.PostgresPeer)):
        why = available.get(name)
        if why:
            rows.append({"name": name, "items_per_s": 0.0, "error": why})
            continue
        try:
            with cls(workdir / name) as peer:
                t0 = time.perf_counter()
                loaded = peer.load(peers.index_records(Path(spec.index)))
                load_s = time.perf_counter() - t0
                r = peer.run(batches, seconds, spec.concurrency)
            rows.append({"name": name, "items_per_s": r.items_per_s, "items": r.items,
                         "seconds": r.seconds, "p99_ms": r.batch_ms.get("p99"),
                         "loaded": loaded, "load_s": load_s, "error": r.error})
        except Exception as e:  # a peer that fails is reported, the others still run
            rows.append({"name": name, "items_per_s": 0.0, "error": f"{type(e).__name__}: {e}"})
    ours = rows[0]["items_per_s"]
    for row in rows:
        row["nikgate_ratio"] = ours / row["items_per_s"] if row["items_per_s"] else None
    targets = []
    for name, need in (("redis", 2.0), ("postgresql", 10.0)):
        row = next(r for r in rows if r["name"] == name)
        ratio = row["nikgate_ratio"]
        targets.append({"target": f"nikgate >= {need:g}x {name}", "ratio": ratio,
                        "met": ratio is not None and ratio >= need})
    return {"batch": spec.batch, "concurrency": spec.concurrency, "seconds": seconds,
            "rows": rows, "targets": targets}
