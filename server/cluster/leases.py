"""Quota leases: exact daily quotas across nodes without a database round trip per call.

A node leases blocks of an institution's daily quota from PostgreSQL (nikgate_lease in
schema.py: the day's row locked, the grant capped so that everything leased for the day
never passes the quota) and counts calls against the lease in its own LMDB control store,
exactly across its workers, as a single node counts against the quota (store.py consume
with `leased_quota`). A call that does not fit the lease leases `lease_block` more (a
round trip per block, not per call); a worker tops up in the background when a quarter of
a block is left, so calls rarely wait for it.

Returning: on shutdown, at the day's end and when a node restarts, the node stops using
what it has not used (shrink_lease: one LMDB transaction, a new lease epoch) and then
tells PostgreSQL, which takes it back. The epoch makes this safe however workers and
messages interleave: a lease answer asked for before the return began is ignored by the
node (its epoch is old) and given back by the return in PostgreSQL; a return PostgreSQL
has not yet heard of is applied by the node's next call there.

What a crash costs: a node killed (kill -9) holds its lease in PostgreSQL; the other nodes
go on within what is left. Its store (LMDB) still knows exactly what it used, so when it
starts again it returns the rest. A node that never comes back costs its unused lease
until the day ends: nobody else knows how much of it was used, and handing it out again
could pass the quota. A node cut off from PostgreSQL keeps serving from its lease (and
cached grants) for `lease_seconds` after its last successful round trip, then refuses
metered calls with UNAVAILABLE: grants it cannot re-read may have been revoked.
Rate limits stay per node (the LMDB token buckets).
"""

from __future__ import annotations

import logging
import threading
import time

from nikgate.errors import StorageUnavailable

from ..access.grants import OPERATIONS, Grant
from ..access.store import ControlStore, Refusal, seconds_to_midnight_wib, today_wib
from .db import Database

log = logging.getLogger(__name__)

LOW_WATER = 0.25      # top up in the background below this share of a block


