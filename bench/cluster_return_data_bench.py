"""Cluster state benchmark: return data into PostgreSQL, and the quota lease's cost.

    python -m bench.cluster_return_data_bench [--records N] [--group G] [--batch B]
        [--dsn DSN] [--calls C] [--json FILE]

Starts a throwaway PostgreSQL (nikgate/loadgen/servers.py; or uses --dsn) and turns its
durability back on (fsync, full_page_writes, synchronous_commit: the throwaway starts with
them off), so an acknowledged group is on disk as in production. Then, on one core:

- return data: the store's own path, as the node's committer thread drives it: N records
  (default 500,000; unique ids, NIKs accessed beforehand, kind bank_cif) in submissions of
  B records (1,000, one stream message), grouped G records per commit (50,000, the
  committer's max_group_records): PgReturnStore.check (form, ledger query) and commit
  (COPY into staging, INSERT ... ON CONFLICT DO NOTHING RETURNING, COMMIT). Then the same
  records again (all DUPLICATE). The LMDB ReturnStore is run on the same records beside
  it, for comparison. Records/s = records / wall time of check + commit.
- quota lease: C calls (default 200,000) of one item counted by the single-node LMDB
  control store, then by a cluster node's leases (lease_block 1,000, so one round trip to
  PostgreSQL per 1,000 calls, the rest in LMDB): microseconds per call, and the leases
  taken.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from nikgate.engine.nik import load_regions
from nikgate.loadgen.servers import PostgresServer
from nikgate.server.access.grants import Grant
from nikgate.server.access.store import ControlStore
from nikgate.server.cluster.db import Database
from nikgate.server.cluster.leases import QuotaLeases
from nikgate.server.cluster.returns import PgReturnStore
from nikgate.server.cluster.schema import migrate
from nikgate.server.returns.store import DUPLICATE, STORED, ReturnStore, Submission

INSTITUTION = "bench-bank"


def make_niks(count: int) -> list[str]:
    """`count` distinct well-formed NIKs (one district, dates and serials varied)."""
    district = next(iter(load_regions().districts))
    out = []
    for serial in range(1, 10_000):
        for month in range(1, 13):
            for day in range(1, 29):
                out.append(f"{district:06d}{day:02d}{month:02d}90{serial:04d}")
                if len(out) == count:
                    return out
    raise ValueError("too many NIKs asked for")


def submissions(niks: list[str], batch: int, tag: str) -> list[Submission]:
    now = time.time_ns() // 1_000_000
    out = []
    for start in range(0, len(niks), batch):
        chunk = niks[start:start + batch]
        out.append(Submission(
            institution=INSTITUTION, kinds_granted=frozenset({"bank_cif"}),
            record_ids=[f"{tag}-{start + i}" for i in range(len(chunk))], niks=chunk,
            kinds=["bank_cif"] * len(chunk),
            values=[f"CIF{start + i:08d}" for i in range(len(chunk))], observed=[],
            received_ms=now))
    return out


def run_store(store, niks: list[str], batch: int, group: int, tag: str) -> dict:
    """check + commit every submission in groups; records/s and the outcome counts."""
    subs = submissions(niks, batch, tag)
    per_group = max(1, group // batch)
    started = time.perf_counter()
    for g in range(0, len(subs), per_group):
        chunk = subs[g:g + per_group]
        for sub in chunk:
            store.check(sub)
        store.commit(chunk)
    took = time.perf_counter() - started
    stored = sum(s.status.count(STORED) for s in subs)
    dup = sum(s.status.count(DUPLICATE) for s in subs)
    return {"records": len(niks), "seconds": round(took, 3),
            "records_per_s": round(len(niks) / took), "stored": stored, "duplicates": dup}


def lease_cost(dsn: str | None, db: Database | None, work: Path, calls: int) -> dict:
    grant = Grant(INSTITUTION, ("verify",), {"verify": ("NAMA_LGKP",)},
                  daily_quota=calls * 2)
    single = ControlStore(work / "control-single")
    started = time.perf_counter()
    for _ in range(calls):
        assert single.consume(grant, "verify", 1, time.time()) is None
    single_us = (time.perf_counter() - started) / calls * 1e6
    single.close()
    out = {"calls": calls, "single_node_us_per_call": round(single_us, 2)}
    if db is not None:
        node = ControlStore(work / "control-node")
        leases = QuotaLeases(node, db, block=1000)
        started = time.perf_counter()
        for _ in range(calls):
            assert leases.consume(grant, "verify", 1, time.time()) is None
        cluster_us = (time.perf_counter() - started) / calls * 1e6
        with db.connection("bench") as conn:
            (leased,) = conn.execute("SELECT leased FROM quota_days").fetchone()
        out.update(cluster_us_per_call=round(cluster_us, 2), leased=int(leased),
                   ratio=round(cluster_us / single_us, 2))
        leases.settle()
        node.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--group", type=int, default=50_000)
    p.add_argument("--calls", type=int, default=200_000)
    p.add_argument("--dsn", default="")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nikgate-cluster-bench-"))
    pg = None
    dsn = args.dsn
    if not dsn:
        pg = PostgresServer(work)
        pg.start()
        admin = f"host={pg.host} port={pg.port} user={pg.user} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            for setting in ("fsync = on", "full_page_writes = on",
                            "synchronous_commit = on"):
                conn.execute(f"ALTER SYSTEM SET {setting}")   # type: ignore[arg-type]
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE DATABASE bench")
        dsn = f"host={pg.host} port={pg.port} user={pg.user} dbname=bench"
    try:
        db = Database(dsn, "bench", size=2)
        migrate(db)
        with db.connection("bench") as conn:
            durable = {k: conn.execute(f"SHOW {k}").fetchone()[0]   # type: ignore[arg-type]
                       for k in ("fsync", "synchronous_commit", "full_page_writes")}
        niks = make_niks(args.records)
        store = PgReturnStore(db)
        when = time.time_ns() // 1_000_000
        store.note_accessed(((INSTITUTION, int(n)) for n in niks), when)
        lmdb_store = ReturnStore(work / "returns-lmdb")
        lmdb_store.note_accessed(((INSTITUTION, int(n)) for n in niks), when)
        result = {
            "postgresql": durable,
            "pg_first": run_store(store, niks, args.batch, args.group, "r"),
            "pg_again": run_store(store, niks, args.batch, args.group, "r"),
            "lmdb_first": run_store(lmdb_store, niks, args.batch, args.group, "r"),
            "lmdb_again": run_store(lmdb_store, niks, args.batch, args.group, "r"),
            "lease": lease_cost(dsn, db, work, args.calls),
        }
        lmdb_store.close()
        db.close()
    finally:
        if pg is not None:
            pg.stop()
    for name in ("pg_first", "pg_again", "lmdb_first", "lmdb_again"):
        r = result[name]
        print(f"{name:11} {r['records_per_s']:>10,} records/s  ({r['records']:,} in "
              f"{r['seconds']} s; stored {r['stored']:,}, duplicates {r['duplicates']:,})")
    lease = result["lease"]
    print(f"quota count  single node {lease['single_node_us_per_call']} us/call, cluster "
          f"lease {lease.get('cluster_us_per_call')} us/call ({lease.get('ratio')}x; "
          f"{lease.get('leased'):,} leased for {lease['calls']:,} calls)")
    print(f"PostgreSQL   {result['postgresql']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
