"""The server's background scrub finds a damaged index: health NOT_SERVING, the metric at
0, stored-but-unreachable NIKs answered CORRUPT; a repaired index brings it back."""

from __future__ import annotations

import time

from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from nikgate.engine import NikIndex

from .conftest import ServerThread, channel
from .lmdb_pages import P_BRANCH, PAGE, pages


def _health(port, certs, service: str = "") -> int:
    with channel(port, certs) as ch:
        return health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5).status


def _wait_for(predicate, seconds: float = 20.0, step: float = 0.05) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _scrub_ok() -> float | None:
    return REGISTRY.get_sample_value("nikgate_index_scrub_ok")


def _flip_branch_child(data_path) -> tuple[int, int]:
    """Flip a byte of the root branch page's node area in place (the server has the file
    mapped: never truncate it). Returns (offset, original byte) to undo it."""
    raw = data_path.read_bytes()
    branches = pages(raw, P_BRANCH)
    # a branch node starts with its child's page number; mp_ptrs[0] (at 16) is the
    # offset of the page's first node
    page = branches[-1]
    first_node = int.from_bytes(raw[page * PAGE + 16: page * PAGE + 18], "little")
    offset = page * PAGE + first_node
    with open(data_path, "r+b") as f:
        f.seek(offset)
        before = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([before ^ 0x40]))
    return offset, before


def test_scrub_turns_health_not_serving_and_back(server_config, certs, index_copy):
    from nikgate.server.app import SERVICES

    config = server_config.with_overrides(
        index={"path": str(index_copy), "scrub_interval_seconds": 0.2,
               "scrub_records_per_second": 1_000_000})
    with NikIndex.open(index_copy) as idx:
        niks = idx.sample_niks(10**9)
    srv = ServerThread(config)
    try:
        assert _wait_for(lambda: _scrub_ok() == 1.0)
        assert _health(srv.port, certs) == health_pb2.HealthCheckResponse.SERVING

        data_path = index_copy / "current" / "data.mdb"
        offset, before = _flip_branch_child(data_path)
        assert _wait_for(lambda: _scrub_ok() == 0.0), "the scrub did not notice"
        assert _wait_for(lambda: _health(srv.port, certs)
                         == health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in SERVICES:
            assert _health(srv.port, certs, name) == health_pb2.HealthCheckResponse.NOT_SERVING
        # the server's own index answers the unreachable NIKs CORRUPT, never NOT_FOUND
        status = srv.running.index.lookup_batch(niks, ["NIK"]).status
        assert 2 not in set(status) and 5 in set(status)

        with open(data_path, "r+b") as f:   # repaired (as a restored copy would be)
            f.seek(offset)
            f.write(bytes([before]))
        assert _wait_for(lambda: _scrub_ok() == 1.0), "the scrub did not see the repair"
        assert _wait_for(lambda: _health(srv.port, certs)
                         == health_pb2.HealthCheckResponse.SERVING)
    finally:
        srv.stop()
