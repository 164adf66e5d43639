"""`nikgate doctor [--config FILE] [--json] [--strict]`: check this node (nikgate/doctor/).

Exit status: 0 when nothing FAILed (WARN included: a daily check should not page anyone
for a certificate with 20 days left), 1 when a check FAILed; with --strict a WARN exits 1
too. --json prints {"status": ..., "checks": [...]} for monitoring.
"""

from __future__ import annotations

from .output import emit_json


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this node: config, certificates, CRL, index, "
                                      "disk, clock, port (OK / WARN / FAIL)")
    p.add_argument("--config", help="the server's TOML config (default: var/demo/nikgate.toml "
                                    "when it exists, else the built-in defaults)")
    p.add_argument("--cert", help="client certificate for the health call (default: the "
                                  "gateway's or portal's adapter certificate in the config)")
    p.add_argument("--key", help="its key")
    p.add_argument("--card-reader", action="append", default=[], metavar="SPEC",
                   help="a card reader this PC uses (pcsc:NAME or sim:PATH); repeatable")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 on WARN too")
    p.set_defaults(func=_doctor)


def _doctor(args) -> int:
    from nikgate.doctor import Status, overall, run

    checks = run(args.config, cert=args.cert, key=args.key, card_readers=args.card_reader)
    status = overall(checks)
    if args.json:
        emit_json({"status": status.name, "checks": [c.to_dict() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.status.name:<4} {c.name:<{width}}  {c.line}")
    if status is Status.FAIL or (args.strict and status is Status.WARN):
        return 1
    return 0
