"""`nikgate audit ...`: verify the audit log, answer who accessed a NIK, usage, tail.

`--dir` takes one audit directory or several (repeat it, or give several after it, e.g. a
shell glob over a cluster's nodes): their logs are read together."""

from __future__ import annotations

import sys

from .exits import DONE, FINDING
from .output import emit_json, table

DIRS_HELP = ("audit log directory; several (a cluster's nodes) are read together: repeat "
             "--dir or give several")


def register(sub) -> None:
    p = sub.add_parser("audit", help="the tamper-evident audit log of every call")
    s = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    v = s.add_parser("verify", help="check every stream's hash chain and seals")
    v.add_argument("--dir", required=True, action="extend", nargs="+", metavar="DIR",
                   help=DIRS_HELP)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)
    w = s.add_parser("who-accessed", help="every call that named a NIK (the data subject's "
                                          "right under UU 27/2022)")
    w.add_argument("nik", help="the NIK; '-' reads it from stdin (keeps it out of ps and "
                               "shell history)")
    w.add_argument("--dir", required=True, action="extend", nargs="+", metavar="DIR",
                   help=DIRS_HELP)
    w.add_argument("--key", required=True, help="the server's audit key file")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=_who_accessed)
    u = s.add_parser("usage", help="calls and accessed NIKs per day, method and channel")
    u.add_argument("--dir", required=True, action="extend", nargs="+", metavar="DIR",
                   help=DIRS_HELP)
    u.add_argument("--institution", required=True)
    u.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD")
    u.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD")
    u.add_argument("--utc-offset", type=int, default=7, metavar="HOURS",
                   help="days are counted in this time zone (default 7: WIB)")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=_usage)
    t = s.add_parser("tail", help="the latest records of all streams")
    t.add_argument("--dir", required=True, action="extend", nargs="+", metavar="DIR",
                   help=DIRS_HELP)
    t.add_argument("-n", type=int, default=20, help="how many records (default 20)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_tail)


def _verify(args) -> int:
    from dataclasses import asdict

    from nikgate.server.audit import verify_log

    report = verify_log(args.dir)
    if args.json:
        emit_json(asdict(report))
        return DONE if report.ok else FINDING
    rows = [(s.name, str(s.segments), str(s.records), str(s.head_seq), s.head_hash[:16],
             s.state) for s in report.streams]
    if rows:
        print(table(rows, ("STREAM", "SEGMENTS", "RECORDS", "HEAD_SEQ", "HEAD_HASH", "STATE")))
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print("audit log verifies" if report.ok else
          f"audit log does NOT verify: {len(report.problems)} problem(s)")
    return DONE if report.ok else FINDING


def _who_accessed(args) -> int:
    from nikgate.server.audit import who_accessed

    nik = sys.stdin.readline().strip() if args.nik == "-" else args.nik
    calls = who_accessed(args.dir, args.key, nik)
    if args.json:
        emit_json(calls)
        return 0
    if not calls:
        print("no call named this NIK")
        return 0
    rows = [(c["time"], c["institution"], c["method"], c["channel"], c["purpose"],
             c["result"], "" if c["item_result"] is None else str(c["item_result"]), c["tx"])
            for c in calls]
    print(table(rows, ("TIME (UTC)", "INSTITUTION", "METHOD", "CHANNEL", "PURPOSE", "RESULT",
                       "ITEM", "TX")))
    return 0


def _usage(args) -> int:
    from nikgate.server.audit import usage

    out = usage(args.dir, args.institution, args.date_from, args.date_to, args.utc_offset)
    if args.json:
        emit_json(out)
        return 0
    print(f"{out['institution']}: {out['from']} to {out['to']} ({out['timezone']})")
    cols = ("calls", "niks", "calls_refused", "niks_refused")
    rows = [(r["day"], r["method"], r["channel"], *(str(r[c]) for c in cols))
            for r in out["rows"]]
    rows += [("total", r["method"], r["channel"], *(str(r[c]) for c in cols))
             for r in out["totals"]]
    if rows:
        print(table(rows, ("DAY", "METHOD", "CHANNEL", "CALLS", "NIKS", "REFUSED",
                           "NIKS_REFUSED")))
    else:
        print("no calls")
    return 0


def _tail(args) -> int:
    from nikgate.server.audit import tail

    records = tail(args.dir, args.n)
    if args.json:
        emit_json(records)
        return 0
    rows = [(r["time"], r["stream"], str(r.get("seq")),
             r.get("method", r.get("kind", "")) if r.get("kind") == "call" else r.get("kind", ""),
             r.get("institution", ""), r.get("channel", ""), r.get("result", ""),
             str(r.get("n", "")), str(r.get("latency_us", "")))
            for r in records]
    print(table(rows, ("TIME (UTC)", "STREAM", "SEQ", "METHOD", "INSTITUTION", "CHANNEL",
                       "RESULT", "NIKS", "LATENCY_US")))
    return 0
