"""Compare-mode peers: real Redis and PostgreSQL servers on loopback, loaded from the index.

Each peer is loaded with every record of the session's test index and runs a 1-second
batched workload of true claims plus one batch with a wrong birth date and an unknown
NIK; a peer whose server or client is missing here is skipped, naming why.
"""

from __future__ import annotations

import socket

import pytest

from nikgate.loadgen.peers import (
    FIELDS,
    PeerResult,
    PostgresPeer,
    RedisPeer,
    index_records,
    peers_available,
)

B = 40           # items per batch
GOOD_BATCHES = 15


@pytest.fixture(scope="module")
def records(index_dir):
    return list(index_records(index_dir))


@pytest.fixture(scope="module")
def batches(index):
    """GOOD_BATCHES batches of true claims, then one with two items that cannot match."""
    niks = index.sample_niks(GOOD_BATCHES * B, start=3_000_000_000_000_000)
    if len(niks) < GOOD_BATCHES * B:
        niks = index.sample_niks(GOOD_BATCHES * B)
    assert len(niks) == GOOD_BATCHES * B
    names, dates = index.lookup_batch(niks, FIELDS).values
    out = [(niks[i:i + B], names[i:i + B], dates[i:i + B]) for i in range(0, len(niks), B)]
    unknown = next(n for n in (f"{niks[0][:12]}{k:04d}" for k in range(9999, 0, -1))
                   if index.lookup(n, FIELDS) is None)  # a valid NIK that is not stored
    bad_niks, bad_names, bad_dates = (list(col) for col in out[0])
    year = int(bad_dates[0][:4])
    bad_dates[0] = f"{year - 1 if year > 1900 else year + 1}{bad_dates[0][4:]}"  # wrong birth date
    bad_niks[1] = unknown
    out.append((bad_niks, bad_names, bad_dates))
    return out


def test_index_records_streams_every_record(index, records, index_dir):
    assert len(records) == index.record_count
    assert len({nik for nik, _, _ in records}) == len(records)
    nik, name, birth = records[123]
    assert len(nik) == 16 and nik.isdigit()
    assert index.lookup(nik, FIELDS) == {"NAMA_LGKP": name, "TGL_LHR": birth}
    assert [r[0] for r in index_records(index_dir, limit=25)] == [r[0] for r in records[:25]]


def _closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("peer_cls", [RedisPeer, PostgresPeer], ids=["redis", "postgresql"])
def test_peer_verifies_the_index_records(peer_cls, index, records, batches, tmp_path):
    why = peers_available()[peer_cls.name]
    if why:
        pytest.skip(f"{peer_cls.name} peer unavailable: {why}")
    with peer_cls(tmp_path / peer_cls.name) as peer:
        assert peer.load(records) == index.record_count
        result = peer.run(batches, 1.0, 3)
        port = peer.port
    assert _closed(port), f"{peer_cls.name} still listening on {port} after the with block"

    assert isinstance(result, PeerResult) and result.name == peer_cls.name
    assert result.error is None, result.error
    assert result.batches > len(batches)          # cycled at least once in a second
    assert result.items == result.batches * B
    # batch i of the run is batches[i % n]; the last one holds two items that cannot match
    bad_runs = result.batches // len(batches)
    assert result.matched == result.items - 2 * bad_runs < result.items
    assert 0.9 <= result.seconds < 5
    assert result.items_per_s == pytest.approx(result.items / result.seconds)
    assert 0 < result.batch_ms["p50"] <= result.batch_ms["p90"] <= result.batch_ms["p99"]


def test_run_reports_a_failure_as_a_result(tmp_path, batches):
    if peers_available()["redis"]:
        pytest.skip(f"redis peer unavailable: {peers_available()['redis']}")
    with RedisPeer(tmp_path / "redis") as peer:
        port = peer.port
    stopped = RedisPeer(tmp_path / "gone")
    stopped.port = port  # its server is stopped: nothing answers there
    out = stopped.run(batches, 0.5, 2)
    assert out.error and out.items == 0 and out.batches == 0
