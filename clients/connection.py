"""Where a server is and which certificate to present: from paths or connection.json.

A connection names one address (a node, or a load balancer in front of several) or, with
`addresses`, several nodes: the channel then spreads calls over all of them itself (gRPC's
round_robin policy, one connection per node) and the retry policy below repeats a call
that failed UNAVAILABLE, which round_robin sends to another node. One server certificate
serves every node: the TLS name checked is `server_name`, whatever address is dialled.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from nikgate.errors import InvalidInputError

# Retry only what is safe: UNAVAILABLE means the call did not reach a handler (connection
# refused or reset, worker restarting, a node killed mid-call); anything else is an answer
# and is not repeated. Only verification and lookup are retried here: they change nothing
# but the caller's quota, which counts attempts that reached a handler. Return data is
# never retried by the channel: ReturnDataSender resends unacknowledged batches itself, and
# the server stores each (institution, record id) once, so a resend is a DUPLICATE, never
# a second record. grpc retries a call only while its request fits the retry buffer
# (grpc.per_rpc_retry_buffer_size, 256 KiB): a larger batch failing UNAVAILABLE reaches
# the caller, who may resend it.
_RETRY = {
    "maxAttempts": 3,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
_METHODS = [{"service": "nikgate.v1.Verification"}, {"service": "nikgate.v1.Lookup"}]
SERVICE_CONFIG = json.dumps({"methodConfig": [{"name": _METHODS, "retryPolicy": _RETRY}]})
# Several addresses: one subchannel per node, calls in turn over the ready ones; a retry
# is a new pick, so it lands on the next node.
ROUND_ROBIN_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": _METHODS, "retryPolicy": _RETRY}],
})
MiB = 1 << 20


@dataclass(frozen=True)
class Connection:
    """A server address, the CA to trust, and this institution's certificate and key."""

    address: str
    ca: Path
    cert: Path
    key: Path
    receipt_public_key: Path | None = None
    server_name: str = "localhost"   # the name the server certificate carries
    # Extra request headers sent on every call of every channel made from this connection,
    # as (key, value) pairs with lower-case keys: e.g. an adapter's on-behalf-of headers
    # (docs/portal.md). Empty for a direct caller.
    metadata: tuple[tuple[str, str], ...] = ()
    # Several nodes' host:port, for the client's own balancing (see the module docstring);
    # empty: `address` alone. `address` is still what messages name.
    addresses: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: str | os.PathLike, institution: str) -> Connection:
        """Read a connection.json (as `nikgate demo` writes) for one institution.

        Raises InvalidInputError (field "connection") when the file cannot be read, is not
        a connection file, or has no certificate for `institution`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            known = data["institutions"]
            address = data["address"]
        except OSError as e:
            raise InvalidInputError(f"cannot read the connection file {path}: "
                                    f"{e.strerror or e}", field="connection") from None
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInputError(f"{path} is not a connection file (as `nikgate demo` "
                                    f"writes): {e}", field="connection") from None
        base = path.parent
        if institution not in known:
            raise InvalidInputError(f"{path} has no certificate for {institution!r}; it "
                                    f"has: {', '.join(sorted(known))}", field="connection")
        entry = known[institution]

        def rel(p: str) -> Path:
            return Path(p) if os.path.isabs(p) else base / p

        addresses = data.get("addresses") or []
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise InvalidInputError(f"{path}: addresses must be a list of host:port strings",
                                    field="connection")
        try:
            return cls(
                address=address,
                addresses=tuple(addresses),
                ca=rel(data["ca"]),
                cert=rel(entry["cert"]),
                key=rel(entry["key"]),
                receipt_public_key=rel(data["receipt_public_key"])
                if data.get("receipt_public_key") else None,
                server_name=data.get("server_name", "localhost"),
            )
        except (KeyError, TypeError) as e:   # a file path missing or not a string
            raise InvalidInputError(f"{path} is not a connection file (as `nikgate demo` "
                                    f"writes): no {e} (for {institution!r})",
                                    field="connection") from None

    def credentials(self) -> grpc.ChannelCredentials:
        """TLS credentials from the CA, certificate and key files; InvalidInputError if
        one cannot be read."""
        try:
            return grpc.ssl_channel_credentials(
                root_certificates=self.ca.read_bytes(),
                private_key=self.key.read_bytes(),
                certificate_chain=self.cert.read_bytes())
        except OSError as e:
            raise InvalidInputError(f"cannot read {e.filename}: {e.strerror or e}",
                                    field="connection") from None

    def target(self) -> str:
        """What the channel dials: `address`, or with `addresses` an `ipv4:`/`ipv6:` list
        of every node (names are resolved now; all must be of one family)."""
        if not self.addresses:
            return self.address
        return balanced_target(self.addresses)

    def options(self, max_message_bytes: int = 16 * MiB) -> list[tuple[str, object]]:
        """The channel options every nikgate channel uses (retries of UNAVAILABLE only;
        round_robin over `addresses` when there are several)."""
        return [
            ("grpc.ssl_target_name_override", self.server_name),
            ("grpc.default_authority", self.server_name),
            ("grpc.service_config",
             ROUND_ROBIN_SERVICE_CONFIG if self.addresses else SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
        ]

    def channel(self) -> grpc.Channel:
        """A new blocking channel to the server (connects lazily); see credentials().
        With `metadata`, every call on it carries those headers."""
        channel = grpc.secure_channel(self.target(), self.credentials(),
                                      options=self.options())
        if self.metadata:
            return grpc.intercept_channel(channel, _ExtraMetadata(self.metadata))
        return channel

    def aio_channel(self) -> grpc.aio.Channel:
        """A new asyncio channel to the server (connects lazily); see credentials().
        With `metadata`, every call on it carries those headers."""
        interceptors = _aio_interceptors(self.metadata) if self.metadata else None
        return grpc.aio.secure_channel(self.target(), self.credentials(),
                                       options=self.options(), interceptors=interceptors)


def balanced_target(addresses: tuple[str, ...] | list[str]) -> str:
    """A gRPC target naming every address: `ipv4:10.0.0.1:50051,10.0.0.2:50051` (or
    `ipv6:[::1]:50051,...`). A host name is resolved here, once, to its addresses (IPv4
    when every entry has one, else IPv6); for a name whose addresses change (a Kubernetes
    headless service) dial `dns:///name:port` as the one `address` instead."""
    entries: list[tuple[list[str], list[str]]] = []     # per address: (v4, v6) targets
    for entry in addresses:
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not host:
            raise InvalidInputError(f"address {entry!r} must be host:port", field="connection")
        try:
            ips = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            except OSError as e:
                raise InvalidInputError(f"cannot resolve {host}: {e}",
                                        field="connection") from None
            ips = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        entries.append(([f"{ip}:{port}" for ip in ips if ip.version == 4],
                        [f"[{ip}]:{port}" for ip in ips if ip.version == 6]))
    if all(v4 for v4, _ in entries):
        return "ipv4:" + ",".join(t for v4, _ in entries for t in v4)
    if all(v6 for _, v6 in entries):
        return "ipv6:" + ",".join(t for _, v6 in entries for t in v6)
    raise InvalidInputError("addresses mix IPv4-only and IPv6-only nodes; gRPC takes one "
                            "family per list: give one", field="connection")


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


def _merged(details: Any, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, Any]]:
    return [*(details.metadata or ()), *extra]


class _ExtraMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                     grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds fixed headers to every call of a blocking channel."""

    def __init__(self, extra: tuple[tuple[str, str], ...]) -> None:
        self._extra = extra

    def _details(self, d: Any) -> Any:
        return _Details(d.method, d.timeout, _merged(d, self._extra), d.credentials,
                        getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


def _aio_interceptors(extra: tuple[tuple[str, str], ...]) -> list[Any]:
    """Interceptors adding fixed headers to every call of an asyncio channel."""

    def details(d: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*_merged(d, extra))
        return grpc.aio.ClientCallDetails(d.method, d.timeout, metadata, d.credentials,
                                          d.wait_for_ready)

    class UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            return await continuation(details(client_call_details), request)

    class UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, client_call_details, request):
            return await continuation(details(client_call_details), request)

    class StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, client_call_details,
                                         request_iterator):
            return await continuation(details(client_call_details), request_iterator)

    class StreamStream(grpc.aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, client_call_details,
                                          request_iterator):
            return await continuation(details(client_call_details), request_iterator)

    return [UnaryUnary(), UnaryStream(), StreamUnary(), StreamStream()]
