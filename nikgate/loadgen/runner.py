"""Client processes that load a nikgate server and measure what they see.

M processes (spawned, each with its own event loop on uvloop) x C channels (separate
HTTP/2 connections, so SO_REUSEPORT spreads them over the server's workers).

Closed loop: `concurrency` calls (or streams) in flight in all, each slot sending its next
call when the previous one is answered. Open loop: calls start at a fixed total `rate`,
on schedule whatever the server does; latency is measured from the scheduled start, so a
server that falls behind shows its real queueing delay instead of hiding it (no
coordinated omission), and the report gives the rate achieved against the one asked.

The `*_json` workloads POST the same requests as proto3 JSON to the JSON gateway
(`gateway`, https://host:port) over HTTP/1.1 keep-alive connections (httpx), C clients per
process with the presented certificate; an answer other than 200 counts as failed, by its
HTTP status. Answers are not decoded on either path (a gRPC call keeps its bytes too).

Every process records latencies in an HDR histogram (1 us to 60 s, 3 significant digits)
and per-second counters, and sends them back encoded; report.py merges them.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from nikgate.errors import NikgateError, ServiceUnavailable

from .histogram import Histogram
from .workload import (
    METHODS,
    STREAMING,
    grpc_twin,
    is_json,
    items_per_call,
    json_bodies,
    json_path,
    make_items,
    requests,
)

MAX_OPEN_OUTSTANDING = 20_000   # open loop: calls started and not answered, at most
ERRORS_KEPT = 20


@dataclass
class BenchSpec:
    target: str                       # host:port
    ca: str
    cert: str
    key: str
    index: str                        # the index the NIKs and claims are drawn from
    server_name: str = "localhost"
    workload: str = "verify_batch"
    batch: int = 1000
    mode: str = "closed"              # closed | open
    concurrency: int = 8              # closed loop: calls (streams) in flight, in all
    rate: float = 0.0                 # open loop: calls started per second, in all
    processes: int = 2
    channels: int = 2                 # per process
    duration: float = 10.0            # seconds of measurement (after warm-up)
    count: int = 0                    # stop after this many calls in all (0: duration only)
    warmup: float = 1.0
    window: int = 4                   # streams: messages unanswered per stream
    hit_rate: float = 0.9
    hot_share: float = 0.0
    hot_set: int = 100
    items: int = 20_000               # distinct items drawn from the index
    seed: int = 2026
    deadline: float = 30.0
    gateway: str = ""                 # the JSON gateway, https://host:port (*_json)

    def check(self) -> None:
        from .workload import WORKLOADS

        if self.workload not in WORKLOADS:
            raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}")
        if self.mode not in ("closed", "open"):
            raise ValueError("mode must be closed or open")
        if self.mode == "open" and self.rate <= 0:
            raise ValueError("open loop needs --rate > 0 (calls per second, in all)")
        if self.mode == "open" and self.workload in STREAMING:
            raise ValueError(f"{self.workload} is a stream: run it closed loop")
        if self.processes < 1 or self.channels < 1 or self.concurrency < 1:
            raise ValueError("processes, channels and concurrency must be at least 1")
        if self.mode == "closed" and self.concurrency < self.processes:
            raise ValueError("closed loop: concurrency must be at least the process count")
        if not 1 <= self.batch <= 10_000:
            raise ValueError("batch must be 1-10,000")
        if self.duration <= 0 and self.count <= 0:
            raise ValueError("give a duration or a count")
        if is_json(self.workload) and not self.gateway.startswith("https://"):
            raise ValueError(f"{self.workload} goes through the JSON gateway: give its "
                             "address (--gateway https://host:port)")


def run(spec: BenchSpec) -> list[dict]:
    """Run the benchmark; one result dict per client process."""
    spec.check()
    items = make_items(spec.index, spec.items, spec.hit_rate, spec.hot_share, spec.hot_set,
                       spec.seed)
    if spec.workload == "return_data":
        _pre_access(spec, items)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(spec.processes + 1)
    out = ctx.Queue()
    run_tag = f"{os.getpid():x}{time.time_ns() // 1_000_000 % 10**9:x}"
    procs = [ctx.Process(target=_client_main, args=(spec, items, i, run_tag, barrier, out),
                         daemon=True) for i in range(spec.processes)]
    for p in procs:
        p.start()
    try:
        barrier.wait(120)
    except Exception:
        failures = []   # a process that failed says why before it ends: wait for that
        for _ in procs:
            try:
                failures.append(out.get(timeout=5))
            except queue.Empty:
                break
        for p in procs:
            p.kill()
        for failure in failures:
            if isinstance(failure.get("error"), NikgateError):   # e.g. no server
                raise failure["error"] from None
        raise RuntimeError(f"client processes failed to start: {failures}") from None
    limit = spec.warmup + (spec.duration or 3600) + spec.deadline + 60
    results = []
    for _ in procs:
        results.append(out.get(timeout=limit))
    for p in procs:
        p.join(10)
    failed = [r for r in results if r.get("crash")]
    if failed:
        raise RuntimeError("a client process crashed:\n" + failed[0]["crash"])
    return results


def _pre_access(spec: BenchSpec, items) -> None:
    """Return data is accepted only for NIKs the institution accessed: verify them first
    (not measured), then give the server's access ledger time to record them."""
    import grpc

    from nikgate.v1 import verification_pb2 as pb

    channel = _channel(spec)
    try:
        call = channel.unary_unary(METHODS["verify_batch"])
        hits = items.hits()
        for s in range(0, len(hits), 1000):
            chunk = hits[s:s + 1000]
            call(pb.VerifyBatchRequest(
                niks=chunk, fields=["NAMA_LGKP"],
                columns=[pb.ClaimColumn(values=[""] * len(chunk))]).SerializeToString(),
                timeout=spec.deadline)
    except grpc.RpcError as e:
        raise RuntimeError(f"pre-access for return data failed: {e.code().name}: "
                           f"{e.details()}") from None
    finally:
        channel.close()
    time.sleep(1.5)


