"""Warm the page cache with the published generation's files (`nikgate index warm`).

After a reboot the index is on disk only, and the first random lookups each wait for a disk
read (docs/performance.md, "Cold start"). Reading the files once, sequentially and in large
blocks, brings them into the page cache at the disk's sequential rate, before traffic does it
one random page at a time. LMDB maps data.mdb, so the pages read here are the ones lookups use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nikgate.errors import IndexMissingError

from .layout import current_generation

#: the files lookups read, in the order they are warmed
WARM_FILES = ("data.mdb", "tokens.bin", "keys.u64")
BLOCK = 8 << 20

#: progress(bytes_read, bytes_total, seconds_so_far), called after every block
Progress = Callable[[int, int, float], None]


@dataclass
class WarmReport:
    generation: Path
    files: dict[str, int] = field(default_factory=dict)   # name -> bytes read
    seconds: float = 0.0

    @property
    def bytes_read(self) -> int:
        return sum(self.files.values())

    def summary(self) -> dict[str, object]:
        mib = self.bytes_read / 2**20
        return {"generation": str(self.generation), "files": dict(self.files),
                "bytes": self.bytes_read, "seconds": round(self.seconds, 3),
                "mib_per_second": round(mib / self.seconds, 1) if self.seconds else None}


def warm_files(index_dir: str | os.PathLike, progress: Progress | None = None,
               block: int = BLOCK) -> WarmReport:
    """Read the current generation's data.mdb, tokens.bin and keys.u64 once, in `block`-sized reads
    after posix_fadvise(WILLNEED), so the page cache holds them. IndexMissingError when
    there is no published index at `index_dir`."""
    generation = current_generation(index_dir)
    paths = [generation / name for name in WARM_FILES if (generation / name).is_file()]
    if not paths or paths[0].name != "data.mdb":
        raise IndexMissingError(f"no index at {index_dir}: {generation / 'data.mdb'} is missing")
    total = sum(p.stat().st_size for p in paths)
    report = WarmReport(generation)
    buf = bytearray(block)
    view = memoryview(buf)
    done = 0
    t0 = time.perf_counter()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            read = 0
            while n := os.readv(fd, [view]):
                read += n
                done += n
                if progress is not None:
                    progress(done, total, time.perf_counter() - t0)
        finally:
            os.close(fd)
        report.files[path.name] = read
    report.seconds = time.perf_counter() - t0
    return report
