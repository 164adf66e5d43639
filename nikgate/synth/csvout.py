"""Opening the CSV destination: a path (UTF-8, created) or an already open text stream."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterator
from typing import Any, TextIO

Target = str | os.PathLike[str] | TextIO


@contextlib.contextmanager
def csv_writer(out: Target) -> Iterator[Any]:
    """A csv writer with minimal quoting and "\\n" line ends over `out`.

    A path is opened (and closed) here; a stream is written to and left open. Streams
    should be opened with newline="" so "\\n" is written as is.
    """
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", encoding="utf-8", newline="") as f:
            yield csv.writer(f, lineterminator="\n")
    else:
        yield csv.writer(out, lineterminator="\n")
