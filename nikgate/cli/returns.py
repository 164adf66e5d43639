"""`nikgate return-data send|export` and `nikgate obligations`: data balikan at the terminal.

`send` streams a CSV to the server (`--connection FILE --as INSTITUTION`): exit 0 when
every record was acknowledged, 1 when some were rejected (or the send failed), 2 for
invalid input. `export` reads the return-data store on the server host (`--config`).
`obligations` asks the server what an institution still owes. See docs/return-data.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from nikgate.errors import InvalidInputError, NikgateError

from .output import emit_json, table

WIB = dt.timezone(dt.timedelta(hours=7))
LISTED_REJECTS = 20            # on stderr when no --rejects file is given
EXPORT_COLUMNS = ("institution", "record_id", "nik", "kind", "value", "observed_at",
                  "received_at")


def _int_in(low: int, high: int, what: str):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = low - 1
        if not low <= n <= high:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number {low:,}-"
                                             f"{high:,}, got {text!r}")
        return n
    return parse


_batch_size = _int_in(1, 10_000, "--batch-size")
_window = _int_in(1, 1_000, "--window")
_max_items = _int_in(1, 10_000, "--max-items")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--give-up-after must be seconds above 0, got "
                                         f"{text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("return-data", help="data balikan: send records, export the store")
    s = p.add_subparsers(dest="return_data_command", required=True, metavar="ACTION")
    snd = s.add_parser("send", help="stream a CSV of return data to the server")
    snd.add_argument("file", help="CSV with header record_id,nik,kind,value[,observed_at]")
    _connection_options(snd)
    snd.add_argument("--batch-size", type=_batch_size, default=1000, metavar="N",
                     help="records per batch, 1-10,000 (default 1000)")
    snd.add_argument("--window", type=_window, default=8, metavar="N",
                     help="batches sent but not yet acknowledged (default 8)")
    snd.add_argument("--give-up-after", type=_seconds, default=60.0, metavar="SECONDS",
                     help="stop when no batch was acknowledged for this long, reconnecting "
                          "meanwhile (default 60)")
    snd.add_argument("--rejects", metavar="OUT.csv",
                     help="write rejected records here: record_id,reason,message")
    snd.add_argument("--json", action="store_true")
    snd.set_defaults(func=_send)
    ex = s.add_parser("export", help="write an institution's stored records (run on the "
                                     "server host)")
    ex.add_argument("--config", required=True, help="the server's nikgate.toml")
    ex.add_argument("--institution", required=True)
    ex.add_argument("--since", metavar="YYYY-MM-DD|ISO", help="only records received from "
                    "then on; a date means 00:00 WIB, a time without offset is WIB")
    ex.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    ex.add_argument("--out", metavar="FILE", help="write here (mode 0600) instead of stdout")
    ex.set_defaults(func=_export)
    rb = s.add_parser("rebuild-ledger", help="replay accesses from the audit log into the "
                                             "obligations ledger (run on the server host)")
    rb.add_argument("--config", required=True, help="the server's nikgate.toml")
    rb.add_argument("--since", metavar="YYYY-MM-DD|ISO", help="only accesses from then on "
                    "(default: the whole log)")
    rb.add_argument("--institution", action="append", default=[],
                    help="only this institution (repeatable; default: every grant with a "
                         "return-data duty)")
    rb.set_defaults(func=_rebuild)
    ob = sub.add_parser("obligations", help="what an institution owes in data balikan")
    _connection_options(ob)
    ob.add_argument("--institution", default="",
                    help="whose obligations (default: the --as institution; another "
                         "institution's need an operator certificate)")
    ob.add_argument("--max-items", type=_max_items, default=100, metavar="N",
                    help="outstanding NIKs to list, 1-10,000 (default 100)")
    ob.add_argument("--json", action="store_true")
    ob.set_defaults(func=_obligations)


def _connection_options(p) -> None:
    p.add_argument("--connection", required=True,
                   help="connection.json of a server (as `nikgate demo` writes)")
    p.add_argument("--as", dest="cert_institution", default="bank-demo",
                   metavar="INSTITUTION",
                   help="which institution's certificate to present (default bank-demo)")


def _connect(args):
    from nikgate.clients import Connection

    try:
        return Connection.from_file(args.connection, args.cert_institution)
    except KeyError as e:
        raise InvalidInputError(str(e.args[0])) from None
    except OSError as e:
        raise InvalidInputError(f"cannot read {args.connection}: {e.strerror}") from None
    except ValueError as e:  # not JSON
        raise InvalidInputError(f"{args.connection} is not a connection file: {e}") from None


def _lines(pairs: list[tuple[str, str, str]]) -> str:
    """Label, value, note: aligned, no header."""
    w0 = max(len(p[0]) for p in pairs)
    w1 = max(len(p[1]) for p in pairs)
    return "\n".join(f"{a.ljust(w0)}  {b.rjust(w1)}  {c}".rstrip() for a, b, c in pairs)


def _iso(ms: int) -> str:
    """Unix milliseconds as ISO 8601 UTC with milliseconds: 2024-05-01T03:00:00.000Z."""
    t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# -- send ----------------------------------------------------------------------------------


def _records(path: str) -> Iterator:
    """The file's records; a malformed file raises InvalidInputError."""
    from nikgate.clients.return_data import read_records_csv

    try:
        yield from read_records_csv(path)
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {e.start:,} of a line)"
                                ) from None
    except (ValueError, csv.Error) as e:
        raise InvalidInputError(str(e)) from None
    except OSError as e:
        raise InvalidInputError(f"cannot read {path}: {e.strerror}") from None


