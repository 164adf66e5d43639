"""The log on disk: DIR/<stream>/segment-NNNNNN.log files, the writer lock, reading lines."""

from __future__ import annotations

import fcntl
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

from nikgate.errors import AuditError, AuditLogMissing, StreamBusyError

LOCK_NAME = "writer.lock"
_SEGMENT = re.compile(r"^segment-(\d{6,})\.log$")
_STREAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_stream_name(stream: str) -> str:
    if not _STREAM.match(stream):
        raise AuditError(f"audit stream name {stream!r} must be 1-64 characters of "
                         "letters, digits, '.', '_' or '-', starting with a letter or digit")
    return stream


def segment_path(stream_dir: Path, number: int) -> Path:
    return stream_dir / f"segment-{number:06d}.log"


def list_streams(directory: str | Path) -> list[Path]:
    """The stream directories under `directory`, by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AuditLogMissing(f"no audit log directory at {directory}")
    return sorted(p for p in directory.iterdir() if p.is_dir() and _STREAM.match(p.name))


def list_segments(stream_dir: Path) -> list[tuple[int, Path]]:
    """(number, path) of every segment file in the stream, in number order."""
    out = []
    for p in stream_dir.iterdir():
        m = _SEGMENT.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (without newline) and the trailing bytes after the last newline."""
    lines = data.split(b"\n")
    tail = lines.pop()
    return lines, tail


def iter_lines(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Complete lines of a segment, first to last, reading `chunk` bytes at a time."""
    with open(path, "rb") as f:
        rest = b""
        while True:
            block = f.read(chunk)
            if not block:
                return
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from lines


def iter_lines_reversed(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Complete lines of a segment, last to first (an unterminated tail is skipped)."""
    with open(path, "rb") as f:
        pos = f.seek(0, os.SEEK_END)
        buf = b""              # the start of the file's text not yet split into lines
        in_tail = True         # still inside the bytes after the last newline
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            lines = (f.read(step) + buf).split(b"\n")
            if in_tail:
                if len(lines) == 1:
                    buf = lines[0]
                    continue
                lines.pop()
                in_tail = False
            buf = lines[0]
            yield from reversed(lines[1:])
        if not in_tail:
            yield buf


def lock_stream(stream_dir: Path, wait: float = 0.0) -> int:
    """Take the stream's writer lock (held for the writer's life); its fd is returned.

    `wait` 0 refuses at once when another writer holds it: two live workers on one stream
    are a mistake to report, not to queue. Writers that take turns (administrators, each
    holding the stream for one change) pass a bounded wait in seconds.
    """
    fd = os.open(stream_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                os.close(fd)
                raise _busy(stream_dir, wait) from None
        # Polled, not a blocking flock: a blocked flock cannot be given up after a
        # deadline. The jitter keeps waiters from waking in step.
        time.sleep(min(left, pause * random.uniform(0.5, 1.0)))
        pause = min(pause * 2, 0.05)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def stream_is_live(stream_dir: Path) -> bool:
    """True while a writer holds the stream's lock."""
    try:
        fd = os.open(stream_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return False


def _busy(stream_dir: Path, waited: float) -> StreamBusyError:
    try:
        pid = (stream_dir / LOCK_NAME).read_text().strip() or "?"
    except OSError:
        pid = "?"
    if waited > 0:
        return StreamBusyError(f"audit stream {stream_dir.name} is still held by another "
                               f"writer (pid {pid}) after waiting {waited:g} s; if that "
                               "process is stuck, stop it, then run the command again")
    return StreamBusyError(f"audit stream {stream_dir.name} is being written by another "
                           f"writer (pid {pid}); give each worker process its own stream")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
