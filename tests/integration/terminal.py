"""Running the installed command with its stderr on a pseudo-terminal, as a person sees it.

Progress lines (nikgate/progress.py) are drawn only when stderr is a terminal; a test of
them needs a real one: stderr goes to the slave side of a pty, stdout to a file, and the
master side is read until the command exits.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TerminalRun:
    returncode: int
    stdout: str
    stderr: str   # what the terminal received, "\r" and escape sequences included


def run_cli_on_terminal(*args: str, timeout: float = 300) -> TerminalRun:
    """Run `nikgate ARGS` with stderr on a pseudo-terminal; stdout is not a terminal."""
    exe = Path(sys.executable).with_name("nikgate")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "nikgate", *args]
    master, slave = pty.openpty()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=slave,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        os.close(slave)
        received = bytearray()
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:   # EIO: every holder of the slave side has closed it
                    break
                if not data:
                    break
                received += data
        finally:
            os.close(master)
        code = proc.wait(timeout=timeout)
        out.seek(0)
        return TerminalRun(code, out.read(), received.decode("utf-8", "replace"))
