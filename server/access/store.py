"""The control store: institutions, grants, usage, the SAM registry and card-reader
challenges in one LMDB environment.

Every worker process opens it read-write; LMDB serialises write transactions across
processes, which is what makes quotas exact: the check and the increment happen in one
transaction. Commits are not fsynced one by one (a kill -9 loses nothing: committed pages
are in the OS page cache); a background thread syncs every second, so a power loss can
lose at most the last second of usage counts. Admin changes are synced before returning.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import lmdb

from ..sharing import SharedByPath
from .grants import OPERATIONS, Grant, Institution, Usage

WIB = dt.timezone(dt.timedelta(hours=7))  # quotas are per calendar day in Jakarta
_USAGE = struct.Struct("<" + "Q" * len(OPERATIONS))
_BUCKET = struct.Struct("<dd")               # tokens, last refill (unix seconds)
_VERSION = b"version"
SYNC_SECONDS = 1.0
T = TypeVar("T")


def today_wib(now: float) -> str:
    return dt.datetime.fromtimestamp(now, WIB).date().isoformat()


def seconds_to_midnight_wib(now: float) -> float:
    t = dt.datetime.fromtimestamp(now, WIB)
    midnight = (t + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - t).total_seconds()


@dataclass(frozen=True)
class Refusal:
    """Why a call could not be counted: quota or rate, with when to retry."""

    kind: str            # "quota" or "rate"
    message: str
    retry_after: float
    limit: float
    used: float


class ControlStore(SharedByPath):
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(self.path), max_dbs=16, map_size=1 << 32, sync=False,
                             metasync=False, max_readers=1024)
        self._institutions = self.env.open_db(b"institutions")
        self._grants = self.env.open_db(b"grants")
        self._usage = self.env.open_db(b"usage")
        self._buckets = self.env.open_db(b"buckets")
        self._meta = self.env.open_db(b"meta")
        self._scraping = self.env.open_db(b"scraping")   # server/access/scraping.py
        # audited admin changes not yet stored (server/access/admin_audit.py): tx -> intent
        self._intents = self.env.open_db(b"admin_intents")
        # card readers (server/access/sams.py owns both formats): sam id -> Sam JSON, and
        # sam id NUL challenge -> the challenge's institution, reader and times
        self._sams = self.env.open_db(b"sams")
        self._challenges = self.env.open_db(b"card_challenges")
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None

    def start_syncing(self) -> None:
        """Sync committed usage to disk every SYNC_SECONDS (servers call this)."""
        if self._syncer is None:
            self._syncer = threading.Thread(target=self._sync_loop, daemon=True,
                                            name="control-sync")
            self._syncer.start()

    def _sync_loop(self) -> None:
        while not self._stop.wait(SYNC_SECONDS):
            self.env.sync(True)

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(5)
        self.env.sync(True)
        self.env.close()

    # -- reads -----------------------------------------------------------------------------

    def version(self) -> int:
        with self.env.begin() as txn:
            raw = txn.get(_VERSION, db=self._meta)
        return int(raw) if raw else 0

    def snapshot(self) -> tuple[int, dict[str, Institution], dict[str, Grant]]:
        """(version, institutions, grants), read in one transaction."""
        with self.env.begin() as txn:
            raw = txn.get(_VERSION, db=self._meta)
            institutions = {k.decode(): Institution.from_json(v)
                            for k, v in txn.cursor(db=self._institutions)}
            grants = {k.decode(): Grant.from_json(v) for k, v in txn.cursor(db=self._grants)}
        return (int(raw) if raw else 0), institutions, grants

    def sam_raw(self, sam_id: str) -> bytes | None:
        with self.env.begin(db=self._sams) as txn:
            raw = txn.get(sam_id.encode())
            return bytes(raw) if raw is not None else None

    def sams_raw(self) -> dict[str, bytes]:
        with self.env.begin(db=self._sams) as txn:
            return {bytes(k).decode(): bytes(v) for k, v in txn.cursor()}

    def card_challenges(self, write: bool = True) -> lmdb.Transaction:
        """A transaction on the challenge table (sams.py reads and writes it): one write
        transaction issues or consumes a challenge, atomically across workers."""
        return self.env.begin(write=write, db=self._challenges)

    def usage(self, institution: str, day: str) -> Usage:
        with self.env.begin() as txn:
            raw = txn.get(f"{institution}|{day}".encode(), db=self._usage)
        counts = _USAGE.unpack(raw) if raw else (0,) * len(OPERATIONS)
        return Usage(day, {op: n for op, n in zip(OPERATIONS, counts) if n})

    # -- admin writes (synced) ---------------------------------------------------------------

    def _bump(self, txn) -> None:
        raw = txn.get(_VERSION, db=self._meta)
        txn.put(_VERSION, str((int(raw) if raw else 0) + 1).encode(), db=self._meta)

    def put_institution(self, institution: Institution, admin_tx: str | None = None) -> None:
        """Store an institution; `admin_tx` names the audited intent this completes."""
        with self.env.begin(write=True) as txn:
            txn.put(institution.id.encode(), institution.to_json(), db=self._institutions)
            self._complete(txn, admin_tx)
        self.env.sync(True)

    def put_grant(self, grant: Grant, admin_tx: str | None = None) -> None:
        """Store a grant; `admin_tx` names the audited intent this completes."""
        with self.env.begin(write=True) as txn:
            txn.put(grant.institution.encode(), grant.to_json(), db=self._grants)
            self._complete(txn, admin_tx)
        self.env.sync(True)

    def set_grant_status(self, institution: str, status: str, reason: str, updated_at: str,
                         admin_tx: str | None = None) -> Grant | None:
        """Change a grant's status, read and written in one transaction so a concurrent
        change (a worker's suspension, another grant set) is not overwritten with a stale
        copy; None when there is no grant."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(institution.encode(), db=self._grants)
            if raw is None:
                return None
            grant = Grant.from_json(raw).with_changes(
                status=status, status_reason=reason, updated_at=updated_at)
            txn.put(institution.encode(), grant.to_json(), db=self._grants)
            self._complete(txn, admin_tx)
        self.env.sync(True)
        return grant

    def put_sam(self, sam_id: str, raw: bytes, expected: bytes | None,
                admin_tx: str | None = None) -> None:
        """Store a SAM's record if it is still `expected` (None: not registered), in one
        transaction; ValueError when another change came first (nothing stored)."""
        with self.env.begin(write=True) as txn:
            current = txn.get(sam_id.encode(), db=self._sams)
            if (bytes(current) if current is not None else None) != expected:
                raise ValueError(f"SAM {sam_id} was changed by another administrator while "
                                 "this change was made; run the command again")
            txn.put(sam_id.encode(), raw, db=self._sams)
            self._complete(txn, admin_tx)
        self.env.sync(True)

    def _complete(self, txn, admin_tx: str | None) -> None:
        self._bump(txn)
        if admin_tx is not None:
            # the intent goes in the transaction that stores the change: one commit
            # point, so "intent still here" means "change not stored"
            txn.delete(admin_tx.encode(), db=self._intents)

    # -- audited admin changes: intents (server/access/admin_audit.py) ------------------------

    def note_admin_intent(self, tx: str, intent: bytes) -> None:
        """Record, synced, that audited change `tx` is about to be stored."""
        with self.env.begin(write=True) as txn:
            txn.put(tx.encode(), intent, db=self._intents)
        self.env.sync(True)

    def admin_intents(self) -> dict[str, bytes]:
        """Audited changes noted but not stored (a command died or failed in between)."""
        with self.env.begin() as txn:
            return {k.decode(): bytes(v) for k, v in txn.cursor(db=self._intents)}

    def drop_admin_intent(self, tx: str) -> None:
        with self.env.begin(write=True) as txn:
            txn.delete(tx.encode(), db=self._intents)
        self.env.sync(True)

    def suspend_if_active(self, institution: str, reason: str) -> bool:
        """Suspend an active grant (check and change in one transaction); False when the
        grant is missing or not active, so concurrent workers suspend it once."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(institution.encode(), db=self._grants)
            if raw is None:
                return False
            grant = Grant.from_json(raw)
            if grant.status != "active":
                return False
            changed = grant.with_changes(
                status="suspended", status_reason=reason,
                updated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
            txn.put(institution.encode(), changed.to_json(), db=self._grants)
            self._bump(txn)
        self.env.sync(True)
        return True

    # -- the hot path: one write transaction per call ----------------------------------------

    def consume(self, grant: Grant, operation: str, items: int, now: float) -> Refusal | None:
        """Count `items` against the grant's daily quota and rate bucket, atomically across
        every worker; nothing is counted when the call is refused."""
        inst = grant.institution.encode()
        day = today_wib(now)
        usage_key = inst + b"|" + day.encode()
        op = OPERATIONS.index(operation)
        with self.env.begin(write=True) as txn:
            raw = txn.get(usage_key, db=self._usage)
            counts = list(_USAGE.unpack(raw)) if raw else [0] * len(OPERATIONS)
            used = sum(counts)
            if grant.daily_quota and used + items > grant.daily_quota:
                txn.abort()
                return Refusal(
                    "quota",
                    f"daily quota of {grant.daily_quota:,} NIKs for {grant.institution} "
                    f"is used up ({used:,} used today, this call needs {items:,}); it "
                    "resets at midnight WIB",
                    seconds_to_midnight_wib(now), grant.daily_quota, used)
            if grant.rate_per_second:
                capacity = grant.burst or max(1, int(grant.rate_per_second))
                if items > capacity:
                    txn.abort()
                    return Refusal("rate", f"a call of {items:,} items can never fit the rate "
                                           f"limit's burst of {capacity:,}: send smaller "
                                           "batches", 0.0, capacity, items)
                braw = txn.get(inst, db=self._buckets)
                tokens, last = _BUCKET.unpack(braw) if braw else (float(capacity), now)
                tokens = min(capacity, tokens + max(0.0, now - last) * grant.rate_per_second)
                if tokens < items:
                    txn.abort()
                    wait = (items - tokens) / grant.rate_per_second
                    return Refusal("rate", f"rate limit of {grant.rate_per_second:g} NIKs/s "
                                           f"for {grant.institution} reached; retry in "
                                           f"{wait:.2f} s", wait, grant.rate_per_second,
                                   tokens)
                txn.put(inst, _BUCKET.pack(tokens - items, now), db=self._buckets)
            counts[op] += items
            txn.put(usage_key, _USAGE.pack(*counts), db=self._usage)
        return None

    # -- the scraping guard's shared windows: read per call, one write per observed call ----

    def scraping_state(self, institution: str) -> bytes | None:
        """The scraping guard's packed state for an institution (its own format)."""
        with self.env.begin(db=self._scraping) as txn:
            return txn.get(institution.encode())

    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        """Read, change and write an institution's scraping state in one write transaction,
        atomic across workers. `update(old)` returns (new or None to leave it, result) and
        runs while every worker's writes wait: it must be arithmetic only."""
        key = institution.encode()
        with self.env.begin(write=True, db=self._scraping) as txn:
            new, result = update(txn.get(key))
            if new is not None:
                txn.put(key, new)
        return result
