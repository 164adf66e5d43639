"""`nikgate index ...`: build, apply deltas, inspect, verify."""

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
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_apply)
    i = s.add_parser("info", help="print the manifest and storage figures")
    i.add_argument("--index", required=True)
    i.set_defaults(func=_info)
    v = s.add_parser("verify", help="check every page, record and NIK against the manifest")
    v.add_argument("--index", required=True)
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_verify)


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

    rejects = args.rejects or str(Path(args.out) / "rejects-latest.csv")
    report = build_index(args.source, args.out, rejects_path=rejects)
    summary = report.summary()
    summary["rejects_file"] = rejects
    _print_summary(f"built index {args.out}", summary, args.json)
    return 0


def _apply(args) -> int:
    from nikgate.engine.delta import apply_delta

    report = apply_delta(args.index, args.delta, rejects_path=args.rejects, force=args.force)
    summary = report.summary()
    if args.rejects:
        summary["rejects_file"] = args.rejects
    _print_summary(f"applied {args.delta} to {args.index} (durable)", summary, args.json)
    return 0


def _info(args) -> int:
    from nikgate.engine import NikIndex

    with NikIndex.open(args.index) as idx:
        out = dict(idx.manifest)
        out["generation_path"] = str(idx.generation)
        out["storage"] = idx.stat()
    print(json.dumps(out, indent=2))
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
