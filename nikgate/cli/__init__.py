"""The `nikgate` command: one subcommand module per area."""

from __future__ import annotations

import logging
import os
import sys
import traceback

from nikgate import __version__, errors

from . import (
    audit,
    bench,
    card,
    cluster,
    data,
    demo,
    doctor,
    exits,
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
from .parser import Parser

AREAS = (data, index, nik, verify, lookup, demo, serve, gateway, pki, receipt, grant, audit,
         bench, returns, card, sam, portal, cluster, doctor)


# Commands that run until stopped: their INFO log is the operator's view. Others log
# warnings only, so an error stays the one line on stderr.
SERVING = frozenset(f"nikgate {c}" for c in (
    "serve", "gateway", "demo", "portal", "cluster up", "index serve-generations"))

# The exit codes and the one line per error live in exits.py; re-exported here, where
# callers have always found them.
EXIT_CODES, EXIT_STATUS = exits.EXIT_CODES, exits.EXIT_STATUS
exit_status, report = exits.exit_status, exits.report


def build_parser() -> Parser:
    """The whole command tree; every parser in it is a Parser (one-line usage errors)."""
    parser = Parser(
        prog="nikgate",
        description="nikgate: the access gateway to Indonesia's population database (NIK).",
    )
    parser.epilog = exits.help_table()   # the full table here; subcommands point to it
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"nikgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every way it can end is one line on stderr and a code of the
    table in exits.py, never a traceback (unless -v asks for it)."""
    parser = build_parser()
    args = parser.parse_args(argv)   # a usage mistake: one line, exit 2 (Parser.error)
    verbose = bool(args.verbose)
    serving = args.command_prog in SERVING
    if not (verbose or serving):   # gRPC's C core logs a failed TLS handshake itself
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO if serving else logging.WARNING,
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
        return exits.OUTPUT_CLOSED
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    except errors.NikgateError as e:
        return _fail(exits.report(e), exits.exit_status(e), verbose)
    except OSError as e:   # a path the user named, or the environment: not a bug
        return _fail(exits.report_os_error(e), exits.os_error_status(e), verbose)
    except Exception as e:   # a bug: one line, the traceback with -v
        return _fail(exits.report_internal(e), exits.FAILED, verbose)


def _fail(line: str, code: int, verbose: bool) -> int:
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(line, file=sys.stderr)
    return code
