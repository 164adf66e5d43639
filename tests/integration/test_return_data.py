"""Data balikan against a real server: acks after commit, duplicates, rejections, obligations."""

from __future__ import annotations

import time

import grpc
import pytest

from nikgate import errors
from nikgate.clients import (
    Connection,
    NikgateClient,
    ReturnDataSender,
    ReturnRecord,
    obligations,
)
from nikgate.methods import rpc
from nikgate.v1 import return_data_pb2 as pb

from .conftest import duty_grant
from .waiting import eventually

SUBMIT = rpc("ReturnData", "Submit").path


@pytest.fixture
def conn(server, certs, tmp_path) -> Connection:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{server.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                      tmp_path / "c.key")


@pytest.fixture
def admin(with_duty):
    return with_duty


def access(conn, niks, server) -> None:
    """Verify the NIKs, so bank-a owes return data for them; the server's ledger takes
    them in at once (its flush, not a wait for the next interval)."""
    with NikgateClient(conn) as c:
        for i in range(0, len(niks), 1000):
            chunk = niks[i:i + 1000]
            r = c.verify_batch(chunk, {"NAMA_LGKP": [None] * len(chunk)})
            assert set(r.message.status) == {1}
    server.running.ledger.flush()


def test_records_are_acked_stored_and_duplicates_stored_once(server, conn, admin, index):
    niks = index.sample_niks(300, start=3300000000000000)
    access(conn, niks, server)
    records = [ReturnRecord(f"smoke-{i}", nik, "bank_cif", f"CIF{i:06d}")
               for i, nik in enumerate(niks)]
    first = ReturnDataSender(conn, batch_size=64).send(records)
    assert (first.stored, first.duplicates, first.rejected) == (300, 0, [])
    assert first.receipts == first.batches == 5
    again = ReturnDataSender(conn, batch_size=100).send(records)
    assert (again.stored, again.duplicates, again.rejected) == (0, 300, [])
    store = server.running.returns
    got = store.get("bank-a", "smoke-7")
    assert (got.nik, got.kind, got.value) == (niks[7], "bank_cif", "CIF000007")
    assert sum(1 for r in store.records("bank-a") if r.record_id.startswith("smoke-")) == 300


def raw_submit(conn, batches):
    """Send ReturnDataBatch messages on one stream; the answers, in order."""
    channel = conn.channel()
    try:
        submit = channel.stream_stream(SUBMIT, pb.ReturnDataBatch.SerializeToString,
                                       pb.ReturnDataAcks.FromString)
        return list(submit(iter(batches), timeout=30))
    finally:
        channel.close()


def test_rejections_name_their_reason_and_the_stream_goes_on(conn, admin, index, server):
    accessed = index.sample_niks(3, start=4100000000000000)
    access(conn, accessed, server)
    ledger = server.running.returns   # other tests access NIKs too: one never accessed
    never = next(n for n in index.sample_niks(1000, start=5200000000000000)
                 if ledger.first_accessed("bank-a", int(n)) is None)
    future = int(time.time() * 1000) + 86_400_000
    rows = [  # (record id, nik, kind, value, observed) -> expected reason (0 = stored)
        (("rej-ok", accessed[0], "bank_cif", "CIF-1", 0), 0),
        (("rej-nik", "320101450790000", "bank_cif", "CIF-2", 0), pb.REJECT_REASON_MALFORMED_NIK),
        (("rej-kind", accessed[0], "msisdn", "6281234567890", 0),
         pb.REJECT_REASON_KIND_NOT_GRANTED),
        (("rej-never", never, "bank_cif", "CIF-3", 0), pb.REJECT_REASON_NOT_ACCESSED),
        (("rej-value", accessed[1], "account_number", "12ab", 0),
         pb.REJECT_REASON_MALFORMED_VALUE),
        (("has space", accessed[1], "bank_cif", "CIF-4", 0),
         pb.REJECT_REASON_MALFORMED_RECORD_ID),
        (("rej-ok", accessed[0], "bank_cif", "CIF-other", 0), pb.REJECT_REASON_CONFLICT),
        (("rej-time", accessed[2], "bank_cif", "CIF-5", future),
         pb.REJECT_REASON_MALFORMED_TIME),
    ]
    first = pb.ReturnDataBatch(batch_id=7, record_ids=[r[0] for r, _ in rows],
                               niks=[r[1] for r, _ in rows], kinds=[r[2] for r, _ in rows],
                               values=[r[3] for r, _ in rows],
                               observed_at_ms=[r[4] for r, _ in rows])
    second = pb.ReturnDataBatch(batch_id=8, record_ids=["rej-after"], niks=[accessed[2]],
                                kinds=["account_number"], values=["1234567890"])
    acks = raw_submit(conn, [first, second])
    assert [a.batch_id for a in acks] == [7, 8]
    expected_status = bytes(1 if reason == 0 else 3 for _, reason in rows)
    assert acks[0].status == expected_status
    got = {r.index: r.reason for r in acks[0].rejections}
    assert got == {i: reason for i, (_, reason) in enumerate(rows) if reason}
    for r in acks[0].rejections:
        assert r.message and r.record_id == rows[r.index][0][0]
        assert rows[r.index][0][3] not in r.message   # the value is never echoed
    assert acks[1].status == b"\x01" and acks[1].stored == 1
    assert acks[0].HasField("receipt") and acks[1].HasField("receipt")


