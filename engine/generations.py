"""A generation's seal: the checksums of its files, so a copy can be checked before use.

The manifest lives inside data.mdb (the `meta` database), so it cannot hold data.mdb's own
checksum. The seal is a file beside it, written when the generation is published
(engine/build.py, engine/delta.py `--new-generation`) and never changed afterwards:

    generations/<id>/files.json
    {"seal_version": 1, "generation": "<id>", "sealed_at": "...",
     "files": {"data.mdb": {"bytes": N, "xxh3_128": "<32 hex>"},
               "keys.u64": {"bytes": N, "xxh3_128": "<32 hex>"},
               "tokens.bin": {"bytes": N, "xxh3_128": "<32 hex>"}},
     "manifest": {"record_count": N, "key_digest": "...", "format_version": 2, ...}}

A generation without a seal (built by an older nikgate, or changed in place by
`nikgate index apply`, which removes the seal first) is read and served as before; it is
only not offered to replicas (engine/replica.py says why and what to do).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from nikgate.errors import IndexFormatError

from .keyset import KEYS_FILE
from .layout import TOKENS_FILE

SEAL_FILE = "files.json"
SEAL_VERSION = 1
DATA_FILE = "data.mdb"
SEALED_FILES = (DATA_FILE, KEYS_FILE, TOKENS_FILE)
# what of the manifest the seal repeats: enough to check a copy's manifest against it
MANIFEST_KEYS = ("format_version", "generation", "record_count", "key_digest",
                 "record_layout", "built_at", "source_xxh3_128")
CHUNK = 1 << 20


def new_hasher() -> Any:
    return xxhash.xxh3_128()


def file_digest(path: Path) -> tuple[int, str]:
    """(bytes, xxh3-128 hex) of a file, read in 1 MiB chunks."""
    h = new_hasher()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return size, h.hexdigest()


@dataclass(frozen=True)
class Seal:
    generation: str
    files: dict[str, dict[str, Any]]   # name -> {"bytes", "xxh3_128"}
    manifest: dict[str, Any]
    sealed_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"seal_version": SEAL_VERSION, "generation": self.generation,
                "sealed_at": self.sealed_at, "files": self.files, "manifest": self.manifest}

    @property
    def total_bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.files.values())

    @classmethod
    def from_json(cls, data: dict[str, Any], where: object) -> Seal:
        version = data.get("seal_version")
        if version != SEAL_VERSION:
            raise IndexFormatError(f"the seal of {where} is version {version}; this nikgate "
                                   f"reads version {SEAL_VERSION}: upgrade it")
        files = data.get("files") or {}
        missing = [name for name in SEALED_FILES if name not in files]
        if missing:
            raise IndexFormatError(f"the seal of {where} does not name {', '.join(missing)}")
        for name in files:
            if name not in SEALED_FILES:   # a name is used as a path: never take others
                raise IndexFormatError(f"the seal of {where} names an unknown file {name!r}")
        return cls(str(data["generation"]), dict(files), dict(data.get("manifest") or {}),
                   str(data.get("sealed_at", "")))


def seal(generation: Path, manifest: dict[str, Any], name: str | None = None) -> Seal:
    """Hash the generation's files and write its seal (fsynced). `name` is the id it is
    published under (a `.partial` directory is sealed before its rename)."""
    name = name or generation.name.removesuffix(".partial")
    files = {}
    for fname in SEALED_FILES:
        size, digest = file_digest(generation / fname)
        files[fname] = {"bytes": size, "xxh3_128": digest}
    result = Seal(name, files, {k: manifest[k] for k in MANIFEST_KEYS if k in manifest},
                  dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    tmp = generation / f".{SEAL_FILE}.tmp"
    with open(tmp, "w") as f:
        json.dump(result.to_json(), f, sort_keys=True, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, generation / SEAL_FILE)
    return result


def read_seal(generation: Path) -> Seal | None:
    """The generation's seal, or None when it has none."""
    try:
        raw = (generation / SEAL_FILE).read_text()
    except FileNotFoundError:
        return None
    return Seal.from_json(json.loads(raw), generation)


def unseal(generation: Path) -> bool:
    """Remove the seal before the generation is changed in place; True if there was one."""
    try:
        os.unlink(generation / SEAL_FILE)
    except FileNotFoundError:
        return False
    fd = os.open(generation, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def check_files(generation: Path, expected: Seal) -> list[str]:
    """What differs between the generation's files and `expected`'s checksums."""
    problems = []
    for fname, want in expected.files.items():
        path = generation / fname
        if not path.exists():
            problems.append(f"{fname} is missing")
            continue
        size, digest = file_digest(path)
        if size != want["bytes"]:
            problems.append(f"{fname} has {size} bytes, the seal says {want['bytes']}")
        elif digest != want["xxh3_128"]:
            problems.append(f"{fname} does not match its checksum (xxh3-128 {digest}, "
                            f"the seal says {want['xxh3_128']})")
    return problems
