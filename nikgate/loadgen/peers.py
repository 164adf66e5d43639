"""Compare mode: the batched verification workload run against Redis and PostgreSQL.

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

Setup: ``make peers`` installs the Debian packages redis-server and postgresql when they
are missing; the Python clients (``redis``, ``psycopg[binary]``) must be in the venv.
`peers_available()` says which peer can run here and, if not, why; `peer_clients()`
names the client libraries (redis-py without hiredis parses replies in pure Python and
is then the Redis peer's bottleneck: worth saying next to its figures).

Servers. Each peer is a context manager that starts its own server in `workdir` on a
free port of 127.0.0.1 (a socket bound to port 0 picks it) and stops it on exit:

- redis-server runs as the current user (root is fine) with ``--save '' --appendonly
  no``: nothing is persisted, nothing is shared with a system Redis.
- PostgreSQL refuses to run as root. When this process is root the cluster's commands
  (initdb, pg_ctl, postgres) run as an unprivileged account, through subprocess's
  ``user=``/``group=`` (setuid in the child, supplementary groups dropped): the
  ``postgres`` account the Debian package creates, else ``nobody``
  (``NIKGATE_PG_USER`` overrides). That account must be able to reach the data
  directory; `workdir` is tried first (checked by running ``test -w`` as that account),
  and when a parent is closed to it (pytest's /tmp/pytest-of-root is 0700) the cluster
  goes to a fresh private directory under the system temp dir instead, removed on stop;
  its server log is copied into `workdir`. The binaries are found through
  ``NIKGATE_PG_BINDIR``, else the newest /usr/lib/postgresql/*/bin, else PATH.
  The cluster is throwaway and tuned for a read benchmark: ``initdb --no-sync``,
  ``fsync=off``, ``synchronous_commit=off``, ``full_page_writes=off`` (a crash loses
  the cluster, which is fine here; none of it changes how reads are served),
  ``shared_buffers=256MB`` so 1M records stay in memory, ``jit=off``, trust
  authentication on 127.0.0.1 only, no Unix socket. Loading is COPY into a fresh
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
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .percentiles import nearest_rank

FIELDS = ("NAMA_LGKP", "TGL_LHR")
Batch = tuple[list[str], list[str], list[str]]

SEP = "\x1f"               # between name and birth date in a Redis value
COPY_NULL = "\\N"          # NULL in COPY text format (a missing birth date)
LOAD_CHUNK = 10_000        # records per MSET (5 per pipeline round trip) / COPY write
READ_CHUNK = 10_000        # NIKs per index read in index_records
START_TIMEOUT = 60.0       # seconds for a server to come up
STOP_TIMEOUT = 30.0
BATCH_TIMEOUT = 60.0       # one batch may not take longer than this
PG_SUPERUSER = "nikbench"  # the role initdb creates; trust auth on 127.0.0.1
PG_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "max_connections": "64",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "logging_collector": "off",
}


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


def _redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _pg_bindir() -> Path | None:
    def ok(d: Path) -> bool:
        return all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres"))

    env = os.environ.get("NIKGATE_PG_BINDIR")
    if env:
        return Path(env) if ok(Path(env)) else None
    versions = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            versions.append((float(d.parent.name), d))
    for _, d in sorted(versions, reverse=True):
        if ok(d):
            return d
    initdb = shutil.which("initdb")
    if initdb:
        d = Path(os.path.realpath(initdb)).parent
        if ok(d):
            return d
    return None


def _pg_account() -> pwd.struct_passwd | None:
    """The account the cluster runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["NIKGATE_PG_USER"]] if os.environ.get("NIKGATE_PG_USER") else [
        "postgres", "nobody"]
    for name in names:
        with contextlib.suppress(KeyError):
            account = pwd.getpwnam(name)
            if account.pw_uid != 0:
                return account
    raise PeerUnavailable(
        f"running as root and no unprivileged account ({' or '.join(names)}) to run "
        "PostgreSQL as; create one (useradd --system postgres) or set NIKGATE_PG_USER")


