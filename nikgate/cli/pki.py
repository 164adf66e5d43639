"""`nikgate pki ...`: the CA behind the mutual-TLS service (init, issue, renew, sign, revoke,
list)."""

from __future__ import annotations

import sys
from pathlib import Path

from .output import emit_json, table


def register(sub) -> None:
    p = sub.add_parser("pki", help="the nikgate CA: client and server certificates, CRL")
    s = p.add_subparsers(dest="pki_command", required=True, metavar="ACTION")

    i = s.add_parser("init", help="create the CA (DIR/ca/) with an empty CRL, and the card "
                                  "keys (document signer, card master key) beside it")
    _dir(i)
    i.add_argument("--name", default="nikgate dev CA", help="CA common name")
    i.add_argument("--days", type=int, default=3650, help="CA validity (default 3650)")
    i.add_argument("--force", action="store_true",
                   help="replace an existing CA (the old one is moved aside, not deleted)")
    i.set_defaults(func=_init)

    v = s.add_parser("issue-server", help="issue or rotate the server certificate "
                                          "(DIR/server/server.crt|.key)")
    _dir(v)
    v.add_argument("--host", action="append", dest="hosts", metavar="H",
                   help="DNS name for the SAN (repeatable; default localhost)")
    v.add_argument("--ip", action="append", dest="ips", metavar="IP",
                   help="IP address for the SAN (repeatable; default 127.0.0.1 and ::1)")
    v.add_argument("--days", type=int, default=397)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_issue_server)

    c = s.add_parser("issue", help="issue a client certificate and key: an institution's "
                                   "(DIR/issued/ID.crt|.key), an operator's or an adapter's "
                                   "(DIR/issued/ID.KIND.crt|.key)")
    c.add_argument("institution_id", metavar="ID", nargs="?",
                   help="the id the certificate names (or --id)")
    c.add_argument("--id", dest="id_option", metavar="ID",
                   help="the id the certificate names (instead of the positional ID)")
    _dir(c)
    _kind(c)
    c.add_argument("--days", type=int, default=365)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_issue)

    n = s.add_parser("renew", help="re-issue a client certificate with a new key; the old "
                                   "one keeps working for --overlap-days, then `pki crl` "
                                   "revokes it")
    n.add_argument("institution_id", metavar="ID", help="the id the certificate names")
    _dir(n)
    _kind(n)
    n.add_argument("--serial", default=None, help="the certificate to renew (default: the "
                   "newest of this id and kind that is neither revoked nor renewed)")
    n.add_argument("--overlap-days", type=float, default=None, metavar="N",
                   help="days both certificates work (default 14)")
    n.add_argument("--days", type=int, default=365, help="the new certificate's validity")
    n.add_argument("--out", default=None, metavar="DIR",
                   help="write the new pair here (default: DIR/issued/, as `pki issue`)")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=_renew)

    r = s.add_parser("sign-csr", help="sign an institution's CSR (it keeps its own key)")
    r.add_argument("csr", metavar="CSR_FILE")
    _dir(r)
    r.add_argument("--institution", "--id", required=True, metavar="ID",
                   dest="institution",
                   help="the id the certificate names (the CSR's subject is ignored)")
    _kind(r)
    r.add_argument("--days", type=int, default=365)
    r.add_argument("--out", required=True, metavar="CERT", help="where to write the PEM")
    r.add_argument("--replaces", default=None, metavar="SERIAL",
                   help="renewal: the certificate this one replaces (same id and kind); it "
                        "keeps working for --overlap-days, then `pki crl` revokes it")
    r.add_argument("--overlap-days", type=float, default=None, metavar="N",
                   help="with --replaces: days both certificates work (default 14)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_sign_csr)

    k = s.add_parser("revoke", help="revoke a certificate and publish a new CRL")
    k.add_argument("serial", metavar="SERIAL", help="hex serial from `nikgate pki list` "
                                                    "(a unique prefix of 8+ digits will do)")
    _dir(k)
    k.add_argument("--reason", default="unspecified",
                   help="key_compromise, affiliation_changed, superseded, "
                        "cessation_of_operation, privilege_withdrawn, ... "
                        "(default unspecified)")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=_revoke)

    f = s.add_parser("crl", help="re-sign the CRL with a fresh next-update (run from cron)")
    _dir(f)
    f.add_argument("--days", type=int, default=7, help="CRL validity (default 7)")
    f.add_argument("--at", default=None, metavar="TIME",
                   help="revoke renewed certificates whose overlap ends by TIME (ISO 8601, "
                        "e.g. 2027-01-31T00:00:00Z) instead of by now: to check ahead")
    f.set_defaults(func=_crl)

    ls = s.add_parser("list", help="every certificate the CA issued, with its status")
    _dir(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)


