"""Progress of long work on a terminal: count, rate and time left on one redrawn stderr line.

Shown only when stderr is a terminal (and the command was not asked for --quiet or --json):
scripts, pipes and CI logs get nothing from here, only the command's own summary. The work
reports its count with `progress(done)` as often as it likes (the engine does it every
chunk or every few thousand rows, never per row in compiled code); the line is redrawn at
most every `interval` seconds.

    with terminal_progress("index build", total=size, unit="bytes") as progress:
        build_index(source, out, progress=progress)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

#: what long work calls with its count so far (rows, records or bytes)
Callback = Callable[[int], None]

INTERVAL = 0.25   # seconds between redraws: a few a second reads well and costs nothing


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """One progress line: `label: done / total unit, rate unit/s, time left`.

    Disabled, it only counts (update is a comparison and a return). Thread-safe: gRPC
    acknowledgements may report from a helper thread.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "rows", *,
                 stream: TextIO | None = None, enabled: bool = True,
                 interval: float = INTERVAL) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._drawn = False
        self._lock = threading.Lock()

    def __call__(self, done: int) -> None:
        self.update(done)

    def update(self, done: int, total: int | None = None) -> None:
        """The count so far (not an increment); `total` if it became known."""
        self.done = done
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at < self._interval:
            return
        with self._lock:
            self._drawn_at = now
            self._stream.write("\r" + self.line(now - self._started) + "\033[K")
            self._stream.flush()
            self._drawn = True

    def line(self, elapsed: float) -> str:
        """The text of the progress line after `elapsed` seconds."""
        done, total = self.done, self.total
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.unit == "bytes":
            count = f"{done / 2**20:,.0f}" + (f" / {total / 2**20:,.0f}" if total else "")
            parts = [f"{count} MiB", f"{rate / 2**20:,.1f} MiB/s"]
        else:
            count = f"{done:,}" + (f" / {total:,}" if total else "")
            parts = [f"{count} {self.unit}", f"{rate:,.0f} {self.unit}/s"]
        if total and rate > 0:
            parts.append(f"{_duration(max(0, total - done) / rate)} left")
        return f"{self.label}: " + ", ".join(parts)

    def close(self) -> None:
        """Clear the line (the command prints its summary where it was)."""
        with self._lock:
            if self._drawn:
                self._stream.write("\r\033[K")
                self._stream.flush()
                self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def terminal_progress(label: str, total: int | None = None, unit: str = "rows", *,
                      quiet: bool = False) -> Progress:
    """A Progress that draws only when stderr is a terminal and not `quiet`."""
    stream = sys.stderr
    enabled = not quiet and stream is not None and stream.isatty()
    return Progress(label, total, unit, stream=stream, enabled=enabled)


def data_lines(path: str) -> int:
    """Lines after the header of a CSV file (a total for row progress); one pass in
    1 MiB blocks, no parsing (a quoted line break would count twice: fine for a total)."""
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
    return max(0, n - 1)
