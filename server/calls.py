"""What every call goes through before and after its handler: one path, unary or stream.

Per message, in this order, for unary calls and for every message of a stream alike:
load shedding (a per-worker in-flight limit answered with RESOURCE_EXHAUSTED and
RetryInfo), the caller's identity (certificate, revocation: re-checked for every stream
message), the role (Admin: operators only, before anything is parsed), the audit log's
health (UNAVAILABLE at once while it cannot write), decoding (an undecodable message is
INVALID_ARGUMENT, not INTERNAL), the size limits of every field (server/inputs.py), then
the handler. Handlers take parsed messages and return messages; the guard serialises the
answer, seals its receipt, writes the audit record and only then answers. A stream also
ends after `max_stream_seconds`, once every message it read has been answered, so a
long-lived stream cannot outlive a revocation or a grant change unnoticed.

Until its identity is checked a call is a bare `CallRecord` (what a refusal at the door is
audited as, caller None); from then on it is a `Call`, whose caller is never None, and
only a `Call` reaches a handler. An adapter's call (server/identity.py) is admitted as the
institution or operator it acts for, under the adapter's channel unless the route has a
channel of its own; a refused claim to act for someone is audited under whoever made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import lmdb
from google.protobuf.message import DecodeError, Message

from nikgate.errors import (
    DeadlineCapExceeded,
    InvalidInputError,
    NikgateError,
    Overloaded,
    PermissionDenied,
    StorageUnavailable,
    StreamLifetimeReached,
)
from nikgate.methods import Rpc

from . import metrics
from .audit.entry import CardReaderAudit
from .call_audit import CallAudit
from .identity import Authenticator, Caller
from .inputs import check_sizes
from .receipts import ReceiptSigner
from .status import abort_with, status_code_of

log = logging.getLogger(__name__)

WEB_SERVICE = "web_service"   # the channel of a route that names none


@dataclass(slots=True)
class CallRecord:
    """One call (or one message of a stream) as the audit log sees it, from its arrival.

    Its caller is None only while the call has not passed authentication: a call refused
    at the door (no certificate, revoked, server busy) is audited as a CallRecord.
    Handlers never see one; they get a `Call`, whose caller is always known.
    """

    tx: str
    method: str
    peer: str = ""
    caller: Caller | None = None
    operation: str = ""
    purpose: str = ""
    channel: str = WEB_SERVICE
    fields_requested: tuple[str, ...] = ()
    fields_returned: tuple[str, ...] = ()
    niks: Sequence = ()
    item_results: bytes = b""
    items: int = 0
    raw: bytes = b""               # the request message as received (receipts hash it)
    card: CardReaderAudit | None = None   # a card-reader call: SAM, reader, fingerprint
    audited: bool = False          # a handler wrote the record itself (return data)
    started: float = field(default_factory=time.perf_counter)

    def admit(self, caller: Caller) -> Call:
        """This call once authentication has passed: the same record with its caller (and
        an adapter's channel, on a route that has none of its own)."""
        values = {name: getattr(self, name) for name in _RECORD_FIELDS}
        values["caller"] = caller
        if caller.channel and self.channel == WEB_SERVICE:
            values["channel"] = caller.channel
        return Call(**values)

    def attribute(self, caller: Caller) -> None:
        """Who made a claim to act for someone that is being refused: the refusal is
        audited under them (an adapter, with the user it named)."""
        self.caller = caller
        if caller.channel and self.channel == WEB_SERVICE:
            self.channel = caller.channel


# CallRecord's field names, for admit()'s copy: dataclasses.fields() on every call costs more
# than the copy itself
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))


@dataclass(slots=True)
class Call(CallRecord):
    """A call that has passed authentication, as handlers get it; handlers fill in what
    they learn, and the audit log records it."""

    caller: Caller = field(kw_only=True)

    def part(self, seq: int, raw: bytes) -> Call:
        """The call record for message `seq` of a stream (its caller is re-checked)."""
        return Call(f"{self.tx}.{seq}", self.method, self.peer, caller=self.caller,
                    channel=self.channel, raw=raw)

    @property
    def institution(self) -> str:
        """The calling institution's id."""
        return self.caller.institution_id


# A handler takes the request type of its RPC (the guard decodes with the method's
# descriptor), hence Any for the request: Callable parameters are contravariant.
UnaryHandler = Callable[[Any, Call], Awaitable[Message]]
StreamHandler = Callable[[AsyncIterator[tuple[Any, Call]]],
                         AsyncIterator[tuple[Message, Call]]]


