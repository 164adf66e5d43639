"""Load shedding and the deadline cap: refuse clearly instead of queueing without bound."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from nikgate import errors
from nikgate.clients import AsyncNikgateClient, Connection

from .conftest import ServerThread


@pytest.fixture(scope="module")
def tight_server(server_config):
    s = ServerThread(server_config.with_overrides(
        server={"address": "127.0.0.1:0", "max_in_flight": 2, "max_deadline_seconds": 5.0}))
    yield s
    s.stop()


@pytest.fixture
def conn(tight_server, certs, tmp_path) -> Connection:
    (tmp_path / "ca.crt").write_bytes(certs.ca)
    (tmp_path / "c.key").write_bytes(certs.good[0])
    (tmp_path / "c.crt").write_bytes(certs.good[1])
    return Connection(f"127.0.0.1:{tight_server.port}", tmp_path / "ca.crt",
                      tmp_path / "c.crt", tmp_path / "c.key")


def test_over_the_in_flight_limit_calls_are_shed_with_retry_info(conn, index):
    niks = (index.sample_niks(4000) * 3)[:10_000]  # big batches run off the event loop

    async def main():
        async with AsyncNikgateClient(conn, deadline=30) as client:
            calls = [client.verify_batch(niks, {"NAMA_LGKP": ["X"] * len(niks)})
                     for _ in range(12)]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = uvloop.run(main())
    shed = [r for r in results if isinstance(r, errors.Overloaded)]
    done = [r for r in results if not isinstance(r, BaseException)]
    assert done and shed, results
    for err in shed:
        assert err.grpc_code == "RESOURCE_EXHAUSTED"
        assert "calls in flight" in str(err)
        assert err.retry_after is not None and err.retry_after > 0   # from RetryInfo
    assert all(len(r.message.status) == 10_000 for r in done)


def test_client_deadlines_beyond_the_cap_are_cut_to_it(server_config, certs, tmp_path, index):
    s = ServerThread(server_config.with_overrides(
        server={"address": "127.0.0.1:0", "max_deadline_seconds": 0.0001}))
    try:
        (tmp_path / "ca.crt").write_bytes(certs.ca)
        (tmp_path / "c.key").write_bytes(certs.good[0])
        (tmp_path / "c.crt").write_bytes(certs.good[1])
        conn = Connection(f"127.0.0.1:{s.port}", tmp_path / "ca.crt", tmp_path / "c.crt",
                          tmp_path / "c.key")
        niks = (index.sample_niks(4000) * 3)[:10_000]

        async def main():
            async with AsyncNikgateClient(conn, deadline=60) as client:
                return await client.verify_batch(niks, {"NAMA_LGKP": ["X"] * len(niks)})

        with pytest.raises(errors.DeadlineCapExceeded) as info:
            uvloop.run(main())
        assert info.value.grpc_code == "DEADLINE_EXCEEDED"
        assert "deadline cap" in str(info.value)
    finally:
        s.stop()
