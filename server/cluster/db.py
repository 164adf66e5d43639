"""One worker's PostgreSQL connections: a small pool, errors as UNAVAILABLE, LISTEN.

Every connection is in autocommit mode; a transaction is `with db.transaction("what")`.
Any failure to reach or use the database (refused, reset, timed out, a serialization
failure) is raised as StorageUnavailable naming what needed it, with RetryInfo, never
INTERNAL. `last_ok` is the monotonic time at which the last round trip that succeeded was
*sent*: the quota lease (leases.py) counts how long the node has been cut off from it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import psycopg

from nikgate.errors import StorageUnavailable

log = logging.getLogger(__name__)

CHANNEL = "nikgate_control"     # NOTIFY channel of grant, institution and SAM changes


class Database:
    def __init__(self, dsn: str, node_id: str, size: int = 4,
                 connect_timeout: float = 2.0, statement_timeout: float = 5.0) -> None:
        self.dsn = dsn
        self.node_id = node_id
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self._idle: list[psycopg.Connection] = []
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._lock = threading.Lock()
        self._closed = False
        self.last_ok = time.monotonic()

    def connect(self) -> psycopg.Connection:
        """A new autocommit connection with the configured timeouts."""
        try:
            return psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=max(1, round(self.connect_timeout)),
                application_name=f"nikgate-{self.node_id}",
                options=f"-c statement_timeout={round(self.statement_timeout * 1000)}")
        except psycopg.Error as e:
            raise self.unavailable("connecting", e) from None

    def unavailable(self, what: str, error: BaseException) -> StorageUnavailable:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return StorageUnavailable(
            f"node {self.node_id} cannot reach the cluster database (PostgreSQL) for "
            f"{what}: {first}; nothing was done, retry (another node may answer)")

    @contextlib.contextmanager
    def connection(self, what: str) -> Iterator[psycopg.Connection]:
        """A pooled connection for one use; a broken one is dropped, not reused."""
        if not self._slots.acquire(timeout=self.connect_timeout + self.statement_timeout):
            raise StorageUnavailable(f"node {self.node_id}: every connection to the cluster "
                                     f"database is busy ({what}); retry")
        conn: psycopg.Connection | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self.connect()
            sent = time.monotonic()
            try:
                yield conn
            except psycopg.Error as e:
                broken = conn.closed or conn.broken or isinstance(e, psycopg.OperationalError)
                if broken:
                    conn.close()
                    conn = None
                if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError):
                    raise self.unavailable(what, e) from None
                raise
            self.last_ok = max(self.last_ok, sent)
        finally:
            if conn is not None and not conn.closed:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.close()       # left inside a transaction: never hand that on
                else:
                    with self._lock:
                        if self._closed:
                            conn.close()
                        else:
                            self._idle.append(conn)
            self._slots.release()

    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction, committed when the block ends."""
        with self.connection(what) as conn, conn.transaction():
            yield conn

    def cut_off_seconds(self) -> float:
        """How long since the last round trip that succeeded was sent."""
        return time.monotonic() - self.last_ok

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Listener:
    """LISTEN on CHANNEL in a thread of its own: `on_notify(payload)` for each change,
    `on_connect()` after every (re)connection (changes made while it was away are not
    replayed, so the caller re-reads what it tracks). Reconnects every `retry` s."""

    def __init__(self, db: Database, on_notify: Callable[[str], None],
                 on_connect: Callable[[], None], retry: float = 0.5) -> None:
        self.db = db
        self.on_notify = on_notify
        self.on_connect = on_connect
        self.retry = retry
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="cluster-listen")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._conn = self.db.connect()
                conn.execute(f"LISTEN {CHANNEL}")
                self.on_connect()
                while not self._stop.is_set():
                    for n in conn.notifies(timeout=1.0):
                        self.on_notify(n.payload)
            except Exception as e:
                if not self._stop.is_set():
                    log.warning("cluster change listener lost its connection (%s); "
                                "reconnecting", e)
            finally:
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.close()
                    self._conn = None
            self._stop.wait(self.retry)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
