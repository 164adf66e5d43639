"""Index generations benchmark: a delta as a new generation, a live swap under load, pulls.

    python -m bench.generation_bench [--work var/bench-gen] [--records 1000000]
        [--rate 500] [--seconds 24] [--changes 1000] [--json FILE]

Set-up (once): `nikgate demo --no-serve` in WORK (bench/service_bench.py `prepare`).
Then `nikgate serve` with two workers (its Server) and, over one mTLS connection per
worker, unary Verify in an open loop at `--rate` calls/s for `--seconds`, latency from the
scheduled send (no coordinated omission). A third of the way in, a delta of `--changes`
rows is applied with `--new-generation` (its copy, apply, verify and seal are timed); each
worker notices it within `[index] reload_check_seconds`, verifies it in full and swaps
(its log gives the seconds). Latency is reported before, around (from the publish to 2 s
after the last swap) and after the swap, and every failed call is counted. Last, the new
generation is pulled into empty replicas from the directory and over HTTP on loopback
(MB/s, seconds, verify seconds). Bounded: about a minute after the set-up.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from bench.machine import machine
from bench.service_bench import INSTITUTION, Server, prepare
from nikgate.loadgen.percentiles import nearest_rank


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _pcts(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    v = sorted(values)
    return {"n": len(v), "p50_ms": round(nearest_rank(v, 50) * 1e3, 2),
            "p99_ms": round(nearest_rank(v, 99) * 1e3, 2), "max_ms": round(v[-1] * 1e3, 2)}


def open_loop(port: int, work: Path, niks: list[str], names: list[str], rate: float,
              seconds: float, results: list, failures: list) -> None:
    """Scheduled unary Verify calls; (scheduled time, latency) into `results`."""
    from nikgate.clients import Connection
    from nikgate.v1 import verification_pb2 as pb
    from nikgate.v1 import verification_pb2_grpc as pbg

    pki = work / "pki"
    conn = Connection(f"127.0.0.1:{port}", pki / "ca/ca.crt",
                      pki / f"issued/{INSTITUTION}.crt", pki / f"issued/{INSTITUTION}.key")
    channels = [grpc.secure_channel(f"127.0.0.1:{port}", conn.credentials(),
                                    options=[*conn.options(), ("grpc.enable_retries", 0),
                                             ("grpc.use_local_subchannel_pool", 1)])
                for _ in range(2)]
    stubs = [pbg.VerificationStub(ch) for ch in channels]
    reqs = [pb.VerifyRequest(nik=n, claims={"NAMA_LGKP": m}) for n, m in zip(niks, names)]
    start = time.perf_counter() + 0.5
    total = int(rate * seconds)
    pending = threading.Semaphore(2000)

    def done(fut, scheduled: float) -> None:
        try:
            fut.result()
            results.append((scheduled - start, time.perf_counter() - scheduled))
        except grpc.RpcError as e:
            failures.append(f"{e.code()}: {e.details()}")
        pending.release()

    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pending.acquire()
        fut = stubs[i % 2].Verify.future(reqs[i % len(reqs)], timeout=10)
        fut.add_done_callback(lambda f, s=scheduled: done(f, s))
    for _ in range(2000):
        pending.acquire()
    for ch in channels:
        ch.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="var/bench-gen")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=24)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    from nikgate.engine import NikIndex
    from nikgate.engine.delta import apply_delta
    from nikgate.engine.replica import DirectorySource, HttpSource, pull
    from nikgate.server.generations import GenerationService
    from nikgate.synth import write_delta

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.records)
    index = work / "index"
    with NikIndex.open(index) as idx:
        niks = idx.sample_niks(4096, start=0)
        names = [idx.lookup(n, ["NAMA_LGKP"])["NAMA_LGKP"] or "" for n in niks]
        base_generation = idx.generation.name
    delta = work / "delta.csv"
    export = next(work.glob("warehouse-*.csv"), None)
    if export is None:
        raise SystemExit(f"no warehouse-*.csv in {work}: the demo set-up keeps one")
    write_delta(export, delta, changes=args.changes, seed=int(time.time()) % 10_000)

    server = Server("nikgate", 2, work, work / "pki", 1000)
    out: dict = {"machine": machine(), "records": args.records, "rate": args.rate,
                 "seconds": args.seconds, "changes": args.changes,
                 "base_generation": base_generation}
    results: list = []
    failures: list = []
    try:
        loop = threading.Thread(target=open_loop, args=(
            server.port, work, niks, names, args.rate, args.seconds, results, failures))
        loop.start()
        time.sleep(0.5 + args.seconds / 3)
        published_at = time.perf_counter()
        report = apply_delta(index, delta, new_generation=True)
        t_published = time.perf_counter() - published_at
        out["delta_generation"] = {**report.summary(), "wall_seconds": round(t_published, 3)}
        log(f"delta published as {report.generation}: {report.copied_bytes / 1e6:.0f} MB "
            f"copied, {t_published:.2f} s")
        loop.join()
        if not results:
            raise SystemExit("the load loop made no call; see the traceback above")
        swaps = [float(x) for x in re.findall(r'"swap_seconds": ([0-9.]+)',
                                              server.log_path.read_text())]
        out["swap_seconds_per_worker"] = swaps
    finally:
        server.stop()
    # windows relative to the loop's start: publish at seconds/3, swaps within ~3 s
    t0 = args.seconds / 3
    t1 = t0 + t_published + 1.0 + max(swaps or [0]) + 2.0
    out["latency"] = {
        "before": _pcts([lat for at, lat in results if at < t0]),
        "around_swap": _pcts([lat for at, lat in results if t0 <= at < t1]),
        "after": _pcts([lat for at, lat in results if at >= t1]),
    }
    by_second: dict[int, list[float]] = {}
    for at, lat in results:
        by_second.setdefault(int(at), []).append(lat)
    out["p99_ms_by_second"] = {k: _pcts(v)["p99_ms"] for k, v in sorted(by_second.items())}
    out["failed_calls"] = len(failures)
    out["failures_sample"] = failures[:3]
    with tempfile.TemporaryDirectory(prefix="replica-", dir=work) as tmp:
        r = pull(DirectorySource(index), Path(tmp) / "dir")
        out["pull_directory"] = r.summary()
        service = GenerationService(index, "127.0.0.1:0")
        service.start()
        try:
            r = pull(HttpSource(f"http://127.0.0.1:{service.port}"), Path(tmp) / "http")
            out["pull_http"] = r.summary()
        finally:
            service.stop()
    shutil.rmtree(work / "audit", ignore_errors=True)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