def _redis_problem() -> str | None:
    try:
        import redis  # noqa: F401
        import redis.asyncio  # noqa: F401
    except ImportError:
        return "the Python package redis is not installed in this environment (pip install redis)"
    if _redis_server_binary() is None:
        return "redis-server is not installed (run `make peers`)"
    return None


def _postgres_problem() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return ("the Python package psycopg is not installed in this environment "
                "(pip install 'psycopg[binary]')")
    if _pg_bindir() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed "
                "(run `make peers`, or set NIKGATE_PG_BINDIR)")
    try:
        _pg_account()
    except PeerUnavailable as e:
        return str(e)
    return None


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


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
    state = {"next": 0, "items": 0, "matched": 0, "error": None}
    n = len(batches)
    start = time.perf_counter()
    deadline = start + seconds

    async def slot(check: Callable[[int], Awaitable[int]]) -> None:
        while state["error"] is None and time.perf_counter() < deadline:
            i = state["next"] % n
            state["next"] += 1
            t0 = time.perf_counter()
            try:
                matched = await asyncio.wait_for(check(i), BATCH_TIMEOUT)
            except Exception as e:  # reported in the result
                state["error"] = state["error"] or f"{type(e).__name__}: {e}"
                return
            latencies.append(time.perf_counter() - t0)
            state["items"] += len(batches[i][0])
            state["matched"] += matched

    await asyncio.gather(*(slot(c) for c in checkers[:concurrency]))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return PeerResult(
        name=name,
        items=state["items"],
        batches=len(latencies),
        seconds=elapsed,
        items_per_s=state["items"] / elapsed if elapsed > 0 else 0.0,
        batch_ms={f"p{p}": nearest_rank(latencies, p) * 1000 if latencies else 0.0
                  for p in (50, 90, 99)},
        matched=state["matched"],
        error=state["error"],
    )


def _run_sync(coro_factory: Callable[[], Awaitable[PeerResult]]) -> PeerResult:
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


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


# -- Redis --------------------------------------------------------------------------------


