"""`nikgate bench`: load a nikgate server and report what it did (docs/performance.md).

    nikgate bench                                   # against `nikgate demo`, VerifyBatch
    nikgate bench --workload verify --rate 500      # open loop, 500 calls/s
    nikgate bench --json out.json --plot out.png
    nikgate bench --compare                         # vs Redis, PostgreSQL, the engine
    nikgate bench --workload verify,verify_json,verify_batch,verify_batch_json
                                                    # the JSON gateway against gRPC

Several workloads (comma-separated) run one after the other against the same server and
end with a table setting each `*_json` workload (through `nikgate gateway`) against its
gRPC twin in the same run.

Defaults target the demo: var/demo/connection.json as bank-demo, NIKs and claims from the
index next to it. Exit status 0 when every call succeeded, 1 when some failed.
"""

from __future__ import annotations

from pathlib import Path

from nikgate.errors import InvalidInputError
from nikgate.loadgen.workload import WORKLOADS

DEMO = Path("var/demo/connection.json")


def register(sub) -> None:
    p = sub.add_parser("bench", help="load a server: latency percentiles, throughput, "
                                     "status codes; --compare against Redis/PostgreSQL")
    t = p.add_argument_group("target")
    t.add_argument("--connection", default=str(DEMO),
                   help="connection.json of the server (default var/demo/connection.json)")
    t.add_argument("--as", dest="institution", default="bank-demo",
                   help="whose certificate to present (default bank-demo)")
    t.add_argument("--target", help="host:port, instead of the connection file's")
    t.add_argument("--ca", help="CA certificate (with --target)")
    t.add_argument("--cert", help="client certificate (with --target)")
    t.add_argument("--key", help="client key (with --target)")
    t.add_argument("--server-name", default=None, help="name on the server certificate")
    t.add_argument("--index", help="index to draw NIKs and claims from (default: the "
                                   "connection file's directory /index)")
    t.add_argument("--gateway", help="the JSON gateway for *_json workloads, "
                                     "https://host:port (default: the connection file's)")
    w = p.add_argument_group("workload")
    w.add_argument("--workload", default="verify_batch",
                   help="one or several, comma-separated, of: " + ", ".join(WORKLOADS)
                        + " (default verify_batch)")
    w.add_argument("--batch", type=int, default=1000, help="items per message (default 1000)")
    w.add_argument("--hit-rate", type=float, default=0.9,
                   help="share of NIKs that are stored (default 0.9)")
    w.add_argument("--hot-share", type=float, default=0.0,
                   help="share of items drawn from a small hot set (default 0)")
    w.add_argument("--hot-set", type=int, default=100, help="size of the hot set")
    w.add_argument("--items", type=int, default=20_000, help="distinct items to draw")
    w.add_argument("--seed", type=int, default=2026)
    lo = p.add_argument_group("load")
    lo.add_argument("--rate", type=float, default=0.0,
                    help="open loop: calls started per second, in all (default: closed loop)")
    lo.add_argument("--concurrency", type=int, default=8,
                    help="closed loop: calls or streams in flight, in all (default 8)")
    lo.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    lo.add_argument("--channels", type=int, default=2,
                    help="connections per process (default 2)")
    lo.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    lo.add_argument("--count", type=int, default=0, help="stop after this many calls")
    lo.add_argument("--warmup", type=float, default=1.0, help="seconds not counted first")
    lo.add_argument("--window", type=int, default=4,
                    help="streams: messages unanswered per stream (default 4)")
    lo.add_argument("--deadline", type=float, default=30.0, help="per call, seconds")
    o = p.add_argument_group("output")
    o.add_argument("--json", help="write the full report here")
    o.add_argument("--plot", help="draw latency percentiles and throughput to this PNG")
    o.add_argument("--compare", action="store_true",
                   help="also run the same batched verification against Redis (MGET), "
                        "PostgreSQL (= ANY) and the engine in-process; print ratios")
    o.add_argument("--peers-dir", default="var/bench-peers",
                   help="where compare mode runs its Redis and PostgreSQL (default "
                        "var/bench-peers)")
    p.set_defaults(func=_bench)


