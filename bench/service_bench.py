"""Web service benchmark: the real `nikgate serve` against a trivial gRPC server, mTLS on.

    python -m bench.service_bench [--records 1000000] [--seconds 10] [--workers 1,2]
        [--only unary,open,batch,stream] [--rate 500] [--json FILE] [--profile DIR]

Set-up: `nikgate demo --no-serve --dir var/bench-svc --records N --port 0` makes (once)
the synthetic data, the index, the PKI, the receipt signing key, the institution registry
and nikgate.toml. Each server then runs as a subprocess on 127.0.0.1 with an OS-picked port:

- nikgate: `python -m nikgate serve --config var/bench-svc/nikgate.toml` with
  NIKGATE_SERVER_ADDRESS=127.0.0.1:0, NIKGATE_SERVER_WORKERS=N,
  NIKGATE_SERVER_PORT_FILE=<file>, NIKGATE_METRICS_ADDRESS="" (stopped with SIGTERM);
- trivial: `python -m bench.trivial_server` (same credentials, same method path, a fixed
  response; the ceiling Python gRPC sets on this machine).

Load comes from separate client processes (multiprocessing, spawn), each running grpc.aio on
uvloop with its own connections (a local subchannel pool per channel, so one channel is one
TCP connection). With N workers behind SO_REUSEPORT the kernel places each connection on a
worker; each client process probes its connections (the worker pid is in the response's
transaction id) and reopens them until they are spread evenly over the workers, so a
2-worker figure is not a 1-worker figure by bad luck. Every case has a 1 s unmeasured
warm-up, then runs for --seconds (or --max-calls per process). Latency is per call
(perf_counter_ns); server CPU is read from /proc for the worker processes, so "server us
per call" compares the two servers without the client's share of the two cores.

Cases (all Verification):
  unary   Verify, closed loop at 1 and 16 in flight, nikgate vs trivial, per worker count
  open    Verify, open loop at --rate calls/s; latency from the SCHEDULED send time
          (no coordinated omission); service time and send lag are shown beside it
  batch   VerifyBatch, 1,000 items per message (NAMA_LGKP + TGL_LHR claimed, 90% stored
          NIKs, ~10% names lightly altered), NIKs as `niks` strings and as `nik_numbers`
  stream  VerifyStream, batches of 1,000 on 4 streams with a window of 2 each

--profile DIR runs `py-spy record --nonblocking` on every nikgate worker during each nikgate
case and writes raw stacks plus a summary (figures from such a run are flagged "profiled").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from array import array
from collections import Counter, deque
from pathlib import Path
from typing import Any

from bench.machine import machine as _machine
from nikgate.loadgen.percentiles import nearest_rank
from nikgate.methods import rpc

ROOT = Path(__file__).resolve().parent.parent
VERIFY = rpc("Verification", "Verify").path
VERIFY_BATCH = rpc("Verification", "VerifyBatch").path
VERIFY_STREAM = rpc("Verification", "VerifyStream").path
FIELDS = ("NAMA_LGKP", "TGL_LHR")
MISS_SHARE = 0.10
ALTERED_SHARE = 0.10
ALTERATIONS = (str.lower, lambda s: "H. " + s, lambda s: "DR. " + s, lambda s: s + ", S.KOM")
INSTITUTION = "bank-demo"
CASES = ("unary", "open", "batch", "stream")
TARGETS = {
    "verify_vs_trivial": 0.85,          # Verify rate / trivial handler rate, at least
    "batch_items_per_s_2w": 500_000,    # VerifyBatch over 2 workers, at least
    "open_p99_ms": 2.0,                 # Verify p99 at 500 calls/s, at most
}
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- client processes ---------------------------------------------------------------------------
# Everything below up to "parent" runs in spawned client processes: grpc is imported there.


def _channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.ssl_target_name_override", "localhost"),
        ("grpc.default_authority", "localhost"),
        ("grpc.max_receive_message_length", 16 * MiB),
        ("grpc.max_send_message_length", 16 * MiB),
        ("grpc.use_local_subchannel_pool", 1),  # one channel = one connection
    ]


async def _probe_worker(channel, probe: bytes) -> str:
    from nikgate.v1 import verification_pb2 as pb

    raw = await channel.unary_unary(VERIFY)(probe, timeout=10)
    tx = pb.VerifyResponse.FromString(raw).transaction_id
    return tx.split("-")[1] if tx.count("-") >= 2 else "?"


async def _open_channels(spec: dict) -> tuple[list, dict[str, int], int]:
    """spec["channels"] connections, spread evenly over spec["workers"] when balancing."""
    import grpc

    creds = grpc.ssl_channel_credentials(
        root_certificates=Path(spec["ca"]).read_bytes(),
        private_key=Path(spec["key"]).read_bytes(),
        certificate_chain=Path(spec["cert"]).read_bytes())
    want, workers = spec["channels"], spec["workers"]
    per_worker = -(-want // workers)
    channels, placed, attempts = [], Counter(), 0
    while len(channels) < want:
        ch = grpc.aio.secure_channel(spec["address"], creds, options=_channel_options())
        worker = await _probe_worker(ch, spec["probe"])
        attempts += 1
        if spec["balance"] and workers > 1 and placed[worker] >= per_worker and attempts < 60:
            await ch.close()
            continue
        placed[worker] += 1
        channels.append(ch)
    return channels, dict(placed), attempts


class Tally:
    def __init__(self) -> None:
        self.lat = array("q")       # ns, per call (open loop: from the scheduled time)
        self.service = array("q")   # open loop: from the actual send
        self.lag = array("q")       # open loop: actual send - scheduled send
        self.errors: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.calls = 0
        self.messages = 0           # streams: response messages

    def check(self, raw: bytes, batch: bool) -> None:
        from nikgate.v1 import verification_pb2 as pb

        if batch:
            self.statuses.update(pb.VerifyBatchResponse.FromString(raw).status)
        else:
            self.statuses[pb.VerifyResponse.FromString(raw).status] += 1


async def _closed_loop(channels, spec: dict, tally: Tally, until_ns: int, max_calls: int,
                       check: bool) -> None:
    import grpc

    path = VERIFY_BATCH if spec["mode"] == "batch" else VERIFY
    calls = [ch.unary_unary(path) for ch in channels]
    reqs = spec["requests"]
    n, inflight = len(reqs), spec["inflight"]
    batch = spec["mode"] == "batch"
    timeout = spec["deadline"] or None
    clock = time.perf_counter_ns

    async def one(k: int) -> None:
        call = calls[k % len(calls)]
        i = k * 7919
        while clock() < until_ns and tally.calls < max_calls:
            t = clock()
            try:
                raw = await call(reqs[i % n], timeout=timeout)
                tally.lat.append(clock() - t)
                if check:
                    tally.check(raw, batch)
            except grpc.aio.AioRpcError as e:
                tally.errors[e.code().name] += 1
            tally.calls += 1
            i += 1

    await asyncio.gather(*(one(k) for k in range(inflight)))


async def _open_loop(channels, spec: dict, tally: Tally, start_ns: int, seconds: float,
                     max_calls: int) -> None:
    import grpc

    calls = [ch.unary_unary(VERIFY) for ch in channels]
    reqs = spec["requests"]
    interval = 1e9 / spec["rate"]
    total = min(int(seconds * spec["rate"]), max_calls)
    clock = time.perf_counter_ns
    pending: set[asyncio.Task] = set()

    async def one(i: int, scheduled: int) -> None:
        sent = clock()
        try:
            await calls[i % len(calls)](reqs[i % len(reqs)], timeout=spec["deadline"] or None)
            done = clock()
            tally.lat.append(done - scheduled)
            tally.service.append(done - sent)
            tally.lag.append(sent - scheduled)
        except grpc.aio.AioRpcError as e:
            tally.errors[e.code().name] += 1
        tally.calls += 1

    loop = asyncio.get_running_loop()
    for i in range(total):
        scheduled = start_ns + int(i * interval)
        delay = (scheduled - clock()) / 1e9
        if delay > 0.0002:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i, scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)


async def _streams(channels, spec: dict, tally: Tally, until_ns: int, max_calls: int,
                   check: bool) -> None:
    import grpc

    reqs = spec["requests"]
    clock = time.perf_counter_ns

    async def one(s: int) -> None:
        call = channels[s % len(channels)].stream_stream(VERIFY_STREAM)
        window = asyncio.Semaphore(spec["window"])
        sent: deque[int] = deque()

        async def requests():
            i = s * 7919
            while True:
                await window.acquire()
                if clock() >= until_ns or tally.messages >= max_calls:
                    return
                sent.append(clock())
                yield reqs[i % len(reqs)]
                i += 1

        try:
            async for raw in call(requests(), timeout=600):
                tally.lat.append(clock() - sent.popleft())
                tally.messages += 1
                tally.calls += 1
                if check:
                    tally.check(raw, True)
                window.release()
        except grpc.aio.AioRpcError as e:
            tally.errors[e.code().name] += 1

    await asyncio.gather(*(one(s) for s in range(spec["streams"])))


async def _client(spec: dict, barrier, results) -> None:
    import resource

    channels, placed, attempts = await _open_channels(spec)
    warm = Tally()
    clock = time.perf_counter_ns
    warm_until = clock() + int(spec["warmup"] * 1e9)
    if spec["mode"] == "stream":
        await _streams(channels, spec, warm, warm_until, 10**9, True)
    elif spec["mode"] == "open":
        await _open_loop(channels, spec, warm, clock(), spec["warmup"], 10**9)
    else:
        await _closed_loop(channels, spec, warm, warm_until, 10**9, True)
    if spec["mode"] == "open":  # the warm-up above did not parse; check one response
        warm_loop = {**spec, "inflight": 1}
        await _closed_loop(channels[:1], warm_loop, warm, clock() + 50_000_000, 20, True)
    barrier.wait(60)
    tally = Tally()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    start = clock()
    until = start + int(spec["seconds"] * 1e9)
    if spec["mode"] == "stream":
        await _streams(channels, spec, tally, until, spec["max_calls"], False)
    elif spec["mode"] == "open":
        await _open_loop(channels, spec, tally, start, spec["seconds"], spec["max_calls"])
    else:
        await _closed_loop(channels, spec, tally, until, spec["max_calls"], False)
    elapsed = (clock() - start) / 1e9
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    for ch in channels:
        await ch.close()
    results.put({
        "calls": tally.calls, "elapsed_s": elapsed,
        "lat": tally.lat.tobytes(), "service": tally.service.tobytes(),
        "lag": tally.lag.tobytes(), "errors": dict(tally.errors),
        "warm_statuses": dict(warm.statuses), "warm_errors": dict(warm.errors),
        "placed": placed, "connect_attempts": attempts,
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
    })


def client_main(spec: dict, barrier, results) -> None:
    run_client(_client, spec, barrier, results)


def run_client(client, spec: dict, barrier, results) -> None:
    """A client process's body: `client(spec, barrier, results)` on uvloop; a failure is
    reported and breaks the barrier, so the parent never waits for it."""
    import uvloop

    try:
        uvloop.run(client(spec, barrier, results))
    except BaseException as e:  # the parent must not wait forever
        results.put({"failed": f"{type(e).__name__}: {e}"})
        try:
            barrier.abort()
        except Exception:
            pass
        raise


# -- parent: servers ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        return sorted(int(p) for p in
                      Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return total - idle, total


def wait_quiet(limit_s: float, threshold: float = 0.15) -> float:
    """Wait (at most limit_s) until other processes use < threshold cores; return the last
    reading. Other load on a 2-core machine distorts every figure here."""
    deadline = time.monotonic() + limit_s
    cores = os.cpu_count() or 1
    while True:
        b0 = _machine_busy()
        time.sleep(0.5)
        b1 = _machine_busy()
        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1]) * cores
        if busy < threshold or time.monotonic() > deadline:
            return busy
        time.sleep(2.0)


class Server:
    """`nikgate serve` or bench.trivial_server as a subprocess, stopped with SIGTERM."""

    def __init__(self, kind: str, workers: int, work: Path, pki: Path, batch: int) -> None:
        self.kind, self.workers = kind, workers
        port_file = work / f"port-{kind}-{workers}"
        port_file.unlink(missing_ok=True)
        self.log_path = work / f"server-{kind}-{workers}.log"
        env = dict(os.environ)
        # Each run starts an empty audit log: gigabytes left by earlier runs only slow the disk.
        shutil.rmtree(work / "audit", ignore_errors=True)
        if kind == "nikgate-bare":  # grants, quotas and audit off: their cost, same run
            env.update(NIKGATE_ACCESS_ENFORCE="false", NIKGATE_AUDIT_ENABLED="false")
        # Load that sweeps a 1M-record index many times a minute is what the scraping
        # guard exists to stop; its own cost is measured by bench/scraping_fpr.py --cost.
        env.update(NIKGATE_ACCESS_SCRAPING_GUARD="false")
        if kind.startswith("nikgate"):
            cmd = [sys.executable, "-m", "nikgate", "serve", "--config",
                   str(work / "nikgate.toml")]
            env.update(NIKGATE_SERVER_ADDRESS="127.0.0.1:0", NIKGATE_SERVER_WORKERS=str(workers),
                       NIKGATE_SERVER_PORT_FILE=str(port_file), NIKGATE_METRICS_ADDRESS="")
        else:
            cmd = [sys.executable, "-m", "bench.trivial_server", "--pki", str(pki),
                   "--workers", str(workers), "--port-file", str(port_file),
                   "--batch-items", str(batch)]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not port_file.exists() or len(self.worker_pids()) < workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start; see {self.log_path}")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        time.sleep(1.5)  # every worker listening (the port file follows the first one)

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid)

    def cpu(self) -> dict[int, float]:
        return {pid: _cpu_seconds(pid) for pid in self.worker_pids()}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# -- parent: workload ---------------------------------------------------------------------------


def prepare(work: Path, records: int) -> None:
    from nikgate.engine import NikIndex
    from nikgate.errors import IndexFormatError

    if (work / "index" / "current").exists():
        try:
            NikIndex.open(work / "index").close()
        except IndexFormatError as e:  # built by an older nikgate: rebuild from the CSV
            log(f"rebuilding the index: {e}")
            shutil.rmtree(work / "index")
    if not (work / "nikgate.toml").exists() or not (work / "index" / "current").exists():
        log(f"preparing {work} ({records:,} records; the first run takes about a minute)")
    subprocess.run([sys.executable, "-m", "nikgate", "demo", "--no-serve", "--dir", str(work),
                    "--records", str(records), "--port", "0"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    # The demo grant has a daily quota that a day of benchmarking uses up: this
    # institution's grant gets none, so every case measures serving, not refusals.
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.store import ControlStore

    store = ControlStore(work / "control")
    try:
        grant = store.snapshot()[2].get(INSTITUTION)
        if grant is not None and (grant.daily_quota or grant.rate_per_second):
            Admin(store, "bench").set_grant(grant.with_changes(daily_quota=0,
                                                               rate_per_second=0.0))
    finally:
        store.close()
    # warm the page cache: read the data file sequentially once
    for f in (work / "index" / "current").glob("*.mdb"):
        with open(f, "rb") as fh:
            while fh.read(8 * MiB):
                pass


def make_items(index_dir: Path, count: int, rng: random.Random) -> dict[str, list]:
    """`count` items: 90% stored NIKs, 10% valid-looking NIKs that are not stored; claims
    are the stored name (~10% lightly altered) and birth date (misses: another person's)."""
    from nikgate.engine import NikIndex

    with NikIndex.open(index_dir) as idx:
        keys = [int(n) for n in idx.sample_niks(idx.record_count)]
        n_miss = int(count * MISS_SHARE)
        chosen = [keys[rng.randrange(len(keys))] for _ in range(count - n_miss)]
        for _ in range(n_miss):
            while True:
                base = keys[rng.randrange(len(keys))]
                candidate = base - base % 10_000 + rng.randrange(1, 10_000)
                if idx.raw(candidate) is None:
                    chosen.append(candidate)
                    break
        rng.shuffle(chosen)
        niks = [f"{n:016d}" for n in chosen]
        names: list[str | None] = []
        dates: list[str | None] = []
        for s in range(0, count, 1000):
            res = idx.lookup_batch(niks[s:s + 1000], list(FIELDS))
            names.extend(res.values[0])
            dates.extend(res.values[1])
    found = [i for i, v in enumerate(names) if v is not None]
    for i in range(count):
        if names[i] is None:
            j = found[rng.randrange(len(found))]
            names[i], dates[i] = names[j], dates[j]
        elif rng.random() < ALTERED_SHARE:
            names[i] = rng.choice(ALTERATIONS)(names[i])
    return {"niks": niks, "numbers": chosen, "names": names, "dates": dates,
            "hits": len(found)}


def verify_requests(items: dict, count: int) -> list[bytes]:
    from nikgate.v1 import verification_pb2 as pb

    return [pb.VerifyRequest(nik=items["niks"][i],
                             claims={"NAMA_LGKP": items["names"][i],
                                     "TGL_LHR": items["dates"][i]}).SerializeToString()
            for i in range(count)]


def batch_requests(items: dict, size: int, numbers: bool) -> list[bytes]:
    from nikgate.v1 import verification_pb2 as pb

    out = []
    for s in range(0, len(items["niks"]) - size + 1, size):
        e = s + size
        cols = [pb.ClaimColumn(values=items["names"][s:e]),
                pb.ClaimColumn(values=items["dates"][s:e])]
        req = pb.VerifyBatchRequest(fields=list(FIELDS), columns=cols,
                                    item_ids=range(s, e))
        if numbers:
            req.nik_numbers.extend(items["numbers"][s:e])
        else:
            req.niks.extend(items["niks"][s:e])
        out.append(req.SerializeToString())
    return out


# -- parent: running a case ---------------------------------------------------------------------


def _percentiles(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {k: None for k in ("p50", "p90", "p99", "p999", "max", "mean")}
    v = sorted(values)

    def at(p: float) -> float:
        return nearest_rank(v, p) / 1e6  # ns -> ms

    return {"p50": at(50), "p90": at(90), "p99": at(99), "p999": at(99.9),
            "max": v[-1] / 1e6, "mean": sum(v) / len(v) / 1e6}


def _collapsed_summary(paths: list[Path], top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares from py-spy raw (collapsed) stacks."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for p in paths:
        if not p.exists():
            continue
        for line in p.read_text().splitlines():
            stack, _, n_s = line.rpartition(" ")
            if not stack:
                continue
            n = int(n_s)
            frames = stack.split(";")
            total += n
            self_c[frames[-1]] += n
            for f in set(frames):
                incl[f] += n
    return {"samples": total,
            "self": [(f, round(c / total, 4)) for f, c in self_c.most_common(top)] if total else [],
            "inclusive": [(f, round(c / total, 4)) for f, c in incl.most_common(top)]
            if total else []}


def run_case(name: str, server: Server, spec: dict, procs: int, args,
             per_proc: list[dict] | None = None) -> dict[str, Any]:
    quiet = wait_quiet(args.quiet_wait)
    if quiet >= 0.15:
        log(f"{name}: other processes use {quiet:.2f} cores; measuring anyway")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    base = {"address": f"127.0.0.1:{server.port}", "workers": server.workers,
            "balance": not args.no_balance, "deadline": args.deadline, "warmup": 1.0, "seconds": args.seconds,
            "max_calls": args.max_calls, **spec}
    specs = [{**base, **(per_proc[i] if per_proc else {})} for i in range(procs)]
    ps = [ctx.Process(target=client_main, args=(s, barrier, results), daemon=True)
          for s in specs]
    for p in ps:
        p.start()
    try:
        barrier.wait(120)
    except Exception:
        outs = [results.get(timeout=5) for _ in ps if not results.empty()]
        for p in ps:
            p.kill()
        raise RuntimeError(f"{name}: client processes failed: {outs}") from None
    cpu0, busy0, t0 = server.cpu(), _machine_busy(), time.monotonic()
    spies = []
    if args.profile and server.kind == "nikgate":
        args.profile.mkdir(parents=True, exist_ok=True)
        for pid in server.worker_pids():
            out = args.profile / f"{name}-{pid}.txt"
            spies.append((out, subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                 "--duration", str(int(args.seconds)), "--rate", "100",
                 *(["--native"] if args.profile_native else ["--nonblocking"]),
                 "--format", "raw", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(args.seconds)
    cpu1, busy1, t1 = server.cpu(), _machine_busy(), time.monotonic()
    outs = [results.get(timeout=args.seconds + 120) for _ in ps]
    for p in ps:
        p.join(30)
    for _, spy in spies:
        spy.wait(60)
    failed = [o["failed"] for o in outs if "failed" in o]
    if failed:
        raise RuntimeError(f"{name}: client failed: {failed}")
    lat: list[int] = []
    service: list[int] = []
    lag: list[int] = []
    errors: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    placed: Counter[str] = Counter()
    calls = 0
    for o in outs:
        for key, dest in (("lat", lat), ("service", service), ("lag", lag)):
            a = array("q")
            a.frombytes(o[key])
            dest.extend(a)
        errors.update(o["errors"])
        statuses.update({int(k): v for k, v in o["warm_statuses"].items()})
        placed.update(o["placed"])
        calls += o["calls"]
    elapsed = max(o["elapsed_s"] for o in outs)
    ok = len(lat)
    items = ok * spec.get("items_per_call", 1)
    server_cpu = {pid: cpu1.get(pid, 0.0) - cpu0.get(pid, 0.0) for pid in cpu1}
    total_cpu = sum(server_cpu.values())
    wall = t1 - t0
    client_cpu = sum(o["cpu_s"] for o in outs)
    busy_cores = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * (os.cpu_count() or 1)
    result = {
        "case": name, "server": server.kind, "workers": server.workers, "mode": spec["mode"],
        "client_processes": procs,
        "channels": sum(s["channels"] for s in specs),
        "in_flight": sum(s.get("inflight", 0) for s in specs) or None,
        "streams": sum(s.get("streams", 0) for s in specs) or None,
        "rate": spec.get("rate") and spec["rate"] * procs,
        "items_per_call": spec.get("items_per_call", 1),
        "seconds": round(elapsed, 3), "calls": calls, "ok": ok,
        "calls_per_s": round(ok / elapsed, 1), "items_per_s": round(items / elapsed, 1),
        "latency_ms": _percentiles(lat),
        "errors": dict(errors),
        "warmup_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connections_per_worker": dict(placed),
        "server_cpu_s": round(total_cpu, 3),
        "server_cpu_per_worker": [round(c / wall, 3) for c in server_cpu.values()],
        "server_us_per_call": round(total_cpu / ok * 1e6, 1) if ok else None,
        "server_us_per_item": round(total_cpu / items * 1e6, 3) if items else None,
        "client_cpu_s": round(client_cpu, 3),
        "machine_busy_cores": round(busy_cores, 2),
        # CPU of everything but the server workers and the clients (other jobs, py-spy)
        "others_cores": round(max(0.0, busy_cores - (total_cpu + client_cpu) / wall), 2),
        "profiled": bool(spies),
    }
    if spec["mode"] == "open":
        result["service_ms"] = _percentiles(service)
        result["send_lag_ms"] = _percentiles(lag)
    if spies:
        result["profile"] = _collapsed_summary([o for o, _ in spies])
    return result


# -- the run ------------------------------------------------------------------------------------


def fmt_row(r: dict) -> str:
    lat = r["latency_ms"]
    load = (f"{r['rate']}/s open" if r["mode"] == "open"
            else f"{r['streams']} streams" if r["mode"] == "stream"
            else f"{r['in_flight']} in flight")

    def ms(x):
        return "-" if x is None else f"{x:7.2f}"

    err = sum(r["errors"].values())
    return (f"{r['case']:<26} {r['server']:<8} {r['workers']:>2} {load:>15} "
            f"{r['calls_per_s']:>9,.0f} {r['items_per_s']:>10,.0f} "
            f"{ms(lat['p50'])} {ms(lat['p90'])} {ms(lat['p99'])} {ms(lat['p999'])} "
            f"{r['server_us_per_call'] or 0:>8,.0f} {r['machine_busy_cores']:>5.2f} "
            f"{r['others_cores']:>6.2f} {err:>5}")


HEADER = (f"{'case':<26} {'server':<8} {'w':>2} {'load':>15} {'calls/s':>9} {'items/s':>10} "
          f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99.9ms':>7} {'srv us/c':>8} "
          f"{'busy':>5} {'others':>6} {'errs':>5}")


def summarize(results: list[dict]) -> dict[str, Any]:
    by = {(r["case"], r["server"], r["workers"]): r for r in results}
    ratios = {}
    for (case, srv, w), r in by.items():
        if srv != "nikgate" or r["mode"] not in ("unary", "batch"):
            continue
        t = by.get((case, "trivial", w))
        if t and t["calls_per_s"]:
            ratios[f"{case}_w{w}"] = {
                "rate_ratio": round(r["calls_per_s"] / t["calls_per_s"], 3),
                "server_cpu_per_call_ratio": round(
                    t["server_us_per_call"] / r["server_us_per_call"], 3)
                if r["server_us_per_call"] and t["server_us_per_call"] else None,
                "p50_ratio": round(r["latency_ms"]["p50"] / t["latency_ms"]["p50"], 3),
            }
    targets = []
    for key, ratio in ratios.items():
        if not key.startswith("verify_"):
            continue
        targets.append({"target": f"Verify rate >= {TARGETS['verify_vs_trivial']:.0%} of "
                                  f"trivial ({key})", "value": ratio["rate_ratio"],
                        "met": ratio["rate_ratio"] >= TARGETS["verify_vs_trivial"]})
    for r in results:
        if r["server"] == "nikgate" and r["mode"] in ("batch", "stream") and r["workers"] == 2:
            targets.append({"target": f">= {TARGETS['batch_items_per_s_2w']:,} "
                                      f"verifications/s over 2 workers ({r['case']})",
                            "value": r["items_per_s"],
                            "met": r["items_per_s"] >= TARGETS["batch_items_per_s_2w"]})
        if r["server"] == "nikgate" and r["mode"] == "open":
            p99 = r["latency_ms"]["p99"]
            targets.append({"target": f"Verify p99 <= {TARGETS['open_p99_ms']} ms at "
                                      f"{r['rate']} calls/s ({r['workers']} workers)",
                            "value": p99, "met": p99 is not None
                            and p99 <= TARGETS["open_p99_ms"]})
    return {"ratios": ratios, "targets": targets}


def machine() -> dict[str, Any]:
    """This machine (bench/machine.py) and the versions that set the service's speed."""
    import grpc
    import uvloop
    from google.protobuf.internal import api_implementation

    return _machine(grpcio=grpc.__version__, uvloop=uvloop.__version__,
                    protobuf=api_implementation.Type())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--dir", help="work dir (default var/bench-svc, or var/bench-svc-N for "
                                 "other --records)")
    p.add_argument("--seconds", type=float, default=10.0, help="per case (default 10)")
    p.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2 (default)")
    p.add_argument("--only", default="", help=f"comma list of cases: {', '.join(CASES)}")
    p.add_argument("--rate", type=int, default=500, help="open loop calls/s (default 500)")
    p.add_argument("--batch", type=int, default=1000, help="items per batch message")
    p.add_argument("--max-calls", type=int, default=5_000_000, help="per client process")
    p.add_argument("--no-balance", action="store_true",
                   help="keep whatever worker the kernel gives each connection")
    p.add_argument("--quiet-wait", type=float, default=180,
                   help="before each case wait up to this many s for other load to stop")
    p.add_argument("--profile", type=Path, help="py-spy the nikgate workers; stacks go here")
    p.add_argument("--profile-native", action="store_true",
                   help="with --profile: py-spy --native (pauses the workers: slower)")
    p.add_argument("--deadline", type=float, default=10.0,
                   help="client deadline per call in s, as the typed client's default; 0 = none")
    p.add_argument("--json", type=Path, help="write all figures here")
    p.add_argument("--access-compare", action="store_true",
                   help="also run batch/stream with grants, quotas and audit off, and "
                        "report what they cost (same run)")
    p.add_argument("--rounds", type=int, default=3,
                   help="with --access-compare: on/off rounds, alternated so drift in the "
                        "machine's speed hits both; the cost is the median (default 3)")
    args = p.parse_args(argv)
    # SIGTERM ends the run like Ctrl-C: the servers are stopped in `finally`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = [c for c in args.only.split(",") if c] or list(CASES)
    unknown = set(only) - set(CASES)
    if unknown:
        p.error(f"unknown case(s) {', '.join(sorted(unknown))}; choose from {', '.join(CASES)}")
    workers = sorted({int(w) for w in args.workers.split(",")})
    work = Path(args.dir) if args.dir else ROOT / (
        "var/bench-svc" if args.records == 1_000_000 else f"var/bench-svc-{args.records}")
    work = work.resolve()
    t_start = time.monotonic()

    prepare(work, args.records)
    pki = work / "pki"
    client = {"ca": str(pki / "ca/ca.crt"), "cert": str(pki / f"issued/{INSTITUTION}.crt"),
              "key": str(pki / f"issued/{INSTITUTION}.key")}
    rng = random.Random(2026)
    n_batches = 64
    items = make_items(work / "index", n_batches * args.batch, rng)
    unary_reqs = verify_requests(items, 4096)
    batches = {"niks": batch_requests(items, args.batch, False),
               "nik_numbers": batch_requests(items, args.batch, True)}
    log(f"workload: {len(items['niks']):,} items, {items['hits'] / len(items['niks']):.0%} "
        f"stored; Verify request {len(unary_reqs[0])} B, batch of {args.batch} "
        f"{len(batches['niks'][0]) / 1024:.0f} KiB (niks) / "
        f"{len(batches['nik_numbers'][0]) / 1024:.0f} KiB (nik_numbers)")
    common = {**client, "probe": unary_reqs[0]}

    results: list[dict] = []

    def record(r: dict) -> None:
        results.append(r)
        log(fmt_row(r))

    log(HEADER)
    kinds: tuple[str, ...] = ("nikgate", "trivial")
    if args.access_compare:
        # on, off, on, off...: the first "nikgate" runs every case, later rounds only the
        # batched ones compared
        kinds += ("nikgate-bare",) + ("nikgate-again", "nikgate-bare") * (args.rounds - 1)
    for w in workers:
        for kind in kinds:
            if kind in ("nikgate-bare", "nikgate-again"):
                wanted = [c for c in only if c in ("batch", "stream") and w == max(workers)]
            else:
                wanted = [c for c in only if kind == "nikgate" or c in ("unary", "open")
                          or (c == "batch" and w == max(workers))]
            if not wanted:
                continue
            server = Server(kind.replace("-again", ""), w, work, pki, args.batch)
            try:
                if "unary" in wanted:
                    record(run_case("verify_1_in_flight", server,
                                    {**common, "mode": "unary", "requests": unary_reqs,
                                     "channels": 1, "inflight": 1}, 1, args))
                    record(run_case("verify_16_in_flight", server,
                                    {**common, "mode": "unary", "requests": unary_reqs,
                                     "channels": 2, "inflight": 8}, 2, args))
                if "open" in wanted:
                    record(run_case(f"verify_open_{args.rate}_per_s", server,
                                    {**common, "mode": "open", "requests": unary_reqs,
                                     "channels": 2, "rate": args.rate}, 1, args))
                if "batch" in wanted:
                    both = w == max(workers) and kind.startswith("nikgate")
                    for layout in ("niks", "nik_numbers") if both else ("niks",):
                        record(run_case(f"batch{args.batch}_{layout}", server,
                                        {**common, "mode": "batch", "requests": batches[layout],
                                         "channels": 2, "inflight": 4,
                                         "items_per_call": args.batch}, 2, args))
                if "stream" in wanted and w == max(workers):
                    record(run_case(f"stream{args.batch}_niks", server,
                                    {**common, "mode": "stream", "requests": batches["niks"],
                                     "channels": 2, "streams": 2, "window": 2,
                                     "items_per_call": args.batch}, 2, args))
            finally:
                server.stop()

    summary = summarize(results)
    on: dict[tuple, list[float]] = {}
    bare: dict[tuple, list[float]] = {}
    for r in results:
        if r["server"] in ("nikgate", "nikgate-bare"):
            side = on if r["server"] == "nikgate" else bare
            side.setdefault((r["case"], r["workers"]), []).append(r["items_per_s"])
    summary["access_cost"] = {}
    for (case, w), offs in bare.items():
        ons = on.get((case, w), [])[: len(offs)]
        if not ons or not all(offs):
            continue
        costs = sorted(1 - a / b for a, b in zip(ons, offs))   # round by round
        summary["access_cost"][f"{case}_w{w}"] = {
            "on_items_per_s": statistics.median(ons), "off_items_per_s": statistics.median(offs),
            "cost": statistics.median(costs), "round_costs": costs}
    print()
    print(f"nikgate web service, {os.cpu_count()} CPUs, mTLS, client and server on this "
          f"machine; {args.seconds:g} s per case")
    print(HEADER)
    for r in results:
        print(fmt_row(r))
    print("\n(calls/s and items/s count successful calls; 'srv us/c' = server worker CPU per "
          "call; 'busy' = cores busy machine-wide;\n 'others' = cores used by processes other than "
          "this run's servers and clients: a figure taken with others >= 0.2 is disturbed)")
    if summary["access_cost"]:
        print("\ngrants, quotas and audit on vs off (target: cost <= 15%):")
        for key, c in summary["access_cost"].items():
            verdict = "MET" if c["cost"] <= 0.15 else "MISSED"
            rounds = ", ".join(f"{x:.1%}" for x in c["round_costs"])
            print(f"  {verdict:<6} {key:<26} off {c['off_items_per_s']:>10,.0f}/s  on "
                  f"{c['on_items_per_s']:>10,.0f}/s  cost {c['cost']:.1%} (median of "
                  f"rounds: {rounds})")
    if summary["ratios"]:
        print("\nnikgate / trivial:")
        for key, ratio in summary["ratios"].items():
            print(f"  {key:<26} rate {ratio['rate_ratio']:.2f}   server CPU per call "
                  f"(trivial/nikgate) {ratio['server_cpu_per_call_ratio']:.2f}   "
                  f"p50 latency x{ratio['p50_ratio']:.2f}")
    for r in results:
        if r["mode"] == "open":
            print(f"\nopen loop {r['server']} {r['workers']}w: from scheduled p50 "
                  f"{r['latency_ms']['p50']:.2f} p99 {r['latency_ms']['p99']:.2f} ms; service "
                  f"p50 {r['service_ms']['p50']:.2f} p99 {r['service_ms']['p99']:.2f} ms; "
                  f"send lag p99 {r['send_lag_ms']['p99']:.2f} ms")
    print("\ntargets:")
    for t in summary["targets"]:
        print(f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {t['value']:,}")
    if args.profile:
        print(f"\nprofiles (py-spy raw stacks) in {args.profile}; figures above are profiled")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": machine(), "args": {k: str(v) if isinstance(v, Path) else v
                                           for k, v in vars(args).items()},
            "targets_spec": TARGETS, "results": results, **summary,
            "run_seconds": round(time.monotonic() - t_start, 1)}, indent=2) + "\n")
        print(f"\nJSON: {args.json}")
    log(f"run took {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
