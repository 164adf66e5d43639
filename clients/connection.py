"""Where a server is and which certificate to present: from paths or connection.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc

from nikgate.errors import InvalidInputError

# Retry only what is safe: UNAVAILABLE means the call did not reach a handler (connection
# refused or reset, worker restarting); anything else is an answer and is not repeated.
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "nikgate.v1.Verification"}, {"service": "nikgate.v1.Lookup"}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.05s",
            "maxBackoff": "0.5s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
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

        return cls(
            address=address,
            ca=rel(data["ca"]),
            cert=rel(entry["cert"]),
            key=rel(entry["key"]),
            receipt_public_key=rel(data["receipt_public_key"])
            if data.get("receipt_public_key") else None,
            server_name=data.get("server_name", "localhost"),
        )

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

    def options(self, max_message_bytes: int = 16 * MiB) -> list[tuple[str, object]]:
        """The channel options every nikgate channel uses (retries of UNAVAILABLE only)."""
        return [
            ("grpc.ssl_target_name_override", self.server_name),
            ("grpc.default_authority", self.server_name),
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
        ]

    def channel(self) -> grpc.Channel:
        """A new blocking channel to the server (connects lazily); see credentials().
        With `metadata`, every call on it carries those headers."""
        channel = grpc.secure_channel(self.address, self.credentials(), options=self.options())
        if self.metadata:
            return grpc.intercept_channel(channel, _ExtraMetadata(self.metadata))
        return channel

    def aio_channel(self) -> grpc.aio.Channel:
        """A new asyncio channel to the server (connects lazily); see credentials().
        With `metadata`, every call on it carries those headers."""
        interceptors = _aio_interceptors(self.metadata) if self.metadata else None
        return grpc.aio.secure_channel(self.address, self.credentials(),
                                       options=self.options(), interceptors=interceptors)


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
