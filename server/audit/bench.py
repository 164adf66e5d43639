"""Micro-benchmarks of the audit hot path: `python -m nikgate.server.audit.bench`."""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
import timeit

from .entry import AuditEntry
from .nikref import NikRefs
from .writer import AuditLog


def _entry(niks, results: bytes) -> AuditEntry:
    return AuditEntry(
        time_ms=time.time_ns() // 1_000_000, transaction_id="01J0Z8YB3D7Q4M2K9X5T6R1C0V",
        institution="bank-demo", cert_serial="4f2a9c01d3e5b7a9", channel="web",
        method="VerifyBatch", purpose="KYC pembukaan rekening", result="OK", latency_us=850,
        fields_requested=("NAMA_LGKP", "TGL_LHR"), fields_returned=(), niks=niks,
        item_results=results)


def sample_niks(n: int) -> list[int]:
    return [3201014507900001 + i * 7919 for i in range(n)]


def bench_append(items: int = 1000, calls: int = 2000, commit_interval: float = 0.05) -> dict:
    """Microseconds per append() for a batch of `items` NIKs (as ints and as strings) and
    for a single NIK, group commit running."""
    ints = sample_niks(items)
    strs = [str(x) for x in ints]
    results = bytes(i % 3 for i in range(items))
    cases = {
        f"batch {items} (int NIKs)": _entry(ints, results),
        f"batch {items} (str NIKs)": _entry(strs, results),
        "single NIK": _entry([strs[0]], b"\x00"),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = AuditLog.open(os.path.join(tmp, "audit"), os.path.join(tmp, "key"), "bench",
                            commit_interval=commit_interval)
        try:
            for name, entry in cases.items():
                for _ in range(50):
                    log.append(entry)
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        log.append(entry)
                    us = (time.perf_counter() - t0) / calls * 1e6
                    best = min(best, us)
                out[name] = round(best, 1)
        finally:
            log.close()
    return out


def bench_nik_hashes(items: int = 1000, number: int = 50) -> dict:
    """Microseconds to reference `items` NIKs with each candidate keyed function."""
    key = os.urandom(32)
    niks = [str(x).encode() for x in sample_niks(items)]
    strs = [x.decode() for x in niks]
    refs = NikRefs(key)

    def hmac_new():
        return [hmac.new(key, n, "sha256").digest()[:16] for n in niks]

    def hmac_digest():
        return [hmac.digest(key, n, "sha256")[:16] for n in niks]

    def blake2b_keyed():
        return [hashlib.blake2b(n, key=key, digest_size=16).digest() for n in niks]

    def aes_batch():
        return refs.refs(strs)

    out = {}
    for fn in (hmac_new, hmac_digest, blake2b_keyed, aes_batch):
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        out[fn.__name__] = round(best * 1e6, 1)
    return out


def main() -> None:
    print("NIK reference, us per 1000 NIKs:")
    for name, us in bench_nik_hashes().items():
        print(f"  {name:16} {us:9.1f}")
    print("AuditLog.append, us per call:")
    for name, us in bench_append().items():
        print(f"  {name:26} {us:9.1f}")


if __name__ == "__main__":
    main()
