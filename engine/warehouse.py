"""Reading warehouse exports and deltas: header checks, rows in schema order, rejects.

Builds stream the export through the compiled parser (`scan_export`); deltas, which are
small, go through the csv module (`ExportReader`). Both check the header the same way
and hash the bytes they read for the manifest's source checksum (xxh3-128).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from nikgate.errors import WarehouseFileError

from .record import RowEncoder, RowRejected
from .schema import DELTA_CHANGE_COLUMN, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

log = logging.getLogger(__name__)

CHUNK = 4 << 20


@dataclass
class Rejects:
    """Rejected rows: each with its line number and reason, written to a CSV at the end."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)

    def add(self, line: int, reason: str, message: str) -> None:
        self.rows.append((line, reason, message))
        self.by_reason[reason] += 1

    def __len__(self) -> int:
        return len(self.rows)

    def write(self, path: str | os.PathLike) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["line", "reason", "message"])
            w.writerows(sorted(self.rows))


@dataclass(frozen=True)
class ColumnPlan:
    """Where each required column sits in a file's header."""

    width: int
    required: list[int]          # header index of each REQUIRED_COLUMNS entry
    change: int                  # header index of PERUBAHAN (deltas), else -1
    extra: list[str]             # unknown columns, ignored


def column_plan(header: list[str], path: Path, delta: bool = False) -> ColumnPlan:
    """Check a header: every required column once; unknown columns are ignored, loudly."""
    names = [h.strip().upper().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if delta and DELTA_CHANGE_COLUMN not in names:
        missing.insert(0, DELTA_CHANGE_COLUMN)
    if missing:
        raise WarehouseFileError(
            f"{path} is missing required column(s): {', '.join(missing)}. "
            "See docs/data-format.md for the export columns")
    dup = [c for c in REQUIRED_COLUMNS if names.count(c) > 1]
    if dup:
        raise WarehouseFileError(f"{path} has duplicate column(s): {', '.join(dup)}")
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | {DELTA_CHANGE_COLUMN}
    extra = [h for h, n in zip(header, names, strict=True) if n not in known]
    if extra:
        log.warning("ignoring unknown column(s) in %s: %s", path, ", ".join(extra))
    return ColumnPlan(
        width=len(names),
        required=[names.index(c) for c in REQUIRED_COLUMNS],
        change=names.index(DELTA_CHANGE_COLUMN) if delta else -1,
        extra=extra,
    )


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as e:
        raise WarehouseFileError(f"cannot read {path}: {e.strerror}") from None


@dataclass
class ExportScan:
    """One pass of a build over an export: packed records out, rejects collected."""

    path: Path
    encoder: RowEncoder
    rejects: Rejects
    plan: ColumnPlan | None = None
    rows: int = 0
    digest: str = ""

    def fill(self, arena, full: Callable[[], None], budget_bytes: int,
             progress: Callable[[int], None] | None = None) -> None:
        """Parse the whole export into `arena`, calling `full()` whenever it grows past
        `budget_bytes` (the caller spills it) and `progress(bytes_read)` after every
        CHUNK."""
        hasher = xxhash.xxh3_128()
        with _open(self.path) as f:
            buf = f.read(CHUNK)
            hasher.update(buf)
            while b"\n" not in buf:
                more = f.read(CHUNK)
                if not more:
                    break
                hasher.update(more)
                buf += more
            if not buf.strip():
                raise WarehouseFileError(f"{self.path} is empty: expected a header row")
            head, _, buf = buf.partition(b"\n")
            try:
                header = next(csv.reader([head.decode("utf-8-sig").rstrip("\r")]))
            except UnicodeDecodeError:
                raise WarehouseFileError(f"{self.path}: the header is not UTF-8") from None
            self.plan = plan = column_plan(header, self.path)
            parser = self.encoder.parser(plan.width, plan.required, self._slow,
                                         self.rejects.add, first_line=2)
            final = False
            while True:
                more = f.read(CHUNK)
                hasher.update(more)
                final = not more
                buf = buf + more if buf else more
                used = parser.feed(buf, final, arena)
                buf = buf[used:]
                if progress is not None:
                    progress(f.tell())
                if arena.nbytes > budget_bytes:
                    full()
                if final:
                    break
            self.rows = parser.rows
        self.digest = hasher.hexdigest()

    def _slow(self, line: int, raw: bytes) -> tuple[int, bytes] | None:
        """The careful path for rows the compiled parser would not pack."""
        assert self.plan is not None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.rejects.add(line, "BAD_ENCODING",
                             f"row is not valid UTF-8 (byte {e.start + 1} of the row)")
            return None
        try:
            fields = next(csv.reader(io.StringIO(text, newline="")))
        except (csv.Error, StopIteration) as e:
            self.rejects.add(line, "BAD_CSV", f"row is not valid CSV: {e}")
            return None
        if len(fields) != self.plan.width:
            self.rejects.add(line, "WRONG_FIELD_COUNT",
                             f"row has {len(fields)} fields, the header has {self.plan.width}")
            return None
        try:
            return self.encoder.encode([fields[i] for i in self.plan.required])
        except RowRejected as e:
            self.rejects.add(line, e.reason, str(e))
            return None


@dataclass
class ExportReader:
    """Rows of a delta (or small export) through the csv module, with line numbers."""

    path: Path
    delta: bool = False
    plan: ColumnPlan | None = None
    digest: str = ""

    def rows(self, rejects: Rejects) -> Iterator[tuple[int, str, list[str]]]:
        """Yield (line, change, row) — change is "" for an export — rejecting bad shapes."""
        hasher = xxhash.xxh3_128()
        with _open(self.path) as raw:
            data = raw.read()
        hasher.update(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise WarehouseFileError(
                f"{self.path} is not valid UTF-8 (byte {e.start + 1})") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise WarehouseFileError(f"{self.path} is empty: expected a header row") from None
        self.plan = plan = column_plan(header, self.path, self.delta)
        try:
            line = reader.line_num + 1
            for row in reader:
                if not row:
                    line = reader.line_num + 1
                    continue
                if len(row) != plan.width:
                    rejects.add(line, "WRONG_FIELD_COUNT",
                                f"row has {len(row)} fields, the header has {plan.width}")
                else:
                    change = row[plan.change].strip().upper() if self.delta else ""
                    yield line, change, [row[i] for i in plan.required]
                line = reader.line_num + 1
        except csv.Error as e:
            raise WarehouseFileError(f"{self.path} line {reader.line_num}: {e}") from None
        self.digest = hasher.hexdigest()