def test_a_malformed_batch_is_invalid_argument_after_earlier_acks(conn, admin, index,
                                                                   server):
    nik = index.sample_niks(1, start=4300000000000000)
    access(conn, nik, server)
    good = pb.ReturnDataBatch(batch_id=1, record_ids=["mal-1"], niks=nik, kinds=["bank_cif"],
                              values=["CIF-9"])
    bad = pb.ReturnDataBatch(batch_id=2, record_ids=["mal-2", "mal-3"], niks=nik,
                             kinds=["bank_cif"], values=["CIF-9"])
    channel = conn.channel()
    try:
        submit = channel.stream_stream(SUBMIT, pb.ReturnDataBatch.SerializeToString,
                                       pb.ReturnDataAcks.FromString)
        call = submit(iter([good, bad]), timeout=30)
        first = next(call)
        assert first.batch_id == 1 and first.status == b"\x01"
        with pytest.raises(grpc.RpcError) as info:
            next(call)
    finally:
        channel.close()
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "niks has 1 entries for 2 record ids" in info.value.details()


def test_return_data_needs_the_operation_in_the_grant(conn, server, index):
    # the session grant of bank-a has no return_data operation
    with pytest.raises(grpc.RpcError) as info:
        raw_submit(conn, [pb.ReturnDataBatch(batch_id=1, record_ids=["x"],
                                             niks=index.sample_niks(1), kinds=["bank_cif"],
                                             values=["CIF-1"])])
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "return_data is not granted" in info.value.details()


def test_obligations_count_what_is_owed(conn, admin, index, server):
    before = obligations(conn)
    ledger = server.running.returns   # other tests access NIKs too: take fresh ones
    niks = [n for n in index.sample_niks(1000, start=6100000000000000)
            if ledger.first_accessed("bank-a", int(n)) is None][:20]
    assert len(niks) == 20
    access(conn, niks, server)
    report = ReturnDataSender(conn).send(
        ReturnRecord(f"ob-{i}", nik, "account_number", f"{1000000 + i}")
        for i, nik in enumerate(niks[:5]))
    assert report.stored == 5
    after = obligations(conn, max_items=10_000)
    assert after.accessed - before.accessed == 20
    assert after.fulfilled - before.fulfilled == 5
    assert after.pending - before.pending == 15
    assert after.overdue == before.overdue == 0 and after.compliance_ratio == 1.0
    outstanding = {o.nik for o in after.outstanding}
    assert set(niks[5:]) <= outstanding and not set(niks[:5]) & outstanding
    assert after.deadline_days == 30 and after.grant_status == "active"


def test_another_institutions_obligations_need_an_operator(conn, admin):
    with pytest.raises(errors.PermissionDenied) as info:
        obligations(conn, institution="bank-revoked")
    assert info.value.grpc_code == "PERMISSION_DENIED"


