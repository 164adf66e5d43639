"""The access ledger's feed: which NIKs each institution accessed, from every answered call.

Handlers note the NIKs found (an unknown NIK returns no data, so nothing is owed for it);
a background thread writes new (institution, NIK) pairs to the store every
`flush_seconds` in one synced transaction. Only institutions whose grant carries a
return-data duty are noted. A per-worker memory of pairs already written keeps repeat
NIKs off the disk; it is bounded and simply forgotten when full.

What a crash costs: a kill -9 of a worker loses at most the last interval of noted
access. Return data for such a NIK is then refused as NOT_ACCESSED until the institution
accesses it again; the audit log still holds the access itself.
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import compress

from .store import ReturnStore

log = logging.getLogger(__name__)

ITEM_FOUND = 1
_FOUND_MASK = bytes(1 if i == ITEM_FOUND else 0 for i in range(256))


class AccessLedger:
    def __init__(self, store: ReturnStore, flush_seconds: float = 0.5,
                 remember: int = 2_000_000) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self.remember = remember
        self._pending: dict[str, set] = {}
        self._known: set[tuple[str, int]] = set()
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
        found = (niks if item_results.count(ITEM_FOUND) == len(item_results)
                 else compress(niks, item_results.translate(_FOUND_MASK)))
        with self._lock:
            bucket = self._pending.get(institution)
            if bucket is None:
                bucket = self._pending[institution] = set()
            bucket.update(found)

    def flush(self) -> int:
        """Write what is pending now; returns the number of new ledger entries."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        known = self._known
        fresh = []
        for institution, niks in pending.items():
            for nik in niks:
                pair = (institution, int(nik))
                if pair not in known:
                    fresh.append(pair)
        if not fresh:
            return 0
        try:
            new = self.store.note_accessed(fresh, time.time_ns() // 1_000_000)
        except BaseException:
            with self._lock:  # keep them for the next attempt
                for institution, nik in fresh:
                    self._pending.setdefault(institution, set()).add(nik)
            raise
        if len(known) + len(fresh) > self.remember:
            known.clear()
        known.update(fresh)
        return new

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
