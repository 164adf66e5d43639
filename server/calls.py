"""What every call goes through before and after its handler.

Load shedding (a per-worker in-flight limit answered with RESOURCE_EXHAUSTED and RetryInfo
instead of an unbounded queue), the deadline cap, the caller's identity, status mapping,
metrics and the call log. Handlers receive raw request bytes (so receipts can hash exactly
what arrived) and return raw response bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc

from nikgate.errors import NikgateError

from . import metrics
from .identity import Authenticator, Caller
from .status import Overloaded, abort_with, status_code_of

log = logging.getLogger(__name__)

UnaryHandler = Callable[[bytes, Caller, str], Awaitable[tuple[bytes, int]]]
StreamHandler = Callable[[AsyncIterator[bytes], Caller, str], AsyncIterator[tuple[bytes, int]]]


class DeadlineCapExceeded(NikgateError):
    pass


@dataclass
class Limits:
    max_in_flight: int
    max_deadline_seconds: float


class CallGuard:
    def __init__(self, auth: Authenticator, limits: Limits, worker_id: int = 0) -> None:
        self.auth = auth
        self.limits = limits
        self.in_flight = 0
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-"

    def transaction_id(self) -> str:
        return f"{time.time_ns() // 1_000_000:x}-{self._prefix}{next(self._ids):x}"

    def _admit(self) -> None:
        if self.in_flight >= self.limits.max_in_flight:
            raise Overloaded(f"server busy: {self.in_flight} calls in flight on this worker; "
                             "retry after the delay in RetryInfo, or send larger batches")

    def unary(self, method: str, handler: UnaryHandler, batched: bool = False):
        cap = self.limits.max_deadline_seconds

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            started = time.perf_counter()
            code, institution, items = "OK", "-", 0
            tx = self.transaction_id()
            admitted = False
            try:
                self._admit()
                admitted = True
                self.in_flight += 1
                caller = self.auth.caller(context)
                institution = caller.institution_id
                remaining = context.time_remaining()
                if remaining is None or remaining > cap:
                    async with asyncio.timeout(cap):  # no extra task, unlike wait_for
                        response, items = await handler(request, caller, tx)
                else:
                    response, items = await handler(request, caller, tx)
                return response
            except NikgateError as e:
                code = status_code_of(e).name
                _log_failure(method, tx, institution, code, e)
                await abort_with(context, e)
            except TimeoutError:
                code = "DEADLINE_EXCEEDED"
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"the call ran past the server's {cap:g} s deadline cap")
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"tx": tx, "method": method})
                await context.abort(grpc.StatusCode.INTERNAL,
                                    f"internal error (transaction {tx})")
            finally:
                if admitted:
                    self.in_flight -= 1
                metrics.record_call(method, code, institution, time.perf_counter() - started,
                                    items, batched)
            raise AssertionError("unreachable")  # abort() raises

        return grpc.unary_unary_rpc_method_handler(handle)

    def stream(self, method: str, handler: StreamHandler):
        async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            code, institution, items = "OK", "-", 0
            tx = self.transaction_id()
            try:
                self._admit()
                caller = self.auth.caller(context)
                institution = caller.institution_id
                self.in_flight += 1
                try:
                    async for response, n in handler(requests, caller, tx):
                        items += n
                        metrics.BATCH_ITEMS.labels(method).observe(n)
                        yield response
                finally:
                    self.in_flight -= 1
            except NikgateError as e:
                code = status_code_of(e).name
                _log_failure(method, tx, institution, code, e)
                await abort_with(context, e)
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception:
                code = "INTERNAL"
                log.exception("unhandled error", extra={"tx": tx, "method": method})
                await context.abort(grpc.StatusCode.INTERNAL,
                                    f"internal error (transaction {tx})")
            finally:
                metrics.record_call(method, code, institution, time.perf_counter() - started,
                                    items, False)

        return grpc.stream_stream_rpc_method_handler(handle)


def _log_failure(method: str, tx: str, institution: str, code: str, error: Exception) -> None:
    # Messages name fields and reasons, never values of a person's record.
    log.info("call refused", extra={"tx": tx, "method": method, "institution": institution,
                                    "code": code, "reason": type(error).__name__})
