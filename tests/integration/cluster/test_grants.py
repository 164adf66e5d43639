"""Grants and institutions in PostgreSQL: a change on one node reaches the others."""

from __future__ import annotations

import time

import pytest

from nikgate import errors
from nikgate.clients import NikgateClient

from ..waiting import eventually
from .conftest import grant_bank_a


def test_a_grant_change_on_one_node_reaches_the_other_within_a_second(nodes, conn_to,
                                                                       index):
    n1, n2 = nodes("n1", "n2")
    for n in (n1, n2):   # as deployed: look for changes every 0.2 s, not on every call
        n.running.policy.refresh_seconds = 0.2
    admin = grant_bank_a(n1)
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn_to(n2.port)) as c:
        eventually(lambda: c.verify(nik, {"NAMA_LGKP": "X"}), timeout=10,
                   what="n2 serving bank-a under the grant stored through n1")
        started = time.monotonic()
        admin.set_status("bank-a", "suspended", "test: suspended on n1")

        def refused() -> bool:
            try:
                c.verify(nik, {"NAMA_LGKP": "X"})
            except errors.PermissionDenied as e:
                assert "suspended" in str(e)
                return True
            return False
        eventually(refused, timeout=1.0, interval=0.01,
                   what="n2 refusing bank-a after the suspension on n1")
        took = time.monotonic() - started
    assert took < 1.0
    # and the change is the same record on both nodes
    assert n2.running.store.snapshot()[2]["bank-a"].status == "suspended"


def test_a_node_without_a_node_id_is_refused(node_config):
    from nikgate.server.cluster import open_cluster

    with pytest.raises(errors.InvalidInputError, match="node_id"):
        open_cluster(node_config("").with_overrides(server={"node_id": ""}))
