"""`nikgate index build`: stream a warehouse export into a new index generation.

Rows are validated and packed as they stream in, into a C arena (arena.pxi) that is
sorted by (NIK, line) and appended to a fresh LMDB environment in key order, which fills
pages completely; duplicates are rejected naming the first line, which wins. An export
larger than the memory budget is sorted in runs spilled to temp files and merged. Every
stored NIK also goes to the generation's key file (engine/keyset.py). The generation is
synced, verified from disk (engine/integrity.py: a damaged one is deleted, never
published), sealed with its files' checksums (engine/generations.py) and published
atomically (layout.py).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nikgate import __version__
from nikgate.errors import IndexDamagedError

from . import _core
from .constants import RECORD_LAYOUT
from .generations import seal
from .index import attach_dictionary, attach_key_file, read_manifest, write_dictionary
from .integrity import VerifyReport, verify_env
from .keyset import KEYS_FILE, digest_hex
from .layout import FORMAT_VERSION, MANIFEST_KEY, new_generation, publish
from .record import RowEncoder
from .warehouse import ExportScan, Rejects

log = logging.getLogger(__name__)

MEMORY_BUDGET = 4 << 30        # packed records held in memory before spilling a run
APPEND_CHUNK = 200_000         # records per append call when merging spilled runs
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
    verify_seconds: float = 0.0

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
            "verify_seconds": round(self.verify_seconds, 2),
            "ignored_columns": self.extra_columns,
        }


def _read_run(path: str) -> Iterator[tuple[int, int, bytes]]:
    size = _RUN_ITEM.size
    unpack = _RUN_ITEM.unpack
    with open(path, "rb", buffering=1 << 20) as f:
        read = f.read
        while head := read(size):
            nik, line, n = unpack(head)
            yield nik, line, read(n)


def _append_merged(txn, runs: list[str], report: BuildReport, keys) -> None:
    """Merge spilled runs (the export was larger than the memory budget) into the txn."""
    niks: list[int] = []
    values: list[bytes] = []
    prev_nik, prev_line = -1, 0
    for nik, line, value in heapq.merge(*(_read_run(p) for p in runs)):
        if nik == prev_nik:
            report.rejects.add(line, "DUPLICATE_NIK",
                               f"duplicate NIK: first seen at line {prev_line}")
            continue
        prev_nik, prev_line = nik, line
        niks.append(nik)
        values.append(value)
        if len(niks) >= APPEND_CHUNK:
            txn.append_sorted(niks, values)
            keys.add_many(niks)
            report.stored += len(niks)
            niks.clear()
            values.clear()
    if niks:
        txn.append_sorted(niks, values)
        keys.add_many(niks)
        report.stored += len(niks)


def verify_generation(path: Path) -> VerifyReport:
    """Verify a written generation as readers will see it: from disk, read-only."""
    env = _core.Env(str(path), readonly=True)
    try:
        manifest = read_manifest(env, path)
        attach_key_file(env, path, manifest)
        attach_dictionary(env, path, manifest)
        return verify_env(env, path.name)
    finally:
        env.close()


def build_index(source: str | os.PathLike, out: str | os.PathLike,
                rejects_path: str | os.PathLike | None = None,
                today: dt.date | None = None,
                memory_budget: int = MEMORY_BUDGET,
                progress: Callable[[int], None] | None = None) -> BuildReport:
    """Build a new generation from `source` and publish it under `out`.

    Up to `memory_budget` bytes of packed records are sorted in memory; beyond that they
    are sorted in runs spilled to temp files and merged, so memory stays bounded.
    `progress(bytes_read)` follows the read of `source` (every 4 MiB)."""
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
            arena = _core.RecordArena()
            runs: list[str] = []

            def spill() -> None:
                arena.sort()
                runs.append(os.path.join(tmpdir, f"run-{len(runs):04d}.bin"))
                arena.spill(runs[-1])
                arena.clear()

            scan.fill(arena, spill, memory_budget, progress)
            txn = env.begin_write()
            # the words of every row read: records are stored as their token ids
            dictionary = arena.dictionary()
            env.attach_dictionary(dictionary)
            keys = _core.KeyWriter(str(partial / KEYS_FILE))
            if not runs:  # the common case: sorted and stored in C
                arena.sort()
                report.stored = arena.append_to(txn, lambda line, first: report.rejects.add(
                    line, "DUPLICATE_NIK", f"duplicate NIK: first seen at line {first}"), keys)
            else:
                spill()
                del arena
                _append_merged(txn, runs, report, keys)
            keys.close()  # fsynced: the manifest below vouches for it
            words = write_dictionary(partial, dictionary)   # fsynced, like the key file
            report.rows_read = scan.rows
            report.extra_columns = scan.plan.extra if scan.plan else []
            manifest = {
                "format_version": FORMAT_VERSION,
                "record_layout": RECORD_LAYOUT,  # checked on open (layout.check_record_layout)
                "record_count": report.stored,
                "source_file": os.path.basename(str(source)),
                "source_xxh3_128": scan.digest,
                "source_rows": report.rows_read,
                "rejected": len(report.rejects),
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "nikgate_version": __version__,
                "generation": gen_id,
                "deltas": [],
                "key_digest": digest_hex(keys.digest),
                "keys_file": {"name": KEYS_FILE, "count": keys.count,
                              "key_digest": digest_hex(keys.digest)},
                "dictionary": words,
            }
            txn.put_meta(MANIFEST_KEY, json.dumps(manifest, sort_keys=True).encode())
            txn.commit()
        env.sync()
        env.close()
        report.file_bytes = os.path.getsize(partial / "data.mdb")
        checked = verify_generation(partial)
        report.verify_seconds = checked.seconds
        if not checked.ok:
            raise IndexDamagedError(
                f"the new generation failed verification and was not published: "
                f"{'; '.join(checked.lines())}. Check the disk and memory of this machine, "
                "then build again", report=checked)
        seal(partial, manifest)   # the files' checksums, for replicas (generations.py)
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
