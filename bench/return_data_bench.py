"""Return-data (data balikan) benchmark: records/s acknowledged only after synced commits.

    python -m bench.return_data_bench [--records N] [--streams S] [--batch B] [--workers W]
        [--seconds T] [--json FILE] [--profile DIR]

Set-up reuses bench.service_bench: var/bench-svc (1M-record index, PKI, control store,
nikgate.toml) is prepared once by `prepare`. Then, for this run:

- the bench institution's grant gets "return_data", kinds bank_cif and account_number and
  a 30-day return deadline (the original grant is put back at the end, so the Verification
  benchmarks are not slowed by ledger notes; --keep-grant leaves it);
- `nikgate serve` runs as a subprocess (W workers, default 2) with a fresh return-data store
  (var/bench-svc/returns-bench), its own audit directory and auto-suspension off;
- pre-access: N distinct stored NIKs (default 200,000, random over the index) are verified
  with VerifyBatch of 1,000 over the institution's mTLS certificate, and the access ledger
  is polled until it holds all N (it is flushed every 0.5 s);
- load: S Submit streams (default 4) from 2 client processes (grpc.aio on uvloop, one
  connection per stream, connections spread evenly over the workers), each sending batches
  of B records (default 1,000; unique record ids, NIKs from the accessed set, kind bank_cif)
  with at most 8 batches unacknowledged, for T seconds (default 10) or until its share of
  --max-records runs out. Batches are encoded as they are sent (client CPU is reported);
- report: durable records/s (records acknowledged STORED or DUPLICATE / wall time of the load
  phase, drain included), per-batch ack latency (send to ack, window queueing included),
  server CPU and peak RSS per worker, rejections, synced commits (LMDB transactions) and
  records per commit, the other processes' load, and the target verdict. After the server
  stopped, the store is opened read-only and its record count compared with the acks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from bench.service_bench import (
    INSTITUTION,
    ROOT,
    Server,
    _collapsed_summary,
    _cpu_seconds,
    _machine_busy,
    _open_channels,
    _percentiles,
    log,
    machine,
    prepare,
    run_client,
    wait_quiet,
)
from nikgate.methods import rpc
from nikgate.v1 import return_data_pb2

SUBMIT = rpc("ReturnData", "Submit").path
VERIFY_BATCH = rpc("Verification", "VerifyBatch").path
TARGET_PER_S = 100_000
KINDS = ("bank_cif", "account_number")
STORED, DUPLICATE, REJECTED = (return_data_pb2.RECORD_STATUS_STORED,
                               return_data_pb2.RECORD_STATUS_DUPLICATE,
                               return_data_pb2.RECORD_STATUS_REJECTED)
MiB = 1 << 20


# -- client processes ---------------------------------------------------------------------------
# Runs in spawned processes: grpc is imported there.


def _encode(batch_id: int, tag: str, start: int, count: int, niks: list[str]) -> bytes:
    from nikgate.v1 import return_data_pb2 as pb

    n = len(niks)
    idx = range(start, start + count)
    return pb.ReturnDataBatch(
        batch_id=batch_id, record_ids=[f"{tag}-{i}" for i in idx],
        niks=[niks[i % n] for i in idx], kinds=["bank_cif"] * count,
        values=[f"CIF{i:010d}" for i in idx]).SerializeToString()


class StreamTally:
    def __init__(self) -> None:
        self.lat = array("q")            # ns per batch, send -> ack
        self.statuses: Counter[int] = Counter()
        self.reasons: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.batches_sent = 0
        self.batches_acked = 0
        self.records_sent = 0
        self.last_ack_ns = 0


async def _submit_stream(channel, spec: dict, tally: StreamTally, tag: str, first: int,
                         limit: int, until_ns: int) -> None:
    """One Submit stream: records first..first+limit-1 in batches, until `until_ns`."""
    import grpc

    from nikgate.v1 import return_data_pb2 as pb

    clock = time.perf_counter_ns
    size, niks = spec["batch"], spec["niks"]
    window = asyncio.Semaphore(spec["window"])
    sent: dict[int, int] = {}
    call = channel.stream_stream(SUBMIT)

    async def requests():
        done = 0
        batch_id = 0
        while done < limit:
            await window.acquire()
            if clock() >= until_ns:
                return
            count = min(size, limit - done)
            batch_id += 1
            body = _encode(batch_id, tag, first + done, count, niks)
            done += count
            tally.batches_sent += 1
            tally.records_sent += count
            sent[batch_id] = clock()
            yield body

    try:
        async for raw in call(requests(), timeout=spec["seconds"] + 120):
            now = clock()
            ack = pb.ReturnDataAcks.FromString(raw)
            tally.lat.append(now - sent.pop(ack.batch_id))
            st = ack.status
            tally.statuses[STORED] += st.count(STORED)
            tally.statuses[DUPLICATE] += st.count(DUPLICATE)
            tally.statuses[REJECTED] += st.count(REJECTED)
            for r in ack.rejections:
                tally.reasons[r.reason] += 1
            tally.batches_acked += 1
            tally.last_ack_ns = now
            window.release()
    except grpc.aio.AioRpcError as e:
        tally.errors[e.code().name] += 1


async def _client(spec: dict, barrier, results) -> None:
    import resource

    channels, placed, attempts = await _open_channels(spec)
    clock = time.perf_counter_ns
    proc = spec["proc"]
    streams = spec["streams"]
    # warm-up: a short stream per connection (first commits, code paths, TLS); its
    # records are counted separately and are in the store like the others
    warm = StreamTally()
    far = clock() + 60 * 10**9
    await asyncio.gather(*(
        _submit_stream(channels[s], spec, warm, f"w{spec['run']}-{proc}-{s}",
                       (spec["first_stream"] + s) * spec["per_stream"], spec["warm_records"], far)
        for s in range(streams)))
    barrier.wait(60)
    tallies = [StreamTally() for _ in range(streams)]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    start = clock()
    until = start + int(spec["seconds"] * 1e9)
    await asyncio.gather(*(
        _submit_stream(channels[s], spec, tallies[s], f"r{spec['run']}-{proc}-{s}",
                       (spec["first_stream"] + s) * spec["per_stream"], spec["per_stream"], until)
        for s in range(streams)))
    end = clock()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    for ch in channels:
        await ch.close()
    lat = array("q")
    statuses: Counter[int] = Counter()
    reasons: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for t in tallies:
        lat.extend(t.lat)
        statuses.update(t.statuses)
        reasons.update(t.reasons)
        errors.update(t.errors)
    results.put({
        "start_ns": start, "end_ns": end,
        "last_ack_ns": max((t.last_ack_ns for t in tallies), default=start),
        "lat": lat.tobytes(), "statuses": dict(statuses), "reasons": dict(reasons),
        "errors": dict(errors),
        "batches_sent": sum(t.batches_sent for t in tallies),
        "batches_acked": sum(t.batches_acked for t in tallies),
        "records_sent": sum(t.records_sent for t in tallies),
        "per_stream_acked": [t.statuses[STORED] + t.statuses[DUPLICATE] for t in tallies],
        "warm": {"statuses": dict(warm.statuses), "errors": dict(warm.errors),
                 "records_sent": warm.records_sent},
        "placed": placed, "connect_attempts": attempts,
        "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
    })


def client_main(spec: dict, barrier, results) -> None:
    run_client(_client, spec, barrier, results)


# -- parent: server -----------------------------------------------------------------------------


class ReturnServer(Server):
    """`nikgate serve` with the return-data overrides; worker_pids/cpu/stop as Server's."""

    def __init__(self, work: Path, workers: int, store: Path, audit: Path) -> None:
        self.kind, self.workers = "nikgate", workers
        port_file = work / "port-returns-bench"
        port_file.unlink(missing_ok=True)
        self.log_path = work / "server-returns-bench.log"
        env = dict(os.environ)
        env.update(NIKGATE_SERVER_ADDRESS="127.0.0.1:0", NIKGATE_SERVER_WORKERS=str(workers),
                   NIKGATE_SERVER_PORT_FILE=str(port_file), NIKGATE_METRICS_ADDRESS="",
                   NIKGATE_RETURN_DATA_STORE=str(store),
                   NIKGATE_RETURN_DATA_AUTO_SUSPEND="false",
                   NIKGATE_AUDIT_DIRECTORY=str(audit))
        cmd = [sys.executable, "-m", "nikgate", "serve", "--config", str(work / "nikgate.toml")]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not port_file.exists() or len(self.worker_pids()) < workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start; see {self.log_path}")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        time.sleep(1.5)  # every worker listening (the port file follows the first one)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()