class RedisPeer:
    """redis-server on a free loopback port in `workdir`, for the life of the `with`."""

    name = "redis"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()  # the servers chdir; keep paths absolute
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.loaded = 0
        self.load_seconds = 0.0
        self._finalizer: weakref.finalize | None = None

    def __enter__(self) -> RedisPeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def _client(self):
        import redis

        return redis.Redis(host=self.host, port=self.port, socket_timeout=BATCH_TIMEOUT)

    def start(self) -> None:
        problem = _redis_problem()
        if problem:
            raise PeerUnavailable(problem)
        import redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = _redis_server_binary()
        for _attempt in range(3):  # a free port may be taken before the server binds it
            self.port = free_port()
            args = [binary, "--port", str(self.port), "--bind", self.host,
                    "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                    "--logfile", str(self.log_path), "--daemonize", "no",
                    "--protected-mode", "yes", "--databases", "1"]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
            self._finalizer = weakref.finalize(self, _terminate, self.proc)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with self._client() as client:
                        client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT:.0f}s;"
                                   f" log {self.log_path}:\n{_tail(self.log_path)}")
            self.proc.wait()
            if "Address already in use" not in _tail(self.log_path):
                break
        raise RuntimeError(f"redis-server exited with status {self.proc.returncode}; "
                           f"log {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)  # SIGTERM; with nothing to save redis exits at once
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

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
                        stored_name, _, stored_date = value.partition(SEP)
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


class PostgresPeer:
    """A throwaway PostgreSQL cluster on a free loopback port, for the life of the `with`."""

    name = "postgresql"
    QUERY = "SELECT nik, nama, tgl_lhr FROM people WHERE nik = ANY(%s::bigint[])"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()  # the servers chdir; keep paths absolute
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.loaded = 0
        self.load_seconds = 0.0
        self.root: Path | None = None        # holds data/ and postgres.log
        self._private_root = False           # root is a temp dir of ours, removed on stop
        self._account: pwd.struct_passwd | None = None
        self._bindir: Path | None = None
        self._started = False
        self._finalizer: weakref.finalize | None = None

    def __enter__(self) -> PostgresPeer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def _pg(self, *args: str, timeout: float = START_TIMEOUT, check: bool = True
            ) -> subprocess.CompletedProcess:
        """Run a cluster command as the cluster's account."""
        assert self.root is not None and self._bindir is not None
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.root), "TZ": "UTC"}
        kw: dict = {}
        if self._account is not None:
            kw = dict(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        result = subprocess.run([str(self._bindir / args[0]), *args[1:]], cwd=self.root,
                                env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=timeout, check=False, **kw)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed with status {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
                f"server log {self.log_path}:\n{_tail(self.log_path)}")
        return result

    def _usable_root(self) -> Path:
        """workdir/postgresql when the cluster's account can write there, else a temp dir."""
        root = self.workdir / "postgresql"
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        if self._account is None:
            return root
        os.chown(root, self._account.pw_uid, self._account.pw_gid)
        probe = subprocess.run(["test", "-w", str(root), "-a", "-x", str(root)],
                               user=self._account.pw_uid, group=self._account.pw_gid,
                               extra_groups=[], cwd="/", timeout=30, check=False)
        if probe.returncode == 0:
            return root
        root.rmdir()
        tmp = Path(tempfile.mkdtemp(prefix="nikgate-pg-"))
        os.chown(tmp, self._account.pw_uid, self._account.pw_gid)
        self._private_root = True
        return tmp

    def start(self) -> None:
        problem = _postgres_problem()
        if problem:
            raise PeerUnavailable(problem)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._bindir = _pg_bindir()
        self._account = _pg_account()
        self.root = self._usable_root()
        self._finalizer = weakref.finalize(self, _pg_cleanup, self.root, self._private_root)
        self._pg("initdb", "-D", str(self.data_dir), "-U", PG_SUPERUSER, "--auth=trust",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                 timeout=120)
        for _attempt in range(3):
            self.port = free_port()
            settings = {**PG_SETTINGS, "port": str(self.port)}
            with open(self.data_dir / "postgresql.auto.conf", "a") as conf:
                conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
            result = self._pg("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path),
                              "-w", "-t", str(int(START_TIMEOUT)), "start",
                              timeout=START_TIMEOUT + 10, check=False)
            if result.returncode == 0:
                self._started = True
                return
            if "already in use" not in _tail(self.log_path, 40):
                break
        raise RuntimeError(f"pg_ctl start failed: {(result.stderr or result.stdout).strip()}\n"
                           f"server log {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.root is None:
            return
        if self._started:
            self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w",
                     "-t", str(int(STOP_TIMEOUT)), "stop", timeout=STOP_TIMEOUT + 10,
                     check=False)
            self._started = False
        if self.log_path.exists() and self._private_root:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self.workdir / "postgres.log")
        if self._finalizer is not None:
            self._finalizer()          # kills a postmaster still running; removes the data
            self._finalizer = None

    def _connect(self):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=PG_SUPERUSER,
                               dbname="postgres", autocommit=True, connect_timeout=30)

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
                conn = await psycopg.AsyncConnection.connect(
                    host=self.host, port=self.port, user=PG_SUPERUSER, dbname="postgres",
                    autocommit=True, connect_timeout=30)
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


def _pg_cleanup(root: Path, private: bool) -> None:
    """Stop a postmaster left running (by its pid file) and remove the cluster's data."""
    pidfile = root / "data" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = pidfile.read_text().splitlines()
        pid, data_dir = int(lines[0]), lines[1]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"postgres" not in cmdline or Path(data_dir) != root / "data":
            return _remove_cluster(root, private)  # a stale pid file: not ours to signal
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # raises once it is gone
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    _remove_cluster(root, private)


def _remove_cluster(root: Path, private: bool) -> None:
    if private:
        shutil.rmtree(root, ignore_errors=True)
    else:
        shutil.rmtree(root / "data", ignore_errors=True)


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
            cls = {"redis": RedisPeer, "postgresql": PostgresPeer}[name]
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
