"""`nikgate institution` / `nikgate grant` with a cluster node's config: PostgreSQL, audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nikgate import errors
from nikgate.clients import NikgateClient
from nikgate.server.audit import tail

from ...conftest import run_cli
from ..waiting import eventually
from .conftest import pg_rows, write_node_config


def test_grant_cli_with_a_cluster_config_administers_postgresql(
        nodes, node_config, conn_to, index, cluster_dsn, tmp_path):
    (n1,) = nodes("n1")
    cfg2 = node_config("n2")                   # the CLI acts as node n2 (not running)
    path = write_node_config(tmp_path / "n2.toml", cfg2)
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()

    def cli(*args: str):
        done = run_cli(*args, "--config", str(path), "--operator", "ops-test")
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    cli("institution", "add", "bank-a", "--name", "Bank A", "--kind", "bank")
    cli("grant", "set", "bank-a", "--operations", "verify", "--fields",
        "verify=NAMA_LGKP,TGL_LHR", "--until", until, "--quota", "5")
    assert pg_rows(cluster_dsn, "SELECT id FROM institutions") == [("bank-a",)]
    # the running node n1 picks it up (NOTIFY) and counts the quota within its leases
    nik = index.sample_niks(1)[0]
    with NikgateClient(conn_to(n1.port)) as c:
        eventually(lambda: c.verify(nik, {"NAMA_LGKP": "X"}), timeout=3,
                   what="n1 serving bank-a's new grant")
        for _ in range(4):
            c.verify(nik, {"NAMA_LGKP": "X"})
        with pytest.raises(errors.ResourceExhausted, match="quota"):
            c.verify(nik, {"NAMA_LGKP": "X"})
    listed = json.loads(cli("institution", "list", "--json").stdout)
    assert [(r["id"], r["status"]) for r in listed] == [("bank-a", "active")]
    shown = json.loads(cli("grant", "show", "bank-a").stdout)
    assert shown["daily_quota"] == 5
    # suspended through the CLI: refused on the running node within a second
    cli("grant", "suspend", "bank-a", "--reason", "test: PKS under review")
    with NikgateClient(conn_to(n1.port)) as c:
        def refused() -> bool:
            try:
                c.verify(nik, {"NAMA_LGKP": "X"})
            except errors.PermissionDenied:
                return True
            except errors.ResourceExhausted:
                return False
            return False
        eventually(refused, timeout=1.5, what="the suspension reaching n1")
    # each change audited on n2's admin stream, in n2's audit directory; nothing pending
    records = [r for r in tail(cfg2.audit.directory, 50) if r.get("stream") == "admin"
               and str(r.get("method", "")).startswith("admin/")]
    methods = [r.get("method") for r in records]
    assert methods.count("admin/institution.add") == 1, records
    assert methods.count("admin/grant.set") == 1, records
    assert len(records) == 3 and all(r.get("result") == "OK" for r in records), records
    assert all("ops-test" in json.dumps(r) for r in records)
    assert pg_rows(cluster_dsn, "SELECT count(*) FROM admin_intents") == [(0,)]


def test_sam_cli_with_a_cluster_config_administers_postgresql(
        node_config, cluster_dsn, tmp_path):
    from nikgate.server.access.admin import Admin
    from nikgate.server.cluster import open_control

    cfg2 = node_config("n2")                   # the CLI acts as node n2
    path = write_node_config(tmp_path / "n2.toml", cfg2)
    (tmp_path / "pki").mkdir()
    (tmp_path / "secret").write_text("rahasia-cabang\n")

    def cli(*args: str):
        done = run_cli(*args, "--config", str(path), "--operator", "ops-test")
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    cli("institution", "add", "bank-a", "--name", "Bank A", "--kind", "bank")
    cli("sam", "issue", "--institution", "bank-a", "--out", str(tmp_path / "sam.json"),
        "--sam-id", "SAM-0001", "--secret-file", str(tmp_path / "secret"), "--pki",
        str(tmp_path / "pki"))
    assert pg_rows(cluster_dsn, "SELECT sam_id FROM sams") == [("SAM-0001",)]
    cli("sam", "activate", "SAM-0001", "--reader", "RDR-1")
    (listed,) = json.loads(cli("sam", "list", "--json").stdout)
    assert (listed["sam_id"], listed["status"], listed["reader_serial"]) == (
        "SAM-0001", "active", "RDR-1")
    # another node sees the same registry
    other = open_control(node_config("n1"))
    try:
        (sam,) = Admin(other, "t", str(tmp_path / "a1"), cfg2.audit.key).list_sams()
        assert (sam.sam_id, sam.status) == ("SAM-0001", "active")
        cli("sam", "revoke", "SAM-0001", "--reason", "test: reader stolen")
        (sam,) = Admin(other, "t", str(tmp_path / "a1"), cfg2.audit.key).list_sams()
        assert sam.status == "revoked"
    finally:
        other.close()
    records = [r for r in tail(cfg2.audit.directory, 50) if r.get("stream") == "admin"
               and str(r.get("method", "")).startswith("admin/sam.")]
    assert [r.get("method") for r in records] == [
        "admin/sam.register", "admin/sam.activate", "admin/sam.revoke"], records
    assert all(r.get("result") == "OK" and "ops-test" in json.dumps(r) for r in records)
    assert pg_rows(cluster_dsn, "SELECT count(*) FROM admin_intents") == [(0,)]
