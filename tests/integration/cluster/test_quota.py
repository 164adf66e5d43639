"""Quotas exact across nodes: leases of the day's quota, counted on each node."""

from __future__ import annotations

import threading

from nikgate import errors
from nikgate.clients import NikgateClient

from .conftest import grant_bank_a, pg_rows

QUOTA = 600


def _hammer(conn, nik: str, served: list[int], i: int) -> None:
    with NikgateClient(conn) as c:
        while True:
            try:
                c.verify(nik, {"NAMA_LGKP": "X"})
            except errors.ResourceExhausted as e:
                assert "quota" in str(e), e
                return
            served[i] += 1


def test_quota_is_exact_across_three_nodes_under_concurrent_load(nodes, conn_to, index,
                                                                  cluster_dsn):
    n1, n2, n3 = nodes("n1", "n2", "n3", lease_block=40)
    grant_bank_a(n1, daily_quota=QUOTA)
    for n in (n2, n3):
        n.running.policy.refresh(force=True)
    nik = index.sample_niks(1)[0]
    served = [0] * 6
    threads = [threading.Thread(target=_hammer, args=(conn_to(n.port), nik, served, i))
               for i, n in enumerate((n1, n2, n3, n1, n2, n3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(served) == QUOTA, served            # never more, and nothing lost
    assert all(served[i] + served[i + 3] for i in range(3)), "every node served some"
    (leased,), = pg_rows(cluster_dsn, "SELECT leased FROM quota_days")
    assert leased == QUOTA
    used = [n.running.store.local.lease("bank-a", _today())[0] for n in (n1, n2, n3)]
    assert sum(used) == QUOTA
    # the admin's view: this node's exact counts plus the others' last reports
    n1.running.store.leases.heartbeat()
    n2.running.store.leases.heartbeat()
    n3.running.store.leases.heartbeat()
    assert n1.running.store.usage("bank-a", _today()).total == QUOTA


def test_a_stopping_node_gives_its_unused_lease_back(nodes, conn_to, index, cluster_dsn):
    n1, n2 = nodes("n1", "n2", lease_block=100)
    grant_bank_a(n1, daily_quota=150)
    n2.running.policy.refresh(force=True)
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn_to(n2.port)) as c:
        for _ in range(10):
            c.verify(nik, {"NAMA_LGKP": "X"})
    n2.stop()                                   # 90 of its 100 go back
    rows = pg_rows(cluster_dsn, "SELECT node_id, leased FROM quota_leases")
    assert ("n2", 10) in rows
    served = [0]
    _hammer(conn_to(n1.port), nik, served, 0)
    assert served[0] == 140


def _today() -> str:
    import time

    from nikgate.server.access.store import today_wib
    return today_wib(time.time())
