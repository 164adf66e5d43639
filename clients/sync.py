"""NikgateClient: the blocking client, for scripts and thread-based services."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence

import grpc

from nikgate.errors import ServiceUnavailable
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


class NikgateClient:
    """Calls nikgate over mutual TLS with a default deadline on every call.

    Every method raises only nikgate errors (nikgate.errors), the class the server raised
    with its attributes: InvalidInputError / InvalidNikError (`field`, `reason`),
    Unauthenticated, PermissionDenied (`fields`), LimitExceeded (`kind`, `subject`,
    `retry_after`), Overloaded, ServiceUnavailable (also: the server cannot be reached),
    DeadlineExceeded (also: the call's own deadline passed); each carries `grpc_code` and
    `transaction_id`. A failed verification is a result in the reply, not an error.
    """

    def __init__(self, connection: Connection, deadline: float = 10.0) -> None:
        self.connection = connection
        self.deadline = deadline
        self._channel = connection.channel()
        # Raw bytes in and out, so a Reply can carry what receipts sign.
        self._unary = {name: self._channel.unary_unary(path, raw, raw)
                       for name, path in UNARY_METHODS}
        self._stream = self._channel.stream_stream(STREAM_METHOD, raw, raw)
        self._my_grant = self._channel.unary_unary(
            _MY_GRANT.path, _MY_GRANT.request.SerializeToString, admin_pb2.Grant.FromString)
        self._my_usage = self._channel.unary_unary(
            _MY_USAGE.path, _MY_USAGE.request.SerializeToString,
            account_pb2.GetMyUsageResponse.FromString)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled. Raises nothing."""
        self._channel.close()

    def __enter__(self) -> NikgateClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, name: str, request, parse, timeout: float | None):
        body = request.SerializeToString()
        with mapped(self.connection.address):
            raw = self._unary[name](body, timeout=timeout or self.deadline)
        return Reply(parse(raw), raw, body)

    def verify(self, nik: str, claims: Mapping[str, str], thresholds=None, *,
               purpose: str = "", request_id: str = "", timeout: float | None = None
               ) -> Reply[verification_pb2.VerifyResponse]:
        """Verify the claimed values (field name -> value) of one NIK; `thresholds` sets a
        name field's minimum score. The reply says per field whether it matched.

        Raises InvalidNikError for a malformed NIK, InvalidInputError for a bad claim,
        PermissionDenied for a field or operation not granted, LimitExceeded past a quota,
        or any other nikgate error the call ends with (see the class docstring)."""
        return self._call("Verify", verify_request(nik, claims, thresholds, purpose, request_id),
                          verification_pb2.VerifyResponse.FromString, timeout)

    def verify_batch(self, niks: Sequence[str], claims: Mapping[str, Sequence[str | None]],
                     thresholds=None, *, item_ids: Sequence[int] = (), purpose: str = "",
                     request_id: str = "", timeout: float | None = None
                     ) -> Reply[verification_pb2.VerifyBatchResponse]:
        """Verify many NIKs in one call: `claims` maps each field to one value per NIK
        (None: not claimed). A bad NIK is an item status in the reply, not an error.

        Raises InvalidInputError for a malformed batch (empty, too large, columns of the
        wrong length), PermissionDenied, LimitExceeded, or any other nikgate error."""
        return self._call("VerifyBatch",
                          verify_batch_request(niks, claims, thresholds, item_ids, purpose,
                                               request_id),
                          verification_pb2.VerifyBatchResponse.FromString, timeout)

    def verify_stream(self, items: Iterable[VerifyItem], fields: Sequence[str], *,
                      batch_size: int = 1000, window: int = 4, thresholds=None,
                      purpose: str = "", timeout: float | None = None
                      ) -> Iterator[Reply[verification_pb2.VerifyBatchResponse]]:
        """Stream any iterable of items as batches; yields one reply per batch, in order.

        At most `window` batches are unanswered at a time, so memory stays bounded however
        long the input is. Raises the nikgate error the stream ends with (e.g.
        PermissionDenied, LimitExceeded, StreamLifetimeReached after the server's maximum
        stream lifetime: every batch yielded before it was answered).
        """
        slots = threading.Semaphore(window)
        sent: deque[bytes] = deque()

        def requests() -> Iterator[bytes]:
            for message in batches_of(items, fields, batch_size, thresholds, purpose):
                slots.acquire()
                body = message.SerializeToString()
                sent.append(body)
                yield body

        call = self._stream(requests(), timeout=timeout)
        try:
            with mapped(self.connection.address):
                for raw in call:
                    body = sent.popleft()
                    slots.release()
                    yield Reply(verification_pb2.VerifyBatchResponse.FromString(raw), raw,
                                body)
        finally:
            call.cancel()

    def lookup(self, nik: str, fields: Sequence[str], *, purpose: str = "",
               request_id: str = "", timeout: float | None = None
               ) -> Reply[lookup_pb2.LookupResponse]:
        """The granted `fields` of one NIK's record.

        Raises InvalidNikError, PermissionDenied (`fields` names those not granted),
        LimitExceeded, or any other nikgate error the call ends with."""
        return self._call("Lookup", lookup_request(nik, fields, purpose, request_id),
                          lookup_pb2.LookupResponse.FromString, timeout)

    def lookup_batch(self, niks: Sequence[str], fields: Sequence[str], *,
                     item_ids: Sequence[int] = (), purpose: str = "", request_id: str = "",
                     timeout: float | None = None) -> Reply[lookup_pb2.LookupBatchResponse]:
        """The granted `fields` of many NIKs in one call; a bad or unknown NIK is an item
        status in the reply. Raises the nikgate errors `lookup` raises."""
        return self._call("LookupBatch",
                          lookup_batch_request(niks, fields, item_ids, purpose, request_id),
                          lookup_pb2.LookupBatchResponse.FromString, timeout)

    def my_grant(self, *, timeout: float | None = None) -> admin_pb2.Grant:
        """The calling institution's own grant (operations, fields, channels, quota,
        status with its reason), whatever its status. Counts no quota.

        Raises PermissionDenied for an operator's certificate (operators use Admin) or an
        institution without a grant, or any other nikgate error the call ends with."""
        with mapped(self.connection.address):
            return self._my_grant(account_pb2.GetMyGrantRequest(),
                                  timeout=timeout or self.deadline)

    def my_usage(self, day: str = "", days: int = 1, *, timeout: float | None = None
                 ) -> account_pb2.GetMyUsageResponse:
        """The calling institution's NIKs counted per day: `days` (1-31) days ending with
        `day` (YYYY-MM-DD, WIB; "" = today), oldest first, with today's use, the daily
        quota, the quota left today and the grant's status. Counts no quota.

        Raises InvalidInputError for a malformed day or more than 31 days, PermissionDenied
        for an operator's certificate, or any other nikgate error the call ends with."""
        with mapped(self.connection.address):
            return self._my_usage(account_pb2.GetMyUsageRequest(day=day, days=days),
                                  timeout=timeout or self.deadline)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the channel is connected; ServiceUnavailable after `timeout` s."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceUnavailable(
                f"cannot reach nikgate at {self.connection.address} within {timeout:g} s; "
                "check the address and that the server is running") from None