class QuotaLeases:
    def __init__(self, local: ControlStore, db: Database, block: int = 1000,
                 lease_seconds: float = 30.0, heartbeat_seconds: float = 5.0,
                 clock=time.time) -> None:
        self.local = local
        self.db = db
        self.node_id = db.node_id
        self.block = max(1, block)
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock
        self.store_id = local.store_id()
        local.leased_quota = True
        self._topping: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._quotas: dict[str, int] = {}      # institution -> daily quota last seen

    # -- the call path ----------------------------------------------------------------------

    def consume(self, grant: Grant, operation: str, items: int, now: float) -> Refusal | None:
        cut_off = self.db.cut_off_seconds()
        if cut_off > self.lease_seconds:
            raise StorageUnavailable(
                f"node {self.node_id} has been cut off from the cluster database for "
                f"{cut_off:.0f} s (longer than its {self.lease_seconds:g} s lease): it cannot "
                "confirm grants or quota, so it serves no metered calls until it is back; "
                "retry, another node may answer", retry_after=1.0)
        day = today_wib(now)
        if grant.daily_quota:
            self._quotas[grant.institution] = grant.daily_quota
        all_leased = False
        for _ in range(4):
            refusal = self.local.consume(grant, operation, items, now)
            if refusal is None:
                if grant.daily_quota:
                    self._maybe_top_up(grant, day)
                return None
            if refusal.kind != "lease" or all_leased:
                break
            if self.acquire(grant, day, max(self.block, items)) == 0:
                # The day's quota is all leased: what is left is elsewhere, or was just
                # granted to this node's background top-up, which the answer (this node's
                # whole lease in PostgreSQL) has put in the local lease: one more look.
                all_leased = True
        if refusal is not None and refusal.kind != "lease":
            return refusal
        used, leased, _ = self.local.lease(grant.institution, day)
        return Refusal(
            "quota",
            f"daily quota of {grant.daily_quota:,} NIKs for {grant.institution} is used up "
            f"across the cluster (this node used {used:,} of its {leased:,} leased; this "
            f"call needs {items:,}); it resets at midnight WIB",
            seconds_to_midnight_wib(now), grant.daily_quota, used)

    def acquire(self, grant: Grant, day: str, want: int) -> int:
        """Lease up to `want` more NIKs of the day's quota (and apply a return PostgreSQL
        has not yet heard of); returns how many were granted."""
        return self._call(grant.institution, day, want, grant.daily_quota)

    def _call(self, institution: str, day: str, want: int, quota: int) -> int:
        _used, leased, epoch = self.local.lease(institution, day)
        with self.db.connection("leasing quota") as conn:
            row = conn.execute(
                "SELECT granted, leased, epoch FROM nikgate_lease(%s, %s, %s, %s, %s, %s, %s, "
                "%s, %s)", (institution, day, self.node_id, self.store_id, epoch, leased, want,
                            quota, self.lease_seconds)).fetchone()
        assert row is not None
        granted, pg_leased, pg_epoch = (int(v) for v in row)
        if not self.local.grow_lease(institution, day, pg_leased, pg_epoch) and want:
            # a return began meanwhile: this answer is ignored, and the return (applied
            # now, if its own call has not yet) gives the grant back with the rest
            self._call(institution, day, 0, quota)
        return granted

    def _maybe_top_up(self, grant: Grant, day: str) -> None:
        used, leased, _ = self.local.lease(grant.institution, day)
        if leased - used >= self.block * LOW_WATER or leased >= grant.daily_quota:
            return
        key = (grant.institution, day)
        with self._lock:
            if key in self._topping:
                return
            self._topping.add(key)

        def top_up() -> None:
            try:
                self.acquire(grant, day, self.block)
            except Exception as e:
                log.warning("quota lease top-up for %s failed: %s", grant.institution, e)
            finally:
                with self._lock:
                    self._topping.discard(key)
        threading.Thread(target=top_up, daemon=True, name="lease-top-up").start()

    # -- returns ------------------------------------------------------------------------------

    def give_back(self, institution: str, day: str, keep: int = 0) -> None:
        """Stop using all but `keep` of the unused lease, then tell PostgreSQL."""
        self.local.shrink_lease(institution, day, keep)
        self._call(institution, day, 0, self._quotas.get(institution, 0))

    def settle(self) -> None:
        """Return everything this node holds and has not used (past days' leases are then
        forgotten): when it stops, and when it starts (so a restart after a crash gives
        back what the crashed node held; the other workers of a running node simply lease
        again)."""
        today = today_wib(self.clock())
        for institution, day, _used, _leased, _epoch in self.local.leases():
            try:
                self.give_back(institution, day)
                if day < today:
                    self.local.forget_lease(institution, day)
            except StorageUnavailable as e:
                log.warning("quota lease of %s for %s not yet returned (%s); the node "
                            "returns it when it can", institution, day, e)

    # -- the heartbeat: renew, report usage, return past days --------------------------------

    def heartbeat(self) -> None:
        today = today_wib(self.clock())
        rows = []
        for institution, day, used, _leased, _epoch in self.local.leases():
            if day < today:
                self.give_back(institution, day)
                self.local.forget_lease(institution, day)
                continue
            ops = self.local.usage(institution, day).items
            rows.append((institution, day, used, [ops.get(op, 0) for op in OPERATIONS]))
        with self.db.connection("renewing quota leases") as conn:
            if not rows:
                conn.execute("SELECT 1")
                return
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE quota_leases SET used = %s, used_ops = %s, expires_at = now() + "
                    "make_interval(secs => %s) WHERE institution = %s AND day = %s AND "
                    "node_id = %s",
                    [(used, ops, self.lease_seconds, inst, day, self.node_id)
                     for inst, day, used, ops in rows])

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.heartbeat()
            except Exception as e:
                log.warning("quota lease heartbeat failed (%s); cut off for %.0f s", e,
                            self.db.cut_off_seconds())

    def start(self) -> None:
        """Return what a previous run of this node left leased, then heartbeat."""
        try:
            self.settle()
        except Exception as e:
            log.warning("could not settle earlier quota leases at start: %s", e)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="lease-heartbeat")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.settle()
