"""`nikgate index ...`: build, apply deltas, inspect, verify, warm the page cache; feed
replicas (pull, serve-generations) and ask running workers which generation they serve
(status)."""

from __future__ import annotations

import json

from .output import emit_json


def register(sub) -> None:
    p = sub.add_parser("index", help="build and maintain the NIK index")
    s = p.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    b = s.add_parser("build", help="build a new index from a warehouse export")
    b.add_argument("--from", dest="source", required=True, help="warehouse export CSV")
    b.add_argument("--out", required=True, help="index directory (published atomically)")
    b.add_argument("--rejects", help="reject file (default: OUT/rejects-<generation>.csv)")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=_build)
    a = s.add_parser("apply", help="apply a delta to the live index")
    a.add_argument("--index", required=True)
    a.add_argument("--delta", required=True, help="delta CSV with a PERUBAHAN column")
    a.add_argument("--rejects", help="reject file for rows that could not be applied")
    a.add_argument("--force", action="store_true", help="apply even if already applied")
    a.add_argument("--new-generation", action="store_true",
                   help="apply to a copy published as a new sealed generation (what "
                        "replicas pull; running servers swap to it live)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_apply)
    i = s.add_parser("info", help="print the manifest and storage figures")
    i.add_argument("--index", required=True)
    i.set_defaults(func=_info)
    w = s.add_parser("warm", help="read the index's files once so the page cache holds them "
                                  "(after a reboot, before traffic; docs/performance.md)")
    w.add_argument("--index", required=True)
    w.add_argument("--json", action="store_true", help="print the summary as JSON")
    w.set_defaults(func=_warm)
    v = s.add_parser("verify", help="check every page, record and NIK against the manifest")
    v.add_argument("--index", required=True)
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_verify)
    p_ = s.add_parser("pull", help="copy the builder's current generation here, check it "
                                   "against its seal, publish it (docs/replicas.md)")
    p_.add_argument("--from", dest="source", required=True,
                    help="the builder's index directory, or its generation service's URL")
    p_.add_argument("--index", required=True, help="this node's index directory")
    p_.add_argument("--ca", help="CA file for an https:// source")
    p_.add_argument("--cert", help="client certificate for an https:// source")
    p_.add_argument("--key", help="its key")
    p_.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                    help="keep pulling at this interval (0: once)")
    p_.add_argument("--json", action="store_true")
    p_.set_defaults(func=_pull)
    g = s.add_parser("serve-generations",
                     help="serve this builder's sealed generations to replicas over HTTP(S)")
    g.add_argument("--index", required=True)
    g.add_argument("--address", default="127.0.0.1:8470",
                   help="HOST:PORT (TLS required off loopback)")
    g.add_argument("--cert", help="server certificate (PEM): HTTPS")
    g.add_argument("--key", help="its key")
    g.add_argument("--client-ca", help="take only clients with a certificate from this CA")
    g.set_defaults(func=_serve_generations)
    st = s.add_parser("status", help="the generation each worker of a running server serves")
    st.add_argument("--connection", required=True, help="connection file (nikgate demo)")
    st.add_argument("--as", dest="institution", required=True,
                    help="an operator in the connection file")
    st.add_argument("--reload", action="store_true",
                    help="ask each worker reached to look for a new generation first")
    st.add_argument("--probes", type=int, default=8,
                    help="connections opened to reach every worker (default 8)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)


def _print_summary(title: str, summary: dict, as_json: bool) -> None:
    if as_json:
        emit_json(summary)
        return
    print(title)
    for key, value in summary.items():
        if isinstance(value, dict):
            print(f"  {key}:")
            for k, v in value.items():
                print(f"    {k}: {v}")
        else:
            print(f"  {key}: {value}")


def _build(args) -> int:
    from pathlib import Path

    from nikgate.engine.build import build_index
    from nikgate.progress import terminal_progress

    rejects = args.rejects or str(Path(args.out) / "rejects-latest.csv")
    size = _size(args.source)
    with terminal_progress("reading export", size, "bytes", quiet=args.json) as progress:
        report = build_index(args.source, args.out, rejects_path=rejects, progress=progress)
    summary = report.summary()
    summary["rejects_file"] = rejects
    _print_summary(f"built index {args.out}", summary, args.json)
    return 0


def _apply(args) -> int:
    from nikgate.engine.delta import apply_delta
    from nikgate.progress import terminal_progress

    with terminal_progress("applying", quiet=args.json) as progress:
        if progress.enabled:
            progress.total = _lines_or_none(args.delta)
        report = apply_delta(args.index, args.delta, rejects_path=args.rejects,
                             force=args.force, new_generation=args.new_generation,
                             progress=progress)
    summary = report.summary()
    if args.rejects:
        summary["rejects_file"] = args.rejects
    where = f"generation {report.generation}" if report.generation else "in place"
    _print_summary(f"applied {args.delta} to {args.index}, {where} (durable)", summary,
                   args.json)
    return 0


def _size(path: str) -> int | None:
    """The file's size for a progress total; None if it cannot be read (build says why)."""
    import os

    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _lines_or_none(path: str) -> int | None:
    from nikgate.progress import data_lines

    try:
        return data_lines(path)
    except OSError:
        return None


def _info(args) -> int:
    from nikgate.engine import NikIndex

    with NikIndex.open(args.index) as idx:
        out = dict(idx.manifest)
        out["generation_path"] = str(idx.generation)
        out["storage"] = idx.stat()
    print(json.dumps(out, indent=2))
    return 0


def _warm(args) -> int:
    """Progress on a terminal (stderr) only; one summary line (or --json) at the end."""
    from nikgate.engine.warm import warm_files
    from nikgate.progress import terminal_progress

    with terminal_progress("warming", unit="bytes", quiet=args.json) as bar:
        report = warm_files(args.index, (lambda done, total, _secs: bar.update(done, total))
                            if bar.enabled else None)
    summary = report.summary()
    if args.json:
        emit_json(summary)
    else:
        rate = summary["mib_per_second"]
        print(f"warmed {args.index}: read {report.bytes_read:,} bytes "
              f"({', '.join(report.files)}) in {report.seconds:.1f} s"
              + (f" ({rate} MiB/s)" if rate is not None else ""))
    return 0


def _verify(args) -> int:
    """Exit 0 when the index is intact; 3 with one line per kind of problem when not."""
    from nikgate.engine import NikIndex

    with NikIndex.open(args.index) as idx:
        report = idx.check_integrity()
    summary = report.summary()
    if args.json:
        emit_json(summary)
    elif report.ok:
        print(f"index {args.index} OK: {report.records_walked} records, every page, "
              f"record and NIK checked in {summary['seconds']} s "
              f"({summary['records_per_second']} records/s)")
    else:
        print(f"index {args.index} is DAMAGED ({len(report.problems)} kind(s) of problem):")
        for line in report.lines():
            print(f"  {line}")
    return 0 if report.ok else 3


def _pull(args) -> int:
    """Exit 0 when this node has the builder's generation (pulled or already there)."""
    import time

    from nikgate.engine.replica import pull, source_for

    source = source_for(args.source, args.ca, args.cert, args.key)
    while True:
        report = pull(source, args.index, label=args.source)
        summary = report.summary()
        if args.json:
            emit_json(summary)
        elif report.up_to_date:
            print(f"{args.index} already serves generation {report.generation} of "
                  f"{args.source}")
        else:
            _print_summary(f"pulled generation {report.generation} into {args.index}",
                           summary, False)
        if args.every <= 0:
            return 0
        time.sleep(args.every)


def _serve_generations(args) -> int:
    from nikgate.server.generations import GenerationService

    service = GenerationService(args.index, args.address, args.cert, args.key,
                                args.client_ca)
    scheme = "https" if args.cert else "http"
    host = args.address.rpartition(":")[0] or "127.0.0.1"
    print(f"serving generations of {args.index} at {scheme}://{host}:{service.port}; "
          f"replicas: nikgate index pull --from {scheme}://{host}:{service.port} "
          "--index DIR", flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _status(args) -> int:
    """Ask over several connections (the kernel spreads them over the workers)."""
    import datetime as dt

    import grpc

    from nikgate.clients import Connection
    from nikgate.v1 import admin_pb2, admin_pb2_grpc

    from .output import table
    from .remote import call

    conn = Connection.from_file(args.connection, args.institution)
    seen: dict[int, admin_pb2.Serving] = {}
    for _ in range(max(1, args.probes)):
        # a private subchannel pool: each probe is a connection of its own
        with grpc.secure_channel(conn.address, conn.credentials(),
                                 options=[*conn.options(),
                                          ("grpc.use_local_subchannel_pool", 1)]) as ch:
            stub = admin_pb2_grpc.AdminStub(ch)
            reply = call(lambda: stub.GetServing(  # noqa: B023
                admin_pb2.GetServingRequest(reload=args.reload), timeout=30), conn.address)
        seen[reply.pid] = reply
    rows = sorted(seen.values(), key=lambda r: (r.worker_id, r.pid))
    if args.json:
        emit_json([{"worker_id": r.worker_id, "pid": r.pid, "generation": r.generation,
                    "record_count": r.record_count, "opened_at": r.opened_at,
                    "built_at": r.built_at, "generations_open": r.generations_open,
                    "swaps": r.swaps, "last_error": r.last_error,
                    "index_path": r.index_path} for r in rows])
        return 0
    print(table([(str(r.worker_id), str(r.pid), r.generation, f"{r.record_count:,}",
                  dt.datetime.fromtimestamp(r.opened_at, dt.UTC).isoformat(timespec="seconds"),
                  str(r.generations_open), r.last_error or "-") for r in rows],
                ("WORKER", "PID", "GENERATION", "RECORDS", "OPENED", "OPEN", "LAST ERROR")))
    return 0
