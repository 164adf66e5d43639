"""The audit side of every call: one bounded record per call, written before the answer.

Three rules live here, for unary and streaming calls alike:
- A record's size is bounded whatever the request: purpose and field names are checked
  before they reach it, and a refused call keeps only its first few NIK references (with
  the count it named), so a refused 10,000-NIK call costs ~400 bytes, not 230 KB.
- Refused calls spend a per-institution refusal budget (a token bucket per worker). Within
  it each refusal has its own record; past it refusals of the same institution, method
  and status are counted into one summary record per `summary_seconds`, and each such call
  is answered only once the summary standing for it is written. A client hammering with
  refused calls therefore grows the log by a few records a second, and waits.
- When an append fails (a full disk), the call is refused with UNAVAILABLE and RetryInfo,
  health turns NOT_SERVING, and a background task retries the log every second; as soon
  as it writes again, health returns to SERVING. No restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nikgate.errors import AuditUnavailable

from . import metrics
from .audit import AuditEntry, AuditError, AuditLog

if TYPE_CHECKING:
    from .calls import CallRecord
    from .health import HealthBoard

log = logging.getLogger(__name__)

REFUSED_NIKS = 8          # NIK references a refused call's record keeps, at most
RECOVER_SECONDS = 1.0


class _Bucket:
    __slots__ = ("tokens", "last")

    def __init__(self, tokens: float, last: float) -> None:
        self.tokens = tokens
        self.last = last


class RefusalBudget:
    """Per-principal token buckets: `rate` refusals a second, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_principals: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.max_principals = max_principals
        self._buckets: dict[str, _Bucket] = {}

    def take(self, principal: str) -> bool:
        now = self.clock()
        b = self._buckets.get(principal)
        if b is None:
            if len(self._buckets) >= self.max_principals:   # bounded memory: start over
                self._buckets.clear()
            b = self._buckets[principal] = _Bucket(float(self.burst), now)
        b.tokens = min(self.burst, b.tokens + (now - b.last) * self.rate)
        b.last = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False


class _Summary:
    """Refusals waiting for their summary record: count and one future per key."""

    __slots__ = ("call", "code", "count", "items", "done")

    def __init__(self, call: CallRecord, code: str, done: asyncio.Future) -> None:
        self.call = call
        self.code = code
        self.count = 0
        self.items = 0
        self.done = done


