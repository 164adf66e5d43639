"""`nikgate portal`: build the portal from the configuration and serve it over HTTPS."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import uvicorn

from nikgate.errors import InvalidInputError
from nikgate.server.config import Config
from nikgate.serving import listening_socket

from .app import build_app
from .backend import Nikgate, Target
from .store import PortalStore
from .web import Portal, Settings

log = logging.getLogger("nikgate.portal")


def resolve(config: Config, base: Path) -> Config:
    """[portal] paths relative to the config file's directory (as load_config does for
    the server's own sections)."""
    import dataclasses

    p = config.portal

    def fix(value: str) -> str:
        return str(base / value) if value and not os.path.isabs(value) else value

    return dataclasses.replace(config, portal=dataclasses.replace(
        p, state=fix(p.state), https_cert=fix(p.https_cert), https_key=fix(p.https_key),
        client_cert=fix(p.client_cert), client_key=fix(p.client_key),
        port_file=fix(p.port_file)))


def settings_of(config: Config) -> Settings:
    p = config.portal
    return Settings(state=Path(p.state), idle_seconds=p.idle_timeout_seconds,
                    absolute_seconds=p.absolute_timeout_seconds, max_failures=p.max_failures,
                    signin_per_minute=p.signin_per_minute, link_hours=p.set_password_hours,
                    max_batch_rows=p.max_batch_rows, public_url=p.public_url)


def target_of(config: Config) -> Target:
    p = config.portal
    return Target(p.nikgate_address or config.server.address, Path(config.tls.ca),
                  Path(p.client_cert), Path(p.client_key))


def open_store(config: Config) -> PortalStore:
    """SQLite in `[portal] state`; with `[cluster] postgres_dsn`, the cluster's PostgreSQL
    (server/cluster/portal.py), shared by every portal instance."""
    if config.cluster.postgres_dsn:
        from nikgate.server.cluster.portal import open_portal_store

        return open_portal_store(config)
    return PortalStore(config.portal.state)


async def _purge(store: PortalStore, settings: Settings) -> None:
    while True:
        await asyncio.sleep(min(60.0, settings.idle_seconds))
        store.purge(settings.idle_seconds, settings.absolute_seconds)


async def serve_async(config: Config,
                      on_ready: Callable[[str, int], None] | None = None) -> None:
    """Serve until cancelled or SIGINT/SIGTERM; `on_ready(host, port)` once listening."""
    p = config.portal
    for what, path in (("https_cert", p.https_cert), ("https_key", p.https_key),
                       ("client_cert", p.client_cert), ("client_key", p.client_key)):
        if not Path(path).is_file():
            raise InvalidInputError(f"[portal] {what} {path} does not exist", field=what)
    settings = settings_of(config)
    store = open_store(config)
    portal = Portal(settings, store, Nikgate(target_of(config)))
    app = build_app(portal)
    sock = listening_socket(p.address, field="portal.address", backlog=512)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(
        app, ssl_certfile=p.https_cert, ssl_keyfile=p.https_key, log_config=None,
        access_log=False, server_header=False, date_header=True, timeout_graceful_shutdown=5,
        limit_concurrency=2000, h11_max_incomplete_event_size=64 * 1024))
    purge = asyncio.get_running_loop().create_task(_purge(store, settings))
    if p.port_file:
        tmp = Path(p.port_file + ".tmp")
        tmp.write_text(f"{port}\n")
        tmp.rename(p.port_file)
    log.info("portal serving https://%s:%d (nikgate at %s)", host, port,
             target_of(config).address)
    if on_ready is not None:
        on_ready(host, port)
    try:
        await server.serve(sockets=[sock])
    finally:
        purge.cancel()
        store.close()
        sock.close()


def serve(config: Config, on_ready: Callable[[str, int], None] | None = None) -> int:
    """Run the portal in this process until SIGINT/SIGTERM; returns the exit status."""
    import uvloop

    uvloop.run(serve_async(config, on_ready))
    return 0
