"""`nikgate institution ...` and `nikgate grant ...`: hak akses administration.

Changes go to the control store the servers read (`[access] store`), reach running workers
within a second, and are written to the audit log. With `--config` a node's nikgate.toml
names the store and the audit log; when it has `[cluster] postgres_dsn` the changes go to
the cluster's PostgreSQL instead (server/cluster open_control), made as that node (its
node_id, its admin audit stream in its `[audit] directory`), and reach every node.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from nikgate.errors import InvalidInputError

from .exits import FINDING
from .output import emit_json, table

DEFAULT_STORE = "var/demo/control"
DEFAULT_AUDIT = "var/demo/audit"
DEFAULT_AUDIT_KEY = "var/demo/audit-nik.key"


def _common(p, config: bool = True) -> None:
    p.add_argument("--store", default=DEFAULT_STORE, help=f"control store (default {DEFAULT_STORE})")
    p.add_argument("--audit-dir", default=DEFAULT_AUDIT)
    p.add_argument("--audit-key", default=DEFAULT_AUDIT_KEY)
    p.add_argument("--operator", default="cli", help="who is making the change (audited)")
    if config:
        p.add_argument("--config", help="a node's nikgate.toml: its [access] store and "
                                        "[audit] log instead of --store/--audit-dir/"
                                        "--audit-key; with [cluster] postgres_dsn, the "
                                        "cluster's PostgreSQL")


def register(sub) -> None:
    inst = sub.add_parser("institution", help="institutions that may hold grants")
    si = inst.add_subparsers(dest="institution_command", required=True, metavar="ACTION")
    a = si.add_parser("add", help="register an institution")
    a.add_argument("institution")
    a.add_argument("--name", required=True)
    a.add_argument("--kind", default="other", help="bank, telco, hospital, ministry, ...")
    _common(a)
    a.set_defaults(func=_add_institution)
    ls = si.add_parser("list", help="list institutions with their grant status")
    _common(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    g = sub.add_parser("grant", help="grants (hak akses): set, suspend, revoke, show, usage")
    sg = g.add_subparsers(dest="grant_command", required=True, metavar="ACTION")
    st = sg.add_parser("set", help="create or replace an institution's grant")
    st.add_argument("institution")
    st.add_argument("--operations", required=True,
                    help="comma list: verify, verify_batch, lookup, card_verify, return_data")
    st.add_argument("--fields", action="append", default=[], metavar="OP=F1,F2",
                    help="fields an operation may claim/return, e.g. verify=NAMA_LGKP,TGL_LHR")
    st.add_argument("--channels", default="web_service")
    st.add_argument("--purpose", default="", help="the PKS purpose, in words (not checked)")
    st.add_argument("--purposes", default="",
                    help="comma list of purpose codes calls may name, e.g. kyc,fraud-check; "
                         "a call naming another is refused (one code: the default)")
    st.add_argument("--networks", default="",
                    help="comma list of source networks (CIDR) calls may come from, e.g. "
                         "10.20.0.0/16 (empty = any; the closed network)")
    st.add_argument("--from", dest="valid_from", default=dt.date.today().isoformat())
    st.add_argument("--until", dest="valid_until", required=True)
    st.add_argument("--quota", type=int, default=0, help="NIKs per day (0 = none)")
    st.add_argument("--rate", type=float, default=0.0, help="NIKs per second (0 = none)")
    st.add_argument("--burst", type=int, default=0)
    st.add_argument("--max-batch", type=int, default=10_000)
    st.add_argument("--return-data-kinds", default="",
                    help="comma list of kinds it may send back, e.g. bank_cif,account_number")
    st.add_argument("--return-deadline-days", type=float, default=0.0,
                    help="data balikan due this many days after first access (0 = no duty)")
    _common(st)
    st.set_defaults(func=_set)
    for status, verb in (("suspended", "suspend"), ("revoked", "revoke"), ("active", "activate")):
        c = sg.add_parser(verb, help=f"mark a grant {status}")
        c.add_argument("institution")
        c.add_argument("--reason", required=status != "active", default="")
        _common(c)
        c.set_defaults(func=_status, status=status)
    sh = sg.add_parser("show", help="print a grant")
    sh.add_argument("institution")
    _common(sh)
    sh.set_defaults(func=_show)
    us = sg.add_parser("usage", help="NIKs used today (or on --day) per operation")
    us.add_argument("institution")
    us.add_argument("--day", help="YYYY-MM-DD (WIB)")
    us.add_argument("--json", action="store_true")
    _common(us)
    us.set_defaults(func=_usage)


def _admin(args):
    from nikgate.server.access.admin import Admin
    from nikgate.server.access.store import Control, ControlStore

    if not args.config:
        return Admin(ControlStore(args.store), args.operator, args.audit_dir, args.audit_key)
    from nikgate.server.config import load_config

    config = load_config(args.config)
    store: Control
    if config.cluster.postgres_dsn:
        from nikgate.server.cluster import open_control

        store = open_control(config)
    else:
        store = ControlStore(config.access.store)
    return Admin(store, args.operator, config.audit.directory, config.audit.key)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _add_institution(args) -> int:
    admin = _admin(args)
    inst = admin.add_institution(args.institution, args.name, args.kind)
    print(f"institution {inst.id} registered")
    return 0


def _set(args) -> int:
    from nikgate.server.access.grants import Grant

    fields = {}
    for item in args.fields:
        op, sep, names = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--fields must be OP=F1,F2, got {item!r}")
        fields[op.strip()] = _split(names.upper())
    grant = Grant(institution=args.institution, operations=_split(args.operations),
                  fields=fields, channels=_split(args.channels), purpose=args.purpose,
                  valid_from=args.valid_from, valid_until=args.valid_until,
                  daily_quota=args.quota, rate_per_second=args.rate, burst=args.burst,
                  max_batch=args.max_batch,
                  return_data_kinds=_split(args.return_data_kinds),
                  return_deadline_days=args.return_deadline_days,
                  purposes=_split(args.purposes), networks=_split(args.networks))
    saved = _admin(args).set_grant(grant)
    print(f"grant for {saved.institution} saved; running servers apply it within a second")
    return 0


def _status(args) -> int:
    grant = _admin(args).set_status(args.institution, args.status, args.reason)
    print(f"grant of {grant.institution} is now {grant.status}")
    return 0


def _show(args) -> int:
    _, _, grants = _admin(args).store.snapshot()
    if args.institution not in grants:
        print(f"{args.institution} has no grant (access denied by default)")
        return FINDING
    print(json.dumps(dataclasses.asdict(grants[args.institution]), indent=2))
    return 0


def _list(args) -> int:
    _, institutions, grants = _admin(args).store.snapshot()
    rows = []
    for i in sorted(institutions.values(), key=lambda x: x.id):
        g = grants.get(i.id)
        rows.append((i.id, i.kind, i.name, g.status if g else "no grant",
                     f"{g.valid_from}..{g.valid_until}" if g else "",
                     ",".join(g.operations) if g else ""))
    if args.json:
        emit_json([dict(zip(("id", "kind", "name", "status", "term", "operations"), r))
                   for r in rows])
    else:
        print(table(rows, ("INSTITUTION", "KIND", "NAME", "GRANT", "TERM", "OPERATIONS")))
    return 0


def _usage(args) -> int:
    u = _admin(args).usage(args.institution, args.day)
    if args.json:
        emit_json({"institution": args.institution, "day": u.day, "items": u.items,
                   "total": u.total})
    else:
        print(f"{args.institution} on {u.day} (WIB): {u.total:,} NIKs")
        for op, n in sorted(u.items.items()):
            print(f"  {op}: {n:,}")
    return 0