class CallAudit:
    def __init__(self, audit_log: AuditLog | None, refusal_rate: float = 20.0,
                 refusal_burst: int = 200, summary_seconds: float = 1.0) -> None:
        self.log = audit_log
        self.budget = RefusalBudget(refusal_rate, refusal_burst)
        self.summary_seconds = summary_seconds
        self.health: HealthBoard | None = None
        self._pending: dict[tuple[str, str, str, str, str], _Summary] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._recovering: asyncio.Task | None = None

    @property
    def usable(self) -> bool:
        return self.log is None or self.log.usable

    def unavailable(self, tx: str) -> AuditUnavailable:
        return AuditUnavailable(
            f"the audit log cannot be written right now, so this call was not answered "
            f"(transaction {tx}); retry after the delay in RetryInfo", RECOVER_SECONDS)

    # -- writing -------------------------------------------------------------------------

    def record(self, call: CallRecord, code: str) -> None:
        """Write `call`'s record now; AuditUnavailable when the log cannot take it."""
        if self.log is None:
            return
        if not self.log.usable:
            raise self.unavailable(call.tx)
        try:
            self.log.append(entry_of(call, code))
        except AuditError as e:
            self.record_failed(e)
            raise self.unavailable(call.tx) from None

    def record_now(self, call: CallRecord, code: str) -> None:
        """Like `record`, but never raises: for calls already lost (cancelled by the
        client), whose failure to audit is logged and counted instead."""
        try:
            self.record(call, code)
        except AuditUnavailable:
            log.error("could not audit a cancelled call", extra={"tx": call.tx})

    async def refused(self, call: CallRecord, code: str) -> bool:
        """Audit a refused call; returns once a record standing for it is written: True
        when that is its own record, False when a summary's (the caller is over budget,
        so its refusals are not logged one by one either)."""
        if self.log is None or self.budget.take(principal_of(call)):
            self.record(call, code)
            return True
        if not self.log.usable:
            raise self.unavailable(call.tx)
        key = (principal_of(call), call.method, code, call.channel, _adapter(call))
        s = self._pending.get(key)
        if s is None:
            s = self._pending[key] = _Summary(call, code,
                                             asyncio.get_running_loop().create_future())
        s.count += 1
        s.items += call.items
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(
                self.summary_seconds, self._flush)
        metrics.REFUSALS_SUMMARISED.labels(principal_of(call)).inc()
        if not await asyncio.shield(s.done):
            raise self.unavailable(call.tx)
        return False

    def _flush(self) -> None:
        self._flush_handle = None
        pending, self._pending = self._pending, {}
        assert self.log is not None   # summaries are only kept when there is a log
        for s in pending.values():
            c = s.call
            ok = True
            try:
                self.log.append(AuditEntry(
                    time_ms=time.time_ns() // 1_000_000, transaction_id=f"{c.tx}+",
                    institution=principal_of(c), cert_serial=_serial(c), channel=c.channel,
                    method=c.method, purpose="", result=s.code, latency_us=0,
                    fields_requested=(), fields_returned=(), peer=c.peer, items=s.items,
                    calls=s.count, adapter=_adapter(c)))   # users vary: the summary names none
            except AuditError as e:
                self.record_failed(e)
                ok = False
            if not s.done.done():
                s.done.set_result(ok)

    # -- failure and recovery ------------------------------------------------------------

    def record_failed(self, error: BaseException) -> None:
        """The log failed: count it, turn health NOT_SERVING, start trying to recover."""
        metrics.AUDIT_FAILURES.inc()
        if self.health is not None:
            self.health.report("audit", False, str(error)[:200])
        if self._recovering is None or self._recovering.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:   # failed in a thread (the return-data committer)
                server_loop = self.health.loop if self.health is not None else None
                if server_loop is not None and not server_loop.is_closed():
                    server_loop.call_soon_threadsafe(self._start_recovery)
                return
            self._recovering = loop.create_task(self._recover())

    def _start_recovery(self) -> None:
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        loop = asyncio.get_running_loop()
        while self.log is not None and not self.log.usable:
            await asyncio.sleep(RECOVER_SECONDS)
            try:
                if await loop.run_in_executor(None, self.log.recover):
                    break
            except Exception:   # keep trying; the log line says why
                log.exception("audit log recovery attempt failed")
        if self.health is not None and self.usable:
            self.health.report("audit", True)

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()
        if self._recovering is not None:
            self._recovering.cancel()


def principal_of(call: CallRecord) -> str:
    """Who the budget and the record name: the institution, operators apart."""
    caller = call.caller
    if caller is None:
        return f"peer:{call.peer}" if call.peer else "-"
    return caller.principal


def _adapter(call: CallRecord) -> str:
    return call.caller.adapter if call.caller else ""


def _serial(call: CallRecord) -> str:
    return f"{call.caller.serial:x}" if call.caller else ""


def entry_of(call: CallRecord, code: str) -> AuditEntry:
    ok = code == "OK"
    caller = call.caller
    niks = call.niks
    items = len(niks)
    if not ok and items > REFUSED_NIKS:
        niks = list(niks[:REFUSED_NIKS])
    return AuditEntry(
        time_ms=time.time_ns() // 1_000_000,
        transaction_id=call.tx,
        institution=principal_of(call),
        cert_serial=_serial(call),
        channel=call.channel,
        method=call.method,
        purpose=call.purpose,
        result=code,
        latency_us=int((time.perf_counter() - call.started) * 1e6),
        fields_requested=call.fields_requested,
        fields_returned=call.fields_returned if ok else (),
        niks=niks,
        item_results=call.item_results if ok else b"",
        peer=call.peer,
        items=items if len(niks) != items else -1,
        card=call.card,
        adapter=caller.adapter if caller else "",
        user=caller.user if caller else "",
    )
