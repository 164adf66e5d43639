"""Where an index lives on disk and how a new generation is published atomically.

    INDEX_DIR/
      current -> generations/<id>          (symlink, swapped with rename(2))
      generations/<id>/data.mdb, lock.mdb  (one LMDB environment per build)

A build writes generations/<id>.partial, syncs it, renames it to generations/<id>, then
points `current` at it with an atomic symlink replace; a reader resolves `current` once
when it opens, so it sees either the old index or the new one, never a half-built one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nikgate.errors import IndexMissingError

FORMAT_VERSION = 2  # 2: native integer keys (MDB_INTEGERKEY); 1 had big-endian keys
MANIFEST_KEY = b"manifest"
KEEP_GENERATIONS = 2


def current_generation(index_dir: str | os.PathLike) -> Path:
    """The generation directory `current` points at, or IndexMissingError."""
    root = Path(index_dir)
    link = root / "current"
    if not link.exists():
        if (root / "data.mdb").exists():  # a bare LMDB directory given directly
            return root
        raise IndexMissingError(
            f"no index at {root}: expected {link}; build one with "
            "`nikgate index build --from EXPORT.csv --out DIR`"
        )
    return link.resolve()


def new_generation(index_dir: str | os.PathLike, gen_id: str) -> Path:
    path = Path(index_dir) / "generations" / f"{gen_id}.partial"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: str | os.PathLike, partial: Path) -> Path:
    """Make a finished generation the current one, atomically and durably."""
    root = Path(index_dir)
    final = partial.with_name(partial.name.removesuffix(".partial"))
    os.rename(partial, final)
    _fsync_dir(final.parent)
    tmp_link = root / f".current.{os.getpid()}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(os.path.relpath(final, root), tmp_link)
    os.replace(tmp_link, root / "current")
    _fsync_dir(root)
    _prune(root, keep={final.name})
    return final


def _prune(root: Path, keep: set[str]) -> None:
    """Remove old generations beyond KEEP_GENERATIONS and abandoned partial builds.

    Readers that still have an old generation open keep reading it: unlinked files stay
    alive until closed.
    """
    gens = sorted(p for p in (root / "generations").iterdir() if p.is_dir())
    finished = [p for p in gens if not p.name.endswith(".partial")]
    for p in finished[:-KEEP_GENERATIONS]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
    for p in gens:
        if p.name.endswith(".partial") and p.name not in keep:
            # only partials older than the one just published can be abandoned
            if p.stat().st_mtime < (root / "generations").stat().st_mtime - 1:
                shutil.rmtree(p, ignore_errors=True)
