"""The command line as a person uses it: nik check, verify, lookup, demo."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import run_cli


@pytest.mark.parametrize("nik,expect", [
    ("3201014507900001", "PEREMPUAN"),          # day 45 = a woman born on the 5th
    ("3201010507900001", "LAKI-LAKI"),
    ("3201016902000001", "2000-02-29"),         # a woman's 29 February in a leap year
])
def test_nik_check_decodes_valid_niks(nik, expect):
    r = run_cli("nik", "check", nik)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
    assert "Cibinong" in r.stdout and "Kabupaten Bogor" in r.stdout


@pytest.mark.parametrize("nik,reason", [
    ("3201012902010001", "BAD_DATE"),           # 29 February in a common year
    ("9901010507900001", "UNKNOWN_PROVINCE"),
    ("3201990507900001", "UNKNOWN_DISTRICT"),
    ("32010105079000a1", "NON_DIGIT"),
    ("320101050790001", "LENGTH"),
    ("32010105079000011", "LENGTH"),
    ("３２０１０１０５０７９０００１", "FULLWIDTH_DIGIT"),
    (" 3201010507900001 ", "WHITESPACE"),
])
def test_nik_check_rejects_with_reason_and_nonzero_exit(nik, reason):
    r = run_cli("nik", "check", nik, "--json")
    assert r.returncode == 3   # the answer is "no" (nikgate.cli.exits.FINDING)
    out = json.loads(r.stdout)
    assert out["valid"] is False and out["reason"] == reason
    human = run_cli("nik", "check", nik)
    assert human.returncode == 3 and reason in human.stderr


def test_verify_prints_per_field_results(index_dir, index):
    nik = index.sample_niks(1, start=3300000000000000)[0]
    p = index.lookup(nik, ["NAMA_LGKP", "TGL_LHR", "JENIS_KLMIN"])
    r = run_cli("verify", "--index", str(index_dir), "--nik", nik,
                "--name", p["NAMA_LGKP"].lower(), "--birth-date", p["TGL_LHR"],
                "--sex", p["JENIS_KLMIN"][0])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Sesuai") == 3 and "Tidak" not in r.stdout
    wrong = run_cli("verify", "--index", str(index_dir), "--nik", nik,
                    "--name", "ZZZ QQQ", "--birth-date", "1900-01-01", "--json")
    assert wrong.returncode == 3
    fields = {f["field"]: f for f in json.loads(wrong.stdout)["fields"]}
    assert fields["NAMA_LGKP"]["result"] == "NO_MATCH"
    assert fields["TGL_LHR"]["result"] == "NO_MATCH" and fields["TGL_LHR"]["score"] == 0


def test_verify_reports_bad_input_clearly(index_dir):
    r = run_cli("verify", "--index", str(index_dir), "--nik", "320101050790001",
                "--name", "X")
    assert r.returncode == 2 and "16 digits, got 15" in r.stderr
    r = run_cli("verify", "--index", str(index_dir), "--nik", "3201010507900001",
                "--birth-date", "05-07-1990")
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr


def test_lookup_prints_the_fields(index_dir, index):
    nik = index.sample_niks(1)[0]
    r = run_cli("lookup", "--index", str(index_dir), "--nik", nik,
                "--fields", "NAMA_LGKP,KEC_NAME", "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert list(out["fields"]) == ["NAMA_LGKP", "KEC_NAME"] and out["fields"]["KEC_NAME"]


def test_demo_makes_everything_on_first_run_and_reuses_it(tmp_path):
    r = run_cli("demo", "--dir", str(tmp_path), "--records", "3000", "--no-serve")
    assert r.returncode == 0, r.stderr
    assert "generating 3,000" in r.stdout and "building the index" in r.stdout
    assert "making a development CA" in r.stdout
    assert "sample verification" in r.stdout and "NAMA_LGKP" in r.stdout
    again = run_cli("demo", "--dir", str(tmp_path), "--records", "3000", "--no-serve")
    assert again.returncode == 0
    assert "generating" not in again.stdout and "building" not in again.stdout
    assert "making a development CA" not in again.stdout


def test_demo_serves_and_its_printed_call_works(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "nikgate", "demo", "--dir", str(tmp_path),
                             "--records", "2000", "--port", "0", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the server" in line:
                break
        out = "".join(lines)
        assert "nikgate is serving on 127.0.0.1:" in out, out
        connection = json.loads((tmp_path / "connection.json").read_text())
        assert set(connection["institutions"]) >= {"bank-demo", "telco-demo", "portal",
                                                    "card-reader-demo", "ops-demo"}
        pasted = next(x for x in out.splitlines() if "nikgate verify --connection" in x)
        args = shlex.split(pasted.split("nikgate ", 1)[1])
        r = run_cli(*args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Sesuai" in r.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`nikgate data generate --out - | head`: the command stops without a BrokenPipeError
    traceback and exits 141 (128 + SIGPIPE), as a C tool would."""
    exe = Path(sys.executable).with_name("nikgate")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nikgate"]
    proc = subprocess.Popen(
        [*cmd, "data", "generate", "--records", "20000", "--seed", "1", "--out", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(4096)       # a few lines, far less than 20,000 rows
    proc.stdout.close()                 # the reader goes away, like `head` does
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert head.startswith(b"NIK"), head[:80]
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert code == 141, (code, stderr)
