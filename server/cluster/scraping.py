"""The scraping guard's state across nodes: windows summed, throttles shared.

The guard (server/access/scraping.py) reads and updates an institution's packed state on
every call; a round trip to PostgreSQL there would double a call's cost. So each node
keeps its own state in its LMDB control store, exactly as one node does, and every
`sync_seconds` each worker writes the node's state of the institutions it saw to
scraping_nodes and reads the other nodes' rows. The guard then judges the sum: this
node's windows plus the others' (decayed to the same moment), and the latest throttle of
any node. So an enumeration spread over nodes is seen as one, at most `sync_seconds`
late, and a throttle set on one node reaches the others within `sync_seconds`. The
throttled token bucket is per node. A reset (an operator's decision) is recorded in
scraping_resets and applied by every node at its next sync.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..access.scraping import _EMPTY, _STATE
from ..access.store import ControlStore
from .db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
State = tuple[float, ...]


class ClusterScrapingStates:
    def __init__(self, local: ControlStore, db: Database, sync_seconds: float = 1.0,
                 short_seconds: float = 60.0, long_seconds: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.local = local
        self.db = db
        self.sync_seconds = sync_seconds
        self.short_seconds = short_seconds
        self.long_seconds = long_seconds
        self.clock = clock
        self._remote: dict[str, State] = {}    # the other nodes' sum, as of its slot 0
        self._touched: set[str] = set()
        self._reset: set[str] = set()
        self._resets_seen = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the guard's two methods --------------------------------------------------------

    def scraping_state(self, institution: str) -> bytes | None:
        raw = self.local.scraping_state(institution)
        remote = self._remote.get(institution)
        if remote is None:
            return raw
        return _STATE.pack(*self._combine(raw, remote))

    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        self._touched.add(institution)
        remote = self._remote.get(institution)
        reset = False

        def on_local(raw: bytes | None) -> tuple[bytes | None, T]:
            nonlocal reset
            new, result = update(raw if remote is None
                                 else _STATE.pack(*self._combine(raw, remote)))
            if new is None:
                return None, result
            state = _STATE.unpack(new)
            if not any(state):             # a reset: for every node, not just this one
                reset = True
                return new, result
            if remote is None:
                return new, result
            return _STATE.pack(*self._split(state, remote)), result

        result = self.local.update_scraping_state(institution, on_local)
        if reset:
            self._reset_everywhere(institution)
        return result

    def _reset_everywhere(self, institution: str) -> None:
        self._remote.pop(institution, None)
        with self.db.transaction("resetting the scraping guard") as conn:
            conn.execute("DELETE FROM scraping_nodes WHERE institution = %s", (institution,))
            conn.execute("INSERT INTO scraping_resets VALUES (%s, now())", (institution,))

    # -- the arithmetic: this node's state plus the others' --------------------------------

    def _decay(self, s: State, to: float) -> list[float]:
        out = list(s)
        dt = to - s[0]
        fs, fl = math.exp(-dt / self.short_seconds), math.exp(-dt / self.long_seconds)
        for i in (1, 2, 3):
            out[i] *= fs
        for i in (4, 5, 6):
            out[i] *= fl
        out[0] = to
        return out

    def _combine(self, raw: bytes | None, remote: State) -> list[float]:
        mine = list(_STATE.unpack(raw)) if raw else list(_EMPTY)
        at = mine[0] if raw else remote[0]
        r = self._decay(remote, at)
        out = list(mine)
        out[0] = at
        for i in range(1, 7):
            out[i] += r[i]
        out[7] = max(mine[7], r[7])
        out[10] += r[10]
        return out

    def _split(self, combined: State, remote: State) -> list[float]:
        r = self._decay(remote, combined[0])
        out = list(combined)
        for i in range(1, 7):
            out[i] = max(0.0, combined[i] - r[i])
        out[10] = max(0.0, combined[10] - r[10])
        return out

    # -- the exchange -------------------------------------------------------------------------

    def sync(self) -> None:
        """Write this node's state of the institutions seen, read everyone else's."""
        now = self.clock()
        mine = []
        for institution in list(self._touched):
            raw = self.local.scraping_state(institution)
            if raw is not None:
                mine.append((institution, self.db.node_id, raw))
        with self.db.connection("exchanging scraping windows") as conn:
            for institution, at in conn.execute(
                    "SELECT institution, extract(epoch FROM at)::float8 FROM scraping_resets "
                    "WHERE at > to_timestamp(%s)", (self._resets_seen,)).fetchall():
                self._resets_seen = max(self._resets_seen, at)
                self.local.update_scraping_state(institution,
                                                 lambda _raw: (_STATE.pack(*_EMPTY), None))
                self._remote.pop(institution, None)
                mine = [m for m in mine if m[0] != institution]
            if mine:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO scraping_nodes VALUES (%s, %s, %s, now()) ON CONFLICT "
                        "(institution, node_id) DO UPDATE SET state = excluded.state, "
                        "updated_at = excluded.updated_at", mine)
            sums: dict[str, list[float]] = {}
            for institution, raw in conn.execute(
                    "SELECT institution, state FROM scraping_nodes WHERE node_id <> %s",
                    (self.db.node_id,)):
                s = self._decay(_STATE.unpack(raw), now)
                total = sums.setdefault(institution, [now] + [0.0] * 10)
                for i in range(1, 7):
                    total[i] += s[i]
                total[7] = max(total[7], s[7])
                total[10] += s[10]
        self._remote = {k: tuple(v) for k, v in sums.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.sync_seconds):
            try:
                self.sync()
            except Exception as e:
                log.warning("scraping windows not exchanged (%s); judging this node's "
                            "own until the next try", e)

    def start(self) -> None:
        if self._thread is None:
            self._resets_seen = self.clock()
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="scraping-sync")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
