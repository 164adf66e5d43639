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
# One statement: store the staged records whose NIK the institution accessed (the first
# occurrence of a record id wins; the primary key keeps it once across nodes), note each
# NIK's first return data, and answer how many were stored. Usually all were; only when
# not, _NOT_STORED says which were not, and why.
_INSERT = """
WITH ins AS (
  INSERT INTO return_records
    SELECT s.institution, s.record_id, s.nik, s.observed_ms, s.received_ms, s.kind, s.value
    FROM rd_stage s
    WHERE EXISTS (SELECT 1 FROM access_ledger a
                  WHERE a.institution = s.institution AND a.nik = s.nik)
    ORDER BY s.seq
  ON CONFLICT DO NOTHING
  RETURNING institution, nik, received_ms
), first_received AS (
  INSERT INTO return_received
    SELECT DISTINCT ON (institution, nik) institution, nik, received_ms FROM ins
    ORDER BY institution, nik, received_ms
  ON CONFLICT DO NOTHING
)
SELECT count(*) FROM ins
"""

# The staged records this transaction did not store: not accessed (NULL), or the stored
# row holds the same fact (true: DUPLICATE) or another (false: CONFLICT).
_NOT_STORED = """
SELECT s.seq, CASE WHEN NOT EXISTS (SELECT 1 FROM access_ledger a
                                    WHERE a.institution = s.institution AND a.nik = s.nik)
                   THEN NULL
                   ELSE (r.nik = s.nik AND r.kind = s.kind AND r.value = s.value) END
FROM rd_stage s LEFT JOIN return_records r USING (institution, record_id)
WHERE r.xmin IS DISTINCT FROM pg_current_xact_id()::xid
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
        """The checks that need no database (judge_form); the access ledger is checked
        in commit's transaction, in one statement for the whole group. `writes` holds
        (index, NIK) of the records still to judge."""
        status, rejections, parsed = judge_form(sub)
        sub.status, sub.rejections = status, rejections
        sub.writes = [(i, parsed[i]) for i in range(len(status)) if not status[i]]

    def commit(self, subs: list[Submission],
               before_commit: Callable[[list[Submission]], None] | None = None) -> None:
        """Store the checked records of many submissions in one transaction; see the
        module docstring. Acknowledge only after this returns."""
        lines = []
        staged: list[tuple[Submission, int, int]] = []    # by seq: (submission, index, NIK)
        repeats: list[tuple[Submission, int, int]] = []   # an id already staged in the group
        keys: set[tuple[str, str]] = set()
        for sub in subs:
            assert sub.writes is not None, "check() first"
            observed = sub.observed
            inst = sub.institution
            for i, nik in sub.writes:
                rid = sub.record_ids[i]
                if (inst, rid) in keys:
                    repeats.append((sub, i, nik))
                    continue
                keys.add((inst, rid))
                if "\\" in rid:      # COPY text format: the one character ids may hold
                    rid = rid.replace("\\", "\\\\")
                lines.append(f"{len(staged)}\t{inst}\t{rid}\t{nik}\t"
                             f"{observed[i] if observed else 0}\t{sub.received_ms}\t"
                             f"{sub.kinds[i]}\t{sub.values[i]}\n")
                staged.append((sub, i, nik))
        with self.db.transaction("storing return data") as conn:
            if staged:
                conn.execute(_STAGE)
                with conn.cursor() as cur:
                    with cur.copy("COPY rd_stage FROM STDIN") as copy:
                        copy.write("".join(lines).encode())
                    row = cur.execute(_INSERT).fetchone()
                    assert row is not None
                    judged: dict[int, bool | None] = {}   # seq -> same fact as stored?
                    if int(row[0]) < len(staged):
                        judged = dict(cur.execute(_NOT_STORED).fetchall())
                for seq, (sub, i, _nik) in enumerate(staged):
                    if seq not in judged:
                        sub.status[i] = STORED    # type: ignore[index]
                    elif judged[seq] is None:
                        self._refuse(sub, i, NOT_ACCESSED, f"{sub.institution} has not "
                                     "accessed this NIK through nikgate, so it owes no return "
                                     "data for it (access is recorded within about a second)")
                    elif judged[seq]:
                        sub.status[i] = DUPLICATE  # type: ignore[index]
                    else:
                        self._conflict(sub, i)
            if repeats:
                old = self._existing(conn, {(s.institution, s.record_ids[i])
                                            for s, i, _ in repeats})
                for sub, i, nik in repeats:
                    have = old.get((sub.institution, sub.record_ids[i]))
                    if have is None:        # its first occurrence was not accessed either
                        self._refuse(sub, i, NOT_ACCESSED, f"{sub.institution} has not "
                                     "accessed this NIK through nikgate, so it owes no return "
                                     "data for it")
                    elif have == (nik, sub.kinds[i], sub.values[i]):
                        sub.status[i] = DUPLICATE  # type: ignore[index]
                    else:
                        self._conflict(sub, i)
            if before_commit is not None:
                before_commit(subs)
        # the transaction committed: only now may anyone ack

    @staticmethod
    def _refuse(sub: Submission, i: int, reason: int, message: str) -> None:
        assert sub.status is not None and sub.rejections is not None
        sub.rejections.append((i, reason, message))
        sub.status[i] = REJECTED

    def _conflict(self, sub: Submission, i: int) -> None:
        self._refuse(sub, i, CONFLICT, f"record id {sub.record_ids[i]!r} was stored earlier "
                     "with other content; give a new fact a new record id")

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