def _kept_errors(records: Iterator, errors: list) -> Iterator:
    """`records`, ending quietly at an error and keeping it for the caller: raised inside
    the sender's request thread it would pass for a broken stream, and the rest of the
    file would be dropped without a word."""
    try:
        yield from records
    except InvalidInputError as e:
        errors.append(e)


def _send(args) -> int:
    from nikgate.clients import ReturnDataSender
    from nikgate.progress import terminal_progress
    from nikgate.v1 import return_data_pb2 as pb

    from .remote import call

    # Read the whole file once before connecting: a bad header or a bad line is exit 2
    # with nothing sent, not a file half sent. Streaming, so any size.
    total = sum(1 for _ in _records(args.file))
    conn = _connect(args)
    acked = {"stored": 0, "duplicates": 0, "rejected": 0}
    # acknowledged records on a terminal's stderr (tally runs in the sender's thread)
    progress = terminal_progress("sending", total, "records", quiet=args.json)

    def tally(_batch, status: bytes) -> None:
        acked["stored"] += status.count(pb.RECORD_STATUS_STORED)
        acked["duplicates"] += status.count(pb.RECORD_STATUS_DUPLICATE)
        acked["rejected"] += status.count(pb.RECORD_STATUS_REJECTED)
        progress(sum(acked.values()))

    errors: list[InvalidInputError] = []
    sender = ReturnDataSender(conn, batch_size=args.batch_size, window=args.window,
                              give_up_after=args.give_up_after, on_ack=tally)
    try:
        with progress:
            report = call(lambda: sender.send(_kept_errors(_records(args.file), errors)))
    except NikgateError as e:   # reported with its class, retry delay and transaction id
        e.args = (f"{e} (acknowledged before it: {_counts(acked)}; sending the file again "
                  "is safe: stored records come back as duplicates)",)
        raise
    if errors:  # the file changed after the first reading
        raise InvalidInputError(f"{errors[0]} (acknowledged before it: {_counts(acked)})")
    rejects = [(r.record.record_id, r.reason, r.message) for r in report.rejected]
    if args.rejects:
        _write_rejects(args.rejects, rejects)
    summary = {"records": total, "stored": report.stored, "duplicates": report.duplicates,
               "rejected": len(rejects), "batches": report.batches,
               "reconnects": report.reconnects, "receipts": report.receipts}
    if args.json:
        out: dict = {"file": args.file, **summary}
        if args.rejects:
            out["rejects_file"] = args.rejects
        else:
            out["rejections"] = [{"record_id": i, "reason": r, "message": m}
                                 for i, r, m in rejects]
        emit_json(out)
    else:
        print(f"{args.file}:")
        print(_lines([(k, f"{v:,}", "") for k, v in summary.items()]))
        if rejects and args.rejects:
            print(f"rejected records written to {args.rejects}", file=sys.stderr)
        for record_id, reason, message in ([] if args.rejects else rejects[:LISTED_REJECTS]):
            print(f"rejected {record_id}: {reason}: {message}", file=sys.stderr)
        if not args.rejects and len(rejects) > LISTED_REJECTS:
            print(f"... and {len(rejects) - LISTED_REJECTS:,} more (--rejects FILE "
                  "writes them all)", file=sys.stderr)
    return 1 if rejects else 0


def _counts(acked: dict) -> str:
    return ", ".join(f"{v:,} {k}" for k, v in acked.items())


def _write_rejects(path: str, rejects: list[tuple[str, str, str]]) -> None:
    with _private_file(path) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("record_id", "reason", "message"))
        w.writerows(rejects)


@contextlib.contextmanager
def _private_file(path: str) -> Iterator[TextIO]:
    """A text file only its owner can read (return data is personal data), written under a
    temporary name and renamed into place when complete: never a half-written file."""
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as e:
        raise InvalidInputError(f"cannot write {final}: {e.strerror}") from None
    try:
        with open(fd, "w", newline="", encoding="utf-8") as f:
            yield f
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)


# -- export --------------------------------------------------------------------------------


