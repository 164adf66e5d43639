"""The one place the clients turn a failed call into the nikgate error the server raised.

The server answers every error with google.rpc details (server/status.py): ErrorInfo naming
the class, BadRequest (field, reason; or the fields a grant refused), QuotaFailure
(subject), RetryInfo (retry_after) and RequestInfo (the transaction id). `from_rpc_error`
reads them back with `nikgate.errors.from_status`, so a client user catches
`nikgate.errors.LimitExceeded`, `PermissionDenied`, `InvalidNikError` and the rest, never a
grpc.RpcError. A status from the transport (no server reached, the client's own deadline)
becomes the family of its code, e.g. ServiceUnavailable or DeadlineExceeded, with a message
saying what to do; `grpc_code` keeps the code received either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from nikgate import errors

ERROR_DOMAIN = "nikgate"            # as server/status.py sends it
TX_HEADER = "nikgate-transaction-id"


def _status(error: Any) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(error)   # a failed call is also its grpc.Call
    except (ValueError, AttributeError, TypeError):   # a mismatched or missing status
        return None


def _transaction_id(error: Any) -> str:
    with contextlib.suppress(Exception):
        for key, value in error.trailing_metadata() or ():
            if key == TX_HEADER:
                return value if isinstance(value, str) else value.decode()
    return ""


def from_rpc_error(error: grpc.RpcError, address: str = "") -> errors.NikgateError:
    """The nikgate error `error` (a failed call, sync or asyncio) stands for. `address`,
    the server's, goes into the message when the server could not be reached."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    code_name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    message = (error.details() if callable(getattr(error, "details", None)) else "") or ""
    status = _status(error)
    name, tx = "", _transaction_id(error)
    attributes: dict[str, object] = {}
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == ERROR_DOMAIN:
                name = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = list(bad.field_violations)
            if code_name == "PERMISSION_DENIED":
                attributes["fields"] = tuple(v.field for v in violations)
            elif violations:
                attributes["field"] = violations[0].field or None
                attributes["reason"] = violations[0].reason or None
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            if quota.violations:
                attributes["subject"] = quota.violations[0].subject
                attributes["kind"] = quota.violations[0].subject.rpartition(":")[2]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            attributes["retry_after"] = retry.retry_delay.ToNanoseconds() / 1e9
        elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            request = error_details_pb2.RequestInfo()
            detail.Unpack(request)
            tx = request.request_id or tx
    if status is None:   # not a nikgate answer: the transport, or the client itself
        refused = _tls_refusal(code_name, message)
        if refused:   # not a retry: a certificate to fix
            tls = errors.Unauthenticated(
                f"{refused} (nikgate{f' at {address}' if address else ''}: {message})")
            tls.grpc_code = code_name
            return tls
        message = _transport_message(code_name, message, address)
    return errors.from_status(code_name, message, name=name, transaction_id=tx,
                              **attributes)


CLIENT_CERT_REFUSED = ("the server did not accept this certificate: is it issued by the "
                       "nikgate CA and not revoked?")
SERVER_CERT_UNTRUSTED = ("the server's certificate is not issued by the CA this connection "
                         "trusts: check the connection's ca file (the nikgate CA's ca.crt) "
                         "and the address")
# What the TLS library reports when a handshake fails on a certificate. A server refusing
# ours under TLS 1.3 often shows only as "Socket closed" after the handshake: that alone
# is also what a restarting server looks like, so it keeps UNAVAILABLE and gets the hint
# as a possibility (_transport_message).
_SERVER_UNTRUSTED = ("CERTIFICATE_VERIFY_FAILED",)
_CLIENT_REFUSED = ("CERTIFICATE_REQUIRED", "ALERT_BAD_CERTIFICATE", "ALERT_UNKNOWN_CA",
                   "ALERT_CERTIFICATE_UNKNOWN", "ALERT_CERTIFICATE_REVOKED",
                   "ALERT_CERTIFICATE_EXPIRED")


def _tls_refusal(code_name: str, details: str) -> str:
    """What to say when `details` shows a handshake refused on a certificate, else ""."""
    if code_name != "UNAVAILABLE":
        return ""
    upper = details.upper().replace(" ", "_")
    if any(m in upper for m in _SERVER_UNTRUSTED):
        return SERVER_CERT_UNTRUSTED
    if any(m in upper for m in _CLIENT_REFUSED):
        return CLIENT_CERT_REFUSED
    return ""


def _transport_message(code_name: str, details: str, address: str) -> str:
    where = f" at {address}" if address else ""
    if code_name == "UNAVAILABLE":
        if "socket closed" in details.lower() or "handshake" in details.lower():
            return (f"nikgate{where} closed the connection ({details}); if the server is "
                    f"up, {CLIENT_CERT_REFUSED}")
        return (f"cannot reach nikgate{where} ({details}); check the address and that the "
                "server is running, then retry")
    if code_name == "DEADLINE_EXCEEDED":
        return (f"no answer from nikgate{where} within the call's deadline ({details}); "
                "retry, with a longer timeout if the call is large")
    if code_name == "UNAUTHENTICATED":
        return (f"nikgate{where} did not accept this client's certificate ({details}); "
                "check the certificate and key in the connection")
    return f"nikgate{where} answered {code_name}: {details}" if details else (
        f"nikgate{where} answered {code_name}")


@contextlib.contextmanager
def mapped(address: str = "") -> Iterator[None]:
    """Run the block; a grpc.RpcError raised in it comes out as its nikgate error."""
    try:
        yield
    except grpc.RpcError as e:
        raise from_rpc_error(e, address) from e
