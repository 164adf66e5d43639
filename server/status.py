"""The one table from nikgate errors to gRPC status codes, with rich error details.

Handlers never pick a status code themselves: they raise (or let the engine raise) a
nikgate error and `abort_with` turns it into the status, a message a person can act on, and
google.rpc details (BadRequest naming the field, QuotaFailure, RetryInfo) that any gRPC
client library can read.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from nikgate import errors

# Most specific first: the first matching class decides.
STATUS_OF: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (errors.InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.CorruptRecordError, grpc.StatusCode.DATA_LOSS),
    (errors.IndexMissingError, grpc.StatusCode.UNAVAILABLE),
    (errors.IndexFormatError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.WarehouseFileError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NikgateError, grpc.StatusCode.INTERNAL),
)


class Unauthenticated(errors.NikgateError):
    """The caller's certificate is revoked or names no known institution."""


class DeadlineCapExceeded(errors.NikgateError):
    """The call ran past the server's deadline cap."""


class AuditUnavailable(errors.NikgateError):
    """The audit log cannot be written now; nothing was answered. Retry after a pause."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageUnavailable(errors.NikgateError):
    """A store (LMDB, a file) failed while serving the call; nothing was acknowledged."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StreamLifetimeReached(errors.NikgateError):
    """A stream reached the server's maximum lifetime; every message read was answered."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(errors.NikgateError):
    """The worker is at its in-flight limit; the caller should retry after a pause."""

    def __init__(self, message: str, retry_after: float = 0.05) -> None:
        super().__init__(message)
        self.retry_after = retry_after


from .access.policy import LimitExceeded, PermissionDenied  # noqa: E402
from .audit import AuditError  # noqa: E402

STATUS_OF = ((Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
             (AuditUnavailable, grpc.StatusCode.UNAVAILABLE),
             (StreamLifetimeReached, grpc.StatusCode.UNAVAILABLE),
             (StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
             (AuditError, grpc.StatusCode.UNAVAILABLE),
             (DeadlineCapExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
             (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
             (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
             (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED), *STATUS_OF)


def status_code_of(error: BaseException) -> grpc.StatusCode:
    for cls, code in STATUS_OF:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


TX_HEADER = "nikgate-transaction-id"


def rich_status(error: BaseException, tx: str = "") -> grpc.Status:
    """A grpc.Status carrying google.rpc details for the error; `tx`, the transaction id,
    goes into a RequestInfo detail (and, for the rare internal error, the message)."""
    code = status_code_of(error)
    details = []
    if tx:
        details.append(_pack(error_details_pb2.RequestInfo(request_id=tx)))
    if isinstance(error, errors.InvalidInputError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field or "", description=str(error))
        if isinstance(error, errors.InvalidNikError):
            violation.reason = error.reason
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if isinstance(error, PermissionDenied) and error.fields:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description="not granted")
            for f in error.fields])))
    if isinstance(error, LimitExceeded):
        details.append(_pack(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=error.subject,
                                                     description=str(error))])))
    if getattr(error, "retry_after", None) is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    message = str(error) if code is not grpc.StatusCode.INTERNAL else (
        f"internal error (transaction {tx or 'unknown'}); nikgate's operators can find "
        "it in the server log by that id")
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message,
                               details=details)
    return rpc_status.to_status(status)


async def abort_with(context: grpc.aio.ServicerContext, error: BaseException,
                     tx: str = "") -> None:
    """End the call with the status the table gives for `error` (never returns)."""
    status = rich_status(error, tx)
    metadata = status.trailing_metadata + (((TX_HEADER, tx),) if tx else ())
    await context.abort(status.code, status.details, metadata)
