"""A running server moves to a newly published index generation live: no failed call, new
calls see the new data, the old generation is closed once its calls end; a damaged new
generation is refused and the old one keeps serving."""

from __future__ import annotations

import csv
import shutil
import threading
import time
from pathlib import Path

import grpc
from prometheus_client import REGISTRY

from nikgate.engine import NikIndex
from nikgate.engine.build import build_index
from nikgate.engine.layout import current_generation, new_generation, publish
from nikgate.v1 import admin_pb2, admin_pb2_grpc
from nikgate.v1 import verification_pb2 as vpb
from nikgate.v1 import verification_pb2_grpc as vgrpc

from .conftest import ServerThread, channel
from .waiting import eventually

FOUND, NOT_FOUND = 1, 2
MATCH, NO_MATCH = 2, 3   # proto Outcome


def changed_export(export_csv: Path, out: Path, drop: int, rename: int,
                   new_name: str) -> tuple[str, str]:
    """The export without row `drop` and with row `rename`'s name changed; their NIKs."""
    with open(export_csv, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    name_col = header.index("NAMA_LGKP")
    dropped, renamed = body[drop][0], body[rename][0]
    body[rename][name_col] = new_name
    del body[drop]
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows([header, *body])
    return dropped, renamed


class Load:
    """Verify calls in a loop from a thread over one channel with no retries: every error
    is counted, and the last answer per NIK kept."""

    def __init__(self, port: int, certs, niks: dict[str, str]) -> None:
        self.niks = niks                  # NIK -> claimed name
        self.failures: list[str] = []
        self.calls = 0
        self.last: dict[str, tuple[int, int]] = {}   # NIK -> (status, name outcome)
        self.stop = threading.Event()
        self.channel = channel(port, certs, options=[("grpc.enable_retries", 0)])
        self.stub = vgrpc.VerificationStub(self.channel)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 60    # bounded whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            for nik, name in self.niks.items():
                try:
                    r = self.stub.Verify(vpb.VerifyRequest(nik=nik, claims={"NAMA_LGKP": name}),
                                         timeout=10)
                    self.last[nik] = (r.status, r.fields[0].outcome if r.fields else 0)
                except grpc.RpcError as e:
                    self.failures.append(f"{e.code()}: {e.details()}")
                self.calls += 1

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.channel.close()


def _serving(port, certs, reload: bool = False) -> admin_pb2.Serving:
    with channel(port, certs, "operator") as ch:
        return admin_pb2_grpc.AdminStub(ch).GetServing(
            admin_pb2.GetServingRequest(reload=reload), timeout=30)


def _gauge(generation: str) -> float | None:
    return REGISTRY.get_sample_value("nikgate_index_generation", {"generation": generation})


def test_a_new_generation_is_served_live_with_no_failed_call(server_config, certs, export_csv,
                                                             index_copy, tmp_path):
    with NikIndex.open(index_copy) as idx:
        first = idx.generation.name
        names = {n: idx.lookup(n, ["NAMA_LGKP"])["NAMA_LGKP"] for n in idx.sample_niks(5)}
    rows = list(csv.reader(open(export_csv, newline="")))
    dropped, renamed = changed_export(export_csv, tmp_path / "changed.csv", 10, 20,
                                      "SITI NURHALIZA BARU")
    old_name = rows[21][rows[0].index("NAMA_LGKP")]
    config = server_config.with_overrides(index={"path": str(index_copy),
                                                 "reload_check_seconds": 0.05})
    srv = ServerThread(config)
    load = None
    try:
        running = srv.running
        assert _serving(srv.port, certs).generation == first
        assert _gauge(first) == 1.0
        load = Load(srv.port, certs, {**names, dropped: rows[11][rows[0].index("NAMA_LGKP")],
                                      renamed: old_name})
        assert eventually(lambda: load.calls > 50)
        assert load.last[dropped][0] == FOUND and load.last[renamed] == (FOUND, MATCH)

        build_index(tmp_path / "changed.csv", index_copy)   # published while calls run
        second = current_generation(index_copy).name
        assert second != first
        assert eventually(lambda: running.index.generation.name == second)
        began = load.calls
        assert eventually(lambda: load.calls > began + 50)
        assert load.last[dropped][0] == NOT_FOUND          # the new data
        assert load.last[renamed][0] == FOUND and load.last[renamed][1] == NO_MATCH
        # the old generation is closed once idle; each worker says what it serves
        assert eventually(lambda: running.serving.open_generations == 1)
        serving = _serving(srv.port, certs)
        assert (serving.generation, serving.generations_open, serving.swaps) == (second, 1, 1)
        assert serving.record_count == 3999 and not serving.last_error
        assert _gauge(first) == 0.0 and _gauge(second) == 1.0
    finally:
        if load is not None:
            load.finish()
        srv.stop()
    assert load.failures == [], load.failures[:5]
    assert load.calls > 100


def _damaged_copy(index_dir: Path, nik: str) -> Path:
    """The current generation copied as a new one with one record's last byte (in its
    address) altered, then published (as a faulty disk or copy would leave it)."""
    partial = new_generation(index_dir, "29990101T000000000000Z")
    src = current_generation(index_dir)
    for f in ("data.mdb", "keys.u64", "tokens.bin"):
        shutil.copyfile(src / f, partial / f)
    with NikIndex.open(index_dir) as idx:
        stored = idx.raw(int(nik))
    assert stored is not None
    raw = bytearray((partial / "data.mdb").read_bytes())
    at = raw.index(stored) + len(stored) - 1
    raw[at] ^= 0x01
    (partial / "data.mdb").write_bytes(bytes(raw))
    return publish(index_dir, partial)


def test_a_damaged_generation_is_refused_and_the_old_one_serves(server_config, certs,
                                                               index_copy):
    with NikIndex.open(index_copy) as idx:
        first = idx.generation.name
        nik = idx.sample_niks(1, start=0)[0]
        name = idx.lookup(nik, ["NAMA_LGKP"])["NAMA_LGKP"]
    config = server_config.with_overrides(index={"path": str(index_copy),
                                                 "reload_check_seconds": 0.05})
    srv = ServerThread(config)
    load = None
    try:
        load = Load(srv.port, certs, {nik: name})
        assert eventually(lambda: load.calls > 20)
        bad = _damaged_copy(index_copy, nik)
        assert eventually(lambda: bool(_serving(srv.port, certs).last_error))
        serving = _serving(srv.port, certs)
        assert serving.generation == first and serving.swaps == 0
        assert bad.name in serving.last_error and "failed verification" in serving.last_error
        assert "bad_record" in serving.last_error
        began = load.calls
        assert eventually(lambda: load.calls > began + 20)
        assert load.last[nik] == (FOUND, MATCH)         # still the old, intact generation
        # not retried on every check; a forced reload tries (and refuses) it again
        again = _serving(srv.port, certs, reload=True)
        assert not again.reloaded and again.generation == first and again.last_error
    finally:
        if load is not None:
            load.finish()
        srv.stop()
    assert load.failures == []


def test_admin_reload_swaps_without_the_periodic_check(server_config, certs, export_csv,
                                                       index_copy, tmp_path):
    config = server_config.with_overrides(index={"path": str(index_copy),
                                                 "reload_check_seconds": 0})
    srv = ServerThread(config)
    try:
        first = _serving(srv.port, certs).generation
        dropped, _ = changed_export(export_csv, tmp_path / "changed.csv", 3, 4, "BUDI BARU")
        build_index(tmp_path / "changed.csv", index_copy)
        time.sleep(0.2)
        assert _serving(srv.port, certs).generation == first     # nothing looks by itself
        reply = _serving(srv.port, certs, reload=True)
        assert reply.reloaded and reply.generation == current_generation(index_copy).name
        with channel(srv.port, certs) as ch:
            r = vgrpc.VerificationStub(ch).Verify(
                vpb.VerifyRequest(nik=dropped, claims={"NAMA_LGKP": "X"}), timeout=10)
        assert r.status == NOT_FOUND
    finally:
        srv.stop()


def test_index_status_names_the_generation_each_worker_serves(server_config, certs,
                                                               index_copy, tmp_path):
    import json

    from ..conftest import run_cli

    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "ops.key").write_bytes(certs.operator[0])
    (tmp_path / "ops.crt").write_bytes(certs.operator[1])
    srv = ServerThread(server_config.with_overrides(index={"path": str(index_copy)}))
    try:
        (tmp_path / "connection.json").write_text(json.dumps({
            "address": f"127.0.0.1:{srv.port}", "ca": "ca.crt",
            "institutions": {"ops": {"cert": "ops.crt", "key": "ops.key"}}}))
        done = run_cli("index", "status", "--connection", str(tmp_path / "connection.json"),
                       "--as", "ops", "--probes", "2")
        assert done.returncode == 0, done.stderr
        assert current_generation(index_copy).name in done.stdout
        assert "GENERATION" in done.stdout.splitlines()[0]
    finally:
        srv.stop()
