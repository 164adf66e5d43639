"""A node killed holding a lease, and a node cut off from PostgreSQL (docs/cluster.md)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from nikgate import errors
from nikgate.clients import NikgateClient, ReturnDataSender, ReturnRecord

from ..test_serve import Served
from ..waiting import eventually
from .conftest import grant_bank_a, pg_rows, write_node_config

QUOTA = 300


def _serve_until_refused(conn, nik: str) -> int:
    served = 0
    with NikgateClient(conn) as c:
        while True:
            try:
                c.verify(nik, {"NAMA_LGKP": "X"})
            except errors.ResourceExhausted as e:
                assert "quota" in str(e), e
                return served
            served += 1


def test_kill_9_of_a_node_costs_its_unused_lease_until_it_comes_back(
        nodes, node_config, conn_to, index, cluster_dsn, tmp_path):
    (n1,) = nodes("n1", lease_block=100)
    grant_bank_a(n1, daily_quota=QUOTA)
    cfg2 = node_config("n2", lease_block=100, lease_seconds=2.0)
    path = write_node_config(tmp_path / "n2.toml", cfg2)
    nik = index.sample_niks(1)[0]
    served = Served(path, tmp_path / "n2.port")
    try:
        with NikgateClient(conn_to(served.port)) as c:
            for _ in range(30):
                c.verify(nik, {"NAMA_LGKP": "X"})
        rows = pg_rows(cluster_dsn, "SELECT leased FROM quota_leases WHERE node_id = 'n2'")
        assert rows == [(100,)]
        workers = served.workers()
        os.kill(served.proc.pid, signal.SIGKILL)        # the node, all of it, at once
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        served.proc.wait(10)
    finally:
        served.stop()
    # the others go on within what is left: the quota minus the dead node's whole lease
    assert _serve_until_refused(conn_to(n1.port), nik) == QUOTA - 100
    # its lease expires (no heartbeat) but stays counted: its 70 unused NIKs are lost...
    eventually(lambda: pg_rows(cluster_dsn, "SELECT expires_at < now() FROM quota_leases "
                                            "WHERE node_id = 'n2'") == [(True,)],
               timeout=5, what="n2's lease expired")
    assert _serve_until_refused(conn_to(n1.port), nik) == 0
    # ... until the node starts again with its store, which knows it used exactly 30
    again = Served(path, tmp_path / "n2b.port")
    try:
        eventually(lambda: pg_rows(cluster_dsn, "SELECT leased FROM quota_leases WHERE "
                                                "node_id = 'n2'") == [(30,)],
                   timeout=10, what="n2 returning its unused lease at start")
        assert _serve_until_refused(conn_to(n1.port), nik) == 70
    finally:
        again.stop()
    assert pg_rows(cluster_dsn, "SELECT leased FROM quota_days") == [(QUOTA,)]


def test_a_node_cut_off_from_postgresql(nodes, conn_to, index, postgres):
    (n1,) = nodes("n1", lease_block=200, lease_seconds=3.0)
    grant_bank_a(n1, daily_quota=1000, operations=("verify", "verify_batch", "lookup",
                                                   "return_data"),
                 return_data_kinds=("bank_cif",), return_deadline_days=30)
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn_to(n1.port)) as c:
        c.verify(nik, {"NAMA_LGKP": "X"})              # holds a lease of 200 now
        postgres.pause()
        try:
            # within its lease and its cached grants: verification goes on
            for _ in range(20):
                c.verify(nik, {"NAMA_LGKP": "X"})
            # what needs the database is refused, UNAVAILABLE with RetryInfo
            with pytest.raises(errors.ServiceUnavailable) as refused:
                ReturnDataSender(conn_to(n1.port), give_up_after=2).send(
                    [ReturnRecord("x-1", nik, "bank_cif", "CIF1")])
            assert "cluster database" in str(refused.value.__cause__ or refused.value)
            with pytest.raises(errors.StorageUnavailable, match="cluster database"):
                grant_bank_a(n1, daily_quota=5)
            # past lease_seconds without PostgreSQL: metered calls refused too
            time.sleep(3.2)
            with pytest.raises(errors.ServiceUnavailable, match="cut off") as late:
                c.verify(nik, {"NAMA_LGKP": "X"})
            assert late.value.retry_after and late.value.retry_after > 0
        finally:
            postgres.resume()
        # back: within a heartbeat it serves again, and return data is stored (the
        # access noted while cut off reached the ledger once the database was back)
        eventually(lambda: _verifies(c, nik), timeout=10, what="serving again")
        report = ReturnDataSender(conn_to(n1.port)).send(
            [ReturnRecord("x-1", nik, "bank_cif", "CIF1")])
        assert (report.stored, report.rejected) == (1, [])


def _verifies(c, nik: str) -> bool:
    try:
        c.verify(nik, {"NAMA_LGKP": "X"})
        return True
    except errors.ServiceUnavailable:
        return False