def _credentials(spec: BenchSpec):
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=Path(spec.ca).read_bytes(),
        private_key=Path(spec.key).read_bytes(),
        certificate_chain=Path(spec.cert).read_bytes())


def _options(spec: BenchSpec, i: int) -> list:
    return [("grpc.ssl_target_name_override", spec.server_name),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.use_local_subchannel_pool", 1),   # a connection per channel
            ("nikgate.bench.channel", i)]


def _channel(spec: BenchSpec):
    import grpc

    return grpc.secure_channel(spec.target, _credentials(spec), _options(spec, 0))


# -- inside each client process ------------------------------------------------------------

def _client_main(spec: BenchSpec, items, number: int, run_tag: str, barrier, out) -> None:
    try:
        import uvloop

        result = uvloop.run(_client(spec, items, number, run_tag, barrier))
    except NikgateError as e:   # the user's to fix (a server not reached): no traceback
        try:
            barrier.abort()
        except Exception:
            pass
        out.put({"process": number, "error": e})
        return
    except BaseException:
        try:
            barrier.abort()
        except Exception:
            pass
        out.put({"process": number, "crash": traceback.format_exc()})
        return
    out.put(result)


class _Recorder:
    """Latencies and counters of one process; per-second buckets for the timeline."""

    def __init__(self, start: float, items_each: int) -> None:
        self.start = start
        self.items_each = items_each
        self.hist = Histogram()
        self.codes: dict[str, int] = {}
        self.errors: list[str] = []
        self.calls = self.items = 0
        self.seconds: dict[int, list] = {}   # second -> [ok calls, items, errors, Histogram]
        self.late = Histogram()              # open loop: how late a call was started

    def done(self, t_from: float, t_end: float, code: str, items: int, error: str = "") -> None:
        latency_us = max(1, int((t_end - t_from) * 1e6))
        self.calls += 1
        self.codes[code] = self.codes.get(code, 0) + 1
        sec = self.seconds.setdefault(int(t_end - self.start), [0, 0, 0, Histogram()])
        if code == "OK":
            self.items += items
            self.hist.record(latency_us)
            sec[0] += 1
            sec[1] += items
            sec[3].record(latency_us)
        else:
            sec[2] += 1
            if len(self.errors) < ERRORS_KEPT:
                self.errors.append(f"{code}: {error}")


