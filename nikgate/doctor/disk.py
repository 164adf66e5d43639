"""Disk free where the node writes without bound: the audit log and the return-data store.

Days left = free bytes / the write rate of everything this node writes to that filesystem.
The audit log's rate comes from its segments: each begins with an "open" record carrying
its time (server/audit/record.py) and was last written at its mtime, so a segment's bytes
were written between the two; the bytes falling in the last 24 hours over the hours of
history there are is the rate. The return store is one LMDB file whose size says nothing
about when it grew, so its rate is reported as unknown rather than guessed.

Thresholds (docs/operations.md): FAIL under 2 days left or under 2 % free, WARN under
14 days or 10 %. Days left from under 3 hours of history (a load test looks like a day's
pace) are a WARN at most.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .result import Check, fail, ok, warn

WINDOW = 86400.0           # the rate is measured over the last day
MIN_HISTORY = 600.0        # less history than this: rate unknown
# A rate from less history than this can be a burst (a load test, a batch job) taken for
# the day's pace: days left computed from it WARN at most, never FAIL.
SURE_HISTORY = 3 * 3600.0
FAIL_DAYS, WARN_DAYS = 2.0, 14.0
FAIL_FREE, WARN_FREE = 0.02, 0.10
MiB = 1 << 20


@dataclass(frozen=True)
class Usage:
    name: str
    path: Path
    device: int
    free: int              # bytes an unprivileged writer may still use
    size: int              # the filesystem's size
    rate: float | None     # bytes per second written here, None when unknown
    how: str               # where the rate comes from, or why it is unknown
    history: float = 0.0   # seconds of history the rate was measured over


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing parent (a store not created yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _first_time(segment: Path) -> float | None:
    """The time of a segment's first record, in seconds."""
    try:
        with segment.open("rb") as f:
            line = f.readline(65536)
        return float(json.loads(line)["time_ms"]) / 1000.0
    except (OSError, ValueError, KeyError, TypeError):
        return None


def audit_rate(directory: Path, now: float) -> tuple[float | None, str, float]:
    """Bytes per second written to the audit log over the last day (see the module doc)."""
    if not directory.is_dir():
        return None, "rate unknown: no audit log yet", 0.0
    spans: list[tuple[float, float, int]] = []
    for stream in directory.iterdir():
        if not stream.is_dir():
            continue
        for segment in stream.glob("segment-*.log"):
            st = segment.stat()
            if st.st_mtime < now - WINDOW:
                continue
            start = _first_time(segment)
            if start is not None:
                spans.append((min(start, st.st_mtime), st.st_mtime, st.st_size))
    if not spans:
        return None, "rate unknown: nothing written in the last day", 0.0
    since = max(now - WINDOW, min(s for s, _, _ in spans))
    history = now - since
    if history < MIN_HISTORY:
        return None, f"rate unknown: only {history / 60:.0f} min of history", history
    written = 0.0
    for start, end, size in spans:
        if end <= start:
            written += size if end >= since else 0
        else:
            written += size * max(0.0, end - max(start, since)) / (end - start)
    return written / history, f"audit log, last {history / 3600:.1f} h", history


def usage(name: str, path: Path, rate: float | None, how: str,
          history: float = 0.0) -> Usage:
    st = os.statvfs(_existing(path))
    return Usage(name, path, os.stat(_existing(path)).st_dev, st.f_bavail * st.f_frsize,
                 st.f_blocks * st.f_frsize, rate, how, history)


def judge(u: Usage, together: list[Usage]) -> Check:
    """One line for `u`; `together` are the usages on the same filesystem (with `u`),
    whose known rates add up."""
    name = f"disk {u.name}"
    free_share = u.free / u.size if u.size else 0.0
    rates = [t.rate for t in together if t.rate is not None]
    rate = sum(rates) if rates else None
    text = f"{u.free / MiB:,.0f} MiB free of {u.size / MiB:,.0f} ({free_share:.0%}) at {u.path}"
    if rate is not None and rate > 0:
        days = u.free / rate / 86400
        how = "; ".join(t.how for t in together if t.rate is not None)
        text += f", {rate * 86400 / MiB:,.1f} MiB/day ({how}): {days:,.1f} days left"
    else:
        days = None
        text += f", {u.how}"
    action = (f"grow the filesystem under {u.path} or free space on it"
              + ("; never by deleting audit segments (`nikgate audit verify` shows the "
                 "gap): copy sealed ones to the archive first" if u.name == "audit"
                 else ""))
    sure = all(t.history >= SURE_HISTORY for t in together if t.rate is not None)
    if free_share < FAIL_FREE or (days is not None and days < FAIL_DAYS and sure):
        return fail(name, text, action + " now: a full disk stops every call")
    if days is not None and days < FAIL_DAYS:   # a short history: maybe only a burst
        return warn(name, text + f" (from under {SURE_HISTORY / 3600:.0f} h of history: "
                    "maybe a burst)", action + "; check again when the node has run longer")
    if free_share < WARN_FREE or (days is not None and days < WARN_DAYS):
        return warn(name, text, action)
    return ok(name, text)


def check(audit_dir: Path, returns_dir: Path, now: float | None = None) -> list[Check]:
    now = time.time() if now is None else now
    rate, how, history = audit_rate(audit_dir, now)
    usages = [usage("audit", audit_dir, rate, how, history),
              usage("returns", returns_dir, None,
                    "rate unknown: the LMDB file does not say when it grew")]
    return [judge(u, [t for t in usages if t.device == u.device]) for u in usages]
