"""The return-data store: one LMDB environment, three databases.

    records   institution \\0 record_id     -> nik u64, observed ms, received ms, kind \\0 value
    accessed  institution \\0 nik u64 (BE)  -> first access ms   (the obligations ledger)
    received  institution \\0 nik u64 (BE)  -> first return-data ms for that NIK

Every worker process opens it; LMDB serialises writers across processes, so a record id is
stored once however many workers see it. The environment syncs on every commit (two
fdatasyncs): a commit that returned is on disk, which is what an acknowledgement promises.
Groups of batches share one commit (see committer.py).

`Returns` is what the server needs of a return-data store; in a cluster, server/cluster's
PgReturnStore keeps the same three tables in PostgreSQL, with the same answers.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import lmdb

from nikgate.engine import check_nik
from nikgate.errors import InvalidNikError
from nikgate.redact import redact
from nikgate.v1 import return_data_pb2 as pb

from ..sharing import SharedByPath
from .kinds import KINDS, MAX_RECORD_ID, record_id_ok, value_problem

_HEAD = struct.Struct("<Qqq")        # nik, observed_at_ms, received_at_ms
_MS = struct.Struct("<q")
_NIK = struct.Struct(">Q")           # big-endian: one institution's NIKs sort together

# Per-record outcomes and reject reasons: the wire's numbers, from the generated descriptors
# (return_data.proto RecordStatus and RejectReason are their one definition).
STORED, DUPLICATE, REJECTED = (pb.RECORD_STATUS_STORED, pb.RECORD_STATUS_DUPLICATE,
                               pb.RECORD_STATUS_REJECTED)
MALFORMED_NIK = pb.REJECT_REASON_MALFORMED_NIK
KIND_NOT_GRANTED = pb.REJECT_REASON_KIND_NOT_GRANTED
NOT_ACCESSED = pb.REJECT_REASON_NOT_ACCESSED
MALFORMED_VALUE = pb.REJECT_REASON_MALFORMED_VALUE
MALFORMED_RECORD_ID = pb.REJECT_REASON_MALFORMED_RECORD_ID
CONFLICT = pb.REJECT_REASON_CONFLICT
MALFORMED_TIME = pb.REJECT_REASON_MALFORMED_TIME
FUTURE_SLACK_MS = 5 * 60 * 1000       # clocks differ; "observed" may be this far ahead


@dataclass(frozen=True, slots=True)
class StoredRecord:
    institution: str
    record_id: str
    nik: str
    kind: str
    value: str
    observed_at_ms: int
    received_at_ms: int


@dataclass(slots=True)
class Submission:
    """One batch as the committer sees it; `status` and `rejections` are its answer."""

    institution: str
    kinds_granted: frozenset[str]
    record_ids: list[str]
    niks: list[str]
    kinds: list[str]
    values: list[str]
    observed: list[int]
    received_ms: int
    status: bytearray | None = None
    rejections: list[tuple[int, int, str]] | None = None   # (index, reason, message)
    # the records still to store, in the store's own form: (index, record key, record
    # value, ledger key) here, (index, NIK) in server/cluster/returns.py
    writes: list[tuple] | None = None
    call: object = None        # the stream message it came in (server.calls.Call), audited


def _prefix(institution: str) -> bytes:
    return institution.encode() + b"\x00"


def judge_form(sub: Submission) -> tuple[bytearray, list[tuple[int, int, str]], list[int]]:
    """What can be judged of each record without a store: record id, NIK, kind, value,
    time. Returns (status: REJECTED or 0 = still to judge, rejections, parsed NIKs)."""
    n = len(sub.record_ids)
    status = bytearray(n)
    rejections: list[tuple[int, int, str]] = []
    parsed = [0] * n
    limit = sub.received_ms + FUTURE_SLACK_MS
    for i in range(n):
        rid = sub.record_ids[i]
        if not record_id_ok(rid):
            rejections.append((i, MALFORMED_RECORD_ID, f"record_id must be 1-{MAX_RECORD_ID} "
                               "printable ASCII characters without spaces"))
            status[i] = REJECTED
            continue
        try:
            parsed[i] = check_nik(sub.niks[i])
        except InvalidNikError:
            rejections.append((i, MALFORMED_NIK, "nik is not a valid NIK (check it with "
                               "`nikgate nik check`)"))
            status[i] = REJECTED
            continue
        kind = sub.kinds[i]
        if kind not in sub.kinds_granted:
            known = "" if kind in KINDS else " (not a known kind)"
            rejections.append((i, KIND_NOT_GRANTED, f"kind '{redact(kind)}'{known} is not in "
                               f"{sub.institution}'s grant; granted: "
                               f"{', '.join(sorted(sub.kinds_granted)) or 'none'}"))
            status[i] = REJECTED
            continue
        problem = value_problem(kind, sub.values[i])
        if problem:
            rejections.append((i, MALFORMED_VALUE, problem))
            status[i] = REJECTED
            continue
        observed = sub.observed[i] if sub.observed else 0
        if observed < 0 or observed > limit:
            rejections.append((i, MALFORMED_TIME, "observed_at_ms must be unix "
                               "milliseconds, not in the future (0 = not given)"))
            status[i] = REJECTED
    return status, rejections, parsed


class Returns(Protocol):
    """A return-data store as the server uses it (ReturnStore; PgReturnStore in a
    cluster): the access ledger, checked group commits, reads."""

    def note_accessed(self, entries: Iterable[tuple[str, int]], when_ms: int) -> int: ...
    def note_accessed_at(self, entries: Iterable[tuple[str, int, int]]) -> int: ...
    def first_accessed(self, institution: str, nik: int) -> int | None: ...
    def check(self, sub: Submission) -> None: ...
    def commit(self, subs: list[Submission],
               before_commit: Callable[[list[Submission]], None] | None = None) -> None: ...
    def records(self, institution: str, since_ms: int = 0
                ) -> Generator[StoredRecord, None, None]: ...
    def get(self, institution: str, record_id: str) -> StoredRecord | None: ...
    def count(self, institution: str) -> int: ...
    def ledger(self, institution: str) -> Iterator[tuple[int, int, int | None]]: ...
    def release(self) -> None: ...


class ReturnStore(SharedByPath):
    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif not (self.path / "data.mdb").exists():
            raise FileNotFoundError(f"no return-data store at {self.path}")
        self.env = lmdb.open(str(self.path), max_dbs=4, map_size=1 << 36, readonly=readonly,
                             max_readers=1024)
        self._records = self.env.open_db(b"records", create=not readonly)
        self._accessed = self.env.open_db(b"accessed", create=not readonly)
        self._received = self.env.open_db(b"received", create=not readonly)

    def close(self) -> None:
        self.env.close()

    # -- the access ledger -----------------------------------------------------------------

    def note_accessed(self, entries: Iterable[tuple[str, int]], when_ms: int) -> int:
        """Record first access for (institution, NIK) pairs not yet in the ledger, in one
        synced transaction; returns how many were new."""
        new = 0
        with self.env.begin(write=True, db=self._accessed) as txn:
            stamp = _MS.pack(when_ms)
            for institution, nik in sorted(entries):
                if txn.put(_prefix(institution) + _NIK.pack(nik), stamp, overwrite=False):
                    new += 1
        return new

    def note_accessed_at(self, entries: Iterable[tuple[str, int, int]]) -> int:
        """(institution, NIK, access ms) pairs into the ledger, keeping the earliest time
        per pair, in one synced transaction; returns how many were new or moved earlier.
        For rebuilding the ledger from the audit log."""
        changed = 0
        with self.env.begin(write=True, db=self._accessed) as txn:
            for institution, nik, when in sorted(entries):
                key = _prefix(institution) + _NIK.pack(nik)
                old = txn.get(key)
                if old is None or _MS.unpack(old)[0] > when:
                    txn.put(key, _MS.pack(when))
                    changed += 1
        return changed

    def first_accessed(self, institution: str, nik: int) -> int | None:
        with self.env.begin(db=self._accessed) as txn:
            raw = txn.get(_prefix(institution) + _NIK.pack(nik))
        return _MS.unpack(raw)[0] if raw else None

    # -- submissions (called by the committer thread) --------------------------------------

    def check(self, sub: Submission) -> None:
        """Judge every record of `sub` that can be judged before the write transaction
        (form, kind, the access ledger) and prepare the writes, so the transaction, which
        serialises every worker, holds only puts. Fills `status` (0 = to store),
        `rejections` and `writes`. The ledger only grows, so a NIK found accessed here is
        still accessed at commit."""
        status, rejections, parsed = judge_form(sub)
        prefix = _prefix(sub.institution)
        writes = []
        observed_ms = sub.observed
        with self.env.begin(db=self._accessed) as txn:
            for i in range(len(status)):
                if status[i]:
                    continue
                nik = parsed[i]
                nik_key = prefix + _NIK.pack(nik)
                if txn.get(nik_key) is None:
                    rejections.append((i, NOT_ACCESSED, f"{sub.institution} has not accessed "
                                       "this NIK through nikgate, so it owes no return data "
                                       "for it (access is recorded within about a second)"))
                    status[i] = REJECTED
                    continue
                value = (_HEAD.pack(nik, observed_ms[i] if observed_ms else 0, sub.received_ms)
                         + sub.kinds[i].encode() + b"\x00" + sub.values[i].encode())
                writes.append((i, prefix + sub.record_ids[i].encode(), value, nik_key))
        sub.status, sub.rejections, sub.writes = status, rejections, writes

    def commit(self, subs: list[Submission],
               before_commit: Callable[[list[Submission]], None] | None = None) -> None:
        """Store the checked records of many submissions in one synced transaction; each
        record ends STORED, DUPLICATE or REJECTED (not accessed, conflicting id).

        `before_commit` sees the decided submissions inside the transaction (the audit
        writes their records there); if it raises, the transaction is aborted and nothing
        of the group is stored."""
        with self.env.begin(write=True) as txn:
            for sub in subs:
                self._store(txn, sub)
            if before_commit is not None:
                before_commit(subs)
        # leaving the block committed (and fdatasynced): only now may anyone ack

    def _store(self, txn: lmdb.Transaction, sub: Submission) -> None:
        status, rejections, writes = sub.status, sub.rejections, sub.writes
        assert status is not None and rejections is not None and writes is not None, "check() first"
        received = _MS.pack(sub.received_ms)
        put, get = txn.put, txn.get
        records, received_db = self._records, self._received
        for i, key, value, nik_key in writes:
            if put(key, value, overwrite=False, db=records):
                put(nik_key, received, overwrite=False, db=received_db)
                status[i] = STORED
                continue
            old = get(key, db=records)
            assert old is not None  # put refused to overwrite: the key is there
            # the same fact sent again (received time aside): acknowledged, stored once
            if old[:8] == value[:8] and old[_HEAD.size:] == value[_HEAD.size:]:
                status[i] = DUPLICATE
            else:
                rejections.append((i, CONFLICT, f"record id {sub.record_ids[i]!r} was "
                                       "stored earlier with other content; give a new fact "
                                       "a new record id"))
                status[i] = REJECTED

    # -- reading ------------------------------------------------------------------------------

    def records(self, institution: str, since_ms: int = 0
                ) -> Generator[StoredRecord, None, None]:
        """An institution's records received at or after `since_ms`, by record id."""
        prefix = _prefix(institution)
        with self.env.begin(db=self._records) as txn:
            cur = txn.cursor()
            if not cur.set_range(prefix):
                return
            for key, value in cur:
                if not key.startswith(prefix):
                    break
                nik, observed, received = _HEAD.unpack_from(value)
                if received < since_ms:
                    continue
                kind, _, val = bytes(value[_HEAD.size:]).partition(b"\x00")
                yield StoredRecord(institution, key[len(prefix):].decode(), f"{nik:016d}",
                                   kind.decode(), val.decode(), observed, received)

    def get(self, institution: str, record_id: str) -> StoredRecord | None:
        with self.env.begin(db=self._records) as txn:
            value = txn.get(_prefix(institution) + record_id.encode())
        if value is None:
            return None
        nik, observed, received = _HEAD.unpack_from(value)
        kind, _, val = value[_HEAD.size:].partition(b"\x00")
        return StoredRecord(institution, record_id, f"{nik:016d}", kind.decode(),
                            val.decode(), observed, received)

    def count(self, institution: str) -> int:
        prefix = _prefix(institution)
        n = 0
        with self.env.begin(db=self._records) as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for key in cur.iternext(values=False):
                    if not key.startswith(prefix):
                        break
                    n += 1
        return n

    def ledger(self, institution: str) -> Iterator[tuple[int, int, int | None]]:
        """(nik, first accessed ms, first return data ms or None) for every NIK the
        institution accessed, in NIK order: a merge of the two databases' cursors."""
        prefix = _prefix(institution)
        with self.env.begin() as txn:
            acc = txn.cursor(db=self._accessed)
            rec = txn.cursor(db=self._received)
            if not acc.set_range(prefix):
                return
            have_rec = rec.set_range(prefix)
            for key, value in acc:
                if not key.startswith(prefix):
                    break
                while have_rec and rec.key() < key:
                    have_rec = rec.next()
                got = None
                if have_rec and rec.key() == key:
                    got = _MS.unpack(rec.value())[0]
                yield _NIK.unpack_from(key, len(prefix))[0], _MS.unpack(value)[0], got
