"""What every call goes through before and after its handler.

Load shedding (a per-worker in-flight limit answered with RESOURCE_EXHAUSTED and RetryInfo
instead of an unbounded queue), the deadline cap, the caller's identity, status mapping,
metrics, the audit record (allowed or refused) and the call log. Handlers receive raw
request bytes (so receipts can hash exactly what arrived) and a Call they fill in with
what the audit must know; they return raw response bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from nikgate.errors import NikgateError

from . import metrics
from .identity import Authenticator, Caller
from .status import DeadlineCapExceeded, Overloaded, abort_with, status_code_of

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One call as the audit log sees it; handlers fill in what they learn."""

    tx: str
    method: str
    caller: Caller | None = None
    operation: str = ""
    purpose: str = ""
    channel: str = "web_service"
    fields_requested: tuple[str, ...] = ()
    fields_returned: tuple[str, ...] = ()
    niks: Sequence = ()
    item_results: bytes = b""
    items: int = 0
    started: float = field(default_factory=time.perf_counter)


UnaryHandler = Callable[[bytes, Call], Awaitable[bytes]]
StreamHandler = Callable[[AsyncIterator[bytes], Call], AsyncIterator[tuple[bytes, Call]]]


@dataclass
class Limits:
    max_in_flight: int
    max_deadline_seconds: float


class CallGuard:
    def __init__(self, auth: Authenticator, limits: Limits, audit=None) -> None:
        self.auth = auth
        self.limits = limits
        self.audit = audit        # callable(Call, code) or None
        self.in_flight = 0
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-"

    def transaction_id(self) -> str:
        return f"{time.time_ns() // 1_000_000:x}-{self._prefix}{next(self._ids):x}"

    def _admit(self) -> None:
        if self.in_flight >= self.limits.max_in_flight:
            raise Overloaded(f"server busy: {self.in_flight} calls in flight on this worker; "
                             "retry after the delay in RetryInfo, or send larger batches")

    def _finish(self, call: Call, code: str, batched: bool) -> None:
        institution = call.caller.institution_id if call.caller else "-"
        metrics.record_call(call.method, code, institution,
                            time.perf_counter() - call.started, call.items, batched)
        if self.audit is not None:
            self.audit(call, code)

    def unary(self, method: str, handler: UnaryHandler, batched: bool = False):
        cap = self.limits.max_deadline_seconds

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            call = Call(self.transaction_id(), method)
            code, failure, response = "OK", None, b""
            admitted = False
            try:
                self._admit()
                admitted = True
                self.in_flight += 1
                call.caller = self.auth.caller(context)
                remaining = context.time_remaining()
                if remaining is None or remaining > cap:
                    async with asyncio.timeout(cap):  # no extra task, unlike wait_for
                        response = await handler(request, call)
                else:
                    response = await handler(request, call)
            except NikgateError as e:
                code, failure = status_code_of(e).name, e
                _log_failure(call, code, e)
            except TimeoutError:
                code = "DEADLINE_EXCEEDED"
                failure = DeadlineCapExceeded(
                    f"the call ran past the server's {cap:g} s deadline cap")
            except asyncio.CancelledError:
                code = "CANCELLED"
                self._finish(call, code, batched)
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"tx": call.tx, "method": method})
                failure = NikgateError(f"internal error (transaction {call.tx})")
            finally:
                if admitted:
                    self.in_flight -= 1
            try:
                # audited before answering: a call the log cannot record is not answered
                self._finish(call, code, batched)
            except NikgateError as e:
                log.error("audit append failed; refusing the call", extra={"tx": call.tx})
                failure = e
            if failure is not None:
                await abort_with(context, failure)
            return response

        return grpc.unary_unary_rpc_method_handler(handle)

    def stream(self, method: str, handler: StreamHandler):
        async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext):
            call = Call(self.transaction_id(), method)
            code = "OK"
            try:
                self._admit()
                call.caller = self.auth.caller(context)
                self.in_flight += 1
                try:
                    # one audit record and one metrics sample per message of the stream
                    async for response, part in handler(requests, call):
                        self._finish(part, "OK", True)
                        yield response
                finally:
                    self.in_flight -= 1
            except NikgateError as e:
                code = status_code_of(e).name
                _log_failure(call, code, e)
                self._finish(call, code, False)
                await abort_with(context, e)
            except asyncio.CancelledError:
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"tx": call.tx, "method": method})
                self._finish(call, code, False)
                await context.abort(grpc.StatusCode.INTERNAL,
                                    f"internal error (transaction {call.tx})")

        return grpc.stream_stream_rpc_method_handler(handle)


def _log_failure(call: Call, code: str, error: Exception) -> None:
    # Messages name fields and reasons, never values of a person's record.
    log.info("call refused", extra={
        "tx": call.tx, "method": call.method, "code": code, "reason": type(error).__name__,
        "institution": call.caller.institution_id if call.caller else "-"})
