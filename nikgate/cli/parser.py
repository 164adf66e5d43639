"""The argument parser every `nikgate` command and subcommand is made with.

argparse prints the whole usage block and the error; we print one line a person can act
on, `nikgate index build: error: the following arguments are required: --out (see nikgate
index build --help)`, exit 2 (exits.USAGE). Subparsers inherit the class (add_subparsers
passes its own type), so every command added later gets the same behaviour, the exit-code
table in its --help and `-v` after its name as well as before it.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .exits import USAGE, help_pointer

VERBOSE_HELP = "debug logging, and the traceback of an error (for a bug report)"


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser with one-line errors and the exit codes in its help."""

    def __init__(self, *args: Any, epilog: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        pointer = help_pointer()
        kwargs["epilog"] = f"{epilog}\n\n{pointer}" if epilog else pointer
        super().__init__(*args, **kwargs)
        # SUPPRESS: absent unless given here, so it never resets a `nikgate -v ...`.
        self.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help=VERBOSE_HELP)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        ns, extras = super().parse_known_args(args, namespace)
        # The deepest parser sets it first; each parent copies its subparser's namespace
        # before returning, so the name left is the command's own.
        if "command_prog" not in vars(ns):
            ns.command_prog = self.prog
        return ns, extras

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        ns, extras = self.parse_known_args(args, namespace)
        if extras:   # argparse would report these against `nikgate`, not the command
            self._error(ns.command_prog, f"unrecognized arguments: {' '.join(extras)}")
        return ns

    def error(self, message: str) -> NoReturn:
        self._error(self.prog, message)

    def _error(self, prog: str, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(USAGE, f"{prog}: error: {line} (see {prog} --help)\n")

