"""`nikgate index apply`: incremental warehouse changes applied to the live index.

A delta is an export with a PERUBAHAN column: BARU (a new record), UBAH (the record's
full new state: a move, a death, a card replacement), HAPUS (removal). All valid rows are
applied in one LMDB write transaction: readers keep reading the previous state until it
commits, and the commit is fsynced, so the changes are durable when the call returns.
An identical delta file is not applied twice.

Records added or removed are also noted in the `delta_keys` side table and in the
manifest's count and key-set digest, in the same transaction (engine/keyset.py); the
generation's key file never changes. Before committing, the whole index is verified
inside the write transaction (engine/integrity.py): a damaged result is not committed.

In place (the default) the generation's seal is removed first (engine/generations.py):
its files change, so replicas cannot pull it. `new_generation=True` (`--new-generation`)
applies the delta to a copy instead and publishes that as a new sealed generation: how
deltas reach replicas (docs/replicas.md), and how a running server sees a delta without
the in-place write.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nikgate.errors import IndexDamagedError, IndexFormatError, WarehouseFileError

from . import _core
from .generations import DATA_FILE, seal, unseal
from .index import attach_dictionary, attach_key_file, read_manifest
from .integrity import verify_env
from .keyset import KEYS_FILE, MOD, digest_hex
from .layout import MANIFEST_KEY, TOKENS_FILE, current_generation, publish
from .layout import new_generation as new_generation_dir
from .nik import REASONS, explain
from .record import RowEncoder, RowRejected
from .warehouse import ExportReader, Rejects

KEEP_DELTA_HISTORY = 100
PROGRESS_ROWS = 1_000   # rows between progress(rows_done) calls


@dataclass
class ApplyReport:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    rejects: Rejects = field(default_factory=Rejects)
    seconds: float = 0.0
    record_count: int = 0
    verify_seconds: float = 0.0
    digest_change: int = 0  # key-set digest change, modulo 2^128
    generation: str = ""    # the new generation (--new-generation), else ""
    copied_bytes: int = 0   # bytes of the generation copied for it (--new-generation)
    unsealed: bool = False  # applied in place to a sealed generation: seal removed

    def summary(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "deleted": self.deleted,
            "rejected": len(self.rejects),
            "rejected_by_reason": dict(sorted(self.rejects.by_reason.items())),
            "record_count": self.record_count, "seconds": round(self.seconds, 3),
            "verify_seconds": round(self.verify_seconds, 3),
            **({"generation": self.generation, "copied_bytes": self.copied_bytes}
               if self.generation else {}),
            **({"unsealed": "the generation changed in place; replicas cannot pull it "
                            "(use --new-generation on a builder that feeds replicas)"}
               if self.unsealed else {}),
        }


def apply_delta(index_dir: str | os.PathLike, delta: str | os.PathLike,
                rejects_path: str | os.PathLike | None = None, force: bool = False,
                today: dt.date | None = None,
                new_generation: bool = False,
                progress: Callable[[int], None] | None = None) -> ApplyReport:
    """Apply `delta` to the current generation in place, or, with `new_generation`, to a
    copy of it published as a new sealed generation (what replicas pull: replica.py).
    `progress(rows_done)` is called every PROGRESS_ROWS rows of the delta."""
    if new_generation:
        return _apply_as_generation(index_dir, delta, rejects_path, force, today, progress)
    return _apply(current_generation(index_dir), index_dir, delta, rejects_path, force, today,
                  progress=progress)


def _apply_as_generation(index_dir, delta, rejects_path, force, today,
                         progress=None) -> ApplyReport:
    """Copy the current generation under its writer lock (no delta can commit meanwhile),
    apply the delta to the copy, verify it, seal it and publish it atomically. Readers of
    the old generation are not touched; a server moves to the new one live."""
    started = time.perf_counter()
    source = current_generation(index_dir)
    gen_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    partial = new_generation_dir(index_dir, gen_id)
    try:
        env = _core.Env(str(source), readonly=False, durable=True)
        try:
            txn = env.begin_write()   # holds LMDB's writer lock: data.mdb cannot change
            try:
                for name in (DATA_FILE, KEYS_FILE, TOKENS_FILE):
                    if (source / name).exists():
                        shutil.copyfile(source / name, partial / name)
            finally:
                txn.abort()
        finally:
            env.close()
        report = _apply(partial, index_dir, delta, rejects_path, force, today,
                        {"generation": gen_id, "derived_from": source.name}, progress)
        report.copied_bytes = sum((partial / n).stat().st_size
                                  for n in (DATA_FILE, KEYS_FILE, TOKENS_FILE)
                                  if (partial / n).exists())
        env = _core.Env(str(partial), readonly=True)
        try:
            manifest = read_manifest(env, partial)
        finally:
            env.close()
        seal(partial, manifest, gen_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report.generation = publish(index_dir, partial).name
    report.seconds = time.perf_counter() - started
    return report


def _apply(generation: Path, index_dir, delta, rejects_path, force, today,
           manifest_changes: dict | None = None, progress=None) -> ApplyReport:
    started = time.perf_counter()
    report = ApplyReport()
    env = _core.Env(str(generation), readonly=False, durable=True)
    try:
        manifest = read_manifest(env, generation)
        if "key_digest" not in manifest:
            raise IndexFormatError(
                f"the index at {generation} has no key file (built by an older nikgate); "
                "rebuild it with `nikgate index build` before applying deltas")
        attach_key_file(env, generation, manifest)
        attach_dictionary(env, generation, manifest)   # new words are stored as literals
        keys = env.keys
        reader = ExportReader(Path(delta), delta=True)
        encoder = RowEncoder(today).fast()
        txn = env.begin_write()
        try:
            for n, (line, change, row) in enumerate(reader.rows(report.rejects), 1):
                _apply_row(txn, keys, encoder, line, change, row, report)
                if progress is not None and n % PROGRESS_ROWS == 0:
                    progress(n)
            digest = reader.digest
            already = [d for d in manifest.get("deltas", []) if d["xxh3_128"] == digest]
            if already and not force:
                raise WarehouseFileError(
                    f"{delta} was already applied at {already[0]['applied_at']}; "
                    "nothing changed (use --force to apply it again)")
            report.record_count = manifest["record_count"] + report.added - report.deleted
            manifest["record_count"] = report.record_count
            manifest["key_digest"] = digest_hex(int(manifest["key_digest"], 16)
                                                + report.digest_change)
            manifest["deltas"] = (manifest.get("deltas", []) + [{
                "file": os.path.basename(str(delta)),
                "xxh3_128": digest,
                "applied_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "added": report.added, "updated": report.updated, "deleted": report.deleted,
                "rejected": len(report.rejects),
            }])[-KEEP_DELTA_HISTORY:]
            manifest.update(manifest_changes or {})
            txn.put_meta(MANIFEST_KEY, json.dumps(manifest, sort_keys=True).encode())
            checked = verify_env(env, generation.name, txn)
            report.verify_seconds = checked.seconds
            if not checked.ok:
                raise IndexDamagedError(
                    f"{delta} was not applied: the index with it failed verification: "
                    f"{'; '.join(checked.lines())}", report=checked)
            # A sealed generation changed in place no longer matches its files' checksums:
            # the seal goes first, so no replica ever copies it under a stale seal.
            if manifest_changes is None:
                report.unsealed = unseal(generation)
            txn.commit()
        finally:
            txn.abort()
    except _core.StoreError as e:
        if report.added or report.updated or report.deleted or report.rejects.rows:
            # LMDB failed part-way: a damaged page, since the index opened fine
            raise IndexDamagedError(
                f"{delta} was not applied: LMDB failed on the index at {generation} ({e}); "
                f"run `nikgate index verify --index {index_dir}`") from None
        raise IndexFormatError(f"cannot apply to the index at {generation}: {e}") from None
    finally:
        env.close()
    if rejects_path is not None:
        report.rejects.write(rejects_path)
    report.seconds = time.perf_counter() - started
    return report


def _apply_row(txn, keys, encoder, line: int, change: str, row: list[str],
               report: ApplyReport) -> None:
    if change == "HAPUS":
        reason, nik, pos = _core.py_nik_parse(row[0])
        if reason:
            report.rejects.add(line, "BAD_NIK", f"{explain(reason, pos, row[0])} "
                                                f"[{REASONS[reason]}]")
        elif txn.delete(nik):
            txn.set_membership(nik, False, nik in keys)
            report.digest_change = (report.digest_change - _core.py_key_hash(nik)) % MOD
            report.deleted += 1
        else:
            report.rejects.add(line, "NOT_IN_INDEX", "HAPUS of a NIK that is not in the index")
        return
    if change not in ("BARU", "UBAH"):
        report.rejects.add(line, "BAD_CHANGE",
                           f"PERUBAHAN {change!r} is not one of: BARU, UBAH, HAPUS")
        return
    try:
        nik, value = encoder.encode(row)
    except RowRejected as e:
        report.rejects.add(line, e.reason, str(e))
        return
    if change == "BARU":
        if txn.put(nik, value, overwrite=False):
            txn.set_membership(nik, True, nik in keys)
            report.digest_change = (report.digest_change + _core.py_key_hash(nik)) % MOD
            report.added += 1
        else:
            report.rejects.add(line, "DUPLICATE_NIK", "BARU for a NIK already in the index")
    else:
        if txn.get(nik) is None:
            report.rejects.add(line, "NOT_IN_INDEX", "UBAH of a NIK that is not in the index")
        else:
            txn.put(nik, value)
            report.updated += 1
