"""What an outside probe broke, each against a real server: sizes, the audit log's size and
failure, streams outliving a revocation, malformed messages, free-text fields, identity
kinds, the closed network (issue 10)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from nikgate import errors, methods
from nikgate.clients import NikgateClient
from nikgate.server.audit import tail, usage, verify_log
from nikgate.v1 import lookup_pb2
from nikgate.v1 import return_data_pb2 as rpb
from nikgate.v1 import verification_pb2 as vpb

from .conftest import ServerThread, channel, duty_grant, full_grant

VERIFY = methods.rpc("Verification", "Verify").path
VERIFY_BATCH = methods.rpc("Verification", "VerifyBatch").path
VERIFY_STREAM = methods.rpc("Verification", "VerifyStream").path
LOOKUP = methods.rpc("Lookup", "Lookup").path
SUBMIT = methods.rpc("ReturnData", "Submit").path
ADD_INSTITUTION = methods.rpc("Admin", "AddInstitution").path
GET_USAGE = methods.rpc("Admin", "GetUsage").path


@pytest.fixture(scope="module")
def person(index):
    nik = index.sample_niks(1, start=3500000000000000)[0]
    return nik, index.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "JENIS_KLMIN"])


def _raw_unary(port, certs, path: str, body: bytes, which="good", timeout=10):
    with channel(port, certs, which) as ch:
        return ch.unary_unary(path, lambda b: b, lambda b: b)(body, timeout=timeout)


def _details(error: grpc.RpcError) -> list:
    status = rpc_status.from_call(error)
    out = []
    for d in status.details if status else ():
        for cls in (error_details_pb2.BadRequest, error_details_pb2.RetryInfo,
                    error_details_pb2.RequestInfo):
            if d.Is(cls.DESCRIPTOR):
                m = cls()
                d.Unpack(m)
                out.append(m)
    return out


def _audit_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("segment-*.log"))


def _health(port, certs) -> int:
    with channel(port, certs) as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                    timeout=5).status


def _wait_for(predicate, seconds: float = 15.0, step: float = 0.1) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# -- 1: size limits checked before anything is written -------------------------------------

@pytest.mark.parametrize("request_, field", [
    (vpb.VerifyRequest(nik="3201014507900001", claims={"NAMA_LGKP": "X"},
                       purpose="p" * 15_000_000), "purpose"),
    (vpb.VerifyBatchRequest(niks=["3201014507900001"],
                            fields=[f"F{i}" for i in range(100_000)]), "fields"),
    (vpb.VerifyRequest(nik="3201014507900001", claims={"NAMA_LGKP": "X"},
                       request_id="r" * 10_000), "request_id"),
    (vpb.VerifyRequest(nik="3201014507900001", claims={"N" * 5000: "X"}), "claims"),
])
def test_oversized_inputs_are_refused_before_any_work(server, certs, request_, field):
    audit_dir = Path(server.config.audit.directory)
    before = _audit_bytes(audit_dir)
    path = VERIFY if isinstance(request_, vpb.VerifyRequest) else VERIFY_BATCH
    with pytest.raises(grpc.RpcError) as info:
        _raw_unary(server.port, certs, path, request_.SerializeToString())
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(info.value.details()) < 400          # never the input echoed back
    bad = [d for d in _details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad and bad[0].field_violations[0].field == field
    tx = [d for d in _details(info.value) if isinstance(d, error_details_pb2.RequestInfo)]
    assert tx and tx[0].request_id                 # the transaction id, for support
    time.sleep(0.1)
    assert _audit_bytes(audit_dir) - before < 2_000  # one small record at most


def test_refused_calls_cannot_flood_the_audit_log(own_stores, tmp_path, index):
    """A suspended institution hammering with 1,000-NIK calls: a few records, a summary."""
    cfg, connect = own_stores(full_grant("bank-a", status="suspended",
                                         status_reason="probe"),
                              audit={"refusal_rate_per_second": 1.0, "refusal_burst": 5,
                                     "refusal_summary_seconds": 0.3})
    s = ServerThread(cfg)
    try:
        audit_dir = tmp_path / "audit"
        base = _audit_bytes(audit_dir)
        niks = index.sample_niks(1000)
        calls = 60
        codes = []

        def one() -> None:
            with NikgateClient(connect(s.port)) as c:
                for _ in range(calls // 3):
                    try:
                        c.verify_batch(niks, {"NAMA_LGKP": ["X"] * len(niks)},
                                       purpose="kyc")
                    except errors.NikgateError as e:
                        codes.append(e.grpc_code)

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert codes == ["PERMISSION_DENIED"] * calls
        grown = _audit_bytes(audit_dir) - base
        # 5 individual records of ~400 B (8 NIK references, not 1,000) plus summaries
        assert grown < 20_000, grown
        records = [r for r in tail(audit_dir, 500) if r.get("kind") == "call"]
        assert sum(r.get("calls", 1) for r in records) == calls
        assert any(r.get("calls", 1) > 1 for r in records)
        assert all(r["n"] == 1000 for r in records if r.get("calls", 1) == 1)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        report = usage(audit_dir, "bank-a", day, day, utc_offset_hours=0)
        assert sum(r["calls_refused"] for r in report["rows"]) == calls
        assert verify_log(audit_dir).ok
    finally:
        s.stop()


# -- 1 and 2: a full audit disk -------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk test needs one")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_audit_disk_refuses_everything_and_recovers_without_restart(
        own_stores, small_disk, tmp_path, index, certs):
    cfg, connect = own_stores(duty_grant(),
                              audit={"directory": str(small_disk / "audit"),
                                     "commit_interval_seconds": 0.01})
    s = ServerThread(cfg)
    try:
        niks = index.sample_niks(20)
        with NikgateClient(connect(s.port)) as c:
            c.verify_batch(niks, {"NAMA_LGKP": ["X"] * 20})   # accessed: data balikan owed
        s.running.ledger.flush()
        filler = _fill(small_disk)
        returns_before = s.running.returns.count("bank-a")
        with NikgateClient(connect(s.port)) as c:
            outcomes = []
            for _ in range(20):   # the first call that cannot append flips the worker
                try:
                    c.verify(niks[0], {"NAMA_LGKP": "X"})
                    outcomes.append("OK")
                except errors.NikgateError as e:
                    outcomes.append(e.grpc_code)
                    assert isinstance(e, errors.AuditUnavailable), e
                    assert "audit log cannot be written" in str(e)
                    assert e.retry_after                          # from RetryInfo
            assert "UNAVAILABLE" in outcomes
            assert _health(s.port, certs) == health_pb2.HealthCheckResponse.NOT_SERVING
            # the stream path: refused the same way, never UNKNOWN
            with pytest.raises(errors.ServiceUnavailable) as info:
                list(c.verify_stream(_items(niks), ["NAMA_LGKP"]))
            assert info.value.grpc_code == "UNAVAILABLE"
            # return data: nothing stored without its audit record
            batch = rpb.ReturnDataBatch(
                batch_id=1, record_ids=[f"r{i}" for i in range(10)], niks=niks[:10],
                kinds=["bank_cif"] * 10, values=[f"CIF{i:08d}" for i in range(10)])
            submit = c._channel.stream_stream(SUBMIT,
                                              rpb.ReturnDataBatch.SerializeToString,
                                              rpb.ReturnDataAcks.FromString)
            with pytest.raises(grpc.RpcError) as info:
                list(submit(iter([batch]), timeout=10))
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE, info.value.details()
            assert s.running.returns.count("bank-a") == returns_before
        filler.unlink()
        assert _wait_for(lambda: _health(s.port, certs) ==
                         health_pb2.HealthCheckResponse.SERVING)
        with NikgateClient(connect(s.port)) as c:
            assert c.verify(niks[0], {"NAMA_LGKP": "X"}).message.status == 1
    finally:
        s.stop()
    report = verify_log(small_disk / "audit")
    assert report.ok, report.problems


def _items(niks):
    from nikgate.clients import VerifyItem
    return [VerifyItem(i, n, {"NAMA_LGKP": "X"}) for i, n in enumerate(niks)]


# -- 3: streams re-check the caller and the grant for every message -------------------------

def test_a_revoked_certificate_stops_an_open_stream_within_a_second(server, certs, tmp_path,
                                                                     index):
    from nikgate.server.pki import ca as pki

    ca = pki.load_ca(certs.pki_dir)
    issued = pki.issue_client(ca, "bank-a", write=False)
    pair = (issued.key_pem, issued.cert_pem)
    creds = grpc.ssl_channel_credentials(certs.ca, pair[0], pair[1])
    niks = index.sample_niks(10)
    # the stored names: a stream of mismatches would look like enumeration to the scraping
    # guard, and its throttle is not what this test is about
    names = [index.lookup(n, ["NAMA_LGKP"])["NAMA_LGKP"] for n in niks]
    sent = threading.Event()
    stop = threading.Event()
    revoked_at: list[float] = []

    def requests():
        for i in range(600):
            if stop.is_set():
                return
            if i == 5:
                pki.revoke(ca, issued.serial, "key_compromise")
                revoked_at.append(time.monotonic())
            sent.set()
            yield vpb.VerifyBatchRequest(niks=niks, fields=["NAMA_LGKP"],
                                         columns=[vpb.ClaimColumn(values=names)])
            time.sleep(0.05)   # paced: the stream is still open when the event under test lands

    answered_after = 0
    with grpc.secure_channel(f"localhost:{server.port}", creds) as ch:
        stream = ch.stream_stream(VERIFY_STREAM,
                                  vpb.VerifyBatchRequest.SerializeToString,
                                  vpb.VerifyBatchResponse.FromString)
        with pytest.raises(grpc.RpcError) as info:
            for _ in stream(requests(), timeout=60):
                if revoked_at:
                    answered_after += 1
        stop.set()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in info.value.details()
    # the CRL is re-read at most every 0.5 s; 20 batches a second: 1 s is 20 answers
    assert answered_after <= 25


def test_a_suspension_stops_an_open_stream(server, certs, index):
    from nikgate.server.access.admin import Admin

    admin = Admin(server.running.store)
    niks = index.sample_niks(10)
    names = [index.lookup(n, ["NAMA_LGKP"])["NAMA_LGKP"] for n in niks]  # not enumeration

    def requests():
        for i in range(400):
            if i == 3:
                admin.set_status("bank-a", "suspended", "probe")
            yield vpb.VerifyBatchRequest(niks=niks, fields=["NAMA_LGKP"],
                                         columns=[vpb.ClaimColumn(values=names)])
            time.sleep(0.05)   # paced: the stream is still open when the event under test lands

    try:
        with channel(server.port, certs) as ch:
            stream = ch.stream_stream(VERIFY_STREAM,
                                      vpb.VerifyBatchRequest.SerializeToString,
                                      vpb.VerifyBatchResponse.FromString)
            with pytest.raises(grpc.RpcError) as info:
                for _ in stream(requests(), timeout=60):
                    pass
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "suspended" in info.value.details()
    finally:
        admin.set_grant(full_grant("bank-a"))


def test_a_stream_ends_cleanly_at_its_maximum_lifetime(own_stores, index):
    cfg, connect = own_stores(full_grant("bank-a"), server={"max_stream_seconds": 1.0})
    s = ServerThread(cfg)
    try:
        niks = index.sample_niks(5)
        sent = []

        def requests():
            for _ in range(200):
                sent.append(1)
                yield vpb.VerifyBatchRequest(niks=niks, fields=["NAMA_LGKP"],
                                             columns=[vpb.ClaimColumn(values=["X"] * 5)])
                time.sleep(0.05)   # paced: the stream is still open when the event under test lands

        answered = 0
        with NikgateClient(connect(s.port)) as c:
            stream = c._channel.stream_stream(VERIFY_STREAM,
                                              vpb.VerifyBatchRequest.SerializeToString,
                                              vpb.VerifyBatchResponse.FromString)
            with pytest.raises(grpc.RpcError) as info:
                for _ in stream(requests(), timeout=30):
                    answered += 1
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "maximum stream lifetime" in info.value.details()
        assert 5 <= answered < 200
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in _details(info.value))
    finally:
        s.stop()


# -- 7: malformed messages ----------------------------------------------------------------

def test_undecodable_messages_are_invalid_argument_on_every_method(server, certs):
    # truncated varint, invalid UTF-8 in a string, a bad wire type, a truncated field
    garbage = [b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x02\xc3\x28", b"\x0f", b"\x12\x05ab"]
    refused = 0
    for rpc in methods.RPCS.values():
        which = "operator" if rpc.service.endswith("Admin") else "good"
        for body in garbage:
            try:
                if rpc.streaming:
                    with channel(server.port, certs, which) as ch:
                        call = ch.stream_stream(rpc.path, lambda b: b, lambda b: b)
                        list(call(iter([body]), timeout=10))
                else:
                    _raw_unary(server.port, certs, rpc.path, body, which)
                continue   # bytes that happen to be a valid (unknown-field) message
            except grpc.RpcError as e:
                error = e
            refused += 1
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (
                rpc.path, body, error.code(), error.details())
            assert any(isinstance(d, error_details_pb2.RequestInfo) for d in _details(error))
    assert refused >= 3 * len(methods.RPCS)


def test_admin_refuses_an_institution_before_parsing(server, certs):
    with pytest.raises(grpc.RpcError) as info:
        _raw_unary(server.port, certs, ADD_INSTITUTION, b"\xff\xff\xff")
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "operator" in info.value.details()


# -- 8: free-text fields are neither stored nor echoed --------------------------------------

def test_unknown_field_names_are_not_echoed_or_stored(server, certs, person):
    nik = person[0]
    secret = "3201014507900001" + "x" * 1_000_000
    with pytest.raises(grpc.RpcError) as info:
        _raw_unary(server.port, certs, LOOKUP,
                   lookup_pb2.LookupRequest(nik=nik, fields=[secret[:30]]).SerializeToString())
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "3201014507900001" not in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        _raw_unary(server.port, certs, LOOKUP,
                   lookup_pb2.LookupRequest(nik=nik, fields=[secret]).SerializeToString())
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(info.value.details()) < 400
    time.sleep(0.1)
    for rec in tail(server.config.audit.directory, 50):
        text = str(rec)
        assert "3201014507900001" not in text and "xxxxxxxxxx" not in text


def test_purpose_must_be_one_the_grant_declares(server, certs, person):
    from nikgate.server.access.admin import Admin

    admin = Admin(server.running.store)
    admin.set_grant(full_grant("bank-a", purposes=("kyc", "fraud-check")))
    nik, claims = person[0], {"NAMA_LGKP": person[1]["NAMA_LGKP"]}
    conn_path = VERIFY
    try:
        for purpose, code in (("Budi Santoso 3201014507900001", grpc.StatusCode.PERMISSION_DENIED),
                              ("marketing", grpc.StatusCode.PERMISSION_DENIED),
                              ("", grpc.StatusCode.INVALID_ARGUMENT)):
            with pytest.raises(grpc.RpcError) as info:
                _raw_unary(server.port, certs, conn_path, vpb.VerifyRequest(
                    nik=nik, claims=claims, purpose=purpose).SerializeToString())
            assert info.value.code() is code, (purpose, info.value.details())
            assert "Budi" not in info.value.details()
        vpb.VerifyResponse.FromString(_raw_unary(server.port, certs, conn_path, vpb.VerifyRequest(
            nik=nik, claims=claims, purpose="fraud-check").SerializeToString()))
        time.sleep(0.1)
        recs = [r for r in tail(server.config.audit.directory, 20) if r.get("method") == "Verify"]
        assert recs[-1]["purpose"] == "fraud-check"
        assert all("Budi" not in r.get("purpose", "") and r.get("purpose") != "marketing"
                   for r in recs)
    finally:
        admin.set_grant(full_grant("bank-a"))


# -- 12: the closed network ---------------------------------------------------------------------

def test_a_grant_admits_calls_only_from_its_networks(server, certs, person):
    from nikgate.server.access.admin import Admin

    admin = Admin(server.running.store)
    nik, claims = person[0], {"NAMA_LGKP": "X"}
    path = VERIFY
    body = vpb.VerifyRequest(nik=nik, claims=claims).SerializeToString()
    try:
        admin.set_grant(full_grant("bank-a", networks=("10.20.0.0/16",)))
        with pytest.raises(grpc.RpcError) as info:
            _raw_unary(server.port, certs, path, body)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "10.20.0.0/16" in info.value.details() and "127.0.0.1" in info.value.details()
        time.sleep(0.1)
        rec = [r for r in tail(server.config.audit.directory, 20)
               if r.get("method") == "Verify"][-1]
        assert rec["result"] == "PERMISSION_DENIED" and rec["peer"] == "127.0.0.1"
        admin.set_grant(full_grant("bank-a", networks=("10.20.0.0/16", "127.0.0.0/8")))
        vpb.VerifyResponse.FromString(_raw_unary(server.port, certs, path, body))
    finally:
        admin.set_grant(full_grant("bank-a"))


def test_networks_in_a_grant_are_validated():
    from nikgate.errors import InvalidInputError
    from nikgate.server.access.grants import validate

    with pytest.raises(InvalidInputError) as info:
        validate(full_grant("bank-a", networks=("10.0.0.300/8",)))
    assert info.value.field == "networks"
    with pytest.raises(InvalidInputError):
        validate(full_grant("bank-a", purposes=("Free text with a NIK 3201014507900001",)))



# -- 11: validation gaps, through the server --------------------------------------------------

def test_lowercase_names_nfkc_and_empty_inputs_get_clear_answers(server, certs, person):
    nik, record = person
    name = record["NAMA_LGKP"]
    with channel(server.port, certs) as ch:
        verify = ch.unary_unary(VERIFY,
                                vpb.VerifyRequest.SerializeToString,
                                vpb.VerifyResponse.FromString)
        # lower-case field names are the canonical ones; a no-break space is a space
        got = verify(vpb.VerifyRequest(nik=nik, claims={"nama_lgkp": name.replace(" ", "\u00a0")}),
                     timeout=10)
        assert got.fields[0].field == "NAMA_LGKP" and got.fields[0].outcome == 2  # MATCH
        for request, field, reason in (
                (vpb.VerifyRequest(claims={"NAMA_LGKP": "X"}), "nik", "EMPTY"),
                (vpb.VerifyRequest(nik=nik), "claims", ""),
                (vpb.VerifyRequest(nik=nik, claims={"NAMA_LGKP": "X"},
                                   thresholds={"NAMA_LGKP": 0}), "thresholds", "")):
            with pytest.raises(grpc.RpcError) as info:
                verify(request, timeout=10)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            bad = [d for d in _details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
            assert bad[0].field_violations[0].field == field, info.value.details()
            assert bad[0].field_violations[0].reason == reason


def test_get_usage_refuses_impossible_days_and_unknown_institutions(server, certs):
    from nikgate.v1 import admin_pb2

    with channel(server.port, certs, "operator") as ch:
        get_usage = ch.unary_unary(GET_USAGE,
                                   admin_pb2.GetUsageRequest.SerializeToString,
                                   admin_pb2.Usage.FromString)
        for request, field in ((admin_pb2.GetUsageRequest(institution="bank-a",
                                                          day="2026-13-45"), "day"),
                               (admin_pb2.GetUsageRequest(institution="nobody-here"),
                                "institution")):
            with pytest.raises(grpc.RpcError) as info:
                get_usage(request, timeout=10)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            bad = [d for d in _details(info.value) if isinstance(d, error_details_pb2.BadRequest)]
            assert bad[0].field_violations[0].field == field


def test_a_full_disk_under_the_stores_never_answers_internal(own_stores, small_disk, tmp_path,
                                                           index, certs):
    """Control store and return-data store on a disk that fills: calls are OK or
    UNAVAILABLE (never INTERNAL), nothing is acknowledged that is not stored."""
    for name in ("control", "returns"):   # own_stores puts them under tmp_path
        (small_disk / name).mkdir()
        (tmp_path / name).symlink_to(small_disk / name)
    cfg, connect = own_stores(duty_grant())
    s = ServerThread(cfg)
    try:
        niks = index.sample_niks(2000)
        with NikgateClient(connect(s.port)) as c:
            c.verify_batch(niks[:1000], {"NAMA_LGKP": ["X"] * 1000})
            c.verify_batch(niks[1000:], {"NAMA_LGKP": ["X"] * 1000})
        s.running.ledger.flush()   # the accessed NIKs in the ledger now
        filler = _fill(small_disk)
        codes: set = set()
        acked = 0
        with NikgateClient(connect(s.port)) as c:
            submit = c._channel.stream_stream(SUBMIT,
                                              rpb.ReturnDataBatch.SerializeToString,
                                              rpb.ReturnDataAcks.FromString)
            for b in range(4):
                part = niks[b * 500:(b + 1) * 500]
                batch = rpb.ReturnDataBatch(
                    batch_id=b, record_ids=[f"b{b}-{i}" for i in range(500)], niks=part,
                    kinds=["bank_cif"] * 500, values=[f"CIF{b}{i:06d}" * 2 for i in range(500)])
                try:
                    for ack in submit(iter([batch]), timeout=15):
                        acked += ack.stored
                    codes.add(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.add(e.code())
                try:
                    c.verify(niks[0], {"NAMA_LGKP": "X"})
                    codes.add(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.add(e.code())
        assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
        assert grpc.StatusCode.UNAVAILABLE in codes        # the full disk was felt
        assert s.running.returns.count("bank-a") == acked
        filler.unlink()
        with NikgateClient(connect(s.port)) as c:   # and it serves again, no restart
            assert _wait_for(lambda: _verifies(c, niks[0]), 15)
            submit = c._channel.stream_stream(SUBMIT,
                                              rpb.ReturnDataBatch.SerializeToString,
                                              rpb.ReturnDataAcks.FromString)
            (ack,) = list(submit(iter([batch]), timeout=15))
            assert ack.stored + ack.duplicates == 500
        assert s.running.returns.count("bank-a") == acked + ack.stored
    finally:
        s.stop()


def _verifies(client, nik) -> bool:
    try:
        client.verify(nik, {"NAMA_LGKP": "X"})
        return True
    except grpc.RpcError:
        return False


def test_a_revoked_certificate_stops_an_open_return_data_stream(own_stores, certs, index):
    from nikgate.server.pki import ca as pki

    cfg, connect = own_stores(duty_grant(), return_data={"ledger_flush_seconds": 0.1})
    s = ServerThread(cfg)
    try:
        niks = index.sample_niks(400)
        with NikgateClient(connect(s.port)) as c:
            c.verify_batch(niks, {"NAMA_LGKP": ["X"] * 400})
        s.running.ledger.flush()   # the accessed NIKs in the ledger now
        ca = pki.load_ca(certs.pki_dir)
        issued = pki.issue_client(ca, "bank-a", write=False)
        creds = grpc.ssl_channel_credentials(certs.ca, issued.key_pem, issued.cert_pem)

        def batches():
            for b in range(40):
                if b == 4:
                    pki.revoke(ca, issued.serial, "key_compromise")
                part = niks[b * 10:(b + 1) * 10]
                yield rpb.ReturnDataBatch(
                    batch_id=b, record_ids=[f"rv{b}-{i}" for i in range(10)], niks=part,
                    kinds=["bank_cif"] * 10, values=[f"CIF{b}X{i}" for i in range(10)])
                time.sleep(0.1)   # paced: the stream is still open when the revocation lands

        acked = 0
        with grpc.secure_channel(f"localhost:{s.port}", creds) as ch:
            submit = ch.stream_stream(SUBMIT,
                                      rpb.ReturnDataBatch.SerializeToString,
                                      rpb.ReturnDataAcks.FromString)
            with pytest.raises(grpc.RpcError) as info:
                for ack in submit(batches(), timeout=30):
                    acked += ack.stored
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert 40 <= acked < 400        # the batches before the revocation, within ~1 s
        assert s.running.returns.count("bank-a") == acked
    finally:
        s.stop()
