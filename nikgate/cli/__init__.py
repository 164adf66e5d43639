"""The `nikgate` command: one subcommand module per area."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from nikgate import __version__, errors

from . import (
    audit,
    bench,
    card,
    cluster,
    data,
    demo,
    doctor,
    gateway,
    grant,
    index,
    lookup,
    nik,
    pki,
    portal,
    receipt,
    returns,
    sam,
    serve,
    verify,
)

AREAS = (data, index, nik, verify, lookup, demo, serve, gateway, pki, receipt, grant, audit,
         bench, returns, card, sam, portal, cluster, doctor)


# Exit status per family of errors: stable, so a script can tell "fix the input" from
# "not allowed" from "retry later". 3 is taken by commands that report a finding (a NIK
# that does not match, a damaged index); 130 is Ctrl-C, 141 a closed pipe.
EXIT_STATUS: tuple[tuple[type[errors.NikgateError], int, str], ...] = (
    (errors.InvalidInputError, 2, ""),
    (errors.Unauthenticated, 4,
     "check the connection's certificate and key: issued by the nikgate CA, not revoked, "
     "naming an institution nikgate knows"),
    (errors.PermissionDenied, 4,
     "the grant does not allow this; an operator changes grants with `nikgate grant`"),
    (errors.ResourceExhausted, 5, "retry later"),
    (errors.ServiceUnavailable, 6, "retry later"),
    (errors.DeadlineExceeded, 6, "retry, with a longer deadline if the call is large"),
    (errors.NikgateError, 1, ""),
)


def exit_status(error: errors.NikgateError) -> int:
    """The exit status `nikgate` ends with for `error` (see EXIT_STATUS)."""
    return next(status for cls, status, _ in EXIT_STATUS if isinstance(error, cls))


def report(error: errors.NikgateError) -> str:
    """What `nikgate` prints for `error`: one line `nikgate: error: <message>`, then
    indented, when known, what to do (a retry delay) and the status and transaction id
    to quote to nikgate's operators. Never a traceback."""
    hint = next(h for cls, _, h in EXIT_STATUS if isinstance(error, cls))
    retry = error.retry_after
    if retry is not None and isinstance(error, (errors.ResourceExhausted,
                                                errors.ServiceUnavailable)):
        hint = f"retry after {retry:.3g} s" if retry > 0 else "retry now"
    lines = [f"nikgate: error: {str(error).strip() or type(error).__name__}"]
    if hint:
        lines.append(f"  {hint}")
    if error.grpc_code or error.transaction_id:
        where = [f"status {error.grpc_code}"] if error.grpc_code else []
        if error.transaction_id:
            where.append(f"transaction {error.transaction_id}")
        lines.append("  " + ", ".join(where))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nikgate",
        description="nikgate: the access gateway to Indonesia's population database (NIK).",
    )
    parser.add_argument("--version", action="version", version=f"nikgate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()   # a reader that went away shows up here, not at exit
        return code
    except BrokenPipeError:
        # The reader closed early (`nikgate ... | head`): end quietly. Point stdout at
        # devnull so the interpreter's final flush of what is still buffered cannot raise
        # again, and exit 141 (128 + SIGPIPE) as a C tool killed by SIGPIPE would: the shell
        # ignores it in a pipeline, while a script checking the status sees the output
        # was cut short.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except errors.NikgateError as e:
        print(report(e), file=sys.stderr)
        return exit_status(e)
    except KeyboardInterrupt:
        return 130
