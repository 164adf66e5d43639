"""kill -9 of a node under load, with the nodes' state shared in PostgreSQL.

Three `nikgate serve` nodes behind HAProxy and a throwaway PostgreSQL, all started by the
cluster (nikgate.cluster.local, postgres=True), one cluster per test. With the shared
state a killed node's calls fail over, quotas stay exact (docs/cluster.md: the others
serve exactly the quota minus the dead node's lease; its unused part comes back when it
restarts with its store) and no acknowledged return data is lost (the sender resends
what was not acknowledged; resends of what the dead node had stored are DUPLICATE).
Bounded: a few thousand calls and records, well under a minute each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from nikgate import errors
from nikgate.clients import NikgateClient, ReturnDataSender, ReturnRecord
from nikgate.loadgen.servers import postgres_problem
from nikgate.server.access.admin import Admin
from nikgate.server.access.store import ControlStore, today_wib

from ..conftest import duty_grant, full_grant
from ..waiting import eventually
from .conftest import connection, make_cluster, needs_haproxy

pytestmark = [needs_haproxy,
              pytest.mark.skipif(postgres_problem() is not None,
                                 reason=f"needs PostgreSQL: {postgres_problem()}")]

QUOTA = 3000
BLOCK = 100
CLUSTER = {"lease_block": BLOCK, "lease_seconds": 3.0, "heartbeat_seconds": 0.5}


def _seed(path: Path, grant) -> Path:
    store = ControlStore(path)
    admin = Admin(store)
    admin.add_institution("bank-a", "Bank A", "bank")
    admin.set_grant(grant)
    store.close()
    return path


@pytest.fixture
def shared_cluster(cluster_shared, index_dir, tmp_path):
    """shared_cluster(grant) -> a started cluster whose seed store grants bank-a `grant`;
    stopped (PostgreSQL too) after the test."""
    started = []

    def start(grant):
        seed = _seed(tmp_path / "seed", grant)
        c = make_cluster(tmp_path / "cluster", cluster_shared, index_dir, seed,
                         postgres=True, settings={"cluster": CLUSTER})
        started.append(c)
        c.start()
        return c
    yield start
    for c in started:
        c.stop()


def _rows(cluster, sql: str, *args) -> list[tuple]:
    with psycopg.connect(cluster.postgres_dsn, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()   # type: ignore[arg-type]


class QuotaLoad:
    """Threads calling Verify through one connection each until their node says the
    quota is used up; successes counted, any other failure kept."""

    def __init__(self, conn, nik: str, threads: int = 6) -> None:
        self.served = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

        def loop() -> None:
            with NikgateClient(conn, deadline=5.0) as client:
                while not self._stop.is_set():
                    try:
                        client.verify(nik, {"NAMA_LGKP": "x"})
                    except errors.ResourceExhausted as e:
                        if "quota" in str(e):
                            return
                        with self._lock:
                            self.failures.append(f"{type(e).__name__}: {e}")
                    except Exception as e:   # judged by the test
                        with self._lock:
                            self.failures.append(f"{type(e).__name__}: {e}")
                    else:
                        with self._lock:
                            self.served += 1

        self.threads = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def wait_served(self, n: int, timeout: float = 30.0) -> None:
        eventually(lambda: self.served >= n, timeout=timeout,
                   what=f"{n} calls served (failures: {self.failures[:3]})")

    def join(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        assert not any(t.is_alive() for t in self.threads), "load did not end"


def _drain(files, addresses: list[str], nik: str) -> int:
    """Call each node directly until every one of them refuses for quota; how many were
    served (a node refusing may leave lease on another: rounds until none serves)."""
    total = 0
    while True:
        this_round = 0
        for address in addresses:
            with NikgateClient(connection(files, address)) as client:
                while True:
                    try:
                        client.verify(nik, {"NAMA_LGKP": "x"})
                    except errors.ResourceExhausted as e:
                        assert "quota" in str(e), e
                        break
                    this_round += 1
        total += this_round
        if this_round == 0:
            return total


def test_kill_9_under_load_quota_stays_exact(shared_cluster, bank_files, index):
    """6 clients through HAProxy on a quota of 3,000 (leases of 100); node1 killed -9
    after 600 calls. The others serve exactly the quota minus node1's lease, never more;
    node1 back with its store returns what it had not used, and exactly that is served."""
    cluster = shared_cluster(full_grant("bank-a", daily_quota=QUOTA))
    nik = index.sample_niks(1)[0]
    day = today_wib(time.time())
    load = QuotaLoad(connection(bank_files, cluster.balancer), nik)
    load.wait_served(600)
    victim = cluster.nodes[0]
    cluster.kill(victim)                          # supervisor and worker, no drain
    load.join()
    assert load.failures == [], load.failures[:5]  # every call failed over, or was served
    survivors = [n.address for n in cluster.nodes[1:]]
    served = load.served + _drain(bank_files, survivors, nik)

    (victim_leased,), = _rows(cluster, "SELECT leased FROM quota_leases WHERE node_id = "
                                       "'node1'")
    store = ControlStore(victim.directory / "control")   # the dead node's own count
    try:
        victim_used = store.lease("bank-a", day)[0]
    finally:
        store.close()
    assert 0 < victim_used <= victim_leased
    # the day's quota all leased, never more; the survivors used exactly what is not node1's
    assert _rows(cluster, "SELECT leased FROM quota_days") == [(QUOTA,)]

    def survivors_used() -> int:
        return _rows(cluster, "SELECT sum(used) FROM quota_leases WHERE node_id <> "
                              "'node1'")[0][0]
    eventually(lambda: survivors_used() == QUOTA - victim_leased, timeout=5,
               what="the survivors' heartbeats reporting their use")
    # answered: everything counted but node1's unused lease, less the answers node1 had
    # counted but not yet sent when it died (at most one call in flight per client)
    lost = QUOTA - (victim_leased - victim_used) - served
    assert 0 <= lost <= len(load.threads), (served, victim_used, victim_leased)

    cluster.start_node(victim)                    # with its store: it returns the rest
    eventually(lambda: _rows(cluster, "SELECT leased FROM quota_leases WHERE node_id = "
                                      "'node1'") == [(victim_used,)],
               timeout=15, what="node1 returning its unused lease at start")
    assert _drain(bank_files, cluster.addresses, nik) == victim_leased - victim_used
    eventually(lambda: _rows(cluster, "SELECT sum(used) FROM quota_leases") == [(QUOTA,)],
               timeout=5, what="every node's use reported")
    assert _rows(cluster, "SELECT leased FROM quota_days") == [(QUOTA,)]


RECORDS = 2000


def test_kill_9_while_return_data_streams_loses_nothing_acknowledged(
        shared_cluster, bank_files, index):
    """ReturnDataSender through HAProxy; the node holding its stream killed -9 after 400
    records were acknowledged. The sender resumes on another node; afterwards every
    record is in PostgreSQL exactly once, everything acknowledged among them, and what
    the dead node stored without answering comes back DUPLICATE."""
    cluster = shared_cluster(duty_grant())
    niks = index.sample_niks(RECORDS, start=3300000000000000)
    assert len(niks) == RECORDS
    with NikgateClient(connection(bank_files, cluster.balancer)) as client:
        for i in range(0, RECORDS, 500):
            client.verify_batch(niks[i:i + 500], {"NAMA_LGKP": [None] * 500})
    eventually(lambda: _rows(cluster, "SELECT count(*) FROM access_ledger") ==
               [(RECORDS,)], timeout=10, what="the accesses in the shared ledger")

    acked: set[str] = set()
    lock = threading.Lock()

    def on_ack(records: list[ReturnRecord], _receipt: bytes) -> None:
        with lock:
            acked.update(r.record_id for r in records)

    def records() -> Iterator[ReturnRecord]:
        for i, nik in enumerate(niks):
            if i % 50 == 0:
                time.sleep(0.03)                 # ~1.2 s in all: the kill lands mid-stream
            yield ReturnRecord(f"r-{i}", nik, "bank_cif", f"CIF{i:06d}")

    result: dict[str, object] = {}

    def send() -> None:
        sender = ReturnDataSender(connection(bank_files, cluster.balancer), batch_size=50,
                                  window=4, give_up_after=30, on_ack=on_ack)
        try:
            result["report"] = sender.send(records())
        except Exception as e:     # judged below
            result["error"] = e
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    eventually(lambda: len(acked) >= 400, timeout=20, what="400 records acknowledged")
    carrying = [n for n in cluster.nodes
                if int(cluster.haproxy_servers()[n.node_id]["scur"]) > 0]
    assert len(carrying) == 1, cluster.haproxy_servers()
    cluster.kill(carrying[0])
    thread.join(60)
    assert "error" not in result, result.get("error")
    report = result["report"]
    assert report.rejected == [] and report.reconnects >= 1      # type: ignore[attr-defined]
    assert report.stored + report.duplicates == RECORDS           # type: ignore[attr-defined]
    assert acked == {f"r-{i}" for i in range(RECORDS)}
    stored = dict(_rows(cluster, "SELECT record_id, value FROM return_records WHERE "
                                 "institution = 'bank-a'"))
    assert len(stored) == RECORDS                                 # each exactly once
    assert all(stored[f"r-{i}"] == f"CIF{i:06d}" for i in range(RECORDS))
