"""`nikgate sam ...`: SAMs for card readers (issue, activate, revoke, list).

`sam issue` personalises a SAM image (sam.json: the card master key, the document signer's
public key, its own readout key, the unlock secret as a scrypt hash) from the keys in the
CA directory, and registers it in the control store as issued. `activate` binds it to the
reader it sits in; `revoke` ends it. Every change is audited on the admin stream, like grant
changes (docs/card-reader.md, "The SAM registry"), and reaches running servers at once.
With `--config`, a node's nikgate.toml names the store and the audit log, as for `nikgate
grant`; when it has `[cluster] postgres_dsn` the registry is the cluster's, in PostgreSQL.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from nikgate.errors import InvalidInputError

from .grant import _common
from .output import emit_json, table


def register(sub) -> None:
    p = sub.add_parser("sam", help="SAMs of card readers: issue, activate, revoke, list")
    s = p.add_subparsers(dest="sam_command", required=True, metavar="ACTION")

    i = s.add_parser("issue", help="personalise a SAM image (sam.json) for an institution and "
                                   "register it (status issued)")
    i.add_argument("--institution", required=True, metavar="ID")
    i.add_argument("--out", required=True, help="where to write the SAM image (never "
                                                "overwritten: it holds the master key)")
    i.add_argument("--sam-id", help="the SAM's id (default SAM- and 8 random hex digits)")
    i.add_argument("--secret-file", help="a file whose first line is the unlock secret (at "
                                         "least 6 characters); default: a generated secret, "
                                         "printed once")
    i.add_argument("--pki", metavar="DIR",
                   help="the PKI directory (or its ca/ directory) holding card-master.key and "
                        "document-signer.key; default: the directory of the config's tls.ca")
    i.add_argument("--max-tries", type=int, default=5,
                   help="wrong secrets before the SAM locks itself (1-15, default 5)")
    i.add_argument("--json", action="store_true")
    _common(i, config=False)
    i.add_argument("--config", help="a node's nikgate.toml: the CA directory (unless --pki), "
                                    "its [access] store and [audit] log instead of --store/"
                                    "--audit-dir/--audit-key; with [cluster] postgres_dsn, "
                                    "the cluster's PostgreSQL")
    i.set_defaults(func=_issue)

    a = s.add_parser("activate", help="bind a SAM to the reader it sits in")
    a.add_argument("sam_id", metavar="SAM_ID")
    a.add_argument("--reader", required=True, metavar="SERIAL", help="the reader's serial")
    a.add_argument("--rebind", action="store_true",
                   help="move a SAM already active on another reader (the reader was "
                        "replaced); audited as a rebind")
    a.add_argument("--json", action="store_true")
    _common(a)
    a.set_defaults(func=_activate)

    r = s.add_parser("revoke", help="revoke a SAM for good (lost, stolen, reader retired)")
    r.add_argument("sam_id", metavar="SAM_ID")
    r.add_argument("--reason", required=True)
    r.add_argument("--json", action="store_true")
    _common(r)
    r.set_defaults(func=_revoke)

    ls = s.add_parser("list", help="the SAM registry")
    ls.add_argument("--institution", metavar="ID", help="only this institution's SAMs")
    ls.add_argument("--json", action="store_true")
    _common(ls)
    ls.set_defaults(func=_list)


def _admin(args):
    """As for `nikgate grant`: --store/--audit-dir/--audit-key, or with --config the node's
    [access] store and [audit] log, or the cluster's PostgreSQL when it has [cluster]
    postgres_dsn (the SAM registry is shared there: server/cluster/control.py)."""
    from .grant import _admin as admin

    return admin(args)


def _keys_dir(pki: str | None, config: str | None) -> Path:
    """The CA directory: --pki (a PKI directory or its ca/), else the config's tls.ca's."""
    if not pki:
        from nikgate.server.config import load_config

        return Path(load_config(config).tls.ca).parent
    path = Path(pki)
    return path / "ca" if (path / "ca").is_dir() else path


def _secret(path: str | None) -> tuple[str, bool]:
    """(secret, generated)."""
    if path is None:
        return secrets.token_urlsafe(12), True
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InvalidInputError(f"cannot read --secret-file {path}: {e.strerror}",
                                field="secret_file") from None
    secret = lines[0].strip() if lines else ""
    if len(secret) < 6:
        raise InvalidInputError("the SAM secret (first line of --secret-file) must have at "
                                "least 6 characters", field="secret_file")
    return secret, False


def _sam_dict(sam) -> dict:
    return {"sam_id": sam.sam_id, "institution": sam.institution, "status": sam.status,
            "reader_serial": sam.reader_serial, "status_reason": sam.status_reason,
            "updated_at": sam.updated_at}


def _issue(args) -> int:
    from nikgate.card import (
        issue_sam,
        load_or_create_card_master_key,
        load_or_create_document_signer,
    )
    from nikgate.server.access.sams import validate_sam_id

    out = Path(args.out)
    if out.exists():
        raise InvalidInputError(f"{out} exists; a SAM image is never overwritten (it holds "
                                "the master key): choose another --out", field="out")
    sam_id = validate_sam_id(args.sam_id or f"SAM-{secrets.token_hex(4).upper()}")
    secret, generated = _secret(args.secret_file)
    keys = _keys_dir(args.pki, args.config)
    try:
        image = issue_sam(args.institution, load_or_create_card_master_key(keys),
                          load_or_create_document_signer(keys).public_key(), secret, sam_id,
                          max_tries=args.max_tries)
    except ValueError as e:
        raise InvalidInputError(f"cannot issue the SAM: {e}") from None
    sam = _admin(args).register_sam(sam_id, args.institution, image.public_key_pem())
    image.save(out)
    if args.json:
        emit_json({**_sam_dict(sam), "image": str(out),
                   **({"secret": secret} if generated else {})})
        return 0
    print(f"SAM {sam.sam_id} issued for {sam.institution} and registered (status issued); "
          f"image: {out} (mode 0600; it holds the master key)")
    if generated:
        print(f"unlock secret (shown once; put it in the reader's configuration): {secret}")
    print(f"next: nikgate sam activate {sam.sam_id} --reader SERIAL")
    return 0


def _activate(args) -> int:
    admin = _admin(args)
    before = admin.list_sams()
    sam = admin.activate_sam(args.sam_id, args.reader, args.rebind)
    if args.json:
        emit_json(_sam_dict(sam))
    elif any(s == sam for s in before):
        print(f"SAM {sam.sam_id} is already active on reader {sam.reader_serial}; nothing "
              "changed")
    else:
        print(f"SAM {sam.sam_id} of {sam.institution} is active on reader "
              f"{sam.reader_serial}; running servers accept it at once")
    return 0


def _revoke(args) -> int:
    sam = _admin(args).revoke_sam(args.sam_id, args.reason)
    if args.json:
        emit_json(_sam_dict(sam))
    else:
        print(f"SAM {sam.sam_id} of {sam.institution} is revoked; running servers refuse it "
              "at once")
    return 0


def _list(args) -> int:
    sams = _admin(args).list_sams(args.institution)
    if args.json:
        emit_json([_sam_dict(s) for s in sams])
        return 0
    if not sams:
        print("no SAMs registered" + (f" for {args.institution}" if args.institution else ""),
              file=sys.stderr)
        return 0
    print(table([(s.sam_id, s.institution, s.status, s.reader_serial or "-",
                  s.status_reason, s.updated_at) for s in sams],
                ("SAM", "INSTITUTION", "STATUS", "READER", "REASON", "UPDATED")))
    return 0
