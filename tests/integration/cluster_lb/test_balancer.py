"""Three nodes behind HAProxy on loopback: health, draining, kill -9, client balancing.

Bounded: one cluster for the module (3 nodes, one worker each), loads of 6 client threads
for a few seconds. Nodes share nothing but the index's content (each pulled its own copy)
and the PKI; quotas and return data are per node here.
"""

from __future__ import annotations

import signal
import time

import pytest

from .conftest import Load, connection, make_cluster, needs_haproxy

pytestmark = needs_haproxy


@pytest.fixture(scope="module")
def cluster(cluster_shared, index_dir, seed_control, tmp_path_factory):
    c = make_cluster(tmp_path_factory.mktemp("cluster"), cluster_shared, index_dir,
                     seed_control)
    with c:
        yield c


@pytest.fixture
def all_up(cluster):
    """Every node running and UP in HAProxy before and after the test."""
    def restore():
        for node in cluster.nodes:
            cluster.ensure_up(node)
    restore()
    yield cluster
    restore()


def _sessions(cluster) -> dict[str, int]:
    return {name: int(row["stot"]) for name, row in cluster.haproxy_servers().items()}


def test_each_node_answers_health_200_and_calls_through_haproxy(all_up, bank_files, index):
    from nikgate.clients import NikgateClient

    nik = index.sample_niks(1)[0]
    for node in all_up.nodes:
        assert node.health() == 200
    before = _sessions(all_up)
    for _ in range(6):   # a new connection each: leastconn spreads them
        with NikgateClient(connection(bank_files, all_up.balancer)) as client:
            reply = client.verify(nik, {"NAMA_LGKP": "x"})
            assert reply.message.transaction_id
    after = _sessions(all_up)
    assert all(after[n] > before[n] for n in after), (before, after)


def test_the_node_sees_the_client_certificate_through_haproxy(all_up, bank_files, index,
                                                              certs, tmp_path):
    """TCP mode: TLS ends at the node, so a certificate of another CA is refused by the
    node's handshake, and the audit record names the institution of the certificate."""
    from nikgate import errors
    from nikgate.clients import NikgateClient
    from nikgate.server.audit import tail

    (tmp_path / "o.key").write_bytes(certs.other_ca[0])
    (tmp_path / "o.crt").write_bytes(certs.other_ca[1])
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    from nikgate.clients import Connection

    foreign = Connection(all_up.balancer, tmp_path / "ca.crt", tmp_path / "o.crt",
                         tmp_path / "o.key")
    with NikgateClient(foreign, deadline=3) as client, \
            pytest.raises((errors.ServiceUnavailable, errors.Unauthenticated)):
        client.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "x"})
    with NikgateClient(connection(bank_files, all_up.balancer)) as client:
        tx = client.verify(index.sample_niks(1)[0], {"NAMA_LGKP": "x"}).message.transaction_id
    seen = [r for node in all_up.nodes for r in tail(node.audit, 50) if r.get("tx") == tx]
    assert len(seen) == 1 and seen[0]["institution"] == "bank-a"
    assert seen[0]["stream"].startswith("node")


def test_a_draining_node_answers_503_and_haproxy_stops_sending_to_it(all_up, bank_files,
                                                                     index):
    """SIGTERM: health NOT_SERVING at once (503), HAProxy marks the node DOWN, new
    connections go to the others; calls under load do not fail."""
    nik = index.sample_niks(1)[0]
    load = Load(connection(bank_files, all_up.balancer), nik)
    try:
        load.wait_calls(50)
        node = all_up.nodes[1]
        all_up.kill(node, signal.SIGTERM)       # NOT_SERVING for drain_seconds, then drains
        all_up.wait_health(node, 503, timeout=5)
        all_up.wait_haproxy(node, "DOWN", timeout=5)
        before = _sessions(all_up)[node.node_id]
        from nikgate.clients import NikgateClient
        for _ in range(6):
            with NikgateClient(connection(bank_files, all_up.balancer)) as client:
                client.verify(nik, {"NAMA_LGKP": "x"})
        assert _sessions(all_up)[node.node_id] == before
        load.wait_calls(50)
    finally:
        load.finish()
    assert load.failures == [], load.failures[:5]