@dataclass(frozen=True)
class Route:
    """How the guard serves one RPC: its handler and what the answer carries."""

    handler: UnaryHandler | StreamHandler
    sealed: bool = True          # the answer carries a signed receipt
    batched: bool = False        # metrics: items per message
    operators_only: bool = False
    channel: str = WEB_SERVICE  # the access channel the grant must allow, audited


@dataclass
class Limits:
    max_in_flight: int
    max_deadline_seconds: float
    max_stream_seconds: float = 600.0


def peer_ip(context: grpc.aio.ServicerContext) -> str:
    """The caller's IP from gRPC's peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000")."""
    peer = context.peer() or ""
    _, _, rest = peer.partition(":")
    host = rest.rpartition(":")[0] if rest.count(":") >= 1 else rest
    return host.strip("[]")


class CallGuard:
    def __init__(self, auth: Authenticator, limits: Limits, audit: CallAudit,
                 signer: ReceiptSigner | None = None) -> None:
        self.auth = auth
        self.limits = limits
        self.audit = audit
        self.signer = signer
        self.in_flight = 0
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid():x}-"

    def transaction_id(self) -> str:
        return f"{time.time_ns() // 1_000_000:x}-{self._prefix}{next(self._ids):x}"

    def handler(self, rpc: Rpc, route: Route) -> grpc.RpcMethodHandler:
        if rpc.client_streaming and rpc.server_streaming:
            return grpc.stream_stream_rpc_method_handler(self._stream(rpc, route))
        if rpc.streaming:
            raise ValueError(f"{rpc.path}: only unary and bidirectional methods are served")
        return grpc.unary_unary_rpc_method_handler(self._unary(rpc, route))

    # -- the steps every message takes ---------------------------------------------------

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the worker's `max_in_flight` places, or Overloaded."""
        if self.in_flight >= self.limits.max_in_flight:
            raise Overloaded(f"server busy: {self.in_flight} calls in flight on this worker; "
                             "retry after the delay in RetryInfo, or send larger batches")
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()

    def _accept(self, rpc: Rpc, route: Route, call: Call) -> Message:
        """Role, audit health, decoding and sizes (identity is checked just before): the
        request as a message."""
        if route.operators_only and call.caller.kind != "operator":
            raise PermissionDenied(f"{rpc.service} takes operator certificates only")
        if not self.audit.usable:
            raise self.audit.unavailable(call.tx)
        try:
            message = rpc.request.FromString(call.raw)
        except DecodeError:
            raise InvalidInputError(
                f"the request is not a valid {rpc.request.DESCRIPTOR.full_name} message "
                "(truncated, a wrong field type, or a string that is not UTF-8): encode it "
                "with stubs generated from nikgate's .proto files", field="") from None
        check_sizes(message)
        return message

    async def _answer(self, rpc: Rpc, route: Route, call: Call, response: Message) -> bytes:
        body = response.SerializeToString()
        if route.sealed and self.signer is not None:
            caller = call.caller
            # signed with whatever else this loop turn seals: one signature for the group
            body = await self.signer.seal(body, call.raw, call.tx, rpc.path,
                                          caller.institution_id, caller.adapter, caller.user)
        return body

    def _metrics(self, call: CallRecord, code: str, batched: bool) -> None:
        metrics.record_call(call.method, code,
                            call.caller.principal if call.caller else "-",
                            time.perf_counter() - call.started, call.items, batched)

    async def _refuse(self, call: CallRecord, code: str, error: BaseException, batched: bool,
                      context: grpc.aio.ServicerContext) -> None:
        """Audit a refusal (within the refusal budget or in a summary), then answer it."""
        self._metrics(call, code, batched)
        logged = True
        try:
            logged = await self.audit.refused(call, code)
        except NikgateError as e:   # the audit itself failed: say that instead
            error = e
        if logged:   # past the refusal budget the summary record stands for the log line too
            _log_failure(call, code, error)
        await abort_with(context, error, call.tx)

    # -- unary -----------------------------------------------------------------------------

    def _unary(self, rpc: Rpc, route: Route):
        cap = self.limits.max_deadline_seconds
        handler = cast(UnaryHandler, route.handler)

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            # what a refusal is audited as: the bare record until identity is checked
            record = CallRecord(self.transaction_id(), rpc.name, peer_ip(context), raw=request,
                                channel=route.channel)
            try:
                with self._slot():
                    call = record = record.admit(self.auth.caller(context, record.attribute))
                    message = self._accept(rpc, route, call)
                    remaining = context.time_remaining()
                    if remaining is None or remaining > cap:
                        async with asyncio.timeout(cap):  # no extra task, unlike wait_for
                            response = await handler(message, call)
                    else:
                        response = await handler(message, call)
                    body = await self._answer(rpc, route, call, response)
                    # audited before answering: a call the log cannot record is not answered
                    self.audit.record(call, "OK")
                self._metrics(call, "OK", route.batched)
                return body
            except asyncio.CancelledError:
                self._metrics(record, "CANCELLED", route.batched)
                self.audit.record_now(record, "CANCELLED")
                raise
            except TimeoutError:
                error: BaseException = DeadlineCapExceeded(
                    f"the call ran past the server's {cap:g} s deadline cap")
            except Exception as e:
                error = _as_error(e, record)
            await self._refuse(record, status_code_of(error).name, error, route.batched,
                               context)
            return b""   # not reached: abort raises

        return handle

    # -- bidirectional streams ----------------------------------------------------------------

    def _stream(self, rpc: Rpc, route: Route):
        handler = cast(StreamHandler, route.handler)
        lifetime = self.limits.max_stream_seconds

        async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext):
            record = CallRecord(self.transaction_id(), rpc.name, peer_ip(context),
                                channel=route.channel)
            state = _StreamState()
            try:
                with self._slot():
                    call = record = record.admit(self.auth.caller(context, record.attribute))
                    ends = time.monotonic() + lifetime
                    messages = self._messages(rpc, route, call, requests, context, ends, state)
                    async for response, part in handler(messages):
                        body = await self._answer(rpc, route, part, response)
                        if not part.audited:
                            self.audit.record(part, "OK")   # before the answer leaves
                        self._metrics(part, "OK", True)
                        yield body
                return
            except asyncio.CancelledError:
                failed = state.current or record
                self._metrics(failed, "CANCELLED", True)
                self.audit.record_now(failed, "CANCELLED")
                raise
            except Exception as e:
                error = _as_error(e, record)
            # the message that failed is audited with the error; a lifetime end is the stream's
            failed = state.current if state.current is not None else record
            if isinstance(error, StreamLifetimeReached):
                failed = record
            await self._refuse(failed, status_code_of(error).name, error, True, context)

        return handle

    async def _messages(self, rpc: Rpc, route: Route, call: Call,
                        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext,
                        ends: float, state: _StreamState
                        ) -> AsyncIterator[tuple[Message, Call]]:
        """The stream's messages, each accepted like a unary request, as (message, part)."""
        seq = 0
        reader = requests.__aiter__()
        while True:
            try:
                async with asyncio.timeout(max(0.0, ends - time.monotonic())):
                    raw = await reader.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise StreamLifetimeReached(
                    f"this stream reached the server's maximum stream lifetime of "
                    f"{self.limits.max_stream_seconds:g} s; all {seq} messages read were "
                    "answered: open a new stream for the rest") from None
            seq += 1
            part = call.part(seq, raw)
            state.current = part
            part.caller = self.auth.caller(context, part.attribute)   # revoked: the end
            message = self._accept(rpc, route, part)
            yield message, part


