"""Cluster benchmark: `nikgate bench` through HAProxy against 1, 2 and 3 nodes, and direct.

    python -m bench.cluster_bench [--dir var/cluster-bench] [--records 1000000]
        [--nodes 1,2,3] [--workloads verify,verify_batch] [--duration 8] [--json FILE]
    python -m bench.cluster_bench --state [--nodes 3] [--workloads verify,return_data]

Set-up (once, reused): the demo's data, index, certificates and grants in DIR (as `nikgate
cluster up` makes them). Then for each node count a loopback cluster (nikgate.cluster.local:
one worker per node, each with its own pulled index, HAProxy in TCP mode in front) and,
per workload, `nikgate bench` (closed loop, its defaults: 2 processes x 2 channels, 8 in
flight) through HAProxy; with one node also straight to the node, for the balancer's
overhead. Every process runs on the same cores as the client: what the figures show is
the cost per call of the nodes and of HAProxy (CPU seconds of every node process and of
HAProxy, from /proc, per 1000 calls or per 1M items) and throughput per core used, not
scaling. Bounded: about (1 + nodes) x workloads x (duration + 4) s after the set-up.

`--state`: the cost of the shared state through the service. For each node count, the
cluster twice, through HAProxy: each node with its own LMDB state (grants, quota counted
in the node's store, return data in its LMDB store), then sharing a throwaway PostgreSQL
(nikgate.cluster.local postgres=True; durability turned back on: fsync, full_page_writes,
synchronous_commit) where the bench institution's quota (2,000,000,000 a day) is counted
within leases of `[cluster] lease_block` (default 1,000) and return data (`nikgate bench
--workload return_data`: 1,000-record batches on streams, after the bench's pre-access)
is stored in PostgreSQL. The row's `state` says which.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import machine

TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their live children (node workers)."""
    total = 0
    seen = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])      # utime, stime
            todo += [int(c) for c in
                     Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total / TICKS


def prepare(root: Path, records: int, seed: int):
    from nikgate.cli import demo
    from nikgate.cluster.local import Shared
    from nikgate.server.pki import ca as pki
    from nikgate.server.receipts import ensure_signing_key

    root.mkdir(parents=True, exist_ok=True)
    builder = demo._data_and_index(root, records, seed)
    certs = demo._pki(root)
    demo._grants(root)
    layout = pki.Layout(root / "pki")
    shared = Shared(ca=layout.ca_cert, server_cert=layout.server_cert,
                    server_key=layout.server_key, crl=layout.crl,
                    receipt_key=ensure_signing_key(root / "receipt-signing.key"),
                    audit_key=root / "audit-nik.key")
    institutions = {k: {"cert": str(root / v["cert"]), "key": str(root / v["key"])}
                    for k, v in certs.items()}
    return builder, shared, institutions


def run_bench(conn: Path, index: Path, workload: str, duration: float, out: Path) -> dict:
    exe = Path(sys.executable).with_name("nikgate")
    cmd = [str(exe), "bench", "--connection", str(conn), "--as", "bank-demo", "--index",
           str(index), "--workload", workload, "--duration", str(duration), "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration * 4 + 120)
    if not out.exists():
        raise RuntimeError(f"nikgate bench failed: {done.stderr[-2000:]}")
    return json.loads(out.read_text())


def measure(cluster, conn: Path, index: Path, workload: str, duration: float,
            out: Path, with_haproxy: bool) -> dict:
    nodes = [n.process.pid for n in cluster.nodes]
    lb = [cluster.haproxy.pid] if with_haproxy and cluster.haproxy else []
    before = (cpu_seconds(nodes), cpu_seconds(lb), time.monotonic())
    report = run_bench(conn, index, workload, duration, out)
    after = (cpu_seconds(nodes), cpu_seconds(lb), time.monotonic())
    node_cpu, lb_cpu = after[0] - before[0], after[1] - before[1]
    ok, items = report["ok"], report["items"]
    wall = after[2] - before[2]
    per = 1000 if report["items_per_call"] == 1 else None
    return {
        "workload": workload,
        "calls_per_s": round(report["calls_per_s"], 1),
        "items_per_s": round(report["items_per_s"], 1),
        "p50_ms": report["latency_ms"]["p50"], "p99_ms": report["latency_ms"]["p99"],
        "failed": report["failed"],
        "node_cpu_s": round(node_cpu, 2), "haproxy_cpu_s": round(lb_cpu, 2),
        # CPU seconds the servers spent over the bench's wall time (warm-up included):
        "server_cores_busy": round((node_cpu + lb_cpu) / wall, 2),
        "node_cpu_ms_per_1k_calls" if per else "node_cpu_ms_per_1m_items":
            round(node_cpu * 1000 / max(1, ok if per else items) * (1000 if per else 1e6), 1),
        "haproxy_cpu_ms_per_1k_calls" if per else "haproxy_cpu_ms_per_1m_items":
            round(lb_cpu * 1000 / max(1, ok if per else items) * (1000 if per else 1e6), 1),
    }


def main(argv: list[str] | None = None) -> int:
    from nikgate.cluster.local import LocalCluster

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", default="var/cluster-bench")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--nodes", default="1,2,3")
    p.add_argument("--workloads", default="verify,verify_batch")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--json")
    p.add_argument("--state", action="store_true",
                   help="per-node LMDB state against the shared PostgreSQL state")
    args = p.parse_args(argv)
    root = Path(args.dir).resolve()
    builder, shared, institutions = prepare(root, args.records, args.seed)
    workloads = args.workloads.split(",")
    rows = []
    if args.state:
        rows = state_rows(root, builder, shared, institutions, args)
    for n in (int(x) for x in args.nodes.split(",") if not args.state):
        cdir = root / f"cluster-{n}"
        cluster = LocalCluster(cdir, shared, builder, root / "control", nodes=n, workers=1)
        with cluster:
            via_lb = cluster.connection_file(cdir / "connection.json", institutions)
            direct = cluster.connection_file(cdir / "connection-direct.json", institutions,
                                             direct=True)
            # the bench dials `address`: the first node for the direct file
            targets = [("haproxy", via_lb, True)] + ([("direct", direct, False)]
                                                     if n == 1 else [])
            for workload in workloads:
                for how, conn, lb in targets:
                    log(f"{n} node(s), {how}, {workload} ...")
                    r = measure(cluster, conn, builder, workload, args.duration,
                                cdir / f"{how}-{workload}.json", lb)
                    rows.append({"nodes": n, "via": how, **r})
                    log(f"  {json.dumps(rows[-1])}")
    result = {"machine": machine(), "records": args.records, "duration_s": args.duration,
              "rows": rows}
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def durable(dsn: str) -> None:
    """Turn the throwaway PostgreSQL's durability back on (it starts with it off)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for setting in ("fsync = on", "full_page_writes = on", "synchronous_commit = on"):
            conn.execute(f"ALTER SYSTEM SET {setting}")   # type: ignore[arg-type]
        conn.execute("SELECT pg_reload_conf()")


def state_rows(root: Path, builder: Path, shared, institutions, args) -> list[dict]:
    from nikgate.cluster.local import LocalCluster

    rows = []
    for n in (int(x) for x in args.nodes.split(",")):
        for state in ("lmdb", "postgres"):
            cdir = root / f"state-{state}-{n}"
            if cdir.exists():
                import shutil
                shutil.rmtree(cdir)        # fresh stores: return data ids start again
            cluster = LocalCluster(cdir, shared, builder, root / "control", nodes=n,
                                   workers=1, postgres=state == "postgres")
            with cluster:
                if cluster.postgres_dsn:
                    durable(cluster.postgres_dsn)
                conn = cluster.connection_file(cdir / "connection.json", institutions)
                for workload in args.workloads.split(","):
                    log(f"{n} node(s), {state} state, {workload} ...")
                    r = measure(cluster, conn, builder, workload, args.duration,
                                cdir / f"{workload}.json", True)
                    if cluster.postgres_dsn and workload == "verify":
                        r["leases"] = leases(cluster.postgres_dsn)
                    rows.append({"nodes": n, "via": "haproxy", "state": state, **r})
                    log(f"  {json.dumps(rows[-1])}")
    return rows


def leases(dsn: str) -> list[list]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return [list(r) for r in conn.execute(
            "SELECT node_id, leased FROM quota_leases ORDER BY node_id")]


def render(rows: list[dict]) -> str:
    if rows and "state" in rows[0]:
        head = ("nodes", "state", "workload", "calls/s", "items/s", "p50 ms", "p99 ms",
                "failed", "node CPU", "node CPU per 1k calls / 1M items", "HAProxy CPU")
        lines = [" | ".join(head), " | ".join("---" for _ in head)]
        for r in rows:
            per = r.get("node_cpu_ms_per_1k_calls", r.get("node_cpu_ms_per_1m_items"))
            lines.append(" | ".join(str(x) for x in (
                r["nodes"], r["state"], r["workload"], f"{r['calls_per_s']:,.0f}",
                f"{r['items_per_s']:,.0f}", r["p50_ms"], r["p99_ms"], r["failed"],
                r["node_cpu_s"], per, r["haproxy_cpu_s"])))
        return "\n".join(lines)
    head = ("nodes", "via", "workload", "calls/s", "items/s", "p50 ms", "p99 ms", "failed",
            "node CPU", "HAProxy CPU", "cores busy")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        lines.append(" | ".join(str(x) for x in (
            r["nodes"], r["via"], r["workload"], f"{r['calls_per_s']:,.0f}",
            f"{r['items_per_s']:,.0f}", r["p50_ms"], r["p99_ms"], r["failed"],
            r["node_cpu_s"], r["haproxy_cpu_s"], r["server_cores_busy"])))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