@pytest.mark.parametrize("via", ["haproxy", "client"])
def test_kill_9_of_a_node_under_load_fails_over(all_up, bank_files, index, via):
    """kill -9 of one node's supervisor and workers while 6 clients call Verify, through
    HAProxy or with the client's own round_robin over the node addresses: calls in flight
    on the killed node are retried (UNAVAILABLE, on another node), so none fails."""
    nik = index.sample_niks(1)[0]
    conn = (connection(bank_files, all_up.balancer) if via == "haproxy" else
            connection(bank_files, all_up.addresses[0], tuple(all_up.addresses)))
    load = Load(conn, nik)
    try:
        load.wait_calls(100)
        victim = all_up.nodes[0]
        killed_at = load.calls
        all_up.kill(victim)                      # SIGKILL: no drain, connections reset
        if via == "haproxy":
            all_up.wait_haproxy(victim, "DOWN", timeout=5)
        load.wait_calls(200)
        assert load.calls > killed_at + 200
    finally:
        load.finish()
    # Each client thread has one call in flight at most: the in-flight calls on the killed
    # node are the most that may fail; the retry policy is expected to save them all.
    assert len(load.failures) <= 6, load.failures
    assert load.failures == [], load.failures[:5]


def test_a_node_back_after_a_kill_gets_connections_again(all_up, bank_files, index):
    from nikgate.clients import NikgateClient

    node = all_up.nodes[2]
    all_up.kill(node)
    all_up.wait_haproxy(node, "DOWN", timeout=5)
    all_up.start_node(node)
    all_up.wait_haproxy(node, "UP", timeout=10)
    before = _sessions(all_up)[node.node_id]
    nik = index.sample_niks(1)[0]
    deadline = time.monotonic() + 10
    while _sessions(all_up)[node.node_id] == before and time.monotonic() < deadline:
        with NikgateClient(connection(bank_files, all_up.balancer)) as client:
            client.verify(nik, {"NAMA_LGKP": "x"})
    assert _sessions(all_up)[node.node_id] > before


def test_audit_commands_read_every_nodes_log_together(all_up, bank_files, index,
                                                      cluster_shared):
    """Each node keeps its own hash-chained log, streams named after it; who-accessed,
    usage and verify read the three directories as one."""
    import datetime as dt
    import json

    from nikgate.clients import NikgateClient

    from ...conftest import run_cli

    nik = index.sample_niks(20)[17]
    calls = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with NikgateClient(connection(bank_files, all_up.balancer)) as client:
            client.verify(nik, {"NAMA_LGKP": "x"})
        calls += 1
        if calls >= 6 and sum(1 for n in all_up.nodes if _names(n, nik, cluster_shared)) >= 2:
            break
    assert sum(1 for n in all_up.nodes if _names(n, nik, cluster_shared)) >= 2
    dirs = [str(n.audit) for n in all_up.nodes]
    who = run_cli("audit", "who-accessed", "-", "--dir", *dirs, "--key",
                  str(cluster_shared.audit_key), "--json", input=nik + "\n")
    assert who.returncode == 0, who.stderr
    found = json.loads(who.stdout)
    assert len(found) == calls
    assert len({r["stream"] for r in found}) >= 2     # node1-w0, node2-w0, ...
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
    usage = run_cli("audit", "usage", "--institution", "bank-a", "--from", today, "--to",
                    today, "--json", *(a for d in dirs for a in ("--dir", d)))
    assert usage.returncode == 0, usage.stderr
    per_node = [json.loads(run_cli("audit", "usage", "--dir", d, "--institution", "bank-a",
                                   "--from", today, "--to", today, "--json").stdout)
                for d in dirs]
    total = sum(r["calls"] for u in per_node for r in u["totals"])
    assert sum(r["calls"] for r in json.loads(usage.stdout)["totals"]) == total > calls
    verify = run_cli("audit", "verify", "--dir", *dirs)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for n in all_up.nodes:
        assert f"{n.node_id}-w0" in verify.stdout


def _names(node, nik, shared) -> bool:
    from nikgate.server.audit import who_accessed

    return bool(who_accessed(node.audit, shared.audit_key, nik))
