"""The access ledger's feed: which NIKs each institution accessed, from every answered call.

Handlers note the NIKs found (an unknown NIK returns no data, so nothing is owed for it);
a background thread writes new (institution, NIK) pairs to the store every
`flush_seconds` in one synced transaction. Only institutions whose grant carries a
return-data duty are noted. A per-worker memory of pairs already written keeps repeat
NIKs off the disk; it is bounded and simply forgotten when full.

What a crash costs: a kill -9 of a worker loses at most the last interval of noted
access. Return data for such a NIK is then refused as NOT_ACCESSED until the institution
accesses it again, or until `nikgate return-data rebuild-ledger` replays the audit log,
which holds the access itself (rebuild.py).
"""

from __future__ import annotations

import logging
import threading
import time
from array import array

from nikgate.engine.nikset import NikSet

from .store import Returns

log = logging.getLogger(__name__)

ITEM_FOUND = 1


class AccessLedger:
    def __init__(self, store: Returns, flush_seconds: float = 0.5,
                 remember: int = 2_000_000) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self.remember = remember
        # NIKs already noted, per institution, in the compiled core's u64 set: a Python
        # set of the NIK strings cost ~175 us per 1000-item call (hashing fresh strings,
        # a cache miss per probe), this ~40 us.
        self._known: dict[str, NikSet] = {}
        self._pending: dict[str, bytearray] = {}   # new NIKs, packed u64
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="access-ledger")
            self._thread.start()

    def note(self, institution: str, niks, item_results: bytes) -> None:
        """After an answered call: remember the NIKs whose item status was FOUND."""
        with self._lock:
            known = self._known.get(institution)
            if known is None:
                known = self._known[institution] = NikSet(self.remember)
            new = known.add_found(niks if type(niks) is list else list(niks), item_results,
                                  ITEM_FOUND)
            if new:
                bucket = self._pending.get(institution)
                if bucket is None:
                    self._pending[institution] = bytearray(new)
                else:
                    bucket += new

    def flush(self) -> int:
        """Write what is pending now; returns the number of new ledger entries.

        The background thread calls this every `flush_seconds`, and `stop` once more; call
        it directly to make the access noted so far durable at once (tests, tools)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        fresh: list[tuple[str, int]] = []
        for institution, packed in pending.items():
            niks = array("Q")
            niks.frombytes(packed)
            fresh += ((institution, nik) for nik in niks)
        try:
            return self.store.note_accessed(fresh, time.time_ns() // 1_000_000)
        except BaseException:
            with self._lock:  # keep them for the next attempt
                for institution, packed in pending.items():
                    self._pending.setdefault(institution, bytearray()).extend(packed)
            raise

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:
                log.exception("access ledger flush failed; will retry")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.flush()
