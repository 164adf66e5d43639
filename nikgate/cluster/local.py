"""A nikgate cluster on loopback: N `nikgate serve` nodes behind HAProxy.

For tests, benchmarks and `nikgate cluster up` (`make cluster-demo`). Each node is its own
`nikgate serve` process tree (supervisor and workers) with its own directory, as a node on
its own machine would have: an index replica filled by `nikgate index pull` from the
builder's index, its own control store (a copy of a seed store holding the grants), its
own return-data store and its own local, hash-chained audit log whose streams carry the
node's id (`node1-w0`). The nodes share the CA, the server certificate, the receipt
signing key and the audit NIK key, as real nodes share them through a secret store.

With `postgres=True` the cluster starts a throwaway PostgreSQL of its own
(nikgate.loadgen.servers.PostgresServer) under root/postgres, seeds it with the seed
store's institutions and grants, and gives every node `[cluster] postgres_dsn`: grants,
quota leases and return data are then shared (docs/cluster.md), and each node's LMDB
control store holds only its usage within its leases. `postgres_dsn` uses a PostgreSQL
already running instead. Without either, quotas and return data are per node: the nodes
share nothing but the index's content.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nikgate.loadgen.servers import PostgresServer, Started

from . import haproxy

if TYPE_CHECKING:
    from nikgate.server.cluster import ClusterControl

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def haproxy_binary() -> str | None:
    """The haproxy executable (Debian package `haproxy`), or None when it is missing."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)),
        None)


@dataclass(frozen=True)
class Shared:
    """What every node shares: the PKI files and the secrets."""

    ca: Path
    server_cert: Path
    server_key: Path
    crl: Path
    receipt_key: Path          # Ed25519 signing key (receipts verify with one public key)
    audit_key: Path            # NIK references must match across nodes' logs


