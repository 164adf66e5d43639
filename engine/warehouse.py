"""Reading warehouse exports and deltas: header checks, rows in schema order, rejects."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import operator
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nikgate.errors import WarehouseFileError

from .schema import DELTA_CHANGE_COLUMN, OPTIONAL_COLUMNS, REQUIRED_COLUMNS

log = logging.getLogger(__name__)


class HashingReader(io.RawIOBase):
    """A binary file wrapper that hashes what is read (the manifest's source checksum)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._raw.readinto(b)
        if n:
            self.sha256.update(memoryview(b)[:n])
        return n or 0


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


@dataclass
class ExportReader:
    """Rows of a warehouse export (or delta) in REQUIRED_COLUMNS order, with line numbers."""

    path: Path
    delta: bool = False
    extra_columns: list[str] = field(default_factory=list)
    header_width: int = 0
    _hasher: HashingReader | None = None

    def sha256(self) -> str:
        assert self._hasher is not None, "read the rows first"
        return self._hasher.sha256.hexdigest()

    def rows(self, rejects: Rejects) -> Iterator[tuple[int, list[str]] | tuple[int, str, list[str]]]:
        """Yield (line, row) — or (line, change, row) for a delta — rejecting bad shapes."""
        try:
            raw = open(self.path, "rb")
        except OSError as e:
            raise WarehouseFileError(f"cannot read {self.path}: {e.strerror}") from None
        self._hasher = HashingReader(raw)
        text = io.TextIOWrapper(io.BufferedReader(self._hasher, 1 << 20), encoding="utf-8",
                                newline="", errors="strict")
        try:
            reader = csv.reader(text)
            try:
                header = next(reader)
            except StopIteration:
                raise WarehouseFileError(f"{self.path} is empty: expected a header row") from None
            pick = self._plan(header)
            width = self.header_width
            change_at = header.index(DELTA_CHANGE_COLUMN) if self.delta else -1
            line = 1
            try:
                for row in reader:
                    line = reader.line_num
                    if len(row) != width:
                        if not row:
                            continue
                        rejects.add(line, "WRONG_FIELD_COUNT",
                                    f"row has {len(row)} fields, the header has {width}")
                        continue
                    if self.delta:
                        yield line, row[change_at].strip().upper(), list(pick(row))
                    else:
                        yield line, list(pick(row))
            except UnicodeDecodeError as e:
                raise WarehouseFileError(
                    f"{self.path} is not valid UTF-8 after line {line}: {e.reason}") from None
            except csv.Error as e:
                raise WarehouseFileError(f"{self.path} line {reader.line_num}: {e}") from None
        finally:
            text.close()

    def _plan(self, header: list[str]) -> Callable[[list[str]], tuple[str, ...]]:
        names = [h.strip().upper().lstrip("\ufeff") for h in header]
        self.header_width = len(names)
        wanted = list(REQUIRED_COLUMNS)
        missing = [c for c in wanted if c not in names]
        if self.delta and DELTA_CHANGE_COLUMN not in names:
            missing.insert(0, DELTA_CHANGE_COLUMN)
        if missing:
            raise WarehouseFileError(
                f"{self.path} is missing required column(s): {', '.join(missing)}. "
                "See docs/data-format.md for the export columns")
        known = set(wanted) | set(OPTIONAL_COLUMNS) | {DELTA_CHANGE_COLUMN}
        self.extra_columns = [h for h in header if h.strip().upper() not in known]
        if self.extra_columns:
            log.warning("ignoring unknown column(s) in %s: %s", self.path,
                        ", ".join(self.extra_columns))
        dup = [c for c in wanted if names.count(c) > 1]
        if dup:
            raise WarehouseFileError(f"{self.path} has duplicate column(s): {', '.join(dup)}")
        return operator.itemgetter(*[names.index(c) for c in wanted])