def _dir(p) -> None:
    p.add_argument("--dir", required=True, help="the PKI directory")


def _kind(p) -> None:
    from nikgate.server.pki.layout import KINDS

    p.add_argument("--kind", choices=KINDS, default=None,
                   help="institution (default), operator (a Dukcapil operator), or an "
                        "adapter that acts on behalf of others: portal (the web portal), "
                        "gateway (the JSON gateway); docs/pki.md")
    p.add_argument("--operator", action="store_true", help="the same as --kind operator")


def _kind_of(args) -> str:
    from nikgate.errors import InvalidInputError

    if args.operator and args.kind not in (None, "operator"):
        raise InvalidInputError(f"--operator and --kind {args.kind} disagree: give one",
                                field="kind")
    return "operator" if args.operator else (args.kind or "institution")


def _id_of(args) -> str:
    from nikgate.errors import InvalidInputError

    given = {v for v in (args.institution_id, args.id_option) if v is not None}
    if len(given) != 1:
        raise InvalidInputError("give the certificate's id once: `nikgate pki issue ID` or "
                                "`nikgate pki issue --id ID`", field="institution_id")
    return given.pop()


def _positive(days: int) -> int:
    from nikgate.errors import InvalidInputError

    if days < 1:
        raise InvalidInputError(f"--days must be at least 1, got {days}", field="days")
    return days