@dataclass
class Node:
    node_id: str
    directory: Path
    port: int
    health_port: int
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.directory / "serve.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def index(self) -> Path:
        return self.directory / "index"

    @property
    def audit(self) -> Path:
        return self.directory / "audit"

    @property
    def config(self) -> Path:
        return self.directory / "nikgate.toml"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self, timeout: float = 2.0) -> int:
        """The HTTP status of the node's /health, or 0 when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.health_port}/health",
                                        timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0


class LocalCluster(Started):
    """`nodes` nikgate nodes and HAProxy on loopback, under `root`.

        with LocalCluster(root, shared, builder_index, seed_control, nodes=3) as cluster:
            cluster.balancer        # host:port of HAProxy
            cluster.addresses       # every node's host:port (client-side balancing)
            cluster.kill(1)         # kill -9 node 1's supervisor and its workers
    """

    def __init__(self, root: str | os.PathLike, shared: Shared, builder_index: Path,
                 seed_control: Path, *, nodes: int = 3, workers: int = 1,
                 settings: Mapping[str, Mapping[str, object]] | None = None,
                 checks: haproxy.Checks | None = None, balancer_port: int = 0,
                 use_haproxy: bool = True, postgres: bool = False,
                 postgres_dsn: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.shared = shared
        self.builder_index = Path(builder_index)
        self.seed_control = Path(seed_control)
        self.workers = workers
        self.settings = {k: dict(v) for k, v in (settings or {}).items()}
        self.checks = checks or haproxy.Checks()
        self.use_haproxy = use_haproxy
        self.balancer_port = balancer_port or free_port()
        self.nodes = [Node(f"node{i + 1}", self.root / f"node{i + 1}", free_port(),
                           free_port()) for i in range(nodes)]
        self.haproxy: subprocess.Popen | None = None
        self.own_postgres = postgres and not postgres_dsn
        self.postgres_dsn = postgres_dsn or None
        self.postgres: PostgresServer | None = None

    @property
    def shared_state(self) -> bool:
        """Nodes share grants, quotas and return data in PostgreSQL."""
        return self.own_postgres or self.postgres_dsn is not None

    # -- addresses -------------------------------------------------------------------------

    @property
    def balancer(self) -> str:
        return f"{HOST}:{self.balancer_port}"

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    @property
    def stats_socket(self) -> Path:
        return self.root / "haproxy.sock"

    # -- life cycle ------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Prepare every node (pull the index, copy the control store, write its config),
        start them, then HAProxy; returns once every node's /health is 200 and HAProxy
        sees them all UP."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.own_postgres and self.postgres is None:
            self.start_postgres()
        if self.postgres_dsn is not None:
            self.seed_postgres()
        for node in self.nodes:
            self.prepare(node)
        for node in self.nodes:
            self.start_node(node, wait=False)
        for node in self.nodes:
            self.wait_health(node, 200, timeout)
        if self.use_haproxy:
            self.start_haproxy()
            for node in self.nodes:
                self.wait_haproxy(node, "UP", timeout)

    def stop(self) -> None:
        """SIGTERM every node (drain; a cluster node returns its unused leases) and
        HAProxy; kill what has not exited in 20 s; then stop our own PostgreSQL."""
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                _reap(node.process, 20)
        if self.haproxy is not None:
            self.haproxy.send_signal(signal.SIGTERM)
            _reap(self.haproxy, 10)
            self.haproxy = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def start_postgres(self) -> None:
        """A throwaway PostgreSQL under root/postgres and a `nikgate` database in it."""
        import psycopg

        pg = PostgresServer(self.root / "postgres")
        pg.start()
        self.postgres = pg
        base = f"host={pg.host} port={pg.port} user={pg.user}"
        with psycopg.connect(f"{base} dbname={pg.dbname}", autocommit=True) as conn:
            conn.execute("CREATE DATABASE nikgate")
        self.postgres_dsn = f"{base} dbname=nikgate"

    def seed_postgres(self) -> tuple[int, int]:
        """Migrate the cluster database and put the seed store's institutions and grants
        in it (they were audited where the seed store was made); returns how many."""
        from nikgate.server.access.store import ControlStore
        from nikgate.server.cluster import copy_grants

        control = self.control()
        source = ControlStore.shared(self.seed_control)
        try:
            return copy_grants(source, control)
        finally:
            source.release()
            control.close()

    def control(self) -> ClusterControl:
        """The cluster's control state in PostgreSQL, opened from this process as a node
        named `seeder` (server/cluster open_control), for seeding and for tests that
        change grants: wrap it in nikgate.server.access.admin.Admin. Close it after."""
        from nikgate.server.cluster import open_control
        from nikgate.server.config import load_config

        if self.postgres_dsn is None:
            raise RuntimeError("this cluster has no shared state (postgres=False)")
        seeder = self.root / "seeder"
        seeder.mkdir(parents=True, exist_ok=True)
        (seeder / "nikgate.toml").write_text(
            "[server]\nnode_id = \"seeder\"\n[access]\nstore = "
            f"{_toml(str(seeder / 'control'))}\n[cluster]\npostgres_dsn = "
            f"{_toml(self.postgres_dsn)}\n")
        return open_control(load_config(seeder / "nikgate.toml"))

    def prepare(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        if not (node.index / "current").exists():
            self.pull(node)
        control = node.directory / "control"
        if self.own_postgres and control.exists():
            # its leases and usage belong to the database of an earlier run, now gone
            shutil.rmtree(control)
        if not self.shared_state and not control.exists():
            shutil.copytree(self.seed_control, control)
        node.config.write_text(self.node_config(node))

    def pull(self, node: Node) -> subprocess.CompletedProcess:
        """`nikgate index pull` from the builder's index into the node's (a live node
        swaps to what it publishes); raises RuntimeError when the pull fails."""
        result = subprocess.run(
            [*_nikgate(), "index", "pull", "--from", str(self.builder_index),
             "--index", str(node.index)],
            capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"index pull for {node.node_id} failed: "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}")
        return result

    def node_config(self, node: Node) -> str:
        s = self.shared
        sections: dict[str, dict[str, object]] = {
            "server": {"address": node.address, "workers": self.workers,
                       "node_id": node.node_id, "grace_seconds": 5.0,
                       # NOT_SERVING until HAProxy's checks have seen it (fall x inter)
                       "drain_seconds": self.checks.fall * self.checks.interval_ms / 1000
                       + 0.5},
            "index": {"path": str(node.index)},
            "tls": {"ca": str(s.ca), "cert": str(s.server_cert), "key": str(s.server_key),
                    "crl": str(s.crl)},
            "receipts": {"signing_key": str(s.receipt_key)},
            "access": {"store": str(node.directory / "control")},
            "audit": {"directory": str(node.audit), "key": str(s.audit_key)},
            "return_data": {"store": str(node.directory / "returns")},
            "metrics": {"address": f"{HOST}:{node.health_port}",
                        "directory": str(node.directory / "metrics")},
        }
        if self.postgres_dsn is not None:
            sections["cluster"] = {"postgres_dsn": self.postgres_dsn}
        for name, values in self.settings.items():
            sections.setdefault(name, {}).update(values)
        lines = [f"# node {node.node_id} of a loopback cluster (nikgate.cluster.local)"]
        for name, values in sections.items():
            lines.append(f"\n[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"

    def start_node(self, node: Node | int, wait: bool = True, timeout: float = 60.0) -> Node:
        node = self.node(node)
        if node.running:
            raise RuntimeError(f"{node.node_id} is already running")
        if not _bindable(node.port):
            # The port's connections are in TIME_WAIT after the node closed them, and `nikgate
            # serve` checks its port without SO_REUSEADDR (server/supervisor.py): move the
            # node to a new port and tell HAProxy (a real node would wait out TIME_WAIT).
            node.port = free_port()
            node.config.write_text(self.node_config(node))
            if self.haproxy is not None:
                haproxy.command(self.stats_socket, f"set server nikgate_nodes/{node.node_id} "
                                                   f"addr {HOST} port {node.port}")
        log = open(node.log, "ab")
        try:
            node.process = subprocess.Popen(
                [*_nikgate(), "serve", "--config", str(node.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            log.close()
        if wait:
            self.wait_health(node, 200, timeout)
        return node

    def ensure_up(self, node: Node | int, timeout: float = 60.0) -> None:
        """Node running and healthy: waits out a drain, restarts a stopped node."""
        node = self.node(node)
        if node.process is not None and node.running and node.health() != 200:
            _reap(node.process, timeout)          # draining: let it finish
        if not node.running:
            self.start_node(node, timeout=timeout)
        if self.use_haproxy:
            self.wait_haproxy(node, "UP", timeout)

    def kill(self, node: Node | int, sig: int = signal.SIGKILL) -> None:
        """Signal node's supervisor; with SIGKILL its workers too (they would get SIGTERM
        from the kernel and drain: a machine that dies does not drain)."""
        node = self.node(node)
        assert node.process is not None
        workers = _children(node.process.pid) if sig == signal.SIGKILL else []
        for pid in [node.process.pid, *workers]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGKILL:
            node.process.wait(10)

    def start_haproxy(self, timeout: float = 20.0) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy; `make "
                               "cluster-demo` installs it)")
        cfg = self.root / "haproxy.cfg"
        backends = [haproxy.Backend(n.node_id, n.address, f"{HOST}:{n.health_port}")
                    for n in self.nodes]
        # HAProxy needs two descriptors a connection and refuses to start above the limit.
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        maxconn = 20_000 if hard == resource.RLIM_INFINITY else min(20_000, (hard - 200) // 2)
        cfg.write_text(haproxy.render(backends, self.balancer, stats_socket=self.stats_socket,
                                      checks=self.checks, maxconn=maxconn))
        log = open(self.root / "haproxy.log", "ab")
        try:
            self.haproxy = subprocess.Popen([binary, "-db", "-f", str(cfg)],
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.haproxy.poll() is not None:
                raise RuntimeError("haproxy exited: " +
                                   (self.root / "haproxy.log").read_text()[-2000:])
            try:
                with socket.create_connection((HOST, self.balancer_port), timeout=0.5):
                    pass
                if self.stats_socket.exists():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not listen on {self.balancer} in {timeout} s")
            time.sleep(0.05)

    # -- observing -------------------------------------------------------------------------

    def node(self, node: Node | int) -> Node:
        return node if isinstance(node, Node) else self.nodes[node]

    def wait_health(self, node: Node | int, status: int, timeout: float = 60.0) -> None:
        node = self.node(node)
        deadline = time.monotonic() + timeout
        while (got := node.health(timeout=1.0)) != status:
            if status == 200 and node.process is not None and node.process.poll() is not None:
                raise RuntimeError(f"{node.node_id} exited: {_tail(node.log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.node_id} /health is {got}, not {status}, after "
                                   f"{timeout} s; log:\n{_tail(node.log)}")
            time.sleep(0.05)

    def haproxy_servers(self) -> dict[str, dict[str, str]]:
        return haproxy.stats(self.stats_socket)

    def wait_haproxy(self, node: Node | int, status: str, timeout: float = 30.0) -> None:
        """Until HAProxy reports `status` ("UP", "DOWN") for node (its first word: a
        server going down shows "UP 1/2" until `fall` checks failed)."""
        node = self.node(node)
        deadline = time.monotonic() + timeout
        while True:
            got = self.haproxy_servers()[node.node_id]["status"]
            if got == status:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy sees {node.node_id} {got}, not {status}")
            time.sleep(0.05)

    def connection_file(self, path: Path, institutions: Mapping[str, Mapping[str, str]],
                        receipt_public_key: Path | None = None, direct: bool = False) -> Path:
        """A connection.json whose `address` is HAProxy or, with `direct`, whose
        `addresses` are the nodes themselves (the Python client's own balancing; `address`
        is then the first node, for tools that dial one address). Certificate paths as
        given."""
        data: dict[str, object] = {
            "address": self.addresses[0] if direct or not self.use_haproxy else self.balancer,
            "server_name": "localhost", "ca": str(self.shared.ca),
            "institutions": {k: dict(v) for k, v in institutions.items()}}
        if direct:
            data["addresses"] = self.addresses
        if receipt_public_key is not None:
            data["receipt_public_key"] = str(receipt_public_key)
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def _nikgate() -> Sequence[str]:
    exe = Path(sys.executable).with_name("nikgate")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nikgate"]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _reap(process: subprocess.Popen, timeout: float) -> None:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
