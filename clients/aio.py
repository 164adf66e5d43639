"""AsyncNikgateClient: the asyncio client (grpc.aio), same calls as NikgateClient."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from nikgate.methods import rpc
from nikgate.v1 import account_pb2, admin_pb2, lookup_pb2, verification_pb2

from .connection import Connection
from .errors import mapped
from .requests import (
    STREAM_METHOD,
    UNARY_METHODS,
    Reply,
    VerifyItem,
    batches_of,
    lookup_batch_request,
    lookup_request,
    raw,
    verify_batch_request,
    verify_request,
)

_MY_GRANT = rpc("Account", "GetMyGrant")
_MY_USAGE = rpc("Account", "GetMyUsage")


class AsyncNikgateClient:
    """The asyncio twin of NikgateClient: the same calls, awaited, and the same errors
    (only nikgate errors, see NikgateClient)."""

    def __init__(self, connection: Connection, deadline: float = 10.0) -> None:
        self.connection = connection
        self.deadline = deadline
        self._channel = connection.aio_channel()
        self._unary = {name: self._channel.unary_unary(path, raw, raw)
                       for name, path in UNARY_METHODS}
        self._stream = self._channel.stream_stream(STREAM_METHOD, raw, raw)
        self._my_grant = self._channel.unary_unary(
            _MY_GRANT.path, _MY_GRANT.request.SerializeToString, admin_pb2.Grant.FromString)
        self._my_usage = self._channel.unary_unary(
            _MY_USAGE.path, _MY_USAGE.request.SerializeToString,
            account_pb2.GetMyUsageResponse.FromString)

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Raises nothing."""
        await self._channel.close(None)   # no grace: in-flight calls are cancelled

    async def __aenter__(self) -> AsyncNikgateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, name: str, request, parse, timeout: float | None):
        body = request.SerializeToString()
        with mapped(self.connection.address):
            raw = await self._unary[name](body, timeout=timeout or self.deadline)
        return Reply(parse(raw), raw, body)

    async def verify(self, nik: str, claims: Mapping[str, str], thresholds=None, *,
                     purpose: str = "", request_id: str = "", timeout: float | None = None
                     ) -> Reply[verification_pb2.VerifyResponse]:
        """Verify the claimed values of one NIK (as NikgateClient.verify); raises
        InvalidNikError, InvalidInputError, PermissionDenied, LimitExceeded or any other
        nikgate error the call ends with."""
        return await self._call("Verify",
                                verify_request(nik, claims, thresholds, purpose, request_id),
                                verification_pb2.VerifyResponse.FromString, timeout)

    async def verify_batch(self, niks: Sequence[str],
                           claims: Mapping[str, Sequence[str | None]], thresholds=None, *,
                           item_ids: Sequence[int] = (), purpose: str = "",
                           request_id: str = "", timeout: float | None = None
                           ) -> Reply[verification_pb2.VerifyBatchResponse]:
        """Verify many NIKs in one call (as NikgateClient.verify_batch); raises
        InvalidInputError for a malformed batch, PermissionDenied, LimitExceeded or any
        other nikgate error."""
        return await self._call("VerifyBatch",
                                verify_batch_request(niks, claims, thresholds, item_ids,
                                                     purpose, request_id),
                                verification_pb2.VerifyBatchResponse.FromString, timeout)

    async def verify_stream(self, items: Iterable[VerifyItem], fields: Sequence[str], *,
                            batch_size: int = 1000, window: int = 4, thresholds=None,
                            purpose: str = "", timeout: float | None = None
                            ) -> AsyncIterator[Reply[verification_pb2.VerifyBatchResponse]]:
        """Stream items as batches with at most `window` unanswered; replies in order.
        Raises the nikgate error the stream ends with (e.g. PermissionDenied,
        LimitExceeded, StreamLifetimeReached)."""
        slots = asyncio.Semaphore(window)
        sent: deque[bytes] = deque()

        async def requests():
            for message in batches_of(items, fields, batch_size, thresholds, purpose):
                await slots.acquire()
                body = message.SerializeToString()
                sent.append(body)
                yield body

        call = self._stream(requests(), timeout=timeout)
        try:
            with mapped(self.connection.address):
                async for raw in call:
                    body = sent.popleft()
                    slots.release()
                    yield Reply(verification_pb2.VerifyBatchResponse.FromString(raw), raw,
                                body)
        finally:
            call.cancel()

    async def lookup(self, nik: str, fields: Sequence[str], *, purpose: str = "",
                     request_id: str = "", timeout: float | None = None
                     ) -> Reply[lookup_pb2.LookupResponse]:
        """The granted `fields` of one NIK's record; raises InvalidNikError,
        PermissionDenied (`fields`), LimitExceeded or any other nikgate error."""
        return await self._call("Lookup", lookup_request(nik, fields, purpose, request_id),
                                lookup_pb2.LookupResponse.FromString, timeout)

    async def lookup_batch(self, niks: Sequence[str], fields: Sequence[str], *,
                           item_ids: Sequence[int] = (), purpose: str = "",
                           request_id: str = "", timeout: float | None = None
                           ) -> Reply[lookup_pb2.LookupBatchResponse]:
        """The granted `fields` of many NIKs in one call; raises the errors `lookup`
        raises."""
        return await self._call("LookupBatch",
                                lookup_batch_request(niks, fields, item_ids, purpose,
                                                     request_id),
                                lookup_pb2.LookupBatchResponse.FromString, timeout)

    async def my_grant(self, *, timeout: float | None = None) -> admin_pb2.Grant:
        """The calling institution's own grant, whatever its status (as
        NikgateClient.my_grant); raises PermissionDenied for an operator or an institution
        without a grant, or any other nikgate error. Counts no quota."""
        with mapped(self.connection.address):
            return await self._my_grant(account_pb2.GetMyGrantRequest(),
                                        timeout=timeout or self.deadline)

    async def my_usage(self, day: str = "", days: int = 1, *,
                       timeout: float | None = None) -> account_pb2.GetMyUsageResponse:
        """The calling institution's NIKs per day for `days` (1-31) days ending with `day`
        ("" = today, WIB), with the quota left today and the grant's status (as
        NikgateClient.my_usage); raises InvalidInputError, PermissionDenied for an
        operator, or any other nikgate error. Counts no quota."""
        with mapped(self.connection.address):
            return await self._my_usage(account_pb2.GetMyUsageRequest(day=day, days=days),
                                        timeout=timeout or self.deadline)
