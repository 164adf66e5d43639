"""Errors as JSON: the google.rpc.Status the gRPC service answered, with an HTTP status.

`HTTP_STATUS` is the one table from gRPC status codes to HTTP statuses. A refusal by the
service keeps its google.rpc.Status exactly (code, message, details: ErrorInfo, BadRequest,
QuotaFailure, RetryInfo, RequestInfo with the transaction id), written in the proto3 JSON
mapping; RetryInfo also becomes a Retry-After header. What the gateway refuses itself
before any call (a malformed body, a wrong content type, a body over the limit) is a
GatewayError, answered in the same shape.
"""

from __future__ import annotations

import json
import math
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

TX_HEADER = "nikgate-transaction-id"   # as server/status.py sends it
DOMAIN = "nikgate"

# The one table: gRPC status -> HTTP status (google.rpc.Code's documented HTTP mapping).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class GatewayError(Exception):
    """A request the gateway refuses before calling the service."""

    def __init__(self, http_status: int, code: grpc.StatusCode, message: str,
                 field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.field = field
        self.headers = headers or {}

    def status(self) -> status_pb2.Status:
        details = [_pack(error_details_pb2.ErrorInfo(reason="Gateway" + _camel(self.code),
                                                     domain=DOMAIN))]
        if self.field is not None:
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=self.field,
                                                            description=str(self))])))
        return status_pb2.Status(code=self.code.value[0], message=str(self), details=details)


def _camel(code: grpc.StatusCode) -> str:
    return "".join(w.title() for w in code.name.split("_"))


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def status_of_rpc_error(error: grpc.aio.AioRpcError) -> tuple[status_pb2.Status, str]:
    """The google.rpc.Status of a failed call (rebuilt from code and message when the
    service sent none, e.g. it could not be reached) and its transaction id."""
    status = None
    tx = ""
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
        elif key == TX_HEADER:
            tx = value if isinstance(value, str) else value.decode()
    if status is None:
        code = error.code()
        status = status_pb2.Status(code=code.value[0], message=_message(error))
    return status, tx


def _message(error: grpc.aio.AioRpcError) -> str:
    code, details = error.code(), error.details() or ""
    if code is grpc.StatusCode.UNAVAILABLE:
        return ("the nikgate service cannot be reached from the gateway; retry later"
                + (f" ({details})" if details else ""))
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return "the call ran out of time in the gateway; retry, with a smaller batch if large"
    return details or code.name


_BY_NUMBER = {code.value[0]: http for code, http in HTTP_STATUS.items()}


def http_status(status: status_pb2.Status) -> int:
    """The HTTP status a google.rpc.Status is answered with (HTTP_STATUS; 500 if unknown)."""
    return _BY_NUMBER.get(status.code, 500)


def retry_after(status: status_pb2.Status) -> str | None:
    """The Retry-After header (whole seconds, rounded up) from a RetryInfo detail."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return str(max(1, math.ceil(info.retry_delay.ToNanoseconds() / 1e9)))
    return None


def status_json(status: status_pb2.Status) -> dict[str, Any]:
    """google.rpc.Status in the proto3 JSON mapping: details carry their "@type"."""
    return json_format.MessageToDict(status, preserving_proto_field_name=True)


def body(status: status_pb2.Status) -> bytes:
    return json.dumps(status_json(status), ensure_ascii=False).encode()
