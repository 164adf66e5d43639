"""The audit log: chain, seals, tamper detection, NIK references, queries, crash safety."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nikgate.server.audit import (
    AuditEntry,
    AuditError,
    AuditKeyError,
    AuditLog,
    StreamBusyError,
    record,
    tail,
    usage,
    verify_log,
    who_accessed,
)
from nikgate.server.audit.nikref import NikRefs, load_key

WIB = dt.timezone(dt.timedelta(hours=7))
DAY1 = int(dt.datetime(2024, 5, 1, 9, 0, tzinfo=WIB).timestamp() * 1000)
DAY2 = int(dt.datetime(2024, 5, 2, 0, 30, tzinfo=WIB).timestamp() * 1000)

A = "3201014507900001"
B = "3201014507900011"          # shares 15 digits with A
C = "3201014507900010"
BAD = "320101450790001"         # 15 digits: A's prefix, a malformed NIK
UNSEEN = "3201014507900002"
FILLER = [str(3301010101800001 + 7919 * i) for i in range(1000)]


def entry(niks=(), results=b"", *, t=DAY1, inst="bank-a", method="VerifyBatch",
          channel="web", result="OK", tx="tx") -> AuditEntry:
    return AuditEntry(time_ms=t, transaction_id=tx, institution=inst, cert_serial="0a1b",
                      channel=channel, method=method, purpose="KYC", result=result,
                      latency_us=120, fields_requested=("NAMA_LGKP", "TGL_LHR"),
                      fields_returned=(), niks=niks, item_results=results)


W0_CALLS = [
    entry([A], method="Verify", tx="w0-1"),
    entry([B, C, A], bytes([0, 5, 7]), tx="w0-2"),
    entry([B], method="Lookup", result="PERMISSION_DENIED", tx="w0-3"),
    entry([int(A), int(C)], [0, 0], tx="w0-4", t=DAY2),
    entry([BAD], method="Verify", result="INVALID_ARGUMENT", tx="w0-5", t=DAY2),
    *(entry(FILLER[i * 3:i * 3 + 3], tx=f"w0-{6 + i}", t=DAY2) for i in range(5)),
]
W1_CALLS = [
    entry([*FILLER[:500], A, *FILLER[500:999]], bytes(1000), tx="w1-1", channel="card-reader"),
    entry([C], method="Verify", channel="portal", inst="bank-b", tx="w1-2"),
]


@pytest.fixture
def log_dir(tmp_path) -> tuple[Path, Path]:
    """Two closed streams: w0 rotated into 3 segments of 5 records + seal, w1 in one."""
    d, key = tmp_path / "audit", tmp_path / "audit.key"
    with AuditLog.open(d, key, "w0", segment_records=5) as log:
        for e in W0_CALLS:
            log.append(e)
    with AuditLog.open(d, key, "w1", commit_interval=0) as log:
        for e in W1_CALLS:
            log.append(e)
    return d, key


def segment(d: Path, stream: str, n: int) -> Path:
    return d / stream / f"segment-{n:06d}.log"


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def parsed(path: Path) -> list[dict]:
    return [json.loads(x) for x in lines_of(path)]


def problems(d: Path) -> str:
    report = verify_log(d)
    assert not report.ok
    return "\n".join(report.problems)


# -- an untouched log ---------------------------------------------------------------------

def test_untouched_log_verifies(log_dir):
    d, _ = log_dir
    report = verify_log(d)
    assert report.ok, report.problems
    by_name = {s.name: s for s in report.streams}
    assert by_name["w0"].segments == 3 and by_name["w1"].segments == 1
    assert by_name["w0"].state == by_name["w1"].state == "closed"
    # w0: 10 calls + 3 open + 3 seal records, seq continuous across segments
    assert by_name["w0"].records == 16 and by_name["w0"].head_seq == 16


def test_rotation_keeps_the_chain(log_dir):
    d, _ = log_dir
    seal = parsed(segment(d, "w0", 1))[-1]
    opening = parsed(segment(d, "w0", 2))[0]
    assert seal["kind"] == "seal" and seal["count"] == 5 and seal["final"] is False
    assert opening["kind"] == "open" and opening["prev"] == seal["hash"]
    assert opening["seq"] == seal["seq"] + 1 and opening["segment"] == 2
    assert parsed(segment(d, "w0", 3))[-1]["final"] is True


def test_lines_are_canonical_json_and_hash_as_documented(log_dir):
    d, _ = log_dir
    for path in (segment(d, "w0", 1), segment(d, "w1", 1)):
        prev = record.GENESIS
        for raw in lines_of(path):
            rec = json.loads(raw)
            assert raw == record.canonical(rec) + b"\n"
            hx = rec.pop("hash")
            body = record.canonical(rec)
            assert hashlib.sha256(bytes.fromhex(prev) + body).hexdigest() == hx
            prev = hx


def test_batch_is_one_record_with_a_reference_per_nik(log_dir):
    d, _ = log_dir
    big = [r for r in parsed(segment(d, "w1", 1)) if r.get("tx") == "w1-1"][0]
    assert big["n"] == 1000 and len(base64.b64decode(big["nik_refs"])) == 1000 * 16
    assert base64.b64decode(big["item_results"]) == bytes(1000)


def test_no_nik_in_clear_anywhere(log_dir):
    d, _ = log_dir
    blobs = [p.read_bytes() for p in d.rglob("*") if p.is_file()]
    for nik in (A, B, C, BAD, FILLER[0], FILLER[998]):
        for blob in blobs:
            assert nik.encode() not in blob
            assert int(nik).to_bytes(8, "big") not in blob


# -- tampering: each kind is found and named ----------------------------------------------

def test_changed_byte_is_named(log_dir):
    d, _ = log_dir
    path = segment(d, "w0", 2)
    lines = lines_of(path)
    rec = json.loads(lines[2])
    lines[2] = lines[2].replace(b'"bank-a"', b'"bank-x"')
    write_lines(path, lines)
    out = problems(d)
    assert f"stream w0 segment 2 line 3 (seq {rec['seq']}): changed" in out


def test_deleted_record_is_named(log_dir):
    d, _ = log_dir
    path = segment(d, "w0", 2)
    lines = lines_of(path)
    gone = json.loads(lines[2])["seq"]
    del lines[2]
    write_lines(path, lines)
    out = problems(d)
    assert f"deleted: seq {gone} missing" in out and "stream w0 segment 2" in out


def test_forged_insert_with_its_own_valid_hash_is_caught(log_dir):
    d, _ = log_dir
    path = segment(d, "w0", 2)
    lines = lines_of(path)
    before = json.loads(lines[1])
    fields = {"kind": "call", "time_ms": DAY2, "tx": "forged", "institution": "bank-a",
              "cert_serial": "0a1b", "channel": "web", "method": "Verify", "purpose": "KYC",
              "result": "OK", "latency_us": 1, "fields_requested": [], "fields_returned": [],
              "n": 0}
    pieces, _, _ = record.encode(fields, {"nik_refs": b"", "item_results": b""},
                                 before["seq"] + 1, before["hash"],
                                 bytes.fromhex(before["hash"]))
    forged = b"".join(pieces)
    assert record.parse(forged.rstrip(b"\n")).hash_ok  # it is a "valid" record on its own
    lines.insert(2, forged)
    write_lines(path, lines)
    out = problems(d)
    assert f"stream w0 segment 2 line 3 (seq {before['seq'] + 1}): inserted" in out


def test_swapped_records_are_named(log_dir):
    d, _ = log_dir
    path = segment(d, "w0", 2)
    lines = lines_of(path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(path, lines)
    out = problems(d)
    assert "reordered" in out and "stream w0 segment 2 line 3" in out


def test_deleted_middle_segment_is_named(log_dir):
    d, _ = log_dir
    segment(d, "w0", 2).unlink()
    out = problems(d)
    assert "stream w0: segment 2 missing (deleted)" in out
    assert "stream w0 segment 3 line 1 (seq 13): deleted: seq 7-12 missing" in out


def test_truncated_seal_is_named(log_dir):
    d, _ = log_dir
    path = segment(d, "w0", 3)
    lines = lines_of(path)
    write_lines(path, lines[:-1])
    out = problems(d)
    last = json.loads(lines[-2])["seq"]
    assert f"stream w0 segment 3 line {len(lines) - 1} (seq {last}): broken seal" in out


def test_cut_last_line_is_named(log_dir):
    d, _ = log_dir
    path = segment(d, "w1", 1)
    path.write_bytes(path.read_bytes()[:-10])
    assert "stream w1 segment 1" in problems(d)


def test_other_stream_untouched_stays_clean(log_dir):
    d, _ = log_dir
    path = segment(d, "w1", 1)
    lines = lines_of(path)
    del lines[1]
    write_lines(path, lines)
    assert "stream w0" not in problems(d)


# -- queries ------------------------------------------------------------------------------

def test_who_accessed_lists_exactly_the_calls_with_that_nik(log_dir):
    d, key = log_dir
    hits = who_accessed(d, key, A)
    assert [h["tx"] for h in hits] == ["w0-1", "w0-2", "w1-1", "w0-4"]
    by_tx = {h["tx"]: h for h in hits}
    assert by_tx["w0-1"]["item_result"] is None        # a single call without item codes
    assert by_tx["w0-2"]["item_result"] == 7           # A was the third item
    assert by_tx["w0-4"]["item_result"] == 0           # sent as a number, found all the same
    assert by_tx["w1-1"]["channel"] == "card-reader"
    assert {h["institution"] for h in hits} == {"bank-a"}
    assert [h["tx"] for h in who_accessed(d, key, B)] == ["w0-2", "w0-3"]
    assert [h["tx"] for h in who_accessed(d, key, C)] == ["w0-2", "w1-2", "w0-4"]
    assert [h["tx"] for h in who_accessed(d, key, BAD)] == ["w0-5"]
    assert who_accessed(d, key, UNSEEN) == []
    assert who_accessed(d, key, int(A)) == hits


def test_who_accessed_needs_the_right_key(log_dir, tmp_path):
    d, _ = log_dir
    with pytest.raises(AuditKeyError):
        who_accessed(d, tmp_path / "missing.key", A)
    other = tmp_path / "other.key"
    load_key(other, create=True)
    assert who_accessed(d, other, A) == []


def test_usage_counts_per_day_method_channel(log_dir):
    d, _ = log_dir
    out = usage(d, "bank-a", "2024-05-01", "2024-05-02")
    rows = {(r["day"], r["method"], r["channel"]): r for r in out["rows"]}
    assert rows[("2024-05-01", "Verify", "web")]["calls"] == 1
    assert rows[("2024-05-01", "Verify", "web")]["niks"] == 1
    assert rows[("2024-05-01", "VerifyBatch", "web")]["niks"] == 3
    assert rows[("2024-05-01", "VerifyBatch", "card-reader")]["niks"] == 1000
    assert rows[("2024-05-01", "Lookup", "web")] == {
        "day": "2024-05-01", "method": "Lookup", "channel": "web", "calls": 0, "niks": 0,
        "calls_refused": 1, "niks_refused": 1}
    assert rows[("2024-05-02", "VerifyBatch", "web")]["calls"] == 6
    assert rows[("2024-05-02", "VerifyBatch", "web")]["niks"] == 2 + 15
    assert rows[("2024-05-02", "Verify", "web")]["calls_refused"] == 1
    assert len(rows) == 6  # bank-b's call is not counted
    only_day2 = usage(d, "bank-a", "2024-05-02", "2024-05-02")
    assert {r["day"] for r in only_day2["rows"]} == {"2024-05-02"}
    # in UTC the 00:30 WIB calls of 2 May fall on 1 May
    utc = usage(d, "bank-a", "2024-05-01", "2024-05-01", utc_offset_hours=0)
    assert sum(r["calls"] + r["calls_refused"] for r in utc["rows"]) == 11


def test_tail_gives_the_latest_records_in_time_order(log_dir):
    d, _ = log_dir
    last = tail(d, 3)
    assert len(last) == 3
    assert [r["time_ms"] for r in last] == sorted(r["time_ms"] for r in last)
    assert all("nik_refs" not in r for r in last)
    assert last[-1]["kind"] == "seal"  # the final seals are the newest records


# -- NIK references -----------------------------------------------------------------------

def test_batch_references_match_single_references(tmp_path):
    refs = NikRefs(load_key(tmp_path / "k", create=True))
    strs = [A, B, C, *FILLER[:50]]
    ints = [int(x) for x in strs]
    assert refs.refs(strs) == b"".join(refs.ref(x) for x in strs)
    assert refs.refs(ints) == b"".join(refs.ref(x) for x in ints)
    mixed = [A, int(B), BAD, "3201014507900,01", "", -1, 10**20]
    assert refs.refs(mixed) == b"".join(refs.ref(x) for x in mixed)
    assert len({refs.ref(x) for x in [A, int(A), BAD, B]}) == 4
    assert refs.candidate_refs(A) == {refs.ref(A), refs.ref(int(A))}


def test_key_file_is_private_and_refused_when_open(tmp_path):
    key = tmp_path / "k"
    load_key(key, create=True)
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    key.chmod(0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        load_key(key)


# -- the writer ---------------------------------------------------------------------------

def test_one_writer_per_stream(tmp_path):
    with AuditLog.open(tmp_path / "a", tmp_path / "k", "w0"):
        with pytest.raises(StreamBusyError):
            AuditLog.open(tmp_path / "a", tmp_path / "k", "w0")
        assert verify_log(tmp_path / "a").ok  # a live, unsealed stream is fine


def test_item_results_must_match_the_niks(tmp_path):
    with AuditLog.open(tmp_path / "a", tmp_path / "k", "w0") as log:
        with pytest.raises(AuditError, match="2 codes for 3 NIKs"):
            log.append(entry([A, B, C], b"\x00\x00"))


def test_reopening_a_closed_stream_continues_the_chain(log_dir):
    d, key = log_dir
    with AuditLog.open(d, key, "w1") as log:
        log.append(entry([A], tx="again"))
    report = verify_log(d)
    assert report.ok, report.problems
    assert segment(d, "w1", 2).exists()
    assert "again" in [h["tx"] for h in who_accessed(d, key, A)]


def test_appends_from_many_threads_form_one_chain(tmp_path):
    d = tmp_path / "a"
    with AuditLog.open(d, tmp_path / "k", "w0", commit_interval=0.001,
                       segment_records=50) as log:
        def work(k: int) -> None:
            for i in range(100):
                log.append(entry(FILLER[i:i + 10], bytes(10), tx=f"{k}-{i}"))
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report = verify_log(d)
    assert report.ok, report.problems
    assert len(who_accessed(d, tmp_path / "k", FILLER[50])) == 4 * 10


def test_flush_makes_appends_durable(tmp_path):
    with AuditLog.open(tmp_path / "a", tmp_path / "k", "w0", commit_interval=60) as log:
        seq = log.append(entry([A]))
        assert log.durable_seq < seq
        log.flush()
        assert log.durable_seq == seq


WRITER = textwrap.dedent("""
    import sys
    from nikgate.server.audit import AuditEntry, AuditLog
    log = AuditLog.open(sys.argv[1], sys.argv[2], "w0", commit_interval=3600,
                        segment_records=7)
    for i in range(40):
        log.append(AuditEntry(time_ms=1, transaction_id=f"t{i}", institution="bank-a",
            cert_serial="1", channel="web", method="Verify", purpose="KYC", result="OK",
            latency_us=1, fields_requested=(), fields_returned=(),
            niks=[str(3201014507900001 + i)], item_results=b"\\x00"))
        print(f"appended t{i}", flush=True)
    import time
    time.sleep(60)
