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
import sys
from pathlib import Path
from typing import Any

from nikgate.errors import InvalidInputError, NikgateError

from .exits import DONE, FAILED, FINDING, READ_AGAIN, REFUSED, exit_status

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
    register_reader(sub)


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


# --- nikgate card-reader read | verify ------------------------------------------------------

SECRET_ENV = "NIKGATE_SAM_SECRET"
SIM_READER_SERIAL = "SIM-READER-1"


def register_reader(sub) -> None:
    p = sub.add_parser("card-reader", help="read a KTP-el through a reader and its SAM; "
                                           "verify it with nikgate (CardVerify)")
    s = p.add_subparsers(dest="card_reader_command", required=True, metavar="ACTION")
    r = s.add_parser("read", help="read and check the card; print its data (never templates)")
    _reader_options(r)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_read)
    v = s.add_parser("verify", help="read the card, match the finger, ask nikgate")
    _reader_options(v)
    v.add_argument("--connection", required=True, help="connection.json (as `nikgate demo` "
                                                       "writes)")
    v.add_argument("--as", dest="institution", default="card-reader-demo",
                   help="which institution's certificate to present (default "
                        "card-reader-demo)")
    v.add_argument("--reader-serial", help="the serial the SAM was activated for (default: "
                                           f"{SIM_READER_SERIAL} for a sim: reader, the "
                                           "PC/SC name for a pcsc: one)")
    v.add_argument("--finger", choices=("genuine", "impostor"), default="genuine",
                   help="the synthetic sensor's captures: the holder's finger or someone "
                        "else's (default genuine)")
    v.add_argument("--which", choices=("right", "left"), default="right",
                   help="which index finger to match (default right)")
    v.add_argument("--attempts", type=int, default=None,
                   help="fingerprint attempts before the card is refused (default 4)")
    v.add_argument("--seed", type=int, default=0, help="the synthetic sensor's seed")
    v.add_argument("--report-refusal", action="store_true",
                   help="report a finger that fails every attempt to nikgate (audited)")
    v.add_argument("--purpose", default="", help="purpose of the check, for the audit log")
    v.add_argument("--save-response", metavar="FILE",
                   help="write the response and request (base64 JSON) for `nikgate receipt "
                        "verify`")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)


def _reader_options(p) -> None:
    p.add_argument("--reader", required=True, help="the card reader: sim:card.json or "
                                                   "pcsc:NAME")
    p.add_argument("--sam-reader", required=True, help="the SAM's slot: sim:sam.json or "
                                                       "pcsc:NAME")
    p.add_argument("--sam-secret-file", help="file holding the SAM unlock secret (default: "
                                             f"the environment variable {SECRET_ENV}); "
                                             "never give the secret itself on a command line")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a card to be laid on the reader (default: it "
                        "must be there)")


def sam_secret(path: str | None, environ: Any = None) -> str:
    """The SAM secret from `path` (first line) or the environment; never from argv."""
    import os

    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise InvalidInputError(f"cannot read the SAM secret file {path}: "
                                    f"{e.strerror or e}", field="sam_secret") from None
        secret = text.splitlines()[0].strip() if text.strip() else ""
    else:
        secret = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not secret:
        raise InvalidInputError(f"no SAM secret: give --sam-secret-file FILE or set {SECRET_ENV}",
                                field="sam_secret")
    return secret


def default_serial(reader_spec: str) -> str:
    """The reader serial used when none is given (see --reader-serial)."""
    scheme, _, rest = reader_spec.partition(":")
    return rest if scheme == "pcsc" and rest else SIM_READER_SERIAL


# Exit status of `card-reader verify` by verdict: 0 verified, 3 not verified (the card or
# person is not current, or the chip disagrees with the record), 4 refused.
VERDICT_EXIT = {"VERIFIED": DONE, "CARD_REPLACED": FINDING, "CARD_BLOCKED": FINDING,
                "DECEASED": FINDING, "DATA_MISMATCH": FINDING, "NOT_FOUND": FINDING,
                "FINGERPRINT_NOT_MATCHED": REFUSED, "DOCUMENT_SIGNATURE_INVALID": REFUSED}
# ... and by what stopped it: 4 refused (clone, altered, finger, SAM not usable), 7 read
# again (card removed, disturbed read, no card); nikgate's errors as EXIT_STATUS says.


def card_exit_status(error: NikgateError) -> int:
    """The exit status of `card-reader read|verify` when `error` stopped it."""
    from nikgate import card
    from nikgate.clients.cardreader import CardRefused, FingerprintNotMatched

    if isinstance(error, (card.CardAuthenticationFailed, card.DocumentSignatureInvalid,
                          FingerprintNotMatched, CardRefused, card.SamError)):
        return REFUSED
    if isinstance(error, (card.CardRemoved, card.SecureMessagingError, card.ReaderError)):
        return READ_AGAIN
    if isinstance(error, card.CardError):
        return FAILED
    return exit_status(error)


