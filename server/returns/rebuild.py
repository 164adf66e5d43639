"""Rebuilding the access ledger from the audit log.

The ledger is fed from memory every half second, so a kill -9 of a worker can lose the
last interval of noted access (ledger.py). The audit log is written before any call is
answered and holds, per call, the institution, the time, a reference per NIK and each
NIK's item status; the references are AES blocks under the audit key, which the server
holds and can invert. This replays the answered verification and lookup calls of a time
range into the ledger, keeping the earliest access per NIK, for the institutions whose
grant carries a return-data duty. Safe to run at any time, also while serving.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable
from pathlib import Path

from ..audit.nikref import NikRefs, load_key
from ..audit.segments import iter_lines, list_segments, list_streams
from .ledger import ITEM_FOUND
from .store import Returns

ACCESS_METHODS = frozenset({"Verify", "VerifyBatch", "VerifyStream", "Lookup",
                            "LookupBatch"})


def rebuild_ledger(store: Returns, audit_dir: str | Path, key_path: str | Path,
                   institutions: Iterable[str], since_ms: int = 0,
                   chunk: int = 100_000) -> dict[str, int]:
    """Replay accesses at or after `since_ms` by `institutions`; counts of what was read
    and what changed in the ledger."""
    wanted = frozenset(institutions)
    refs = NikRefs(load_key(key_path))
    stats = {"records": 0, "niks": 0, "changed": 0}
    pending: list[tuple[str, int, int]] = []
    for stream_dir in list_streams(audit_dir):
        for _, path in list_segments(stream_dir):
            for raw in iter_lines(path):
                if b'"kind":"call"' not in raw or b'"result":"OK"' not in raw:
                    continue
                try:
                    rec = json.loads(raw)
                    if (rec.get("institution") not in wanted
                            or rec.get("method") not in ACCESS_METHODS
                            or rec.get("time_ms", 0) < since_ms):
                        continue
                    niks = refs.niks_of(binascii.a2b_base64(rec.get("nik_refs", "")))
                    status = binascii.a2b_base64(rec.get("item_results", ""))
                except (ValueError, binascii.Error):
                    continue  # `nikgate audit verify` reports damaged lines
                stats["records"] += 1
                for nik, st in zip(niks, status):
                    if nik is not None and st == ITEM_FOUND:
                        pending.append((rec["institution"], nik, rec["time_ms"]))
                if len(pending) >= chunk:
                    stats["niks"] += len(pending)
                    stats["changed"] += store.note_accessed_at(pending)
                    pending = []
    if pending:
        stats["niks"] += len(pending)
        stats["changed"] += store.note_accessed_at(pending)
    return stats