def test_overdue_obligations_suspend_the_grant_and_the_audit_log_says_why(
        own_stores, tmp_path, index):
    from nikgate.server.audit import tail

    from .conftest import ServerThread

    cfg, connect = own_stores(duty_grant(return_deadline_days=1.5 / 86_400),   # due after 1.5 s
                              return_data={"max_overdue": 3, "check_seconds": 0.2})
    s = ServerThread(cfg)
    try:
        conn = connect(s.port)
        niks = index.sample_niks(10, start=7100000000000000)
        access(conn, niks, s)
        sent = ReturnDataSender(conn).send(
            ReturnRecord(f"due-{i}", nik, "bank_cif", f"CIF{i}") for i, nik in enumerate(niks[:6]))
        assert sent.stored == 6
        assert s.running.store.snapshot()[2]["bank-a"].status == "active"  # 4 pending, none due
        # the deadline passing and the enforcer's round are the behaviour under test
        eventually(lambda: s.running.store.snapshot()[2]["bank-a"].status != "active",
                   timeout=10, interval=0.1, what="the grant auto-suspended")
        grant = s.running.store.snapshot()[2]["bank-a"]
        assert grant.status == "suspended"
        assert "4 return-data obligations overdue" in grant.status_reason
        # no wait for the worker to see it: test servers read grants on every call
        with NikgateClient(conn) as c, pytest.raises(errors.PermissionDenied) as info:
            c.verify(niks[0], {"NAMA_LGKP": "X"})
        assert "auto-suspended" in str(info.value)
        ob = obligations(conn)
        assert (ob.accessed, ob.fulfilled, ob.overdue, ob.grant_status) == (10, 6, 4, "suspended")
        assert ob.compliance_ratio == pytest.approx(0.6)
        # suspended, it may still deliver what it owes (late, by now)
        late = ReturnDataSender(conn).send(
            ReturnRecord(f"late-{i}", nik, "bank_cif", f"CIF{i}") for i, nik in enumerate(niks[6:]))
        assert late.stored == 4
        ob = obligations(conn)
        assert (ob.fulfilled, ob.late, ob.overdue) == (6, 4, 0)
    finally:
        s.stop()
    records = [r for r in tail(tmp_path / "audit", 200) if r.get("method") ==
               "ReturnData/AutoSuspend"]
    assert len(records) == 1
    assert records[0]["institution"] == "bank-a"
    assert "4 return-data obligations overdue" in records[0]["purpose"]


def test_a_failing_record_source_is_raised_after_what_was_read_is_answered(conn, admin,
                                                                           index, server):
    from nikgate.clients.return_data import SourceError

    niks = index.sample_niks(10, start=4500000000000000)
    access(conn, niks, server)

    def records():
        for i, nik in enumerate(niks[:6]):
            yield ReturnRecord(f"src-{i}", nik, "bank_cif", f"CIF{i}")
        raise ValueError("line 8: observed_at 'yesterday' is neither ISO 8601 nor unix ms")

    with pytest.raises(SourceError, match="line 8") as info:
        ReturnDataSender(conn, batch_size=4).send(records())
    assert info.value.report.stored == 6


def test_the_ledger_is_rebuilt_from_the_audit_log(own_stores, tmp_path, index):
    """A lost ledger (the worst a crash can do to it) comes back from the audit log."""
    import shutil

    from nikgate.server.returns.store import ReturnStore

    from ..conftest import run_cli
    from .conftest import ServerThread
    from .test_serve import _write_config

    cfg, connect = own_stores(duty_grant())
    s = ServerThread(cfg)
    found = index.sample_niks(30, start=2100000000000000)
    unknown = f"{int(found[0]) - int(found[0]) % 10_000 + 9_999:016d}"
    assert index.raw(int(unknown)) is None
    try:
        conn = connect(s.port)
        with NikgateClient(conn) as c:
            c.verify_batch(found[:20] + [unknown], {"NAMA_LGKP": [None] * 21})
            for nik in found[20:]:
                c.verify(nik, {"NAMA_LGKP": "X"})
        from nikgate.v1 import verification_pb2 as vpb

        channel = conn.channel()   # NIKs as numbers too: another reference form
        try:
            channel.unary_unary(rpc("Verification", "VerifyBatch").path)(
                vpb.VerifyBatchRequest(nik_numbers=[int(n) for n in found[:5]],
                                       fields=["NAMA_LGKP"],
                                       columns=[vpb.ClaimColumn(values=[""] * 5)]
                                       ).SerializeToString(), timeout=10)
        finally:
            channel.close()
        s.running.ledger.flush()   # (stopping would flush too; this says where it happens)
    finally:
        s.stop()
    before = ReturnStore(tmp_path / "returns", readonly=True)
    try:
        first = {n: before.first_accessed("bank-a", int(n)) for n in found}
    finally:
        before.close()
    assert all(first.values())
    shutil.rmtree(tmp_path / "returns")                      # the ledger is lost
    r = run_cli("return-data", "rebuild-ledger", "--config",
                str(_write_config(tmp_path / "n.toml", cfg)))
    assert r.returncode == 0, r.stderr
    # 1 batch of 21 (20 found), 10 single calls, 1 batch of 5 numbers: 35 found NIKs, of
    # which 30 distinct
    assert "read 12 answered calls of bank-a: 35 NIKs found; 30 ledger entries" in r.stdout
    after = ReturnStore(tmp_path / "returns", readonly=True)
    try:
        rebuilt = {n: after.first_accessed("bank-a", int(n)) for n in found}
        assert after.first_accessed("bank-a", int(unknown)) is None   # NOT_FOUND: not owed
    finally:
        after.close()
    # every NIK back, first accessed at its call's audit time: no later than the flush
    assert all(rebuilt[n] and rebuilt[n] <= first[n] for n in found)
