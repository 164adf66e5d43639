"""`nikgate cluster up`: three nodes and HAProxy on loopback (`make cluster-demo`).

Works in var/cluster/: the demo's synthetic data, index (the builder's), certificates and
grants (made as `nikgate demo` makes them, reused when present), a throwaway PostgreSQL
holding the state the nodes share (grants, quota leases, return data: docs/cluster.md;
seeded with the demo's institutions and grants), then N `nikgate serve` nodes, each with
its own index replica pulled from the builder's, its own node-local store and its own
audit log, behind HAProxy in TCP mode (nikgate.cluster.local). Prints how to call it
through the balancer and straight to the nodes; Ctrl-C stops everything, PostgreSQL last.
`--no-postgres` runs the nodes without shared state (each its own copy of the grants).
"""

from __future__ import annotations

import argparse
import shlex
import signal
from pathlib import Path

from nikgate.methods import rpc

DEFAULT_DIR = "var/cluster"


def register(sub) -> None:
    p = sub.add_parser("cluster", help="several nikgate nodes behind HAProxy on this machine")
    s = p.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    up = s.add_parser("up", help="start N nodes and HAProxy on loopback; Ctrl-C stops all")
    up.add_argument("--dir", default=DEFAULT_DIR,
                    help=f"working directory (default {DEFAULT_DIR})")
    up.add_argument("--nodes", type=int, default=3, help="nodes (default 3)")
    up.add_argument("--workers", type=int, default=1,
                    help="worker processes per node (default 1)")
    up.add_argument("--port", type=int, default=50050,
                    help="HAProxy's port (default 50050; 0 picks a free one)")
    up.add_argument("--records", type=int, default=1_000_000)
    up.add_argument("--seed", type=int, default=2026)
    up.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True,
                    help="share grants, quotas and return data in a throwaway PostgreSQL "
                         "(default; --no-postgres: every node keeps its own)")
    up.set_defaults(func=_up)


def _up(args) -> int:
    from nikgate.cluster.local import LocalCluster, Shared, free_port
    from nikgate.errors import InvalidInputError
    from nikgate.server.pki import ca as pki
    from nikgate.server.receipts import ensure_signing_key, public_key_path

    from . import demo

    if args.nodes < 1:
        raise InvalidInputError("--nodes must be at least 1")
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    builder = demo._data_and_index(root, args.records, args.seed)
    certs = demo._pki(root)
    demo._grants(root)                         # the seed control store every node copies
    receipt_key = ensure_signing_key(root / "receipt-signing.key")
    nik, claims = demo._sample(builder, args.seed)
    layout = pki.Layout(root / "pki")
    shared = Shared(ca=layout.ca_cert, server_cert=layout.server_cert,
                    server_key=layout.server_key, crl=layout.crl, receipt_key=receipt_key,
                    audit_key=root / "audit-nik.key")
    if args.postgres:
        from nikgate.loadgen.servers import postgres_problem

        problem = postgres_problem()
        if problem:
            raise InvalidInputError(f"the shared state needs PostgreSQL: {problem}; or run "
                                    "with --no-postgres", field="postgres")
    cluster = LocalCluster(root, shared, builder, root / "control", nodes=args.nodes,
                           workers=args.workers, balancer_port=args.port or free_port(),
                           postgres=args.postgres)
    institutions = {k: {"cert": str(root / v["cert"]), "key": str(root / v["key"])}
                    for k, v in certs.items()}
    stop = {"now": False}

    def on_signal(signum, frame) -> None:
        stop["now"] = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"starting {'PostgreSQL, ' if args.postgres else ''}{args.nodes} nodes and "
              "HAProxy (pulling the index into each) ...", flush=True)
        cluster.start()
        pub = public_key_path(receipt_key)
        conn = cluster.connection_file(root / "connection.json", institutions, pub)
        direct = cluster.connection_file(root / "connection-nodes.json", institutions, pub,
                                         direct=True)
        _print_calls(cluster, root, conn, direct, certs, nik, claims)
        while not stop["now"]:
            signal.pause()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("\nstopping: nodes drain (returning their unused quota leases), then "
              f"HAProxy{' and PostgreSQL' if args.postgres else ''} exit", flush=True)
        cluster.stop()
    return 0


def _print_calls(cluster, root: Path, conn: Path, direct: Path, certs, nik: str,
                 claims: dict) -> None:
    import json

    bank = certs["bank-demo"]
    name = shlex.quote(claims["NAMA_LGKP"])
    print(f"\nHAProxy on {cluster.balancer} (TCP mode: mutual TLS ends at each node) in front "
          "of:")
    for n in cluster.nodes:
        print(f"  {n.node_id}  gRPC {n.address}  health http://127.0.0.1:{n.health_port}"
              f"/health  dir {n.directory}")
    if cluster.postgres_dsn:
        print(f"shared state (grants, quota leases, return data) in PostgreSQL: psql "
              f"{shlex.quote(cluster.postgres_dsn)}")
        print("  e.g. SELECT * FROM quota_leases;  SELECT count(*) FROM return_records;")
    else:
        print("no shared state: every node has its own grants, quotas and return data")
    print(f"connection files: {conn} (through HAProxy), {direct} (the client balances "
          "over the nodes itself)")
    print("\npaste one of these in another terminal:")
    print(f"  .venv/bin/nikgate verify --connection {conn} --as bank-demo --nik {nik} "
          f"--name {name} --birth-date {claims['TGL_LHR']}")
    print(f"  .venv/bin/nikgate verify --connection {direct} --as bank-demo --nik {nik} "
          f"--name {name} --birth-date {claims['TGL_LHR']}")
    body = json.dumps({"nik": nik, "claims": claims})
    print(f"  grpcurl -cacert {root / 'pki/ca/ca.crt'} -cert {root / bank['cert']} "
          f"-key {root / bank['key']} -servername localhost -d {shlex.quote(body)} "
          f"{cluster.balancer} " + rpc("Verification", "Verify").path.lstrip("/"))
    print(f"  .venv/bin/nikgate bench --connection {conn} --workload verify --duration 5")
    print(f"  curl -s http://127.0.0.1:{cluster.nodes[0].health_port}/health")
    print(f"  echo 'show stat' | socat - {cluster.stats_socket} | cut -d, -f1,2,18  "
          "# HAProxy's view")
    dirs = " ".join(str(n.audit) for n in cluster.nodes)
    print(f"  .venv/bin/nikgate audit verify --dir {dirs}")
    print(f"  .venv/bin/nikgate audit who-accessed {nik} --dir {dirs} --key "
          f"{root / 'audit-nik.key'}")
    print(f"  kill -9 {cluster.nodes[0].process.pid}   # {cluster.nodes[0].node_id}'s "
          "supervisor (its workers drain): HAProxy marks it DOWN within ~1 s")
    print("\nCtrl-C stops all (nodes drain first" +
          (", PostgreSQL last: its data is thrown away)." if cluster.postgres_dsn else ").")
          , flush=True)
