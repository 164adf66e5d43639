"""AuditLog: appends one hash-chained record per call to this process's own stream."""

from __future__ import annotations

import logging
import os
import threading
import time
from binascii import b2a_base64
from pathlib import Path

from nikgate.errors import AuditError

from . import record
from .commit import GroupCommitter
from .entry import AuditEntry
from .nikref import NikRefs, load_key
from .segments import (
    check_stream_name,
    fsync_dir,
    list_segments,
    lock_stream,
    segment_path,
    split_lines,
)

logger = logging.getLogger(__name__)

_datasync = getattr(os, "fdatasync", os.fsync)


class AuditLog:
    """One writer of one stream, DIR/<stream>/segment-NNNNNN.log.

    `append` writes the record to the OS before it returns (a kill -9 afterwards loses
    nothing); a background thread fdatasyncs every `commit_interval` seconds (0: fsync in
    every append). A segment is sealed when it holds `segment_records` records or
    `segment_bytes` bytes, and at `close`. Thread-safe. Open it in the process that writes
    (after any fork); one live writer per stream, enforced by a lock file.

    Opening an existing stream continues its chain: after a clean close a new segment
    starts from the last seal; after a crash a "resume" record is appended to the unsealed
    segment (an unterminated or unreadable tail left by a power loss is first moved to
    segment-NNNNNN.log.torn-<seq>, and the resume record says how many bytes).
    """

    def __init__(self, stream_dir: Path, refs: NikRefs, lock_fd: int, commit_interval: float,
                 segment_records: int, segment_bytes: int) -> None:
        self.stream = stream_dir.name
        self._dir = stream_dir
        self._refs = refs
        self._lock_fd = lock_fd
        self._interval = commit_interval
        self._max_records = max(3, segment_records)
        self._max_bytes = segment_bytes
        self._lock = threading.Lock()        # the chain: seq, prev, fd, segment counters
        self._sync_lock = threading.Lock()   # one fdatasync at a time
        self._fd = -1
        self._segment = 0
        self._seg_records = 0
        self._seg_bytes = 0
        self._seq = 0
        self._prev = record.GENESIS
        self._prev_raw = bytes(32)
        self._retired: list[int] = []        # fds of sealed segments awaiting fdatasync
        self._dir_dirty = False
        self._durable_seq = 0
        self._failed: BaseException | None = None
        self._closed = False
        self._committer: GroupCommitter | None = None

    @classmethod
    def open(cls, directory: str | Path, key_path: str | Path, stream: str,
             commit_interval: float = 0.05, segment_records: int = 100_000,
             segment_bytes: int = 256 << 20, lock_wait: float = 0.0) -> AuditLog:
        """Open (creating or continuing) `stream` under `directory`; the key file is made on
        first use (32 random bytes, mode 0600). While another writer holds the stream this
        raises StreamBusyError, at once or after waiting up to `lock_wait` seconds."""
        check_stream_name(stream)
        refs = NikRefs(load_key(key_path, create=True))
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stream_dir = directory / stream
        if not stream_dir.exists():
            stream_dir.mkdir(mode=0o700, exist_ok=True)
            fsync_dir(directory)
        lock_fd = lock_stream(stream_dir, lock_wait)
        log = cls(stream_dir, refs, lock_fd, commit_interval, segment_records, segment_bytes)
        try:
            with log._lock:
                log._start()
            log._sync()
        except BaseException:
            if log._fd >= 0:
                os.close(log._fd)
            os.close(lock_fd)
            raise
        if commit_interval > 0:
            log._committer = GroupCommitter(log._sync, commit_interval, f"audit-commit-{stream}")
        return log

    # -- the hot path --------------------------------------------------------------------

    def append(self, entry: AuditEntry) -> int:
        """Write one call's record (NIKs hashed here); returns its seq. The bytes are in the
        OS when this returns; durable within `commit_interval` + one fdatasync."""
        niks = entry.niks
        refs = self._refs.refs(niks) if niks else b""
        results = entry.item_results
        if type(results) is not bytes:
            results = bytes(results)
        if results and len(results) != len(niks):
            raise AuditError(f"item_results has {len(results)} codes for {len(niks)} NIKs; "
                             "give one per NIK or none")
        fields = {
            "kind": "call",
            "time_ms": entry.time_ms,
            "tx": entry.transaction_id,
            "institution": entry.institution,
            "cert_serial": entry.cert_serial,
            "channel": entry.channel,
            "method": entry.method,
            "purpose": entry.purpose,
            "result": entry.result,
            "latency_us": entry.latency_us,
            "fields_requested": list(entry.fields_requested),
            "fields_returned": list(entry.fields_returned),
            "n": entry.items if entry.items >= 0 else len(niks),
        }
        if entry.peer:
            fields["peer"] = entry.peer
        if entry.calls != 1:
            fields["calls"] = entry.calls
        if entry.card is not None:
            fields.update(entry.card.members())
        if entry.adapter:   # members only on delegated calls: direct records are unchanged
            fields["adapter"] = entry.adapter
            if entry.user:
                fields["user"] = entry.user
        # base64: 21.3 bytes per 16-byte reference against hex's 32, and the log is what the
        # disk has to keep up with at batch rates
        blobs = {"nik_refs": b2a_base64(refs, newline=False),
                 "item_results": b2a_base64(results, newline=False)}
        with self._lock:
            self._check_usable()
            seq = self._write_record(fields, blobs)
            if self._seg_records >= self._max_records or self._seg_bytes >= self._max_bytes:
                self._rotate()
        if self._interval <= 0:
            self._sync()
        return seq

    # -- durability ----------------------------------------------------------------------

    def flush(self) -> None:
        """fdatasync everything appended so far, now."""
        self._sync()

    @property
    def usable(self) -> bool:
        """False after a failed write or sync, until `recover` succeeds."""
        return self._failed is None and not self._closed

    def recover(self) -> bool:
        """Try to continue after a failed write or sync (a full disk that has room again):
        cut a partly written record off the segment, append a "resume" record naming the
        failure, and fdatasync. True when the stream is usable again; the chain continues
        unbroken, so `nikgate audit verify` passes across the outage."""
        with self._lock:
            if self._closed:
                return False
            failed = self._failed
            if failed is None:
                return True
            try:
                if self._fd >= 0:
                    # _seg_bytes counts only records written whole: the rest is torn
                    torn = os.fstat(self._fd).st_size - self._seg_bytes
                    os.ftruncate(self._fd, self._seg_bytes)
                    if self._seg_records == 0:   # even the segment's open record tore
                        self._failed = None
                        self._write_open()
                else:   # the failure came while opening the next segment
                    torn = 0
                    self._new_segment(self._segment + 1)
                self._failed = None
                self._write_record({"kind": "resume", "time_ms": _now_ms(), "torn_bytes": torn,
                                    "reason": f"after a failed write: {failed}"[:200]}, {})
            except (OSError, AuditError) as e:
                self._failed = self._failed or e
                return False
        try:
            self._sync()
        except AuditError:
            return False
        logger.warning("audit stream %s writable again after: %s", self.stream, failed)
        return True

    @property
    def durable_seq(self) -> int:
        """The last seq known to be on stable storage."""
        return self._durable_seq

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last record written: an anchor to keep outside the log."""
        with self._lock:
            return self._seq, self._prev

    def close(self) -> None:
        """Seal the open segment (final seal), make everything durable, release the stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._failed is None:
                try:
                    self._write_record({"kind": "seal", "time_ms": _now_ms(),
                                        "count": self._seg_records, "final": True}, {})
                    self._anchor("closed")
                except AuditError:
                    logger.exception("audit stream %s: final seal failed", self.stream)
        if self._committer is not None:
            self._committer.stop()
        try:
            if self._failed is None:
                self._sync()
        finally:
            with self._sync_lock, self._lock:
                for fd in [*self._retired, self._fd]:
                    if fd >= 0:
                        os.close(fd)
                self._retired, self._fd = [], -1
            os.close(self._lock_fd)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals (callers hold self._lock unless noted) --------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise AuditError(f"audit stream {self.stream} is closed")
        if self._failed is not None:
            raise AuditError(f"audit stream {self.stream} failed earlier ({self._failed}); "
                             "reopen it after fixing the storage") from self._failed

    def _write_record(self, fields: dict, blobs: dict[str, bytes]) -> int:
        seq = self._seq + 1
        pieces, hx, raw = record.encode(fields, blobs, seq, self._prev, self._prev_raw)
        size = sum(map(len, pieces))
        try:
            # One writev: with O_APPEND the record lands in one piece at the end of the file.
            done = os.writev(self._fd, pieces)
            if done < size:  # only on a full disk or a signal: write the rest
                view = memoryview(b"".join(pieces))[done:]
                while view:
                    view = view[os.write(self._fd, view):]
        except OSError as e:
            self._failed = e
            raise AuditError(f"cannot write audit stream {self.stream}: {e}") from e
        self._seq, self._prev, self._prev_raw = seq, hx, raw
        self._seg_records += 1
        self._seg_bytes += size
        return seq

    def _new_segment(self, number: int) -> None:
        path = segment_path(self._dir, number)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except OSError as e:
            self._failed = e
            raise AuditError(f"cannot start audit segment {path.name}: {e}") from e
        self._segment, self._seg_records, self._seg_bytes = number, 0, 0
        self._dir_dirty = True
        self._write_open()

    def _write_open(self) -> None:
        self._write_record({"kind": "open", "format": record.FORMAT, "stream": self.stream,
                            "segment": self._segment, "time_ms": _now_ms()}, {})

    def _rotate(self) -> None:
        self._write_record({"kind": "seal", "time_ms": _now_ms(), "count": self._seg_records,
                            "final": False}, {})
        self._anchor("sealed")
        self._retired.append(self._fd)
        self._fd = -1
        self._new_segment(self._segment + 1)

    def _anchor(self, what: str) -> None:
        # Seal hashes in the ordinary log are anchors outside the audit directory: they
        # reveal a rewrite of a whole tail, which no self-contained chain can.
        logger.info("audit segment %s", what, extra={
            "audit_stream": self.stream, "audit_segment": self._segment,
            "audit_seq": self._seq, "audit_hash": self._prev})

    def _start(self) -> None:
        segments = list_segments(self._dir)
        while segments:
            number, path = segments[-1]
            data = path.read_bytes()
            last, good_len, count = _last_valid(data, number)
            if last is None:
                aside = path.with_name(f"{path.name}.torn-{int(time.time())}")
                path.rename(aside)
                logger.warning("audit stream %s: segment %d held no valid record; moved to %s",
                               self.stream, number, aside.name)
                segments.pop()
                continue
            torn = len(data) - good_len
            if torn:
                aside = path.with_name(f"{path.name}.torn-{last.seq}")
                aside.write_bytes(data[good_len:])
                os.truncate(path, good_len)
                logger.warning("audit stream %s: %d bytes after seq %d were not a complete "
                               "record (power loss?); moved to %s", self.stream, torn,
                               last.seq, aside.name)
            self._seq, self._prev = last.seq, last.hash
            self._prev_raw = bytes.fromhex(last.hash)
            if last.kind == "seal":
                self._new_segment(number + 1)
            else:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
                self._segment, self._seg_records, self._seg_bytes = number, count, good_len
                self._write_record({"kind": "resume", "time_ms": _now_ms(),
                                    "torn_bytes": torn}, {})
            return
        self._new_segment(1)

    def _sync(self) -> None:
        """fdatasync written records (called by the committer, flush, close; no lock held)."""
        with self._sync_lock:
            with self._lock:
                fd, seq = self._fd, self._seq
                retired, self._retired = self._retired, []
                dir_dirty, self._dir_dirty = self._dir_dirty, False
            try:
                for old in retired:
                    _datasync(old)
                    os.close(old)
                if fd >= 0 and seq != self._durable_seq:
                    _datasync(fd)
                if dir_dirty:
                    fsync_dir(self._dir)
            except OSError as e:
                self._failed = e
                raise AuditError(f"cannot fsync audit stream {self.stream}: {e}") from e
            self._durable_seq = seq


def _last_valid(data: bytes, segment: int) -> tuple[record.Record | None, int, int]:
    """The last record of a segment that matches its own hash, the byte length up to and
    including its line, and the number of lines up to it."""
    lines, _ = split_lines(data)
    for i in range(len(lines) - 1, -1, -1):
        try:
            rec = record.parse(lines[i], segment, i + 1)
        except record.BadLine:
            continue
        if rec.hash_ok:
            return rec, sum(len(x) + 1 for x in lines[: i + 1]), i + 1
    return None, 0, 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
