"""`nikgate gateway`: the JSON gateway under uvicorn, with mutual TLS.

The listening socket is bound here (port 0 works; the bound port goes to `port_file`), then
uvicorn serves it on uvloop with ssl_cert_reqs=CERT_REQUIRED against the nikgate CA, so a
client without a nikgate certificate never gets past the handshake.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import uvicorn

from nikgate.errors import InvalidInputError
from nikgate.server.config import Config
from nikgate.serving import listening_socket

from .app import GatewaySettings, build_app
from .tls import protocol_class
from .upstream import UpstreamSettings

log = logging.getLogger(__name__)


def settings_of(config: Config) -> GatewaySettings:
    g = config.gateway
    return GatewaySettings(
        upstream=UpstreamSettings(
            address=g.upstream or config.server.address, ca=Path(config.tls.ca),
            cert=Path(g.adapter_cert), key=Path(g.adapter_key), server_name=g.server_name,
            channels=g.channels, max_message_bytes=config.server.max_message_bytes),
        max_body_bytes=g.max_body_bytes, deadline_seconds=g.deadline_seconds)


def uvicorn_config(config: Config) -> uvicorn.Config:
    g, tls = config.gateway, config.tls
    for path in (g.cert or tls.cert, g.key or tls.key, tls.ca):
        if not Path(path).is_file():
            raise InvalidInputError(f"gateway: no file at {path}", field="gateway")
    return uvicorn.Config(
        build_app(settings_of(config)), http=protocol_class(), loop="uvloop",
        lifespan="on", ssl_certfile=g.cert or tls.cert, ssl_keyfile=g.key or tls.key,
        ssl_ca_certs=tls.ca, ssl_cert_reqs=ssl.CERT_REQUIRED, access_log=False,
        log_level=config.logging.level.lower(), timeout_keep_alive=30,
        timeout_graceful_shutdown=10, server_header=False)


async def run(config: Config,
              on_ready: Callable[[str, int], None] | None = None) -> None:
    """Serve until stopped (SIGINT/SIGTERM); `on_ready(host, port)` once listening."""
    sock = listening_socket(config.gateway.address, field="gateway.address")
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn_config(config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        if config.gateway.port_file:
            Path(config.gateway.port_file).write_text(f"{port}\n")
        log.info("JSON gateway on https://%s:%d -> %s (gRPC)", host, port,
                 settings_of(config).upstream.address)
        if on_ready is not None:
            on_ready(host, port)
    await task
    sock.close()


def serve(config: Config, on_ready: Callable[[str, int], None] | None = None) -> int:
    import uvloop

    uvloop.run(run(config, on_ready))
    return 0