class JsonCallError(Exception):
    """A JSON answer other than 200: `code` is HTTP_<status>."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.code = f"HTTP_{status}"


def _json_callers(spec: BenchSpec, slots: int) -> tuple[list, list]:
    """One callable per client (HTTP/1.1 keep-alive, `slots` connections in all)."""
    import ssl

    import httpx

    ctx = ssl.create_default_context(cafile=spec.ca)
    ctx.load_cert_chain(spec.cert, spec.key)
    path = json_path(spec.workload)
    clients = [httpx.AsyncClient(base_url=spec.gateway, verify=ctx, timeout=spec.deadline,
                                 limits=httpx.Limits(max_connections=max(1, slots)))
               for _ in range(spec.channels)]
    headers = {"Content-Type": "application/json"}

    def caller(client):
        async def call(body: bytes) -> None:
            r = await client.post(path, content=body, headers=headers)
            if r.status_code != 200:
                raise JsonCallError(r.status_code, r.text[:200])
        return call
    return [caller(c) for c in clients], clients


def _grpc_callers(channels, method: str, spec: BenchSpec) -> list:
    def caller(channel):
        call = channel.unary_unary(method)

        async def one(body: bytes) -> None:
            await call(body, timeout=spec.deadline)
        return one
    return [caller(ch) for ch in channels]


async def _connected(channel, target: str, timeout: float = 30.0, grace: float = 2.0) -> None:
    """Wait until `channel` is connected; ServiceUnavailable when connecting still fails
    after `grace` seconds (nothing listens, TLS refused; a server just started has that
    long) or nothing is connected after `timeout` seconds."""
    import grpc

    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if (state == grpc.ChannelConnectivity.TRANSIENT_FAILURE
                and loop.time() - started >= grace):
            raise ServiceUnavailable(f"cannot reach nikgate at {target}; check the address "
                                     "and that the server is running, then retry")
        wait = max(0.0, deadline - loop.time())
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:   # look again after grace
            wait = min(wait, max(0.05, started + grace - loop.time()))
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), wait)
        except TimeoutError:
            if loop.time() < deadline:
                state = channel.get_state(try_to_connect=True)
                continue
            raise ServiceUnavailable(f"no connection to nikgate at {target} within "
                                     f"{timeout:g} s; retry") from None
        state = channel.get_state(try_to_connect=True)


async def _client(spec: BenchSpec, items, number: int, run_tag: str, barrier) -> dict:
    import grpc

    json_clients: list = []
    channels = [] if is_json(spec.workload) else [
        grpc.aio.secure_channel(spec.target, _credentials(spec),
                                _options(spec, number * spec.channels + c))
        for c in range(spec.channels)]
    for ch in channels:
        await _connected(ch, spec.target)
    method = METHODS[grpc_twin(spec.workload)]
    per_call = items_per_call(spec.workload, spec.batch)
    count = 64 if per_call > 1 else min(4096, len(items))
    if is_json(spec.workload):
        callers, json_clients = _json_callers(
            spec, _share(spec.concurrency, spec.processes, number) if spec.mode == "closed"
            else 256)
        cycled = json_bodies(spec.workload, items, spec.batch, count)
    else:
        callers = _grpc_callers(channels, method, spec)
        cycled = [] if spec.workload == "return_data" else requests(
            spec.workload, items, spec.batch, count)
    tag = f"{run_tag}-p{number}"
    counter = iter(range(1 << 62))

    def next_request() -> bytes:
        k = next(counter)
        if cycled:
            return cycled[k % len(cycled)]
        return requests("return_data", items, spec.batch, 1, f"{tag}-{k}")[0]

    barrier.wait()   # every process connected: start together
    t_start = time.perf_counter() + spec.warmup
    t_stop = t_start + spec.duration if spec.duration > 0 else float("inf")
    calls_budget = -(-spec.count // spec.processes) if spec.count else 0
    rec = _Recorder(t_start, per_call)
    state = {"started": 0}

    def more(now: float) -> bool:
        if now >= t_stop:
            return False
        return not calls_budget or state["started"] < calls_budget

    if spec.workload in STREAMING:
        slots = _share(spec.concurrency, spec.processes, number)
        await asyncio.gather(*(_stream_slot(channels[s % len(channels)], method, spec,
                                            next_request, rec, more, state, t_start)
                               for s in range(slots)))
    elif spec.mode == "closed":
        slots = _share(spec.concurrency, spec.processes, number)
        await asyncio.gather(*(_unary_slot(callers[s % len(callers)], next_request, rec,
                                           more, state, t_start)
                               for s in range(slots)))
    else:
        await _open_loop(callers, spec, next_request, rec, more, state, t_start,
                         spec.rate / spec.processes)
    for ch in channels:
        await ch.close(None)   # no grace: every call has finished
    for client in json_clients:
        await client.aclose()
    elapsed = min(time.perf_counter(), t_stop) - t_start
    return {
        "process": number, "pid": os.getpid(), "calls": rec.calls, "items": rec.items,
        "codes": rec.codes, "errors": rec.errors, "seconds": max(elapsed, 1e-9),
        "histogram": rec.hist.encode(), "late": rec.late.encode(),
        "timeline": {s: [v[0], v[1], v[2], v[3].encode()] for s, v in rec.seconds.items()},
        "started": state["started"],
    }


def _share(total: int, parts: int, i: int) -> int:
    return total // parts + (1 if i < total % parts else 0)


def _code(e) -> tuple[str, str]:
    import grpc

    if isinstance(e, grpc.aio.AioRpcError):
        return e.code().name, (e.details() or "")[:200]
    if isinstance(e, JsonCallError):
        return e.code, str(e)
    return type(e).__name__, str(e)[:200]


async def _unary_slot(call, next_request, rec, more, state, t_start):
    per_call = rec.items_each
    while more(time.perf_counter()):
        body = next_request()
        t0 = time.perf_counter()
        state["started"] += t0 >= t_start   # the count bound counts measured calls
        try:
            await call(body)
            code, err = "OK", ""
        except Exception as e:  # every failure is counted by its status code
            code, err = _code(e)
        t1 = time.perf_counter()
        if t0 >= t_start:   # warm-up calls are not counted
            rec.done(t0, t1, code, per_call, err)


async def _open_loop(calls, spec, next_request, rec, more, state, t_start, rate):
    per_call = rec.items_each
    outstanding: set[asyncio.Task] = set()
    interval = 1.0 / rate
    scheduled = time.perf_counter()

    async def one(k: int, t_sched: float) -> None:
        try:
            await calls[k % len(calls)](next_request())
            code, err = "OK", ""
        except Exception as e:
            code, err = _code(e)
        if t_sched >= t_start:
            rec.done(t_sched, time.perf_counter(), code, per_call, err)

    k = 0
    while more(scheduled):
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        now = time.perf_counter()
        if len(outstanding) >= MAX_OPEN_OUTSTANDING:
            # the server is this far behind: count the call as failed rather than queue
            # without bound; its latency is already counted in the ones outstanding
            if scheduled >= t_start:
                rec.done(scheduled, now, "CLIENT_OVERLOADED", per_call,
                         f"{MAX_OPEN_OUTSTANDING} calls outstanding")
        else:
            state["started"] += scheduled >= t_start
            if scheduled >= t_start:
                rec.late.record(max(1, int((now - scheduled) * 1e6)))
            task = asyncio.ensure_future(one(k, scheduled))
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        k += 1
        scheduled += interval
    if outstanding:
        await asyncio.wait(outstanding, timeout=spec.deadline + 5)


async def _stream_slot(channel, method, spec, next_request, rec, more, state, t_start):
    """One stream with up to `window` messages unanswered; latency per message."""
    stream = channel.stream_stream(method)
    sent: asyncio.Queue = asyncio.Queue()
    slots = asyncio.Semaphore(spec.window)
    per_call = rec.items_each
    call = stream()
    try:
        async def writer():
            while more(time.perf_counter()):
                await slots.acquire()
                body = next_request()
                now = time.perf_counter()
                state["started"] += now >= t_start
                sent.put_nowait(now)
                await call.write(body)
            await call.done_writing()

        write_task = asyncio.ensure_future(writer())
        async for response in call:
            t0 = sent.get_nowait()
            slots.release()
            if t0 >= t_start:
                rec.done(t0, time.perf_counter(), "OK", _acked(spec, response, per_call))
        await write_task
    except Exception as e:
        code, err = _code(e)
        rec.done(time.perf_counter(), time.perf_counter(), code, 0, err)


def _acked(spec: BenchSpec, response: bytes, per_call: int) -> int:
    if spec.workload != "return_data":
        return per_call
    from nikgate.v1 import return_data_pb2 as pb

    ack = pb.ReturnDataAcks.FromString(response)
    return ack.stored + ack.duplicates


def spec_dict(spec: BenchSpec) -> dict:
    d = asdict(spec)
    d.pop("key", None)
    return d
