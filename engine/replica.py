"""`nikgate index pull`: copy the builder's published generation to this node, check it,
publish it here.

A source is the builder's index directory (a local path or a shared filesystem) or the
URL of its generation service (`nikgate index serve-generations`, server/generations.py).
Only sealed generations are pulled (engine/generations.py): the seal names each file with
its size and xxh3-128. The copy goes to generations/<id>.partial here, hashed as it
arrives; then it must match the seal byte for byte, its manifest must agree with the
seal's, and the full `nikgate index verify` check must pass, before it is renamed and
`current` swapped (engine/layout.py publish). Anything less (a truncated or altered
transfer, a source changed under the copy, a damaged page) deletes the partial copy and
leaves the current generation as it was. A running server on this node then moves to the
new generation live (server/index_holder.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nikgate.errors import IndexDamagedError, IndexFormatError, IndexMissingError

from .generations import CHUNK, SEAL_FILE, Seal, check_files, new_hasher, read_seal
from .layout import current_generation, new_generation, publish

log = logging.getLogger(__name__)

TIMEOUT = 60.0   # seconds without a byte before an HTTP pull gives up


@dataclass
class PullReport:
    source: str
    generation: str = ""
    up_to_date: bool = False   # this node already serves the source's generation
    bytes_copied: int = 0
    copy_seconds: float = 0.0
    verify_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes_copied / 1e6 / self.copy_seconds if self.copy_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "generation": self.generation,
                "up_to_date": self.up_to_date, "bytes_copied": self.bytes_copied,
                "copy_seconds": round(self.copy_seconds, 3),
                "megabytes_per_second": round(self.megabytes_per_second, 1),
                "verify_seconds": round(self.verify_seconds, 3),
                "seconds": round(self.seconds, 3)}


class Source:
    """Where generations come from: the current seal, and a generation's files."""

    def current(self) -> Seal:
        raise NotImplementedError

    def open_file(self, generation: str, name: str) -> BinaryIO:
        raise NotImplementedError


class DirectorySource(Source):
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def current(self) -> Seal:
        generation = current_generation(self.root)
        found = read_seal(generation)
        if found is None:
            raise IndexFormatError(unsealed_message(generation))
        return found

    def open_file(self, generation: str, name: str) -> BinaryIO:
        return open(self.root / "generations" / generation / name, "rb")


class HttpSource(Source):
    """The builder's generation service over HTTP(S); `ca`, `cert`/`key` for mTLS."""

    def __init__(self, url: str, ca: str | None = None, cert: str | None = None,
                 key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.context: ssl.SSLContext | None = None
        if self.url.startswith("https:"):
            self.context = ssl.create_default_context(cafile=ca)
            if cert:
                self.context.load_cert_chain(cert, key)

    def _get(self, path: str):
        try:
            return urllib.request.urlopen(self.url + path, timeout=TIMEOUT,
                                          context=self.context)
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace").strip()
            if e.code == 409:
                raise IndexFormatError(detail) from None
            raise IndexMissingError(f"{self.url}{path}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise IndexMissingError(f"cannot reach the generation service at {self.url}: "
                                    f"{getattr(e, 'reason', e)}") from None

    def current(self) -> Seal:
        with self._get("/v1/current") as r:
            return Seal.from_json(json.loads(r.read()), self.url)

    def open_file(self, generation: str, name: str) -> BinaryIO:
        return self._get(f"/v1/generations/{generation}/{name}")


def source_for(spec: str, ca: str | None = None, cert: str | None = None,
               key: str | None = None) -> Source:
    if spec.startswith(("http://", "https://")):
        return HttpSource(spec, ca, cert, key)
    return DirectorySource(spec)


def unsealed_message(generation: Path) -> str:
    return (f"the current generation {generation} has no seal ({SEAL_FILE}): it was built "
            "by an older nikgate or changed in place by `nikgate index apply`, so its files "
            "cannot be checked after a copy. On the builder, publish a sealed generation: "
            "`nikgate index build`, or `nikgate index apply --new-generation` for a delta")


def pull(source: Source, index_dir: str | os.PathLike, label: str = "",
         verify: bool = True) -> PullReport:
    """Copy the source's current generation here unless this node has it already."""
    started = time.perf_counter()
    report = PullReport(label or str(getattr(source, "url", getattr(source, "root", ""))))
    wanted = source.current()
    report.generation = wanted.generation
    root = Path(index_dir)
    if (root / "current").exists() and current_generation(root).name == wanted.generation:
        report.up_to_date = True
        report.seconds = time.perf_counter() - started
        return report
    if (root / "generations" / wanted.generation).exists():
        raise IndexFormatError(
            f"{root}/generations/{wanted.generation} exists but is not current here: a "
            "newer generation was published on this node. Pull after the builder publishes "
            "again, or remove that directory")
    root.mkdir(parents=True, exist_ok=True)
    partial = new_generation(root, wanted.generation)
    try:
        began = time.perf_counter()
        for name, expect in wanted.files.items():
            report.bytes_copied += _copy(source, wanted.generation, name, expect,
                                         partial / name)
        report.copy_seconds = time.perf_counter() - began
        _check_copy(partial, wanted, report, verify)
        with open(partial / SEAL_FILE, "w") as f:
            json.dump(wanted.to_json(), f, sort_keys=True, indent=1)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    publish(root, partial)
    report.seconds = time.perf_counter() - started
    log.info("pulled generation %s: %d bytes in %.2f s", wanted.generation,
             report.bytes_copied, report.copy_seconds)
    return report


def _copy(source: Source, generation: str, name: str, expect: dict[str, Any],
          dest: Path) -> int:
    """Copy one file, hashing as it arrives; refuse it unless it matches the seal."""
    hasher = new_hasher()
    size = 0
    with source.open_file(generation, name) as src, open(dest, "wb") as out:
        for chunk in _chunks(src):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size != expect["bytes"] or hasher.hexdigest() != expect["xxh3_128"]:
        what = (f"{size} bytes arrived, the seal says {expect['bytes']}"
                if size != expect["bytes"] else
                f"its xxh3-128 is {hasher.hexdigest()}, the seal says {expect['xxh3_128']}")
        raise IndexDamagedError(
            f"the copy of {name} of generation {generation} does not match the builder's "
            f"seal ({what}): damaged in transit or changed at the source. It was deleted "
            "and not published; the current generation stays. Pull again")
    return size


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(CHUNK):
        yield chunk


def _check_copy(partial: Path, wanted: Seal, report: PullReport, verify: bool) -> None:
    """The copy as readers will open it: files on disk, manifest, every page and record."""
    from .build import verify_generation
    from .index import NikIndex

    problems = check_files(partial, wanted)   # what reached the disk, read back
    if problems:
        raise IndexDamagedError(f"the copy of generation {wanted.generation} was not "
                                f"published: {'; '.join(problems)}")
    with NikIndex.open(partial) as idx:   # format, record layout, key file
        manifest = idx.manifest
    differs = [k for k, v in wanted.manifest.items() if manifest.get(k) != v]
    if differs:
        raise IndexDamagedError(f"the copy of generation {wanted.generation} holds a "
                                f"manifest that differs from its seal in {', '.join(differs)}"
                                "; it was not published")
    if verify:
        checked = verify_generation(partial)
        report.verify_seconds = checked.seconds
        if not checked.ok:
            raise IndexDamagedError(
                f"the copy of generation {wanted.generation} failed verification and was "
                f"not published: {'; '.join(checked.lines())}", report=checked)
