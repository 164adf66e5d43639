"""Return data survives kill -9 of the server, and a fast producer is held back.

The soak test SIGKILLs `nikgate serve` (supervisor and workers) at random moments while a
client streams records; after each restart the client resumes. At the end every
acknowledged record is in the store exactly once with exactly what was sent. Its length
is bounded: NIKGATE_SOAK_KILLS (default 3) kills of NIKGATE_SOAK_RECORDS (default 20,000)
records; the bench harness runs it longer.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from nikgate import errors
from nikgate.clients import NikgateClient, ReturnDataSender, ReturnRecord
from nikgate.methods import rpc
from nikgate.server.returns.store import ReturnStore
from nikgate.v1 import return_data_pb2 as pb

from .conftest import ServerThread, duty_grant
from .test_serve import Served, _write_config
from .waiting import eventually

KILLS = int(os.environ.get("NIKGATE_SOAK_KILLS", "3"))
RECORDS = int(os.environ.get("NIKGATE_SOAK_RECORDS", "60000"))


@pytest.fixture
def setup(own_stores):
    return own_stores(duty_grant())


def _kill_all(served: Served) -> None:
    workers = served.workers()
    os.kill(served.proc.pid, signal.SIGKILL)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    served.proc.wait(10)
    deadline = time.monotonic() + 10
    for pid in workers:  # the port is free once the workers are gone
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.02)


def _in_ledger(returns_dir, institution: str, niks: list[str]) -> bool:
    """Whether every NIK is in the access ledger of the store at `returns_dir`, as a
    separate server process has written it so far."""
    store = ReturnStore(returns_dir, readonly=True)
    try:
        return all(store.first_accessed(institution, int(n)) for n in niks)
    finally:
        store.close()


def _stream_while_killing(live, config_path, port_file, conn, index, outcome, returns_dir):
    niks = index.sample_niks(1000)
    with NikgateClient(conn(live["served"].port)) as c:
        c.verify_batch(niks, {"NAMA_LGKP": [None] * len(niks)})
    # the server is another process: wait until its ledger flush has written the access
    eventually(lambda: _in_ledger(returns_dir, "bank-a", niks), timeout=10,
               what="the accessed NIKs in the ledger")
    records = [_record(i, niks) for i in range(RECORDS)]
    current = {"port": live["served"].port}
    acked = outcome.setdefault("acked", {})
    lock = threading.Lock()

    def on_ack(batch, status):
        with lock:
            for rec, st in zip(batch, status, strict=True):
                acked[rec.record_id] = acked.get(rec.record_id, 0) + (st in (1, 2))

    sender = ReturnDataSender(lambda: conn(current["port"]).channel(), batch_size=250,
                              window=4, give_up_after=60, retry_wait=0.05, on_ack=on_ack)

    def run():
        try:
            outcome["report"] = sender.send(records)
        except BaseException as e:  # surfaced by the test
            outcome["error"] = e

    client = threading.Thread(target=run)
    client.start()
    rng = random.Random()
    # Kill at random points of the stream: after a random share of the records was acked,
    # plus a random few milliseconds, so kills land mid-batch, mid-commit, mid-fsync.
    points = sorted(rng.uniform(0.05, 0.9) * RECORDS for _ in range(KILLS))
    kills = 0
    for point in points:
        while client.is_alive() and sum(acked.values()) < point:
            time.sleep(0.005)
        if not client.is_alive():
            break
        time.sleep(rng.uniform(0, 0.05))
        _kill_all(live["served"])
        kills += 1
        port_file.unlink()
        live["served"] = Served(config_path, port_file)
        current["port"] = live["served"].port
    client.join(120)
    assert not client.is_alive(), "the client did not finish"
    return kills, records


def _record(i: int, niks: list[str]) -> ReturnRecord:
    if i % 3:
        return ReturnRecord(f"soak-{i}", niks[i % len(niks)], "bank_cif", f"CIF-{i:07d}")
    return ReturnRecord(f"soak-{i}", niks[i % len(niks)], "account_number", f"{10**9 + i}")


def test_every_acked_record_survives_kill_9_exactly_once(setup, index, tmp_path):
    cfg, conn = setup
    config_path = _write_config(tmp_path / "n.toml", cfg, workers=2)
    port_file = tmp_path / "port"
    live = {"served": Served(config_path, port_file)}   # whichever server runs now
    outcome: dict = {}
    try:
        kills, records = _stream_while_killing(live, config_path, port_file, conn, index,
                                               outcome, cfg.return_data.store)
    finally:
        live["served"].stop()
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert report.rejected == []
    assert kills == KILLS, "the client finished before the last kill"
    assert report.reconnects >= kills
    assert set(outcome["acked"]) == {r.record_id for r in records}   # everything acked in the end
    store = ReturnStore(tmp_path / "returns", readonly=True)
    try:
        stored = {r.record_id: r for r in store.records("bank-a")}
    finally:
        store.close()
    assert len(stored) == RECORDS                          # exactly once each
    for rec in records:
        got = stored[rec.record_id]
        assert (got.nik, got.kind, got.value) == (rec.nik, rec.kind, rec.value), rec.record_id
    assert report.stored + report.duplicates >= RECORDS
    assert report.stored <= RECORDS


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_producer_faster_than_the_disk_is_held_back(setup, index):
    cfg, conn = setup
    cfg = cfg.with_overrides(return_data={"stream_window": 2, "max_pending_records": 8000})
    server = ServerThread(cfg)
    try:
        c = conn(server.port)
        niks = index.sample_niks(1000)
        assert len(niks) == 1000
        with NikgateClient(c) as client:
            client.verify_batch(niks, {"NAMA_LGKP": [None] * 1000})
        server.running.ledger.flush()   # the access noted now, not at the next interval
        batches = 600
        body = {i: pb.ReturnDataBatch(
            batch_id=i, record_ids=[f"bp-{i}-{j}" for j in range(1000)], niks=niks,
            kinds=["bank_cif"] * 1000, values=[f"CIF{j}" for j in range(1000)]
        ).SerializeToString() for i in range(1, batches + 1)}
        pulled = [0]
        answered = [0]
        gaps = []
        committer = server.running.committer
        pending_seen = []

        def produce():
            # as fast as gRPC takes them: no window of our own
            for i in range(1, batches + 1):
                pulled[0] = i
                gaps.append(i - answered[0])
                pending_seen.append(committer.pending_records)
                yield body[i]

        rss_before = _rss_kb(os.getpid())
        channel = c.channel()
        try:
            submit = channel.stream_stream(rpc("ReturnData", "Submit").path,
                                           lambda b: b, pb.ReturnDataAcks.FromString)
            for ack in submit(produce(), timeout=120):
                answered[0] += 1
                assert ack.stored == 1000
        finally:
            channel.close()
        rss_after = _rss_kb(os.getpid())
    finally:
        server.stop()
    assert answered[0] == batches
    # The producer ran at most a bounded distance ahead of the acks: the server's window
    # (2 batches) plus what HTTP/2 flow control lets through (~4.5 MB measured, grown by
    # gRPC's bandwidth probe), never the whole 600 batches (~23 MB) it could produce in
    # milliseconds.
    assert max(gaps) < batches // 2, max(gaps)
    assert max(pending_seen) <= 8000 + 1000
    print(f"\nproducer lead: max {max(gaps)} batches of 1000; committer pending max "
          f"{max(pending_seen):,} records; process RSS {rss_before / 1024:.0f} -> "
          f"{rss_after / 1024:.0f} MiB")


def test_a_client_gets_unavailable_not_a_hang_when_the_server_is_gone(setup):
    cfg, conn = setup
    # nothing listens on this port: the sender gives up after its budget
    sender = ReturnDataSender(lambda: conn(1).channel(), give_up_after=0.5, retry_wait=0.05)
    with pytest.raises(errors.ServiceUnavailable, match="unacknowledged") as info:
        sender.send([ReturnRecord("x", "3201014507900001", "bank_cif", "CIF1")])
    assert isinstance(info.value.__cause__, errors.ServiceUnavailable)   # the last stream's
    assert info.value.__cause__.grpc_code == "UNAVAILABLE"
