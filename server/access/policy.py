"""The access-rights check: deny by default; every call is checked against its grant.

Order of checks: a grant exists; it is active and inside its term; the channel, the
operation and every field are granted; the batch fits; then the quota and rate are counted
(exactly, across workers, in the control store). Grants are cached and re-read whenever
the store's version changes, checked at most every `refresh_seconds`, so an admin change
reaches running workers within a second without a restart. In a cluster the version is
bumped by PostgreSQL's NOTIFY (server/cluster/control.py); while the database cannot be
reached the cached grants keep serving and the re-read is tried again at the next check.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable

from nikgate.errors import InvalidInputError, LimitExceeded, PermissionDenied, ServiceUnavailable

from .grants import PURPOSE_CODE, Grant, Institution, from_network
from .store import WIB, Control

log = logging.getLogger(__name__)


class AccessPolicy:
    def __init__(self, store: Control, refresh_seconds: float = 0.2,
                 clock=time.time) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._checked = 0.0
        self.version, self._institutions, self._grants = store.snapshot()

    def refresh(self, force: bool = False) -> bool:
        """Re-read grants if the store's version changed; returns whether it had.

        Every check calls this, and it looks at the store at most every `refresh_seconds`;
        `force` looks now (for a change made in this process, e.g. by a test or a tool,
        that must apply to the very next call)."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_seconds:
            return False
        with self._lock:
            if not force and now - self._checked < self.refresh_seconds:
                return False
            self._checked = now
            if self.store.version() == self.version:
                return False
            try:
                self.version, self._institutions, self._grants = self.store.snapshot()
            except ServiceUnavailable as e:   # a cluster node cut off: serve what it has
                log.warning("grants not re-read, the cached ones still apply: %s", e)
                return False
            return True

    # The Authenticator asks whether an institution is known at all.
    def get(self, institution_id: str) -> Institution | None:
        self.refresh()
        return self._institutions.get(institution_id)

    def grant(self, institution_id: str) -> Grant | None:
        self.refresh()
        return self._grants.get(institution_id)

    def authorize(self, institution_id: str, operation: str, fields: Iterable[str],
                  items: int, channel: str = "web_service", metered: bool = True,
                  peer: str = "", purpose: str = "") -> Grant:
        """The grant allowing this call, or PermissionDenied / LimitExceeded saying why.
        Unmetered calls (return data flowing back) skip the quota and rate, and are allowed
        under a suspended grant too: delivering what is owed is how a suspension ends.
        `peer` is the caller's IP (checked against the grant's networks); `purpose` the
        purpose code the call names (checked against the grant's purposes)."""
        g = self.grant(institution_id)
        if g is None:
            raise PermissionDenied(f"{institution_id} has no grant: access is denied by "
                                   "default; Dukcapil issues grants under a PKS")
        if g.status != "active" and not (g.status == "suspended" and not metered):
            why = f" ({g.status_reason})" if g.status_reason else ""
            raise PermissionDenied(f"the grant of {institution_id} is {g.status}{why}")
        now = self.clock()
        today = dt.datetime.fromtimestamp(now, WIB).date()
        start, end = g.term()
        if today < start:
            raise PermissionDenied(f"the grant of {institution_id} starts on {start}")
        if today > end:
            raise PermissionDenied(f"the grant of {institution_id} expired on {end} (end of "
                                   "its PKS term)")
        if not from_network(g.networks, peer):
            raise PermissionDenied(
                f"{institution_id} may call only from its registered networks "
                f"({', '.join(g.networks)}); this call came from {peer or 'an unknown address'}"
                " (the closed network rule of its grant)")
        if channel not in g.channels:
            raise PermissionDenied(f"channel {channel} is not granted to {institution_id}; "
                                   f"granted: {', '.join(g.channels)}")
        if operation not in g.operations:
            raise PermissionDenied(f"operation {operation} is not granted to {institution_id}; "
                                   f"granted: {', '.join(g.operations)}")
        allowed = g.fields.get(operation, ())
        refused = tuple(sorted({f for f in fields if f not in allowed}))
        if refused:
            raise PermissionDenied(
                f"field(s) {', '.join(refused)} not granted to {institution_id} for "
                f"{operation}; nothing was returned", fields=refused)
        if metered:
            check_purpose(g, purpose)
        if items > g.max_batch:
            raise PermissionDenied(f"a batch of {items:,} exceeds {institution_id}'s maximum "
                                   f"of {g.max_batch:,} per call")
        if not metered:
            return g
        refusal = self.store.consume(g, operation, items, now)
        if refusal is not None:
            raise LimitExceeded(refusal.message, refusal.kind,
                                f"{institution_id}:{refusal.kind}", refusal.retry_after)
        return g


def check_purpose(g: Grant, purpose: str) -> str:
    """The purpose a call is recorded under: one the grant declares (its only one when the
    call names none), or a well-formed code when the grant declares none. Never echoed."""
    if g.purposes:
        if not purpose:
            if len(g.purposes) == 1:
                return g.purposes[0]
            raise InvalidInputError(f"purpose is required: {g.institution}'s grant declares "
                                    f"{', '.join(g.purposes)}", field="purpose")
        if purpose not in g.purposes:
            raise PermissionDenied(f"the purpose named is not one {g.institution}'s grant "
                                   f"declares ({', '.join(g.purposes)})")
        return purpose
    if purpose and not PURPOSE_CODE.match(purpose):
        raise InvalidInputError("purpose must be a purpose code: a lower-case letter then up "
                                "to 63 of a-z, 0-9, '.', '_', '-' (e.g. kyc-onboarding); "
                                "never free text", field="purpose")
    return purpose