def _proc_status_kib(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


# -- parent: phases -----------------------------------------------------------------------------


def set_return_grant(control: Path):
    """Give the bench institution a return-data duty; returns the grant it had."""
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.store import ControlStore

    store = ControlStore(control)
    try:
        existing = store.snapshot()[2].get(INSTITUTION)
        if existing is None:
            raise RuntimeError(f"{INSTITUTION} has no grant in {control}")
        ops = tuple(dict.fromkeys((*existing.operations, "return_data")))
        Admin(store, "bench").set_grant(existing.with_changes(
            operations=ops, return_data_kinds=KINDS, return_deadline_days=30.0))
        return existing
    finally:
        store.close()


def restore_grant(control: Path, grant) -> None:
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.store import ControlStore

    store = ControlStore(control)
    try:
        Admin(store, "bench").set_grant(grant)
    finally:
        store.close()


def sample_niks(index_dir: Path, count: int, rng: random.Random) -> list[str]:
    from nikgate.engine import NikIndex

    with NikIndex.open(index_dir) as idx:
        total = idx.record_count
        if count > total:
            raise SystemExit(f"--records {count:,} exceeds the {total:,} stored NIKs")
        keys = idx.sample_niks(total)
    chosen = rng.sample(keys, count)   # random order: not a serial walk (scraping guard)
    return chosen


def client_credentials(work: Path) -> dict[str, str]:
    pki = work / "pki"
    return {"ca": str(pki / "ca/ca.crt"), "cert": str(pki / f"issued/{INSTITUTION}.crt"),
            "key": str(pki / f"issued/{INSTITUTION}.key")}


def pre_access(address: str, creds: dict[str, str], niks: list[str], batch: int,
               in_flight: int = 4) -> dict[str, Any]:
    """VerifyBatch every NIK once (a bounded number of calls, in_flight at a time)."""
    import grpc

    from bench.service_bench import _channel_options
    from nikgate.v1 import verification_pb2 as pb

    cred = grpc.ssl_channel_credentials(
        root_certificates=Path(creds["ca"]).read_bytes(),
        private_key=Path(creds["key"]).read_bytes(),
        certificate_chain=Path(creds["cert"]).read_bytes())
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    t0 = time.monotonic()
    with grpc.secure_channel(address, cred, options=_channel_options()) as ch:
        call = ch.unary_unary(VERIFY_BATCH)
        chunks = [niks[s:s + batch] for s in range(0, len(niks), batch)]
        pending: list = []

        def settle(fut) -> None:
            try:
                statuses.update(pb.VerifyBatchResponse.FromString(fut.result()).status)
            except grpc.RpcError as e:
                errors[e.code().name] += 1

        for chunk in chunks:
            req = pb.VerifyBatchRequest(
                niks=chunk, fields=["NAMA_LGKP"],
                columns=[pb.ClaimColumn(values=[""] * len(chunk))],
                purpose="return-data-bench").SerializeToString()
            pending.append(call.future(req, timeout=30))
            if len(pending) >= in_flight:
                settle(pending.pop(0))
        for fut in pending:
            settle(fut)
    seconds = time.monotonic() - t0
    return {"calls": len(chunks), "seconds": round(seconds, 3),
            "items_per_s": round(len(niks) / seconds, 1), "found": statuses.get(1, 0),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "errors": dict(errors)}


def ledger_state(store_dir: Path) -> tuple[int, int, int]:
    """(accessed NIKs in the ledger, records, last LMDB txn id), read-only."""
    from nikgate.server.returns.store import ReturnStore

    store = ReturnStore(store_dir, readonly=True)
    try:
        accessed = sum(1 for _ in store.ledger(INSTITUTION))
        return accessed, store.count(INSTITUTION), store.env.info()["last_txnid"]
    finally:
        store.close()


def wait_ledger(store_dir: Path, want: int, first_wait: float, limit: float) -> tuple[int, int]:
    time.sleep(first_wait)
    deadline = time.monotonic() + limit
    while True:
        accessed, _, txn = ledger_state(store_dir)
        if accessed >= want or time.monotonic() > deadline:
            return accessed, txn
        time.sleep(0.5)


def run_load(server: ReturnServer, args, creds: dict[str, str], niks: list[str],
             probe: bytes, run: str) -> dict[str, Any]:
    procs = max(1, min(args.procs, args.streams))
    base_streams, extra = divmod(args.streams, procs)
    per_stream = args.max_records // args.streams
    warm_records = args.batch * args.warm_batches
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs + 1)
    results = ctx.Queue()
    specs = []
    first_stream = 0
    for p in range(procs):
        n = base_streams + (1 if p < extra else 0)
        specs.append({**creds, "address": f"127.0.0.1:{server.port}",
                      "workers": server.workers, "balance": True, "channels": n,
                      "probe": probe, "proc": p, "streams": n, "run": run,
                      "niks": niks, "batch": args.batch, "window": args.window,
                      "seconds": args.seconds, "per_stream": per_stream,
                      "warm_records": warm_records, "first_stream": first_stream})
        first_stream += n
    ps = [ctx.Process(target=client_main, args=(s, barrier, results), daemon=True)
          for s in specs]
    for p in ps:
        p.start()
    try:
        try:
            barrier.wait(120)
        except Exception:
            outs = []
            while not results.empty():
                outs.append(results.get(timeout=1))
            raise RuntimeError(f"client processes failed: {outs}") from None
        workers = server.worker_pids()
        cpu0 = {pid: _cpu_seconds(pid) for pid in workers}
        busy0, t0 = _machine_busy(), time.monotonic()
        spies = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for pid in workers:
                out = args.profile / f"returns-{pid}.txt"
                spies.append((out, subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                     "--duration", str(int(args.seconds)), "--rate", "100", "--nonblocking",
                     "--format", "raw", "--output", str(out)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        rss_peak: dict[int, int] = {pid: 0 for pid in workers}
        outs: list[dict] = []
        deadline = time.monotonic() + args.seconds + 150
        while len(outs) < procs and time.monotonic() < deadline:
            for pid in workers:
                rss_peak[pid] = max(rss_peak[pid], _proc_status_kib(pid).get("VmRSS", 0))
            try:
                outs.append(results.get(timeout=0.25))
            except queue.Empty:
                if not any(p.is_alive() for p in ps) and results.empty():
                    break
        t1, busy1 = time.monotonic(), _machine_busy()
        cpu1 = {pid: _cpu_seconds(pid) for pid in workers}
        status = {pid: _proc_status_kib(pid) for pid in workers}
        for _, spy in spies:
            try:
                spy.wait(args.seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    finally:
        for p in ps:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    failed = [o["failed"] for o in outs if "failed" in o]
    if failed or len(outs) < procs:
        raise RuntimeError(f"client failed: {failed or 'no result'}")

    lat = array("q")
    statuses: Counter[int] = Counter()
    reasons: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    warm_statuses: Counter[int] = Counter()
    warm_errors: Counter[str] = Counter()
    placed: Counter[str] = Counter()
    for o in outs:
        a = array("q")
        a.frombytes(o["lat"])
        lat.extend(a)
        statuses.update({int(k): v for k, v in o["statuses"].items()})
        reasons.update({int(k): v for k, v in o["reasons"].items()})
        errors.update(o["errors"])
        warm_statuses.update({int(k): v for k, v in o["warm"]["statuses"].items()})
        warm_errors.update(o["warm"]["errors"])
        placed.update(o["placed"])
    start = min(o["start_ns"] for o in outs)
    end = max(o["last_ack_ns"] for o in outs)
    wall = max(1e-9, (end - start) / 1e9)
    acked = statuses[STORED] + statuses[DUPLICATE]
    wall_parent = t1 - t0
    server_cpu = {pid: cpu1.get(pid, 0.0) - cpu0.get(pid, 0.0) for pid in workers}
    total_server = sum(server_cpu.values())
    client_cpu = sum(o["cpu_s"] for o in outs)
    cores = os.cpu_count() or 1
    busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * cores
    from nikgate.v1 import return_data_pb2 as pb

    return {
        "client_processes": procs, "streams": args.streams, "batch": args.batch,
        "window": args.window, "seconds_asked": args.seconds,
        "load_wall_s": round(wall, 3),
        "records_sent": sum(o["records_sent"] for o in outs),
        "batches_sent": sum(o["batches_sent"] for o in outs),
        "batches_acked": sum(o["batches_acked"] for o in outs),
        "acked_records": acked, "stored": statuses[STORED],
        "duplicates": statuses[DUPLICATE], "rejected": statuses[REJECTED],
        "reject_reasons": {pb.RejectReason.Name(k).removeprefix("REJECT_REASON_"): v
                           for k, v in reasons.items()},
        "errors": dict(errors),
        "durable_records_per_s": round(acked / wall, 1),
        "per_stream_acked": [n for o in outs for n in o["per_stream_acked"]],
        "ack_latency_ms": _percentiles(list(lat)),
        "warmup": {"stored": warm_statuses[STORED], "duplicates": warm_statuses[DUPLICATE],
                   "rejected": warm_statuses[REJECTED], "errors": dict(warm_errors)},
        "connections_per_worker": dict(placed),
        "server_cpu_s": round(total_server, 3),
        "server_cores_per_worker": {str(pid): round(c / wall_parent, 3)
                                    for pid, c in server_cpu.items()},
        "server_us_per_record": round(total_server / acked * 1e6, 2) if acked else None,
        "client_cpu_s": round(client_cpu, 3),
        "client_us_per_record": round(client_cpu / acked * 1e6, 2) if acked else None,
        "machine_busy_cores": round(busy, 2),
        "others_cores": round(max(0.0, busy - (total_server + client_cpu) / wall_parent), 2),
        "worker_rss_mib": {str(pid): {"peak_hwm": round(s.get("VmHWM", 0) / 1024, 1),
                                      "peak_sampled": round(rss_peak[pid] / 1024, 1),
                                      "end": round(s.get("VmRSS", 0) / 1024, 1)}
                           for pid, s in status.items()},
        "profile": _collapsed_summary([o for o, _ in spies]) if spies else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=200_000,
                   help="distinct NIKs accessed first (default 200,000)")
    p.add_argument("--streams", type=int, default=4, help="Submit streams (default 4)")
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--batch", type=int, default=1000, help="records per batch (default 1000)")
    p.add_argument("--window", type=int, default=8, help="unacked batches per stream")
    p.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    p.add_argument("--seconds", type=float, default=10.0, help="load phase (default 10)")
    p.add_argument("--max-records", type=int, default=3_000_000,
                   help="records at most over all streams (default 3,000,000)")
    p.add_argument("--warm-batches", type=int, default=2,
                   help="unmeasured batches per stream before the load (default 2)")
    p.add_argument("--quiet-wait", type=float, default=20.0,
                   help="wait up to this many s for other load to stop (default 20)")
    p.add_argument("--keep-grant", action="store_true",
                   help="leave the return-data grant in place after the run")
    p.add_argument("--profile", type=Path, help="py-spy the workers during the load")
    p.add_argument("--json", type=Path, help="write all figures here")
    args = p.parse_args(argv)
    if not 1 <= args.batch <= 10_000:
        p.error("--batch must be 1-10,000")
    if args.streams < 1 or args.records < 1 or args.seconds <= 0:
        p.error("--streams, --records and --seconds must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    work = (ROOT / "var/bench-svc").resolve()
    store_dir = work / "returns-bench"
    audit_dir = work / "audit-returns-bench"
    run = f"{int(time.time()):x}"

    prepare(work, 1_000_000)
    rng = random.Random(2026)
    niks = sample_niks(work / "index", args.records, rng)
    log(f"{len(niks):,} NIKs sampled from the index")
    creds = client_credentials(work)
    from nikgate.v1 import verification_pb2 as vpb

    probe = vpb.VerifyRequest(nik=niks[0], claims={"NAMA_LGKP": "X"}).SerializeToString()
    shutil.rmtree(store_dir, ignore_errors=True)
    shutil.rmtree(audit_dir, ignore_errors=True)
    original = set_return_grant(work / "control")
    server = None
    result: dict[str, Any] = {}
    try:
        quiet = wait_quiet(args.quiet_wait)
        if quiet >= 0.15:
            log(f"other processes use {quiet:.2f} cores; measuring anyway")
        result["others_before_cores"] = round(quiet, 2)
        server = ReturnServer(work, args.workers, store_dir, audit_dir)
        log(f"server up on port {server.port}, workers {server.worker_pids()}")
        pre = pre_access(f"127.0.0.1:{server.port}", creds, niks, 1000)
        log(f"pre-access: {pre['calls']} VerifyBatch calls, {pre['found']:,} found, "
            f"{pre['items_per_s']:,.0f} items/s, errors {pre['errors'] or 'none'}")
        accessed, txn_before = wait_ledger(store_dir, len(niks), 1.5, 10.0)
        log(f"ledger holds {accessed:,} accessed NIKs")
        result.update(pre_access=pre, ledger_accessed=accessed)
        load = run_load(server, args, creds, niks, probe, run)
        result["load"] = load
    finally:
        if server is not None:
            server.stop()
        if not args.keep_grant:
            restore_grant(work / "control", original)
    # durability check: what the store holds after the server is gone
    _, in_store, txn_after = ledger_state(store_dir)
    expected = load["stored"] + load["warmup"]["stored"]
    commits = max(0, txn_after - txn_before)
    result["store_check"] = {"records_in_store": in_store, "acked_stored": expected,
                             "equal": in_store == expected}
    result["commits"] = {"lmdb_write_txns_during_warmup_and_load": commits,
                         "records_per_commit": round(expected / commits, 1) if commits else None}
    rate = load["durable_records_per_s"]
    met = rate >= TARGET_PER_S
    result["target"] = {"records_per_s": TARGET_PER_S, "value": rate, "met": met}

    lat = load["ack_latency_ms"]
    print()
    print(f"nikgate return data (data balikan), {os.cpu_count()} CPUs, {args.workers} workers, "
          f"{load['streams']} streams over {load['client_processes']} client processes, "
          f"batches of {args.batch}, window {args.window}, mTLS, client and server on this "
          "machine")
    print(f"  pre-access       {pre['found']:,} of {len(niks):,} NIKs found by VerifyBatch in "
          f"{pre['seconds']:.2f} s; ledger holds {accessed:,}")
    print(f"  load             {load['load_wall_s']:.2f} s wall (drain included), "
          f"{load['batches_acked']:,} of {load['batches_sent']:,} batches acked, "
          f"connections per worker {load['connections_per_worker']}")
    print(f"  acked records    {load['acked_records']:,} (stored {load['stored']:,}, "
          f"duplicates {load['duplicates']:,}); rejected {load['rejected']:,}"
          f"{' ' + str(load['reject_reasons']) if load['reject_reasons'] else ''}; "
          f"stream errors {load['errors'] or 'none'}")
    print(f"  durable rate     {rate:,.0f} records/s")
    print(f"  ack latency      p50 {lat['p50']:.1f} ms  p90 {lat['p90']:.1f} ms  "
          f"p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms (per batch, send to ack)")
    c = result["commits"]
    print(f"  commits          {c['lmdb_write_txns_during_warmup_and_load']:,} synced LMDB "
          f"transactions, {c['records_per_commit'] or 0:,.0f} records each")
    print(f"  server CPU       {load['server_cpu_s']:.2f} s, cores per worker "
          f"{list(load['server_cores_per_worker'].values())}, "
          f"{load['server_us_per_record'] or 0:.1f} us/record")
    print(f"  client CPU       {load['client_cpu_s']:.2f} s, "
          f"{load['client_us_per_record'] or 0:.1f} us/record (encoding, TLS, acks)")
    print("  worker RSS MiB   " + "; ".join(
        f"{pid}: peak {r['peak_hwm']:.0f} (sampled {r['peak_sampled']:.0f}, end {r['end']:.0f})"
        for pid, r in load["worker_rss_mib"].items()))
    print(f"  machine          busy {load['machine_busy_cores']:.2f} cores, others "
          f"{load['others_cores']:.2f} cores during the load (>= 0.2: disturbed)")
    sc = result["store_check"]
    print(f"  store check      {sc['records_in_store']:,} records in the store after stop, "
          f"{sc['acked_stored']:,} acked STORED (warm-up included): "
          f"{'EQUAL' if sc['equal'] else 'DIFFERENT'}")
    print(f"\ntarget >= {TARGET_PER_S:,}/s: {'MET' if met else 'MISSED'} ({rate:,.0f}/s)")
    if load["profile"]:
        print("\nprofile (py-spy, workers), self share:")
        for frame, share in load["profile"]["self"][:15]:
            print(f"  {share:6.1%}  {frame}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": machine(), "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            **result, "run_seconds": round(time.monotonic() - t_start, 1)}, indent=2) + "\n")
        print(f"\nJSON: {args.json}")
    log(f"run took {time.monotonic() - t_start:.0f} s")
    ok = sc["equal"] and load["rejected"] == 0 and not load["errors"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
