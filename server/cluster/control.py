"""ClusterControl: the control state of a cluster node (server/access/store.py Control).

What nodes share is in PostgreSQL: institutions, grants, the SAM registry, card-reader
challenges and audited admin intents. Each change is one transaction that also bumps
control_version and NOTIFYs it, so every node's Listener raises its cached version as
the change commits and AccessPolicy (which looks at the version every refresh_seconds)
re-reads the grants: a change reaches every node well within a second. `version()` is
that cached number, never a round trip. What stays node-local, in the node's LMDB control
store: usage counts (within the quota leases of leases.py), rate buckets, and the
scraping guard's hot state (exchanged between nodes by scraping.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from ..access.grants import OPERATIONS, Grant, Institution, Usage
from ..access.store import Challenge, ControlStore, Refusal
from .db import CHANNEL, Database, Listener
from .leases import QuotaLeases
from .scraping import ClusterScrapingStates

log = logging.getLogger(__name__)
T = TypeVar("T")

_BUMP = ("UPDATE control_version SET version = version + 1 RETURNING version",
         f"SELECT pg_notify('{CHANNEL}', %s)")


class ClusterControl:
    def __init__(self, local: ControlStore, db: Database, leases: QuotaLeases,
                 scraping: ClusterScrapingStates) -> None:
        self.local = local
        self.db = db
        self.node_id = db.node_id
        self.leases = leases
        self.scraping = scraping
        self._version = self._read_version()
        self._version_lock = threading.Lock()
        self.listener = Listener(db, self._notified, self._reconnected)

    # -- the version: raised by NOTIFY, never read per call ---------------------------

    def _read_version(self) -> int:
        with self.db.connection("reading the grants' version") as conn:
            row = conn.execute("SELECT version FROM control_version").fetchone()
        return int(row[0]) if row else 0

    def _raise_version(self, version: int) -> None:
        with self._version_lock:
            if version > self._version:
                self._version = version

    def _notified(self, payload: str) -> None:
        try:
            self._raise_version(int(payload))
        except ValueError:
            log.warning("ignored a malformed change notification")

    def _reconnected(self) -> None:
        # changes committed while the listener was away were not replayed: read the number
        self._raise_version(self._read_version())

    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[int, dict[str, Institution], dict[str, Grant]]:
        with self.db.connection("reading grants") as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute("SELECT version FROM control_version").fetchone()
                institutions = {k: Institution.from_json(v) for k, v in
                                conn.execute("SELECT id, doc FROM institutions")}
                grants = {k: Grant.from_json(v) for k, v in
                          conn.execute("SELECT institution, doc FROM grants")}
        version = int(row[0]) if row else 0
        self._raise_version(version)
        return version, institutions, grants

    # -- admin writes: one transaction each, version bumped and notified ----------------

    def _complete(self, conn, admin_tx: str | None) -> None:
        version = conn.execute(_BUMP[0]).fetchone()[0]
        conn.execute(_BUMP[1], (str(version),))
        if admin_tx is not None:   # one commit point for the change and its intent
            conn.execute("DELETE FROM admin_intents WHERE tx = %s", (admin_tx,))

    def put_institution(self, institution: Institution, admin_tx: str | None = None) -> None:
        with self.db.transaction("storing an institution") as conn:
            conn.execute("INSERT INTO institutions VALUES (%s, %s) ON CONFLICT (id) DO "
                         "UPDATE SET doc = excluded.doc", (institution.id, institution.to_json()))
            self._complete(conn, admin_tx)

    def put_grant(self, grant: Grant, admin_tx: str | None = None) -> None:
        with self.db.transaction("storing a grant") as conn:
            conn.execute("INSERT INTO grants VALUES (%s, %s) ON CONFLICT (institution) DO "
                         "UPDATE SET doc = excluded.doc", (grant.institution, grant.to_json()))
            self._complete(conn, admin_tx)

    def _change_grant(self, institution: str, what: str,
                      change: Callable[[Grant], Grant | None],
                      admin_tx: str | None) -> Grant | None:
        with self.db.transaction(what) as conn:
            row = conn.execute("SELECT doc FROM grants WHERE institution = %s FOR UPDATE",
                               (institution,)).fetchone()
            if row is None:
                return None
            changed = change(Grant.from_json(row[0]))
            if changed is None:
                return None
            conn.execute("UPDATE grants SET doc = %s WHERE institution = %s",
                         (changed.to_json(), institution))
            self._complete(conn, admin_tx)
            return changed

    def set_grant_status(self, institution: str, status: str, reason: str, updated_at: str,
                         admin_tx: str | None = None) -> Grant | None:
        return self._change_grant(
            institution, "changing a grant's status",
            lambda g: g.with_changes(status=status, status_reason=reason,
                                     updated_at=updated_at), admin_tx)

    def suspend_if_active(self, institution: str, reason: str) -> bool:
        import datetime as dt

        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return self._change_grant(
            institution, "suspending a grant",
            lambda g: g.with_changes(status="suspended", status_reason=reason,
                                     updated_at=now) if g.status == "active" else None,
            None) is not None

    def note_admin_intent(self, tx: str, intent: bytes) -> None:
        with self.db.connection("noting an admin change") as conn:
            conn.execute("INSERT INTO admin_intents VALUES (%s, %s, %s)",
                         (tx, self.node_id, intent))

    def admin_intents(self) -> dict[str, bytes]:
        """This node's: each node settles its own against its own admin audit stream."""
        with self.db.connection("reading admin intents") as conn:
            return {tx: bytes(intent) for tx, intent in conn.execute(
                "SELECT tx, intent FROM admin_intents WHERE node_id = %s", (self.node_id,))}

    def drop_admin_intent(self, tx: str) -> None:
        with self.db.connection("dropping an admin intent") as conn:
            conn.execute("DELETE FROM admin_intents WHERE tx = %s", (tx,))

    # -- the SAM registry and challenges --------------------------------------------------

    def sam_raw(self, sam_id: str) -> bytes | None:
        with self.db.connection("reading the SAM registry") as conn:
            row = conn.execute("SELECT doc FROM sams WHERE sam_id = %s", (sam_id,)).fetchone()
        return bytes(row[0]) if row else None

    def sams_raw(self) -> dict[str, bytes]:
        with self.db.connection("reading the SAM registry") as conn:
            return {k: bytes(v) for k, v in conn.execute("SELECT sam_id, doc FROM sams")}

    def put_sam(self, sam_id: str, raw: bytes, expected: bytes | None,
                admin_tx: str | None = None) -> None:
        with self.db.transaction("storing a SAM") as conn:
            if expected is None:
                done = conn.execute("INSERT INTO sams VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                    (sam_id, raw)).rowcount
            else:
                done = conn.execute("UPDATE sams SET doc = %s WHERE sam_id = %s AND doc = %s",
                                    (raw, sam_id, expected)).rowcount
            if done != 1:
                raise ValueError(f"SAM {sam_id} was changed by another administrator while "
                                 "this change was made; run the command again")
            self._complete(conn, admin_tx)

    def issue_challenge(self, sam_id: str, challenge: bytes, entry: Challenge,
                        now: float, max_outstanding: int) -> None:
        with self.db.transaction("issuing a card-reader challenge") as conn:
            # one SAM's challenges change one transaction at a time, across nodes
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (sam_id,))
            conn.execute("DELETE FROM card_challenges WHERE sam_id = %s AND expires <= %s",
                         (sam_id, now))
            conn.execute(
                "DELETE FROM card_challenges WHERE sam_id = %s AND challenge IN (SELECT "
                "challenge FROM card_challenges WHERE sam_id = %s ORDER BY issued DESC "
                "OFFSET %s)", (sam_id, sam_id, max(0, max_outstanding - 1)))
            conn.execute("INSERT INTO card_challenges VALUES (%s, %s, %s, %s, %s, %s)",
                         (sam_id, challenge, entry.institution, entry.reader_serial,
                          entry.issued, entry.expires))

    def take_challenge(self, sam_id: str, challenge: bytes) -> Challenge | None:
        with self.db.connection("using a card-reader challenge") as conn:
            row = conn.execute(
                "DELETE FROM card_challenges WHERE sam_id = %s AND challenge = %s "
                "RETURNING institution, reader_serial, issued, expires",
                (sam_id, challenge)).fetchone()
        return Challenge(row[0], row[1], row[2], row[3]) if row else None

    def live_challenges(self, sam_id: str, now: float) -> int:
        with self.db.connection("counting challenges") as conn:
            row = conn.execute("SELECT count(*) FROM card_challenges WHERE sam_id = %s AND "
                               "expires > %s", (sam_id, now)).fetchone()
        return int(row[0]) if row else 0

    def drop_challenges(self, sam_id: str) -> int:
        with self.db.connection("dropping challenges") as conn:
            return conn.execute("DELETE FROM card_challenges WHERE sam_id = %s",
                                (sam_id,)).rowcount

    # -- usage: counted on the node, within its leases ------------------------------------

    def consume(self, grant: Grant, operation: str, items: int, now: float) -> Refusal | None:
        return self.leases.consume(grant, operation, items, now)

    def usage(self, institution: str, day: str) -> Usage:
        """This node's exact counts plus the other nodes' as they last reported them
        (every heartbeat_seconds)."""
        mine = self.local.usage(institution, day)
        items = dict(mine.items)
        with self.db.connection("reading usage") as conn:
            for (ops,) in conn.execute(
                    "SELECT used_ops FROM quota_leases WHERE institution = %s AND day = %s "
                    "AND node_id <> %s", (institution, day, self.node_id)):
                for op, n in zip(OPERATIONS, ops or (), strict=False):
                    if n:
                        items[op] = items.get(op, 0) + int(n)
        return Usage(day, items)

    # -- the scraping guard's state -------------------------------------------------------

    def scraping_state(self, institution: str) -> bytes | None:
        return self.scraping.scraping_state(institution)

    def update_scraping_state(self, institution: str,
                              update: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        return self.scraping.update_scraping_state(institution, update)

    # -- life cycle -------------------------------------------------------------------------

    def start_syncing(self) -> None:
        self.local.start_syncing()
        self.listener.start()
        self.leases.start()
        self.scraping.start()

    def release(self) -> None:
        """Stop the threads, give back unused leases, close the node's store and pool."""
        self.listener.stop()
        self.scraping.stop()
        self.leases.stop()
        self.local.release()
        self.db.close()

    def close(self) -> None:
        """Close a control opened for administration (server/cluster open_control): no
        thread was started and the node's leases are left as they are."""
        self.local.release()
        self.db.close()
