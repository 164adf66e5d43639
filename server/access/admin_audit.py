"""Administrators take turns on the "admin" audit stream; each change is audited, then stored.

One change, with the stream held (the turn), in this order:

1. an *intent* naming the change's transaction id is put in the control store, synced;
2. the change's audit record (result OK) is appended and fdatasynced;
3. the change is stored, and the intent deleted, in one LMDB transaction: the commit point.

An intent still in the store therefore means "audited, perhaps, but not stored". Whoever
takes the next turn settles such intents first: if the log holds the intent's record and no
ABORTED record for it, it appends one (same tx, result ABORTED), then drops the intent. So a
record of a change that was never stored is always followed, once anyone administers again,
by an ABORTED record naming the same tx, and a stored change always has its record: a
kill -9 at any point leaves log and store telling the same story. docs/access.md,
"Administration and its audit", walks through each crash point.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..audit import AuditEntry, AuditError, AuditLog
from ..audit.segments import iter_lines_reversed, list_segments
from .store import Control

STREAM = "admin"
LOCK_WAIT_SECONDS = 30.0     # how long an administrator waits for the one before it
_SCAN_LINES = 100_000        # how far back a settling turn looks for an intent's record

T = TypeVar("T")
logger = logging.getLogger(__name__)


class AdminTurn:
    """The admin stream, held for one change; use `AdminTurn.take(...)` as a context."""

    def __init__(self, log: AuditLog, store: Control, audit_dir: str) -> None:
        self.log = log
        self.store = store
        self.audit_dir = audit_dir

    @classmethod
    def take(cls, audit_dir: str, audit_key: str, store: Control,
             lock_wait: float = LOCK_WAIT_SECONDS) -> AdminTurn:
        """Wait (up to `lock_wait` s) for the admin stream, then settle earlier intents."""
        try:
            log = AuditLog.open(audit_dir, audit_key, STREAM, commit_interval=0,
                                lock_wait=lock_wait)
        except AuditError as e:
            hint = ""
            if isinstance(e.__cause__, OSError):
                hint = (f"; fix {audit_dir} (space, permissions), then run the command "
                        "again")
            raise type(e)(f"nothing was changed: {e}{hint}") from e
        turn = cls(log, store, audit_dir)
        try:
            turn.settle()
        except BaseException:
            log.close()
            raise
        return turn

    def __enter__(self) -> AdminTurn:
        return self

    def __exit__(self, *exc) -> None:
        self.log.close()

    def change(self, action: str, institution: str, detail: str,
               store_it: Callable[[str], T]) -> T:
        """Audit the change, then store it with `store_it(tx)` (which must delete the intent
        `tx` in the transaction that stores the change); see the module docstring."""
        tx = f"admin-{time.time_ns():x}-{os.getpid()}"
        method = f"admin/{action}"
        self.store.note_admin_intent(tx, json.dumps(
            {"method": method, "institution": institution}).encode())
        try:
            self._append(tx, method, institution, detail[:500], "OK")
        except AuditError as e:
            self._settle_quietly(tx)  # the record may or may not have reached the file
            raise AuditError(f"nothing was changed: the audit record could not be written "
                             f"({e}); make room in {self.audit_dir}, then run the command "
                             "again") from e
        try:
            return store_it(tx)
        except BaseException as e:
            if tx in self.store.admin_intents():
                try:
                    self._abort(tx, method, institution,
                                f"not stored: {type(e).__name__}: {e}")
                    self.store.drop_admin_intent(tx)
                except Exception as e2:
                    # the intent stays; the next administrator's turn settles it
                    logger.warning("admin change %s: could not yet record that it was not "
                                   "stored (%s); the next change will", tx, e2)
            raise

    def settle(self) -> None:
        """Write ABORTED records for audited changes an earlier command left unstored."""
        for tx in self.store.admin_intents():
            self._settle_one(tx)

    def _settle_quietly(self, tx: str) -> None:
        try:
            self._settle_one(tx)
        except Exception as e:
            # the intent stays; the next administrator's turn settles it
            logger.warning("admin change %s: left for the next change to settle (%s)", tx, e)

    def _settle_one(self, tx: str) -> None:
        rec = self._last_record_of(tx)
        if rec is not None and rec.get("result") == "OK":
            self._abort(tx, rec.get("method", ""), rec.get("institution", ""),
                        "not stored: the command stopped between its audit record and "
                        "the store")
        # not in the log (died before the record was written) or already ABORTED
        self.store.drop_admin_intent(tx)

    def _abort(self, tx: str, method: str, institution: str, why: str) -> None:
        self._append(tx, method, institution, why[:500], "ABORTED")

    def _append(self, tx: str, method: str, institution: str, purpose: str,
                result: str) -> None:
        self.log.append(AuditEntry(
            time_ms=time.time_ns() // 1_000_000, transaction_id=tx, institution=institution,
            cert_serial="", channel="admin", method=method, purpose=purpose, result=result,
            latency_us=0, fields_requested=(), fields_returned=()))
        self.log.flush()  # commit_interval=0 syncs in append too; flush says it here

    def _last_record_of(self, tx: str) -> dict | None:
        """The newest record of `tx` in the admin stream, looking back _SCAN_LINES lines."""
        needle = b'"tx":' + json.dumps(tx).encode()
        seen = 0
        for _, path in reversed(list_segments(Path(self.audit_dir) / STREAM)):
            for raw in iter_lines_reversed(path):
                if needle in raw:
                    try:
                        return json.loads(raw)
                    except ValueError:
                        continue
                seen += 1
                if seen >= _SCAN_LINES:
                    return None
        return None
