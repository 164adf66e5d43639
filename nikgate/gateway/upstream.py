"""The gateway's side of gRPC: channels with the adapter certificate, calls on bytes.

Every call carries `nikgate-on-behalf-of-cert`: the DER certificate the institution
presented to the gateway, base64. The service checks that certificate itself (CA, validity,
CRL, a known institution) and acts as that institution on channel `web_service`; the
gateway's own certificate (kind "gateway") only allows it to say "on behalf of", so the
gateway can never name an institution it was not shown a certificate for.

Messages travel as bytes (no serializer): the request bytes the gateway encodes are the
bytes the service hashes into the receipt, and the response bytes are handed back as
received, so a JSON client gets exactly what was signed.
"""

from __future__ import annotations

import base64
import functools
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc.aio import EOF  # type: ignore[attr-defined]

from nikgate.errors import InvalidInputError
from nikgate.methods import Rpc

ON_BEHALF_OF_CERT = "nikgate-on-behalf-of-cert"


@dataclass(frozen=True)
class UpstreamSettings:
    address: str            # the gRPC service, host:port
    ca: Path                # the nikgate CA (trusts the service's certificate)
    cert: Path              # the gateway adapter's client certificate (kind "gateway")
    key: Path
    server_name: str = "localhost"
    channels: int = 4       # HTTP/2 connections, so the service's workers share the load
    max_message_bytes: int = 16 << 20


@functools.lru_cache(maxsize=4096)
def _header_value(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


class Upstream:
    """Round-robin over `channels` asyncio channels; create inside the running loop."""

    def __init__(self, settings: UpstreamSettings) -> None:
        try:
            creds = grpc.ssl_channel_credentials(
                root_certificates=settings.ca.read_bytes(),
                private_key=settings.key.read_bytes(),
                certificate_chain=settings.cert.read_bytes())
        except OSError as e:
            raise InvalidInputError(f"gateway: cannot read {e.filename}: {e.strerror}",
                                    field="gateway") from None
        options = [("grpc.ssl_target_name_override", settings.server_name),
                   ("grpc.default_authority", settings.server_name),
                   ("grpc.max_receive_message_length", settings.max_message_bytes),
                   ("grpc.max_send_message_length", settings.max_message_bytes),
                   ("grpc.keepalive_time_ms", 30_000),
                   ("grpc.use_local_subchannel_pool", 1)]   # one connection per channel
        self.address = settings.address
        self._channels = [grpc.aio.secure_channel(settings.address, creds,
                                                  options=[*options, ("nikgate.gw", i)])
                          for i in range(max(1, settings.channels))]
        self._next = itertools.cycle(range(len(self._channels)))

    async def call(self, rpc: Rpc, request: bytes, peer_der: bytes,
                   timeout: float) -> bytes:
        """The response bytes of `rpc` for one request message, on behalf of the holder
        of `peer_der`; grpc.aio.AioRpcError when the service refused or failed. A
        client-streaming method gets a stream of that one message; its one answer is
        returned."""
        channel = self._channels[next(self._next)]
        metadata = ((ON_BEHALF_OF_CERT, _header_value(peer_der)),)
        if not rpc.client_streaming:
            unary = channel.unary_unary(rpc.path, request_serializer=None,
                                        response_deserializer=None)
            response: bytes = await unary(request, timeout=timeout, metadata=metadata)
            return response
        stream = channel.stream_stream(rpc.path, request_serializer=None,
                                       response_deserializer=None)
        call = stream(None, timeout=timeout, metadata=metadata)
        await call.write(request)
        await call.done_writing()
        answer: Any = await call.read()
        if answer is EOF:   # a failed stream raises in read(); this ended "OK"
            raise RuntimeError(f"{rpc.path} ended without an answer")
        while await call.read() is not EOF:
            pass
        return answer

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close(grace=None)