def _report(error: NikgateError) -> int:
    from nikgate.clients.cardreader import teller_message

    where = [f"status {error.grpc_code}"] if error.grpc_code else []
    if error.transaction_id:
        where.append(f"transaction {error.transaction_id}")
    line = " ".join(teller_message(error).split())   # one line, whatever the message
    print(f"nikgate: {'refused' if card_exit_status(error) == REFUSED else 'error'}: {line}"
          + (f" ({', '.join(where)})" if where else ""), file=sys.stderr)
    return card_exit_status(error)


def _session(args, connection=None, reader_serial: str = SIM_READER_SERIAL, **kw):
    from nikgate.clients.cardreader import CardReaderSession

    return CardReaderSession(args.reader, args.sam_reader, connection=connection,
                             reader_serial=reader_serial, **kw)


def _read(args) -> int:
    from .output import emit_json, table

    secret = sam_secret(args.sam_secret_file)
    try:
        with _session(args) as session:
            session.unlock(secret)
            if args.wait:
                session.wait_for_card(args.wait)
            readout = session.read_card()
    except NikgateError as e:
        return _report(e)
    summary = readout.summary()
    if args.json:
        emit_json(summary)
        return 0
    print(f"chip UID {summary['uid']}, read through SAM {summary['sam_id']}; issued "
          f"{summary['issued']}")
    print("document signature: valid (checked inside the SAM)" if readout.signature_ok
          else "document signature: INVALID")
    print(table(list(summary["biodata"].items()), ("FIELD", "VALUE")))
    print(f"photo {summary['photo_bytes']} bytes, signature image "
          f"{summary['signature_image_bytes']} bytes, fingerprint templates: "
          + ", ".join(f"{k} {v}" for k, v in sorted(summary["templates"].items())))
    return 0


def _verify(args) -> int:
    import base64
    import json

    from nikgate.clients import Connection
    from nikgate.clients.cardreader import FingerprintNotMatched, SyntheticSensor
    from nikgate.fingerprint import LEFT_INDEX, MAX_ATTEMPTS, RIGHT_INDEX

    from .output import emit_json, table

    secret = sam_secret(args.sam_secret_file)
    connection = Connection.from_file(args.connection, args.institution)
    serial = args.reader_serial or default_serial(args.reader)
    finger = RIGHT_INDEX if args.which == "right" else LEFT_INDEX
    try:
        with _session(args, connection, serial,
                      max_attempts=args.attempts or MAX_ATTEMPTS) as session:
            session.unlock(secret)
            if args.wait:
                session.wait_for_card(args.wait)
            readout = session.read_card()
            sensor = SyntheticSensor(readout.nik, impostor=args.finger == "impostor",
                                     seed=args.seed)
            try:
                session.match_fingerprint(sensor, finger)
            except FingerprintNotMatched as e:
                if not args.report_refusal:
                    raise
                session.report_refusal(e, purpose=args.purpose)
            result = session.verify(purpose=args.purpose)
    except NikgateError as e:
        return _report(e)
    if args.save_response:
        Path(args.save_response).write_text(json.dumps({
            "response_b64": base64.b64encode(result.reply.response_bytes).decode(),
            "request_b64": base64.b64encode(result.reply.request_bytes).decode()}) + "\n")
    fields = [{"field": f.field, "result": f.outcome, "score": f.score,
               "threshold": f.threshold} for f in result.fields]
    if args.json:
        emit_json({"verdict": result.verdict, "message": result.message, "nik": result.nik,
                   "chip_uid": result.chip_uid, "sam_id": result.sam_id,
                   "reader_serial": result.reader_serial, "life_status": result.life_status,
                   "card_status": result.card_status, "fields": fields,
                   "fingerprint": vars(result.fingerprint),
                   "transaction_id": result.transaction_id})
        return VERDICT_EXIT.get(result.verdict, FAILED)
    fp = result.fingerprint
    print(f"{result.verdict}: {result.message}")
    print(f"NIK {result.nik}, chip UID {result.chip_uid}, SAM {result.sam_id}, reader "
          f"{result.reader_serial}; person {result.life_status or '-'}, card "
          f"{result.card_status or '-'}")
    print(f"fingerprint ({args.which} index, on the device): "
          f"{'matched' if fp.matched else 'NOT matched'}, score {fp.score}, "
          f"{fp.attempts} {'attempt' if fp.attempts == 1 else 'attempts'}")
    if fields:
        print(table([(f["field"], f["result"], f["score"], f["threshold"]) for f in fields],
                    ("FIELD", "RESULT", "SCORE", "THRESHOLD")))
    print(f"transaction {result.transaction_id}; the receipt is signed by nikgate")
    return VERDICT_EXIT.get(result.verdict, FAILED)