def _when(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _report(args, info: dict) -> int:
    if args.json:
        emit_json(info)
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def _init(args) -> int:
    from nikgate.card import docsigner
    from nikgate.server.pki import ca as pki

    ca = pki.init_ca(args.dir, name=args.name, days=_positive(args.days), force=args.force)
    # Dukcapil's card keys live beside the CA: `nikgate card issue` and `nikgate sam issue`
    # read them (kept, not replaced, by --force)
    docsigner.load_or_create_document_signer(ca.layout.ca_dir)
    docsigner.load_or_create_card_master_key(ca.layout.ca_dir)
    print(f"CA certificate: {ca.layout.ca_cert}")
    print(f"CA key:         {ca.layout.ca_key} (keep it private)")
    print(f"CRL:            {ca.layout.crl}")
    print(f"card keys:      {ca.layout.ca_dir / docsigner.KEY_NAME}, "
          f"{ca.layout.ca_dir / docsigner.MASTER_KEY_NAME} (keep them private)")
    return 0


def _issue_server(args) -> int:
    from nikgate.server.pki import ca as pki

    ca = pki.load_ca(args.dir)
    hosts = args.hosts if args.hosts is not None else ["localhost"]
    ips = args.ips if args.ips is not None else ["127.0.0.1", "::1"]
    issued = pki.issue_server(ca, hosts, ips, days=_positive(args.days))
    return _report(args, {"serial": issued.serial_hex, "certificate": str(issued.cert_path),
                          "key": str(issued.key_path),
                          "not_after": _when(issued.cert.not_valid_after_utc)})


def _issue(args) -> int:
    from nikgate.server.pki import ca as pki

    kind, ident = _kind_of(args), _id_of(args)
    ca = pki.load_ca(args.dir)
    issued = pki.issue_client(ca, ident, kind=kind, days=_positive(args.days))
    return _report(args, {"serial": issued.serial_hex, "kind": kind,
                          "institution_id": ident,
                          "certificate": str(issued.cert_path), "key": str(issued.key_path),
                          "not_after": _when(issued.cert.not_valid_after_utc)})


def _sign_csr(args) -> int:
    from nikgate.errors import InvalidInputError
    from nikgate.server.pki import ca as pki

    try:
        csr_pem = Path(args.csr).read_bytes()
    except OSError as e:
        raise InvalidInputError(f"cannot read CSR file {args.csr}: {e.strerror}") from None
    kind = _kind_of(args)
    ca = pki.load_ca(args.dir)
    if args.overlap_days is not None and args.replaces is None:
        raise InvalidInputError("--overlap-days goes with --replaces SERIAL (a renewal)",
                                field="overlap_days")
    issued = pki.sign_csr(ca, csr_pem, args.institution, kind=kind, days=_positive(args.days),
                          replaces=args.replaces, overlap_days=_overlap(args))
    out = Path(args.out)
    pki.write_atomic(out, issued.cert_pem)
    info = {"serial": issued.serial_hex, "kind": kind, "institution_id": args.institution,
            "certificate": str(out), "not_after": _when(issued.cert.not_valid_after_utc)}
    if args.replaces is not None:
        info.update(_replaced(args.dir, issued.serial_hex))
    return _report(args, info)


def _overlap(args) -> float:
    from nikgate.server.pki.ca import OVERLAP_DAYS

    return OVERLAP_DAYS if args.overlap_days is None else args.overlap_days


def _replaced(pki_dir: str, serial: str) -> dict:
    from nikgate.server.pki import ca as pki

    rec = next(r for r in pki.list_certs(pki_dir) if r.renewed_by == serial)
    return {"replaces": rec.serial, "old_revoked_at": rec.revoke_at}


def _renew(args) -> int:
    from nikgate.server.pki import ca as pki

    kind = _kind_of(args)
    ca = pki.load_ca(args.dir)
    issued = pki.renew(ca, args.institution_id, kind, overlap_days=_overlap(args),
                       days=_positive(args.days), serial=args.serial, out_dir=args.out)
    return _report(args, {"serial": issued.serial_hex, "kind": kind,
                          "institution_id": args.institution_id,
                          "certificate": str(issued.cert_path), "key": str(issued.key_path),
                          "not_after": _when(issued.cert.not_valid_after_utc),
                          **_replaced(args.dir, issued.serial_hex)})


def _revoke(args) -> int:
    from nikgate.server.pki import ca as pki

    ca = pki.load_ca(args.dir)
    rec = pki.revoke(ca, args.serial, args.reason)
    return _report(args, {"serial": rec.serial, "kind": rec.kind,
                          "institution_id": rec.institution_id, "revoked_at": rec.revoked_at,
                          "reason": rec.reason, "crl": str(ca.layout.crl)})


def _crl(args) -> int:
    from nikgate.server.pki import ca as pki

    ca = pki.load_ca(args.dir)
    number, revoked = pki.refresh_crl(ca, days=_positive(args.days), now=_instant(args.at))
    for rec in revoked:
        print(f"revoked {rec.serial} ({rec.kind} {rec.institution_id}): renewed by "
              f"{rec.renewed_by}, overlap ended {rec.revoke_at}")
    print(f"CRL #{number} written to {ca.layout.crl}")
    return 0


def _instant(text: str | None):
    import datetime as dt

    from nikgate.errors import InvalidInputError

    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--at is an ISO 8601 time such as 2027-01-31T00:00:00Z, "
                                f"got {text!r}", field="at") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _list(args) -> int:
    from nikgate.server.pki import ca as pki

    records = [r.to_dict() for r in pki.list_certs(args.dir)]
    if args.json:
        emit_json(records)
        return 0
    if not records:
        print("no certificates issued yet", file=sys.stderr)
        return 0
    rows = [(r["serial"], r["kind"], r["institution_id"] or "-", r["status_detail"],
             r["not_after"], r["reason"] or "") for r in records]
    print(table(rows, ("SERIAL", "KIND", "ID", "STATUS", "NOT_AFTER", "REASON")))
    return 0
