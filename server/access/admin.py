"""Administering institutions, grants and SAMs: checked, audited, then stored, one at a time.

Used by the `nikgate institution` / `nikgate grant` / `nikgate sam` commands (an operator on
the server host) and by the gRPC Admin service. With an audit directory, administrators take turns on the "admin" audit stream and a
change and its audit record succeed or fail together (admin_audit.py). Without one (the gRPC
Admin service, whose per-call audit records the change) the change is only stored. Running
workers pick changes up within a second (AccessPolicy refresh).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from nikgate.errors import InvalidInputError

from . import sams
from .admin_audit import LOCK_WAIT_SECONDS, AdminTurn
from .grants import Grant, Institution, Usage, validate, validate_id
from .sams import Sam
from .store import Control, today_wib

T = TypeVar("T")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


@dataclass
class Admin:
    store: Control
    operator: str = "cli"
    audit_dir: str | None = None
    audit_key: str | None = None
    lock_wait: float = LOCK_WAIT_SECONDS

    @contextlib.contextmanager
    def _turn(self) -> Iterator[AdminTurn | None]:
        # Checks that read the store run inside the turn, so they see every change made
        # by the administrators before this one.
        if not self.audit_dir:
            yield None
            return
        assert self.audit_key, "an audited Admin needs the audit key path too"
        with AdminTurn.take(self.audit_dir, self.audit_key, self.store,
                            self.lock_wait) as turn:
            yield turn

    def _commit(self, turn: AdminTurn | None, action: str, institution: str, detail: str,
                store_it: Callable[[str | None], T]) -> T:
        if turn is None:
            return store_it(None)
        return turn.change(action, institution, f"by {self.operator}: {detail}", store_it)

    def add_institution(self, institution_id: str, name: str, kind: str) -> Institution:
        validate_id(institution_id)
        inst = Institution(institution_id, name, kind, _now())
        with self._turn() as turn:
            self._commit(turn, "institution.add", institution_id, f"{name} ({kind})",
                         lambda tx: self.store.put_institution(inst, admin_tx=tx))
        return inst

    def set_grant(self, grant: Grant) -> Grant:
        grant = validate(grant)
        with self._turn() as turn:
            _, institutions, _ = self.store.snapshot()
            if grant.institution not in institutions:
                raise InvalidInputError(f"no institution {grant.institution!r}: add it first "
                                        "with `nikgate institution add`", field="institution")
            grant = Grant(**{**grant.__dict__, "updated_at": _now()})
            self._commit(turn, "grant.set", grant.institution, grant.to_json().decode(),
                         lambda tx: self.store.put_grant(grant, admin_tx=tx))
        return grant

    def set_status(self, institution_id: str, status: str, reason: str) -> Grant:
        with self._turn() as turn:
            _, _, grants = self.store.snapshot()
            if institution_id not in grants:
                raise InvalidInputError(f"{institution_id} has no grant to change",
                                        field="institution")
            changed = self._commit(
                turn, f"grant.{status}", institution_id, reason,
                lambda tx: self.store.set_grant_status(institution_id, status, reason,
                                                       _now(), admin_tx=tx))
        if changed is None:  # grants are never deleted; kept honest all the same
            raise InvalidInputError(f"{institution_id} has no grant to change",
                                    field="institution")
        return changed

    # -- the SAM registry (card readers; rules in sams.py) ----------------------------------

    def register_sam(self, sam_id: str, institution_id: str,
                     public_key_pem: bytes | str) -> Sam:
        """Register a SAM Dukcapil issued to an institution (status issued)."""
        sams.validate_sam_id(sam_id)
        validate_id(institution_id)
        with self._turn() as turn:
            _, institutions, _ = self.store.snapshot()
            if institution_id not in institutions:
                raise InvalidInputError(f"no institution {institution_id!r}: add it first "
                                        "with `nikgate institution add`", field="institution")
            sam = sams.registered(sam_id, institution_id, public_key_pem,
                                  self._sam(sam_id))
            self._commit(turn, "sam.register", institution_id, f"{sam_id} registered",
                         lambda tx: self.store.put_sam(sam_id, sam.to_json(), None,
                                                       admin_tx=tx))
        return sam

    def activate_sam(self, sam_id: str, reader_serial: str, rebind: bool = False) -> Sam:
        """Bind a SAM to the reader it sits in; `rebind` moves an active SAM to another
        reader (a replaced reader). Activating it again for its own reader changes nothing."""
        sams.validate_sam_id(sam_id)
        with self._turn() as turn:
            before = self._sam(sam_id)
            others = [Sam.from_json(raw) for raw in self.store.sams_raw().values()]
            sam = sams.activated(before, sam_id, reader_serial, others, rebind)
            if sam is None:
                assert before is not None
                return before
            assert before is not None
            if before.status == "active":
                action = "sam.rebind"
                detail = f"{sam_id} moved from reader {before.reader_serial} to {reader_serial}"
            else:
                action, detail = "sam.activate", f"{sam_id} on reader {reader_serial}"
            self._commit(turn, action, sam.institution, detail,
                         lambda tx: self.store.put_sam(sam_id, sam.to_json(),
                                                       before.to_json(), admin_tx=tx))
        return sam

    def revoke_sam(self, sam_id: str, reason: str) -> Sam:
        """Revoke a SAM for good; its outstanding challenges are dropped."""
        sams.validate_sam_id(sam_id)
        with self._turn() as turn:
            before = self._sam(sam_id)
            sam = sams.revoked(before, sam_id, reason)
            assert before is not None
            self._commit(turn, "sam.revoke", sam.institution, f"{sam_id}: {sam.status_reason}",
                         lambda tx: self.store.put_sam(sam_id, sam.to_json(),
                                                       before.to_json(), admin_tx=tx))
        sams.SamRegistry(self.store).drop_challenges(sam_id)
        return sam

    def list_sams(self, institution_id: str | None = None) -> list[Sam]:
        """The registry, by SAM id; only one institution's SAMs when given."""
        return sams.SamRegistry(self.store).all(institution_id or None)

    def _sam(self, sam_id: str) -> Sam | None:
        raw = self.store.sam_raw(sam_id)
        return Sam.from_json(raw) if raw is not None else None

    def usage(self, institution_id: str, day: str | None = None) -> Usage:
        """NIKs counted for the institution on `day` (YYYY-MM-DD, WIB; None or "" (proto3's
        unset) mean today)."""
        if day:
            try:
                # the pattern first: fromisoformat also takes 20261128 and 2026-W48-6
                parsed = dt.date.fromisoformat(day) if _DAY.match(day) else None
            except ValueError:  # e.g. 2026-13-45, 2026-02-30
                parsed = None
            if parsed is None:
                raise InvalidInputError(f"day must be a date as YYYY-MM-DD (WIB), e.g. "
                                        f"2026-11-28; got {day!r}", field="day")
        _, institutions, _ = self.store.snapshot()
        if institution_id not in institutions:
            raise InvalidInputError(f"no institution {institution_id!r}; list them with "
                                    "`nikgate institution list` (or ListInstitutions)",
                                    field="institution")
        return self.store.usage(institution_id, day or today_wib(time.time()))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
