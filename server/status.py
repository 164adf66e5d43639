"""The one table from nikgate errors to gRPC status codes, with rich error details.

Handlers never pick a status code themselves: they raise (or let the engine raise) a
nikgate error and `abort_with` turns it into the status, a message a person can act on, and
google.rpc details any gRPC client library can read: ErrorInfo naming the class (so
nikgate's clients raise the same class again), BadRequest naming the field, QuotaFailure,
RetryInfo and RequestInfo with the transaction id.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from nikgate import errors

# Each class names its code (`code`, a string, so the engine need not import grpc); this
# is the only place those names become grpc.StatusCode values.
STATUS_OF: dict[type[errors.NikgateError], grpc.StatusCode] = {
    cls: grpc.StatusCode[cls.code] for cls in errors.classes()}

ERROR_DOMAIN = "nikgate"   # ErrorInfo.domain; ErrorInfo.reason is the class name
TX_HEADER = "nikgate-transaction-id"


def status_code_of(error: BaseException) -> grpc.StatusCode:
    """The status `error` is answered with: its class's code; INTERNAL for anything that is
    not a nikgate error (a bug)."""
    if isinstance(error, errors.NikgateError):
        return STATUS_OF.get(type(error)) or grpc.StatusCode[error.code]
    return grpc.StatusCode.INTERNAL


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def rich_status(error: BaseException, tx: str = "") -> grpc.Status:
    """A grpc.Status carrying google.rpc details for the error; `tx`, the transaction id,
    goes into a RequestInfo detail (and, for the rare internal error, the message)."""
    code = status_code_of(error)
    internal = code is grpc.StatusCode.INTERNAL
    details = []
    if tx:
        details.append(_pack(error_details_pb2.RequestInfo(request_id=tx)))
    if not internal:   # an internal error names nothing about the server
        details.append(_pack(error_details_pb2.ErrorInfo(reason=type(error).__name__,
                                                         domain=ERROR_DOMAIN)))
    if isinstance(error, errors.InvalidInputError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field or "", description=str(error))
        if isinstance(error, errors.InvalidNikError):
            violation.reason = error.reason
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if isinstance(error, errors.PermissionDenied) and error.fields:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description="not granted")
            for f in error.fields])))
    if isinstance(error, errors.LimitExceeded):
        details.append(_pack(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=error.subject,
                                                     description=str(error))])))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    message = str(error) if not internal else (
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