def spec_from_args(args, workload: str | None = None):
    from nikgate.loadgen.runner import BenchSpec

    if args.target:
        missing = [f"--{n}" for n in ("ca", "cert", "key") if not getattr(args, n)]
        if missing:
            raise InvalidInputError(f"--target needs {', '.join(missing)} too")
        target, ca, cert, key = args.target, args.ca, args.cert, args.key
        server_name = args.server_name or "localhost"
        base = Path(".")
        gateway = args.gateway or ""
    else:
        from nikgate.clients import Connection

        conn_path = Path(args.connection)
        if not conn_path.exists():
            raise InvalidInputError(
                f"no connection file at {conn_path}: start `make demo` (it writes "
                "var/demo/connection.json), or give --connection or --target")
        try:
            conn = Connection.from_file(conn_path, args.institution)
        except KeyError as e:
            raise InvalidInputError(str(e.args[0])) from None
        target, ca, cert, key = conn.address, str(conn.ca), str(conn.cert), str(conn.key)
        server_name = args.server_name or conn.server_name
        base = conn_path.parent
        gateway = args.gateway or _gateway_of(conn_path)
    index = Path(args.index) if args.index else base / "index"
    if not index.exists():
        raise InvalidInputError(f"no index at {index}: give --index (the NIKs and claims "
                                "come from the index the server serves)")
    spec = BenchSpec(
        target=target, ca=ca, cert=cert, key=key, index=str(index), server_name=server_name,
        workload=workload or args.workload, batch=args.batch, mode="open" if args.rate > 0 else "closed",
        concurrency=args.concurrency, rate=args.rate, processes=args.processes,
        channels=args.channels, duration=args.duration, count=args.count,
        warmup=args.warmup, window=args.window, hit_rate=args.hit_rate,
        hot_share=args.hot_share, hot_set=args.hot_set, items=args.items, seed=args.seed,
        deadline=args.deadline, gateway=gateway)
    try:
        spec.check()
    except ValueError as e:
        raise InvalidInputError(str(e)) from None
    return spec


def _gateway_of(conn_path: Path) -> str:
    import json

    try:
        return str(json.loads(conn_path.read_text()).get("gateway") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _workloads(text: str) -> list[str]:
    names = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown or not names:
        raise InvalidInputError(f"unknown workload(s) {', '.join(unknown) or '(none)'}; "
                                f"choose from {', '.join(WORKLOADS)}")
    return names


def _bench(args) -> int:
    names = _workloads(args.workload)
    if len(names) > 1:
        return _bench_several(args, names)
    return _bench_one(args, names[0])


def _bench_several(args, names: list[str]) -> int:
    from nikgate.loadgen import report as rep
    from nikgate.loadgen.runner import run

    if args.compare or args.plot:
        raise InvalidInputError("--compare and --plot take one workload")
    specs = [spec_from_args(args, name) for name in names]   # all checked before any run
    reports = []
    for spec in specs:
        report = rep.merge(spec, run(spec))
        print(rep.render(report), end="")
        reports.append(report)
    table = rep.json_vs_grpc(reports)
    print(rep.render_json_vs_grpc(table), end="")
    if args.json:
        rep.write_json({"runs": reports, "json_vs_grpc": table}, args.json)
        print(f"\nJSON: {args.json}")
    return 0 if all(r["failed"] == 0 for r in reports) else 1


def _bench_one(args, workload: str) -> int:
    from nikgate.loadgen import report as rep
    from nikgate.loadgen.runner import run

    spec = spec_from_args(args, workload)
    if args.compare and spec.workload != "verify_batch":
        raise InvalidInputError("--compare measures batched verification: use "
                                "--workload verify_batch")
    results = run(spec)
    report = rep.merge(spec, results)
    if args.compare:
        from nikgate.loadgen.compare import compare

        report["compare"] = compare(spec, report, Path(args.peers_dir))
    print(rep.render(report), end="")
    if args.compare:
        print(rep.render_compare(report["compare"]), end="")
    if args.json:
        rep.write_json(report, args.json)
        print(f"\nJSON: {args.json}")
    if args.plot:
        rep.plot(report, args.plot)
        print(f"plot: {args.plot}")
    return 0 if report["failed"] == 0 else 1