""")


def test_kill_9_after_append_loses_nothing(tmp_path):
    d, key = tmp_path / "audit", tmp_path / "k"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(d), str(key)],
                             stdout=subprocess.PIPE, text=True)
    try:
        for i in range(40):
            assert child.stdout.readline().strip() == f"appended t{i}"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # nothing was fsynced (interval 1 h): the records are in the OS, not lost
    for i in range(40):
        assert [h["tx"] for h in who_accessed(d, key, str(3201014507900001 + i))] == [f"t{i}"]
    assert "broken seal" in problems(d)  # killed: unsealed and no writer holds it
    with AuditLog.open(d, key, "w0"):
        pass                             # reopening resumes the chain, then seals
    report = verify_log(d)
    assert report.ok, report.problems
    kinds = [r["kind"] for p in sorted((d / "w0").glob("segment-*.log")) for r in parsed(p)]
    assert kinds.count("resume") == 1 and kinds.count("call") == 40


def test_torn_tail_after_power_loss_is_moved_aside_on_reopen(tmp_path):
    d, key = tmp_path / "audit", tmp_path / "k"
    log = AuditLog.open(d, key, "w0")
    log.append(entry([A]))
    log.flush()
    os.close(log._lock_fd)  # simulate a dead writer: drop the lock without sealing
    os.close(log._fd)
    log._committer.stop()
    path = segment(d, "w0", 1)
    with open(path, "ab") as f:
        f.write(b'{"cert_serial":"0a1b","chan')  # a record cut mid-line
    with AuditLog.open(d, key, "w0"):
        pass
    report = verify_log(d)
    assert report.ok, report.problems
    assert any("torn" in n for n in report.notes)
    resume = [r for r in parsed(path) if r["kind"] == "resume"][0]
    assert resume["torn_bytes"] == 27


def test_reading_lines_backwards_in_small_chunks(log_dir, tmp_path):
    from nikgate.server.audit.segments import iter_lines, iter_lines_reversed

    d, _ = log_dir
    path = segment(d, "w1", 1)
    forward = list(iter_lines(path, chunk=7))
    assert len(forward) == 4
    for chunk in (1, 5, 4096, 1 << 20):
        assert list(iter_lines_reversed(path, chunk)) == forward[::-1]
    torn = tmp_path / "torn"
    torn.write_bytes(b"a\nbb\nccc")
    for chunk in (1, 2, 100):
        assert list(iter_lines_reversed(torn, chunk)) == [b"bb", b"a"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
        lambda k: k not in ("hash", "seq", "prev", "kind", "nik_refs", "item_results")),
    st.one_of(st.text(), st.integers(-2**63, 2**63), st.booleans(), st.none(),
              st.lists(st.text(max_size=8), max_size=4)), max_size=12),
    st.binary(max_size=48))
def test_the_member_by_member_encoder_writes_canonical_json(fields, refs):
    import base64

    fields = {**fields, "kind": "call"}
    blobs = {"nik_refs": base64.b64encode(refs)}
    pieces, hx, raw = record.encode(fields, blobs, 7, record.GENESIS, bytes(32))
    line = b"".join(pieces)
    expected = {**fields, "seq": 7, "prev": record.GENESIS, "hash": hx,
                "nik_refs": blobs["nik_refs"].decode()}
    assert line == record.canonical(expected) + b"\n"
    parsed = record.parse(line[:-1])
    assert parsed.hash_ok and parsed.hash == hx and bytes.fromhex(hx) == raw
