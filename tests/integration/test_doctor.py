"""`nikgate doctor` on a demo node, then each WARN and FAIL made for real: a certificate
near its end or past it, a CRL near or past its next update, a small filesystem nearly
full or filling fast, a damaged copy of the index, a stopped server, a bad config key.

The node is what `nikgate demo --no-serve` makes (4,000 records); each test that changes
it works on its own copy. The server is `nikgate serve` as a process, one worker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nikgate.doctor.clock import STA_UNSYNC, TIME_ERROR, read_kernel
from nikgate.server.pki import ca as pki

from ..conftest import run_cli
from .waiting import eventually

MiB = 1 << 20
NAMES = {"config", "cert ca", "crl", "cert server", "cert gateway-adapter",
         "cert portal-adapter", "cert portal-https", "index", "disk audit", "disk returns",
         "clock", "port grpc"}


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("doctor") / "demo"
    result = run_cli("demo", "--dir", str(root), "--records", "4000", "--no-serve")
    assert result.returncode == 0, result.stderr[-2000:]
    # The demo's config names the usual port, 50051, where another nikgate on this machine
    # may serve: name a port the OS just gave out instead, which nothing here serves.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    config = root / "nikgate.toml"
    text = config.read_text()
    assert '"127.0.0.1:50051"' in text
    config.write_text(text.replace('"127.0.0.1:50051"', f'"127.0.0.1:{free}"', 1))
    return root


@pytest.fixture
def node(demo_node, tmp_path) -> Path:
    """A private copy of the demo node a test may damage."""
    dst = tmp_path / "node"
    shutil.copytree(demo_node, dst, symlinks=True)
    return dst


@pytest.fixture
def on_port_file(tmp_path, monkeypatch) -> Path:
    """Serve and doctor alike find the port in a port file (the OS picks it)."""
    port_file = tmp_path / "grpc.port"
    monkeypatch.setenv("NIKGATE_SERVER_ADDRESS", "127.0.0.1:0")
    monkeypatch.setenv("NIKGATE_SERVER_PORT_FILE", str(port_file))
    monkeypatch.setenv("NIKGATE_SERVER_WORKERS", "1")
    return port_file


def doctor(node: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = run_cli("doctor", "--config", str(node / "nikgate.toml"), "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    out = json.loads(result.stdout)
    checks = {c["name"]: c for c in out["checks"]}
    assert out["status"] == max((c["status"] for c in out["checks"]),
                                key=["OK", "WARN", "FAIL"].index)
    return result.returncode, checks


def kernel_synchronised() -> bool:
    state = read_kernel()
    return state is not None and state[0] != TIME_ERROR and not state[1] & STA_UNSYNC


def expected_clock() -> str:
    # The clock cannot be made unsynchronised by a test without changing the machine's
    # time state; its line must say what the kernel says.
    return "OK" if kernel_synchronised() else "WARN"


def test_the_demo_is_all_ok_while_serving_then_says_the_server_stopped(node, on_port_file):
    proc = subprocess.Popen([sys.executable, "-m", "nikgate", "serve", "--config",
                             str(node / "nikgate.toml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        eventually(on_port_file.exists, timeout=60, what="nikgate serve wrote its port")
        code, checks = doctor(node)
        assert set(checks) == NAMES
        not_ok = {n: c["message"] for n, c in checks.items()
                  if c["status"] != "OK" and n != "clock"}
        assert not not_ok
        assert checks["clock"]["status"] == expected_clock()
        assert code == 0
        assert "health SERVING over mTLS" in checks["port grpc"]["message"]
        assert "every record checked" in checks["index"]["message"]
        assert "4,000 records" in checks["index"]["message"]
        # the plain text: one line per check, status first
        text = run_cli("doctor", "--config", str(node / "nikgate.toml"))
        lines = text.stdout.splitlines()
        assert len(lines) == len(NAMES)
        assert all(line.split()[0] in ("OK", "WARN") for line in lines)
        assert [ln for ln in lines if not ln.startswith("OK")] == \
            ([] if expected_clock() == "OK" else [ln for ln in lines if " clock " in ln])
        strict = run_cli("doctor", "--config", str(node / "nikgate.toml"), "--strict")
        assert strict.returncode == (0 if expected_clock() == "OK" else 1)
    finally:
        proc.terminate()
        proc.wait(30)
    code, checks = doctor(node)
    port = checks["port grpc"]
    assert port["status"] == "WARN" and "nothing listens" in port["message"]
    assert "the port is free" in port["message"]
    assert code == 0


def test_certificates_near_or_past_their_end(node):
    ca = pki.load_ca(node / "pki")
    now = dt.datetime.now(dt.UTC)
    pki.issue_server(ca, not_after=now + dt.timedelta(days=10))
    pki.issue_client(ca, "json", kind="gateway", not_before=now - dt.timedelta(days=40),
                     not_after=now - dt.timedelta(days=2))
    code, checks = doctor(node)
    server = checks["cert server"]
    assert server["status"] == "WARN" and "in 10 days" in server["message"]
    assert "issue-server" in server["action"]
    gateway = checks["cert gateway-adapter"]
    assert gateway["status"] == "FAIL" and "expired" in gateway["message"]
    assert "--kind gateway" in gateway["action"]
    assert checks["cert portal-adapter"]["status"] == "OK"
    assert code == 1


def test_a_revoked_server_certificate_fails(node):
    ca = pki.load_ca(node / "pki")
    serial = x509.load_pem_x509_certificate(
        (node / "pki" / "server" / "server.crt").read_bytes()).serial_number
    pki.revoke(ca, serial, "superseded")
    code, checks = doctor(node)
    assert checks["cert server"]["status"] == "FAIL"
    assert "revoked" in checks["cert server"]["message"]
    assert checks["crl"]["status"] == "OK" and "1 revoked" in checks["crl"]["message"]
    assert code == 1


def test_a_crl_near_its_next_update_warns(node):
    pki.refresh_crl(pki.load_ca(node / "pki"), days=1)
    code, checks = doctor(node, "--strict")
    assert checks["crl"]["status"] == "WARN"
    assert "next update in 24 h" in checks["crl"]["message"]
    assert "nikgate pki crl" in checks["crl"]["action"]
    assert code == 1


def test_an_expired_crl_fails(node):
    """A CRL signed by the CA ten days ago with the usual 7 days' validity."""
    ca = pki.load_ca(node / "pki")
    index = json.loads((node / "pki" / "ca" / "index.json").read_text())
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(ca.cert.subject).last_update(then)
           .next_update(then + dt.timedelta(days=7))
           .add_extension(x509.CRLNumber(index["crl_number"] + 1), critical=False)
           .sign(ca.key, ca._hash))
    (node / "pki" / "ca" / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    code, checks = doctor(node)
    assert checks["crl"]["status"] == "FAIL"
    assert "past its next update (3 days ago)" in checks["crl"]["message"]
    assert code == 1


def test_a_crl_from_another_ca_fails(node, tmp_path):
    other = pki.init_ca(tmp_path / "other", name="another CA")
    shutil.copy(other.layout.crl, node / "pki" / "ca" / "crl.pem")
    code, checks = doctor(node)
    assert checks["crl"]["status"] == "FAIL" and "not by this CA" in checks["crl"]["message"]
    assert checks["cert ca"]["status"] == "OK"
    assert code == 1


@pytest.fixture
def small_fs(tmp_path):
    """Mount tmpfs file systems of a given size under tmp_path; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                 str(where)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(where)
        return where
    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", str(where)], check=False)


def fill(where: Path, leave: int) -> None:
    """Write a file until `leave` bytes are free on the file system of `where`."""
    (where / "filler").unlink(missing_ok=True)
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    with open(where / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def segment(stream: Path, number: int, opened: float, written: float, size: int) -> None:
    """An audit segment as the writer leaves it: an "open" record with its time first,
    appended to until `written` (its mtime)."""
    stream.mkdir(parents=True, exist_ok=True)
    path = stream / f"segment-{number:06d}.log"
    head = json.dumps({"kind": "open", "seq": 1, "time_ms": int(opened * 1000)}).encode()
    with open(path, "wb") as f:
        f.write(head + b"\n" + b"x" * (size - len(head) - 2) + b"\n")
    os.utime(path, (written, written))


def test_a_nearly_full_audit_disk(node, small_fs, monkeypatch):
    audit = small_fs("audit", "4m")
    monkeypatch.setenv("NIKGATE_AUDIT_DIRECTORY", str(audit))
    fill(audit, leave=300 * 1024)      # ~7 % free
    code, checks = doctor(node)
    assert checks["disk audit"]["status"] == "WARN", checks["disk audit"]
    assert "(7%)" in checks["disk audit"]["message"]
    assert checks["disk returns"]["status"] == "OK"
    assert code == 0
    fill(audit, leave=40 * 1024)       # ~1 % free
    code, checks = doctor(node)
    assert checks["disk audit"]["status"] == "FAIL"
    assert "a full disk stops every call" in checks["disk audit"]["action"]
    assert code == 1


def test_days_left_at_the_audit_logs_write_rate(node, small_fs, monkeypatch):
    """Two segments of 1 MiB each written over 3 hours: 8 MiB a day. On 64 MiB that is
    about a week left (WARN); on 4 MiB, hours (FAIL), though half of it is free."""
    now = time.time()
    for name, size, status in (("roomy", "64m", "WARN"), ("small", "4m", "FAIL")):
        audit = small_fs(name, size)
        monkeypatch.setenv("NIKGATE_AUDIT_DIRECTORY", str(audit))
        segment(audit / "w0", 1, now - 6 * 3600, now - 3 * 3600, MiB)
        segment(audit / "w0", 2, now - 3 * 3600, now - 1, MiB)
        code, checks = doctor(node)
        line = checks["disk audit"]
        assert line["status"] == status, line
        assert "8.0 MiB/day (audit log, last 6.0 h)" in line["message"]
        days = float(line["message"].rsplit(": ", 1)[1].split()[0])
        st = os.statvfs(audit)
        assert days == pytest.approx(st.f_bavail * st.f_frsize / (8 * MiB), abs=0.11)


def test_a_burst_of_writes_is_not_taken_for_the_days_pace(node, small_fs, monkeypatch):
    """1 MiB in the last 30 minutes (a load test) would fill 4 MiB within hours at that
    pace; from so little history that is a WARN, not a FAIL."""
    now = time.time()
    audit = small_fs("burst", "4m")
    monkeypatch.setenv("NIKGATE_AUDIT_DIRECTORY", str(audit))
    segment(audit / "w0", 1, now - 1800, now - 1, MiB)
    code, checks = doctor(node)
    line = checks["disk audit"]
    assert line["status"] == "WARN", line
    assert "maybe a burst" in line["message"] and "last 0.5 h" in line["message"]
    assert code == 0, {k: v for k, v in checks.items() if v["status"] == "FAIL"}


def test_no_audit_history_says_rate_unknown(node):
    code, checks = doctor(node)
    assert "rate unknown" in checks["disk audit"]["message"]
    assert "rate unknown" in checks["disk returns"]["message"]


def test_a_damaged_index_copy_fails(node):
    """Flip a byte near the end of every record page of the current generation's
    data.mdb (where LMDB packs the records: page size 4096, flags at offset 10, 0x02 =
    leaf; the page holding the manifest is left alone here, then damaged too)."""
    data = node / "index" / "current" / "data.mdb"
    clean = data.read_bytes()
    raw = bytearray(clean)
    leaves = [p for p in range(2, len(raw) // 4096) if raw[p * 4096 + 10] & 0x7F == 0x02]
    manifest = [p for p in leaves if b'"format_version"' in raw[p * 4096:(p + 1) * 4096]]
    assert leaves and len(manifest) == 1
    for p in leaves:
        if p not in manifest:
            raw[p * 4096 + 4096 - 40] ^= 0xFF
    data.write_bytes(raw)
    code, checks = doctor(node)
    index = checks["index"]
    assert index["status"] == "FAIL" and index["message"].startswith("DAMAGED")
    assert "failed their checksum" in index["message"]
    assert "nikgate index verify" in index["action"]
    assert code == 1
    raw = bytearray(clean)
    at = raw.index(b'"format_version"', manifest[0] * 4096)
    raw[at + 1] ^= 0xFF
    data.write_bytes(raw)
    code, checks = doctor(node)
    assert checks["index"]["status"] == "FAIL"
    assert "manifest" in checks["index"]["message"] and "damaged" in checks["index"]["message"]
    assert code == 1


def test_a_missing_index_fails(node):
    shutil.rmtree(node / "index")
    code, checks = doctor(node)
    assert checks["index"]["status"] == "FAIL"
    assert "nikgate index build" in checks["index"]["action"]
    assert code == 1


def test_a_bad_config_key_is_one_fail_line(node):
    config = node / "nikgate.toml"
    config.write_text(config.read_text().replace("[server]\n", "[server]\nworkrs = 2\n"))
    result = run_cli("doctor", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "FAIL config  unknown key(s) in [server]: workrs; fix the config "
        "(docs/configuration.md)"]
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_fails(tmp_path):
    result = run_cli("doctor", "--config", str(tmp_path / "none.toml"), "--json")
    out = json.loads(result.stdout)
    assert out["status"] == "FAIL" and result.returncode == 1
    assert "cannot read config" in out["checks"][0]["message"]


def test_a_card_reader_that_is_not_there_fails(node):
    card = node / "cards" / "current.card.json"
    code, checks = doctor(node, "--card-reader", f"sim:{card}",
                          "--card-reader", f"sim:{node / 'cards' / 'missing.json'}")
    assert checks[f"card-reader sim:{card}"]["status"] == "OK"
    assert checks[f"card-reader sim:{node / 'cards' / 'missing.json'}"]["status"] == "FAIL"
    assert code == 1
