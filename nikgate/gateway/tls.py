"""Mutual TLS at the gateway: the client certificate each connection presented.

uvicorn verifies the chain (ssl_cert_reqs=CERT_REQUIRED against the nikgate CA: no
certificate, another CA's or an expired one fails the handshake) but does not put the
peer certificate into the ASGI scope. These protocol classes take it from the connection's
SSL object when the connection is made and place it in the scope's "state" (which uvicorn
copies from the protocol's `app_state` into every request of that connection), under
PEER_CERT, as DER bytes. Revocation and the institution behind the certificate are checked
by the gRPC service, which receives the certificate with each call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

PEER_CERT = "nikgate.peer_cert_der"


def peer_certificate(transport: asyncio.BaseTransport) -> bytes | None:
    """The DER certificate the peer presented on this TLS connection, if any."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)


class _PeerCertificate:
    app_state: dict[str, Any]

    def connection_made(self, transport) -> None:
        # a per-connection copy: the shared lifespan state is not touched
        self.app_state = {**self.app_state, PEER_CERT: peer_certificate(transport)}
        super().connection_made(transport)  # type: ignore[misc]


class H11WithPeerCert(_PeerCertificate, H11Protocol):
    """uvicorn's h11 protocol, plus the peer certificate in each request's scope."""


def protocol_class() -> type:
    """httptools' protocol when installed (faster parsing), else h11's."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return H11WithPeerCert
    return type("HttpToolsWithPeerCert", (_PeerCertificate, HttpToolsProtocol), {
        "__doc__": "uvicorn's httptools protocol, plus the peer certificate in the scope"})
