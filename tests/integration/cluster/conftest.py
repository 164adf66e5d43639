"""Cluster nodes on loopback sharing a throwaway PostgreSQL (docs/cluster.md).

One PostgreSQL cluster per session (nikgate/loadgen/servers.py PostgresServer), a fresh
database per test; nodes are in-process servers (build_server with their own node id,
LMDB control store, return-data directory and audit directory) or `nikgate serve`
subprocesses where a real kill -9 is needed. Skipped, saying why, only when PostgreSQL's
binaries are missing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import psycopg
import pytest

from nikgate.clients import Connection
from nikgate.loadgen.servers import PostgresServer, postgres_problem
from nikgate.server.access.admin import Admin

from ..conftest import ServerThread, full_grant

_dbs = itertools.count()


class Postgres(PostgresServer):
    """The throwaway server, which a test may also stop and start again (a node cut off
    from its database: the same data directory, the same port). A fast stop, not an
    immediate one: the throwaway runs with synchronous_commit off, so a crash would lose
    its last commits, which is not what these tests are about."""

    def dsn(self, dbname: str) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def pause(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w",
                 "start")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    problem = postgres_problem()
    if problem:
        pytest.skip(f"cluster tests need PostgreSQL's server binaries (`make peers`): "
                    f"{problem}")
    with Postgres(tmp_path_factory.mktemp("cluster-pg")) as pg:
        yield pg


@pytest.fixture
def cluster_dsn(postgres) -> str:
    """A fresh database for one test."""
    name = f"nikgate_t{next(_dbs)}"
    with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.dsn(name)


@pytest.fixture
def node_config(server_config, tmp_path, cluster_dsn):
    """node_config("n1", lease_block=50) -> the config of a node of the test's cluster."""
    def make(node_id: str, **cluster):
        root = tmp_path / node_id
        return server_config.with_overrides(
            server={"node_id": node_id},
            access={"store": str(root / "control")},
            return_data={"store": str(root / "returns")},
            audit={"directory": str(root / "audit"), "key": server_config.audit.key},
            cluster={"postgres_dsn": cluster_dsn, "heartbeat_seconds": 0.5, **cluster})
    return make


@pytest.fixture
def nodes(node_config):
    """nodes("n1", "n2", lease_block=50) -> started in-process nodes; stopped after."""
    started: list[ServerThread] = []

    def start(*ids: str, **cluster) -> list[ServerThread]:
        out = [ServerThread(node_config(i, **cluster)) for i in ids]
        started.extend(out)
        return out
    yield start
    for node in started:
        if node.running is not None:
            try:
                node.stop()
            except Exception:
                pass


@pytest.fixture
def conn_to(certs, tmp_path):
    """conn_to(port) -> bank-a's Connection to a node."""
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])

    def make(port: int) -> Connection:
        return Connection(f"127.0.0.1:{port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                          tmp_path / "c.key")
    return make


def grant_bank_a(node: ServerThread, **changes) -> Admin:
    """bank-a and its grant, stored through a node (PostgreSQL); returns the Admin."""
    admin = Admin(node.running.store)
    if "bank-a" not in node.running.store.snapshot()[1]:
        admin.add_institution("bank-a", "Bank A", "bank")
    admin.set_grant(full_grant("bank-a", **changes))
    return admin


def pg_rows(dsn: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()   # type: ignore[arg-type]


def write_node_config(path: Path, config) -> Path:
    """A TOML file for `nikgate serve` from a node's config (one worker)."""
    from ..test_serve import _write_config

    _write_config(path, config, workers=1, node_id=config.server.node_id)
    c = config.cluster
    with open(path, "a") as f:
        f.write("[cluster]\n"
                f'postgres_dsn = "{c.postgres_dsn}"\n'
                f"lease_block = {c.lease_block}\n"
                f"lease_seconds = {c.lease_seconds}\n"
                f"heartbeat_seconds = {c.heartbeat_seconds}\n")
    return path

