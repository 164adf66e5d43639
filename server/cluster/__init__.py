"""Cluster mode: the state nodes share, in PostgreSQL (docs/cluster.md).

`open_cluster(config)` is what server/app.py calls when `[cluster] postgres_dsn` is set:
it connects, runs the schema's migrations, and returns the node's control state
(control.py: grants, institutions, SAMs and challenges in PostgreSQL; usage counted in
the node's own LMDB control store within quota leases, leases.py; the scraping guard's
windows exchanged, scraping.py) and its return-data store (returns.py). The single-node
default never imports this package, nor psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass

from nikgate.errors import InvalidInputError

from ..access.store import ControlStore
from ..config import Config
from .control import ClusterControl
from .db import Database
from .leases import QuotaLeases
from .returns import PgReturnStore
from .schema import migrate
from .scraping import ClusterScrapingStates

__all__ = ["Cluster", "ClusterControl", "Database", "PgReturnStore", "copy_grants",
           "open_cluster", "open_control"]


@dataclass
class Cluster:
    db: Database
    control: ClusterControl
    returns: PgReturnStore


def open_cluster(config: Config) -> Cluster:
    """Connect this worker to the cluster database (migrating it if need be)."""
    c = config.cluster
    node_id = config.server.node_id
    if not node_id:
        raise InvalidInputError("[cluster] postgres_dsn is set but [server] node_id is "
                                "empty: every node of a cluster needs its own name",
                                field="server.node_id")
    db = Database(c.postgres_dsn, node_id, c.pool_size, c.connect_timeout_seconds,
                  c.statement_timeout_seconds)
    try:
        migrate(db)
        # the node's own LMDB control store: usage, rate buckets, scraping hot state
        local = ControlStore.shared(config.access.store)
        leases = QuotaLeases(local, db, c.lease_block, c.lease_seconds, c.heartbeat_seconds)
        scraping = ClusterScrapingStates(local, db, c.scraping_sync_seconds)
        control = ClusterControl(local, db, leases, scraping)
    except BaseException:
        db.close()
        raise
    return Cluster(db, control, PgReturnStore(db))


def open_control(config: Config) -> ClusterControl:
    """The cluster's control state for administering it from outside a server (`nikgate
    grant` / `institution` with a cluster config, seeding a new cluster): the same
    ClusterControl a worker uses, under the node's name (its admin intents are settled
    against that node's admin audit stream) and with the node's own LMDB store for its
    usage counts, but no listener, heartbeat or lease thread, and closing it (`close()`) returns no
    lease."""
    c = config.cluster
    node_id = config.server.node_id
    if not node_id:
        raise InvalidInputError("[cluster] postgres_dsn is set but [server] node_id is "
                                "empty: administer the cluster as one of its nodes",
                                field="server.node_id")
    db = Database(c.postgres_dsn, node_id, 2, c.connect_timeout_seconds,
                  c.statement_timeout_seconds)
    try:
        migrate(db)
        local = ControlStore.shared(config.access.store)
        leases = QuotaLeases(local, db, c.lease_block, c.lease_seconds, c.heartbeat_seconds)
        scraping = ClusterScrapingStates(local, db, c.scraping_sync_seconds)
        return ClusterControl(local, db, leases, scraping)
    except BaseException:
        db.close()
        raise


def copy_grants(source: ControlStore, target: ClusterControl) -> tuple[int, int]:
    """Put the institutions and grants of an LMDB control store into the cluster's
    (seeding a new cluster from a single node's store; those changes were audited where
    they were made). Returns (institutions, grants) copied."""
    _, institutions, grants = source.snapshot()
    for institution in institutions.values():
        target.put_institution(institution)
    for grant in grants.values():
        target.put_grant(grant)
    return len(institutions), len(grants)
