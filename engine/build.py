"""`nikgate index build`: stream a warehouse export into a new index generation.

Rows are validated and packed as they stream in, sorted in bounded runs (spilled to temp
files beyond RUN_RECORDS), merged by NIK, de-duplicated (the first line wins; later ones
are rejected naming it) and appended to a fresh LMDB environment in key order, which
fills pages completely. The generation is synced and published atomically (layout.py).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nikgate import __version__

from . import _core
from .layout import FORMAT_VERSION, MANIFEST_KEY, new_generation, publish
from .record import RowEncoder
from .warehouse import ExportScan, Rejects

log = logging.getLogger(__name__)

RUN_RECORDS = 1_000_000        # records sorted in memory before spilling a run
APPEND_CHUNK = 200_000         # records per append call
MAP_SIZE = 1 << 40             # address space only: the file grows as records arrive
_RUN_ITEM = struct.Struct("<QIH")


@dataclass
class BuildReport:
    rows_read: int = 0
    stored: int = 0
    rejects: Rejects = field(default_factory=Rejects)
    seconds: float = 0.0
    file_bytes: int = 0
    generation: str = ""
    extra_columns: list[str] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_record(self) -> float:
        return self.file_bytes / self.stored if self.stored else 0.0

    def summary(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "stored": self.stored,
            "rejected": len(self.rejects),
            "rejected_by_reason": dict(sorted(self.rejects.by_reason.items())),
            "seconds": round(self.seconds, 2),
            "rows_per_second": round(self.rows_per_second),
            "bytes_per_record": round(self.bytes_per_record, 1),
            "generation": self.generation,
            "ignored_columns": self.extra_columns,
        }


def _spill(run: list[tuple[int, int, bytes]], directory: str) -> str:
    run.sort()
    fd, path = tempfile.mkstemp(prefix="run-", suffix=".bin", dir=directory)
    with os.fdopen(fd, "wb", buffering=1 << 20) as f:
        pack = _RUN_ITEM.pack
        for nik, line, value in run:
            f.write(pack(nik, line, len(value)))
            f.write(value)
    return path


def _read_run(path: str) -> Iterator[tuple[int, int, bytes]]:
    size = _RUN_ITEM.size
    unpack = _RUN_ITEM.unpack
    with open(path, "rb", buffering=1 << 20) as f:
        read = f.read
        while head := read(size):
            nik, line, n = unpack(head)
            yield nik, line, read(n)


def _sorted_records(scan: ExportScan, tmpdir: str) -> Iterator[tuple[int, int, bytes]]:
    run: list[tuple[int, int, bytes]] = []
    spilled: list[str] = []
    for batch in scan.records():
        run.extend(batch)
        if len(run) >= RUN_RECORDS:
            spilled.append(_spill(run, tmpdir))
            run = []
    if not spilled:
        run.sort()
        yield from run
        return
    if run:
        spilled.append(_spill(run, tmpdir))
    del run
    yield from heapq.merge(*(_read_run(p) for p in spilled))


def build_index(source: str | os.PathLike, out: str | os.PathLike,
                rejects_path: str | os.PathLike | None = None,
                today: dt.date | None = None) -> BuildReport:
    """Build a new generation from `source` and publish it under `out`."""
    started = time.perf_counter()
    report = BuildReport()
    scan = ExportScan(Path(source), RowEncoder(today), report.rejects)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    partial = new_generation(out, gen_id)
    env = _core.Env(str(partial), readonly=False, map_size=MAP_SIZE, durable=False)
    try:
        with tempfile.TemporaryDirectory(prefix="nikgate-build-", dir=out) as tmpdir:
            txn = env.begin_write()
            niks: list[int] = []
            values: list[bytes] = []
            prev_nik, prev_line = -1, 0
            for nik, line, value in _sorted_records(scan, tmpdir):
                if nik == prev_nik:
                    report.rejects.add(line, "DUPLICATE_NIK",
                                       f"duplicate NIK: first seen at line {prev_line}")
                    continue
                prev_nik, prev_line = nik, line
                niks.append(nik)
                values.append(value)
                if len(niks) >= APPEND_CHUNK:
                    txn.append_sorted(niks, values)
                    report.stored += len(niks)
                    niks.clear()
                    values.clear()
            if niks:
                txn.append_sorted(niks, values)
                report.stored += len(niks)
            report.rows_read = scan.rows
            report.extra_columns = scan.plan.extra if scan.plan else []
            manifest = {
                "format_version": FORMAT_VERSION,
                "record_count": report.stored,
                "source_file": os.path.basename(str(source)),
                "source_xxh3_128": scan.digest,
                "source_rows": report.rows_read,
                "rejected": len(report.rejects),
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "nikgate_version": __version__,
                "generation": gen_id,
                "deltas": [],
            }
            txn.put_meta(MANIFEST_KEY, json.dumps(manifest, sort_keys=True).encode())
            txn.commit()
        env.sync()
        report.file_bytes = os.path.getsize(partial / "data.mdb")
    except BaseException:
        env.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        env.close()
    if rejects_path is not None:
        report.rejects.write(rejects_path)
    final = publish(out, partial)
    report.generation = final.name
    report.seconds = time.perf_counter() - started
    return report
