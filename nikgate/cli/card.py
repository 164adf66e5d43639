"""`nikgate card issue`: personalise emulated KTP-el chips (card.json) from stored records.

A card is made the way Dukcapil personalises one: the chip's biodata from the population
record (looked up in the index), the right and left index fingerprint templates (synthetic,
`nikgate.fingerprint.finger_template`), a fresh UID, per-card keys diversified from the
card master key and the document signature by the document-signer key, both kept in the
CA directory (`nikgate.card.load_or_create_*`; by default the CA directory of the config's
`tls.ca`, as the server sees it). Template values are never printed.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from nikgate.errors import InvalidInputError

# Chip fields that are not in the population record: the card's own dates.
_CARD_ONLY = ("BERLAKU_HINGGA", "TGL_TERBIT")


def register(sub) -> None:
    p = sub.add_parser("card", help="emulated KTP-el chips for the card reader")
    s = p.add_subparsers(dest="card_command", required=True, metavar="ACTION")
    i = s.add_parser("issue", help="personalise a card image (card.json) from a stored record")
    i.add_argument("--index", required=True, help="index directory holding the records")
    what = i.add_mutually_exclusive_group(required=True)
    what.add_argument("--nik", help="the card holder's NIK (one card, to --out)")
    what.add_argument("--count", type=int, help="this many cards of stored NIKs (to --out-dir)")
    i.add_argument("--out", help="where to write the card image (with --nik)")
    i.add_argument("--out-dir", help="directory for NIK.card.json files (with --count)")
    i.add_argument("--pki", metavar="CA_DIR",
                   help="the CA directory holding card-master.key and document-signer.key "
                        "(made on first use; default: the directory of the config's tls.ca)")
    i.add_argument("--config", help="nikgate.toml to take the CA directory from")
    i.add_argument("--uid", metavar="HEX", help="the chip UID (4, 7 or 10 bytes in hex; "
                                                "default random; with --nik only)")
    i.add_argument("--issued", metavar="YYYY-MM-DD", help="issue date (default today)")
    i.add_argument("--seed", type=int, default=0,
                   help="with --count: where in the index to start sampling")
    i.set_defaults(func=_issue)


def ca_dir(pki: str | None, config: str | None) -> Path:
    """The CA directory: --pki, else the directory of the config's tls.ca."""
    if pki:
        return Path(pki)
    from nikgate.server.config import load_config

    return Path(load_config(config).tls.ca).parent


def chip_record(index: Any, nik: str) -> dict[str, str] | None:
    """The chip's fields of `nik` from an open NikIndex (None when not stored)."""
    from nikgate.card import layout

    fields = [f for f in layout.BIODATA_FIELDS if f not in _CARD_ONLY]
    stored = index.lookup(nik, fields)
    if stored is None:
        return None
    return {k: v or "" for k, v in stored.items()} | {"NIK": nik}


def fingerprints_of(nik: str) -> dict[str, bytes]:
    """The synthetic right and left index templates of `nik`, encoded for EF 6FF4/6FF5."""
    from nikgate.fingerprint import LEFT_INDEX, RIGHT_INDEX, encode_template
    from nikgate.fingerprint.synth import finger_template

    return {"right_index": encode_template(finger_template(nik, RIGHT_INDEX)),
            "left_index": encode_template(finger_template(nik, LEFT_INDEX))}


def make_card(record: dict[str, str], keys_dir: str | Path, *, uid: bytes | None = None,
              issued: dt.date | None = None) -> Any:
    """A CardImage for `record` with keys from `keys_dir` (demo, tests and `card issue`)."""
    from nikgate.card import (
        issue_card,
        load_or_create_card_master_key,
        load_or_create_document_signer,
        random_uid,
    )

    master = load_or_create_card_master_key(keys_dir)
    signer = load_or_create_document_signer(keys_dir)
    return issue_card(record, uid or random_uid(), master, signer,
                      fingerprints_of(record["NIK"]), issued=issued)


def _uid(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        raise InvalidInputError(f"--uid must be hex, got {text!r}", field="uid") from None
    if len(uid) not in (4, 7, 10):
        raise InvalidInputError(f"--uid must be 4, 7 or 10 bytes, got {len(uid)}",
                                field="uid")
    return uid


def _issued(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--issued must be YYYY-MM-DD, got {text!r}",
                                field="issued") from None


def _issue(args) -> int:
    from nikgate.engine import NikIndex

    if args.nik and not args.out:
        raise InvalidInputError("--nik needs --out (where to write the card image)",
                                field="out")
    if args.count is not None and (not args.out_dir or args.count < 1):
        raise InvalidInputError("--count needs a positive number and --out-dir", field="count")
    if args.uid and args.count is not None:
        raise InvalidInputError("--uid makes one card; use it with --nik", field="uid")
    uid, issued, keys = _uid(args.uid), _issued(args.issued), ca_dir(args.pki, args.config)
    with NikIndex.open(args.index) as idx:
        if args.nik:
            targets = [(args.nik, Path(args.out))]
        else:
            out_dir = Path(args.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            start = random.Random(args.seed).randrange(10**15, 10**16) if args.seed else 0
            niks = idx.sample_niks(args.count, start) or idx.sample_niks(args.count)
            targets = [(n, out_dir / f"{n}.card.json") for n in niks]
        for nik, path in targets:
            record = chip_record(idx, nik)
            if record is None:
                raise InvalidInputError(f"NIK {nik} is not in the index {args.index}; a card "
                                        "is made from a stored record", field="nik")
            status = idx.lookup(nik, ["STATUS_KTP", "STATUS_HIDUP"]) or {}
            card = make_card(record, keys, uid=uid, issued=issued)
            card.save(path)
            print(f"{path}: NIK {nik}, UID {card.uid.hex().upper()} (record: card "
                  f"{status.get('STATUS_KTP')}, person {status.get('STATUS_HIDUP')})")
    print(f"keys from {keys} (card-master.key, document-signer.key)")
    return 0
