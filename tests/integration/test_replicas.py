"""Replicas: `nikgate index pull` copies the builder's sealed generation from a directory or
over HTTP on loopback, checks it and publishes it; a damaged or truncated copy is never
published; deltas travel as new generations; a replica server swaps to a pulled
generation live with no failed call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nikgate.engine import NikIndex
from nikgate.engine.build import build_index
from nikgate.engine.delta import apply_delta
from nikgate.engine.generations import SEAL_FILE, read_seal
from nikgate.engine.layout import current_generation
from nikgate.engine.replica import DirectorySource, HttpSource, pull
from nikgate.errors import IndexDamagedError, IndexFormatError, InvalidInputError
from nikgate.server.generations import GenerationService
from nikgate.synth import write_delta

from ..conftest import run_cli
from .conftest import ServerThread
from .test_live_generations import FOUND, NOT_FOUND, Load, _serving, changed_export
from .waiting import eventually


@pytest.fixture
def builder(index_copy) -> Path:
    return index_copy


@pytest.fixture
def service(builder):
    s = GenerationService(builder, "127.0.0.1:0")
    s.start()
    yield f"http://127.0.0.1:{s.port}"
    s.stop()


def _same_files(a: Path, b: Path) -> None:
    for name in ("data.mdb", "keys.u64", "tokens.bin"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _leftovers(replica: Path) -> list[str]:
    gens = replica / "generations"
    return sorted(p.name for p in gens.iterdir() if p.name.endswith(".partial")) \
        if gens.exists() else []


def test_pull_from_a_directory(builder, tmp_path):
    replica = tmp_path / "replica"
    report = pull(DirectorySource(builder), replica)
    assert not report.up_to_date and report.bytes_copied > 0
    src, dst = current_generation(builder), current_generation(replica)
    assert dst.name == src.name and read_seal(dst) == read_seal(src)
    _same_files(src, dst)
    with NikIndex.open(replica) as idx, NikIndex.open(builder) as b:
        nik = b.sample_niks(1)[0]
        assert idx.lookup(nik, ["NAMA_LGKP"]) == b.lookup(nik, ["NAMA_LGKP"])
        assert idx.check_integrity().ok
    assert pull(DirectorySource(builder), replica).up_to_date


def test_pull_over_http_with_the_cli(builder, service, tmp_path):
    replica = tmp_path / "replica"
    done = run_cli("index", "pull", "--from", service, "--index", str(replica), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["generation"] == current_generation(builder).name
    assert summary["bytes_copied"] == read_seal(current_generation(builder)).total_bytes
    _same_files(current_generation(builder), current_generation(replica))
    again = run_cli("index", "pull", "--from", service, "--index", str(replica))
    assert again.returncode == 0 and "already serves" in again.stdout


def test_a_copy_damaged_at_the_source_or_in_transit_is_not_published(builder, service,
                                                                      export_csv, tmp_path):
    replica = tmp_path / "replica"
    first = pull(HttpSource(service), replica).generation
    # the builder publishes a new generation, then a byte of it changes after the seal
    changed_export(export_csv, tmp_path / "changed.csv", 1, 2, "ANDI BARU")
    build_index(tmp_path / "changed.csv", builder)
    data = current_generation(builder) / "data.mdb"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x20
    data.write_bytes(bytes(raw))
    with pytest.raises(IndexDamagedError, match="does not match the builder's seal"):
        pull(HttpSource(service), replica)
    assert current_generation(replica).name == first and _leftovers(replica) == []
    raw[len(raw) // 2] ^= 0x20   # repaired; now truncated keys.u64 instead
    data.write_bytes(bytes(raw))
    keys = current_generation(builder) / "keys.u64"
    keys.write_bytes(keys.read_bytes()[:-8])
    with pytest.raises(IndexDamagedError, match="bytes arrived, the seal says"):
        pull(DirectorySource(builder), replica)
    assert current_generation(replica).name == first and _leftovers(replica) == []
    done = run_cli("index", "pull", "--from", str(builder), "--index", str(replica))
    assert done.returncode != 0 and "not published" in done.stderr
    with NikIndex.open(replica) as idx:
        assert idx.generation.name == first


class _Flipping(DirectorySource):
    """A transfer that alters one byte on the way (a bad NIC, a proxy)."""

    def open_file(self, generation, name):
        import io

        data = bytearray(super().open_file(generation, name).read())
        if name == "data.mdb":
            data[4096 * 3 + 100] ^= 0x01
        return io.BytesIO(bytes(data))


def test_a_byte_changed_in_transit_is_refused(builder, tmp_path):
    replica = tmp_path / "replica"
    with pytest.raises(IndexDamagedError, match="damaged in transit"):
        pull(_Flipping(builder), replica)
    assert _leftovers(replica) == [] and not (replica / "current").exists()


def test_a_generation_changed_in_place_is_not_offered(builder, service, export_csv, tmp_path):
    write_delta(export_csv, tmp_path / "delta.csv", changes=20, seed=5)
    report = apply_delta(builder, tmp_path / "delta.csv")   # in place: the seal goes
    assert report.unsealed and not (current_generation(builder) / SEAL_FILE).exists()
    with pytest.raises(IndexFormatError, match="--new-generation"):
        pull(DirectorySource(builder), tmp_path / "replica")
    with pytest.raises(IndexFormatError, match="--new-generation"):
        pull(HttpSource(service), tmp_path / "replica")


def test_deltas_reach_replicas_as_new_generations(builder, export_csv, tmp_path):
    replica = tmp_path / "replica"
    pull(DirectorySource(builder), replica)
    write_delta(export_csv, tmp_path / "delta.csv", changes=50, seed=6)
    done = run_cli("index", "apply", "--index", str(builder), "--delta",
                   str(tmp_path / "delta.csv"), "--new-generation", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["generation"] == current_generation(builder).name
    report = pull(DirectorySource(builder), replica)
    assert report.generation == summary["generation"] and not report.up_to_date
    with NikIndex.open(replica) as r, NikIndex.open(builder) as b:
        assert r.manifest["key_digest"] == b.manifest["key_digest"]
        assert r.manifest["derived_from"] and len(r.manifest["deltas"]) == 1
        assert r.manifest["record_count"] == summary["record_count"]


def test_a_pull_while_the_replica_serves_swaps_live(server_config, certs, builder, service,
                                                     export_csv, tmp_path):
    replica = tmp_path / "replica"
    pull(HttpSource(service), replica)
    dropped, renamed = changed_export(export_csv, tmp_path / "changed.csv", 7, 8, "DEWI BARU")
    with NikIndex.open(replica) as idx:
        names = {n: idx.lookup(n, ["NAMA_LGKP"])["NAMA_LGKP"] for n in (dropped, renamed)}
    config = server_config.with_overrides(index={"path": str(replica),
                                                 "reload_check_seconds": 0.05})
    srv = ServerThread(config)
    load = None
    try:
        load = Load(srv.port, certs, names)
        assert eventually(lambda: load.calls > 20)
        assert load.last[dropped][0] == FOUND
        build_index(tmp_path / "changed.csv", builder)
        pulled = pull(HttpSource(service), replica).generation
        assert eventually(lambda: srv.running.index.generation.name == pulled)
        began = load.calls
        assert eventually(lambda: load.calls > began + 20)
        assert load.last[dropped][0] == NOT_FOUND
        assert eventually(lambda: _serving(srv.port, certs).generations_open == 1)
    finally:
        if load is not None:
            load.finish()
        srv.stop()
    assert load.failures == [], load.failures[:5]


def test_the_service_needs_tls_off_loopback(builder):
    with pytest.raises(InvalidInputError, match="only with TLS"):
        GenerationService(builder, "0.0.0.0:0")


def test_pull_refuses_a_generation_this_node_already_moved_past(builder, tmp_path):
    replica = tmp_path / "replica"
    pull(DirectorySource(builder), replica)
    old = current_generation(replica)
    shutil.copytree(old, old.with_name("29990101T000000000000Z.partial"))
    from nikgate.engine.layout import publish
    publish(replica, old.with_name("29990101T000000000000Z.partial"))
    with pytest.raises(IndexFormatError, match="not current here"):
        pull(DirectorySource(builder), replica)
