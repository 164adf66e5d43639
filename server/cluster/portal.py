"""The web portal's store in the cluster's PostgreSQL (docs/portal.md, docs/cluster.md).

PgPortalStore is nikgate/portal/store.py's PortalStore with its tables in PostgreSQL's
`portal` schema (migration 2) instead of a SQLite file: the same statements (`?` becomes
`%s`), each transaction with `SET LOCAL search_path = portal`. So every portal instance
configured with the same `[cluster] postgres_dsn` shares the accounts (password hashes,
TOTP secrets and last steps, lockout counters, set-password links), the sessions, the
activity log, the per-day counts and the anonymous CSRF key: a user signed in on one
instance is signed in on the others, and failed sign-ins count towards one lockout.
The local state directory is still used for the temporary files of batch uploads.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from nikgate.errors import InvalidInputError
from nikgate.portal.store import PortalStore

from ..config import Config
from .db import Database
from .schema import migrate


class _Conn:
    """A psycopg connection that takes the portal store's `?` placeholders."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: tuple | list = ()) -> Any:
        return self._conn.execute(sql.replace("?", "%s"), tuple(args))


class PgPortalStore(PortalStore):
    def __init__(self, directory: str | os.PathLike, db: Database) -> None:
        # not PortalStore.__init__: no SQLite file, the tables are in PostgreSQL
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = db

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        with self.db.transaction("the portal's accounts and sessions") as conn:
            conn.execute("SET LOCAL search_path = portal")
            yield _Conn(conn)

    _read = _tx

    def secret(self, name: str, size: int = 32) -> bytes:
        """A random key shared by every portal instance (made on first use)."""
        with self._tx() as db:
            db.execute("INSERT INTO secrets VALUES (?, ?) ON CONFLICT DO NOTHING",
                       (name, secrets.token_bytes(size)))
            return bytes(db.execute("SELECT value FROM secrets WHERE name=?",
                                    (name,)).fetchone()[0])


def open_portal_store(config: Config) -> PgPortalStore:
    """The portal's store in the cluster database named by `[cluster] postgres_dsn`
    (migrating it if need be); `[portal] state` stays the local directory."""
    c = config.cluster
    if not c.postgres_dsn:
        raise InvalidInputError("the portal's PostgreSQL store needs [cluster] postgres_dsn",
                                field="cluster.postgres_dsn")
    db = Database(c.postgres_dsn, config.server.node_id or "portal", c.pool_size,
                  c.connect_timeout_seconds, c.statement_timeout_seconds)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return PgPortalStore(config.portal.state, db)
