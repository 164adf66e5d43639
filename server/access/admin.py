"""Administering institutions and grants: every change is stored, then audited.

Used by the `nikgate institution` / `nikgate grant` commands (an operator on the server
host). Running workers pick changes up within a second (AccessPolicy refresh).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from nikgate.errors import InvalidInputError

from .grants import Grant, Institution, validate, validate_id
from .store import ControlStore, today_wib


@dataclass
class Admin:
    store: ControlStore
    operator: str = "cli"
    audit_dir: str | None = None
    audit_key: str | None = None

    def _audit(self, action: str, institution: str, detail: str) -> None:
        if not self.audit_dir:
            return
        from ..audit import AuditEntry, AuditLog

        log = AuditLog.open(self.audit_dir, self.audit_key, "admin", commit_interval=0)
        try:
            log.append(AuditEntry(
                time_ms=int(time.time() * 1000), transaction_id=f"admin-{time.time_ns():x}",
                institution=institution, cert_serial="", channel="admin",
                method=f"admin/{action}", purpose=detail[:500], result="OK", latency_us=0,
                fields_requested=(), fields_returned=()))
            log.flush()
        finally:
            log.close()

    def add_institution(self, institution_id: str, name: str, kind: str) -> Institution:
        validate_id(institution_id)
        inst = Institution(institution_id, name, kind,
                           dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        self.store.put_institution(inst)
        self._audit("institution.add", institution_id, f"by {self.operator}: {name} ({kind})")
        return inst

    def set_grant(self, grant: Grant) -> Grant:
        _, institutions, _ = self.store.snapshot()
        if grant.institution not in institutions:
            raise InvalidInputError(f"no institution {grant.institution!r}: add it first with "
                                    "`nikgate institution add`", field="institution")
        grant = validate(grant)
        grant = Grant(**{**grant.__dict__,
                         "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        self.store.put_grant(grant)
        self._audit("grant.set", grant.institution, f"by {self.operator}: "
                    + grant.to_json().decode())
        return grant

    def set_status(self, institution_id: str, status: str, reason: str) -> Grant:
        _, _, grants = self.store.snapshot()
        if institution_id not in grants:
            raise InvalidInputError(f"{institution_id} has no grant to change",
                                    field="institution")
        grant = grants[institution_id].with_changes(
            status=status, status_reason=reason,
            updated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        self.store.put_grant(grant)
        self._audit(f"grant.{status}", institution_id, f"by {self.operator}: {reason}")
        return grant

    def usage(self, institution_id: str, day: str | None = None):
        return self.store.usage(institution_id, day or today_wib(time.time()))
