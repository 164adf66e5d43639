"""`nikgate index verify`: is every page, record and NIK of an index where it should be?

Record checksums catch a changed value, but not a damaged B-tree page: LMDB then simply
cannot reach part of the tree, lookups of those NIKs miss, and LMDB's own entry count
still looks right. So verify walks the whole records database with a cursor in key order
(LMDB errors, keys out of order, every record's checksum) and compares what it reached,
as a count and a key-set digest (engine/keyset.py), with the manifest and with the key
file plus the delta side table. When they differ it looks up every NIK the index should
hold to count the unreachable ones (those answer CORRUPT, see batch.pxi).

The token dictionary (engine/tokens.pxi) is hashed again and compared with the manifest.
It runs before a build or delta is published (build.py, delta.py), on demand from the
CLI, and as a paced background scrub in the server (server/scrub.py), which drives the
same steps with pauses between chunks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from . import _core
from .keyset import MOD, digest_hex

CHUNK = 200_000          # records walked per transaction
PROBE_CHUNK = 100_000    # NIKs looked up per transaction when counting unreachable ones
FIX = "rebuild it with `nikgate index build` or restore a copy"


@dataclass
class Problem:
    kind: str
    message: str


@dataclass
class VerifyReport:
    generation: str = ""
    records_walked: int = 0
    records_expected: int | None = None
    entries: int = 0
    unreachable: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True   # False when the index kept changing under a paced scrub

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, message: str) -> None:
        self.problems.append(Problem(kind, message))

    def lines(self) -> list[str]:
        return [f"{p.kind}: {p.message}" for p in self.problems]

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "generation": self.generation,
            "records_walked": self.records_walked, "records_expected": self.records_expected,
            "lmdb_entries": self.entries, "unreachable": self.unreachable,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records_walked / self.seconds)
            if self.seconds else 0,
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
        }


def verify_env(env: _core.Env, generation: str = "", txn: _core.WriteTxn | None = None
               ) -> VerifyReport:
    """Verify at full speed (the CLI, and before publishing: `txn` is then the write
    transaction about to be committed)."""
    steps = verify_steps(env, generation, txn)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def verify_steps(env: _core.Env, generation: str = "", txn: _core.WriteTxn | None = None,
                 chunk: int = CHUNK, attempts: int = 3
                 ) -> Generator[None, None, VerifyReport]:
    """The verification as steps of bounded work, yielding between them (a scrub pauses
    there). Each chunk is its own read transaction; if a delta commits meanwhile (the
    manifest changes) the walk starts over, at most `attempts` times."""
    started = time.perf_counter()
    report = VerifyReport(generation)
    for _ in range(attempts):
        report = VerifyReport(generation)
        manifest = yield from _walk(env, txn, chunk, report)
        if manifest is not None:
            yield from _compare(env, txn, manifest, report)
            break
    else:
        report.complete = False
    report.seconds = time.perf_counter() - started
    return report


def _walk(env, txn, chunk: int, report: VerifyReport):
    """Walk every record; returns the manifest (dict) the walk saw, or None when it
    changed between chunks (the caller starts over)."""
    start, digest, manifest_raw = 0, 0, None
    bad: list[int] = []
    bad_count = disorder = 0
    while True:
        part = _core.walk_records(env, start, chunk, txn)
        if manifest_raw is None:
            manifest_raw = part["manifest"]
            report.entries = part["entries"]
        elif part["manifest"] != manifest_raw:
            return None
        report.records_walked += part["count"]
        digest = (digest + part["digest"]) % MOD
        bad_count += part["bad"]
        bad.extend(part["bad_niks"])
        disorder += part["out_of_order"]
        if part["error"]:
            report.add("lmdb_error", f"LMDB failed while walking the records after "
                       f"{report.records_walked} of them ({part['error']}): a B-tree page "
                       f"is damaged; {FIX}")
            break
        if part["next"] is None:
            break
        start = part["next"]
        yield
    if bad_count:
        report.add("bad_record", f"{bad_count} record(s) failed their checksum or layout "
                   f"(first: {', '.join(f'{n:016d}' for n in bad[:5])}); {FIX}")
    if disorder:
        report.add("key_order", f"{disorder} key(s) out of order in the B-tree: a leaf or "
                   f"branch page is damaged; {FIX}")
    try:
        manifest = json.loads(manifest_raw) if manifest_raw is not None else {}
    except ValueError:
        manifest = {}
        report.add("manifest", f"the manifest is not valid JSON; {FIX}")
    manifest["__walk_digest"] = digest
    return manifest


def _check_dictionary(env, manifest: dict, report: VerifyReport) -> None:
    """The token dictionary texts are decoded with, hashed again: record checksums cover
    token ids, not the words they stand for."""
    found, want = env.token_dictionary, manifest.get("dictionary") or {}
    if found is None or found.digest() != want.get("xxh3_128") or \
            len(found) != want.get("tokens"):
        report.add("dictionary", f"the token dictionary does not match the manifest's "
                   f"checksum: stored texts would read as other words; {FIX}")


def _compare(env, txn, manifest: dict, report: VerifyReport):
    walked_digest = manifest.pop("__walk_digest")
    count, want = manifest.get("record_count"), manifest.get("key_digest")
    keys: _core.KeyFile | None = env.keys
    report.records_expected = count
    if count is None or want is None or keys is None:
        report.add("manifest", "the index has no key file or key-set digest (built by an "
                   "older nikgate), so unreachable records cannot be told from absent "
                   "ones; rebuild it with `nikgate index build`")
        return
    _check_dictionary(env, manifest, report)
    if report.entries != count:
        report.add("entry_count", f"LMDB counts {report.entries} entries, the manifest "
                   f"{count}; {FIX}")
    if report.records_walked != count or walked_digest != int(want, 16):
        report.add("key_set", f"walked {report.records_walked} records whose NIKs do not "
                   f"match the manifest's set of {count}; {FIX}")
    # The key file plus the delta side table must describe the same set.
    added, removed, side_error = _core.walk_delta_keys(env, txn)
    if side_error:
        report.add("delta_keys", f"the delta side table cannot be read ({side_error}); {FIX}")
    file_meta = manifest.get("keys_file", {})
    file_digest, breaks, i = 0, 0, 0
    while i < len(keys):
        n, d, b = keys.scan(i, PROBE_CHUNK)
        file_digest, breaks, i = (file_digest + d) % MOD, breaks + b, i + n
        yield
    if breaks or len(keys) != file_meta.get("count") or \
            digest_hex(file_digest) != file_meta.get("key_digest"):
        report.add("key_file", f"the key file {keys.path} does not match the manifest "
                   f"(damaged or replaced); {FIX}")
    expected = file_digest + sum(map(_core.py_key_hash, added)) \
        - sum(map(_core.py_key_hash, removed))
    if len(keys) + len(added) - len(removed) != count or digest_hex(expected) != want:
        report.add("membership", "key file and delta side table do not add up to the "
                   f"manifest's {count} NIKs; {FIX}")
    if not any(p.kind in ("lmdb_error", "key_order", "key_set", "entry_count")
               for p in report.problems):
        return
    # The tree is damaged: count the stored NIKs it can no longer reach.
    gone = set(removed)
    first: list[int] = []
    i = 0
    while i < len(keys):
        batch = [keys.key_at(j) for j in range(i, min(i + PROBE_CHUNK, len(keys)))]
        i += len(batch)
        missing, listed, _ = _core.probe_keys(env, [n for n in batch if n not in gone], txn)
        report.unreachable += missing
        first.extend(listed)
        yield
    missing, listed, _ = _core.probe_keys(env, added, txn)
    report.unreachable += missing
    first.extend(listed)
    if report.unreachable:
        report.add("unreachable", f"{report.unreachable} stored NIK(s) cannot be reached "
                   f"through the B-tree (first: {', '.join(f'{n:016d}' for n in first[:5])})"
                   f"; calls answer them CORRUPT, not NOT_FOUND; {FIX}")


def quick_verify_env(env: _core.Env, generation: str = "", windows: int = 64,
                     window: int = 2048, probes: int = 4096) -> VerifyReport:
    """A bounded check for `nikgate doctor`: LMDB's count and the key file against the
    manifest, then `windows` stretches of `window` records spread over the key space
    walked as verify_env walks them (LMDB errors, key order, checksums, and the NIKs
    reached against the key file's), then `probes` NIKs spread over the key file looked
    up as a call would. At most windows * window records are read whatever the index's
    size (128k by default: about 0.1 s); an index that small is checked whole. What it
    cannot see is damage between the stretches: `nikgate index verify` walks everything."""
    started = time.perf_counter()
    report = VerifyReport(generation)
    first = _core.walk_records(env, 0, 0)
    report.entries = first["entries"]
    try:
        manifest = json.loads(first["manifest"]) if first["manifest"] is not None else {}
    except ValueError:
        manifest = {}
        report.add("manifest", f"the manifest is not valid JSON; {FIX}")
    count = manifest.get("record_count")
    report.records_expected = count
    keys: _core.KeyFile | None = env.keys
    if count is None or keys is None:
        report.add("manifest", "the index has no key file or record count (built by an "
                   "older nikgate); rebuild it with `nikgate index build`")
        report.seconds = time.perf_counter() - started
        return report
    if report.entries != count:
        report.add("entry_count", f"LMDB counts {report.entries} entries, the manifest "
                   f"{count}; {FIX}")
    _check_dictionary(env, manifest, report)
    if len(keys) != manifest.get("keys_file", {}).get("count"):
        report.add("key_file", f"the key file {keys.path} holds {len(keys)} NIKs, the "
                   f"manifest says {manifest.get('keys_file', {}).get('count')}; {FIX}")
    # After a delta the key file alone no longer lists what a stretch should hold, so the
    # stretches are then checked for errors, order and checksums only.
    exact = not env.has_delta_keys
    total = len(keys)
    step = max(window, -(-total // windows)) if total else 1
    bad = disorder = missed = 0
    for i in range(0, total, step):
        n = min(window, total - i)
        part = _core.walk_records(env, keys.key_at(i), n)
        report.records_walked += part["count"]
        bad += part["bad"]
        disorder += part["out_of_order"]
        if part["error"]:
            report.add("lmdb_error", f"LMDB failed while walking the records from NIK "
                       f"{keys.key_at(i):016d} ({part['error']}): a B-tree page is "
                       f"damaged; {FIX}")
            break
        if exact:
            _, digest, _ = keys.scan(i, n)
            if part["count"] != n or part["digest"] % MOD != digest % MOD:
                missed += 1
    if bad:
        report.add("bad_record", f"{bad} sampled record(s) failed their checksum or "
                   f"layout; {FIX}")
    if disorder:
        report.add("key_order", f"{disorder} key(s) out of order in the B-tree: a leaf or "
                   f"branch page is damaged; {FIX}")
    if missed:
        report.add("key_set", f"{missed} sampled stretch(es) of records do not hold the "
                   f"NIKs the key file lists; {FIX}")
    sample = [keys.key_at(j) for j in range(0, total, max(1, total // probes))]
    if not exact:
        gone = set(_core.walk_delta_keys(env)[1])
        sample = [n for n in sample if n not in gone]
    unreachable, listed, _ = _core.probe_keys(env, sample)
    report.unreachable = unreachable
    if unreachable:
        report.add("unreachable", f"{unreachable} of {len(sample)} sampled NIK(s) cannot "
                   f"be reached through the B-tree (first: "
                   f"{', '.join(f'{n:016d}' for n in listed[:5])}); {FIX}")
    report.complete = report.records_walked >= count if count is not None else False
    report.seconds = time.perf_counter() - started
    return report
