"""What one doctor check found: a status, one line saying what, and what to do."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Status(enum.IntEnum):
    """Ordered by severity, so the node's status is the max of its checks'."""

    OK = 0
    WARN = 1    # works now; will stop working, or works less safely, unless someone acts
    FAIL = 2    # broken now, or will be before the next daily check


@dataclass(frozen=True)
class Check:
    name: str          # e.g. "cert server", "disk audit"
    status: Status
    message: str       # what was found, one line
    action: str = ""   # for WARN and FAIL: what to do

    @property
    def line(self) -> str:
        return self.message + (f"; {self.action}" if self.action else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.name, "message": self.message,
                "action": self.action}


def ok(name: str, message: str) -> Check:
    return Check(name, Status.OK, message)


def warn(name: str, message: str, action: str) -> Check:
    return Check(name, Status.WARN, message, action)


def fail(name: str, message: str, action: str) -> Check:
    return Check(name, Status.FAIL, message, action)


def overall(checks: list[Check]) -> Status:
    return max((c.status for c in checks), default=Status.OK)
