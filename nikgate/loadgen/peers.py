"""Compare mode's workloads: the batched verification run against Redis and PostgreSQL.

What a user would build instead of nikgate, each a real server on loopback, loaded with
the same records as nikgate's index and driven from the same Python client process:

- Redis: one key per NIK (the 16 digits), the value ``NAMA_LGKP \\x1f TGL_LHR``; a batch
  is one ``MGET`` of its B keys (redis.asyncio, a pool of `concurrency` connections).
- PostgreSQL: ``people(nik bigint primary key, nama text, tgl_lhr date)``; a batch is one
  prepared ``SELECT nik, nama, tgl_lhr FROM people WHERE nik = ANY(%s::bigint[])``
  (psycopg 3 AsyncConnection, one connection per in-flight batch). Dates come back as
  text (a text loader is registered for ``date``), as Redis gives them.

The client compares in Python: an item matches when the stored name and birth date are
exactly equal to the claimed ones; an unknown NIK does not match. nikgate does more work
per item than this: NIK parsing and checks, fuzzy name scoring against a threshold,
life and card status, and on the service path access grants, signed receipts and audit.

This module is the workload side: what each peer stores, how it is loaded, what one batch
asks of it and how the run is measured. Starting and stopping the servers themselves
(binaries, ports, the unprivileged PostgreSQL account, clean-up) is servers.py; a peer
owns one of those servers for the life of its `with`.

Setup: ``make peers`` installs the Debian packages redis-server and postgresql when they
are missing; the Python clients (``redis``, ``psycopg[binary]``) must be in the venv.
`peers_available()` says which peer can run here and, if not, why; `peer_clients()`
names the client libraries (redis-py without hiredis parses replies in pure Python and
is then the Redis peer's bottleneck: worth saying next to its figures).

Loading: Redis gets pipelined MSETs of LOAD_CHUNK keys; PostgreSQL gets COPY into a fresh
table, then the primary key index is built, then VACUUM ANALYZE.

`run()` is synchronous (it runs its own uvloop event loop); from async code await
`run_async()` instead. Batches are taken in order, cycling (batch i of the run is
``batches[i % len(batches)]``), `concurrency` in flight, until `seconds` have passed;
batches in flight then finish and are counted. Latencies are exact per batch (each
batch's wall time from send to compared), percentiles by nearest rank.

``python -m nikgate.loadgen.peers --index var/bench-svc/index`` measures both peers once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from .percentiles import nearest_rank
from .servers import PostgresServer, RedisServer, Started, postgres_problem, redis_problem

FIELDS = ("NAMA_LGKP", "TGL_LHR")
Batch = tuple[list[str], list[str], list[str]]

SEP = "\x1f"               # between name and birth date in a Redis value
COPY_NULL = "\\N"          # NULL in COPY text format (a missing birth date)
LOAD_CHUNK = 10_000        # records per MSET (5 per pipeline round trip) / COPY write
READ_CHUNK = 10_000        # NIKs per index read in index_records
BATCH_TIMEOUT = 60.0       # one batch may not take longer than this


class PeerUnavailable(RuntimeError):
    """A peer cannot run on this machine (missing server or client package)."""


@dataclass
class PeerResult:
    name: str                 # "redis", "postgresql"
    items: int                # NIKs verified
    batches: int
    seconds: float
    items_per_s: float
    batch_ms: dict[str, float]   # p50, p90, p99 of per-batch latency in ms
    matched: int              # items whose claimed name and birth date both equal the stored ones
    error: str | None = None


# -- records ------------------------------------------------------------------------------


def index_records(index_dir: Path, limit: int | None = None) -> Iterator[tuple[str, str, str]]:
    """Every record of the index as (nik 16 digits, NAMA_LGKP, TGL_LHR), in key order.

    Read in chunks of READ_CHUNK NIKs through the engine's lookup; a missing value is "".
    """
    from nikgate.engine import NikIndex
    from nikgate.engine.results import ItemStatus

    found = int(ItemStatus.FOUND)
    left = math.inf if limit is None else max(0, int(limit))
    with NikIndex.open(index_dir) as idx:
        start = 0
        while left > 0:
            niks = idx.sample_niks(int(min(READ_CHUNK, left)), start=start)
            if not niks:
                return
            result = idx.lookup_batch(niks, FIELDS)
            names, dates = result.values
            for i, nik in enumerate(niks):
                if result.status[i] == found:
                    yield nik, names[i] or "", dates[i] or ""
            left -= len(niks)
            start = int(niks[-1]) + 1


def _chunks(records: Iterable[tuple[str, str, str]], size: int
            ) -> Iterator[list[tuple[str, str, str]]]:
    chunk: list[tuple[str, str, str]] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- availability -------------------------------------------------------------------------


def _redis_problem() -> str | None:
    try:
        import redis  # noqa: F401
        import redis.asyncio  # noqa: F401
    except ImportError:
        return "the Python package redis is not installed in this environment (pip install redis)"
    return redis_problem()


def _postgres_problem() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return ("the Python package psycopg is not installed in this environment "
                "(pip install 'psycopg[binary]')")
    return postgres_problem()


def peers_available() -> dict[str, str | None]:
    """{"redis": None or why not, "postgresql": None or why not}."""
    return {"redis": _redis_problem(), "postgresql": _postgres_problem()}


def peer_clients() -> dict[str, str]:
    """Which client library each peer is driven with, for reports.

    redis-py parses replies in pure Python unless hiredis is installed; with hiredis an
    MGET of 1000 values parses several times faster, and on a 2-core machine the client
    is what limits the Redis peer.
    """
    out = {}
    try:
        import redis
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        out["redis"] = "redis-py not installed"
    else:
        parser = "hiredis parser" if HIREDIS_AVAILABLE else "pure-Python parser (no hiredis)"
        out["redis"] = f"redis-py {redis.__version__}, {parser}"
    try:
        import psycopg
    except ImportError:
        out["postgresql"] = "psycopg not installed"
    else:
        out["postgresql"] = f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__})"
    return out


# -- shared helpers -----------------------------------------------------------------------


def _check_batches(batches: list[Batch]) -> None:
    if not batches:
        raise ValueError("no batches to run")
    for niks, names, dates in batches:
        if not niks or not len(niks) == len(names) == len(dates):
            raise ValueError("each batch needs niks, names and dates of one non-zero length")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _drive(name: str, batches: list[Batch], seconds: float, concurrency: int,
                 checkers: list[Callable[[int], Awaitable[int]]]) -> PeerResult:
    """Run checkers[slot](batch index) -> matches, one task per slot, for `seconds`."""
    latencies: list[float] = []
    next_batch = items = matched = 0
    error: str | None = None
    n = len(batches)
    start = time.perf_counter()
    deadline = start + seconds

    async def slot(check: Callable[[int], Awaitable[int]]) -> None:
        nonlocal next_batch, items, matched, error
        while error is None and time.perf_counter() < deadline:
            i = next_batch % n
            next_batch += 1
            t0 = time.perf_counter()
            try:
                hits = await asyncio.wait_for(check(i), BATCH_TIMEOUT)
            except Exception as e:  # reported in the result
                error = error or f"{type(e).__name__}: {e}"
                return
            latencies.append(time.perf_counter() - t0)
            items += len(batches[i][0])
            matched += hits

    await asyncio.gather(*(slot(c) for c in checkers[:concurrency]))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return PeerResult(
        name=name,
        items=items,
        batches=len(latencies),
        seconds=elapsed,
        items_per_s=items / elapsed if elapsed > 0 else 0.0,
        batch_ms={f"p{p}": nearest_rank(latencies, p) * 1000 if latencies else 0.0
                  for p in (50, 90, 99)},
        matched=matched,
        error=error,
    )


def _run_sync(coro_factory: Callable[[], Coroutine[Any, Any, PeerResult]]) -> PeerResult:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run() was called from a running event loop; await run_async()")
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(coro_factory())


def _error_result(name: str, error: BaseException) -> PeerResult:
    return PeerResult(name, 0, 0, 0.0, 0.0, {"p50": 0.0, "p90": 0.0, "p99": 0.0}, 0,
                      f"{type(error).__name__}: {error}")


# -- Redis --------------------------------------------------------------------------------


class RedisPeer(Started):
    """The Redis workload on its own RedisServer, for the life of the `with`."""

    name = "redis"

    def __init__(self, workdir: Path) -> None:
        self.server = RedisServer(workdir)
        self.loaded = 0
        self.load_seconds = 0.0

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int | None:
        return self.server.port

    @port.setter
    def port(self, port: int | None) -> None:  # point at another server (tests: a gone one)
        self.server.port = port

    def start(self) -> None:
        problem = _redis_problem()
        if problem:
            raise PeerUnavailable(problem)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def _client(self):
        import redis

        assert self.port is not None, "start the peer first"
        return redis.Redis(host=self.host, port=self.port, socket_timeout=BATCH_TIMEOUT)

    def load(self, records: Iterable[tuple[str, str, str]]) -> int:
        """Replace the data with `records`: MSETs of LOAD_CHUNK keys, pipelined."""
        t0 = time.perf_counter()
        count = 0
        with self._client() as client:
            client.flushdb()
            pipe = client.pipeline(transaction=False)
            for chunk in _chunks(records, LOAD_CHUNK):
                pipe.mset({nik: f"{name}{SEP}{birth}" for nik, name, birth in chunk})
                count += len(chunk)
                if len(pipe) >= 5:
                    pipe.execute()
            pipe.execute()
            stored = int(client.dbsize())
        if stored != count:
            raise RuntimeError(f"loaded {count} records into redis but it holds {stored} keys"
                               " (duplicate NIKs?)")
        self.loaded = count
        self.load_seconds = time.perf_counter() - t0
        return count

    async def run_async(self, batches: list[Batch], seconds: float,
                        concurrency: int) -> PeerResult:
        import redis.asyncio as aredis

        _check_batches(batches)
        concurrency = max(1, int(concurrency))
        pool = aredis.BlockingConnectionPool(host=self.host, port=self.port,
                                             max_connections=concurrency,
                                             decode_responses=True,
                                             socket_timeout=BATCH_TIMEOUT)
        client = aredis.Redis(connection_pool=pool)
        try:
            await asyncio.gather(*(client.ping() for _ in range(concurrency)))  # warm pool

            async def check(i: int) -> int:
                niks, names, dates = batches[i]
                values = await client.mget(niks)
                matched = 0
                for value, name, date in zip(values, names, dates):
                    if value is not None:
                        stored_name, _, stored_date = cast(str, value).partition(SEP)  # decoded
                        if stored_name == name and stored_date == date:
                            matched += 1
                return matched

            return await _drive(self.name, batches, seconds, concurrency,
                                [check] * concurrency)
        except Exception as e:  # a failed setup is a result too
            return _error_result(self.name, e)
        finally:
            await client.aclose()
            await pool.disconnect()

    def run(self, batches: list[Batch], seconds: float, concurrency: int) -> PeerResult:
        return _run_sync(lambda: self.run_async(batches, seconds, concurrency))


# -- PostgreSQL ---------------------------------------------------------------------------


def _copy_text(value: str) -> str:
    if any(c in value for c in "\\\t\n\r"):
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                 .replace("\r", "\\r"))
    return value


class PostgresPeer(Started):
    """The PostgreSQL workload on its own PostgresServer, for the life of the `with`."""

    name = "postgresql"
    QUERY = "SELECT nik, nama, tgl_lhr FROM people WHERE nik = ANY(%s::bigint[])"

    def __init__(self, workdir: Path) -> None:
        self.server = PostgresServer(workdir)
        self.loaded = 0
        self.load_seconds = 0.0

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int | None:
        return self.server.port

    @port.setter
    def port(self, port: int | None) -> None:  # point at another server
        self.server.port = port

    def start(self) -> None:
        problem = _postgres_problem()
        if problem:
            raise PeerUnavailable(problem)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def _conninfo(self) -> dict:
        return dict(host=self.host, port=self.port, user=self.server.user,
                    dbname=self.server.dbname, autocommit=True, connect_timeout=30)

    def _connect(self):
        import psycopg

        return psycopg.connect(**self._conninfo())

    def load(self, records: Iterable[tuple[str, str, str]]) -> int:
        """Replace the table with `records`: COPY, then the primary key, then VACUUM ANALYZE."""
        t0 = time.perf_counter()
        count = 0
        with self._connect() as conn:
            conn.execute("DROP TABLE IF EXISTS people")
            conn.execute("CREATE TABLE people (nik bigint NOT NULL, nama text NOT NULL,"
                         " tgl_lhr date)")
            with conn.cursor() as cur, cur.copy(
                    "COPY people (nik, nama, tgl_lhr) FROM STDIN") as copy:
                for chunk in _chunks(records, LOAD_CHUNK):
                    copy.write("".join(
                        f"{int(nik)}\t{_copy_text(name)}\t{birth or COPY_NULL}\n"
                        for nik, name, birth in chunk))
                    count += len(chunk)
            conn.execute("ALTER TABLE people ADD PRIMARY KEY (nik)")
            conn.execute("VACUUM ANALYZE people")
            stored = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        if stored != count:
            raise RuntimeError(f"loaded {count} records into postgresql but it holds {stored}")
        self.loaded = count
        self.load_seconds = time.perf_counter() - t0
        return count

    async def run_async(self, batches: list[Batch], seconds: float,
                        concurrency: int) -> PeerResult:
        import psycopg
        from psycopg.types.string import TextLoader

        _check_batches(batches)
        concurrency = max(1, int(concurrency))
        keys = [[int(n) for n in niks] for niks, _, _ in batches]  # bigint params, prepared once
        conns: list = []
        try:
            for _ in range(concurrency):
                conn = await psycopg.AsyncConnection.connect(**self._conninfo())
                conn.adapters.register_loader("date", TextLoader)  # 'YYYY-MM-DD' as str
                conns.append(conn)

            def checker(conn) -> Callable[[int], Awaitable[int]]:
                cur = conn.cursor()

                async def check(i: int) -> int:
                    _, names, dates = batches[i]
                    ids = keys[i]
                    await cur.execute(self.QUERY, (ids,), prepare=True)
                    stored = {nik: (nama, tgl) for nik, nama, tgl in await cur.fetchall()}
                    matched = 0
                    for nik, name, date in zip(ids, names, dates):
                        row = stored.get(nik)
                        if row is not None and row[0] == name and (row[1] or "") == date:
                            matched += 1
                    return matched

                return check

            return await _drive(self.name, batches, seconds, concurrency,
                                [checker(c) for c in conns])
        except Exception as e:  # a failed setup is a result too
            return _error_result(self.name, e)
        finally:
            for conn in conns:
                with contextlib.suppress(Exception):
                    await conn.close()

    def run(self, batches: list[Batch], seconds: float, concurrency: int) -> PeerResult:
        return _run_sync(lambda: self.run_async(batches, seconds, concurrency))


# -- one measurement ----------------------------------------------------------------------


def sample_batches(index_dir: Path, batch: int, count: int, seed: int = 2026) -> list[Batch]:
    """`count` batches of `batch` stored NIKs (random runs of keys) with their true claims."""
    import random

    from nikgate.engine import NikIndex

    rng = random.Random(seed)
    out: list[Batch] = []
    with NikIndex.open(index_dir) as idx:
        total = idx.record_count
        if not total:
            raise ValueError(f"index {index_dir} holds no records")
        keys = idx.sample_niks(total)  # NIKs only: fine for millions
        for _ in range(count):
            niks = [keys[rng.randrange(total)] for _ in range(batch)]
            names, dates = idx.lookup_batch(niks, FIELDS).values
            out.append((niks, [n or "" for n in names], [d or "" for d in dates]))
    return out


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m nikgate.loadgen.peers",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=200, help="distinct batches to cycle")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--peers", default="redis,postgresql")
    args = parser.parse_args(argv)

    batches = sample_batches(args.index, args.batch, args.batches)
    available = peers_available()
    with tempfile.TemporaryDirectory(prefix="nikgate-peers-") as tmp:
        workdir = args.workdir or Path(tmp)
        for name in args.peers.split(","):
            cls: type[RedisPeer] | type[PostgresPeer] = (
                RedisPeer if name == "redis" else PostgresPeer)
            if available[name]:
                print(json.dumps({"name": name, "error": available[name]}))
                continue
            with cls(workdir / name) as peer:
                peer.load(index_records(args.index))
                result = peer.run(batches, args.seconds, args.concurrency)
                print(json.dumps({**result.__dict__, "loaded": peer.loaded,
                                  "load_seconds": round(peer.load_seconds, 2),
                                  "client": peer_clients()[name]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
