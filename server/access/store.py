"""The control store: institutions, grants, usage, the SAM registry and card-reader
challenges in one LMDB environment.

Every worker process opens it read-write; LMDB serialises write transactions across
processes, which is what makes quotas exact: the check and the increment happen in one
transaction. Commits are not fsynced one by one (a kill -9 loses nothing: committed pages
are in the OS page cache); a background thread syncs every second, so a power loss can
lose at most the last second of usage counts. Admin changes are synced before returning.

`Control` is what the server needs of this state, whoever keeps it: this store on one
node, or server/cluster's ClusterControl, which keeps what nodes share in PostgreSQL and
counts usage here, within the quota leases it holds (the `leases` database).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import lmdb

from ..sharing import SharedByPath
from .grants import OPERATIONS, Grant, Institution, Usage

WIB = dt.timezone(dt.timedelta(hours=7))  # quotas are per calendar day in Jakarta
_USAGE = struct.Struct("<" + "Q" * len(OPERATIONS))
_BUCKET = struct.Struct("<dd")               # tokens, last refill (unix seconds)
_LEASE = struct.Struct("<qq")                # NIKs leased to this node, lease epoch
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


class Control(Protocol):
    """The control state the server depends on: institutions, grants and their version,
    the SAM registry and challenges, audited admin intents, usage counting and the
    scraping guard's state. ControlStore keeps it in LMDB (one node); server/cluster's
    ClusterControl keeps the shared parts in PostgreSQL."""

    def version(self) -> int: ...
    def snapshot(self) -> tuple[int, dict[str, Institution], dict[str, Grant]]: ...
    def usage(self, institution: str, day: str) -> Usage: ...
    def put_institution(self, institution: Institution,
                        admin_tx: str | None = None) -> None: ...
    def put_grant(self, grant: Grant, admin_tx: str | None = None) -> None: ...
    def set_grant_status(self, institution: str, status: str, reason: str, updated_at: str,
                         admin_tx: str | None = None) -> Grant | None: ...
    def suspend_if_active(self, institution: str, reason: str) -> bool: ...
    def note_admin_intent(self, tx: str, intent: bytes) -> None: ...
    def admin_intents(self) -> dict[str, bytes]: ...
    def drop_admin_intent(self, tx: str) -> None: ...
    def sam_raw(self, sam_id: str) -> bytes | None: ...
    def sams_raw(self) -> dict[str, bytes]: ...
    def put_sam(self, sam_id: str, raw: bytes, expected: bytes | None,
                admin_tx: str | None = None) -> None: ...
    def issue_challenge(self, sam_id: str, challenge: bytes, entry: Challenge,
                        now: float, max_outstanding: int) -> None: ...
    def take_challenge(self, sam_id: str, challenge: bytes) -> Challenge | None: ...
    def live_challenges(self, sam_id: str, now: float) -> int: ...
    def drop_challenges(self, sam_id: str) -> int: ...
    def consume(self, grant: Grant, operation: str, items: int,
                now: float) -> Refusal | None: ...
    def scraping_state(self, institution: str) -> bytes | None: ...
    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None],
                                               tuple[bytes | None, T]]) -> T: ...
    def start_syncing(self) -> None: ...
    def release(self) -> None: ...


@dataclass(frozen=True)
class Challenge:
    """A card-reader challenge as stored: for whom, and its lifetime (unix seconds)."""

    institution: str
    reader_serial: str
    issued: float
    expires: float

    def to_json(self) -> bytes:
        return json.dumps({"i": self.institution, "r": self.reader_serial, "t": self.issued,
                           "e": self.expires}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Challenge:
        e = json.loads(raw)
        return cls(e["i"], e["r"], float(e["t"]), float(e["e"]))


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
        # cluster mode: institution|day -> the quota this node leased and the lease epoch
        # (server/cluster/leases.py); with `leased_quota` set, usage never passes the lease
        self._leases = self.env.open_db(b"leases")
        self.leased_quota = False
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

    def store_id(self) -> str:
        """This store's random identity, made on first use (a quota lease is held by a
        node's store: a node back with another store cannot return the old one's)."""
        with self.env.begin(write=True, db=self._meta) as txn:
            raw = txn.get(b"store_id")
            if raw is None:
                raw = os.urandom(16).hex().encode()
                txn.put(b"store_id", raw)
        self.env.sync(True)
        return bytes(raw).decode()

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
        """A transaction on the challenge table, keyed sam id NUL challenge (the methods
        below; tests age entries through it)."""
        return self.env.begin(write=write, db=self._challenges)

    # -- card-reader challenges (rules in sams.py): one write transaction each ------------

    def issue_challenge(self, sam_id: str, challenge: bytes, entry: Challenge,
                        now: float, max_outstanding: int) -> None:
        """Store a challenge for `sam_id`, purging its expired ones and dropping its
        oldest while it has `max_outstanding` or more, atomically across workers."""
        prefix = _sam_prefix(sam_id)
        with self.card_challenges(write=True) as txn:
            live = []
            for key, value in _scan(txn, prefix):
                old = Challenge.from_json(value)
                if old.expires <= now:
                    txn.delete(key)
                else:
                    live.append((old.issued, key))
            live.sort()
            while len(live) >= max_outstanding:
                txn.delete(live.pop(0)[1])
            txn.put(prefix + challenge, entry.to_json())

    def take_challenge(self, sam_id: str, challenge: bytes) -> Challenge | None:
        """Delete and return a challenge (None when it is not there): used once."""
        key = _sam_prefix(sam_id) + bytes(challenge)
        with self.card_challenges(write=True) as txn:
            raw = txn.get(key)
            if raw is None:
                return None
            raw = bytes(raw)
            txn.delete(key)
        return Challenge.from_json(raw)

    def live_challenges(self, sam_id: str, now: float) -> int:
        with self.card_challenges(write=False) as txn:
            return sum(1 for _, v in _scan(txn, _sam_prefix(sam_id))
                       if Challenge.from_json(v).expires > now)

    def drop_challenges(self, sam_id: str) -> int:
        with self.card_challenges(write=True) as txn:
            keys = [k for k, _ in _scan(txn, _sam_prefix(sam_id))]
            for k in keys:
                txn.delete(k)
        return len(keys)

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
            if self.leased_quota and grant.daily_quota:
                lraw = txn.get(usage_key, db=self._leases)
                leased = _LEASE.unpack(lraw)[0] if lraw else 0
                if used + items > min(leased, grant.daily_quota):
                    txn.abort()   # the caller leases more (server/cluster/leases.py)
                    return Refusal("lease", f"this node's quota lease for "
                                            f"{grant.institution} is used up", 0.0,
                                   leased, used)
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

    # -- quota leases (cluster mode, server/cluster/leases.py) -----------------------------

    def lease(self, institution: str, day: str) -> tuple[int, int, int]:
        """(NIKs used today on this node, NIKs leased to it, lease epoch)."""
        key = f"{institution}|{day}".encode()
        with self.env.begin() as txn:
            raw = txn.get(key, db=self._usage)
            lraw = txn.get(key, db=self._leases)
        used = sum(_USAGE.unpack(raw)) if raw else 0
        leased, epoch = _LEASE.unpack(lraw) if lraw else (0, 0)
        return used, leased, epoch

    def leases(self) -> list[tuple[str, str, int, int, int]]:
        """(institution, day, used, leased, epoch) of every lease this node holds."""
        out = []
        with self.env.begin() as txn:
            for key, lraw in txn.cursor(db=self._leases):
                institution, _, day = bytes(key).decode().rpartition("|")
                raw = txn.get(key, db=self._usage)
                used = sum(_USAGE.unpack(raw)) if raw else 0
                out.append((institution, day, used, *_LEASE.unpack(lraw)))
        return out

    def grow_lease(self, institution: str, day: str, leased: int, epoch: int) -> bool:
        """Take PostgreSQL's word that this node now holds `leased` under `epoch`: kept
        when the epoch is still the local one (no return began since it was asked for)
        and it is more than the local figure. Returns whether the lease is now `leased`."""
        key = f"{institution}|{day}".encode()
        with self.env.begin(write=True, db=self._leases) as txn:
            lraw = txn.get(key)
            local, local_epoch = _LEASE.unpack(lraw) if lraw else (0, 0)
            if epoch != local_epoch:
                return False
            if leased > local:
                txn.put(key, _LEASE.pack(leased, epoch))
        return True

    def shrink_lease(self, institution: str, day: str, keep: int = 0) -> tuple[int, int]:
        """Stop using all but `keep` NIKs of the lease beyond what was used, in one
        transaction, and start a new epoch (lease answers asked for before it are then
        ignored); returns (the lease now, the new epoch) for PostgreSQL to be told."""
        key = f"{institution}|{day}".encode()
        with self.env.begin(write=True) as txn:
            raw = txn.get(key, db=self._usage)
            lraw = txn.get(key, db=self._leases)
            used = sum(_USAGE.unpack(raw)) if raw else 0
            leased, epoch = _LEASE.unpack(lraw) if lraw else (0, 0)
            target = min(leased, used + keep)
            txn.put(key, _LEASE.pack(target, epoch + 1), db=self._leases)
        self.env.sync(True)
        return target, epoch + 1

    def forget_lease(self, institution: str, day: str) -> None:
        """Drop a past day's lease record once PostgreSQL has it back."""
        with self.env.begin(write=True, db=self._leases) as txn:
            txn.delete(f"{institution}|{day}".encode())


def _sam_prefix(sam_id: str) -> bytes:
    return sam_id.encode() + b"\x00"       # ids hold no NUL: SAM-1 never sees SAM-10's


def _scan(txn, prefix: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    cursor = txn.cursor()
    if cursor.set_range(prefix):
        for key, value in cursor.iternext():
            if not key.startswith(prefix):
                break
            out.append((bytes(key), bytes(value)))
    return out
