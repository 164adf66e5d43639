"""The audit log: one tamper-evident, hash-chained record per call, NIKs only as keyed refs.

The server appends through `AuditLog` (one stream per worker process); the CLI reads with
`verify_log`, `who_accessed`, `usage` and `tail`. Format and guarantees: docs/audit.md.
"""

from __future__ import annotations

from nikgate.errors import AuditError, AuditKeyError, StreamBusyError

from .entry import AuditEntry
from .queries import tail, usage, who_accessed
from .verify import StreamSummary, VerifyReport, verify_log
from .writer import AuditLog

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditKeyError",
    "AuditLog",
    "StreamBusyError",
    "StreamSummary",
    "VerifyReport",
    "tail",
    "usage",
    "verify_log",
    "who_accessed",
]
