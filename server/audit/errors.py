"""Errors of the audit log (a failed verification is a report, not one of these).

    NikgateError
    └── AuditError              the audit log cannot be written or read as asked
        ├── AuditKeyError       the NIK-reference key file is missing, malformed or too open
        └── StreamBusyError     another live writer holds the stream
"""

from __future__ import annotations

from nikgate.errors import NikgateError


class AuditError(NikgateError):
    """The audit log cannot be written or read as asked; the message says what to do."""


class AuditKeyError(AuditError):
    """The key file for NIK references is missing, malformed or readable by others."""


class StreamBusyError(AuditError):
    """Another process (or another AuditLog in this one) is writing the stream."""
