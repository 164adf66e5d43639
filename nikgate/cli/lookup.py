"""`nikgate lookup`: the requested fields of one NIK (offline, from an index)."""

from __future__ import annotations

from .exits import DONE, FINDING
from .output import emit_json, table
from .verify import add_target_options


def register(sub) -> None:
    p = sub.add_parser("lookup", help="read requested fields of a NIK")
    add_target_options(p)
    p.add_argument("--nik", required=True)
    p.add_argument("--fields", required=True, help="comma-separated, e.g. NAMA_LGKP,TGL_LHR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_lookup)


def _lookup(args) -> int:
    from nikgate.engine import NikIndex  # noqa: F401 (offline path)

    fields = [f for f in (x.strip() for x in args.fields.split(",")) if f]
    if args.connection:
        from nikgate.clients import Connection, NikgateClient

        from .remote import call

        conn = Connection.from_file(args.connection, args.institution)
        with NikgateClient(conn) as client:
            m = call(lambda: client.lookup(args.nik, fields)).message
        values = {f: m.values.get(f) or None for f in fields} if m.status == 1 else None
    else:
        with NikIndex.open(args.index) as idx:
            values = idx.lookup(args.nik, fields)
    if args.json:
        emit_json({"nik": args.nik, "found": values is not None, "fields": values})
    elif values is None:
        print(f"NIK {args.nik}: not found in the index")
    else:
        print(table([(k, v if v is not None else "") for k, v in values.items()],
                    ("FIELD", "VALUE")))
    return DONE if values is not None else FINDING
