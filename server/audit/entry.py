"""AuditEntry: what the server hands to the audit log for one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardReaderAudit:
    """What a card-reader call adds to its record: the SAM and reader it came through and
    the fingerprint outcome the device reported. Never biodata, never a template."""

    sam_id: str
    reader_serial: str
    fingerprint_matched: bool | None = None   # None: the call carried no outcome
    fingerprint_score: int = 0                # 0-100
    fingerprint_finger: int = 0               # ISO/IEC 19794-2 finger position
    fingerprint_attempts: int = 0

    def members(self) -> dict[str, str | int | bool]:
        """The record members this adds (docs/audit.md)."""
        out: dict[str, str | int | bool] = {"sam_id": self.sam_id,
                                            "reader_serial": self.reader_serial}
        if self.fingerprint_matched is not None:
            out.update(fingerprint_matched=self.fingerprint_matched,
                       fingerprint_score=self.fingerprint_score,
                       fingerprint_finger=self.fingerprint_finger,
                       fingerprint_attempts=self.fingerprint_attempts)
        return out


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One call, allowed or refused. NIKs are in clear here and hashed by `AuditLog.append`.

    `result` is the gRPC status name ("OK", "PERMISSION_DENIED", ...). `niks` are the NIKs the
    call named (str or int, as received); `item_results` holds one status code (0-255) per
    NIK for batches, or is empty. A refused call keeps at most a few NIKs (its record stays
    small whatever it asked) with `items` saying how many it named. A call an adapter made
    on the institution's behalf names the adapter and the user it acted for as well.
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
    peer: str = ""          # the caller's network address (IP), when known
    items: int = -1         # NIKs the call named, when more than `niks` holds; -1: len(niks)
    calls: int = 1          # a summary record stands for this many refused calls
    card: CardReaderAudit | None = None   # channel card_reader: SAM, reader, fingerprint
    adapter: str = ""       # "portal:<id>" / "gateway:<id>" when an adapter acted; "" direct
    user: str = ""          # the portal user the adapter named
