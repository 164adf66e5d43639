"""AuditEntry: what the server hands to the audit log for one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One call, allowed or refused. NIKs are in clear here and hashed by `AuditLog.append`.

    `result` is the gRPC status name ("OK", "PERMISSION_DENIED", ...). `niks` are the NIKs the
    call named (str or int, as received); `item_results` holds one status code (0-255) per
    NIK for batches, or is empty.
    """

    time_ms: int
    transaction_id: str
    institution: str
    cert_serial: str
    channel: str
    method: str
    purpose: str
    result: str
    latency_us: int
    fields_requested: tuple[str, ...]
    fields_returned: tuple[str, ...]
    niks: Sequence[str | int] = ()
    item_results: bytes | Sequence[int] = b""
