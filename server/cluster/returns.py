"""PgReturnStore: return data, the access ledger and first receipts in PostgreSQL.

The same three tables as the LMDB store (server/returns/store.py) and the same answers:
a record id is stored once per institution across every node (the primary key), the same
fact sent again is DUPLICATE, other content under a stored id is REJECTED as CONFLICT,
and records for NIKs the institution never accessed are NOT_ACCESSED. A group of batches
(committer.py) is one transaction: COPY into a temporary staging table, one INSERT ...
ON CONFLICT DO NOTHING RETURNING from it (which also notes each NIK's first return data),
the group's audit records written and synced (`before_commit`), then COMMIT; the
committer acknowledges only after the commit returned. Two nodes storing the same record
at once: the second INSERT waits for the first transaction and then finds the row, so
one says STORED and the other DUPLICATE. Acknowledged means durable only as far as the
server's synchronous_commit (on by default; the test clusters turn it off).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Iterator

from ..returns.store import (
    CONFLICT,
    DUPLICATE,
    NOT_ACCESSED,
    REJECTED,
    STORED,
    StoredRecord,
    Submission,
    judge_form,
)
from .db import Database

_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS rd_stage (seq integer, institution text, "
          "record_id text, nik bigint, observed_ms bigint, received_ms bigint, kind text, "
          "value text) ON COMMIT DELETE ROWS")
_INSERT = """
WITH ins AS (
  INSERT INTO return_records
    SELECT institution, record_id, nik, observed_ms, received_ms, kind, value
    FROM rd_stage ORDER BY seq
  ON CONFLICT DO NOTHING
  RETURNING institution, record_id, nik, received_ms
), first_received AS (
  INSERT INTO return_received
    SELECT DISTINCT ON (institution, nik) institution, nik, received_ms FROM ins
    ORDER BY institution, nik, received_ms
  ON CONFLICT DO NOTHING
)
SELECT institution, record_id FROM ins
"""
_ids = itertools.count()


class PgReturnStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def release(self) -> None:
        """The pool belongs to the node's ClusterControl, which closes it."""

    # -- the access ledger -----------------------------------------------------------------

    def note_accessed(self, entries: Iterable[tuple[str, int]], when_ms: int) -> int:
        institutions, niks = _columns(sorted(entries))
        if not niks:
            return 0
        with self.db.connection("noting accessed NIKs") as conn:
            return conn.execute(
                "INSERT INTO access_ledger SELECT i, n, %s FROM unnest(%s::text[], "
                "%s::bigint[]) AS u(i, n) ON CONFLICT DO NOTHING",
                (when_ms, institutions, niks)).rowcount

    def note_accessed_at(self, entries: Iterable[tuple[str, int, int]]) -> int:
        rows = sorted(entries)
        if not rows:
            return 0
        with self.db.connection("rebuilding the access ledger") as conn:
            return conn.execute(
                "INSERT INTO access_ledger SELECT i, n, min(w) FROM unnest(%s::text[], "
                "%s::bigint[], %s::bigint[]) AS u(i, n, w) GROUP BY i, n ON CONFLICT "
                "(institution, nik) DO UPDATE SET first_ms = excluded.first_ms WHERE "
                "access_ledger.first_ms > excluded.first_ms",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])).rowcount

    def first_accessed(self, institution: str, nik: int) -> int | None:
        with self.db.connection("reading the access ledger") as conn:
            row = conn.execute("SELECT first_ms FROM access_ledger WHERE institution = %s "
                               "AND nik = %s", (institution, nik)).fetchone()
        return int(row[0]) if row else None

    # -- submissions (called by the committer thread) --------------------------------------

    def check(self, sub: Submission) -> None:
        """As ReturnStore.check: form first, then the ledger (one query per batch);
        `writes` holds (index, NIK) of the records still to store."""
        status, rejections, parsed = judge_form(sub)
        wanted = sorted({parsed[i] for i in range(len(status)) if not status[i]})
        accessed: set[int] = set()
        if wanted:
            with self.db.connection("checking the access ledger") as conn:
                accessed = {n for (n,) in conn.execute(
                    "SELECT nik FROM access_ledger WHERE institution = %s AND nik = "
                    "ANY(%s::bigint[])", (sub.institution, wanted))}
        writes: list[tuple] = []
        for i in range(len(status)):
            if status[i]:
                continue
            if parsed[i] not in accessed:
                rejections.append((i, NOT_ACCESSED, f"{sub.institution} has not accessed "
                                   "this NIK through nikgate, so it owes no return data for "
                                   "it (access is recorded within about a second)"))
                status[i] = REJECTED
                continue
            writes.append((i, parsed[i]))
        sub.status, sub.rejections, sub.writes = status, rejections, writes

    def commit(self, subs: list[Submission],
               before_commit: Callable[[list[Submission]], None] | None = None) -> None:
        """Store the checked records of many submissions in one transaction; see the
        module docstring. Acknowledge only after this returns."""
        lines = []
        order: list[tuple[Submission, int, int]] = []     # (submission, index, NIK)
        seq = 0
        for sub in subs:
            assert sub.writes is not None, "check() first"
            observed = sub.observed
            inst = sub.institution
            for i, nik in sub.writes:
                rid = sub.record_ids[i]
                if "\\" in rid:      # COPY text format: the one character ids may hold
                    rid = rid.replace("\\", "\\\\")
                lines.append(f"{seq}\t{inst}\t{rid}\t{nik}\t{observed[i] if observed else 0}"
                             f"\t{sub.received_ms}\t{sub.kinds[i]}\t{sub.values[i]}\n")
                order.append((sub, i, nik))
                seq += 1
        with self.db.transaction("storing return data") as conn:
            stored: set[tuple[str, str]] = set()
            if lines:
                conn.execute(_STAGE)
                with conn.cursor() as cur:
                    with cur.copy("COPY rd_stage FROM STDIN") as copy:
                        copy.write("".join(lines).encode())
                    stored = set(cur.execute(_INSERT).fetchall())
            first: dict[tuple[str, str], tuple[int, str, str]] = {}
            later: list[tuple[Submission, int, int]] = []
            for sub, i, nik in order:
                key = (sub.institution, sub.record_ids[i])
                if key in stored and key not in first:
                    first[key] = (nik, sub.kinds[i], sub.values[i])
                    assert sub.status is not None
                    sub.status[i] = STORED
                else:
                    later.append((sub, i, nik))
            if later:
                old = self._existing(conn, {(s.institution, s.record_ids[i])
                                            for s, i, _ in later if
                                            (s.institution, s.record_ids[i]) not in first})
                for sub, i, nik in later:
                    key = (sub.institution, sub.record_ids[i])
                    have = first.get(key) or old.get(key)
                    assert sub.status is not None and sub.rejections is not None
                    if have == (nik, sub.kinds[i], sub.values[i]):
                        sub.status[i] = DUPLICATE
                    else:
                        sub.rejections.append((i, CONFLICT, f"record id {sub.record_ids[i]!r} "
                                               "was stored earlier with other content; give "
                                               "a new fact a new record id"))
                        sub.status[i] = REJECTED
            if before_commit is not None:
                before_commit(subs)
        # the transaction committed: only now may anyone ack

    @staticmethod
    def _existing(conn, keys: set[tuple[str, str]]) -> dict[tuple[str, str],
                                                             tuple[int, str, str]]:
        if not keys:
            return {}
        institutions, ids = _columns(sorted(keys))
        return {(inst, rid): (int(nik), kind, value) for inst, rid, nik, kind, value in
                conn.execute(
                    "SELECT r.institution, r.record_id, r.nik, r.kind, r.value FROM "
                    "return_records r JOIN unnest(%s::text[], %s::text[]) AS k(i, d) ON "
                    "r.institution = k.i AND r.record_id = k.d", (institutions, ids))}

    # -- reading ------------------------------------------------------------------------------

    def records(self, institution: str, since_ms: int = 0
                ) -> Generator[StoredRecord, None, None]:
        """An institution's records received at or after `since_ms`, by record id."""
        with self.db.transaction("reading return data") as conn:
            with conn.cursor(name=f"records_{next(_ids)}") as cur:
                cur.execute("SELECT record_id, nik, kind, value, observed_ms, received_ms "
                            "FROM return_records WHERE institution = %s AND received_ms >= %s "
                            "ORDER BY record_id COLLATE \"C\"", (institution, since_ms))
                for rid, nik, kind, value, observed, received in cur:
                    yield StoredRecord(institution, rid, f"{nik:016d}", kind, value,
                                       observed, received)

    def get(self, institution: str, record_id: str) -> StoredRecord | None:
        with self.db.connection("reading return data") as conn:
            row = conn.execute("SELECT nik, kind, value, observed_ms, received_ms FROM "
                               "return_records WHERE institution = %s AND record_id = %s",
                               (institution, record_id)).fetchone()
        if row is None:
            return None
        nik, kind, value, observed, received = row
        return StoredRecord(institution, record_id, f"{nik:016d}", kind, value, observed,
                            received)

    def count(self, institution: str) -> int:
        with self.db.connection("counting return data") as conn:
            row = conn.execute("SELECT count(*) FROM return_records WHERE institution = %s",
                               (institution,)).fetchone()
        return int(row[0]) if row else 0

    def ledger(self, institution: str) -> Iterator[tuple[int, int, int | None]]:
        """(nik, first accessed ms, first return data ms or None), in NIK order."""
        with self.db.transaction("reading the access ledger") as conn:
            with conn.cursor(name=f"ledger_{next(_ids)}") as cur:
                cur.execute("SELECT a.nik, a.first_ms, r.first_ms FROM access_ledger a LEFT "
                            "JOIN return_received r USING (institution, nik) WHERE "
                            "a.institution = %s ORDER BY a.nik", (institution,))
                for nik, first, got in cur:
                    yield int(nik), int(first), (int(got) if got is not None else None)


def _columns(rows):
    return [r[0] for r in rows], [r[1] for r in rows]