def _export(args) -> int:
    import lmdb

    from nikgate.server.config import load_config
    from nikgate.server.returns.store import ReturnStore

    since_ms = _since_ms(args.since) if args.since else 0
    path = load_config(args.config).return_data.store
    try:
        store = ReturnStore(path, readonly=True)
    except FileNotFoundError:
        raise NikgateError(f"no return-data store at {path} ([return_data] store of "
                           f"{args.config}); the server makes it when it first starts"
                           ) from None
    except lmdb.Error as e:
        raise NikgateError(f"cannot open the return-data store at {path}: {e}") from None
    records = store.records(args.institution, since_ms)
    try:
        rows = (_row(r) for r in records)
        if args.out:
            with _private_file(args.out) as f:
                n = _write_rows(f, rows, args.format)
            print(f"{n:,} records of {args.institution} written to {args.out}",
                  file=sys.stderr)
        else:
            _write_rows(sys.stdout, rows, args.format)
            sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        records.close()      # ends the read transaction before the environment closes
        store.close()
    return 0


def _rebuild(args) -> int:
    from nikgate.server.access.store import ControlStore
    from nikgate.server.config import load_config
    from nikgate.server.returns.rebuild import rebuild_ledger
    from nikgate.server.returns.store import ReturnStore

    config = load_config(args.config)
    control = ControlStore(config.access.store)
    try:
        grants = control.snapshot()[2]
    finally:
        control.close()
    duty = sorted(i for i, g in grants.items() if g.return_deadline_days > 0)
    chosen = args.institution or duty
    unknown = sorted(set(chosen) - set(duty))
    if unknown:
        raise InvalidInputError(f"{', '.join(unknown)}: no grant with a return-data duty, so "
                                "nothing of theirs belongs in the ledger")
    store = ReturnStore(config.return_data.store)
    try:
        stats = rebuild_ledger(store, config.audit.directory, config.audit.key, chosen,
                               _since_ms(args.since) if args.since else 0)
    finally:
        store.close()
    print(f"read {stats['records']:,} answered calls of {', '.join(chosen) or 'nobody'}: "
          f"{stats['niks']:,} NIKs found; {stats['changed']:,} ledger entries added or "
          "moved earlier")
    return 0


def _since_ms(text: str) -> int:
    """A date (00:00 WIB that day) or an ISO 8601 time (WIB unless it carries an offset)."""
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--since must be YYYY-MM-DD or an ISO 8601 time, got "
                                f"{text!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=WIB)
    return int(start.timestamp()) * 1000 + start.microsecond // 1000


def _row(r) -> tuple:
    return (r.institution, r.record_id, r.nik, r.kind, r.value,
            _iso(r.observed_at_ms) if r.observed_at_ms else None, _iso(r.received_at_ms))


def _write_rows(f: TextIO, rows: Iterator[tuple], fmt: str) -> int:
    n = 0
    if fmt == "csv":
        w = csv.writer(f, lineterminator="\n")
        w.writerow(EXPORT_COLUMNS)
        for row in rows:
            w.writerow(row)      # None (no observed_at) is an empty field
            n += 1
    else:
        for row in rows:
            f.write(json.dumps(dict(zip(EXPORT_COLUMNS, row, strict=True)),
                               ensure_ascii=False) + "\n")
            n += 1
    return n


# -- obligations ---------------------------------------------------------------------------


def _obligations(args) -> int:
    from nikgate.clients import obligations

    from .remote import call

    conn = _connect(args)
    ob = call(lambda: obligations(conn, args.institution, args.max_items))
    items = [(o.nik, _iso(o.first_accessed_ms), _iso(o.due_ms), o.overdue)
             for o in ob.outstanding]
    if args.json:
        emit_json({
            "institution": ob.institution_id, "grant_status": ob.grant_status,
            "deadline_days": ob.deadline_days, "accessed": ob.accessed,
            "fulfilled": ob.fulfilled, "late": ob.late, "pending": ob.pending,
            "overdue": ob.overdue, "compliance_ratio": ob.compliance_ratio,
            "computed_at": _iso(ob.computed_at_ms),
            "outstanding": [{"nik": n, "first_accessed": f, "due": d, "overdue": o}
                            for n, f, d, o in items],
        })
        return 0
    duty = (f"return data due {ob.deadline_days:g} days after first access"
            if ob.deadline_days else "no return-data duty in the grant")
    print(f"{ob.institution_id}: grant {ob.grant_status}, {duty} "
          f"(as of {_iso(ob.computed_at_ms)})")
    print(_lines([
        ("accessed", f"{ob.accessed:,}", "distinct NIKs accessed"),
        ("fulfilled", f"{ob.fulfilled:,}", "return data received by the due time"),
        ("late", f"{ob.late:,}", "return data received after the due time"),
        ("pending", f"{ob.pending:,}", "no return data yet, not yet due"),
        ("overdue", f"{ob.overdue:,}", "no return data, past due"),
        ("compliance", f"{ob.compliance_ratio:.1%}", "fulfilled / (fulfilled + late + "
                                                      "overdue); 100% when nothing is due"),
    ]))
    if items:
        print()
        print(table([(n, f, d, "yes" if o else "no") for n, f, d, o in items],
                    ("NIK", "FIRST ACCESSED (UTC)", "DUE (UTC)", "OVERDUE")))
        outstanding = ob.pending + ob.overdue
        if outstanding > len(items):
            print(f"the {len(items):,} most urgent of {outstanding:,} outstanding "
                  "(--max-items lists up to 10,000)")
    return 0
