"""`nikgate verify`: per-field verification of one person, for a person at a terminal.

Against a server (`--connection FILE --as INSTITUTION`, a thin client of the web service)
or offline against an index directory (`--index DIR`). Exit status: 0 when the NIK was
found and every claimed field matched, 3 when it was not found or a field did not match,
2 for invalid input (the table in exits.py).
"""

from __future__ import annotations

from nikgate.errors import InvalidInputError
from nikgate.redact import redact

from .exits import DONE, FINDING
from .output import emit_json, table

# Friendly options for the fields integrators claim most; --field covers the rest.
OPTIONS = (
    ("--name", "NAMA_LGKP"),
    ("--birth-date", "TGL_LHR"),
    ("--birth-place", "TMPT_LHR"),
    ("--sex", "JENIS_KLMIN"),
    ("--mother", "NAMA_LGKP_IBU"),
    ("--father", "NAMA_LGKP_AYAH"),
    ("--address", "ALAMAT"),
    ("--kk", "NO_KK"),
)
LABEL = {1: "Sesuai", 2: "Tidak Sesuai", 0: "-"}


def register(sub) -> None:
    p = sub.add_parser("verify", help="verify claimed fields of a NIK")
    add_target_options(p)
    p.add_argument("--nik", required=True)
    for flag, field in OPTIONS:
        p.add_argument(flag, dest=field, metavar="VALUE", help=f"claimed {field}")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                   help="any other verifiable field, e.g. --field AGAMA=ISLAM")
    p.add_argument("--threshold", action="append", default=[], metavar="[FIELD=]50-100",
                   help="threshold for fuzzy fields (all, or one field); default per field")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            # no echo: what was typed may be a claimed value (personal data)
            raise InvalidInputError(f"{what} must be NAME=VALUE; one argument has no '='")
        out[name.strip().upper()] = value
    return out


def parse_thresholds(items: list[str]) -> dict[str, int] | int | None:
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return _int(items[0])
    return {k: _int(v) for k, v in _pairs(items, "--threshold").items()}


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # the range itself is checked by the engine (claims.MIN_THRESHOLD..MAX_THRESHOLD)
        raise InvalidInputError(f"threshold must be a whole number, got '{redact(text)}'"
                                ) from None


def add_target_options(p) -> None:
    """--index DIR (offline) or --connection FILE --as INSTITUTION (via the server)."""
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--index", help="index directory (offline, no server)")
    target.add_argument("--connection", help="connection.json of a server (as `nikgate demo` "
                                             "writes)")
    p.add_argument("--as", dest="institution", default="bank-demo",
                   help="which institution's certificate to present (default bank-demo)")


def _verify(args) -> int:
    claims: dict[str, str] = {}
    for _, field in OPTIONS:
        value = getattr(args, field)
        if value is not None:
            claims[field] = value
    claims.update(_pairs(args.field, "--field"))
    thresholds = parse_thresholds(args.threshold)
    if args.connection:
        result = _verify_remote(args, claims, thresholds)
    else:
        from nikgate.engine import NikIndex

        with NikIndex.open(args.index) as idx:
            result = idx.verify(args.nik, claims, thresholds)
    if args.json:
        emit_json({
            "nik": result.nik, "status": result.status.name,
            "life_status": result.life_status, "card_status": result.card_status,
            "fields": [{"field": r.field.name, "result": r.outcome.name, "score": r.score,
                        "threshold": r.threshold} for r in result.fields],
        })
        return DONE if result.all_match else FINDING
    if not result.found:
        print(f"NIK {result.nik}: not found in the index")
        return FINDING
    print(f"NIK {result.nik}: found; person {result.life_status}, card {result.card_status}")
    rows = [(r.field.name, LABEL[r.outcome], str(r.score) if r.outcome else "-",
             str(r.threshold)) for r in result.fields]
    print(table(rows, ("FIELD", "RESULT", "SCORE", "THRESHOLD")))
    return DONE if result.all_match else FINDING


def _verify_remote(args, claims, thresholds):
    """Ask the server; turn its answer into the engine's result type for printing."""
    from nikgate import codes
    from nikgate.clients import Connection, NikgateClient
    from nikgate.engine import FieldResult, ItemStatus, Verification
    from nikgate.engine.claims import canonical_name
    from nikgate.engine.schema import TEXT_KIND, Field

    from .remote import call

    if isinstance(thresholds, int):  # one number: for the free-text fields claimed
        thresholds = {f: thresholds for f in claims if canonical_name(f) in TEXT_KIND}
    conn = Connection.from_file(args.connection, args.institution)
    with NikgateClient(conn) as client:
        reply = call(lambda: client.verify(args.nik, claims, thresholds))
    m = reply.message
    order = {name: i for i, name in enumerate(claims)}
    fields = tuple(sorted((FieldResult(Field[f.field], codes.ENGINE_OUTCOME[f.outcome],
                                       f.score, f.threshold) for f in m.fields),
                          key=lambda r: order.get(r.field.name, 99)))
    return Verification(nik=args.nik, status=ItemStatus(m.status), fields=fields,
                        life_status=codes.life_status_name(m.life_status),
                        card_status=codes.card_status_name(m.card_status))