@dataclass
class _StreamState:
    current: Call | None = None     # the part read last: an error is audited against it


def _as_error(e: Exception, call: CallRecord) -> BaseException:
    """What a handler's exception tells the caller: nikgate errors as they are; a storage
    failure (a full disk, an LMDB error) as UNAVAILABLE with RetryInfo; anything else is a
    bug, logged with its traceback and answered INTERNAL with the transaction id."""
    if isinstance(e, NikgateError):
        return e
    if isinstance(e, (OSError, lmdb.Error)) and not isinstance(e, TimeoutError):
        log.error("storage failed: %s", e, extra={"tx": call.tx, "method": call.method})
        return StorageUnavailable(
            f"nikgate's storage failed while serving this call (transaction {call.tx}); "
            "nothing was acknowledged: retry after the delay in RetryInfo")
    log.exception("unhandled error", extra={"tx": call.tx, "method": call.method})
    return e


def new_call(tx: str, method: str, caller: Caller, **fields) -> Call:
    """A call record for something the server does on its own (auto-suspension)."""
    return Call(tx, method, caller=caller, **fields)


def _log_failure(call: CallRecord, code: str, error: BaseException) -> None:
    # Messages name fields and reasons, never values of a person's record.
    log.info("call refused", extra={
        "tx": call.tx, "method": call.method, "code": code, "reason": type(error).__name__,
        "institution": call.caller.principal if call.caller else "-"})
