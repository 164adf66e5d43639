"""A rolling update of the index across the cluster: node by node, zero failed calls.

The builder publishes a new generation; each node in turn pulls it (`nikgate index pull`)
and swaps live (server/index_holder.py) while clients call through HAProxy. A node is
checked serving the new generation, and answering with its data, before the next one
pulls: a bad generation stops at the first node.
"""

from __future__ import annotations

import re
import time
import urllib.request

from nikgate.clients import NikgateClient
from nikgate.engine.build import build_index
from nikgate.engine.layout import current_generation
from nikgate.v1 import common_pb2

from ..test_live_generations import changed_export
from .conftest import Load, connection, make_cluster, needs_haproxy

pytestmark = needs_haproxy


def _serves(node) -> set[str]:
    """The generations the node's workers serve now (its merged metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{node.health_port}/metrics",
                                timeout=5) as r:
        text = r.read().decode()
    return set(re.findall(r'nikgate_index_generation\{generation="([^"]+)"[^}]*\} 1\.0', text))


def test_rolling_update_node_by_node_with_zero_failed_calls(cluster_shared, index_copy,
                                                            seed_control, export_csv,
                                                            bank_files, tmp_path):
    builder = index_copy
    with make_cluster(tmp_path / "cluster", cluster_shared, builder, seed_control) as c:
        _, renamed = changed_export(export_csv, tmp_path / "changed.csv", 7, 8, "DEWI BARU")
        old = current_generation(builder).name
        assert all(_serves(n) == {old} for n in c.nodes)
        load = Load(connection(bank_files, c.balancer), renamed, threads=6)
        try:
            load.wait_calls(100)
            build_index(tmp_path / "changed.csv", builder)     # the builder publishes
            new = current_generation(builder).name
            assert new != old
            for i, node in enumerate(c.nodes):
                c.pull(node)
                deadline = time.monotonic() + 30
                while _serves(node) != {new}:
                    assert time.monotonic() < deadline, _serves(node)
                    time.sleep(0.05)
                with NikgateClient(connection(bank_files, node.address)) as direct:
                    reply = direct.verify(renamed, {"NAMA_LGKP": "DEWI BARU"})
                    assert reply.message.fields[0].outcome == common_pb2.OUTCOME_MATCH
                for later in c.nodes[i + 1:]:
                    assert _serves(later) == {old}    # not yet: one node at a time
                load.wait_calls(50)
        finally:
            load.finish()
        assert load.failures == [], load.failures[:5]
        assert load.calls > 200
