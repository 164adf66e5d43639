"""Where an index lives on disk, which indexes this nikgate reads, how one is published.

    INDEX_DIR/
      current -> generations/<id>          (symlink, swapped with rename(2))
      generations/<id>/data.mdb, lock.mdb  (one LMDB environment per build)
      generations/<id>/keys.u64, tokens.bin (its key file and token dictionary)

A build writes generations/<id>.partial, syncs it, renames it to generations/<id>, then
points `current` at it with an atomic symlink replace; a reader resolves `current` once
when it opens, so it sees either the old index or the new one, never a half-built one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from nikgate.errors import IndexFormatError, IndexMissingError

from .constants import RECORD_LAYOUT

# 3: records in their stored form (token ids, bit field: constants.RECORD_LAYOUT) with the
# generation's token dictionary; 2: native integer keys (MDB_INTEGERKEY), packed rows as
# records; 1 had big-endian keys
FORMAT_VERSION = 3
# The record layout of every format-2 index built before manifests named theirs
# (`record_layout`): a manifest without one was written with this layout. Never changes.
FORMAT_2_RECORD_LAYOUT = (
    "STATUS_HIDUP:B STATUS_KTP:B JENIS_KLMIN:B GOL_DARAH:B AGAMA:B STATUS_KAWIN:B "
    "STAT_HBKEL:B PDDK_AKH:B JENIS_PKRJN:B KEWARGANEGARAAN:B NO_PROP:B NO_KAB:B NO_KEC:B "
    "NO_KEL:H NO_RT:H NO_RW:H TGL_LHR:i TGL_MATI:i NO_KK:Q NAMA_LGKP:text TMPT_LHR:text "
    "NAMA_LGKP_IBU:text NAMA_LGKP_AYAH:text ALAMAT:text")
MANIFEST_KEY = b"manifest"
TOKENS_FILE = "tokens.bin"   # the generation's token dictionary (engine/tokens.pxi)
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


def check_record_layout(manifest: dict[str, Any], where: object) -> None:
    """Refuse an index whose records were laid out for other fields than this nikgate's
    (constants.RECORD_LAYOUT, computed from constants.FIELDS): its records cannot be read."""
    theirs = str(manifest.get("record_layout", FORMAT_2_RECORD_LAYOUT))
    if theirs == RECORD_LAYOUT:
        return
    have = [part.split(":")[0] for part in theirs.split()]
    want = [part.split(":")[0] for part in RECORD_LAYOUT.split()]
    lacks = [f for f in want if f not in have]
    unknown = [f for f in have if f not in want]
    why = []
    if lacks:
        why.append(f"it lacks {', '.join(lacks)}")
    if unknown:
        why.append(f"it stores {', '.join(unknown)}, which this nikgate does not know")
    raise IndexFormatError(
        f"index at {where} stores records laid out for other fields than this nikgate's ("
        + ("; ".join(why) or "the same fields, placed differently")
        + "). Rebuild the index with this version's `nikgate index build`")


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
