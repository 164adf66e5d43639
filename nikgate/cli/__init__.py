"""The `nikgate` command: one subcommand module per area."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from nikgate import __version__
from nikgate.errors import InvalidInputError, NikgateError

from . import (
    audit,
    bench,
    data,
    demo,
    grant,
    index,
    lookup,
    nik,
    pki,
    receipt,
    returns,
    serve,
    verify,
)

AREAS = (data, index, nik, verify, lookup, demo, serve, pki, receipt, grant, audit, bench, returns)


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
    except InvalidInputError as e:
        print(f"nikgate: invalid input: {e}", file=sys.stderr)
        return 2
    except NikgateError as e:
        print(f"nikgate: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
