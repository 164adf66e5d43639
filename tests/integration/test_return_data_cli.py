"""`nikgate return-data send|export` and `nikgate obligations` through the installed command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import stat

import pytest

from nikgate.clients import Connection, NikgateClient
from nikgate.server.returns.store import ReturnStore, Submission

from ..conftest import run_cli
from .terminal import run_cli_on_terminal

WIB = dt.timezone(dt.timedelta(hours=7))
MAY_1 = int(dt.datetime(2024, 5, 1, 10, 0, tzinfo=WIB).timestamp() * 1000)  # 03:00Z
MAY_2 = int(dt.datetime(2024, 5, 2, 0, 30, tzinfo=WIB).timestamp() * 1000)  # 1 May 17:30Z
OBSERVED = int(dt.datetime(2024, 4, 30, 12, 0, 0, 250_000, tzinfo=dt.UTC).timestamp() * 1000)
# Synthetic NIKs: valid in form (region 32.01.01), nobody's.
NIK_A, NIK_B, NIK_C = "3201014507900001", "3201010507900001", "3201014507900002"


# -- export: a store written directly, read back by the command ----------------------------


def _submit(store: ReturnStore, institution: str, rows, received_ms: int) -> None:
    sub = Submission(institution=institution, kinds_granted=frozenset({"bank_cif", "msisdn"}),
                     record_ids=[r[0] for r in rows], niks=[r[1] for r in rows],
                     kinds=[r[2] for r in rows], values=[r[3] for r in rows],
                     observed=[r[4] for r in rows], received_ms=received_ms)
    store.check(sub)
    store.commit([sub])
    assert set(sub.status) == {1}, sub.rejections


@pytest.fixture
def config(tmp_path):
    store = ReturnStore(tmp_path / "returns")
    store.note_accessed([("bank-x", int(n)) for n in (NIK_A, NIK_B, NIK_C)]
                        + [("bank-y", int(NIK_A))], MAY_1 - 1000)
    _submit(store, "bank-x", [("r-1", NIK_A, "bank_cif", "CIF-001", OBSERVED),
                              ("r-2", NIK_B, "bank_cif", "CIF-002", 0)], MAY_1)
    _submit(store, "bank-x", [("r-3", NIK_C, "msisdn", "6281200000001", 0)], MAY_2)
    _submit(store, "bank-y", [("y-1", NIK_A, "bank_cif", "Y-001", 0)], MAY_2)
    store.close()
    path = tmp_path / "nikgate.toml"
    path.write_text('[return_data]\nstore = "returns"\n')   # relative to the file
    return path


def test_export_csv_writes_every_record_of_the_institution(config):
    r = run_cli("return-data", "export", "--config", str(config), "--institution", "bank-x")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows == [
        ["institution", "record_id", "nik", "kind", "value", "observed_at", "received_at"],
        ["bank-x", "r-1", NIK_A, "bank_cif", "CIF-001", "2024-04-30T12:00:00.250Z",
         "2024-05-01T03:00:00.000Z"],
        ["bank-x", "r-2", NIK_B, "bank_cif", "CIF-002", "", "2024-05-01T03:00:00.000Z"],
        ["bank-x", "r-3", NIK_C, "msisdn", "6281200000001", "", "2024-05-01T17:30:00.000Z"],
    ]


@pytest.mark.parametrize("since", ["2024-05-02", "2024-05-02T00:00", "2024-05-01T17:00Z"])
def test_export_jsonl_since_a_day_in_wib(config, since):
    # 2 May 00:00 WIB is 1 May 17:00 UTC: r-3 (received 17:30 UTC) is in, r-1 and r-2 out
    r = run_cli("return-data", "export", "--config", str(config), "--institution", "bank-x",
                "--since", since, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines == [{"institution": "bank-x", "record_id": "r-3", "nik": NIK_C,
                      "kind": "msisdn", "value": "6281200000001", "observed_at": None,
                      "received_at": "2024-05-01T17:30:00.000Z"}]


def test_export_to_a_private_file(config, tmp_path):
    out = tmp_path / "bank-x.csv"
    r = run_cli("return-data", "export", "--config", str(config), "--institution", "bank-x",
                "--since", "2024-05-01", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "3 records of bank-x written to" in r.stderr and r.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(out.read_text().splitlines()) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_names_a_missing_store_and_a_bad_since(tmp_path, config):
    missing = tmp_path / "other.toml"
    missing.write_text('[return_data]\nstore = "nowhere"\n')
    r = run_cli("return-data", "export", "--config", str(missing), "--institution", "bank-x")
    assert r.returncode == 1
    assert "no return-data store at" in r.stderr and "nowhere" in r.stderr
    bad = run_cli("return-data", "export", "--config", str(config), "--institution", "bank-x",
                  "--since", "May 2")
    assert bad.returncode == 2 and "--since must be YYYY-MM-DD" in bad.stderr


# -- send: the file is read before anything is sent ------------------------------------------


def test_send_with_a_bad_header_is_invalid_input_before_connecting(tmp_path):
    f = tmp_path / "cif.csv"
    f.write_text("record_id,nik_number,value\nr-1,3201014507900001,CIF-1\n")
    # the connection file does not exist: the header is checked before it is read
    r = run_cli("return-data", "send", str(f), "--connection", str(tmp_path / "none.json"))
    assert r.returncode == 2, r.stderr
    assert "header lacks column(s) nik, kind" in r.stderr
    assert "record_id,nik,kind,value,observed_at" in r.stderr


def test_send_with_a_bad_line_is_invalid_input_and_sends_nothing(tmp_path):
    f = tmp_path / "cif.csv"
    f.write_text("record_id,nik,kind,value,observed_at\n"
                 f"r-1,{NIK_A},bank_cif,CIF-1,2024-05-01T10:00:00+07:00\n"
                 f"r-2,{NIK_B},bank_cif,CIF-2,yesterday\n")
    r = run_cli("return-data", "send", str(f), "--connection", str(tmp_path / "none.json"))
    assert r.returncode == 2
    assert ":3: observed_at 'yesterday'" in r.stderr


# -- against a real server ----------------------------------------------------------------------


@pytest.fixture
def connection_file(server, certs, tmp_path):
    for name, data in (("ca.crt", certs.ca), ("a.key", certs.good[0]),
                       ("a.crt", certs.good[1]), ("ops.key", certs.operator[0]),
                       ("ops.crt", certs.operator[1])):
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({
        "address": f"127.0.0.1:{server.port}", "ca": "ca.crt",
        "institutions": {"bank-a": {"cert": "a.crt", "key": "a.key"},
                         "ops": {"cert": "ops.crt", "key": "ops.key"}}}))
    return path


@pytest.fixture
def duty(with_duty):
    return with_duty


def test_send_reports_rejects_then_obligations_show_what_is_owed(
        connection_file, duty, index, tmp_path, server):
    niks = index.sample_niks(4, start=7100000000000000)
    with NikgateClient(Connection.from_file(connection_file, "bank-a")) as c:
        assert set(c.verify_batch(niks, {"NAMA_LGKP": [None] * 4}).message.status) == {1}
    server.running.ledger.flush()   # the access noted now, not at the next interval
    f = tmp_path / "cif.csv"
    f.write_text("record_id,nik,kind,value\n"
                 f"cli-1,{niks[0]},bank_cif,CIF-CLI-1\n"
                 f"cli-2,{niks[1]},bank_cif,CIF-CLI-2\n"
                 f"cli-3,{niks[2]},msisdn,6281299999999\n")   # kind not granted
    rejects = tmp_path / "rejects.csv"
    args = ("--connection", str(connection_file), "--as", "bank-a")
    r = run_cli("return-data", "send", str(f), *args, "--batch-size", "2",
                "--rejects", str(rejects), "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert (report["records"], report["stored"], report["rejected"]) == (3, 2, 1)
    assert report["batches"] == report["receipts"] == 2
    text = rejects.read_text()
    assert text.startswith("record_id,reason,message\ncli-3,KIND_NOT_GRANTED,")
    assert "6281299999999" not in text               # never the value
    again = run_cli("return-data", "send", str(f), *args)
    assert again.returncode == 1
    assert re.search(r"^duplicates +2$", again.stdout, re.M)
    assert "rejected cli-3: KIND_NOT_GRANTED" in again.stderr

    ob = run_cli("obligations", *args[:2], "--as", "ops", "--institution", "bank-a",
                 "--max-items", "10000", "--json")
    assert ob.returncode == 0, ob.stderr
    got = json.loads(ob.stdout)
    assert got["institution"] == "bank-a" and got["deadline_days"] == 30
    outstanding = {o["nik"]: o for o in got["outstanding"]}
    assert niks[2] in outstanding and niks[3] in outstanding
    assert niks[0] not in outstanding and niks[1] not in outstanding
    assert outstanding[niks[3]]["overdue"] is False
    human = run_cli("obligations", *args, "--max-items", "10000")
    assert human.returncode == 0, human.stderr
    assert "bank-a: grant active, return data due 30 days after first access" in human.stdout
    assert "compliance" in human.stdout and "100.0%" in human.stdout
    assert niks[3] in human.stdout


def test_obligations_of_another_institution_need_an_operator(connection_file):
    r = run_cli("obligations", "--connection", str(connection_file), "--as", "bank-a",
                "--institution", "bank-revoked")
    assert r.returncode == 4   # not allowed (nikgate.cli.EXIT_STATUS)
    assert "PERMISSION_DENIED" in r.stderr and "operator certificate" in r.stderr
    assert "Traceback" not in r.stderr


def test_send_draws_progress_on_a_terminal_and_nothing_in_a_pipe(
        connection_file, duty, index, tmp_path, server):
    niks = index.sample_niks(3, start=7200000000000000)
    with NikgateClient(Connection.from_file(connection_file, "bank-a")) as c:
        assert set(c.verify_batch(niks, {"NAMA_LGKP": [None] * 3}).message.status) == {1}
    server.running.ledger.flush()
    f = tmp_path / "cif.csv"
    f.write_text("record_id,nik,kind,value\n" + "".join(
        f"tty-{i},{nik},bank_cif,CIF-TTY-{i}\n" for i, nik in enumerate(niks)))
    args = ("return-data", "send", str(f), "--connection", str(connection_file),
            "--as", "bank-a", "--batch-size", "2")
    tty = run_cli_on_terminal(*args)
    assert tty.returncode == 0, tty.stderr
    assert re.search(r"\rsending: [\d,]+ / 3 records, [\d,]+ records/s, .*left", tty.stderr)
    assert re.search(r"^stored +3$", tty.stdout, re.M) and "\r" not in tty.stdout
    piped = run_cli(*args)   # the same records again: duplicates, no progress
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr + piped.stdout and "left" not in piped.stderr
    assert re.search(r"^duplicates +3$", piped.stdout, re.M)
